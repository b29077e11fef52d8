package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

// Finite-difference gradient checks: every kernel's backward against
// central differences of a scalar loss sum(out ⊙ R) in float32.

const fdStep = 1e-2

func newExec(t testing.TB, backend string, workers int) *exec {
	k, err := blas.New(backend, workers)
	if err != nil {
		t.Skip(err)
	}
	return &exec{k: k, workers: workers}
}

func randn(r *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * std)
	}
	return s
}

func weighted(out, w []float32) float64 {
	var s float64
	for i, v := range out {
		s += float64(v) * float64(w[i])
	}
	return s
}

// checkGrad compares analytic[i] with the central difference of loss in x[i]
// for (at most) limit coordinates, and the whole sample by relative norm.
func checkGrad(t *testing.T, name string, x, analytic []float32, loss func() float64, limit int, r *rand.Rand) {
	t.Helper()
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	if len(idx) > limit {
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		idx = idx[:limit]
	}
	var diff2, norm2 float64
	for _, i := range idx {
		old := x[i]
		x[i] = old + fdStep
		up := loss()
		x[i] = old - fdStep
		down := loss()
		x[i] = old
		num := (up - down) / (2 * fdStep)
		ana := float64(analytic[i])
		diff2 += (num - ana) * (num - ana)
		norm2 += num*num + ana*ana
		if math.Abs(num-ana) > 2e-3+2e-2*math.Abs(num) {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", name, i, ana, num)
		}
	}
	if rel := math.Sqrt(diff2 / max(norm2, 1e-30)); rel > 5e-3 {
		t.Errorf("%s: relative gradient error %.3g", name, rel)
	}
}

func TestGradRMSNorm(t *testing.T) {
	e := newExec(t, blas.Go, 2)
	r := rand.New(rand.NewPCG(1, 1))
	n, c := 37, 8
	x, w, R := randn(r, n*c, 1), randn(r, c, 1), randn(r, n*c, 1)
	out, rstd := make([]float32, n*c), make([]float32, n)
	loss := func() float64 { e.rmsnormForward(out, rstd, x, w, n, c); return weighted(out, R) }
	loss()
	dx, dw := make([]float32, n*c), make([]float32, c)
	e.rmsnormBackward(dx, dw, R, x, rstd, w, n, c, make([]float32, (n+rowChunk-1)/rowChunk*c))
	checkGrad(t, "x", x, dx, loss, 100, r)
	checkGrad(t, "w", w, dw, loss, 100, r)
}

func TestGradRoPE(t *testing.T) {
	e := newExec(t, blas.Go, 2)
	r := rand.New(rand.NewPCG(2, 1))
	n, seq, heads, head, ld := 12, 6, 3, 8, 30
	cos, sin := ropeTables(seq, head, 10000, 2)
	x, R := randn(r, n*ld, 1), randn(r, n*ld, 1)
	out := make([]float32, n*ld)
	loss := func() float64 {
		copy(out, x)
		e.rope(out, n, seq, ld, heads, head, cos, sin, false)
		return weighted(out, R)
	}
	dx := append([]float32(nil), R...)
	e.rope(dx, n, seq, ld, heads, head, cos, sin, true)
	checkGrad(t, "x", x, dx, loss, 200, r)
}

func TestGradAttention(t *testing.T) {
	for _, tc := range []struct{ b, t, heads, kv, head int }{
		{2, 5, 4, 2, 4},  // grouped-query
		{1, 7, 2, 1, 6},  // multi-query
		{1, 70, 2, 2, 4}, // more than one row block
		{2, 3, 3, 3, 2},  // one head per kv head
	} {
		for _, backend := range []string{blas.Go, blas.OpenBLAS} {
			t.Run(fmt.Sprintf("%s/%+v", backend, tc), func(t *testing.T) {
				e := newExec(t, backend, 2)
				r := rand.New(rand.NewPCG(3, uint64(tc.t)))
				ld := (tc.heads + 2*tc.kv) * tc.head
				n := tc.b * tc.t
				qkv := randn(r, n*ld, 1)
				R := randn(r, n*tc.heads*tc.head, 1)
				y := make([]float32, n*tc.heads*tc.head)
				att := make([]float32, tc.b*tc.heads*tc.t*tc.t)
				loss := func() float64 {
					e.attention(y, att, qkv, tc.b, tc.t, tc.heads, tc.kv, tc.head)
					return weighted(y, R)
				}
				loss()
				dqkv := make([]float32, len(qkv))
				e.attentionBackward(dqkv, R, att, qkv, tc.b, tc.t, tc.heads, tc.kv, tc.head, make([]float32, 2*tc.t*attnBlock))
				checkGrad(t, "qkv", qkv, dqkv, loss, 300, r)
			})
		}
	}
}

func TestAttentionIsCausal(t *testing.T) {
	e := newExec(t, blas.Go, 1)
	r := rand.New(rand.NewPCG(4, 4))
	b, seq, heads, kv, head := 1, 9, 2, 1, 4
	ld := (heads + 2*kv) * head
	qkv := randn(r, b*seq*ld, 1)
	y1 := make([]float32, b*seq*heads*head)
	att := make([]float32, b*heads*seq*seq)
	e.attention(y1, att, qkv, b, seq, heads, kv, head)
	// Changing the last position must not change any earlier output.
	for j := (seq - 1) * ld; j < seq*ld; j++ {
		qkv[j] += 5
	}
	y2 := make([]float32, len(y1))
	e.attention(y2, att, qkv, b, seq, heads, kv, head)
	for i := 0; i < (seq-1)*heads*head; i++ {
		if y1[i] != y2[i] {
			t.Fatalf("output %d at an earlier position changed: %v -> %v", i, y1[i], y2[i])
		}
	}
}

func TestGradSwiGLU(t *testing.T) {
	e := newExec(t, blas.Go, 2)
	r := rand.New(rand.NewPCG(5, 1))
	n, hidden := 19, 7
	h13, R := randn(r, n*2*hidden, 2), randn(r, n*hidden, 1)
	g, sig := make([]float32, n*hidden), make([]float32, n*hidden)
	loss := func() float64 { e.swiglu(g, sig, h13, n, hidden); return weighted(g, R) }
	loss()
	dh := make([]float32, len(h13))
	e.swigluBackward(dh, R, sig, h13, n, hidden)
	checkGrad(t, "h13", h13, dh, loss, 200, r)
}

func TestGradCrossEntropy(t *testing.T) {
	e := newExec(t, blas.Go, 2)
	r := rand.New(rand.NewPCG(6, 1))
	n, vocab := 21, 13
	logits := randn(r, n*vocab, 2)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(r.IntN(vocab))
	}
	work, rl := make([]float32, len(logits)), make([]float32, n)
	loss := func() float64 {
		copy(work, logits)
		e.crossEntropy(work, targets, rl, n, vocab, 0)
		var s float64
		for _, v := range rl {
			s += float64(v)
		}
		return s / float64(n)
	}
	copy(work, logits)
	e.crossEntropy(work, targets, rl, n, vocab, 1/float32(n))
	grad := append([]float32(nil), work...)
	checkGrad(t, "logits", logits, grad, loss, 200, r)
}

func tinyConfig(tie bool) Config {
	return Config{Vocab: 11, Context: 8, Layers: 2, Heads: 4, KVHeads: 2, Dim: 16, Hidden: 24, RopeScale: 2, TieEmbeddings: tie}
}

// TestGradModel checks the whole model: every tensor, with weights drawn
// large enough that every path carries gradient.
func TestGradModel(t *testing.T) {
	for _, backend := range []string{blas.Go, blas.OpenBLAS} {
		for _, tie := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/tie=%v", backend, tie), func(t *testing.T) {
				k, err := blas.New(backend, 2)
				if err != nil {
					t.Skip(err)
				}
				m, err := New(tinyConfig(tie), k, 2)
				if err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewPCG(7, 1))
				for i := range m.Params {
					m.Params[i] = float32(r.NormFloat64() * 0.3)
				}
				b, seq := 2, 7
				tokens, targets := make([]int32, b*seq), make([]int32, b*seq)
				for i := range tokens {
					tokens[i], targets[i] = int32(r.IntN(11)), int32(r.IntN(11))
				}
				m.ZeroGrad()
				if _, err := m.TrainStep(tokens, targets, b, 1); err != nil {
					t.Fatal(err)
				}
				grads := append([]float32(nil), m.Grads...)
				loss := func() float64 {
					l, err := m.Eval(tokens, targets, b)
					if err != nil {
						t.Fatal(err)
					}
					return l
				}
				for _, ts := range m.Tensors {
					checkGrad(t, ts.Name, m.Params[ts.Off:ts.Off+ts.Len()], grads[ts.Off:ts.Off+ts.Len()], loss, 25, r)
				}
			})
		}
	}
}

func TestExp(t *testing.T) {
	var xs []float32
	for x := float32(-95); x < 95; x += 0.01237 {
		xs = append(xs, x)
	}
	check := func(name string, got []float32) {
		for i, x := range xs {
			c := float64(min(max(x, -87.33654), 88.3))
			want := math.Exp(c)
			if math.Abs(float64(got[i])-want) > 3e-7*want {
				t.Fatalf("%s: exp(%v) = %v, want %v", name, x, got[i], want)
			}
		}
	}
	scalar := make([]float32, len(xs))
	expScalar(scalar, xs, 0)
	check("scalar", scalar)
	all := make([]float32, len(xs))
	expShift(all, xs, 0)
	check("expShift", all)
	var want float64
	for _, v := range all[:3000] {
		want += float64(v)
	}
	if got := sum(all[:3000]); math.Abs(float64(got)-want) > 1e-5*want {
		t.Fatalf("sum %v, want %v", got, want)
	}
	// shift and in-place use
	in := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	expShift(in, in, 11)
	for i, v := range in {
		if w := math.Exp(float64(i + 1 - 11)); math.Abs(float64(v)-w) > 3e-7*w {
			t.Fatalf("in place: %v, want %v", v, w)
		}
	}
}

func BenchmarkExp(b *testing.B) {
	src := make([]float32, 4096)
	for i := range src {
		src[i] = float32(i%200) / 10
	}
	dst := make([]float32, len(src))
	b.SetBytes(4 * int64(len(src)))
	for range b.N {
		expShift(dst, src, 10)
	}
}
