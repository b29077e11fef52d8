package dedup

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
	"golang.org/x/text/unicode/norm"
)

func TestNormalizer(t *testing.T) {
	cases := []struct {
		n        *normalizer
		in, want string
	}{
		{newNormalizer(true, true, false, false, false), "  Hello\t\tWORLD \n", "hello world"},
		{newNormalizer(false, true, false, false, false), "A  b", "A b"},
		{newNormalizer(false, false, false, false, false), " A  b ", " A  b "},
		{newNormalizer(true, true, true, false, false), "Hi, there! «Ça va?» — ok", "hi there ça va ok"},
		{newNormalizer(false, true, false, true, false), "call 555-1234 or ٣", "call 000-0000 or 0"},
		{newNormalizer(true, true, false, false, true), "ﬁnal ＡＢＣ", "final abc"},
		{newNormalizer(true, true, false, false, false), "ÀÉÎ\u00a0x", "àéî x"},
	}
	for _, tc := range cases {
		if got := string(tc.n.append(nil, tc.in)); got != tc.want {
			t.Errorf("%s: %q -> %q, want %q", tc.n.flags(), tc.in, got, tc.want)
		}
	}
}

// allNormalizers has every combination of the five options.
func allNormalizers() []*normalizer {
	var ns []*normalizer
	for f := 0; f < 32; f++ {
		ns = append(ns, newNormalizer(f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0, f&16 != 0))
	}
	return ns
}

// checkAgainstOld asserts that append and hash128 (whole and in small
// parts) agree with the old normalizer on s.
func checkAgainstOld(t *testing.T, n *normalizer, s string) {
	t.Helper()
	if useAVX2 { // and the SWAR loop alone
		useAVX2 = false
		checkAgainstOld(t, n, s)
		useAVX2 = true
	}
	want := oldAppend(n, nil, s)
	if got := n.append(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("%s: %q: append %q, old %q", n.flags(), s, got, want)
	}
	wantHash := xxh3.Hash128(want)
	if n.identity() {
		wantHash = xxh3.HashString128(s) // dedup.exact hashes the raw text
	}
	var st normHash
	if got := n.hash128(s, &st); got != wantHash {
		t.Fatalf("%s: %q: hash128 %x, want %x", n.flags(), s, got, wantHash)
	}
	for _, part := range []int{1, 2, 3, 7, 64, 1500} {
		if got := n.hashParts(s, &st, part); got != wantHash {
			t.Fatalf("%s: %q: hash in parts of %d: %x, want %x", n.flags(), s, part, got, wantHash)
		}
	}
}

func TestToLower(t *testing.T) {
	for r := rune(0); r <= 0x300; r++ {
		if got, want := toLower(r), unicode.ToLower(r); got != want {
			t.Errorf("toLower(%U) = %U, want %U", r, got, want)
		}
	}
}

func FuzzNormalizer(f *testing.F) {
	f.Add("  Hello, Wörld ﬁ ٣\x00\xff ", uint8(31))
	f.Add("The  Quick\tbrown fox\njumps  over the LAZY dog ", uint8(3))
	f.Add("Ⱥ\xe2\x82 x\xf0\x9f\x98", uint8(1))
	f.Fuzz(func(t *testing.T, s string, flags uint8) {
		n := allNormalizers()[flags%32]
		checkAgainstOld(t, n, s)
		if n.whitespace {
			once := string(n.append(nil, s))
			if strings.HasPrefix(once, " ") || strings.HasSuffix(once, " ") || strings.Contains(once, "  ") {
				t.Fatalf("%q -> %q: white space not collapsed", s, once)
			}
		}
	})
}

// TestNormalizerAgainstOld: the SWAR normalizer and the streaming hash
// give what the old normalizer gave, on random bytes and words and on the
// shared corpus (English, Finnish, French, German, Portuguese, Swedish).
func TestNormalizerAgainstOld(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "B", "Zz", " ", "  ", "\t", "\n\n", "\r\n", "\v\f", ",", "!?", "@[`{~", "0", "42",
		"é", "Ç", "ﬁ", "Ａ", "٣", "\u00a0", "\u2003", "«", "—", "中文", "İ", "Ⱥ", "\xff", "\xe2\x82", "\x00", "\x7f",
		"the ", "Quick ", "brown.", "FOX", "word", "abcdefgh"}
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for k := rng.IntN(60); k > 0; k-- {
			if rng.IntN(8) == 0 {
				b.WriteByte(byte(rng.IntN(256)))
			} else {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		}
		for _, n := range allNormalizers() {
			checkAgainstOld(t, n, b.String())
		}
	}
	for _, d := range corpusDocs(t, 200) {
		for _, n := range allNormalizers() {
			checkAgainstOld(t, n, d.Text)
		}
	}
	// a text longer than one part of hash128
	long := strings.Repeat("Ünïcödé and ASCII, mixed  TOGETHER\n\n", 3*hashPart/30)
	for _, n := range allNormalizers() {
		checkAgainstOld(t, n, long)
	}
}

func BenchmarkNormalize(b *testing.B) {
	text := strings.Repeat("The Quick brown fox, jumps over the lazy dog.\n", 1000)
	n := newNormalizer(true, true, false, false, false)
	var buf []byte
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		buf = n.append(buf[:0], text)
	}
}

// BenchmarkHash128 is dedup.exact's per-document work with the default
// options on the shared corpus.
func BenchmarkHash128(b *testing.B) {
	docs := corpusDocs(b, 3000)
	size := docsBytes(docs)
	n := newNormalizer(true, true, false, false, false)
	var st normHash
	b.SetBytes(size)
	for b.Loop() {
		for _, d := range docs {
			n.hash128(d.Text, &st)
		}
	}
}

// oldAppend is the normalizer before hash128 (commit 92bc701), kept as
// the reference the new one must agree with byte for byte. With the default options, eight
// plain ASCII bytes at a time (no upper case, control or non-ASCII byte, no
// double space) are copied in one move; other ASCII bytes go through the
// table, other runes the general path. White space is written as one space
// when the last byte written is not one, and a trailing space is trimmed.
func oldAppend(n *normalizer, dst []byte, s string) []byte {
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
			x, ok := oldFast8(n, binary.LittleEndian.Uint64([]byte(s[i:i+8])))
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

// oldFast8 is the old fast8: it normalizes 8 ASCII bytes at once when it
// can: none >= 0x80 or < 0x20 and no two spaces in a row; upper case is
// lowered in place (with lower). It reports false when the bytes need the
// byte-by-byte path.
func oldFast8(n *normalizer, x uint64) (uint64, bool) {
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

// BenchmarkHash128Old is BenchmarkHash128 with the old normalizer, for
// comparison.
func BenchmarkHash128Old(b *testing.B) {
	docs := corpusDocs(b, 3000)
	size := docsBytes(docs)
	n := newNormalizer(true, true, false, false, false)
	var buf []byte
	b.SetBytes(size)
	for b.Loop() {
		for _, d := range docs {
			buf = oldAppend(n, buf[:0], d.Text)
			xxh3.Hash128(buf)
		}
	}
}
