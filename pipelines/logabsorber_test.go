package pipelines_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

func init() {
	pipelines.RegisterBarrier(pipelines.Spec{Name: "test.reverselog", Doc: "test.reverse that reads its input back from the barrier log"},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Barrier, error) { return &reverseLog{}, nil })
}

var framesLogged atomic.Int64

// reverseLog is test.reverse keeping only where each batch lies in the
// barrier log (pipelines.LogAbsorber), and batches it is handed without a
// log.
type reverseLog struct {
	reverse
	at []*pipelines.LogFrame // nil: the batch is in reverse.recs
}

func (r *reverseLog) Absorb(ctx context.Context, rec arrow.Record) error {
	r.at = append(r.at, nil)
	return r.reverse.Absorb(ctx, rec)
}

func (r *reverseLog) AbsorbLogged(ctx context.Context, rec arrow.Record, at pipelines.LogFrame) error {
	framesLogged.Add(1)
	r.at = append(r.at, &at)
	return nil
}

func (r *reverseLog) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	held := r.reverse.recs
	r.reverse.recs = nil
	defer func() {
		for _, rec := range held {
			rec.Release()
		}
	}()
	for _, at := range r.at {
		if at == nil {
			r.reverse.recs = append(r.reverse.recs, held[0])
			held[0].Retain()
			held = held[1:]
			continue
		}
		f, err := storage.Open(ctx, at.Path)
		if err != nil {
			return err
		}
		rd, err := ipc.NewReader(io.NewSectionReader(f, at.Offset, at.Length))
		if err != nil {
			f.Close()
			return fmt.Errorf("frame %s at %d: %w", at.Path, at.Offset, err)
		}
		if !rd.Next() {
			f.Close()
			return fmt.Errorf("frame %s at %d: no batch: %v", at.Path, at.Offset, rd.Err())
		}
		rec := pipelines.UnpackTokenLists(memory.DefaultAllocator, rd.Record())
		rd.Release()
		f.Close()
		r.reverse.recs = append(r.reverse.recs, rec)
	}
	return r.reverse.Emit(ctx, emit)
}

// TestStopAndResumeThroughALogAbsorber: a barrier that reads its input back
// from the barrier log gets frames that hold exactly its batches, in a run
// stopped and resumed (replayed batches come with their frames too) as in
// an uninterrupted one, and the output is test.reverse's.
func TestStopAndResumeThroughALogAbsorber(t *testing.T) {
	pipelineYAML = strings.Replace(resumeBarrierYAML, "test.reverse", "test.reverselog", 1)
	defer func() { pipelineYAML = resumeYAML }()
	framesLogged.Store(0)
	TestStopAndResumeEqualsUninterrupted(t)
	if framesLogged.Load() == 0 {
		t.Fatal("AbsorbLogged was never called")
	}
	pipelineYAML = resumeBarrierYAML
	dir := t.TempDir()
	_, err := pipelines.Run(context.Background(), loadIn(t, dir, "reverse"),
		pipelines.Options{Workers: 3, BatchRows: 40, CheckpointBytes: 3000, StateDir: filepath.Join(dir, "state"), TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sinkRows(t, "clean"), sinkRows(t, "reverse"); !reflect.DeepEqual(got, want) {
		t.Fatalf("test.reverselog output differs from test.reverse's: %d rows vs %d", len(got), len(want))
	}
}
