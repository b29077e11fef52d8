package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/tokenize/store"
)

// TestTrainCommand trains through the CLI on a small byte-level store,
// then resumes the finished run (nothing left to do) and checks the exit
// codes of bad invocations.
func TestTrainCommand(t *testing.T) {
	dir := t.TempDir()
	w, err := store.Create(filepath.Join(dir, "tokens"), store.Options{Tokenizer: "bytes", VocabSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("To be, or not to be, that is the question. ", 200)
	toks := make([]int32, len(text))
	for i := 0; i < len(text); i++ {
		toks[i] = int32(text[i])
	}
	if err := w.AddDoc(toks, "default"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "train.yaml")
	os.WriteFile(cfg, []byte(`data: tokens
out: run
model: {context: 16, layers: 1, heads: 2, dim: 16}
train: {batch_size: 2, steps: 4, warmup: 1, eval_batches: 1, checkpoint_every: 2}
`), 0o644)

	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"train", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Step    int     `json:"step"`
		ValLoss float64 `json:"val_loss"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Step != 4 || res.ValLoss <= 0 {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if !strings.Contains(stderr.String(), "step 4/4 loss") {
		t.Fatalf("no progress lines on stderr:\n%s", stderr.String())
	}
	for _, f := range []string{"metrics.jsonl", "checkpoint.bin", "loss.png"} {
		if _, err := os.Stat(filepath.Join(dir, "run", f)); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := dispatch([]string{"train", "--resume", cfg}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "resuming") {
		t.Fatalf("resume: exit %d: %s", code, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Step != 4 || res.ValLoss <= 0 {
		t.Fatalf("summary after resuming a finished run %q: %v", stdout.String(), err)
	}

	for _, args := range [][]string{{"train"}, {"train", filepath.Join(dir, "missing.yaml")}, {"train", "--bogus", cfg}} {
		stderr.Reset()
		if code := dispatch(args, &stdout, &stderr); code != 1 {
			t.Errorf("%v: exit %d, want 1 (%s)", args, code, stderr.String())
		}
	}
}
