package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines/storage"
)

// Env is what the runner hands every component it builds.
type Env struct {
	// Name is the component's registered name (e.g. "dedup.minhash") and
	// Index its position in its list in the YAML.
	Name  string
	Index int
	// Alloc allocates every Arrow buffer the component builds.
	Alloc memory.Allocator
	// Dir is the pipeline file's folder: relative paths are relative to it.
	Dir string
	// Workers is the number of workers per streaming stage.
	Workers int
	// Memory is the run's memory budget, shared by all stateful components.
	Memory *Budget
	// Rejects receives records that cannot be read.
	Rejects *Rejects
	// TempDir is a private folder for spill files; the runner removes it.
	TempDir string
	// Log receives warnings and notices (printed on stderr by the CLI).
	Log *slog.Logger
	// BatchRows and BatchBytes bound the batches sources build.
	BatchRows  int
	BatchBytes int64
	// Counters for the run report (invalid UTF-8 replacements...).
	Counters *Counters
}

// Path resolves a path from the YAML: URLs and absolute paths stay as they
// are, relative local paths are joined to the pipeline file's folder.
func (e *Env) Path(p string) string {
	if storage.Scheme(p) != "" || strings.HasPrefix(p, "/") || e.Dir == "" || e.Dir == "." {
		return p
	}
	return strings.TrimRight(e.Dir, "/") + "/" + p
}

// Logger returns e.Log or a logger that discards.
func (e *Env) Logger() *slog.Logger {
	if e.Log != nil {
		return e.Log.With("component", e.Name)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestEnv returns an Env for tests and programmatic use, with default batch
// bounds, a 1 GiB budget and the given allocator.
func TestEnv(alloc memory.Allocator, dir string) *Env {
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	return &Env{Alloc: alloc, Dir: dir, Workers: 1, Memory: NewBudget(1 << 30),
		Rejects: &Rejects{}, TempDir: "", BatchRows: DefaultBatchRows,
		BatchBytes: DefaultBatchBytes, Counters: &Counters{}}
}

// Batch bounds: a batch closes at whichever comes first.
const (
	DefaultBatchRows  = 1024
	DefaultBatchBytes = 4 << 20
)

// Counters are run-wide counters reported at the end.
type Counters struct {
	InvalidUTF8 atomic.Int64 // documents whose invalid UTF-8 was replaced
	BytesIn     atomic.Int64 // text bytes read by sources
}

// Reject is a record set aside as unreadable.
type Reject struct {
	Path   string `json:"path"`
	Line   int64  `json:"line,omitempty"` // 1-based line (JSONL) or row (Parquet); 0 for a whole file or the rest of it
	Offset int64  `json:"offset,omitempty"`
	Reason string `json:"reason"`
	Record string `json:"record,omitempty"` // the start of the raw record, for a person to look at
}

// Rejects collects unreadable records. It is safe for concurrent use. The
// runner writes them as JSON lines to the rejects file at the end of the run.
type Rejects struct {
	mu    sync.Mutex
	list  []Reject
	count atomic.Int64
	// Max, when > 0, fails the run once more records than this are rejected.
	Max int64
}

// maxKept bounds how many rejects are held for the rejects file.
const maxKept = 100000

// Add records a reject. Record is cut to 512 bytes.
func (r *Rejects) Add(rej Reject) error {
	if len(rej.Record) > 512 {
		rej.Record = strings.ToValidUTF8(rej.Record[:512], "\uFFFD") + "..."
	} else {
		rej.Record = strings.ToValidUTF8(rej.Record, "\uFFFD")
	}
	n := r.count.Add(1)
	r.mu.Lock()
	if len(r.list) < maxKept {
		r.list = append(r.list, rej)
	}
	r.mu.Unlock()
	if r.Max > 0 && n > r.Max {
		return fmt.Errorf("%s: more than max_rejects=%d records rejected (last: %s)", rej.Path, r.Max, rej.Reason)
	}
	return nil
}

// Count returns the number of rejected records.
func (r *Rejects) Count() int64 { return r.count.Load() }

// List returns a copy of the kept rejects.
func (r *Rejects) List() []Reject {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Reject(nil), r.list...)
}

// WriteTo writes the rejects as JSON lines to path (atomically).
func (r *Rejects) WriteFile(ctx context.Context, path string) error {
	var b strings.Builder
	for _, rej := range r.List() {
		line, _ := json.Marshal(rej)
		b.Write(line)
		b.WriteByte('\n')
	}
	return storage.WriteFile(ctx, path, []byte(b.String()))
}

// Budget is the run's memory budget (--memory). Stateful components reserve
// bytes before they hold them and spill to disk when a reservation fails.
type Budget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
}

// NewBudget returns a budget of limit bytes (<= 0 means unlimited).
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Limit returns the budget's size in bytes (0 when unlimited).
func (b *Budget) Limit() int64 {
	if b == nil || b.limit <= 0 {
		return 0
	}
	return b.limit
}

// TryReserve reserves n bytes if the budget allows and reports whether it did.
func (b *Budget) TryReserve(n int64) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if b.limit > 0 && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			if p := b.peak.Load(); u+n > p {
				b.peak.CompareAndSwap(p, u+n)
			}
			return true
		}
	}
}

// Release gives back n reserved bytes.
func (b *Budget) Release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// Used returns the bytes now reserved.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Peak returns the most bytes ever reserved at once.
func (b *Budget) Peak() int64 {
	if b == nil {
		return 0
	}
	return b.peak.Load()
}
