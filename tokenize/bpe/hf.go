package bpe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Hugging Face's byte-level BPE writes each byte of a token as a printable
// character (GPT-2's bytes_to_unicode): printable Latin-1 bytes stand for
// themselves, the others map to U+0100 and up in byte order.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevel writes token bytes in the byte-level alphabet.
func byteLevel(tok string) string {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		b.WriteRune(byteToRune[tok[i]])
	}
	return b.String()
}

// fromByteLevel reads a token written in the byte-level alphabet.
func fromByteLevel(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		c, ok := runeToByte[r]
		if !ok {
			return "", false
		}
		b = append(b, c)
	}
	return string(b), true
}

// The pre-tokenizer regular expressions that have a scanner here. Others
// are refused: curate does not run a regular expression engine per piece.
var (
	patternsGPT2 = []string{
		`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
		`'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
		`'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`,
	}
	patternsCL100K = []string{
		`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`,
	}
	// the older form, in Hugging Face conversions of cl100k_base and in
	// Llama 3's tokenizer.json
	patternsCL100KLegacy = []string{
		`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	}
)

// hfFile is the part of a tokenizer.json that curate reads and writes.
type hfFile struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  *hfPreTok       `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         hfModel         `json:"model"`
}

type hfAddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfPreTok struct {
	Type           string     `json:"type"`
	AddPrefixSpace *bool      `json:"add_prefix_space,omitempty"`
	TrimOffsets    *bool      `json:"trim_offsets,omitempty"`
	UseRegex       *bool      `json:"use_regex,omitempty"`
	Pattern        *hfPattern `json:"pattern,omitempty"`
	Behavior       string     `json:"behavior,omitempty"`
	Invert         *bool      `json:"invert,omitempty"`
	PreTokenizers  []hfPreTok `json:"pretokenizers,omitempty"`
}

type hfPattern struct {
	Regex  string `json:"Regex,omitempty"`
	String string `json:"String,omitempty"`
}

type hfModel struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int32 `json:"vocab"`
	Merges                  []hfMerge        `json:"merges"`
}

// hfMerge is one merge, written "a b" by older versions of tokenizers and
// ["a", "b"] by newer ones.
type hfMerge [2]string

func (m *hfMerge) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		a, c, ok := strings.Cut(s, " ")
		if !ok || a == "" || c == "" || strings.Contains(c, " ") {
			return fmt.Errorf("merge %q: want two tokens separated by one space", s)
		}
		m[0], m[1] = a, c
		return nil
	}
	var pair []string
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("merge %s: want \"A B\" or [\"A\", \"B\"]", truncate(string(b), 40))
	}
	m[0], m[1] = pair[0], pair[1]
	return nil
}

func (m hfMerge) MarshalJSON() ([]byte, error) { return json.Marshal([]string{m[0], m[1]}) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// FromHFJSON builds a tokenizer from the bytes of a Hugging Face
// tokenizer.json holding a byte-level BPE model. Its merges apply by merge
// rank (the order of the merges list); with "ignore_merges" a piece that is
// a token encodes as that token.
func FromHFJSON(data []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a valid tokenizer.json: %w", err)
	}
	if f.Model.Type != "BPE" {
		if f.Model.Type == "" && f.Model.Vocab == nil {
			return nil, errors.New("not a tokenizer.json: no model")
		}
		return nil, fmt.Errorf("model type %q is not supported: want a byte-level BPE model", f.Model.Type)
	}
	if n := strings.TrimSpace(string(f.Normalizer)); n != "" && n != "null" {
		return nil, fmt.Errorf("normalizer %s is not supported: byte-level BPE models have none", truncate(n, 60))
	}
	if f.Model.ContinuingSubwordPrefix != nil && *f.Model.ContinuingSubwordPrefix != "" ||
		f.Model.EndOfWordSuffix != nil && *f.Model.EndOfWordSuffix != "" {
		return nil, errors.New("continuing_subword_prefix and end_of_word_suffix are not supported")
	}
	split, err := splitterFor(f.PreTokenizer)
	if err != nil {
		return nil, err
	}
	if len(f.Model.Vocab) == 0 {
		return nil, errors.New("model has an empty vocab")
	}
	maxID := int32(-1)
	for _, id := range f.Model.Vocab {
		if id > maxID {
			maxID = id
		}
	}
	if maxID >= maxVocab {
		return nil, fmt.Errorf("vocab id %d is too large", maxID)
	}
	tokens := make([]string, maxID+1)
	t := &Tokenizer{vocab: make(map[string]int32, len(f.Model.Vocab)), split: split,
		wholePiece: f.Model.IgnoreMerges, hfJSON: append([]byte(nil), data...)}
	for key, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab: %q has negative id %d", key, id)
		}
		tok, ok := fromByteLevel(key)
		if !ok || tok == "" {
			return nil, fmt.Errorf("vocab: %q is not written in the byte-level alphabet", key)
		}
		if tokens[id] != "" {
			return nil, fmt.Errorf("vocab: id %d is given to both %q and %q", id, byteLevel(tokens[id]), key)
		}
		tokens[id] = tok
		t.vocab[tok] = id
	}
	t.pairs = newPairTable(len(f.Model.Merges))
	for rank, m := range f.Model.Merges {
		a, okA := f.Model.Vocab[m[0]]
		b, okB := f.Model.Vocab[m[1]]
		c, okC := f.Model.Vocab[m[0]+m[1]]
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("merge %d (%q %q): a token is missing from the vocab", rank+1, m[0], m[1])
		}
		t.pairs.put(a, b, uint32(rank), c)
	}
	specials := map[string]int32{}
	for _, at := range f.AddedTokens {
		if at.ID < 0 || at.Content == "" {
			return nil, fmt.Errorf("added token %q has id %d", at.Content, at.ID)
		}
		if int(at.ID) < len(tokens) && tokens[at.ID] != "" {
			if byteLevel(tokens[at.ID]) == at.Content || tokens[at.ID] == at.Content {
				// an added token that is also in the vocab: keep its bytes as
				// the vocab has them
				delete(t.vocab, tokens[at.ID])
				tokens[at.ID] = ""
			} else {
				return nil, fmt.Errorf("added token %q has id %d, which the vocab gives to %q",
					at.Content, at.ID, byteLevel(tokens[at.ID]))
			}
		}
		specials[at.Content] = at.ID
	}
	if err := t.finish(tokens, specials); err != nil {
		return nil, err
	}
	return t, nil
}

// splitterFor picks the scanner for a tokenizer.json pre_tokenizer.
func splitterFor(p *hfPreTok) (splitter, error) {
	if p == nil {
		return nil, errors.New("pre_tokenizer is null: a byte-level BPE needs a ByteLevel pre-tokenizer")
	}
	switch p.Type {
	case "ByteLevel":
		if p.AddPrefixSpace != nil && *p.AddPrefixSpace {
			return nil, errors.New("ByteLevel pre-tokenizer with add_prefix_space is not supported")
		}
		if p.UseRegex != nil && !*p.UseRegex {
			return nil, errors.New("ByteLevel pre-tokenizer without use_regex (no split) is not supported")
		}
		return gpt2Splitter{}, nil
	case "Sequence":
		if len(p.PreTokenizers) != 2 || p.PreTokenizers[0].Type != "Split" || p.PreTokenizers[1].Type != "ByteLevel" {
			return nil, errors.New("pre_tokenizer Sequence: want [Split, ByteLevel]")
		}
		s, bl := p.PreTokenizers[0], p.PreTokenizers[1]
		if bl.UseRegex != nil && *bl.UseRegex || bl.AddPrefixSpace != nil && *bl.AddPrefixSpace {
			return nil, errors.New("pre_tokenizer Sequence: the ByteLevel step must have use_regex and add_prefix_space false")
		}
		if s.Behavior != "" && s.Behavior != "Isolated" || s.Invert != nil && *s.Invert || s.Pattern == nil {
			return nil, errors.New("pre_tokenizer Split: want a Regex pattern, behavior Isolated, not inverted")
		}
		for _, pat := range patternsGPT2 {
			if s.Pattern.Regex == pat {
				return gpt2Splitter{}, nil
			}
		}
		for _, pat := range patternsCL100K {
			if s.Pattern.Regex == pat {
				return cl100kSplitter{}, nil
			}
		}
		for _, pat := range patternsCL100KLegacy {
			if s.Pattern.Regex == pat {
				return cl100kSplitter{legacy: true}, nil
			}
		}
		return nil, fmt.Errorf("pre_tokenizer Split pattern %q is not supported: curate has scanners for the GPT-2 and cl100k_base patterns",
			truncate(s.Pattern.Regex, 80))
	}
	return nil, fmt.Errorf("pre_tokenizer type %q is not supported: want ByteLevel", p.Type)
}

// HFJSON returns a Hugging Face tokenizer.json for this tokenizer, which
// token stores keep so that inspect and generate can decode. A tokenizer
// loaded from a tokenizer.json returns that file unchanged. For a tiktoken
// vocabulary the merges are recovered from the ranks (each token's last
// merge is the split that BPE with the lower ranks gives) and ignore_merges
// is set, as tiktoken encodes a piece that is a token as that token.
func (t *Tokenizer) HFJSON() ([]byte, error) {
	if t.hfJSON != nil {
		return append([]byte(nil), t.hfJSON...), nil
	}
	if t.merges != nil {
		return t.writeHFJSON(t.merges)
	}
	merges, err := t.recoverMerges()
	if err != nil {
		return nil, err
	}
	return t.writeHFJSON(merges)
}

// mergePair is one learned or recovered merge: left and right token ids,
// and the id of the token they make.
type mergePair struct{ a, b, id int32 }

// recoverMerges returns, in rank order, the pair that forms each token of
// a tiktoken vocabulary longer than one byte.
func (t *Tokenizer) recoverMerges() ([]mergePair, error) {
	st := newEncoderState()
	var out []mergePair
	for id, tok := range t.tokens {
		if len(tok) < 2 {
			continue
		}
		if vid, ok := t.vocab[tok]; !ok || vid != int32(id) {
			continue // a special token
		}
		parts := st.mergeBelow(t, tok, uint32(id))
		if len(parts) != 2 {
			return nil, fmt.Errorf("token %d (%q) is not the merge of two tokens of lower rank", id, tok)
		}
		out = append(out, mergePair{parts[0], parts[1], int32(id)})
	}
	return out, nil
}

// mergeBelow merges piece using only merges of rank below limit.
func (st *encoderState) mergeBelow(t *Tokenizer, piece string, limit uint32) []int32 {
	ids := st.ids[:0]
	for i := 0; i < len(piece); i++ {
		ids = append(ids, t.byteID[piece[i]])
	}
	for len(ids) > 1 {
		best, bi, bm := limit, -1, int32(0)
		for i := 0; i+1 < len(ids); i++ {
			if r, m := t.pairs.get(ids[i], ids[i+1]); r < best {
				best, bi, bm = r, i, m
			}
		}
		if bi < 0 {
			break
		}
		ids[bi] = bm
		ids = append(ids[:bi+1], ids[bi+2:]...)
	}
	st.ids = ids
	return ids
}

// writeHFJSON writes a tokenizer.json with the given merges in rank order.
func (t *Tokenizer) writeHFJSON(merges []mergePair) ([]byte, error) {
	f := hfFile{Version: "1.0", Truncation: json.RawMessage("null"), Padding: json.RawMessage("null"),
		Normalizer: json.RawMessage("null")}
	specials := make([]hfAddedToken, 0, len(t.specials))
	for s, id := range t.specials {
		specials = append(specials, hfAddedToken{ID: id, Content: s, Normalized: false, Special: true})
	}
	sort.Slice(specials, func(i, j int) bool { return specials[i].ID < specials[j].ID })
	f.AddedTokens = specials
	no, yes := false, true
	switch sp := t.split.(type) {
	case gpt2Splitter:
		f.PreTokenizer = &hfPreTok{Type: "ByteLevel", AddPrefixSpace: &no, TrimOffsets: &yes, UseRegex: &yes}
	case cl100kSplitter:
		pat := patternsCL100K[0]
		if sp.legacy {
			pat = patternsCL100KLegacy[0]
		}
		f.PreTokenizer = &hfPreTok{Type: "Sequence", PreTokenizers: []hfPreTok{
			{Type: "Split", Pattern: &hfPattern{Regex: pat}, Behavior: "Isolated", Invert: &no},
			{Type: "ByteLevel", AddPrefixSpace: &no, TrimOffsets: &yes, UseRegex: &no},
		}}
	default:
		return nil, fmt.Errorf("tokenizer %s: its pre-tokenizer has no tokenizer.json form", t.name)
	}
	f.PostProcessor = json.RawMessage(`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`)
	f.Decoder = json.RawMessage(`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`)
	// The model is written by hand: vocab in id order, one entry a line,
	// which encoding/json would neither do nor do quickly.
	out := struct {
		hfFile
		Model json.RawMessage `json:"model"`
	}{hfFile: f, Model: json.RawMessage(`"MODEL"`)}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<|endoftext|>", not "\u003c|endoftext|\u003e"
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	head := buf.Bytes()
	i := bytes.LastIndex(head, []byte(`"MODEL"`))
	b := make([]byte, 0, len(head)+40*len(t.vocab)+30*len(merges))
	b = append(b, head[:i]...)
	b = fmt.Appendf(b, "{\n  \"type\": \"BPE\",\n  \"dropout\": null,\n  \"unk_token\": null,\n"+
		"  \"continuing_subword_prefix\": \"\",\n  \"end_of_word_suffix\": \"\",\n  \"fuse_unk\": false,\n"+
		"  \"byte_fallback\": false,\n  \"ignore_merges\": %t,\n  \"vocab\": {", t.wholePiece)
	ids := make([]int32, 0, len(t.vocab))
	for _, id := range t.vocab {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for k, id := range ids {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n   "...)
		b = appendJSONString(b, byteLevel(t.tokens[id]))
		b = append(b, ": "...)
		b = strconv.AppendInt(b, int64(id), 10)
	}
	b = append(b, "\n  },\n  \"merges\": ["...)
	for k, m := range merges {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n   ["...)
		b = appendJSONString(b, byteLevel(t.tokens[m.a]))
		b = append(b, ", "...)
		b = appendJSONString(b, byteLevel(t.tokens[m.b]))
		b = append(b, ']')
	}
	b = append(b, "\n  ]\n }"...)
	b = append(b, head[i+len(`"MODEL"`):]...)
	return b, nil
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = fmt.Appendf(b, "\\u%04x", c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
