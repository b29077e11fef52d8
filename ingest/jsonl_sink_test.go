package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// testBatch builds a batch with extra and annotation columns, including
// token ids that sinks must leave out.
func testBatch(alloc memory.Allocator, from, n int) arrow.Record {
	docs := make([]pipelinetest.Doc, n)
	for i := range docs {
		k := from + i
		docs[i] = pipelinetest.Doc{ID: fmt.Sprintf("d%d", k), Text: fmt.Sprintf("text \"%d\"\n<é>\t%s", k, strings.Repeat("y", k%50)),
			Extra: map[string]any{"url": fmt.Sprintf("http://x/%d", k), "score": float64(k) / 4}}
		if k%3 == 0 {
			docs[i].Extra["url"] = nil
		}
	}
	rec := pipelinetest.Batch(alloc, docs...)
	defer rec.Release()
	// annotation columns: n_tokens (int64) and tokens (list<int32>)
	nt := array.NewInt64Builder(alloc)
	defer nt.Release()
	tb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
	defer tb.Release()
	vb := tb.ValueBuilder().(*array.Int32Builder)
	for i := range n {
		nt.Append(int64(i + 1))
		tb.Append(true)
		vb.Append(int32(i))
	}
	ntArr, tArr := nt.NewArray(), tb.NewArray()
	defer ntArr.Release()
	defer tArr.Release()
	fields := append(rec.Schema().Fields(), arrow.Field{Name: pipelines.ColNTokens, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: pipelines.ColTokens, Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)})
	cols := append(append([]arrow.Array(nil), rec.Columns()...), ntArr, tArr)
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(n))
}

// wantLine is the line the jsonl sink must write for document k of testBatch.
func wantLine(k, i int) string {
	text, _ := json.Marshal(fmt.Sprintf("text \"%d\"\n<é>\t%s", k, strings.Repeat("y", k%50)))
	text = bytes.ReplaceAll(text, []byte(`\u003c`), []byte("<"))
	text = bytes.ReplaceAll(text, []byte(`\u003e`), []byte(">"))
	url := ""
	if k%3 != 0 {
		url = fmt.Sprintf(`,"url":"http://x/%d"`, k)
	}
	score, _ := json.Marshal(float64(k) / 4)
	return fmt.Sprintf(`{"id":"d%d","text":%s,"source":"test","domain":"default","score":%s%s,"n_tokens":%d}`, k, text, score, url, i+1)
}

func readShard(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func readManifest(t *testing.T, dir string) Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJSONLSink(t *testing.T) {
	for _, tc := range []struct {
		compression string
		shardBytes  int64
		workers     int
	}{
		{"none", 1 << 30, 1}, {"none", 4000, 3}, {"gzip", 5000, 2}, {"zstd", 1 << 30, 4},
	} {
		t.Run(fmt.Sprintf("%s-%d-%d", tc.compression, tc.shardBytes, tc.workers), func(t *testing.T) {
			dir := t.TempDir()
			env := checkedEnv(t, dir, tc.workers)
			sink := newSink(t, "jsonl", env, map[string]any{"path": "out", "compression": tc.compression, "shard_bytes": tc.shardBytes})
			total := 0
			for b, n := range []int{10, 300, 1, 90} {
				rec := testBatch(env.Alloc, total, n)
				if err := sink.Write(t.Context(), rec); err != nil {
					t.Fatal(err)
				}
				rec.Release()
				total += n
				if b == 1 {
					if err := sink.Commit(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := sink.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			m := readManifest(t, filepath.Join(dir, "out"))
			if m.Documents != int64(total) || m.Format != "jsonl" || m.Compression != tc.compression {
				t.Errorf("manifest = %+v", m)
			}
			var lines []string
			for i, sh := range m.Shards {
				path := filepath.Join(dir, "out", sh.Name)
				if want := fmt.Sprintf("part-%05d.jsonl%s", i, compression(tc.compression).extension()); sh.Name != want {
					t.Errorf("shard %d named %s, want %s", i, sh.Name, want)
				}
				data, _ := os.ReadFile(path)
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != sh.SHA256 || int64(len(data)) != sh.Bytes {
					t.Errorf("shard %s: sha256/bytes do not match the manifest", sh.Name)
				}
				got := readShard(t, path)
				if int64(len(got)) != sh.Documents {
					t.Errorf("shard %s holds %d lines, manifest says %d", sh.Name, len(got), sh.Documents)
				}
				lines = append(lines, got...)
			}
			if tc.shardBytes < 10000 && len(m.Shards) < 5 {
				t.Errorf("%d shards, want several at shard_bytes=%d", len(m.Shards), tc.shardBytes)
			}
			if tc.shardBytes > 10000 && len(m.Shards) != 2 { // Commit after the second batch closes a shard
				t.Errorf("%d shards, want 2", len(m.Shards))
			}
			if len(lines) != total {
				t.Fatalf("%d lines, want %d", len(lines), total)
			}
			starts := []int{0, 10, 310, 311}
			for k, line := range lines {
				b := 0
				for b+1 < len(starts) && k >= starts[b+1] {
					b++
				}
				if want := wantLine(k, k-starts[b]); line != want {
					t.Fatalf("line %d:\n got  %s\n want %s", k, line, want)
				}
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "out"))
			if len(entries) != len(m.Shards)+1 {
				t.Errorf("output holds %d files, want %d shards + manifest", len(entries), len(m.Shards))
			}
		})
	}
}

// The same input gives the same bytes for any worker count.
func TestJSONLSinkDeterministic(t *testing.T) {
	var first []byte
	for _, workers := range []int{1, 2, 5} {
		dir := t.TempDir()
		env := checkedEnv(t, dir, workers)
		sink := newSink(t, "jsonl", env, map[string]any{"path": "out", "compression": "zstd"})
		rec := testBatch(env.Alloc, 0, 1000)
		if err := sink.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		if err := sink.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "out", ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(data, first) {
			t.Errorf("workers=%d: manifest differs:\n%s\nvs\n%s", workers, data, first)
		}
	}
}

// Abort removes the shard being written and leaves committed ones.
func TestJSONLSinkAbort(t *testing.T) {
	dir := t.TempDir()
	env := checkedEnv(t, dir, 1)
	sink := newSink(t, "jsonl", env, map[string]any{"path": "out"})
	rec := testBatch(env.Alloc, 0, 5)
	defer rec.Release()
	if err := sink.Write(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := sink.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := sink.Abort(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"part-00000.jsonl"}) {
		t.Errorf("after abort: %v, want only the committed shard", names)
	}
}

// jsonl -> jsonl keeps every document and field.
func TestJSONLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := `{"id":"a","text":"one\n\"two\"","url":"u","meta":{"x":[1,true,null]},"n":3}` + "\n" +
		`{"text":"no id","flag":false}` + "\n"
	writeFile(t, dir, "in.jsonl", []byte(in))
	env := checkedEnv(t, dir, 2)
	src := newSource(t, "jsonl", env, map[string]any{"path": "in.jsonl"})
	sink := newSink(t, "jsonl", env, map[string]any{"path": "out"})
	for {
		rec, err := src.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	src.Close()
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := readShard(t, filepath.Join(dir, "out", "part-00000.jsonl"))
	want := []string{
		`{"id":"a","text":"one\n\"two\"","source":"in.jsonl","domain":"default","meta":"{\"x\":[1,true,null]}","n":3,"url":"u"}`,
		`{"id":"in.jsonl:1","text":"no id","source":"in.jsonl","domain":"default","flag":false}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got  %q\n want %q", got, want)
	}
}
