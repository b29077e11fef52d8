package llama

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/curatehq/curate/trainer/blas"
)

// exec runs the kernels of one model: matrix products on k, everything else
// spread over workers goroutines. Work is cut into pieces whose boundaries
// do not depend on workers, and partial sums are reduced in piece order, so
// results are the same for any worker count.
type exec struct {
	k       *blas.Kernel
	workers int
}

// parallel calls fn(w, i) for every i in [0, n) from at most e.workers
// goroutines; w < e.workers identifies the goroutine (for scratch buffers).
func (e *exec) parallel(n int, fn func(w, i int)) {
	workers := min(e.workers, n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// rowChunk is the number of rows one piece of a row-wise kernel handles.
const rowChunk = 16

// rows calls fn(lo, hi) over [0, n) in pieces of rowChunk rows.
func (e *exec) rows(n int, fn func(piece, lo, hi int)) {
	e.parallel((n+rowChunk-1)/rowChunk, func(_, p int) {
		fn(p, p*rowChunk, min((p+1)*rowChunk, n))
	})
}

// linear computes out[n×o] = x[n×i] · wᵀ for a weight w of o×i.
func (e *exec) linear(out, x, w []float32, n, in, o int) {
	e.k.Sgemm(false, true, n, o, in, 1, x, in, w, in, 0, out, o)
}

// linearBackward sets dx = dout · w (or adds it when accumulate) and adds
// doutᵀ · x to dw; a nil dw (a frozen weight) skips that product.
func (e *exec) linearBackward(dx, dw, dout, x, w []float32, n, in, o int, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	e.k.Sgemm(false, false, n, in, o, 1, dout, o, w, in, beta, dx, in)
	if dw != nil {
		e.k.Sgemm(true, false, o, in, n, 1, dout, o, x, in, 1, dw, in)
	}
}

// expShift sets dst[i] = exp(src[i] - shift); dst may be src. It is exp
// for float32 (Cody-Waite range reduction and a degree-6 polynomial, within
// 2 ulp of math.Exp), eight lanes at a time with AVX2 and FMA, the same
// formula in Go for the rest. Arguments are clamped to [-87.34, 88.3], so
// exp never underflows to 0 or overflows. Callers that can afford to
// scribble a few floats past the end round lengths up to 8 (see
// softmaxPrefix): a scalar tail costs as much as the vector body.
func expShift(dst, src []float32, shift float32) {
	dst = dst[:len(src)]
	done := 0
	if useAVX2 && len(src) >= 8 {
		done = len(src) &^ 7
		expAVX2(dst[:done], src[:done], shift)
	}
	expScalar(dst[done:], src[done:], shift)
}

// sum adds s with four accumulators.
func sum(s []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(s); i += 4 {
		s0 += s[i]
		s1 += s[i+1]
		s2 += s[i+2]
		s3 += s[i+3]
	}
	for ; i < len(s); i++ {
		s0 += s[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func expScalar(dst, src []float32, shift float32) {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	dst = dst[:len(src)]
	for i, v := range src {
		x := min(max(v-shift, -87.33654), 88.3)
		t := x*log2e + 0.5
		ni := int32(t)
		if float32(ni) > t { // floor for negative t
			ni--
		}
		n := float32(ni)
		r := x - n*ln2hi - n*ln2lo
		p := float32(1.9875691500e-4)
		p = p*r + 1.3981999507e-3
		p = p*r + 8.3334519073e-3
		p = p*r + 4.1665795894e-2
		p = p*r + 1.6666665459e-1
		p = p*r + 5.0000001201e-1
		dst[i] = (p*r*r + r + 1) * math.Float32frombits(uint32(ni+127)<<23)
	}
}
