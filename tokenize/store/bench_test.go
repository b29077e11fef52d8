package store

import (
	"testing"
)

// BenchmarkWriter measures the writer alone: packing, sha256 and CRC-32C
// while writing, and the file writes. Bytes are the tokens written to the
// .bin (uint16).
func BenchmarkWriter(b *testing.B) {
	c := makeCorpus(1, 1000, 2000, 50257)
	var tokens int64
	for _, d := range c.docs {
		tokens += int64(len(d) + 1)
	}
	b.SetBytes(2 * tokens)
	b.ReportAllocs()
	dir := b.TempDir()
	for b.Loop() {
		w, err := Create(dir, Options{VocabSize: 50257, EOT: 50256, AppendEOT: true, ShardTokens: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		for i, d := range c.docs {
			if err := w.AddDoc(d, c.domains[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindow measures reading training windows (1024 tokens) across
// the mapped shards. Bytes are the tokens read (as int32).
func BenchmarkWindow(b *testing.B) {
	dir := b.TempDir()
	c := makeCorpus(1, 1000, 2000, 50257)
	writeCorpus(b, dir, c, Options{VocabSize: 50257, EOT: 50256, AppendEOT: true, ShardTokens: 100000})
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	buf := make([]int32, 1024)
	b.SetBytes(4 * 1024)
	var start int64
	for b.Loop() {
		if err := s.Window(buf, start); err != nil {
			b.Fatal(err)
		}
		start = (start + 7919*13) % (s.NumTokens() - 1024)
	}
}
