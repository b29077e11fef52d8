package mixer

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

// distributedOrder computes the mixer's output order the way curate-beam
// does, from the exported decisions only: per-document Docs, totals,
// Decide, Select of the sample bins (candidates in a scrambled order, on
// another instance than the one assigning copies), Copies, prefix sums in
// input order and InterleaveKey, then one sort by (key, order, copy).
func distributedOrder(t *testing.T, env *pipelines.Env, params map[string]any, docs []doc) []string {
	t.Helper()
	alloc := memory.NewGoAllocator()
	type row struct {
		id     string
		domain int
		tokens int64
		hash   uint64
		order  int64
	}
	decider, assigner := newMixer(t, env, params), newMixer(t, env, params)
	defer decider.Close()
	defer assigner.Close()
	var rows []row
	for _, rec := range batches(alloc, docs, 97) {
		d, tok, h, err := decider.Docs(rec)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := pipelines.StringCol(rec, pipelines.ColID)
		for i := range d {
			if d[i] >= 0 {
				rows = append(rows, row{ids.Value(i), d[i], tok[i], h[i], int64(len(rows))})
			} else {
				rows = append(rows, row{order: int64(len(rows)), domain: -1})
			}
		}
		rec.Release()
	}
	nd := len(decider.Domains())
	ndocs, ntok, hist := make([]int64, nd), make([]int64, nd), make([][]int64, nd)
	for _, r := range rows {
		if r.domain < 0 {
			continue
		}
		ndocs[r.domain]++
		ntok[r.domain] += r.tokens
		if hist[r.domain] == nil {
			hist[r.domain] = make([]int64, HistBins)
		}
		hist[r.domain][HistBin(r.hash)] += r.tokens
	}
	for _, m := range []*Weights{decider, assigner} {
		if err := m.Decide(ndocs, ntok, hist); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	selTokens := make([]int64, nd)
	for d := range nd {
		bin, ok := decider.SampleBin(d)
		if !ok {
			continue
		}
		var cands []Candidate
		tokensOf := map[int64]int64{}
		for _, r := range rows {
			if r.domain == d && HistBin(r.hash) == bin {
				cands = append(cands, Candidate{Hash: r.hash, Order: r.order, Tokens: r.tokens})
				tokensOf[r.order] = r.tokens
			}
		}
		rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		sel := decider.Select(d, cands)
		for _, o := range sel {
			selTokens[d] += tokensOf[o]
		}
		assigner.SetSelected(d, sel)
	}
	out := make([]int64, nd)
	for d := range nd {
		out[d] = assigner.OutTokens(d, selTokens[d])
	}
	type entry struct {
		key []byte
		id  string
	}
	var entries []entry
	all, part := make([]int64, nd), make([]int64, nd)
	for _, r := range rows {
		if r.domain < 0 {
			continue
		}
		n, partial := assigner.Copies(r.domain, r.hash, r.order)
		for c := range n {
			k := assigner.InterleaveKey(nil, r.domain, c, partial && c == n-1, all[r.domain], part[r.domain], r.tokens, out[r.domain])
			k = binary.BigEndian.AppendUint64(k, uint64(r.order))
			k = binary.BigEndian.AppendUint64(k, uint64(c))
			entries = append(entries, entry{k, r.id})
		}
		all[r.domain] += r.tokens
		if partial {
			part[r.domain] += r.tokens
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	return ids
}

// TestDistributedOrderEqualsEmit: the exported decisions, combined as
// curate-beam combines them, give exactly Emit's output order, for
// upsampled, downsampled and capped domains.
func TestDistributedOrderEqualsEmit(t *testing.T) {
	docs := corpus()
	for _, params := range []map[string]any{
		{"weights": map[string]any{"web": 0.45, "books": 0.2, "code": 0.35}, "seed": 3},
		{"weights": map[string]any{"web": 0.2, "books": 0.5, "code": 0.3}, "total_tokens": 400000, "max_repeats": 9},
		{"weights": map[string]any{"web": 0.9, "books": 0.1}, "total_tokens": 80000},
		{"weights": map[string]any{"web": 1, "code": 1}, "total_documents": 5000, "max_repeats": 2, "seed": 9},
	} {
		alloc := memory.NewGoAllocator()
		env := newEnv(alloc, 0, t.TempDir())
		var want []string
		for _, d := range run(t, newMixer(t, env, params), alloc, docs, 97) {
			want = append(want, d.id)
		}
		got := distributedOrder(t, newEnv(alloc, 0, t.TempDir()), params, docs)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%v: distributed order differs from Emit (%d and %d copies)", params, len(got), len(want))
		}
		if len(want) < 300 {
			t.Errorf("%v: only %d copies emitted", params, len(want))
		}
	}
}
