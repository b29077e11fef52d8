package curatebeam

import (
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
	b, err := newBatch(rec, []int64{7, 9})
	if err != nil {
		t.Fatal(err)
	}
	if b.Key != 7 {
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

func mustOrder(t *testing.T, src, file int, n int64) int64 {
	t.Helper()
	o, err := orderOf(FileRef{Source: src, File: file, Path: "f"}, n)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Input orders compare as (source, file, record), whatever the counts.
func TestOrderOf(t *testing.T) {
	want := []int64{mustOrder(t, 0, -1, 0), mustOrder(t, 0, -1, 1<<40), mustOrder(t, 1, 0, 0),
		mustOrder(t, 1, 0, 1<<31-1), mustOrder(t, 1, 1, 0), mustOrder(t, 1, 1<<22-1, 5), mustOrder(t, 2, 0, 0),
		mustOrder(t, maxSources-1, maxFiles-1, 1<<31-1)}
	for i := 1; i < len(want); i++ {
		if want[i] <= want[i-1] {
			t.Errorf("order %d (%x) not after order %d (%x)", i, want[i], i-1, want[i-1])
		}
	}
	if want[len(want)-1] < 0 {
		t.Error("the largest order overflowed")
	}
	for _, bad := range []struct {
		ref FileRef
		n   int64
	}{{FileRef{Source: 0, File: 3}, 1 << 31}, {FileRef{Source: maxSources}, 0}, {FileRef{File: -1}, 1 << 53}} {
		if _, err := orderOf(bad.ref, bad.n); err == nil {
			t.Errorf("orderOf(%+v, %d): no error", bad.ref, bad.n)
		}
	}
}

func TestSortBatches(t *testing.T) {
	bs := []Batch{{Key: mustOrder(t, 1, 0, 0)}, {Key: mustOrder(t, 0, 1, 2048)}, {Key: mustOrder(t, 0, 2, 0)}}
	sortBatches(bs)
	for i, want := range []int64{mustOrder(t, 0, 1, 2048), mustOrder(t, 0, 2, 0), mustOrder(t, 1, 0, 0)} {
		if bs[i].Key != want {
			t.Fatalf("batch %d has key %x, want %x", i, bs[i].Key, want)
		}
	}
}

// TestTranslateErrors: a pipeline that cannot run fails before the run,
// naming the stage: here an incremental index that is not one.
func TestTranslateErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "idx.bin"), []byte("not an index\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"stages:\n  - dedup.exact: {index: idx.bin}\n", "is not a dedup.exact index"},
		{"stages:\n  - dedup.minhash: {index: idx.bin}\n", "is not a dedup.minhash index"},
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
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 4") {
			t.Errorf("%s: got %v, want %q naming the stage's line", tc.yaml, err, tc.want)
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
