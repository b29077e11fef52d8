package dedup

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/zeebo/xxh3"
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

// append appends the normalized s to dst.
func (n *normalizer) append(dst []byte, s string) []byte {
	buf, _ := n.appendPart(dst, n.compose(s), false)
	return n.trim(buf, len(dst))
}

// compose returns s in NFKC with the nfkc option, else s.
func (n *normalizer) compose(s string) string {
	if n.nfkc && !norm.NFKC.IsNormalString(s) {
		return norm.NFKC.String(s)
	}
	return s
}

// trim removes the trailing space a white space run left at the end of
// buf[start:].
func (n *normalizer) trim(buf []byte, start int) []byte {
	if n.whitespace && len(buf) > start && buf[len(buf)-1] == ' ' {
		return buf[:len(buf)-1]
	}
	return buf
}

// appendPart appends the normalized s to buf, NFKC already applied and the
// trailing space not trimmed, so that a long text can be normalized in
// parts. spaceOK says whether a white space run may be written as a space
// now: false at the start of the text and right after a space; the value
// for the next part is returned.
//
// Runs of plain ASCII go through swar (32 bytes at a time with AVX2 for
// the default options, else 8); the ASCII bytes it stops at go through the
// table, other runes the general path.
func (n *normalizer) appendPart(buf []byte, s string, spaceOK bool) ([]byte, bool) {
	src := unsafe.Slice(unsafe.StringData(s), len(s)) // only read
	// Invariant: cap(buf)-w >= len(src)-i+8: an ASCII byte writes at most
	// one byte, eight of them at most eight; a rune may write more, and
	// the buffer grows after it.
	buf = slices.Grow(buf, len(src)+8)
	w := len(buf)
	buf = buf[:cap(buf)]
	for i := 0; i < len(src); {
		if i+8 <= len(src) {
			if w, i, spaceOK = n.swar(buf, src, w, i, spaceOK); i == len(src) {
				break
			}
		}
		if c := src[i]; c < utf8.RuneSelf {
			i++
			switch m := n.ascii[c]; m {
			case dropByte:
			case spaceByte:
				if spaceOK {
					buf[w] = ' '
					w++
					spaceOK = false
				}
			default:
				buf[w] = m
				w++
				spaceOK = true
			}
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		i += size
		if n.whitespace && isSpace(r) {
			if spaceOK {
				buf[w] = ' '
				w++
				spaceOK = false
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
			r = toLower(r)
		}
		w = len(utf8.AppendRune(buf[:w], r))
		spaceOK = true
		if rest := len(src) - i + 8; cap(buf)-w < rest {
			buf = slices.Grow(buf[:w], rest)
			buf = buf[:cap(buf)]
		}
	}
	return buf[:w], spaceOK
}

// swar normalizes src[i:] into buf[w:] eight ASCII bytes at a time, on
// one uint64 (white space mapped to ' ', upper case lowered, digits mapped
// to '0'), for as long as no byte among the eight is non-ASCII or dropped
// (punctuation) and no white space needs collapsing; it returns where it
// stopped. The loop has no branch that depends on the text but its exit.
func (n *normalizer) swar(buf, src []byte, w, i int, spaceOK bool) (int, int, bool) {
	lower, white, punct, digits := n.lower, n.whitespace, n.punctuation, n.digits
	var lead uint64 // 0x80 when white space may not come first
	if !spaceOK {
		lead = 0x80
	}
	if lower && white && !punct && !digits {
		return swarDefault(buf, src, w, i, lead)
	}
	for i+8 <= len(src) && w+8 <= len(buf) {
		x := binary.LittleEndian.Uint64(src[i:])
		bad := x & highs // inRange is exact only when this is 0
		var ws uint64
		if white {
			ws = inRange(x, '\t', '\r') | inRange(x, ' ', ' ')
			bad |= ws&(ws>>8) | ws&lead
		}
		if punct {
			bad |= inRange(x, '!', '/') | inRange(x, ':', '@') | inRange(x, '[', '`') | inRange(x, '{', '~')
		}
		if bad != 0 {
			break
		}
		if white {
			m := (ws >> 7) * 0xFF
			x = x&^m | m&(' '*ones)
			lead = ws >> 56
		}
		if lower {
			x |= inRange(x, 'A', 'Z') >> 2 // + 0x20
		}
		if digits {
			m := (inRange(x, '0', '9') >> 7) * 0xFF
			x = x&^m | m&('0'*ones)
		}
		binary.LittleEndian.PutUint64(buf[w:], x)
		w += 8
		i += 8
	}
	return w, i, lead == 0
}

// swarDefault is swar for the default options (lower case, white space):
// the same arithmetic with fewer live values, which the compiler keeps in
// registers.
func swarDefault(buf, src []byte, w, i int, lead uint64) (int, int, bool) {
	if useAVX2 && len(src)-i >= 32 && src[i] < utf8.RuneSelf {
		read, written, l := normAVX2(buf[w:], src[i:], lead>>7)
		i += read
		w += written
		lead = l << 7
	}
	for i+8 <= len(src) && w+8 <= len(buf) {
		x := binary.LittleEndian.Uint64(src[i:])
		ws := inRange(x, '\t', '\r') | inRange(x, ' ', ' ')
		if x&highs|ws&(ws>>8)|ws&lead != 0 {
			break
		}
		m := (ws >> 7) * 0xFF
		x = x&^m | m&(' '*ones)
		x |= inRange(x, 'A', 'Z') >> 2
		binary.LittleEndian.PutUint64(buf[w:], x)
		lead = ws >> 56
		w += 8
		i += 8
	}
	return w, i, lead == 0
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// inRange returns 0x80 in each byte of x within lo..hi and 0 in the
// others; every byte of x must be ASCII (no carry then crosses bytes).
func inRange(x uint64, lo, hi byte) uint64 {
	return (x + (0x80-uint64(lo))*ones) &^ (x + (0x7F-uint64(hi))*ones) & highs
}

// hashPart is how much text hash128 normalizes at a time: a longer text is
// hashed in parts, so the buffer stays small whatever the document size.
const hashPart = 64 << 10

// normHash is one worker's buffer and hash state for hash128.
type normHash struct {
	buf []byte
	h   xxh3.Hasher
}

// hash128 returns the xxh3-128 hash of n.append(nil, s) without holding
// the normalized text of a long s in memory: it is normalized in parts of
// hashPart bytes into st's buffer and written to a streaming hash state
// (xxh3's streaming and one-shot hashes agree).
func (n *normalizer) hash128(s string, st *normHash) xxh3.Uint128 {
	return n.hashParts(s, st, hashPart)
}

// hashParts is hash128 with parts of part bytes (tests use small ones).
func (n *normalizer) hashParts(s string, st *normHash, part int) xxh3.Uint128 {
	if n.identity() {
		return xxh3.HashString128(s)
	}
	if len(s) <= part {
		st.buf = n.append(st.buf[:0], s)
		return xxh3.Hash128(st.buf)
	}
	s = n.compose(s)
	st.h.Reset()
	buf, spaceOK := st.buf[:0], false
	for len(s) > 0 {
		k := min(len(s), part)
		for j := 0; j < utf8.UTFMax-1 && k < len(s) && !utf8.RuneStart(s[k]); j++ {
			k++ // do not split a rune
		}
		buf, spaceOK = n.appendPart(buf, s[:k], spaceOK)
		s = s[k:]
		if len(s) > 0 && len(buf) > 1 {
			// keep the last byte: a trailing space is trimmed at the end
			st.h.Write(buf[:len(buf)-1])
			buf[0] = buf[len(buf)-1]
			buf = buf[:1]
		}
	}
	buf = n.trim(buf, 0)
	st.h.Write(buf)
	st.buf = buf[:0]
	return st.h.Sum128()
}

// toLower is unicode.ToLower with a shortcut for Latin-1, where only
// À..Þ (but ×) have a lower case, 0x20 above.
func toLower(r rune) rune {
	if r <= unicode.MaxLatin1 {
		if 'À' <= r && r <= 'Þ' && r != '×' {
			return r + 0x20
		}
		if r < 'A' || r > 'Z' {
			return r
		}
		return r + 0x20
	}
	return unicode.ToLower(r)
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
