package tokens

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// benchTexts is the benchmark corpus: the JSONL file named by
// CURATE_BENCH_JSONL ({"id","text"} per line, as the peers read), else
// tinyshakespeare's paragraphs.
func benchTexts(b *testing.B) []string {
	path := os.Getenv("CURATE_BENCH_JSONL")
	if path == "" {
		return corpusTexts(b, 8000)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		var d struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			b.Fatal(err)
		}
		texts = append(texts, d.Text)
	}
	return texts
}

func benchBatches(b *testing.B, texts []string, withIDs bool) ([]arrow.Record, int64) {
	var recs []arrow.Record
	var size int64
	tok := gpt2(b)
	for i := 0; i < len(texts); i += 1024 {
		var ds []pipelinetest.Doc
		var ids [][]int32
		for j := i; j < min(i+1024, len(texts)); j++ {
			ds = append(ds, pipelinetest.Doc{ID: fmt.Sprint(j), Text: texts[j]})
			size += int64(len(texts[j]))
			if withIDs {
				ids = append(ids, tok.Encode([]int32{}, texts[j]))
			}
		}
		rec := pipelinetest.Batch(memory.DefaultAllocator, ds...)
		if withIDs {
			r2 := withTokens(memory.DefaultAllocator, rec, ids)
			rec.Release()
			rec = r2
		}
		recs = append(recs, rec)
	}
	return recs, size
}

// BenchmarkEncode is the encoder alone on one goroutine: the baseline the
// sink's cost is measured against (bench/tokens_sink.sh).
func BenchmarkEncode(b *testing.B) {
	texts := benchTexts(b)
	tok := gpt2(b)
	var size int64
	for _, t := range texts {
		size += int64(len(t))
	}
	b.SetBytes(size)
	var buf []int32
	for b.Loop() {
		for _, t := range texts {
			buf = tok.Encode(buf[:0], t)
		}
	}
}

// BenchmarkSink is the sink encoding the texts itself (one worker) and
// writing the store: encoder plus sink.
func BenchmarkSink(b *testing.B) { benchSink(b, false) }

// BenchmarkSinkTokens is the sink given tokenize.encode's ids: the sink's
// own cost (packing, checksums, writes, fsync at close).
func BenchmarkSinkTokens(b *testing.B) { benchSink(b, true) }

func benchSink(b *testing.B, withIDs bool) {
	recs, size := benchBatches(b, benchTexts(b), withIDs)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	env := pipelines.TestEnv(memory.DefaultAllocator, b.TempDir())
	env.Workers = 1
	spec, _ := pipelines.LookupSpec(pipelines.KindSink, "tokens")
	p, err := pipelines.NewParams(spec, map[string]any{"path": "out"})
	if err != nil {
		b.Fatal(err)
	}
	newSinkBench := func() *Sink {
		s, err := New(p, env)
		if err != nil {
			b.Fatal(err)
		}
		return s.(*Sink)
	}
	newSinkBench() // loads the tokenizer and its saved form once
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		s := newSinkBench()
		for _, r := range recs {
			if err := s.Write(context.Background(), r); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
