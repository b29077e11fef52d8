package pipelines_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

func runYAML(t *testing.T, yaml string, opts pipelines.Options) (*pipelines.Report, error) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pipelines.LoadFile(file)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opts.Alloc = mem
	opts.TempDir = dir
	rep, err := pipelines.Run(context.Background(), p, opts)
	mem.AssertSize(t, 0)
	return rep, err
}

func sinkRows(t *testing.T, name string) []map[string]string {
	t.Helper()
	collectedMu.Lock()
	defer collectedMu.Unlock()
	m, ok := collected[name]
	if !ok {
		t.Fatalf("sink %q never closed", name)
	}
	return m.rows
}

func texts(rows []map[string]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r["text"]
	}
	return out
}

func TestRunOrderAndDropsAnyWorkerCount(t *testing.T) {
	var want []string
	for _, workers := range []int{1, 2, 7} {
		name := fmt.Sprintf("order-%d", workers)
		rep, err := runYAML(t, `
sources:
  - testgen: {n: 5000, prefix: a}
  - testgen: {n: 300, prefix: b, domain: books}
stages:
  - test.dropmod: {mod: 3}
  - test.upper: {}
sinks:
  - testsink: {name: `+name+`}
`, pipelines.Options{Workers: workers, BatchRows: 37})
		if err != nil {
			t.Fatal(err)
		}
		got := texts(sinkRows(t, name))
		if want == nil {
			want = got
		} else if !reflect.DeepEqual(got, want) {
			t.Fatalf("workers=%d: output differs from workers=1", workers)
		}
		if rep.DocumentsIn != 5300 {
			t.Errorf("documents_in = %d, want 5300", rep.DocumentsIn)
		}
		wantOut := 5300 - (5000+2)/3 - (300+2)/3
		if rep.DocumentsOut != int64(wantOut) || len(got) != wantOut {
			t.Errorf("documents_out = %d (sink %d), want %d", rep.DocumentsOut, len(got), wantOut)
		}
		if d := rep.Stages[0].Dropped["divisible"]; d != int64(5300-wantOut) {
			t.Errorf("dropped = %d", d)
		}
	}
	// Input order: a 1, a 2, a 4, ..., then b.
	if want[0] != "A 1" || want[1] != "A 2" || want[2] != "A 4" || !strings.HasPrefix(want[len(want)-1], "B ") {
		t.Errorf("order wrong: %v ... %v", want[:3], want[len(want)-1])
	}
	for i := 1; i < len(want); i++ {
		a, b := want[i-1], want[i]
		if a[0] == b[0] && docNum(a) >= docNum(b) {
			t.Fatalf("out of order at %d: %q then %q", i, a, b)
		}
	}
}

func docNum(s string) int {
	var n int
	fmt.Sscanf(s[2:], "%d", &n)
	return n
}

func TestRunAnnotateOnlyKeepsEverything(t *testing.T) {
	rep, err := runYAML(t, `
sources: [{testgen: {n: 10}}]
stages:
  - test.dropmod: {mod: 2, annotate_only: true}
  - test.upper: {annotate_only: true}
sinks: [{testsink: {name: annotate}}]
`, pipelines.Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	rows := sinkRows(t, "annotate")
	if len(rows) != 10 || rep.DocumentsOut != 10 {
		t.Fatalf("got %d rows, want 10", len(rows))
	}
	for i, r := range rows {
		if r["text"] != fmt.Sprintf("doc %d", i) {
			t.Errorf("row %d text changed to %q", i, r["text"])
		}
		wantDrop := ""
		if i%2 == 0 {
			wantDrop = "divisible"
		}
		if r["dropmod_drop"] != wantDrop {
			t.Errorf("row %d dropmod_drop = %q, want %q", i, r["dropmod_drop"], wantDrop)
		}
		if r["upper_changes"] != "changed" {
			t.Errorf("row %d upper_changes = %q", i, r["upper_changes"])
		}
	}
	if rep.Stages[0].Dropped["divisible"] != 5 || rep.Stages[0].DocumentsOut != 10 {
		t.Errorf("stage report %+v", rep.Stages[0])
	}
}

func TestRunSequencerSeesInputOrder(t *testing.T) {
	// Texts repeat every 100 documents ("doc N" keys on the prefix "doc"
	// alone would drop all but one), so key on the whole first word: use
	// two sources with the same prefix: only the very first document
	// survives, and every dup_of names it, whatever the worker count.
	for _, w := range []int{1, 5} {
		name := fmt.Sprintf("seq-%d", w)
		rep, err := runYAML(t, `
sources:
  - testgen: {n: 2000, prefix: x}
  - testgen: {n: 10, prefix: y}
stages:
  - test.firstseen: {annotate_only: true}
sinks: [{testsink: {name: `+name+`}}]
`, pipelines.Options{Workers: w, BatchRows: 16})
		if err != nil {
			t.Fatal(err)
		}
		rows := sinkRows(t, name)
		for i, r := range rows {
			switch {
			case i == 0 || i == 2000:
				if r["firstseen_drop"] != "" {
					t.Fatalf("row %d dropped", i)
				}
			case i < 2000:
				if r["dup_of"] != "x:0" || r["firstseen_drop"] != "seen" {
					t.Fatalf("workers=%d row %d: %v", w, i, r)
				}
			default:
				if r["dup_of"] != "y:0" {
					t.Fatalf("workers=%d row %d: %v", w, i, r)
				}
			}
		}
		if rep.Stages[0].Dropped["seen"] != 2008 {
			t.Errorf("dropped %v", rep.Stages[0].Dropped)
		}
	}
}

func TestRunBarrierAndLimit(t *testing.T) {
	rep, err := runYAML(t, `
sources: [{testgen: {n: 100}}]
stages:
  - test.reverse: {}
sinks: [{testsink: {name: barrier}}]
`, pipelines.Options{Workers: 2, Limit: 25, BatchRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	rows := texts(sinkRows(t, "barrier"))
	if len(rows) != 25 || rows[0] != "doc 24" || rows[24] != "doc 0" {
		t.Fatalf("got %d rows: first %q last %q", len(rows), rows[0], rows[len(rows)-1])
	}
	if rep.DocumentsIn != 25 {
		t.Errorf("documents_in %d, want 25 (limit)", rep.DocumentsIn)
	}
}

func TestRunStagePanicRejectsTheRecordAndGoesOn(t *testing.T) {
	rep, err := runYAML(t, `
sources: [{testgen: {n: 500}}]
stages:
  - test.panic: {on: "doc 321"}
sinks: [{testsink: {name: panic}}]
`, pipelines.Options{Workers: 4, BatchRows: 7, RejectsPath: filepath.Join(t.TempDir(), "rejects.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	rows := texts(sinkRows(t, "panic"))
	if len(rows) != 499 || rep.Rejected != 1 || rep.DocumentsOut != 499 {
		t.Fatalf("%d rows out, %d rejected", len(rows), rep.Rejected)
	}
	for i, r := range rows {
		want := i
		if i >= 321 {
			want = i + 1
		}
		if r != fmt.Sprintf("doc %d", want) {
			t.Fatalf("row %d = %q: order lost around the panic", i, r)
		}
	}
	b, _ := os.ReadFile(rep.RejectsFile)
	if !strings.Contains(string(b), "test.panic panicked: boom on doc 321") || !strings.Contains(string(b), "id doc:321") {
		t.Errorf("rejects file: %s", b)
	}
	if rep.Stages[0].Dropped["panic"] != 1 {
		t.Errorf("stage report %+v", rep.Stages[0])
	}
}

func TestRunPanicsPastMaxRejectsFail(t *testing.T) {
	_, err := runYAML(t, `
sources: [{testgen: {n: 50, prefix: same}}]
stages:
  - test.panic: {on: "same 3"}
  - test.panic: {on: "same 4"}
  - test.panic: {on: "same 5"}
sinks: [{testsink: {name: maxrej}}]
`, pipelines.Options{Workers: 2, MaxRejects: 2, RejectsPath: filepath.Join(t.TempDir(), "r.jsonl")})
	if err == nil || !strings.Contains(err.Error(), "max_rejects=2") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunSourceErrorAbortsSinks(t *testing.T) {
	_, err := runYAML(t, `
sources: [{testgen: {n: 500, fail_at: 250}}]
sinks: [{testsink: {name: srcerr}}]
`, pipelines.Options{Workers: 2, BatchRows: 10})
	if err == nil || !strings.Contains(err.Error(), "broken at 250") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunCheckpointBarriersReachSinks(t *testing.T) {
	var cps []pipelines.Checkpoint
	_, err := runYAML(t, `
sources: [{testgen: {n: 1000}}]
stages: [{test.upper: {}}]
sinks: [{testsink: {name: cp}}]
`, pipelines.Options{Workers: 3, BatchRows: 50, CheckpointBytes: 2000,
		OnCheckpoint: func(ctx context.Context, cp pipelines.Checkpoint) error { cps = append(cps, cp); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	collectedMu.Lock()
	commits := collected["cp"].commits
	collectedMu.Unlock()
	if len(cps) < 3 || commits != len(cps) {
		t.Fatalf("%d checkpoints, %d commits", len(cps), commits)
	}
	for i := 1; i < len(cps); i++ {
		if cps[i].Documents <= cps[i-1].Documents || cps[i].ID != cps[i-1].ID+1 {
			t.Fatalf("checkpoints out of order: %+v", cps)
		}
	}
}

func TestRunCancelLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("sources: [{testgen: {n: 100000000}}]\nstages: [{test.upper: {}}]\nsinks: [{testsink: {name: cancel}}]\n"), 0o644)
	p, err := pipelines.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = pipelines.Run(ctx, p, pipelines.Options{Workers: 4, Alloc: mem, TempDir: dir})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left after cancel (before: %d)", n, before)
	}
	mem.AssertSize(t, 0)
	if entries, _ := filepath.Glob(filepath.Join(dir, "curate-run-*")); len(entries) != 0 {
		t.Errorf("spill folder left behind: %v", entries)
	}
}
