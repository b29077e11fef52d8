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
