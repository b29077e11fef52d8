package dedup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// Test-only components keep these tests independent of the ingest package:
// a source reading {id,text} JSON lines and a sink collecting rows in memory.

type lineSource struct {
	docs []struct{ ID, Text string }
	b    *pipelines.DocBuilder
	n    int
}

var (
	collectedMu sync.Mutex
	collected   = map[string][]map[string]string{}
)

type collectSink struct {
	name string
	rows []map[string]string
}

func init() {
	pipelines.RegisterSource(pipelines.Spec{Name: "dedup_testlines", Doc: "{id,text} JSON lines (dedup tests)",
		Fields: []pipelines.Field{{Name: "path", Type: pipelines.String, Required: true, Doc: "file"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
			b, err := storage.ReadFile(context.Background(), env.Path(p.String("path")))
			if err != nil {
				return nil, err
			}
			s := &lineSource{b: pipelines.NewDocBuilder(env)}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var d struct{ ID, Text string }
				if err := json.Unmarshal([]byte(l), &d); err != nil {
					return nil, err
				}
				s.docs = append(s.docs, d)
			}
			return s, nil
		})
	pipelines.RegisterSink(pipelines.Spec{Name: "dedup_testcollect", Doc: "collects rows (dedup tests)",
		Fields: []pipelines.Field{{Name: "name", Type: pipelines.String, Required: true, Doc: "key"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Sink, error) {
			return &collectSink{name: p.String("name")}, nil
		})
}

func (s *lineSource) Next(ctx context.Context) (arrow.Record, error) {
	if s.n == len(s.docs) {
		return nil, io.EOF
	}
	for s.n < len(s.docs) && s.b.Len() < 7 { // small batches: many batches per test
		s.b.Add(s.docs[s.n].ID, s.docs[s.n].Text, "test", "default")
		s.n++
	}
	return s.b.Build(), nil
}

func (s *lineSource) Close() error { return nil }

func (s *collectSink) Write(ctx context.Context, rec arrow.Record) error {
	for r := 0; r < int(rec.NumRows()); r++ {
		row := map[string]string{}
		for c, f := range rec.Schema().Fields() {
			if s, ok := rec.Column(c).(*array.String); ok {
				row[f.Name] = s.Value(r)
			} else {
				row[f.Name] = rec.Column(c).ValueStr(r)
			}
		}
		s.rows = append(s.rows, row)
	}
	return nil
}

func (s *collectSink) Commit(context.Context) error { return nil }

// Snapshot and Restore let the sink take part in stop-and-resume runs.
func (s *collectSink) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(s.rows) }
func (s *collectSink) Restore(r io.Reader) error  { return json.NewDecoder(r).Decode(&s.rows) }
func (s *collectSink) Abort() error               { return nil }
func (s *collectSink) Close(context.Context) error {
	collectedMu.Lock()
	defer collectedMu.Unlock()
	collected[s.name] = s.rows
	return nil
}

// runYAML writes docs and the pipeline into a folder, runs it and returns
// the collected rows and the report.
func runYAML(t *testing.T, dir, yaml string, docs []string, workers int, mem int64) ([]map[string]string, *pipelines.Report) {
	t.Helper()
	name := fmt.Sprintf("%s/%d/%d", t.Name(), workers, mem)
	p := writePipeline(t, dir, yaml, docs, name)
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	rep, err := pipelines.Run(t.Context(), p, pipelines.Options{Workers: workers, Memory: mem, Alloc: alloc, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	alloc.AssertSize(t, 0)
	collectedMu.Lock()
	defer collectedMu.Unlock()
	return collected[name], rep
}

// writePipeline writes docs as in.jsonl and a pipeline reading them through
// yaml's stages into the collecting sink name.
func writePipeline(t *testing.T, dir, yaml string, docs []string, name string) *pipelines.Pipeline {
	t.Helper()
	var b strings.Builder
	for i, d := range docs {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("d%03d", i), "text": d})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	full := "sources:\n  - dedup_testlines: {path: in.jsonl}\n" + yaml +
		"sinks:\n  - dedup_testcollect: {name: \"" + name + "\"}\n"
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pipelines.LoadFile(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, full)
	}
	return p
}

// TestPipelineYAMLResume stops runs at checkpoints and resumes them: the
// dedup indexes come back from their snapshots, so the output equals an
// uninterrupted run's.
func TestPipelineYAMLResume(t *testing.T) {
	dir := t.TempDir()
	var texts []string
	for _, d := range corpusDocs(t, 600) {
		texts = append(texts, d.Text)
	}
	for _, verify := range []string{"signature", "shingles"} {
		t.Run(verify, func(t *testing.T) { checkYAMLResume(t, dir, texts, verify) })
	}
}

func checkYAMLResume(t *testing.T, dir string, texts []string, verify string) {
	yaml := "stages:\n  - dedup.exact: {}\n  - dedup.minhash: {verify: " + verify + "}\n"
	want, _ := runYAML(t, dir, yaml, texts, 2, 0)
	for _, stopAfter := range []int{1, 3} {
		name := fmt.Sprintf("%s/%d", t.Name(), stopAfter)
		state := filepath.Join(dir, fmt.Sprint("state-", verify, stopAfter))
		resume, stops := false, 0
		for attempt := 0; ; attempt++ {
			if attempt > 30 {
				t.Fatal("never finished")
			}
			stop := make(chan struct{})
			seen := 0
			opts := pipelines.Options{Workers: 2, BatchRows: 40, CheckpointBytes: 100 << 10, StateDir: state,
				Resume: resume, Stop: stop, TempDir: t.TempDir(),
				OnCheckpoint: func(ctx context.Context, cp pipelines.Checkpoint) error {
					// stop well before the end: a stop racing the end of the
					// run is the runner's business, not this test's
					if seen++; seen == stopAfter && cp.Documents < int64(len(texts))-200 {
						close(stop)
					}
					return nil
				}}
			_, err := pipelines.Run(t.Context(), writePipeline(t, dir, yaml, texts, name), opts)
			if errors.Is(err, pipelines.ErrStopped) {
				resume = true
				stops++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if stops == 0 {
			t.Fatal("the run was never stopped")
		}
		collectedMu.Lock()
		got := collected[name]
		collectedMu.Unlock()
		if !reflect.DeepEqual(ids(got), ids(want)) {
			t.Errorf("stop after %d checkpoints (%d stops): kept %d documents, uninterrupted %d", stopAfter, stops, len(got), len(want))
		}
	}
}

func ids(rows []map[string]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["id"])
	}
	return out
}

func TestPipelineYAML(t *testing.T) {
	dir := t.TempDir()
	base := words(5, 300)
	docs := []string{
		base,
		strings.ToUpper(base), // exact dup after normalization
		mutate(base, 100),     // near dup
		words(6, 300),         // distinct
		"Menu\n\n" + words(7, 50) + "\n\nFooter text here",
		"Menu\n\n" + words(8, 50) + "\n\nFooter text here",
		"Menu\n\n" + words(9, 50) + "\n\nFooter text here",
		"Menu\n\nFooter text here",
		words(6, 300), // exact dup of d003
	}
	yaml := `stages:
  - dedup.exact: {}
  - dedup.minhash: {threshold: 0.8}
  - dedup.paragraph: {max_repeats: 2}
`
	var first []map[string]string
	for _, w := range []int{1, 3} {
		for _, mem := range []int64{0, 1} {
			rows, rep := runYAML(t, dir, yaml, docs, w, mem)
			if want := []string{"d000", "d003", "d004", "d005", "d006"}; !reflect.DeepEqual(ids(rows), want) {
				t.Fatalf("workers %d memory %d: kept %v, want %v", w, mem, ids(rows), want)
			}
			if rows[2]["text"] != strings.TrimSpace(words(7, 50)) {
				t.Errorf("paragraph dedup left %q", rows[2]["text"])
			}
			if first == nil {
				first = rows
				st := rep.Stages
				if st[0].Dropped[ReasonDuplicate] != 2 || st[1].Dropped[ReasonNearDuplicate] != 1 || st[2].Dropped[ReasonEmptyAfterParagraphs] != 1 {
					t.Errorf("report drops: %v %v %v", st[0].Dropped, st[1].Dropped, st[2].Dropped)
				}
				if st[1].Details["cluster_sizes"] == nil {
					t.Errorf("minhash report has no cluster histogram: %v", st[1].Details)
				}
			} else if !reflect.DeepEqual(rows, first) {
				t.Errorf("workers %d memory %d: output differs", w, mem)
			}
		}
	}
}

func TestPipelineYAMLAnnotateOnly(t *testing.T) {
	dir := t.TempDir()
	base := words(5, 300)
	docs := []string{base, mutate(base, 100), words(6, 300)}
	rows, _ := runYAML(t, dir, "stages:\n  - dedup.minhash: {annotate_only: true}\n", docs, 2, 0)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	if rows[1]["dup_of"] != "d000" || rows[1]["minhash_drop"] != ReasonNearDuplicate || rows[0]["dup_of"] != "" || rows[2]["minhash_drop"] != "" {
		t.Errorf("rows %v", rows)
	}
}

func TestPipelineYAMLIncremental(t *testing.T) {
	dir := t.TempDir()
	a, b := words(1, 200), words(2, 200)
	yaml := "stages:\n  - dedup.exact: {index: idx/exact.bin}\n  - dedup.minhash: {index: idx/minhash.bin}\n" +
		"  - dedup.minhash: {verify: shingles, index: idx/minhash-shingles.bin}\n"
	rows, _ := runYAML(t, dir, yaml, []string{a, b}, 2, 0)
	if len(rows) != 2 {
		t.Fatalf("first run kept %d", len(rows))
	}
	rows, rep := runYAML(t, dir, yaml, []string{a, mutate(b, 80), words(3, 200)}, 2, 0)
	if got := ids(rows); !reflect.DeepEqual(got, []string{"d002"}) {
		t.Errorf("second run kept %v, want [d002]", got)
	}
	for _, st := range rep.Stages[1:] {
		if st.Details["index_loaded_documents"] != int64(2) {
			t.Errorf("%s report %v", st.Name, st.Details)
		}
	}
}

func TestPipelineYAMLDecontaminate(t *testing.T) {
	dir := t.TempDir()
	q := "what is the boiling point of water at sea level in degrees celsius and why does it change"
	writeFile(t, filepath.Join(dir, "evals", "science.jsonl"), `{"text": "`+q+`"}`+"\n")
	docs := []string{"Quiz: What is the boiling point of water at sea level, in degrees Celsius? And why does it change?", words(4, 100)}
	rows, rep := runYAML(t, dir, "stages:\n  - dedup.decontaminate: {against: [\"evals/*.jsonl\"]}\n", docs, 2, 0)
	if got := ids(rows); !reflect.DeepEqual(got, []string{"d001"}) {
		t.Errorf("kept %v", got)
	}
	sets := rep.Stages[0].Details["sets"].(map[string]any)
	if sets["science"].(map[string]int64)["documents_hit"] != 1 {
		t.Errorf("report %v", rep.Stages[0].Details)
	}
}

func TestValidateMemoryEstimate(t *testing.T) {
	spec, ok := pipelines.LookupSpec(pipelines.KindStage, "dedup.minhash")
	if !ok {
		t.Fatal("dedup.minhash is not registered")
	}
	p, _ := pipelines.NewParams(spec, nil)
	if got := spec.MemoryPerDoc(p); got != 200+assumedIDBytes {
		t.Errorf("MemoryPerDoc = %d", got)
	}
	for _, name := range []string{"dedup.exact", "dedup.paragraph", "dedup.decontaminate"} {
		if _, ok := pipelines.LookupSpec(pipelines.KindStage, name); !ok {
			t.Errorf("%s is not registered", name)
		}
	}
	if !pipelines.IsBarrier("dedup.paragraph") {
		t.Error("dedup.paragraph is not a barrier")
	}
}
