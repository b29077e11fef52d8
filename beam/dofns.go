package curatebeam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	blog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/curatehq/curate/pipelines"
)

func init() {
	for _, t := range []any{Batch{}, Member{}, Verdict{}, IndexEntry{}, FileRef{}, listFn{}, readFn{}, stageFn{}, keysFn{}, verifyFn{}, indexReadFn{}, indexWriteFn{}, joinFn{}, gatherFn{}, sinkFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// Config names the pipeline inside every DoFn, so a worker on another
// machine rebuilds the very components the launcher validated.
type Config struct {
	File string // absolute path of the YAML: relative paths resolve against its folder
	YAML []byte
}

func (c Config) load() (*pipelines.Pipeline, error) {
	return pipelines.Load(c.File, c.YAML)
}

// component is a built component with what it needs removed at the end.
type component struct {
	c   pipelines.Component
	env *pipelines.Env
	tmp string
}

// newEnv builds the Env a component runs in: a private spill folder, no
// memory limit (the runner's workers bound memory) and a log on stderr.
func newEnv(p *pipelines.Pipeline, c pipelines.Component) (*component, error) {
	tmp, err := os.MkdirTemp("", "curate-beam-")
	if err != nil {
		return nil, fmt.Errorf("making a spill folder: %w", err)
	}
	env := &pipelines.Env{Name: c.Name, Index: c.Index, Alloc: memory.NewGoAllocator(), Dir: p.Dir, Workers: 1,
		Memory: pipelines.NewBudget(0), Rejects: &pipelines.Rejects{}, TempDir: tmp,
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		BatchRows: pipelines.DefaultBatchRows, BatchBytes: pipelines.DefaultBatchBytes, Counters: &pipelines.Counters{}}
	return &component{c: c, env: env, tmp: tmp}, nil
}

func (c *component) close() {
	if c != nil {
		os.RemoveAll(c.tmp)
	}
}

func where(c pipelines.Component) string {
	return fmt.Sprintf("%s %s (line %d)", c.Kind, c.Name, c.Line)
}

// buildStage builds stage i of the pipeline with its registered constructor:
// a streaming Stage or a Barrier.
func buildStage(cfg Config, i int) (*component, pipelines.Stage, pipelines.Barrier, error) {
	return buildStageWith(cfg, i, nil)
}

// buildStageWith is buildStage with some parameters replaced.
func buildStageWith(cfg Config, i int, replace map[string]any) (*component, pipelines.Stage, pipelines.Barrier, error) {
	p, err := cfg.load()
	if err != nil {
		return nil, nil, nil, err
	}
	if i < 0 || i >= len(p.Stages) {
		return nil, nil, nil, fmt.Errorf("stage %d of %d", i, len(p.Stages))
	}
	c := p.Stages[i]
	e, err := lookup(pipelines.KindStage, c.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	if replace != nil {
		if c.Params, err = paramsWith(c, replace); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", where(c), err)
		}
	}
	comp, err := newEnv(p, c)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.Barrier != nil {
		b, err := e.Barrier(c.Params, comp.env)
		if err != nil {
			comp.close()
			return nil, nil, nil, fmt.Errorf("%s: %w", where(c), err)
		}
		return comp, nil, b, nil
	}
	s, err := e.Stage(c.Params, comp.env)
	if err != nil {
		comp.close()
		return nil, nil, nil, fmt.Errorf("%s: %w", where(c), err)
	}
	return comp, s, nil, nil
}

func annotateOnly(c pipelines.Component) bool {
	return c.Spec().Filter && c.Params.Bool("annotate_only")
}

// closeComponent closes a stage or sink that holds files or memory.
func closeComponent(x any) {
	if c, ok := x.(interface{ Close() error }); ok {
		c.Close()
	}
}

// FileRef is one unit of reading: file File (index in the source's
// listing) of source Source, or, with File -1, the whole of a source that
// cannot be split.
type FileRef struct {
	Source int
	File   int
	Path   string
}

// built is a source built with its registered constructor, with its Env.
type built struct {
	comp *component
	src  pipelines.Source
}

func (b *built) close() {
	if b != nil {
		b.src.Close()
		b.comp.close()
	}
}

// buildSource builds source i of the pipeline.
func buildSource(cfg Config, i int) (*built, error) {
	p, err := cfg.load()
	if err != nil {
		return nil, err
	}
	c := p.Sources[i]
	e, err := lookup(pipelines.KindSource, c.Name)
	if err != nil {
		return nil, err
	}
	comp, err := newEnv(p, c)
	if err != nil {
		return nil, err
	}
	s, err := e.Source(c.Params, comp.env)
	if err != nil {
		comp.close()
		return nil, fmt.Errorf("%s: %w", where(c), err)
	}
	return &built{comp: comp, src: s}, nil
}

// listFn lists the files of one source (a pipelines.FileSplitter), one
// FileRef per file; a source that cannot be split is one FileRef (File -1).
type listFn struct {
	Config
	Source int
}

func (f *listFn) ProcessElement(ctx context.Context, _ []byte, emit func(FileRef)) error {
	b, err := buildSource(f.Config, f.Source)
	if err != nil {
		return err
	}
	defer b.close()
	fs, ok := b.src.(pipelines.FileSplitter)
	if !ok {
		emit(FileRef{Source: f.Source, File: -1})
		return nil
	}
	files, err := fs.Files(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", where(b.comp.c), err)
	}
	if len(files) > maxFiles {
		return fmt.Errorf("%s: %d files; curate-beam orders documents within at most %d files per source", where(b.comp.c), len(files), maxFiles)
	}
	for i, path := range files {
		emit(FileRef{Source: f.Source, File: i, Path: path})
	}
	return nil
}

// readFn reads one FileRef with the source's own reader (a per-file
// source from its FileSplitter, or the whole source) and emits its batches
// with each document's input order: (source, file, record).
type readFn struct {
	Config

	splitters map[int]*built // per source, built once per DoFn instance
}

func (f *readFn) Teardown() {
	for _, b := range f.splitters {
		b.close()
	}
}

func (f *readFn) ProcessElement(ctx context.Context, ref FileRef, emit func(Batch)) error {
	var (
		s    pipelines.Source
		comp *component
	)
	if ref.File < 0 {
		b, err := buildSource(f.Config, ref.Source)
		if err != nil {
			return err
		}
		defer b.close()
		s, comp = b.src, b.comp
	} else {
		b := f.splitters[ref.Source]
		if b == nil {
			var err error
			if b, err = buildSource(f.Config, ref.Source); err != nil {
				return err
			}
			if f.splitters == nil {
				f.splitters = map[int]*built{}
			}
			f.splitters[ref.Source] = b
		}
		fs, ok := b.src.(pipelines.FileSplitter)
		if !ok {
			return fmt.Errorf("%s: not a file splitter on this worker", where(b.comp.c))
		}
		var err error
		if s, err = fs.OpenFile(ctx, ref.Path); err != nil {
			return fmt.Errorf("%s: %w", where(b.comp.c), err)
		}
		defer s.Close()
		comp = b.comp
	}
	c := comp.c
	before := comp.env.Rejects.Count()
	var n int64
	for {
		rec, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where(c), err)
		}
		rows := rec.NumRows()
		if rows == 0 {
			rec.Release()
			continue
		}
		order := make([]int64, rows)
		for i := range order {
			order[i], err = orderOf(ref, n+int64(i))
			if err != nil {
				rec.Release()
				return fmt.Errorf("%s: %w", where(c), err)
			}
		}
		n += rows
		b, err := newBatch(rec, order)
		rec.Release()
		if err != nil {
			return fmt.Errorf("%s: %w", where(c), err)
		}
		emit(b)
	}
	if k := comp.env.Rejects.Count() - before; k > 0 {
		blog.Warnf(ctx, "%s: %s: %d unreadable records set aside", where(c), ref.Path, k)
	}
	return nil
}

// applyResult turns a stage's Result into its output record (nil when
// every row was dropped, else owned by the caller) and each surviving row's
// order.
func applyResult(ctx context.Context, alloc memory.Allocator, c pipelines.Component, rec arrow.Record, order []int64, res *pipelines.Result) (arrow.Record, []int64, error) {
	annotate := annotateOnly(c)
	var drop []string
	if res != nil {
		drop = res.Drop
	}
	out, _, err := pipelines.Apply(ctx, alloc, c.Name, rec, res, annotate)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where(c), err)
	}
	if out == nil {
		return nil, nil, nil
	}
	kept := order
	if !annotate && drop != nil {
		kept = make([]int64, 0, len(order))
		for i, r := range drop {
			if r == "" {
				kept = append(kept, order[i])
			}
		}
	}
	return out, kept, nil
}

// apply is applyResult with the output encoded as a Batch (false when every
// row was dropped).
func apply(ctx context.Context, alloc memory.Allocator, c pipelines.Component, rec arrow.Record, order []int64, res *pipelines.Result) (Batch, bool, error) {
	out, kept, err := applyResult(ctx, alloc, c, rec, order, res)
	if err != nil || out == nil {
		return Batch{}, false, err
	}
	defer out.Release()
	b, err := newBatch(out, kept)
	if err != nil {
		return Batch{}, false, fmt.Errorf("%s: %w", where(c), err)
	}
	return b, true, nil
}

// stageFn runs a chain of consecutive streaming stages (none with
// Sequence) batch by batch, passing records between them without
// re-encoding.
type stageFn struct {
	Config
	Stages []int

	comps  []*component
	stages []pipelines.Stage
}

func (f *stageFn) Setup() error {
	for _, i := range f.Stages {
		comp, s, _, err := buildStage(f.Config, i)
		if err != nil {
			return err
		}
		f.comps, f.stages = append(f.comps, comp), append(f.stages, s)
	}
	return nil
}

func (f *stageFn) ProcessElement(ctx context.Context, b Batch, emit func(Batch)) error {
	alloc := f.comps[0].env.Alloc
	rec, err := decode(alloc, b.IPC)
	if err != nil {
		return err
	}
	order := b.Order
	for k, stage := range f.stages {
		c := f.comps[k].c
		res, err := stage.Process(ctx, rec)
		if err != nil {
			rec.Release()
			return fmt.Errorf("%s: %w", where(c), err)
		}
		out, kept, err := applyResult(ctx, alloc, c, rec, order, res)
		rec.Release()
		if err != nil || out == nil {
			return err
		}
		rec, order = out, kept
	}
	defer rec.Release()
	out, err := newBatch(rec, order)
	if err != nil {
		return err
	}
	emit(out)
	return nil
}

func (f *stageFn) Teardown() {
	for k := range f.stages {
		closeComponent(f.stages[k])
		f.comps[k].close()
	}
}

// gatherFn runs a barrier, or a sequencer without a shuffle translation, on
// one worker: all batches (a side input) sorted into input order, Absorb or
// Process+Sequence in that order, then Emit. The output is in emit order.
type gatherFn struct {
	Config
	Stage int
}

func (f *gatherFn) ProcessElement(ctx context.Context, _ []byte, batches func(*Batch) bool, emit func(Batch)) error {
	comp, stage, barrier, err := buildStage(f.Config, f.Stage)
	if err != nil {
		return err
	}
	defer comp.close()
	alloc := comp.env.Alloc
	all := collect(batches)
	sortBatches(all)

	if barrier != nil {
		defer closeComponent(barrier)
		for _, b := range all {
			rec, err := decode(alloc, b.IPC)
			if err != nil {
				return err
			}
			err = barrier.Absorb(ctx, rec)
			rec.Release()
			if err != nil {
				return fmt.Errorf("%s: %w", where(comp.c), err)
			}
		}
		err := barrier.Emit(ctx, emitNumbered(0, emit))
		if err != nil {
			return fmt.Errorf("%s: %w", where(comp.c), err)
		}
		return finish(ctx, comp, barrier)
	}

	defer closeComponent(stage)
	seq, _ := stage.(pipelines.Sequencer)
	for _, b := range all {
		rec, err := decode(alloc, b.IPC)
		if err != nil {
			return err
		}
		res, err := stage.Process(ctx, rec)
		if err == nil && seq != nil {
			err = seq.Sequence(ctx, rec, res)
		}
		if err != nil {
			rec.Release()
			return fmt.Errorf("%s: %w", where(comp.c), err)
		}
		out, ok, err := apply(ctx, alloc, comp.c, rec, b.Order, res)
		rec.Release()
		if err != nil {
			return err
		}
		if ok {
			emit(out)
		}
	}
	return finish(ctx, comp, stage)
}

func finish(ctx context.Context, comp *component, x any) error {
	if f, ok := x.(pipelines.Finisher); ok {
		if err := f.Finish(ctx); err != nil {
			return fmt.Errorf("%s: %w", where(comp.c), err)
		}
	}
	return nil
}

// sinkFn writes every batch, sorted into pipeline output order, through
// one sink built with its registered constructor, then closes it: the files
// and their names are exactly the local engine's.
type sinkFn struct {
	Config
	Sink int
}

func (f *sinkFn) ProcessElement(ctx context.Context, _ []byte, batches func(*Batch) bool) error {
	c, e, p, err := shardedSink{Config: f.Config, Sink: f.Sink}.component()
	if err != nil {
		return err
	}
	comp, err := newEnv(p, c)
	if err != nil {
		return err
	}
	defer comp.close()
	all := collect(batches)
	sortBatches(all)
	s, err := e.Sink(c.Params, comp.env)
	if err != nil {
		return fmt.Errorf("%s: %w", where(c), err)
	}
	if err := writeAll(ctx, s, comp.env.Alloc, all); err != nil {
		return fmt.Errorf("%s: %w", where(c), err)
	}
	if err := s.Close(ctx); err != nil {
		s.Abort()
		return fmt.Errorf("%s: %w", where(c), err)
	}
	docs := 0
	for _, b := range all {
		docs += len(b.Order)
	}
	blog.Infof(ctx, "%s: wrote %d documents", where(c), docs)
	return nil
}
