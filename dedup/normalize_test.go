package dedup

import (
	"strings"
	"testing"
	"unicode"
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

func FuzzNormalizer(f *testing.F) {
	f.Add("  Hello, Wörld ﬁ ٣\x00\xff ", true)
	f.Fuzz(func(t *testing.T, s string, all bool) {
		n := newNormalizer(all, true, all, all, all)
		once := string(n.append(nil, s))
		if !all && strings.IndexFunc(s, unicode.IsDigit) < 0 { // the reference maps digits
			if ref := slowAppend(n, s); once != ref {
				t.Fatalf("%q: fast %q, reference %q", s, once, ref)
			}
		}
		if strings.HasPrefix(once, " ") || strings.HasSuffix(once, " ") || strings.Contains(once, "  ") {
			t.Fatalf("%q -> %q: white space not collapsed", s, once)
		}
	})
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

// slowAppend is the byte-by-byte reference for the 8-byte fast path.
func slowAppend(n *normalizer, s string) string {
	m := *n
	m.digits = true // disables the fast path; no digits in the inputs below
	return string(m.append(nil, s))
}

func TestNormalizerFastPath(t *testing.T) {
	n := newNormalizer(true, true, false, false, false)
	inputs := []string{
		"the quick brown fox jumps over the lazy dog",
		"The  Quick\tbrown fox\njumps  over the LAZY dog ",
		"        leading and trailing        ",
		"a b c d e f g h i j k l m n o p q r s t u v w x y z",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{ ~\x7f\x1f!",
		"éèà Ünïcödé mixed with ascii words here and there",
		"exactly8",
		"x       y",
	}
	for _, in := range inputs {
		if got, want := string(n.append(nil, in)), slowAppend(n, in); got != want {
			t.Errorf("%q: fast %q, reference %q", in, got, want)
		}
	}
}
