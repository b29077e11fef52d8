package trainer

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The killed-run test runs training in a child process (this test binary,
// re-entered through TestTrainChild), SIGKILLs it mid-run after a
// checkpoint, resumes in this process and compares the whole loss curve with
// an uninterrupted run's.

const childEnv = "CURATE_TRAIN_CHILD_CONFIG"

func killTestData(t testing.TB) Data {
	text := shakespeare(t)[:120000]
	return Data{Train: text[:100000], Val: text[100000:], Vocab: 256}
}

const killTestYAML = `
model: {context: 16, layers: 1, heads: 2, kv_heads: 1, dim: 16}
train: {batch_size: 4, steps: 400, lr: 2.0e-3, warmup: 5, eval_every: 50, checkpoint_every: 5, eval_batches: 2}
`

// TestTrainChild is the child's body; it does nothing in a normal run.
func TestTrainChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of TestKilledRunResumesExactly")
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	// Slow the child down (a sleep per progress line) so the parent, however
	// loaded the machine, kills it long before it could finish.
	slow := progressFunc(func(string) { time.Sleep(5 * time.Millisecond) })
	RunOn(context.Background(), cfg, killTestData(t), Options{Progress: slow})
}

func TestKilledRunResumesExactly(t *testing.T) {
	d := killTestData(t)
	whole := testConfig(t, killTestYAML)
	if _, err := RunOn(context.Background(), whole, d, Options{}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "train.yaml")
	if err := os.WriteFile(cfgPath, []byte("data: unused\nout: out\n"+killTestYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTrainChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once a checkpoint exists and steps after it have run.
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		_, ckErr := os.Stat(filepath.Join(out, CheckpointFile))
		if ckErr == nil && strings.Contains(string(b), `"step":17,`) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("child made no progress: %s", stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ck, err := LoadCheckpoint(filepath.Join(out, CheckpointFile))
	if err != nil {
		t.Fatalf("checkpoint after the kill: %v", err)
	}
	if ck.Header.Step >= 400 {
		t.Fatalf("the child finished before it was killed")
	}
	t.Logf("killed after step 17; resuming from the checkpoint of step %d", ck.Header.Step)

	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RunOn(context.Background(), cfg, d, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, b := curve(t, whole.Out), curve(t, out)
	if len(a) != len(b) {
		t.Fatalf("curves have %d and %d values", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("resumed curve differs at value %d: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestResumeRefusesChangedConfig(t *testing.T) {
	d := killTestData(t)
	cfg := testConfig(t, "model: {context: 16, layers: 1, heads: 2, dim: 16}\ntrain: {batch_size: 2, steps: 3, eval_batches: 1}\n")
	if _, err := RunOn(context.Background(), cfg, d, Options{}); err != nil {
		t.Fatal(err)
	}
	cfg.Train.LR *= 2
	if _, err := RunOn(context.Background(), cfg, d, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "different data or settings") {
		t.Fatalf("resume with another lr: %v", err)
	}
	cfg.Model.Dim = 32
	if _, err := RunOn(context.Background(), cfg, d, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "model") {
		t.Fatalf("resume with another model: %v", err)
	}
	empty := testConfig(t, "")
	if _, err := RunOn(context.Background(), empty, d, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("resume without a checkpoint: %v", err)
	}
}
