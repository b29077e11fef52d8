package language

import (
	"math"
	"sync"
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
	// Bytes is the sample size: a text longer than Bytes is classified by
	// Windows spread windows of whole words holding about Bytes in all.
	// 0 classifies whole texts.
	Bytes int
	// Windows is how many windows the sample is cut into (at least 1).
	Windows int
}

// DefaultSampling is what the stage uses unless told otherwise; see
// docs/language.md for the accuracy and speed it was chosen by.
var DefaultSampling = Sampling{Bytes: 1024, Windows: 4}

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
// same lingua model maps; only what a text needs gets loaded:
//
//   - low: trigram models, about 9 MB compressed and ~0.5 GB in memory for
//     all 75 languages, loaded per script the first time a text of that
//     script needs them (long texts: 120 letters or more);
//   - high: the 1- to 5-gram models, ~2.5 GB for all languages, loaded per
//     script only when a short text of that script comes (lingua uses them
//     below 120 letters; our samples of long documents never need them).
type models struct {
	lowAll, highAll lingua.LanguageDetector
	low, high       map[script]lingua.LanguageDetector
	lowOnce         map[script]*sync.Once
	highOnce        map[script]*sync.Once
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
func (d Detector) Detect(text string) Detection {
	windows := d.Sampling.windows(text)
	if len(windows) == 1 {
		return d.detectOne(windows[0])
	}
	// Lingua scores a text by the sum of its n-grams' log probabilities; a
	// window's confidences are that sum minus a per-window constant, so the
	// sum of the windows' log confidences ranks languages as lingua would
	// rank the windows together. Scoring windows apart keeps each sum small
	// enough for float64, where one long text sends lingua into arbitrary-
	// precision exponentials for every language (most of its time).
	var total [numLanguages]float64
	var seen [numLanguages]bool
	for _, w := range windows {
		values := d.confidences(w)
		if values == nil {
			continue
		}
		for _, v := range values {
			l := v.Language()
			if l < 0 || int(l) >= numLanguages {
				continue
			}
			seen[l] = true
			total[l] += math.Log(max(v.Value(), minConfidence))
		}
	}
	best, second := -1, -1
	for l := range total {
		if !seen[l] {
			continue
		}
		switch {
		case best < 0 || total[l] > total[best]:
			best, second = l, best
		case second < 0 || total[l] > total[second]:
			second = l
		}
	}
	if best < 0 || second >= 0 && total[best] == total[second] {
		return Detection{Lang: lingua.Unknown}
	}
	// The confidence is the softmax of the summed log confidences.
	var z float64
	for l := range total {
		if seen[l] {
			z += math.Exp(total[l] - total[best])
		}
	}
	return Detection{Lang: lingua.Language(best), Score: 1 / z}
}

// numLanguages is the number of lingua languages: Unknown follows the last.
const numLanguages = int(lingua.Unknown)

// minConfidence floors a window's confidence before its logarithm: lingua
// rounds confidences to 16 decimals, so 0 means "below 1e-16".
const minConfidence = 1e-17

func (d Detector) detectOne(text string) Detection {
	values := d.confidences(text)
	if len(values) < 2 || values[0].Value() == values[1].Value() {
		return Detection{Lang: lingua.Unknown}
	}
	return Detection{Lang: values[0].Language(), Score: values[0].Value()}
}

// confidences returns lingua's confidence values for text, sorted best
// first, or nil when text has no words.
func (d Detector) confidences(text string) []lingua.ConfidenceValue {
	f := examine(text)
	if f.ruled != lingua.Unknown {
		values := make([]lingua.ConfidenceValue, 0, 2)
		return append(values, ruled{f.ruled}, ruled{lingua.Unknown})
	}
	if f.words == 0 {
		return nil
	}
	m := sharedModels()
	high := f.letters < shortText
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
// whole words spread evenly over it, about Bytes in all.
func (s Sampling) windows(text string) []string {
	if s.Bytes <= 0 || len(text) <= s.Bytes+s.Bytes/4 {
		return []string{text}
	}
	k := max(s.Windows, 1)
	width := s.Bytes / k
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
