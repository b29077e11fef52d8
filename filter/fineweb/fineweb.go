// Package fineweb implements filter.fineweb: the FineWeb quality rules
// (Penedo et al. 2024, "The FineWeb Datasets") with datatrove's
// FineWebQualityFilter semantics. Over the non-blank lines of a document it
// tests the share ending in terminal punctuation, the share of short lines,
// the characters in duplicate lines and the newlines per word.
package fineweb

import (
	"context"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
)

// Spec is filter.fineweb's spec.
var Spec = pipelines.Spec{
	Name:   "filter.fineweb",
	Doc:    "FineWeb rules: terminal punctuation per line, short lines, duplicate line characters, newlines per word",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "line_punct_thr", Type: pipelines.Float, Default: 0.12, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents where a smaller share of non-blank lines ends in terminal punctuation; 0 disables"},
		{Name: "line_punct_exclude_zero", Type: pipelines.Bool, Default: false, Doc: "keep documents where no line ends in terminal punctuation (the rule then only catches low, non-zero shares)"},
		{Name: "short_line_thr", Type: pipelines.Float, Default: 0.67, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents with a larger share of short lines; 0 disables"},
		{Name: "short_line_length", Type: pipelines.Int, Default: 30, Min: pipelines.Bound(0), Doc: "a line of at most this many characters is short"},
		{Name: "char_duplicates_ratio", Type: pipelines.Float, Default: 0.01, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents where duplicate lines hold a larger share of the characters (newlines not counted); 0 disables"},
		{Name: "new_line_ratio", Type: pipelines.Float, Default: 0.3, Min: pipelines.Bound(0), Doc: "drop documents with more newlines per word (lists); 0 disables"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(p), nil
	})
}

// Rules are the FineWeb thresholds.
type Rules struct {
	LinePunctThr         float64
	LinePunctExcludeZero bool
	ShortLineThr         float64
	ShortLineLength      int
	CharDuplicatesRatio  float64
	NewLineRatio         float64
}

// DefaultRules returns the published thresholds.
func DefaultRules() *Rules {
	return &Rules{LinePunctThr: 0.12, ShortLineThr: 0.67, ShortLineLength: 30,
		CharDuplicatesRatio: 0.01, NewLineRatio: 0.3}
}

// Stats are the measured ratios.
type Stats struct {
	Lines         int     // non-blank lines
	LinePunct     float64 // share ending in terminal punctuation
	ShortLines    float64 // share of short lines
	CharDups      float64 // characters in duplicate lines / characters without newlines
	NewLinesWords float64 // newlines per word
}

type scratch struct {
	set   textstat.Counter
	words []textstat.Word
}

var pool = sync.Pool{New: func() any { return new(scratch) }}

// putScratch pools sc unless a huge document grew it.
func putScratch(sc *scratch) {
	if cap(sc.words) <= textstat.MaxPooledItems {
		pool.Put(sc)
	}
}

// Measure computes the statistics of text.
func (r *Rules) Measure(text string) Stats {
	sc := pool.Get().(*scratch)
	defer putScratch(sc)
	return r.measure(sc, text, true)
}

// MeasureLines computes the line statistics only (NewLinesWords stays 0).
func (r *Rules) MeasureLines(text string) Stats {
	sc := pool.Get().(*scratch)
	defer putScratch(sc)
	return r.measure(sc, text, false)
}

func (r *Rules) measure(sc *scratch, text string, words bool) Stats {
	var st Stats
	punct, short, dupChars := 0, 0, 0
	sc.set.Reset(64)
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '\n')
		end := len(text)
		if j >= 0 {
			end = i + j
		}
		line := text[i:end]
		i = end + 1
		if textstat.IsBlank(line) {
			continue
		}
		st.Lines++
		if textstat.EndsTerminal(line) {
			punct++
		}
		n := textstat.RuneLen(line)
		if n <= r.ShortLineLength {
			short++
		}
		if c, _ := sc.set.Add(textstat.Hash(line)); c > 1 {
			dupChars += n
		}
	}
	if st.Lines == 0 {
		return st
	}
	st.LinePunct = float64(punct) / float64(st.Lines)
	st.ShortLines = float64(short) / float64(st.Lines)
	if chars := textstat.RuneLen(text) - strings.Count(text, "\n"); chars > 0 {
		st.CharDups = float64(dupChars) / float64(chars)
	}
	if words {
		sc.words = textstat.AppendWords(sc.words[:0], text)
		if len(sc.words) > 0 {
			st.NewLinesWords = float64(strings.Count(text, "\n")) / float64(len(sc.words))
		}
	}
	return st
}

// Check returns "" when text passes, else the first failing rule: empty,
// line_punct_ratio, short_line_ratio, char_dup_ratio or list_ratio.
func (r *Rules) Check(text string) string {
	sc := pool.Get().(*scratch)
	defer putScratch(sc)
	st := r.measure(sc, text, false)
	switch {
	case st.Lines == 0:
		return "empty"
	case st.LinePunct < r.LinePunctThr && !(st.LinePunct == 0 && r.LinePunctExcludeZero):
		return "line_punct_ratio"
	case r.ShortLineThr > 0 && st.ShortLines > r.ShortLineThr:
		return "short_line_ratio"
	case r.CharDuplicatesRatio > 0 && st.CharDups > r.CharDuplicatesRatio:
		return "char_dup_ratio"
	}
	if r.NewLineRatio <= 0 {
		return ""
	}
	// Words are counted last and only when needed: a document with fewer
	// newlines than new_line_ratio times a lower bound of its words passes.
	nl := strings.Count(text, "\n")
	if nl == 0 {
		return ""
	}
	if spaceWordsAtLeast(text, int(float64(nl)/r.NewLineRatio)+1) {
		return ""
	}
	sc.words = textstat.AppendWords(sc.words[:0], text)
	if len(sc.words) == 0 || float64(nl)/float64(len(sc.words)) > r.NewLineRatio {
		return "list_ratio"
	}
	return ""
}

// spaceWordsAtLeast reports whether text has at least want white-space
// separated fields. Fields do not outnumber the words AppendWords finds
// (except fields made only of invisible characters), so when there are
// enough of them the list rule passes without splitting words; the scan
// stops as soon as it has seen enough.
func spaceWordsAtLeast(text string, want int) bool {
	n, in := 0, false
	for i := 0; i < len(text); i++ {
		if c := text[i]; c <= ' ' || c == 0x7f {
			in = false
		} else if !in {
			in = true
			if n++; n >= want {
				return true
			}
		}
	}
	return false
}

// Stage is the filter.fineweb stage.
type Stage struct{ Rules *Rules }

// New builds the stage from its parameters.
func New(p pipelines.Params) *Stage {
	return &Stage{Rules: &Rules{
		LinePunctThr: p.Float("line_punct_thr"), LinePunctExcludeZero: p.Bool("line_punct_exclude_zero"),
		ShortLineThr: p.Float("short_line_thr"), ShortLineLength: p.Int("short_line_length"),
		CharDuplicatesRatio: p.Float("char_duplicates_ratio"), NewLineRatio: p.Float("new_line_ratio"),
	}}
}

// Process drops the documents that fail a rule, with reason "fineweb:RULE".
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	return filter.Drops(ctx, rec, "fineweb", func(b *filter.Batch, i int) string {
		return s.Rules.Check(b.Text(i))
	})
}
