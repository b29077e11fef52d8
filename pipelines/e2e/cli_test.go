package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestCLIExitCodes checks the contract's exit codes and messages through
// the real binary: bad config 2, a failed run 1, an interrupted run 130
// with the resume command, and the resumed run 0.
func TestCLIExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildCurate(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	killCorpus(t, dir)

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("sources:\n  - jsonl: {pth: x}\nstages:\n  - dedup.minhsah: {}\n  - filter.language: {min_confidence: 2}\nsinks: [{jsonl: {path: out}}]\n"), 0o644)
	out, err := exec.Command(bin, "validate", bad).CombinedOutput()
	if exitCode(err) != 2 {
		t.Fatalf("validate bad: exit %d\n%s", exitCode(err), out)
	}
	for _, want := range []string{bad + `:2:13: jsonl: unknown field "pth" (did you mean "path"?)`, bad + `:4:5: unknown stage "dedup.minhsah" (did you mean "dedup.minhash"?)`, bad + ":5:39: filter.language: min_confidence: 2 is above the maximum 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if _, err := exec.Command(bin, "run", bad).CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("run bad config: exit %d, want 2", exitCode(err))
	}

	// A sink whose folder cannot be made (a file is in the way): exit 1.
	os.WriteFile(filepath.Join(dir, "blocked"), []byte("a file"), 0o644)
	blocked := filepath.Join(dir, "blocked.yaml")
	os.WriteFile(blocked, []byte("sources: [{jsonl: {path: in/*.jsonl.gz}}]\nsinks: [{jsonl: {path: blocked/docs}}]\n"), 0o644)
	out, err = exec.Command(bin, "run", "--quiet", blocked).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "blocked/docs") {
		t.Errorf("unwritable sink: exit %d\n%s", exitCode(err), out)
	}
	if strings.Contains(string(out), "goroutine ") {
		t.Errorf("a stack trace on a failed run:\n%s", out)
	}

	// Ctrl-C: stops at a checkpoint, exit 130, says how to resume.
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(killPipeline), 0o644)
	cmd := exec.Command(bin, "run", "--quiet", "--batch-rows", "32", "--checkpoint-bytes", "16KiB", p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "out", "tokens.state", "journal.json")
	for i := 0; i < 2000; i++ {
		if _, err := os.Stat(journal); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if exitCode(err) != 130 || !strings.Contains(stderr.String(), "curate run --resume") {
		t.Fatalf("interrupted run: exit %d\n%s", exitCode(err), stderr.String())
	}
	out, err = exec.Command(bin, "run", "--quiet", "--batch-rows", "32", "--checkpoint-bytes", "16KiB", "--resume", p).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "tokens", "manifest.json")); err != nil {
		t.Errorf("no manifest after the resumed run: %v", err)
	}
}
