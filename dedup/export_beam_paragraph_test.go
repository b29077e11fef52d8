package dedup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// TestParagraphTwoPassEqualsEmit checks the exports curate-beam runs
// dedup.paragraph with: counting UnitHashes over all batches, then
// RemoveRepeated on each batch alone (given its repeated hashes and where
// their first occurrences are), gives exactly Emit's output, for
// paragraphs and lines, keep_first, min_chars, max_repeats and
// annotate_only.
func TestParagraphTwoPassEqualsEmit(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	pool := []string{"Home | About | Contact", "Copyright 2024 Example Corp.", "Subscribe now", "Share this:\nTweet", "ok", "Read more"}
	var docs []pipelinetest.Doc
	for i := 0; i < 300; i++ {
		var parts []string
		for k := rng.IntN(6); k >= 0; k-- {
			if rng.IntN(3) == 0 {
				parts = append(parts, fmt.Sprintf("Unique story %d, part %d.\nSecond line %d.", i, k, rng.IntN(4)))
			} else {
				parts = append(parts, pool[rng.IntN(len(pool))])
			}
		}
		sep := "\n\n"
		if i%5 == 0 {
			sep = "\n"
		}
		docs = append(docs, pipelinetest.Doc{ID: fmt.Sprintf("d%d", i), Text: strings.Join(parts, sep)})
	}
	for _, p := range []map[string]any{
		nil,
		{"keep_first": true},
		{"unit": "line", "max_repeats": 10},
		{"unit": "line", "keep_first": true, "min_chars": 5},
		{"annotate_only": true, "keep_first": true},
		{"max_repeats": 1, "lowercase": true},
	} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			const batch = 7
			local, err := NewParagraph(params(t, paragraphSpec, p), testEnv(t, alloc))
			if err != nil {
				t.Fatal(err)
			}
			defer local.Close()
			var want []emitted
			var wantDrop []string
			absorbEmit(t, local, alloc, docs, batch, func(rec arrow.Record) {
				want = append(want, rows(rec)...)
				wantDrop = append(wantDrop, dropColumn(rec)...)
			})

			g, err := NewParagraph(params(t, paragraphSpec, p), testEnv(t, alloc))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			var recs []arrow.Record
			for i := 0; i < len(docs); i += batch {
				recs = append(recs, pipelinetest.Batch(alloc, docs[i:min(len(docs), i+batch)]...))
			}
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			total, first := map[uint64]int{}, map[uint64]int{}
			perBatch := make([]map[uint64]bool, len(recs))
			for b, rec := range recs {
				perBatch[b] = map[uint64]bool{}
				g.UnitHashes(rec, func(_ int, h uint64) {
					total[h]++
					perBatch[b][h] = true
					if _, ok := first[h]; !ok {
						first[h] = b
					}
				})
			}
			var got []emitted
			var gotDrop []string
			repeatedAny := false
			for b, rec := range recs {
				var hs []uint64
				var here []bool
				for h := range perBatch[b] {
					if total[h] > g.MaxRepeats() {
						hs, here = append(hs, h), append(here, first[h] == b)
						repeatedAny = true
					}
				}
				err := g.RemoveRepeated(rec, hs, here, func(out arrow.Record) error {
					got = append(got, rows(out)...)
					gotDrop = append(gotDrop, dropColumn(out)...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if !repeatedAny {
				t.Fatal("no repeated units: the test exercises nothing")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("two passes give %d documents, Emit %d, or different texts", len(got), len(want))
			}
			if !reflect.DeepEqual(gotDrop, wantDrop) {
				t.Fatalf("paragraph_drop differs")
			}
		})
	}
}

// dropColumn returns the paragraph_drop column of rec, or nil without one.
func dropColumn(rec arrow.Record) []string {
	c := pipelines.Col(rec, "paragraph_drop")
	if c < 0 {
		return nil
	}
	col := rec.Column(c).(*array.String)
	out := make([]string, col.Len())
	for i := range out {
		out[i] = col.Value(i)
	}
	return out
}
