package c4

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

const good = "This is the first sentence of the page.\n" +
	"Here is a second full sentence! And a third one?\n" +
	"The fourth sentence ends with a quote.\"\n" +
	"Finally the fifth sentence is here."

func TestLineRules(t *testing.T) {
	r := DefaultRules()
	cases := []struct {
		name, line, reason string
	}{
		{"no terminal punctuation", "Home About Contact Us", NoTerminalPunct},
		{"ellipsis", "Read more about this story...", NoTerminalPunct},
		{"too few words", "Click here.", TooFewWords},
		{"javascript", "Please enable JavaScript to view the comments.", Javascript},
		{"policy", "By using this site you agree to our Terms of Use.", Policy},
		{"cookies", "This website uses cookies to improve your experience.", Policy},
		{"too long word", "A " + strings.Repeat("x", 1001) + " word.", TooLongWord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := r.Apply(good + "\n" + c.line)
			if o.Drop != "" {
				t.Fatalf("dropped: %s", o.Drop)
			}
			if o.Removed[c.reason] != 1 || o.Text != good {
				t.Errorf("removed %v, text %q", o.Removed, o.Text)
			}
			if ch := o.Changes(good + "\n" + c.line); ch != c.reason+":1" {
				t.Errorf("changes %q", ch)
			}
		})
	}
	// a word of exactly max_word_length characters is kept
	line := "A " + strings.Repeat("x", 1000) + " word."
	if o := r.Apply(good + "\n" + line); o.Text != good+"\n"+line {
		t.Errorf("1000-character word removed: %v", o.Removed)
	}
}

func TestDocumentRules(t *testing.T) {
	r := DefaultRules()
	for _, c := range []struct{ text, drop string }{
		{good, ""},
		{good + "\nLorem ipsum dolor sit amet, consectetur.", "lorem_ipsum"},
		{good + "\nThe function is {return x;} in this code.", "curly_bracket"},
		{"One sentence. Two sentences. Three sentences. Four sentences.", "too_few_sentences"},
		{"One sentence. Two sentences. Three sentences. Four sentences. Five of them.", ""},
		{"", "too_few_sentences"},
		// a curly bracket on a line removed earlier does not drop the page
		{good + "\nvar x = {a: 1}", ""},
	} {
		if o := r.Apply(c.text); o.Drop != c.drop {
			t.Errorf("%.50q: drop %q, want %q", c.text, o.Drop, c.drop)
		}
	}
}

func TestCitations(t *testing.T) {
	got, n := removeCitations("Paris is the capital[1] of France.[edit] It is large[citation needed].[23]")
	if got != "Paris is the capital of France. It is large." || n != 4 {
		t.Errorf("got %q, %d", got, n)
	}
	o := DefaultRules().Apply(good + "\nThe river is long[12] and wide today.")
	if !strings.HasSuffix(o.Text, "The river is long and wide today.") || o.Citations != 1 {
		t.Errorf("text %q citations %d", o.Text, o.Citations)
	}
}

func TestDisabledRules(t *testing.T) {
	r := &Rules{}
	text := "menu\n{json}\nlorem ipsum"
	if o := r.Apply(text); o.Drop != "" || o.Text != text {
		t.Errorf("all rules off changed the text: %+v", o)
	}
}

func TestProcess(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, good, good+"\nShare this page", "lorem ipsum dolor.")
	defer rec.Release()
	p, _ := pipelines.NewParams(&Spec, nil)
	st := New(p, pipelines.TestEnv(alloc, ""))
	res, err := st.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Text.Release()
	if fmt.Sprint(res.Drop) != fmt.Sprint([]string{"", "", "c4:lorem_ipsum"}) {
		t.Errorf("drops %q", res.Drop)
	}
	if res.Changes[0] != "" || res.Changes[1] != "no_terminal_punct:1" {
		t.Errorf("changes %q", res.Changes)
	}
	if got := res.Text.(*array.String).Value(1); got != good {
		t.Errorf("text %q", got)
	}
	if res.Stats["lines_removed:no_terminal_punct"] != 1 {
		t.Errorf("stats %v", res.Stats)
	}
}

func FuzzApply(f *testing.F) {
	f.Add(good)
	f.Add("a b c.\r\n{x}\n[1][edit]")
	f.Add("\xff\xfe. . .")
	f.Fuzz(func(t *testing.T, s string) {
		o := DefaultRules().Apply(s)
		if o.Drop == "" && len(o.Text) > len(s) {
			t.Fatalf("output grew: %q -> %q", s, o.Text)
		}
		if utf8.ValidString(s) && !utf8.ValidString(o.Text) {
			t.Fatalf("invalid UTF-8 out of valid input")
		}
	})
}
