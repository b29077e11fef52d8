package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/curatehq/curate/pipelines/pipelinetest"
)

type pqMeta struct {
	Lang  string   `parquet:"lang"`
	Score float64  `parquet:"score"`
	Tags  []string `parquet:"tags,list"`
}

type pqDoc struct {
	ID    *string `parquet:"id,optional"`
	Text  *string `parquet:"text,optional"`
	URL   string  `parquet:"url"`
	N     int64   `parquet:"n"`
	Ok    bool    `parquet:"ok"`
	Ratio float32 `parquet:"ratio"`
	Meta  pqMeta  `parquet:"meta"`
}

func ptr(s string) *string { return &s }

func parquetBytes(t testing.TB, docs []pqDoc, rowGroup int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[pqDoc](&b)
	for i := 0; i < len(docs); i += rowGroup {
		if _, err := w.Write(docs[i:min(len(docs), i+rowGroup)]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParquetSource(t *testing.T) {
	docs := []pqDoc{
		{ID: ptr("p1"), Text: ptr("hello"), URL: "http://a", N: 3, Ok: true, Ratio: 0.5, Meta: pqMeta{Lang: "en", Score: 1.5, Tags: []string{"x", "y"}}},
		{Text: ptr("no id"), URL: "http://b", N: -1},
		{ID: ptr("p3"), URL: "null text"},
		{ID: ptr("p4"), Text: ptr("bad \xff utf8")},
	}
	dir := t.TempDir()
	writeFile(t, dir, "pq/a.parquet", parquetBytes(t, docs, 2))
	writeFile(t, dir, "pq/b.parquet", []byte("this is not parquet at all"))
	env := checkedEnv(t, dir, 1)
	rows := readAll(t, newSource(t, "parquet", env, map[string]any{"path": "pq/*.parquet", "domain": "d"}))
	meta := `{"lang":"en","score":1.5,"tags":["x","y"]}`
	emptyMeta := `{"lang":"","score":0,"tags":[]}`
	want := []row{
		{"id": "p1", "text": "hello", "source": "a.parquet", "domain": "d", "url": "http://a", "n": 3.0, "ok": true, "ratio": 0.5, "meta": meta},
		{"id": "a.parquet:1", "text": "no id", "source": "a.parquet", "domain": "d", "url": "http://b", "n": -1.0, "ok": false, "ratio": 0.0, "meta": emptyMeta},
		{"id": "p4", "text": "bad \uFFFD utf8", "source": "a.parquet", "domain": "d", "url": "", "n": 0.0, "ok": false, "ratio": 0.0, "meta": emptyMeta},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows = %v", rows)
	}
	for i := range want {
		if m, ok := rows[i]["meta"].(string); ok && strings.Contains(m, `"tags":null`) {
			rows[i]["meta"] = strings.Replace(m, `"tags":null`, `"tags":[]`, 1)
		}
		if !reflect.DeepEqual(rows[i], want[i]) {
			t.Errorf("row %d:\n got  %v\n want %v", i, rows[i], want[i])
		}
	}
	rej := env.Rejects.List()
	if len(rej) != 2 || rej[0].Line != 3 || !strings.Contains(rej[0].Reason, "null") ||
		!strings.Contains(rej[1].Reason, "not a Parquet file") || !strings.HasSuffix(rej[1].Path, "b.parquet") {
		t.Errorf("rejects = %+v", rej)
	}
	if env.Counters.InvalidUTF8.Load() != 1 {
		t.Errorf("invalid UTF-8 = %d", env.Counters.InvalidUTF8.Load())
	}
}

func TestParquetSourceNoTextColumn(t *testing.T) {
	type other struct {
		Body string `parquet:"body"`
	}
	var b bytes.Buffer
	if err := parquet.Write(&b, []other{{"x"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "o.parquet", b.Bytes())
	env := checkedEnv(t, dir, 1)
	rows := readAll(t, newSource(t, "parquet", env, map[string]any{"path": "o.parquet"}))
	if len(rows) != 0 || env.Rejects.Count() != 1 || !strings.Contains(env.Rejects.List()[0].Reason, `no "text" column`) {
		t.Errorf("rows %v rejects %+v", rows, env.Rejects.List())
	}
	env2 := checkedEnv(t, dir, 1)
	rows = readAll(t, newSource(t, "parquet", env2, map[string]any{"path": "o.parquet", "text_field": "body"}))
	if len(rows) != 1 || rows[0]["text"] != "x" || rows[0]["id"] != "o.parquet:0" {
		t.Errorf("rows %v", rows)
	}
}

// parquet sink -> parquet source keeps documents and columns; shards and
// manifest are consistent and the bytes do not depend on the workers.
func TestParquetSinkRoundTrip(t *testing.T) {
	var firstManifest []byte
	for _, workers := range []int{1, 3} {
		dir := t.TempDir()
		env := checkedEnv(t, dir, workers)
		sink := newSink(t, "parquet", env, map[string]any{"path": "out", "shard_bytes": 20000, "row_group_bytes": 5000, "compression": "zstd"})
		total := 0
		for _, n := range []int{10, 300, 1, 90} {
			rec := testBatch(env.Alloc, total, n)
			if err := sink.Write(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			total += n
		}
		if err := sink.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		m := readManifest(t, filepath.Join(dir, "out"))
		if m.Documents != int64(total) || len(m.Shards) < 2 {
			t.Fatalf("manifest = %+v", m)
		}
		for _, sh := range m.Shards {
			data, _ := os.ReadFile(filepath.Join(dir, "out", sh.Name))
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != sh.SHA256 {
				t.Errorf("%s: sha256 mismatch", sh.Name)
			}
		}
		rows := readAll(t, newSource(t, "parquet", checkedEnv(t, dir, 1), map[string]any{"path": "out/*.parquet"}))
		if len(rows) != total {
			t.Fatalf("%d rows back, want %d", len(rows), total)
		}
		for k, r := range rows {
			if r["id"] != fmt.Sprintf("d%d", k) || r["source"] != "test" || r["domain"] != "default" ||
				r["score"] != float64(k)/4 || r["input_domain"] != "default" || r["tokens"] != nil {
				t.Fatalf("row %d = %v", k, r)
			}
			if _, ok := r["n_tokens"].(float64); !ok {
				t.Fatalf("row %d has no n_tokens: %v", k, r)
			}
			if wantURL := k%3 != 0; (r["url"] != nil) != wantURL {
				t.Fatalf("row %d url = %v", k, r["url"])
			}
		}
		data, _ := os.ReadFile(filepath.Join(dir, "out", ManifestFile))
		if firstManifest == nil {
			firstManifest = data
		} else if !bytes.Equal(firstManifest, data) {
			t.Errorf("workers=%d: output differs", workers)
		}
	}
}

// A batch without a column the shard has gets nulls; a new column starts a
// new shard.
func TestParquetSinkSchemaChange(t *testing.T) {
	dir := t.TempDir()
	env := checkedEnv(t, dir, 1)
	sink := newSink(t, "parquet", env, map[string]any{"path": "out"})
	a := testBatch(env.Alloc, 0, 3)
	defer a.Release()
	b := pipelinetest.Texts(env.Alloc, "plain one", "plain two")
	defer b.Release()
	for _, err := range []error{sink.Write(t.Context(), a), sink.Write(t.Context(), b), sink.Write(t.Context(), a)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, filepath.Join(dir, "out"))
	if len(m.Shards) != 1 || m.Documents != 8 {
		t.Errorf("manifest %+v, want one shard of 8", m)
	}
	rows := readAll(t, newSource(t, "parquet", checkedEnv(t, dir, 1), map[string]any{"path": "out"}))
	if len(rows) != 8 || rows[3]["text"] != "plain one" || rows[3]["url"] != nil || rows[5]["id"] != "d0" {
		t.Errorf("rows = %v", rows)
	}
}

// FuzzParquet feeds arbitrary bytes to the Parquet reader: it must never
// panic; a file it cannot read is rejected.
func FuzzParquet(f *testing.F) {
	f.Add(parquetBytes(f, []pqDoc{{ID: ptr("a"), Text: ptr("t")}, {Text: ptr("u")}}, 1))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	// every column kind, dictionary pages, several pages and row groups
	f.Add(writeParquet(f, randomWide(rand.New(rand.NewSource(1)), 40),
		parquet.PageBufferSize(200), parquet.MaxRowsPerRowGroup(15)))
	f.Add(writeParquet(f, []pqDict{{"a", "x"}, {"b", "y"}, {"a", "x"}}, parquet.DataPageVersion(1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		writeFile(t, dir, "f.parquet", data)
		env := checkedEnv(t, dir, 1)
		rows, err := drain(newSource(t, "parquet", env, map[string]any{"path": "f.parquet"}))
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		_ = rows
	})
}

// Corrupt Parquet files (bytes changed, dropped, inserted at random) never
// panic, hang or leak; a deterministic stand-in for long fuzzing runs.
func TestParquetCorruptInputs(t *testing.T) {
	var docs []pqDoc
	for i := range 50 {
		docs = append(docs, pqDoc{ID: ptr(fmt.Sprint(i)), Text: ptr(strings.Repeat("t", i)), N: int64(i), Meta: pqMeta{Tags: []string{"a"}}})
	}
	seed := parquetBytes(t, docs, 20)
	n := 1500
	if testing.Short() {
		n = 200
	}
	r := rand.New(rand.NewSource(1))
	dir := t.TempDir()
	for it := range n {
		data := append([]byte(nil), seed...)
		for range 1 + r.Intn(8) {
			i := r.Intn(len(data))
			switch r.Intn(4) {
			case 0:
				data[i] = byte(r.Intn(256))
			case 1:
				data[i] = 0xff
			case 2:
				data = append(data[:i], data[i+1:]...)
			default:
				data = append(data[:i], append([]byte{byte(r.Intn(256))}, data[i:]...)...)
			}
		}
		writeFile(t, dir, "f.parquet", data)
		env := checkedEnv(t, dir, 1)
		rows, err := drain(newSource(t, "parquet", env, map[string]any{"path": "f.parquet"}))
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		if len(rows) > len(docs) {
			t.Fatalf("iteration %d: %d rows from a file of %d", it, len(rows), len(docs))
		}
	}
}
