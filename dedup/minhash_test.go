package dedup

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/dedup/internal/neardup"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func newMinHash(t testing.TB, env *pipelines.Env, v map[string]any) *MinHash {
	t.Helper()
	m, err := NewMinHash(params(t, minhashSpec, v), env)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func finish(t testing.TB, f pipelines.Finisher) {
	t.Helper()
	if err := f.Finish(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestMinHashQuality(t *testing.T) {
	dir := pipelinetest.SharedData(t)
	sents, err := neardup.Sentences(dir + "/text")
	if err != nil {
		t.Fatal(err)
	}
	n := 3000
	if testing.Short() {
		n = 800
	}
	gen := neardup.Generate(sents, n, 7)
	truth := neardup.BestEarlier(gen, 5)
	docs := make([]pipelinetest.Doc, len(gen))
	for i, d := range gen {
		docs[i] = pipelinetest.Doc{ID: d.ID, Text: d.Text}
	}
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	m := newMinHash(t, testEnv(t, alloc), nil)
	out := streamDocs(t, m, alloc, docs, 256, 2)
	finish(t, m)
	var high, highDropped, low, lowKept int
	for i, o := range out {
		switch {
		case truth[i] >= 0.85:
			high++
			if o.drop != "" {
				highDropped++
			} else {
				t.Logf("missed %s (%s) J=%.3f", gen[i].ID, gen[i].Kind, truth[i])
			}
		case truth[i] < 0.6:
			low++
			if o.drop == "" {
				lowKept++
			} else {
				t.Logf("wrongly dropped %s (%s) J=%.3f dup_of %s", gen[i].ID, gen[i].Kind, truth[i], o.dupOf)
			}
		}
	}
	recall, keep := float64(highDropped)/float64(high), float64(lowKept)/float64(low)
	t.Logf("J>=0.85: %d/%d removed (%.4f); J<0.6: %d/%d kept (%.4f)", highDropped, high, recall, lowKept, low, keep)
	if recall < 0.97 || keep < 0.995 {
		t.Errorf("quality below target: removed %.4f (want >= 0.97), kept %.4f (want >= 0.995)", recall, keep)
	}
}
