package dedup

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/curatehq/curate/pipelines"
)

// normalizer canonicalizes text before exact hashing (dedup.exact,
// dedup.paragraph) so that trivial variants compare equal. It is a value:
// safe for concurrent use.
type normalizer struct {
	lower       bool      // Unicode lower case
	whitespace  bool      // trim, and collapse every run of white space to one space
	punctuation bool      // remove punctuation
	digits      bool      // map every decimal digit to 0
	nfkc        bool      // Unicode NFKC first (compatibility forms: ligatures, full-width)
	ascii       [128]byte // what each ASCII byte becomes: itself, another byte, dropByte or spaceByte
}

const (
	dropByte  = 0x80 // remove the byte
	spaceByte = 0x81 // white space: collapsed
)

func newNormalizer(lower, whitespace, punctuation, digits, nfkc bool) *normalizer {
	n := &normalizer{lower: lower, whitespace: whitespace, punctuation: punctuation, digits: digits, nfkc: nfkc}
	for c := range n.ascii {
		r := rune(c)
		switch {
		case whitespace && isSpace(r):
			n.ascii[c] = spaceByte
		case punctuation && isPunct(r):
			n.ascii[c] = dropByte
		case digits && isDigit(r):
			n.ascii[c] = '0'
		case lower && 'A' <= r && r <= 'Z':
			n.ascii[c] = byte(r + 'a' - 'A')
		default:
			n.ascii[c] = byte(c)
		}
	}
	return n
}

// normalizeFields are the spec fields that configure a normalizer.
func normalizeFields(lower bool) []pipelines.Field {
	return []pipelines.Field{
		{Name: "lowercase", Type: pipelines.Bool, Default: lower, Doc: "compare case-insensitively"},
		{Name: "whitespace", Type: pipelines.Bool, Default: true, Doc: "trim and collapse white space before comparing"},
		{Name: "punctuation", Type: pipelines.Bool, Default: false, Doc: "ignore punctuation"},
		{Name: "digits", Type: pipelines.Bool, Default: false, Doc: "treat every digit as 0"},
		{Name: "nfkc", Type: pipelines.Bool, Default: false, Doc: "apply Unicode NFKC before comparing"},
	}
}

func normalizerFrom(p pipelines.Params) *normalizer {
	return newNormalizer(p.Bool("lowercase"), p.Bool("whitespace"), p.Bool("punctuation"), p.Bool("digits"), p.Bool("nfkc"))
}

// identity reports whether normalizing changes nothing (every option off).
func (n *normalizer) identity() bool {
	return !n.lower && !n.whitespace && !n.punctuation && !n.digits && !n.nfkc
}

// flags encodes the options for index headers.
func (n *normalizer) flags() string {
	b := []byte("-----")
	for i, on := range []bool{n.lower, n.whitespace, n.punctuation, n.digits, n.nfkc} {
		if on {
			b[i] = "lwpdn"[i]
		}
	}
	return string(b)
}

// append appends the normalized s to dst. With the default options, eight
// plain ASCII bytes at a time (no upper case, control or non-ASCII byte, no
// double space) are copied in one move; other ASCII bytes go through the
// table, other runes the general path. White space is written as one space
// when the last byte written is not one, and a trailing space is trimmed.
func (n *normalizer) append(dst []byte, s string) []byte {
	if n.nfkc && !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	start := len(dst)
	buf := slices.Grow(dst, len(s)+1)
	w := len(buf)
	buf = buf[:cap(buf)]
	fast := n.whitespace && !n.punctuation && !n.digits
	for i := 0; i < len(s); {
		if fast && i+8 <= len(s) {
			x, ok := n.fast8(binary.LittleEndian.Uint64([]byte(s[i : i+8])))
			if ok && (s[i] != ' ' || (w > start && buf[w-1] != ' ')) {
				binary.LittleEndian.PutUint64(buf[w:], x)
				w += 8
				i += 8
				continue
			}
		}
		if c := s[i]; c < utf8.RuneSelf {
			i++
			switch m := n.ascii[c]; m {
			case dropByte:
			case spaceByte:
				if w > start && buf[w-1] != ' ' {
					buf[w] = ' '
					w++
				}
			default:
				buf[w] = m
				w++
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if n.whitespace && isSpace(r) {
			if w > start && buf[w-1] != ' ' {
				buf[w] = ' '
				w++
			}
			continue
		}
		if n.punctuation && isPunct(r) {
			continue
		}
		if n.digits && isDigit(r) {
			r = '0'
		}
		if n.lower {
			r = unicode.ToLower(r)
		}
		out := utf8.AppendRune(buf[:w], r)
		w = len(out)
		// keep room for the rest: at most 1 byte per ASCII byte, plus 8 for a move
		buf = slices.Grow(out, 2*(len(s)-i)+9)
		buf = buf[:cap(buf)]
	}
	if n.whitespace && w > start && buf[w-1] == ' ' {
		w--
	}
	return buf[:w]
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// fast8 normalizes 8 ASCII bytes at once when it can: none >= 0x80 or
// < 0x20 and no two spaces in a row; upper case is lowered in place (with
// lower). It reports false when the bytes need the byte-by-byte path.
func (n *normalizer) fast8(x uint64) (uint64, bool) {
	if x&highs != 0 {
		return x, false
	}
	if (x-0x20*ones)&^x&highs != 0 { // a byte < 0x20
		return x, false
	}
	const low7 = 0x7F * ones
	sp := x ^ 0x20*ones                  // zero bytes where x has a space
	z := ^((sp&low7 + low7) | sp | low7) // 0x80 in exactly those bytes
	if z&(z>>8) != 0 {
		return x, false
	}
	if n.lower { // 0x80 in exactly the bytes in 'A'..'Z' (no borrow crosses bytes)
		upper := ((127+'Z'+1)*ones - x&low7) &^ x & (x&low7 + (127-('A'-1))*ones) & highs
		x |= upper >> 2 // + 0x20
	}
	return x, true
}

func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	}
	return unicode.IsSpace(r)
}

func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return ('!' <= r && r <= '/') || (':' <= r && r <= '@') || ('[' <= r && r <= '`') || ('{' <= r && r <= '~')
	}
	return unicode.IsPunct(r) || unicode.IsSymbol(r)
}

func isDigit(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsDigit(r)
}
