package curriculum

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func TestGrade(t *testing.T) {
	cases := []struct {
		text   string
		want   float64
		wantOK bool
	}{
		{"", 0, false},
		{"  ... !!", 0, false},
		// 6 words, 1 sentence, 6 syllables: 0.39*6 + 11.8 - 15.59
		{"The cat sat on the mat.", 0.39*6 + 11.8 - 15.59, true},
		// 4 words, 2 sentences, "table" keeps its final e (2 syllables): 6 syllables
		{"A table. Go home", 0.39*2 + 11.8*5/4 - 15.59, true},
	}
	for _, c := range cases {
		got, ok := Grade(c.text)
		if ok != c.wantOK || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Grade(%q) = %v, %v; want %v, %v", c.text, got, ok, c.want, c.wantOK)
		}
	}
	easy, _ := Grade("I see a dog. The dog is big. It runs.")
	hard, _ := Grade("Notwithstanding considerable institutional reluctance, the administration subsequently implemented comprehensive regulatory modifications affecting international telecommunications infrastructure.")
	if easy >= hard {
		t.Errorf("easy text grade %v >= hard text grade %v", easy, hard)
	}
}

func TestGradeSharedData(t *testing.T) {
	dir := pipelinetest.SharedData(t)
	grade := func(name string) float64 {
		b, err := os.ReadFile(filepath.Join(dir, "text", name))
		if err != nil {
			t.Fatal(err)
		}
		g, ok := Grade(string(b))
		if !ok {
			t.Fatalf("%s: no words", name)
		}
		t.Logf("%s: grade %.1f", name, g)
		return g
	}
	// Simple scripture and forum posts read easier than presidential prose.
	web := grade("nltk_webtext/overheard.txt")
	sotu := grade("nltk_state_union/1961-Kennedy.txt")
	if web >= sotu {
		t.Errorf("overheard grade %.1f >= State of the Union grade %.1f", web, sotu)
	}
}

func TestReadabilityStage(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	env := pipelines.TestEnv(alloc, "")
	p, err := pipelines.NewParams(&readabilitySpec, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	r := &Readability{column: p.String("column"), env: env}
	rec := pipelinetest.Texts(alloc, "The cat sat.", "", "Extraordinarily complicated circumstances.")
	defer rec.Release()
	res, err := r.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	col := res.Columns[0]
	defer col.Array.Release()
	if col.Name != "reading_grade" {
		t.Errorf("column %q", col.Name)
	}
	f := col.Array.(*array.Float64)
	if f.Len() != 3 || !f.IsNull(1) || f.IsNull(0) || f.Value(0) >= f.Value(2) {
		t.Errorf("grades %v", f)
	}
}

func FuzzGrade(f *testing.F) {
	f.Add("The cat sat on the mat.")
	f.Add("日本語の文章です。二つ目！")
	f.Add("\xff\xfe broken . utf8 ?")
	f.Add(strings.Repeat("a-", 100))
	f.Fuzz(func(t *testing.T, s string) {
		g, ok := Grade(s)
		if ok && (math.IsNaN(g) || math.IsInf(g, 0)) {
			t.Errorf("Grade(%q) = %v", s, g)
		}
	})
}

func BenchmarkReadability(b *testing.B) {
	text := strings.Repeat("The committee reviewed the proposal carefully. Several members objected to its cost! ", 50)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Grade(text)
	}
}
