package curriculum

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

type doc struct {
	id, domain string
	tokens     int64
	score      float64
}

func corpus(n int) []doc {
	rng := rand.New(rand.NewPCG(9, 9))
	doms := []string{"web", "web", "web", "books", "code"}
	docs := make([]doc, n)
	for i := range docs {
		d := doms[rng.IntN(len(doms))]
		score := float64(rng.IntN(200)) / 10 // many ties
		if d == "books" {
			score += 5 // books are harder: phases must still keep the mix
		}
		if i%97 == 0 {
			score = math.NaN() // null
		}
		docs[i] = doc{id: fmt.Sprintf("d%05d", i), domain: d, tokens: int64(10 + rng.IntN(400)), score: score}
	}
	return docs
}

func batches(alloc memory.Allocator, docs []doc, size int) []arrow.Record {
	var out []arrow.Record
	for from := 0; from < len(docs); from += size {
		var ds []pipelinetest.Doc
		for _, d := range docs[from:min(from+size, len(docs))] {
			var score any = d.score
			if math.IsNaN(d.score) {
				score = nil
			}
			ds = append(ds, pipelinetest.Doc{ID: d.id, Domain: d.domain, Text: d.id + strings.Repeat(" w", int(d.tokens%50)),
				Extra: map[string]any{pipelines.ColNTokens: float64(d.tokens), "difficulty": score}})
		}
		out = append(out, pipelinetest.Batch(alloc, ds...))
	}
	return out
}

func runOrder(t *testing.T, params map[string]any, alloc memory.Allocator, budget int64, docs []doc, size int) []doc {
	t.Helper()
	ctx := context.Background()
	env := pipelines.TestEnv(alloc, "")
	env.Memory = pipelines.NewBudget(budget)
	env.TempDir = t.TempDir()
	env.BatchRows = 100
	p, err := pipelines.NewParams(&orderSpec, params)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOrder(p, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range batches(alloc, docs, size) {
		err := o.Absorb(ctx, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	byID := map[string]doc{}
	for _, d := range docs {
		byID[d.id] = d
	}
	var out []doc
	err = o.Emit(ctx, func(rec arrow.Record) error {
		if rec.NumRows() > 100 {
			t.Errorf("batch of %d rows", rec.NumRows())
		}
		ids, _ := pipelines.StringCol(rec, pipelines.ColID)
		for i := 0; i < ids.Len(); i++ {
			out = append(out, byID[ids.Value(i)])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if env.Memory.Used() != 0 {
		t.Errorf("%d bytes still reserved", env.Memory.Used())
	}
	if es, _ := os.ReadDir(env.TempDir); len(es) != 0 {
		t.Errorf("%d files left in the temp dir", len(es))
	}
	return out
}

func TestOrderStrict(t *testing.T) {
	docs := corpus(3000)
	for _, c := range []struct {
		name   string
		params map[string]any
		budget int64
		desc   bool
	}{
		{"ascending", map[string]any{"by": "difficulty"}, 1 << 30, false},
		{"descending", map[string]any{"by": "difficulty", "order": "descending"}, 1 << 30, true},
		{"ascending, tiny budget", map[string]any{"by": "difficulty"}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			out := runOrder(t, c.params, alloc, c.budget, docs, 250)
			// The wanted order: a stable sort by score, nulls last.
			want := slices.Clone(docs)
			sort.SliceStable(want, func(i, j int) bool {
				a, b := want[i].score, want[j].score
				if math.IsNaN(a) || math.IsNaN(b) {
					return !math.IsNaN(a) && math.IsNaN(b)
				}
				if c.desc {
					return a > b
				}
				return a < b
			})
			if len(out) != len(want) {
				t.Fatalf("%d documents out, want %d", len(out), len(want))
			}
			for i := range want {
				if out[i].id != want[i].id {
					t.Fatalf("position %d: %s (score %v), want %s (score %v)", i, out[i].id, out[i].score, want[i].id, want[i].score)
				}
			}
		})
	}
}

// phaseOf computes the phases from scratch: per domain, documents in score
// order (stable, nulls last), phase = where the middle of the document
// falls in the domain's tokens.
func phaseOf(docs []doc, phases int) map[string]int {
	out := map[string]int{}
	byDom := map[string][]doc{}
	for _, d := range docs {
		byDom[d.domain] = append(byDom[d.domain], d)
	}
	for _, ds := range byDom {
		sort.SliceStable(ds, func(i, j int) bool {
			a, b := ds[i].score, ds[j].score
			if math.IsNaN(a) || math.IsNaN(b) {
				return !math.IsNaN(a) && math.IsNaN(b)
			}
			return a < b
		})
		var total, cum int64
		for _, d := range ds {
			total += d.tokens
		}
		for _, d := range ds {
			mid := float64(cum) + float64(d.tokens)/2
			out[d.id] = min(phases-1, int(mid*float64(phases)/float64(total)))
			cum += d.tokens
		}
	}
	return out
}

func TestOrderPhases(t *testing.T) {
	docs := corpus(4000)
	const phases = 4
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	out := runOrder(t, map[string]any{"by": "difficulty", "phases": phases, "seed": 5}, alloc, 1<<30, docs, 333)
	if len(out) != len(docs) {
		t.Fatalf("%d documents out, want %d", len(out), len(docs))
	}
	want := phaseOf(docs, phases)
	last := 0
	tokens := make([]map[string]int64, phases)
	for i := range tokens {
		tokens[i] = map[string]int64{}
	}
	sortedInPhase := 0
	for i, d := range out {
		p := want[d.id]
		if p < last {
			t.Fatalf("position %d: %s is in phase %d after phase %d", i, d.id, p, last)
		}
		last = p
		tokens[p][d.domain] += d.tokens
		if i > 0 && want[out[i-1].id] == p && out[i-1].score <= d.score {
			sortedInPhase++
		}
	}
	if sortedInPhase > len(out)*3/4 {
		t.Errorf("%d of %d neighbours in score order: phases look unshuffled", sortedInPhase, len(out))
	}
	// Each phase keeps the overall mix although books score higher.
	all := map[string]int64{}
	var total int64
	for _, d := range docs {
		all[d.domain] += d.tokens
		total += d.tokens
	}
	for p, tk := range tokens {
		var n int64
		for _, v := range tk {
			n += v
		}
		for dom, v := range all {
			got, wantShare := float64(tk[dom])/float64(n), float64(v)/float64(total)
			if math.Abs(got-wantShare) > 0.01 {
				t.Errorf("phase %d: %s share %.4f, want %.4f", p, dom, got, wantShare)
			}
		}
	}
}

func TestOrderDeterministic(t *testing.T) {
	docs := corpus(2000)
	params := map[string]any{"by": "difficulty", "phases": 3}
	var first []doc
	for _, c := range []struct {
		batch  int
		budget int64
	}{{500, 1 << 30}, {61, 1 << 30}, {500, 1}} {
		out := runOrder(t, params, memory.NewGoAllocator(), c.budget, docs, c.batch)
		if first == nil {
			first = out
			continue
		}
		// Batch boundaries change row numbers, not the order.
		if !slices.EqualFunc(out, first, func(a, b doc) bool { return a.id == b.id }) {
			t.Errorf("batch %d budget %d: order differs", c.batch, c.budget)
		}
	}
}

func TestOrderMissingColumn(t *testing.T) {
	alloc := memory.NewGoAllocator()
	env := pipelines.TestEnv(alloc, "")
	env.TempDir = t.TempDir()
	p, _ := pipelines.NewParams(&orderSpec, map[string]any{"by": "quality_score"})
	o, err := NewOrder(p, env)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rec := pipelinetest.Texts(alloc, "a")
	defer rec.Release()
	if err := o.Absorb(context.Background(), rec); err == nil || !strings.Contains(err.Error(), "filter.quality") {
		t.Errorf("error %v, want one saying which stage adds the column", err)
	}
	bad := pipelinetest.Batch(alloc, pipelinetest.Doc{Text: "a", Extra: map[string]any{"quality_score": "high"}})
	defer bad.Release()
	if err := o.Absorb(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("error %v, want not a number", err)
	}
}

func TestOrderBadParams(t *testing.T) {
	for _, params := range []map[string]any{
		{},
		{"by": "x", "order": "upwards"},
		{"by": "x", "phases": -1},
	} {
		p, err := pipelines.NewParams(&orderSpec, params)
		if err == nil {
			_, err = NewOrder(p, pipelines.TestEnv(nil, ""))
		}
		if err == nil {
			t.Errorf("%v: no error", params)
		}
	}
}

// BenchmarkOrder orders 20,000 small documents by score, strictly and in
// phases, with the sorts in memory.
func BenchmarkOrder(b *testing.B) {
	alloc := memory.NewGoAllocator()
	docs := corpus(20000)
	recs := batches(alloc, docs, 1024)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var size int64
	for _, r := range recs {
		for _, c := range r.Columns() {
			for _, buf := range c.Data().Buffers() {
				if buf != nil {
					size += int64(buf.Len())
				}
			}
		}
	}
	for _, phases := range []int{0, 4} {
		b.Run(fmt.Sprintf("phases=%d", phases), func(b *testing.B) {
			b.SetBytes(size)
			ctx := context.Background()
			for b.Loop() {
				env := pipelines.TestEnv(alloc, "")
				env.TempDir = b.TempDir()
				p, _ := pipelines.NewParams(&orderSpec, map[string]any{"by": "difficulty", "phases": phases})
				o, err := NewOrder(p, env)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range recs {
					if err := o.Absorb(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				if err := o.Emit(ctx, func(arrow.Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
