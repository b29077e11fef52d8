package ingest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines"
)

// readSplit reads a source file by file through its FileSplitter and
// returns the concatenated rows and rejects.
func readSplit(t *testing.T, name string, env *pipelines.Env, params map[string]any) ([]row, []pipelines.Reject, int) {
	t.Helper()
	whole := newSource(t, name, env, params)
	defer whole.Close()
	fs, ok := whole.(pipelines.FileSplitter)
	if !ok {
		t.Fatalf("%s source is not a FileSplitter", name)
	}
	files, err := fs.Files(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for _, f := range files {
		src, err := fs.OpenFile(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, readAll(t, src)...)
	}
	return rows, env.Rejects.List(), len(files)
}

// Reading each file on its own and concatenating gives exactly the whole
// source's documents (ids, columns) and rejects, in the same order.
func TestFileSplitterEqualsWholeSource(t *testing.T) {
	dir := t.TempDir()
	// jsonl: nested folders (ids are relative to the glob's fixed prefix),
	// explicit and PATH:LINE ids, extra fields, a bad line, a gzipped file
	// and one truncated.
	var big strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&big, "{\"text\":\"document %d of the big file\",\"n\":%d}\n", i, i)
	}
	writeFile(t, dir, "j/a/1.jsonl", []byte("{\"text\":\"one\",\"lang\":\"en\"}\n{\"id\":\"x7\",\"text\":\"two\"}\nnot json\n\n{\"text\":\"three\",\"meta\":{\"k\":[1,2]}}\n"))
	writeFile(t, dir, "j/a/2.jsonl.gz", gzipBytes(t, []byte(big.String())))
	full := gzipBytes(t, []byte(big.String()))
	writeFile(t, dir, "j/b/3.jsonl.gz", full[:len(full)/2])
	writeFile(t, dir, "j/b/4.jsonl", []byte("{\"text\":4}\n{\"text\":\"four\",\"source\":\"elsewhere\"}\n"))

	// text: paragraphs and lines over several files, one truncated.
	var lines strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&lines, "line %d of a text file\n", i)
		if i%7 == 0 {
			lines.WriteString("\n")
		}
	}
	tg := gzipBytes(t, []byte(lines.String()))
	writeFile(t, dir, "t/x/a.txt", []byte("first paragraph\nstill first\n\n\nsecond\n"))
	writeFile(t, dir, "t/x/b.txt.gz", tg)
	writeFile(t, dir, "t/y/c.txt.gz", tg[:len(tg)/2])
	writeFile(t, dir, "t/y/d.txt", []byte("\xef\xbb\xbfbom line\n\n   \nlast\n"))

	// parquet: two files with ids and without, and a file that is not Parquet.
	var docs []pqDoc
	for i := range 700 {
		d := pqDoc{Text: ptr(fmt.Sprintf("row %d", i)), URL: fmt.Sprintf("http://p/%d", i), N: int64(i)}
		if i%3 == 0 {
			d.ID = ptr(fmt.Sprintf("pid-%d", i))
		}
		docs = append(docs, d)
	}
	writeFile(t, dir, "p/1.parquet", parquetBytes(t, docs[:300], 128))
	writeFile(t, dir, "p/2.parquet", []byte("PAR1 but not really"))
	writeFile(t, dir, "p/3.parquet", parquetBytes(t, docs[300:], 100))

	for _, tc := range []struct {
		name   string
		params map[string]any
		files  int
	}{
		{"jsonl", map[string]any{"path": "j/*/*.jsonl*", "domain": "web"}, 4},
		{"text", map[string]any{"path": "t/*/*", "split": "paragraph"}, 4},
		{"text", map[string]any{"path": "t/*/*", "split": "line"}, 4},
		{"text", map[string]any{"path": "t", "split": "file"}, 4},
		{"parquet", map[string]any{"path": "p/*.parquet"}, 3},
	} {
		t.Run(fmt.Sprintf("%s-%v", tc.name, tc.params["split"]), func(t *testing.T) {
			wenv := checkedEnv(t, dir, 2)
			want := readAll(t, newSource(t, tc.name, wenv, tc.params))
			wantRej := wenv.Rejects.List()
			senv := checkedEnv(t, dir, 2)
			got, gotRej, files := readSplit(t, tc.name, senv, tc.params)
			if files != tc.files {
				t.Fatalf("%d files listed, want %d", files, tc.files)
			}
			if len(want) == 0 || len(wantRej) == 0 {
				t.Fatalf("the corpus should give documents and rejects: %d and %d", len(want), len(wantRej))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("per-file reads give %d documents, the whole source %d", len(got), len(want))
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("first difference at %d:\n got %v\nwant %v", i, got[i], want[i])
					}
				}
			}
			if !reflect.DeepEqual(gotRej, wantRej) {
				t.Errorf("rejects differ:\n got %+v\nwant %+v", gotRej, wantRej)
			}
			// ids are relative to the glob's fixed prefix, as the whole source names them.
			if id := want[len(want)-1][pipelines.ColID].(string); tc.name != "parquet" && !strings.Contains(id, "/") {
				t.Errorf("last id %q has no folder", id)
			}
		})
	}
}

func TestFileSplitterEmptyMatch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "in/a.txt", []byte("not jsonl"))
	env := checkedEnv(t, dir, 1)
	src := newSource(t, "jsonl", env, map[string]any{"path": "in/*.jsonl"})
	defer src.Close()
	if _, err := src.(pipelines.FileSplitter).Files(context.Background()); err == nil || !strings.Contains(err.Error(), "matched no files") {
		t.Errorf("Files of an empty match: %v", err)
	}
}
