package curatebeam

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/curatehq/curate/pipelines"
	_ "github.com/curatehq/curate/pipelines/all"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// TestRegistryBridge checks that every registered component resolves to
// the constructor of its kind.
func TestRegistryBridge(t *testing.T) {
	for _, kind := range []pipelines.Kind{pipelines.KindSource, pipelines.KindStage, pipelines.KindSink} {
		specs := pipelines.Specs(kind)
		if len(specs) == 0 {
			t.Fatalf("no %s registered", kind)
		}
		for _, spec := range specs {
			e, err := lookup(kind, spec.Name)
			if err != nil {
				t.Fatalf("%s %s: %v", kind, spec.Name, err)
			}
			var ok bool
			switch kind {
			case pipelines.KindSource:
				ok = e.Source != nil
			case pipelines.KindSink:
				ok = e.Sink != nil
			default:
				ok = (e.Stage != nil) != (e.Barrier != nil) && (e.Barrier != nil) == pipelines.IsBarrier(spec.Name)
			}
			if !ok {
				t.Errorf("%s %s: constructor of the wrong kind", kind, spec.Name)
			}
		}
	}
	if _, err := lookup(pipelines.KindStage, "no.such"); err == nil {
		t.Error("lookup of an unregistered stage succeeded")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Batch(alloc,
		pipelinetest.Doc{ID: "a", Text: "héllo", Domain: "web", Extra: map[string]any{"score": 0.5, "url": "u"}},
		pipelinetest.Doc{ID: "b", Text: "", Domain: "books", Extra: map[string]any{"score": nil}})
	defer rec.Release()
	b, err := newBatch(rec, []int64{orderOf(1, 7), orderOf(1, 9)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Key != orderOf(1, 7) || orderOf(1, 7)>>48 != 1 {
		t.Fatalf("key %x", b.Key)
	}
	got, err := decode(alloc, b.IPC)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(rec, got) {
		t.Fatalf("round trip changed the record:\n%v\n%v", rec, got)
	}
	if _, err := newBatch(rec, []int64{1}); err == nil {
		t.Error("a batch with too few order keys was accepted")
	}
}

func TestSortBatches(t *testing.T) {
	bs := []Batch{{Key: orderOf(1, 0)}, {Key: orderOf(0, 2048)}, {Key: orderOf(0, 0)}}
	sortBatches(bs)
	for i, want := range []int64{orderOf(0, 0), orderOf(0, 2048), orderOf(1, 0)} {
		if bs[i].Key != want {
			t.Fatalf("batch %d has key %x, want %x", i, bs[i].Key, want)
		}
	}
}

// TestTranslateErrors: what curate-beam cannot run fails before the run,
// naming the stage.
func TestTranslateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"stages:\n  - dedup.exact: {index: idx.bin}\n", "dedup.exact: an incremental index"},
		{"stages:\n  - dedup.minhash: {index: idx.bin}\n", "dedup.minhash: an incremental index"},
	} {
		p := filepath.Join(dir, "p.yaml")
		y := "sources:\n  - jsonl: {path: \"in/*.jsonl\"}\n" + tc.yaml + "sinks:\n  - jsonl: {path: out}\n"
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		err = Translate(beam.NewPipeline(), cfg)
		if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing pipeline file loaded")
	}
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte("sources:\n  - jsonl: {}\nstages:\n  - filter.nope: {}\n"), 0o644)
	if _, err := Load(p); !pipelines.IsConfigError(err) {
		t.Errorf("bad pipeline: got %v, want a config error", err)
	}
}

// TestDecodeBadInput: bytes that are not a batch give an error, never a
// panic. (No fuzzer here: a fuzz build re-instruments the whole Beam SDK,
// and test.sh runs fuzzers from the root module, which this one is not.)
func TestDecodeBadInput(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, "one", "two")
	b, err := encode(rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("not an arrow stream at all"),
		"truncated": b[:len(b)/2],
		"schema":    b[:len(b)/4],
	} {
		if rec, err := decode(alloc, data); err == nil {
			rec.Release()
			t.Errorf("%s: decoded", name)
		}
	}
}

func BenchmarkBatchCodec(b *testing.B) {
	alloc := memory.NewGoAllocator()
	texts := make([]string, 1024)
	size := 0
	for i := range texts {
		texts[i] = strings.Repeat("the quick brown fox jumps over the lazy dog. ", 40)
		size += len(texts[i])
	}
	rec := pipelinetest.Texts(alloc, texts...)
	defer rec.Release()
	order := make([]int64, len(texts))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		bt, err := newBatch(rec, order)
		if err != nil {
			b.Fatal(err)
		}
		out, err := decode(alloc, bt.IPC)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
}
