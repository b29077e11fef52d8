package language

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/pemistahl/lingua-go"
)

func TestExamine(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		ruled   string
		only    script
		letters int
		words   int
	}{
		{"empty", "", "", noScript, 0, 0},
		{"digits and punctuation", "123, 456! -- ?", "", noScript, 0, 0},
		{"greek", "Η γλώσσα είναι ελληνική", "el", scriptGreek, 20, 4},
		{"korean syllables are words", "한국어 문장", "ko", scriptHangul, 5, 5},
		{"thai", "ภาษาไทย", "th", scriptThai, 7, 1},
		{"hebrew", "שלום עולם", "he", scriptHebrew, 8, 2},
		{"armenian", "Բարեւ աշխարհ", "hy", scriptArmenian, 11, 2},
		{"georgian", "გამარჯობა", "ka", scriptGeorgian, 9, 1},
		{"han alone is chinese", "我们是中国人", "zh", scriptHan, 6, 6},
		{"kana with han is japanese", "私は日本語を話します", "ja", noScript, 10, 10},
		{"latin needs the models", "the quick brown fox", "", scriptLatin, 16, 4},
		{"german sharp s decides a short text", "straße", "de", scriptLatin, 6, 1},
		{"one sharp s in english does not", "the big straße was long and wide", "", scriptLatin, 26, 7},
		{"cyrillic needs the models", "привет мир", "", scriptCyrillic, 9, 2},
		{"ukrainian letters decide", "їжак і єнот", "uk", scriptCyrillic, 9, 3},
		{"mixed scripts", "hello мир", "", noScript, 8, 2},
		{"latin run swallows han", "abc漢字", "zh", noScript, 5, 1},
		{"greek words in an english text", "the word λόγος means word in greek", "", noScript, 28, 7},
		{"mostly greek with one latin word", "το iPhone είναι ένα τηλέφωνο", "el", noScript, 24, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := examine(tt.text)
			if got := isoCode(f.ruled); got != tt.ruled {
				t.Errorf("ruled = %q, want %q", got, tt.ruled)
			}
			if f.only != tt.only {
				t.Errorf("only = %d, want %d", f.only, tt.only)
			}
			if f.letters != tt.letters || f.words != tt.words {
				t.Errorf("letters, words = %d, %d; want %d, %d", f.letters, f.words, tt.letters, tt.words)
			}
		})
	}
}

// rulesOnly is lingua's all-language detector; the tests below only ask it
// about texts its rules decide, so it never loads a model.
var rulesOnly = sync.OnceValue(func() lingua.LanguageDetector {
	return lingua.NewLanguageDetectorBuilder().FromAllLanguages().WithLowAccuracyMode().Build()
})

// checkRuled fails when the pre-pass decides a language lingua would not
// answer with certainty.
func checkRuled(t *testing.T, text string) {
	t.Helper()
	f := examine(text)
	if f.ruled == lingua.Unknown {
		return
	}
	if c := rulesOnly().ComputeLanguageConfidence(text, f.ruled); c != 1 {
		t.Errorf("pre-pass decides %s for %q; lingua's confidence is %v", f.ruled, text, c)
	}
}

func TestRulesAgreeWithLingua(t *testing.T) {
	texts := []string{
		"Η γλώσσα είναι ελληνική", "한국어 문장", "ภาษาไทย", "שלום עולם", "Բարեւ աշխարհ",
		"გამარჯობა", "我们是中国人", "私は日本語を話します", "straße", "їжак і єнот",
		"ਪੰਜਾਬੀ ਭਾਸ਼ਾ", "ગુજરાતી ભાષા", "தமிழ் மொழி", "తెలుగు భాష", "বাংলা ভাষা",
		"ճ ւ ճ ս abc", "łódź źdźbło", "ħ ŧ ŋ", "ӘҒ қаз", "ΑΒΓ abc def", "漢字かな", "カタカナ 漢字",
		"Žluťoučký kůň úpěl ďábelské ódy", "abc漢字", "το iPhone είναι ένα τηλέφωνο", "Ĉu vi parolas Esperanton?", "ळ मराठी",
	}
	for _, text := range texts {
		checkRuled(t, text)
	}
	// The pre-pass must decide every sentence in a one-language script, as
	// lingua's rules do.
	for _, text := range []string{"Η γλώσσα", "한국어", "ภาษาไทย", "שלום", "Բարեւ", "გამარჯობა", "ਪੰਜਾਬੀ", "ગુજરાતી", "தமிழ்", "తెలుగు", "বাংলা"} {
		if examine(text).ruled == lingua.Unknown {
			t.Errorf("pre-pass leaves %q undecided", text)
		}
	}
}

func FuzzExamine(f *testing.F) {
	for _, s := range []string{"Η γλώσσα", "hello мир", "abc漢字", "straße", "私は日本語", "١٢٣ عربي", "\xff\xfe", "ǅ ǈ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fa := examine(text)
		if fa.letters < fa.words {
			t.Fatalf("%d letters in %d words", fa.letters, fa.words)
		}
		if utf8.ValidString(text) {
			checkRuled(t, text)
		}
	})
}

func TestWindows(t *testing.T) {
	words := strings.Fields(strings.Repeat("alpha beta gamma delta epsilon ", 200))
	text := strings.Join(words, " ")
	s := Sampling{Chars: 400, Windows: 4}
	ws := s.windows(text)
	if len(ws) != 4 {
		t.Fatalf("%d windows, want 4", len(ws))
	}
	total := 0
	for _, w := range ws {
		total += len(w)
		if !strings.Contains(text, w) {
			t.Fatalf("window %q is not a piece of the text", w)
		}
		for _, word := range strings.Fields(w) {
			switch word {
			case "alpha", "beta", "gamma", "delta", "epsilon":
			default:
				t.Fatalf("window %q cuts a word: %q", w, word)
			}
		}
	}
	if total < 300 || total > 400 {
		t.Errorf("windows hold %d bytes, want about 400", total)
	}
	if got := s.windows("short text"); len(got) != 1 || got[0] != "short text" {
		t.Errorf("short text cut into %q", got)
	}
	if got := (Sampling{}).windows(text); len(got) != 1 || got[0] != text {
		t.Errorf("sampling off still cut the text")
	}
}

func FuzzWindows(f *testing.F) {
	f.Add("Ein langer deutscher Text mit vielen Wörtern und noch mehr Wörtern.", 16, 3)
	f.Add(strings.Repeat("中文没有空格", 40), 30, 4)
	f.Add("\xff\xfe\xfd abc", 1, 1)
	f.Fuzz(func(t *testing.T, text string, chars, windows int) {
		s := Sampling{Chars: chars % 4096, Windows: windows % 70}
		ws := s.windows(text)
		if len(ws) == 0 {
			t.Fatal("no windows")
		}
		sum := 0
		for _, w := range ws {
			if !strings.Contains(text, w) {
				t.Fatalf("window %q is not a piece of the text", w)
			}
			if utf8.ValidString(text) && !utf8.ValidString(w) {
				t.Fatalf("window %q splits a character", w)
			}
			sum += len(w)
		}
		if len(ws) > 1 && utf8.RuneCountInString(strings.Join(ws, "")) > s.Chars+len(ws) {
			t.Fatalf("windows hold %d bytes, sample is %d characters", sum, s.Chars)
		}
	})
}
