package spill

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// BenchmarkSorter adds and merges 16-byte entries (8-byte key) per op, in
// memory and with a budget small enough to force runs.
func BenchmarkSorter(b *testing.B) {
	const n = 1 << 18
	for _, bc := range []struct {
		name   string
		budget int64
	}{{"memory", 1 << 30}, {"spill", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, 2))
			keys := make([]uint64, n)
			for i := range keys {
				keys[i] = rng.Uint64()
			}
			b.SetBytes(n * 16)
			var k, v [8]byte
			for b.Loop() {
				s, err := NewSorter(b.TempDir(), 8, 8, pipelines.NewBudget(bc.budget))
				if err != nil {
					b.Fatal(err)
				}
				for i, key := range keys {
					binary.BigEndian.PutUint64(k[:], key)
					binary.BigEndian.PutUint64(v[:], uint64(i))
					if err := s.Add(ctx, k[:], v[:]); err != nil {
						b.Fatal(err)
					}
				}
				it, err := s.Iter(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for it.Next() {
				}
				it.Close()
				s.Close()
			}
		})
	}
}

// BenchmarkGather spills documents and gathers them in a random order
// through four buckets: "small" ~4 MB of short documents, "documents"
// ~24 MB of 2 KB texts with 500 token ids each (ids stored packed),
// "stored" the same documents stored in a log file (AppendStored: texts and
// ids are read back from the log in the final copy).
func BenchmarkGather(b *testing.B) {
	for _, bc := range []struct {
		name           string
		rows           int
		tokens, stored bool
	}{{"small", 8192, false, false}, {"documents", 8192, true, false}, {"stored", 8192, true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			alloc := memory.NewGoAllocator()
			var batches []arrow.Record
			for from := 0; from < bc.rows; from += 1024 {
				if bc.tokens {
					batches = append(batches, bigDocBatch(alloc, from, 1024))
				} else {
					batches = append(batches, docBatch(alloc, from, 1024, "score"))
				}
			}
			defer func() {
				for _, r := range batches {
					r.Release()
				}
			}()
			var size int64
			for _, r := range batches {
				size += recordBytes(r)
			}
			b.SetBytes(size)
			perm := rand.New(rand.NewPCG(3, 4)).Perm(bc.rows)
			var log string
			var frames []pipelines.LogFrame
			if bc.stored {
				log = filepath.Join(b.TempDir(), "log")
				var all bytes.Buffer
				for _, rec := range batches {
					start := all.Len()
					w := ipc.NewWriter(&all, ipc.WithSchema(rec.Schema()))
					w.Write(rec)
					w.Close()
					frames = append(frames, pipelines.LogFrame{Path: log, Offset: int64(start), Length: int64(all.Len() - start)})
				}
				if err := os.WriteFile(log, all.Bytes(), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				r, err := NewRecords(b.TempDir(), alloc)
				if err != nil {
					b.Fatal(err)
				}
				for i, rec := range batches {
					if bc.stored {
						_, err = r.AppendStored(rec, frames[i])
					} else {
						_, err = r.Append(ctx, rec)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Finish()
				g, err := r.Gather(pipelines.NewBudget(1<<30), size/4)
				if err != nil {
					b.Fatal(err)
				}
				for _, i := range perm {
					g.Add(ctx, int64(i))
				}
				if err := g.Emit(ctx, 1024, 4<<20, func(arrow.Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
				g.Close()
				r.Close()
			}
		})
	}
}

// bigDocBatch is n documents of about 2 KB of text and 500 token ids.
func bigDocBatch(alloc memory.Allocator, from, n int) arrow.Record {
	docs := make([]pipelinetest.Doc, n)
	for i := range docs {
		docs[i] = pipelinetest.Doc{ID: fmt.Sprintf("d%07d", from+i), Text: strings.Repeat(fmt.Sprintf("word%d ", from+i), 2048/12),
			Domain: []string{"web", "books"}[(from+i)%2], Extra: map[string]any{"score": float64(from + i)}}
	}
	rec := pipelinetest.Batch(alloc, docs...)
	defer rec.Release()
	lb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
	defer lb.Release()
	vb := lb.ValueBuilder().(*array.Int32Builder)
	for i := 0; i < n; i++ {
		lb.Append(true)
		for k := 0; k < 500; k++ {
			vb.Append(int32((from + i + k*7) % 50257))
		}
	}
	toks := lb.NewArray()
	defer toks.Release()
	fields := append(append([]arrow.Field(nil), rec.Schema().Fields()...), arrow.Field{Name: "tokens", Type: toks.DataType(), Nullable: true})
	return array.NewRecord(arrow.NewSchema(fields, nil), append(append([]arrow.Array(nil), rec.Columns()...), toks), rec.NumRows())
}
