package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

func init() {
	pipelines.RegisterSource(pipelines.Spec{
		Name: "parquet",
		Doc:  "Parquet files, one document per row; other columns are carried (nested ones as JSON strings)",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true,
				Doc: "file, directory, glob (** for any depth) or s3:// URL; files are read in sorted order"},
			{Name: "domain", Type: pipelines.String, Default: "default", Doc: "the documents' domain column"},
			{Name: "text_field", Type: pipelines.String, Default: "text", Doc: "the column holding the text (a string)"},
			{Name: "id_field", Type: pipelines.String, Default: "id",
				Doc: "the column holding the id; without it a document's id is PATH:ROW (0-based row)"},
		},
	}, newParquetSource)
}

// parquetSource reads Parquet files row group by row group through the
// storage File's ReaderAt, so only the footer and the pages being read are
// fetched (ranged reads on object stores). It reads columns, not rows: for
// each slab of rows (as many as the open batch takes) it walks the text
// column's pages first, which decides how many rows fit the batch's row and
// byte bounds, then the id, source and extra columns over the same rows,
// appending each value straight from the page to the batch's Arrow
// builders. Nested fields are the exception (see pqNested).
//
// A batch holds rows of one or more files with the same columns; a file
// whose columns differ starts a new batch.
type parquetSource struct {
	fileBatches
	domain, textField, idField string

	cur *parquetFile

	// the open batch
	schema   *arrow.Schema
	rb       *array.RecordBuilder
	rows     int
	bytes    int64
	maxRows  int
	maxBytes int64

	// the slab being read
	id        []byte // scratch for ids
	skip      []int  // its rows with a null text, by index in the slab
	rej       []pipelines.Reject
	textBytes int64 // text bytes added
	invalid   int64 // texts with invalid UTF-8 replaced
}

// parquetFile is the file being read and its reading plan.
type parquetFile struct {
	in  *inputFile
	rel string // in.rel with invalid UTF-8 repaired: the source column and ids
	f   storage.File
	pf  *parquet.File

	schema *arrow.Schema // of its batches
	text   *pqColumn
	id     *pqColumn // nil: ids are PATH:ROW
	idKind parquet.Kind
	src    *pqColumn // a string "source" column, nil if none
	extras []pqExtra // in batch column order (by name), from field 4 on
	flat   []*pqColumn
	nested *pqNested // nil without nested fields

	rg     int   // row group being read
	rgRows int64 // its rows
	rgRow  int64 // next row in it
	base   int64 // index in the file of its first row
}

// pqExtra is an input column carried into the batch.
type pqExtra struct {
	name   string
	col    *pqColumn // a flat column
	kind   parquet.Kind
	nested int // index in the nested reader's fields when col is nil
}

func newParquetSource(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
	s := &parquetSource{fileBatches: fileBatches{env: env, kind: "parquet", pattern: env.Path(p.String("path")), params: p},
		domain: p.String("domain"), textField: p.String("text_field"), idField: p.String("id_field")}
	if s.textField == s.idField {
		return nil, fmt.Errorf("parquet: text_field and id_field are both %q", s.textField)
	}
	s.maxRows, s.maxBytes = env.BatchRows, env.BatchBytes
	if s.maxRows <= 0 {
		s.maxRows = pipelines.DefaultBatchRows
	}
	if s.maxBytes <= 0 {
		s.maxBytes = pipelines.DefaultBatchBytes
	}
	return s, nil
}

// Next returns the next batch of documents, or io.EOF.
func (s *parquetSource) Next(ctx context.Context) (arrow.Record, error) {
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	if err := s.fill(ctx); err != nil {
		s.failed = err
		return nil, err
	}
	if s.rows == 0 {
		return nil, io.EOF
	}
	rec := s.rb.NewRecordBatch()
	s.rows, s.bytes = 0, 0
	return rec, nil
}

// fill adds slabs of rows to the open batch until it is full, the input
// ends or the next file has other columns.
func (s *parquetSource) fill(ctx context.Context) error {
	for s.rows < s.maxRows && s.bytes < s.maxBytes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.cur == nil {
			if s.next >= len(s.files) {
				return nil
			}
			in := s.files[s.next]
			s.next++
			if err := s.open(ctx, in); err != nil {
				return err
			}
			continue
		}
		c := s.cur
		if s.schema == nil || !s.schema.Equal(c.schema) {
			if s.rows > 0 {
				return nil // this batch ends here; the file starts the next
			}
			if s.rb != nil {
				s.rb.Release()
			}
			s.schema, s.rb = c.schema, array.NewRecordBuilder(s.env.Alloc, c.schema)
		}
		first := c.base + c.rgRow
		done, err := s.slab(c)
		if err != nil {
			s.closeFile()
			return s.env.Rejects.Add(pipelines.Reject{Path: c.in.path, Line: first + 1,
				Reason: fmt.Sprintf("corrupt Parquet data, rest of file rejected: %v", err)})
		}
		if done {
			s.closeFile()
		}
	}
	return nil
}

// open opens one file and plans its columns; a file that is not Parquet,
// or has no string text column, is rejected whole.
func (s *parquetSource) open(ctx context.Context, in *inputFile) error {
	f, err := storage.Open(ctx, in.path)
	if err != nil {
		return fmt.Errorf("parquet: open %s: %w", in.path, err)
	}
	reject := func(reason string) error {
		f.Close()
		return s.env.Rejects.Add(pipelines.Reject{Path: in.path, Reason: reason})
	}
	pf, err := openParquet(f, storage.Scheme(in.path) != "")
	if err != nil {
		return reject(fmt.Sprintf("not a Parquet file, rejected: %v", err))
	}
	c := &parquetFile{in: in, rel: validUTF8(in.rel), f: f, pf: pf, rg: -1}
	if reason := s.plan(c); reason != "" {
		return reject(reason)
	}
	s.cur = c
	return nil
}

// plan maps the file's top-level fields to the batch's columns: the text,
// the id, the source, and every other field as an extra column.
func (s *parquetSource) plan(c *parquetFile) (reject string) {
	var textField parquet.Field
	var nested []parquet.Field
	extras := map[string]pqExtra{} // a name used twice: the later field wins
	leaf := 0
	for _, fl := range c.pf.Schema().Fields() {
		flat := fl.Leaf() && !fl.Repeated()
		var col *pqColumn
		if flat {
			col = &pqColumn{name: fl.Name(), leaf: leaf}
			if fl.Optional() {
				col.maxDef = 1
			}
		}
		leaf += countLeaves(fl)
		name := fl.Name()
		switch {
		case name == s.textField:
			textField, c.text = fl, col
			continue
		case name == s.idField:
			if flat {
				c.id, c.idKind = col, fl.Type().Kind()
			}
			continue // a nested id column is dropped; ids are PATH:ROW
		case name == pipelines.ColSource && flat && fl.Type().Kind() == parquet.ByteArray:
			c.src = col
			continue
		}
		if reservedColumn(name) {
			name = "input_" + name
		}
		name = validUTF8(name)
		e := pqExtra{name: name, col: col}
		if flat {
			e.kind = fl.Type().Kind()
		} else {
			e.nested = len(nested)
			nested = append(nested, fl)
		}
		extras[name] = e
	}
	if textField == nil {
		return fmt.Sprintf("no %q column, file rejected", s.textField)
	}
	if c.text == nil || textField.Type().Kind() != parquet.ByteArray {
		return fmt.Sprintf("column %q is %s, want a string; file rejected", s.textField, textField.Type())
	}
	fields := []arrow.Field{
		{Name: pipelines.ColID, Type: arrow.BinaryTypes.String},
		{Name: pipelines.ColText, Type: arrow.BinaryTypes.String},
		{Name: pipelines.ColSource, Type: arrow.BinaryTypes.String},
		{Name: pipelines.ColDomain, Type: arrow.BinaryTypes.String},
	}
	for _, name := range slices.Sorted(maps.Keys(extras)) {
		e := extras[name]
		var t arrow.DataType = arrow.BinaryTypes.String
		if e.col != nil {
			switch e.kind {
			case parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
				t = arrow.PrimitiveTypes.Float64
			case parquet.Boolean:
				t = arrow.FixedWidthTypes.Boolean
			}
		}
		fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
		c.extras = append(c.extras, e)
	}
	c.schema = arrow.NewSchema(fields, nil)
	c.flat = []*pqColumn{c.text}
	for _, col := range []*pqColumn{c.id, c.src} {
		if col != nil {
			c.flat = append(c.flat, col)
		}
	}
	for _, e := range c.extras {
		if e.col != nil {
			c.flat = append(c.flat, e.col)
		}
	}
	if len(nested) > 0 {
		c.nested = newPQNested(c.pf.Schema(), nested)
	}
	return ""
}

// openParquet opens a Parquet file, turning a panic of the decoder on a
// hostile footer into an error. A remote file is read through a 1 MiB
// buffer, so that a page header and the page after it are one ranged read
// rather than many small ones.
func openParquet(f storage.File, remote bool) (pf *parquet.File, err error) {
	// parquet-go allocates the footer length the file claims before reading
	// it; check it against the file's size so that a corrupt length cannot
	// ask for gigabytes.
	size := f.Size()
	if size < 12 {
		return nil, fmt.Errorf("%d bytes is too short", size)
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("reading footer: %w", err)
	}
	if string(tail[4:]) != "PAR1" {
		return nil, fmt.Errorf("no PAR1 magic at the end (%q)", tail[4:])
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return nil, fmt.Errorf("footer length %d exceeds the file (%d bytes)", n, size)
	}
	defer func() {
		if r := recover(); r != nil {
			pf, err = nil, fmt.Errorf("corrupt footer: %v", r)
		}
	}()
	opts := []parquet.FileOption{parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true)}
	if remote {
		opts = append(opts, parquet.ReadBufferSize(1<<20))
	}
	return parquet.OpenFile(f, f.Size(), opts...)
}

func countLeaves(f parquet.Field) int {
	if f.Leaf() {
		return 1
	}
	n := 0
	for _, c := range f.Fields() {
		n += countLeaves(c)
	}
	return n
}

// nextRowGroup moves c to its next non-empty row group; false at the end.
func (c *parquetFile) nextRowGroup() (bool, error) {
	rgs := c.pf.RowGroups()
	for {
		if c.rg >= 0 {
			c.base += c.rgRows
		}
		c.rg++
		if c.rg >= len(rgs) {
			return false, nil
		}
		rg := rgs[c.rg]
		c.rgRows, c.rgRow = max(rg.NumRows(), 0), 0
		if c.rgRows == 0 {
			continue
		}
		chunks := rg.ColumnChunks()
		for _, col := range c.flat {
			if col.leaf >= len(chunks) {
				return false, fmt.Errorf("row group %d has %d columns, want column %d", c.rg, len(chunks), col.leaf)
			}
			col.open(chunks[col.leaf])
		}
		if c.nested != nil {
			c.nested.open(rg)
		}
		return true, nil
	}
}

// meanText returns the mean bytes of text per row in the row group, from
// the footer (0 when it does not say).
func (c *parquetFile) meanText() int64 {
	rgs := c.pf.Metadata().RowGroups
	if c.rg < 0 || c.rg >= len(rgs) || c.text.leaf >= len(rgs[c.rg].Columns) || c.rgRows <= 0 {
		return 0
	}
	total := rgs[c.rg].Columns[c.text.leaf].MetaData.TotalUncompressedSize
	return max(total/c.rgRows, 0)
}

// slab reads the next rows of c into the open batch: at most the rows and
// bytes the batch has room for, within one row group. It reports whether
// the file is done. On an error the batch is as it was before the slab.
func (s *parquetSource) slab(c *parquetFile) (done bool, err error) {
	if c.rgRow >= c.rgRows {
		more, err := c.nextRowGroup()
		if err != nil || !more {
			return true, err
		}
	}
	rows0, bytes0 := s.rows, s.bytes
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder failed: %v", p)
		}
		if err != nil {
			s.truncate(rows0)
			s.bytes = bytes0
		}
	}()
	k, n, err := s.readText(c)
	if err != nil {
		return false, err
	}
	if err := s.readRest(c, k, n); err != nil {
		return false, err
	}
	s.rows += n
	if cnt := s.env.Counters; cnt != nil {
		cnt.InvalidUTF8.Add(s.invalid)
		cnt.BytesIn.Add(s.textBytes)
	}
	for _, r := range s.rej {
		if err := s.env.Rejects.Add(r); err != nil {
			return false, err
		}
	}
	c.rgRow += int64(k)
	return false, nil
}

// readText appends text values to the batch until it is full or the row
// group ends; it returns the rows it read (k) and the documents it added
// (n: k less the rows with a null text, which go to s.skip and s.rej).
func (s *parquetSource) readText(c *parquetFile) (k, n int, err error) {
	tb := s.rb.Field(1).(*array.StringBuilder)
	s.skip, s.rej = s.skip[:0], s.rej[:0]
	left := c.rgRows - c.rgRow
	room := s.maxRows - s.rows
	s.textBytes, s.invalid = 0, 0
	// One allocation for the slab's text, so that it is not copied as the
	// builder grows: twice the rows it can take at the row group's mean
	// text size (from the footer), capped by the batch's byte room plus one
	// row (the one that crosses the bound).
	if mean := c.meanText(); mean > 0 {
		rows := min(left, int64(room))
		need := min(2*rows*mean, max(s.maxBytes-s.bytes, 0)+mean)
		if free := tb.DataCap() - tb.DataLen(); need > int64(free) {
			tb.ReserveData(int(need))
		}
	}
	for int64(k) < left && n < room && s.bytes < s.maxBytes {
		avail, err := c.text.avail()
		if err != nil {
			return 0, 0, err
		}
		avail = int(min(int64(avail), left-int64(k)))
		tb.Reserve(min(avail, room-n))
		for ; avail > 0 && n < room && s.bytes < s.maxBytes; avail-- {
			b, _, null := c.text.next()
			if null {
				s.skip = append(s.skip, k)
				s.rej = append(s.rej, pipelines.Reject{Path: c.in.path, Line: c.base + c.rgRow + int64(k) + 1,
					Reason: fmt.Sprintf("column %q is null", s.textField)})
				k++
				continue
			}
			size := len(b)
			if utf8.Valid(b) {
				tb.BinaryBuilder.Append(b)
			} else {
				fixed := pipelines.ValidUTF8(string(b))
				tb.Append(fixed)
				size = len(fixed)
				s.invalid++
			}
			s.textBytes += int64(size)
			s.bytes += int64(size) + 32
			k++
			n++
		}
	}
	return k, n, nil
}

// readRest appends the id, source, domain and extra columns of the k rows
// readText read (n of them documents).
func (s *parquetSource) readRest(c *parquetFile, k, n int) error {
	ib := s.rb.Field(0).(*array.StringBuilder)
	ib.Reserve(n)
	first := c.base + c.rgRow
	defaultID := func(row int) { // PATH:ROW, ROW the row's index in the file
		s.id = append(append(append(s.id[:0], c.rel...), ':'), strconv.FormatInt(first+int64(row), 10)...)
		ib.BinaryBuilder.Append(s.id)
		s.bytes += int64(len(s.id))
	}
	row, si := 0, 0 // the next row's index in the slab; the next skip
	if c.id == nil {
		for ; row < k; row++ {
			if si < len(s.skip) && s.skip[si] == row {
				si++
				continue
			}
			defaultID(row)
		}
	} else if err := c.id.each(k, nil, func(b []byte, v parquet.Value, null bool) {
		r := row
		row++
		switch {
		case si < len(s.skip) && s.skip[si] == r:
			si++
		case null:
			defaultID(r)
		case c.idKind == parquet.ByteArray || c.idKind == parquet.FixedLenByteArray:
			s.appendString(ib, b)
		case c.idKind == parquet.Int32:
			ib.Append(strconv.FormatInt(int64(v.Int32()), 10))
		case c.idKind == parquet.Int64:
			ib.Append(strconv.FormatInt(v.Int64(), 10))
		default:
			ib.Append(v.String())
		}
	}); err != nil {
		return err
	}

	sb := s.rb.Field(2).(*array.StringBuilder)
	sb.Reserve(n)
	if c.src == nil {
		for range n {
			sb.Append(c.rel)
		}
	} else if err := c.src.each(k, s.skip, func(b []byte, _ parquet.Value, null bool) {
		if null {
			sb.Append(c.rel)
		} else {
			s.appendString(sb, b)
		}
	}); err != nil {
		return err
	}

	db := s.rb.Field(3).(*array.StringBuilder)
	db.Reserve(n)
	for range n {
		db.Append(s.domain)
	}

	for i, e := range c.extras {
		if e.col == nil {
			continue
		}
		if err := s.readExtra(e, s.rb.Field(4+i), k, n); err != nil {
			return err
		}
	}
	if c.nested == nil {
		return nil
	}
	var builders []*array.StringBuilder // by nested field
	for i, e := range c.extras {
		if e.col == nil {
			for len(builders) <= e.nested {
				builders = append(builders, nil)
			}
			builders[e.nested] = s.rb.Field(4 + i).(*array.StringBuilder)
		}
	}
	return c.nested.read(k, s.skip, func(vals []json.RawMessage) {
		for j, b := range builders {
			if b == nil {
				continue
			}
			if j >= len(vals) || vals[j] == nil {
				b.AppendNull()
				continue
			}
			s.appendString(b, vals[j])
		}
	})
}

// readExtra appends k rows (n documents) of a flat extra column.
func (s *parquetSource) readExtra(e pqExtra, b array.Builder, k, n int) error {
	b.Reserve(n)
	switch b := b.(type) {
	case *array.Float64Builder:
		return e.col.each(k, s.skip, func(_ []byte, v parquet.Value, null bool) {
			switch {
			case null:
				b.AppendNull()
			case e.kind == parquet.Int32:
				b.Append(float64(v.Int32()))
			case e.kind == parquet.Int64:
				b.Append(float64(v.Int64()))
			case e.kind == parquet.Float:
				b.Append(float64(v.Float()))
			default:
				b.Append(v.Double())
			}
		})
	case *array.BooleanBuilder:
		return e.col.each(k, s.skip, func(_ []byte, v parquet.Value, null bool) {
			if null {
				b.AppendNull()
			} else {
				b.Append(v.Boolean())
			}
		})
	case *array.StringBuilder:
		return e.col.each(k, s.skip, func(data []byte, v parquet.Value, null bool) {
			switch {
			case null:
				b.AppendNull()
			case e.kind == parquet.ByteArray || e.kind == parquet.FixedLenByteArray:
				s.appendString(b, data)
			default:
				b.Append(v.String())
			}
		})
	}
	return fmt.Errorf("column %q: no builder for %s", e.name, b.Type())
}

// appendString appends a value, repairing invalid UTF-8, and counts its
// bytes against the batch bound.
func (s *parquetSource) appendString(b *array.StringBuilder, v []byte) {
	if utf8.Valid(v) {
		b.BinaryBuilder.Append(v)
	} else {
		b.Append(pipelines.ValidUTF8(string(v)))
	}
	s.bytes += int64(len(v))
}

// truncate drops the rows of the open batch from n on (a slab that failed
// half way). Arrow builders cannot shrink, so the first n rows are copied
// into fresh builders; this happens once per corrupt file at most.
func (s *parquetSource) truncate(n int) {
	if s.rb == nil {
		return
	}
	old := s.rb
	fresh := array.NewRecordBuilder(s.env.Alloc, s.schema)
	for i, f := range old.Fields() {
		arr := f.NewArray()
		copyRows(fresh.Field(i), arr, n)
		arr.Release()
	}
	old.Release()
	s.rb, s.rows = fresh, n
}

// copyRows appends the first n rows of arr (of the types a batch has).
func copyRows(b array.Builder, arr arrow.Array, n int) {
	n = min(n, arr.Len())
	for i := range n {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		switch a := arr.(type) {
		case *array.String:
			b.(*array.StringBuilder).Append(a.Value(i))
		case *array.Float64:
			b.(*array.Float64Builder).Append(a.Value(i))
		case *array.Boolean:
			b.(*array.BooleanBuilder).Append(a.Value(i))
		}
	}
}

// validUTF8 returns s with invalid UTF-8 repaired.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return pipelines.ValidUTF8(s)
}

// closeFile closes the file being read and its page readers.
func (s *parquetSource) closeFile() {
	c := s.cur
	if c == nil {
		return
	}
	for _, col := range c.flat {
		col.close()
	}
	if c.nested != nil {
		c.nested.close()
	}
	c.f.Close()
	s.cur = nil
}

// Close releases the open file and batch.
func (s *parquetSource) Close() error {
	s.closeFile()
	if s.rb != nil {
		s.rb.Release()
		s.rb = nil
	}
	return nil
}
