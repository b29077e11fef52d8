package language

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/pemistahl/lingua-go"
)

// shortText is lingua's own threshold: below 120 letters it scores 1- to
// 5-grams with its high-accuracy models, from 120 letters on trigrams only,
// exactly as in its low-accuracy mode.
const shortText = 120

// Detection is the language of one text.
type Detection struct {
	Lang  lingua.Language // lingua.Unknown when undecided
	Score float64         // lingua's confidence in Lang, 0..1 (0 when unknown)
}

// Code returns the ISO 639-1 code in lower case, "" when unknown.
func (d Detection) Code() string { return isoCode(d.Lang) }

// Sampling bounds how much of a long text is classified.
type Sampling struct {
	// Chars is the sample size in characters: a text longer than Chars (and
	// a quarter) is classified by Windows windows of whole words spread
	// evenly over it, holding about Chars characters in all. Characters, not
	// bytes, so that Hindi (3 bytes a character) gets as much text as
	// English. 0 classifies whole texts.
	Chars int
	// Windows is how many windows the sample is cut into (at least 1).
	Windows int
}

// DefaultSampling is what the stage uses unless told otherwise; see
// docs/language.md for the accuracy and speed it was chosen by.
var DefaultSampling = Sampling{Chars: 768, Windows: 4}

// probeChars is the size of a probe in characters: a piece of the sample
// scored against every language to pick the candidates the whole sample is
// scored against.
const probeChars = 48

// Detector identifies the language of texts with lingua-go over all of its
// languages. It is safe for concurrent use and cheap to copy.
//
// Every Detector shares the process-wide models (see models): lingua keeps
// its models in package-level maps, so any number of stages and workers pay
// for them once.
type Detector struct {
	Sampling Sampling
}

// models is the process-wide set of lingua detectors. All of them read the
// same lingua model maps (package-level in lingua), so every stage and
// worker shares one copy, and only what the texts need gets loaded:
//
//   - low: the trigram models (with the bigram and unigram ones lingua falls
//     back to), loaded per script the first time a text of 120 letters or
//     more needs them: about 150 MB of memory for all 75 languages, a few
//     seconds of CPU;
//   - high: the 1- to 5-gram models, loaded per script only when a text
//     under 120 letters comes (lingua uses them there): about 2.2 GB for all
//     languages, most of it the Latin script's. Samples of long documents
//     never need them; whole corpora of long documents never load them.
type models struct {
	lowAll, highAll lingua.LanguageDetector
	low, high       map[script]lingua.LanguageDetector
	lowOnce         map[script]*sync.Once
	highOnce        map[script]*sync.Once
	// subsets caches detectors over candidate languages, by language bits.
	subsets     sync.Map
	subsetCount atomic.Int64
}

var (
	modelsOnce sync.Once
	shared     *models
)

// scoredScripts are the scripts used by several lingua languages: text in
// them goes to the n-gram models. The others are decided by the rules.
var scoredScripts = []script{scriptLatin, scriptCyrillic, scriptArabic, scriptDevanagari}

func sharedModels() *models {
	modelsOnce.Do(func() {
		m := &models{
			lowAll:   lingua.NewLanguageDetectorBuilder().FromAllLanguages().WithLowAccuracyMode().Build(),
			highAll:  lingua.NewLanguageDetectorBuilder().FromAllLanguages().Build(),
			low:      map[script]lingua.LanguageDetector{},
			high:     map[script]lingua.LanguageDetector{},
			lowOnce:  map[script]*sync.Once{},
			highOnce: map[script]*sync.Once{},
		}
		for _, s := range scoredScripts {
			langs := scriptLanguages(s)
			m.low[s] = lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).WithLowAccuracyMode().Build()
			m.high[s] = lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).Build()
			m.lowOnce[s] = new(sync.Once)
			m.highOnce[s] = new(sync.Once)
		}
		shared = m
	})
	return shared
}

// load loads the models of one script once; concurrent callers wait for the
// first, so no model is ever decoded twice.
func (m *models) load(s script, high bool) {
	once, ok := m.lowOnce[s]
	if high {
		once, ok = m.highOnce[s]
	}
	if !ok {
		return
	}
	once.Do(func() {
		b := lingua.NewLanguageDetectorBuilder().FromLanguages(scriptLanguages(s)...)
		if !high {
			b = b.WithLowAccuracyMode()
		}
		b.WithPreloadedLanguageModels().Build()
	})
}

// Preload loads the models long texts need (trigrams of every language), so
// that the first documents do not pay for them; with high it also loads the
// high-accuracy models short texts need (~2.5 GB).
func Preload(high bool) {
	m := sharedModels()
	for _, s := range scoredScripts {
		m.load(s, false)
		if high {
			m.load(s, true)
		}
	}
}

// Detect returns the language of text.
//
// A short text (under 120 letters) goes to lingua's high-accuracy models,
// as lingua's default detector would send it. A longer one is scored with
// trigrams, as lingua would score it:
//
//  1. the rules (script.go) over the sample: a script or letters only one
//     language uses decide, as in lingua;
//  2. a text of up to pieceChars characters is scored by lingua as it is;
//     a longer one that needs no sampling is cut into pieces of about
//     pieceChars, each scored against every language of its script;
//  3. a sampled text (or one of more than maxPiecesAll pieces): two probes
//     of probeChars from the middle windows are scored against every
//     language of their script; their best few are the candidates, and each
//     window is scored against the candidates only.
//
// Pieces and windows are combined by summing their log confidences: lingua
// scores a text by the sum of its n-grams' log probabilities, and a piece's
// confidences are that sum minus a per-piece constant, so the sum ranks
// languages as lingua ranks them over the whole. Scoring every language is
// what makes lingua slow: each language costs a model lookup per n-gram,
// and past a few hundred characters an arbitrary-precision exponential
// (the sums no longer fit a float64). Short pieces avoid the exponentials;
// candidates avoid most lookups.
//
// The score is rounded to scoreDecimals decimals: lingua sums the 1- to
// 5-gram probabilities of a short text in the order its goroutines finish,
// so its confidence varies in the last bits from call to call, and output
// must be byte-identical from run to run.
func (d Detector) Detect(text string) Detection {
	det := d.detect(text)
	det.Score = roundScore(det.Score)
	return det
}

// scoreDecimals is the precision of a Detection's score: far coarser than
// lingua's run-to-run jitter (about 1e-16), far finer than any threshold.
const scoreDecimals = 6

// roundScore rounds a confidence to scoreDecimals decimals.
func roundScore(s float64) float64 {
	scale := math.Pow10(scoreDecimals)
	return math.Round(s*scale) / scale
}

func (d Detector) detect(text string) Detection {
	windows := d.Sampling.windows(text)
	sample := text
	if len(windows) > 1 {
		sample = strings.Join(windows, "\n")
	}
	f := examine(sample)
	switch {
	case f.ruled != lingua.Unknown:
		return Detection{Lang: f.ruled, Score: 1}
	case f.words == 0:
		return Detection{Lang: lingua.Unknown}
	case f.letters < shortText:
		return best(d.confidences(sample, true, nil))
	case len(windows) == 1:
		n := utf8.RuneCountInString(sample)
		if n <= pieceChars+pieceChars/4 {
			return best(d.confidences(sample, false, nil))
		}
		windows = pieces(sample, (n+pieceChars-1)/pieceChars)
		if len(windows) <= maxPiecesAll {
			return d.combine(windows, nil, candidateSet{})
		}
		// A long text classified whole (sampling off): its pieces go to
		// the candidates like a sample's windows.
	}
	var cands candidateSet
	for _, probe := range probes(windows) {
		cands.add(d.confidences(probe, false, nil))
	}
	rest := d.restricted(cands) // nil: too few candidates, score every language
	return d.combine(windows, rest, cands)
}

// pieceChars bounds the characters lingua scores in one call: past a few
// hundred, its sums underflow a float64 and it computes exponentials with
// arbitrary precision, for every language.
const pieceChars = 256

// maxPiecesAll is how many pieces are scored against every language; past
// that, candidates are cheaper.
const maxPiecesAll = 4

// combine scores each window against subset's languages (every language of
// the window's script when subset is nil) and returns the language with the
// highest sum of log confidences, among the candidates when subset is set.
func (d Detector) combine(windows []string, subset lingua.LanguageDetector, among candidateSet) Detection {
	var total [numLanguages]float64
	scored := false
	for _, w := range windows {
		values := d.confidences(w, false, subset)
		if values == nil || values[0].Value() == 0 {
			continue // no words, or none the candidates' models know
		}
		scored = true
		var window [numLanguages]float64
		for l := range window {
			window[l] = math.Log(minConfidence) // lingua's 0
		}
		for _, v := range values {
			if l := v.Language(); l >= 0 && int(l) < numLanguages {
				window[l] = math.Log(max(v.Value(), minConfidence))
			}
		}
		for l := range total {
			total[l] += window[l]
		}
		// A window the rules decide may name a language outside the
		// candidates: it competes too.
		if l := values[0].Language(); l >= 0 && int(l) < numLanguages && values[0].Value() == 1 {
			among.langs[l] = true
		}
	}
	if !scored {
		if subset != nil {
			// The probes missed what the windows are written in.
			return d.combine(windows, nil, candidateSet{})
		}
		return Detection{Lang: lingua.Unknown}
	}
	in := func(l int) bool { return subset == nil || among.langs[l] }
	top, second := -1, -1
	for l := range total {
		if !in(l) {
			continue
		}
		switch {
		case top < 0 || total[l] > total[top]:
			top, second = l, top
		case second < 0 || total[l] > total[second]:
			second = l
		}
	}
	if top < 0 || second >= 0 && total[top] == total[second] {
		return Detection{Lang: lingua.Unknown}
	}
	// The confidence is the softmax of the summed log confidences.
	var z float64
	for l := range total {
		if in(l) {
			z += math.Exp(total[l] - total[top])
		}
	}
	return Detection{Lang: lingua.Language(top), Score: 1 / z}
}

// pieces cuts text into k pieces of about equal length at word boundaries.
func pieces(text string, k int) []string {
	out := make([]string, 0, k)
	start := 0
	for i := 1; i <= k && start < len(text); i++ {
		end := len(text)
		if i < k {
			end = max(wordEnd(text, i*len(text)/k), start)
		}
		if piece := strings.TrimSpace(text[start:end]); piece != "" {
			out = append(out, piece)
		}
		start = end
	}
	return out
}

// probes returns the pieces of a sample scored against every language to
// choose the candidates: the first probeChars of the two middle windows.
// Two probes keep one odd passage from choosing the candidates alone.
func probes(windows []string) []string {
	cut := func(w string) string {
		return w[:wordEnd(w, min(bytesFor(w, probeChars), len(w)))]
	}
	k := len(windows)
	if k <= 2 {
		out := make([]string, k)
		for i, w := range windows {
			out[i] = cut(w)
		}
		return out
	}
	return []string{cut(windows[k/2-1]), cut(windows[k/2])}
}

// bytesFor returns about how many bytes of text hold chars characters.
func bytesFor(text string, chars int) int {
	n := utf8.RuneCountInString(text)
	if n == 0 {
		return chars
	}
	return int(int64(chars) * int64(len(text)) / int64(n))
}

// best is lingua's DetectLanguageOf over confidence values: the first,
// unless it ties the second.
func best(values []lingua.ConfidenceValue) Detection {
	if len(values) < 2 || values[0].Value() == values[1].Value() {
		return Detection{Lang: lingua.Unknown}
	}
	return Detection{Lang: values[0].Language(), Score: values[0].Value()}
}

// maxCandidates bounds the candidates each probe names: its best languages
// with a confidence above 0 (lingua rounds to 16 decimals, so a probe of a
// few words is what leaves several above 0).
const maxCandidates = 6

// candidateSet is a set of candidate languages.
type candidateSet struct {
	langs [numLanguages]bool
	n     int
}

func (c *candidateSet) add(values []lingua.ConfidenceValue) {
	if len(values) == 0 || values[0].Value() <= 0 {
		return
	}
	for i, v := range values {
		if i >= maxCandidates || v.Value() <= 0 {
			break
		}
		if l := v.Language(); l >= 0 && int(l) < numLanguages && !c.langs[l] {
			c.langs[l] = true
			c.n++
		}
	}
}

// restricted returns a low-accuracy detector over the candidates, or nil
// when there are fewer than two. Detectors are cached by candidate set;
// they hold no models of their own (lingua's are process-wide).
func (d Detector) restricted(c candidateSet) lingua.LanguageDetector {
	if c.n < 2 {
		return nil
	}
	var key [2]uint64
	langs := make([]lingua.Language, 0, c.n)
	for l, ok := range c.langs {
		if ok {
			key[l/64] |= 1 << (l % 64)
			langs = append(langs, lingua.Language(l))
		}
	}
	m := sharedModels()
	if det, ok := m.subsets.Load(key); ok {
		return det.(lingua.LanguageDetector)
	}
	det := lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).WithLowAccuracyMode().Build()
	if m.subsetCount.Add(1) <= maxCachedSubsets {
		m.subsets.Store(key, det)
	}
	return det
}

// maxCachedSubsets bounds the cache of candidate detectors (a few hundred
// bytes each).
const maxCachedSubsets = 1 << 14

// numLanguages is the number of lingua languages: Unknown follows the last.
const numLanguages = int(lingua.Unknown)

// minConfidence floors a window's confidence before its logarithm: lingua
// rounds confidences to 16 decimals, so 0 means "below 1e-16".
const minConfidence = 1e-17

// confidences returns lingua's confidence values for text, sorted best
// first, or nil when text has no words. Short texts go to the
// high-accuracy models when allowHigh is set, as lingua's default detector
// would send them; windows of a long text never do, because lingua scores
// the long text with trigrams only.
//
// A non-nil subset is a detector over candidate languages, used instead.
func (d Detector) confidences(text string, allowHigh bool, subset lingua.LanguageDetector) []lingua.ConfidenceValue {
	f := examine(text)
	if f.ruled != lingua.Unknown {
		values := make([]lingua.ConfidenceValue, 0, 2)
		return append(values, ruled{f.ruled}, ruled{lingua.Unknown})
	}
	if f.words == 0 {
		return nil
	}
	if subset != nil {
		return subset.ComputeLanguageConfidenceValues(text)
	}
	m := sharedModels()
	high := allowHigh && f.letters < shortText
	det := m.lowAll
	if high {
		det = m.highAll
	}
	if s := f.only; s != noScript {
		if one, ok := m.low[s]; ok {
			// Every word is in script s, so lingua would only score s's
			// languages: a detector built from exactly those gives the same
			// answer without lingua's per-character rules for other scripts.
			m.load(s, high)
			det = one
			if high {
				det = m.high[s]
			}
		}
	}
	return det.ComputeLanguageConfidenceValues(text)
}

// ruled is the confidence of a language the rules decided: 1 for it, 0 for
// every other.
type ruled struct{ lang lingua.Language }

func (r ruled) Language() lingua.Language { return r.lang }
func (r ruled) Value() float64 {
	if r.lang == lingua.Unknown {
		return 0
	}
	return 1
}

// windows returns text alone when it is short, else Windows windows of
// whole words spread evenly over it, about Chars characters in all.
func (s Sampling) windows(text string) []string {
	if s.Chars <= 0 || len(text) <= s.Chars+s.Chars/4 || utf8.RuneCountInString(text) <= s.Chars+s.Chars/4 {
		return []string{text}
	}
	k := max(s.Windows, 1)
	width := bytesFor(text, s.Chars) / k
	out := make([]string, 0, k)
	for i := 0; i < k; i++ {
		center := (2*i + 1) * len(text) / (2 * k)
		start := wordStart(text, max(center-width/2, 0))
		end := wordEnd(text, min(start+width, len(text)))
		if end > start {
			out = append(out, text[start:end])
		}
	}
	if len(out) == 0 {
		return []string{text}
	}
	return out
}

// maxWordScan bounds how far a window edge moves to reach a word boundary;
// scripts without spaces (Chinese, Thai) are then cut at a character.
const maxWordScan = 48

// wordStart moves i forward to the start of a word (after a space).
func wordStart(text string, i int) int {
	if i == 0 {
		return 0
	}
	for j := i; j < len(text) && j < i+maxWordScan; {
		r, n := utf8.DecodeRuneInString(text[j:])
		j += n
		if unicode.IsSpace(r) {
			return j
		}
	}
	return runeStart(text, i)
}

// wordEnd moves i back to the end of a word (before a space).
func wordEnd(text string, i int) int {
	if i >= len(text) {
		return len(text)
	}
	for j := i; j > 0 && j > i-maxWordScan; {
		r, n := utf8.DecodeLastRuneInString(text[:j])
		if unicode.IsSpace(r) {
			return j - n
		}
		j -= n
	}
	return runeStart(text, i)
}

func runeStart(text string, i int) int {
	for i > 0 && i < len(text) && !utf8.RuneStart(text[i]) {
		i--
	}
	return i
}
