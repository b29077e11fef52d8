package ingest

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/curatehq/curate/pipelines/storage"
)

func TestReadAheadReturnsTheSameBytes(t *testing.T) {
	for _, size := range []int{0, 1, readAheadChunk - 1, readAheadChunk, 3*readAheadChunk + 17} {
		data := make([]byte, size)
		r := rand.New(rand.NewPCG(uint64(size), 1))
		for i := range data {
			data[i] = byte(r.IntN(256))
		}
		path := filepath.Join(t.TempDir(), "obj")
		os.WriteFile(path, data, 0o644)
		f, err := storage.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		ra := newReadAhead(f)
		got, err := io.ReadAll(io.LimitReader(ra, int64(size)+10))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: read %d bytes, err %v", size, len(got), err)
		}
		if ra.Size() != int64(size) {
			t.Errorf("Size() = %d", ra.Size())
		}
		if err := ra.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadAheadCloseEarlyStopsTheFetcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	os.WriteFile(path, bytes.Repeat([]byte("x"), 5*readAheadChunk), 0o644)
	f, _ := storage.Open(context.Background(), path)
	ra := newReadAhead(f)
	p := make([]byte, 10)
	if n, err := ra.Read(p); n != 10 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	ra.Close() // returns only after the goroutine has stopped
}
