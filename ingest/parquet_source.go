package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

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
// fetched (ranged reads on object stores). Flat columns are converted value
// by value; a nested column is rebuilt per row and carried as JSON text.
type parquetSource struct {
	fileBatches
	domain, textField, idField string

	cur *parquetFile
	id  []byte
}

// parquetFile is the file being read.
type parquetFile struct {
	in     *inputFile
	f      storage.File
	pf     *parquet.File
	schema *parquet.Schema
	cols   []parquetCol // top-level fields
	text   int          // index in cols, -1 when missing
	id     int
	src    int
	nested bool

	rg   int // next row group
	rows parquet.Rows
	buf  []parquet.Row
	have int   // rows in buf
	pos  int   // next row in buf
	row  int64 // 0-based index of buf[pos] in the file
}

// parquetCol is one top-level field.
type parquetCol struct {
	name   string // the column name in the output batch
	field  parquet.Field
	leaf   int // its leaf column index, for a flat field
	flat   bool
	isJSON bool
}

func newParquetSource(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
	s := &parquetSource{fileBatches: fileBatches{env: env, kind: "parquet", pattern: env.Path(p.String("path")), params: p},
		domain: p.String("domain"), textField: p.String("text_field"), idField: p.String("id_field")}
	if s.textField == s.idField {
		return nil, fmt.Errorf("parquet: text_field and id_field are both %q", s.textField)
	}
	return s, nil
}

// Next returns the next batch of documents, or io.EOF.
func (s *parquetSource) Next(ctx context.Context) (arrow.Record, error) { return s.batch(ctx, s.step) }

// step opens a file, reads rows or takes one row; false when all is done.
func (s *parquetSource) step(ctx context.Context) (more bool, err error) {
	if s.cur == nil {
		if s.next >= len(s.files) {
			return false, nil
		}
		in := s.files[s.next]
		s.next++
		return true, s.open(ctx, in)
	}
	c := s.cur
	if c.pos >= c.have {
		if err := s.fill(); err != nil {
			path, row := c.in.path, c.row
			s.closeFile()
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return true, s.env.Rejects.Add(pipelines.Reject{Path: path, Line: row + 1,
				Reason: fmt.Sprintf("corrupt Parquet data, rest of file rejected: %v", err)})
		}
		return true, nil
	}
	r := c.buf[c.pos]
	c.pos++
	row := c.row
	c.row++
	return true, s.add(c, r, row)
}

// open opens one file; a file that is not Parquet is rejected whole.
func (s *parquetSource) open(ctx context.Context, in *inputFile) error {
	f, err := storage.Open(ctx, in.path)
	if err != nil {
		return fmt.Errorf("parquet: open %s: %w", in.path, err)
	}
	reject := func(reason string) error {
		f.Close()
		return s.env.Rejects.Add(pipelines.Reject{Path: in.path, Reason: reason})
	}
	pf, err := openParquet(f)
	if err != nil {
		return reject(fmt.Sprintf("not a Parquet file, rejected: %v", err))
	}
	c := &parquetFile{in: in, f: f, pf: pf, schema: pf.Schema(), text: -1, id: -1, src: -1}
	leaf := 0
	for _, fl := range c.schema.Fields() {
		col := parquetCol{name: fl.Name(), field: fl, leaf: leaf, flat: fl.Leaf() && !fl.Repeated()}
		if fl.Leaf() {
			if lt := fl.Type().LogicalType(); lt != nil {
				_, col.isJSON = lt.Value.(*format.JsonType)
			}
		}
		if !col.flat {
			c.nested = true
		}
		leaf += countLeaves(fl)
		switch col.name {
		case s.textField:
			c.text = len(c.cols)
		case s.idField:
			c.id = len(c.cols)
		case pipelines.ColSource:
			c.src = len(c.cols)
		}
		if reservedColumn(col.name) {
			col.name = "input_" + col.name
		}
		if !utf8.ValidString(col.name) {
			col.name = pipelines.ValidUTF8(col.name)
		}
		c.cols = append(c.cols, col)
	}
	if c.text < 0 {
		return reject(fmt.Sprintf("no %q column, file rejected", s.textField))
	}
	if t := c.cols[c.text]; !t.flat || t.field.Type().Kind() != parquet.ByteArray {
		return reject(fmt.Sprintf("column %q is %s, want a string; file rejected", s.textField, t.field.Type()))
	}
	s.cur = c
	return nil
}

// openParquet opens a Parquet file, turning a panic of the decoder on a
// hostile footer into an error.
func openParquet(f storage.File) (pf *parquet.File, err error) {
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
	return parquet.OpenFile(f, f.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
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

// fill reads the next rows of the current file; io.EOF at its end.
func (s *parquetSource) fill() (err error) {
	c := s.cur
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failed: %v", r)
		}
	}()
	if c.buf == nil {
		c.buf = make([]parquet.Row, 64)
	}
	c.pos, c.have = 0, 0
	for {
		if c.rows == nil {
			rgs := c.pf.RowGroups()
			if c.rg >= len(rgs) {
				return io.EOF
			}
			c.rows = rgs[c.rg].Rows()
			c.rg++
		}
		n, err := c.rows.ReadRows(c.buf)
		c.have = n
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if errors.Is(err, io.EOF) || n == 0 {
			c.rows.Close()
			c.rows = nil
		}
		if n > 0 {
			return nil
		}
	}
}

// add converts one row into a document, or rejects it.
func (s *parquetSource) add(c *parquetFile, r parquet.Row, row int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = s.env.Rejects.Add(pipelines.Reject{Path: c.in.path, Line: row + 1,
				Reason: fmt.Sprintf("corrupt Parquet row: %v", p)})
		}
	}()
	vals := make([]parquet.Value, len(c.cols)) // flat fields' values by col
	for _, v := range r {
		vals[leafToCol(c, v.Column())] = v
	}
	text := vals[c.text]
	if text.IsNull() {
		return s.env.Rejects.Add(pipelines.Reject{Path: c.in.path, Line: row + 1,
			Reason: fmt.Sprintf("column %q is null", s.textField)})
	}
	var idStr string
	if c.id >= 0 && c.cols[c.id].flat && !vals[c.id].IsNull() {
		idStr = flatString(vals[c.id])
	} else {
		s.id = append(append(append(s.id[:0], c.in.rel...), ':'), strconv.FormatInt(row, 10)...)
		idStr = view(s.id)
	}
	source := c.in.rel
	src := c.src
	if src >= 0 && c.cols[src].flat && !vals[src].IsNull() && vals[src].Kind() == parquet.ByteArray {
		source = view(vals[src].ByteArray())
		if !utf8.ValidString(source) {
			source = pipelines.ValidUTF8(source)
		}
	} else {
		src = -1
	}
	var nested map[string]any
	if c.nested {
		nested = map[string]any{}
		if err := c.schema.Reconstruct(&nested, r); err != nil {
			return s.env.Rejects.Add(pipelines.Reject{Path: c.in.path, Line: row + 1,
				Reason: fmt.Sprintf("unreadable nested value: %v", err)})
		}
	}
	i := s.b.Add(idStr, view(text.ByteArray()), source, s.domain)
	for k, col := range c.cols {
		if k == c.text || k == c.id || k == src {
			continue
		}
		if !col.flat {
			v, ok := nested[col.field.Name()]
			if !ok || v == nil {
				s.b.SetExtra(i, col.name, nil)
				continue
			}
			data, err := json.Marshal(v)
			if err != nil {
				s.b.SetExtra(i, col.name, nil)
				continue
			}
			s.b.SetExtra(i, col.name, json.RawMessage(data))
			continue
		}
		s.b.SetExtra(i, col.name, flatValue(vals[k], col.isJSON))
	}
	return nil
}

// leafToCol maps a leaf column index to its top-level field. Fields are few,
// so a scan is as fast as a table.
func leafToCol(c *parquetFile, leaf int) int {
	k := 0
	for i := range c.cols {
		if c.cols[i].leaf <= leaf {
			k = i
		}
	}
	return k
}

func flatString(v parquet.Value) string {
	switch v.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	}
	return v.String()
}

// flatValue converts a flat column's value to what DocBuilder.SetExtra
// takes: strings, float64 for every number, bool, nil.
func flatValue(v parquet.Value, isJSON bool) any {
	if v.IsNull() {
		return nil
	}
	switch v.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		b := v.ByteArray()
		if isJSON && json.Valid(b) {
			return json.RawMessage(append([]byte(nil), b...))
		}
		if !utf8.Valid(b) {
			return pipelines.ValidUTF8(string(b))
		}
		return string(b)
	case parquet.Int32:
		return float64(v.Int32())
	case parquet.Int64:
		return float64(v.Int64())
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	case parquet.Boolean:
		return v.Boolean()
	}
	return v.String()
}

func (s *parquetSource) closeFile() {
	if c := s.cur; c != nil {
		if c.rows != nil {
			c.rows.Close()
		}
		c.f.Close()
		s.cur = nil
	}
}

// Close releases the open file and batch.
func (s *parquetSource) Close() error {
	s.closeFile()
	if s.b != nil {
		s.b.Release()
		s.b = nil
	}
	return nil
}
