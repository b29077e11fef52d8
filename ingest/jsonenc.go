package ingest

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/pipelines"
)

// rowEncoder writes the rows of one record as JSON objects: the columns id,
// text, source, domain first, then every other column in schema order,
// except the token ids. Null values are left out, so a document's line does
// not depend on which other documents shared its batch. Strings are escaped
// as encoding/json does with SetEscapeHTML(false); numbers are formatted as
// encoding/json formats them.
type rowEncoder struct {
	cols []colEncoder
}

type colEncoder struct {
	key []byte // `"name":`
	arr arrow.Array
	enc func(b []byte, i int) []byte
}

// outputColumns returns the indices of the columns a sink writes, in the
// order it writes them.
func outputColumns(schema *arrow.Schema) []int {
	var idx []int
	for _, name := range []string{pipelines.ColID, pipelines.ColText, pipelines.ColSource, pipelines.ColDomain} {
		if is := schema.FieldIndices(name); len(is) > 0 {
			idx = append(idx, is[0])
		}
	}
	for i, f := range schema.Fields() {
		switch f.Name {
		case pipelines.ColID, pipelines.ColText, pipelines.ColSource, pipelines.ColDomain, pipelines.ColTokens:
			continue
		}
		idx = append(idx, i)
	}
	return idx
}

func newRowEncoder(rec arrow.Record) *rowEncoder {
	e := &rowEncoder{}
	for _, i := range outputColumns(rec.Schema()) {
		f := rec.Schema().Field(i)
		key := appendString(nil, f.Name)
		key = append(key, ':')
		arr := rec.Column(i)
		e.cols = append(e.cols, colEncoder{key: key, arr: arr, enc: valueEncoder(arr)})
	}
	return e
}

// appendRow appends row i as one JSON line (with its '\n').
func (e *rowEncoder) appendRow(b []byte, i int) []byte {
	b = append(b, '{')
	first := true
	for c := range e.cols {
		col := &e.cols[c]
		if col.arr.IsNull(i) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, col.key...)
		b = col.enc(b, i)
	}
	return append(b, '}', '\n')
}

// valueEncoder returns the encoder of one array's values (non-null rows).
func valueEncoder(arr arrow.Array) func(b []byte, i int) []byte {
	switch a := arr.(type) {
	case *array.String:
		return func(b []byte, i int) []byte { return appendString(b, a.Value(i)) }
	case *array.LargeString:
		return func(b []byte, i int) []byte { return appendString(b, a.Value(i)) }
	case *array.Float64:
		return func(b []byte, i int) []byte { return appendFloat(b, a.Value(i), 64) }
	case *array.Float32:
		return func(b []byte, i int) []byte { return appendFloat(b, float64(a.Value(i)), 32) }
	case *array.Int64:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, a.Value(i), 10) }
	case *array.Int32:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(a.Value(i)), 10) }
	case *array.Int16:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(a.Value(i)), 10) }
	case *array.Int8:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(a.Value(i)), 10) }
	case *array.Uint64:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, a.Value(i), 10) }
	case *array.Uint32:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }
	case *array.Uint16:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }
	case *array.Uint8:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }
	case *array.Boolean:
		return func(b []byte, i int) []byte { return strconv.AppendBool(b, a.Value(i)) }
	case *array.List:
		return listEncoder(a)
	case *array.LargeList:
		return listEncoder(a)
	}
	// Anything else (structs, maps, dictionaries, binary...) goes the slow,
	// general way: the same value encoding/json gives arrow's own marshaling.
	return func(b []byte, i int) []byte {
		v, err := json.Marshal(arr.GetOneForMarshal(i))
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, v...)
	}
}

type listArray interface {
	arrow.Array
	ValueOffsets(i int) (start, end int64)
	ListValues() arrow.Array
}

func listEncoder(a listArray) func(b []byte, i int) []byte {
	values := a.ListValues()
	inner := valueEncoder(values)
	return func(b []byte, i int) []byte {
		start, end := a.ValueOffsets(i)
		b = append(b, '[')
		for j := start; j < end; j++ {
			if j > start {
				b = append(b, ',')
			}
			if values.IsNull(int(j)) {
				b = append(b, "null"...)
			} else {
				b = inner(b, int(j))
			}
		}
		return append(b, ']')
	}
}

// appendFloat formats f as encoding/json does; NaN and ±Inf, which JSON
// cannot hold, become null.
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	i := 0
	for i < len(s) {
		// Skip runs of plain ASCII 8 bytes at a time.
		for i+8 <= len(s) {
			x := binary.LittleEndian.Uint64(unsafeBytes(s[i : i+8]))
			if x&msb != 0 || !plain8(x) {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript; encoding/json escapes them.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
