package fineweb

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// line returns a distinct line of about 60 characters without final
// punctuation.
func line(i int) string {
	return fmt.Sprintf("line number %03d talks about rivers and hills and old mills", i)
}

func doc(n int, end func(i int) string) string {
	var ls []string
	for i := 0; i < n; i++ {
		ls = append(ls, line(i)+end(i))
	}
	return strings.Join(ls, "\n")
}

func TestThresholds(t *testing.T) {
	punct := func(k int) func(int) string {
		return func(i int) string {
			if i < k {
				return "."
			}
			return ""
		}
	}
	dot := func(int) string { return "." }
	short := func(shortLines, total int) string {
		var ls []string
		for i := 0; i < total; i++ {
			if i < shortLines {
				ls = append(ls, fmt.Sprintf("short %02d.", i))
			} else {
				ls = append(ls, line(i)+".")
			}
		}
		return strings.Join(ls, "\n")
	}
	dup := func(extra int) string {
		// 100 distinct lines of 61 characters (6100 without newlines) plus one
		// repeated line of 61: 61/6161 = 0.0099 is kept; longer repeats drop
		d := doc(100, dot)
		return d + "\n" + line(0) + "." + strings.Repeat("x", extra)
	}
	list := func(words, lines int) string {
		// one long line of words, then single-word lines
		var b strings.Builder
		b.WriteString("it rained all day so we stayed inside and read.")
		for i := 0; i < lines; i++ {
			fmt.Fprintf(&b, "\nitem%d.", i)
		}
		_ = words
		return b.String()
	}
	cases := []struct {
		name       string
		rules      *Rules
		pass, fail string
		rule       string
	}{
		// 1 of 8 lines ends in punctuation (0.125 >= 0.12); 1 of 9 (0.111) drops
		{"line punctuation", &Rules{LinePunctThr: 0.12}, doc(8, punct(1)), doc(9, punct(1)), "line_punct_ratio"},
		// 2 of 3 short lines (0.667 <= 0.67) pass; 3 of 4 (0.75) drop
		{"short lines", &Rules{ShortLineThr: 0.67, ShortLineLength: 30}, short(2, 3), short(3, 4), "short_line_ratio"},
		{"duplicate characters", &Rules{CharDuplicatesRatio: 0.01}, dup(0), doc(100, dot) + "\n" + line(5) + ".\n" + line(6) + ".", "char_dup_ratio"},
		// newlines per word: 10 newlines over 10+10+... words
		{"list ratio", &Rules{NewLineRatio: 0.3}, list(0, 8), list(0, 9), "list_ratio"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.rules.Check(c.pass); got != "" {
				t.Errorf("at the threshold: dropped by %s (%+v)", got, c.rules.Measure(c.pass))
			}
			if got := c.rules.Check(c.fail); got != c.rule {
				t.Errorf("past the threshold: got %q, want %q (%+v)", got, c.rule, c.rules.Measure(c.fail))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	r := DefaultRules()
	prose := "The committee met on Tuesday to review the proposal for the new bridge.\n" +
		"Members raised questions about the cost, the schedule and the impact on traffic.\n" +
		"A final vote is expected next month after a public hearing in the town hall."
	if got := r.Check(prose); got != "" {
		t.Errorf("prose dropped by %s", got)
	}
	for text, want := range map[string]string{
		"":                       "empty",
		"\n \n":                  "empty",
		"Home\nAbout\nContact\n": "line_punct_ratio",
	} {
		if got := r.Check(text); got != want {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
	zero := &Rules{LinePunctThr: 0.12, LinePunctExcludeZero: true}
	if got := zero.Check("Home\nAbout\nContact"); got != "" {
		t.Errorf("line_punct_exclude_zero: %s", got)
	}
}

func TestProcess(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, "A complete sentence that is long enough to count.", "menu\nhome")
	defer rec.Release()
	p, _ := pipelines.NewParams(&Spec, nil)
	res, err := New(p).Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Drop) != fmt.Sprint([]string{"", "fineweb:line_punct_ratio"}) {
		t.Errorf("drops %q", res.Drop)
	}
}
