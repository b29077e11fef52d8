package tokens

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/tokenize/store"
)

func newSink(t testing.TB, env *pipelines.Env, params map[string]any) *Sink {
	t.Helper()
	spec, ok := pipelines.LookupSpec(pipelines.KindSink, "tokens")
	if !ok {
		t.Fatal("tokens sink not registered")
	}
	p, err := pipelines.NewParams(spec, params)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(p, env)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Sink)
}

var sampleTexts = []string{
	"Hello world! This is the first document.",
	"",
	"Emoji 🎉🎉 and CJK 你好世界, combining é, a literal <|endoftext|> in the text.",
	"   lots   of     spaces\n\n\n\tand tabs 12345 67890",
	"Last one.",
}

func gpt2(t testing.TB) *bpe.Tokenizer {
	tok, err := bpe.Load(context.Background(), "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSinkEncodesText(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": "out"})
	rec := pipelinetest.Texts(mem, sampleTexts...)
	defer rec.Release()
	if err := s.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := st.Manifest()
	if m.Tokenizer != "gpt2" || m.VocabSize != 50257 || m.DType != store.Uint16 || m.EOT != 50256 || m.Documents != 5 {
		t.Fatalf("manifest %+v", m)
	}
	tok := gpt2(t)
	for i, text := range sampleTexts {
		doc := st.Doc(int64(i))
		want := append(tok.Encode(nil, text), 50256)
		if !slices.Equal(doc, want) {
			t.Fatalf("doc %d: %v, want %v", i, doc, want)
		}
	}
	// The saved tokenizer decodes the store.
	saved, err := bpe.FromHFJSON(st.Tokenizer())
	if err != nil {
		t.Fatal(err)
	}
	if got := saved.Decode(st.Doc(2)[:len(st.Doc(2))-1]); got != sampleTexts[2] {
		t.Fatalf("saved tokenizer decodes %q", got)
	}
	faults, err := store.Verify(context.Background(), filepath.Join(dir, "out"))
	if err != nil || len(faults) > 0 {
		t.Fatalf("verify: %v %v", err, faults)
	}
}

// withTokens returns rec with a tokens column (list<int32>) added; a nil
// entry is a null row.
func withTokens(mem memory.Allocator, rec arrow.Record, ids [][]int32) arrow.Record {
	b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Int32Builder)
	for _, d := range ids {
		if d == nil {
			b.AppendNull()
			continue
		}
		b.Append(true)
		vb.AppendValues(d, nil)
	}
	col := b.NewArray()
	defer col.Release()
	fields := append(slices.Clone(rec.Schema().Fields()), arrow.Field{Name: pipelines.ColTokens, Type: col.DataType(), Nullable: true})
	cols := append(slices.Clone(rec.Columns()), col)
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

func TestSinkUsesTokenColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": dir})
	base := pipelinetest.Texts(mem, "alpha", "beta", "gamma")
	defer base.Release()
	rec := withTokens(mem, base, [][]int32{{7, 8, 9}, nil, {}})
	defer rec.Release()
	if err := s.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := [][]int32{{7, 8, 9, 50256}, append(gpt2(t).Encode(nil, "beta"), 50256), {50256}}
	for i, w := range want {
		if got := st.Doc(int64(i)); !slices.Equal(got, w) {
			t.Errorf("doc %d: %v, want %v", i, got, w)
		}
	}
	// Ids outside the vocabulary (another tokenizer's) are an error.
	s2 := newSink(t, pipelines.TestEnv(mem, t.TempDir()), map[string]any{"path": "x"})
	bad := withTokens(mem, base, [][]int32{{1}, {99999}, {2}})
	defer bad.Release()
	if err := s2.Write(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("out-of-vocabulary ids: %v", err)
	}
	s2.Abort()

	// Ids whose column names another tokenizer are refused.
	md := arrow.NewMetadata([]string{TokenizerKey}, []string{"cl100k_base"})
	fields := slices.Clone(rec.Schema().Fields())
	fields[len(fields)-1].Metadata = md
	tagged := array.NewRecord(arrow.NewSchema(fields, nil), rec.Columns(), rec.NumRows())
	defer tagged.Release()
	s3 := newSink(t, pipelines.TestEnv(mem, t.TempDir()), map[string]any{"path": "x"})
	if err := s3.Write(context.Background(), tagged); err == nil || !strings.Contains(err.Error(), "cl100k_base") {
		t.Fatalf("ids of another tokenizer: %v", err)
	}
	s3.Abort()
}

// corpusBatches builds batches of numbered documents from the shared data
// (or generated text when it is absent).
func corpusBatches(t testing.TB, mem memory.Allocator, docs, perBatch int) []arrow.Record {
	texts := corpusTexts(t, docs)
	var out []arrow.Record
	for i := 0; i < len(texts); i += perBatch {
		var ds []pipelinetest.Doc
		for j := i; j < min(i+perBatch, len(texts)); j++ {
			ds = append(ds, pipelinetest.Doc{ID: fmt.Sprintf("doc-%d", j), Text: texts[j], Domain: []string{"web", "books"}[j%2]})
		}
		out = append(out, pipelinetest.Batch(mem, ds...))
	}
	return out
}

func corpusTexts(t testing.TB, docs int) []string {
	var texts []string
	if dir := os.Getenv("CURATE_SHARED_DATA"); dir != "" || true {
		data := filepath.Join(pipelinetest.ModuleRoot(t), "..", "shared", "data", "text", "tinyshakespeare_train90.txt")
		if dir != "" {
			data = filepath.Join(dir, "text", "tinyshakespeare_train90.txt")
		}
		if b, err := os.ReadFile(data); err == nil {
			texts = strings.Split(string(b), "\n\n")
		}
	}
	for len(texts) < docs {
		texts = append(texts, fmt.Sprintf("generated document %d with some words, numbers %d and ünïcödé", len(texts), len(texts)*31))
	}
	return texts[:docs]
}

func writeAll(t testing.TB, s *Sink, recs []arrow.Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		// A crashed writer leaves hidden temporary files that storage
		// ignores; so does this comparison.
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".curate-tmp-") {
			rel, _ := filepath.Rel(dir, p)
			out[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	return out
}

func TestSinkDeterministicAcrossWorkers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := corpusBatches(t, mem, 600, 100)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var want map[string][]byte
	for _, workers := range []int{1, 3, 8} {
		dir := t.TempDir()
		env := pipelines.TestEnv(mem, dir)
		env.Workers = workers
		s := newSink(t, env, map[string]any{"path": "out", "shard_tokens": 20000, "val_fraction": 0.2})
		writeAll(t, s, recs)
		got := readTree(t, filepath.Join(dir, "out"))
		if want == nil {
			want = got
			if len(got) < 8 {
				t.Fatalf("expected several shards, got %d files", len(got))
			}
			continue
		}
		if len(got) != len(want) {
			t.Fatalf("workers=%d: %d files, want %d", workers, len(got), len(want))
		}
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Fatalf("workers=%d: %s differs", workers, name)
			}
		}
	}
}

func TestSinkValSplit(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := corpusBatches(t, mem, 1000, 250)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": "out", "val_fraction": 0.25})
	writeAll(t, s, recs)
	train, err := store.Open(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer train.Close()
	val, err := store.Open(filepath.Join(dir, "out", "val"))
	if err != nil {
		t.Fatal(err)
	}
	defer val.Close()
	nv := val.NumDocs()
	if train.NumDocs()+nv != 1000 || nv < 200 || nv > 300 {
		t.Fatalf("split %d train / %d val", train.NumDocs(), nv)
	}
	// Every document is in exactly the store its id says, in order.
	tok := gpt2(t)
	texts := corpusTexts(t, 1000)
	var ti, vi int64
	for j, text := range texts {
		want := append(tok.Encode(nil, text), 50256)
		var got []int32
		if isVal(fmt.Sprintf("doc-%d", j), 0.25) {
			got = val.Doc(vi)
			vi++
		} else {
			got = train.Doc(ti)
			ti++
		}
		if !slices.Equal(got, want) {
			t.Fatalf("doc %d is not where its id puts it", j)
		}
	}
	// A rerun without val_fraction removes the old validation store.
	s2 := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": "out"})
	writeAll(t, s2, recs[:1])
	if _, err := os.Stat(filepath.Join(dir, "out", "val", store.ManifestFile)); !os.IsNotExist(err) {
		t.Fatalf("old validation store still there: %v", err)
	}
}

func TestIsValShare(t *testing.T) {
	for _, f := range []float64{0, 0.01, 0.1, 0.5, 1} {
		n := 0
		for i := 0; i < 100000; i++ {
			if isVal(fmt.Sprintf("file.jsonl:%d", i), f) {
				n++
			}
		}
		if got := float64(n) / 100000; got < f-0.005 || got > f+0.005 {
			t.Errorf("fraction %v: got %v", f, got)
		}
	}
}

func TestSinkCommitAbort(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := corpusBatches(t, mem, 400, 100)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": ".", "shard_tokens": 5000})
	ctx := context.Background()
	s.Write(ctx, recs[0])
	s.Write(ctx, recs[1])
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	committed := readTree(t, dir)
	s.Write(ctx, recs[2])
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	after := readTree(t, dir)
	if len(after) != len(committed) {
		t.Fatalf("after Abort %d files, committed %d", len(after), len(committed))
	}
	for name := range after {
		if _, ok := committed[name]; !ok {
			t.Errorf("Abort left %s", name)
		}
	}
	if _, ok := after[store.ManifestFile]; ok {
		t.Error("an aborted store has a manifest")
	}
}

// TestSinkResume checks the Checkpointer: a run that stops after a snapshot
// and resumes from it writes the same store as an uninterrupted run.
func TestSinkResume(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := corpusBatches(t, mem, 400, 100)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	params := map[string]any{"path": "out", "shard_tokens": 3000, "val_fraction": 0.1}
	// The uninterrupted run has its checkpoint at the same place (the
	// runner puts barriers at positions fixed by the input): a checkpoint
	// closes the open shards.
	ctx := context.Background()
	whole := t.TempDir()
	ws := newSink(t, pipelines.TestEnv(mem, whole), params)
	ws.Write(ctx, recs[0])
	ws.Write(ctx, recs[1])
	if err := ws.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	writeAll(t, ws, recs[2:])

	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), params)
	s.Write(ctx, recs[0])
	s.Write(ctx, recs[1])
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	s.Write(ctx, recs[2]) // lost in the crash
	s2 := newSink(t, pipelines.TestEnv(mem, dir), params)
	if err := s2.Restore(bufio.NewReader(&snap)); err != nil {
		t.Fatal(err)
	}
	writeAll(t, s2, recs[2:])
	want, got := readTree(t, filepath.Join(whole, "out")), readTree(t, filepath.Join(dir, "out"))
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs after resume", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d files after resume, want %d", len(got), len(want))
	}
}

func TestSinkParams(t *testing.T) {
	mem := memory.NewGoAllocator()
	spec, _ := pipelines.LookupSpec(pipelines.KindSink, "tokens")
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"path": "x", "tokenizer": "cl100k_base", "dtype": "uint16"}, "cannot hold"},
		{map[string]any{"path": "x", "tokenizer": "no/such/tokenizer.json"}, "tokenizer"},
	} {
		p, err := pipelines.NewParams(spec, tc.params)
		if err == nil {
			_, err = New(p, pipelines.TestEnv(mem, t.TempDir()))
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.params, err, tc.want)
		}
	}
	for _, bad := range []map[string]any{{"path": "x", "val_fraction": 1.5}, {"path": "x", "dtype": "int8"}, {"tokenizer": "gpt2"}} {
		if _, err := pipelines.NewParams(spec, bad); err == nil {
			t.Errorf("%v: want a parameter error", bad)
		}
	}
}

func TestSinkCL100K(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": dir, "tokenizer": "cl100k_base", "llmc": true})
	rec := pipelinetest.Texts(mem, sampleTexts...)
	defer rec.Release()
	writeAll(t, s, []arrow.Record{rec})
	m, err := store.ReadManifest(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.DType != store.Int32 || m.EOT != 100257 || len(m.LLMC) != 1 {
		t.Fatalf("manifest %+v", m)
	}
	f, _ := os.Open(filepath.Join(dir, m.LLMC[0]))
	defer f.Close()
	h := make([]byte, 1024)
	io.ReadFull(f, h)
	if dt, n, err := store.ParseLLMCHeader(h); err != nil || dt != store.Int32 || n != m.Tokens {
		t.Fatalf("llm.c header: %s %d %v", dt, n, err)
	}
}

func TestSample(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s := newSink(t, pipelines.TestEnv(mem, dir), map[string]any{"path": dir})
	rec := pipelinetest.Texts(mem, sampleTexts...)
	defer rec.Release()
	writeAll(t, s, []arrow.Record{rec})
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	docs, err := Sample(st, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(sampleTexts) {
		t.Fatalf("%d samples", len(docs))
	}
	for i, d := range docs {
		if d.Text != sampleTexts[i] || d.Doc != int64(i) {
			t.Errorf("sample %d: %+v", i, d)
		}
	}
}
