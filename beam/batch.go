// Package curatebeam translates a curate pipeline (the same YAML as `curate
// run`) into an Apache Beam graph, reusing every registered component's own
// code: sources read through their constructors, streaming stages run their
// Process on Arrow batches and apply the Result with pipelines.Apply,
// dedup.exact and dedup.minhash become shuffles over the keys and
// signatures their Process computes, and barriers and sinks run on one
// worker over the batches sorted back into input order.
//
// # Elements
//
// Documents travel as Batch elements: an Arrow record serialized with the
// IPC stream format, plus each row's input order (source index in the top
// 16 bits, the record's position within its source below), so a shuffle can
// always tell which of two documents came first.
package curatebeam

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Batch is a bundle of documents in flight between transforms.
type Batch struct {
	// Key is the input order of the batch's first row when it was built;
	// it names the batch in joins and sorts batches back into order.
	Key int64
	// Order holds each row's input order, ascending.
	Order []int64
	// IPC is the record in Arrow IPC stream format.
	IPC []byte
}

// orderOf builds the input order of record n of source src.
func orderOf(src int, n int64) int64 { return int64(src)<<48 | n }

// encode serializes rec; rec stays the caller's.
func encode(rec arrow.Record) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("encoding a batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encoding a batch: %w", err)
	}
	return buf.Bytes(), nil
}

// decode returns the record of b, owned by the caller.
func decode(alloc memory.Allocator, b []byte) (arrow.Record, error) {
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(alloc))
	if err != nil {
		return nil, fmt.Errorf("decoding a batch: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("decoding a batch: %w", err)
		}
		return nil, fmt.Errorf("decoding a batch: no record")
	}
	rec := r.Record()
	rec.Retain()
	return rec, nil
}

// newBatch encodes rec with the given row orders.
func newBatch(rec arrow.Record, order []int64) (Batch, error) {
	if int64(len(order)) != rec.NumRows() {
		return Batch{}, fmt.Errorf("batch of %d rows with %d order keys", rec.NumRows(), len(order))
	}
	b, err := encode(rec)
	if err != nil {
		return Batch{}, err
	}
	return Batch{Key: order[0], Order: order, IPC: b}, nil
}

// sortBatches puts batches back into input order.
func sortBatches(bs []Batch) {
	slices.SortFunc(bs, func(a, b Batch) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
}
