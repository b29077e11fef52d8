package mixer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// tokenBatches builds n documents of about 1 KB of text with a token list
// and n_tokens, as tokenize.encode leaves them, in batches of 1024.
func tokenBatches(alloc memory.Allocator, n int) ([]arrow.Record, int64) {
	rng := rand.New(rand.NewPCG(5, 5))
	doms := []string{"web", "web", "web", "books", "code"}
	var out []arrow.Record
	var size int64
	for from := 0; from < n; from += 1024 {
		var ds []pipelinetest.Doc
		tb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
		vb := tb.ValueBuilder().(*array.Int32Builder)
		var nt []int64
		for i := from; i < min(n, from+1024); i++ {
			k := 100 + rng.IntN(400)
			text := strings.Repeat("word ", k)
			ds = append(ds, pipelinetest.Doc{ID: fmt.Sprintf("doc-%07d", i), Text: text, Domain: doms[i%len(doms)],
				Extra: map[string]any{"difficulty": rng.Float64()}})
			tb.Append(true)
			for j := 0; j < k; j++ {
				vb.Append(int32(j))
			}
			nt = append(nt, int64(k+1))
		}
		base := pipelinetest.Batch(alloc, ds...)
		toks := tb.NewArray()
		tb.Release()
		nts := pipelines.NewInts(alloc, nt)
		fields := append(base.Schema().Fields(),
			arrow.Field{Name: pipelines.ColTokens, Type: toks.DataType()},
			arrow.Field{Name: pipelines.ColNTokens, Type: arrow.PrimitiveTypes.Int64})
		cols := append(base.Columns(), toks, nts)
		rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, base.NumRows())
		base.Release()
		toks.Release()
		nts.Release()
		for _, c := range rec.Columns() {
			for _, b := range c.Data().Buffers() {
				if b != nil {
					size += int64(b.Len())
				}
			}
		}
		out = append(out, rec)
	}
	return out, size
}

// BenchmarkWeights runs mixer.weights (alone and fused with
// curriculum.order) over ~20 MB of tokenized documents, with a budget that
// holds them and one that forces several gather buckets.
func BenchmarkWeights(b *testing.B) {
	alloc := memory.NewGoAllocator()
	recs, size := tokenBatches(alloc, 8192)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	weights := map[string]float64{"web": 0.5, "books": 0.3, "code": 0.2}
	for _, bc := range []struct {
		name   string
		budget int64
		fuse   bool
	}{{"memory", 1 << 30, false}, {"buckets", 8 << 20, false}, {"fused", 1 << 30, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			ctx := context.Background()
			for b.Loop() {
				env := newEnv(alloc, bc.budget, b.TempDir())
				env.BatchRows = 1024
				p, _ := pipelines.NewParams(&spec, map[string]any{"weights": weights})
				m, err := New(p, env)
				if err != nil {
					b.Fatal(err)
				}
				if bc.fuse {
					op, _ := pipelines.NewParams(mustSpec(b, "curriculum.order"), map[string]any{"by": "difficulty", "phases": 4})
					m.Fuse(mustOrder(b, op, env))
				}
				for _, r := range recs {
					if err := m.Absorb(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				if err := m.Emit(ctx, func(arrow.Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
