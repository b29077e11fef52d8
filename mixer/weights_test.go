package mixer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

type doc struct {
	id, domain string
	tokens     int64
	score      float64
}

// corpus is a multi-domain input: web is plentiful, books are few and
// long, code is scarce, junk is not weighted.
func corpus() []doc {
	rng := rand.New(rand.NewPCG(42, 1))
	var docs []doc
	add := func(dom string, n, lo, hi int) {
		for i := 0; i < n; i++ {
			docs = append(docs, doc{id: fmt.Sprintf("%s-%04d", dom, i), domain: dom,
				tokens: int64(lo + rng.IntN(hi-lo)), score: math.Round(rng.Float64()*1000) / 1000})
		}
	}
	add("web", 3000, 50, 300)
	add("books", 150, 500, 3000)
	add("code", 800, 20, 200)
	add("junk", 200, 10, 100)
	rng.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	return docs
}

func batches(alloc memory.Allocator, docs []doc, size int) []arrow.Record {
	var out []arrow.Record
	for from := 0; from < len(docs); from += size {
		var ds []pipelinetest.Doc
		for _, d := range docs[from:min(from+size, len(docs))] {
			ds = append(ds, pipelinetest.Doc{ID: d.id, Domain: d.domain,
				Text:  fmt.Sprintf("%s %s", d.id, strings.Repeat("t", int(d.tokens%97))),
				Extra: map[string]any{pipelines.ColNTokens: float64(d.tokens), "difficulty": d.score}})
		}
		out = append(out, pipelinetest.Batch(alloc, ds...))
	}
	return out
}

// run absorbs docs in batches of size and returns what the barrier emits.
func run(t *testing.T, b pipelines.Barrier, alloc memory.Allocator, docs []doc, size int) []doc {
	t.Helper()
	ctx := context.Background()
	for _, rec := range batches(alloc, docs, size) {
		err := b.Absorb(ctx, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []doc
	err := b.Emit(ctx, func(rec arrow.Record) error {
		ids, _ := pipelines.StringCol(rec, pipelines.ColID)
		doms, _ := pipelines.StringCol(rec, pipelines.ColDomain)
		nt, err := pipelines.Numbers(rec, pipelines.ColNTokens)
		if err != nil {
			return err
		}
		sc, err := pipelines.Numbers(rec, "difficulty")
		if err != nil {
			return err
		}
		for i := range nt {
			out = append(out, doc{id: ids.Value(i), domain: doms.Value(i), tokens: int64(nt[i]), score: sc[i]})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newEnv(alloc memory.Allocator, budget int64, dir string) *pipelines.Env {
	env := pipelines.TestEnv(alloc, "")
	env.Memory = pipelines.NewBudget(budget)
	env.TempDir = dir
	env.BatchRows = 256
	return env
}

func newMixer(t *testing.T, env *pipelines.Env, params map[string]any) *Weights {
	t.Helper()
	p, err := pipelines.NewParams(&spec, params)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(p, env)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expectedCopies applies the sampling rules from scratch: floor(r) copies
// of every document of a domain, one more for the documents first in
// (Hash(id, seed), input order) until the remaining tokens are reached.
func expectedCopies(docs []doc, weights map[string]float64, total float64, maxRepeats int, seed int64) map[string]int64 {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	avail := map[string]int64{}
	for _, d := range docs {
		if weights[d.domain] > 0 {
			avail[d.domain] += d.tokens
		}
	}
	if total == 0 {
		for _, a := range avail {
			total += float64(a)
		}
	}
	out := map[string]int64{}
	for dom, w := range weights {
		target := w / sum * total
		r := target / float64(avail[dom])
		if r > float64(maxRepeats) {
			r = float64(maxRepeats)
		}
		k := int64(r)
		extra := target - float64(k*avail[dom])
		if r == float64(maxRepeats) {
			extra = 0
		}
		type c struct {
			h   uint64
			pos int
			d   doc
		}
		var cs []c
		for i, d := range docs {
			if d.domain == dom {
				cs = append(cs, c{curriculum.Hash(d.id, seed), i, d})
			}
		}
		slices.SortFunc(cs, func(a, b c) int {
			if a.h != b.h {
				if a.h < b.h {
					return -1
				}
				return 1
			}
			return a.pos - b.pos
		})
		var before int64
		for _, x := range cs {
			out[x.d.id] = k
			if float64(before) < extra {
				out[x.d.id]++
				before += x.d.tokens
			}
		}
	}
	return out
}

func shares(out []doc) (map[string]float64, int64) {
	tok := map[string]int64{}
	var total int64
	for _, d := range out {
		tok[d.domain] += d.tokens
		total += d.tokens
	}
	s := map[string]float64{}
	for k, v := range tok {
		s[k] = float64(v) / float64(total)
	}
	return s, total
}

func TestWeightsMix(t *testing.T) {
	docs := corpus()
	weights := map[string]float64{"web": 0.45, "books": 0.2, "code": 0.35}
	cases := []struct {
		name       string
		params     map[string]any
		total      float64
		maxRepeats int
		want       map[string]float64 // achieved shares (the weights when they can be met)
	}{
		{"corpus size kept", map[string]any{"weights": weights}, 0, 4, weights},
		{"token budget", map[string]any{"weights": weights, "total_tokens": 600000, "seed": 7}, 600000, 4, weights},
		{"weights not normalized", map[string]any{"weights": map[string]any{"web": 9, "books": 4, "code": 7}}, 0, 4, weights},
		{"max_repeats caps code", map[string]any{"weights": weights, "max_repeats": 2}, 0, 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			m := newMixer(t, newEnv(alloc, 1<<30, t.TempDir()), c.params)
			out := run(t, m, alloc, docs, 500)
			got, total := shares(out)
			for dom, w := range c.want {
				if math.Abs(got[dom]-w) > 0.01 {
					t.Errorf("%s: share %.4f, want %.4f within 1 point", dom, got[dom], w)
				}
			}
			if c.total > 0 && math.Abs(float64(total)-c.total)/c.total > 0.01 {
				t.Errorf("output tokens %d, want %.0f", total, c.total)
			}
			// The output set is exactly what the sampling rules say.
			seed := int64(1)
			if s, ok := c.params["seed"]; ok {
				seed = int64(s.(int))
			}
			want := expectedCopies(docs, weights, c.total, c.maxRepeats, seed)
			gotCopies := map[string]int64{}
			for _, d := range out {
				gotCopies[d.id]++
			}
			for id, n := range want {
				if gotCopies[id] != n {
					t.Fatalf("%s: %d copies, want %d", id, gotCopies[id], n)
				}
			}
			for id := range gotCopies {
				if _, ok := want[id]; !ok {
					t.Fatalf("%s in the output, want not", id)
				}
			}
			drops := m.Dropped()
			if drops["domain not weighted"] != 200 {
				t.Errorf("drops %v, want 200 unweighted", drops)
			}
			rep := m.Report()["domains"].(map[string]any)
			for dom := range weights {
				r := rep[dom].(map[string]any)
				if math.Abs(r["share"].(float64)-got[dom]) > 1e-9 {
					t.Errorf("%s: report share %v, output %v", dom, r["share"], got[dom])
				}
			}
			if c.maxRepeats == 2 {
				code := rep["code"].(map[string]any)
				if code["full_repeats"].(int64) != 2 || code["tokens"].(int64) != 2*code["available_tokens"].(int64) {
					t.Errorf("code report %v, want 2 full repeats", code)
				}
			}
		})
	}
}

// TestWeightsInterleave checks that every stretch of the output reflects the
// mix: each twentieth of the output tokens is within one long document of
// the target shares.
func TestWeightsInterleave(t *testing.T) {
	alloc := memory.NewGoAllocator()
	weights := map[string]float64{"web": 0.45, "books": 0.2, "code": 0.35}
	m := newMixer(t, newEnv(alloc, 1<<30, t.TempDir()), map[string]any{"weights": weights})
	out := run(t, m, alloc, corpus(), 300)
	_, total := shares(out)
	window := total / 20
	var longest int64
	for _, d := range out {
		longest = max(longest, d.tokens)
	}
	tol := 2*float64(longest)/float64(window) + 0.01
	for start := 0; start < len(out); {
		var w []doc
		var n int64
		end := start
		for ; end < len(out) && n < window; end++ {
			w = append(w, out[end])
			n += out[end].tokens
		}
		if n < window {
			break
		}
		s, _ := shares(w)
		for dom, want := range weights {
			if math.Abs(s[dom]-want) > tol {
				t.Errorf("documents %d..%d: %s share %.3f, want %.3f ± %.3f", start, end, dom, s[dom], want, tol)
			}
		}
		start = end
	}
}

// TestWeightsDeterministic: batch sizes and memory budgets (the spill
// path) do not change the output.
func TestWeightsDeterministic(t *testing.T) {
	docs := corpus()
	params := map[string]any{"weights": map[string]float64{"web": 0.5, "books": 0.2, "code": 0.3}, "seed": 3}
	var first []doc
	for _, c := range []struct {
		batch  int
		budget int64
	}{{500, 1 << 30}, {37, 1 << 30}, {500, 1}, {1000, 64 << 10}} {
		alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
		dir := t.TempDir()
		m := newMixer(t, newEnv(alloc, c.budget, dir), params)
		out := run(t, m, alloc, docs, c.batch)
		alloc.AssertSize(t, 0)
		if first == nil {
			first = out
		} else if !slices.Equal(out, first) {
			t.Errorf("batch %d budget %d: output differs", c.batch, c.budget)
		}
		if m.env.Memory.Used() != 0 {
			t.Errorf("budget %d: %d bytes still reserved", c.budget, m.env.Memory.Used())
		}
		if left := pipelinetestDirEntries(dir); left != 0 {
			t.Errorf("budget %d: %d files left in the temp dir", c.budget, left)
		}
	}
}

func TestWeightsTotalDocuments(t *testing.T) {
	alloc := memory.NewGoAllocator()
	m := newMixer(t, newEnv(alloc, 1<<30, t.TempDir()), map[string]any{
		"weights": map[string]float64{"web": 0.45, "books": 0.2, "code": 0.35}, "total_documents": 2500})
	out := run(t, m, alloc, corpus(), 500)
	if n := len(out); n < 2400 || n > 2600 {
		t.Errorf("%d documents out, want about 2500", n)
	}
	s, _ := shares(out)
	if math.Abs(s["books"]-0.2) > 0.01 {
		t.Errorf("books share %.4f", s["books"])
	}
}

func TestWeightsWarnings(t *testing.T) {
	alloc := memory.NewGoAllocator()
	var logs bytes.Buffer
	env := newEnv(alloc, 1<<30, t.TempDir())
	env.Log = slog.New(slog.NewTextHandler(&logs, nil))
	m := newMixer(t, env, map[string]any{"weights": map[string]float64{"web": 0.1, "code": 0.8, "papers": 0.1}, "max_repeats": 2})
	run(t, m, alloc, corpus(), 500)
	for _, want := range []string{"domain=code", "max_repeats=2", "domain=papers"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestWeightsNoTokens(t *testing.T) {
	alloc := memory.NewGoAllocator()
	m := newMixer(t, newEnv(alloc, 1<<30, t.TempDir()), map[string]any{"weights": map[string]float64{"web": 1}})
	rec := pipelinetest.Texts(alloc, "a", "b")
	defer rec.Release()
	err := m.Absorb(context.Background(), rec)
	if err == nil || !strings.Contains(err.Error(), "tokenize.encode") {
		t.Errorf("error %v, want one naming tokenize.encode", err)
	}
	m.Close()
}

func TestWeightsBadParams(t *testing.T) {
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"weights": map[string]float64{"web": 0}}, "above 0"},
		{map[string]any{"weights": map[string]any{"web": -1}}, "below the minimum"},
		{map[string]any{"weights": map[string]float64{"web": 1}, "max_repeats": 0}, "below the minimum"},
		{map[string]any{}, "missing required"},
	} {
		p, err := pipelines.NewParams(&spec, c.params)
		if err == nil {
			_, err = New(p, pipelines.TestEnv(nil, ""))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.params, err, c.want)
		}
	}
}

func TestWeightsEmpty(t *testing.T) {
	m := newMixer(t, newEnv(memory.NewGoAllocator(), 1<<30, t.TempDir()), map[string]any{"weights": map[string]float64{"web": 1}})
	err := m.Emit(context.Background(), func(arrow.Record) error { t.Error("emitted from no input"); return nil })
	if err != nil {
		t.Fatal(err)
	}
}
