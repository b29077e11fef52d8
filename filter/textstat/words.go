// Package textstat holds the text measurements the rule-based filters share:
// word splitting that also works for scripts written without spaces,
// per-language stop words, line splitting and terminal punctuation, sentence
// counting and fast 64-bit hashing of words, n-grams and lines.
//
// Everything here is allocation-light and safe for concurrent use; callers
// that split many documents reuse their []Word buffers.
package textstat

import (
	"math/bits"
	"unicode"
	"unicode/utf8"
)

// Word is one token of a text: its byte span, its length in characters
// (code points, as the published rules count) and what it contains.
type Word struct {
	Start, End int32 // byte offsets in the text
	Runes      int32 // characters
	Flags      uint8 // HasLetter, Symbol
}

// Word flags.
const (
	// HasLetter marks a word with at least one alphabetic character.
	HasLetter uint8 = 1 << iota
	// Symbol marks a token made only of punctuation and symbols ("#", "...",
	// "—"); the Gopher rules exclude such tokens from word counts.
	Symbol
)

// Text returns the word's text.
func (w Word) Text(text string) string { return text[w.Start:w.End] }

// character classes of ASCII bytes
const (
	clSpace = iota
	clLetter
	clDigit
	clPunct
	clJoin // ' - . , : joins two alphanumeric runs ("don't", "3.14", "e-mail")
)

var asciiClass = func() (t [128]uint8) {
	for c := 0; c < 128; c++ {
		switch {
		case c == ' ' || (c >= '\t' && c <= '\r'):
			t[c] = clSpace
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			t[c] = clLetter
		case c >= '0' && c <= '9':
			t[c] = clDigit
		case c == '\'' || c == '-' || c == '.' || c == ',':
			t[c] = clJoin
		case c < 32 || c == 127:
			t[c] = clSpace
		default:
			t[c] = clPunct
		}
	}
	return t
}()

// unspaced reports whether r belongs to a script written without spaces
// between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan). Each such
// character counts as one word: a dictionary-free stand-in for word
// segmentation that keeps counts and n-grams meaningful.
func unspaced(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF, r >= 0x3400 && r <= 0x4DBF, r >= 0x20000 && r <= 0x3FFFF,
		r >= 0xF900 && r <= 0xFAFF:
		return true // Han
	case r >= 0x3040 && r <= 0x30FF, r >= 0x31F0 && r <= 0x31FF, r >= 0xFF66 && r <= 0xFF9F:
		return true // kana
	case r >= 0x0E00 && r <= 0x0EFF, r >= 0x1780 && r <= 0x17FF, r >= 0x1000 && r <= 0x109F,
		r >= 0x0F00 && r <= 0x0FFF:
		return true // Thai, Lao, Khmer, Myanmar, Tibetan
	}
	return false
}

func runeClass(r rune) uint8 {
	switch {
	case r == '’' || r == '‐' || r == '‑':
		return clJoin
	case unicode.IsLetter(r) || unicode.IsMark(r):
		return clLetter
	case unicode.IsDigit(r) || unicode.IsNumber(r):
		return clDigit
	case unicode.IsSpace(r) || r == 0x200B || r == 0xFEFF:
		return clSpace
	case unicode.IsControl(r):
		return clSpace
	}
	return clPunct
}

// byte flags for the scanning loops of AppendWords
const (
	fLetter = 1 << iota
	fDigit
	fSpace
	fJoin
	fPunct
	fHigh // first byte of a multi-byte character
)

var byteFlags = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if c >= utf8.RuneSelf {
			t[c] = fHigh
			continue
		}
		switch asciiClass[c] {
		case clSpace:
			t[c] = fSpace
		case clLetter:
			t[c] = fLetter
		case clDigit:
			t[c] = fDigit
		case clJoin:
			t[c] = fJoin | fPunct
		default:
			t[c] = fPunct
		}
	}
	return t
}()

// AppendWords splits text into words and appends them to dst.
//
// A word is a run of letters, digits and combining marks, where an
// apostrophe, hyphen, period or comma between two alphanumerics joins
// ("don't", "e-mail", "3.14", "1,000"). Every other non-space character is
// a token of its own, except that a run of one repeated punctuation
// character is one token ("...", "!!!", "----"), as common tokenizers do.
// Each character of a script written without spaces is one word.
func AppendWords(dst []Word, text string) []Word {
	n := len(text)
	i := 0
	for i < n {
		c := text[i]
		f := byteFlags[c]
		if f&fSpace != 0 {
			i++
			continue
		}
		var cl uint8
		size := 1
		switch {
		case f&fLetter != 0:
			cl = clLetter
		case f&fDigit != 0:
			cl = clDigit
		case f&fHigh == 0:
			cl = clPunct
		default:
			var r rune
			r, size = utf8.DecodeRuneInString(text[i:])
			if unspaced(r) {
				flags := uint8(0)
				if unicode.IsLetter(r) {
					flags = HasLetter
				}
				dst = append(dst, Word{Start: int32(i), End: int32(i + size), Runes: 1, Flags: flags})
				i += size
				continue
			}
			cl = runeClass(r)
			if cl == clJoin {
				cl = clPunct // a join character only joins inside a word
			}
		}
		switch cl {
		case clSpace:
			i += size
		case clLetter, clDigit:
			var w Word
			w, i = scanWord(text, i)
			dst = append(dst, w)
		default: // punctuation or symbol: a run of the same character is one token
			start, runes := i, int32(1)
			i += size
			for i+size <= n && text[i:i+size] == text[start:start+size] {
				i += size
				runes++
			}
			dst = append(dst, Word{Start: int32(start), End: int32(i), Runes: runes, Flags: Symbol})
		}
	}
	return dst
}

// scanWord scans the word of letters and digits starting at text[i].
func scanWord(text string, i int) (Word, int) {
	n := len(text)
	start, extra := i, 0 // extra: continuation bytes, to count characters
	var acc uint8
	if swar {
		i, acc = skipASCIIAlnum(text, i)
	}
	for i < n {
		f := byteFlags[text[i]]
		if f&(fLetter|fDigit) != 0 {
			acc |= f
			i++
			continue
		}
		if f&fJoin != 0 {
			// joins only between alphanumerics; a comma only between digits
			if i+1 < n && i > start && isAlnumAt(text, i+1) && (text[i] != ',' || byteFlags[text[i+1]]&fDigit != 0) {
				i++
				continue
			}
			break
		}
		if f&fHigh == 0 {
			break
		}
		r, sz := utf8.DecodeRuneInString(text[i:])
		if unspaced(r) {
			break
		}
		k := runeClass(r)
		if k == clJoin {
			if i+sz < n && isAlnumAt(text, i+sz) {
				i += sz
				extra += sz - 1
				continue
			}
			break
		}
		if k != clLetter && k != clDigit {
			break
		}
		if k == clLetter && unicode.IsLetter(r) {
			acc |= fLetter
		}
		i += sz
		extra += sz - 1
	}
	flags := uint8(0)
	if acc&fLetter != 0 {
		flags = HasLetter
	}
	return Word{Start: int32(start), End: int32(i), Runes: int32(i - start - extra), Flags: flags}, i
}

// isAlnumAt reports whether the character at text[i] is a letter or digit
// of a spaced script.
func isAlnumAt(text string, i int) bool {
	c := text[i]
	if c < utf8.RuneSelf {
		k := asciiClass[c]
		return k == clLetter || k == clDigit
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	if unspaced(r) {
		return false
	}
	k := runeClass(r)
	return k == clLetter || k == clDigit
}

// Words splits text into words (see AppendWords).
func Words(text string) []Word { return AppendWords(nil, text) }

// RuneLen returns the length of s in characters.
func RuneLen(s string) int { return utf8.RuneCountInString(s) }

// swar enables the eight-bytes-at-a-time scan (tests turn it off to compare).
var swar = true

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// skipASCIIAlnum advances over ASCII letters and digits eight bytes at a
// time and returns where the run ends (or where the eight-byte window
// meets non-ASCII text or the end) and fLetter if it held a letter.
func skipASCIIAlnum(text string, i int) (int, uint8) {
	var acc uint8
	for i+8 <= len(text) {
		t := text[i : i+8]
		v := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		if v&high != 0 {
			break // non-ASCII inside: the byte loop decides
		}
		// per byte, the high bit says whether the byte is in a range; no
		// carries cross bytes because every byte is below 0x80
		l := v | 0x20*ones
		letter := (l + (0x80-'a')*ones) &^ (l + (0x7f-'z')*ones) & high
		digit := (v + (0x80-'0')*ones) &^ (v + (0x7f-'9')*ones) & high
		stop := ^(letter | digit) & high
		if stop == 0 {
			if letter != 0 {
				acc = fLetter
			}
			i += 8
			continue
		}
		k := bits.TrailingZeros64(stop) >> 3
		if letter&(1<<(8*uint(k))-1) != 0 {
			acc = fLetter
		}
		return i + k, acc
	}
	return i, acc
}

// Pooled scratch buffers are returned to their pools only up to these
// sizes, so that one huge document does not pin its buffers for the run.
const (
	MaxPooledItems = 1 << 20  // words, hashes, matches
	MaxPooledBytes = 16 << 20 // text buffers
)
