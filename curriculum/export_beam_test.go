package curriculum

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

// SortKey orders scores as the stage does: ascending or descending, NaN
// last either way, -0 equal to +0.
func TestSortKey(t *testing.T) {
	scores := []float64{math.Inf(-1), -2.5, -1e-300, 0, 1e-300, 3, math.Inf(1)}
	for _, desc := range []bool{false, true} {
		for i := 1; i < len(scores); i++ {
			a, b := SortKey(nil, scores[i-1], desc), SortKey(nil, scores[i], desc)
			if c := bytes.Compare(a, b); (c >= 0) != desc || c == 0 {
				t.Errorf("descending %v: %v vs %v compare %d", desc, scores[i-1], scores[i], c)
			}
		}
		nan := SortKey(nil, math.NaN(), desc)
		for _, s := range scores {
			if bytes.Compare(SortKey(nil, s, desc), nan) >= 0 {
				t.Errorf("descending %v: %v not before NaN", desc, s)
			}
		}
		if !bytes.Equal(SortKey(nil, math.Copysign(0, -1), desc), SortKey(nil, 0, desc)) {
			t.Errorf("-0 and +0 differ")
		}
	}
	if got := SortKey([]byte("x"), 1, false); len(got) != 10 || got[0] != 'x' {
		t.Errorf("SortKey does not append: %q", got)
	}
}

// The phased order computed from DocWeights, ShuffleKey, SortKey and
// PhaseOf as curate-beam combines them (two sorts, per-domain prefix sums)
// equals the order of Emit.
func TestPhasedOrderFromExports(t *testing.T) {
	docs := corpus(3000)
	for _, params := range []map[string]any{
		{"by": "difficulty", "phases": 4, "seed": 7},
		{"by": "difficulty", "phases": 3, "order": "descending"},
		{"by": "difficulty", "phases": 50, "seed": 2},
	} {
		alloc := memory.NewGoAllocator()
		var want []string
		for _, d := range runOrder(t, params, alloc, 0, docs, 128) {
			want = append(want, d.id)
		}
		seed := int64(1)
		if s, ok := params["seed"]; ok {
			seed = int64(s.(int))
		}
		phases := params["phases"].(int)
		desc := params["order"] == "descending"
		type entry struct {
			k1, k2 []byte
			dom    int
			weight int64
			shuf   uint64
			id     string
		}
		var entries []entry
		domains := map[string]int{}
		for _, rec := range batches(alloc, docs, 128) {
			w, err := DocWeights(rec)
			if err != nil {
				t.Fatal(err)
			}
			scores, err := Scores(rec, "difficulty")
			if err != nil {
				t.Fatal(err)
			}
			ids, _ := pipelines.StringCol(rec, pipelines.ColID)
			doms, _ := pipelines.StringCol(rec, pipelines.ColDomain)
			for i := range w {
				d, ok := domains[doms.Value(i)]
				if !ok {
					d = len(domains)
					domains[doms.Value(i)] = d
				}
				rank := int64(len(entries))
				k1 := binary.BigEndian.AppendUint32(nil, uint32(d))
				k1 = SortKey(k1, scores[i], desc)
				k1 = binary.BigEndian.AppendUint64(k1, uint64(rank))
				entries = append(entries, entry{k1: k1, dom: d, weight: w[i], shuf: ShuffleKey(ids.Value(i), seed, rank), id: ids.Value(i)})
			}
			rec.Release()
		}
		total := map[int]int64{}
		for _, e := range entries {
			total[e.dom] += e.weight
		}
		slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.k1, b.k1) })
		cum := map[int]int64{}
		for i := range entries {
			e := &entries[i]
			p := PhaseOf(cum[e.dom], e.weight, total[e.dom], phases)
			cum[e.dom] += e.weight
			e.k2 = binary.BigEndian.AppendUint16(nil, uint16(p))
			e.k2 = binary.BigEndian.AppendUint64(e.k2, e.shuf)
			e.k2 = append(e.k2, e.k1...)
		}
		slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.k2, b.k2) })
		got := make([]string, len(entries))
		for i, e := range entries {
			got[i] = e.id
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%v: the order from the exports differs from Emit", params)
		}
	}
}
