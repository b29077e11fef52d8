package bpe

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizers below are hand-written scanners equivalent to
// tiktoken's regular expressions. Each answers, for the text and the start
// of a piece, where the piece ends; the regular expression's alternatives
// are tried in order, as a backtracking engine (tiktoken's fancy-regex)
// tries them, and each comment quotes the alternative it implements.
//
// Characters fall into four classes: letters (\p{L}), numbers (\p{N}),
// white space (\s, Go's unicode.IsSpace, the same set as Rust's and
// regexp2's \s) and everything else (punctuation, symbols, combining
// marks, and each byte of invalid UTF-8).

// splitter cuts text into pre-tokens.
type splitter interface {
	// next returns the end of the piece that starts at i < len(s); it is
	// always > i.
	next(s string, i int) int
}

type class uint8

const (
	other class = iota
	letter
	number
	space
)

var (
	classOnce sync.Once
	// bmpClass holds the class of every rune below 0x10000, so that CJK
	// and other non-Latin text is classified by one load rather than a
	// search of Unicode's range tables.
	bmpClass []class
)

func initClasses() {
	classOnce.Do(func() {
		t := make([]class, 0x10000)
		for r := rune(0); r < 0x10000; r++ {
			t[r] = classOfSlow(r)
		}
		bmpClass = t
	})
}

func classOfSlow(r rune) class {
	switch {
	case unicode.IsLetter(r):
		return letter
	case unicode.IsNumber(r):
		return number
	case unicode.IsSpace(r):
		return space
	}
	return other
}

// classAt returns the class and byte width of the character at s[i].
func classAt(s string, i int) (class, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return other, 1
	}
	if r < 0x10000 {
		return bmpClass[r], w
	}
	return classOfSlow(r), w
}

// runEnd returns the end of the run of class cl that starts at i, where
// s[i] has class cl and width w.
func runEnd(s string, i, w int, cl class) int {
	i += w
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiClass[c] != cl {
				return i
			}
			i++
			continue
		}
		k, w := classAt(s, i)
		if k != cl {
			return i
		}
		i += w
	}
	return i
}

var asciiClass = func() (t [utf8.RuneSelf]class) {
	for c := 0; c < utf8.RuneSelf; c++ {
		t[c] = classOfSlow(rune(c))
	}
	return t
}()

// spaceRun scans the white space that starts at i. It returns the run's end,
// the start of its last character, and the position of its last \r or \n
// (-1 if none).
func spaceRun(s string, i int) (end, last, lastNL int) {
	lastNL = -1
	last = i
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiClass[c] != space {
				break
			}
			if c == '\n' || c == '\r' {
				lastNL = i
			}
			last = i
			i++
			continue
		}
		k, w := classAt(s, i)
		if k != space {
			break
		}
		last = i
		i += w
	}
	return i, last, lastNL
}

// gpt2Splitter is the pre-tokenizer of GPT-2 (r50k_base, p50k_base):
//
//	'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Splitter struct{}

func (gpt2Splitter) next(s string, i int) int {
	c := s[i]
	// '(?:[sdmt]|ll|ve|re)
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 'd', 'm', 't':
			return i + 2
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		case 'v', 'r':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		}
	}
	cl, w := classAt(s, i)
	start := i
	// " ?" before a letter, number or other run
	if c == ' ' && i+1 < len(s) {
		if k, w2 := classAt(s, i+1); k != space {
			i, cl, w = i+1, k, w2
		}
	}
	if cl != space {
		// \p{L}+ | \p{N}+ | [^\s\p{L}\p{N}]+
		return runEnd(s, i, w, cl)
	}
	end, last, _ := spaceRun(s, start)
	switch {
	case end == len(s): // \s+(?!\S) up to the end of the text
		return end
	case last > start: // \s+(?!\S): all but the last, which goes with what follows
		return last
	}
	return end // \s+
}

// cl100kSplitter is the pre-tokenizer of cl100k_base, as tiktoken has it:
//
//	'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
//	 ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
//
// With legacy set it is the older form of that pattern, which Hugging Face
// conversions of cl100k_base and Llama 3 keep:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// The two differ only at the end of the text: without \s++$ white space
// there that holds a newline ends a piece after its last newline.
type cl100kSplitter struct{ legacy bool }

func (sp cl100kSplitter) next(s string, i int) int {
	c := s[i]
	// '(?i:[sdmt]|ll|ve|re); case folding makes U+017F (ſ) an s too
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] | 0x20 {
		case 's', 'd', 'm', 't':
			return i + 2
		case 'l':
			if i+2 < len(s) && s[i+2]|0x20 == 'l' {
				return i + 3
			}
		case 'v', 'r':
			if i+2 < len(s) && s[i+2]|0x20 == 'e' {
				return i + 3
			}
		}
		if i+2 < len(s) && s[i+1] == 0xC5 && s[i+2] == 0xBF {
			return i + 3
		}
	}
	cl, w := classAt(s, i)
	switch cl {
	case letter: // \p{L}++
		return runEnd(s, i, w, letter)
	case number: // \p{N}{1,3}+
		j := i + w
		for n := 1; n < 3 && j < len(s); n++ {
			k, w2 := classAt(s, j)
			if k != number {
				break
			}
			j += w2
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?+\p{L}++
	if c != '\r' && c != '\n' && i+w < len(s) {
		if k, w2 := classAt(s, i+w); k == letter {
			return runEnd(s, i+w, w2, letter)
		}
	}
	// " ?[^\s\p{L}\p{N}]++[\r\n]*+"
	j, k, wj := i, cl, w
	if c == ' ' && i+1 < len(s) {
		if k2, w2 := classAt(s, i+1); k2 == other {
			j, k, wj = i+1, k2, w2
		}
	}
	if k == other {
		e := runEnd(s, j, wj, other)
		for e < len(s) && (s[e] == '\r' || s[e] == '\n') {
			e++
		}
		return e
	}
	end, last, lastNL := spaceRun(s, i)
	switch {
	case end == len(s) && !sp.legacy: // \s++$
		return end
	case lastNL >= 0: // \s*[\r\n]
		return lastNL + 1
	case end == len(s): // \s+(?!\S) up to the end of the text
		return end
	case last > i: // \s+(?!\S)
		return last
	}
	return end // \s
}
