package clean

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// cp1252 maps the characters Windows-1252 puts at bytes 0x80..0x9F back to
// their bytes. Bytes 0xA0..0xFF are the Latin-1 characters of the same
// value, and the five bytes CP-1252 leaves undefined decode (as Latin-1
// does) to the C1 controls of the same value.
var cp1252 = map[rune]byte{
	0x20AC: 0x80, 0x201A: 0x82, 0x0192: 0x83, 0x201E: 0x84, 0x2026: 0x85, 0x2020: 0x86,
	0x2021: 0x87, 0x02C6: 0x88, 0x2030: 0x89, 0x0160: 0x8A, 0x2039: 0x8B, 0x0152: 0x8C,
	0x017D: 0x8E, 0x2018: 0x91, 0x2019: 0x92, 0x201C: 0x93, 0x201D: 0x94, 0x2022: 0x95,
	0x2013: 0x96, 0x2014: 0x97, 0x02DC: 0x98, 0x2122: 0x99, 0x0161: 0x9A, 0x203A: 0x9B,
	0x0153: 0x9C, 0x017E: 0x9E, 0x0178: 0x9F,
	0x81: 0x81, 0x8D: 0x8D, 0x8F: 0x8F, 0x90: 0x90, 0x9D: 0x9D,
}

// continuation returns the byte a character stood for when UTF-8 was
// decoded as CP-1252 or Latin-1, if it is a UTF-8 continuation byte.
func continuation(r rune) (byte, bool) {
	if r >= 0xA0 && r <= 0xBF {
		return byte(r), true
	}
	if r >= 0x80 && r <= 0x9F {
		return byte(r), true // Latin-1 decoding keeps C1 controls
	}
	b, ok := cp1252[r]
	return b, ok
}

// RepairMojibake undoes UTF-8 that was decoded as CP-1252 or Latin-1
// ("cafÃ©" -> "café", "itâ€™s" -> "it’s") and returns the repaired text and
// the number of characters repaired.
//
// A sequence is repaired only when it is unambiguous: a lead character
// Â..ô followed by exactly the continuation characters its UTF-8 length
// needs, which together decode to a letter, number, punctuation or symbol
// of a script commonly mis-decoded this way. Real text almost never holds
// such pairs ("Ã©" is not a spelling of anything), while a German "ß“"
// would decode to an NKo letter and is left alone.
func RepairMojibake(text string) (string, int) {
	var b strings.Builder
	last, fixed := 0, 0
	for i := 0; i < len(text); {
		if text[i] != 0xC3 { // Â..ô are U+00C2..U+00F4, encoded C3 82..C3 B4
			i++
			continue
		}
		lead, size := utf8.DecodeRuneInString(text[i:])
		need := 0
		switch {
		case lead >= 0xC2 && lead <= 0xDF:
			need = 1
		case lead >= 0xE0 && lead <= 0xEF:
			need = 2
		case lead >= 0xF0 && lead <= 0xF4:
			need = 3
		default:
			i += size
			continue
		}
		var buf [4]byte
		buf[0] = byte(lead)
		j := i + size
		ok := true
		for k := 1; k <= need; k++ {
			if j >= len(text) {
				ok = false
				break
			}
			r, sz := utf8.DecodeRuneInString(text[j:])
			cb, isCont := continuation(r)
			if !isCont {
				ok = false
				break
			}
			buf[k] = cb
			j += sz
		}
		if !ok {
			i += size
			continue
		}
		r, n := utf8.DecodeRune(buf[:need+1])
		if r == utf8.RuneError || n != need+1 || !plausible(r) {
			i += size
			continue
		}
		b.WriteString(text[last:i])
		b.WriteRune(r)
		last = j
		i = j
		fixed++
	}
	if fixed == 0 {
		return text, 0
	}
	b.WriteString(text[last:])
	return b.String(), fixed
}

// plausible reports whether r is a character whose mis-decoding is common
// enough to repair: visible (not a control or a lone combining mark) and
// not in the NKo/Thaana block, which German "ß" or Icelandic "Þ" before a
// curly quote would otherwise produce.
func plausible(r rune) bool {
	if r < 0x80 || (r >= 0x80 && r <= 0x9F) || unicode.IsMark(r) || !unicode.IsGraphic(r) {
		return false
	}
	if r >= 0x0780 && r <= 0x07FF {
		return false
	}
	return true
}
