package gopher

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
)

// RepetitionSpec is filter.gopher_repetition's spec.
var RepetitionSpec = pipelines.Spec{
	Name:   "filter.gopher_repetition",
	Doc:    "Gopher repetition rules: duplicate lines and paragraphs, top n-gram and duplicate n-gram character fractions",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "dup_line_frac", Type: pipelines.Float, Default: 0.3, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents with a larger share of duplicate lines; 0 disables"},
		{Name: "dup_para_frac", Type: pipelines.Float, Default: 0.3, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents with a larger share of duplicate paragraphs; 0 disables"},
		{Name: "dup_line_char_frac", Type: pipelines.Float, Default: 0.2, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents where duplicate lines hold a larger share of the characters; 0 disables"},
		{Name: "dup_para_char_frac", Type: pipelines.Float, Default: 0.2, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents where duplicate paragraphs hold a larger share of the characters; 0 disables"},
		{Name: "top_n_grams", Type: pipelines.FloatMap, Default: map[string]float64{"2": 0.2, "3": 0.18, "4": 0.16}, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "n -> largest share of characters the most frequent word n-gram may cover"},
		{Name: "dup_n_grams", Type: pipelines.FloatMap, Default: map[string]float64{"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "n -> largest share of characters duplicated word n-grams may cover"},
	},
}

func init() {
	pipelines.RegisterStage(RepetitionSpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return NewRepetition(p)
	})
}

// NGramRule is one n-gram threshold.
type NGramRule struct {
	N    int
	Frac float64
}

// RepetitionRules are the Gopher repetition thresholds; a zero fraction
// disables a rule. Check is safe for concurrent use.
type RepetitionRules struct {
	DupLineFrac, DupParaFrac         float64
	DupLineCharFrac, DupParaCharFrac float64
	TopNGrams                        []NGramRule // ascending n
	DupNGrams                        []NGramRule // ascending n
}

// DefaultRepetitionRules returns the published thresholds.
func DefaultRepetitionRules() *RepetitionRules {
	return &RepetitionRules{DupLineFrac: 0.3, DupParaFrac: 0.3, DupLineCharFrac: 0.2, DupParaCharFrac: 0.2,
		TopNGrams: []NGramRule{{2, 0.2}, {3, 0.18}, {4, 0.16}},
		DupNGrams: []NGramRule{{5, 0.15}, {6, 0.14}, {7, 0.13}, {8, 0.12}, {9, 0.11}, {10, 0.10}}}
}

// scratch is the per-call working memory, pooled.
type scratch struct {
	words    []textstat.Word
	hashes   []uint64 // per word
	grams    []uint64 // per position, hash of the n-gram starting there
	c5       []int32  // per position, occurrences of the shortest dup n-gram there
	set      textstat.Counter
	firstPos []int32 // position of each distinct n-gram's first occurrence
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// RepetitionStats are the fractions the repetition rules test; Top and Dup
// are indexed like the rules' TopNGrams and DupNGrams.
type RepetitionStats struct {
	DupParaFrac, DupParaCharFrac float64
	DupLineFrac, DupLineCharFrac float64
	Top, Dup                     []float64
}

// Check returns "" when text passes, else the first failing rule:
// dup_para_frac, dup_para_char_frac, dup_line_frac, dup_line_char_frac,
// top_N_gram or dup_N_gram.
func (r *RepetitionRules) Check(text string) string {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	reason, _ := r.measure(sc, text, true)
	return reason
}

// Measure computes every statistic without stopping at the first failure.
func (r *RepetitionRules) Measure(text string) RepetitionStats {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	_, st := r.measure(sc, text, false)
	return st
}

func (r *RepetitionRules) measure(sc *scratch, text string, stop bool) (string, RepetitionStats) {
	var st RepetitionStats
	total := float64(textstat.RuneLen(text))
	if total == 0 {
		return "", st
	}

	// Paragraphs: the stripped text split at runs of two or more newlines.
	paras, dupParas, dupParaChars := 0, 0, 0
	sc.set.Reset(64)
	body := strings.TrimSpace(text)
	for i := 0; ; {
		j := strings.Index(body[i:], "\n\n")
		end := len(body)
		if j >= 0 {
			end = i + j
		}
		p := body[i:end]
		paras++
		if c, _ := sc.set.Add(textstat.Hash(p)); c > 1 {
			dupParas++
			dupParaChars += textstat.RuneLen(p)
		}
		if j < 0 {
			break
		}
		i = end
		for i < len(body) && body[i] == '\n' {
			i++
		}
	}
	st.DupParaFrac = float64(dupParas) / float64(paras)
	st.DupParaCharFrac = float64(dupParaChars) / total
	if r.DupParaFrac > 0 && st.DupParaFrac > r.DupParaFrac && stop {
		return "dup_para_frac", st
	}
	if r.DupParaCharFrac > 0 && st.DupParaCharFrac > r.DupParaCharFrac && stop {
		return "dup_para_char_frac", st
	}

	// Lines: the text split at runs of newlines.
	lines, dupLines, dupLineChars := 0, 0, 0
	sc.set.Reset(64)
	for i := 0; ; {
		j := strings.IndexByte(text[i:], '\n')
		end := len(text)
		if j >= 0 {
			end = i + j
		}
		l := text[i:end]
		lines++
		if c, _ := sc.set.Add(textstat.Hash(l)); c > 1 {
			dupLines++
			dupLineChars += textstat.RuneLen(l)
		}
		if j < 0 {
			break
		}
		i = end
		for i < len(text) && text[i] == '\n' {
			i++
		}
	}
	st.DupLineFrac = float64(dupLines) / float64(lines)
	st.DupLineCharFrac = float64(dupLineChars) / total
	if r.DupLineFrac > 0 && st.DupLineFrac > r.DupLineFrac && stop {
		return "dup_line_frac", st
	}
	if r.DupLineCharFrac > 0 && st.DupLineCharFrac > r.DupLineCharFrac && stop {
		return "dup_line_char_frac", st
	}

	if len(r.TopNGrams) == 0 && len(r.DupNGrams) == 0 {
		return "", st
	}
	sc.words = textstat.AppendWords(sc.words[:0], text)
	words := sc.words
	sc.hashes = sc.hashes[:0]
	for _, w := range words {
		sc.hashes = append(sc.hashes, textstat.Hash(w.Text(text)))
	}

	// Top n-grams: the most frequent n-gram (the first seen among equals)
	// times its length with spaces between words.
	for _, rule := range r.TopNGrams {
		frac := r.topNGram(sc, rule.N)
		st.Top = append(st.Top, frac/total)
		if rule.Frac > 0 && frac/total > rule.Frac && stop {
			return "top_" + strconv.Itoa(rule.N) + "_gram", st
		}
	}

	// Duplicate n-grams: characters (words concatenated) covered by n-grams
	// seen earlier, skipping past each duplicate, as datatrove counts them.
	if len(r.DupNGrams) > 0 {
		r.countShortest(sc)
	}
	for _, rule := range r.DupNGrams {
		frac := float64(r.dupNGram(sc, rule.N)) / total
		st.Dup = append(st.Dup, frac)
		if rule.Frac > 0 && frac > rule.Frac && stop {
			return "dup_" + strconv.Itoa(rule.N) + "_gram", st
		}
	}
	return "", st
}

// gramHashes fills sc.grams with the hash of the n-gram at each position.
func gramHashes(sc *scratch, n int) []uint64 {
	m := len(sc.hashes) - n + 1
	sc.grams = sc.grams[:0]
	for i := 0; i < m; i++ {
		h := uint64(n)
		for _, w := range sc.hashes[i : i+n] {
			h = textstat.Combine(h, w)
		}
		sc.grams = append(sc.grams, h)
	}
	return sc.grams
}

func (r *RepetitionRules) topNGram(sc *scratch, n int) float64 {
	grams := gramHashes(sc, n)
	if len(grams) == 0 {
		return 0
	}
	sc.set.Reset(len(grams))
	sc.firstPos = sc.firstPos[:0]
	bestCount, bestFirst := int32(0), int32(-1)
	for i, h := range grams {
		c, first := sc.set.Add(h)
		if c == 1 {
			sc.firstPos = append(sc.firstPos, int32(i)) // indexed by first
		}
		if c > bestCount || (c == bestCount && first < bestFirst) {
			bestCount, bestFirst = c, first
		}
	}
	pos := int(sc.firstPos[bestFirst])
	chars := n - 1
	for _, w := range sc.words[pos : pos+n] {
		chars += int(w.Runes)
	}
	return float64(chars) * float64(bestCount)
}

// countShortest records, per position, how often the n-gram of the
// smallest dup size occurs. A longer n-gram can only repeat where its
// prefix of that size repeats, so positions with a count of 1 are skipped
// by every dup rule: on normal prose that is nearly all of them.
func (r *RepetitionRules) countShortest(sc *scratch) {
	n := r.DupNGrams[0].N
	for _, rule := range r.DupNGrams {
		n = min(n, rule.N)
	}
	grams := gramHashes(sc, n)
	sc.set.Reset(len(grams))
	for _, h := range grams {
		sc.set.Add(h)
	}
	sc.c5 = sc.c5[:0]
	for _, h := range grams {
		sc.c5 = append(sc.c5, sc.set.Get(h))
	}
}

func (r *RepetitionRules) dupNGram(sc *scratch, n int) int {
	m := len(sc.hashes) - n + 1
	if m <= 0 {
		return 0
	}
	sc.set.Reset(64)
	repeated := 0
	for i := 0; i < m; {
		if sc.c5[i] <= 1 {
			i++
			continue
		}
		h := uint64(n)
		for _, w := range sc.hashes[i : i+n] {
			h = textstat.Combine(h, w)
		}
		if c, _ := sc.set.Add(h); c > 1 {
			for _, w := range sc.words[i : i+n] {
				repeated += int(w.Runes)
			}
			i += n
		} else {
			i++
		}
	}
	return repeated
}

// Repetition is the filter.gopher_repetition stage.
type Repetition struct{ Rules *RepetitionRules }

// NewRepetition builds the stage from its parameters.
func NewRepetition(p pipelines.Params) (*Repetition, error) {
	r := &RepetitionRules{
		DupLineFrac: p.Float("dup_line_frac"), DupParaFrac: p.Float("dup_para_frac"),
		DupLineCharFrac: p.Float("dup_line_char_frac"), DupParaCharFrac: p.Float("dup_para_char_frac"),
	}
	var err error
	if r.TopNGrams, err = ngramRules(p.FloatMap("top_n_grams")); err != nil {
		return nil, fmt.Errorf("%s: top_n_grams: %w", RepetitionSpec.Name, err)
	}
	if r.DupNGrams, err = ngramRules(p.FloatMap("dup_n_grams")); err != nil {
		return nil, fmt.Errorf("%s: dup_n_grams: %w", RepetitionSpec.Name, err)
	}
	return &Repetition{Rules: r}, nil
}

func ngramRules(m map[string]float64) ([]NGramRule, error) {
	var out []NGramRule
	for k, v := range m {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("key %q is not an n-gram size from 1 to 64", k)
		}
		out = append(out, NGramRule{N: n, Frac: v})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].N < out[j-1].N; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// Process drops the documents that fail a rule, with reason
// "gopher_repetition:RULE".
func (s *Repetition) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	return filter.Drops(ctx, rec, "gopher_repetition", func(b *filter.Batch, i int) string {
		return s.Rules.Check(b.Text(i))
	})
}
