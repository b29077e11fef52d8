package spill

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"golang.org/x/sync/errgroup"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// Records is an append-only spill of record batches in Arrow IPC files.
//
// Append writes a batch (borrowed: it is serialized, not retained) and
// returns the row number of its first row; rows are numbered 0, 1, 2... in
// append order across batches. Batches may differ in schema (sources with
// different extra fields): a new file starts at each change, and reads give
// every batch the union schema, with nulls in the columns a batch lacked. A
// column that changes type is an error. After Finish, Scan reads the batches
// back in order and Gather fetches rows in any order. Close removes the files.
type Records struct {
	alloc   memory.Allocator
	dir     *folder
	files   []recFile
	batches []batchInfo
	union   []arrow.Field
	byName  map[string]int
	stored  []string      // files holding batches added by AppendStored
	schema  *arrow.Schema // union schema, built by Finish
	rows    int64
	bytes   int64

	w    storage.Writer
	bw   *bufio.Writer
	fw   *ipc.FileWriter
	done bool
}

type recFile struct {
	path    string
	schema  *arrow.Schema
	batches int
}

type batchInfo struct {
	file, index int                 // IPC file and batch within it
	stored      *pipelines.LogFrame // or where the batch is stored elsewhere (AppendStored)
	storedFile  int                 // index of stored.Path in Records.stored
	schema      *arrow.Schema       // of a stored batch
	first       int64               // row number of the batch's first row
	rows        int
	bytes       int64
}

// NewRecords returns an empty record spill whose files go in a private
// folder under dir (the system's temporary folder when dir is ""). alloc
// allocates the batches read back.
func NewRecords(dir string, alloc memory.Allocator) (*Records, error) {
	f, err := newFolder(dir, "records-")
	if err != nil {
		return nil, err
	}
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	return &Records{alloc: alloc, dir: f, byName: map[string]int{}}, nil
}

// Rows returns the number of rows appended.
func (r *Records) Rows() int64 { return r.rows }

// Bytes returns the in-memory size of the batches appended (the Arrow buffer
// bytes), the measure Gather plans its memory with.
func (r *Records) Bytes() int64 { return r.bytes }

// Append writes rec to the spill and returns the row number of its first
// row. Empty batches are skipped.
func (r *Records) Append(ctx context.Context, rec arrow.Record) (int64, error) {
	first := r.rows
	if r.done {
		return first, errors.New("spill: Records.Append after Finish")
	}
	if rec.NumRows() == 0 {
		return first, nil
	}
	if err := r.addFields(rec.Schema()); err != nil {
		return first, err
	}
	stored := pipelines.PackTokenLists(r.alloc, rec)
	defer stored.Release()
	if r.fw == nil || !r.files[len(r.files)-1].schema.Equal(stored.Schema()) {
		if err := r.closeFile(); err != nil {
			return first, err
		}
		if err := r.openFile(ctx, stored.Schema()); err != nil {
			return first, err
		}
	}
	if err := r.fw.Write(stored); err != nil {
		return first, fmt.Errorf("spill: writing %s: %w", r.files[len(r.files)-1].path, err)
	}
	f := &r.files[len(r.files)-1]
	size := recordBytes(rec)
	r.batches = append(r.batches, batchInfo{file: len(r.files) - 1, index: f.batches,
		first: first, rows: int(rec.NumRows()), bytes: size})
	f.batches++
	r.rows += rec.NumRows()
	r.bytes += size
	return first, nil
}

// AppendStored adds rec without writing it: bytes [at.Offset,
// at.Offset+at.Length) of the file at.Path hold rec as an Arrow IPC stream
// (a batch of the runner's barrier log: see pipelines.LogAbsorber), and
// Scan and Gather read it from there. The caller guarantees that the bytes
// stay there from Finish until Close; Close does not remove them. It
// returns the row number of rec's first row, like Append.
func (r *Records) AppendStored(rec arrow.Record, at pipelines.LogFrame) (int64, error) {
	first := r.rows
	if r.done {
		return first, errors.New("spill: Records.AppendStored after Finish")
	}
	if rec.NumRows() == 0 {
		return first, nil
	}
	if err := r.addFields(rec.Schema()); err != nil {
		return first, err
	}
	size := recordBytes(rec)
	sf := len(r.stored) - 1
	if sf < 0 || r.stored[sf] != at.Path {
		sf = len(r.stored)
		r.stored = append(r.stored, at.Path)
	}
	r.batches = append(r.batches, batchInfo{file: -1, stored: &at, storedFile: sf, schema: rec.Schema(),
		first: first, rows: int(rec.NumRows()), bytes: size})
	r.rows += rec.NumRows()
	r.bytes += size
	return first, nil
}

func (r *Records) addFields(s *arrow.Schema) error {
	for _, f := range s.Fields() {
		i, ok := r.byName[f.Name]
		if !ok {
			r.byName[f.Name] = len(r.union)
			r.union = append(r.union, f)
			continue
		}
		t, err := unionType(r.union[i].Type, f.Type)
		if err != nil {
			return fmt.Errorf("spill: column %q: %w", f.Name, err)
		}
		if !arrow.TypeEqual(t, r.union[i].Type) {
			r.union[i].Type = t
			r.union[i].Nullable = true
		}
	}
	return nil
}

// unionType is the type a column takes when batches disagree: sources
// type an extra field per batch (float64 when every value is a number or
// null, bool, else utf8), so a column may be numbers in one batch and text
// in the next; it then reads back as text. Other changes are errors.
func unionType(a, b arrow.DataType) (arrow.DataType, error) {
	switch {
	case arrow.TypeEqual(a, b):
		return a, nil
	case a.ID() == arrow.NULL:
		return b, nil
	case b.ID() == arrow.NULL:
		return a, nil
	case scalarExtra(a) && scalarExtra(b):
		return arrow.BinaryTypes.String, nil
	case isTokenList(a) && isTokenList(b): // packed by pipelines.PackTokenLists, or not
		if isInt32List(a) {
			return a, nil
		}
		if isInt32List(b) {
			return b, nil
		}
		elem := a.(*arrow.ListType).ElemField()
		elem.Type = arrow.PrimitiveTypes.Int32
		return arrow.ListOfField(elem), nil
	}
	return nil, fmt.Errorf("type changes from %s to %s between batches", a, b)
}

func scalarExtra(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.FLOAT64, arrow.BOOL, arrow.INT64:
		return true
	}
	return false
}

func (r *Records) openFile(ctx context.Context, s *arrow.Schema) error {
	path := r.dir.next("batches") + ".arrow"
	w, err := r.dir.create(ctx, path)
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	bw := bufio.NewWriterSize(w, 256<<10) // one per open file: Gather keeps one per bucket
	fw, err := ipc.NewFileWriter(bw, ipc.WithSchema(s), ipc.WithAllocator(r.alloc))
	if err != nil {
		w.Abort()
		return fmt.Errorf("spill: %s: %w", path, err)
	}
	r.w, r.bw, r.fw = w, bw, fw
	r.files = append(r.files, recFile{path: path, schema: s})
	return nil
}

func (r *Records) closeFile() error {
	if r.fw == nil {
		return nil
	}
	path := r.files[len(r.files)-1].path
	fw, bw, w := r.fw, r.bw, r.w
	r.fw, r.bw, r.w = nil, nil, nil
	defer w.Abort()
	if err := fw.Close(); err != nil {
		return fmt.Errorf("spill: closing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("spill: closing %s: %w", path, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("spill: closing %s: %w", path, err)
	}
	return nil
}

// Finish ends appending: it closes the last file. Scan and Gather need it.
func (r *Records) Finish() error {
	if r.done {
		return nil
	}
	r.done = true
	for i, f := range r.union { // a column some batches lack is null there
		for _, file := range r.files {
			if !file.schema.HasField(f.Name) {
				r.union[i].Nullable = true
			}
		}
		for _, b := range r.batches {
			if b.stored != nil && !b.schema.HasField(f.Name) {
				r.union[i].Nullable = true
			}
		}
	}
	r.schema = arrow.NewSchema(r.union, nil)
	return r.closeFile()
}

// Schema returns the union schema of the appended batches (after Finish).
func (r *Records) Schema() *arrow.Schema { return r.schema }

// Scan calls fn with every batch in append order, in the union schema, and
// the row number of its first row. The batch is borrowed for the call. A
// goroutine reads (and widens) the next batches while fn works on one; fn is
// called from one goroutine at a time, and Scan returns after the last call.
func (r *Records) Scan(ctx context.Context, fn func(rec arrow.Record, first int64) error) error {
	return r.scanFrames(ctx, false, false, func(rec arrow.Record, first int64, _ *frame) error { return fn(rec, first) })
}

// scanFrames is Scan; raw keeps token lists stored packed as list<uint16>
// instead of widening them (Gather widens them only in its final copy), so
// a batch's schema may differ from the union schema in those columns. fn is
// also told, for a batch added by AppendStored and decoded in place, where
// its bytes lie (nil otherwise). reuse recycles a frame's buffer once fn
// returns: only for an fn that keeps nothing of the batch (not even a
// string of it) past the call.
func (r *Records) scanFrames(ctx context.Context, raw, reuse bool, fn func(rec arrow.Record, first int64, fr *frame) error) error {
	if !r.done {
		return errors.New("spill: Records.Scan before Finish")
	}
	type item struct {
		rec   arrow.Record
		first int64
		fr    *frame
	}
	ch := make(chan item, 2)
	var free chan []byte
	if reuse {
		free = make(chan []byte, cap(ch)+2)
	}
	g, gctx := errgroup.WithContext(ctx)
	rctx, stop := context.WithCancel(gctx)
	defer stop()
	g.Go(func() error {
		defer close(ch)
		err := r.scan(rctx, raw, free, func(rec arrow.Record, first int64, fr *frame) error {
			rec.Retain()
			select {
			case ch <- item{rec, first, fr}:
				return nil
			case <-rctx.Done():
				rec.Release()
				return rctx.Err()
			}
		})
		if err != nil && rctx.Err() != nil && gctx.Err() == nil {
			return nil // stopped by the consumer, which reports its own error
		}
		return err
	})
	g.Go(func() error {
		var err error
		for it := range ch {
			if err == nil {
				if err = fn(it.rec, it.first, it.fr); err != nil {
					stop() // stop reading ahead; drain what was read
				}
			}
			it.rec.Release()
			if it.fr != nil && free != nil {
				select {
				case free <- it.fr.bytes:
				default:
				}
			}
		}
		return err
	})
	return g.Wait()
}

// scan reads the batches in order in the calling goroutine.
func (r *Records) scan(ctx context.Context, raw bool, free chan []byte, fn func(rec arrow.Record, first int64, fr *frame) error) error {
	var rd *fileReader // of the last file-backed batch
	st := storedReader{free: free}
	defer func() {
		if rd != nil {
			rd.close()
		}
		st.close()
	}()
	for _, b := range r.batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rec arrow.Record
		var fr *frame
		var err error
		if b.stored != nil {
			rec, fr, err = st.batch(ctx, r, b, raw)
		} else {
			if rd != nil && rd.fi != b.file {
				rd.close()
				rd = nil
			}
			if rd == nil {
				if rd, err = r.openReader(ctx, b.file); err != nil {
					return err
				}
			}
			rec, err = rd.batch(ctx, b.index, raw)
		}
		if err != nil {
			return err
		}
		err = fn(rec, b.first, fr)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// storedReader reads batches added by AppendStored, keeping the last file
// open.
type storedReader struct {
	f    storage.File
	path string
	free chan []byte // frame buffers to reuse (see scanFrames)
}

// batch reads a stored batch. A local one is read whole and decoded in
// place, its columns pointing into the frame's bytes (see frame).
func (sr *storedReader) batch(ctx context.Context, r *Records, b batchInfo, raw bool) (arrow.Record, *frame, error) {
	at := b.stored
	if sr.f == nil || sr.path != at.Path {
		sr.close()
		f, err := storage.Open(ctx, at.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("spill: %w", err)
		}
		sr.f, sr.path = f, at.Path
	}
	var rec arrow.Record
	var fr *frame
	if storage.Scheme(at.Path) == "" {
		var buf []byte // the batch's strings point into it: reused only when free is set
		select {
		case buf = <-sr.free:
		default:
		}
		if int64(cap(buf)) < at.Length {
			buf = make([]byte, at.Length)
		}
		buf = buf[:at.Length]
		if _, err := sr.f.ReadAt(buf, at.Offset); err != nil {
			return nil, nil, fmt.Errorf("spill: reading %s at %d: %w", at.Path, at.Offset, err)
		}
		if rec = decodeInPlace(buf, r.alloc); rec != nil {
			fr = &frame{file: b.storedFile, offset: at.Offset, bytes: buf}
		}
	}
	if rec == nil {
		rd, err := ipc.NewReader(bufio.NewReaderSize(io.NewSectionReader(sr.f, at.Offset, at.Length), ioBuf), ipc.WithAllocator(r.alloc))
		if err != nil {
			return nil, nil, fmt.Errorf("spill: reading %s at %d: %w", at.Path, at.Offset, err)
		}
		defer rd.Release()
		if !rd.Next() {
			err := rd.Err()
			if err == nil {
				err = errors.New("no batch")
			}
			return nil, nil, fmt.Errorf("spill: reading %s at %d: %w", at.Path, at.Offset, err)
		}
		rec = rd.Record()
		rec.Retain()
	}
	var remap []int
	if !rec.Schema().Equal(r.schema) {
		remap = r.remapOf(rec.Schema())
	}
	rec, err := r.conform(rec, remap, raw, at.Path)
	return rec, fr, err
}

// frame is a stored batch read whole: bytes are the file's bytes from
// offset on, and the batch's uncompressed columns point into them, so the
// file position of any value is known (Gather reads large values back from
// there instead of copying them through its buckets).
type frame struct {
	file   int // index in Records.stored
	offset int64
	bytes  []byte
}

// position returns the file position of b, which must lie within the
// frame's bytes, or -1.
func (f *frame) position(b []byte) int64 {
	if len(b) == 0 || len(f.bytes) == 0 {
		return -1
	}
	d := int64(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(f.bytes))))
	if d < 0 || d+int64(len(b)) > int64(len(f.bytes)) {
		return -1
	}
	return f.offset + d
}

// decodeInPlace decodes an Arrow IPC stream of one schema message, one
// record batch message and the end-of-stream marker (what the barrier log
// stores per batch) without copying: the columns' buffers are slices of
// buf. It returns nil for anything else (the caller then decodes the usual
// way).
func decodeInPlace(buf []byte, alloc memory.Allocator) arrow.Record {
	const cont = 0xFFFFFFFF
	var msgs []*ipc.Message
	defer func() {
		for _, m := range msgs {
			m.Release()
		}
	}()
	pos := 0
	for i := 0; i < 2; i++ {
		if pos+8 > len(buf) || binary.LittleEndian.Uint32(buf[pos:]) != cont {
			return nil
		}
		n := int(int32(binary.LittleEndian.Uint32(buf[pos+4:])))
		if n < 4 || pos+8+n > len(buf)-8 {
			return nil
		}
		meta := buf[pos+8 : pos+8+n]
		pos += 8 + n
		var body []byte
		if i == 1 { // the record batch's body runs to the end-of-stream marker
			body = buf[pos : len(buf)-8]
		}
		msgs = append(msgs, ipc.NewMessage(memory.NewBufferBytes(meta), memory.NewBufferBytes(body)))
	}
	if eos := buf[len(buf)-8:]; binary.LittleEndian.Uint32(eos) != cont || binary.LittleEndian.Uint32(eos[4:]) != 0 {
		return nil
	}
	if msgs[0].Type() != ipc.MessageSchema || msgs[1].Type() != ipc.MessageRecordBatch || msgs[1].BodyLen() != int64(len(buf)-8-pos) {
		return nil
	}
	rd, err := ipc.NewReaderFromMessageReader(&sliceMessages{msgs: msgs}, ipc.WithAllocator(alloc))
	if err != nil {
		return nil
	}
	defer rd.Release()
	if !rd.Next() {
		return nil
	}
	rec := rd.Record()
	rec.Retain()
	return rec
}

// sliceMessages is an ipc.MessageReader over messages in memory.
type sliceMessages struct {
	msgs []*ipc.Message
	next int
}

func (s *sliceMessages) Message() (*ipc.Message, error) {
	if s.next >= len(s.msgs) {
		return nil, io.EOF
	}
	s.next++
	return s.msgs[s.next-1], nil
}
func (s *sliceMessages) Retain()  {}
func (s *sliceMessages) Release() {}

func (sr *storedReader) close() {
	if sr.f != nil {
		sr.f.Close()
		sr.f = nil
	}
}

// batchOf returns the index of the batch holding row.
func (r *Records) batchOf(row int64) int {
	return sort.Search(len(r.batches), func(i int) bool { return r.batches[i].first > row }) - 1
}

// rowBytes estimates one row's bytes as its batch's average.
func (r *Records) rowBytes(row int64) int64 {
	b := r.batches[r.batchOf(row)]
	return max(1, b.bytes/int64(b.rows))
}

// Close removes the spill files.
func (r *Records) Close() error {
	if r.dir == nil {
		return nil
	}
	if r.w != nil {
		r.w.Abort()
		r.fw, r.bw, r.w = nil, nil, nil
	}
	err := r.dir.remove()
	r.dir = nil
	return err
}

type fileReader struct {
	f     storage.File
	rd    *ipc.FileReader
	r     *Records
	fi    int
	path  string
	remap []int // union column -> file column, -1 when absent
}

func (r *Records) openReader(ctx context.Context, fi int) (*fileReader, error) {
	path := r.files[fi].path
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	rd, err := ipc.NewFileReader(io.NewSectionReader(f, 0, f.Size()), ipc.WithAllocator(r.alloc))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spill: reading %s: %w", path, err)
	}
	fr := &fileReader{f: f, rd: rd, r: r, fi: fi, path: path}
	if s := r.files[fi].schema; !s.Equal(r.schema) {
		fr.remap = r.remapOf(s)
	}
	return fr, nil
}

// remapOf maps each union column to its index in s, -1 when s lacks it.
func (r *Records) remapOf(s *arrow.Schema) []int {
	remap := make([]int, len(r.union))
	for i, fld := range r.union {
		remap[i] = -1
		if idx := s.FieldIndices(fld.Name); len(idx) > 0 {
			remap[i] = idx[0]
		}
	}
	return remap
}

// batch reads batch b of the file, conformed to the union schema (packed
// token lists kept as stored when raw); the caller owns the result.
func (fr *fileReader) batch(ctx context.Context, b int, raw bool) (arrow.Record, error) {
	rec, err := fr.rd.RecordAt(b)
	if err != nil {
		return nil, fmt.Errorf("spill: reading %s batch %d: %w", fr.path, b, err)
	}
	return fr.r.conform(rec, fr.remap, raw, fr.path)
}

// conform returns rec (taking it over) in the union schema, column i being
// rec's column remap[i] (nil: rec is in the union schema already); raw keeps
// packed token lists as they are. The caller owns the result.
func (r *Records) conform(rec arrow.Record, remap []int, raw bool, path string) (arrow.Record, error) {
	if remap == nil {
		return rec, nil
	}
	defer rec.Release()
	n := int(rec.NumRows())
	cols := make([]arrow.Array, len(remap))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, src := range remap {
		want := r.union[i].Type
		switch {
		case src < 0 || rec.Column(src).NullN() == n:
			cols[i] = array.MakeArrayOfNull(r.alloc, want, n)
		case arrow.TypeEqual(rec.Column(src).DataType(), want):
			cols[i] = rec.Column(src)
			cols[i].Retain()
		case isInt32List(want):
			l, ok := rec.Column(src).(*array.List)
			if !ok || l.ListValues().DataType().ID() != arrow.UINT16 {
				return nil, fmt.Errorf("spill: reading %s column %q: %s is not a packed token list", path, r.union[i].Name, rec.Column(src).DataType())
			}
			if raw {
				cols[i] = l
				l.Retain()
				break
			}
			cols[i] = pipelines.WidenTokenList(r.alloc, l, want)
		default:
			c, err := castText(r.alloc, rec.Column(src))
			if err != nil {
				return nil, fmt.Errorf("spill: reading %s column %q: %w", path, r.union[i].Name, err)
			}
			cols[i] = c
		}
	}
	schema := r.schema
	if raw {
		var fields []arrow.Field
		for i, c := range cols {
			if !arrow.TypeEqual(c.DataType(), r.union[i].Type) {
				if fields == nil {
					fields = append([]arrow.Field(nil), r.union...)
				}
				fields[i].Type = c.DataType()
			}
		}
		if fields != nil {
			schema = arrow.NewSchema(fields, nil)
		}
	}
	return array.NewRecord(schema, cols, int64(n)), nil
}

// castText turns a number or bool column into text the way sources write
// such values into a text column.
func castText(alloc memory.Allocator, a arrow.Array) (arrow.Array, error) {
	b := array.NewStringBuilder(alloc)
	defer b.Release()
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		switch x := a.(type) {
		case *array.Float64:
			b.Append(strconv.FormatFloat(x.Value(i), 'g', -1, 64))
		case *array.Int64:
			b.Append(strconv.FormatInt(x.Value(i), 10))
		case *array.Boolean:
			b.Append(strconv.FormatBool(x.Value(i)))
		default:
			return nil, fmt.Errorf("cannot read %s as text", a.DataType())
		}
	}
	return b.NewArray(), nil
}

func (fr *fileReader) close() {
	fr.rd.Close()
	fr.f.Close()
}

// recordBytes is the size of a record's buffers (for a sliced record, of the
// buffers it shares).
func recordBytes(rec arrow.Record) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
