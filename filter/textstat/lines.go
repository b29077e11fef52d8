package textstat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// NextLine returns the line starting at text[i:] (without its line break)
// and the offset after the break. A break is "\n", "\r\n" or "\r". At the
// end of text it returns next == len(text).
func NextLine(text string, i int) (line string, next int) {
	j := strings.IndexByte(text[i:], '\n')
	end := len(text)
	if j >= 0 {
		end = i + j
	}
	if k := strings.IndexByte(text[i:end], '\r'); k >= 0 {
		end = i + k
		next = end + 1
		if next < len(text) && text[next] == '\n' {
			next++
		}
		return text[i:end], next
	}
	if j < 0 {
		return text[i:], len(text)
	}
	return text[i:end], end + 1
}

// Lines iterates over the lines of a text like NextLine, looking for "\r"
// only when the text has one.
type Lines struct {
	text string
	i    int
	cr   bool
}

// NewLines starts iterating over text's lines.
func NewLines(text string) Lines {
	return Lines{text: text, cr: strings.IndexByte(text, '\r') >= 0}
}

// Next returns the next line, or ok false at the end.
func (l *Lines) Next() (line string, ok bool) {
	if l.i >= len(l.text) {
		return "", false
	}
	if l.cr {
		line, l.i = NextLine(l.text, l.i)
		return line, true
	}
	j := strings.IndexByte(l.text[l.i:], '\n')
	if j < 0 {
		line, l.i = l.text[l.i:], len(l.text)
		return line, true
	}
	line = l.text[l.i : l.i+j]
	l.i += j + 1
	return line, true
}

// SplitLines returns the lines of text like Python's str.splitlines for
// "\n", "\r\n" and "\r": no trailing empty line after a final break, and
// no lines at all for an empty text.
func SplitLines(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		var l string
		l, i = NextLine(text, i)
		out = append(out, l)
	}
	return out
}

// terminal holds the sentence-final punctuation of many scripts (the Latin
// full stop, question and exclamation marks and their full-width,
// Devanagari, Arabic, Armenian, Ethiopic, Myanmar, Khmer... counterparts).
var terminal = map[rune]bool{}

func init() {
	for _, r := range ".?!。！？．｡։۔؟।॥။።፧፨᙮។៕៖៚‼‽⁇⁈⁉⸮⸼᠃᠉܀܁܂؞߹࠷࠹࠽࠾᜵᜶᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿꓿꘎꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗" {
		terminal[r] = true
	}
}

// IsTerminal reports whether r ends a sentence in some script.
func IsTerminal(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '.' || r == '?' || r == '!'
	}
	return terminal[r]
}

// EndsTerminal reports whether s ends with sentence-final punctuation (in
// any script; quotes do not count).
func EndsTerminal(s string) bool {
	if s == "" {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return IsTerminal(r)
}

// IsBlank reports whether s holds only white space.
func IsBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.TrimFunc(s[i:], unicode.IsSpace) == ""
		}
		if c != ' ' && (c < '\t' || c > '\r') {
			return false
		}
	}
	return true
}

// TrimSpace is strings.TrimSpace (kept here so that rules say which
// white space they mean in one place).
func TrimSpace(s string) string { return strings.TrimSpace(s) }

// CountSentences estimates the sentences of a line: runs of terminal
// punctuation followed by white space or the end count as one boundary,
// except after common abbreviations and single initials ("Mr.", "e.g.",
// "J. Smith"). A non-blank line without a final terminal counts its
// trailing text as one more sentence.
func CountSentences(line string) int {
	n := 0
	last := 0 // start of the current word
	pending := false
	for i := 0; i < len(line); {
		r, sz := rune(line[i]), 1
		if r >= utf8.RuneSelf {
			r, sz = utf8.DecodeRuneInString(line[i:])
		}
		if r == ' ' || r == '\t' || unicode.IsSpace(r) {
			last = i + sz
			i += sz
			continue
		}
		if IsTerminal(r) {
			j := i + sz
			for j < len(line) {
				r2, s2 := utf8.DecodeRuneInString(line[j:])
				if !IsTerminal(r2) && r2 != '"' && r2 != '\'' && r2 != ')' && r2 != '”' && r2 != '’' {
					break
				}
				j += s2
			}
			cjk := r >= utf8.RuneSelf // full-width terminals need no following space
			if j == len(line) || cjk || line[j] == ' ' || line[j] == '\t' {
				if r != '.' || !abbreviation(line[last:i]) {
					n++
					pending = false
				}
			}
			i = j
			continue
		}
		pending = true
		i += sz
	}
	if pending {
		n++
	}
	return n
}

var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "sr": true, "jr": true,
	"st": true, "vs": true, "etc": true, "e.g": true, "i.e": true, "inc": true, "ltd": true,
	"co": true, "no": true, "fig": true, "al": true, "approx": true, "dept": true, "est": true,
	"jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true, "aug": true,
	"sep": true, "sept": true, "oct": true, "nov": true, "dec": true, "u.s": true, "mt": true,
}

// abbreviation reports whether the word before a period is an initial or a
// common abbreviation.
func abbreviation(word string) bool {
	if word == "" {
		return false
	}
	if utf8.RuneCountInString(word) == 1 {
		r, _ := utf8.DecodeRuneInString(word)
		return unicode.IsUpper(r)
	}
	if len(word) > 6 {
		return false
	}
	return abbreviations[strings.ToLower(word)]
}
