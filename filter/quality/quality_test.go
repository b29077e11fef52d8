package quality

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/filter/internal/benchdata"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

const prose = `The history of the river town begins with a small mill that was built on the eastern bank in the early years of the century. Farmers from the surrounding hills brought their grain to be ground, and soon a market grew around the mill.
By the time the railway arrived, the town had a school, two churches and a newspaper that reported on the weather, the harvest and the occasional dispute between neighbours. Many of the old buildings still stand today, and visitors come to walk along the water.`

func TestOrdering(t *testing.T) {
	s, err := NewScorer("auto")
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{
		prose,
		"Home\nAbout\nProducts\nContact\nLogin\nCart\nHome\nAbout",
		strings.Repeat("buy cheap pills now ", 50),
		"#tag #tag #tag ... ... 123 456",
		"",
	}
	good := s.Score(prose, "")
	for _, d := range docs[1:] {
		sc := s.Score(d, "")
		if sc < 0 || sc > 0.3 {
			t.Errorf("%.30q scores %v, want 0..0.3", d, sc)
		}
		if sc >= good {
			t.Errorf("%.30q scores %v, not below prose (%v)", d, sc, good)
		}
	}
	if sc := s.Score(prose, ""); sc < 0.8 {
		t.Errorf("good prose scores %v < 0.8", sc)
	}
}

func TestRealData(t *testing.T) {
	s, _ := NewScorer("en")
	for _, d := range benchdata.Web(t) {
		if sc := s.Score(d, ""); sc < 0 || sc > 1 {
			t.Fatalf("score %v", sc)
		}
	}
}

func TestProcess(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, prose, "menu")
	defer rec.Release()
	p, _ := pipelines.NewParams(&Spec, nil)
	st, err := New(p, pipelines.TestEnv(alloc, ""))
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Columns[0].Array.Release()
	if res.Drop != nil || res.Text != nil || len(res.Columns) != 1 || res.Columns[0].Name != "quality_score" {
		t.Fatalf("result %+v", res)
	}
	col := res.Columns[0].Array.(*array.Float64)
	if !(col.Value(0) > col.Value(1)) {
		t.Errorf("scores %v %v", col.Value(0), col.Value(1))
	}
}
