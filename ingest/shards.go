package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines/storage"
)

// ManifestFile is the name of the file a sink writes beside its shards.
const ManifestFile = "manifest.json"

// Manifest describes a sink's output directory. The manifest is the
// authority on which shards belong to the output.
type Manifest struct {
	Format      string      `json:"format"`      // jsonl or parquet
	Compression string      `json:"compression"` // none, gzip, zstd (jsonl); none, snappy, gzip, zstd (parquet)
	Documents   int64       `json:"documents"`
	Bytes       int64       `json:"bytes"`
	Shards      []ShardInfo `json:"shards"`
}

// ShardInfo describes one committed shard.
type ShardInfo struct {
	Name      string `json:"name"` // file name inside the directory
	Documents int64  `json:"documents"`
	Bytes     int64  `json:"bytes"`  // the file's size
	SHA256    string `json:"sha256"` // of the file's bytes
}

// shardSet writes a directory of shards part-00000EXT, part-00001EXT, ...
// one at a time, each created atomically through storage: a shard becomes
// visible only when it is committed, and abort removes the open one.
type shardSet struct {
	dir  string
	ext  string
	man  Manifest
	open *openShard
}

type openShard struct {
	name string
	w    storage.Writer
	hash hash.Hash
	n    int64
	docs int64
}

// Write passes bytes to the storage writer, hashing and counting them.
func (o *openShard) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	o.hash.Write(p[:n])
	o.n += int64(n)
	return n, err
}

// create opens the next shard.
func (s *shardSet) create(ctx context.Context) (*openShard, error) {
	name := fmt.Sprintf("part-%05d%s", len(s.man.Shards), s.ext)
	w, err := storage.Create(ctx, storage.Join(s.dir, name))
	if err != nil {
		return nil, fmt.Errorf("create shard %s: %w", storage.Join(s.dir, name), err)
	}
	s.open = &openShard{name: name, w: w, hash: sha256.New()}
	return s.open, nil
}

// commit makes the open shard durable and records it.
func (s *shardSet) commit() error {
	o := s.open
	if o == nil {
		return nil
	}
	s.open = nil
	if err := o.w.Commit(); err != nil {
		return fmt.Errorf("commit shard %s: %w", storage.Join(s.dir, o.name), err)
	}
	s.man.Shards = append(s.man.Shards, ShardInfo{Name: o.name, Documents: o.docs, Bytes: o.n,
		SHA256: hex.EncodeToString(o.hash.Sum(nil))})
	s.man.Documents += o.docs
	s.man.Bytes += o.n
	return nil
}

// abort removes the open shard.
func (s *shardSet) abort() error {
	if s.open == nil {
		return nil
	}
	err := s.open.w.Abort()
	s.open = nil
	return err
}

// writeManifest writes manifest.json (atomically).
func (s *shardSet) writeManifest(ctx context.Context) error {
	if s.man.Shards == nil {
		s.man.Shards = []ShardInfo{}
	}
	data, err := json.MarshalIndent(s.man, "", "  ")
	if err != nil {
		return err
	}
	path := storage.Join(s.dir, ManifestFile)
	if err := storage.WriteFile(ctx, path, append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// newCompressor wraps w in a stream compressor; the returned closer flushes
// and ends the compressed stream (it does not close w).
func newCompressor(w io.Writer, c compression) (io.Writer, func() error, error) {
	switch c {
	case compressGzip:
		zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return nil, nil, err
		}
		return zw, zw.Close, nil
	case compressZstd:
		// One encoder goroutine keeps the output bytes independent of the machine.
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return zw, zw.Close, nil
	}
	return w, func() error { return nil }, nil
}
