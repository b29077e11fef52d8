package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

// TestPipelineFormats runs YAML pipelines through pipelines.Run: jsonl
// (plain, gzip, zstd), text and parquet in, jsonl and parquet out, with a
// small batch and checkpoint size so that shards close at barriers. The
// output must be byte-identical for 1 and 4 workers.
func TestPipelineFormats(t *testing.T) {
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, `{"id":"j%d","text":"document %d %s","n":%d}`+"\n", i, i, strings.Repeat("w", i%97), i)
		if i%1000 == 500 {
			b.WriteString("{broken\n")
		}
	}
	jsonl := []byte(b.String())
	files := map[string][]byte{
		"in/a.jsonl":     jsonl,
		"in/b.jsonl.gz":  gzipBytes(t, jsonl),
		"in/c.jsonl.zst": zstdBytes(t, jsonl),
		"txt/d.txt":      []byte("para one\nstill one\n\npara two\n"),
	}
	yaml := `sources:
  - jsonl: {path: in/*, domain: web}
  - text: {path: txt, split: paragraph, domain: books}
sinks:
  - jsonl: {path: out/jsonl, compression: zstd, shard_bytes: 100KB}
  - parquet: {path: out/parquet}
`
	var first map[string][]byte
	for _, workers := range []int{1, 4} {
		dir := t.TempDir()
		for name, data := range files {
			writeFile(t, dir, name, data)
		}
		writeFile(t, dir, "pipeline.yaml", []byte(yaml))
		p, err := pipelines.LoadFile(filepath.Join(dir, "pipeline.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: workers, Alloc: mem,
			TempDir: t.TempDir(), BatchRows: 100, CheckpointBytes: 50000})
		if err != nil {
			t.Fatal(err)
		}
		mem.AssertSize(t, 0)
		if rep.DocumentsIn != 9002 || rep.DocumentsOut != 9002 || rep.Rejected != 9 {
			t.Errorf("workers=%d: in %d out %d rejected %d, want 9002, 9002, 9", workers, rep.DocumentsIn, rep.DocumentsOut, rep.Rejected)
		}
		out := map[string][]byte{}
		filepath.WalkDir(filepath.Join(dir, "out"), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(path)
				out[strings.TrimPrefix(path, dir)] = bytes.ReplaceAll(data, []byte(dir), []byte("$WORK"))
			}
			return nil
		})
		m := readManifest(t, filepath.Join(dir, "out", "jsonl"))
		if m.Documents != 9002 || len(m.Shards) < 10 {
			t.Errorf("jsonl manifest: %d documents in %d shards", m.Documents, len(m.Shards))
		}
		rows := readAll(t, newSource(t, "parquet", checkedEnv(t, dir, 1), map[string]any{"path": "out/parquet"}))
		if len(rows) != 9002 || rows[0]["id"] != "j0" || rows[9001]["text"] != "para two" || rows[9001]["domain"] != "default" ||
			rows[9001]["input_domain"] != "books" || rows[3000]["source"] != "b.jsonl.gz" {
			t.Errorf("parquet output: %d rows, first %v, last %v", len(rows), rows[0], rows[len(rows)-1])
		}
		if first == nil {
			first = out
			continue
		}
		if len(out) != len(first) {
			t.Errorf("workers=%d: %d output files, want %d", workers, len(out), len(first))
		}
		for name, data := range first {
			if !bytes.Equal(out[name], data) {
				t.Errorf("workers=%d: %s differs", workers, name)
			}
		}
	}
}
