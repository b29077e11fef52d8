package warc

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

// rowsOf drains src into rows of column values and closes it.
func rowsOf(t *testing.T, src pipelines.Source) []map[string]string {
	t.Helper()
	defer src.Close()
	var rows []map[string]string
	for {
		rec, err := src.Next(context.Background())
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := map[string]string{}
			for c := 0; c < int(rec.NumCols()); c++ {
				if !rec.Column(c).IsNull(r) {
					row[rec.ColumnName(c)] = rec.Column(c).ValueStr(r)
				}
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
}

// Reading each WARC file on its own through the FileSplitter gives exactly
// the whole source's documents and rejects, in the same order.
func TestFileSplitterEqualsWholeSource(t *testing.T) {
	dir := t.TempDir()
	good1 := record("response", "https://a.example/1", httpResp("text/html", article))
	good2 := record("response", "https://b.example/2", httpResp("text/html", "<p>A second page about bridges and the people who build them.</p>"))
	noID := "WARC/1.1\r\nWARC-Type: conversion\r\nWARC-Target-URI: https://e.example/\r\nContent-Length: 22\r\n\r\nText without a record.\r\n\r\n"
	badHeader := "WARC/1.0\r\nWARC-Type response\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
	os.MkdirAll(filepath.Join(dir, "crawl", "s1"), 0o755)
	os.MkdirAll(filepath.Join(dir, "crawl", "s2"), 0o755)
	os.WriteFile(filepath.Join(dir, "crawl", "s1", "a.warc.gz"), gz(good1, noID, badHeader, good2), 0o644)
	full := gz(good2, noID, good1)
	os.WriteFile(filepath.Join(dir, "crawl", "s2", "b.warc.gz"), full[:len(full)-40], 0o644)
	os.WriteFile(filepath.Join(dir, "crawl", "s2", "c.warc"), []byte(noID+good1), 0o644)

	build := func() (pipelines.Source, *pipelines.Env) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		t.Cleanup(func() { mem.AssertSize(t, 0) })
		env := pipelines.TestEnv(mem, dir)
		env.Workers = 2
		p, err := pipelines.NewParams(mustSpec(t), map[string]any{"path": "crawl/*/*.warc*"})
		if err != nil {
			t.Fatal(err)
		}
		src, err := newSource(p, env)
		if err != nil {
			t.Fatal(err)
		}
		return src, env
	}
	whole, wenv := build()
	want := rowsOf(t, whole)
	splitter, senv := build()
	defer splitter.Close()
	fs := splitter.(pipelines.FileSplitter)
	files, err := fs.Files(context.Background())
	if err != nil || len(files) != 3 {
		t.Fatalf("files %v, %v", files, err)
	}
	var got []map[string]string
	for _, f := range files {
		src, err := fs.OpenFile(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rowsOf(t, src)...)
	}
	if len(want) < 5 || wenv.Rejects.Count() < 2 {
		t.Fatalf("%d documents, %d rejects: the corpus should give both", len(want), wenv.Rejects.Count())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("per-file reads:\n%v\nwhole source:\n%v", got, want)
	}
	if !reflect.DeepEqual(senv.Rejects.List(), wenv.Rejects.List()) {
		t.Errorf("rejects differ:\n%+v\n%+v", senv.Rejects.List(), wenv.Rejects.List())
	}
	var relIDs int
	for _, r := range want {
		if strings.HasPrefix(r["id"], "s1/a.warc.gz:") || strings.HasPrefix(r["id"], "s2/") {
			relIDs++
		}
	}
	if relIDs < 2 {
		t.Errorf("want PATH:N ids relative to the glob's prefix, got %v", want)
	}
	if _, err := fs.OpenFile(context.Background(), filepath.Join(dir, "other.warc")); err == nil {
		t.Error("OpenFile of a file not listed: no error")
	}
}
