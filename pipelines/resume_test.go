package pipelines_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

const resumeYAML = `
sources:
  - testgen: {n: 3000, prefix: a}
  - testgen: {n: 3000, prefix: a}
  - testgen: {n: 500, prefix: b}
stages:
  - test.firstseen: {annotate_only: true}
  - test.dropmod: {mod: 7}
sinks: [{testsink: {name: NAME}}]
`

// resumeYAML with a barrier (test.reverse keeps no snapshot: the runner
// logs what it absorbs) between the streaming stages.
const resumeBarrierYAML = `
sources:
  - testgen: {n: 3000, prefix: a}
  - testgen: {n: 500, prefix: b}
stages:
  - test.dropmod: {mod: 7}
  - test.reverse: {}
  - test.upper: {}
sinks: [{testsink: {name: NAME}}]
`

var pipelineYAML = resumeYAML

func loadIn(t *testing.T, dir, name string) *pipelines.Pipeline {
	t.Helper()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(strings.ReplaceAll(pipelineYAML, "NAME", name)), 0o644)
	p, err := pipelines.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Every run of this test writes the same pipeline bytes, whatever the sink name.
	p.Source = []byte(pipelineYAML)
	return p
}

func TestStopAndResumeThroughABarrier(t *testing.T) {
	pipelineYAML = resumeBarrierYAML
	defer func() { pipelineYAML = resumeYAML }()
	TestStopAndResumeEqualsUninterrupted(t)
}

// TestStopAndResumeEqualsUninterrupted stops a run gracefully at several
// points, resumes it (several times over), and compares the output and the
// report with an uninterrupted run's.
func TestStopAndResumeEqualsUninterrupted(t *testing.T) {
	dir := t.TempDir()
	opts := func(stop chan struct{}, resume bool, state string) pipelines.Options {
		return pipelines.Options{Workers: 3, BatchRows: 40, CheckpointBytes: 3000, StateDir: state, Resume: resume, Stop: stop, TempDir: dir}
	}
	clean, err := pipelines.Run(context.Background(), loadIn(t, dir, "clean"), opts(nil, false, filepath.Join(dir, "clean.state")))
	if err != nil {
		t.Fatal(err)
	}
	want := sinkRows(t, "clean")

	for _, stopAfter := range []int{1, 3, 5} {
		t.Run(fmt.Sprint("stop-after-", stopAfter), func(t *testing.T) {
			state := filepath.Join(dir, fmt.Sprint("state-", stopAfter))
			name := fmt.Sprint("resumed-", stopAfter)
			resume := false
			var rep *pipelines.Report
			for attempt := 0; ; attempt++ {
				if attempt > 50 {
					t.Fatal("never finished")
				}
				stop := make(chan struct{})
				seen := 0
				o := opts(stop, resume, state)
				o.OnCheckpoint = func(ctx context.Context, cp pipelines.Checkpoint) error {
					seen++
					// A run resumed after its last input checkpoint has only
					// the final one left: stopping there every time would
					// never let it finish.
					if seen == stopAfter && !cp.Final {
						close(stop)
					}
					return nil
				}
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				o.Alloc = mem
				rep, err = pipelines.Run(context.Background(), loadIn(t, dir, name), o)
				mem.AssertSize(t, 0)
				if errors.Is(err, pipelines.ErrStopped) {
					resume = true
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			if !resume {
				t.Fatal("the run was never stopped")
			}
			got := sinkRows(t, name)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("resumed output differs: %d rows vs %d", len(got), len(want))
			}
			if rep.DocumentsOut != clean.DocumentsOut || !reflect.DeepEqual(rep.Stages[0].Dropped, clean.Stages[0].Dropped) ||
				rep.Stages[1].DocumentsIn != clean.Stages[1].DocumentsIn {
				t.Errorf("report differs: out %d/%d, %v/%v", rep.DocumentsOut, clean.DocumentsOut, rep.Stages[0].Dropped, clean.Stages[0].Dropped)
			}
			if _, err := os.Stat(filepath.Join(state, pipelines.JournalFile)); !os.IsNotExist(err) {
				t.Errorf("journal left after the run finished: %v", err)
			}
		})
	}
}

func TestResumeRefusesChangedPipeline(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	stop := make(chan struct{})
	p := loadIn(t, dir, "changed")
	_, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, BatchRows: 40, CheckpointBytes: 3000, StateDir: state, Stop: stop,
		OnCheckpoint: func(ctx context.Context, cp pipelines.Checkpoint) error {
			select {
			case <-stop:
			default:
				close(stop)
			}
			return nil
		}})
	if !errors.Is(err, pipelines.ErrStopped) {
		t.Fatalf("err = %v", err)
	}
	p.Source = append([]byte("# edited\n"), p.Source...)
	_, err = pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, StateDir: state, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "changed since the interrupted run") {
		t.Fatalf("err = %v", err)
	}
	// --force-restart starts over and finishes.
	_, err = pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, StateDir: state, Resume: true, ForceRestart: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, StateDir: state, Resume: true})
	if !errors.Is(err, pipelines.ErrNoJournal) {
		t.Fatalf("resume after a finished run: %v", err)
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"version":1,"pipeline_sha256":"` + strings.Repeat("a", 64) + `","checkpoint":3,"documents":10,"bytes":99,"final":false,"stages":{"0":"cp000003-stage00.snap"},"sinks":{},"documents_out":4,"stage_counts":{},"sink_counts":{}}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := pipelines.ParseJournal(b)
		if err != nil {
			return
		}
		for _, n := range j.Stages {
			if strings.Contains(n, "/") || n == "" {
				t.Fatalf("accepted snapshot name %q", n)
			}
		}
		if j.Checkpoint < 1 || j.Documents < 0 {
			t.Fatal("accepted a bad position")
		}
	})
}
