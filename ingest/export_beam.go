package ingest

import "github.com/apache/arrow-go/v18/arrow"

// What another engine (curate-beam) needs to cut the parquet sink's shards
// before writing them in parallel. The sink ends a shard after the row
// that brings its value bytes to shard_bytes, and before a batch whose
// columns do not fit the open shard's (a new column or another type); a
// shard's rows, written alone by a sink with the same parameters into
// another folder, then make exactly that shard (same layout, same row
// groups). Both functions run the sink's own code (row, layoutOf, fits).

// ParquetRowSizes returns the value bytes of each row of rec as the
// parquet sink counts them toward shard_bytes and row_group_bytes. A row's
// size does not depend on the shard it goes to: every shard that takes
// the batch has a column for each of the batch's columns. rec is borrowed.
func ParquetRowSizes(rec arrow.Record) []int64 {
	s := &parquetSink{layout: layoutOf(rec.Schema())}
	idx, _ := s.fits(rec.Schema())
	sizes := make([]int64, rec.NumRows())
	for i := range sizes {
		_, sizes[i] = s.row(rec, idx, i)
	}
	return sizes
}

// ParquetFits reports whether a batch with schema next goes on into a
// shard the parquet sink opened for a batch with schema first; when it
// does not, the sink ends the shard before next's first row.
func ParquetFits(first, next *arrow.Schema) bool {
	s := &parquetSink{layout: layoutOf(first)}
	_, ok := s.fits(next)
	return ok
}
