// Package bpe is curate's byte-level BPE tokenizer: the GPT-2 (r50k_base)
// and cl100k_base vocabularies, byte-level BPE tokenizers from a Hugging
// Face tokenizer.json, and training of new ones.
//
// Encoding gives exactly the ids of tiktoken's encode_ordinary: text is cut
// into pieces by a hand-written scanner that behaves like the vocabulary's
// pre-tokenizer regular expression (see pretok.go), and each piece is merged
// by rank over token ids with a pair table (see merge.go). A Tokenizer is
// immutable after Load or Train and safe for concurrent use; the scratch
// space and piece cache that make Encode allocation-free live in a pool of
// per-goroutine encoder states.
package bpe

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Tokenizer is a byte-level BPE tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	name string

	// tokens maps an id to its bytes (nil for an unused id).
	tokens []string
	// vocab maps the bytes of every ordinary token to its id.
	vocab map[string]int32
	// byteID is the id of each single byte.
	byteID [256]int32
	// pairs answers which token two adjacent tokens merge into, and at what
	// rank.
	pairs pairTable
	// wholePiece makes a piece that is itself a token encode as that token
	// without merging (tiktoken's rule, and Hugging Face's ignore_merges).
	wholePiece bool
	// split is the pre-tokenizer.
	split splitter

	specials map[string]int32 // special token text -> id
	eot      int32
	maxID    int32

	// hfJSON is the tokenizer.json this tokenizer was loaded from, if any.
	hfJSON []byte
	// merges are the merges of a trained tokenizer, in rank order.
	merges []mergePair

	states statePool
}

// Name returns the tokenizer's name: "gpt2", "cl100k_base", or the path it
// was loaded from.
func (t *Tokenizer) Name() string { return t.name }

// VocabSize returns the largest id plus one (special tokens included).
func (t *Tokenizer) VocabSize() int { return int(t.maxID) + 1 }

// EOT returns the end-of-text token's id (50256 for gpt2).
func (t *Tokenizer) EOT() int32 { return t.eot }

// Specials returns the special tokens by text. The map is a copy.
func (t *Tokenizer) Specials() map[string]int32 {
	out := make(map[string]int32, len(t.specials))
	for k, v := range t.specials {
		out[k] = v
	}
	return out
}

// Token returns the bytes of token id ("" and false for an unknown id).
func (t *Tokenizer) Token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.tokens) {
		return "", false
	}
	s := t.tokens[id]
	return s, s != ""
}

// Encode appends the ids of text to dst and returns it. Special-token text
// such as "<|endoftext|>" is encoded as ordinary text (tiktoken's
// encode_ordinary). Text is expected to be valid UTF-8 (sources replace
// invalid bytes); invalid bytes are still encoded, byte by byte, as the
// scanner treats each as a one-byte symbol.
func (t *Tokenizer) Encode(dst []int32, text string) []int32 {
	if text == "" {
		return dst
	}
	st := t.states.get(t)
	for i := 0; i < len(text); {
		j := t.split.next(text, i)
		dst = st.encodePiece(t, dst, text[i:j])
		i = j
	}
	t.states.put(st)
	return dst
}

// Count returns the number of tokens Encode would produce.
func (t *Tokenizer) Count(text string) int {
	st := t.states.get(t)
	n := 0
	for i := 0; i < len(text); {
		j := t.split.next(text, i)
		st.scratch = st.encodePiece(t, st.scratch[:0], text[i:j])
		n += len(st.scratch)
		i = j
	}
	t.states.put(st)
	return n
}

// Decode returns the text of ids: the bytes of each token back to back, so
// that Decode(Encode(x)) == x for every x. A slice that ends inside a
// multi-byte character gives a string that is not valid UTF-8. Unknown ids
// decode to U+FFFD.
func (t *Tokenizer) Decode(ids []int32) string {
	var b strings.Builder
	n := 0
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.tokens) {
			n += len(t.tokens[id])
		}
	}
	b.Grow(n)
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.tokens) && (t.tokens[id] != "") {
			b.WriteString(t.tokens[id])
		} else {
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// statePool keeps encoder states for reuse. Unlike sync.Pool it never drops
// them at a garbage collection, so piece caches stay warm; it holds at most
// as many states as goroutines ever encoded at once.
type statePool struct {
	mu   sync.Mutex
	free []*encoderState
}

func (p *statePool) get(t *Tokenizer) *encoderState {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		st := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return st
	}
	p.mu.Unlock()
	return newEncoderState()
}

func (p *statePool) put(st *encoderState) {
	p.mu.Lock()
	p.free = append(p.free, st)
	p.mu.Unlock()
}
