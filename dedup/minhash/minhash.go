// Package minhash is the signature math behind dedup.minhash: shingling a
// text into hashed word (or character) n-grams, MinHash signatures over them,
// their compact b-bit form and the Jaccard estimate between two signatures.
//
// The hot loop costs one 64-bit hash per token, a few multiplications to
// combine n token hashes into one shingle hash, and one multiply-add and a
// compare per permutation; nothing is allocated per shingle. A Hasher is
// immutable after New and safe for concurrent use; the per-call scratch space
// lives in a Scratch, which each worker owns.
package minhash

import (
	"fmt"
	"math"
	"math/bits"
	"unicode"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
)

// Hasher computes MinHash signatures with fixed parameters.
type Hasher struct {
	ngram int
	a, b  []uint64 // per-permutation multiply-add constants (a odd)
}

// New returns a Hasher for word n-grams of size ngram and perms permutations;
// seed fixes the permutations, so equal seeds give comparable signatures.
func New(ngram, perms int, seed uint64) (*Hasher, error) {
	if ngram < 1 {
		return nil, fmt.Errorf("minhash: ngram %d must be at least 1", ngram)
	}
	if perms < 1 || perms > 4096 {
		return nil, fmt.Errorf("minhash: permutations %d must be in 1..4096", perms)
	}
	h := &Hasher{ngram: ngram, a: make([]uint64, perms), b: make([]uint64, perms)}
	s := seed
	for i := range h.a {
		h.a[i] = splitmix(&s) | 1
		h.b[i] = splitmix(&s)
	}
	return h, nil
}

// Perms returns the number of permutations (the signature length).
func (h *Hasher) Perms() int { return len(h.a) }

// NGram returns the shingle size in tokens.
func (h *Hasher) NGram() int { return h.ngram }

func splitmix(s *uint64) uint64 {
	*s += 0x9E3779B97F4A7C15
	z := *s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func fmix(z uint64) uint64 {
	z ^= z >> 33
	z *= 0xFF51AFD7ED558CCD
	z ^= z >> 33
	z *= 0xC4CEB9FE1A85EC53
	z ^= z >> 33
	return z
}

// Scratch is reusable working memory for one goroutine.
type Scratch struct {
	mins   []uint64
	tokens []uint64
	word   []byte
}

// Tokens splits text into lower-cased tokens and returns one 64-bit hash per
// token, reusing the scratch buffer (valid until the next call). Tokens are
// runs of non-space characters, except that each character of a script
// written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer,
// Myanmar) is a token of its own, so n-grams over them are character n-grams.
func (s *Scratch) Tokens(text string) []uint64 {
	toks := s.tokens[:0]
	word := s.word[:0]
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
	s.tokens, s.word = toks, word
	return toks
}

// NoSpaceScript reports whether r belongs to a script written without spaces
// between words, whose characters are tokens of their own.
func NoSpaceScript(r rune) bool {
	if r < 0x0E00 {
		return false
	}
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Thai, r) ||
		unicode.Is(unicode.Lao, r) || unicode.Is(unicode.Khmer, r) ||
		unicode.Is(unicode.Myanmar, r)
}

const shingleMul = 0x9FB21C651E98DF25

// Shingles calls fn with the hash of every n-gram of tokens; a text shorter
// than n tokens (the empty text included) is one shingle of all its tokens.
func Shingles(tokens []uint64, n int, fn func(uint64)) {
	if len(tokens) < n {
		fn(shingle(tokens))
		return
	}
	for i := 0; i+n <= len(tokens); i++ {
		fn(shingle(tokens[i : i+n]))
	}
}

func shingle(win []uint64) uint64 {
	h := uint64(len(win))
	for _, t := range win {
		h = (h ^ t) * shingleMul
		h ^= h >> 29
	}
	return fmix(h)
}

// Signature computes the MinHash signature of text into sig (len Perms) in
// its b-bit form: one byte per permutation (see Byte). It returns the number
// of shingles.
func (h *Hasher) Signature(s *Scratch, text string, sig []byte) int {
	mins := h.Mins(s, text)
	for i, m := range mins {
		sig[i] = Byte(m)
	}
	n := len(s.tokens) - h.ngram + 1
	return max(n, 1)
}

// Mins computes the full 64-bit minima of text, one per permutation, in a
// slice owned by s (valid until the next call).
func (h *Hasher) Mins(s *Scratch, text string) []uint64 {
	p := len(h.a)
	if cap(s.mins) < p {
		s.mins = make([]uint64, p)
	}
	mins := s.mins[:p]
	for i := range mins {
		mins[i] = math.MaxUint64
	}
	toks := s.Tokens(text)
	a, b := h.a[:p], h.b[:p]
	n := h.ngram
	if len(toks) < n {
		update(mins, a, b, shingle(toks))
		return mins
	}
	for i := 0; i+n <= len(toks); i++ {
		update(mins, a, b, shingle(toks[i:i+n]))
	}
	return mins
}

// update folds one shingle hash x into the minima: permutation i maps x to
// a[i]*x + b[i] (mod 2^64), a bijection since a[i] is odd.
func update(mins, a, b []uint64, x uint64) {
	i := 0
	for ; i+8 <= len(mins) && i+8 <= len(a) && i+8 <= len(b); i += 8 {
		m := (*[8]uint64)(mins[i : i+8])
		pa := (*[8]uint64)(a[i : i+8])
		pb := (*[8]uint64)(b[i : i+8])
		m[0] = min(m[0], pa[0]*x+pb[0])
		m[1] = min(m[1], pa[1]*x+pb[1])
		m[2] = min(m[2], pa[2]*x+pb[2])
		m[3] = min(m[3], pa[3]*x+pb[3])
		m[4] = min(m[4], pa[4]*x+pb[4])
		m[5] = min(m[5], pa[5]*x+pb[5])
		m[6] = min(m[6], pa[6]*x+pb[6])
		m[7] = min(m[7], pa[7]*x+pb[7])
	}
	for ; i < len(mins) && i < len(a) && i < len(b); i++ {
		mins[i] = min(mins[i], a[i]*x+b[i])
	}
}

// Byte reduces a 64-bit minimum to its b-bit (8-bit) form. The minimum's
// high bits are mostly zero, so it is mixed first: two different minima
// agree on the byte with probability 1/256.
func Byte(m uint64) byte { return byte((m * 0x9E3779B97F4A7C15) >> 56) }

// Similarity returns the share of equal bytes of two b-bit signatures of
// equal length.
func Similarity(a, b []byte) float64 {
	return float64(Equal(a, b)) / float64(len(a))
}

// Equal counts the positions where a and b hold the same byte.
func Equal(a, b []byte) int {
	n := min(len(a), len(b))
	eq := 0
	i := 0
	for ; i+8 <= n; i += 8 {
		x := le64(a[i:]) ^ le64(b[i:])
		// a byte of x is zero where the signatures agree
		y := (x & 0x7F7F7F7F7F7F7F7F) + 0x7F7F7F7F7F7F7F7F
		y = ^(y | x | 0x7F7F7F7F7F7F7F7F)
		eq += popcount(y)
	}
	for ; i < n; i++ {
		if a[i] == b[i] {
			eq++
		}
	}
	return eq
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func popcount(x uint64) int { return bits.OnesCount64(x) }

// Jaccard turns the share of equal b-bit values into a Jaccard estimate:
// unequal minima still agree on one byte in 256, so p = J + (1-J)/256.
func Jaccard(a, b []byte) float64 {
	const c = 1.0 / 256
	p := Similarity(a, b)
	return max(0, (p-c)/(1-c))
}

// MinEqual returns the fewest equal bytes among perms for which Jaccard
// reaches threshold, so a caller can compare integers in its inner loop.
func MinEqual(perms int, threshold float64) int {
	const c = 1.0 / 256
	p := threshold*(1-c) + c
	return int(math.Ceil(p*float64(perms) - 1e-9))
}
