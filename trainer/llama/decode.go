package llama

import (
	"fmt"
	"math"
)

// Logits runs the full forward pass over one sequence and returns its
// len(tokens)×vocab next-token logits (a new slice).
func (m *Model) Logits(tokens []int32) ([]float32, error) {
	if _, err := m.checkBatch(tokens, tokens, 1); err != nil {
		return nil, err
	}
	n := len(tokens)
	a := m.forward(tokens, 1, n)
	out := make([]float32, n*m.Cfg.Vocab)
	m.e.linear(out, a.xnf, m.head(m.Params), n, m.Cfg.Dim, m.Cfg.Vocab)
	return out, nil
}

// Decoder runs the model one token at a time with a key/value cache: each
// Next computes only the new position, attending to the cached keys and
// values of the earlier ones. It reads the model's parameters, which must
// not change while it is in use; it holds up to Cfg.Context positions.
type Decoder struct {
	m     *Model
	pos   int
	kv    [][]float32 // per layer: context rows of [k heads | v heads]
	x     []float32
	xn    []float32
	qkv   []float32
	y     []float32
	mid   []float32
	h13   []float32
	g     []float32
	sig   []float32
	score []float32
	rstd  []float32
	log   []float32
}

// NewDecoder makes an empty decoder for m.
func (m *Model) NewDecoder() *Decoder {
	c := m.Cfg
	hd := c.Dim / c.Heads
	d := &Decoder{m: m, kv: make([][]float32, c.Layers)}
	for l := range d.kv {
		d.kv[l] = make([]float32, c.Context*2*c.KVHeads*hd)
	}
	d.x, d.xn, d.y, d.mid = make([]float32, c.Dim), make([]float32, c.Dim), make([]float32, c.Dim), make([]float32, c.Dim)
	d.qkv = make([]float32, (c.Heads+2*c.KVHeads)*hd)
	d.h13, d.g, d.sig = make([]float32, 2*c.Hidden), make([]float32, c.Hidden), make([]float32, c.Hidden)
	d.score, d.rstd, d.log = make([]float32, c.Context+8), make([]float32, 1), make([]float32, c.Vocab)
	return d
}

// Pos is the number of positions in the cache.
func (d *Decoder) Pos() int { return d.pos }

// Reset empties the cache.
func (d *Decoder) Reset() { d.pos = 0 }

// Next appends tok at the next position and returns the logits for the
// token after it. The slice is reused by the next call.
func (d *Decoder) Next(tok int32) ([]float32, error) {
	m := d.m
	c := m.Cfg
	if tok < 0 || int(tok) >= c.Vocab {
		return nil, fmt.Errorf("decoder: token id %d is outside the vocabulary of %d", tok, c.Vocab)
	}
	if d.pos >= c.Context {
		return nil, fmt.Errorf("decoder: the cache is full (context %d)", c.Context)
	}
	dim, hd := c.Dim, c.Dim/c.Heads
	half := hd / 2
	qkvw := (c.Heads + 2*c.KVHeads) * hd
	kvw := 2 * c.KVHeads * hd
	rep := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	pos := d.pos
	cr, sr := m.cos[pos*half:(pos+1)*half], m.sin[pos*half:(pos+1)*half]
	copy(d.x, m.embedding(m.Params)[int(tok)*dim:(int(tok)+1)*dim])
	for l := 0; l < c.Layers; l++ {
		m.e.rmsnormForward(d.xn, d.rstd, d.x, m.layerTensor(m.Params, l, tAttnNorm), 1, dim)
		m.e.linear(d.qkv, d.xn, m.layerTensor(m.Params, l, tQKV), 1, dim, qkvw)
		for h := 0; h < c.Heads+c.KVHeads; h++ {
			v := d.qkv[h*hd : (h+1)*hd]
			a, b := v[:half], v[half:]
			for i := range a {
				a[i], b[i] = a[i]*cr[i]-b[i]*sr[i], b[i]*cr[i]+a[i]*sr[i]
			}
		}
		cache := d.kv[l]
		copy(cache[pos*kvw:(pos+1)*kvw], d.qkv[c.Heads*hd:])
		for h := 0; h < c.Heads; h++ {
			g := h / rep
			q := d.qkv[h*hd : (h+1)*hd]
			sc := d.score[:pos+1]
			for j := range sc {
				k := cache[j*kvw+g*hd : j*kvw+(g+1)*hd]
				var dot float32
				for i, qv := range q {
					dot += qv * k[i]
				}
				sc[j] = dot * scale
			}
			softmaxPrefix(d.score[:min(len(d.score), (pos+8)&^7)], pos+1)
			y := d.y[h*hd : (h+1)*hd]
			clear(y)
			for j, p := range sc {
				v := cache[j*kvw+(c.KVHeads+g)*hd : j*kvw+(c.KVHeads+g+1)*hd]
				for i := range y {
					y[i] += p * v[i]
				}
			}
		}
		m.e.linear(d.mid, d.y, m.layerTensor(m.Params, l, tWo), 1, dim, dim)
		addInto(d.mid, d.x)
		m.e.rmsnormForward(d.xn, d.rstd, d.mid, m.layerTensor(m.Params, l, tMLPNorm), 1, dim)
		m.e.linear(d.h13, d.xn, m.layerTensor(m.Params, l, tW13), 1, dim, 2*c.Hidden)
		m.e.swiglu(d.g, d.sig, d.h13, 1, c.Hidden)
		m.e.linear(d.x, d.g, m.layerTensor(m.Params, l, tW2), 1, c.Hidden, dim)
		addInto(d.x, d.mid)
	}
	m.e.rmsnormForward(d.xn, d.rstd, d.x, m.finalNorm(m.Params), 1, dim)
	m.e.linear(d.log, d.xn, m.head(m.Params), 1, dim, c.Vocab)
	d.pos++
	return d.log, nil
}
