package filter_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/filter/blocklist"
	"github.com/curatehq/curate/filter/c4"
	"github.com/curatehq/curate/filter/clean"
	"github.com/curatehq/curate/filter/fineweb"
	"github.com/curatehq/curate/filter/gopher"
	"github.com/curatehq/curate/filter/internal/benchdata"
	"github.com/curatehq/curate/filter/pii"
	"github.com/curatehq/curate/filter/quality"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// ruleStages are the rule filters of the default English web pipeline, in
// pipeline order (filter.language is measured by its own package).
var ruleStages = []*pipelines.Spec{&clean.Spec, &gopher.QualitySpec, &gopher.RepetitionSpec, &c4.Spec, &fineweb.Spec, &pii.Spec}

func build(tb testing.TB, spec *pipelines.Spec, alloc memory.Allocator) pipelines.Stage {
	tb.Helper()
	p, err := pipelines.NewParams(spec, nil)
	if err != nil {
		tb.Fatal(err)
	}
	env := pipelines.TestEnv(alloc, "")
	var st pipelines.Stage
	switch spec.Name {
	case clean.Spec.Name:
		st = clean.New(p, env)
	case gopher.QualitySpec.Name:
		st, err = gopher.NewQuality(p)
	case gopher.RepetitionSpec.Name:
		st, err = gopher.NewRepetition(p)
	case c4.Spec.Name:
		st = c4.New(p, env)
	case fineweb.Spec.Name:
		st = fineweb.New(p)
	case pii.Spec.Name:
		st, err = pii.New(p, env)
	case quality.Spec.Name:
		st, err = quality.New(p, env)
	case blocklist.Spec.Name:
		st, err = blocklist.New(context.Background(), p, env)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func release(res *pipelines.Result) {
	if res.Text != nil {
		res.Text.Release()
	}
	for _, c := range res.Columns {
		c.Array.Release()
	}
}

func batches(texts []string) []arrow.Record {
	var out []arrow.Record
	for i := 0; i < len(texts); i += 256 {
		out = append(out, pipelinetest.Texts(memory.DefaultAllocator, texts[i:min(i+256, len(texts))]...))
	}
	return out
}

func runStage(b *testing.B, st pipelines.Stage, recs []arrow.Record) {
	for _, rec := range recs {
		res, err := st.Process(context.Background(), rec)
		if err != nil {
			b.Fatal(err)
		}
		release(res)
	}
}

// BenchmarkStage measures each stage alone on the real web and webtext
// samples (b.SetBytes: MB/s of input text).
func BenchmarkStage(b *testing.B) {
	texts := benchdata.All(b)
	recs := batches(texts)
	n := benchdata.Bytes(texts)
	for _, spec := range append(ruleStages, &quality.Spec) {
		b.Run(spec.Name, func(b *testing.B) {
			st := build(b, spec, memory.DefaultAllocator)
			m := benchdata.StartMeter(b, n)
			for i := 0; i < b.N; i++ {
				runStage(b, st, recs)
			}
			m.Stop(b)
		})
	}
}

// BenchmarkRuleFilters runs the rule filters together (clean, Gopher
// quality and repetition, C4, FineWeb, PII), each over every document, as a
// pipeline does before drops shrink the input: the throughput of the rule
// part of the default English web pipeline, per core.
func BenchmarkRuleFilters(b *testing.B) {
	texts := benchdata.All(b)
	recs := batches(texts)
	var stages []pipelines.Stage
	for _, spec := range ruleStages {
		stages = append(stages, build(b, spec, memory.DefaultAllocator))
	}
	m := benchdata.StartMeter(b, benchdata.Bytes(texts))
	for i := 0; i < b.N; i++ {
		for _, st := range stages {
			runStage(b, st, recs)
		}
	}
	m.Stop(b)
}

// TestLargeDocument runs every stage over documents of several megabytes
// (a book, a dump; a repetitive one and one where no rule stops early):
// nothing may be quadratic in document size.
func TestLargeDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("large documents take seconds")
	}
	texts := benchdata.All(t)
	var b strings.Builder
	for b.Len() < 4<<20 {
		for _, s := range texts {
			b.WriteString(s)
			b.WriteString("\n\n")
		}
	}
	// and 4 MB of seeded random prose from a 5,000-word vocabulary, where
	// no rule stops early
	rng := rand.New(rand.NewPCG(1, 2))
	var r strings.Builder
	for r.Len() < 4<<20 {
		fmt.Fprintf(&r, "w%d", rng.IntN(5000))
		switch rng.IntN(12) {
		case 0:
			r.WriteString(".\n")
		case 1:
			r.WriteString(". ")
		default:
			r.WriteByte(' ')
		}
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, b.String(), r.String())
	defer rec.Release()
	for _, spec := range append(ruleStages, &quality.Spec) {
		start := time.Now()
		res, err := build(t, spec, alloc).Process(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		release(res)
		t.Logf("%s: %v", spec.Name, time.Since(start))
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%s took %v on two 4 MB documents", spec.Name, d)
		}
	}
}
