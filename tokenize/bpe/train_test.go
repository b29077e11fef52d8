package bpe

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func shakespeare(t testing.TB) string {
	return filepath.Join(pipelinetest.SharedData(t), "text", "tinyshakespeare_train90.txt")
}

func TestTrainShakespeareLossless(t *testing.T) {
	path := shakespeare(t)
	tok, stats, err := Train(context.Background(), TrainOptions{VocabSize: 1024}, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", stats)
	if tok.VocabSize() != 1024 || stats.Merges < 1024-257 {
		t.Fatalf("vocab %d after %d merges, want 1024", tok.VocabSize(), stats.Merges)
	}
	if id := tok.EOT(); id != 1023 {
		t.Errorf("EOT = %d, want the last id 1023", id)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	ids := tok.Encode(nil, text)
	if got := tok.Decode(ids); got != text {
		t.Fatal("decode(encode(training text)) differs from the text")
	}
	ratio := float64(len(text)) / float64(len(ids))
	t.Logf("%d bytes -> %d tokens (%.2f bytes/token)", len(text), len(ids), ratio)
	if ratio < 2.2 {
		t.Errorf("compression %.2f bytes/token: the merges do not fit the text", ratio)
	}
	// the tokenizer.json written for it loads back and encodes the same
	js, err := tok.HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromHFJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Encode(nil, text); !slices.Equal(got, ids) {
		t.Fatal("tokenizer.json round trip encodes differently")
	}
	if back.VocabSize() != tok.VocabSize() || back.EOT() != tok.EOT() {
		t.Errorf("round trip: vocab %d eot %d, want %d %d", back.VocabSize(), back.EOT(), tok.VocabSize(), tok.EOT())
	}
}

func TestTrainDeterministicAndChunked(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat("the cat sat on the mat; the dog   sat\n\non the log. 1234 ünïcödé 中文字符\n", 200)
	path := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	whole := &pieceCounter{split: gpt2Splitter{}, counts: map[string]int64{}, max: 1 << 20}
	initClasses()
	whole.count(text, true)
	for _, chunk := range []int{7, 64, 1000, 1 << 20} {
		c := &pieceCounter{split: gpt2Splitter{}, counts: map[string]int64{}, max: 1 << 20, chunk: chunk}
		var st TrainStats
		if err := c.countFile(context.Background(), path, "text", &st); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.counts, whole.counts) {
			t.Errorf("chunk %d: counts differ from counting the whole text", chunk)
		}
	}
	a, _, err := Train(context.Background(), TrainOptions{VocabSize: 400, Specials: []string{"<|endoftext|>", "<pad>"}}, path)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Train(context.Background(), TrainOptions{VocabSize: 400, Specials: []string{"<|endoftext|>", "<pad>"}}, path)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := a.HFJSON()
	jb, _ := b.HFJSON()
	if string(ja) != string(jb) {
		t.Error("two trainings on the same input differ")
	}
	if sp, n := a.Specials(), int32(a.VocabSize()); sp["<|endoftext|>"] != n-2 || sp["<pad>"] != n-1 || n < 300 {
		t.Errorf("specials %v of %d ids, want the last two", sp, n)
	}
	if got := a.Decode(a.Encode(nil, text)); got != text {
		t.Error("not lossless")
	}
}

func TestTrainJSONLAndPruning(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString(`{"id":"x","text":"word` + strings.Repeat("z", i%50) + ` common common words here"}` + "\n")
	}
	path := filepath.Join(dir, "in.jsonl")
	os.WriteFile(path, []byte(b.String()), 0o644)
	tok, st, err := Train(context.Background(), TrainOptions{VocabSize: 300, MaxPieces: 20}, path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Documents != 300 || st.Pruned == 0 || st.Distinct > 20 {
		t.Errorf("stats %+v: want 300 documents, some pruned, at most 20 kept", st)
	}
	if _, ok := tok.vocab[" common"]; !ok {
		t.Error(`frequent piece " common" did not become a token`)
	}
}

func TestTrainCompressedInputs(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat("compressed inputs train the same merges as plain ones\n", 100)
	plain := filepath.Join(dir, "a.txt")
	os.WriteFile(plain, []byte(text), 0o644)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"text": ` + strconv.Quote(text) + "}\n"))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "b.jsonl.gz"), gz.Bytes(), 0o644)
	enc, _ := zstd.NewWriter(nil)
	os.WriteFile(filepath.Join(dir, "c.txt.zst"), enc.EncodeAll([]byte(text), nil), 0o644)
	want, _, err := Train(context.Background(), TrainOptions{VocabSize: 300}, plain)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := want.HFJSON()
	for _, in := range []string{"b.jsonl.gz", "c.txt.zst"} {
		got, st, err := Train(context.Background(), TrainOptions{VocabSize: 300}, filepath.Join(dir, in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if js, _ := got.HFJSON(); string(js) != string(wantJSON) || st.Pieces == 0 {
			t.Errorf("%s: trained differently from the plain text", in)
		}
	}
}

func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"ok\"}\nnot json\n"), 0o644)
	numText := filepath.Join(dir, "num.jsonl")
	os.WriteFile(numText, []byte("{\"text\": 5}\n"), 0o644)
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("some text"), 0o644)
	for _, tc := range []struct {
		opts   TrainOptions
		inputs []string
		want   string
	}{
		{TrainOptions{VocabSize: 100}, []string{good}, "below 256"},
		{TrainOptions{VocabSize: 300}, nil, "no input"},
		{TrainOptions{VocabSize: 300}, []string{filepath.Join(dir, "missing.txt")}, "missing.txt"},
		{TrainOptions{VocabSize: 300}, []string{filepath.Join(dir, "*.none")}, "no such files"},
		{TrainOptions{VocabSize: 300}, []string{bad}, "line 2"},
		{TrainOptions{VocabSize: 300}, []string{numText}, `line 1: field "text" is not a string`},
		{TrainOptions{VocabSize: 300, Pattern: "o200k"}, []string{good}, "pattern"},
		{TrainOptions{VocabSize: 300, Specials: []string{"a", "a"}}, []string{good}, "repeated"},
	} {
		_, _, err := Train(context.Background(), tc.opts, tc.inputs...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Train(%+v, %v): err = %v, want %q", tc.opts, tc.inputs, err, tc.want)
		}
	}
	// an empty corpus trains a byte-only vocabulary
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	tok, _, err := Train(context.Background(), TrainOptions{VocabSize: 300}, empty)
	if err != nil || tok.VocabSize() != 257 {
		t.Errorf("empty corpus: %v, vocab %d, want 257", err, tok.VocabSize())
	}
	if s := "héllo"; tok.Decode(tok.Encode(nil, s)) != s || !utf8.ValidString(s) {
		t.Error("byte-only vocabulary is not lossless")
	}
}

// FuzzChunkedCount checks that counting plain text in chunks, carrying each
// chunk's last piece into the next, counts what the whole text holds, for
// both pre-tokenizers and any chunk size.
func FuzzChunkedCount(f *testing.F) {
	f.Add("the cat  sat\n\n on the\tmat 12345 ünï 中文 'll 's\r\n  ", uint8(3))
	f.Add(strings.Repeat(" ", 40)+"x", uint8(1))
	f.Add("ab\xffcd 中", uint8(2))
	initClasses()
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string, chunk uint8) {
		path := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, sp := range []splitter{gpt2Splitter{}, cl100kSplitter{}} {
			whole := &pieceCounter{split: sp, counts: map[string]int64{}, max: 1 << 20}
			whole.count(text, true)
			c := &pieceCounter{split: sp, counts: map[string]int64{}, max: 1 << 20, chunk: int(chunk%64) + 1}
			var st TrainStats
			if err := c.countFile(context.Background(), path, "text", &st); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.counts, whole.counts) {
				t.Fatalf("%T, chunk %d: counts %v, whole text %v", sp, c.chunk, c.counts, whole.counts)
			}
		}
	})
}
