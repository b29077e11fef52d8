// Package clean implements filter.clean, the normalization stage: mojibake
// repair, removal of control and zero-width characters, line-ending and
// white-space normalization and Unicode NFC, each switchable. It edits text
// and never drops a document.
package clean

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/text/unicode/norm"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/pipelines"
)

// Spec is filter.clean's spec.
var Spec = pipelines.Spec{
	Name:   "filter.clean",
	Doc:    "normalization: mojibake repair, control and zero-width characters, line endings, white space, Unicode NFC",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "mojibake", Type: pipelines.Bool, Default: true, Doc: "repair UTF-8 that was decoded as Latin-1/CP-1252 (\"cafÃ©\" -> \"café\") where unambiguous"},
		{Name: "control", Type: pipelines.Bool, Default: true, Doc: "remove control characters (C0 except tab and line breaks, DEL, C1)"},
		{Name: "zero_width", Type: pipelines.Bool, Default: true, Doc: "remove zero-width and invisible characters (U+200B, U+2060, U+FEFF, soft hyphen, U+180E); ZWJ and ZWNJ are kept"},
		{Name: "line_endings", Type: pipelines.Bool, Default: true, Doc: "turn \\r\\n, \\r, form feeds and Unicode line separators into \\n"},
		{Name: "whitespace", Type: pipelines.Bool, Default: true, Doc: "Unicode spaces to ' ', collapse space runs within lines (indentation kept), drop trailing spaces, at most one blank line in a row, trim the document"},
		{Name: "nfc", Type: pipelines.Bool, Default: true, Doc: "Unicode normalization form C"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(p, env), nil
	})
}

// Options selects the normalizations.
type Options struct {
	Mojibake, Control, ZeroWidth, LineEndings, Whitespace, NFC bool
}

// AllOptions enables every normalization (the defaults).
func AllOptions() Options { return Options{true, true, true, true, true, true} }

// Counts are the characters each normalization changed or removed.
type Counts struct {
	Mojibake, Control, ZeroWidth, LineEndings, Whitespace, NFC int
}

// Total returns the characters changed.
func (c Counts) Total() int {
	return c.Mojibake + c.Control + c.ZeroWidth + c.LineEndings + c.Whitespace + c.NFC
}

// String describes the counts for the Changes column ("" when none).
func (c Counts) String() string {
	var parts []string
	add := func(name string, n int) {
		if n > 0 {
			parts = append(parts, name+":"+strconv.Itoa(n))
		}
	}
	add("mojibake", c.Mojibake)
	add("control", c.Control)
	add("zero_width", c.ZeroWidth)
	add("line_endings", c.LineEndings)
	add("whitespace", c.Whitespace)
	add("nfc", c.NFC)
	return strings.Join(parts, " ")
}

// maxPooledBytes bounds the buffers kept for reuse: one huge document does
// not pin its buffer for the run.
const maxPooledBytes = 16 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// Clean normalizes text. It returns text itself when nothing changed.
func (o Options) Clean(text string) (string, Counts) {
	var c Counts
	if o.Mojibake && strings.IndexByte(text, 0xC3) >= 0 {
		var n int
		text, n = RepairMojibake(text)
		c.Mojibake = n
	}
	bp := bufPool.Get().(*[]byte)
	out, ascii := o.normalize((*bp)[:0], text, &c)
	if cap(out) <= maxPooledBytes {
		*bp = out[:0]
		defer bufPool.Put(bp)
	}
	res := text
	if c.Control+c.ZeroWidth+c.LineEndings+c.Whitespace > 0 {
		res = string(out)
	}
	if o.NFC && !ascii && !norm.NFC.IsNormalString(res) {
		before := utf8.RuneCountInString(res)
		res = norm.NFC.String(res)
		c.NFC = max(1, before-utf8.RuneCountInString(res))
	}
	return res, c
}

// invisible reports the zero-width characters that are removed.
func invisible(r rune) bool {
	switch r {
	case 0x200B, 0x2060, 0xFEFF, 0x00AD, 0x180E, 0x2061, 0x2062, 0x2063, 0x2064:
		return true
	}
	return false
}

// unicodeSpace reports non-ASCII characters that are white space within a line.
func unicodeSpace(r rune) bool {
	switch r {
	case 0xA0, 0x1680, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// normalize runs control, zero-width, line-ending and white-space
// normalization in one pass, appending to out; ascii reports whether text
// is pure ASCII (so NFC has nothing to do).
func (o Options) normalize(out []byte, text string, c *Counts) ([]byte, bool) {
	w := writer{out: out, ws: o.Whitespace, c: c, lineStart: true, atStart: true}
	ascii := true
	for i := 0; i < len(text); {
		ch := text[i]
		if ch < utf8.RuneSelf {
			switch {
			case ch >= 0x21 && ch != 0x7f:
				if w.pending() {
					w.visible()
				}
				// copy the run of printable ASCII with single spaces in one go
				j := i + 1
				for j < len(text) {
					if c := text[j]; c >= 0x21 && c < 0x7f {
						j++
					} else if c == ' ' && j+1 < len(text) && text[j+1] >= 0x21 && text[j+1] < 0x7f {
						j += 2
					} else {
						break
					}
				}
				w.out = append(w.out, text[i:j]...)
				i = j
				continue
			case ch == ' ' || ch == '\t':
				w.blanks = append(w.blanks, ch)
			case ch == '\n':
				w.lineBreak()
			case ch == '\r' && o.LineEndings:
				if i+1 < len(text) && text[i+1] == '\n' {
					i++
				}
				c.LineEndings++
				w.lineBreak()
			case ch == '\r':
				w.visible()
				w.out = append(w.out, ch)
			case (ch == '\f' || ch == '\v') && o.LineEndings:
				c.LineEndings++
				w.lineBreak()
			case o.Control: // other C0 controls and DEL
				c.Control++
			default:
				w.visible()
				w.out = append(w.out, ch)
			}
			i++
			continue
		}
		ascii = false
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case (r == 0x85 || r == 0x2028 || r == 0x2029) && o.LineEndings:
			c.LineEndings++
			w.lineBreak()
		case r >= 0x80 && r <= 0x9F && o.Control:
			c.Control++
		case invisible(r) && o.ZeroWidth:
			c.ZeroWidth++
		case unicodeSpace(r) && o.Whitespace:
			c.Whitespace++
			w.blanks = append(w.blanks, ' ')
		default:
			w.visible()
			w.out = append(w.out, text[i:i+size]...)
		}
		i += size
	}
	w.end()
	return w.out, ascii
}

// writer holds back blanks and line breaks until the next visible
// character shows whether they are kept, collapsed or trimmed.
type writer struct {
	out                []byte
	blanks             []byte // pending spaces and tabs
	newlines           int    // pending line breaks (white-space mode only)
	ws                 bool   // white-space normalization on
	lineStart, atStart bool
	c                  *Counts
}

func (w *writer) pending() bool { return w.lineStart || len(w.blanks) > 0 || w.newlines > 0 }

// visible writes what is pending before a visible character.
func (w *writer) visible() {
	if w.newlines > 0 {
		keep := min(w.newlines, 2)
		if w.atStart {
			keep = 0
		}
		w.c.Whitespace += w.newlines - keep
		for ; keep > 0; keep-- {
			w.out = append(w.out, '\n')
		}
		w.newlines = 0
	}
	if len(w.blanks) > 0 {
		switch {
		case !w.ws, w.lineStart && !w.atStart, len(w.blanks) == 1 && !w.atStart:
			w.out = append(w.out, w.blanks...) // kept: indentation, a single blank
		case w.atStart:
			w.c.Whitespace += len(w.blanks) // leading blanks of the document
		default:
			w.out = append(w.out, ' ')
			w.c.Whitespace += len(w.blanks) - 1
			if bytes.IndexByte(w.blanks, ' ') < 0 {
				w.c.Whitespace++ // tabs only: the kept blank changed too
			}
		}
		w.blanks = w.blanks[:0]
	}
	w.lineStart, w.atStart = false, false
}

func (w *writer) lineBreak() {
	if !w.ws {
		w.out = append(w.out, w.blanks...)
		w.blanks = w.blanks[:0]
		w.out = append(w.out, '\n')
		w.lineStart = true
		return
	}
	w.c.Whitespace += len(w.blanks) // trailing blanks
	w.blanks = w.blanks[:0]
	w.newlines++
	w.lineStart = true
}

func (w *writer) end() {
	if w.ws {
		w.c.Whitespace += len(w.blanks) + w.newlines
	} else {
		w.out = append(w.out, w.blanks...)
	}
}

// Stage is the filter.clean stage.
type Stage struct {
	Options Options
	env     *pipelines.Env
	// annotate (annotate_only) makes Process always return the text and
	// changes, so that every batch gets the changes column.
	annotate bool
}

// New builds the stage from its parameters.
func New(p pipelines.Params, env *pipelines.Env) *Stage {
	return &Stage{env: env, annotate: p.Bool("annotate_only"), Options: Options{
		Mojibake: p.Bool("mojibake"), Control: p.Bool("control"), ZeroWidth: p.Bool("zero_width"),
		LineEndings: p.Bool("line_endings"), Whitespace: p.Bool("whitespace"), NFC: p.Bool("nfc"),
	}}
}

// Process returns the cleaned text of every row (Result.Text) with what
// changed per row (Result.Changes) and characters changed per
// normalization in Result.Stats ("chars_changed" is the total).
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	b, err := filter.NewBatch(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Spec.Name, err)
	}
	n := b.Len()
	changes := make([]string, n)
	var total Counts
	tb := array.NewStringBuilder(s.env.Alloc)
	defer tb.Release()
	changed := false
	for i := 0; i < n; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if b.Texts.IsNull(i) {
			tb.AppendNull()
			continue
		}
		text, cnt := s.Options.Clean(b.Texts.Value(i))
		tb.Append(text)
		if cnt.Total() > 0 {
			changed = true
			changes[i] = cnt.String()
			total.Mojibake += cnt.Mojibake
			total.Control += cnt.Control
			total.ZeroWidth += cnt.ZeroWidth
			total.LineEndings += cnt.LineEndings
			total.Whitespace += cnt.Whitespace
			total.NFC += cnt.NFC
		}
	}
	res := &pipelines.Result{Stats: map[string]int64{
		"chars_changed": int64(total.Total()), "mojibake": int64(total.Mojibake),
		"control": int64(total.Control), "zero_width": int64(total.ZeroWidth),
		"line_endings": int64(total.LineEndings), "whitespace": int64(total.Whitespace),
		"nfc": int64(total.NFC),
	}}
	if changed || s.annotate {
		res.Text = tb.NewArray()
		res.Changes = changes
	}
	return res, nil
}
