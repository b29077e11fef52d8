package llama

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

func TestLoRAConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg LoRAConfig
		ok  bool
	}{
		{LoRAConfig{Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}, true},
		{LoRAConfig{Rank: 1, Alpha: 1, Targets: LoRATargets}, true},
		{LoRAConfig{Rank: 0, Alpha: 16, Targets: []string{"q"}}, false},
		{LoRAConfig{Rank: 8, Alpha: 0, Targets: []string{"q"}}, false},
		{LoRAConfig{Rank: 8, Alpha: 16}, false},
		{LoRAConfig{Rank: 8, Alpha: 16, Targets: []string{"wq"}}, false},
		{LoRAConfig{Rank: 8, Alpha: 16, Targets: []string{"q", "q"}}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: error %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
}

// loraModel is a tiny model with random weights and an adapter on every
// target, its B drawn nonzero so that every path carries gradient.
func loraModel(t *testing.T, targets []string) (*Model, *Adapter, []float32) {
	t.Helper()
	k, err := blas.New(blas.Go, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(tinyConfig(true), k, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range m.Params {
		m.Params[i] = float32(r.NormFloat64() * 0.3)
	}
	base := append([]float32(nil), m.Params...)
	ad, err := NewAdapter(m.Cfg, LoRAConfig{Rank: 2, Alpha: 4, Targets: targets}, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m, ad, base
}

// TestLoRAStartsAtBase: B starts at zero, so the merged model is the base.
func TestLoRAStartsAtBase(t *testing.T) {
	m, ad, base := loraModel(t, []string{"q", "v"})
	if err := ad.Merge(m.Params, base); err != nil {
		t.Fatal(err)
	}
	for i := range base {
		if m.Params[i] != base[i] {
			t.Fatalf("parameter %d changed by a fresh adapter", i)
		}
	}
	// q and v on 2 layers: A is 2×16, B is 16×2 (q: 4 heads of 4) or 8×2 (v: 2 kv heads).
	if got, want := ad.NumParams(), 2*(2*16+16*2+2*16+8*2); got != want || ad.Cfg.NumParams(m.Cfg) != want {
		t.Fatalf("%d adapter parameters (counted %d), want %d", got, ad.Cfg.NumParams(m.Cfg), want)
	}
	for _, targets := range [][]string{LoRATargets, {"down"}, {"k", "gate"}} {
		_, ad, _ := loraModel(t, targets)
		if ad.NumParams() != ad.Cfg.NumParams(ad.Model) {
			t.Errorf("%v: laid out %d, counted %d", targets, ad.NumParams(), ad.Cfg.NumParams(ad.Model))
		}
	}
}

// TestLoRAMergeIsLowRankPath: a projection through the merged weight equals
// the base projection plus the adapter's path s·(x·Aᵀ)·Bᵀ.
func TestLoRAMergeIsLowRankPath(t *testing.T) {
	m, ad, base := loraModel(t, []string{"v"})
	r := rand.New(rand.NewPCG(2, 2))
	for i := range ad.Params {
		ad.Params[i] = float32(r.NormFloat64())
	}
	if err := ad.Merge(m.Params, base); err != nil {
		t.Fatal(err)
	}
	sl := ad.slots[1] // layer 1's v
	a, b := ad.tensor(ad.Params, sl.a), ad.tensor(ad.Params, sl.b)
	x := randn(r, sl.cols, 1)
	s := float64(ad.Cfg.Scale())
	for o := 0; o < sl.rows; o++ {
		var merged, plain, low float64
		for i, xv := range x {
			merged += float64(xv) * float64(m.Params[sl.off+o*sl.cols+i])
			plain += float64(xv) * float64(base[sl.off+o*sl.cols+i])
		}
		for k := 0; k < ad.Cfg.Rank; k++ {
			var ax float64
			for i, xv := range x {
				ax += float64(a[k*sl.cols+i]) * float64(xv)
			}
			low += float64(b[o*ad.Cfg.Rank+k]) * ax
		}
		if want := plain + s*low; math.Abs(merged-want) > 1e-4*(1+math.Abs(want)) {
			t.Fatalf("output %d: merged %v, base + adapter %v", o, merged, want)
		}
	}
}

// TestGradLoRA checks the adapter's gradients against central differences
// of the merged model's loss, for every target, and with the matrices the
// adapter does not touch frozen (their weight gradients skipped).
func TestGradLoRA(t *testing.T) {
	for _, targets := range [][]string{LoRATargets, {"down"}, {"q", "up"}} {
		t.Run(strings.Join(targets, ","), func(t *testing.T) {
			m, ad, base := loraModel(t, targets)
			r := rand.New(rand.NewPCG(9, 9))
			for i := range ad.Params {
				ad.Params[i] = float32(r.NormFloat64() * 0.3)
			}
			b, seq := 2, 7
			tokens, targets := make([]int32, b*seq), make([]int32, b*seq)
			for i := range tokens {
				tokens[i], targets[i] = int32(r.IntN(11)), int32(r.IntN(11))
			}
			if err := ad.Merge(m.Params, base); err != nil {
				t.Fatal(err)
			}
			m.Frozen = ad.Frozen()
			m.ZeroGrad()
			if _, err := m.TrainStep(tokens, targets, b, 1); err != nil {
				t.Fatal(err)
			}
			for i, ts := range m.Tensors {
				if !m.Frozen[i] || !ts.Matrix {
					continue
				}
				for _, g := range m.Grads[ts.Off : ts.Off+ts.Len()] {
					if g != 0 {
						t.Fatalf("frozen %s got a gradient", ts.Name)
					}
				}
			}
			ad.Backward(m.Grads)
			grads := append([]float32(nil), ad.Grads...)
			loss := func() float64 {
				if err := ad.Merge(m.Params, base); err != nil {
					t.Fatal(err)
				}
				l, err := m.Eval(tokens, targets, b)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			for _, ts := range ad.Tensors {
				checkGrad(t, ts.Name, ad.Params[ts.Off:ts.Off+ts.Len()], grads[ts.Off:ts.Off+ts.Len()], loss, 10, r)
			}
		})
	}
}

func TestLoRAMergeSizeMismatch(t *testing.T) {
	m, ad, _ := loraModel(t, []string{"o"})
	if err := ad.Merge(m.Params, m.Params[:10]); err == nil {
		t.Fatal("short base accepted")
	}
}
