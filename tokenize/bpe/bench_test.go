package bpe

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// benchDocs returns documents from the shared data: langid sentences of
// every language in groups of 20 lines, and the English prose files in
// groups of 10 paragraphs (the documents bench/tokenize.sh feeds bpe-ref).
func benchDocs(b *testing.B) ([]string, int64) {
	dir := pipelinetest.SharedData(b)
	var files []string
	for _, pat := range []string{"langid/sentences/*.txt", "text/*/*.txt", "text/*.txt"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	var docs []string
	var n int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		text := strings.ToValidUTF8(string(data), "\uFFFD")
		sep, group := "\n\n", 10
		if strings.Contains(f, "langid") {
			sep, group = "\n", 20
		}
		parts := strings.Split(text, sep)
		for i := 0; i < len(parts); i += group {
			d := strings.Join(parts[i:min(i+group, len(parts))], sep)
			docs = append(docs, d)
			n += int64(len(d))
		}
	}
	return docs, n
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"gpt2", "cl100k_base"} {
		b.Run(name, func(b *testing.B) {
			tok := mustLoad(b, name)
			docs, n := benchDocs(b)
			b.SetBytes(n)
			var ids []int32
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, d := range docs {
					ids = tok.Encode(ids[:0], d)
				}
			}
		})
	}
}

// BenchmarkEncodeKinds times English prose and the 75-language sentences
// apart.
func BenchmarkEncodeKinds(b *testing.B) {
	dir := pipelinetest.SharedData(b)
	for _, kind := range []struct{ name, glob string }{
		{"english", "text/tinyshakespeare_train90.txt"},
		{"langid", "langid/sentences/*.txt"},
		{"cjk", "langid/sentences/[jzk][aho].txt"},
	} {
		files, _ := filepath.Glob(filepath.Join(dir, kind.glob))
		var docs []string
		var n int64
		for _, f := range files {
			data, _ := os.ReadFile(f)
			for _, d := range strings.SplitAfter(string(data), "\n\n") {
				docs = append(docs, d)
				n += int64(len(d))
			}
		}
		for _, name := range []string{"gpt2", "cl100k_base"} {
			b.Run(kind.name+"/"+name, func(b *testing.B) {
				tok := mustLoad(b, name)
				b.SetBytes(n)
				var ids []int32
				for i := 0; i < b.N; i++ {
					for _, d := range docs {
						ids = tok.Encode(ids[:0], d)
					}
				}
			})
		}
	}
}

func BenchmarkEncodeParallel(b *testing.B) {
	tok := mustLoad(b, "gpt2")
	docs, n := benchDocs(b)
	b.SetBytes(n / int64(len(docs)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ids []int32
		i := 0
		for pb.Next() {
			ids = tok.Encode(ids[:0], docs[i%len(docs)])
			i++
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	for i := 0; i < b.N; i++ {
		loadMu.Lock()
		delete(loaded, "gpt2")
		loadMu.Unlock()
		mustLoad(b, "gpt2")
	}
}

func BenchmarkHFJSON(b *testing.B) {
	tok := mustLoad(b, "gpt2")
	for i := 0; i < b.N; i++ {
		if _, err := tok.HFJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainCount times the streaming pre-token count of training.
func BenchmarkTrainCount(b *testing.B) {
	path := shakespeare(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	initClasses()
	for i := 0; i < b.N; i++ {
		c := &pieceCounter{split: gpt2Splitter{}, counts: map[string]int64{}, max: 1 << 20, chunk: chunkSize}
		var stats TrainStats
		if err := c.countFile(context.Background(), path, "text", &stats); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrain times a whole training run (count and 1,000 merges).
func BenchmarkTrain(b *testing.B) {
	path := shakespeare(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	for i := 0; i < b.N; i++ {
		if _, _, err := Train(context.Background(), TrainOptions{VocabSize: 1280}, path); err != nil {
			b.Fatal(err)
		}
	}
}
