package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSONL reader's hot path is this hand-written scanner: it validates one
// line as a JSON object and reports its members without encoding/json's
// reflection or a map per line. Strings without escapes are returned as
// sub-slices of the line (no copy); escaped strings are decoded into a
// scratch buffer the caller reuses. Nested objects and arrays are validated
// and returned raw (the caller keeps them as a JSON string column).

// Kinds of JSON values.
const (
	kindString byte = 's'
	kindNumber byte = 'n'
	kindBool   byte = 'b'
	kindNull   byte = '0'
	kindNested byte = '{' // an object or an array, kept raw
)

// member is one "key": value pair of a scanned object. Key and Str are
// sub-slices of the line or of the scanner's scratch buffer: valid until
// the next call to scan.
type member struct {
	Key  []byte
	Kind byte
	Raw  []byte // the value's bytes as written (numbers, nested JSON)
	Str  []byte // the decoded string (kindString)
	Bool bool
}

// maxDepth bounds nesting so that a hostile line cannot exhaust the stack.
const maxDepth = 10000 // encoding/json's limit too

// scanner parses JSON objects; it is not safe for concurrent use (each
// worker owns one).
type scanner struct {
	members []member
	scratch []byte
}

// errNotObject is returned for a line that is valid-looking but not an object.
var errNotObject = errors.New("not a JSON object")

// syntaxError says what is wrong and where (0-based byte offset in the line).
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.off+1, e.msg)
}

// scan parses line, which must hold exactly one JSON object (surrounding
// whitespace allowed), and returns its members in order. A duplicate key
// appears twice; the caller lets the last one win, as encoding/json does.
func (s *scanner) scan(line []byte) ([]member, error) {
	s.members = s.members[:0]
	s.scratch = s.scratch[:0]
	i := skipSpace(line, 0)
	if i >= len(line) {
		return nil, &syntaxError{"empty line", i}
	}
	if line[i] != '{' {
		if _, err := skipValue(line, i, 0); err != nil {
			return nil, err
		}
		return nil, errNotObject
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i >= len(line) || line[i] != '"' {
				return nil, s.errAt(line, i, "want a string key")
			}
			var m member
			var err error
			m.Key, i, err = s.str(line, i)
			if err != nil {
				return nil, err
			}
			i = skipSpace(line, i)
			if i >= len(line) || line[i] != ':' {
				return nil, s.errAt(line, i, "want ':' after key")
			}
			i = skipSpace(line, i+1)
			if i >= len(line) {
				return nil, s.errAt(line, i, "want a value")
			}
			start := i
			switch c := line[i]; {
			case c == '"':
				m.Kind = kindString
				m.Str, i, err = s.str(line, i)
			case c == '{' || c == '[':
				m.Kind = kindNested
				i, err = skipValue(line, i, 1)
			case c == 't' || c == 'f' || c == 'n':
				i, err = skipLiteral(line, i)
				switch c {
				case 't':
					m.Kind, m.Bool = kindBool, true
				case 'f':
					m.Kind = kindBool
				default:
					m.Kind = kindNull
				}
			default:
				m.Kind = kindNumber
				i, err = skipNumber(line, i)
			}
			if err != nil {
				return nil, err
			}
			m.Raw = line[start:i]
			s.members = append(s.members, m)
			i = skipSpace(line, i)
			if i < len(line) && line[i] == ',' {
				i = skipSpace(line, i+1)
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return nil, s.errAt(line, i, "want ',' or '}'")
		}
	}
	if i = skipSpace(line, i); i < len(line) {
		return nil, &syntaxError{"text after the object", i}
	}
	return s.members, nil
}

func (s *scanner) errAt(line []byte, i int, msg string) error {
	if i >= len(line) {
		return &syntaxError{"unexpected end of line: " + msg, i}
	}
	return &syntaxError{fmt.Sprintf("unexpected %q: %s", line[i], msg), i}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain8 reports whether none of the 8 bytes in x is a quote, a backslash or
// a control character, i.e. whether a string's body can skip all 8.
func plain8(x uint64) bool {
	quote := x ^ (lsb * '"')
	bslash := x ^ (lsb * '\\')
	zero := func(v uint64) uint64 { return (v - lsb) &^ v & msb }
	ctl := (x - lsb*0x20) &^ x & msb
	return zero(quote)|zero(bslash)|ctl == 0
}

// str reads the string starting at b[i] == '"' and returns its decoded
// bytes (a sub-slice of b when it holds no escape) and the offset after it.
func (s *scanner) str(b []byte, i int) ([]byte, int, error) {
	start := i + 1
	j := start
	for {
		for j+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		if j >= len(b) {
			return nil, j, &syntaxError{"unterminated string", i}
		}
		c := b[j]
		switch {
		case c == '"':
			return b[start:j], j + 1, nil
		case c == '\\':
			return s.unescape(b, i, start, j)
		case c < 0x20:
			return nil, j, &syntaxError{fmt.Sprintf("control character %#x in string", c), j}
		}
		j++
	}
}

// unescape decodes a string holding escapes into the scratch buffer. The
// returned slice stays valid after later appends to scratch grow it: the
// old array is kept alive by the slice and never written again.
func (s *scanner) unescape(b []byte, open, start, j int) ([]byte, int, error) {
	mark := len(s.scratch)
	out := append(s.scratch, b[start:j]...)
	defer func() { s.scratch = out }()
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return out[mark:len(out):len(out)], j + 1, nil
		case c < 0x20:
			return nil, j, &syntaxError{fmt.Sprintf("control character %#x in string", c), j}
		case c != '\\':
			k := j + 1
			for k+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[k:])) {
				k += 8
			}
			for k < len(b) && b[k] != '"' && b[k] != '\\' && b[k] >= 0x20 {
				k++
			}
			out = append(out, b[j:k]...)
			j = k
			continue
		}
		if j+1 >= len(b) {
			break
		}
		switch e := b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, j+2)
			if !ok {
				return nil, j, &syntaxError{"invalid \\u escape", j}
			}
			j += 6
			if utf16.IsSurrogate(r) {
				// A valid pair joins; a lone surrogate becomes U+FFFD, as in encoding/json.
				if r2, ok := hex4(b, j+2); ok && j+1 < len(b) && b[j] == '\\' && b[j+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						j += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, j, &syntaxError{fmt.Sprintf("invalid escape \\%c", e), j}
		}
		j += 2
	}
	return nil, j, &syntaxError{"unterminated string", open}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func skipLiteral(b []byte, i int) (int, error) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit), nil
		}
	}
	return i, &syntaxError{"invalid literal", i}
}

// skipNumber validates a JSON number (RFC 8259 grammar).
func skipNumber(b []byte, i int) (int, error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return i, &syntaxError{"invalid number", start}
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, &syntaxError{"invalid number", start}
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, &syntaxError{"invalid number", start}
		}
	}
	return i, nil
}

// skipValue validates any JSON value starting at b[i] and returns the
// offset after it.
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, &syntaxError{"nested too deeply", i}
	}
	if i >= len(b) {
		return i, &syntaxError{"unexpected end of line: want a value", i}
	}
	var s scanner // strings inside nested values are only validated
	switch c := b[i]; {
	case c == '"':
		_, j, err := s.strSkip(b, i)
		return j, err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, s.errAt(b, i, "want a string key")
				}
				if _, i, err = s.strSkip(b, i); err != nil {
					return i, err
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return i, s.errAt(b, i, "want ':' after key")
				}
				i = skipSpace(b, i+1)
			}
			if i, err = skipValue(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == closer {
				return i + 1, nil
			}
			return i, s.errAt(b, i, "want ',' or '"+string(closer)+"'")
		}
	case c == 't' || c == 'f' || c == 'n':
		return skipLiteral(b, i)
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(b, i)
	}
	return i, (&scanner{}).errAt(b, i, "want a value")
}

// strSkip validates a string without keeping its decoded bytes.
func (s *scanner) strSkip(b []byte, i int) ([]byte, int, error) {
	v, j, err := s.str(b, i)
	s.scratch = s.scratch[:0]
	return v, j, err
}

// parseNumber converts a validated JSON number.
func parseNumber(raw []byte) float64 {
	f, _ := strconv.ParseFloat(string(raw), 64) // out of range gives ±Inf
	return f
}
