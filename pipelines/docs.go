package pipelines

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// DocBuilder builds document batches for sources: the four standard columns
// plus extra input fields, closing a batch at a row or byte bound so that one
// 50 MB document and a million tiny ones both make reasonable batches.
// It is not safe for concurrent use.
type DocBuilder struct {
	alloc             memory.Allocator
	maxRows           int
	maxBytes          int64
	bytes             int64
	rows              int
	id, text, src, dm *array.StringBuilder
	extras            map[string]*extraCol
	order             []string
	counters          *Counters
}

type extraCol struct {
	vals []any // nil, string, float64, bool, json.RawMessage
}

// NewDocBuilder returns a builder using env's allocator and batch bounds.
func NewDocBuilder(env *Env) *DocBuilder {
	b := &DocBuilder{alloc: env.Alloc, maxRows: env.BatchRows, maxBytes: env.BatchBytes,
		extras: map[string]*extraCol{}, counters: env.Counters}
	if b.maxRows <= 0 {
		b.maxRows = DefaultBatchRows
	}
	if b.maxBytes <= 0 {
		b.maxBytes = DefaultBatchBytes
	}
	b.reset()
	return b
}

func (b *DocBuilder) reset() {
	b.id = array.NewStringBuilder(b.alloc)
	b.text = array.NewStringBuilder(b.alloc)
	b.src = array.NewStringBuilder(b.alloc)
	b.dm = array.NewStringBuilder(b.alloc)
	b.extras = map[string]*extraCol{}
	b.order = b.order[:0]
	b.rows, b.bytes = 0, 0
}

// Add appends a document. Invalid UTF-8 in text is replaced with U+FFFD and
// counted; it returns the row index for SetExtra.
func (b *DocBuilder) Add(id, text, source, domain string) int {
	if !utf8.ValidString(text) {
		text = ValidUTF8(text)
		if b.counters != nil {
			b.counters.InvalidUTF8.Add(1)
		}
	}
	if !utf8.ValidString(id) {
		id = ValidUTF8(id)
	}
	b.id.Append(id)
	b.text.Append(text)
	b.src.Append(source)
	b.dm.Append(domain)
	b.rows++
	b.bytes += int64(len(text) + len(id) + 32)
	if b.counters != nil {
		b.counters.BytesIn.Add(int64(len(text)))
	}
	return b.rows - 1
}

// ValidUTF8 replaces each invalid byte sequence with U+FFFD.
func ValidUTF8(s string) string {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		out = append(out, r) // RuneError for invalid bytes
		i += n
	}
	return string(out)
}

// SetExtra sets an extra field on row (the last added row, normally). v is
// nil, string, float64, bool or json.RawMessage (nested JSON).
func (b *DocBuilder) SetExtra(row int, name string, v any) {
	c, ok := b.extras[name]
	if !ok {
		c = &extraCol{}
		b.extras[name] = c
		b.order = append(b.order, name)
	}
	for len(c.vals) < row {
		c.vals = append(c.vals, nil)
	}
	if len(c.vals) == row {
		c.vals = append(c.vals, v)
	} else {
		c.vals[row] = v
	}
	if s, ok := v.(string); ok {
		b.bytes += int64(len(s))
	} else if r, ok := v.(json.RawMessage); ok {
		b.bytes += int64(len(r))
	}
}

// Len returns the rows in the open batch.
func (b *DocBuilder) Len() int { return b.rows }

// Full reports whether the open batch reached a bound.
func (b *DocBuilder) Full() bool { return b.rows >= b.maxRows || b.bytes >= b.maxBytes }

// Build returns the open batch as a record (owned by the caller) and starts
// a new one. Extra columns are float64 when every value is a number, bool
// when every value is a bool, else utf8 (numbers and nested JSON as text).
func (b *DocBuilder) Build() arrow.Record {
	fields := []arrow.Field{
		{Name: ColID, Type: arrow.BinaryTypes.String},
		{Name: ColText, Type: arrow.BinaryTypes.String},
		{Name: ColSource, Type: arrow.BinaryTypes.String},
		{Name: ColDomain, Type: arrow.BinaryTypes.String},
	}
	cols := []arrow.Array{b.id.NewArray(), b.text.NewArray(), b.src.NewArray(), b.dm.NewArray()}
	b.id.Release()
	b.text.Release()
	b.src.Release()
	b.dm.Release()
	names := append([]string(nil), b.order...)
	sort.Strings(names) // column order must not depend on which record came first
	for _, name := range names {
		c := b.extras[name]
		for len(c.vals) < b.rows {
			c.vals = append(c.vals, nil)
		}
		arr := buildExtra(b.alloc, c.vals)
		fields = append(fields, arrow.Field{Name: name, Type: arr.DataType(), Nullable: true})
		cols = append(cols, arr)
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(b.rows))
	for _, c := range cols {
		c.Release()
	}
	b.reset()
	return rec
}

// Release frees the open batch's buffers.
func (b *DocBuilder) Release() {
	b.id.Release()
	b.text.Release()
	b.src.Release()
	b.dm.Release()
}

func buildExtra(alloc memory.Allocator, vals []any) arrow.Array {
	allNum, allBool := true, true
	for _, v := range vals {
		switch v.(type) {
		case nil:
		case float64:
			allBool = false
		case bool:
			allNum = false
		default:
			allNum, allBool = false, false
		}
	}
	switch {
	case allNum:
		bl := array.NewFloat64Builder(alloc)
		defer bl.Release()
		for _, v := range vals {
			if v == nil {
				bl.AppendNull()
			} else {
				bl.Append(v.(float64))
			}
		}
		return bl.NewArray()
	case allBool:
		bl := array.NewBooleanBuilder(alloc)
		defer bl.Release()
		for _, v := range vals {
			if v == nil {
				bl.AppendNull()
			} else {
				bl.Append(v.(bool))
			}
		}
		return bl.NewArray()
	}
	bl := array.NewStringBuilder(alloc)
	defer bl.Release()
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			bl.AppendNull()
		case string:
			bl.Append(x)
		case json.RawMessage:
			bl.Append(string(x))
		case float64:
			bl.Append(strconv.FormatFloat(x, 'g', -1, 64))
		case bool:
			bl.Append(strconv.FormatBool(x))
		default:
			bl.Append(fmt.Sprint(x))
		}
	}
	return bl.NewArray()
}

// Col returns the index of the named column, or -1.
func Col(rec arrow.Record, name string) int {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return -1
	}
	return idx[0]
}

// StringCol returns the named utf8 column, or an error naming what is wrong.
func StringCol(rec arrow.Record, name string) (*array.String, error) {
	i := Col(rec, name)
	if i < 0 {
		return nil, fmt.Errorf("batch has no %q column", name)
	}
	s, ok := rec.Column(i).(*array.String)
	if !ok {
		return nil, fmt.Errorf("column %q is %s, want utf8", name, rec.Column(i).DataType())
	}
	return s, nil
}

// Texts returns the text column.
func Texts(rec arrow.Record) *array.String {
	s, err := StringCol(rec, ColText)
	if err != nil {
		panic("pipelines: " + err.Error()) // every batch has a text column by construction
	}
	return s
}

// Numbers returns a numeric column as float64 values (nulls as NaN).
func Numbers(rec arrow.Record, name string) ([]float64, error) {
	i := Col(rec, name)
	if i < 0 {
		return nil, fmt.Errorf("batch has no %q column", name)
	}
	col := rec.Column(i)
	out := make([]float64, col.Len())
	for r := range out {
		if col.IsNull(r) {
			out[r] = math.NaN()
			continue
		}
		switch a := col.(type) {
		case *array.Float64:
			out[r] = a.Value(r)
		case *array.Float32:
			out[r] = float64(a.Value(r))
		case *array.Int64:
			out[r] = float64(a.Value(r))
		case *array.Int32:
			out[r] = float64(a.Value(r))
		case *array.Uint64:
			out[r] = float64(a.Value(r))
		case *array.Boolean:
			if a.Value(r) {
				out[r] = 1
			}
		case *array.String:
			v, err := strconv.ParseFloat(a.Value(r), 64)
			if err != nil {
				return nil, fmt.Errorf("column %q row %d: %q is not a number", name, r, a.Value(r))
			}
			out[r] = v
		default:
			return nil, fmt.Errorf("column %q is %s, not numeric", name, col.DataType())
		}
	}
	return out, nil
}

// NewStrings builds a utf8 array from Go strings.
func NewStrings(alloc memory.Allocator, vals []string) arrow.Array {
	b := array.NewStringBuilder(alloc)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}

// NewFloats builds a float64 array.
func NewFloats(alloc memory.Allocator, vals []float64) arrow.Array {
	b := array.NewFloat64Builder(alloc)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}

// NewInts builds an int64 array.
func NewInts(alloc memory.Allocator, vals []int64) arrow.Array {
	b := array.NewInt64Builder(alloc)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}

// NewBools builds a boolean array.
func NewBools(alloc memory.Allocator, vals []bool) arrow.Array {
	b := array.NewBooleanBuilder(alloc)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}
