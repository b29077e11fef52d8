package dedup

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

type emitted struct {
	id, text string
	removed  int64
}

// runBarrier absorbs docs in batches and collects what Emit sends.
func runBarrier(t testing.TB, g pipelines.Barrier, alloc memory.Allocator, docs []pipelinetest.Doc, batch int) []emitted {
	t.Helper()
	var out []emitted
	absorbEmit(t, g, alloc, docs, batch, func(rec arrow.Record) { out = append(out, rows(rec)...) })
	return out
}

// absorbEmit absorbs docs in batches of batch, then calls fn with each
// record Emit sends.
func absorbEmit(t testing.TB, g pipelines.Barrier, alloc memory.Allocator, docs []pipelinetest.Doc, batch int, fn func(arrow.Record)) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(docs); i += batch {
		rec := pipelinetest.Batch(alloc, docs[i:min(len(docs), i+batch)]...)
		err := g.Absorb(ctx, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Emit(ctx, func(rec arrow.Record) error { fn(rec); return nil }); err != nil {
		t.Fatal(err)
	}
}

// rows returns the id, text and paragraphs_removed of each row of rec.
func rows(rec arrow.Record) []emitted {
	ids, _ := pipelines.StringCol(rec, pipelines.ColID)
	texts := pipelines.Texts(rec)
	removed := rec.Column(pipelines.Col(rec, ColParagraphsRemoved)).(*array.Int64)
	var out []emitted
	for r := 0; r < int(rec.NumRows()); r++ {
		out = append(out, emitted{ids.Value(r), texts.Value(r), removed.Value(r)})
	}
	return out
}

func TestUnits(t *testing.T) {
	cases := []struct {
		text  string
		lines bool
		want  []string
	}{
		{"a\nb\n\nc", false, []string{"a\nb", "c"}},
		{"\n\n a \n\n\n b\n", false, []string{" a ", " b"}},
		{"a\nb\n\nc", true, []string{"a", "b", "c"}},
		{"", false, nil},
		{"x", true, []string{"x"}},
		{"a\r\n\r\nb", false, []string{"a\r", "b"}},
	}
	for _, tc := range cases {
		var got []string
		for _, s := range units(tc.text, tc.lines, nil) {
			got = append(got, tc.text[s.start:s.end])
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("units(%q, lines=%v) = %q, want %q", tc.text, tc.lines, got, tc.want)
		}
	}
}

func FuzzUnits(f *testing.F) {
	f.Add("a\nb\n\nc", false)
	f.Add("\n\n\n", true)
	f.Fuzz(func(t *testing.T, text string, lines bool) {
		prev := 0
		for _, s := range units(text, lines, nil) {
			if s.start < prev || s.end < s.start || s.next < s.end || s.next > len(text) {
				t.Fatalf("bad span %+v after %d in %q", s, prev, text)
			}
			prev = s.next
		}
	})
}

func TestParagraph(t *testing.T) {
	nav := "Home | About | Contact"
	foot := "Copyright 2024 Example Corp."
	var docs []pipelinetest.Doc
	for i := 0; i < 6; i++ {
		docs = append(docs, pipelinetest.Doc{ID: fmt.Sprintf("d%d", i),
			Text: fmt.Sprintf("%s\n\nStory number %d is unique.\nIt has two lines.\n\n%s", nav, i, foot)})
	}
	docs = append(docs, pipelinetest.Doc{ID: "only-nav", Text: nav + "\n\n" + foot + "\n"})
	docs = append(docs, pipelinetest.Doc{ID: "twice", Text: "Repeated twice only."})
	docs = append(docs, pipelinetest.Doc{ID: "twice-2", Text: "repeated   TWICE only."})

	for _, tc := range []struct {
		name   string
		params map[string]any
		budget int64
		check  func(t *testing.T, out []emitted, g *Paragraph)
	}{
		{"boilerplate removed", nil, 1 << 30, func(t *testing.T, out []emitted, g *Paragraph) {
			if len(out) != 8 {
				t.Fatalf("%d documents out, want 8 (only-nav emptied)", len(out))
			}
			if want := "Story number 0 is unique.\nIt has two lines."; out[0].text != want || out[0].removed != 2 {
				t.Errorf("d0 = %q (%d removed), want %q", out[0].text, out[0].removed, want)
			}
			if out[6].text != "Repeated twice only." || out[6].removed != 0 {
				t.Errorf("a paragraph seen twice was touched: %+v", out[6])
			}
			if d := g.Dropped(); d[ReasonEmptyAfterParagraphs] != 1 {
				t.Errorf("Dropped = %v", d)
			}
		}},
		{"lowercase and spill", map[string]any{"max_repeats": 1, "lowercase": true}, 1, func(t *testing.T, out []emitted, g *Paragraph) {
			if len(out) != 6 { // only-nav and both "twice" documents emptied
				t.Fatalf("%d documents out, want 6", len(out))
			}

		}},
		{"keep first", map[string]any{"keep_first": true}, 1 << 30, func(t *testing.T, out []emitted, g *Paragraph) {
			if !strings.HasPrefix(out[0].text, nav) || out[1].removed != 2 {
				t.Errorf("first occurrence not kept: %+v / %+v", out[0], out[1])
			}
		}},
		{"lines", map[string]any{"unit": "line"}, 1 << 30, func(t *testing.T, out []emitted, g *Paragraph) {
			if want := "Story number 3 is unique."; out[3].text != want || out[3].removed != 3 {
				t.Errorf("d3 = %+v, want %q with 3 lines removed", out[3], want)
			}
		}},
		{"annotate only", map[string]any{"annotate_only": true}, 1 << 30, func(t *testing.T, out []emitted, g *Paragraph) {
			if len(out) != len(docs) {
				t.Fatalf("%d documents out, want all %d", len(out), len(docs))
			}
			for i, o := range out {
				if o.text != docs[i].Text {
					t.Errorf("doc %d changed with annotate_only", i)
				}
			}
			if out[0].removed != 2 {
				t.Errorf("paragraphs_removed = %d, want 2", out[0].removed)
			}
			if len(g.Dropped()) != 0 {
				t.Errorf("annotate_only reported drops %v", g.Dropped())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			env := testEnv(t, alloc)
			env.Memory = pipelines.NewBudget(tc.budget)
			g, err := NewParagraph(params(t, paragraphSpec, tc.params), env)
			if err != nil {
				t.Fatal(err)
			}
			out := runBarrier(t, g, alloc, docs, 4)
			tc.check(t, out, g)
			if env.Memory.Used() != 0 {
				t.Errorf("%d bytes still reserved", env.Memory.Used())
			}
		})
	}
}

func TestParagraphSpill(t *testing.T) {
	var docs []pipelinetest.Doc
	for i := 0; i < 1500; i++ {
		docs = append(docs, pipelinetest.Doc{Text: fmt.Sprintf("Menu %d\n\nBody %d of the text.\n\nFooter %d", i%4, i, i%1000)})
	}
	var want []emitted
	for _, budget := range []int64{1 << 30, 1} {
		alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
		env := testEnv(t, alloc)
		env.Memory = pipelines.NewBudget(budget)
		g, err := NewParagraph(params(t, paragraphSpec, map[string]any{"max_repeats": 2}), env)
		if err != nil {
			t.Fatal(err)
		}
		got := runBarrier(t, g, alloc, docs, 100)
		alloc.AssertSize(t, 0)
		if budget == 1 && g.hashRuns == 0 {
			t.Error("a 1-byte budget wrote no hash run")
		}
		if want == nil {
			want = got
			if len(got) != 1500 || got[0].text != "Body 0 of the text.\n\nFooter 0" || got[0].removed != 1 {
				t.Fatalf("got %d docs, first %+v", len(got), got[0])
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Error("output differs under a 1-byte budget")
		}
	}
}

func BenchmarkParagraph(b *testing.B) {
	docs := corpusDocs(b, 2000)
	var size int64
	for i := range docs {
		docs[i].Text = "Home | About\n\n" + strings.ReplaceAll(docs[i].Text, ". ", ".\n\n") + "\n\nCopyright"
		size += int64(len(docs[i].Text))
	}
	b.SetBytes(size)
	for b.Loop() {
		g, err := NewParagraph(params(b, paragraphSpec, nil), testEnv(b, nil))
		if err != nil {
			b.Fatal(err)
		}
		runBarrier(b, g, memory.DefaultAllocator, docs, 256)
	}
}
