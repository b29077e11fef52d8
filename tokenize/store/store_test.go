package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpus is a deterministic set of documents for the tests.
type corpus struct {
	docs    [][]int32
	domains []string
}

func makeCorpus(seed uint64, n, maxLen, vocab int) corpus {
	r := rand.New(rand.NewPCG(seed, 1))
	var c corpus
	for i := 0; i < n; i++ {
		doc := make([]int32, r.IntN(maxLen+1))
		for j := range doc {
			doc[j] = int32(r.IntN(vocab - 1)) // the last id is the EOT
		}
		c.docs = append(c.docs, doc)
		c.domains = append(c.domains, []string{"web", "books", "code"}[r.IntN(3)])
	}
	return c
}

// stream is what a reader of the whole store sees: every document followed
// by eot.
func (c corpus) stream(eot int32) []int32 {
	var out []int32
	for _, d := range c.docs {
		out = append(out, d...)
		out = append(out, eot)
	}
	return out
}

func writeCorpus(t testing.TB, dir string, c corpus, opts Options) Manifest {
	t.Helper()
	w, err := Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range c.docs {
		if err := w.AddDoc(d, c.domains[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Manifest()
}

func gpt2Opts(shardTokens int64) Options {
	return Options{Tokenizer: "test", TokenizerJSON: []byte(`{"model":{}}`), VocabSize: 50257, EOT: 50256,
		AppendEOT: true, ShardTokens: shardTokens}
}

func mustVerify(t *testing.T, dir string) {
	t.Helper()
	faults, err := Verify(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		t.Errorf("unexpected fault: %v", f)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vocab  int
		dtype  DType
		wantDT DType
	}{
		{"gpt2 auto", 50257, Auto, Uint16},
		{"gpt2 int32", 50257, Int32, Int32},
		{"cl100k auto", 100277, Auto, Int32},
		{"max uint16 auto", 65535, Auto, Uint16},
		{"65536 ids uint16", 65536, Uint16, Uint16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := makeCorpus(7, 300, 200, tc.vocab)
			eot := int32(tc.vocab - 1)
			opts := Options{Tokenizer: "t", TokenizerJSON: []byte(`{"x":1}`), VocabSize: tc.vocab, EOT: eot,
				AppendEOT: true, DType: tc.dtype, ShardTokens: 5000}
			m := writeCorpus(t, dir, c, opts)
			want := c.stream(eot)
			if m.DType != tc.wantDT || m.Documents != 300 || m.Tokens != int64(len(want)) || len(m.Shards) < 3 {
				t.Fatalf("manifest: dtype %s docs %d tokens %d shards %d", m.DType, m.Documents, m.Tokens, len(m.Shards))
			}
			for _, sh := range m.Shards[:len(m.Shards)-1] {
				if sh.Tokens > 5000 {
					t.Errorf("%s holds %d tokens, bound 5000", sh.Name, sh.Tokens)
				}
			}
			var dom Counts
			for i, d := range c.docs {
				if c.domains[i] == "web" {
					dom.Documents++
					dom.Tokens += int64(len(d) + 1)
				}
			}
			if m.Domains["web"] != dom {
				t.Errorf("domain web: %+v, want %+v", m.Domains["web"], dom)
			}
			mustVerify(t, dir)

			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.NumDocs() != 300 || s.NumTokens() != int64(len(want)) || string(s.Tokenizer()) != `{"x":1}` {
				t.Fatalf("store: %d docs %d tokens tokenizer %q", s.NumDocs(), s.NumTokens(), s.Tokenizer())
			}
			for i, d := range c.docs {
				got := s.Doc(int64(i))
				if !slices.Equal(got, append(slices.Clone(d), eot)) {
					t.Fatalf("doc %d: got %d tokens, want %d", i, len(got), len(d)+1)
				}
			}
			if s.Doc(-1) != nil || s.Doc(300) != nil {
				t.Error("Doc out of range should be nil")
			}
			r := rand.New(rand.NewPCG(1, 2))
			for k := 0; k < 200; k++ {
				n := r.IntN(12000)
				start := r.Int64N(int64(len(want)-n) + 1)
				buf := make([]int32, n)
				if err := s.Window(buf, start); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(buf, want[start:start+int64(n)]) {
					t.Fatalf("window [%d,+%d) differs", start, n)
				}
			}
			whole := make([]int32, len(want))
			if err := s.Window(whole, 0); err != nil || !slices.Equal(whole, want) {
				t.Fatalf("whole window: %v", err)
			}
			for _, start := range []int64{-1, int64(len(want)) - 5} {
				if err := s.Window(make([]int32, 10), start); err == nil {
					t.Errorf("window at %d: want an error", start)
				}
			}
		})
	}
}

// TestNanoGPTReader reads the .bin files the way nanoGPT does
// (np.memmap(path, dtype=np.uint16)): raw little-endian uint16, nothing else.
func TestNanoGPTReader(t *testing.T) {
	dir := t.TempDir()
	c := makeCorpus(3, 100, 300, 50257)
	m := writeCorpus(t, dir, c, gpt2Opts(4000))
	var got []int32
	for _, sh := range m.Shards {
		b, err := os.ReadFile(filepath.Join(dir, sh.Bin()))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(b); i += 2 {
			got = append(got, int32(binary.LittleEndian.Uint16(b[i:])))
		}
	}
	if !slices.Equal(got, c.stream(50256)) {
		t.Fatal("raw uint16 tokens differ from the documents")
	}
}

// TestIndexGolden pins the .idx bytes to Megatron's layout.
func TestIndexGolden(t *testing.T) {
	dir := t.TempDir()
	c := corpus{docs: [][]int32{{1, 2}, {}, {3}}, domains: []string{"a", "a", "b"}}
	writeCorpus(t, dir, c, Options{VocabSize: 10, EOT: 9, AppendEOT: true})
	idx, err := os.ReadFile(filepath.Join(dir, "shard_00000.idx"))
	if err != nil {
		t.Fatal(err)
	}
	want := "4d4d494449445800" + "00" + // MMIDIDX\0\0
		"0100000000000000" + // version 1
		"08" + // uint16
		"0300000000000000" + // 3 sequences
		"0400000000000000" + // document index of 4
		"03000000" + "01000000" + "02000000" + // sizes
		"0000000000000000" + "0600000000000000" + "0800000000000000" + // byte pointers
		"0000000000000000" + "0100000000000000" + "0200000000000000" + "0300000000000000"
	if got := hex.EncodeToString(idx); got != want {
		t.Fatalf("idx\n got %s\nwant %s", got, want)
	}
	bin, _ := os.ReadFile(filepath.Join(dir, "shard_00000.bin"))
	if got := hex.EncodeToString(bin); got != "0100"+"0200"+"0900"+"0900"+"0300"+"0900" {
		t.Fatalf("bin %s", got)
	}
}

func TestWriterBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"uint16 too small", Options{VocabSize: 100000, DType: Uint16}, "cannot hold"},
		{"no vocab", Options{}, "positive size"},
		{"bad dtype", Options{VocabSize: 10, DType: "int8"}, "unknown dtype"},
		{"eot outside", Options{VocabSize: 10, EOT: 10, AppendEOT: true}, "outside the vocabulary"},
		{"negative shard", Options{VocabSize: 10, ShardTokens: -1}, "shard_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Create(t.TempDir(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	w, err := Create(t.TempDir(), Options{VocabSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, bad := range [][]int32{{10}, {-1}, {1, 2, 300}} {
		if err := w.AddDoc(bad, "d"); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
			t.Errorf("AddDoc(%v): %v", bad, err)
		}
	}
	if w.Documents() != 0 {
		t.Errorf("rejected documents were counted: %d", w.Documents())
	}
}

func TestEmptyDocuments(t *testing.T) {
	for _, eot := range []bool{true, false} {
		dir := t.TempDir()
		c := corpus{docs: [][]int32{{}, {5}, {}, {}}, domains: []string{"a", "a", "a", "a"}}
		m := writeCorpus(t, dir, c, Options{VocabSize: 10, EOT: 9, AppendEOT: eot})
		mustVerify(t, dir)
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		wantTokens := int64(1)
		if eot {
			wantTokens = 5
		}
		if m.Documents != 4 || s.NumTokens() != wantTokens {
			t.Errorf("eot=%v: %d docs, %d tokens", eot, m.Documents, s.NumTokens())
		}
		if got := s.Doc(2); eot && !slices.Equal(got, []int32{9}) || !eot && len(got) != 0 {
			t.Errorf("eot=%v: empty doc reads %v", eot, got)
		}
		s.Close()
	}
	// A store with no documents at all is valid too.
	dir := t.TempDir()
	m := writeCorpus(t, dir, corpus{}, gpt2Opts(0))
	mustVerify(t, dir)
	s, err := Open(dir)
	if err != nil || m.Documents != 0 || len(m.Shards) != 0 || s.NumTokens() != 0 {
		t.Fatalf("empty store: %v %+v", err, m)
	}
	if err := s.Window(nil, 0); err != nil {
		t.Error(err)
	}
	s.Close()
}

func TestDocumentLargerThanShard(t *testing.T) {
	dir := t.TempDir()
	big := make([]int32, 250)
	c := corpus{docs: [][]int32{{1, 2}, big, {3}, {4}}, domains: []string{"a", "a", "a", "a"}}
	m := writeCorpus(t, dir, c, Options{VocabSize: 10, EOT: 9, AppendEOT: true, ShardTokens: 100})
	var got []int64
	for _, sh := range m.Shards {
		got = append(got, sh.Documents, sh.Tokens)
	}
	if want := []int64{1, 3, 1, 251, 2, 4}; !slices.Equal(got, want) {
		t.Fatalf("shards (docs, tokens): %v, want %v", got, want)
	}
	mustVerify(t, dir)
	s, _ := Open(dir)
	defer s.Close()
	if d := s.Doc(1); len(d) != 251 {
		t.Fatalf("big doc has %d tokens", len(d))
	}
}

func TestCheckpointRestore(t *testing.T) {
	c := makeCorpus(11, 200, 100, 50257)
	oneShot := t.TempDir()
	want := writeCorpus(t, oneShot, c, gpt2Opts(3000))

	dir := t.TempDir()
	w, err := Create(dir, gpt2Opts(3000))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 80; i++ {
		w.AddDoc(c.docs[i], c.domains[i])
	}
	st, err := w.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	// Documents after the checkpoint are written, then the run crashes
	// (nothing more is called) and is resumed from the checkpoint.
	for i := 80; i < 150; i++ {
		w.AddDoc(c.docs[i], c.domains[i])
	}
	w2, err := Create(dir, gpt2Opts(3000))
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Restore(st); err != nil {
		t.Fatal(err)
	}
	for i := 80; i < 200; i++ {
		if err := w2.AddDoc(c.docs[i], c.domains[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	got := w2.Manifest()
	if got.Documents != want.Documents || got.Tokens != want.Tokens || !mapsEqual(got.Domains, want.Domains) {
		t.Fatalf("resumed store: %d docs %d tokens %v, want %d %d %v", got.Documents, got.Tokens, got.Domains, want.Documents, want.Tokens, want.Domains)
	}
	mustVerify(t, dir)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := make([]int32, s.NumTokens())
	s.Window(all, 0)
	if !slices.Equal(all, c.stream(50256)) {
		t.Fatal("resumed store reads differently from a one-shot store")
	}
	// Restore refuses missing shards.
	w3, _ := Create(t.TempDir(), gpt2Opts(3000))
	if err := w3.Restore(st); err == nil {
		t.Error("Restore into an empty folder should fail")
	}
}

func mapsEqual(a, b map[string]Counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, gpt2Opts(100))
	c := makeCorpus(5, 50, 60, 50257)
	for i := 0; i < 20; i++ {
		w.AddDoc(c.docs[i], "a")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	kept := listDir(t, dir)
	for i := 20; i < 50; i++ {
		w.AddDoc(c.docs[i], "a")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); !slices.Equal(got, kept) {
		t.Fatalf("after Abort: %v, want the flushed shards %v", got, kept)
	}
	if err := w.AddDoc([]int32{1}, "a"); err == nil {
		t.Error("AddDoc after Abort should fail")
	}
	// Without a flush, Abort leaves nothing.
	dir2 := t.TempDir()
	w2, _ := Create(dir2, gpt2Opts(100))
	for i := 0; i < 50; i++ {
		w2.AddDoc(c.docs[i], "a")
	}
	w2.Abort()
	if got := listDir(t, dir2); len(got) != 0 {
		t.Fatalf("after Abort: %v", got)
	}
}

func listDir(t testing.TB, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestRewriteRemovesStaleShards(t *testing.T) {
	dir := t.TempDir()
	writeCorpus(t, dir, makeCorpus(1, 100, 100, 50257), Options{VocabSize: 50257, ShardTokens: 500, LLMC: true})
	small := makeCorpus(2, 3, 10, 50257)
	m := writeCorpus(t, dir, small, Options{VocabSize: 50257, ShardTokens: 500, LLMC: true})
	want := []string{"llmc/shard_00000.bin", "manifest.json", "shard_00000.bin", "shard_00000.idx"}
	if got := listDir(t, dir); !slices.Equal(got, want) || len(m.Shards) != 1 {
		t.Fatalf("files %v, want %v", got, want)
	}
	mustVerify(t, dir)
}

func TestLLMC(t *testing.T) {
	for _, vocab := range []int{50257, 100277} {
		dir := t.TempDir()
		opts := gpt2Opts(2000)
		opts.VocabSize, opts.LLMC = vocab, true
		c := makeCorpus(9, 60, 100, vocab)
		m := writeCorpus(t, dir, c, opts)
		if len(m.LLMC) != len(m.Shards) || len(m.Shards) < 2 {
			t.Fatalf("llmc files %v for %d shards", m.LLMC, len(m.Shards))
		}
		mustVerify(t, dir)
		out := t.TempDir()
		paths, err := ExportLLMC(context.Background(), dir, out, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, sh := range m.Shards {
			written, _ := os.ReadFile(filepath.Join(dir, m.LLMC[i]))
			exported, _ := os.ReadFile(paths[i])
			bin, _ := os.ReadFile(filepath.Join(dir, sh.Bin()))
			if !bytes.Equal(written, exported) || !bytes.Equal(written[1024:], bin) {
				t.Fatalf("%s: llm.c copy differs from the .bin", sh.Name)
			}
			dt, n, err := ParseLLMCHeader(written)
			if err != nil || dt != m.DType || n != sh.Tokens {
				t.Fatalf("%s: header %s %d %v", sh.Name, dt, n, err)
			}
			magic := binary.LittleEndian.Uint32(written)
			if vocab == 50257 && (magic != 20240520 || binary.LittleEndian.Uint32(written[4:]) != 1) {
				t.Fatalf("GPT-2 header magic %d", magic)
			}
		}
	}
	if _, err := ExportLLMC(context.Background(), t.TempDir(), t.TempDir(), "x"); err == nil {
		t.Error("export of a folder without a store should fail")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nothing")); err == nil || !strings.Contains(err.Error(), "no manifest.json") {
		t.Errorf("missing store: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{"), 0o644)
	if _, err := Open(dir); err == nil {
		t.Error("bad manifest: want an error")
	}
	dir = t.TempDir()
	writeCorpus(t, dir, makeCorpus(4, 30, 50, 50257), gpt2Opts(400))
	os.Truncate(filepath.Join(dir, "shard_00001.bin"), 10)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "shard_00001.bin") {
		t.Errorf("truncated shard: %v", err)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	writeCorpus(t, dir, makeCorpus(1, 20, 50, 50257), Options{VocabSize: 50257, TokenizerJSON: []byte("{}"), ShardTokens: 200, LLMC: true})
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if err := Remove(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"notes.txt"}) {
		t.Fatalf("left %v", got)
	}
	if err := Remove(context.Background(), dir); err != nil {
		t.Fatalf("removing a folder without a store: %v", err)
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	c := makeCorpus(2, 40, 80, 50257)
	m := writeCorpus(t, dir, c, gpt2Opts(1000))
	writeCorpus(t, filepath.Join(dir, ValDir), makeCorpus(3, 5, 80, 50257), gpt2Opts(1000))
	s, err := Inspect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Documents != 40 || s.Tokens != m.Tokens || s.VocabSize != 50257 || s.DType != Uint16 || s.Tokenizer != "test" ||
		len(s.Shards) != len(m.Shards) || s.Bytes != 2*m.Tokens || s.Val == nil || s.Val.Documents != 5 {
		t.Fatalf("summary %+v", s)
	}
	b, _ := json.Marshal(s)
	var keys map[string]any
	json.Unmarshal(b, &keys)
	for _, k := range []string{"documents", "tokens", "vocab_size", "dtype", "tokenizer", "shards", "domains"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("inspect JSON lacks %q", k)
		}
	}
	if _, err := Inspect(context.Background(), t.TempDir()); err == nil {
		t.Error("inspect of an empty folder: want an error")
	}
}

func TestUseAfterClose(t *testing.T) {
	dir := t.TempDir()
	writeCorpus(t, dir, makeCorpus(1, 10, 20, 50257), gpt2Opts(0))
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s.Doc(0) != nil || s.Window(make([]int32, 2), 0) == nil {
		t.Fatal("a closed store still reads")
	}
}
