package tokenize

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
	"github.com/curatehq/curate/tokenize/bpe"
)

func newStage(t *testing.T, alloc memory.Allocator, params map[string]any) *Encoder {
	t.Helper()
	p, err := pipelines.NewParams(&Spec, params)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), p, pipelines.TestEnv(alloc, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEncodeColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	texts := []string{"Hello world", "", "a literal <|endoftext|> stays text", strings.Repeat("tok ", 1000), "中文 😀"}
	for _, name := range []string{"gpt2", "cl100k_base"} {
		e := newStage(t, mem, map[string]any{"tokenizer": name})
		tok, _ := bpe.Load(context.Background(), name)
		rec := pipelinetest.Texts(mem, texts...)
		res, err := e.Process(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Columns) != 2 || res.Columns[0].Name != pipelines.ColTokens || res.Columns[1].Name != pipelines.ColNTokens {
			t.Fatalf("columns %+v", res.Columns)
		}
		lists := res.Columns[0].Array.(*array.List)
		vals := lists.ListValues().(*array.Int32)
		counts := res.Columns[1].Array.(*array.Int64)
		var total int64
		for i, text := range texts {
			want := tok.Encode(nil, text)
			lo, hi := lists.ValueOffsets(i)
			got := vals.Int32Values()[lo:hi]
			if !slices.Equal(got, want) {
				t.Errorf("%s row %d: ids %v, want %v", name, i, got, want)
			}
			if counts.Value(i) != int64(len(want))+1 {
				t.Errorf("%s row %d: n_tokens %d, want %d", name, i, counts.Value(i), len(want)+1)
			}
			total += counts.Value(i)
		}
		if res.Stats["tokens"] != total {
			t.Errorf("stats tokens = %d, want %d", res.Stats["tokens"], total)
		}
		for _, c := range res.Columns {
			c.Array.Release()
		}
		rec.Release()
	}
}

func TestEncodeBadTokenizer(t *testing.T) {
	for _, name := range []string{"gpt5", "no/such/tokenizer.json"} {
		p, _ := pipelines.NewParams(&Spec, map[string]any{"tokenizer": name})
		_, err := New(context.Background(), p, pipelines.TestEnv(nil, t.TempDir()))
		if err == nil || !strings.Contains(err.Error(), "tokenize.encode") {
			t.Errorf("tokenizer %q: err = %v, want a tokenize.encode error", name, err)
		}
	}
}

func TestEncodeCancelled(t *testing.T) {
	e := newStage(t, nil, nil)
	rec := pipelinetest.Texts(memory.DefaultAllocator, "a", "b")
	defer rec.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Process(ctx, rec); err == nil {
		t.Fatal("Process on a cancelled context: no error")
	}
}

func BenchmarkProcess(b *testing.B) {
	tok, err := bpe.Load(context.Background(), "gpt2")
	if err != nil {
		b.Fatal(err)
	}
	e := NewWith(tok, memory.DefaultAllocator)
	texts := make([]string, 256)
	var n int64
	for i := range texts {
		texts[i] = strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20+i%7)
		n += int64(len(texts[i]))
	}
	rec := pipelinetest.Texts(memory.DefaultAllocator, texts...)
	defer rec.Release()
	b.SetBytes(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := e.Process(context.Background(), rec)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range res.Columns {
			c.Array.Release()
		}
	}
}
