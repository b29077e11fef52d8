package textstat

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func texts(text string, ws []Word) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Text(text))
	}
	return out
}

func TestWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello, world!", []string{"Hello", ",", "world", "!"}},
		{"Don't stop... the U.S. e-mail", []string{"Don't", "stop", "...", "the", "U.S", ".", "e-mail"}},
		{"3.14 1,000 2,a #tag ## --", []string{"3.14", "1,000", "2", ",", "a", "#", "tag", "##", "--"}},
		{"naïve café’s Ωmega", []string{"naïve", "café’s", "Ωmega"}},
		{"日本語のテキスト", []string{"日", "本", "語", "の", "テ", "キ", "ス", "ト"}},
		{"ภาษาไทย ok", []string{"ภ", "า", "ษ", "า", "ไ", "ท", "ย", "ok"}},
		{"tabs\tand\nnew\r\nlines", []string{"tabs", "and", "new", "lines"}},
		{"emoji 👍👍 done", []string{"emoji", "👍👍", "done"}},
		{"trailing-", []string{"trailing", "-"}},
	}
	for _, c := range cases {
		if got := texts(c.in, Words(c.in)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Words(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWordFlags(t *testing.T) {
	text := "abc 123 ... x1 日"
	ws := Words(text)
	want := []uint8{HasLetter, 0, Symbol, HasLetter, HasLetter}
	for i, w := range ws {
		if w.Flags != want[i] {
			t.Errorf("%q flags %b, want %b", w.Text(text), w.Flags, want[i])
		}
	}
	if ws[2].Runes != 3 {
		t.Errorf("... runes = %d", ws[2].Runes)
	}
}

// wordsSlow splits with the byte-at-a-time loop only.
func wordsSlow(s string) []Word {
	swar = false
	defer func() { swar = true }()
	return Words(s)
}

func TestSWARMatchesBytes(t *testing.T) {
	for _, s := range []string{"", "abcdefghijklmnop qrstuvwxyz0123456789", "Zebra's a-b 12,345.67 AZaz09@[`{/:",
		"ünïcödé wörds in the middle of ASCII text", strings.Repeat("wordsalad ", 20)} {
		if a, b := Words(s), wordsSlow(s); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: %v != %v", s, a, b)
		}
	}
	for c := 0; c < 128; c++ { // every ASCII byte inside and at the end of a word
		s := "abcdefg" + string(rune(c)) + "hijklmnopq"
		if a, b := Words(s), wordsSlow(s); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: %v != %v", s, a, b)
		}
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range []string{"Hello, world!", "日本語 don't", "a-b-c...", "\xff\xfe bad", "’’’", "1,2,3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		last := int32(0)
		for _, w := range Words(s) {
			if w.Start < last || w.End <= w.Start || int(w.End) > len(s) {
				t.Fatalf("bad span %+v in %q", w, s)
			}
			last = w.End
			if n := utf8.RuneCountInString(w.Text(s)); int32(n) != w.Runes {
				t.Fatalf("%q: runes %d, want %d", w.Text(s), w.Runes, n)
			}
			if strings.TrimSpace(w.Text(s)) != w.Text(s) {
				t.Fatalf("word %q holds white space", w.Text(s))
			}
		}
		if a, b := Words(s), wordsSlow(s); !reflect.DeepEqual(a, b) {
			t.Fatalf("SWAR and byte scans differ on %q", s)
		}
	})
}

func TestSplitLines(t *testing.T) {
	cases := map[string][]string{
		"":               nil,
		"a":              {"a"},
		"a\n":            {"a"},
		"a\n\nb":         {"a", "", "b"},
		"a\r\nb\rc\n":    {"a", "b", "c"},
		"\n":             {""},
		"x\r\n\r\ny\r\n": {"x", "", "y"},
	}
	for in, want := range cases {
		if got := SplitLines(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitLines(%q) = %q, want %q", in, got, want)
		}
		var got []string
		for it := NewLines(in); ; {
			l, ok := it.Next()
			if !ok {
				break
			}
			got = append(got, l)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Lines(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCountSentences(t *testing.T) {
	cases := map[string]int{
		"":                              0,
		"One.":                          1,
		"One. Two! Three?":              3,
		"Mr. Smith went to Washington.": 1,
		"He said \"stop.\" Then left.":  2,
		"Version 3.14 is out. Get it":   2,
		"J. R. R. Tolkien wrote books.": 1,
		"これは文です。これも文です。":                    2,
		"No terminal punctuation here":      1,
		"e.g. this one. And etc. that one.": 2,
	}
	for in, want := range cases {
		if got := CountSentences(in); got != want {
			t.Errorf("CountSentences(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestEndsTerminal(t *testing.T) {
	for s, want := range map[string]bool{"a.": true, "a?": true, "a!": true, "a": false, "": false, "a\"": false, "文。": true, "क्या।": true, "¿qué?": true} {
		if got := EndsTerminal(s); got != want {
			t.Errorf("EndsTerminal(%q) = %v", s, got)
		}
	}
}

func TestCounter(t *testing.T) {
	var c Counter
	c.Reset(2)
	for i := 0; i < 1000; i++ { // grows past its initial size
		for k := 0; k <= i%3; k++ {
			c.Add(uint64(i) + 2)
		}
	}
	for i := 0; i < 1000; i++ {
		if got := c.Get(uint64(i) + 2); got != int32(i%3+1) {
			t.Fatalf("count(%d) = %d, want %d", i, got, i%3+1)
		}
	}
	c.Reset(4)
	if c.Get(5) != 0 {
		t.Fatal("Reset kept a key")
	}
	_, first := c.Add(0) // key 0 is allowed
	if _, f2 := c.Add(7); first != 0 || f2 != 1 {
		t.Fatalf("first-seen order %d %d", first, f2)
	}
	if n, f := c.Add(0); n != 2 || f != 0 {
		t.Fatalf("Add(0) again = %d %d", n, f)
	}
}

func TestHash(t *testing.T) {
	seen := map[uint64]string{}
	for _, s := range []string{"", "a", "b", "ab", "ba", "abcdefgh", "abcdefghi", "the", "The", strings.Repeat("x", 100)} {
		h := Hash(s)
		if prev, dup := seen[h]; dup {
			t.Fatalf("Hash(%q) == Hash(%q)", s, prev)
		}
		seen[h] = s
		if Hash(s) != h {
			t.Fatal("Hash is not deterministic")
		}
	}
}

func TestHashAt(t *testing.T) {
	text := "a bc defghijk lmnopqrstuvwxyz the end"
	for s := 0; s <= len(text); s++ {
		for e := s; e <= len(text); e++ {
			if HashAt(text, s, e) != Hash(text[s:e]) {
				t.Fatalf("HashAt(%d, %d) differs from Hash(%q)", s, e, text[s:e])
			}
		}
	}
}

func TestStopWords(t *testing.T) {
	s := NewStopSet(StopWords("en"))
	text := "The cat and THE dog, with nothing else."
	d, total := s.Count(text, Words(text))
	if d != 3 || total != 4 {
		t.Fatalf("Count = %d distinct, %d total; want 3, 4", d, total)
	}
	if StopWords("xx") != nil || StopWords("DE") == nil {
		t.Fatal("StopWords lookup")
	}
}
