// Package llama is a LLaMA-style decoder-only Transformer in float32 with
// explicit forward and backward passes per layer (in the manner of llm.c):
// RMSNorm, rotary position embeddings with position interpolation, SwiGLU,
// grouped-query causal attention and tied embeddings. Matrix products go
// through a blas.Kernel; everything else is parallelised over goroutines.
package llama

import (
	"fmt"
	"math"
)

// Config fixes the architecture. Zero Hidden means 8·Dim/3 rounded up to a
// multiple of 64.
type Config struct {
	Vocab         int     `json:"vocab"`
	Context       int     `json:"context"`
	Layers        int     `json:"layers"`
	Heads         int     `json:"heads"`
	KVHeads       int     `json:"kv_heads"`
	Dim           int     `json:"dim"`
	Hidden        int     `json:"hidden"`
	RopeBase      float64 `json:"rope_base"`
	RopeScale     float64 `json:"rope_scale"`
	TieEmbeddings bool    `json:"tie_embeddings"`
}

// DefaultHidden is the SwiGLU width for dim: 8·dim/3 rounded up to 64.
func DefaultHidden(dim int) int {
	return (8*dim + 191) / 192 * 64 // ceil(8·dim/3 / 64) · 64
}

// Normalized returns c with defaults filled in.
func (c Config) Normalized() Config {
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Hidden == 0 {
		c.Hidden = DefaultHidden(c.Dim)
	}
	if c.RopeBase == 0 {
		c.RopeBase = 10000
	}
	if c.RopeScale == 0 {
		c.RopeScale = 1
	}
	return c
}

// Validate reports the first impossible combination.
func (c Config) Validate() error {
	switch {
	case c.Vocab <= 0:
		return fmt.Errorf("vocab must be positive, got %d", c.Vocab)
	case c.Context <= 0:
		return fmt.Errorf("context must be positive, got %d", c.Context)
	case c.Layers <= 0:
		return fmt.Errorf("layers must be positive, got %d", c.Layers)
	case c.Heads <= 0 || c.Dim <= 0:
		return fmt.Errorf("heads and dim must be positive, got %d and %d", c.Heads, c.Dim)
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("dim %d is not a multiple of heads %d", c.Dim, c.Heads)
	case (c.Dim/c.Heads)%2 != 0:
		return fmt.Errorf("head size dim/heads = %d must be even for rotary embeddings", c.Dim/c.Heads)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("kv_heads %d must divide heads %d", c.KVHeads, c.Heads)
	case c.Hidden <= 0:
		return fmt.Errorf("hidden must be positive, got %d", c.Hidden)
	case !(c.RopeBase > 1) || math.IsInf(c.RopeBase, 0):
		return fmt.Errorf("rope_base must be > 1, got %v", c.RopeBase)
	case !(c.RopeScale > 0) || math.IsInf(c.RopeScale, 0):
		return fmt.Errorf("rope_scale must be > 0, got %v", c.RopeScale)
	}
	return nil
}

// Tensor is one named parameter inside the flat parameter vector.
type Tensor struct {
	Name   string
	Off    int  // offset in Params
	Rows   int  // 1 for vectors
	Cols   int  //
	Matrix bool // weight decay applies to matrices only
}

// Len is the number of floats in t.
func (t Tensor) Len() int { return t.Rows * t.Cols }

// layerTensors indexes a layer's tensors in layout order.
const (
	tAttnNorm = iota
	tQKV      // wq, wk, wv stacked: ((heads+2·kv_heads)·head) × dim
	tWo       // dim × dim
	tMLPNorm
	tW13 // w1 (gate) then w3 (up) stacked: (2·hidden) × dim
	tW2  // dim × hidden
	nLayerTensors
)

// layout places every parameter in one flat vector: the embedding, each
// layer's tensors, the final norm and (untied) the output head.
func layout(c Config) (ts []Tensor, total int) {
	add := func(name string, rows, cols int, matrix bool) {
		ts = append(ts, Tensor{Name: name, Off: total, Rows: rows, Cols: cols, Matrix: matrix})
		total += rows * cols
	}
	hd := c.Dim / c.Heads
	add("tok_embeddings", c.Vocab, c.Dim, true)
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("layers.%d.", l)
		add(p+"attn_norm", 1, c.Dim, false)
		add(p+"wqkv", (c.Heads+2*c.KVHeads)*hd, c.Dim, true)
		add(p+"wo", c.Dim, c.Heads*hd, true)
		add(p+"mlp_norm", 1, c.Dim, false)
		add(p+"w13", 2*c.Hidden, c.Dim, true)
		add(p+"w2", c.Dim, c.Hidden, true)
	}
	add("norm", 1, c.Dim, false)
	if !c.TieEmbeddings {
		add("output", c.Vocab, c.Dim, true)
	}
	return ts, total
}

// NumParams is the number of trainable floats.
func (c Config) NumParams() int {
	_, n := layout(c.Normalized())
	return n
}

// FlopsPerToken estimates training FLOPs per token (forward + backward):
// 6 per weight of every matrix product, plus attention (PaLM's formula).
func (c Config) FlopsPerToken() float64 {
	c = c.Normalized()
	hd := c.Dim / c.Heads
	perLayer := (c.Heads+2*c.KVHeads)*hd*c.Dim + c.Dim*c.Dim + 3*c.Hidden*c.Dim
	matmul := float64(c.Layers*perLayer + c.Vocab*c.Dim)
	return 6*matmul + 12*float64(c.Layers*c.Context*c.Dim)
}
