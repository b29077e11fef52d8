package llama

import "math"

// The per-layer kernels. Each forward writes its outputs; each backward adds
// into parameter gradients and either sets or adds the input gradient, as its
// comment says. Row-major throughout: row r of an n×c matrix is x[r*c:(r+1)*c].

const rmsEps = 1e-5

// rmsnormForward sets out = x / rms(x) · w per row and keeps 1/rms in rstd.
func (e *exec) rmsnormForward(out, rstd, x, w []float32, n, c int) {
	e.rows(n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := x[r*c:(r+1)*c], out[r*c:(r+1)*c]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			s := float32(1 / math.Sqrt(ss/float64(c)+rmsEps))
			rstd[r] = s
			wr := w[:c]
			for j, v := range xr {
				or[j] = v * s * wr[j]
			}
		}
	})
}

// rmsnormBackward adds the input gradient to dx and the weight gradient to
// dw. scratch must hold ceil(n/rowChunk)·c floats.
func (e *exec) rmsnormBackward(dx, dw, dout, x, rstd, w []float32, n, c int, scratch []float32) {
	pieces := (n + rowChunk - 1) / rowChunk
	partial := scratch[:pieces*c]
	clear(partial)
	e.rows(n, func(p, lo, hi int) {
		pw := partial[p*c : (p+1)*c]
		for r := lo; r < hi; r++ {
			xr, dr, dxr := x[r*c:(r+1)*c], dout[r*c:(r+1)*c], dx[r*c:(r+1)*c]
			s := rstd[r]
			var m float64 // mean of (dout·w)·x̂
			for j, v := range xr {
				xh := v * s
				pw[j] += dr[j] * xh
				m += float64(dr[j] * w[j] * xh)
			}
			mf := float32(m / float64(c))
			for j, v := range xr {
				dxr[j] += s * (dr[j]*w[j] - v*s*mf)
			}
		}
	})
	for p := 0; p < pieces; p++ {
		pw := partial[p*c : (p+1)*c]
		for j := range dw[:c] {
			dw[j] += pw[j]
		}
	}
}

// ropeTables returns cos and sin of position·θᵢ for every position below
// context and i below head/2, positions divided by scale (position
// interpolation).
func ropeTables(context, head int, base, scale float64) (cos, sin []float32) {
	half := head / 2
	cos, sin = make([]float32, context*half), make([]float32, context*half)
	for t := 0; t < context; t++ {
		for i := 0; i < half; i++ {
			theta := float64(t) / scale * math.Pow(base, -float64(2*i)/float64(head))
			cos[t*half+i] = float32(math.Cos(theta))
			sin[t*half+i] = float32(math.Sin(theta))
		}
	}
	return cos, sin
}

// rope rotates, in place, the first heads head-vectors of every row of
// x (stride ld): pairs (i, i+head/2), the "rotate half" layout. Row r is at
// position r mod t. inverse applies the transposed rotation (the backward).
func (e *exec) rope(x []float32, n, t, ld, heads, head int, cos, sin []float32, inverse bool) {
	half := head / 2
	e.rows(n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			pos := r % t
			cr, sr := cos[pos*half:(pos+1)*half], sin[pos*half:(pos+1)*half]
			for h := 0; h < heads; h++ {
				v := x[r*ld+h*head : r*ld+(h+1)*head]
				a, b := v[:half], v[half:head]
				for i := range a {
					c, s := cr[i], sr[i]
					if inverse {
						s = -s
					}
					a[i], b[i] = a[i]*c-b[i]*s, b[i]*c+a[i]*s
				}
			}
		}
	})
}

// attnBlock is the row-block size of causal attention: a block of query rows
// only meets the keys up to its last row, which skips most of the masked
// half of the score matrix.
const attnBlock = 64

// attention is causal grouped-query attention over qkv rows laid out as
// [q heads | k heads | v heads] (stride ld), batch b of t positions. It
// writes the softmax probabilities to att (b·heads·t·t, zero above the
// diagonal) and the head outputs to y (stride heads·head).
func (e *exec) attention(y, att, qkv []float32, b, t, heads, kvHeads, head int) {
	ld := (heads + 2*kvHeads) * head
	ly := heads * head
	scale := float32(1 / math.Sqrt(float64(head)))
	rep := heads / kvHeads
	e.parallel(b*heads, func(_, task int) {
		bi, h := task/heads, task%heads
		g := h / rep
		base := bi * t * ld
		q := qkv[base+h*head:]
		k := qkv[base+(heads+g)*head:]
		v := qkv[base+(heads+kvHeads+g)*head:]
		p := att[task*t*t : (task+1)*t*t]
		yo := y[bi*t*ly+h*head:]
		for r0 := 0; r0 < t; r0 += attnBlock {
			r1 := min(r0+attnBlock, t)
			e.k.SgemmSerial(false, true, r1-r0, r1, head, scale, q[r0*ld:], ld, k, ld, 0, p[r0*t:], t)
			for r := r0; r < r1; r++ {
				row := p[r*t : (r+1)*t]
				softmaxPrefix(row, r+1)
			}
			e.k.SgemmSerial(false, false, r1-r0, head, r1, 1, p[r0*t:], t, v, ld, 0, yo[r0*ly:], ly)
		}
	})
}

// softmaxPrefix replaces row[:n] by its softmax and zeroes the rest.
func softmaxPrefix(row []float32, n int) {
	mx := row[0]
	for _, v := range row[1:n] {
		mx = max(mx, v)
	}
	// Round up to whole vectors: row[n:] is cleared below anyway.
	m := min(len(row), (n+7)&^7)
	expShift(row[:m], row[:m], mx)
	inv := 1 / sum(row[:n])
	for i := range row[:n] {
		row[i] *= inv
	}
	clear(row[n:])
}

// attentionBackward sets dqkv (same layout as qkv) from dy, the gradient of
// attention's output. scratch holds workers·t·attnBlock floats.
func (e *exec) attentionBackward(dqkv, dy, att, qkv []float32, b, t, heads, kvHeads, head int, scratch []float32) {
	ld := (heads + 2*kvHeads) * head
	ly := heads * head
	scale := float32(1 / math.Sqrt(float64(head)))
	rep := heads / kvHeads
	// One task per (sequence, kv head): the query heads sharing a kv head
	// add into the same dk and dv, so they run on one goroutine.
	e.parallel(b*kvHeads, func(w, task int) {
		bi, g := task/kvHeads, task%kvHeads
		base := bi * t * ld
		k := qkv[base+(heads+g)*head:]
		v := qkv[base+(heads+kvHeads+g)*head:]
		dk := dqkv[base+(heads+g)*head:]
		dv := dqkv[base+(heads+kvHeads+g)*head:]
		for r := 0; r < t; r++ {
			clear(dk[r*ld : r*ld+head])
			clear(dv[r*ld : r*ld+head])
		}
		ds := scratch[w*t*attnBlock : (w+1)*t*attnBlock]
		for h := g * rep; h < (g+1)*rep; h++ {
			q := qkv[base+h*head:]
			dq := dqkv[base+h*head:]
			p := att[(bi*heads+h)*t*t:]
			dyo := dy[bi*t*ly+h*head:]
			for r0 := 0; r0 < t; r0 += attnBlock {
				r1 := min(r0+attnBlock, t)
				rows := r1 - r0
				// dP = dY·Vᵀ, then dS = P ⊙ (dP − rowsum(P ⊙ dP)).
				e.k.SgemmSerial(false, true, rows, r1, head, 1, dyo[r0*ly:], ly, v, ld, 0, ds, t)
				for r := r0; r < r1; r++ {
					pr := p[r*t : r*t+r+1]
					dr := ds[(r-r0)*t : (r-r0)*t+r+1]
					var dot float32
					for i, pv := range pr {
						dot += pv * dr[i]
					}
					for i, pv := range pr {
						dr[i] = pv * (dr[i] - dot)
					}
					clear(ds[(r-r0)*t+r+1 : (r-r0)*t+r1])
				}
				e.k.SgemmSerial(false, false, rows, head, r1, scale, ds, t, k, ld, 0, dq[r0*ld:], ld)
				e.k.SgemmSerial(true, false, r1, head, rows, scale, ds, t, q[r0*ld:], ld, 1, dk, ld)
				e.k.SgemmSerial(true, false, r1, head, rows, 1, p[r0*t:], t, dyo[r0*ly:], ly, 1, dv, ld)
			}
		}
	})
}

// swiglu sets g = silu(h1) ⊙ h3 for rows of h13 = [h1 | h3] (2·hidden wide)
// and keeps sigmoid(h1) in sig for the backward.
func (e *exec) swiglu(g, sig, h13 []float32, n, hidden int) {
	e.rows(n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			h1 := h13[r*2*hidden : r*2*hidden+hidden]
			h3 := h13[r*2*hidden+hidden : (r+1)*2*hidden]
			gr, sr := g[r*hidden:(r+1)*hidden], sig[r*hidden:(r+1)*hidden]
			h3 = h3[:len(h1)]
			sr = sr[:len(h1)]
			gr = gr[:len(h1)]
			// sigmoid(a) = 1/(1+exp(-a)): exp(-a) = exp(0 - a) with the
			// negation done by one pass.
			for j, a := range h1 {
				sr[j] = -a
			}
			expShift(sr, sr, 0)
			for j, a := range h1 {
				s := 1 / (1 + sr[j])
				sr[j] = s
				gr[j] = a * s * h3[j]
			}
		}
	})
}

// swigluFromSigmoid recomputes swiglu's g from the kept sigmoid.
func (e *exec) swigluFromSigmoid(g, sig, h13 []float32, n, hidden int) {
	e.rows(n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			h1 := h13[r*2*hidden : r*2*hidden+hidden]
			h3 := h13[r*2*hidden+hidden : (r+1)*2*hidden]
			gr, sr := g[r*hidden:(r+1)*hidden], sig[r*hidden:(r+1)*hidden]
			for j, a := range h1 {
				gr[j] = a * sr[j] * h3[j]
			}
		}
	})
}

// swigluBackward sets dh13 from dg.
func (e *exec) swigluBackward(dh13, dg, sig, h13 []float32, n, hidden int) {
	e.rows(n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			h1 := h13[r*2*hidden : r*2*hidden+hidden]
			h3 := h13[r*2*hidden+hidden : (r+1)*2*hidden]
			d1 := dh13[r*2*hidden : r*2*hidden+hidden]
			d3 := dh13[r*2*hidden+hidden : (r+1)*2*hidden]
			dr, sr := dg[r*hidden:(r+1)*hidden], sig[r*hidden:(r+1)*hidden]
			for j, a := range h1 {
				s := sr[j]
				silu := a * s
				d3[j] = dr[j] * silu
				d1[j] = dr[j] * h3[j] * s * (1 + a*(1-s))
			}
		}
	})
}

// crossEntropy turns rows of logits into probabilities' gradient in place
// (when grad is nonzero: (softmax − onehot)·grad) and writes each row's loss
// to loss.
func (e *exec) crossEntropy(logits []float32, targets []int32, loss []float32, n, vocab int, grad float32) {
	e.rows(n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			row := logits[r*vocab : (r+1)*vocab]
			mx := row[0]
			for _, v := range row[1:] {
				mx = max(mx, v)
			}
			tgt := targets[r]
			logit := row[tgt]
			expShift(row, row, mx)
			total := sum(row)
			loss[r] = float32(math.Log(float64(total))) + mx - logit
			if grad == 0 {
				continue
			}
			inv := grad / total
			for i := range row {
				row[i] *= inv
			}
			row[tgt] -= grad
		}
	})
}
