package bpe

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"

	"github.com/pkoukk/tiktoken-go-loader/assets"

	"github.com/curatehq/curate/pipelines/storage"
)

// EndOfText is the end-of-text special token of the GPT tokenizers.
const EndOfText = "<|endoftext|>"

// builtin describes a vocabulary that ships with the binary.
type builtin struct {
	file     string // rank file in tiktoken-go-loader's assets
	split    splitter
	specials map[string]int32
}

var builtins = map[string]builtin{
	"gpt2": {file: "r50k_base.tiktoken", split: gpt2Splitter{},
		specials: map[string]int32{EndOfText: 50256}},
	"p50k_base": {file: "p50k_base.tiktoken", split: gpt2Splitter{},
		specials: map[string]int32{EndOfText: 50256}},
	"cl100k_base": {file: "cl100k_base.tiktoken", split: cl100kSplitter{},
		specials: map[string]int32{EndOfText: 100257, "<|fim_prefix|>": 100258,
			"<|fim_middle|>": 100259, "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}},
}

// aliases maps other names of the built-in vocabularies to their key.
var aliases = map[string]string{"r50k_base": "gpt2"}

// Builtins lists the names Load accepts besides paths.
func Builtins() []string { return []string{"gpt2", "r50k_base", "p50k_base", "cl100k_base"} }

var (
	loadMu sync.Mutex
	loaded = map[string]*Tokenizer{}
)

// Load returns the tokenizer named "gpt2" (= "r50k_base"), "p50k_base" or
// "cl100k_base", or reads a Hugging Face tokenizer.json (a byte-level BPE
// model) from a local path or storage URL. Built-in vocabularies are parsed
// once per process and shared: a Tokenizer is immutable.
func Load(ctx context.Context, nameOrPath string) (*Tokenizer, error) {
	key := nameOrPath
	if a, ok := aliases[key]; ok {
		key = a
	}
	b, ok := builtins[key]
	if !ok {
		data, err := storage.ReadFile(ctx, nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("tokenizer %q: not a built-in vocabulary (%v), and cannot read it as a file: %w",
				nameOrPath, Builtins(), err)
		}
		t, err := FromHFJSON(data)
		if err != nil {
			return nil, fmt.Errorf("tokenizer %s: %w", nameOrPath, err)
		}
		t.name = nameOrPath
		return t, nil
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	if t := loaded[key]; t != nil {
		return t, nil
	}
	data, err := assets.Assets.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", key, err)
	}
	ranks, err := parseTiktoken(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %s: %w", key, b.file, err)
	}
	t, err := newTiktoken(key, ranks, b.specials, b.split)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", key, err)
	}
	loaded[key] = t
	return t, nil
}

// parseTiktoken reads a tiktoken rank file: one "base64(token) rank" a line.
// It returns the tokens indexed by rank.
func parseTiktoken(data []byte) ([]string, error) {
	var tokens []string
	buf := make([]byte, 0, 256)
	for lineNo := 1; len(data) > 0; lineNo++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("line %d: want \"TOKEN RANK\"", lineNo)
		}
		rank, err := strconv.Atoi(string(line[sp+1:]))
		if err != nil || rank < 0 || rank >= maxVocab {
			return nil, fmt.Errorf("line %d: bad rank %q", lineNo, line[sp+1:])
		}
		n := base64.StdEncoding.DecodedLen(sp)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		n, err = base64.StdEncoding.Decode(buf[:n], line[:sp])
		if err != nil || n == 0 {
			return nil, fmt.Errorf("line %d: bad token %q", lineNo, line[:sp])
		}
		for len(tokens) <= rank {
			tokens = append(tokens, "")
		}
		if tokens[rank] != "" {
			return nil, fmt.Errorf("line %d: rank %d given twice", lineNo, rank)
		}
		tokens[rank] = string(buf[:n])
	}
	return tokens, nil
}

// newTiktoken builds a tokenizer with tiktoken's merge rule: two adjacent
// tokens merge when their concatenation is a token, lowest rank (= id)
// first, and a piece that is a token is never split.
func newTiktoken(name string, tokens []string, specials map[string]int32, split splitter) (*Tokenizer, error) {
	t := &Tokenizer{name: name, vocab: make(map[string]int32, len(tokens)), wholePiece: true, split: split}
	for id, tok := range tokens {
		if tok == "" {
			continue
		}
		if _, dup := t.vocab[tok]; dup {
			return nil, fmt.Errorf("token %q has two ids", tok)
		}
		t.vocab[tok] = int32(id)
	}
	pairs := newPairTable(3 * len(tokens))
	for id, tok := range tokens {
		for k := 1; k < len(tok); k++ {
			a, okA := t.vocab[tok[:k]]
			b, okB := t.vocab[tok[k:]]
			if okA && okB {
				pairs.put(a, b, uint32(id), int32(id))
			}
		}
	}
	t.pairs = pairs
	if err := t.finish(tokens, specials); err != nil {
		return nil, err
	}
	return t, nil
}

// finish fills the id table, byte ids and special tokens.
func (t *Tokenizer) finish(tokens []string, specials map[string]int32) error {
	initClasses()
	for b := 0; b < 256; b++ {
		id, ok := t.vocab[string([]byte{byte(b)})]
		if !ok {
			return fmt.Errorf("not a byte-level vocabulary: byte 0x%02x has no token", b)
		}
		t.byteID[b] = id
	}
	t.pairs.compact(&t.byteID)
	t.maxID = int32(len(tokens) - 1)
	t.specials = map[string]int32{}
	t.eot = -1
	for s, id := range specials {
		if id < 0 || id >= maxVocab {
			return fmt.Errorf("special token %q has id %d, outside 0..%d", s, id, maxVocab-1)
		}
		if id > t.maxID {
			t.maxID = id
		}
		t.specials[s] = id
	}
	t.tokens = make([]string, t.maxID+1)
	copy(t.tokens, tokens)
	for s, id := range specials {
		if t.tokens[id] != "" && t.tokens[id] != s {
			return fmt.Errorf("special token %q has id %d, which is token %q", s, id, t.tokens[id])
		}
		t.tokens[id] = s
	}
	for _, name := range eotNames {
		if id, ok := specials[name]; ok {
			t.eot = id
			break
		}
	}
	if t.eot < 0 {
		// no well-known name: the special token with the lowest id
		for _, id := range specials {
			if t.eot < 0 || id < t.eot {
				t.eot = id
			}
		}
	}
	return nil
}

// maxVocab bounds ids, so that a corrupt file cannot make Load allocate
// gigabytes.
const maxVocab = idMask

// eotNames are the end-of-text tokens of well-known tokenizers, in the
// order they are looked for.
var eotNames = []string{EndOfText, "<|end_of_text|>", "</s>", "<eos>", "<|eot_id|>", "[SEP]"}
