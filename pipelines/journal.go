package pipelines

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/pipelines/storage"
)

// The run journal lets an interrupted run continue where it stopped. At
// every checkpoint barrier, once everything before it has reached the
// sinks, the runner saves each stateful stage's and each sink's snapshot
// (Checkpointer) beside the journal, then rewrites journal.json atomically
// naming them, the input position and the counters. A resumed run restores
// the snapshots, re-reads its input skipping the documents the journal
// counts, and goes on: the barriers sit at positions fixed by the input, so
// the resumed run's output equals an uninterrupted run's.

// JournalFile is the journal's name inside the state folder.
const JournalFile = "journal.json"

// ErrNoJournal is returned by a resumed run that finds no journal.
var ErrNoJournal = errors.New("no run journal")

// ErrStopped is returned by a run stopped gracefully (Options.Stop) after
// its last checkpoint was saved.
var ErrStopped = errors.New("run stopped at a checkpoint")

// Journal is journal.json.
type Journal struct {
	Version    int    `json:"version"`
	Pipeline   string `json:"pipeline_sha256"`
	Inputs     string `json:"inputs_sha256,omitempty"`
	Checkpoint int64  `json:"checkpoint"`
	// Documents and Bytes are the input read before the barrier.
	Documents int64 `json:"documents"`
	Bytes     int64 `json:"bytes"`
	// Final is set when the barrier followed the last input document.
	Final bool `json:"final"`
	// Stages and Sinks name each component's snapshot file by index.
	Stages map[int]string `json:"stages"`
	Sinks  map[int]string `json:"sinks"`
	// Logs name the segments of what each snapshot-less barrier absorbed.
	Logs map[int][]string `json:"barrier_logs,omitempty"`
	// Counts restore the report's counters.
	DocumentsOut int64                  `json:"documents_out"`
	StageCounts  map[int]journalCounts  `json:"stage_counts"`
	SinkCounts   map[int]int64          `json:"sink_counts"`
	Extra        map[string]json.Number `json:"extra,omitempty"`
}

type journalCounts struct {
	In, Out int64
	Dropped map[string]int64
	Stats   map[string]int64
}

// InputLister is implemented by sources that can list their input files;
// the journal records them so a resumed run refuses a changed input set.
type InputLister interface {
	Inputs() []storage.Info
}

// DefaultStateDir is where the journal lives without --state: beside the
// first sink's output ("out/docs" -> "out/docs.state").
func DefaultStateDir(p *Pipeline) string {
	for _, s := range p.Sinks {
		if _, ok := s.Params.spec.Field("path"); ok {
			if path := s.Params.String("path"); path != "" {
				return strings.TrimRight((&Env{Dir: p.Dir}).Path(path), "/") + ".state"
			}
		}
	}
	return (&Env{Dir: p.Dir}).Path("curate.state")
}

func pipelineHash(p *Pipeline) string {
	h := sha256.Sum256(p.Source)
	return hex.EncodeToString(h[:])
}

func inputsHash(sources []Source) string {
	h := sha256.New()
	any := false
	for i, s := range sources {
		l, ok := s.(InputLister)
		if !ok {
			continue
		}
		any = true
		for _, in := range l.Inputs() {
			fmt.Fprintf(h, "%d\t%s\t%d\n", i, in.Path, in.Size)
		}
	}
	if !any {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func loadJournal(ctx context.Context, dir string) (*Journal, error) {
	b, err := storage.ReadFile(ctx, storage.Join(dir, JournalFile))
	if err != nil {
		if storage.IsNotExist(err) {
			return nil, fmt.Errorf("%w in %s", ErrNoJournal, dir)
		}
		return nil, err
	}
	return ParseJournal(b)
}

// ParseJournal decodes and checks a journal.
func ParseJournal(b []byte) (*Journal, error) {
	var j Journal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("corrupt run journal: %w", err)
	}
	if j.Version != 1 {
		return nil, fmt.Errorf("run journal version %d, want 1", j.Version)
	}
	if j.Checkpoint < 1 || j.Documents < 0 || j.Bytes < 0 || len(j.Pipeline) != 64 {
		return nil, fmt.Errorf("corrupt run journal: checkpoint %d, documents %d, bytes %d", j.Checkpoint, j.Documents, j.Bytes)
	}
	names := func(i int, n string) error {
		if i < 0 || n == "" || strings.ContainsAny(n, "/\\") || strings.HasPrefix(n, ".") {
			return fmt.Errorf("corrupt run journal: bad snapshot name %q", n)
		}
		return nil
	}
	for _, m := range []map[int]string{j.Stages, j.Sinks} {
		for i, n := range m {
			if err := names(i, n); err != nil {
				return nil, err
			}
		}
	}
	for i, segs := range j.Logs {
		for _, n := range segs {
			if err := names(i, n); err != nil {
				return nil, err
			}
		}
	}
	return &j, nil
}

// journaler saves checkpoints of a run.
type journaler struct {
	dir      string
	pipeline string
	inputs   string
	last     *Journal
}

func snapName(kind string, i int, cp int64) string {
	return fmt.Sprintf("cp%06d-%s%02d.snap", cp, kind, i)
}

// SaveSnapshot writes c's snapshot to path atomically: nothing appears at
// path unless the whole snapshot was written. The journal uses it for every
// checkpoint, and stages use it to save incremental indexes.
func SaveSnapshot(ctx context.Context, path string, c Checkpointer) error {
	w, err := storage.Create(ctx, path)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := c.Snapshot(w); err != nil {
		return err
	}
	return w.Commit()
}

func restoreSnapshot(ctx context.Context, path string, c Checkpointer) error {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.Restore(io.Reader(f))
}

// textBytes sums the text column's bytes: the input position that places
// checkpoint barriers, the same on every run of the same input.
func textBytes(rec arrow.Record) int64 {
	i := Col(rec, ColText)
	if i < 0 {
		return 0
	}
	s, ok := rec.Column(i).(*array.String)
	if !ok || s.Len() == 0 {
		return 0
	}
	offs := s.ValueOffsets()
	return int64(offs[len(offs)-1] - offs[0])
}

func sortedKeys[V any](m map[int]V) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
