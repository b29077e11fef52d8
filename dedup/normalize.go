package dedup

import (
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

// append appends the normalized s to dst. ASCII bytes, almost all of most
// text, go through the table into a buffer grown once; other runes take the
// general path.
func (n *normalizer) append(dst []byte, s string) []byte {
	if n.nfkc && !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	space := false // a space is pending (only with whitespace)
	start := len(dst)
	buf := slices.Grow(dst, len(s)+1)
	w := len(buf)
	buf = buf[:cap(buf)]
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			switch m := n.ascii[c]; m {
			case dropByte:
			case spaceByte:
				space = w > start
			default:
				if space {
					buf[w] = ' '
					w++
					space = false
				}
				buf[w] = m
				w++
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if n.whitespace && isSpace(r) {
			space = w > start
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
		out := buf[:w]
		if space {
			out = append(out, ' ')
			space = false
		}
		out = utf8.AppendRune(out, r)
		w = len(out)
		// keep room for the rest: ASCII needs at most 2 bytes per input byte left
		buf = slices.Grow(out, 2*(len(s)-i)+1)
		buf = buf[:cap(buf)]
	}
	return buf[:w]
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
