package spill

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
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

// BenchmarkGather spills ~4 MB of documents and gathers them in a random
// order through several buckets.
func BenchmarkGather(b *testing.B) {
	ctx := context.Background()
	alloc := memory.NewGoAllocator()
	var batches []arrow.Record
	for from := 0; from < 8192; from += 1024 {
		batches = append(batches, docBatch(alloc, from, 1024, "score"))
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
	perm := rand.New(rand.NewPCG(3, 4)).Perm(8192)
	for b.Loop() {
		r, err := NewRecords(b.TempDir(), alloc)
		if err != nil {
			b.Fatal(err)
		}
		for _, rec := range batches {
			if _, err := r.Append(ctx, rec); err != nil {
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
}
