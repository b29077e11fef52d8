// Package minhash is the signature math behind dedup.minhash: shingling a
// text into hashed word (or character) n-grams, MinHash signatures over them,
// their compact b-bit form and the Jaccard estimate between two signatures.
//
// Two signature schemes share the shingles:
//
//   - OnePermutation (the default): one-permutation hashing with optimal
//     densification (Li, Owen and Zhang 2012; Shrivastava 2017). Each
//     shingle hash is mixed once by a multiply-add, its high bits pick one of
//     the k bins and the bin keeps its least value; bins left empty (texts
//     with few shingles) borrow the value of a bin chosen by a fixed,
//     text-independent hash sequence. Two texts agree on a bin with
//     probability equal to their Jaccard similarity, as with k independent
//     permutations, at a cost of O(1) per shingle instead of O(k).
//   - Classic: k independent multiply-add permutations, each keeping its
//     least value (k operations per shingle), as in most MinHash libraries.
//
// Either way a shingle costs one 64-bit hash per token and a few
// multiplications to combine n token hashes; nothing is allocated per
// shingle. A Hasher is immutable after New and safe for concurrent use; the
// per-call scratch space lives in a Scratch, which each worker owns.
package minhash

import (
	"fmt"
	"math"
	"math/bits"
	"unicode"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
)

// Scheme selects how signatures are computed (see the package doc).
type Scheme int

// Signature schemes.
const (
	OnePermutation Scheme = iota
	Classic
)

func (s Scheme) String() string {
	if s == Classic {
		return "classic"
	}
	return "one-permutation"
}

// Hasher computes MinHash signatures with fixed parameters.
type Hasher struct {
	ngram  int
	scheme Scheme
	seed   uint64
	a, b   []uint64 // per-permutation multiply-add constants (a odd)
}

// New returns a Hasher for word n-grams of size ngram and signatures of
// perms values with the one-permutation scheme; seed fixes the hashing, so
// equal seeds give comparable signatures.
func New(ngram, perms int, seed uint64) (*Hasher, error) {
	return NewScheme(ngram, perms, seed, OnePermutation)
}

// NewScheme is New with a choice of scheme.
func NewScheme(ngram, perms int, seed uint64, scheme Scheme) (*Hasher, error) {
	if ngram < 1 {
		return nil, fmt.Errorf("minhash: ngram %d must be at least 1", ngram)
	}
	if perms < 1 || perms > 4096 {
		return nil, fmt.Errorf("minhash: permutations %d must be in 1..4096", perms)
	}
	h := &Hasher{ngram: ngram, scheme: scheme, seed: seed, a: make([]uint64, perms), b: make([]uint64, perms)}
	s := seed
	for i := range h.a {
		h.a[i] = splitmix(&s) | 1
		h.b[i] = splitmix(&s)
	}
	return h, nil
}

// Perms returns the number of permutations (the signature length).
func (h *Hasher) Perms() int { return len(h.a) }

// Scheme returns the signature scheme.
func (h *Hasher) Scheme() Scheme { return h.scheme }

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
	mins     []uint64
	tokens   []uint64
	shingles []uint64
	orig     []uint64
	buf      []byte
}

// Tokens splits text into lower-cased tokens and returns one 64-bit hash per
// token, reusing the scratch buffer (valid until the next call). Tokens are
// runs of non-space characters, except that each character of a script
// written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer,
// Myanmar) is a token of its own, so n-grams over them are character n-grams.
// A lower-case ASCII word, most words of most text, is hashed in place.
func (s *Scratch) Tokens(text string) []uint64 {
	toks := s.tokens[:0]
	n := len(text)
	for i := 0; i < n; {
		c := text[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(text[i:])
			if unicode.IsSpace(r) {
				i += size
			} else {
				i = s.word(text, i, &toks)
			}
			continue
		}
		if asciiSpace[c] {
			i++
			continue
		}
		start, upper := i, false
		for i < n {
			c = text[i]
			if c >= utf8.RuneSelf || asciiSpace[c] {
				break
			}
			upper = upper || ('A' <= c && c <= 'Z')
			i++
		}
		switch {
		case i < n && c >= utf8.RuneSelf: // the word goes on past ASCII
			i = s.word(text, start, &toks)
		case upper:
			w := s.buf[:0]
			for j := start; j < i; j++ {
				b := text[j]
				if 'A' <= b && b <= 'Z' {
					b += 'a' - 'A'
				}
				w = append(w, b)
			}
			s.buf = w
			toks = append(toks, xxh3.Hash(w))
		default:
			toks = append(toks, xxh3.HashString(text[start:i]))
		}
	}
	s.tokens = toks
	return toks
}

var asciiSpace = [utf8.RuneSelf]bool{' ': true, '\t': true, '\n': true, '\r': true, '\v': true, '\f': true}

// word tokenizes the run of non-space characters starting at text[i] rune by
// rune, appending its tokens, and returns where it ended.
func (s *Scratch) word(text string, i int, toks *[]uint64) int {
	w := s.buf[:0]
	flush := func() {
		if len(w) > 0 {
			*toks = append(*toks, xxh3.Hash(w))
			w = w[:0]
		}
	}
	for i < len(text) {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		if r < utf8.RuneSelf && asciiSpace[r] || r >= utf8.RuneSelf && unicode.IsSpace(r) {
			break
		}
		i += size
		switch {
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			w = append(w, byte(r))
		case NoSpaceScript(r):
			flush()
			w = utf8.AppendRune(w, r)
			flush()
		default:
			w = utf8.AppendRune(w, unicode.ToLower(r))
		}
	}
	flush()
	s.buf = w
	return i
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

// Shingles returns the shingle hashes of the text of the last Signature or
// Mins call, in text order with repeats (valid until the next call).
func (s *Scratch) Shingles() []uint64 { return s.shingles }

// Mins computes the full 64-bit minima of text, one per permutation, in a
// slice owned by s (valid until the next call).
func (h *Hasher) Mins(s *Scratch, text string) []uint64 {
	p := len(h.a)
	if cap(s.mins) < p {
		s.mins = make([]uint64, p)
	}
	mins := s.mins[:p]
	toks := s.Tokens(text)
	sh := s.shingles[:0]
	n := h.ngram
	if len(toks) < n {
		sh = append(sh, shingle(toks))
	} else {
		for i := 0; i+n <= len(toks); i++ {
			sh = append(sh, shingle(toks[i:i+n]))
		}
	}
	s.shingles = sh
	if h.scheme == Classic {
		minima(mins, h.a[:p], h.b[:p], sh)
	} else {
		h.bins(s, mins, sh)
	}
	return mins
}

const empty = math.MaxUint64

// bins is one-permutation hashing: each shingle, mixed once, lands in one
// of len(mins) bins, which keeps its least value; empty bins are then
// filled by optimal densification.
func (h *Hasher) bins(s *Scratch, mins, sh []uint64) {
	k := uint64(len(mins))
	for i := range mins {
		mins[i] = empty
	}
	a, b := h.a[0], h.b[0]
	for _, x := range sh {
		y := a*x + b
		bin := ((y >> 32) * k) >> 32
		if y < mins[bin] {
			mins[bin] = y
		}
	}
	filled := 0
	for _, m := range mins {
		if m != empty {
			filled++
		}
	}
	if filled == len(mins) {
		return
	}
	orig := append(s.orig[:0], mins...)
	s.orig = orig
	for i, m := range orig {
		if m != empty {
			continue
		}
		// The same sequence of candidate bins for every text: two texts
		// that agree on the chosen bin agree on this one.
		z := h.seed ^ uint64(i)*0x9E3779B97F4A7C15
		for attempt := 0; ; attempt++ {
			j := (fmix(z+uint64(attempt)) >> 32 * k) >> 32
			if orig[j] != empty {
				mins[i] = orig[j]
				break
			}
		}
	}
}

// minima sets mins[i] to the least a[i]*x+b[i] (mod 2^64) over the shingle
// hashes x; a[i] is odd, so each map is a bijection (a permutation of the
// hash space). The loop runs permutation by permutation over the shingles,
// held in L1, with four independent running minima, so the inner loop is a
// load, a multiply-add and a compare per shingle.
func minima(mins, a, b, sh []uint64) {
	for i := range mins {
		ai, bi := a[i], b[i]
		m0, m1, m2, m3 := uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(math.MaxUint64)
		j := 0
		for ; j+4 <= len(sh); j += 4 {
			x := (*[4]uint64)(sh[j : j+4])
			m0 = min(m0, ai*x[0]+bi)
			m1 = min(m1, ai*x[1]+bi)
			m2 = min(m2, ai*x[2]+bi)
			m3 = min(m3, ai*x[3]+bi)
		}
		for ; j < len(sh); j++ {
			m0 = min(m0, ai*sh[j]+bi)
		}
		mins[i] = min(m0, m1, m2, m3)
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
