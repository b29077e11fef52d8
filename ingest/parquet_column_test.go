package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/parquet-go/parquet-go"

	"github.com/curatehq/curate/pipelines"
)

// pqWide has a column of every kind the source maps, most of them optional.
type pqWide struct {
	ID     *int64   `parquet:"id,optional"`
	Text   *string  `parquet:"text,optional"`
	Source *string  `parquet:"source,optional"`
	Lang   string   `parquet:"lang,dict"` // dictionary-encoded
	N32    *int32   `parquet:"n32,optional"`
	F32    float32  `parquet:"f32"`
	Ok     *bool    `parquet:"ok,optional"`
	Domain string   `parquet:"domain"` // carried as input_domain
	Tags   []string `parquet:"tags"`   // a repeated leaf: nested, as JSON
}

// pqDict has a dictionary-encoded text and a string id.
type pqDict struct {
	ID   string `parquet:"id,dict"`
	Text string `parquet:"text,dict"`
}

func writeParquet[T any](t testing.TB, docs []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[T](&b, opts...)
	if _, err := w.Write(docs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func randomWide(r *rand.Rand, n int) []pqWide {
	docs := make([]pqWide, n)
	words := []string{"alpha", "béta", "γάμμα", "delta \xff bad", "", "epsilon"}
	for i := range docs {
		d := &docs[i]
		if r.Intn(3) > 0 {
			d.ID = new(int64)
			*d.ID = r.Int63n(1000) - 500
		}
		if r.Intn(8) > 0 {
			var sb strings.Builder
			for range r.Intn(40) {
				sb.WriteString(words[r.Intn(len(words))])
				sb.WriteByte(' ')
			}
			s := sb.String()
			d.Text = &s
		}
		if r.Intn(2) == 0 {
			s := "src-" + words[r.Intn(len(words))]
			d.Source = &s
		}
		d.Lang = []string{"en", "de", "fr"}[r.Intn(3)]
		if r.Intn(2) == 0 {
			v := int32(r.Intn(100))
			d.N32 = &v
		}
		d.F32 = float32(r.Intn(8)) / 4
		if r.Intn(2) == 0 {
			v := r.Intn(2) == 0
			d.Ok = &v
		}
		d.Domain = "in-" + d.Lang
		d.Tags = []string{words[r.Intn(len(words))], "t"}
	}
	return docs
}

// wantWide is what the source must give for docs of file name: the
// documents and the 1-based rows of the rejected ones.
func wantWide(name string, docs []pqWide) (rows []row, rejected []int64) {
	// (the data has single bad bytes, where this and pipelines.ValidUTF8 agree)
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	for i, d := range docs {
		if d.Text == nil {
			rejected = append(rejected, int64(i)+1)
			continue
		}
		r := row{"text": fix(*d.Text), "source": name, "domain": "default", "lang": d.Lang,
			"f32": float64(d.F32), "input_domain": d.Domain}
		r["id"] = fmt.Sprintf("%s:%d", name, i)
		if d.ID != nil {
			r["id"] = fmt.Sprint(*d.ID)
		}
		if d.Source != nil {
			r["source"] = fix(*d.Source)
		}
		if d.N32 != nil {
			r["n32"] = float64(*d.N32)
		}
		if d.Ok != nil {
			r["ok"] = *d.Ok
		}
		tags, _ := json.Marshal(d.Tags)
		r["tags"] = fix(string(tags))
		rows = append(rows, r)
	}
	return rows, rejected
}

// The columnar reader gives what the rows of the file say, whatever the
// page, row group and batch boundaries: every column kind, nulls,
// dictionary pages, a nested column, null texts rejected with their rows.
func TestParquetSourceColumns(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for it := range 6 {
		n := 1 + r.Intn(400)
		docs := randomWide(r, n)
		opts := []parquet.WriterOption{parquet.PageBufferSize(64 + r.Intn(4096)),
			parquet.MaxRowsPerRowGroup(int64(1 + r.Intn(150)))}
		if it%2 == 1 {
			opts = append(opts, parquet.DataPageVersion(1))
		}
		dir := t.TempDir()
		writeFile(t, dir, "w.parquet", writeParquet(t, docs, opts...))
		env := checkedEnv(t, dir, 1)
		env.BatchRows = 1 + r.Intn(60)
		env.BatchBytes = int64(100 + r.Intn(3000))
		src := newSource(t, "parquet", env, map[string]any{"path": "w.parquet"})
		var got []row
		if err := eachBatch(src, func(rec arrow.Record) {
			if rec.NumRows() > int64(env.BatchRows) {
				t.Errorf("batch of %d rows, bound %d", rec.NumRows(), env.BatchRows)
			}
			if tb := textBytes(rec); rec.NumRows() > 1 && tb > env.BatchBytes+400 {
				t.Errorf("batch of %d text bytes, bound %d", tb, env.BatchBytes)
			}
			got = append(got, recordRows(rec)...)
		}); err != nil {
			t.Fatal(err)
		}
		want, rejected := wantWide("w.parquet", docs)
		if len(got) != len(want) {
			t.Fatalf("it %d: %d rows, want %d", it, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("it %d row %d:\n got  %v\n want %v", it, i, got[i], want[i])
			}
		}
		rej := env.Rejects.List()
		if len(rej) != len(rejected) {
			t.Fatalf("it %d: %d rejects, want %d: %+v", it, len(rej), len(rejected), rej)
		}
		for i := range rej {
			if rej[i].Line != rejected[i] || !strings.Contains(rej[i].Reason, `"text" is null`) {
				t.Errorf("reject %d = %+v, want row %d", i, rej[i], rejected[i])
			}
		}
	}
}

// Dictionary-encoded text and ids take the value-reader path.
func TestParquetSourceDictionary(t *testing.T) {
	docs := make([]pqDict, 300)
	for i := range docs {
		docs[i] = pqDict{ID: fmt.Sprint("k", i%7), Text: fmt.Sprint("text ", i%5)}
	}
	dir := t.TempDir()
	writeFile(t, dir, "d.parquet", writeParquet(t, docs, parquet.PageBufferSize(256)))
	env := checkedEnv(t, dir, 1)
	rows := readAll(t, newSource(t, "parquet", env, map[string]any{"path": "d.parquet"}))
	if len(rows) != len(docs) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r["id"] != docs[i].ID || r["text"] != docs[i].Text || len(r) != 4 {
			t.Fatalf("row %d = %v", i, r)
		}
	}
}

// One huge document makes a batch of its own; the small ones around it
// keep to the byte bound.
func TestParquetSourceHugeDocument(t *testing.T) {
	var docs []pqDoc
	for i := range 200 {
		text := strings.Repeat("w", 100)
		if i == 120 {
			text = strings.Repeat("HUGE ", 1<<20)
		}
		docs = append(docs, pqDoc{Text: ptr(text)})
	}
	dir := t.TempDir()
	writeFile(t, dir, "h.parquet", parquetBytes(t, docs, 1000))
	env := checkedEnv(t, dir, 1)
	env.BatchBytes = 4000
	src := newSource(t, "parquet", env, map[string]any{"path": "h.parquet"})
	n := 0
	if err := eachBatch(src, func(rec arrow.Record) {
		texts := pipelines.Texts(rec)
		for i := range texts.Len() {
			if len(texts.Value(i)) > 1000 && (n+i != 120 || rec.NumRows() > 1 && i == 0) {
				t.Errorf("huge document at row %d, %d in a batch of %d", n+i, i, rec.NumRows())
			}
		}
		if tb := textBytes(rec); tb > 4000+132 && rec.NumRows() > 1 && !strings.HasPrefix(texts.Value(int(rec.NumRows())-1), "HUGE") {
			t.Errorf("batch of %d rows holds %d text bytes", rec.NumRows(), tb)
		}
		n += int(rec.NumRows())
	}); err != nil {
		t.Fatal(err)
	}
	if n != 200 {
		t.Errorf("%d documents", n)
	}
}

// A corrupt page in the second row group rejects the rest of the file from
// the first row the reader had not handed out; the rows before it come out
// whole, and the batch that was being filled stays consistent (the next
// file's rows join it).
func TestParquetSourceCorruptRowGroup(t *testing.T) {
	var docs []pqDoc
	for i := range 100 {
		docs = append(docs, pqDoc{ID: ptr(fmt.Sprint("r", i)), Text: ptr(fmt.Sprint("row ", i, " ", strings.Repeat("x", i)))})
	}
	data := parquetBytes(t, docs, 60)
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	// the id column chunk of row group 1 (read after its text, so the
	// batch has to drop the texts it took): overwrite its first page header
	rg := pf.Metadata().RowGroups[1]
	col := -1
	for i, c := range rg.Columns {
		if strings.Join(c.MetaData.PathInSchema, ".") == "id" {
			col = i
		}
	}
	off := rg.Columns[col].MetaData.DataPageOffset
	for i := range 8 {
		data[off+int64(i)] = 0xff
	}
	dir := t.TempDir()
	writeFile(t, dir, "c.parquet", data)
	writeFile(t, dir, "d.parquet", parquetBytes(t, docs[:3], 10))
	env := checkedEnv(t, dir, 1)
	rows := readAll(t, newSource(t, "parquet", env, map[string]any{"path": "*.parquet"}))
	if len(rows) != 63 {
		t.Fatalf("%d rows, want 60 of c and 3 of d", len(rows))
	}
	for i, r := range rows[:60] {
		if r["id"] != fmt.Sprint("r", i) || r["source"] != "c.parquet" {
			t.Fatalf("row %d = %v", i, r)
		}
	}
	if rows[60]["source"] != "d.parquet" || rows[60]["id"] != "r0" {
		t.Errorf("row 60 = %v", rows[60])
	}
	rej := env.Rejects.List()
	if len(rej) != 1 || rej[0].Line != 61 || !strings.Contains(rej[0].Reason, "rest of file rejected") {
		t.Errorf("rejects = %+v", rej)
	}
}

// Files with different columns go to different batches; a column's type
// comes from the file's schema, so a string column that is null throughout
// a batch is still utf8.
func TestParquetSourceSchemaPerFile(t *testing.T) {
	type withURL struct {
		Text string  `parquet:"text"`
		URL  *string `parquet:"url,optional"`
	}
	dir := t.TempDir()
	writeFile(t, dir, "a.parquet", writeParquet(t, []withURL{{Text: "a0"}, {Text: "a1"}}))
	writeFile(t, dir, "b.parquet", writeParquet(t, []withURL{{Text: "b0", URL: ptr("http://b")}}))
	writeFile(t, dir, "c.parquet", parquetBytes(t, []pqDoc{{Text: ptr("c0")}}, 1))
	env := checkedEnv(t, dir, 1)
	src := newSource(t, "parquet", env, map[string]any{"path": "*.parquet"})
	var shapes []string
	if err := eachBatch(src, func(rec arrow.Record) {
		var cols []string
		for _, f := range rec.Schema().Fields() {
			cols = append(cols, f.Name+":"+f.Type.String())
		}
		shapes = append(shapes, fmt.Sprintf("%d %s", rec.NumRows(), strings.Join(cols, ",")))
		if i := pipelines.Col(rec, "url"); i >= 0 && rec.Column(i).DataType() != arrow.BinaryTypes.String {
			t.Errorf("url is %s", rec.Column(i).DataType())
		}
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"3 id:utf8,text:utf8,source:utf8,domain:utf8,url:utf8",
		"1 id:utf8,text:utf8,source:utf8,domain:utf8,meta:utf8,n:float64,ok:bool,ratio:float64,url:utf8",
	}
	if !reflect.DeepEqual(shapes, want) {
		t.Errorf("batches:\n%s\nwant\n%s", strings.Join(shapes, "\n"), strings.Join(want, "\n"))
	}
}

// An integer id column gives decimal ids; a null id gives PATH:ROW.
func TestParquetSourceIntegerIDs(t *testing.T) {
	type doc struct {
		ID   *int32 `parquet:"id,optional"`
		Text string `parquet:"text"`
	}
	seven := int32(-7)
	dir := t.TempDir()
	writeFile(t, dir, "i.parquet", writeParquet(t, []doc{{ID: &seven, Text: "a"}, {Text: "b"}}))
	rows := readAll(t, newSource(t, "parquet", checkedEnv(t, dir, 1), map[string]any{"path": "i.parquet"}))
	if len(rows) != 2 || rows[0]["id"] != "-7" || rows[1]["id"] != "i.parquet:1" {
		t.Errorf("rows = %v", rows)
	}
}
