package store

import (
	"context"
	"slices"
	"testing"

	"github.com/curatehq/curate/pipelines/storage"
	_ "github.com/curatehq/curate/pipelines/storage/s3"
	"github.com/curatehq/curate/pipelines/storage/s3/s3test"
)

// TestS3 writes, verifies, reads, rewrites and exports a store on a real
// MinIO server (skipped without one unless CURATE_TEST_S3=1).
func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	dir := srv.Bucket("tokens") + "/run1/tokens"
	c := makeCorpus(5, 120, 200, 50257)
	opts := gpt2Opts(4000)
	opts.LLMC = true
	m := writeCorpus(t, dir, c, opts)
	if len(m.Shards) < 3 {
		t.Fatalf("%d shards", len(m.Shards))
	}
	mustVerify(t, dir)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int32, s.NumTokens())
	if err := s.Window(all, 0); err != nil || !slices.Equal(all, c.stream(50256)) {
		t.Fatalf("s3 store reads differently: %v", err)
	}
	if string(s.Tokenizer()) != string(opts.TokenizerJSON) {
		t.Error("tokenizer not saved")
	}
	s.Close()
	// A smaller rewrite removes the stale shards.
	small := writeCorpus(t, dir, makeCorpus(6, 3, 10, 50257), opts)
	mustVerify(t, dir)
	if len(small.Shards) != 1 {
		t.Fatalf("%d shards", len(small.Shards))
	}
	files, err := storage.List(context.Background(), dir+"/**")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path[len(dir)+1:])
	}
	if want := []string{"llmc/shard_00000.bin", "manifest.json", "shard_00000.bin", "shard_00000.idx", "tokenizer.json"}; !slices.Equal(names, want) {
		t.Fatalf("after the rewrite: %v, want %v", names, want)
	}
	paths, err := ExportLLMC(context.Background(), dir, srv.Bucket("llmc"), "train")
	if err != nil || len(paths) != 1 || paths[0] != "s3://llmc/train_00000.bin" {
		t.Fatalf("export: %v %v", paths, err)
	}
	if err := Remove(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("a removed store opens")
	}
}
