package trainer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/curatehq/curate/trainer/llama"
)

// Options are the per-invocation settings of Run (the config file holds
// the rest).
type Options struct {
	// Resume continues from OUT/checkpoint.bin; without it an existing
	// checkpoint is overwritten by a fresh run.
	Resume bool
	// Progress gets one line per step (stderr in the CLI); nil discards.
	Progress io.Writer
	// StopAfter ends the process's loop after this many steps as if it had
	// been interrupted (tests use it to stand for a killed run); 0 = off.
	StopAfter int
}

// Result summarises a finished (or interrupted) run.
type Result struct {
	Step         int     // last completed step
	Loss         float64 // training loss of that step
	ValLoss      float64 // last evaluation, NaN when none ran
	TokensPerSec float64 // median over the run's steps after the first few
	Params       int     // of the model
	Trainable    int     // parameters with gradients: the model's, or the LoRA adapter's
	Kernel       string  // the BLAS kernel used
	Checkpoint   string  // path of the last checkpoint written
}

// ErrInterrupted is returned (wrapped) when the context ends a run early.
var ErrInterrupted = errors.New("training interrupted")

// Data is a training run's input.
type Data struct {
	Train, Val Tokens
	Vocab      int
	Tokenizer  string // name, recorded in the checkpoint
	// TokenizerJSON is the store's saved tokenizer, copied into the run
	// folder for generation; nil when the store has none.
	TokenizerJSON []byte
}

// Run trains per cfg on the token store it names.
func Run(ctx context.Context, cfg *Config, opts Options) (*Result, error) {
	d, closeData, err := OpenData(cfg)
	if err != nil {
		return nil, err
	}
	defer closeData()
	return RunOn(ctx, cfg, d, opts)
}

// timingWarmup is the number of first steps left out of the tokens/s median.
const timingWarmup = 5

// RunOn trains per cfg on d.
func RunOn(ctx context.Context, cfg *Config, d Data, opts Options) (*Result, error) {
	tc := cfg.Train
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	dev, err := OpenDevice(cfg.Device, tc.Threads)
	if err != nil {
		return nil, err
	}
	workers := dev.Kernel.Workers()
	arch := cfg.ModelConfig(d.Vocab)
	var base *Checkpoint // the checkpoint a fine-tune starts from
	if from := cfg.initPath(); from != "" {
		if base, err = LoadCheckpoint(ResolveCheckpoint(from)); err != nil {
			if _, aerr := os.Stat(filepath.Join(from, AdapterFile)); aerr == nil {
				return nil, fmt.Errorf("init: %s is a LoRA run (adapter.bin, no checkpoint.bin): merge it into its base first with curate lora merge", from)
			}
			return nil, fmt.Errorf("init: %w", err)
		}
		if arch, err = cfg.modelFrom(base.Header.Model, d.Vocab); err != nil {
			return nil, fmt.Errorf("init from %s: %w", from, err)
		}
	}
	model, err := llama.New(arch, dev.Kernel, workers)
	if err != nil {
		return nil, err
	}
	mc := model.Cfg
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("out: %w", err)
	}
	if d.TokenizerJSON != nil {
		if err := os.WriteFile(filepath.Join(cfg.Out, TokenizerFile), d.TokenizerJSON, 0o644); err != nil {
			return nil, fmt.Errorf("out: %w", err)
		}
	}
	// params and grads are what the optimizer updates: the model's, or
	// with LoRA the adapter's, merged into the model after every update.
	params, grads, tensors := model.Params, model.Grads, model.Tensors
	var adapter *llama.Adapter
	var baseID BaseIdentity
	if cfg.LoRA != nil {
		if adapter, err = llama.NewAdapter(mc, cfg.LoRA.Adapter(), dev.Kernel, tc.Seed); err != nil {
			return nil, err
		}
		params, grads, tensors = adapter.Params, adapter.Grads, adapter.Tensors
		model.Frozen = adapter.Frozen()
		baseID = BaseIdentity{Path: ResolveCheckpoint(cfg.LoRA.From), SHA256: paramsHash(base.Params), Params: len(base.Params)}
		if abs, err := filepath.Abs(baseID.Path); err == nil {
			baseID.Path = abs
		}
	}
	syncModel := func() error {
		if adapter == nil {
			return nil
		}
		return adapter.Merge(model.Params, base.Params)
	}
	loader, err := NewLoader(d.Train, mc.Context, tc.Order == "sequential", tc.Seed)
	if err != nil {
		return nil, err
	}
	evals, err := newEvalSet(d.Val, mc.Context, tc.BatchSize, tc.EvalBatches, tc.ValSeed)
	if err != nil {
		return nil, err
	}
	opt := NewAdamW(tensors, len(params), tc.Beta1, tc.Beta2, tc.Eps, *tc.WeightDecay)
	ident := RunIdentity{DataTokens: d.Train.NumTokens(), BatchSize: tc.BatchSize, Accumulate: tc.Accumulate,
		Order: tc.Order, Seed: tc.Seed, Steps: tc.Steps, LR: tc.LR, Warmup: *tc.Warmup,
		WeightDecay: *tc.WeightDecay, GradClip: *tc.GradClip}
	ckptPath := filepath.Join(cfg.Out, CheckpointFile)
	if adapter != nil {
		ckptPath = filepath.Join(cfg.Out, AdapterFile)
	}
	metricsPath := filepath.Join(cfg.Out, "metrics.jsonl")

	step, tokensSeen, lastVal := 0, int64(0), math.NaN()
	if opts.Resume && adapter != nil {
		a, err := LoadAdapter(ckptPath)
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		h := a.Header
		if h.Base.SHA256 != baseID.SHA256 || h.Model != mc || h.Run != ident || !slices.Equal(h.LoRA.Targets, adapter.Cfg.Targets) ||
			h.LoRA.Rank != adapter.Cfg.Rank || h.LoRA.Alpha != adapter.Cfg.Alpha {
			return nil, fmt.Errorf("resume: the adapter in %s was made with a different base, model, data or settings; start a fresh run instead", ckptPath)
		}
		copy(params, a.Params)
		copy(opt.M, a.M)
		copy(opt.V, a.V)
		if err := loader.Restore(h.Loader); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		step, tokensSeen = h.Step, h.Tokens
		if h.ValLoss != nil {
			lastVal = *h.ValLoss
		}
		if err := truncateMetrics(metricsPath, step); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "train: resuming the adapter from %s at step %d\n", ckptPath, step)
	} else if opts.Resume {
		ck, err := LoadCheckpoint(ckptPath)
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		if ck.Header.Model != mc {
			return nil, fmt.Errorf("resume: the checkpoint's model %+v differs from the config's %+v", ck.Header.Model, mc)
		}
		if ck.Header.Run != ident {
			return nil, fmt.Errorf("resume: the checkpoint was made with different data or settings (%+v, now %+v); start a fresh run instead", ck.Header.Run, ident)
		}
		copy(model.Params, ck.Params)
		copy(opt.M, ck.M)
		copy(opt.V, ck.V)
		if err := loader.Restore(ck.Header.Loader); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		step, tokensSeen = ck.Header.Step, ck.Header.Tokens
		if ck.Header.ValLoss != nil {
			lastVal = *ck.Header.ValLoss
		}
		if err := truncateMetrics(metricsPath, step); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "train: resuming from %s at step %d\n", ckptPath, step)
	} else {
		if base != nil {
			copy(model.Params, base.Params)
			fmt.Fprintf(progress, "train: starting from %s (step %d)\n", cfg.initPath(), base.Header.Step)
		} else {
			model.Init(tc.Seed)
		}
		if err := os.WriteFile(metricsPath, nil, 0o644); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	mf, err := os.OpenFile(metricsPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer mf.Close()
	metrics := json.NewEncoder(mf)

	if adapter != nil {
		if err := syncModel(); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "train: LoRA rank %d alpha %g on %v: %d trainable parameters (%.2f%% of %d)\n",
			adapter.Cfg.Rank, adapter.Cfg.Alpha, adapter.Cfg.Targets, len(params), 100*float64(len(params))/float64(len(model.Params)), len(model.Params))
	}
	res := &Result{Step: step, ValLoss: lastVal, Params: len(model.Params), Trainable: len(params), Kernel: dev.Kernel.Name()}
	flopsPerToken := mc.FlopsPerToken()
	peak := peakFLOPS(workers)
	fmt.Fprintf(progress, "train: %d parameters, vocab %d, context %d, %d layers, %d/%d heads, dim %d, hidden %d; %s, %d threads; %d training tokens, %d validation tokens\n",
		len(model.Params), mc.Vocab, mc.Context, mc.Layers, mc.Heads, mc.KVHeads, mc.Dim, mc.Hidden,
		dev.Kernel.Name(), workers, d.Train.NumTokens(), d.Val.NumTokens())

	par := func(n int, fn func(i int)) { parallelFor(workers, n, fn) }
	bt := tc.BatchSize * mc.Context
	tokens, targets := make([]int32, bt), make([]int32, bt)
	var stepTimes []float64
	save := func() error {
		ls, err := loader.State()
		if err != nil {
			return err
		}
		var val *float64
		if !math.IsNaN(res.ValLoss) {
			v := res.ValLoss
			val = &v
		}
		if adapter != nil {
			hdr := AdapterHeader{Base: baseID, LoRA: adapter.Cfg, Model: mc, Seed: tc.Seed, Step: step, Tokens: tokensSeen,
				Loader: ls, Run: ident, Tokenizer: d.Tokenizer, ValLoss: val}
			if err := SaveAdapter(ckptPath, &AdapterState{Header: hdr, Params: params, M: opt.M, V: opt.V}); err != nil {
				return err
			}
		} else {
			hdr := CheckpointHeader{Model: mc, Step: step, Tokens: tokensSeen, Loader: ls, Run: ident, Tokenizer: d.Tokenizer, ValLoss: val}
			if err := SaveCheckpoint(ckptPath, &Checkpoint{Header: hdr, Params: model.Params, M: opt.M, V: opt.V}); err != nil {
				return err
			}
		}
		res.Checkpoint = ckptPath
		return nil
	}
	evaluate := func() error {
		var sum float64
		for i := range evals.tokens {
			l, err := model.Eval(evals.tokens[i], evals.targets[i], tc.BatchSize)
			if err != nil {
				return err
			}
			sum += l
		}
		res.ValLoss = sum / float64(len(evals.tokens))
		fmt.Fprintf(progress, "step %d/%d val_loss %.4f\n", step, tc.Steps, res.ValLoss)
		if err := metrics.Encode(map[string]any{"step": step, "val_loss": res.ValLoss}); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		// The plot is a convenience: a failure to draw it never stops training.
		if err := writeLossPlot(metricsPath, filepath.Join(cfg.Out, "loss.png")); err != nil {
			fmt.Fprintf(progress, "train: loss plot: %v\n", err)
		}
		return nil
	}
	ran := 0
	for step < tc.Steps {
		if err := ctx.Err(); err != nil {
			// Between steps the state is consistent: keep it, so a resume
			// loses nothing.
			if step > 0 {
				if serr := save(); serr != nil {
					return res, fmt.Errorf("%w at step %d (%v); saving a checkpoint failed: %v", ErrInterrupted, step, err, serr)
				}
			}
			return res, fmt.Errorf("%w at step %d (%v); checkpoint saved in %s: rerun with --resume to continue", ErrInterrupted, step, err, cfg.Out)
		}
		if opts.StopAfter > 0 && ran == opts.StopAfter {
			return res, fmt.Errorf("%w: stopped after %d steps at step %d", ErrInterrupted, ran, step)
		}
		t0 := time.Now()
		lr := learningRate(step, tc.Steps, *tc.Warmup, tc.LR)
		model.ZeroGrad()
		var loss float64
		for range tc.Accumulate {
			if err := loader.Next(tokens, targets, tc.BatchSize); err != nil {
				return res, err
			}
			l, err := model.TrainStep(tokens, targets, tc.BatchSize, 1/float32(tc.Accumulate))
			if err != nil {
				return res, err
			}
			loss += l / float64(tc.Accumulate)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return res, fmt.Errorf("step %d: loss is %v; lower lr", step+1, loss)
		}
		if adapter != nil {
			adapter.Backward(model.Grads)
		}
		norm := clipGradNorm(grads, *tc.GradClip, par)
		opt.Step(params, grads, lr, step+1, par)
		if err := syncModel(); err != nil {
			return res, err
		}
		step++
		ran++
		tokensSeen += int64(bt * tc.Accumulate)
		dt := time.Since(t0).Seconds()
		stepTimes = append(stepTimes, dt)
		tps := float64(bt*tc.Accumulate) / dt
		mfu := tps * flopsPerToken / peak
		res.Step, res.Loss = step, loss
		if step%tc.LogEvery == 0 || step == tc.Steps || step == 1 {
			if err := metrics.Encode(map[string]any{"step": step, "loss": loss, "lr": lr, "tokens_per_sec": tps,
				"mfu": mfu, "grad_norm": norm, "tokens": tokensSeen}); err != nil {
				return res, fmt.Errorf("metrics: %w", err)
			}
		}
		fmt.Fprintf(progress, "step %d/%d loss %.4f lr %.3e norm %.3f %.0f tok/s mfu %.1f%%\n", step, tc.Steps, loss, lr, norm, tps, 100*mfu)
		if (tc.EvalEvery > 0 && step%tc.EvalEvery == 0) || step == tc.Steps {
			if err := evaluate(); err != nil {
				return res, err
			}
		}
		if (*tc.CheckpointEvery > 0 && step%*tc.CheckpointEvery == 0) || step == tc.Steps {
			if err := save(); err != nil {
				return res, err
			}
		}
	}
	res.TokensPerSec = medianRate(stepTimes, float64(bt*tc.Accumulate))
	return res, nil
}

func medianRate(times []float64, tokens float64) float64 {
	if len(times) > timingWarmup {
		times = times[timingWarmup:]
	}
	if len(times) == 0 {
		return 0
	}
	s := slices.Clone(times)
	slices.Sort(s)
	return tokens / s[len(s)/2]
}

// truncateMetrics drops the records of steps after a resumed checkpoint, so
// the file reads as one uninterrupted run.
func truncateMetrics(path string, step int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var keep []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Step == nil || *rec.Step > step {
			continue
		}
		keep = append(append(keep, sc.Bytes()...), '\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, keep, 0o644); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return os.Rename(tmp, path)
}
