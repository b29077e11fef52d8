package llama

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/curatehq/curate/trainer/blas"
)

// Model holds the parameters, their gradients and the activations of the
// last forward pass. It is not safe for concurrent use: one TrainStep or
// Eval at a time, each using all the workers it was built with.
type Model struct {
	Cfg     Config
	Tensors []Tensor
	Params  []float32 // every parameter, laid out as Tensors says
	Grads   []float32 // same layout; TrainStep adds into it, ZeroGrad clears it
	// Frozen, when set (one flag per tensor), marks matrices whose weight
	// gradient TrainStep may skip: their Grads are left as they are. A
	// LoRA run freezes every matrix it does not adapt. Norm weights always
	// get gradients (they cost nothing next to the products).
	Frozen []bool

	e        exec
	cos, sin []float32
	a        *activations
}

// New allocates a model with parameters set to zero (call Init or load a
// checkpoint). workers bounds the goroutines of non-matrix kernels.
func New(cfg Config, k *blas.Kernel, workers int) (*Model, error) {
	cfg = cfg.Normalized()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if workers <= 0 {
		workers = k.Workers()
	}
	ts, n := layout(cfg)
	m := &Model{Cfg: cfg, Tensors: ts, Params: make([]float32, n), Grads: make([]float32, n), e: exec{k: k, workers: workers}}
	m.cos, m.sin = ropeTables(cfg.Context, cfg.Dim/cfg.Heads, cfg.RopeBase, cfg.RopeScale)
	return m, nil
}

// Init draws the parameters: normal(0, 0.02) for every matrix, with the
// residual output projections (wo, w2) at 0.02/sqrt(2·layers), and ones for
// the norm weights. The same seed gives the same parameters.
func (m *Model) Init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	resid := 0.02 / math.Sqrt(2*float64(m.Cfg.Layers))
	for i, t := range m.Tensors {
		p := m.Params[t.Off : t.Off+t.Len()]
		if !t.Matrix {
			for j := range p {
				p[j] = 1
			}
			continue
		}
		std := 0.02
		if i >= 1 && i <= m.Cfg.Layers*nLayerTensors {
			if which := (i - 1) % nLayerTensors; which == tWo || which == tW2 {
				std = resid
			}
		}
		for j := range p {
			p[j] = float32(rng.NormFloat64() * std)
		}
	}
}

// ZeroGrad clears the gradients before a step's first micro-batch.
func (m *Model) ZeroGrad() { clear(m.Grads) }

// layerTensor is the slice of buf holding tensor which of layer l.
func (m *Model) layerTensor(buf []float32, l, which int) []float32 {
	t := m.Tensors[1+l*nLayerTensors+which]
	return buf[t.Off : t.Off+t.Len()]
}

// weightGrad is the gradient slice of layer l's matrix which, or nil when
// it is frozen.
func (m *Model) weightGrad(l, which int) []float32 {
	if m.Frozen != nil && m.Frozen[1+l*nLayerTensors+which] {
		return nil
	}
	return m.layerTensor(m.Grads, l, which)
}

// headFrozen reports whether the output head's (or, tied, the
// embedding's) gradient may be skipped.
func (m *Model) headFrozen() bool {
	if m.Frozen == nil {
		return false
	}
	if m.Cfg.TieEmbeddings {
		return m.Frozen[0]
	}
	return m.Frozen[len(m.Tensors)-1]
}

func (m *Model) tensor(buf []float32, i int) []float32 {
	t := m.Tensors[i]
	return buf[t.Off : t.Off+t.Len()]
}

// embedding is the token embedding; head is the output projection (the
// same matrix when tied).
func (m *Model) embedding(buf []float32) []float32 { return m.tensor(buf, 0) }
func (m *Model) finalNorm(buf []float32) []float32 {
	return m.tensor(buf, 1+m.Cfg.Layers*nLayerTensors)
}
func (m *Model) head(buf []float32) []float32 {
	if m.Cfg.TieEmbeddings {
		return m.embedding(buf)
	}
	return m.tensor(buf, 2+m.Cfg.Layers*nLayerTensors)
}

// activations are what the backward pass needs from the forward pass, for
// one batch shape, plus the backward's scratch.
type activations struct {
	b, t                                    int
	res                                     [][]float32 // residual stream entering each layer, and after the last
	mid                                     [][]float32 // residual stream after each attention
	r1, xn1, qkv, att, y, r2, xn2, h13, sig [][]float32

	rf, xnf []float32

	dres, dtmp, dqkv, dh13, dg, dxn []float32
	g                               []float32 // SwiGLU output, recomputed per layer
	logits, rowLoss                 []float32
	normScratch, attnScratch        []float32
}

// headRows is how many rows of logits are materialised at once: the whole
// n×vocab matrix would not fit for large vocabularies.
func (m *Model) headRows(n int) int {
	r := max(4, (1<<22)/m.Cfg.Vocab)
	return min(n, r)
}

func (m *Model) activationsFor(b, t int) *activations {
	if m.a != nil && m.a.b == b && m.a.t == t {
		return m.a
	}
	c := m.Cfg
	n := b * t
	hd := c.Dim / c.Heads
	qkvw := (c.Heads + 2*c.KVHeads) * hd
	a := &activations{b: b, t: t}
	per := func(size int) [][]float32 {
		s := make([][]float32, c.Layers)
		for l := range s {
			s[l] = make([]float32, size)
		}
		return s
	}
	a.res = make([][]float32, c.Layers+1)
	for l := range a.res {
		a.res[l] = make([]float32, n*c.Dim)
	}
	a.mid, a.r1, a.xn1 = per(n*c.Dim), per(n), per(n*c.Dim)
	a.qkv, a.att, a.y = per(n*qkvw), per(b*c.Heads*t*t), per(n*c.Dim)
	a.r2, a.xn2, a.h13, a.sig = per(n), per(n*c.Dim), per(n*2*c.Hidden), per(n*c.Hidden)
	a.rf, a.xnf = make([]float32, n), make([]float32, n*c.Dim)
	a.dres, a.dtmp, a.dxn = make([]float32, n*c.Dim), make([]float32, n*c.Dim), make([]float32, n*c.Dim)
	a.dqkv, a.dh13, a.dg, a.g = make([]float32, n*qkvw), make([]float32, n*2*c.Hidden), make([]float32, n*c.Hidden), make([]float32, n*c.Hidden)
	a.logits, a.rowLoss = make([]float32, m.headRows(n)*c.Vocab), make([]float32, n)
	a.normScratch = make([]float32, (n+rowChunk-1)/rowChunk*c.Dim)
	a.attnScratch = make([]float32, m.e.workers*t*attnBlock)
	m.a = a
	return a
}

// checkBatch validates shapes and token ids before any kernel runs.
func (m *Model) checkBatch(tokens, targets []int32, b int) (t int, err error) {
	if b <= 0 || len(tokens) == 0 || len(tokens)%b != 0 {
		return 0, fmt.Errorf("model: %d tokens do not split into %d sequences", len(tokens), b)
	}
	t = len(tokens) / b
	if t > m.Cfg.Context {
		return 0, fmt.Errorf("model: sequence length %d exceeds context %d", t, m.Cfg.Context)
	}
	if len(targets) != len(tokens) {
		return 0, fmt.Errorf("model: %d targets for %d tokens", len(targets), len(tokens))
	}
	v := int32(m.Cfg.Vocab)
	for i, tok := range tokens {
		if tok < 0 || tok >= v || targets[i] < 0 || targets[i] >= v {
			return 0, fmt.Errorf("model: token id %d or %d at position %d is outside the vocabulary of %d", tok, targets[i], i, v)
		}
	}
	return t, nil
}

// forward runs the layers and the final norm, keeping activations.
func (m *Model) forward(tokens []int32, b, t int) *activations {
	c := m.Cfg
	a := m.activationsFor(b, t)
	n := b * t
	dim := c.Dim
	hd := dim / c.Heads
	qkvw := (c.Heads + 2*c.KVHeads) * hd
	emb := m.embedding(m.Params)
	x := a.res[0]
	for i, tok := range tokens {
		copy(x[i*dim:(i+1)*dim], emb[int(tok)*dim:])
	}
	for l := 0; l < c.Layers; l++ {
		x := a.res[l]
		m.e.rmsnormForward(a.xn1[l], a.r1[l], x, m.layerTensor(m.Params, l, tAttnNorm), n, dim)
		m.e.linear(a.qkv[l], a.xn1[l], m.layerTensor(m.Params, l, tQKV), n, dim, qkvw)
		m.e.rope(a.qkv[l], n, t, qkvw, c.Heads+c.KVHeads, hd, m.cos, m.sin, false)
		m.e.attention(a.y[l], a.att[l], a.qkv[l], b, t, c.Heads, c.KVHeads, hd)
		mid := a.mid[l]
		m.e.linear(mid, a.y[l], m.layerTensor(m.Params, l, tWo), n, dim, dim)
		addInto(mid, x)
		m.e.rmsnormForward(a.xn2[l], a.r2[l], mid, m.layerTensor(m.Params, l, tMLPNorm), n, dim)
		m.e.linear(a.h13[l], a.xn2[l], m.layerTensor(m.Params, l, tW13), n, dim, 2*c.Hidden)
		m.e.swiglu(a.g, a.sig[l], a.h13[l], n, c.Hidden)
		out := a.res[l+1]
		m.e.linear(out, a.g, m.layerTensor(m.Params, l, tW2), n, c.Hidden, dim)
		addInto(out, mid)
	}
	m.e.rmsnormForward(a.xnf, a.rf, a.res[c.Layers], m.finalNorm(m.Params), n, dim)
	return a
}

func addInto(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// classifier computes the mean cross-entropy of the head's logits against
// targets. With grad nonzero it also sets a.dxn to the gradient of
// grad·loss with respect to the final norm's output and adds the head's
// weight gradient.
func (m *Model) classifier(a *activations, targets []int32, n int, grad float32) float64 {
	c := m.Cfg
	w := m.head(m.Params)
	dw := m.head(m.Grads)
	if m.headFrozen() {
		dw = nil
	}
	chunk := m.headRows(n)
	perRow := grad / float32(n)
	for r0 := 0; r0 < n; r0 += chunk {
		r1 := min(r0+chunk, n)
		rows := r1 - r0
		logits := a.logits[:rows*c.Vocab]
		x := a.xnf[r0*c.Dim : r1*c.Dim]
		m.e.linear(logits, x, w, rows, c.Dim, c.Vocab)
		m.e.crossEntropy(logits, targets[r0:r1], a.rowLoss[r0:r1], rows, c.Vocab, perRow)
		if grad != 0 {
			m.e.linearBackward(a.dxn[r0*c.Dim:r1*c.Dim], dw, logits, x, w, rows, c.Dim, c.Vocab, false)
		}
	}
	var sum float64
	for _, l := range a.rowLoss[:n] {
		sum += float64(l)
	}
	return sum / float64(n)
}

// Eval returns the mean next-token loss of b sequences (tokens, targets
// both b·t long, t ≤ context) without touching the gradients.
func (m *Model) Eval(tokens, targets []int32, b int) (float64, error) {
	t, err := m.checkBatch(tokens, targets, b)
	if err != nil {
		return 0, err
	}
	a := m.forward(tokens, b, t)
	return m.classifier(a, targets, b*t, 0), nil
}

// EvalRows is Eval that also writes each position's loss to rows (b·t
// long, sequence-major).
func (m *Model) EvalRows(tokens, targets []int32, b int, rows []float32) (float64, error) {
	if len(rows) != len(tokens) {
		return 0, fmt.Errorf("model: %d row losses for %d tokens", len(rows), len(tokens))
	}
	loss, err := m.Eval(tokens, targets, b)
	if err != nil {
		return 0, err
	}
	copy(rows, m.a.rowLoss[:len(tokens)])
	return loss, nil
}

// TrainStep runs forward and backward on b sequences and adds
// gradScale·∇loss to Grads (gradScale = 1/accumulation steps). It returns
// the mean loss.
func (m *Model) TrainStep(tokens, targets []int32, b int, gradScale float32) (float64, error) {
	t, err := m.checkBatch(tokens, targets, b)
	if err != nil {
		return 0, err
	}
	if gradScale == 0 {
		return 0, fmt.Errorf("model: gradient scale is zero")
	}
	c := m.Cfg
	a := m.forward(tokens, b, t)
	n := b * t
	dim := c.Dim
	hd := dim / c.Heads
	qkvw := (c.Heads + 2*c.KVHeads) * hd
	loss := m.classifier(a, targets, n, gradScale)

	dres := a.dres
	clear(dres)
	m.e.rmsnormBackward(dres, m.finalNorm(m.Grads), a.dxn, a.res[c.Layers], a.rf, m.finalNorm(m.Params), n, dim, a.normScratch)
	for l := c.Layers - 1; l >= 0; l-- {
		// MLP: out = mid + w2·swiglu(w13·norm(mid)); dres is d(out) and
		// becomes d(mid).
		m.e.swigluFromSigmoid(a.g, a.sig[l], a.h13[l], n, c.Hidden) // a.g holds the last layer's
		m.e.linearBackward(a.dg, m.weightGrad(l, tW2), dres, a.g, m.layerTensor(m.Params, l, tW2), n, c.Hidden, dim, false)
		m.e.swigluBackward(a.dh13, a.dg, a.sig[l], a.h13[l], n, c.Hidden)
		m.e.linearBackward(a.dxn, m.weightGrad(l, tW13), a.dh13, a.xn2[l], m.layerTensor(m.Params, l, tW13), n, dim, 2*c.Hidden, false)
		m.e.rmsnormBackward(dres, m.layerTensor(m.Grads, l, tMLPNorm), a.dxn, a.mid[l], a.r2[l], m.layerTensor(m.Params, l, tMLPNorm), n, dim, a.normScratch)
		// Attention: mid = x + wo·attn(rope(wqkv·norm(x))); dres becomes d(x).
		m.e.linearBackward(a.dtmp, m.weightGrad(l, tWo), dres, a.y[l], m.layerTensor(m.Params, l, tWo), n, dim, dim, false)
		m.e.attentionBackward(a.dqkv, a.dtmp, a.att[l], a.qkv[l], b, t, c.Heads, c.KVHeads, hd, a.attnScratch)
		m.e.rope(a.dqkv, n, t, qkvw, c.Heads+c.KVHeads, hd, m.cos, m.sin, true)
		// The forward's qkv holds q and k after rotation; the weight
		// gradient needs xn1, which is unchanged.
		m.e.linearBackward(a.dxn, m.weightGrad(l, tQKV), a.dqkv, a.xn1[l], m.layerTensor(m.Params, l, tQKV), n, dim, qkvw, false)
		m.e.rmsnormBackward(dres, m.layerTensor(m.Grads, l, tAttnNorm), a.dxn, a.res[l], a.r1[l], m.layerTensor(m.Params, l, tAttnNorm), n, dim, a.normScratch)
	}
	if m.Frozen != nil && m.Frozen[0] {
		return loss, nil
	}
	demb := m.embedding(m.Grads)
	for i, tok := range tokens {
		row := demb[int(tok)*dim : (int(tok)+1)*dim]
		addInto(row, dres[i*dim:(i+1)*dim])
	}
	return loss, nil
}
