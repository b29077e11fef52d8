package filter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	_ "github.com/curatehq/curate/pipelines/all"
)

const goodDoc = "The history of the river town begins with a small mill that was built on the eastern bank in the early years of the century.\n" +
	"Farmers from the surrounding hills brought their grain to be ground, and soon a market grew around the mill.\n" +
	"By the time the railway arrived, the town had a school, two churches and a newspaper.\n" +
	"The newspaper reported on the weather, the harvest and the occasional dispute between neighbours.\n" +
	"Many of the old buildings still stand today, and visitors come to walk along the water.\n" +
	"Questions about the museum can be sent to the curator at curator@rivertown-museum.org today."

// runYAML writes input.jsonl and pipeline.yaml into a temp folder, runs the
// pipeline with the given workers and returns the output documents.
func runYAML(t *testing.T, stages string, docs []map[string]any, workers int) ([]map[string]any, *pipelines.Report) {
	t.Helper()
	dir := t.TempDir()
	var in bytes.Buffer
	for _, d := range docs {
		line, _ := json.Marshal(d)
		in.Write(line)
		in.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "input.jsonl"), in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := "sources:\n  - jsonl: {path: input.jsonl, domain: web}\nstages:\n" + stages + "sinks:\n  - jsonl: {path: out}\n"
	if err := os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pipelines.LoadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: workers, Alloc: alloc, BatchRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	alloc.AssertSize(t, 0)
	files, _ := filepath.Glob(filepath.Join(dir, "out", "*.jsonl"))
	var out []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out, rep
}

var inputs = []map[string]any{
	{"id": "good", "text": goodDoc, "url": "https://rivertown.example/history"},
	{"id": "menu", "text": "Home\nAbout\nContact", "url": "https://rivertown.example/"},
	{"id": "blocked", "text": goodDoc, "url": "http://ads.spam.example/page"},
	{"id": "dirty", "text": "cafÃ©\r\n" + goodDoc, "url": "https://rivertown.example/cafe"},
}

const englishWeb = `  - filter.clean: {}
  - filter.blocklist: {domains: [spam.example]}
  - filter.gopher_quality: {}
  - filter.gopher_repetition: {}
  - filter.c4: {}
  - filter.fineweb: {}
  - filter.pii: {}
  - filter.quality: {}
`

func TestPipelineYAML(t *testing.T) {
	var first []byte
	for _, workers := range []int{1, 3} {
		out, rep := runYAML(t, englishWeb, inputs, workers)
		if len(out) != 2 || out[0]["id"] != "good" || out[1]["id"] != "dirty" {
			t.Fatalf("kept %v", out)
		}
		if txt := out[0]["text"].(string); !strings.Contains(txt, "<EMAIL>") || strings.Contains(txt, "@") {
			t.Errorf("e-mail not redacted: %q", txt)
		}
		if txt := out[1]["text"].(string); !strings.HasPrefix(txt, "café.") && !strings.HasPrefix(txt, "The history") {
			t.Errorf("dirty doc: %.40q", txt)
		}
		if s, ok := out[0]["quality_score"].(float64); !ok || s < 0.5 {
			t.Errorf("quality_score %v", out[0]["quality_score"])
		}
		dropped := map[string]float64{}
		stats := map[string]int64{}
		for _, st := range rep.Stages {
			for k, v := range st.Dropped {
				dropped[k] += float64(v)
			}
			for k, v := range st.Stats {
				stats[st.Name+"."+k] += v
			}
		}
		if stats["filter.pii.email"] != 2 || stats["filter.clean.mojibake"] != 1 {
			t.Errorf("stage stats %v", stats)
		}
		if dropped["blocklist:domain"] != 1 || dropped["gopher_quality:word_count"] != 1 {
			t.Errorf("dropped %v", dropped)
		}
		b, _ := json.Marshal(out)
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Error("output depends on the worker count")
		}
	}
}

func TestAnnotateOnly(t *testing.T) {
	stages := `  - filter.clean: {annotate_only: true}
  - filter.gopher_quality: {annotate_only: true}
  - filter.c4: {annotate_only: true}
  - filter.pii: {annotate_only: true}
`
	out, _ := runYAML(t, stages, inputs, 2)
	if len(out) != len(inputs) {
		t.Fatalf("annotate_only dropped documents: %d of %d kept", len(out), len(inputs))
	}
	for i, d := range out {
		if d["text"] != inputs[i]["text"] {
			t.Errorf("%s: text changed", d["id"])
		}
		for _, col := range []string{"clean_changes", "gopher_quality_drop", "c4_changes", "c4_drop", "pii_changes"} {
			if _, ok := d[col]; !ok {
				t.Errorf("%s: no %s column (%v)", d["id"], col, d)
			}
		}
	}
	if out[1]["gopher_quality_drop"] != "gopher_quality:word_count" || out[0]["pii_changes"] != "email:1" ||
		out[3]["clean_changes"] != "mojibake:1 line_endings:1" || out[1]["c4_drop"] != "c4:too_few_sentences" {
		t.Errorf("annotations: %v", out)
	}
}
