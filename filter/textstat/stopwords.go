package textstat

import (
	"math/bits"
	"strings"
)

// stopWords are, per ISO 639-1 language, the most frequent function words:
// for English exactly the Gopher paper's list (the, be, to, of, and, that,
// have, with); for other languages eight equally common words, so that
// "at least two stop words" tests the same thing: that the text is
// running prose rather than a list of names, numbers or keywords.
var stopWords = map[string][]string{
	"en": {"the", "be", "to", "of", "and", "that", "have", "with"},
	"de": {"der", "die", "und", "in", "den", "von", "zu", "das"},
	"fr": {"le", "la", "de", "et", "les", "des", "un", "est"},
	"es": {"de", "la", "que", "el", "en", "y", "los", "del"},
	"it": {"di", "il", "che", "la", "e", "per", "un", "del"},
	"pt": {"de", "que", "o", "a", "do", "da", "em", "para"},
	"nl": {"de", "het", "een", "en", "van", "in", "is", "dat"},
	"sv": {"och", "att", "det", "som", "en", "på", "är", "av"},
	"da": {"og", "at", "det", "en", "til", "er", "som", "på"},
	"nb": {"og", "i", "det", "på", "som", "er", "en", "til"},
	"no": {"og", "i", "det", "på", "som", "er", "en", "til"},
	"fi": {"ja", "on", "ei", "että", "se", "oli", "hän", "kun"},
	"pl": {"i", "w", "nie", "na", "się", "z", "do", "że"},
	"cs": {"a", "se", "na", "je", "v", "že", "to", "s"},
	"ru": {"и", "в", "не", "на", "что", "с", "он", "как"},
	"uk": {"і", "в", "не", "на", "що", "з", "та", "до"},
	"tr": {"ve", "bir", "bu", "da", "de", "için", "ile", "çok"},
	"id": {"yang", "dan", "di", "dengan", "untuk", "ini", "dari", "dalam"},
	"vi": {"của", "và", "các", "có", "là", "được", "trong", "cho"},
	"zh": {"的", "是", "在", "了", "和", "有", "我", "不"},
	"ja": {"の", "に", "は", "を", "た", "が", "で", "て"},
}

// StopWords returns the stop words of a language (ISO 639-1, any case), or
// nil when curate has no list for it.
func StopWords(lang string) []string { return stopWords[strings.ToLower(lang)] }

// StopLanguages returns the languages with a stop-word list.
func StopLanguages() []string {
	out := make([]string, 0, len(stopWords))
	for k := range stopWords {
		out = append(out, k)
	}
	return out
}

// StopSet is a small case-insensitive set of words, indexed for counting
// how many distinct members a text contains.
type StopSet struct {
	words   []string    // lower case
	byFirst [256]uint64 // members (bit i = words[i], first 64) by lower-cased first byte
	byLen   [16]uint64  // members by length in bytes (longer words: slot 15)
}

// NewStopSet builds a set from words (compared case-insensitively).
func NewStopSet(words []string) *StopSet {
	s := &StopSet{}
	for _, w := range words {
		w = strings.ToLower(w)
		if w == "" {
			continue
		}
		i := len(s.words)
		s.words = append(s.words, w)
		bit := uint64(1) << min(i, 63)
		s.byFirst[w[0]] |= bit
		if up := strings.ToUpper(w[:1]); len(up) == 1 {
			s.byFirst[up[0]] |= bit
		}
		if w[0] >= 0x80 {
			s.byFirst[0] |= bit // non-ASCII first letters: checked the slow way
		}
		s.byLen[min(len(w), 15)] |= bit
	}
	return s
}

// Len returns the number of words in the set.
func (s *StopSet) Len() int { return len(s.words) }

// Index returns the position of w in the set (case-insensitive), or -1.
func (s *StopSet) Index(w string) int {
	if len(w) == 0 {
		return -1
	}
	cand := s.byFirst[w[0]]
	if w[0] >= 0x80 {
		cand |= s.byFirst[0]
	}
	cand &= s.byLen[min(len(w), 15)]
	if len(s.words) <= 64 && w[0] < 0x80 {
		for ; cand != 0; cand &= cand - 1 {
			i := bits.TrailingZeros64(cand)
			if x := s.words[i]; x == w || strings.EqualFold(x, w) {
				return i
			}
		}
		return -1
	}
	for i, x := range s.words {
		if (i >= 63 || cand&(1<<i) != 0 || w[0] >= 0x80) && len(x) == len(w) && (x == w || strings.EqualFold(x, w)) {
			return i
		}
	}
	if w[0] >= 0x80 { // a case pair of different byte lengths
		for i, x := range s.words {
			if strings.EqualFold(x, w) {
				return i
			}
		}
	}
	return -1
}

// Distinct returns how many different members of the set occur among words.
func (s *StopSet) Distinct(text string, words []Word) int {
	d, _ := s.Count(text, words)
	return d
}

// DistinctAtLeast reports whether at least k different members of the set
// occur among words, stopping as soon as they do.
func (s *StopSet) DistinctAtLeast(text string, words []Word, k int) bool {
	if k <= 0 {
		return true
	}
	var seen uint64
	n := 0
	for _, w := range words {
		if w.Flags&HasLetter == 0 || w.End-w.Start > 12 {
			continue
		}
		i := s.Index(w.Text(text))
		if i < 0 {
			continue
		}
		i = min(i, 63)
		if seen&(1<<i) == 0 {
			seen |= 1 << i
			if n++; n >= k {
				return true
			}
		}
	}
	return false
}

// Count returns how many different members of the set occur among words
// and how many of the words are members.
func (s *StopSet) Count(text string, words []Word) (distinct, total int) {
	var seen uint64 // the first 64 members are told apart; the rest count as one
	for _, w := range words {
		if w.Flags&HasLetter == 0 || w.End-w.Start > 12 {
			continue
		}
		i := s.Index(w.Text(text))
		if i < 0 {
			continue
		}
		total++
		i = min(i, 63)
		if seen&(1<<i) == 0 {
			seen |= 1 << i
			distinct++
		}
	}
	return distinct, total
}
