package store

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/curatehq/curate/pipelines/storage"
)

// failFS is the local filesystem under the "failfs://" scheme, except that
// every file created fails once more than limit bytes are written to it.
type failFS struct{ limit int }

var errDiskFull = errors.New("disk full (test)")

func init() { storage.Register("failfs", failFS{limit: 1 << 20}) }

func local(p string) string { return strings.TrimPrefix(p, "failfs://") }

func (f failFS) Open(ctx context.Context, p string) (storage.File, error) {
	return storage.Local{}.Open(ctx, local(p))
}
func (f failFS) List(ctx context.Context, pat string) ([]storage.Info, error) {
	infos, err := storage.Local{}.List(ctx, local(pat))
	for i := range infos {
		infos[i].Path = "failfs://" + infos[i].Path
	}
	return infos, err
}
func (f failFS) Remove(ctx context.Context, p string) error {
	return storage.Local{}.Remove(ctx, local(p))
}
func (f failFS) Stat(ctx context.Context, p string) (storage.Info, error) {
	return storage.Local{}.Stat(ctx, local(p))
}
func (f failFS) Create(ctx context.Context, p string) (storage.Writer, error) {
	w, err := storage.Local{}.Create(ctx, local(p))
	return &failWriter{Writer: w, left: f.limit}, err
}

type failWriter struct {
	storage.Writer
	left int
}

func (w *failWriter) Write(b []byte) (int, error) {
	if w.left -= len(b); w.left < 0 {
		return 0, errDiskFull
	}
	return w.Writer.Write(b)
}

// TestWriteFailure checks that a write error surfaces from AddDoc, Flush or
// Close, that the writer then refuses more work, that Abort leaves no file
// and no goroutine behind.
func TestWriteFailure(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		name      string
		docTokens int
		docs      int
		shard     int64
	}{
		{"in the .bin", 100000, 40, 0},                // 8 MB of tokens
		{"in the .idx", 1, 200000, 300000},            // a 600 kB .bin, a 3 MB .idx
		{"at a checkpoint", 1, 60000, 300000},         // the .idx fails in Flush
		{"in a background finish", 1, 600000, 300000}, // found by the next shard
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := Create("failfs://"+dir, Options{VocabSize: 50257, EOT: 50256, AppendEOT: true, ShardTokens: tc.shard})
			if err != nil {
				t.Fatal(err)
			}
			doc := make([]int32, tc.docTokens)
			var werr error
			for i := 0; i < tc.docs && werr == nil; i++ {
				werr = w.AddDoc(doc, "d")
			}
			if werr == nil {
				werr = w.Flush()
			}
			if werr == nil {
				werr = w.Close()
			}
			if !errors.Is(werr, errDiskFull) {
				t.Fatalf("got %v, want the disk-full error", werr)
			}
			if err := w.AddDoc(doc, "d"); err == nil {
				t.Error("AddDoc after a failure should fail")
			}
			w.Abort()
			if got := listDir(t, dir); len(got) != 0 {
				t.Errorf("files left: %v", got)
			}
		})
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running (before: %d)", n, before)
	}
}
