package trainer

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/tokenize/store"
)

// writeByteStore writes text as a byte-level store, one document per
// paragraph.
func writeByteStore(t *testing.T, dir string, text []int32) {
	t.Helper()
	w, err := store.Create(dir, store.Options{Tokenizer: "bytes", VocabSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	for len(text) > 0 {
		n := min(len(text), 500)
		if err := w.AddDoc(text[:n], "default"); err != nil {
			t.Fatal(err)
		}
		text = text[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRunFromStore is the CLI's path: a config file naming a token store
// with a val/ store beside it.
func TestRunFromStore(t *testing.T) {
	text := shakespeare(t)[:60000]
	dir := t.TempDir()
	writeByteStore(t, filepath.Join(dir, "tokens"), text[:50000])
	writeByteStore(t, filepath.Join(dir, "tokens", "val"), text[50000:])
	cfgPath := filepath.Join(dir, "train.yaml")
	os.WriteFile(cfgPath, []byte(`data: tokens
out: runs/demo
model: {context: 32, layers: 1, heads: 2, dim: 32}
train: {batch_size: 4, steps: 6, lr: 1.0e-3, warmup: 2, eval_every: 3, eval_batches: 2, order: sequential}
`), 0o644)
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	res, err := Run(context.Background(), cfg, Options{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 6 || math.IsNaN(res.ValLoss) || !strings.Contains(progress.String(), "step 6/6 loss") {
		t.Fatalf("result %+v, progress:\n%s", res, progress.String())
	}
	out := filepath.Join(dir, "runs", "demo")
	recs := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	var steps, evals int
	for _, r := range recs {
		if _, ok := r["val_loss"]; ok {
			evals++
			continue
		}
		for _, k := range []string{"step", "loss", "lr", "tokens_per_sec", "mfu"} {
			if _, ok := r[k]; !ok {
				t.Errorf("metrics record %v lacks %q", r, k)
			}
		}
		steps++
	}
	if steps != 6 || evals != 2 {
		t.Fatalf("%d step records and %d evaluations, want 6 and 2", steps, evals)
	}
	if _, err := LoadCheckpoint(filepath.Join(out, CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	if png, err := os.ReadFile(filepath.Join(out, "loss.png")); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("loss plot: %v", err)
	}

	// Without val/, the last 10% of the store is held out.
	os.RemoveAll(filepath.Join(dir, "tokens", "val"))
	d, closeData, err := OpenData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeData()
	if d.Train.NumTokens() != 45000 || d.Val.NumTokens() != 5000 || d.Vocab != 256 {
		t.Fatalf("held out %d/%d tokens, vocab %d", d.Train.NumTokens(), d.Val.NumTokens(), d.Vocab)
	}
}

func TestRunErrors(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Data = filepath.Join(t.TempDir(), "missing")
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "data") {
		t.Fatalf("missing store: %v", err)
	}
	cfg = testConfig(t, "device: cuda\n")
	if _, err := RunOn(context.Background(), cfg, killTestData(t), Options{}); err == nil || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("cuda: %v", err)
	}
}

// TestComputePathsAgree trains the same steps on OpenBLAS and on the Go
// kernel.
func TestComputePathsAgree(t *testing.T) {
	d := killTestData(t)
	run := func(backend string) []float64 {
		t.Setenv("CURATE_BLAS", backend)
		cfg := testConfig(t, "model: {context: 32, layers: 2, heads: 4, kv_heads: 2, dim: 32}\ntrain: {batch_size: 4, steps: 8, lr: 3.0e-3, warmup: 2, eval_batches: 2}\n")
		res, err := RunOn(context.Background(), cfg, d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res.Kernel, backend) {
			t.Skipf("kernel %s, want %s", res.Kernel, backend)
		}
		return curve(t, cfg.Out)
	}
	a, b := run("openblas"), run("go")
	if len(a) != len(b) {
		t.Fatalf("%d vs %d values", len(a), len(b))
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 2e-3*(1+math.Abs(a[i])) {
			t.Fatalf("value %d: openblas %v, go %v\n%v\n%v", i, a[i], b[i], a, b)
		}
	}
}
