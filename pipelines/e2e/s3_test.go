package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
	"github.com/curatehq/curate/pipelines/storage"
	"github.com/curatehq/curate/pipelines/storage/s3/s3test"
)

const s3Pipeline = `
sources:
  - jsonl: {path: "IN/web/*.jsonl*", domain: web}
  - text: {path: "IN/books/*.txt", split: paragraph, domain: books}
stages:
  - dedup.exact: {}
  - tokenize.encode: {tokenizer: gpt2}
sinks:
  - jsonl: {path: "OUT/docs"}
  - tokens: {path: "OUT/tokens", tokenizer: gpt2, val_fraction: 0.1}
`

// TestS3MatchesLocal runs one pipeline on local paths and on a real MinIO
// server and compares every output file byte for byte.
func TestS3MatchesLocal(t *testing.T) {
	data := pipelinetest.SharedData(t)
	srv := s3test.Start(t)
	srv.Env(t)
	in := srv.Bucket("corpus")
	out := srv.Bucket("curated")
	ctx := context.Background()

	local := t.TempDir()
	inputs := map[string]string{
		"web/cc.jsonl":      filepath.Join(data, "web", "dolma_cc_en_head-0091.jsonl"),
		"web/docs.jsonl.gz": filepath.Join(data, "web", "dolma_provided_documents_000.jsonl.gz"),
		"books/genesis.txt": filepath.Join(data, "text", "nltk_genesis", "english-kjv.txt"),
		"books/webtext.txt": filepath.Join(data, "text", "nltk_webtext", "wine.txt"),
	}
	for name, src := range inputs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(local, "in", name)), 0o755)
		os.WriteFile(filepath.Join(local, "in", name), b, 0o644)
		if err := storage.WriteFile(ctx, in+"/"+name, b); err != nil {
			t.Fatal(err)
		}
	}
	run := func(inPath, outPath string) *pipelines.Report {
		y := strings.NewReplacer("IN", inPath, "OUT", outPath).Replace(s3Pipeline)
		p, err := pipelines.Load(filepath.Join(local, "p.yaml"), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := pipelines.Run(ctx, p, pipelines.Options{Workers: 2, TempDir: t.TempDir()})
		if err != nil {
			t.Fatalf("run %s -> %s: %v", inPath, outPath, err)
		}
		return rep
	}
	lrep := run(filepath.Join(local, "in"), filepath.Join(local, "out"))
	srep := run(in, out)
	if lrep.DocumentsOut != srep.DocumentsOut || lrep.DocumentsOut == 0 {
		t.Fatalf("documents out: local %d, s3 %d", lrep.DocumentsOut, srep.DocumentsOut)
	}
	localFiles, err := storage.List(ctx, filepath.Join(local, "out"))
	if err != nil {
		t.Fatal(err)
	}
	s3Files, err := storage.List(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	rel := func(infos []storage.Info, prefix string) []string {
		var names []string
		for _, i := range infos {
			names = append(names, strings.TrimPrefix(i.Path, prefix+"/"))
		}
		sort.Strings(names)
		return names
	}
	ln, sn := rel(localFiles, filepath.Join(local, "out")), rel(s3Files, out)
	if strings.Join(ln, " ") != strings.Join(sn, " ") {
		t.Fatalf("different files:\nlocal %v\ns3    %v", ln, sn)
	}
	for _, name := range ln {
		a, _ := storage.ReadFile(ctx, filepath.Join(local, "out", name))
		b, err := storage.ReadFile(ctx, out+"/"+name)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between local and s3 (%d vs %d bytes, %v)", name, len(a), len(b), err)
		}
	}
	if len(ln) < 6 {
		t.Errorf("expected docs and token shards, got %v", ln)
	}
}

const s3FailPipeline = `
sources:
  - jsonl: {path: "in/*.jsonl.gz", domain: web}
stages:
  - dedup.exact: {}
  - tokenize.encode: {tokenizer: gpt2}
sinks:
  - tokens: {path: "OUT/tokens", tokenizer: gpt2, shard_tokens: 200000}
  - jsonl: {path: "OUT/docs"}
`

// TestS3ServerStoppedMidRun stops the MinIO server under a running
// pipeline, restarts it, and resumes the run if it failed: the output in
// the bucket ends up byte-identical to the same pipeline's on local disk,
// and no partial object is ever listed.
func TestS3ServerStoppedMidRun(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	out := srv.Bucket("stopped")
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	killCorpus(t, dir)
	load := func(outPath string) *pipelines.Pipeline {
		y := strings.ReplaceAll(s3FailPipeline, "OUT", outPath)
		p, err := pipelines.Load(filepath.Join(dir, "p.yaml"), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	opts := pipelines.Options{Workers: 2, TempDir: t.TempDir(), CheckpointBytes: 256 << 10, StateDir: filepath.Join(dir, "state")}
	if _, err := pipelines.Run(ctx, load(filepath.Join(dir, "local")), pipelines.Options{Workers: 2, TempDir: t.TempDir(), CheckpointBytes: 256 << 10, NoJournal: true}); err != nil {
		t.Fatal(err)
	}

	stopped := false
	o := opts
	o.OnCheckpoint = func(ctx context.Context, cp pipelines.Checkpoint) error {
		if cp.ID >= 2 && !stopped {
			stopped = true
			srv.Stop()
			go func() { time.Sleep(1500 * time.Millisecond); srv.Restart() }()
		}
		return nil
	}
	_, err := pipelines.Run(ctx, load(out), o)
	if !stopped {
		t.Fatal("the server was never stopped")
	}
	if err != nil {
		t.Logf("run failed while the server was down (as it may): %v", err)
		if !strings.Contains(err.Error(), "s3://stopped/") {
			t.Errorf("the error does not name the object: %v", err)
		}
		time.Sleep(2 * time.Second) // the restart
		o := opts
		o.Resume = true
		if _, err := pipelines.Run(ctx, load(out), o); err != nil {
			t.Fatalf("resume: %v", err)
		}
	}
	for _, sub := range []string{"tokens", "docs"} {
		local, _ := storage.List(ctx, filepath.Join(dir, "local", sub))
		remote, err := storage.List(ctx, out+"/"+sub)
		if err != nil {
			t.Fatal(err)
		}
		if len(local) == 0 || len(local) != len(remote) {
			t.Fatalf("%s: %d local files, %d in the bucket", sub, len(local), len(remote))
		}
		for i := range local {
			a, _ := storage.ReadFile(ctx, local[i].Path)
			b, _ := storage.ReadFile(ctx, remote[i].Path)
			if !bytes.Equal(a, b) || !strings.HasSuffix(remote[i].Path, strings.TrimPrefix(local[i].Path, filepath.Join(dir, "local"))) {
				t.Errorf("%s differs from %s", remote[i].Path, local[i].Path)
			}
		}
	}
}

// TestS3StopAndResume stops a run writing to S3 (journal on S3 too, beside
// the first sink) at a checkpoint and resumes it: the bucket ends up
// byte-identical to a local run's output.
func TestS3StopAndResume(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	out := srv.Bucket("resumed")
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	killCorpus(t, dir)
	load := func(outPath string) *pipelines.Pipeline {
		p, err := pipelines.Load(filepath.Join(dir, "p.yaml"), []byte(strings.ReplaceAll(s3FailPipeline, "OUT", outPath)))
		if err != nil {
			t.Fatal(err)
		}
		p.Source = []byte(s3FailPipeline) // the same pipeline, whatever the output prefix
		return p
	}
	if _, err := pipelines.Run(ctx, load(filepath.Join(dir, "local")), pipelines.Options{Workers: 2, TempDir: t.TempDir(), CheckpointBytes: 256 << 10}); err != nil {
		t.Fatal(err)
	}
	stops := 0
	for resume := false; ; resume = true {
		stop := make(chan struct{})
		seen := 0
		o := pipelines.Options{Workers: 2, TempDir: t.TempDir(), CheckpointBytes: 256 << 10, Resume: resume, Stop: stop,
			OnCheckpoint: func(ctx context.Context, cp pipelines.Checkpoint) error {
				if seen++; seen == 2 && !cp.Final {
					close(stop)
				}
				return nil
			}}
		_, err := pipelines.Run(ctx, load(out), o)
		if errors.Is(err, pipelines.ErrStopped) {
			stops++
			if _, serr := storage.Stat(ctx, out+"/tokens.state/journal.json"); serr != nil {
				t.Fatalf("no journal on S3 after a stop: %v", serr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if stops < 2 {
		t.Fatalf("only %d stops", stops)
	}
	for _, sub := range []string{"tokens", "docs"} {
		local, _ := storage.List(ctx, filepath.Join(dir, "local", sub))
		remote, _ := storage.List(ctx, out+"/"+sub)
		if len(local) == 0 || len(local) != len(remote) {
			t.Fatalf("%s: %d local files, %d in the bucket", sub, len(local), len(remote))
		}
		for i := range local {
			a, _ := storage.ReadFile(ctx, local[i].Path)
			b, _ := storage.ReadFile(ctx, remote[i].Path)
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs from %s", remote[i].Path, local[i].Path)
			}
		}
	}
}
