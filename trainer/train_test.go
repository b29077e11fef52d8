package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

const sharedText = "/work/shared/data/text/tinyshakespeare_train90.txt"

// shakespeare returns tinyshakespeare as byte tokens (vocab 256).
func shakespeare(t testing.TB) Slice {
	dir := os.Getenv("CURATE_SHARED_DATA")
	path := sharedText
	if dir != "" {
		path = filepath.Join(dir, "text", "tinyshakespeare_train90.txt")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	s := make(Slice, len(b))
	for i, c := range b {
		s[i] = int32(c)
	}
	return s
}

// unigramLoss is the cross-entropy on val of the byte frequencies of train
// (add-one smoothed): the loss of a model that ignores context.
func unigramLoss(train, val Slice) float64 {
	var counts [256]float64
	for _, c := range train {
		counts[c]++
	}
	total := float64(len(train)) + 256
	var loss float64
	for _, c := range val {
		loss -= math.Log((counts[c] + 1) / total)
	}
	return loss / float64(len(val))
}

func testConfig(t testing.TB, yaml string) *Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte("data: unused\nout: out\n"+yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTinyShakespeareLearns(t *testing.T) {
	if k, err := blas.New(blas.Auto, 0); err != nil || k.Name() == blas.Go {
		// The pure-Go kernel is some 30 times slower; TestComputePathsAgree
		// and the gradient checks cover it.
		if os.Getenv("CURATE_TRAIN_SLOW") == "" {
			t.Skip("no OpenBLAS: this run would take minutes on the Go kernel (set CURATE_TRAIN_SLOW=1 to run it)")
		}
	}
	text := shakespeare(t)
	cut := len(text) * 9 / 10
	train, val := text[:cut], text[cut:]
	base := unigramLoss(train, val)
	steps, bound := "300", 0.8
	if testing.Short() {
		steps, bound = "200", 0.85
	}
	cfg := testConfig(t, `
model: {context: 64, layers: 2, heads: 4, kv_heads: 2, dim: 64}
train: {batch_size: 16, steps: `+steps+`, lr: 3.0e-3, warmup: 20, eval_every: 100, eval_batches: 8, seed: 1}
`)
	res, err := RunOn(context.Background(), cfg, Data{Train: train, Val: val, Vocab: 256}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unigram baseline %.3f, val loss %.3f, %.0f tok/s (%s)", base, res.ValLoss, res.TokensPerSec, res.Kernel)
	if !(res.ValLoss < bound*base) {
		t.Fatalf("val loss %.3f is not well below the unigram baseline %.3f", res.ValLoss, base)
	}
}

func readMetrics(t *testing.T, path string) []map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]float64
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		out = append(out, rec)
	}
	return out
}

// curve is the run's losses and validation losses by step: what resuming
// must reproduce exactly (timings may differ).
func curve(t *testing.T, out string) []float64 {
	var c []float64
	for _, r := range readMetrics(t, filepath.Join(out, "metrics.jsonl")) {
		if v, ok := r["loss"]; ok {
			c = append(c, r["step"], v, r["lr"], r["grad_norm"])
		}
		if v, ok := r["val_loss"]; ok {
			c = append(c, r["step"], v)
		}
	}
	return c
}

func TestResumeIsExact(t *testing.T) {
	text := shakespeare(t)[:200000]
	d := Data{Train: text[:180000], Val: text[180000:], Vocab: 256}
	for _, order := range []string{"random", "sequential"} {
		t.Run(order, func(t *testing.T) {
			yaml := `
model: {context: 32, layers: 2, heads: 2, dim: 32}
train: {batch_size: 4, steps: 14, lr: 1.0e-3, warmup: 3, eval_every: 4, checkpoint_every: 4, eval_batches: 2, accumulate: 2, order: ` + order + `}
`
			whole := testConfig(t, yaml)
			if _, err := RunOn(context.Background(), whole, d, Options{}); err != nil {
				t.Fatal(err)
			}
			parts := testConfig(t, yaml)
			// Stop after 10 steps: the last checkpoint is step 8, so steps 9
			// and 10 are run twice and their metrics must be replaced.
			_, err := RunOn(context.Background(), parts, d, Options{StopAfter: 10})
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("stopped run: %v", err)
			}
			res, err := RunOn(context.Background(), parts, d, Options{Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != 14 {
				t.Fatalf("resumed run ended at step %d", res.Step)
			}
			a, b := curve(t, whole.Out), curve(t, parts.Out)
			if len(a) != len(b) {
				t.Fatalf("curves have %d and %d values:\n%v\n%v", len(a), len(b), a, b)
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("curves differ at %d: %v vs %v\n%v\n%v", i, a[i], b[i], a, b)
				}
			}
		})
	}
}

func TestCancelledRun(t *testing.T) {
	text := shakespeare(t)[:50000]
	cfg := testConfig(t, "model: {context: 16, layers: 1, heads: 2, dim: 16}\ntrain: {batch_size: 2, steps: 5, eval_batches: 1}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := RunOn(ctx, cfg, Data{Train: text[:40000], Val: text[40000:], Vocab: 256}, Options{})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("got %v, want an interruption that says how to resume", err)
	}
}

// TestInterruptSavesCheckpoint cancels a run mid-way: the state at that step
// is saved, and resuming finishes with the same curve as a whole run.
func TestInterruptSavesCheckpoint(t *testing.T) {
	d := killTestData(t)
	yaml := "model: {context: 16, layers: 1, heads: 2, dim: 16}\ntrain: {batch_size: 2, steps: 12, eval_every: 5, eval_batches: 1}\n"
	whole := testConfig(t, yaml)
	if _, err := RunOn(context.Background(), whole, d, Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, yaml)
	ctx, cancel := context.WithCancel(context.Background())
	var seen int
	_, err := RunOn(ctx, cfg, d, Options{Progress: progressFunc(func(line string) {
		if strings.HasPrefix(line, "step ") && strings.Contains(line, " loss ") {
			if seen++; seen == 7 {
				cancel()
			}
		}
	})})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("cancelled run: %v", err)
	}
	ck, err := LoadCheckpoint(filepath.Join(cfg.Out, CheckpointFile))
	if err != nil || ck.Header.Step != 7 {
		t.Fatalf("checkpoint at interruption: %v %+v", err, ck)
	}
	if _, err := RunOn(context.Background(), cfg, d, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, b := curve(t, whole.Out), curve(t, cfg.Out)
	if !slices.Equal(a, b) {
		t.Fatalf("curves differ:\n%v\n%v", a, b)
	}
}

// progressFunc is an io.Writer calling fn with each write.
type progressFunc func(string)

func (f progressFunc) Write(b []byte) (int, error) { f(string(b)); return len(b), nil }

// TestThreadsDoNotChangeTheCurve: the same config with 1 and 3 threads
// gives the same losses, bit for bit.
func TestThreadsDoNotChangeTheCurve(t *testing.T) {
	d := killTestData(t)
	run := func(threads string) []float64 {
		cfg := testConfig(t, "model: {context: 64, layers: 2, heads: 4, kv_heads: 2, dim: 64}\ntrain: {batch_size: 4, steps: 4, eval_batches: 2, threads: "+threads+"}\n")
		if _, err := RunOn(context.Background(), cfg, d, Options{}); err != nil {
			t.Fatal(err)
		}
		return curve(t, cfg.Out)
	}
	if a, b := run("1"), run("3"); !slices.Equal(a, b) {
		t.Fatalf("1 thread:  %v\n3 threads: %v", a, b)
	}
}
