package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/curatehq/curate/pipelines/storage"
)

// Options tune a run. The zero value is usable: one worker per core, no
// memory limit, no progress output.
type Options struct {
	Workers int   // workers per streaming stage; <= 0 means one per core
	Memory  int64 // budget in bytes for buffers, indexes and spills; <= 0 is unlimited
	Limit   int64 // stop after this many input documents; <= 0 reads everything
	// Alloc allocates Arrow memory (tests pass a checked allocator).
	Alloc memory.Allocator
	// Progress, when set, receives a progress line every ProgressEvery.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Log receives warnings from components.
	Log *slog.Logger
	// RejectsPath overrides where rejected records are written.
	RejectsPath string
	// MaxRejects fails the run past this many rejected records (0: no limit).
	MaxRejects int64
	// CheckpointBytes places a checkpoint barrier after every this many bytes
	// of input text (0: DefaultCheckpointBytes). Barriers sit at positions
	// fixed by the input, so they never change the output.
	CheckpointBytes int64
	// TempDir is where spill folders are made ("" = the system's).
	TempDir string
	// OnCheckpoint, if set, is called after every sink committed at a barrier.
	OnCheckpoint func(ctx context.Context, cp Checkpoint) error
	// BatchRows and BatchBytes bound the batches sources build.
	BatchRows  int
	BatchBytes int64
	// StateDir holds the run journal ("" = DefaultStateDir); NoJournal
	// turns journaling off.
	StateDir  string
	NoJournal bool
	// Resume continues from the journal in StateDir; ForceRestart makes a
	// resumed run whose pipeline or input changed start over instead of
	// failing.
	Resume, ForceRestart bool
	// Stop, when closed, stops the run gracefully: a checkpoint barrier is
	// placed after the input read so far, saved, and Run returns ErrStopped.
	Stop <-chan struct{}
}

// DefaultCheckpointBytes is the input volume between checkpoint barriers.
const DefaultCheckpointBytes = 64 << 20

// Checkpoint describes a checkpoint barrier as it reaches the sinks.
type Checkpoint struct {
	ID        int64 // 1, 2, ... (from the input position; gaps are possible)
	Documents int64 // input documents read before the barrier
	Bytes     int64 // input text bytes read before the barrier
	Final     bool  // the barrier after the last input document
	Stop      bool  // a graceful stop: the run ends after this barrier

	snaps       map[int]string   // stage index -> snapshot file
	logs        map[int][]string // barrier index -> its log segments
	waits       []func() error   // log segments still being committed
	counts      map[int]journalCounts
	unresumable string // why no journal can be written for it
}

// item is what flows through the pipeline's channels: a batch, or a
// checkpoint barrier that travels in order with the data.
type item struct {
	rec     arrow.Record
	cp      *Checkpoint
	tally   *tally  // the counts of the stage that just made rec (or dropped it)
	pending *Result // a sequenced Result still to be applied to rec
}

// Run runs a pipeline to completion. It returns the report even when the run
// fails (counts so far), with the error. A cancelled ctx aborts the sinks
// (no half-written output) and returns an error wrapping context.Canceled.
func Run(ctx context.Context, p *Pipeline, opts Options) (*Report, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Alloc == nil {
		opts.Alloc = memory.NewGoAllocator()
	}
	if opts.CheckpointBytes <= 0 {
		opts.CheckpointBytes = DefaultCheckpointBytes
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "curate-run-")
	if err != nil {
		return nil, fmt.Errorf("making a spill folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	r := &run{p: p, opts: opts, budget: NewBudget(opts.Memory), rejects: &Rejects{Max: opts.MaxRejects},
		counters: &Counters{}, tmp: tmp}
	rep := &Report{Pipeline: p.File, Workers: opts.Workers, MemoryLimit: opts.Memory}
	err = r.build()
	if err == nil {
		err = r.execute(ctx)
	}
	r.fill(rep)
	rep.Seconds = time.Since(start).Seconds()
	if werr := r.writeRejects(context.WithoutCancel(ctx), rep); werr != nil && err == nil {
		err = werr
	}
	return rep, err
}

type run struct {
	p        *Pipeline
	opts     Options
	budget   *Budget
	rejects  *Rejects
	counters *Counters
	tmp      string

	sources []Source
	stages  []*stageRun
	sinks   []*sinkRun

	docsIn  atomic.Int64
	docsOut atomic.Int64

	journal     *journaler // nil when journaling is off
	drains      sync.WaitGroup
	skipDocs    int64 // input documents a resumed run skips
	stopped     atomic.Bool
	sourcesDone atomic.Bool
}

type stageRun struct {
	idx          int
	log          *barrierLog // a barrier without its own snapshots, when journaling
	c            Component
	stage        Stage
	seq          Sequencer
	barrier      Barrier
	annotateOnly bool
	in, out      atomic.Int64
	busy         atomic.Int64 // nanoseconds
	mu           sync.Mutex
	dropped      map[string]int64
	stats        map[string]int64
}

type sinkRun struct {
	c    Component
	sink Sink
	docs atomic.Int64
	busy atomic.Int64
}

func (r *run) env(c Component) *Env {
	return &Env{Name: c.Name, Index: c.Index, Alloc: r.opts.Alloc, Dir: r.p.Dir, Workers: r.opts.Workers,
		Memory: r.budget, Rejects: r.rejects, TempDir: r.tmp, Log: r.opts.Log,
		BatchRows: r.opts.BatchRows, BatchBytes: r.opts.BatchBytes, Counters: r.counters}
}

func where(c Component) string {
	return fmt.Sprintf("%s %s (line %d)", c.Kind, c.Name, c.Line)
}

// build constructs every component; on failure it closes what it built.
func (r *run) build() (err error) {
	defer func() {
		if err != nil {
			r.closeAll()
		}
	}()
	for _, c := range r.p.Sources {
		e, _ := lookup(KindSource, c.Name)
		s, err := e.source(c.Params, r.env(c))
		if err != nil {
			return fmt.Errorf("%s: %w", where(c), err)
		}
		r.sources = append(r.sources, s)
	}
	for _, c := range r.p.Stages {
		e, _ := lookup(KindStage, c.Name)
		sr := &stageRun{idx: len(r.stages), c: c, dropped: map[string]int64{}, stats: map[string]int64{}}
		if e.spec.Filter {
			sr.annotateOnly = c.Params.Bool("annotate_only")
		}
		if e.barrier != nil {
			b, err := e.barrier(c.Params, r.env(c))
			if err != nil {
				return fmt.Errorf("%s: %w", where(c), err)
			}
			sr.barrier = b
		} else {
			s, err := e.stage(c.Params, r.env(c))
			if err != nil {
				return fmt.Errorf("%s: %w", where(c), err)
			}
			sr.stage = s
			sr.seq, _ = s.(Sequencer)
		}
		r.stages = append(r.stages, sr)
	}
	for _, c := range r.p.Sinks {
		e, _ := lookup(KindSink, c.Name)
		s, err := e.sink(c.Params, r.env(c))
		if err != nil {
			return fmt.Errorf("%s: %w", where(c), err)
		}
		r.sinks = append(r.sinks, &sinkRun{c: c, sink: s})
		if _, ok := c.Params.spec.Field("path"); ok && c.Params.String("path") != "" {
			// A killed run leaves uncommitted temporary files behind.
			if err := storage.RemoveStaleTemp((&Env{Dir: r.p.Dir}).Path(c.Params.String("path"))); err != nil {
				return fmt.Errorf("%s: removing stale temporary files: %w", where(c), err)
			}
		}
	}
	return r.openJournal(context.Background())
}

// openJournal sets up the journal and, for a resumed run, restores every
// component from it.
func (r *run) openJournal(ctx context.Context) error {
	if r.opts.NoJournal && !r.opts.Resume {
		return nil
	}
	dir := r.opts.StateDir
	if dir == "" {
		dir = DefaultStateDir(r.p)
	} else {
		dir = (&Env{Dir: r.p.Dir}).Path(dir)
	}
	if err := storage.RemoveStaleTemp(dir); err != nil {
		return fmt.Errorf("state folder %s: removing stale temporary files: %w", dir, err)
	}
	r.journal = &journaler{dir: dir, pipeline: pipelineHash(r.p), inputs: inputsHash(r.sources)}
	for _, sr := range r.stages {
		if _, ok := sr.barrier.(Checkpointer); sr.barrier != nil && !ok {
			sr.log = &barrierLog{dir: dir, idx: sr.idx}
		}
	}
	if !r.opts.Resume {
		return r.journal.clear(ctx)
	}
	j, err := loadJournal(ctx, dir)
	if err != nil {
		return fmt.Errorf("resume: %w (nothing to resume: the last run finished or never reached a checkpoint; run without --resume)", err)
	}
	switch {
	case j.Pipeline != r.journal.pipeline:
		if r.opts.ForceRestart {
			return r.journal.clear(ctx)
		}
		return fmt.Errorf("resume: %s changed since the interrupted run; its output would not match (use --force-restart to start over)", r.p.File)
	case j.Inputs != r.journal.inputs:
		if r.opts.ForceRestart {
			return r.journal.clear(ctx)
		}
		return fmt.Errorf("resume: the input files changed since the interrupted run (use --force-restart to start over)")
	}
	for _, i := range sortedKeys(j.Stages) {
		if i >= len(r.stages) {
			return fmt.Errorf("resume: journal names stage %d of %d", i, len(r.stages))
		}
		sr := r.stages[i]
		var comp any = sr.stage
		if sr.barrier != nil {
			comp = sr.barrier
		}
		c, ok := comp.(Checkpointer)
		if !ok {
			return fmt.Errorf("resume: %s keeps no checkpoint", where(sr.c))
		}
		if err := restoreSnapshot(ctx, storage.Join(dir, j.Stages[i]), c); err != nil {
			return fmt.Errorf("resume: %s: %w", where(sr.c), err)
		}
	}
	for _, i := range sortedKeys(j.Sinks) {
		if i >= len(r.sinks) {
			return fmt.Errorf("resume: journal names sink %d of %d", i, len(r.sinks))
		}
		c, ok := r.sinks[i].sink.(Checkpointer)
		if !ok {
			return fmt.Errorf("resume: %s keeps no checkpoint", where(r.sinks[i].c))
		}
		if err := restoreSnapshot(ctx, storage.Join(dir, j.Sinks[i]), c); err != nil {
			return fmt.Errorf("resume: %s: %w", where(r.sinks[i].c), err)
		}
	}
	for _, i := range sortedKeys(j.Logs) {
		if i >= len(r.stages) || r.stages[i].log == nil {
			return fmt.Errorf("resume: journal has a log for stage %d, which keeps none", i)
		}
		sr := r.stages[i]
		sr.log.segs = append([]string(nil), j.Logs[i]...)
		sr.log.seq = len(j.Logs[i])
		err := replayBarrierLog(ctx, dir, j.Logs[i], r.opts.Alloc, func(rec arrow.Record, at LogFrame) error {
			return absorbLogged(ctx, sr.barrier, rec, at) // borrowed: the log reader releases it
		})
		if err != nil {
			return fmt.Errorf("resume: %s: %w", where(sr.c), err)
		}
	}
	for i, sc := range j.StageCounts {
		if i < len(r.stages) {
			s := r.stages[i]
			s.in.Store(sc.In)
			s.out.Store(sc.Out)
			for k, v := range sc.Dropped {
				s.dropped[k] = v
			}
			for k, v := range sc.Stats {
				s.stats[k] = v
			}
		}
	}
	for i, n := range j.SinkCounts {
		if i < len(r.sinks) {
			r.sinks[i].docs.Store(n)
		}
	}
	r.docsOut.Store(j.DocumentsOut)
	r.skipDocs = j.Documents
	r.journal.last = j
	r.opts.Log.Info("resuming", "checkpoint", j.Checkpoint, "documents", j.Documents)
	return nil
}

// clear removes the journal and snapshots of an earlier run.
func (j *journaler) clear(ctx context.Context) error {
	infos, err := storage.List(ctx, j.dir)
	if err != nil {
		if storage.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("state folder %s: %w", j.dir, err)
	}
	// The journal goes first, so a crash mid-way leaves no journal naming
	// removed snapshots.
	storage.Remove(ctx, storage.Join(j.dir, JournalFile))
	for _, in := range infos {
		if strings.HasSuffix(in.Path, ".snap") {
			storage.Remove(ctx, in.Path)
		}
	}
	return nil
}

// snapshotStage saves a stage's state at a checkpoint barrier.
func (r *run) snapshotStage(ctx context.Context, idx int, sr *stageRun, comp any, cp *Checkpoint) error {
	if r.journal == nil || cp.unresumable != "" {
		return nil
	}
	c, ok := comp.(Checkpointer)
	if !ok {
		if sr.barrier != nil { // a barrier holds documents: without a snapshot they are lost
			cp.unresumable = where(sr.c) + " keeps no checkpoint"
		}
		return nil
	}
	name := snapName("stage", idx, cp.ID)
	if err := SaveSnapshot(ctx, storage.Join(r.journal.dir, name), c); err != nil {
		return fmt.Errorf("%s: checkpoint: %w", where(sr.c), err)
	}
	cp.snaps[idx] = name
	return nil
}

// checkpoint commits the sinks and saves the journal at a barrier.
func (r *run) checkpoint(ctx context.Context, cp *Checkpoint) error {
	if err := waitAll(cp.waits); err != nil {
		return fmt.Errorf("checkpoint log: %w", err)
	}
	for _, s := range r.sinks {
		if err := s.sink.Commit(ctx); err != nil {
			return fmt.Errorf("%s: commit: %w", where(s.c), err)
		}
	}
	if r.journal != nil && cp.unresumable == "" {
		j := &Journal{Version: 1, Pipeline: r.journal.pipeline, Inputs: r.journal.inputs, Checkpoint: cp.ID,
			Documents: cp.Documents, Bytes: cp.Bytes, Final: cp.Final, Stages: cp.snaps, Sinks: map[int]string{}, Logs: cp.logs,
			DocumentsOut: r.docsOut.Load(), StageCounts: map[int]journalCounts{}, SinkCounts: map[int]int64{}}
		ok := true
		for i, s := range r.sinks {
			c, isCP := s.sink.(Checkpointer)
			if !isCP {
				r.opts.Log.Debug("no journal: sink keeps no checkpoint", "sink", s.c.Name)
				ok = false
				break
			}
			name := snapName("sink", i, cp.ID)
			if err := SaveSnapshot(ctx, storage.Join(r.journal.dir, name), c); err != nil {
				return fmt.Errorf("%s: checkpoint: %w", where(s.c), err)
			}
			j.Sinks[i] = name
			j.SinkCounts[i] = s.docs.Load()
		}
		if ok {
			j.StageCounts = cp.counts
			b, _ := json.MarshalIndent(j, "", "  ")
			if err := storage.WriteFile(ctx, storage.Join(r.journal.dir, JournalFile), b); err != nil {
				return fmt.Errorf("writing the run journal: %w", err)
			}
			// The previous checkpoint's snapshots are no longer named (a
			// resumed run may reuse a name: keep what the new journal names).
			if prev := r.journal.last; prev != nil {
				named := map[string]bool{}
				for _, names := range []map[int]string{j.Stages, j.Sinks} {
					for _, n := range names {
						named[n] = true
					}
				}
				for _, names := range []map[int]string{prev.Stages, prev.Sinks} {
					for _, n := range names {
						if !named[n] {
							storage.Remove(ctx, storage.Join(r.journal.dir, n))
						}
					}
				}
			}
			r.journal.last = j
		}
	}
	if r.opts.OnCheckpoint != nil {
		return r.opts.OnCheckpoint(ctx, *cp)
	}
	return nil
}

func (r *run) closeAll() {
	for _, s := range r.sources {
		s.Close()
	}
	r.sources = nil
	for _, s := range r.stages {
		closeIfCloser(s.stage, s.barrier)
	}
	for _, s := range r.sinks {
		s.sink.Abort()
	}
}

// chanDepth bounds every channel: a few batches in flight per hop.
const chanDepth = 2

func (r *run) execute(parent context.Context) (err error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	if r.opts.Stop != nil {
		// A stop after the input is all read (barrier stages emitting, sinks
		// closing) cannot wait for another checkpoint: the run is cancelled
		// and resumes from the last one saved.
		go func() {
			select {
			case <-r.opts.Stop:
				if r.sourcesDone.Load() {
					cancel(ErrStopped)
				}
			case <-ctx.Done():
			}
		}()
	}
	defer func() {
		if err != nil && errors.Is(context.Cause(ctx), ErrStopped) && parent.Err() == nil {
			err = ErrStopped
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	ch := make(chan item, chanDepth)
	g.Go(func() error { return r.readSources(gctx, ch) })
	var in <-chan item = ch
	for _, s := range r.stages {
		out := make(chan item, chanDepth)
		s, src := s, in
		if s.barrier != nil {
			g.Go(func() error { return r.runBarrier(gctx, s, src, out) })
		} else {
			g.Go(func() error { return r.runStage(gctx, s, src, out) })
		}
		in = out
	}
	final := in
	g.Go(func() error { return r.writeSinks(gctx, final) })

	stopProgress := r.progress(gctx)
	err = g.Wait()
	r.drains.Wait()
	stopProgress()
	// Drain anything left in flight so every record is released.
	if err != nil {
		for _, s := range r.sinks {
			if aerr := s.sink.Abort(); aerr != nil {
				r.opts.Log.Warn("abort failed", "sink", s.c.Name, "err", aerr)
			}
		}
		for _, s := range r.stages {
			closeIfCloser(s.stage, s.barrier)
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err
	}
	for _, s := range r.stages {
		closeIfCloser(s.stage, s.barrier)
	}
	return nil
}

func closeIfCloser(vals ...any) {
	for _, v := range vals {
		if c, ok := v.(io.Closer); ok && v != nil {
			c.Close()
		}
	}
}

func send(ctx context.Context, ch chan<- item, it item) error {
	select {
	case ch <- it:
		return nil
	case <-ctx.Done():
		it.release()
		return ctx.Err()
	}
}

// drain releases, in the background, whatever is left in a channel after a
// failure; execute waits for every drain before it returns.
func (r *run) drain(ch <-chan item) {
	r.drains.Add(1)
	go func() {
		defer r.drains.Done()
		for it := range ch {
			it.release()
		}
	}()
}

// release frees what an item holds: its record and an unapplied Result.
func (it *item) release() {
	if it.rec != nil {
		it.rec.Release()
		it.rec = nil
	}
	if res := it.pending; res != nil {
		if res.Text != nil {
			res.Text.Release()
		}
		for _, c := range res.Columns {
			if c.Array != nil {
				c.Array.Release()
			}
		}
		it.pending = nil
	}
}

// panicError is a panic inside a component, turned into an error.
type panicError struct {
	who   string
	value any
	stack string
}

func (e *panicError) Error() string {
	return fmt.Sprintf("%s: panic: %v\n%s", e.who, e.value, e.stack)
}

// panicErr turns a panic inside a component into an error naming it.
func panicErr(who string, err *error) {
	if v := recover(); v != nil {
		*err = &panicError{who: who, value: v, stack: firstFrames(debug.Stack())}
	}
}

func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	return strings.Join(lines, "\n")
}

func (r *run) readSources(ctx context.Context, out chan<- item) (err error) {
	defer close(out)
	defer func() {
		for _, s := range r.sources {
			if cerr := s.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
		r.sources = nil
	}()
	// Checkpoint barriers go where the input's text crosses a multiple of
	// CheckpointBytes: positions fixed by the input alone, so a resumed run
	// (which re-reads and skips what the journal counts) places them where
	// the interrupted run did.
	var pos, cpID int64
	skip := r.skipDocs
	barrier := func(cp *Checkpoint) error {
		cp.Documents, cp.Bytes = r.docsIn.Load(), pos
		cp.snaps = map[int]string{}
		cp.logs = map[int][]string{}
		cp.counts = map[int]journalCounts{}
		return send(ctx, out, item{cp: cp})
	}
	for i, src := range r.sources {
		c := r.p.Sources[i]
		err := func() (err error) {
			defer panicErr(where(c), &err)
			for {
				if r.opts.Stop != nil {
					select {
					case <-r.opts.Stop:
						r.stopped.Store(true)
						cpID++
						if err := barrier(&Checkpoint{ID: cpID, Stop: true}); err != nil {
							return err
						}
						return errStop
					default:
					}
				}
				rec, err := src.Next(ctx)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return fmt.Errorf("%s: %w", where(c), err)
				}
				if rec.NumRows() == 0 {
					rec.Release()
					continue
				}
				if lim := r.opts.Limit; lim > 0 {
					left := lim - r.docsIn.Load()
					if left <= 0 {
						rec.Release()
						return errLimit
					}
					if rec.NumRows() > left {
						cut := rec.NewSlice(0, left)
						rec.Release()
						rec = cut
					}
				}
				n := rec.NumRows()
				r.docsIn.Add(n)
				pos += textBytes(rec)
				crossed := pos / r.opts.CheckpointBytes
				if skip > 0 { // resuming: this input was processed before the interruption
					if n <= skip {
						skip -= n
						rec.Release()
						cpID = crossed
						continue
					}
					rest := rec.NewSlice(skip, n)
					rec.Release()
					rec, skip = rest, 0
				}
				if err := send(ctx, out, item{rec: rec}); err != nil {
					return err
				}
				if crossed > cpID {
					cpID = crossed
					if err := barrier(&Checkpoint{ID: cpID}); err != nil {
						return err
					}
				}
			}
		}()
		if err == errLimit {
			break
		}
		if err == errStop {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if skip > 0 {
		return fmt.Errorf("resume: the input has %d fewer documents than the journal counts; it changed since the interrupted run (use --force-restart)", skip)
	}
	// A last barrier after the final document: barrier stages snapshot all
	// they absorbed, so a run killed while they emit resumes from there.
	cpID++
	r.sourcesDone.Store(true)
	return barrier(&Checkpoint{ID: cpID, Final: true})
}

var errStop = errors.New("stop requested")

var errLimit = errors.New("limit reached")

// runStage runs a streaming stage on opts.Workers goroutines and emits
// results in input order: each batch gets a slot in an ordered queue, the
// workers fill slots in any order, and the collector empties them in order.
func (r *run) runStage(ctx context.Context, s *stageRun, in <-chan item, final chan<- item) (err error) {
	if s.seq != nil {
		// Sequence is serial; building the output (Apply: filtering rows,
		// adding columns) is not, so it runs on a second ordered pool.
		mid := make(chan item, r.opts.Workers*2)
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return r.processOrdered(gctx, s, in, mid) })
		g.Go(func() error { return r.applyOrdered(gctx, s, mid, final) })
		return g.Wait()
	}
	return r.processOrdered(ctx, s, in, final)
}

// slot is one item of an ordered pool: a worker fills it, the collector
// takes slots in input order.
type slot struct {
	it   item
	res  *Result
	err  error
	done chan struct{}
}

// ordered runs work on the items of in on opts.Workers goroutines and calls
// collect for each item in input order: each item gets a slot in an ordered
// queue, the workers fill slots in any order, and the collector empties
// them in order. Items for which skip is true (checkpoints) bypass the
// workers. It closes out when done and releases whatever a failure left.
func (r *run) ordered(ctx context.Context, who string, in <-chan item, out chan<- item,
	skip func(item) bool, work func(context.Context, *slot), collect func(context.Context, *slot) error) (err error) {
	defer close(out)
	defer func() {
		if err != nil {
			r.drain(in)
		}
	}()
	workers := r.opts.Workers
	jobs := make(chan *slot, workers)
	order := make(chan *slot, workers*2)
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for sl := range jobs {
				func() {
					defer panicErr(who, &sl.err)
					work(gctx, sl)
				}()
				close(sl.done)
			}
			return nil
		})
	}
	g.Go(func() error { // dispatcher: one slot per item, queued in order
		defer close(order)
		defer close(jobs)
		for it := range in {
			sl := &slot{it: it, done: make(chan struct{})}
			bypass := skip(it)
			if bypass {
				close(sl.done)
			}
			select {
			case order <- sl:
			case <-gctx.Done():
				it.release()
				return gctx.Err()
			}
			if !bypass {
				select {
				case jobs <- sl:
				case <-gctx.Done():
					sl.err = gctx.Err()
					close(sl.done)
					return gctx.Err()
				}
			}
		}
		return nil
	})
	g.Go(func() error { // collector: in order
		for sl := range order {
			select {
			case <-sl.done:
			case <-gctx.Done():
				<-sl.done
			}
			if err := collect(gctx, sl); err != nil {
				return err
			}
		}
		return nil
	})
	err = g.Wait()
	for sl := range order { // after a failure: release what never reached the collector
		<-sl.done
		sl.it.release()
	}
	return err
}

// processOrdered runs Process (and, for a sequencer, Sequence in input
// order) on the stage's workers and emits the results in input order.
func (r *run) processOrdered(ctx context.Context, s *stageRun, in <-chan item, out chan<- item) error {
	work := func(ctx context.Context, sl *slot) {
		t0 := time.Now()
		sl.res, sl.err = s.stage.Process(ctx, sl.it.rec)
		if sl.err == nil && s.seq == nil {
			// Without a sequencer the output can be built here, in parallel.
			sl.err = r.finish(ctx, s, sl.it.rec, sl.res, &sl.it)
		}
		s.busy.Add(int64(time.Since(t0)))
	}
	collect := func(ctx context.Context, sl *slot) error {
		emit := func(it item) error { return send(ctx, out, it) }
		var pe *panicError
		if sl.err != nil && errors.As(sl.err, &pe) && sl.it.rec != nil && ctx.Err() == nil {
			// A panic on a batch: find the record(s) it came from.
			return r.isolate(ctx, s, sl.it.rec, emit)
		}
		if ctx.Err() != nil || sl.err != nil {
			sl.it.release()
			if sl.err != nil {
				return fmt.Errorf("%s: %w", where(s.c), sl.err)
			}
			return nil
		}
		if sl.it.cp != nil {
			if s.seq == nil { // a sequencer's counts are taken after its apply pool
				sl.it.cp.counts[s.idx] = s.counts()
			}
			if err := r.snapshotStage(ctx, s.idx, s, s.stage, sl.it.cp); err != nil {
				return err
			}
			return send(ctx, out, sl.it)
		}
		if s.seq != nil {
			err := func() (err error) {
				defer panicErr(where(s.c), &err)
				t0 := time.Now()
				defer func() { s.busy.Add(int64(time.Since(t0))) }()
				return s.seq.Sequence(ctx, sl.it.rec, sl.res)
			}()
			if err != nil && errors.As(err, &pe) && sl.it.rec != nil {
				return r.isolate(ctx, s, sl.it.rec, emit)
			}
			if err != nil {
				sl.it.rec.Release()
				return fmt.Errorf("%s: %w", where(s.c), err)
			}
			sl.it.pending = sl.res
			if sl.it.pending == nil {
				sl.it.pending = &Result{}
			}
			return send(ctx, out, sl.it)
		}
		s.add(sl.it.tally)
		sl.it.tally = nil
		if sl.it.rec == nil { // every row dropped
			return nil
		}
		return send(ctx, out, sl.it)
	}
	return r.ordered(ctx, where(s.c), in, out, func(it item) bool { return it.cp != nil }, work, collect)
}

// isolate re-runs a batch on which a stage panicked one record at a time:
// the records it panics on go to the rejects file with the panic message
// (the run fails only past --max-rejects), the others go on in order. It
// consumes rec.
func (r *run) isolate(ctx context.Context, s *stageRun, rec arrow.Record, emit func(item) error) error {
	defer rec.Release()
	ids, _ := StringCol(rec, ColID)
	srcs, _ := StringCol(rec, ColSource)
	for row := int64(0); row < rec.NumRows(); row++ {
		one := rec.NewSlice(row, row+1)
		it := item{rec: one}
		err := func() (err error) {
			defer panicErr(where(s.c), &err)
			res, err := s.stage.Process(ctx, one)
			if err != nil {
				return err
			}
			if s.seq != nil {
				if err := s.seq.Sequence(ctx, one, res); err != nil {
					return err
				}
			}
			return r.finish(ctx, s, one, res, &it)
		}()
		var pe *panicError
		if errors.As(err, &pe) {
			if it.rec != nil {
				it.rec.Release()
			}
			rej := Reject{Reason: fmt.Sprintf("%s panicked: %v", s.c.Name, pe.value)}
			if ids != nil {
				rej.Record = "id " + ids.Value(int(row))
			}
			if srcs != nil {
				rej.Path = srcs.Value(int(row))
			}
			if err := r.rejects.Add(rej); err != nil {
				return fmt.Errorf("%s: %w", where(s.c), err)
			}
			// The row is counted in order with the others.
			it = item{tally: &tally{in: 1, dropped: map[string]int64{"panic": 1}}}
		} else if err != nil {
			if it.rec != nil {
				it.rec.Release()
			}
			return fmt.Errorf("%s: %w", where(s.c), err)
		}
		if s.seq == nil { // a sequencer's tallies are added by its apply pool
			s.add(it.tally)
			it.tally = nil
			if it.rec == nil {
				continue
			}
		}
		if err := emit(it); err != nil {
			return err
		}
	}
	return nil
}

// applyOrdered builds the output of a sequencer stage's batches on the
// stage's workers (Apply) and emits it in input order, adding each batch's
// counts in order so a checkpoint's counts are exactly those before it.
func (r *run) applyOrdered(ctx context.Context, s *stageRun, in <-chan item, out chan<- item) error {
	work := func(ctx context.Context, sl *slot) {
		t0 := time.Now()
		res := sl.it.pending
		sl.it.pending = nil
		sl.err = r.finish(ctx, s, sl.it.rec, res, &sl.it)
		s.busy.Add(int64(time.Since(t0)))
	}
	collect := func(ctx context.Context, sl *slot) error {
		if ctx.Err() != nil || sl.err != nil {
			sl.it.release()
			if sl.err != nil {
				return fmt.Errorf("%s: %w", where(s.c), sl.err)
			}
			return nil
		}
		if sl.it.cp != nil {
			sl.it.cp.counts[s.idx] = s.counts()
			return send(ctx, out, sl.it)
		}
		s.add(sl.it.tally)
		sl.it.tally = nil
		if sl.it.rec == nil {
			return nil
		}
		return send(ctx, out, sl.it)
	}
	// Checkpoints and rows isolate already built carry no pending Result.
	return r.ordered(ctx, where(s.c), in, out, func(it item) bool { return it.pending == nil }, work, collect)
}

// finish applies a Result: it replaces it.rec (releasing the input) with
// the stage's output, or nil when every row was dropped.
func (r *run) finish(ctx context.Context, s *stageRun, rec arrow.Record, res *Result, it *item) error {
	n := rec.NumRows()
	outRec, dropped, err := Apply(ctx, r.opts.Alloc, s.c.Name, rec, res, s.annotateOnly)
	if err != nil {
		return err
	}
	rec.Release()
	it.rec = outRec
	t := &tally{in: n, dropped: dropped}
	if outRec != nil {
		t.out = outRec.NumRows()
	}
	if res != nil {
		t.stats = res.Stats
	}
	it.tally = t
	return nil
}

// tally is one batch's counts for a stage's report. Workers make them; the
// collector adds them in input order, so the counts a checkpoint saves are
// exactly those of the batches before it.
type tally struct {
	in, out        int64
	dropped, stats map[string]int64
}

// counts copies the stage's counts (as a checkpoint passes it).
func (s *stageRun) counts() journalCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	jc := journalCounts{In: s.in.Load(), Out: s.out.Load(), Dropped: map[string]int64{}, Stats: map[string]int64{}}
	for k, v := range s.dropped {
		jc.Dropped[k] = v
	}
	for k, v := range s.stats {
		jc.Stats[k] = v
	}
	return jc
}

func (s *stageRun) add(t *tally) {
	if t == nil {
		return
	}
	s.in.Add(t.in)
	s.out.Add(t.out)
	if len(t.dropped) > 0 || len(t.stats) > 0 {
		s.mu.Lock()
		for k, v := range t.dropped {
			s.dropped[k] += v
		}
		for k, v := range t.stats {
			s.stats[k] += v
		}
		s.mu.Unlock()
	}
}

func (r *run) runBarrier(ctx context.Context, s *stageRun, in <-chan item, out chan<- item) (err error) {
	defer close(out)
	defer func() {
		if err != nil {
			r.drain(in)
		}
	}()
	defer panicErr(where(s.c), &err)
	if s.log != nil {
		defer s.log.abort()
	}
	for it := range in {
		if it.cp != nil {
			it.cp.counts[s.idx] = s.counts()
			if s.log != nil {
				segs, wait, err := s.log.commit()
				if err != nil {
					return fmt.Errorf("%s: checkpoint log: %w", where(s.c), err)
				}
				it.cp.logs[s.idx] = segs
				it.cp.waits = append(it.cp.waits, wait)
			} else if err := r.snapshotStage(ctx, s.idx, s, s.barrier, it.cp); err != nil {
				return err
			}
			if err := send(ctx, out, it); err != nil {
				return err
			}
			continue
		}
		t0 := time.Now()
		s.in.Add(it.rec.NumRows())
		var err error
		if s.log != nil {
			at, lerr := s.log.append(ctx, it.rec)
			if lerr != nil {
				it.rec.Release()
				return fmt.Errorf("%s: checkpoint log: %w", where(s.c), lerr)
			}
			err = absorbLogged(ctx, s.barrier, it.rec, at)
		} else {
			err = s.barrier.Absorb(ctx, it.rec)
		}
		it.rec.Release()
		s.busy.Add(int64(time.Since(t0)))
		if err != nil {
			return fmt.Errorf("%s: %w", where(s.c), err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.stopped.Load() {
		return nil // a graceful stop: the snapshot holds what was absorbed
	}
	if s.log != nil { // a LogAbsorber reads the log back
		if err := s.log.wait(); err != nil {
			return fmt.Errorf("%s: checkpoint log: %w", where(s.c), err)
		}
	}
	t0 := time.Now()
	err = s.barrier.Emit(ctx, func(rec arrow.Record) error {
		if rec == nil || rec.NumRows() == 0 {
			return nil
		}
		rec.Retain()
		s.out.Add(rec.NumRows())
		return send(ctx, out, item{rec: rec})
	})
	s.busy.Add(int64(time.Since(t0)))
	if err != nil {
		return fmt.Errorf("%s: %w", where(s.c), err)
	}
	if d, ok := s.barrier.(Dropper); ok {
		s.mu.Lock()
		for k, v := range d.Dropped() {
			s.dropped[k] += v
		}
		s.mu.Unlock()
	}
	return nil
}

func (r *run) writeSinks(ctx context.Context, in <-chan item) (err error) {
	defer func() {
		if err != nil {
			r.drain(in)
		}
	}()
	for it := range in {
		if it.cp != nil {
			if err := r.checkpoint(ctx, it.cp); err != nil {
				return err
			}
			if it.cp.Stop {
				if it.cp.unresumable != "" || r.journal == nil {
					return fmt.Errorf("%w, but it cannot be resumed: %s", ErrStopped, it.cp.unresumable)
				}
				return ErrStopped
			}
			continue
		}
		n := it.rec.NumRows()
		for _, s := range r.sinks {
			t0 := time.Now()
			err := func() (err error) {
				defer panicErr(where(s.c), &err)
				return s.sink.Write(ctx, it.rec)
			}()
			s.busy.Add(int64(time.Since(t0)))
			if err != nil {
				it.rec.Release()
				return fmt.Errorf("%s: %w", where(s.c), err)
			}
			s.docs.Add(n)
		}
		r.docsOut.Add(n)
		it.rec.Release()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// End of stream: stages' end hooks, then sinks finalise.
	for _, s := range r.stages {
		if f, ok := any(s.stage).(Finisher); ok && s.stage != nil {
			if err := f.Finish(ctx); err != nil {
				return fmt.Errorf("%s: finish: %w", where(s.c), err)
			}
		}
		if f, ok := any(s.barrier).(Finisher); ok && s.barrier != nil {
			if err := f.Finish(ctx); err != nil {
				return fmt.Errorf("%s: finish: %w", where(s.c), err)
			}
		}
	}
	for _, s := range r.sinks {
		t0 := time.Now()
		if err := s.sink.Close(ctx); err != nil {
			return fmt.Errorf("%s: close: %w", where(s.c), err)
		}
		s.busy.Add(int64(time.Since(t0)))
	}
	if r.journal != nil { // finished: nothing left to resume
		if err := r.journal.clear(ctx); err != nil {
			r.opts.Log.Warn("removing the run journal", "err", err)
		}
	}
	return nil
}

// progress prints a line every ProgressEvery until stopped.
func (r *run) progress(ctx context.Context) func() {
	if r.opts.Progress == nil {
		return func() {}
	}
	every := r.opts.ProgressEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	var total int64
	for _, s := range r.sources {
		if p, ok := s.(Progresser); ok {
			_, t := p.Progress()
			total += t
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			el := time.Since(start).Seconds()
			bytes := r.counters.BytesIn.Load()
			line := fmt.Sprintf("curate: %d docs in, %d out, %.1f MB, %.1f MB/s, %.0f docs/s",
				r.docsIn.Load(), r.docsOut.Load(), float64(bytes)/1e6, float64(bytes)/1e6/el, float64(r.docsIn.Load())/el)
			if total > 0 {
				var done int64
				for _, s := range r.sources {
					if p, ok := s.(Progresser); ok {
						d, _ := p.Progress()
						done += d
					}
				}
				if done > 0 && done < total {
					eta := time.Duration(el * float64(total-done) / float64(done) * float64(time.Second))
					line += fmt.Sprintf(", %.0f%%, ETA %s", 100*float64(done)/float64(total), eta.Round(time.Second))
				}
			}
			fmt.Fprintln(r.opts.Progress, line)
		}
	}()
	return func() { close(stop); wg.Wait() }
}

// Progresser is implemented by sources that know how far they are: bytes
// of input consumed and in total (file sizes). It feeds the ETA.
type Progresser interface {
	Progress() (done, total int64)
}

func (r *run) fill(rep *Report) {
	rep.DocumentsIn = r.docsIn.Load()
	rep.DocumentsOut = r.docsOut.Load()
	rep.Rejected = r.rejects.Count()
	rep.InvalidUTF8 = r.counters.InvalidUTF8.Load()
	rep.BytesIn = r.counters.BytesIn.Load()
	rep.MemoryPeak = r.budget.Peak()
	for _, s := range r.stages {
		sr := StageReport{Name: s.c.Name, DocumentsIn: s.in.Load(), DocumentsOut: s.out.Load(),
			Dropped: map[string]int64{}, Seconds: time.Duration(s.busy.Load()).Seconds()}
		s.mu.Lock()
		for k, v := range s.dropped {
			sr.Dropped[k] = v
		}
		if len(s.stats) > 0 {
			sr.Stats = map[string]int64{}
			for k, v := range s.stats {
				sr.Stats[k] = v
			}
		}
		s.mu.Unlock()
		if s.annotateOnly {
			sr.AnnotateOnly = true
		}
		var comp any = s.stage
		if s.barrier != nil {
			comp = s.barrier
		}
		if rp, ok := comp.(Reporter); ok {
			sr.Details = rp.Report()
		}
		rep.Stages = append(rep.Stages, sr)
	}
	for _, s := range r.sinks {
		sk := SinkReport{Name: s.c.Name, Documents: s.docs.Load(), Seconds: time.Duration(s.busy.Load()).Seconds()}
		if s.c.Params.spec != nil {
			if _, ok := s.c.Params.spec.Field("path"); ok {
				sk.Path = s.c.Params.String("path")
			}
		}
		if rp, ok := s.sink.(Reporter); ok {
			sk.Details = rp.Report()
		}
		rep.Sinks = append(rep.Sinks, sk)
	}
	for _, s := range r.p.Sources {
		rep.Sources = append(rep.Sources, s.Name)
	}
}

func (r *run) writeRejects(ctx context.Context, rep *Report) error {
	if r.rejects.Count() == 0 {
		return nil
	}
	path := r.opts.RejectsPath
	if path == "" {
		path = defaultRejectsPath(r.p)
	}
	rep.RejectsFile = path
	if err := r.rejects.WriteFile(ctx, path); err != nil {
		return fmt.Errorf("writing rejects to %s: %w", path, err)
	}
	return nil
}

// defaultRejectsPath puts the rejects file beside the first sink's output.
func defaultRejectsPath(p *Pipeline) string {
	for _, s := range p.Sinks {
		if _, ok := s.Params.spec.Field("path"); ok {
			if path := s.Params.String("path"); path != "" {
				env := &Env{Dir: p.Dir}
				return strings.TrimRight(env.Path(path), "/") + ".rejects.jsonl"
			}
		}
	}
	return (&Env{Dir: p.Dir}).Path("rejects.jsonl")
}
