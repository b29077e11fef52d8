// Package curatebeam translates a curate pipeline (the same YAML as `curate
// run`) into an Apache Beam graph, reusing every registered component's own
// code: sources read through their constructors, streaming stages run their
// Process on Arrow batches and apply the Result with pipelines.Apply,
// dedup.exact, dedup.minhash and dedup.paragraph become shuffles over the
// keys, signatures and unit hashes their own code computes,
// curriculum.order and mixer.weights become global aggregations and a
// range-partitioned sort by key, and the jsonl, parquet and tokens sinks
// write their shards in parallel from a shard plan computed with the
// sinks' own sizing. A barrier, sequencer or sink registered outside
// curate without a translation runs on one worker over the batches sorted
// back into input order.
//
// # Elements
//
// Documents travel as Batch elements: an Arrow record serialized with the
// IPC stream format, plus each row's input order (source, file within the
// source, record within the file: see orderOf), so a shuffle can always
// tell which of two documents came first.
package curatebeam

import (
	"bytes"
	"cmp"
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

// An input order packs (source, file, record) into 63 bits, so that
// comparing two orders compares the documents' places in the local
// engine's input order: sources in pipeline order, a source's files in
// listing order, records in file order. A source that cannot be split is
// one "file" whose record index takes the file bits too.
const (
	sourceBits = 10
	fileBits   = 22
	recordBits = 31
	maxSources = 1 << sourceBits
	maxFiles   = 1 << fileBits
)

// orderOf builds the input order of record n of ref.
func orderOf(ref FileRef, n int64) (int64, error) {
	if ref.Source >= maxSources {
		return 0, fmt.Errorf("more than %d sources", maxSources)
	}
	if ref.File < 0 {
		if n >= 1<<(fileBits+recordBits) {
			return 0, fmt.Errorf("more than 2^%d records in one source", fileBits+recordBits)
		}
		return int64(ref.Source)<<(fileBits+recordBits) | n, nil
	}
	if n >= 1<<recordBits {
		return 0, fmt.Errorf("%s: more than 2^%d records in one file", ref.Path, recordBits)
	}
	return int64(ref.Source)<<(fileBits+recordBits) | int64(ref.File)<<recordBits | n, nil
}

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

// collect reads an iterable input (a side input, a group's values) into a
// slice.
func collect[T any](next func(*T) bool) []T {
	var all []T
	var x T
	for next(&x) {
		all = append(all, x)
	}
	return all
}

// sortBatches puts batches back into input order.
func sortBatches(bs []Batch) {
	slices.SortFunc(bs, func(a, b Batch) int { return cmp.Compare(a.Key, b.Key) })
}
