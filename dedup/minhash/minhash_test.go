package minhash

import (
	"unicode"
	"unicode/utf8"

	"fmt"
	"github.com/zeebo/xxh3"
	"math"
	"strings"
	"testing"
)

// tokensReference is the plain rune-by-rune tokenizer that Scratch.Tokens
// must agree with; it splits text into lower-cased tokens and returns one 64-bit hash per
// token, reusing the scratch buffer (valid until the next call). Tokens are
// runs of non-space characters, except that each character of a script
// written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer,
// Myanmar) is a token of its own, so n-grams over them are character n-grams.
func tokensReference(text string) []uint64 {
	var toks []uint64
	var word []byte
	flush := func() {
		if len(word) > 0 {
			toks = append(toks, xxh3.Hash(word))
			word = word[:0]
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch c {
			case ' ', '\t', '\n', '\r', '\v', '\f':
				flush()
				continue
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			word = append(word, c)
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		i += n
		switch {
		case unicode.IsSpace(r):
			flush()
		case NoSpaceScript(r):
			flush()
			word = utf8.AppendRune(word, r)
			flush()
		default:
			word = utf8.AppendRune(word, unicode.ToLower(r))
		}
	}
	flush()
	return toks
}

func TestTokens(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"Hello  World\n", []string{"hello", "world"}},
		{"ÉCOLE été", []string{"école", "été"}},
		{"東京タワー is tall", []string{"東", "京", "タ", "ワ", "ー", "is", "tall"}},
		{"ภาษาไทย", []string{"ภ", "า", "ษ", "า", "ไ", "ท", "ย"}},
		{"\u00a0a\u2003b\t", []string{"a", "b"}},
		{"", nil},
	}
	var s Scratch
	for _, tc := range cases {
		got := append([]uint64(nil), s.Tokens(tc.text)...)
		var want []uint64
		var s2 Scratch
		for _, w := range tc.want {
			want = append(want, s2.Tokens(w)...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Tokens(%q): %d tokens, want %d %q", tc.text, len(got), len(want), tc.want)
		}
	}
}

// jaccard is the exact shingle Jaccard of two texts.
func jaccard(a, b string) float64 {
	var s Scratch
	set := func(text string) map[uint64]bool {
		m := map[uint64]bool{}
		Shingles(s.Tokens(text), 5, func(h uint64) { m[h] = true })
		return m
	}
	sa, sb := set(a), set(b)
	inter := 0
	for h := range sa {
		if sb[h] {
			inter++
		}
	}
	return float64(inter) / float64(len(sa)+len(sb)-inter)
}

func text(seed, n int) []string {
	out := make([]string, n)
	x := uint64(seed)*0x9E3779B97F4A7C15 + 3
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = fmt.Sprintf("w%d", x%100000)
	}
	return out
}

// TestJaccardEstimate checks that the b-bit estimate is unbiased and has the
// spread MinHash theory predicts, over pairs of known similarity.
func TestJaccardEstimate(t *testing.T) {
	for _, tc := range []struct {
		scheme Scheme
		words  int
	}{{OnePermutation, 1000}, {Classic, 1000}, {OnePermutation, 60}, {Classic, 60}} {
		t.Run(fmt.Sprintf("%s/%d", tc.scheme, tc.words), func(t *testing.T) { testJaccard(t, tc.scheme, tc.words) })
	}
}

func testJaccard(t *testing.T, scheme Scheme, words int) {
	h, err := NewScheme(5, 112, 1, scheme)
	if err != nil {
		t.Fatal(err)
	}
	var s Scratch
	sa, sb := make([]byte, 112), make([]byte, 112)
	for _, shift := range []int{0, words / 50, words / 16, words / 7, words / 3} {
		var sumErr, sumSq float64
		var exact float64
		const trials = 40
		for trial := 0; trial < trials; trial++ {
			w := text(trial+1, words+shift)
			a := strings.Join(w[:words], " ")
			b := strings.Join(w[shift:], " ")
			exact = jaccard(a, b)
			h.Signature(&s, a, sa)
			h.Signature(&s, b, sb)
			d := Jaccard(sa, sb) - exact
			sumErr += d
			sumSq += d * d
		}
		bias, rms := sumErr/trials, math.Sqrt(sumSq/trials)
		sd := math.Sqrt(exact*(1-exact)/112) + 0.01
		t.Logf("J=%.3f bias %+.4f rms %.4f (theory %.4f)", exact, bias, rms, sd)
		if math.Abs(bias) > 0.6*sd+0.01 || rms > 2*sd {
			t.Errorf("J=%.3f: bias %+.4f rms %.4f, theory sd %.4f", exact, bias, rms, sd)
		}
	}
}

func TestEqualAndMinEqual(t *testing.T) {
	a := []byte("abcdefghijklmnopqrstu")
	b := []byte("abXdefghijkYmnopqrstZ")
	if got := Equal(a, b); got != len(a)-3 {
		t.Errorf("Equal = %d, want %d", got, len(a)-3)
	}
	for _, th := range []float64{0, 0.5, 0.8, 1} {
		m := MinEqual(112, th)
		sig := make([]byte, 112)
		other := make([]byte, 112)
		for i := range other {
			if i >= m {
				other[i] = 1
			}
		}
		if j := Jaccard(sig, other); j < th-1e-9 {
			t.Errorf("threshold %v: %d equal gives J %.4f", th, m, j)
		}
	}
	if _, err := New(0, 112, 1); err == nil {
		t.Error("ngram 0 accepted")
	}
	if _, err := New(5, 0, 1); err == nil {
		t.Error("0 permutations accepted")
	}
}

func FuzzTokens(f *testing.F) {
	f.Add("Hello, wörld 東京 ภาษา\x00\xff")
	f.Fuzz(func(t *testing.T, text string) {
		var s Scratch
		toks := s.Tokens(text)
		if want := tokensReference(text); fmt.Sprint(toks) != fmt.Sprint(want) {
			t.Fatalf("Tokens(%q) = %v, reference %v", text, toks, want)
		}
		if len(toks) > len(text) {
			t.Fatalf("%d tokens from %d bytes", len(toks), len(text))
		}
		h, _ := New(3, 16, 1)
		sig := make([]byte, 16)
		h.Signature(&s, text, sig)
		sig2 := make([]byte, 16)
		h.Signature(&s, text, sig2)
		if string(sig) != string(sig2) {
			t.Fatal("signature not deterministic")
		}
	})
}

func BenchmarkSignature(b *testing.B) {
	h, _ := New(5, 112, 1)
	docs := make([]string, 64)
	size := 0
	for i := range docs {
		docs[i] = strings.Join(text(i, 800), " ")
		size += len(docs[i])
	}
	var s Scratch
	sig := make([]byte, 112)
	b.SetBytes(int64(size))
	for b.Loop() {
		for _, d := range docs {
			h.Signature(&s, d, sig)
		}
	}
}
