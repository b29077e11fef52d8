package gopher

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/filter/internal/benchdata"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

var filler = strings.Fields("quick brown fox jumps over lazy dog near river bank under bright moon light")

// prose returns n words: the stop words "the" and "and" and then filler.
func prose(n int) []string {
	out := []string{"the", "and"}
	for i := 0; len(out) < n; i++ {
		out = append(out, filler[i%len(filler)])
	}
	return out[:n]
}

func rep(w string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = w
	}
	return out
}

func join(parts ...[]string) string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return strings.Join(all, " ")
}

func lines(n int, prefix, suffix string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(prefix + join(prose(20)) + suffix)
	}
	return b.String()
}

// TestQualityThresholds gives, for each rule, a text exactly at the
// published threshold (kept) and one just past it (dropped by that rule).
func TestQualityThresholds(t *testing.T) {
	mixed := func(bullets, total int) string {
		return lines(bullets, "• ", ".") + "\n" + lines(total-bullets, "", ".")
	}
	ell := func(ellipses, total int) string {
		return lines(ellipses, "", " ...") + "\n" + lines(total-ellipses, "", ".")
	}
	cases := []struct {
		name, pass, fail, rule string
	}{
		{"min words", join(prose(50)), join(prose(49)), "word_count"},
		{"max words", join(prose(100000)), join(prose(100001)), "word_count"},
		{"min mean length", join(rep("to", 24), []string{"of"}, rep("abcd", 24), []string{"with"}),
			join(rep("to", 25), []string{"of"}, rep("abcd", 24), []string{"with"}), "mean_word_length"},
		{"max mean length", join(rep("abcdefghij", 46), []string{"the", "and"}, rep("abcdefghijklmnopq", 2)),
			join(rep("abcdefghij", 46), []string{"the", "and"}, rep("abcdefghijklmnopq", 2), []string{"abcdefghijk"}), "mean_word_length"},
		{"hash symbols", join(prose(90), rep("#", 10)), join(prose(89), rep("#", 11)), "hash_ratio"},
		{"ellipsis symbols", join(rep("...", 10), prose(90)), join(rep("…", 11), prose(89)), "ellipsis_ratio"},
		{"bullet lines", mixed(9, 10), mixed(10, 10), "bullet_lines"},
		{"ellipsis lines", ell(3, 10), ell(4, 10), "ellipsis_lines"},
		{"alphabetic words", join(prose(80), rep("123", 20)), join(prose(79), rep("123", 21)), "alpha_words"},
		{"stop words", join([]string{"the", "and"}, prose(60)[2:]), join([]string{"the", "The"}, prose(60)[2:]), "stop_words"},
	}
	q := DefaultQualityRules()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := q.Check(c.pass, ""); got != "" {
				t.Errorf("at the threshold: dropped by %s (%+v)", got, Measure(c.pass, q.StopWords("")))
			}
			if got := q.Check(c.fail, ""); got != c.rule {
				t.Errorf("past the threshold: got %q, want %q (%+v)", got, c.rule, Measure(c.fail, q.StopWords("")))
			}
		})
	}
}

func TestQualityLanguages(t *testing.T) {
	de := "Der Hund und die Katze spielen in dem Garten " + strings.Repeat("zusammen mit Freunden heute ", 12)
	q, err := NewQuality(params(t, &QualitySpec, map[string]any{"language": "de"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Rules.Check(de, ""); got != "" {
		t.Errorf("German prose with German stop words: %s", got)
	}
	if got := DefaultQualityRules().Check(de, ""); got != "stop_words" {
		t.Errorf("German prose with English stop words: %q, want stop_words", got)
	}
	auto, err := NewQuality(params(t, &QualitySpec, map[string]any{"language": "auto"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := auto.Rules.Check(de, "de"); got != "" {
		t.Errorf("auto with lang de: %s", got)
	}
	if got := auto.Rules.Check(de, "xx"); got != "" {
		t.Errorf("auto with a language without a list skips the rule, got %s", got)
	}
	if _, err := NewQuality(params(t, &QualitySpec, map[string]any{"language": "klingon"})); err == nil {
		t.Error("unknown language accepted")
	}
	custom, _ := NewQuality(params(t, &QualitySpec, map[string]any{"stop_words": []any{"hund", "katze"}}))
	if got := custom.Rules.Check(de, ""); got != "" {
		t.Errorf("custom stop words: %s", got)
	}
}

func params(t *testing.T, spec *pipelines.Spec, v map[string]any) pipelines.Params {
	t.Helper()
	p, err := pipelines.NewParams(spec, v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestRepetitionStats checks the statistics on small texts computed by hand
// with datatrove's definitions.
func TestRepetitionStats(t *testing.T) {
	r := DefaultRepetitionRules()
	st := r.Measure("a b c d e f g h i j a b c d e f g h i j")
	// 39 characters; bigram "a b" occurs twice (3 chars each)
	if !near(st.Top[0], 6.0/39) {
		t.Errorf("top 2-gram = %v, want %v", st.Top[0], 6.0/39)
	}
	// greedy duplicate 5-grams: "abcde" and "fghij" (5 characters each)
	if !near(st.Dup[0], 10.0/39) || !near(st.Dup[1], 6.0/39) || !near(st.Dup[5], 10.0/39) {
		t.Errorf("dup n-grams = %v", st.Dup)
	}
	st = r.Measure("ab cd xy ab cd")
	if !near(st.Top[0], 10.0/14) {
		t.Errorf("top 2-gram = %v, want %v", st.Top[0], 10.0/14)
	}
	st = r.Measure("x y\nfoo\n\nfoo\nx y")
	// lines (split at runs of newlines): "x y", "foo", "foo", "x y": 2 duplicates of 4, 6 chars of 17
	if !near(st.DupLineFrac, 0.5) || !near(st.DupLineCharFrac, 6.0/16) {
		t.Errorf("lines: %v %v", st.DupLineFrac, st.DupLineCharFrac)
	}
	// paragraphs "x y\nfoo" and "foo\nx y": no duplicate
	if st.DupParaFrac != 0 {
		t.Errorf("paragraphs: %v", st.DupParaFrac)
	}
}

// only returns rules with every threshold disabled but the one given.
func only(set func(r *RepetitionRules)) *RepetitionRules {
	r := &RepetitionRules{}
	set(r)
	return r
}

func uniqueWords(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w%c%c%c", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26)
	}
	return out
}

func TestRepetitionThresholds(t *testing.T) {
	u := uniqueWords(200)
	nl := func(parts []string, sep string) string { return strings.Join(parts, sep) }
	dupLines := func(dups, total int, sep string) string {
		ls := append([]string{}, u[:total-dups]...)
		for i := 0; i < dups; i++ {
			ls = append(ls, u[0])
		}
		return nl(ls, sep)
	}
	x := func(n int) string { return strings.Repeat("x", n) }
	y := x(10)
	cases := []struct {
		name       string
		rules      *RepetitionRules
		pass, fail string
		rule       string
	}{
		{"dup lines", only(func(r *RepetitionRules) { r.DupLineFrac = 0.3 }), dupLines(3, 10, "\n"), dupLines(4, 10, "\n"), "dup_line_frac"},
		{"dup paragraphs", only(func(r *RepetitionRules) { r.DupParaFrac = 0.3 }), dupLines(3, 10, "\n\n"), dupLines(4, 10, "\n\n"), "dup_para_frac"},
		{"dup line chars", only(func(r *RepetitionRules) { r.DupLineCharFrac = 0.2 }), x(28) + "\n" + y + "\n" + y, x(27) + "\n" + y + "\n" + y, "dup_line_char_frac"},
		{"dup paragraph chars", only(func(r *RepetitionRules) { r.DupParaCharFrac = 0.2 }), x(26) + "\n\n" + y + "\n\n" + y, x(25) + "\n\n" + y + "\n\n" + y, "dup_para_char_frac"},
		// "ab cd" (5 chars) twice in 50 characters is 0.2 exactly
		{"top 2-gram", only(func(r *RepetitionRules) { r.TopNGrams = []NGramRule{{2, 0.2}} }), "ab cd " + x(38) + " ab cd", "ab cd " + x(37) + " ab cd", "top_2_gram"},
		// "abcdefghij" counted once as a duplicated 5-gram of 1-char words: 5 of 50 characters = 0.1
		{"dup 5-gram", only(func(r *RepetitionRules) { r.DupNGrams = []NGramRule{{5, 0.1}} }), "a b c d e " + x(30) + " a b c d e", "a b c d e " + x(29) + " a b c d e", "dup_5_gram"},
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

// naiveRepetition is a direct transcription of the n-gram rules with Go
// maps and strings, to check the pruned, hashed implementation against.
// N-grams are compared word by word (datatrove's current code compares
// duplicate n-grams with the words concatenated, which also equates "ab c"
// with "a bc"; see docs/filters.md).
func naiveRepetition(words []string, n int) (top float64, dup int) {
	var grams []string
	for i := 0; i+n <= len(words); i++ {
		grams = append(grams, strings.Join(words[i:i+n], " "))
	}
	if len(grams) == 0 {
		return 0, 0
	}
	count := map[string]int{}
	order := []string{}
	for _, g := range grams {
		if count[g] == 0 {
			order = append(order, g)
		}
		count[g]++
	}
	best := order[0]
	for _, g := range order {
		if count[g] > count[best] {
			best = g
		}
	}
	top = float64(len([]rune(best)) * count[best])
	seen := map[string]bool{}
	for i := 0; i < len(grams); {
		g := grams[i]
		if seen[g] {
			dup += len([]rune(strings.Join(words[i:i+n], "")))
			i += n
		} else {
			seen[g] = true
			i++
		}
	}
	return top, dup
}

func TestRepetitionMatchesNaive(t *testing.T) {
	docs := benchdata.All(t)
	if testing.Short() {
		docs = docs[:40]
	}
	docs = append(docs, "a a a a a a a a a a a a", "x y x y x y z x y x y", "")
	r := DefaultRepetitionRules()
	for _, doc := range docs {
		st := r.Measure(doc)
		total := float64(len([]rune(doc)))
		if total == 0 {
			continue
		}
		words := Words(doc)
		for k, rule := range r.TopNGrams {
			top, _ := naiveRepetition(words, rule.N)
			if k < len(st.Top) && !near(st.Top[k], top/total) {
				t.Fatalf("top %d-gram %v, naive %v in %.60q", rule.N, st.Top[k], top/total, doc)
			}
		}
		for k, rule := range r.DupNGrams {
			_, dup := naiveRepetition(words, rule.N)
			if k < len(st.Dup) && !near(st.Dup[k], float64(dup)/total) {
				t.Fatalf("dup %d-gram %v, naive %v in %.60q", rule.N, st.Dup[k], float64(dup)/total, doc)
			}
		}
	}
}

const sample = `The history of the river town begins with a small mill that was built on the eastern bank in the early years of the century. Farmers from the surrounding hills brought their grain to be ground, and soon a market grew around the mill. By the time the railway arrived, the town had a school, two churches and a newspaper that reported on the weather, the harvest and the occasional dispute between neighbours.`

func TestStages(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, sample, "too short", strings.Repeat("same line here\n", 20))
	defer rec.Release()
	q, _ := NewQuality(params(t, &QualitySpec, nil))
	res, err := q.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "gopher_quality:word_count", "gopher_quality:stop_words"}; fmt.Sprint(res.Drop) != fmt.Sprint(want) {
		t.Errorf("quality drops %q, want %q", res.Drop, want)
	}
	r, err := NewRepetition(params(t, &RepetitionSpec, nil))
	if err != nil {
		t.Fatal(err)
	}
	res, err = r.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	// a two-word document is one 2-gram covering all its characters
	if want := []string{"", "gopher_repetition:top_2_gram", "gopher_repetition:dup_line_frac"}; fmt.Sprint(res.Drop) != fmt.Sprint(want) {
		t.Errorf("repetition drops %q, want %q", res.Drop, want)
	}
	if _, err := NewRepetition(params(t, &RepetitionSpec, map[string]any{"top_n_grams": map[string]any{"two": 0.2}})); err == nil {
		t.Error("bad n-gram key accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Process(ctx, rec); err == nil {
		t.Error("cancelled context not reported")
	}
}

// Words splits like the rules do (for the naive comparison).
func Words(s string) []string {
	var out []string
	for _, w := range textstat.Words(s) {
		out = append(out, w.Text(s))
	}
	return out
}

// TestNGramThresholds checks every published n-gram threshold: n one-letter
// words, a filler word, and the same n words again, with the filler as long
// as possible while the rule still drops (fail) and one character longer
// (pass).
func TestNGramThresholds(t *testing.T) {
	def := DefaultRepetitionRules()
	gram := func(n int) string { return strings.Join(strings.Split("abcdefghij"[:n], ""), " ") }
	doc := func(n, filler int) string { return gram(n) + " " + strings.Repeat("x", filler) + " " + gram(n) }
	check := func(name string, r *RepetitionRules, n int, covered float64, thr float64, rule string) {
		t.Run(name, func(t *testing.T) {
			fixed := float64(2*(2*n-1) + 2)
			pass := int(math.Ceil(covered/thr - fixed))
			if got := r.Check(doc(n, pass)); got != "" {
				t.Errorf("filler %d: dropped by %s (%+v)", pass, got, r.Measure(doc(n, pass)))
			}
			if got := r.Check(doc(n, pass-1)); got != rule {
				t.Errorf("filler %d: got %q, want %q (%+v)", pass-1, got, rule, r.Measure(doc(n, pass-1)))
			}
		})
	}
	for _, rule := range def.TopNGrams {
		r := &RepetitionRules{TopNGrams: []NGramRule{rule}}
		// the repeated n-gram, spaces included, twice
		check(fmt.Sprintf("top %d-gram %.2f", rule.N, rule.Frac), r, rule.N, float64(2*(2*rule.N-1)), rule.Frac, fmt.Sprintf("top_%d_gram", rule.N))
	}
	for _, rule := range def.DupNGrams {
		r := &RepetitionRules{DupNGrams: []NGramRule{rule}}
		// the second occurrence's words, without spaces
		check(fmt.Sprintf("dup %d-gram %.2f", rule.N, rule.Frac), r, rule.N, float64(rule.N), rule.Frac, fmt.Sprintf("dup_%d_gram", rule.N))
	}
}

func FuzzRules(f *testing.F) {
	for _, s := range []string{sample, "a a a a a a\n\na a a a a a", "", "\n\n\n", "• x\n• y...", "日本語 日本語 日本語"} {
		f.Add(s)
	}
	q, r := DefaultQualityRules(), DefaultRepetitionRules()
	f.Fuzz(func(t *testing.T, s string) {
		q.Check(s, "")
		r.Check(s)
		st := r.Measure(s)
		for _, v := range append([]float64{st.DupLineFrac, st.DupParaFrac, st.DupLineCharFrac, st.DupParaCharFrac}, st.Dup...) {
			if v < 0 || v > 1 || math.IsNaN(v) {
				t.Fatalf("statistic %v out of 0..1 in %+v", v, st)
			}
		}
		for _, v := range st.Top { // overlapping occurrences may cover more than the text ("a a a")
			if v < 0 || math.IsNaN(v) {
				t.Fatalf("top n-gram statistic %v in %+v", v, st)
			}
		}
	})
}
