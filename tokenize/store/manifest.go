package store

import (
	"encoding/json"
	"fmt"
)

// File names inside a store.
const (
	ManifestFile  = "manifest.json"
	TokenizerFile = "tokenizer.json"
	// ValDir is the folder, inside a training store, of the validation store
	// the tokens sink writes when val_fraction > 0.
	ValDir = "val"
	// LLMCDir holds the llm.c copies of the shards when the writer makes them.
	LLMCDir = "llmc"
)

// Format names the layout in Manifest.Format.
const Format = "megatron-mmidx-v1"

// Manifest describes a complete store. It is written last, so its presence
// means every shard it lists is complete.
type Manifest struct {
	Format    string `json:"format"`
	Tokenizer string `json:"tokenizer"` // name ("gpt2") or the path it was loaded from
	// TokenizerFile is the saved tokenizer.json, relative to the store; ""
	// when the writer was given none.
	TokenizerFile string `json:"tokenizer_file,omitempty"`
	VocabSize     int    `json:"vocab_size"`
	// EOT is the end-of-text id appended after every document, or -1.
	EOT         int32             `json:"eot"`
	DType       DType             `json:"dtype"`
	Documents   int64             `json:"documents"`
	Tokens      int64             `json:"tokens"` // end-of-text tokens included
	ShardTokens int64             `json:"shard_tokens"`
	Shards      []Shard           `json:"shards"`
	Domains     map[string]Counts `json:"domains"`
	// LLMC lists the llm.c copies of the shards, relative to the store.
	LLMC []string `json:"llmc,omitempty"`
}

// Counts are a document and token count.
type Counts struct {
	Documents int64 `json:"documents"`
	Tokens    int64 `json:"tokens"`
}

// Shard is one NAME.bin/NAME.idx pair.
type Shard struct {
	Name      string `json:"name"` // files are Name+".bin" and Name+".idx"
	Documents int64  `json:"documents"`
	Tokens    int64  `json:"tokens"`
	Bytes     int64  `json:"bytes"`  // of the .bin
	SHA256    string `json:"sha256"` // of the .bin, hex
	IdxBytes  int64  `json:"idx_bytes"`
	IdxSHA256 string `json:"idx_sha256"`
	// BlockCRC32C holds the CRC-32C (Castagnoli) of each BlockSize-byte block
	// of the .bin, so verify can name where a corrupted shard differs.
	BlockSize   int64    `json:"block_size"`
	BlockCRC32C []uint32 `json:"block_crc32c"`
}

// Bin and Idx return the shard's file names.
func (s Shard) Bin() string { return s.Name + ".bin" }

// Idx returns the shard's index file name.
func (s Shard) Idx() string { return s.Name + ".idx" }

// ParseManifest decodes and checks a manifest: the format, the type, and
// that the totals agree with the shards and the domains.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	return m, m.check()
}

func (m *Manifest) check() error {
	if m.Format != Format {
		return fmt.Errorf("manifest: format %q, want %q", m.Format, Format)
	}
	if m.DType.Size() == 0 {
		return fmt.Errorf("manifest: dtype %q, want uint16 or int32", m.DType)
	}
	if m.VocabSize <= 0 {
		return fmt.Errorf("manifest: vocab_size %d, want a positive size", m.VocabSize)
	}
	var docs, toks int64
	seen := map[string]bool{}
	for i, s := range m.Shards {
		if s.Name == "" || !validName(s.Name) {
			return fmt.Errorf("manifest: shard %d: bad name %q", i, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("manifest: shard %q listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Documents < 0 || s.Tokens < 0 || s.Bytes != s.Tokens*int64(m.DType.Size()) {
			return fmt.Errorf("manifest: shard %s: %d tokens of %s do not make %d bytes", s.Name, s.Tokens, m.DType, s.Bytes)
		}
		docs += s.Documents
		toks += s.Tokens
	}
	if docs != m.Documents || toks != m.Tokens {
		return fmt.Errorf("manifest: shards hold %d documents and %d tokens, totals say %d and %d", docs, toks, m.Documents, m.Tokens)
	}
	var ddocs, dtoks int64
	for _, c := range m.Domains {
		ddocs += c.Documents
		dtoks += c.Tokens
	}
	if len(m.Domains) > 0 && (ddocs != m.Documents || dtoks != m.Tokens) {
		return fmt.Errorf("manifest: domains hold %d documents and %d tokens, totals say %d and %d", ddocs, dtoks, m.Documents, m.Tokens)
	}
	return nil
}

// validName accepts a shard name that stays inside the store folder.
func validName(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
		if !ok {
			return false
		}
	}
	return s != "." && s != ".."
}
