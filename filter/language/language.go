// Package language is the filter.language stage: language identification
// with lingua-go over all of its 75 languages, made fast without giving up
// lingua's accuracy.
//
// The stage annotates every document with `lang` (ISO 639-1, lower case, ""
// when unknown) and `lang_score` (lingua's confidence, 0..1). With `keep` it
// drops documents in other languages (reason "lang:xx", "lang:unknown") and
// kept-language documents scored below `min_confidence` ("low-confidence");
// without `keep` it only annotates. With `granularity: paragraph` (or
// `line`) each paragraph is identified on its own: the document gets the
// language covering most of its text, a `lang_shares` column, and the run
// report gets the corpus-wide share of each language.
//
// Where the speed comes from (docs/language.md has the measurements):
//
//   - a bounded sample: a text longer than sample_chars (and a quarter) is
//     classified by sample_windows windows of whole words spread over it;
//   - short calls: lingua is called on pieces of at most a few hundred
//     characters and the pieces' log confidences summed, which ranks
//     languages as lingua's score of the whole would, without the
//     arbitrary-precision exponentials lingua falls into on longer texts;
//   - candidates: in a sample, two short probes are scored against every
//     language, the windows only against the probes' few best;
//   - lingua's own length rule: texts under 120 letters use the 1- to
//     5-gram high-accuracy models, longer ones trigrams only; the ~2.2 GB of
//     high-accuracy models load only when a short text needs them;
//   - a per-script pre-pass (script.go) that decides, as lingua's rules
//     would, texts in a script only one language uses, and otherwise hands
//     the text to a lingua detector built from that script's languages;
//   - one process-wide set of models shared by every worker and stage.
package language

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/pemistahl/lingua-go"

	"github.com/curatehq/curate/pipelines"
)

// Column names the stage adds.
const (
	ColLang   = "lang"        // utf8: ISO 639-1, "" when unknown
	ColScore  = "lang_score"  // float64: confidence in lang, 0..1
	ColShares = "lang_shares" // utf8 JSON {code: share}: paragraph and line granularity
)

// Granularities.
const (
	Document  = "document"
	Paragraph = "paragraph"
	Line      = "line"
)

// Codes returns the ISO 639-1 codes of every lingua language, sorted.
func Codes() []string {
	var out []string
	for _, l := range lingua.AllLanguages() {
		out = append(out, isoCode(l))
	}
	sort.Strings(out)
	return out
}

// Spec is filter.language's spec.
var Spec = pipelines.Spec{
	Name:   "filter.language",
	Doc:    "identifies each document's language with lingua-go (all 75 languages); adds lang and lang_score; with keep, drops other languages",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "keep", Type: pipelines.Strings, Enum: Codes(),
			Doc: "ISO 639-1 codes to keep; without keep the stage only annotates"},
		{Name: "min_confidence", Type: pipelines.Float, Default: 0.0, Min: pipelines.Bound(0), Max: pipelines.Bound(1),
			Doc: "with keep, drop documents whose lang_score is below this (reason low-confidence)"},
		{Name: "granularity", Type: pipelines.String, Default: Document, Enum: []string{Document, Paragraph, Line},
			Doc: "identify whole documents, or each paragraph (blank-line separated) or line; the document gets the language covering most of its text"},
		{Name: "sample_chars", Type: pipelines.Int, Default: DefaultSampling.Chars, Min: pipelines.Bound(0), Max: pipelines.Bound(1 << 20),
			Doc: "classify a text longer than this (and a quarter) by windows of whole words holding about this many characters of it (0: whole texts)"},
		{Name: "sample_windows", Type: pipelines.Int, Default: DefaultSampling.Windows, Min: pipelines.Bound(1), Max: pipelines.Bound(64),
			Doc: "how many windows, spread evenly over the text, make the sample"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(p, env)
	})
}

// Stage is filter.language. It is safe for concurrent use: Process keeps no
// state but the report's counters.
type Stage struct {
	det         Detector
	keep        map[string]bool
	minConf     float64
	granularity string
	env         *pipelines.Env

	mu     sync.Mutex
	docs   map[string]int64 // documents per language
	shares map[string]int64 // bytes of text per language (paragraph, line)
}

// New builds the stage from its params.
func New(p pipelines.Params, env *pipelines.Env) (*Stage, error) {
	s := &Stage{
		det: Detector{Sampling: Sampling{
			Chars:   p.Int("sample_chars"),
			Windows: p.Int("sample_windows"),
		}},
		minConf:     p.Float("min_confidence"),
		granularity: p.String("granularity"),
		env:         env,
		docs:        map[string]int64{},
		shares:      map[string]int64{},
	}
	if s.granularity == "" {
		s.granularity = Document
	}
	if keep := p.Strings("keep"); len(keep) > 0 {
		s.keep = map[string]bool{}
		codes := Codes()
		for _, c := range keep {
			if !slices.Contains(codes, c) {
				return nil, fmt.Errorf("filter.language: keep: %q is not a lingua language code", c)
			}
			s.keep[c] = true
		}
	}
	return s, nil
}

// Process identifies every row's language; rec is borrowed.
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	texts := pipelines.Texts(rec)
	n := texts.Len()
	langs := make([]string, n)
	scores := make([]float64, n)
	var shares []string
	if s.granularity != Document {
		shares = make([]string, n)
	}
	docs := map[string]int64{}
	bytes := map[string]int64{}
	for i := 0; i < n; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if texts.IsNull(i) {
			docs[""]++
			continue
		}
		text := texts.Value(i)
		if s.granularity == Document {
			d := s.det.Detect(text)
			langs[i], scores[i] = d.Code(), d.Score
		} else {
			var split map[string]int64
			langs[i], scores[i], split = s.segments(text)
			shares[i] = sharesJSON(split)
			for l, b := range split {
				bytes[l] += b
			}
		}
		docs[langs[i]]++
	}
	s.mu.Lock()
	for l, c := range docs {
		s.docs[l] += c
	}
	for l, b := range bytes {
		s.shares[l] += b
	}
	s.mu.Unlock()

	res := &pipelines.Result{Columns: []pipelines.Column{
		{Name: ColLang, Array: pipelines.NewStrings(s.env.Alloc, langs)},
		{Name: ColScore, Array: pipelines.NewFloats(s.env.Alloc, scores)},
	}}
	if shares != nil {
		res.Columns = append(res.Columns, pipelines.Column{Name: ColShares, Array: pipelines.NewStrings(s.env.Alloc, shares)})
	}
	if s.keep != nil {
		res.Drop = make([]string, n)
		for i := range langs {
			res.Drop[i] = s.dropReason(langs[i], scores[i])
		}
	}
	return res, nil
}

func (s *Stage) dropReason(lang string, score float64) string {
	switch {
	case lang == "":
		return "lang:unknown"
	case !s.keep[lang]:
		return "lang:" + lang
	case score < s.minConf:
		return "low-confidence"
	}
	return ""
}

// segments identifies each paragraph (or line) of text and returns the
// language covering most bytes, its score (the share of the text in it,
// weighted by confidence) and the bytes per language ("" for segments of
// unknown language).
func (s *Stage) segments(text string) (lang string, score float64, split map[string]int64) {
	split = map[string]int64{}
	weighted := map[string]float64{}
	var total int64
	for _, seg := range Split(text, s.granularity) {
		d := s.det.Detect(seg)
		b := int64(len(seg))
		split[d.Code()] += b
		weighted[d.Code()] += float64(b) * d.Score
		total += b
	}
	if total == 0 {
		return "", 0, split
	}
	var best string
	bestN := int64(-1)
	for l, b := range split {
		if b > bestN || b == bestN && l < best {
			best, bestN = l, b
		}
	}
	if best == "" {
		return "", 0, split
	}
	return best, weighted[best] / float64(total), split
}

// Split cuts text into paragraphs (runs of lines separated by blank lines)
// or lines, trimmed, leaving out those without a letter.
func Split(text, granularity string) []string {
	var out []string
	add := func(seg string) {
		seg = strings.TrimSpace(seg)
		if strings.IndexFunc(seg, unicode.IsLetter) >= 0 {
			out = append(out, seg)
		}
	}
	start := 0 // of the current paragraph
	for i := 0; i <= len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			j = len(text)
		} else {
			j += i
		}
		line := text[i:j]
		switch {
		case granularity == Line:
			add(line)
		case strings.TrimSpace(line) == "":
			add(text[start:i])
			start = j
		}
		i = j + 1
	}
	if granularity != Line {
		add(text[start:])
	}
	return out
}

// sharesJSON writes {code: share} with sorted keys and shares rounded to 4
// decimals, "{}" when empty. An unknown language is "und".
func sharesJSON(split map[string]int64) string {
	var total int64
	for _, b := range split {
		total += b
	}
	if total == 0 {
		return "{}"
	}
	m := make(map[string]float64, len(split))
	for l, b := range split {
		if l == "" {
			l = "und"
		}
		m[l] = float64(int64(float64(b)/float64(total)*1e4+0.5)) / 1e4
	}
	out, _ := json.Marshal(m) // map keys are sorted
	return string(out)
}

// Report gives the documents per language and, for paragraph and line
// granularity, each language's share of all text.
func (s *Stage) Report() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := map[string]int64{}
	for l, c := range s.docs {
		if l == "" {
			l = "und"
		}
		docs[l] += c
	}
	out := map[string]any{"documents_by_lang": docs}
	if s.granularity != Document {
		var total int64
		for _, b := range s.shares {
			total += b
		}
		shares := map[string]float64{}
		for l, b := range s.shares {
			if l == "" {
				l = "und"
			}
			if total > 0 {
				shares[l] = float64(b) / float64(total)
			}
		}
		out["text_share_by_lang"] = shares
	}
	return out
}
