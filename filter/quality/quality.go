// Package quality implements filter.quality: it adds a quality_score column
// in 0..1 (higher is better) computed from the statistics the Gopher and
// FineWeb rules measure, for mixing and curriculum ordering. It never drops
// a document.
//
// # Formula
//
// Eight sub-scores s, each clamped to 0..1, are combined by a weighted
// geometric mean of 0.05+0.95·s (rescaled back to 0..1), so that one very
// bad property (no sentences, heavy repetition) pulls the score down
// however good the others are:
//
//	length      w=1  log10(words/10)/2: 10 words -> 0, 1000 words -> 1
//	word length w=1  1 for a mean of 3.5..7 characters, falling linearly to 0 at 2 and 12
//	alphabetic  w=1  (share of words with a letter - 0.5) / 0.4
//	stop words  w=2  share of words that are stop words / 0.1 (English prose: ~0.15)
//	punctuation w=2  share of non-blank lines ending in terminal punctuation / 0.8
//	short lines w=1  1 - share of non-blank lines of at most 30 characters
//	repetition  w=2  1 - worst Gopher repetition fraction / (2 x its threshold)
//	symbols     w=0.5 1 - ('#' + ellipses per word) / 0.2
//
// Clean, long prose scores above 0.8; navigation menus, keyword spam and
// symbol soup score below 0.3.
// Languages without a stop-word list get the stop-word sub-score 0.5.
package quality

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/filter/fineweb"
	"github.com/curatehq/curate/filter/gopher"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
)

// Spec is filter.quality's spec.
var Spec = pipelines.Spec{
	Name: "filter.quality",
	Doc:  "adds quality_score (0..1, higher is better) from the Gopher and FineWeb statistics",
	Fields: []pipelines.Field{
		{Name: "column", Type: pipelines.String, Default: "quality_score", Doc: "name of the score column"},
		{Name: "language", Type: pipelines.String, Default: "auto", Doc: "stop-word language (ISO 639-1), or auto: each document's lang column, falling back to en"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(p, env)
	})
}

// Scorer computes quality scores; it is safe for concurrent use.
type Scorer struct {
	stop       func(lang string) *textstat.StopSet
	repetition *gopher.RepetitionRules
	fineweb    *fineweb.Rules
}

// NewScorer returns a scorer using the stop words of language ("auto"
// picks each document's).
func NewScorer(language string) (*Scorer, error) {
	stop, err := gopher.StopWordsFor(nil, language)
	if err != nil {
		return nil, err
	}
	return &Scorer{stop: stop, repetition: gopher.DefaultRepetitionRules(), fineweb: fineweb.DefaultRules()}, nil
}

var wordPool = sync.Pool{New: func() any { s := make([]textstat.Word, 0, 1024); return &s }}

func clamp(x float64) float64 {
	if math.IsNaN(x) || x < 0 {
		return 0
	}
	return min(x, 1)
}

// Score returns text's quality score in 0..1.
func (s *Scorer) Score(text, lang string) float64 {
	stop := s.stop(lang)
	wp := wordPool.Get().(*[]textstat.Word)
	words := textstat.AppendWords((*wp)[:0], text)
	if cap(words) <= textstat.MaxPooledItems {
		*wp = words[:0]
		defer wordPool.Put(wp)
	}
	q := gopher.MeasureWords(text, words, stop)
	if q.NonSymbolWords == 0 {
		return 0
	}
	fw := s.fineweb.MeasureLines(text)
	rep := s.repetition.MeasureUpTo(text, words, 2) // at twice a threshold the sub-score is 0 already

	subs := []struct{ w, v float64 }{
		{1, clamp(math.Log10(float64(q.NonSymbolWords)/10) / 2)},
		{1, wordLength(q.AvgWordLen)},
		{1, clamp((q.AlphaWords - 0.5) / 0.4)},
		{2, 0.5},
		{2, clamp(fw.LinePunct / 0.8)},
		{1, clamp(1 - fw.ShortLines)},
		{2, clamp(1 - worstRepetition(s.repetition, rep)/2)},
		{0.5, clamp(1 - (q.HashRatio+q.EllipsisRatio)/0.2)},
	}
	if stop != nil {
		subs[3].v = clamp(q.StopDensity / 0.1)
	}
	var sum, wsum float64
	for _, x := range subs {
		sum += x.w * math.Log(0.05+0.95*x.v)
		wsum += x.w
	}
	return math.Round(clamp((math.Exp(sum/wsum)-0.05)/0.95)*1e6) / 1e6
}

func wordLength(m float64) float64 {
	switch {
	case m >= 3.5 && m <= 7:
		return 1
	case m < 3.5:
		return clamp((m - 2) / 1.5)
	}
	return clamp((12 - m) / 5)
}

// worstRepetition returns the largest repetition statistic relative to its
// threshold (1 = at the threshold).
func worstRepetition(r *gopher.RepetitionRules, st gopher.RepetitionStats) float64 {
	worst := 0.0
	rel := func(v, thr float64) {
		if thr > 0 {
			worst = max(worst, v/thr)
		}
	}
	rel(st.DupLineFrac, r.DupLineFrac)
	rel(st.DupParaFrac, r.DupParaFrac)
	rel(st.DupLineCharFrac, r.DupLineCharFrac)
	rel(st.DupParaCharFrac, r.DupParaCharFrac)
	for i, v := range st.Top {
		rel(v, r.TopNGrams[i].Frac)
	}
	for i, v := range st.Dup {
		rel(v, r.DupNGrams[i].Frac)
	}
	return worst
}

// Stage is the filter.quality stage.
type Stage struct {
	Scorer *Scorer
	Column string
	env    *pipelines.Env
}

// New builds the stage from its parameters.
func New(p pipelines.Params, env *pipelines.Env) (*Stage, error) {
	sc, err := NewScorer(p.String("language"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Spec.Name, err)
	}
	return &Stage{Scorer: sc, Column: p.String("column"), env: env}, nil
}

// Process adds the score column (float64, one value per row; 0 for an
// empty or null text).
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	b, err := filter.NewBatch(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Spec.Name, err)
	}
	scores := make([]float64, b.Len())
	for i := range scores {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		scores[i] = s.Scorer.Score(b.Text(i), b.Lang(i))
	}
	return &pipelines.Result{Columns: []pipelines.Column{{Name: s.Column, Array: pipelines.NewFloats(s.env.Alloc, scores)}}}, nil
}
