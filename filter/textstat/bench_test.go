package textstat

import (
	"testing"

	"github.com/curatehq/curate/filter/internal/benchdata"
)

func BenchmarkAppendWords(b *testing.B) {
	texts := benchdata.All(b)
	var words []Word
	m := benchdata.StartMeter(b, benchdata.Bytes(texts))
	for i := 0; i < b.N; i++ {
		for _, t := range texts {
			words = AppendWords(words[:0], t)
		}
	}
	m.Stop(b)
}

func BenchmarkHash(b *testing.B) {
	texts := benchdata.All(b)
	m := benchdata.StartMeter(b, benchdata.Bytes(texts))
	for i := 0; i < b.N; i++ {
		for _, t := range texts {
			Hash(t)
		}
	}
	m.Stop(b)
}

func BenchmarkLoop(b *testing.B) {
	texts := benchdata.All(b)
	m := benchdata.StartMeter(b, benchdata.Bytes(texts))
	n := 0
	for i := 0; i < b.N; i++ {
		for _, t := range texts {
			for j := 0; j < len(t); j++ {
				if asciiClass[t[j]&127] == clSpace {
					n++
				}
			}
		}
	}
	m.Stop(b)
	_ = n
}
