package ingest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// benchCorpus writes about mb megabytes of JSONL documents made of
// 40-line blocks of the shared text corpora and returns its path.
func benchCorpus(b *testing.B, mb int) string {
	b.Helper()
	data := pipelinetest.SharedData(b)
	var files []string
	filepath.WalkDir(filepath.Join(data, "text"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".txt") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	var docs []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		ls := strings.Split(strings.ToValidUTF8(string(raw), "\uFFFD"), "\n")
		for i := 0; i < len(ls); i += 40 {
			docs = append(docs, strings.Join(ls[i:min(len(ls), i+40)], "\n"))
		}
	}
	var out []byte
	for n := 0; len(out) < mb<<20; n++ {
		line, _ := json.Marshal(map[string]string{"id": "doc-" + strings.Repeat("x", n%7), "text": docs[n%len(docs)]})
		out = append(append(out, line...), '\n')
	}
	path := filepath.Join(b.TempDir(), "corpus.jsonl")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

func benchRead(b *testing.B, workers int) {
	path := benchCorpus(b, 16)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for range b.N {
		env := pipelines.TestEnv(memory.NewGoAllocator(), "")
		env.Workers = workers
		src := newSource(b, "jsonl", env, map[string]any{"path": path})
		if err := eachBatch(src, func(arrow.Record) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONLRead measures the jsonl source: file to Arrow batches.
func BenchmarkJSONLRead(b *testing.B) {
	b.Run("workers=1", func(b *testing.B) { benchRead(b, 1) })
	b.Run("workers=2", func(b *testing.B) { benchRead(b, 2) })
}

// BenchmarkJSONLWrite measures the jsonl sink: Arrow batches to shards.
func BenchmarkJSONLWrite(b *testing.B) {
	path := benchCorpus(b, 16)
	env := pipelines.TestEnv(memory.NewGoAllocator(), "")
	src := newSource(b, "jsonl", env, map[string]any{"path": path})
	var recs []arrow.Record
	var bytes int64
	err := eachBatch(src, func(rec arrow.Record) {
		bytes += textBytes(rec)
		rec.Retain()
		recs = append(recs, rec)
	})
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		b.Run("workers="+string(rune('0'+workers)), func(b *testing.B) {
			b.SetBytes(bytes)
			for range b.N {
				env := pipelines.TestEnv(memory.NewGoAllocator(), b.TempDir())
				env.Workers = workers
				sink := newSink(b, "jsonl", env, map[string]any{"path": "out"})
				for _, rec := range recs {
					if err := sink.Write(context.Background(), rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := sink.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJSONScan measures the JSON object scanner alone on a typical
// document line (prose with escapes, a few metadata fields).
func BenchmarkJSONScan(b *testing.B) {
	text := strings.Repeat(`It was the best of times, \"it was\" the worst of times;\n`, 40)
	line := []byte(`{"id":"doc-1","text":"` + text + `","url":"https://example.com/a","score":0.75,"meta":{"lang":"en","n":[1,2,3]}}`)
	var s scanner
	b.SetBytes(int64(len(line)))
	for range b.N {
		if _, err := s.scan(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParquetSource measures the parquet source on files the parquet
// sink wrote from the benchmark corpus (snappy, and uncompressed to see the
// reader without the codec): columns id, text, source and domain (carried
// as input_domain). Bytes are the text column's. MB/cpu-s is throughput per
// CPU second, steadier than MB/s on a shared machine.
func BenchmarkParquetSource(b *testing.B) {
	path := benchCorpus(b, 16)
	dir := b.TempDir()
	var bytes int64
	for _, codec := range []string{"snappy", "none"} {
		env := pipelines.TestEnv(memory.NewGoAllocator(), dir)
		src := newSource(b, "jsonl", env, map[string]any{"path": path})
		sink := newSink(b, "parquet", env, map[string]any{"path": codec, "compression": codec})
		bytes = 0
		if err := eachBatch(src, func(rec arrow.Record) {
			bytes += textBytes(rec)
			if err := sink.Write(context.Background(), rec); err != nil {
				b.Fatal(err)
			}
		}); err != nil {
			b.Fatal(err)
		}
		if err := sink.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for _, codec := range []string{"snappy", "none"} {
		b.Run(codec, func(b *testing.B) {
			b.SetBytes(bytes)
			b.ResetTimer()
			cpu := cpuSeconds()
			for range b.N {
				src := newSource(b, "parquet", pipelines.TestEnv(memory.NewGoAllocator(), dir), map[string]any{"path": codec})
				if err := eachBatch(src, func(arrow.Record) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if c := cpuSeconds() - cpu; c > 0 {
				b.ReportMetric(float64(bytes)*float64(b.N)/1e6/c, "MB/cpu-s")
			}
		})
	}
}

// cpuSeconds returns the CPU time (user + system) the process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
