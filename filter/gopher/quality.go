// Package gopher implements the Gopher heuristics (Rae et al. 2021,
// "Scaling Language Models", Appendix A, Table A1) as two stages:
// filter.gopher_quality (document statistics) and filter.gopher_repetition
// (repeated lines, paragraphs and n-grams). The semantics follow datatrove's
// GopherQualityFilter and GopherRepetitionFilter; words come from
// textstat.AppendWords instead of NLTK.
package gopher

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
)

// QualitySpec is filter.gopher_quality's spec.
var QualitySpec = pipelines.Spec{
	Name:   "filter.gopher_quality",
	Doc:    "Gopher quality rules: word count, mean word length, symbol ratios, bullet and ellipsis lines, alphabetic words, stop words",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "min_doc_words", Type: pipelines.Int, Default: 50, Min: pipelines.Bound(0), Doc: "drop documents with fewer words (punctuation tokens excluded); 0 disables"},
		{Name: "max_doc_words", Type: pipelines.Int, Default: 100000, Min: pipelines.Bound(0), Doc: "drop documents with more words; 0 disables"},
		{Name: "min_avg_word_length", Type: pipelines.Float, Default: 3.0, Min: pipelines.Bound(0), Doc: "drop documents whose mean word length (characters) is lower; 0 disables"},
		{Name: "max_avg_word_length", Type: pipelines.Float, Default: 10.0, Min: pipelines.Bound(0), Doc: "drop documents whose mean word length is higher; 0 disables"},
		{Name: "max_symbol_word_ratio", Type: pipelines.Float, Default: 0.1, Min: pipelines.Bound(0), Doc: "drop documents with more '#' (or more '...'/'…') per word; 0 disables"},
		{Name: "max_bullet_lines_ratio", Type: pipelines.Float, Default: 0.9, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents with a larger share of lines starting with '•' or '-'; 0 disables"},
		{Name: "max_ellipsis_lines_ratio", Type: pipelines.Float, Default: 0.3, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents with a larger share of lines ending in '...' or '…'; 0 disables"},
		{Name: "min_alpha_words_ratio", Type: pipelines.Float, Default: 0.8, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents where a smaller share of words has an alphabetic character; 0 disables"},
		{Name: "min_stop_words", Type: pipelines.Int, Default: 2, Min: pipelines.Bound(0), Doc: "drop documents containing fewer distinct stop words; 0 disables"},
		{Name: "stop_words", Type: pipelines.Strings, Doc: "stop words to use instead of the language's list"},
		{Name: "language", Type: pipelines.String, Default: "en", Doc: "language of the stop-word list (ISO 639-1), or auto: each document's lang column (from filter.language), falling back to en"},
	},
}

func init() {
	pipelines.RegisterStage(QualitySpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return NewQuality(p)
	})
}

// QualityRules are the Gopher quality thresholds; a zero value disables a
// rule. Check is safe for concurrent use.
type QualityRules struct {
	MinDocWords, MaxDocWords int
	MinAvgWordLen            float64
	MaxAvgWordLen            float64
	MaxSymbolWordRatio       float64
	MaxBulletLinesRatio      float64
	MaxEllipsisLinesRatio    float64
	MinAlphaWordsRatio       float64
	MinStopWords             int
	// StopWords returns the stop-word set for a document's language.
	StopWords func(lang string) *textstat.StopSet
}

// DefaultQualityRules returns the published thresholds with English stop words.
func DefaultQualityRules() *QualityRules {
	en := textstat.NewStopSet(textstat.StopWords("en"))
	return &QualityRules{MinDocWords: 50, MaxDocWords: 100000, MinAvgWordLen: 3, MaxAvgWordLen: 10,
		MaxSymbolWordRatio: 0.1, MaxBulletLinesRatio: 0.9, MaxEllipsisLinesRatio: 0.3,
		MinAlphaWordsRatio: 0.8, MinStopWords: 2,
		StopWords: func(string) *textstat.StopSet { return en }}
}

// QualityStats are the statistics the quality rules test.
type QualityStats struct {
	Words, NonSymbolWords int
	AvgWordLen            float64
	HashRatio             float64 // '#' per word
	EllipsisRatio         float64 // "..." and "…" per word
	BulletLines           float64 // share of lines starting with a bullet
	EllipsisLines         float64 // share of lines ending with an ellipsis
	AlphaWords            float64 // share of words with a letter
	StopWords             int     // distinct stop words present (Check stops counting at min_stop_words)
	StopDensity           float64 // share of words that are stop words (0 when Check stopped early)
}

var wordPool = sync.Pool{New: func() any { s := make([]textstat.Word, 0, 1024); return &s }}

// Measure computes the statistics of text; stop is the stop-word set (nil
// counts none).
func Measure(text string, stop *textstat.StopSet) QualityStats {
	return measure(text, stop, 0)
}

func measure(text string, stop *textstat.StopSet, enough int) QualityStats {
	wp := wordPool.Get().(*[]textstat.Word)
	words := textstat.AppendWords((*wp)[:0], text)
	st := measureWords(text, words, stop, enough)
	if cap(words) <= textstat.MaxPooledItems {
		*wp = words[:0]
		wordPool.Put(wp)
	}
	return st
}

// MeasureWords is Measure for a text already split by textstat.AppendWords.
func MeasureWords(text string, words []textstat.Word, stop *textstat.StopSet) QualityStats {
	return measureWords(text, words, stop, 0)
}

// measureWords measures text; with enough > 0 the stop-word count stops at
// enough distinct words (all a verdict needs) and StopDensity stays 0.
func measureWords(text string, words []textstat.Word, stop *textstat.StopSet, enough int) QualityStats {
	var st QualityStats
	st.Words = len(words)
	chars, alpha := 0, 0
	for _, w := range words {
		if w.Flags&textstat.Symbol == 0 {
			st.NonSymbolWords++
			chars += int(w.Runes)
		}
		if w.Flags&textstat.HasLetter != 0 {
			alpha++
		}
	}
	if st.NonSymbolWords > 0 {
		st.AvgWordLen = float64(chars) / float64(st.NonSymbolWords)
	}
	if st.Words > 0 {
		n := float64(st.Words)
		st.HashRatio = float64(strings.Count(text, "#")) / n
		st.EllipsisRatio = float64(strings.Count(text, "...")+strings.Count(text, "…")) / n
		st.AlphaWords = float64(alpha) / n
	}
	lines, bullets, ellipses := 0, 0, 0
	for it := textstat.NewLines(text); ; {
		line, ok := it.Next()
		if !ok {
			break
		}
		lines++
		l := trimBlankLeft(line)
		if strings.HasPrefix(l, "•") || strings.HasPrefix(l, "-") {
			bullets++
		}
		r := trimBlankRight(line)
		if strings.HasSuffix(r, "...") || strings.HasSuffix(r, "…") {
			ellipses++
		}
	}
	if lines > 0 {
		st.BulletLines = float64(bullets) / float64(lines)
		st.EllipsisLines = float64(ellipses) / float64(lines)
	}
	if stop != nil {
		if enough > 0 && stop.DistinctAtLeast(text, words, enough) {
			st.StopWords = enough // at least; the density is not measured
		} else {
			var total int
			st.StopWords, total = stop.Count(text, words)
			if st.Words > 0 {
				st.StopDensity = float64(total) / float64(st.Words)
			}
		}
	}
	return st
}

// trimBlankLeft and trimBlankRight remove the blanks a line may start or
// end with before a bullet or an ellipsis: ASCII spaces, tabs, vertical tabs
// and form feeds, the no-break and the ideographic space.
func trimBlankLeft(s string) string {
	for len(s) > 0 {
		switch {
		case s[0] == ' ' || s[0] == '\t' || s[0] == '\v' || s[0] == '\f':
			s = s[1:]
		case strings.HasPrefix(s, "\u00a0"):
			s = s[2:]
		case strings.HasPrefix(s, "\u3000"):
			s = s[3:]
		default:
			return s
		}
	}
	return s
}

func trimBlankRight(s string) string {
	for len(s) > 0 {
		c := s[len(s)-1]
		switch {
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			s = s[:len(s)-1]
		case strings.HasSuffix(s, "\u00a0"):
			s = s[:len(s)-2]
		case strings.HasSuffix(s, "\u3000"):
			s = s[:len(s)-3]
		default:
			return s
		}
	}
	return s
}

// Check returns "" when text passes every rule, else the first failing
// rule: word_count, mean_word_length, hash_ratio, ellipsis_ratio,
// bullet_lines, ellipsis_lines, alpha_words or stop_words.
func (q *QualityRules) Check(text, lang string) string {
	var stop *textstat.StopSet
	if q.MinStopWords > 0 && q.StopWords != nil {
		stop = q.StopWords(lang)
	}
	st := measure(text, stop, q.MinStopWords)
	return q.Verdict(st, stop != nil)
}

// Verdict applies the thresholds to measured statistics; haveStop says
// whether a stop-word list applied (the stop-word rule is skipped for a
// language without one).
func (q *QualityRules) Verdict(st QualityStats, haveStop bool) string {
	switch {
	case q.MinDocWords > 0 && st.NonSymbolWords < q.MinDocWords,
		q.MaxDocWords > 0 && st.NonSymbolWords > q.MaxDocWords:
		return "word_count"
	case st.NonSymbolWords == 0:
		return "word_count"
	case q.MinAvgWordLen > 0 && st.AvgWordLen < q.MinAvgWordLen,
		q.MaxAvgWordLen > 0 && st.AvgWordLen > q.MaxAvgWordLen:
		return "mean_word_length"
	case q.MaxSymbolWordRatio > 0 && st.HashRatio > q.MaxSymbolWordRatio:
		return "hash_ratio"
	case q.MaxSymbolWordRatio > 0 && st.EllipsisRatio > q.MaxSymbolWordRatio:
		return "ellipsis_ratio"
	case q.MaxBulletLinesRatio > 0 && st.BulletLines > q.MaxBulletLinesRatio:
		return "bullet_lines"
	case q.MaxEllipsisLinesRatio > 0 && st.EllipsisLines > q.MaxEllipsisLinesRatio:
		return "ellipsis_lines"
	case q.MinAlphaWordsRatio > 0 && st.AlphaWords < q.MinAlphaWordsRatio:
		return "alpha_words"
	case q.MinStopWords > 0 && haveStop && st.StopWords < q.MinStopWords:
		return "stop_words"
	}
	return ""
}

// StopWordsFor returns the stop-word lookup for the stage's stop_words and
// language parameters (shared with filter.quality).
func StopWordsFor(words []string, language string) (func(lang string) *textstat.StopSet, error) {
	if len(words) > 0 {
		s := textstat.NewStopSet(words)
		return func(string) *textstat.StopSet { return s }, nil
	}
	sets := map[string]*textstat.StopSet{}
	for _, l := range textstat.StopLanguages() {
		sets[l] = textstat.NewStopSet(textstat.StopWords(l))
	}
	if language == "auto" {
		return func(lang string) *textstat.StopSet {
			if lang == "" {
				return sets["en"]
			}
			return sets[strings.ToLower(lang)] // nil: no list, the rule is skipped
		}, nil
	}
	s, ok := sets[strings.ToLower(language)]
	if !ok {
		return nil, fmt.Errorf("no stop-word list for language %q (give stop_words, or one of %s)",
			language, strings.Join(sortedKeys(sets), ", "))
	}
	return func(string) *textstat.StopSet { return s }, nil
}

func sortedKeys(m map[string]*textstat.StopSet) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Quality is the filter.gopher_quality stage.
type Quality struct{ Rules *QualityRules }

// NewQuality builds the stage from its parameters.
func NewQuality(p pipelines.Params) (*Quality, error) {
	stop, err := StopWordsFor(p.Strings("stop_words"), p.String("language"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", QualitySpec.Name, err)
	}
	q := &QualityRules{
		MinDocWords: p.Int("min_doc_words"), MaxDocWords: p.Int("max_doc_words"),
		MinAvgWordLen: p.Float("min_avg_word_length"), MaxAvgWordLen: p.Float("max_avg_word_length"),
		MaxSymbolWordRatio:    p.Float("max_symbol_word_ratio"),
		MaxBulletLinesRatio:   p.Float("max_bullet_lines_ratio"),
		MaxEllipsisLinesRatio: p.Float("max_ellipsis_lines_ratio"),
		MinAlphaWordsRatio:    p.Float("min_alpha_words_ratio"),
		MinStopWords:          p.Int("min_stop_words"),
		StopWords:             stop,
	}
	return &Quality{Rules: q}, nil
}

// Process drops the documents that fail a rule, with reason
// "gopher_quality:RULE".
func (s *Quality) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	return filter.Drops(ctx, rec, "gopher_quality", func(b *filter.Batch, i int) string {
		return s.Rules.Check(b.Text(i), b.Lang(i))
	})
}
