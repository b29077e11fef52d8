package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/curatehq/curate/pipelines/pipelinetest"
)

const killPipeline = `
sources:
  - jsonl: {path: "in/*.jsonl.gz", domain: web}
stages:
  - filter.clean: {}
  - dedup.exact: {}
  - filter.gopher_quality: {}
  - filter.pii: {}
  - dedup.minhash: {}
  - tokenize.encode: {tokenizer: gpt2}
sinks:
  - tokens: {path: out/tokens, tokenizer: gpt2, val_fraction: 0.05, shard_tokens: 200000}
  - jsonl: {path: out/docs, compression: gzip}
  - parquet: {path: out/parquet}
`

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildCurate builds the curate binary once for the package's tests.
func buildCurate(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "curate-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "curate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/curate")
		cmd.Dir = pipelinetest.ModuleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// killCorpus writes documents from the shared text with duplicates and
// near-duplicates mixed in.
func killCorpus(t *testing.T, dir string) {
	data := pipelinetest.SharedData(t)
	files, _ := filepath.Glob(filepath.Join(data, "text", "nltk_state_union", "*.txt"))
	r := rand.New(rand.NewPCG(7, 7))
	for fi := 0; fi < 3; fi++ {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		enc := json.NewEncoder(zw)
		var prev []string
		for i, f := range files {
			b, _ := os.ReadFile(f)
			paras := strings.Split(strings.ToValidUTF8(string(b), "?"), "\n")
			for j := 0; j+6 <= len(paras); j += 6 {
				text := strings.Join(paras[j:j+6], "\n\n")
				if len(prev) > 0 && r.IntN(8) == 0 {
					text = prev[r.IntN(len(prev))] // an exact duplicate
				}
				prev = append(prev, text)
				enc.Encode(map[string]string{"id": fmt.Sprintf("f%d-%d-%d", fi, i, j), "text": text})
			}
		}
		zw.Close()
		os.WriteFile(filepath.Join(dir, "in", fmt.Sprintf("part-%d.jsonl.gz", fi)), buf.Bytes(), 0o644)
	}
}

func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasPrefix(info.Name(), ".") {
			return nil
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[rel] = b
		return nil
	})
	return m
}

const killMixPipeline = `
sources:
  - jsonl: {path: "in/part-0.jsonl.gz", domain: speeches}
  - jsonl: {path: "in/part-[12].jsonl.gz", domain: web}
stages:
  - dedup.exact: {}
  - filter.quality: {}
  - tokenize.encode: {tokenizer: gpt2}
  - mixer.weights: {weights: {speeches: 0.7, web: 0.3}, max_repeats: 3, seed: 5}
  - curriculum.order: {by: quality_score, phases: 3, seed: 5}
sinks:
  - tokens: {path: out/tokens, tokenizer: gpt2, shard_tokens: 300000}
  - jsonl: {path: out/docs}
`

// TestKillAndResume SIGKILLs a multi-stage run at seeded random moments,
// resumes it each time, and compares the final output with a clean run's
// byte for byte.
func TestKillAndResume(t *testing.T) { killAndResume(t, killPipeline, 5) }

// TestKillAndResumeMixerCurriculum does the same through the barrier stages.
// Once all input is read the journal stays at its final checkpoint while
// the barriers emit; kills then land at random moments of the emission.
func TestKillAndResumeMixerCurriculum(t *testing.T) { killAndResume(t, killMixPipeline, 3) }

func killAndResume(t *testing.T, pipeline string, minKills int) {
	if testing.Short() {
		t.Skip("builds the binary and runs the pipeline a dozen times")
	}
	bin := buildCurate(t)
	setup := func(name string) string {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(filepath.Join(dir, "in"), 0o755)
		killCorpus(t, dir)
		os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(pipeline), 0o644)
		return dir
	}
	run := func(dir string, extra ...string) *exec.Cmd {
		args := append([]string{"run", "--quiet", "--workers", "2", "--batch-rows", "64", "--checkpoint-bytes", "64KiB"}, extra...)
		return exec.Command(bin, append(args, filepath.Join(dir, "p.yaml"))...)
	}
	clean := setup("clean")
	t0 := time.Now()
	if out, err := run(clean).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	full := time.Since(t0)
	want := outputs(t, filepath.Join(clean, "out"))

	dir := setup("killed")
	journal := filepath.Join(dir, "out", "tokens.state", "journal.json")
	journalState := func() (int64, bool) {
		b, err := os.ReadFile(journal)
		if err != nil {
			return 0, false
		}
		var j struct {
			Checkpoint int64
			Final      bool
		}
		json.Unmarshal(b, &j)
		return j.Checkpoint, j.Final
	}
	checkpointOf := func() int64 { cp, _ := journalState(); return cp }
	r := rand.New(rand.NewPCG(42, 1))
	kills, resumes := 0, 0
	for {
		resume := checkpointOf() > 0
		var cmd *exec.Cmd
		if resume {
			cmd = run(dir, "--resume")
			resumes++
		} else {
			cmd = run(dir)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills == 6 {
			if err := <-done; err != nil {
				t.Fatalf("final run: %v\n%s", err, stderr.String())
			}
			break
		}
		// Kill at a seeded random moment: the first time before any
		// checkpoint, later a random few milliseconds after the run saved
		// a checkpoint beyond the one it resumed from.
		before, final := journalState()
		delay := time.Duration(r.IntN(10)) * time.Millisecond
		start := time.Now()
		emitDelay := time.Duration(100+r.IntN(400)) * time.Millisecond
		var err error
		exited := false
	wait:
		for {
			select {
			case err = <-done:
				exited = true
				break wait
			case <-time.After(2 * time.Millisecond):
				if cp, fin := journalState(); kills == 0 || (cp > before && !fin) {
					time.Sleep(delay)
					break wait
				}
				if final && time.Since(start) > emitDelay {
					break wait
				}
			}
		}
		if exited {
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if kills < minKills {
				t.Fatalf("the run finished before kill %d", kills+1)
			}
			break
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
	}
	t.Logf("%d kills, %d resumes from a journal; clean run %v", kills, resumes, full)
	if kills < minKills || resumes < minKills-2 {
		t.Fatalf("only %d kills and %d resumes happened", kills, resumes)
	}
	var stale []string
	filepath.Walk(filepath.Join(dir, "out"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".curate-tmp-") {
			stale = append(stale, p)
		}
		return nil
	})
	if len(stale) > 0 {
		t.Errorf("temporary files left after the final run: %v", stale)
	}
	got := outputs(t, filepath.Join(dir, "out"))
	if len(got) != len(want) {
		t.Errorf("files: got %d, want %d", len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s differs after %d kills and resumes (%d vs %d bytes)", name, kills, len(got[name]), len(w))
		}
	}
}
