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
	words  []textstat.Word
	hashes []uint64 // per word
	grams  []uint64 // per candidate position, hash of the gramN-gram starting there
	gramN  int
	cand   []int32 // positions whose gramN-gram occurs more than once, ascending
	counts []int32 // per candidate, occurrences of its gramN-gram
	slots  []int32 // per candidate, its counter slot
	set    textstat.Counter
	seen   textstat.Counter
	limit  float64 // MeasureUpTo's limit (0: none)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// putScratch pools sc unless a huge document grew it.
func putScratch(sc *scratch) {
	if cap(sc.hashes) <= textstat.MaxPooledItems {
		scratchPool.Put(sc)
	}
}

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
	defer putScratch(sc)
	reason, _ := r.measure(sc, text, nil, true)
	return reason
}

// Measure computes every statistic without stopping at the first failure.
func (r *RepetitionRules) Measure(text string) RepetitionStats {
	return r.MeasureWords(text, nil)
}

// MeasureWords is Measure for a text already split by textstat.AppendWords
// (nil words: split here).
func (r *RepetitionRules) MeasureWords(text string, words []textstat.Word) RepetitionStats {
	return r.MeasureUpTo(text, words, 0)
}

// MeasureUpTo is MeasureWords that stops once a statistic reaches limit
// times its threshold (limit 0: never); the statistics not reached stay 0.
// A caller that only needs to know "far past a threshold" saves the n-gram
// passes, which on a long, repetitive document prune nothing.
func (r *RepetitionRules) MeasureUpTo(text string, words []textstat.Word, limit float64) RepetitionStats {
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	sc.limit = limit
	_, st := r.measure(sc, text, words, false)
	sc.limit = 0
	return st
}

// over reports whether v reached the measuring limit for threshold thr.
func (sc *scratch) over(v, thr float64) bool { return sc.limit > 0 && thr > 0 && v >= sc.limit*thr }

func (r *RepetitionRules) measure(sc *scratch, text string, words []textstat.Word, stop bool) (string, RepetitionStats) {
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
	if sc.over(st.DupParaFrac, r.DupParaFrac) || sc.over(st.DupParaCharFrac, r.DupParaCharFrac) ||
		sc.over(st.DupLineFrac, r.DupLineFrac) || sc.over(st.DupLineCharFrac, r.DupLineCharFrac) {
		return "", st
	}

	if len(r.TopNGrams) == 0 && len(r.DupNGrams) == 0 {
		return "", st
	}
	if words == nil {
		sc.words = textstat.AppendWords(sc.words[:0], text)
		words = sc.words
	}
	sc.hashes = sc.hashes[:0]
	sc.gramN = 0
	for _, w := range words {
		sc.hashes = append(sc.hashes, textstat.HashAt(text, int(w.Start), int(w.End)))
	}
	reason := r.ngrams(sc, words, &st, total, stop)
	return reason, st
}

// ngrams measures the n-gram rules for every n from the smallest to the
// largest n in a rule. An n-gram can occur twice only where the (n-1)-gram at the
// same position does, so each step counts only the positions whose
// shorter n-gram repeated: on prose nearly every position drops out after
// a few steps. Rules are decided in datatrove's order (top n-grams, then
// duplicate n-grams, each by ascending n).
func (r *RepetitionRules) ngrams(sc *scratch, words []textstat.Word, st *RepetitionStats, total float64, stop bool) string {
	maxN := 0
	for _, rule := range r.TopNGrams {
		maxN = max(maxN, rule.N)
	}
	for _, rule := range r.DupNGrams {
		maxN = max(maxN, rule.N)
	}
	st.Top = make([]float64, len(r.TopNGrams))
	st.Dup = make([]float64, len(r.DupNGrams))
	sc.cand = sc.cand[:0]
	for i := range sc.hashes {
		sc.cand = append(sc.cand, int32(i)) // n = 0: every position may repeat
	}
	dupFail := ""
	minN := maxN
	for _, rule := range r.TopNGrams {
		minN = min(minN, rule.N)
	}
	for _, rule := range r.DupNGrams {
		minN = min(minN, rule.N)
	}
	// Counting starts at the smallest n of a rule: a pass over single words
	// to prune the first n-gram pass would cost as much as it saves.
	sc.grams = append(sc.grams[:0], sc.hashes...) // 1-gram hashes
	sc.gramN = 1
	for n := minN; n <= maxN; n++ {
		if len(sc.hashes)-n+1 <= 0 {
			break
		}
		grams := extendGrams(sc, n)
		r.countGrams(sc, grams)
		for k, rule := range r.TopNGrams {
			if rule.N != n {
				continue
			}
			st.Top[k] = r.topNGram(sc, words, n) / total
			if stop && rule.Frac > 0 && st.Top[k] > rule.Frac {
				return "top_" + strconv.Itoa(n) + "_gram"
			}
			if sc.over(st.Top[k], rule.Frac) {
				return ""
			}
		}
		for k, rule := range r.DupNGrams {
			if rule.N != n {
				continue
			}
			st.Dup[k] = float64(r.dupNGram(sc, words, n)) / total
			if rule.Frac > 0 && st.Dup[k] > rule.Frac && dupFail == "" {
				dupFail = "dup_" + strconv.Itoa(n) + "_gram"
			}
			if sc.over(st.Dup[k], rule.Frac) {
				return ""
			}
		}
		if stop && dupFail != "" && !r.topAbove(n) {
			return dupFail
		}
	}
	if stop {
		return dupFail
	}
	return ""
}

// topAbove reports whether a top n-gram rule has an n above n.
func (r *RepetitionRules) topAbove(n int) bool {
	for _, rule := range r.TopNGrams {
		if rule.N > n {
			return true
		}
	}
	return false
}

// extendGrams makes sc.grams hold, at every candidate position, the hash
// of the n-gram starting there, extending the shorter n-grams' hashes one
// word at a time (hash·P + next word). Other positions are never read
// again: a position that stopped being a candidate stays out.
func extendGrams(sc *scratch, n int) []uint64 {
	g, h := sc.grams, sc.hashes
	for ; sc.gramN < n; sc.gramN++ {
		m := int32(len(h) - sc.gramN) // positions with a (gramN+1)-gram
		for len(sc.cand) > 0 && sc.cand[len(sc.cand)-1] >= m {
			sc.cand = sc.cand[:len(sc.cand)-1]
		}
		k := sc.gramN
		for _, p := range sc.cand {
			g[p] = g[p]*textstat.GramPrime + h[int(p)+k]
		}
	}
	return g[:len(h)-n+1]
}

// countGrams counts the n-grams at the candidate positions (where the
// (n-1)-gram repeated) and keeps as candidates, with their counts in
// sc.counts, those whose n-gram repeats. Every other position holds an
// n-gram that occurs once.
func (r *RepetitionRules) countGrams(sc *scratch, grams []uint64) {
	m := int32(len(grams))
	for len(sc.cand) > 0 && sc.cand[len(sc.cand)-1] >= m {
		sc.cand = sc.cand[:len(sc.cand)-1]
	}
	sc.set.Reset(len(sc.cand))
	sc.slots = sc.slots[:0]
	for _, p := range sc.cand {
		sc.slots = append(sc.slots, sc.set.AddAt(grams[p]))
	}
	kept := sc.cand[:0]
	sc.counts = sc.counts[:0]
	for k, p := range sc.cand {
		if c := sc.set.CountAt(sc.slots[k]); c > 1 {
			kept = append(kept, p)
			sc.counts = append(sc.counts, c)
		}
	}
	sc.cand = kept
}

// topNGram returns the characters covered by the most frequent n-gram
// (the first seen among equals): its count times its length with spaces
// between words.
func (r *RepetitionRules) topNGram(sc *scratch, words []textstat.Word, n int) float64 {
	best, pos := int32(1), 0 // with no repeats, the first n-gram
	for k, c := range sc.counts {
		if c > best { // the first candidate with the top count is that n-gram's first occurrence
			best, pos = c, int(sc.cand[k])
		}
	}
	chars := n - 1
	for _, w := range words[pos : pos+n] {
		chars += int(w.Runes)
	}
	return float64(chars) * float64(best)
}

// dupNGram returns the characters (words concatenated) covered by n-grams
// seen earlier, skipping past each duplicate, as datatrove counts them.
// Positions that are not candidates hold unique n-grams: they are never
// duplicates and no later n-gram can equal them.
func (r *RepetitionRules) dupNGram(sc *scratch, words []textstat.Word, n int) int {
	grams := sc.grams
	sc.seen.Reset(len(sc.cand))
	repeated, next := 0, int32(0)
	for _, p := range sc.cand {
		if p < next {
			continue // inside a counted duplicate
		}
		if c, _ := sc.seen.Add(grams[p]); c > 1 {
			for _, w := range words[p : int(p)+n] {
				repeated += int(w.Runes)
			}
			next = p + int32(n)
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
