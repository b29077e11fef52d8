package trainer

import (
	"math"
	"testing"

	"github.com/curatehq/curate/trainer/llama"
)

func serial(n int, fn func(i int)) { parallelFor(3, n, fn) }

func TestLearningRate(t *testing.T) {
	const lr = 1e-3
	for _, tc := range []struct {
		it, steps, warmup int
		want              float64
	}{
		{0, 100, 10, lr * 1 / 10},
		{9, 100, 10, lr},
		{10, 100, 10, lr},               // cosine starts at the peak
		{99, 100, 10, lr / 10},          // and ends at lr/10 on the last step
		{55, 101, 10, (lr + lr/10) / 2}, // half way
		{5, 5, 10, lr * 6 / 10},
		{3, 3, 0, lr / 10},
	} {
		if got := learningRate(tc.it, tc.steps, tc.warmup, lr); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("lr(%d of %d, warmup %d) = %g, want %g", tc.it, tc.steps, tc.warmup, got, tc.want)
		}
	}
}

// TestAdamW follows two parameters (one decayed, one not) for three steps
// against the update written out in float64.
func TestAdamW(t *testing.T) {
	ts := []llama.Tensor{{Name: "w", Off: 0, Rows: 1, Cols: 1, Matrix: true}, {Name: "g", Off: 1, Rows: 1, Cols: 1}}
	o := NewAdamW(ts, 2, 0.9, 0.95, 1e-8, 0.1)
	p := []float32{0.5, -0.25}
	grads := [][]float32{{0.1, -0.2}, {0.3, 0.05}, {-0.2, 0.4}}
	want := []float64{0.5, -0.25}
	var m, v [2]float64
	lr := 0.01
	for s, g := range grads {
		o.Step(p, g, lr, s+1, serial)
		for i := range want {
			if i == 0 {
				want[i] *= 1 - lr*0.1
			}
			m[i] = 0.9*m[i] + 0.1*float64(g[i])
			v[i] = 0.95*v[i] + 0.05*float64(g[i])*float64(g[i])
			mh := m[i] / (1 - math.Pow(0.9, float64(s+1)))
			vh := v[i] / (1 - math.Pow(0.95, float64(s+1)))
			want[i] -= lr * mh / (math.Sqrt(vh) + 1e-8)
			if math.Abs(float64(p[i])-want[i]) > 1e-6 {
				t.Fatalf("step %d param %d: %v, want %v", s+1, i, p[i], want[i])
			}
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	g := []float32{3, 4}
	if n := clipGradNorm(g, 1, serial); n != 5 {
		t.Fatalf("norm %v", n)
	}
	if math.Abs(float64(g[0])-0.6) > 1e-6 || math.Abs(float64(g[1])-0.8) > 1e-6 {
		t.Fatalf("clipped to %v", g)
	}
	g = []float32{0.3, 0.4}
	clipGradNorm(g, 1, serial)
	if g[0] != 0.3 || g[1] != 0.4 {
		t.Fatalf("a norm below the bound was changed: %v", g)
	}
	big := make([]float32, 100000)
	for i := range big {
		big[i] = 1
	}
	if n := clipGradNorm(big, 0, serial); math.Abs(n-math.Sqrt(100000)) > 1e-9 || big[0] != 1 {
		t.Fatalf("measure-only: %v %v", n, big[0])
	}
}
