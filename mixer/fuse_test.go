package mixer

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
)

func newOrder(t *testing.T, env *pipelines.Env, params map[string]any) *curriculum.Order {
	t.Helper()
	spec, ok := pipelines.LookupSpec(pipelines.KindStage, "curriculum.order")
	if !ok {
		t.Fatal("curriculum.order is not registered")
	}
	p, err := pipelines.NewParams(spec, params)
	if err != nil {
		t.Fatal(err)
	}
	o, err := curriculum.NewOrder(p, env)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func copiesOf(out []doc) map[string]int {
	m := map[string]int{}
	for _, d := range out {
		m[d.id]++
	}
	return m
}

// TestFusedStrict: mixer.weights fused with curriculum.order outputs the
// mixer's selection in score order.
func TestFusedStrict(t *testing.T) {
	docs := corpus()
	weights := map[string]float64{"web": 0.45, "books": 0.2, "code": 0.35}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	plain := run(t, newMixer(t, newEnv(alloc, 1<<30, t.TempDir()), map[string]any{"weights": weights}), alloc, docs, 400)

	for _, budget := range []int64{1 << 30, 1} {
		env := newEnv(alloc, budget, t.TempDir())
		m := newMixer(t, env, map[string]any{"weights": weights})
		o := newOrder(t, env, map[string]any{"by": "difficulty"})
		if !m.Fuse(o) {
			t.Fatal("Fuse refused curriculum.order")
		}
		out := run(t, m, alloc, docs, 400)
		if got, want := copiesOf(out), copiesOf(plain); !mapsEqual(got, want) {
			t.Errorf("budget %d: fused selection differs from the mixer's", budget)
		}
		for i := 1; i < len(out); i++ {
			if out[i].score < out[i-1].score {
				t.Fatalf("budget %d: position %d: score %v after %v", budget, i, out[i].score, out[i-1].score)
			}
		}
		if rep := o.Report(); rep["ordered_by"] != "mixer.weights" {
			t.Errorf("curriculum report %v", rep)
		}
	}
}

// TestFusedPhases: with phases, every phase holds the weighted mix.
func TestFusedPhases(t *testing.T) {
	docs := corpus()
	weights := map[string]float64{"web": 0.45, "books": 0.2, "code": 0.35}
	alloc := memory.NewGoAllocator()
	env := newEnv(alloc, 1<<30, t.TempDir())
	m := newMixer(t, env, map[string]any{"weights": weights, "total_tokens": 800000})
	o := newOrder(t, env, map[string]any{"by": "difficulty", "phases": 4})
	m.Fuse(o)
	out := run(t, m, alloc, docs, 400)
	// Cut the output into four equal token spans: each keeps the mix.
	_, total := shares(out)
	var cum int64
	spans := make([][]doc, 4)
	for _, d := range out {
		p := min(3, int(float64(cum)+float64(d.tokens)/2)*4/int(total))
		spans[p] = append(spans[p], d)
		cum += d.tokens
	}
	var prevMax float64 = math.Inf(-1)
	for p, span := range spans {
		s, _ := shares(span)
		for dom, w := range weights {
			if math.Abs(s[dom]-w) > 0.01 {
				t.Errorf("phase %d: %s share %.4f, want %.4f", p, dom, s[dom], w)
			}
		}
		// Phases rise in difficulty: the median score of each is above the
		// previous one's.
		scores := make([]float64, len(span))
		for i, d := range span {
			scores[i] = d.score
		}
		slices.Sort(scores)
		med := scores[len(scores)/2]
		if med <= prevMax {
			t.Errorf("phase %d: median score %v not above the previous phase's %v", p, med, prevMax)
		}
		prevMax = med
	}
}

func TestFuseOnlyCurriculumBeforeAbsorb(t *testing.T) {
	alloc := memory.NewGoAllocator()
	env := newEnv(alloc, 1<<30, t.TempDir())
	m := newMixer(t, env, map[string]any{"weights": map[string]float64{"web": 1}})
	other := newMixer(t, env, map[string]any{"weights": map[string]float64{"web": 1}})
	if m.Fuse(other) {
		t.Error("fused with a mixer")
	}
	o := newOrder(t, env, map[string]any{"by": "difficulty"})
	if !m.Fuse(o) || m.Fuse(o) {
		t.Error("want exactly one fusion")
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHandOff: a mixer.weights built right before a curriculum.order in the
// same run hands it its spill and order; the pair's output equals the fused
// pair's.
func TestHandOff(t *testing.T) {
	docs := corpus()
	weights := map[string]float64{"web": 0.45, "books": 0.2, "code": 0.35}
	for _, phases := range []int{0, 3} {
		alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
		orderParams := map[string]any{"by": "difficulty", "phases": phases, "seed": 4}

		fusedEnv := newEnv(alloc, 1<<30, t.TempDir())
		fm := newMixer(t, fusedEnv, map[string]any{"weights": weights})
		if !fm.Fuse(newOrder(t, fusedEnv, orderParams)) {
			t.Fatal("no fusion")
		}
		fused := run(t, fm, alloc, docs, 400)

		dir := t.TempDir()
		menv, oenv := newEnv(alloc, 1, dir), newEnv(alloc, 1, dir) // tiny budget: every sort spills
		oenv.Index = 1
		m := newMixer(t, menv, map[string]any{"weights": weights})
		o := newOrder(t, oenv, orderParams)
		if m.curr != o || !m.handOff {
			t.Fatal("no hand-off between neighbouring stages of one run")
		}
		chained := run(t, &chain{m, o}, alloc, docs, 400)
		if o.Report()["handed_over_by"] != "mixer.weights" {
			t.Errorf("curriculum report %v", o.Report())
		}
		if !slices.Equal(chained, fused) {
			t.Errorf("phases %d: hand-off output differs from the fused output (%d vs %d documents)", phases, len(chained), len(fused))
		}
		alloc.AssertSize(t, 0)
	}
}

// chain runs two barriers one after the other, as the runner does.
type chain struct{ a, b pipelines.Barrier }

func (c *chain) Absorb(ctx context.Context, rec arrow.Record) error { return c.a.Absorb(ctx, rec) }

func (c *chain) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	if err := c.a.Emit(ctx, func(rec arrow.Record) error {
		return fmt.Errorf("the mixer emitted %d rows although it hands over", rec.NumRows())
	}); err != nil {
		return err
	}
	return c.b.Emit(ctx, emit)
}
