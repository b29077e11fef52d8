package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/curatehq/curate/pipelines/storage"
	_ "github.com/curatehq/curate/pipelines/storage/s3"
	"github.com/curatehq/curate/pipelines/storage/s3/s3test"
)

func TestRoundTripListAndRanges(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	bucket := srv.Bucket("roundtrip")
	ctx := context.Background()

	big := bytes.Repeat([]byte("0123456789abcdef"), (40<<20)/16+7) // > 2 parts
	files := map[string][]byte{"data/b/2.jsonl": []byte("two\n"), "data/a/1.jsonl": []byte("one\n"),
		"data/a/10.jsonl": big, "data/a/skip.txt": []byte("x"), "other/3.jsonl": []byte("three\n")}
	for name, data := range files {
		w, err := storage.Create(ctx, bucket+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := storage.Stat(ctx, bucket+"/"+name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s visible before Commit: %v", name, err)
		}
		if err := w.Commit(); err != nil {
			t.Fatalf("commit %s: %v", name, err)
		}
	}
	got, err := storage.List(ctx, bucket+"/data/*/*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, i := range got {
		paths = append(paths, strings.TrimPrefix(i.Path, bucket+"/"))
	}
	if want := "data/a/1.jsonl data/a/10.jsonl data/b/2.jsonl"; strings.Join(paths, " ") != want {
		t.Fatalf("list = %v, want %s", paths, want)
	}
	if all, _ := storage.List(ctx, bucket+"/data"); len(all) != 4 {
		t.Errorf("prefix listing found %d objects, want 4", len(all))
	}
	if rel := storage.RelativeTo(bucket+"/data/*/*.jsonl", got[1].Path); rel != "a/10.jsonl" {
		t.Errorf("relative id path %q", rel)
	}

	f, err := storage.Open(ctx, bucket+"/data/a/10.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != int64(len(big)) {
		t.Fatalf("size %d", f.Size())
	}
	whole, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(whole, big) {
		t.Fatalf("streamed read differs (err %v, %d bytes)", err, len(whole))
	}
	for _, off := range []int64{0, 17, int64(len(big)) - 100} {
		p := make([]byte, 64)
		for rep := 0; rep < 2; rep++ { // second read comes from the cache
			n, err := f.ReadAt(p, off)
			if err != nil || !bytes.Equal(p[:n], big[off:off+int64(n)]) || n != 64 {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
		}
	}
	p := make([]byte, 200)
	if n, err := f.ReadAt(p, int64(len(big))-100); n != 100 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d, %v; want 100, EOF", n, err)
	}

	if err := storage.Remove(ctx, bucket+"/data/b/2.jsonl"); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(ctx, bucket+"/data/b/2.jsonl"); !storage.IsNotExist(err) {
		t.Fatalf("open removed object: %v", err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	bucket := srv.Bucket("abort")
	ctx := context.Background()
	w, err := storage.Create(ctx, bucket+"/half.bin")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte{1}, 20<<20)) // one part uploaded
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Stat(ctx, bucket+"/half.bin"); !storage.IsNotExist(err) {
		t.Fatalf("aborted object exists: %v", err)
	}
	uploads := 0
	for u := range srv.Client().ListIncompleteUploads(ctx, "abort", "", true) {
		if u.Err == nil {
			uploads++
		}
	}
	if uploads != 0 {
		t.Errorf("%d incomplete multipart uploads left", uploads)
	}
}

func TestClearErrors(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	ctx := context.Background()
	_, err := storage.List(ctx, "s3://no-such-bucket/x/*.jsonl")
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("missing bucket: %v", err)
	}
	_, err = storage.Open(ctx, "s3://no-such-bucket/x.jsonl")
	if err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket/x.jsonl") {
		t.Errorf("open in missing bucket: %v", err)
	}
	srv.Bucket("creds")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	_, err = storage.List(ctx, "s3://creds/*.jsonl")
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("bad credentials: %v", err)
	}
}

func TestServerStoppedMidWriteNeverLeavesPartialObject(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	bucket := srv.Bucket("stop")
	ctx := context.Background()
	w, err := storage.Create(ctx, bucket+"/shard.bin")
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("z"), 1<<20)
	for i := 0; i < 20; i++ {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	var werr error
	for i := 0; i < 20 && werr == nil; i++ {
		_, werr = w.Write(chunk)
	}
	if werr == nil {
		werr = w.Commit()
	} else {
		w.Abort()
	}
	if werr == nil {
		t.Fatal("writing with the server down succeeded")
	}
	if !strings.Contains(werr.Error(), "s3://stop/shard.bin") {
		t.Errorf("error does not name the object: %v", werr)
	}
	srv.Restart()
	_, err = srv.Client().StatObject(ctx, "stop", "shard.bin", minio.StatObjectOptions{})
	if err == nil {
		t.Fatal("a partial object looks complete after the failed upload")
	}
	// The same write succeeds once the server is back.
	w, _ = storage.Create(ctx, bucket+"/shard.bin")
	fmt.Fprint(w, "complete")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := storage.ReadFile(ctx, bucket+"/shard.bin"); err != nil || string(b) != "complete" {
		t.Fatalf("read back %q, %v", b, err)
	}
}
