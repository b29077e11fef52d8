// Package plan sizes a model for a token budget and a compute budget with
// the Chinchilla rule (Hoffmann et al. 2022): training compute C ≈ 6·N·D
// FLOPs for N parameters and D tokens, and compute-optimal training uses
// about 20 tokens per parameter, so N = sqrt(C / 120) and D = 20·N.
package plan

import (
	"fmt"
	"math"

	"github.com/curatehq/curate/trainer/llama"
)

// TokensPerParam is the Chinchilla ratio of training tokens to parameters.
const TokensPerParam = 20

// Input is what a plan starts from. Tokens or FLOPs may be zero (unknown),
// not both.
type Input struct {
	Tokens  float64 // tokens available (one epoch)
	FLOPs   float64 // training compute budget
	Vocab   int     // vocabulary of the store (for the embedding's parameters)
	Context int     // training context
}

// Plan is the answer.
type Plan struct {
	Params        float64 // compute-optimal parameter count
	TrainTokens   float64 // tokens to train on
	FLOPs         float64 // 6·N·D
	Epochs        float64 // TrainTokens / available tokens (0 when unknown)
	Limit         string  // "compute", "data" or "both"
	Config        llama.Config
	ConfigParams  int
	ComputeParams float64 // sqrt(C/120), 0 without a compute budget
	DataParams    float64 // Tokens/20, 0 without a token count
}

// Make computes a plan. With both budgets, the smaller of the two optimal
// sizes wins: more parameters than the data supports at 20 tokens each
// would be undertrained, more than the compute supports could not be
// trained on 20 tokens each.
func Make(in Input) (Plan, error) {
	if in.Tokens <= 0 && in.FLOPs <= 0 {
		return Plan{}, fmt.Errorf("plan: give a token count (or a token store) and/or a compute budget")
	}
	if in.Vocab <= 0 {
		in.Vocab = 50257
	}
	if in.Context <= 0 {
		in.Context = 1024
	}
	var p Plan
	if in.FLOPs > 0 {
		p.ComputeParams = math.Sqrt(in.FLOPs / (6 * TokensPerParam))
	}
	if in.Tokens > 0 {
		p.DataParams = in.Tokens / TokensPerParam
	}
	switch {
	case p.ComputeParams == 0:
		p.Params, p.Limit = p.DataParams, "data"
	case p.DataParams == 0:
		p.Params, p.Limit = p.ComputeParams, "compute"
	case p.DataParams < p.ComputeParams:
		p.Params, p.Limit = p.DataParams, "data"
	default:
		p.Params, p.Limit = p.ComputeParams, "compute"
	}
	p.TrainTokens = TokensPerParam * p.Params
	p.FLOPs = 6 * p.Params * p.TrainTokens
	if in.Tokens > 0 {
		p.Epochs = p.TrainTokens / in.Tokens
	}
	p.Config, p.ConfigParams = Nearest(p.Params, in.Vocab, in.Context)
	return p, nil
}

// Nearest returns the LLaMA-style configuration whose parameter count is
// closest (in ratio) to n: head size 64, dim a multiple of 64, and a
// width-to-depth ratio dim/layers between 32 and 128 as in published
// LLaMA-family models; grouped-query attention with 4 query heads per
// key/value head when there are 8 or more heads and 4 divides them.
func Nearest(n float64, vocab, context int) (llama.Config, int) {
	var best llama.Config
	bestParams, bestErr := 0, math.Inf(1)
	for dim := 64; dim <= 16384; dim += 64 {
		for layers := 1; layers <= 128; layers++ {
			ratio := float64(dim) / float64(layers)
			if ratio < 32 || ratio > 128 {
				continue
			}
			heads := dim / 64
			if heads > 4 && heads%4 != 0 {
				continue // the usual shapes: a multiple of 4 heads past the smallest models
			}
			kv := heads
			if heads >= 8 && heads%4 == 0 {
				kv = heads / 4
			}
			c := llama.Config{Vocab: vocab, Context: context, Layers: layers, Heads: heads, KVHeads: kv, Dim: dim, TieEmbeddings: true}
			params := count(c.Normalized())
			if e := math.Abs(math.Log(float64(params) / n)); e < bestErr {
				best, bestParams, bestErr = c.Normalized(), params, e
			}
		}
	}
	return best, bestParams
}

// count is llama.Config.NumParams in closed form (tied embeddings), cheap
// enough to search thousands of shapes.
func count(c llama.Config) int {
	hd := c.Dim / c.Heads
	perLayer := 2*c.Dim + (c.Heads+2*c.KVHeads)*hd*c.Dim + c.Dim*c.Heads*hd + 3*c.Hidden*c.Dim
	return c.Vocab*c.Dim + c.Layers*perLayer + c.Dim
}

// Human formats a count as 1.2K, 3.4M, 5.6B, 7.8T.
func Human(x float64) string {
	for _, u := range []struct {
		s string
		v float64
	}{{"T", 1e12}, {"B", 1e9}, {"M", 1e6}, {"K", 1e3}} {
		if math.Abs(x) >= u.v {
			return fmt.Sprintf("%.3g%s", x/u.v, u.s)
		}
	}
	return fmt.Sprintf("%.3g", x)
}
