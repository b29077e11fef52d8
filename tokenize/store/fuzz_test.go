package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseIndex feeds arbitrary bytes to the index parser and scanner,
// which must answer with a Fault, never a panic.
func FuzzParseIndex(f *testing.F) {
	f.Add(appendIndex(nil, Uint16, []int32{3, 1, 2}))
	f.Add(appendIndex(nil, Int32, nil))
	f.Add([]byte(idxMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := parseIndex(b)
		if err != nil {
			return
		}
		sh := Shard{Name: "s", Documents: x.n, Tokens: 6}
		scanIndex(x, x.dtype, sh, 6*int64(x.dtype.Size()))
	})
}

// FuzzParseManifest checks that any manifest either parses into a
// consistent manifest or is rejected, and that Open and Verify of a store
// with that manifest never panic.
func FuzzParseManifest(f *testing.F) {
	dir := f.TempDir()
	m := writeCorpus(f, dir, makeCorpus(1, 5, 10, 50257), gpt2Opts(20))
	good, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	f.Add(good)
	f.Add([]byte(`{"format":"megatron-mmidx-v1","dtype":"uint16","vocab_size":1,"shards":[{"name":"../x"}]}`))
	f.Add([]byte(`{"format":"megatron-mmidx-v1","dtype":"int32","vocab_size":5,"documents":1,"tokens":1,"shards":[{"name":"shard_00000","documents":1,"tokens":1,"bytes":4}]}`))
	_ = m
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseManifest(b); err != nil {
			return
		}
		// Run it against the real shards: mismatches must be faults.
		d := t.TempDir()
		copyDir(t, dir, d)
		os.WriteFile(filepath.Join(d, ManifestFile), b, 0o644)
		if s, err := Open(d); err == nil {
			for i := int64(-1); i <= s.NumDocs(); i++ {
				s.Doc(i)
			}
			s.Close()
		}
		Verify(context.Background(), d)
	})
}

// FuzzLLMCHeader checks the llm.c header parser never panics and that a
// header it writes reads back.
func FuzzLLMCHeader(f *testing.F) {
	h, _ := LLMCHeader(Uint16, 12345)
	f.Add(h)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		dt, n, err := ParseLLMCHeader(b)
		if err != nil {
			return
		}
		h, err := LLMCHeader(dt, n)
		if err != nil && n >= 0 {
			t.Fatal(err)
		}
		if dt2, n2, err := ParseLLMCHeader(h); err == nil && (dt2 != dt || n2 != n) {
			t.Fatalf("round trip %s %d -> %s %d", dt, n, dt2, n2)
		}
	})
}

// FuzzRoundTrip writes documents cut from the fuzzer's bytes (ids taken two
// bytes at a time, a zero id ending a document) with a small shard bound,
// and checks that the store verifies and reads back exactly.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 0, 0, 3, 0}, uint8(3), false)
	f.Add([]byte{}, uint8(1), true)
	f.Add([]byte{0xff, 0xff, 0, 0, 0, 0, 0x10, 0x27}, uint8(0), true)
	f.Fuzz(func(t *testing.T, b []byte, shard uint8, wide bool) {
		vocab := 50257 // uint16
		if wide {
			vocab = 1 << 20 // int32
		}
		var c corpus
		doc := []int32{}
		for i := 0; i+1 < len(b); i += 2 {
			id := int32(b[i]) | int32(b[i+1])<<8
			if wide {
				id <<= 4
			} else {
				id %= 50257
			}
			if id == 0 {
				c.docs, c.domains = append(c.docs, doc), append(c.domains, "d")
				doc = []int32{}
				continue
			}
			doc = append(doc, id)
		}
		c.docs, c.domains = append(c.docs, doc), append(c.domains, "d")
		dir := t.TempDir()
		m := writeCorpus(t, dir, c, Options{VocabSize: vocab, EOT: 0, AppendEOT: true, ShardTokens: int64(shard) + 1})
		faults, err := Verify(context.Background(), dir)
		if err != nil || len(faults) > 0 {
			t.Fatalf("verify: %v %v", err, faults)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		want := c.stream(0)
		got := make([]int32, s.NumTokens())
		if err := s.Window(got, 0); err != nil || len(got) != len(want) || m.Documents != int64(len(c.docs)) {
			t.Fatalf("window: %v, %d tokens, want %d", err, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("token %d: %d, want %d", i, got[i], want[i])
			}
		}
	})
}
