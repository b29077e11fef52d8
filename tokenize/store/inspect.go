package store

import (
	"context"
	"strings"

	"github.com/curatehq/curate/pipelines/storage"
)

// Summary is what `curate shards inspect` prints: the manifest without the
// per-block checksums, and the validation store's summary when there is one.
type Summary struct {
	Documents   int64             `json:"documents"`
	Tokens      int64             `json:"tokens"` // end-of-text tokens included
	VocabSize   int               `json:"vocab_size"`
	DType       DType             `json:"dtype"`
	Tokenizer   string            `json:"tokenizer"`
	EOT         int32             `json:"eot"`
	Bytes       int64             `json:"bytes"` // of all .bin files
	ShardTokens int64             `json:"shard_tokens"`
	Shards      []ShardSummary    `json:"shards"`
	Domains     map[string]Counts `json:"domains"`
	LLMC        []string          `json:"llmc,omitempty"`
	Val         *Summary          `json:"val,omitempty"`
}

// ShardSummary is one shard in a Summary.
type ShardSummary struct {
	Name      string `json:"name"`
	Documents int64  `json:"documents"`
	Tokens    int64  `json:"tokens"`
	Bytes     int64  `json:"bytes"`
	SHA256    string `json:"sha256"`
}

// Inspect summarises the store in dir from its manifest (and dir/val's).
// It reads no shard: Verify checks them.
func Inspect(ctx context.Context, dir string) (Summary, error) {
	dir = strings.TrimRight(dir, "/")
	m, err := ReadManifest(ctx, dir)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Documents: m.Documents, Tokens: m.Tokens, VocabSize: m.VocabSize, DType: m.DType,
		Tokenizer: m.Tokenizer, EOT: m.EOT, ShardTokens: m.ShardTokens, Shards: []ShardSummary{},
		Domains: m.Domains, LLMC: m.LLMC}
	if s.Domains == nil {
		s.Domains = map[string]Counts{}
	}
	for _, sh := range m.Shards {
		s.Bytes += sh.Bytes
		s.Shards = append(s.Shards, ShardSummary{Name: sh.Name, Documents: sh.Documents, Tokens: sh.Tokens, Bytes: sh.Bytes, SHA256: sh.SHA256})
	}
	if has, err := HasVal(ctx, dir); err != nil {
		return s, err
	} else if has {
		v, err := Inspect(ctx, storage.Join(dir, ValDir))
		if err != nil {
			return s, err
		}
		s.Val = &v
	}
	return s, nil
}

// HasVal reports whether dir holds a validation store in dir/val.
func HasVal(ctx context.Context, dir string) (bool, error) {
	_, err := storage.Stat(ctx, storage.Join(dir, ValDir, ManifestFile))
	if storage.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}
