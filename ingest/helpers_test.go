package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines"
)

// row is one document as the tests compare it: every non-null column as a
// Go value (string, float64, bool).
type row map[string]any

// checkedEnv returns an Env over a leak-checked allocator; the check runs
// when the test ends.
func checkedEnv(t testing.TB, dir string, workers int) *pipelines.Env {
	t.Helper()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	env := pipelines.TestEnv(alloc, dir)
	env.Workers = workers
	return env
}

func newSource(t testing.TB, name string, env *pipelines.Env, params map[string]any) pipelines.Source {
	t.Helper()
	spec, ok := pipelines.LookupSpec(pipelines.KindSource, name)
	if !ok {
		t.Fatalf("source %q not registered", name)
	}
	p, err := pipelines.NewParams(spec, params)
	if err != nil {
		t.Fatal(err)
	}
	var src pipelines.Source
	switch name {
	case "jsonl":
		src, err = newJSONLSource(p, env)
	case "text":
		src, err = newTextSource(p, env)
	case "parquet":
		src, err = newParquetSource(p, env)
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func newSink(t testing.TB, name string, env *pipelines.Env, params map[string]any) pipelines.Sink {
	t.Helper()
	spec, ok := pipelines.LookupSpec(pipelines.KindSink, name)
	if !ok {
		t.Fatalf("sink %q not registered", name)
	}
	p, err := pipelines.NewParams(spec, params)
	if err != nil {
		t.Fatal(err)
	}
	var sink pipelines.Sink
	switch name {
	case "jsonl":
		sink, err = newJSONLSink(p, env)
	case "parquet":
		sink, err = newParquetSink(p, env)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sink
}

// readAll drains a source into rows and closes it.
func readAll(t testing.TB, src pipelines.Source) []row {
	t.Helper()
	rows, err := drain(src)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func drain(src pipelines.Source) ([]row, error) {
	var rows []row
	err := eachBatch(src, func(rec arrow.Record) { rows = append(rows, recordRows(rec)...) })
	return rows, err
}

// eachBatch hands fn every batch of src (borrowed: released after fn
// returns) until the input ends, then closes src.
func eachBatch(src pipelines.Source, fn func(rec arrow.Record)) error {
	defer src.Close()
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(rec)
		rec.Release()
	}
}

func recordRows(rec arrow.Record) []row {
	out := make([]row, rec.NumRows())
	for i := range out {
		out[i] = row{}
	}
	for c, f := range rec.Schema().Fields() {
		col := rec.Column(c)
		for i := range out {
			if col.IsNull(i) {
				continue
			}
			switch a := col.(type) {
			case *array.String:
				out[i][f.Name] = a.Value(i)
			case *array.Float64:
				out[i][f.Name] = a.Value(i)
			case *array.Int64:
				out[i][f.Name] = float64(a.Value(i))
			case *array.Boolean:
				out[i][f.Name] = a.Value(i)
			default:
				out[i][f.Name] = col.ValueStr(i)
			}
		}
	}
	return out
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipBytes(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdBytes(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
