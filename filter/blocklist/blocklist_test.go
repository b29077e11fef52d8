package blocklist

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func TestURLs(t *testing.T) {
	l := &Lists{Domains: map[string]bool{}, URLs: map[string]bool{}}
	l.AddDomain("Bad.example")
	l.AddDomain("*.ads.net.")
	l.URLs[NormalizeURL("https://news.site/path/page/")] = true
	for u, want := range map[string]string{
		"http://bad.example/x":                "domain",
		"https://sub.BAD.example:8080/y?q=1":  "domain",
		"http://user@tracker.ads.net/":        "domain",
		"http://notbad.example/":              "",
		"http://bad.example.org/":             "",
		"HTTP://NEWS.SITE/path/page#comments": "url",
		"http://news.site:80/path/page":       "url",
		"https://news.site/path/page/other":   "",
		"":                                    "",
		"not a url":                           "",
		"http://[2001:db8::1]:80/":            "",
	} {
		if got := l.CheckURL(u); got != want {
			t.Errorf("CheckURL(%q) = %q, want %q", u, got, want)
		}
	}
}

func TestFlaggedRatio(t *testing.T) {
	l := &Lists{Flagged: map[string]map[string]bool{}}
	l.AddFlagged("", "darn")
	l.AddFlagged("de", "mist")
	l.AddFlagged("zh", "坏词")
	// 1 flagged word in 20 is 0.05
	text := "Darn " + strings.Repeat("word ", 19)
	if r := l.FlaggedRatio(text, "en"); r != 0.05 {
		t.Errorf("ratio %v, want 0.05", r)
	}
	if r := l.FlaggedRatio("so ein Mist "+strings.Repeat("x ", 7), "de"); r != 0.1 {
		t.Errorf("German ratio %v", r)
	}
	if r := l.FlaggedRatio("so ein Mist", "en"); r != 0 {
		t.Errorf("German word counted for English: %v", r)
	}
	if r := l.FlaggedRatio("这是坏词", "zh"); r != 0.25 {
		t.Errorf("Chinese ratio %v", r)
	}
}

func TestStage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	write("domains.txt", "# ad servers\n0.0.0.0 ads.example\nspam.example\n")
	write("urls.txt", "https://site.example/blocked\n")
	write("words.txt", "darn\nen\tdang\n")
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	env := pipelines.TestEnv(alloc, dir)
	p, err := pipelines.NewParams(&Spec, map[string]any{
		"domains_file": "domains.txt", "urls_file": "urls.txt", "flagged_words_file": "words.txt",
		"domains": []any{"inline.example"}, "max_flagged_ratio": 0.1,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := New(context.Background(), p, env)
	if err != nil {
		t.Fatal(err)
	}
	clean := "a perfectly ordinary sentence about the weather today"
	rec := pipelinetest.Batch(alloc,
		pipelinetest.Doc{Text: clean, Extra: map[string]any{"url": "http://x.ads.example/a"}},
		pipelinetest.Doc{Text: clean, Extra: map[string]any{"url": "https://site.example/blocked/"}},
		pipelinetest.Doc{Text: clean, Extra: map[string]any{"url": "http://inline.example"}},
		pipelinetest.Doc{Text: "darn dang it all", Extra: map[string]any{"url": "http://ok.example"}},
		pipelinetest.Doc{Text: clean, Extra: map[string]any{"url": nil}},
		pipelinetest.Doc{Text: clean, Extra: map[string]any{"url": "http://ok.example"}},
	)
	defer rec.Release()
	res, err := st.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"blocklist:domain", "blocklist:url", "blocklist:domain", "blocklist:flagged_words", "", ""}
	if fmt.Sprint(res.Drop) != fmt.Sprint(want) {
		t.Errorf("drops %q, want %q", res.Drop, want)
	}
	// a batch without the URL column is only checked for flagged words
	rec2 := pipelinetest.Texts(alloc, clean)
	defer rec2.Release()
	if res, err := st.Process(context.Background(), rec2); err != nil || res.Drop[0] != "" {
		t.Errorf("no url column: %v %q", err, res.Drop)
	}
	p, _ = pipelines.NewParams(&Spec, map[string]any{"domains_file": "missing.txt"})
	if _, err := New(context.Background(), p, env); err == nil || !strings.Contains(err.Error(), "domains_file") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzURL(f *testing.F) {
	for _, s := range []string{"http://a.b/c", "https://[::1]:80/", "//x", "user@host:1", "#", "http://", "::"} {
		f.Add(s)
	}
	l := &Lists{Domains: map[string]bool{"b": true}, URLs: map[string]bool{}}
	f.Fuzz(func(t *testing.T, s string) {
		_ = NormalizeURL(s)
		h := Host(s)
		if strings.ContainsAny(h, "/?#@") && !strings.Contains(s, "[") {
			t.Fatalf("host %q of %q", h, s)
		}
		_ = l.CheckURL(s)
	})
}
