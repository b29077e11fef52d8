package ingest

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines"
)

func init() {
	pipelines.RegisterSink(pipelines.Spec{
		Name: "jsonl",
		Doc:  "a directory of JSON Lines shards (part-00000.jsonl[.gz|.zst]) and manifest.json; every column but the token ids",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true, Doc: "output directory (local or s3://)"},
			{Name: "compression", Type: pipelines.String, Default: "none", Enum: []string{"none", "gzip", "zstd"},
				Doc: "shard compression"},
			{Name: "shard_bytes", Type: pipelines.Size, Default: int64(256 << 20), Min: pipelines.Bound(1),
				Doc: "start a new shard once a shard holds this many (uncompressed) bytes"},
		},
	}, newJSONLSink)
}

// jsonlSink writes documents as JSON lines into size-bounded shards. Write
// encodes a batch's rows in parallel (Env.Workers) and writes them in
// order, so the bytes never depend on the worker count.
type jsonlSink struct {
	env     *pipelines.Env
	shards  shardSet
	codec   compression
	limit   int64
	workers int

	zw     io.Writer    // the open shard's (compressing) writer
	zclose func() error // ends the compressed stream
	raw    int64        // uncompressed bytes in the open shard

	bufs [][]byte // per-part encode buffers, reused
	ends [][]int  // per-part row end offsets
}

func newJSONLSink(p pipelines.Params, env *pipelines.Env) (pipelines.Sink, error) {
	codec := compression(p.String("compression"))
	s := &jsonlSink{env: env, codec: codec, limit: p.Size("shard_bytes"), workers: env.Workers}
	s.shards = shardSet{dir: env.Path(p.String("path")), ext: ".jsonl" + codec.extension(),
		man: Manifest{Format: "jsonl", Compression: string(codec)}}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	return s, nil
}

// minRowsPerPart keeps tiny batches on one goroutine.
const minRowsPerPart = 64

// Write appends the batch's rows to the shards.
func (s *jsonlSink) Write(ctx context.Context, rec arrow.Record) error {
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	enc := newRowEncoder(rec)
	parts := max(1, min(s.workers, n/minRowsPerPart))
	for len(s.bufs) < parts {
		s.bufs = append(s.bufs, nil)
		s.ends = append(s.ends, nil)
	}
	encode := func(p int) {
		lo, hi := p*n/parts, (p+1)*n/parts
		buf, ends := s.bufs[p][:0], s.ends[p][:0]
		for i := lo; i < hi; i++ {
			buf = enc.appendRow(buf, i)
			ends = append(ends, len(buf))
		}
		s.bufs[p], s.ends[p] = buf, ends
	}
	if parts == 1 {
		encode(0)
	} else {
		var wg sync.WaitGroup
		for p := range parts {
			wg.Go(func() { encode(p) })
		}
		wg.Wait()
	}
	for p := range parts {
		if err := s.writeRows(ctx, s.bufs[p], s.ends[p]); err != nil {
			return err
		}
		if cap(s.bufs[p]) > 64<<20 { // do not keep a huge buffer after one huge document
			s.bufs[p] = nil
		}
	}
	return nil
}

// writeRows writes encoded rows, cutting shards at row boundaries.
func (s *jsonlSink) writeRows(ctx context.Context, buf []byte, ends []int) error {
	start, prev := 0, 0
	for _, end := range ends {
		if s.zw == nil {
			if err := s.openShard(ctx); err != nil {
				return err
			}
		}
		s.shards.open.docs++
		s.raw += int64(end - prev)
		prev = end
		if s.raw >= s.limit {
			if _, err := s.zw.Write(buf[start:end]); err != nil {
				return s.writeErr(err)
			}
			start = end
			if err := s.finishShard(); err != nil {
				return err
			}
		}
	}
	if start < len(buf) {
		if _, err := s.zw.Write(buf[start:]); err != nil {
			return s.writeErr(err)
		}
	}
	return nil
}

func (s *jsonlSink) writeErr(err error) error {
	return fmt.Errorf("jsonl sink: write %s/%s: %w", s.shards.dir, s.shards.open.name, err)
}

func (s *jsonlSink) openShard(ctx context.Context) error {
	o, err := s.shards.create(ctx)
	if err != nil {
		return fmt.Errorf("jsonl sink: %w", err)
	}
	s.zw, s.zclose, err = newCompressor(o, s.codec)
	if err != nil {
		s.shards.abort()
		return fmt.Errorf("jsonl sink: %w", err)
	}
	s.raw = 0
	return nil
}

func (s *jsonlSink) finishShard() error {
	if s.zw == nil {
		return nil
	}
	if err := s.zclose(); err != nil {
		return s.writeErr(err)
	}
	s.zw, s.zclose = nil, nil
	if err := s.shards.commit(); err != nil {
		return fmt.Errorf("jsonl sink: %w", err)
	}
	return nil
}

// Commit closes the open shard so that everything written is durable.
func (s *jsonlSink) Commit(ctx context.Context) error { return s.finishShard() }

// Close commits the last shard and writes manifest.json.
func (s *jsonlSink) Close(ctx context.Context) error {
	if err := s.finishShard(); err != nil {
		return err
	}
	if err := s.shards.writeManifest(ctx); err != nil {
		return fmt.Errorf("jsonl sink: %w", err)
	}
	return nil
}

// Abort removes the shard being written; committed shards stay.
func (s *jsonlSink) Abort() error {
	s.zw, s.zclose = nil, nil
	return s.shards.abort()
}
