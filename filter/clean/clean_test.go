package clean

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/text/unicode/norm"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func TestClean(t *testing.T) {
	cases := []struct {
		name, in, want, changes string
	}{
		{"unchanged", "Hello world.\n\nSecond paragraph.", "Hello world.\n\nSecond paragraph.", ""},
		{"mojibake", "cafÃ© crÃ¨me, itâ€™s â€œquotedâ€\u009d", "café crème, it’s “quoted”", "mojibake:5"},
		{"control", "a\x00b\x07c\x1bd\u0085e\u009ff", "abcd\ne" + "f", "control:4 line_endings:1"},
		{"zero width", "zero\u200bwidth\ufeff soft\u00adhyphen keep\u200dzwj", "zerowidth softhyphen keep\u200dzwj", "zero_width:3"},
		{"line endings", "a\r\nb\rc\fd\u2028e", "a\nb\nc\nd\ne", "line_endings:4"},
		{"spaces", "  lead\u00a0and  inner\t\ttabs  \nnext   ", "lead and inner tabs\nnext", "whitespace:11"},
		{"indentation kept", "def f():\n    return 1", "def f():\n    return 1", ""},
		{"blank lines", "a\n\n\n\n\nb\n \n\t\nc\n\n", "a\n\nb\n\nc", "whitespace:8"},
		{"nfc", "e\u0301te\u0301", "été", "nfc:2"},
		{"not mojibake", "Fuß“ and Ångström and naïve", "Fuß“ and Ångström and naïve", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, cnt := AllOptions().Clean(c.in)
			if got != c.want {
				t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
			}
			if cnt.String() != c.changes {
				t.Errorf("changes %q, want %q", cnt.String(), c.changes)
			}
		})
	}
}

func TestSwitches(t *testing.T) {
	in := "cafÃ©\r\n\x00  x\u200b"
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{}, in},
		{Options{Mojibake: true}, "café\r\n\x00  x\u200b"},
		{Options{Control: true}, "cafÃ©\r\n  x\u200b"},
		{Options{ZeroWidth: true}, "cafÃ©\r\n\x00  x"},
		{Options{LineEndings: true}, "cafÃ©\n\x00  x\u200b"},
	} {
		if got, _ := c.opt.Clean(in); got != c.want {
			t.Errorf("%+v: %q, want %q", c.opt, got, c.want)
		}
	}
}

func TestProcess(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, "clean text", "dirty  text\r\n")
	defer rec.Release()
	p, _ := pipelines.NewParams(&Spec, nil)
	res, err := New(p, pipelines.TestEnv(alloc, "")).Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Text.Release()
	if got := res.Text.(*array.String).Value(1); got != "dirty text" {
		t.Errorf("text %q", got)
	}
	if res.Changes[0] != "" || res.Changes[1] != "line_endings:1 whitespace:2" {
		t.Errorf("changes %q", res.Changes)
	}
	if res.Stats["chars_changed"] != 3 {
		t.Errorf("stats %v", res.Stats)
	}
	if res.Drop != nil {
		t.Error("clean dropped documents")
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"cafÃ©", "a\r\n\r\nb", "  x  y  ", "e\u0301", "\x00\u200b", "Ã\u00a0", "\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD") // sources hand over valid UTF-8
		}
		got, _ := AllOptions().Clean(s)
		if !utf8.ValidString(got) || !norm.NFC.IsNormalString(got) {
			t.Fatalf("output not valid NFC: %q", got)
		}
		if strings.ContainsAny(got, "\r\x00\u200b") || strings.Contains(got, "\n\n\n") || strings.Contains(got, " \n") {
			t.Fatalf("output not normalized: %q", got)
		}
		noMoji := AllOptions()
		noMoji.Mojibake = false
		once, _ := noMoji.Clean(s)
		if twice, _ := noMoji.Clean(once); twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}
