package spill

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// Gather builds output batches from a Records spill in an order given row by
// row: Add the row number of each output row in turn (a row may come any
// number of times), then Emit.
//
// Reading rows one by one in a random order would read every input batch
// once per output batch. Gather instead splits the output into buckets of
// about bucketBytes, each a contiguous range of output positions; Emit reads
// the spill once, in order, sending each row's copies to their buckets (bucket
// files when there is more than one bucket), then loads one bucket at a time
// (the next one loading while the current one is emitted), puts its rows in
// output order and emits them. Memory: the (row, position) pairs go through
// a Sorter under the budget; Emit holds about twice bucketBytes of rows at a
// time.
type Gather struct {
	r           *Records
	sorter      *Sorter
	budget      *pipelines.Budget
	n           int64
	bucketBytes int64
	cur         int64   // bytes in the last bucket so far
	total       int64   // bytes of all output rows
	starts      []int64 // first output position of each bucket
	key, val    [8]byte
	cands       []int          // union columns whose values may be located (see locate)
	stored      []storage.File // Records.stored files, opened to read located values
}

// posColumn carries output positions through bucket files.
const posColumn = "__spill_pos"

// DefaultBucketBytes is the bucket size Gather uses for a budget: an
// eighth of it (Emit holds two buckets: one emitting, the next loading),
// between 256 KiB and 128 MiB.
func DefaultBucketBytes(b *pipelines.Budget) int64 {
	if b.Limit() == 0 {
		return 128 << 20
	}
	return min(max(b.Limit()/8, 256<<10), 128<<20)
}

// Gather starts an output order over the spilled rows; the spill must be
// finished. bucketBytes <= 0 means DefaultBucketBytes(budget).
func (r *Records) Gather(budget *pipelines.Budget, bucketBytes int64) (*Gather, error) {
	if !r.done {
		return nil, errors.New("spill: Records.Gather before Finish")
	}
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes(budget)
	}
	s, err := NewSorter(r.dir.path, 8, 8, budget)
	if err != nil {
		return nil, err
	}
	return &Gather{r: r, sorter: s, budget: budget, bucketBytes: bucketBytes, starts: []int64{0}}, nil
}

// Len returns the number of output rows added.
func (g *Gather) Len() int64 { return g.n }

// Buckets returns the number of buckets the output is split into.
func (g *Gather) Buckets() int { return len(g.starts) }

// Add appends spilled row number row as the next output row.
func (g *Gather) Add(ctx context.Context, row int64) error {
	if row < 0 || row >= g.r.rows {
		return fmt.Errorf("spill: Gather.Add: row %d out of range [0, %d)", row, g.r.rows)
	}
	b := g.r.rowBytes(row)
	if g.cur > 0 && g.cur+b > g.bucketBytes {
		g.starts = append(g.starts, g.n)
		g.cur = 0
	}
	g.cur += b
	g.total += b
	binary.BigEndian.PutUint64(g.key[:], uint64(row))
	binary.BigEndian.PutUint64(g.val[:], uint64(g.n))
	g.n++
	return g.sorter.Add(ctx, g.key[:], g.val[:])
}

// bucketOf returns the bucket of output position pos.
func (g *Gather) bucketOf(pos int64) int {
	return sort.Search(len(g.starts), func(i int) bool { return g.starts[i] > pos }) - 1
}

// Emit sends the output rows in order, in batches of at most maxRows rows
// and about maxBytes bytes, through emit, which borrows each batch. The
// batches have the spill's union schema.
func (g *Gather) Emit(ctx context.Context, maxRows int, maxBytes int64, emit func(arrow.Record) error) error {
	if g.n == 0 {
		return nil
	}
	if maxRows <= 0 {
		maxRows = pipelines.DefaultBatchRows
	}
	if maxBytes <= 0 {
		maxBytes = pipelines.DefaultBatchBytes
	}
	// Account for the bucket held in memory. The bucket size was fixed by
	// the budget when the gather started, so a budget others have filled
	// since does not stop the emit; it only goes unrecorded.
	if hold := min(2*g.bucketBytes, g.total); g.budget.TryReserve(hold) {
		defer g.budget.Release(hold)
	}
	alloc := g.r.alloc
	cctx := exec.WithAllocator(ctx, alloc)
	nb := len(g.starts)
	mem := make([][]arrow.Record, nb)
	files := make([]*Records, nb)
	var memBytes int64 // of the parts in mem: at most one bucket's worth
	defer func() {
		for _, recs := range mem {
			for _, r := range recs {
				r.Release()
			}
		}
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
		g.closeStored()
	}()

	// Pass 1: route every row copy to its bucket. Large values of batches
	// read in place from the barrier log go as their file positions only
	// (see locate); the parts stay in memory while they fit one bucket,
	// the rest goes to bucket files.
	g.cands = nil
	candsSet := false
	it, err := g.sorter.Iter(ctx)
	if err != nil {
		return err
	}
	defer it.Close()
	have := it.Next()
	idx := make([][]int64, nb)
	pos := make([][]int64, nb)
	// A bucket's parts (one per input batch, small when their values are
	// located) are joined into one before they are kept or written.
	pending := make([][]arrow.Record, nb)
	pendingBytes := make([]int64, nb)
	defer func() {
		for _, parts := range pending {
			for _, p := range parts {
				p.Release()
			}
		}
	}()
	const maxPending = 64
	flushBytes := min(1<<20, g.bucketBytes/8)
	flush := func(b int) error {
		parts := pending[b]
		pending[b], pendingBytes[b] = nil, 0
		if len(parts) == 0 {
			return nil
		}
		if joined := concatParts(alloc, parts); joined != nil {
			for _, p := range parts {
				p.Release()
			}
			parts = []arrow.Record{joined}
		}
		for i, part := range parts {
			if size := recordBytes(part); memBytes+size <= g.bucketBytes || nb == 1 {
				memBytes += size
				mem[b] = append(mem[b], part)
				continue
			}
			var err error
			if files[b] == nil {
				files[b], err = NewRecords(g.r.dir.path, alloc)
			}
			if err == nil {
				_, err = files[b].Append(ctx, part)
			}
			if err != nil {
				for _, p := range parts[i:] {
					p.Release()
				}
				return err
			}
			part.Release()
		}
		return nil
	}
	// takePart copies what it keeps: the frame buffers can be reused.
	err = g.r.scanFrames(ctx, true, true, func(rec arrow.Record, first int64, fr *frame) error {
		end := first + rec.NumRows()
		var touched []int
		for have {
			row := int64(binary.BigEndian.Uint64(it.Key()))
			if row >= end {
				break
			}
			p := int64(binary.BigEndian.Uint64(it.Value()))
			b := g.bucketOf(p)
			if len(idx[b]) == 0 {
				touched = append(touched, b)
			}
			idx[b] = append(idx[b], row-first)
			pos[b] = append(pos[b], p)
			have = it.Next()
		}
		sort.Ints(touched)
		if !candsSet { // the columns large in the first batch, located or not
			candsSet = true
			all := locCandidates(g.r.union)
			g.cands = all[:0:0]
			for k, l := range g.locateAmong(rec, fr, all) {
				if l.unit > 0 {
					g.cands = append(g.cands, all[k])
				}
			}
		}
		locs := g.locate(rec, fr)
		slim := g.slim(cctx, rec, locs)
		defer slim.Release()
		for _, b := range touched {
			part, err := g.takePart(cctx, rec, slim, idx[b], pos[b], locs)
			idx[b], pos[b] = idx[b][:0], pos[b][:0]
			if err != nil {
				return err
			}
			pending[b] = append(pending[b], part)
			pendingBytes[b] += recordBytes(part)
			if len(pending[b]) >= maxPending || pendingBytes[b] >= flushBytes {
				if err := flush(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for b := range pending {
		if err := flush(b); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if have {
		return errors.New("spill: Gather: rows past the end of the spill")
	}
	it.Close()
	if err := g.sorter.Close(); err != nil { // its reservation is the buckets' now
		return err
	}

	// Pass 2: one bucket at a time, rows into output order, the next
	// bucket loading meanwhile. The stored files are opened first: the
	// workers building output batches read from them concurrently.
	for i := range g.r.stored {
		if _, err := g.storedFile(ctx, i); err != nil {
			return err
		}
	}
	type loaded struct {
		parts []arrow.Record
		err   error
	}
	load := func(b int) chan loaded {
		ch := make(chan loaded, 1)
		parts := mem[b]
		mem[b] = nil
		if files[b] == nil {
			ch <- loaded{parts: parts}
			return ch
		}
		f := files[b]
		files[b] = nil
		go func() {
			defer f.Close()
			err := f.Finish()
			if err == nil {
				err = f.scanFrames(ctx, true, false, func(rec arrow.Record, _ int64, _ *frame) error {
					rec.Retain()
					parts = append(parts, rec)
					return nil
				})
			}
			ch <- loaded{parts, err}
		}()
		return ch
	}
	release := func(parts []arrow.Record) {
		for _, r := range parts {
			r.Release()
		}
	}
	next := load(0)
	defer func() { // a load still in flight after an error
		if next != nil {
			release((<-next).parts)
		}
	}()
	for b := 0; b < nb; b++ {
		cur := <-next
		next = nil
		if b+1 < nb {
			next = load(b + 1)
		}
		if cur.err != nil {
			release(cur.parts)
			return cur.err
		}
		end := g.n
		if b+1 < nb {
			end = g.starts[b+1]
		}
		err := g.emitBucket(cctx, cur.parts, g.starts[b], end, maxRows, maxBytes, emit)
		release(cur.parts)
		if err != nil {
			return err
		}
	}
	return nil
}

// emitWorkers build a bucket's output batches in parallel.
const emitWorkers = 2

// Large values of a batch read in place from the barrier log (see frame)
// are not copied through the buckets: a bucket part holds a null in their
// column and the value's place in the file (file index << 48 | position;
// length in bytes | bytes of one unit << 56) in two extra columns, and the
// final copy reads the value from there (the log was just written: the
// reads come from the page cache). The columns that may be located are the
// text and token list columns (int32, or packed uint16) averaging
// minLocated bytes a row (ids counted as int32) in the first batch; a batch
// where such a column is smaller copies it.
const (
	minLocated = 256
	locShift   = 48
	unitShift  = 56 // the length column's top byte: bytes of one value unit
)

// locCandidates returns the columns of union whose values can be located.
func locCandidates(union []arrow.Field) []int {
	var c []int
	for i, f := range union {
		if f.Type.ID() == arrow.STRING || isInt32List(f.Type) {
			c = append(c, i)
		}
	}
	return c
}

// colLoc is where a located column's values start: the file position of
// value 0 of its values buffer (with the file index in the top bits) and
// the bytes of one value unit (1 for text, 4 for int32 ids).
type colLoc struct {
	base int64
	unit int64
}

// locate returns, per candidate column, where rec's values lie in the
// stored file, or a zero colLoc for a column whose values are copied.
func (g *Gather) locate(rec arrow.Record, fr *frame) []colLoc {
	return g.locateAmong(rec, fr, g.cands)
}

func (g *Gather) locateAmong(rec arrow.Record, fr *frame, cands []int) []colLoc {
	if fr == nil || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 || fr.file >= 1<<(63-locShift) {
		return nil
	}
	n := rec.NumRows()
	locs := make([]colLoc, len(cands))
	for k, c := range cands {
		var vals []byte
		var unit, first int64
		switch a := rec.Column(c).(type) {
		case *array.String:
			vals, unit = a.Data().Buffers()[2].Bytes(), 1
		case *array.List:
			v := a.ListValues()
			if v.NullN() > 0 {
				continue
			}
			switch v.DataType().ID() {
			case arrow.INT32:
				unit = 4
			case arrow.UINT16: // packed in the log
				unit = 2
			default:
				continue
			}
			vals, first = v.Data().Buffers()[1].Bytes(), int64(v.Data().Offset())
		default:
			continue
		}
		size := int64(len(vals))
		if unit == 2 { // packed ids count as what they are unpacked
			size *= 2
		}
		if size < minLocated*n {
			continue
		}
		at := fr.position(vals)
		if at < 0 || at>>locShift != 0 {
			continue
		}
		locs[k] = colLoc{base: int64(fr.file)<<locShift | (at - first*unit), unit: unit}
	}
	return locs
}

// slim returns rec (a raw batch in union column order) with its located
// columns null (owned by the caller).
func (g *Gather) slim(ctx context.Context, rec arrow.Record, locs []colLoc) arrow.Record {
	var cols []arrow.Array
	for k, c := range g.cands {
		if k >= len(locs) || locs[k].unit == 0 {
			continue
		}
		if cols == nil {
			cols = append([]arrow.Array(nil), rec.Columns()...)
		}
		cols[c] = array.MakeArrayOfNull(exec.GetAllocator(ctx), rec.Column(c).DataType(), int(rec.NumRows()))
		defer cols[c].Release()
	}
	if cols == nil {
		rec.Retain()
		return rec
	}
	return array.NewRecord(rec.Schema(), cols, rec.NumRows())
}

// takePart returns rows idx of slim (rec with its located columns null) for
// a bucket: its columns; per candidate column the location columns, from
// rec; and the output positions pos as the last column.
func (g *Gather) takePart(ctx context.Context, rec, slim arrow.Record, idx, pos []int64, locs []colLoc) (arrow.Record, error) {
	alloc := exec.GetAllocator(ctx)
	extra := make([]pipelines.Column, 0, 2*len(g.cands)+1)
	defer func() {
		for _, e := range extra {
			e.Array.Release()
		}
	}()
	for k, c := range g.cands {
		ob := array.NewInt64Builder(alloc)
		lb := array.NewInt64Builder(alloc)
		if k < len(locs) && locs[k].unit > 0 {
			l := locs[k]
			ob.Reserve(len(idx))
			lb.Reserve(len(idx))
			col := rec.Column(c)
			for _, i := range idx {
				if col.IsNull(int(i)) {
					ob.AppendNull()
					lb.AppendNull()
					continue
				}
				var s, e int64
				switch a := col.(type) {
				case *array.String:
					s = int64(a.ValueOffset(int(i)))
					e = s + int64(a.ValueLen(int(i)))
				case *array.List:
					s, e = a.ValueOffsets(int(i))
				}
				ob.Append(l.base + s*l.unit)
				lb.Append((e-s)*l.unit | l.unit<<unitShift)
			}
		} else {
			ob.AppendNulls(len(idx))
			lb.AppendNulls(len(idx))
		}
		extra = append(extra, pipelines.Column{Name: fmt.Sprintf("__spill_loc%d", c), Array: ob.NewArray()},
			pipelines.Column{Name: fmt.Sprintf("__spill_len%d", c), Array: lb.NewArray()})
		ob.Release()
		lb.Release()
	}
	extra = append(extra, pipelines.Column{Name: posColumn, Array: pipelines.NewInts(alloc, pos)})
	return TakeRows(alloc, slim, idx, extra...)
}

// concatParts joins parts of one schema into one record (owned by the
// caller); nil when there is one part, or their column types differ.
func concatParts(alloc memory.Allocator, parts []arrow.Record) arrow.Record {
	if len(parts) < 2 {
		return nil
	}
	s := parts[0].Schema()
	var rows int64
	for _, p := range parts {
		if !p.Schema().Equal(s) {
			return nil
		}
		rows += p.NumRows()
	}
	cols := make([]arrow.Array, s.NumFields())
	defer releaseAll(cols)
	chunks := make([]arrow.Array, len(parts))
	for c := range cols {
		for i, p := range parts {
			chunks[i] = p.Column(c)
		}
		a, err := array.Concatenate(chunks, alloc)
		if err != nil {
			return nil
		}
		cols[c] = a
	}
	return array.NewRecord(s, cols, rows)
}

// storedFile returns stored file i, opened.
func (g *Gather) storedFile(ctx context.Context, i int) (storage.File, error) {
	for len(g.stored) <= i {
		g.stored = append(g.stored, nil)
	}
	if g.stored[i] == nil {
		f, err := storage.Open(ctx, g.r.stored[i])
		if err != nil {
			return nil, fmt.Errorf("spill: %w", err)
		}
		g.stored[i] = f
	}
	return g.stored[i], nil
}

func (g *Gather) closeStored() {
	for _, f := range g.stored {
		if f != nil {
			f.Close()
		}
	}
	g.stored = nil
}

// TakeRows returns a new record (owned by the caller) holding rows idx of
// rec, in that order (a row may repeat), followed by the extra columns
// (borrowed; each must have len(idx) rows). rec is borrowed. Text, token
// lists and numbers are copied straight into pre-sized buffers; columns keep
// their types.
func TakeRows(alloc memory.Allocator, rec arrow.Record, idx []int64, extra ...pipelines.Column) (arrow.Record, error) {
	gc := &gatherCols{ctx: exec.WithAllocator(context.Background(), alloc), alloc: alloc, parts: []arrow.Record{rec}}
	defer gc.release()
	refs := make([]rowRef, len(idx))
	for i, x := range idx {
		if x < 0 || x >= rec.NumRows() {
			return nil, fmt.Errorf("spill: take: row %d of a batch of %d", x, rec.NumRows())
		}
		refs[i] = rowRef{row: int32(x)}
	}
	ncol := int(rec.NumCols())
	cols := make([]arrow.Array, ncol, ncol+len(extra))
	defer func() { releaseAll(cols) }()
	for c := 0; c < ncol; c++ {
		a, err := gc.column(c, refs, rec.Schema().Field(c).Type)
		if err != nil {
			return nil, fmt.Errorf("spill: take column %q: %w", rec.Schema().Field(c).Name, err)
		}
		cols[c] = a
	}
	fields := append([]arrow.Field(nil), rec.Schema().Fields()...)
	for _, e := range extra {
		if e.Array.Len() != len(idx) {
			return nil, fmt.Errorf("spill: take: column %q has %d rows, want %d", e.Name, e.Array.Len(), len(idx))
		}
		e.Array.Retain()
		cols = append(cols, e.Array)
		fields = append(fields, arrow.Field{Name: e.Name, Type: e.Array.DataType(), Nullable: true})
	}
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(len(idx))), nil
}

// emitBucket puts the rows of one bucket (positions start..end-1, each once)
// in order and emits them in bounded batches, copying each output batch's
// rows straight out of the parts (no concatenated copy of the bucket) and
// widening packed token lists on the way.
func (g *Gather) emitBucket(ctx context.Context, parts []arrow.Record, start, end int64, maxRows int, maxBytes int64, emit func(arrow.Record) error) error {
	posCol := int(parts[0].NumCols()) - 1
	ncol := len(g.r.union)
	refs := make([]rowRef, end-start)
	seen := make([]bool, end-start)
	var rows int64
	for pi, p := range parts {
		ps := p.Column(posCol).(*array.Int64).Int64Values()
		for r, x := range ps {
			if x < start || x >= end || seen[x-start] {
				return fmt.Errorf("spill: gather: bad position %d in bucket [%d, %d)", x, start, end)
			}
			seen[x-start] = true
			refs[x-start] = rowRef{part: int32(pi), row: int32(r)}
		}
		rows += int64(len(ps))
	}
	if rows != end-start {
		return fmt.Errorf("spill: gather: bucket [%d, %d) has %d rows", start, end, rows)
	}
	per := max(1, g.total/max(1, g.n)) // parts may hold locations, not values
	chunk := max(1, min(int64(maxRows), maxBytes/per))
	cand := map[int]int{}
	for k, c := range g.cands {
		cand[c] = ncol + 2*k
	}
	// Output batches are built by emitWorkers goroutines (each with its own
	// gatherCols: the fallback's concatenations are cached per worker) and
	// emitted in order.
	build := func(gc *gatherCols, lo, hi int64) (arrow.Record, error) {
		cols := make([]arrow.Array, ncol)
		for c := range cols {
			var a arrow.Array
			var err error
			if lc, ok := cand[c]; ok && gc.anyLocated(lc) {
				a, err = gc.located(c, lc, refs[lo:hi], g.r.schema.Field(c).Type)
			} else {
				a, err = gc.column(c, refs[lo:hi], g.r.schema.Field(c).Type)
			}
			if err != nil {
				releaseAll(cols)
				return nil, fmt.Errorf("spill: gather column %q: %w", g.r.schema.Field(c).Name, err)
			}
			cols[c] = a
		}
		defer releaseAll(cols)
		return array.NewRecord(g.r.schema, cols, hi-lo), nil
	}
	type built struct {
		rec arrow.Record
		err error
	}
	type job struct {
		lo, hi int64
		out    chan built
	}
	workers := int(min(emitWorkers, (rows+chunk-1)/chunk))
	jobs := make(chan job)
	queue := make(chan chan built, workers) // results in output order
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gc := &gatherCols{ctx: ctx, alloc: exec.GetAllocator(ctx), parts: parts, g: g}
			defer gc.release()
			for j := range jobs {
				rec, err := build(gc, j.lo, j.hi)
				j.out <- built{rec, err}
			}
		}()
	}
	go func() {
		defer close(queue)
		defer close(jobs)
		for lo := int64(0); lo < rows; lo += chunk {
			out := make(chan built, 1)
			select {
			case jobs <- job{lo, min(lo+chunk, rows), out}:
			case <-stop:
				return
			}
			select {
			case queue <- out:
			case <-stop:
				if b := <-out; b.rec != nil {
					b.rec.Release()
				}
				return
			}
		}
	}()
	var err error
	for out := range queue {
		b := <-out
		switch {
		case err != nil:
		case b.err != nil:
			err = b.err
			close(stop)
		default:
			if err = emit(b.rec); err != nil {
				close(stop)
			}
		}
		if b.rec != nil {
			b.rec.Release()
		}
	}
	wg.Wait()
	return err
}

// rowRef names a row of one of a bucket's parts.
type rowRef struct{ part, row int32 }

func releaseAll(as []arrow.Array) {
	for i, a := range as {
		if a != nil {
			a.Release()
			as[i] = nil
		}
	}
}

// gatherCols copies rows of a bucket's parts into new columns. The common
// column types are copied directly into pre-sized builders; any other type
// is concatenated over the parts once and taken from.
type gatherCols struct {
	ctx    context.Context
	alloc  memory.Allocator
	parts  []arrow.Record
	concat map[int]arrow.Array
	offset []int64 // first row of each part in a concatenation
	g      *Gather // for located values
}

// anyLocated reports whether a part has a location in column lc.
func (gc *gatherCols) anyLocated(lc int) bool {
	for _, p := range gc.parts {
		if lc < int(p.NumCols()) && p.Column(lc).NullN() < p.Column(lc).Len() {
			return true
		}
	}
	return false
}

// located copies rows refs of column c (text or token lists) into a new
// array of type want, reading a value located in column lc (and its length
// in lc+1) from the stored file and copying the others from the parts.
// Token ids stored packed (2 bytes each) are widened on the way.
func (gc *gatherCols) located(c, lc int, refs []rowRef, want arrow.DataType) (arrow.Array, error) {
	n := len(refs)
	unit := int64(1) // of the output's values
	if want.ID() != arrow.STRING {
		unit = 4
	}
	type src struct {
		at, size int64 // located: file position, bytes, bytes of a unit; size -1: a value from the part
		su       int64
	}
	srcs := make([]src, n)
	var total int64 // output units
	nulls := 0
	for i, r := range refs {
		p := gc.parts[r.part]
		loc := p.Column(lc).(*array.Int64)
		if loc.IsValid(int(r.row)) {
			v := p.Column(lc + 1).(*array.Int64).Value(int(r.row))
			sr := src{at: loc.Value(int(r.row)), size: v & (1<<unitShift - 1), su: v >> unitShift}
			if sr.su != unit && !(sr.su == 2 && unit == 4) {
				return nil, fmt.Errorf("located values of %d bytes for %s", sr.su, want)
			}
			srcs[i] = sr
			total += sr.size / sr.su
			continue
		}
		srcs[i].size = -1
		col := p.Column(c)
		if col.IsNull(int(r.row)) {
			nulls++
			continue
		}
		switch a := col.(type) {
		case *array.String:
			total += int64(a.ValueLen(int(r.row)))
		case *array.List:
			s, e := a.ValueOffsets(int(r.row))
			total += e - s
		default:
			return nil, fmt.Errorf("column of %s", col.DataType())
		}
	}
	offs, vals := gc.varBuffers(n, int(total*unit))
	defer offs.Release()
	defer vals.Release()
	o := arrow.Int32Traits.CastFromBytes(offs.Bytes())
	d := vals.Bytes()
	var pos int64 // output units
	for i, r := range refs {
		o[i] = int32(pos)
		if sr := srcs[i]; sr.size >= 0 {
			f, err := gc.g.storedFile(gc.ctx, int(sr.at>>locShift))
			if err != nil {
				return nil, err
			}
			k := sr.size / sr.su
			dst := d[pos*unit : (pos+k)*unit]
			if sr.su != unit { // packed ids: read, then widen in place from the back
				dst = dst[:sr.size]
			}
			if _, err := f.ReadAt(dst, sr.at&(1<<locShift-1)); err != nil {
				return nil, fmt.Errorf("reading a located value: %w", err)
			}
			if sr.su != unit {
				wide := arrow.Int32Traits.CastFromBytes(d[pos*4 : (pos+k)*4])
				narrow := arrow.Uint16Traits.CastFromBytes(dst)
				for j := k - 1; j >= 0; j-- {
					wide[j] = int32(narrow[j])
				}
			}
			pos += k
			continue
		}
		switch a := gc.parts[r.part].Column(c).(type) {
		case *array.String:
			pos += int64(copy(d[pos:], a.Value(int(r.row))))
		case *array.List:
			if a.IsNull(int(r.row)) {
				continue
			}
			s, e := a.ValueOffsets(int(r.row))
			dst := arrow.Int32Traits.CastFromBytes(d[pos*4 : (pos+e-s)*4])
			switch v := a.ListValues().(type) {
			case *array.Uint16:
				for k, x := range v.Uint16Values()[s:e] {
					dst[k] = int32(x)
				}
			case *array.Int32:
				copy(dst, v.Int32Values()[s:e])
			default:
				return nil, fmt.Errorf("token list of %s", v.DataType())
			}
			pos += e - s
		}
	}
	o[n] = int32(pos)
	return gc.varArray(want, n, nulls, func(i int) bool {
		return srcs[i].size >= 0 || gc.parts[refs[i].part].Column(c).IsValid(int(refs[i].row))
	}, offs, vals, int(total)), nil
}

func (gc *gatherCols) release() {
	for _, a := range gc.concat {
		a.Release()
	}
}

// column copies rows refs of column c of the parts into a new array of
// type want. Parts may hold a token list packed (list<uint16>) or not
// (list<int32>); every other column has one type in all parts.
func (gc *gatherCols) column(c int, refs []rowRef, want arrow.DataType) (arrow.Array, error) {
	col := func(r rowRef) arrow.Array { return gc.parts[r.part].Column(c) }
	if isTokenList(want) {
		if a, ok := gc.tokenList(c, refs, want.(*arrow.ListType)); ok {
			return a, nil
		}
	}
	switch gc.parts[0].Column(c).(type) {
	case *array.String:
		if arrow.TypeEqual(want, arrow.BinaryTypes.String) {
			return gc.strings(c, refs), nil
		}
	case *array.Int64:
		return gatherPrimitive(array.NewInt64Builder(gc.alloc), refs, func(r rowRef) (*array.Int64, int) { return col(r).(*array.Int64), int(r.row) }), nil
	case *array.Float64:
		return gatherPrimitive(array.NewFloat64Builder(gc.alloc), refs, func(r rowRef) (*array.Float64, int) { return col(r).(*array.Float64), int(r.row) }), nil
	case *array.Int32:
		return gatherPrimitive(array.NewInt32Builder(gc.alloc), refs, func(r rowRef) (*array.Int32, int) { return col(r).(*array.Int32), int(r.row) }), nil
	case *array.Boolean:
		return gatherPrimitive(array.NewBooleanBuilder(gc.alloc), refs, func(r rowRef) (*array.Boolean, int) { return col(r).(*array.Boolean), int(r.row) }), nil
	}
	return gc.takeColumn(c, refs)
}

// varBuffers allocates the offsets of n rows and size bytes of values of a
// text or list column copied in place (see varArray); the caller releases
// both.
func (gc *gatherCols) varBuffers(n, size int) (offs, vals *memory.Buffer) {
	offs = memory.NewResizableBuffer(gc.alloc)
	offs.Resize((n + 1) * 4)
	vals = memory.NewResizableBuffer(gc.alloc)
	vals.Resize(size)
	return offs, vals
}

// varArray assembles n rows of want (utf8, or a list of nvals values) from
// offs and vals (borrowed), the nulls rows where valid is false null.
func (gc *gatherCols) varArray(want arrow.DataType, n, nulls int, valid func(i int) bool, offs, vals *memory.Buffer, nvals int) arrow.Array {
	var bits *memory.Buffer
	if nulls > 0 {
		bits = memory.NewResizableBuffer(gc.alloc)
		defer bits.Release()
		bits.Resize(int(bitutil.BytesForBits(int64(n))))
		b := bits.Bytes()
		for i := range n {
			bitutil.SetBitTo(b, i, valid(i))
		}
	}
	lt, ok := want.(*arrow.ListType)
	if !ok {
		ad := array.NewData(want, n, []*memory.Buffer{bits, offs, vals}, nil, nulls, 0)
		defer ad.Release()
		return array.NewStringData(ad)
	}
	child := array.NewData(lt.Elem(), nvals, []*memory.Buffer{nil, vals}, nil, 0, 0)
	defer child.Release()
	ad := array.NewData(want, n, []*memory.Buffer{bits, offs}, []arrow.ArrayData{child}, nulls, 0)
	defer ad.Release()
	return array.NewListData(ad)
}

// strings copies utf8 rows into one offsets and one data buffer.
func (gc *gatherCols) strings(c int, refs []rowRef) arrow.Array {
	n, total, nulls := len(refs), 0, 0
	for _, r := range refs {
		a := gc.parts[r.part].Column(c).(*array.String)
		if a.IsNull(int(r.row)) {
			nulls++
		}
		total += a.ValueLen(int(r.row))
	}
	offs, data := gc.varBuffers(n, total)
	defer offs.Release()
	defer data.Release()
	o := arrow.Int32Traits.CastFromBytes(offs.Bytes())
	d := data.Bytes()
	pos := 0
	for i, r := range refs {
		o[i] = int32(pos)
		pos += copy(d[pos:], gc.parts[r.part].Column(c).(*array.String).Value(int(r.row)))
	}
	o[n] = int32(pos)
	return gc.varArray(arrow.BinaryTypes.String, n, nulls, gc.validAt(c, refs), offs, data, total)
}

// validAt reports whether row i of refs is valid in column c of the parts.
func (gc *gatherCols) validAt(c int, refs []rowRef) func(i int) bool {
	return func(i int) bool { return gc.parts[refs[i].part].Column(c).IsValid(int(refs[i].row)) }
}

// tokenList copies token id lists, packed (uint16) or not (int32), into a
// list of want's element type: int32 widens, uint16 only takes packed
// lists. It reports false for a column it cannot copy that way.
func (gc *gatherCols) tokenList(c int, refs []rowRef, want *arrow.ListType) (arrow.Array, bool) {
	wide := want.Elem().ID() == arrow.INT32
	n, total, nulls := len(refs), 0, 0
	for _, p := range gc.parts {
		l, ok := p.Column(c).(*array.List)
		if !ok {
			return nil, false
		}
		switch l.ListValues().(type) {
		case *array.Int32:
			if !wide {
				return nil, false
			}
		case *array.Uint16:
		default:
			return nil, false
		}
		if l.ListValues().NullN() > 0 {
			return nil, false
		}
	}
	for _, r := range refs {
		l := gc.parts[r.part].Column(c).(*array.List)
		if l.IsNull(int(r.row)) {
			nulls++
			continue
		}
		s, e := l.ValueOffsets(int(r.row))
		total += int(e - s)
	}
	size := 2
	if wide {
		size = 4
	}
	offs, vals := gc.varBuffers(n, total*size)
	defer offs.Release()
	defer vals.Release()
	o := arrow.Int32Traits.CastFromBytes(offs.Bytes())
	var d32 []int32
	var d16 []uint16
	if wide {
		d32 = arrow.Int32Traits.CastFromBytes(vals.Bytes())
	} else {
		d16 = arrow.Uint16Traits.CastFromBytes(vals.Bytes())
	}
	pos := 0
	for i, r := range refs {
		o[i] = int32(pos)
		l := gc.parts[r.part].Column(c).(*array.List)
		if l.IsNull(int(r.row)) {
			continue
		}
		s, e := l.ValueOffsets(int(r.row))
		switch v := l.ListValues().(type) {
		case *array.Uint16:
			src := v.Uint16Values()[s:e]
			if wide {
				dst := d32[pos : pos+len(src)]
				for k, x := range src {
					dst[k] = int32(x)
				}
			} else {
				copy(d16[pos:], src)
			}
		case *array.Int32:
			copy(d32[pos:], v.Int32Values()[s:e])
		}
		pos += int(e - s)
	}
	o[n] = int32(pos)
	return gc.varArray(want, n, nulls, gc.validAt(c, refs), offs, vals, total), true
}

type valueArray[T any] interface {
	arrow.Array
	Value(int) T
}

type valueBuilder[T any] interface {
	array.Builder
	Append(T)
}

func gatherPrimitive[T any, A valueArray[T], B valueBuilder[T]](b B, refs []rowRef, at func(rowRef) (A, int)) arrow.Array {
	defer b.Release()
	b.Reserve(len(refs))
	for _, r := range refs {
		a, i := at(r)
		if a.IsNull(i) {
			b.AppendNull()
		} else {
			b.Append(a.Value(i))
		}
	}
	return b.NewArray()
}

// takeColumn is the fallback for other column types: the column of every
// part concatenated (once per bucket), then the rows taken from it.
func (gc *gatherCols) takeColumn(c int, refs []rowRef) (arrow.Array, error) {
	if gc.concat == nil {
		gc.concat = map[int]arrow.Array{}
		var off int64
		for _, p := range gc.parts {
			gc.offset = append(gc.offset, off)
			off += p.NumRows()
		}
	}
	all, ok := gc.concat[c]
	if !ok {
		chunks := make([]arrow.Array, len(gc.parts))
		for i, p := range gc.parts {
			chunks[i] = p.Column(c)
		}
		var err error
		if all, err = array.Concatenate(chunks, gc.alloc); err != nil {
			return nil, err
		}
		gc.concat[c] = all
	}
	idx := make([]int64, len(refs))
	for i, r := range refs {
		idx[i] = gc.offset[r.part] + int64(r.row)
	}
	ia := pipelines.NewInts(gc.alloc, idx)
	defer ia.Release()
	out, err := compute.TakeArray(gc.ctx, all, ia)
	if err != nil {
		return nil, fmt.Errorf("take: %w", err)
	}
	return out, nil
}

// Close removes the gather's files and gives back its reservation.
func (g *Gather) Close() error {
	if g.sorter == nil {
		return nil
	}
	err := g.sorter.Close()
	g.sorter = nil
	return err
}
