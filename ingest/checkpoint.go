package ingest

import (
	"encoding/json"
	"fmt"
	"io"
)

// The jsonl and parquet sinks are resumable (pipelines.Checkpointer): the
// runner calls Commit, which closes the open shard, and then Snapshot, so a
// snapshot is the manifest of the committed shards. Restore continues the
// numbering after them; the shards themselves are already on storage.

func snapshotShards(w io.Writer, s *shardSet) error {
	if s.open != nil {
		return fmt.Errorf("snapshot with shard %s still open (Commit first)", s.open.name)
	}
	return json.NewEncoder(w).Encode(s.man)
}

func restoreShards(r io.Reader, s *shardSet) error {
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if m.Format != s.man.Format || m.Compression != s.man.Compression {
		return fmt.Errorf("restore: the checkpoint holds %s/%s shards, the sink writes %s/%s", m.Format, m.Compression, s.man.Format, s.man.Compression)
	}
	s.man = m
	return nil
}

// Snapshot implements pipelines.Checkpointer.
func (s *jsonlSink) Snapshot(w io.Writer) error { return snapshotShards(w, &s.shards) }

// Restore implements pipelines.Checkpointer.
func (s *jsonlSink) Restore(r io.Reader) error { return restoreShards(r, &s.shards) }

// Snapshot implements pipelines.Checkpointer.
func (s *parquetSink) Snapshot(w io.Writer) error { return snapshotShards(w, &s.shards) }

// Restore implements pipelines.Checkpointer.
func (s *parquetSink) Restore(r io.Reader) error { return restoreShards(r, &s.shards) }
