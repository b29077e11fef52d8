package tokens

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
	_ "github.com/curatehq/curate/tokenize" // tokenize.encode
	"github.com/curatehq/curate/tokenize/store"
)

// paragraphs is a test-only source: one document per blank-line-separated
// paragraph of a file. It keeps these tests independent of the ingest
// package.
type paragraphs struct {
	texts []string
	b     *pipelines.DocBuilder
	n     int
}

func init() {
	pipelines.RegisterSource(pipelines.Spec{Name: "testparagraphs", Doc: "paragraphs of a file (tests)",
		Fields: []pipelines.Field{{Name: "path", Type: pipelines.String, Required: true, Doc: "file"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
			b, err := storage.ReadFile(context.Background(), env.Path(p.String("path")))
			if err != nil {
				return nil, err
			}
			return &paragraphs{texts: strings.Split(string(b), "\n\n"), b: pipelines.NewDocBuilder(env)}, nil
		})
}

// failAt, when >= 0, makes testparagraphs fail on reaching that paragraph:
// a crash in the middle of a run (a global, so the pipeline file of the
// failing run and of its resumption are the same).
var failAt = -1

func (s *paragraphs) Next(ctx context.Context) (arrow.Record, error) {
	if s.n == len(s.texts) {
		return nil, io.EOF
	}
	for s.n < len(s.texts) && !s.b.Full() {
		if s.n == failAt {
			s.b.Release()
			return nil, errors.New("testparagraphs: failing as asked")
		}
		s.b.Add("p:"+strconv.Itoa(s.n), s.texts[s.n], "test", []string{"web", "books"}[s.n%2])
		s.n++
	}
	return s.b.Build(), nil
}

func (s *paragraphs) Close() error { return nil }

// TestPipelineYAML runs the sink from a pipeline file through the runner
// and checks the store against the text, for several worker counts.
func TestPipelineYAML(t *testing.T) {
	dir := t.TempDir()
	texts := corpusTexts(t, 300)
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte(strings.Join(texts, "\n\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `
sources:
  - testparagraphs: {path: in.txt}
sinks:
  - tokens: {path: out, tokenizer: gpt2, shard_tokens: 5000, val_fraction: 0.1}
`
	file := filepath.Join(dir, "pipeline.yaml")
	os.WriteFile(file, []byte(yaml), 0o644)
	var first []byte
	for _, workers := range []int{1, 4} {
		p, err := pipelines.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: workers, Alloc: mem, TempDir: dir, BatchRows: 37})
		mem.AssertSize(t, 0)
		if err != nil {
			t.Fatal(err)
		}
		if rep.DocumentsOut != 300 {
			t.Fatalf("documents out %d", rep.DocumentsOut)
		}
		train, err := store.Open(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		val, err := store.Open(filepath.Join(dir, "out", "val"))
		if err != nil {
			t.Fatal(err)
		}
		if train.NumDocs()+val.NumDocs() != 300 || val.NumDocs() == 0 {
			t.Fatalf("%d train + %d val documents", train.NumDocs(), val.NumDocs())
		}
		tok := gpt2(t)
		var ti, vi int64
		for i, text := range texts {
			var got []int32
			if isVal("p:"+strconv.Itoa(i), 0.1) {
				got, vi = val.Doc(vi), vi+1
			} else {
				got, ti = train.Doc(ti), ti+1
			}
			if !slices.Equal(got, append(tok.Encode(nil, text), 50256)) {
				t.Fatalf("workers=%d: paragraph %d differs", workers, i)
			}
		}
		train.Close()
		val.Close()
		m, _ := os.ReadFile(filepath.Join(dir, "out", store.ManifestFile))
		if first == nil {
			first = m
		} else if string(m) != string(first) {
			t.Fatalf("workers=%d: manifest differs from workers=1", workers)
		}
	}
}

// TestPipelineWithEncodeStage checks that the sink stores tokenize.encode's
// ids exactly as it stores its own encoding: the two pipelines write
// byte-identical stores.
func TestPipelineWithEncodeStage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte(strings.Join(corpusTexts(t, 200), "\n\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name, stages string) map[string][]byte {
		file := filepath.Join(dir, name+".yaml")
		os.WriteFile(file, []byte("sources:\n  - testparagraphs: {path: in.txt}\n"+stages+
			"sinks:\n  - tokens: {path: "+name+", shard_tokens: 4000, val_fraction: 0.05}\n"), 0o644)
		p, err := pipelines.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		if _, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, Alloc: mem, TempDir: dir}); err != nil {
			t.Fatal(err)
		}
		mem.AssertSize(t, 0)
		return readTree(t, filepath.Join(dir, name))
	}
	plain := run("plain", "")
	encoded := run("encoded", "stages:\n  - tokenize.encode: {tokenizer: gpt2}\n")
	if len(plain) != len(encoded) || len(plain) < 6 {
		t.Fatalf("%d files vs %d", len(plain), len(encoded))
	}
	for name, b := range plain {
		if !bytes.Equal(encoded[name], b) {
			t.Errorf("%s differs with tokenize.encode", name)
		}
	}
}

// TestPipelineResume fails a run midway, resumes it from its journal, and
// compares the store with an uninterrupted run's, byte for byte.
func TestPipelineResume(t *testing.T) {
	texts := corpusTexts(t, 400)
	yaml := "sources:\n  - testparagraphs: {path: in.txt}\nsinks:\n  - tokens: {path: out, shard_tokens: 6000, val_fraction: 0.1}\n"
	setup := func() (string, *pipelines.Pipeline) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "in.txt"), []byte(strings.Join(texts, "\n\n")), 0o644)
		os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(yaml), 0o644)
		p, err := pipelines.LoadFile(filepath.Join(dir, "p.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return dir, p
	}
	opts := func(dir string, resume bool) pipelines.Options {
		return pipelines.Options{Workers: 2, BatchRows: 20, CheckpointBytes: 8000, TempDir: dir,
			StateDir: filepath.Join(dir, "state"), Resume: resume}
	}
	clean, p := setup()
	if _, err := pipelines.Run(context.Background(), p, opts(clean, false)); err != nil {
		t.Fatal(err)
	}
	dir, p := setup()
	failAt = 250
	_, err := pipelines.Run(context.Background(), p, opts(dir, false))
	failAt = -1
	if err == nil || !strings.Contains(err.Error(), "failing as asked") {
		t.Fatalf("the first run should fail: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", store.ManifestFile)); !os.IsNotExist(err) {
		t.Fatal("a failed run left a manifest")
	}
	if _, err := os.Stat(filepath.Join(dir, "state", pipelines.JournalFile)); err != nil {
		t.Fatalf("the failed run reached no checkpoint: %v", err)
	}
	if _, err := pipelines.Run(context.Background(), p, opts(dir, true)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	want, got := readTree(t, filepath.Join(clean, "out")), readTree(t, filepath.Join(dir, "out"))
	if len(got) != len(want) || len(want) < 6 {
		t.Fatalf("%d files after resume, %d in the clean run", len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs from the uninterrupted run", name)
		}
	}
}
