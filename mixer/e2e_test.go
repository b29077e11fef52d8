package mixer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines"

	_ "github.com/curatehq/curate/curriculum"
	_ "github.com/curatehq/curate/ingest"
	_ "github.com/curatehq/curate/mixer"
)

// writeInput writes three JSONL files whose documents carry n_tokens (so
// no tokenizer is needed) and returns the documents' tokens by id.
func writeInput(t *testing.T, dir string) map[string]int64 {
	rng := rand.New(rand.NewPCG(1, 1))
	words := strings.Fields("the a cat sat on mat notwithstanding extraordinary considerations institutional regulatory run go see")
	toks := map[string]int64{}
	for _, d := range []struct {
		name string
		n    int
	}{{"web", 600}, {"books", 60}, {"code", 150}} {
		var b bytes.Buffer
		for i := 0; i < d.n; i++ {
			var text []string
			for k := 0; k < 20+rng.IntN(200); k++ {
				w := words[rng.IntN(len(words))]
				if rng.IntN(8) == 0 {
					w += "."
				}
				text = append(text, w)
			}
			id := fmt.Sprintf("%s-%d", d.name, i)
			n := int64(len(text) + 1)
			if d.name == "books" {
				n *= 5
			}
			toks[id] = n
			line, _ := json.Marshal(map[string]any{"id": id, "text": strings.Join(text, " "), "n_tokens": n})
			b.Write(line)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, d.name+".jsonl"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return toks
}

const e2ePipeline = `
sources:
  - jsonl: {path: web.jsonl, domain: web}
  - jsonl: {path: books.jsonl, domain: books}
  - jsonl: {path: code.jsonl, domain: code}
stages:
  - curriculum.readability: {}
  - mixer.weights: {weights: {web: 0.5, books: 0.3, code: 0.2}, max_repeats: 4, seed: 2}
  - curriculum.order: {by: reading_grade, phases: 3, seed: 2}
sinks:
  - jsonl: {path: out}
`

// TestPipelineYAML runs mixer.weights and curriculum.order from YAML through
// the runner: the mix is met, and the output bytes are the same for any
// worker count and memory budget (the tiny one spills every sort).
func TestPipelineYAML(t *testing.T) {
	var first []byte
	for _, c := range []struct {
		workers int
		memory  int64
	}{{1, 0}, {4, 0}, {2, 1}} {
		dir := t.TempDir()
		toks := writeInput(t, dir)
		file := filepath.Join(dir, "pipeline.yaml")
		os.WriteFile(file, []byte(e2ePipeline), 0o644)
		p, err := pipelines.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: c.workers, Memory: c.memory, TempDir: dir, BatchRows: 64})
		if err != nil {
			t.Fatal(err)
		}
		shards, _ := filepath.Glob(filepath.Join(dir, "out", "part-*"))
		if len(shards) == 0 {
			t.Fatal("no output shards")
		}
		var out []byte
		for _, s := range shards {
			b, _ := os.ReadFile(s)
			out = append(out, b...)
		}
		if first == nil {
			first = out
		} else if !bytes.Equal(out, first) {
			t.Errorf("workers %d memory %d: output differs", c.workers, c.memory)
		}
		// Token shares by domain, and phases rising in reading grade.
		tokens := map[string]int64{}
		var total int64
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var d struct {
				ID     string  `json:"id"`
				Domain string  `json:"domain"`
				Grade  float64 `json:"reading_grade"`
			}
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			tokens[d.Domain] += toks[d.ID]
			total += toks[d.ID]
		}
		for dom, w := range map[string]float64{"web": 0.5, "books": 0.3, "code": 0.2} {
			if got := float64(tokens[dom]) / float64(total); math.Abs(got-w) > 0.01 {
				t.Errorf("%s share %.4f, want %.2f", dom, got, w)
			}
		}
		var mix *pipelines.StageReport
		for i := range rep.Stages {
			if rep.Stages[i].Name == "mixer.weights" {
				mix = &rep.Stages[i]
			}
		}
		if mix == nil || mix.Details["domains"] == nil {
			t.Fatalf("no mixer report in %+v", rep.Stages)
		}
	}
}
