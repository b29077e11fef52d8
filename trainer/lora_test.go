package trainer

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

// trainBase trains a small byte-level model on tinyshakespeare into a
// folder of its own and returns the config that made it.
func trainBase(t *testing.T, d Data, model string, steps string) *Config {
	t.Helper()
	cfg := testConfig(t, "model: "+model+"\ntrain: {batch_size: 8, steps: "+steps+", lr: 3.0e-3, warmup: 10, eval_batches: 4, seed: 1}\n")
	if _, err := RunOn(context.Background(), cfg, d, Options{}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// upper is a new domain for a model trained on mixed-case text: the same
// text in capitals.
func upper(s Slice) Slice {
	out := make(Slice, len(s))
	for i, c := range s {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func TestLoRA(t *testing.T) {
	text := shakespeare(t)[:300000]
	d := Data{Train: text[:270000], Val: text[270000:], Vocab: 256, Tokenizer: "bytes"}
	base := trainBase(t, d, "{context: 32, layers: 2, heads: 2, dim: 32}", "80")
	basePath := filepath.Join(base.Out, CheckpointFile)
	baseBytes, err := os.ReadFile(basePath)
	if err != nil {
		t.Fatal(err)
	}
	caps := Data{Train: upper(text[:270000]), Val: upper(text[270000:]), Vocab: 256, Tokenizer: "bytes"}

	// The base on the new domain, measured with the evaluation windows the
	// fine-tune uses.
	before, err := EvaluateOn(context.Background(), testConfig(t, "train: {batch_size: 8, eval_batches: 4, init_from: "+base.Out+"}\n"), caps)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, `lora: {rank: 4, alpha: 8, targets: [q, v, o, up], from: `+base.Out+`}
train: {batch_size: 8, steps: 40, lr: 1.0e-2, warmup: 5, eval_every: 20, eval_batches: 4}
`)
	var progress strings.Builder
	res, err := RunOn(context.Background(), cfg, caps, Options{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base on capitals %.3f, after LoRA %.3f; %d of %d parameters trained", before.ValLoss, res.ValLoss, res.Trainable, res.Params)
	if !(res.ValLoss < before.ValLoss-0.1) {
		t.Fatalf("LoRA did not learn the new domain: val loss %.3f, base %.3f", res.ValLoss, before.ValLoss)
	}
	if res.Trainable >= res.Params/4 || !strings.Contains(progress.String(), "trainable parameters") {
		t.Fatalf("%d trainable of %d; progress:\n%s", res.Trainable, res.Params, progress.String())
	}
	after, err := os.ReadFile(basePath)
	if err != nil || !bytes.Equal(after, baseBytes) {
		t.Fatalf("the base checkpoint changed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, CheckpointFile)); err == nil {
		t.Fatal("a LoRA run wrote a full checkpoint")
	}

	t.Run("merge", func(t *testing.T) {
		adapted, err := LoadWeights(cfg.Out) // base + adapter, merged on load
		if err != nil {
			t.Fatal(err)
		}
		w, err := MergeAdapter(base.Out, cfg.Out)
		if err != nil {
			t.Fatal(err)
		}
		merged := filepath.Join(t.TempDir(), "merged")
		if _, err := SaveMerged(w, merged); err != nil {
			t.Fatal(err)
		}
		reloaded, err := LoadWeights(merged)
		if err != nil {
			t.Fatal(err)
		}
		if reloaded.Model != adapted.Model {
			t.Fatalf("merged model %+v, adapted %+v", reloaded.Model, adapted.Model)
		}
		for i := range adapted.Params {
			if math.Abs(float64(adapted.Params[i]-reloaded.Params[i])) > 1e-6 {
				t.Fatalf("parameter %d: %v merged, %v adapted", i, reloaded.Params[i], adapted.Params[i])
			}
		}
		// The merged checkpoint evaluates to the loss training reported
		// for base + adapter.
		ev, err := EvaluateOn(context.Background(), testConfig(t, "train: {batch_size: 8, eval_batches: 4, init_from: "+merged+"}\n"), caps)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ev.ValLoss-res.ValLoss) > 1e-5 {
			t.Fatalf("merged model's val loss %.6f, base+adapter %.6f", ev.ValLoss, res.ValLoss)
		}
		// A different base is refused.
		other := trainBase(t, d, "{context: 32, layers: 2, heads: 2, dim: 32}", "3")
		if _, err := MergeAdapter(other.Out, cfg.Out); err == nil || !strings.Contains(err.Error(), "hash") {
			t.Fatalf("merge onto another base: %v", err)
		}
	})

	t.Run("bad init", func(t *testing.T) {
		for yaml, want := range map[string]string{
			"model: {layers: 3}\ntrain: {steps: 1, init_from: " + base.Out + "}\n":                   "keeps its architecture",
			"train: {steps: 1, init_from: " + filepath.Join(base.Out, "missing") + "}\n":             "no such file",
			"lora: {from: " + cfg.Out + "}\ntrain: {steps: 1}\n":                                     "merge it into its base first",
			"model: {context: 8, rope_scale: 0.5}\ntrain: {steps: 1, init_from: " + base.Out + "}\n": "",
		} {
			_, err := RunOn(context.Background(), testConfig(t, yaml), d, Options{})
			if want == "" {
				if err != nil {
					t.Errorf("%q: %v", yaml, err)
				}
				continue
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v, want an error containing %q", yaml, err, want)
			}
		}
	})

	t.Run("resume", func(t *testing.T) {
		yaml := `lora: {rank: 4, alpha: 8, targets: [q, v], from: ` + base.Out + `}
train: {batch_size: 4, steps: 8, lr: 1.0e-2, warmup: 2, eval_every: 4, eval_batches: 2}
`
		whole := testConfig(t, yaml)
		if _, err := RunOn(context.Background(), whole, caps, Options{}); err != nil {
			t.Fatal(err)
		}
		parts := testConfig(t, yaml)
		if _, err := RunOn(context.Background(), parts, caps, Options{StopAfter: 6}); err == nil {
			t.Fatal("stopped run did not report the interruption")
		}
		if _, err := RunOn(context.Background(), parts, caps, Options{Resume: true}); err != nil {
			t.Fatal(err)
		}
		a, b := curve(t, whole.Out), curve(t, parts.Out)
		if len(a) != len(b) {
			t.Fatalf("curves:\n%v\n%v", a, b)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("curves differ at %d:\n%v\n%v", i, a, b)
			}
		}
	})
}

// TestPositionInterpolation: a model trained at context L = 16, measured
// at 2L, degrades beyond L with plain extrapolation (rope_scale 1, no
// fine-tune); with rope_scale 2 and a short fine-tune at 2L its loss stays
// close to its loss at L.
func TestPositionInterpolation(t *testing.T) {
	if k, err := blas.New(blas.Auto, 0); err != nil || k.Name() == blas.Go {
		if os.Getenv("CURATE_TRAIN_SLOW") == "" {
			t.Skip("no OpenBLAS: 1000 training steps would take minutes on the Go kernel (set CURATE_TRAIN_SLOW=1 to run it)")
		}
	}
	text := shakespeare(t)[:300000]
	d := Data{Train: text[:270000], Val: text[270000:], Vocab: 256, Tokenizer: "bytes"}
	base := trainBase(t, d, "{context: 16, layers: 2, heads: 4, dim: 64}", "1000")
	eval := func(from, model string) *EvalResult {
		t.Helper()
		r, err := EvaluateOn(context.Background(), testConfig(t, "model: "+model+"\ntrain: {batch_size: 8, eval_batches: 40, init_from: "+from+"}\n"), d)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	atL := eval(base.Out, "{context: 16}").ValLoss
	extrapolated := eval(base.Out, "{context: 32}")
	interpolated := eval(base.Out, "{context: 32, rope_scale: 2}")
	ft := testConfig(t, "model: {context: 32, rope_scale: 2}\ntrain: {batch_size: 8, steps: 80, lr: 1.0e-3, warmup: 10, eval_batches: 4, init_from: "+base.Out+"}\n")
	if _, err := RunOn(context.Background(), ft, d, Options{}); err != nil {
		t.Fatal(err)
	}
	tuned := eval(ft.Out, "{}") // the fine-tuned checkpoint keeps context 32 and rope_scale 2
	if tuned.Context != 32 || tuned.RopeScale != 2 {
		t.Fatalf("fine-tuned checkpoint at context %d, rope_scale %v", tuned.Context, tuned.RopeScale)
	}
	t.Logf("loss at L %.3f; at 2L (positions beyond L): extrapolated %.3f (%.3f), interpolated %.3f (%.3f), interpolated and fine-tuned %.3f (%.3f)",
		atL, extrapolated.ValLoss, extrapolated.MeanLoss(16, 32), interpolated.ValLoss, interpolated.MeanLoss(16, 32), tuned.ValLoss, tuned.MeanLoss(16, 32))
	if beyond := extrapolated.MeanLoss(16, 32); !(beyond > atL+0.05) {
		t.Errorf("extrapolation beyond L: loss %.3f, not worse than %.3f at L", beyond, atL)
	}
	if math.Abs(tuned.ValLoss-atL) > 0.05 {
		t.Errorf("interpolated and fine-tuned at 2L: loss %.3f, at L %.3f", tuned.ValLoss, atL)
	}
	if a, b := tuned.MeanLoss(16, 32), extrapolated.MeanLoss(16, 32); !(a < b-0.04) {
		t.Errorf("beyond L: fine-tuned interpolation %.3f is not better than extrapolation %.3f", a, b)
	}
}

// TestLossPlotAtEachEvaluation: loss.png exists as soon as the first
// evaluation has run, and is redrawn at each later one.
func TestLossPlotAtEachEvaluation(t *testing.T) {
	text := shakespeare(t)[:60000]
	cfg := testConfig(t, "model: {context: 16, layers: 1, heads: 2, dim: 16}\ntrain: {batch_size: 2, steps: 6, eval_every: 2, eval_batches: 1}\n")
	png := filepath.Join(cfg.Out, "loss.png")
	var plots [][]byte
	_, err := RunOn(context.Background(), cfg, Data{Train: text[:50000], Val: text[50000:], Vocab: 256}, Options{Progress: progressFunc(func(line string) {
		// Step n's line comes before its evaluation: steps 1, 3 and 5
		// see the plots of no evaluation, of step 2's, of step 4's.
		if strings.HasPrefix(line, "step 1/6 loss") || strings.HasPrefix(line, "step 3/6 loss") || strings.HasPrefix(line, "step 5/6 loss") {
			b, _ := os.ReadFile(png)
			plots = append(plots, b)
		}
	})})
	if err != nil {
		t.Fatal(err)
	}
	final, _ := os.ReadFile(png)
	plots = append(plots, final)
	if len(plots) != 4 || plots[0] != nil {
		t.Fatalf("%d plots, the first %d bytes", len(plots), len(plots[0]))
	}
	for i, p := range plots[1:] {
		if !bytes.HasPrefix(p, []byte("\x89PNG")) {
			t.Fatalf("plot %d is not a PNG", i+1)
		}
		if i > 0 && bytes.Equal(p, plots[i]) {
			t.Fatalf("plot %d was not redrawn", i+1)
		}
	}
}
