package ingest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// TestParquetExportsCut checks the exports curate-beam cuts the parquet
// sink's shards with: the sink's rule (a shard ends after the row reaching
// shard_bytes, and before a batch that does not fit its columns) over
// ParquetRowSizes and ParquetFits gives the sink's own shards, and each
// shard's rows, written alone by a sink with the same parameters, make
// that shard byte for byte (row groups included).
func TestParquetExportsCut(t *testing.T) {
	dir := t.TempDir()
	env := checkedEnv(t, dir, 1)
	params := map[string]any{"path": "out", "shard_bytes": 20000, "row_group_bytes": 5000, "compression": "zstd"}
	var recs []arrow.Record
	total := 0
	for k, n := range []int{10, 300, 40, 1, 90, 60, 200} {
		var rec arrow.Record
		if k == 2 || k == 5 { // fewer columns: fits a shard opened by testBatch, opens one that testBatch does not fit
			texts := make([]string, n)
			for i := range texts {
				texts[i] = fmt.Sprintf("plain text number %d with a few more words to take some room in the shard", total+i)
			}
			rec = pipelinetest.Texts(env.Alloc, texts...)
		} else {
			rec = testBatch(env.Alloc, total, n)
		}
		defer rec.Release()
		recs = append(recs, rec)
		total += n
	}
	sink := newSink(t, "parquet", env, params)
	for _, rec := range recs {
		if err := sink.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, filepath.Join(dir, "out"))

	// The plan: per batch, runs of rows by shard.
	type run struct{ batch, from, to, shard int }
	var runs []run
	var open *arrow.Schema
	shard, raw, layoutCuts := 0, int64(0), 0
	for b, rec := range recs {
		if open != nil && !ParquetFits(open, rec.Schema()) {
			shard, raw, open = shard+1, 0, nil
			layoutCuts++
		}
		for i, n := range ParquetRowSizes(rec) {
			if open == nil {
				open = rec.Schema()
			}
			if len(runs) == 0 || runs[len(runs)-1].batch != b || runs[len(runs)-1].shard != shard {
				runs = append(runs, run{b, i, i, shard})
			}
			runs[len(runs)-1].to = i + 1
			if raw += n; raw >= 20000 {
				shard, raw, open = shard+1, 0, nil
			}
		}
	}
	shards := shard
	if raw > 0 {
		shards++
	}
	if shards != len(m.Shards) || layoutCuts == 0 || shards < 4 {
		t.Fatalf("plan: %d shards (%d for columns), the sink wrote %d", shards, layoutCuts, len(m.Shards))
	}
	t.Logf("%d shards, %d cut for columns", shards, layoutCuts)
	for k, info := range m.Shards {
		priv := t.TempDir()
		s := newSink(t, "parquet", checkedEnv(t, priv, 1), params)
		docs := 0
		for _, r := range runs {
			if r.shard == k {
				part := recs[r.batch].NewSlice(int64(r.from), int64(r.to))
				if err := s.Write(t.Context(), part); err != nil {
					t.Fatal(err)
				}
				part.Release()
				docs += r.to - r.from
			}
		}
		if err := s.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if int64(docs) != info.Documents {
			t.Errorf("shard %d: plan %d documents, sink %d", k, docs, info.Documents)
		}
		want, _ := os.ReadFile(filepath.Join(dir, "out", info.Name))
		got, err := os.ReadFile(filepath.Join(priv, "out", "part-00000.parquet"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("shard %d written alone differs (%d and %d bytes, %v)", k, len(want), len(got), err)
		}
		if pm := readManifest(t, filepath.Join(priv, "out")); len(pm.Shards) != 1 {
			t.Errorf("shard %d written alone made %d shards", k, len(pm.Shards))
		}
	}
}
