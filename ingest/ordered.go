package ingest

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// listInputs resolves a source's path parameter and lists its files in
// sorted order; matching nothing is an error, since it is nearly always a
// typo in the pipeline.
func listInputs(ctx context.Context, kind, pattern string) ([]storage.Info, error) {
	files, err := storage.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: list %s: %w", kind, pattern, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: path %q matched no files", kind, pattern)
	}
	return files, nil
}

// inputFiles returns only when set, else the pattern's files.
func inputFiles(ctx context.Context, kind, pattern string, only *inputFile) ([]*inputFile, error) {
	if only != nil {
		return []*inputFile{only}, nil
	}
	files, err := listInputs(ctx, kind, pattern)
	if err != nil {
		return nil, err
	}
	inputs := make([]*inputFile, len(files))
	for i, f := range files {
		inputs[i] = &inputFile{path: f.Path, rel: storage.RelativeTo(pattern, f.Path)}
	}
	return inputs, nil
}

// job is one unit of parallel work: a chunk of lines of one file, parsed by
// a worker into records. done closes when the worker finished it.
type job struct {
	file  *inputFile
	chunk chunk
	// tail, when set, rejects the rest of the file after this chunk (a
	// truncated or corrupt stream). It is added after the chunk's rejects.
	tail *pipelines.Reject

	done        chan struct{}
	recs        []arrow.Record
	rejects     []pipelines.Reject
	invalidUTF8 int64 // documents whose invalid UTF-8 was replaced
	err         error
}

// inputFile is one listed file of a source.
type inputFile struct {
	path string // as listed (local path or URL)
	rel  string // relative to the pattern's fixed prefix: ids and the source column
}

// parallelReader runs a producer that cuts the source's files into chunks
// and workers that parse chunks into records, and hands the records out in
// file order. At most about 2*workers chunks are in flight, so memory stays
// flat however large the input.
//
// Ownership: records in finished jobs belong to the reader until Next hands
// them out; Close releases whatever was not handed out.
type parallelReader struct {
	env       *pipelines.Env
	name      string
	pattern   string
	chunkSize int
	// newParser returns one worker's parse function.
	newParser func() func(j *job)
	// only, when set, is the one file this reader reads (OpenFile): the
	// pattern is not listed.
	only *inputFile

	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	order   chan *job
	buffers *bufferPool
	ready   []arrow.Record
	prodErr error // set by the producer before it closes order
	failed  error
}

func (r *parallelReader) start(ctx context.Context) error {
	r.started = true
	inputs, err := inputFiles(ctx, r.name, r.pattern, r.only)
	if err != nil {
		return err
	}
	workers := r.env.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// The run's context may end before Close; the reader's goroutines live
	// until Close so that Close can reap them.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	// Jobs in flight: the order queue's capacity plus the one the producer
	// is filling. Enough to keep every worker busy, few enough that memory
	// stays flat (each job is a chunk, then its records).
	r.order = make(chan *job, workers+1)
	work := make(chan *job, workers)
	r.buffers = newBufferPool(r.chunkSize, workers+3)
	r.wg.Add(1 + workers)
	go func() {
		defer r.wg.Done()
		defer close(r.order)
		defer close(work)
		r.prodErr = r.produce(pctx, inputs, work)
	}()
	for range workers {
		parse := r.newParser()
		go func() {
			defer r.wg.Done()
			for j := range work {
				if pctx.Err() == nil {
					safeParse(parse, j)
				}
				// The records hold copies: the chunk can be reused now.
				r.buffers.put(j.chunk.data)
				j.chunk.data = nil
				close(j.done)
			}
		}()
	}
	return nil
}

// safeParse runs a parse function, turning a panic (a bug, never bad
// input) into the job's error, so that it fails the run with a message
// rather than crashing the process from a goroutine the runner cannot see.
func safeParse(parse func(*job), j *job) {
	defer func() {
		if p := recover(); p != nil {
			for _, rec := range j.recs {
				rec.Release()
			}
			j.recs = nil
			j.err = fmt.Errorf("%s: internal error parsing lines %d and on: %v", j.file.path, j.chunk.line+1, p)
		}
	}()
	parse(j)
}

func (r *parallelReader) produce(ctx context.Context, inputs []*inputFile, work chan<- *job) error {
	send := func(j *job) error {
		j.done = make(chan struct{})
		select {
		case r.order <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case work <- j:
		case <-ctx.Done():
			close(j.done)
			return ctx.Err()
		}
		return nil
	}
	// The next remote object is opened (and starts reading ahead) while
	// this one is parsed.
	var next <-chan opened
	defer func() {
		if next != nil {
			if o := <-next; o.st != nil {
				o.st.Close()
			}
		}
	}()
	for i, in := range inputs {
		var st *stream
		var err error
		if next != nil {
			o := <-next
			next = nil
			st, err = o.st, o.err
		} else {
			st, err = openStream(ctx, in.path)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		if i+1 < len(inputs) && storage.Scheme(inputs[i+1].path) != "" {
			next = openAhead(ctx, inputs[i+1].path)
		}
		c := newChunker(st, r.chunkSize)
		c.buffers = r.buffers
		for {
			ch, ok := c.next()
			if !ok {
				break
			}
			if err := send(&job{file: in, chunk: ch}); err != nil {
				st.Close()
				return err
			}
		}
		st.Close()
		if c.err != nil {
			rej := &pipelines.Reject{Path: in.path, Line: c.line + 1, Offset: c.offset,
				Reason: fmt.Sprintf("truncated or corrupt file, rest of file rejected: %v", c.err),
				Record: string(c.pending[:min(len(c.pending), 512)])}
			if err := send(&job{file: in, tail: rej}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Next returns the next record in input order, or io.EOF.
func (r *parallelReader) Next(ctx context.Context) (arrow.Record, error) {
	if r.failed != nil {
		return nil, r.failed
	}
	if !r.started {
		if err := r.start(ctx); err != nil {
			r.failed = err
			return nil, err
		}
	}
	for len(r.ready) == 0 {
		var j *job
		var ok bool
		select {
		case j, ok = <-r.order:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !ok {
			if r.prodErr != nil {
				r.failed = r.prodErr
				return nil, r.prodErr
			}
			return nil, io.EOF
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			r.releaseJob(j)
			return nil, ctx.Err()
		}
		r.ready = j.recs
		j.recs = nil
		if j.tail != nil {
			j.rejects = append(j.rejects, *j.tail)
		}
		if c := r.env.Counters; c != nil {
			c.InvalidUTF8.Add(j.invalidUTF8)
		}
		for _, rej := range j.rejects {
			if err := r.env.Rejects.Add(rej); err != nil {
				r.failed = err
				return nil, err
			}
		}
		if j.err != nil {
			r.failed = j.err
			return nil, j.err
		}
	}
	rec := r.ready[0]
	r.ready[0] = nil
	r.ready = r.ready[1:]
	if c := r.env.Counters; c != nil {
		c.BytesIn.Add(textBytes(rec))
	}
	return rec, nil
}

// releaseJob waits for a job and releases its records.
func (r *parallelReader) releaseJob(j *job) {
	<-j.done
	for _, rec := range j.recs {
		rec.Release()
	}
	j.recs = nil
}

// Close stops the goroutines and releases every record not handed out.
func (r *parallelReader) Close() error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		for j := range r.order {
			r.releaseJob(j)
		}
		r.cancel = nil
	}
	for _, rec := range r.ready {
		rec.Release()
	}
	r.ready = nil
	return nil
}

// textBytes returns the bytes of a batch's text column.
func textBytes(rec arrow.Record) int64 {
	texts, err := pipelines.StringCol(rec, pipelines.ColText)
	if err != nil || texts.Len() == 0 {
		return 0
	}
	offs := texts.ValueOffsets() // Len()+1 entries
	return int64(offs[len(offs)-1] - offs[0])
}

// fileBatches is what the text and parquet sources share: their file list,
// made on the first Next (one file only after OpenFile). The text source
// also fills its batches one document at a time through batch; the parquet
// source builds its own from column pages and uses only the list.
type fileBatches struct {
	env     *pipelines.Env
	kind    string // the source's name, for messages
	pattern string
	params  pipelines.Params // the source's parameters, for OpenFile
	only    *inputFile       // set by OpenFile: the one file to read

	started bool
	failed  error
	files   []*inputFile
	next    int // index of the next file to open
	b       *pipelines.DocBuilder
}

// start lists the files on the first call. A failure is sticky: later
// calls return it.
func (f *fileBatches) start(ctx context.Context) error {
	if f.failed != nil || f.started {
		return f.failed
	}
	f.started = true
	f.files, f.failed = inputFiles(ctx, f.kind, f.pattern, f.only)
	return f.failed
}

// batch lists the files on the first call, then calls step (which adds at
// most one document and reports whether input is left) until the batch is
// full or the input ends. A failure is sticky: later calls return it.
func (f *fileBatches) batch(ctx context.Context, step func(context.Context) (bool, error)) (arrow.Record, error) {
	if err := f.start(ctx); err != nil {
		return nil, err
	}
	if f.b == nil {
		f.b = pipelines.NewDocBuilder(f.env)
	}
	for !f.b.Full() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		more, err := step(ctx)
		if err != nil {
			f.failed = err
			return nil, err
		}
		if !more {
			break
		}
	}
	if f.b.Len() == 0 {
		return nil, io.EOF
	}
	return f.b.Build(), nil
}
