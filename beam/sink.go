package curatebeam

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	blog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/curatehq/curate/ingest"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// The jsonl sink is written in parallel, shard by shard, with the names and
// bytes of the local engine. The local sink cuts a shard after the row that
// brings its uncompressed bytes to shard_bytes, so the cuts depend only on
// the encoded size of every row before, in output order. Hence:
//
//  1. sizes (parallel): each batch is encoded by the jsonl sink's own code
//     (uncompressed, into a private folder) and each row's line length read
//     back;
//  2. plan (one worker, 8 bytes a document): the sizes in output order give
//     every row its shard number, by the local sink's rule;
//  3. split (parallel): each batch, joined with its cuts, is sliced into
//     per-shard parts;
//  4. write (parallel, one worker per shard): a shard's parts, in order,
//     are written by the jsonl sink's own code (with the pipeline's
//     compression, no size limit) into a private folder, then copied to
//     part-NNNNN with the shard's number;
//  5. manifest (one worker, one small record a shard): manifest.json, whose
//     header comes from the sink itself.
//
// The parquet sink is written the same way: its sizes are its value bytes
// (ingest.ParquetRowSizes) and its plan also cuts before a batch whose
// columns do not fit the open shard's (ingest.ParquetFits). The tokens
// sink has its own plan (tokens.go).

func init() {
	for _, t := range []any{SizeInfo{}, Cuts{}, ShardOut{}, sizeFn{}, planFn{}, splitFn{}, writeShardFn{}, manifestFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// SizeInfo is the encoded size of each row of one batch and, for the
// parquet sink, the batch's schema (Arrow IPC), whose columns decide
// whether the batch fits the open shard.
type SizeInfo struct {
	Key    int64
	Sizes  []int64
	Schema []byte
}

// Cuts assigns the rows of one batch to shards: rows [Starts[k],
// Starts[k+1]) (the last run to the end) go to shard Shards[k].
type Cuts struct {
	Starts []int32
	Shards []int32
}

// ShardOut is one shard written by writeShardFn.
type ShardOut struct {
	Shard int
	Info  ingest.ShardInfo
}

// unbounded is a shard size no shard reaches.
const unbounded = int64(1) << 62

// sinkParams returns the sink's parameters with path and, when set,
// compression replaced. The jsonl sink's shards are unbounded; the parquet
// sink keeps its shard_bytes, as its row groups depend on it (no row group
// is flushed at the row that reaches shard_bytes): a shard's rows, written
// alone, reach the bound at their last row exactly as in the whole run, or
// never for the last shard.
func sinkParams(c pipelines.Component, path, compression string) (pipelines.Params, error) {
	values := map[string]any{"path": path}
	if c.Name != "parquet" {
		values["shard_bytes"] = unbounded
	}
	if compression != "" {
		values["compression"] = compression
	}
	return paramsWith(c, values)
}

// paramsWith returns c's parameters with the given ones replaced.
func paramsWith(c pipelines.Component, replace map[string]any) (pipelines.Params, error) {
	spec := c.Spec()
	values := map[string]any{}
	for _, f := range spec.Fields {
		values[f.Name] = c.Params.Any(f.Name)
	}
	for k, v := range replace {
		values[k] = v
	}
	return pipelines.NewParams(spec, values)
}

// shardedSink builds sink i's constructor and component.
type shardedSink struct {
	Config
	Sink int
}

func (s shardedSink) component() (pipelines.Component, *pipelines.Constructors, *pipelines.Pipeline, error) {
	p, err := s.load()
	if err != nil {
		return pipelines.Component{}, nil, nil, err
	}
	c := p.Sinks[s.Sink]
	e, err := lookup(pipelines.KindSink, c.Name)
	return c, e, p, err
}

// localSink writes batches with sink i's own code into a private folder,
// as one unbounded shard: the pipeline parsed, the sink's parameters and
// Env built once, a fresh sink (its constructor only, which touches
// nothing) for each write. close removes the folder.
type localSink struct {
	c      pipelines.Component
	p      *pipelines.Pipeline
	e      *pipelines.Constructors
	comp   *component
	params pipelines.Params
	dir    string
}

// local builds sink i's localSink with the given compression ("" keeps
// the pipeline's).
func (s shardedSink) local(compression string) (*localSink, error) {
	c, e, p, err := s.component()
	if err != nil {
		return nil, err
	}
	comp, err := newEnv(p, c)
	if err != nil {
		return nil, err
	}
	l := &localSink{c: c, p: p, e: e, comp: comp}
	if l.dir, err = os.MkdirTemp("", "curate-beam-shard-"); err != nil {
		l.close()
		return nil, fmt.Errorf("%s: %w", where(c), err)
	}
	if l.params, err = sinkParams(c, l.dir, compression); err != nil {
		l.close()
		return nil, fmt.Errorf("%s: %w", where(c), err)
	}
	return l, nil
}

func (l *localSink) close() {
	if l != nil {
		l.comp.close()
		if l.dir != "" {
			os.RemoveAll(l.dir)
		}
	}
}

// write writes batches (in this order) with a new sink into the folder,
// replacing what an earlier write left there, and returns the manifest the
// sink wrote.
func (l *localSink) write(ctx context.Context, batches []Batch) (ingest.Manifest, error) {
	sink, err := l.e.Sink(l.params, l.comp.env)
	if err != nil {
		return ingest.Manifest{}, fmt.Errorf("%s: %w", where(l.c), err)
	}
	if err := writeAll(ctx, sink, l.comp.env.Alloc, batches); err != nil {
		return ingest.Manifest{}, fmt.Errorf("%s: %w", where(l.c), err)
	}
	if err := sink.Close(ctx); err != nil {
		return ingest.Manifest{}, fmt.Errorf("%s: %w", where(l.c), err)
	}
	return readManifest(l.dir)
}

// writeAll writes batches, in this order, through sink; after an error it
// aborts the sink.
func writeAll(ctx context.Context, sink pipelines.Sink, alloc memory.Allocator, batches []Batch) error {
	for _, b := range batches {
		rec, err := decode(alloc, b.IPC)
		if err != nil {
			sink.Abort()
			return err
		}
		err = sink.Write(ctx, rec)
		rec.Release()
		if err != nil {
			sink.Abort()
			return err
		}
	}
	return nil
}

// readManifest reads the manifest a sink wrote into dir.
func readManifest(dir string) (ingest.Manifest, error) {
	var m ingest.Manifest
	data, err := os.ReadFile(filepath.Join(dir, ingest.ManifestFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", ingest.ManifestFile, err)
	}
	return m, nil
}

// sizeFn measures each row of a batch as the sink counts it toward
// shard_bytes: the jsonl sink's encoded lines (written by the sink itself,
// a new one for each batch, into a folder and an Env built once), the
// parquet sink's value bytes (ingest.ParquetRowSizes, the sink's own row
// conversion).
type sizeFn struct {
	shardedSink
	Parquet bool

	jsonl *localSink // the jsonl sink's
}

func (f *sizeFn) Setup() error {
	if f.Parquet {
		return nil
	}
	var err error
	f.jsonl, err = f.local("none")
	return err
}

func (f *sizeFn) Teardown() { f.jsonl.close() }

func (f *sizeFn) ProcessElement(ctx context.Context, b Batch, emit func(SizeInfo)) error {
	if f.Parquet {
		rec, err := decode(memory.DefaultAllocator, b.IPC)
		if err != nil {
			return err
		}
		defer rec.Release()
		schema, err := encodeSchema(rec.Schema())
		if err != nil {
			return err
		}
		emit(SizeInfo{Key: b.Key, Sizes: ingest.ParquetRowSizes(rec), Schema: schema})
		return nil
	}
	m, err := f.jsonl.write(ctx, []Batch{b})
	if err != nil {
		return err
	}
	if len(m.Shards) != 1 {
		return fmt.Errorf("jsonl sink: one batch gave %d shards", len(m.Shards))
	}
	data, err := os.ReadFile(filepath.Join(f.jsonl.dir, m.Shards[0].Name))
	if err != nil {
		return err
	}
	sizes := make([]int64, 0, len(b.Order))
	for len(data) > 0 {
		n := bytes.IndexByte(data, '\n') + 1
		if n == 0 {
			n = len(data)
		}
		sizes = append(sizes, int64(n))
		data = data[n:]
	}
	if len(sizes) != len(b.Order) {
		return fmt.Errorf("jsonl sink: %d lines for %d documents", len(sizes), len(b.Order))
	}
	emit(SizeInfo{Key: b.Key, Sizes: sizes})
	return nil
}

// planFn gives every row its shard: the local sink's rule (a shard ends
// after the row that brings it to shard_bytes; the parquet sink's also
// before a batch whose columns do not fit the shard's, ingest.ParquetFits)
// over the rows' sizes in output order.
type planFn struct{ shardedSink }

func (f *planFn) ProcessElement(ctx context.Context, _ []byte, sizes func(*SizeInfo) bool, emit func(int64, Cuts)) error {
	c, _, _, err := f.component()
	if err != nil {
		return err
	}
	limit := c.Params.Size("shard_bytes")
	all := collect(sizes)
	slices.SortFunc(all, func(a, b SizeInfo) int { return cmp.Compare(a.Key, b.Key) })
	shard, raw := int32(0), int64(0)
	var open *arrow.Schema // the parquet shard's opening batch's schema
	schemas := map[string]*arrow.Schema{}
	for _, b := range all {
		var schema *arrow.Schema
		if b.Schema != nil {
			if schema = schemas[string(b.Schema)]; schema == nil {
				if schema, err = decodeSchema(b.Schema); err != nil {
					return fmt.Errorf("%s: %w", where(c), err)
				}
				schemas[string(b.Schema)] = schema
			}
			if open != nil && !ingest.ParquetFits(open, schema) {
				shard, raw, open = shard+1, 0, nil
			}
		}
		var cuts Cuts
		for i, n := range b.Sizes {
			if open == nil {
				open = schema
			}
			if len(cuts.Shards) == 0 || cuts.Shards[len(cuts.Shards)-1] != shard {
				cuts.Starts, cuts.Shards = append(cuts.Starts, int32(i)), append(cuts.Shards, shard)
			}
			if raw += n; raw >= limit {
				shard, raw, open = shard+1, 0, nil
			}
		}
		emit(b.Key, cuts)
	}
	shards := int(shard)
	if open != nil || raw > 0 {
		shards++
	}
	blog.Infof(ctx, "%s: %d documents planned into %d shards", where(c), countRows(all), shards)
	return nil
}

func countRows(all []SizeInfo) int {
	n := 0
	for _, s := range all {
		n += len(s.Sizes)
	}
	return n
}

// splitFn cuts a batch into its shards' parts.
type splitFn struct{ shardedSink }

func (f *splitFn) ProcessElement(ctx context.Context, key int64, batches func(*Batch) bool, cuts func(*Cuts) bool, emit func(int, Batch)) error {
	var b Batch
	var cut Cuts
	if !batches(&b) || !cuts(&cut) {
		return fmt.Errorf("sink %d: batch %x without its shard plan", f.Sink, key)
	}
	if len(cut.Shards) == 1 {
		emit(int(cut.Shards[0]), b)
		return nil
	}
	alloc := memory.NewGoAllocator()
	rec, err := decode(alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	for k, start := range cut.Starts {
		end := int32(len(b.Order))
		if k+1 < len(cut.Starts) {
			end = cut.Starts[k+1]
		}
		part := rec.NewSlice(int64(start), int64(end))
		pb, err := newBatch(part, b.Order[start:end])
		part.Release()
		if err != nil {
			return err
		}
		emit(int(cut.Shards[k]), pb)
	}
	return nil
}

// writeShardFn writes one shard's parts, in output order, with the sink's
// own code, and copies the shard to its final name.
type writeShardFn struct{ shardedSink }

func (f *writeShardFn) ProcessElement(ctx context.Context, shard int, parts func(*Batch) bool, emit func(ShardOut)) error {
	all := collect(parts)
	sortBatches(all)
	l, err := f.local("")
	if err != nil {
		return err
	}
	defer l.close()
	m, err := l.write(ctx, all)
	if err != nil {
		return err
	}
	if len(m.Shards) != 1 {
		return fmt.Errorf("%s: shard %d came out as %d files", where(l.c), shard, len(m.Shards))
	}
	info := m.Shards[0]
	ext := strings.TrimPrefix(info.Name, "part-00000")
	info.Name = fmt.Sprintf("part-%05d%s", shard, ext)
	out := storage.Join(outDir(l.p, l.c), info.Name)
	if err := copyTo(ctx, filepath.Join(l.dir, m.Shards[0].Name), out); err != nil {
		return fmt.Errorf("%s: %w", where(l.c), err)
	}
	emit(ShardOut{Shard: shard, Info: info})
	return nil
}

// outDir is the sink's folder, resolved as the local engine resolves it.
func outDir(p *pipelines.Pipeline, c pipelines.Component) string {
	return (&pipelines.Env{Dir: p.Dir}).Path(c.Params.String("path"))
}

// copyTo copies a local file to path (local or remote), atomically.
func copyTo(ctx context.Context, from, path string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	w, err := storage.Create(ctx, path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := io.Copy(w, in); err != nil {
		w.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("commit %s: %w", path, err)
	}
	return nil
}

// manifestFn writes manifest.json once every shard is written: the header
// (format, compression) from the sink itself, the shards in order.
type manifestFn struct{ shardedSink }

func (f *manifestFn) ProcessElement(ctx context.Context, _ []byte, shards func(*ShardOut) bool) error {
	all := collect(shards)
	slices.SortFunc(all, func(a, b ShardOut) int { return a.Shard - b.Shard })
	l, err := f.local("")
	if err != nil {
		return err
	}
	defer l.close()
	c, p := l.c, l.p
	m, err := l.write(ctx, nil)
	if err != nil {
		return err
	}
	m.Shards = []ingest.ShardInfo{}
	for i, s := range all {
		if s.Shard != i {
			return fmt.Errorf("%s: shard %d missing", where(c), i)
		}
		m.Shards = append(m.Shards, s.Info)
		m.Documents += s.Info.Documents
		m.Bytes += s.Info.Bytes
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := storage.Join(outDir(p, c), ingest.ManifestFile)
	if err := storage.WriteFile(ctx, path, append(data, '\n')); err != nil {
		return fmt.Errorf("%s: write %s: %w", where(c), path, err)
	}
	blog.Infof(ctx, "%s: wrote %d documents in %d shards", where(c), m.Documents, len(m.Shards))
	return nil
}

// writeSharded translates the jsonl or parquet sink i (named name) into the
// five steps above.
func writeSharded(s beam.Scope, cfg Config, i int, name string, impulse, docs beam.PCollection) {
	sk := shardedSink{Config: cfg, Sink: i}
	sizes := beam.ParDo(s.Scope("sizes"), &sizeFn{shardedSink: sk, Parquet: name == "parquet"}, docs)
	cuts := beam.ParDo(s.Scope("plan"), &planFn{sk}, impulse, beam.SideInput{Input: sizes})
	keyed := beam.ParDo(s.Scope("key"), keyBatch, docs)
	parts := beam.ParDo(s.Scope("split"), &splitFn{sk}, beam.CoGroupByKey(s, keyed, cuts))
	written := beam.ParDo(s.Scope("write"), &writeShardFn{sk}, beam.GroupByKey(s, parts))
	beam.ParDo0(s.Scope("manifest"), &manifestFn{sk}, impulse, beam.SideInput{Input: written})
}

// keyBatch keys a batch by its Key, for joins.
func keyBatch(b Batch) (int64, Batch) { return b.Key, b }

func init() { beam.RegisterFunction(keyBatch) }

// encodeSchema serializes a schema as an Arrow IPC stream without records.
func encodeSchema(schema *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encoding a schema: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeSchema reads what encodeSchema wrote.
func decodeSchema(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decoding a schema: %w", err)
	}
	defer r.Release()
	return r.Schema(), nil
}
