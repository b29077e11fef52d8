package trainer

import (
	"math"

	"github.com/curatehq/curate/trainer/llama"
)

// AdamW is decoupled-weight-decay Adam (PyTorch's torch.optim.AdamW
// semantics). Decay applies to matrices only. M and V are its state.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	M, V                           []float32
	tensors                        []llama.Tensor
}

// NewAdamW makes an optimizer for a model's tensors.
func NewAdamW(ts []llama.Tensor, n int, beta1, beta2, eps, wd float64) *AdamW {
	return &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: wd,
		M: make([]float32, n), V: make([]float32, n), tensors: ts}
}

// Step applies update number step (1-based) with learning rate lr.
func (o *AdamW) Step(params, grads []float32, lr float64, step int, parallel func(n int, fn func(i int))) {
	bc1 := 1 - math.Pow(o.Beta1, float64(step))
	bc2 := 1 - math.Pow(o.Beta2, float64(step))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	eps := float32(o.Eps)
	const piece = 1 << 14
	for _, t := range o.tensors {
		decay := float32(1)
		if t.Matrix {
			decay = float32(1 - lr*o.WeightDecay)
		}
		off, n := t.Off, t.Len()
		parallel((n+piece-1)/piece, func(i int) {
			lo, hi := off+i*piece, off+min((i+1)*piece, n)
			p, g, m, v := params[lo:hi], grads[lo:hi], o.M[lo:hi], o.V[lo:hi]
			g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
			for j := range p {
				gj := g[j]
				mj := b1*m[j] + (1-b1)*gj
				vj := b2*v[j] + (1-b2)*gj*gj
				m[j], v[j] = mj, vj
				p[j] = p[j]*decay - stepSize*mj/(float32(math.Sqrt(float64(vj)))/sqrtBC2+eps)
			}
		})
	}
}

// clipGradNorm scales grads so their global L2 norm is at most maxNorm
// (PyTorch's clip_grad_norm_: scale maxNorm/(norm+1e-6) when below 1) and
// returns the norm before clipping. maxNorm 0 only measures.
func clipGradNorm(grads []float32, maxNorm float64, parallel func(n int, fn func(i int))) float64 {
	const piece = 1 << 14
	pieces := (len(grads) + piece - 1) / piece
	partial := make([]float64, pieces)
	parallel(pieces, func(i int) {
		var s float64
		for _, g := range grads[i*piece : min((i+1)*piece, len(grads))] {
			s += float64(g) * float64(g)
		}
		partial[i] = s
	})
	var sum float64
	for _, s := range partial {
		sum += s
	}
	norm := math.Sqrt(sum)
	if maxNorm > 0 {
		if coef := maxNorm / (norm + 1e-6); coef < 1 {
			c := float32(coef)
			parallel(pieces, func(i int) {
				for j := i * piece; j < min((i+1)*piece, len(grads)); j++ {
					grads[j] *= c
				}
			})
		}
	}
	return norm
}

// learningRate is the schedule at 0-based step it: linear warmup to lr over
// warmup steps, then cosine decay to lr/10 at the last step.
func learningRate(it, steps, warmup int, lr float64) float64 {
	minLR := lr / 10
	if it < warmup {
		return lr * float64(it+1) / float64(warmup)
	}
	if steps <= warmup {
		return lr
	}
	r := min(1, float64(it-warmup)/float64(max(1, steps-1-warmup)))
	return minLR + 0.5*(1+math.Cos(math.Pi*r))*(lr-minLR)
}
