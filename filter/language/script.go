package language

import (
	"strings"
	"unicode"

	"github.com/pemistahl/lingua-go"
)

// This file is the per-script pre-pass. It re-implements, with Unicode
// tables instead of one regular expression per character, the two rule
// steps lingua-go runs before its n-gram models:
//
//   - detectLanguageWithRules: a script used by exactly one lingua language
//     (Hangul, Thai, Greek, Armenian, Georgian, Gujarati, Gurmukhi, Tamil,
//     Telugu, Bengali, Hebrew, kana) or a character unique to one language
//     (ß, ő, ә, ...) votes for that language, word by word; Han alone votes
//     for Chinese. When the votes name one language, lingua answers it with
//     confidence 1 and never looks at a model; so does this pre-pass.
//   - the alphabet filter: when every word is written in one script, lingua
//     only scores the languages of that script. The pre-pass reports that
//     script so the detector can hand the text to a lingua detector built
//     from exactly those languages: same answer, without the per-character
//     cost of lingua's rules for the scripts that cannot occur.
//
// Exactness matters: the pre-pass decides only where lingua would decide the
// same way (TestRulesAgreeWithLingua checks it against lingua itself).

// script is a writing system lingua distinguishes (its "alphabets").
type script int8

const (
	noScript script = iota
	scriptArabic
	scriptArmenian
	scriptBengali
	scriptCyrillic
	scriptDevanagari
	scriptGeorgian
	scriptGreek
	scriptGujarati
	scriptGurmukhi
	scriptHan
	scriptHangul
	scriptHebrew
	scriptHiragana
	scriptKatakana
	scriptLatin
	scriptTamil
	scriptTelugu
	scriptThai
	numScripts
)

// scriptTables in lingua's alphabet order: the alphabet filter takes the
// first script that matches a whole word in this order.
var scriptTables = [numScripts]*unicode.RangeTable{
	scriptArabic:     unicode.Arabic,
	scriptArmenian:   unicode.Armenian,
	scriptBengali:    unicode.Bengali,
	scriptCyrillic:   unicode.Cyrillic,
	scriptDevanagari: unicode.Devanagari,
	scriptGeorgian:   unicode.Georgian,
	scriptGreek:      unicode.Greek,
	scriptGujarati:   unicode.Gujarati,
	scriptGurmukhi:   unicode.Gurmukhi,
	scriptHan:        unicode.Han,
	scriptHangul:     unicode.Hangul,
	scriptHebrew:     unicode.Hebrew,
	scriptHiragana:   unicode.Hiragana,
	scriptKatakana:   unicode.Katakana,
	scriptLatin:      unicode.Latin,
	scriptTamil:      unicode.Tamil,
	scriptTelugu:     unicode.Telugu,
	scriptThai:       unicode.Thai,
}

// oneLanguageScripts are the scripts that exactly one lingua language uses:
// a character in one of them is a vote for that language.
var oneLanguageScripts = map[script]lingua.Language{
	scriptArmenian: lingua.Armenian,
	scriptBengali:  lingua.Bengali,
	scriptGeorgian: lingua.Georgian,
	scriptGreek:    lingua.Greek,
	scriptGujarati: lingua.Gujarati,
	scriptGurmukhi: lingua.Punjabi,
	scriptHangul:   lingua.Korean,
	scriptHebrew:   lingua.Hebrew,
	scriptHiragana: lingua.Japanese,
	scriptKatakana: lingua.Japanese,
	scriptTamil:    lingua.Tamil,
	scriptTelugu:   lingua.Telugu,
	scriptThai:     lingua.Thai,
}

// uniqueChars are lingua's characters unique to one language (lower case:
// lingua lower-cases the text first). They only count inside Latin,
// Cyrillic and Devanagari words.
var uniqueChars = map[rune]lingua.Language{}

func init() {
	for lang, chars := range map[lingua.Language]string{
		lingua.Azerbaijani: "Əə",
		lingua.Catalan:     "Ïï",
		lingua.Czech:       "ĚěŘřŮů",
		lingua.Esperanto:   "ĈĉĜĝĤĥĴĵŜŝŬŭ",
		lingua.German:      "ß",
		lingua.Hungarian:   "ŐőŰű",
		lingua.Kazakh:      "ӘәҒғҚқҢңҰұ",
		lingua.Latvian:     "ĢģĶķĻļŅņ",
		lingua.Lithuanian:  "ĖėĮįŲų",
		lingua.Macedonian:  "ЃѓЅѕЌќЏџ",
		lingua.Marathi:     "ळ",
		lingua.Mongolian:   "ӨөҮү",
		lingua.Polish:      "ŁłŃńŚśŹź",
		lingua.Romanian:    "Țţ",
		lingua.Serbian:     "ЂђЋћ",
		lingua.Slovak:      "ĹĺĽľŔŕ",
		lingua.Spanish:     "¿¡",
		lingua.Ukrainian:   "ҐґЄєЇї",
		lingua.Vietnamese:  "ẰằẦầẲẳẨẩẴẵẪẫẮắẤấẠạẶặẬậỀềẺẻỂểẼẽỄễẾếỆệỈỉĨĩỊịƠơỒồỜờỎỏỔổỞởỖỗỠỡỐốỚớỘộỢợƯưỪừỦủỬửŨũỮữỨứỤụỰựỲỳỶỷỸỹỴỵ",
		lingua.Yoruba:      "ŌōṢṣ",
	} {
		for _, r := range chars {
			uniqueChars[r] = lang
		}
	}
}

// lowScripts caches charScript for the first scripts' code points (Latin
// to Georgian and Thai), where almost all text lives.
var lowScripts [0x3000]script

func init() {
	for r := range lowScripts {
		lowScripts[r] = lookUpScript(rune(r))
	}
}

// charScript returns the script of r among lingua's, or noScript.
func charScript(r rune) script {
	if r >= 0 && r < rune(len(lowScripts)) {
		return lowScripts[r]
	}
	return lookUpScript(r)
}

func lookUpScript(r rune) script {
	for s := scriptArabic; s < numScripts; s++ {
		if unicode.Is(scriptTables[s], r) {
			return s
		}
	}
	return noScript
}

// textFacts is what the pre-pass learns about a text.
type textFacts struct {
	// letters is lingua's character count: the letters of all words. Below
	// 120 lingua uses its high-accuracy models, from 120 on trigrams only.
	letters int
	words   int
	// ruled is the language lingua's rules decide, or lingua.Unknown.
	ruled lingua.Language
	// only is the script every word is written in, or noScript when the
	// words mix scripts (or have none of lingua's).
	only script
}

// wordVotes collects one word's votes: at most a few languages, so a small
// slice beats a map.
type wordVotes struct {
	lang  [4]lingua.Language
	count [4]int
	n     int
	spill map[lingua.Language]int
}

func (v *wordVotes) reset() {
	v.n = 0
	v.spill = nil
}

func (v *wordVotes) add(l lingua.Language) {
	for i := 0; i < v.n; i++ {
		if v.lang[i] == l {
			v.count[i]++
			return
		}
	}
	if v.n < len(v.lang) {
		v.lang[v.n], v.count[v.n] = l, 1
		v.n++
		return
	}
	if v.spill == nil {
		v.spill = map[lingua.Language]int{}
	}
	v.spill[l]++
}

// decide returns the word's vote as lingua's rules count it.
func (v *wordVotes) decide() lingua.Language {
	counts := map[lingua.Language]int{}
	if v.spill != nil || v.n > 1 {
		for i := 0; i < v.n; i++ {
			counts[v.lang[i]] += v.count[i]
		}
		for l, c := range v.spill {
			counts[l] += c
		}
	}
	switch {
	case v.n == 0:
		return lingua.Unknown
	case v.n == 1 && v.spill == nil:
		return v.lang[0]
	}
	if counts[lingua.Chinese] > 0 && counts[lingua.Japanese] > 0 {
		return lingua.Japanese
	}
	return strictMax(counts)
}

// strictMax returns the language with the highest count when it is the only
// one with that count, else lingua.Unknown.
func strictMax(counts map[lingua.Language]int) lingua.Language {
	best, bestN, second := lingua.Unknown, -1, -1
	for l, c := range counts {
		switch {
		case c > bestN:
			second = bestN
			best, bestN = l, c
		case c > second:
			second = c
		}
	}
	if bestN > second {
		return best
	}
	return lingua.Unknown
}

// examine runs the pre-pass over text. Words are lingua's: each Han, Hangul,
// Hiragana or Katakana character alone, else a run of letters.
func examine(text string) textFacts {
	var (
		f       textFacts
		votes   wordVotes
		totals  = map[lingua.Language]int{}
		inWord  bool
		wordScr script // script of every character of the word so far; -1 when mixed
	)
	f.only = noScript
	mixed := false
	endWord := func() {
		if !inWord {
			return
		}
		inWord = false
		f.words++
		totals[votes.decide()]++
		votes.reset()
		switch {
		case mixed:
		case wordScr < 0:
			mixed = true
		case f.only == noScript:
			f.only = wordScr
		case f.only != wordScr:
			mixed = true
		}
	}
	for _, r := range text {
		r = unicode.ToLower(r)
		s := charScript(r)
		single := s == scriptHan || s == scriptHangul || s == scriptHiragana || s == scriptKatakana
		letter := unicode.IsLetter(r)
		if !letter || single && !inWord {
			// A letter run ends here; a Han, Hangul or kana character
			// outside a run is a word of its own, letter or not.
			endWord()
			if single {
				inWord, wordScr = true, s
				voteChar(&votes, r, s)
				f.letters++
				endWord()
			}
			continue
		}
		if !inWord {
			inWord, wordScr = true, s
		} else if wordScr != s {
			wordScr = -1
		}
		if s == noScript {
			wordScr = -1
		}
		voteChar(&votes, r, s)
		f.letters++
	}
	endWord()
	if mixed {
		f.only = noScript
	}
	f.ruled = decideRules(totals, f.words)
	return f
}

// voteChar adds the vote of one character of a word.
func voteChar(v *wordVotes, r rune, s script) {
	if l, ok := oneLanguageScripts[s]; ok {
		v.add(l)
		return
	}
	switch s {
	case scriptHan:
		v.add(lingua.Chinese)
	case scriptLatin, scriptCyrillic, scriptDevanagari:
		if l, ok := uniqueChars[r]; ok {
			v.add(l)
		}
	}
}

// decideRules is lingua's final vote over words.
func decideRules(totals map[lingua.Language]int, words int) lingua.Language {
	if float64(totals[lingua.Unknown]) < float64(words)*0.5 {
		delete(totals, lingua.Unknown)
	}
	switch len(totals) {
	case 0:
		return lingua.Unknown
	case 1:
		for l := range totals {
			return l
		}
	case 2:
		if totals[lingua.Chinese] > 0 && totals[lingua.Japanese] > 0 {
			return lingua.Japanese
		}
	}
	return strictMax(totals)
}

// scriptLanguages lists lingua's languages per script, for the per-script
// detectors.
func scriptLanguages(s script) []lingua.Language {
	switch s {
	case scriptLatin:
		return lingua.AllLanguagesWithLatinScript()
	case scriptCyrillic:
		return lingua.AllLanguagesWithCyrillicScript()
	case scriptArabic:
		return lingua.AllLanguagesWithArabicScript()
	case scriptDevanagari:
		return lingua.AllLanguagesWithDevanagariScript()
	}
	return nil
}

// isoCode returns a language's ISO 639-1 code in lower case ("" for Unknown).
func isoCode(l lingua.Language) string {
	if l == lingua.Unknown {
		return ""
	}
	return strings.ToLower(l.IsoCode639_1().String())
}
