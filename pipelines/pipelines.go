// Package pipelines is curate's engine: the Source, Stage and Sink contracts
// over Arrow record batches, the registry that components join from init(),
// the YAML loader that validates a pipeline against the components' specs,
// and the runner that streams batches through them.
//
// # Documents
//
// A batch is an arrow.Record with one row per document. Every batch has the
// columns id, text, source and domain (all utf8); stages add annotation
// columns (lang, n_tokens, tokens, quality_score, ...). Input fields other
// than id and text travel as extra columns. Rows are in input order, and the
// runner keeps batches in order, so "earlier" always means an earlier row or
// an earlier batch.
//
// # Ownership
//
// Every record handed to a component is borrowed: the component must Retain
// it (or the arrays it keeps) to hold on to it past the call, and never
// mutates it. Every record or array a component returns is owned by the
// caller, which Releases it. Arrays placed in a Result pass to the runner.
package pipelines

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// Standard column names.
const (
	ColID      = "id"
	ColText    = "text"
	ColSource  = "source"
	ColDomain  = "domain"
	ColTokens  = "tokens"   // list<int32>: token ids from tokenize.encode
	ColNTokens = "n_tokens" // int64: len(tokens) + 1 end-of-text token
)

// Source produces documents.
//
// Next returns the next batch of documents, or io.EOF once the source is
// exhausted. The returned record is owned by the caller. Unreadable records
// are not errors: the source sets them aside through Env.Rejects and goes
// on; an error from Next fails the run. Close releases resources; it is
// called once, after the last Next or when the run stops early.
type Source interface {
	Next(ctx context.Context) (arrow.Record, error)
	Close() error
}

// Stage is a streaming stage: it sees one batch at a time and answers with a
// Result describing what to drop, replace and add.
//
// Process may be called concurrently from several workers on different
// batches; a stage that keeps state across batches does that in Sequence
// (see Sequencer). rec is borrowed. A filter returns Result.Drop; an
// annotator returns Result.Columns (new columns beside the unchanged text,
// no copy of the text); an editor returns Result.Text. The runner builds the
// output record and, for a filter with annotate_only, turns drops and edits
// into columns instead.
type Stage interface {
	Process(ctx context.Context, rec arrow.Record) (*Result, error)
}

// Sequencer is implemented by streaming stages whose decision depends on
// earlier documents (dedup indexes). The expensive, parallel part runs in
// Process; Sequence is then called once per batch, strictly in input order
// and never concurrently, with the Result that Process returned for it, and
// may fill in Drop or add columns.
type Sequencer interface {
	Sequence(ctx context.Context, rec arrow.Record, res *Result) error
}

// Barrier is a stage that must see all its input before it emits anything
// (mixer, curriculum, two-pass paragraph dedup).
//
// Absorb is called once per batch in input order; rec is borrowed, so a
// barrier that keeps rows spills them (see package spill) or Retains the
// record within its memory budget. After the last batch, Emit is called once
// and sends the output in order through emit, which borrows each record (the
// barrier releases what it built after emit returns). A barrier reports the
// documents it dropped through Dropper.
type Barrier interface {
	Absorb(ctx context.Context, rec arrow.Record) error
	Emit(ctx context.Context, emit func(arrow.Record) error) error
}

// LogAbsorber is implemented by barriers that read what they absorbed back
// from the runner's barrier log instead of spilling it a second time. A run
// that keeps a journal logs every batch a barrier without a snapshot of its
// own absorbs (see Checkpointer) and then calls AbsorbLogged instead of
// Absorb, with where the batch lies in the log. The barrier may read the
// frame back from Emit on (the log is committed before Emit and kept until
// the run ends), not before.
type LogAbsorber interface {
	AbsorbLogged(ctx context.Context, rec arrow.Record, at LogFrame) error
}

// LogFrame locates one logged batch: bytes [Offset, Offset+Length) of the
// file Path (a storage path) are an Arrow IPC stream holding the batch, its
// token id lists possibly packed (see UnpackTokenLists).
type LogFrame struct {
	Path           string
	Offset, Length int64
}

// Sink consumes the pipeline's output.
//
// Write is called with each output batch in order; rec is borrowed. Commit
// is called at every checkpoint barrier: all rows written so far must then
// be durable and visible (closed shards committed). Close is called once at
// the end of a successful run and finalises the output (last shard,
// manifest). Abort is called instead of Close when the run fails or is
// cancelled, and removes every file the sink had not committed.
type Sink interface {
	Write(ctx context.Context, rec arrow.Record) error
	Commit(ctx context.Context) error
	Close(ctx context.Context) error
	Abort() error
}

// Result is a streaming stage's answer for one batch. All slices are nil or
// have one entry per row of the input.
type Result struct {
	// Drop gives a reason for each dropped row; "" keeps the row.
	Drop []string
	// Text, when non-nil, replaces the text column (utf8, one entry per row).
	// Ownership passes to the runner.
	Text arrow.Array
	// Changes, for editing stages, says per row what the edit did (e.g.
	// "EMAIL:2 PHONE:1"); with annotate_only it becomes a column.
	Changes []string
	// Columns adds or replaces annotation columns; ownership of the arrays
	// passes to the runner.
	Columns []Column
	// Stats adds named counters to the stage's report (characters changed,
	// PII found per kind...).
	Stats map[string]int64
	// State carries data from Process to Sequence; the runner ignores it.
	State any
}

// Column is a named array added by a stage.
type Column struct {
	Name  string
	Array arrow.Array
}

// Dropper is implemented by barriers to report drops by reason.
type Dropper interface {
	Dropped() map[string]int64
}

// Reporter is implemented by components that add details to the run report
// (cluster-size histograms, decontamination hits, achieved mixes...). It is
// called once after the run.
type Reporter interface {
	Report() map[string]any
}

// Checkpointer is implemented by stateful components. At a checkpoint
// barrier the runner calls Snapshot with everything before the barrier
// processed and nothing after; Restore loads a snapshot before the first
// batch of a resumed run.
type Checkpointer interface {
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Finisher is implemented by stages that need a hook at end of input (a
// streaming stage that saves an incremental dedup index, for example). It
// runs after the stage has seen its last batch and before sinks close.
type Finisher interface {
	Finish(ctx context.Context) error
}
