package warc

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines"
)

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
		env := testEnv(t, dir, 2)
		return openSource(t, env, map[string]any{"path": "crawl/*/*.warc*"}), env
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
