package dedup

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/curatehq/curate/pipelines"
)

// normalizer canonicalizes text before exact hashing (dedup.exact,
// dedup.paragraph) so that trivial variants compare equal. It is a value:
// safe for concurrent use.
type normalizer struct {
	lower       bool // Unicode lower case
	whitespace  bool // trim, and collapse every run of white space to one space
	punctuation bool // remove punctuation
	digits      bool // map every decimal digit to 0
	nfkc        bool // Unicode NFKC first (compatibility forms: ligatures, full-width)
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

func normalizerFrom(p pipelines.Params) normalizer {
	return normalizer{lower: p.Bool("lowercase"), whitespace: p.Bool("whitespace"),
		punctuation: p.Bool("punctuation"), digits: p.Bool("digits"), nfkc: p.Bool("nfkc")}
}

// flags encodes the options for index headers.
func (n normalizer) flags() string {
	b := []byte("-----")
	for i, on := range []bool{n.lower, n.whitespace, n.punctuation, n.digits, n.nfkc} {
		if on {
			b[i] = "lwpdn"[i]
		}
	}
	return string(b)
}

// append appends the normalized s to dst.
func (n normalizer) append(dst []byte, s string) []byte {
	if n.nfkc && !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	space := false // a space is pending (only with whitespace)
	start := len(dst)
	for i := 0; i < len(s); {
		r := rune(s[i])
		size := 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if n.whitespace && isSpace(r) {
			space = len(dst) > start
			continue
		}
		if n.punctuation && isPunct(r) {
			continue
		}
		if n.digits && isDigit(r) {
			r = '0'
		}
		if n.lower {
			if r < utf8.RuneSelf {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
			} else {
				r = unicode.ToLower(r)
			}
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		if r < utf8.RuneSelf {
			dst = append(dst, byte(r))
		} else {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
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
