package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/curatehq/curate/trainer/llama"
)

// EvalResult is the validation loss of a set of weights at a context.
type EvalResult struct {
	ValLoss   float64 `json:"val_loss"`
	Context   int     `json:"context"`
	RopeScale float64 `json:"rope_scale"`
	Tokens    int     `json:"tokens"` // evaluated positions
	Weights   string  `json:"weights"`
	// ByPosition is the mean loss at each position of the window.
	ByPosition []float64 `json:"-"`
}

// MeanLoss is the mean loss over positions [lo, hi) of the window: with lo
// at the context a model was trained at, the loss beyond it.
func (r *EvalResult) MeanLoss(lo, hi int) float64 {
	lo, hi = max(lo, 0), min(hi, len(r.ByPosition))
	if lo >= hi {
		return math.NaN()
	}
	var s float64
	for _, v := range r.ByPosition[lo:hi] {
		s += v
	}
	return s / float64(hi-lo)
}

// Evaluate measures the validation loss, on cfg's validation data and
// evaluation windows (eval_batches × batch_size at model.context), of the
// weights in train.init_from (else lora.from merged with OUT's adapter,
// else OUT's checkpoint). The architecture comes from the weights; the
// config's model.context and model.rope_scale, where written, override
// theirs, so a model trained at context L can be measured at k·L with and
// without position interpolation.
func Evaluate(ctx context.Context, cfg *Config) (*EvalResult, error) {
	d, closeData, err := OpenData(cfg)
	if err != nil {
		return nil, err
	}
	defer closeData()
	return EvaluateOn(ctx, cfg, d)
}

// EvaluateOn is Evaluate on open data.
func EvaluateOn(ctx context.Context, cfg *Config, d Data) (*EvalResult, error) {
	src := cfg.Train.InitFrom
	if src == "" {
		src = cfg.Out
	}
	w, err := LoadWeights(src)
	if err != nil {
		return nil, err
	}
	mc, err := cfg.modelFrom(w.Model, d.Vocab)
	if err != nil {
		return nil, fmt.Errorf("eval %s: %w", src, err)
	}
	dev, err := OpenDevice(cfg.Device, cfg.Train.Threads)
	if err != nil {
		return nil, err
	}
	model, err := llama.New(mc, dev.Kernel, dev.Kernel.Workers())
	if err != nil {
		return nil, err
	}
	copy(model.Params, w.Params)
	tc := cfg.Train
	evals, err := newEvalSet(d.Val, mc.Context, tc.BatchSize, tc.EvalBatches, tc.ValSeed)
	if err != nil {
		return nil, err
	}
	var sum float64
	rows := make([]float32, tc.BatchSize*mc.Context)
	byPos := make([]float64, mc.Context)
	for i := range evals.tokens {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := model.EvalRows(evals.tokens[i], evals.targets[i], tc.BatchSize, rows)
		if err != nil {
			return nil, err
		}
		sum += l
		for r, v := range rows {
			byPos[r%mc.Context] += float64(v)
		}
	}
	loss := sum / float64(len(evals.tokens))
	for p := range byPos {
		byPos[p] /= float64(len(evals.tokens) * tc.BatchSize)
	}
	if math.IsNaN(loss) {
		return nil, fmt.Errorf("eval %s: loss is NaN", src)
	}
	return &EvalResult{ValLoss: loss, Context: mc.Context, RopeScale: mc.RopeScale,
		Tokens: len(evals.tokens) * tc.BatchSize * mc.Context, Weights: src, ByPosition: byPos}, nil
}
