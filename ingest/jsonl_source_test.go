package ingest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines"
)

func TestJSONLSourceDocuments(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "in/a.jsonl", []byte(strings.Join([]string{
		`{"id":"x1","text":"first","url":"http://a","score":0.5,"ok":true}`,
		`{"text":"no id here","meta":{"k":[1,2]},"source":"crawl-7"}`,
		``,
		`{"id":42,"text":"numeric id","domain":"mine","url":null}`,
		"{\"text\":\"last line without newline\",\"id\":null}",
	}, "\n")))
	env := checkedEnv(t, dir, 2)
	rows := readAll(t, newSource(t, "jsonl", env, map[string]any{"path": "in/*.jsonl", "domain": "web"}))
	want := []row{
		{"id": "x1", "text": "first", "source": "a.jsonl", "domain": "web", "url": "http://a", "score": 0.5, "ok": true},
		{"id": "a.jsonl:1", "text": "no id here", "source": "crawl-7", "domain": "web", "meta": `{"k":[1,2]}`},
		{"id": "42", "text": "numeric id", "source": "a.jsonl", "domain": "web", "input_domain": "mine"},
		{"id": "a.jsonl:4", "text": "last line without newline", "source": "a.jsonl", "domain": "web"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n got  %v\n want %v", rows, want)
	}
	if n := env.Rejects.Count(); n != 0 {
		t.Errorf("rejects = %d (%v), want 0", n, env.Rejects.List())
	}
}

func TestJSONLSourceFields(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b.jsonl", []byte(`{"doc_id":"d1","content":"hello","text":"shadow","id":"other"}`+"\n"))
	env := checkedEnv(t, dir, 1)
	rows := readAll(t, newSource(t, "jsonl", env, map[string]any{"path": "b.jsonl", "text_field": "content", "id_field": "doc_id"}))
	want := []row{{"id": "d1", "text": "hello", "source": "b.jsonl", "domain": "default", "input_text": "shadow", "input_id": "other"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n got  %v\n want %v", rows, want)
	}
}

func TestJSONLSourceBadInput(t *testing.T) {
	good := `{"text":"good ` // + n + `"}`
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "%s%d\"}\n", good, i)
		}
		return b.String()
	}
	plain := lines(0, 2) + "{not json}\n" + `{"id":"t"}` + "\n" + `{"text":7}` + "\n" + `{"text":["a"]}` + "\n" +
		"{\"text\":\"bad \xff utf8\"}\n" + `{"text":"x","id":{"a":1}}` + "\n" + `[1,2]` + "\n" + lines(2, 4)
	const n = 20000
	full := lines(0, n)
	gz := gzipBytes(t, []byte(full))
	zs := zstdBytes(t, []byte(full))
	tests := []struct {
		name, file string
		data       []byte
		wantDocs   int
		wantRej    []string // reason substrings, in order
		wantLines  []int64
	}{
		{"malformed lines", "a.jsonl", []byte(plain), 5,
			[]string{"invalid JSON", `no "text" field`, `field "text" is a number`, `field "text" is an object or array`,
				`field "id" is an object or array`, "not a JSON object"},
			[]int64{3, 4, 5, 6, 8, 9}},
		{"truncated gzip", "b.jsonl.gz", gz[:len(gz)/2], -1, []string{"truncated or corrupt file"}, nil},
		{"truncated zstd", "c.jsonl.zst", zs[:len(zs)/2], -1, []string{"truncated or corrupt file"}, nil},
		{"not gzip at all", "d.jsonl.gz", []byte(full), 0, []string{"truncated or corrupt file"}, []int64{1}},
		{"whole gzip", "e.jsonl.gz", gz, n, nil, nil},
		{"whole zstd", "f.jsonl.zst", zs, n, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tc.file, tc.data)
			env := checkedEnv(t, dir, 3)
			rows := readAll(t, newSource(t, "jsonl", env, map[string]any{"path": tc.file}))
			k := 0
			for i, r := range rows {
				if strings.HasPrefix(r["text"].(string), "bad") {
					continue
				}
				if want := fmt.Sprintf("good %d", k); r["text"] != want {
					t.Fatalf("row %d text = %q, want %q", i, r["text"], want)
				}
				k++
			}
			if tc.wantDocs >= 0 && len(rows) != tc.wantDocs {
				t.Errorf("documents = %d, want %d", len(rows), tc.wantDocs)
			}
			if tc.wantDocs < 0 && (len(rows) == 0 || len(rows) >= n) {
				t.Errorf("documents = %d, want the good lines before the break", len(rows))
			}
			rej := env.Rejects.List()
			if len(rej) != len(tc.wantRej) {
				t.Fatalf("rejects = %v, want %d", rej, len(tc.wantRej))
			}
			for i, r := range rej {
				if !strings.Contains(r.Reason, tc.wantRej[i]) || r.Path == "" {
					t.Errorf("reject %d = %+v, want reason %q", i, r, tc.wantRej[i])
				}
				if tc.wantLines != nil && r.Line != tc.wantLines[i] {
					t.Errorf("reject %d line = %d, want %d", i, r.Line, tc.wantLines[i])
				}
				if tc.wantDocs < 0 && r.Line != int64(len(rows))+1 {
					t.Errorf("truncation reject line = %d, want %d (after the good lines)", r.Line, len(rows)+1)
				}
			}
			if tc.name == "malformed lines" && env.Counters.InvalidUTF8.Load() != 1 {
				t.Errorf("invalid UTF-8 count = %d, want 1", env.Counters.InvalidUTF8.Load())
			}
		})
	}
}

func TestJSONLSourceInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "u.jsonl", []byte("{\"text\":\"caf\xe9 ok\",\"k\xff\":\"v\xfe\",\"source\":\"s\xff\"}\n"))
	env := checkedEnv(t, dir, 1)
	rows := readAll(t, newSource(t, "jsonl", env, map[string]any{"path": "u.jsonl"}))
	want := []row{{"id": "u.jsonl:0", "text": "caf\uFFFD ok", "source": "s\uFFFD", "domain": "default", "k\uFFFD": "v\uFFFD"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n got  %q\n want %q", rows, want)
	}
	if got := env.Counters.InvalidUTF8.Load(); got != 1 {
		t.Errorf("invalid UTF-8 documents = %d, want 1", got)
	}
}

// A 50 MB line is one document; the lines around it are unaffected.
func TestJSONLSourceLongLine(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB line")
	}
	dir := t.TempDir()
	long := strings.Repeat("word ", 10<<20)
	writeFile(t, dir, "long.jsonl", []byte(`{"text":"a"}`+"\n"+`{"text":"`+long+`"}`+"\n"+`{"text":"b"}`+"\n"))
	env := checkedEnv(t, dir, 2)
	rows := readAll(t, newSource(t, "jsonl", env, map[string]any{"path": "long.jsonl"}))
	if len(rows) != 3 || rows[0]["text"] != "a" || rows[1]["text"] != long || rows[2]["text"] != "b" {
		t.Fatalf("got %d rows", len(rows))
	}
	if rows[2]["id"] != "long.jsonl:2" {
		t.Errorf("id after the long line = %v", rows[2]["id"])
	}
}

// Files are read in sorted order, ids are relative to the glob's fixed
// prefix, and batches and rows are the same for any worker count.
func TestJSONLSourceOrderAndWorkers(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"z/2.jsonl", "a/1.jsonl", "a/b/0.jsonl"} {
		var b strings.Builder
		for i := range 5000 {
			fmt.Fprintf(&b, `{"text":"%s doc %d %s"}`+"\n", name, i, strings.Repeat("x", i%300))
		}
		writeFile(t, dir, "data/"+name, []byte(b.String()))
	}
	var first []row
	var firstBatches int
	for _, workers := range []int{1, 2, 7} {
		env := checkedEnv(t, dir, workers)
		env.BatchRows = 700
		src := newSource(t, "jsonl", env, map[string]any{"path": "data/**/*.jsonl"})
		rows, batches := readBatches(t, src)
		if first == nil {
			first, firstBatches = rows, batches
			if len(rows) != 15000 || rows[0]["id"] != "a/1.jsonl:0" || rows[5000]["id"] != "a/b/0.jsonl:0" || rows[10000]["id"] != "z/2.jsonl:0" {
				t.Fatalf("order: %d rows, %v %v %v", len(rows), rows[0]["id"], rows[5000]["id"], rows[10000]["id"])
			}
			continue
		}
		if batches != firstBatches || !reflect.DeepEqual(rows, first) {
			t.Errorf("workers=%d: %d batches, want %d; rows equal: %v", workers, batches, firstBatches, reflect.DeepEqual(rows, first))
		}
	}
}

func readBatches(t *testing.T, src pipelines.Source) ([]row, int) {
	t.Helper()
	c := &countingSource{Source: src}
	rows := readAll(t, c)
	return rows, c.n
}

type countingSource struct {
	pipelines.Source
	n int
}

func (c *countingSource) Next(ctx context.Context) (arrow.Record, error) {
	rec, err := c.Source.Next(ctx)
	if err == nil {
		c.n++
		if rec.NumRows() > 700 {
			panic("batch over the row bound")
		}
	}
	return rec, err
}

func TestJSONLSourceErrors(t *testing.T) {
	dir := t.TempDir()
	env := checkedEnv(t, dir, 1)
	src := newSource(t, "jsonl", env, map[string]any{"path": "missing/*.jsonl"})
	if _, err := drain(src); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: err = %v", err)
	}
	writeFile(t, dir, "x.txt", []byte("hi"))
	src = newSource(t, "jsonl", env, map[string]any{"path": "*.jsonl"})
	if _, err := drain(src); err == nil || !strings.Contains(err.Error(), "matched no files") {
		t.Errorf("no match: err = %v", err)
	}
}

// Closing a source before the end stops its goroutines and frees its batches.
func TestJSONLSourceEarlyClose(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&b, `{"text":"doc %d"}`+"\n", i)
	}
	writeFile(t, dir, "big.jsonl", []byte(b.String()))
	env := checkedEnv(t, dir, 4)
	src := newSource(t, "jsonl", env, map[string]any{"path": "big.jsonl"})
	rec, err := src.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
}
