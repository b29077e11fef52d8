package dedup

import (
	"context"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// outcome is what a streaming stage decided for one document.
type outcome struct {
	drop  string
	dupOf string
}

// streamDocs feeds docs through a streaming stage in batches of batch rows,
// running Process on workers goroutines and Sequence in order, as the runner
// does, and returns the decision per document.
func streamDocs(t testing.TB, st pipelines.Stage, alloc memory.Allocator, docs []pipelinetest.Doc, batch, workers int) []outcome {
	t.Helper()
	ctx := context.Background()
	var recs []arrow.Record
	for i := 0; i < len(docs); i += batch {
		recs = append(recs, pipelinetest.Batch(alloc, docs[i:min(len(docs), i+batch)]...))
	}
	results := make([]*pipelines.Result, len(recs))
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = st.Process(ctx, recs[i])
			}
		}()
	}
	for i := range recs {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []outcome
	for i, rec := range recs {
		if errs[i] != nil {
			t.Fatalf("Process: %v", errs[i])
		}
		res := results[i]
		if sq, ok := st.(pipelines.Sequencer); ok {
			if err := sq.Sequence(ctx, rec, res); err != nil {
				t.Fatalf("Sequence: %v", err)
			}
		}
		n := int(rec.NumRows())
		var dup *array.String
		for _, c := range res.Columns {
			if c.Name == ColDupOf {
				dup = c.Array.(*array.String)
			}
		}
		for r := 0; r < n; r++ {
			var o outcome
			if res.Drop != nil {
				o.drop = res.Drop[r]
			}
			if dup != nil {
				o.dupOf = dup.Value(r)
			}
			out = append(out, o)
		}
		for _, c := range res.Columns {
			c.Array.Release()
		}
		if res.Text != nil {
			res.Text.Release()
		}
		rec.Release()
	}
	return out
}

func textDocs(texts ...string) []pipelinetest.Doc {
	docs := make([]pipelinetest.Doc, len(texts))
	for i, s := range texts {
		docs[i] = pipelinetest.Doc{Text: s}
	}
	return docs
}

func params(t testing.TB, spec pipelines.Spec, v map[string]any) pipelines.Params {
	t.Helper()
	p, err := pipelines.NewParams(&spec, v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testEnv(t testing.TB, alloc memory.Allocator) *pipelines.Env {
	env := pipelines.TestEnv(alloc, t.TempDir())
	env.TempDir = t.TempDir()
	return env
}

func textRecord(alloc memory.Allocator, texts ...string) arrow.Record {
	return pipelinetest.Texts(alloc, texts...)
}
