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

// writeTextStore writes text as a byte-level store of one document.
func writeTextStore(t *testing.T, dir, text string) {
	t.Helper()
	w, err := store.Create(dir, store.Options{Tokenizer: "bytes", VocabSize: 256})
	if err != nil {
		t.Fatal(err)
	}
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
}

// TestLoRAAndGenerateCommands: train a base, fine-tune it with LoRA,
// merge, and sample from the base, the LoRA run and the merged checkpoint.
func TestLoRAAndGenerateCommands(t *testing.T) {
	dir := t.TempDir()
	writeTextStore(t, filepath.Join(dir, "tokens"), strings.Repeat("To be, or not to be, that is the question. ", 200))
	writeTextStore(t, filepath.Join(dir, "caps"), strings.Repeat("WHETHER 'TIS NOBLER IN THE MIND TO SUFFER. ", 200))
	os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(`data: tokens
out: base
model: {context: 16, layers: 1, heads: 2, dim: 16}
train: {batch_size: 2, steps: 4, warmup: 1, eval_batches: 1}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "lora.yaml"), []byte(`data: caps
out: tuned
lora: {rank: 2, alpha: 4, targets: [q, v], from: base}
train: {batch_size: 2, steps: 4, warmup: 1, eval_batches: 1}
`), 0o644)
	run := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(args, &stdout, &stderr); code != want {
			t.Fatalf("curate %v: exit %d, want %d\n%s", args, code, want, stderr.String())
		}
		return stdout.String()
	}
	run(0, "train", filepath.Join(dir, "base.yaml"))
	var res struct {
		Params    int `json:"params"`
		Trainable int `json:"trainable_params"`
	}
	out := run(0, "train", filepath.Join(dir, "lora.yaml"))
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Trainable == 0 || res.Trainable >= res.Params {
		t.Fatalf("LoRA summary %q: %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tuned", "adapter.bin")); err != nil {
		t.Fatal(err)
	}
	ev := run(0, "train", "--eval", filepath.Join(dir, "lora.yaml"))
	if !strings.Contains(ev, `"val_loss"`) {
		t.Fatalf("eval output %q", ev)
	}
	run(0, "lora", "merge", "--base", filepath.Join(dir, "base"), "--adapter", filepath.Join(dir, "tuned"), "--out", filepath.Join(dir, "merged"))
	gen := func(ckpt string, seed string) string {
		return run(0, "generate", "--checkpoint", filepath.Join(dir, ckpt), "--prompt", "To be", "--max-tokens", "12", "--seed", seed, "--top-k", "20", "--top-p", "0.9")
	}
	a := gen("base", "3")
	if !strings.HasPrefix(a, "To be") || len(a) != len("To be")+12+1 {
		t.Fatalf("generated %q", a)
	}
	if b := gen("base", "3"); b != a {
		t.Fatalf("same seed, different text: %q, %q", a, b)
	}
	if m, l := gen("merged", "5"), gen("tuned", "5"); m != l {
		t.Fatalf("merged checkpoint %q, base+adapter %q", m, l)
	}
	run(2, "generate", "--prompt", "x")
	run(2, "generate", "--checkpoint", filepath.Join(dir, "base"), "--top-p", "3")
	run(1, "generate", "--checkpoint", filepath.Join(dir, "nothing"))
	run(2, "lora", "merge", "--base", filepath.Join(dir, "base"))
	run(1, "lora", "merge", "--base", filepath.Join(dir, "tuned"), "--adapter", filepath.Join(dir, "base"), "--out", filepath.Join(dir, "x"))
}
