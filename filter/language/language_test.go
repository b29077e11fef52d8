package language

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pemistahl/lingua-go"

	"github.com/curatehq/curate/filter/language/langideval"
	_ "github.com/curatehq/curate/ingest" // jsonl source and sink for the YAML test
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// Texts of at least 120 letters, so that no test here needs lingua's
// high-accuracy models (~2.5 GB).
const (
	english = "The committee met on Tuesday to discuss the budget for next year, and most members agreed that the library should receive more money for new books and longer opening hours."
	german  = "Der Ausschuss traf sich am Dienstag, um den Haushalt für das nächste Jahr zu besprechen, und die meisten Mitglieder waren sich einig, dass die Bibliothek mehr Geld bekommen sollte."
	french  = "Le comité s'est réuni mardi pour discuter du budget de l'année prochaine, et la plupart des membres ont convenu que la bibliothèque devrait recevoir davantage d'argent pour de nouveaux livres."
	russian = "Комитет собрался во вторник, чтобы обсудить бюджет на следующий год, и большинство членов согласились, что библиотека должна получить больше денег на новые книги и более длинные часы работы."
	greek   = "Η επιτροπή συνεδρίασε την Τρίτη για να συζητήσει τον προϋπολογισμό του επόμενου έτους."
)

func newStage(t *testing.T, alloc memory.Allocator, values map[string]any) *Stage {
	t.Helper()
	p, err := pipelines.NewParams(&Spec, values)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(p, pipelines.TestEnv(alloc, ""))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// process runs the stage on texts and returns the result's columns as Go
// values; it releases everything it built.
func process(t *testing.T, s *Stage, alloc memory.Allocator, texts ...string) (langs []string, scores []float64, shares []string, drop []string) {
	t.Helper()
	rec := pipelinetest.Texts(alloc, texts...)
	defer rec.Release()
	res, err := s.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Columns {
		switch c.Name {
		case ColLang:
			for i := 0; i < c.Array.Len(); i++ {
				langs = append(langs, c.Array.(*array.String).Value(i))
			}
		case ColScore:
			scores = append(scores, c.Array.(*array.Float64).Float64Values()...)
		case ColShares:
			for i := 0; i < c.Array.Len(); i++ {
				shares = append(shares, c.Array.(*array.String).Value(i))
			}
		default:
			t.Errorf("unexpected column %q", c.Name)
		}
		c.Array.Release()
	}
	return langs, scores, shares, res.Drop
}

func TestStageAnnotates(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newStage(t, mem, nil)
	long := strings.Repeat(german+" ", 20)
	langs, scores, shares, drop := process(t, s, mem, english, german, french, russian, greek, "", "1234 5678", long)
	want := []string{"en", "de", "fr", "ru", "el", "", "", "de"}
	if !reflect.DeepEqual(langs, want) {
		t.Errorf("lang = %q, want %q", langs, want)
	}
	for i, sc := range scores {
		if (want[i] == "") != (sc == 0) || sc < 0 || sc > 1 {
			t.Errorf("row %d: lang_score %v for lang %q", i, sc, want[i])
		}
	}
	if drop != nil || shares != nil {
		t.Errorf("annotate-only stage dropped %q, shares %q", drop, shares)
	}
	rep := s.Report()["documents_by_lang"].(map[string]int64)
	if rep["de"] != 2 || rep["und"] != 2 || rep["en"] != 1 {
		t.Errorf("report %v", rep)
	}
}

func TestStageKeep(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newStage(t, mem, map[string]any{"keep": []any{"en", "fr"}, "min_confidence": 0.5})
	langs, _, _, drop := process(t, s, mem, english, german, french, "", greek)
	want := []string{"", "lang:de", "", "lang:unknown", "lang:el"}
	if !reflect.DeepEqual(drop, want) {
		t.Errorf("drop = %q (lang %q), want %q", drop, langs, want)
	}
}

func TestDropReason(t *testing.T) {
	s := &Stage{keep: map[string]bool{"en": true}, minConf: 0.8}
	tests := []struct {
		lang  string
		score float64
		want  string
	}{
		{"en", 0.9, ""},
		{"en", 0.8, ""},
		{"en", 0.79, "low-confidence"},
		{"de", 1, "lang:de"},
		{"", 0, "lang:unknown"},
	}
	for _, tt := range tests {
		if got := s.dropReason(tt.lang, tt.score); got != tt.want {
			t.Errorf("dropReason(%q, %v) = %q, want %q", tt.lang, tt.score, got, tt.want)
		}
	}
}

func TestNewRejectsBadParams(t *testing.T) {
	for _, values := range []map[string]any{
		{"keep": []any{"xx"}},
		{"keep": []any{"EN"}},
		{"min_confidence": 1.5},
		{"granularity": "sentence"},
		{"sample_windows": 0},
	} {
		if _, err := pipelines.NewParams(&Spec, values); err == nil {
			t.Errorf("params %v accepted", values)
		}
	}
}

func TestStageParagraphs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newStage(t, mem, map[string]any{"granularity": "paragraph"})
	doc := english + "\n\n" + german + "\n  \n" + english + "\n\n\n12345\n"
	langs, scores, shares, _ := process(t, s, mem, doc, "")
	if langs[0] != "en" || scores[0] <= 0.5 || scores[0] > 1 {
		t.Errorf("lang %q score %v, want en above 0.5", langs[0], scores[0])
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(shares[0]), &got); err != nil {
		t.Fatalf("lang_shares %q: %v", shares[0], err)
	}
	if len(got) != 2 || got["en"] < 0.6 || got["de"] < 0.3 {
		t.Errorf("lang_shares %v", got)
	}
	if shares[1] != "{}" || langs[1] != "" {
		t.Errorf("empty text: lang %q shares %q", langs[1], shares[1])
	}
	share := s.Report()["text_share_by_lang"].(map[string]float64)
	if share["en"] < 0.6 || share["de"] < 0.3 {
		t.Errorf("report shares %v", share)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		text, granularity string
		want              []string
	}{
		{"a\nb\n\nc", Paragraph, []string{"a\nb", "c"}},
		{"a\r\nb\r\n\r\nc\r\n", Paragraph, []string{"a\r\nb", "c"}},
		{"\n\n a \n \t \n\n b \n\n", Paragraph, []string{"a", "b"}},
		{"123\n\n--\n\nword", Paragraph, []string{"word"}},
		{"a\nb\n\nc", Line, []string{"a", "b", "c"}},
		{"", Line, nil},
		{"one paragraph", Paragraph, []string{"one paragraph"}},
	}
	for _, tt := range tests {
		if got := Split(tt.text, tt.granularity); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q, %s) = %q, want %q", tt.text, tt.granularity, got, tt.want)
		}
	}
}

// TestDeterministic checks that concurrent use gives the answers one
// goroutine gives (the models load lazily while workers race).
func TestDeterministic(t *testing.T) {
	texts := []string{english, german, french, russian, greek, strings.Repeat(french+" ", 12)}
	d := Detector{Sampling: DefaultSampling}
	want := make([]Detection, len(texts))
	for i, text := range texts {
		want[i] = d.Detect(text)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(texts) - 1; i >= 0; i-- {
				if got := d.Detect(texts[i]); got != want[i] {
					t.Errorf("text %d: %v, want %v", i, got, want[i])
				}
			}
		}()
	}
	wg.Wait()
}

// TestRoundScore checks that scores a few ulps apart, as lingua returns
// for one short text from call to call, come out identical, and that the
// rounding keeps six decimals.
func TestRoundScore(t *testing.T) {
	for _, s := range []float64{0.60043255995982481, 0.1070073426892286, 0.13164391992071639, 1, 0, 0.5} {
		want := roundScore(s)
		for _, ulps := range []int{-3, -1, 1, 3} {
			jit := math.Float64frombits(uint64(int64(math.Float64bits(s)) + int64(ulps)))
			if s == 0 && ulps < 0 {
				continue
			}
			if got := roundScore(jit); got != want {
				t.Errorf("roundScore(%.17g) = %v, roundScore(%.17g) = %v", jit, got, s, want)
			}
		}
		if math.Abs(want-s) > 5e-7 {
			t.Errorf("roundScore(%v) = %v: more than half a millionth off", s, want)
		}
	}
	d := Detector{Sampling: DefaultSampling}
	for _, text := range []string{english, german, russian, strings.Repeat(french+" ", 12)} {
		if got := d.Detect(text); got.Score != roundScore(got.Score) || got.Score <= 0 {
			t.Errorf("%.20q: score %.17g is not rounded to %d decimals", text, got.Score, scoreDecimals)
		}
	}
}

// TestShortTextScoresReproducible detects short texts, which lingua scores
// with its high-accuracy models and goroutines per n-gram length, many
// times: the scores must not vary. It loads the high-accuracy models
// (~2.5 GB), so it only runs with CURATE_LANGID_HIGH=1.
func TestShortTextScoresReproducible(t *testing.T) {
	if os.Getenv("CURATE_LANGID_HIGH") == "" || testing.Short() {
		t.Skip("set CURATE_LANGID_HIGH=1 to load the high-accuracy models")
	}
	d := Detector{Sampling: DefaultSampling}
	for _, text := range []string{"Das ist gut und schön, oder nicht?", "le chat est sur la table", "This is a short one.", "ciao come stai oggi amico"} {
		want := d.Detect(text)
		for i := 0; i < 100; i++ {
			if got := d.Detect(text); got != want {
				t.Fatalf("%q: call %d gave %v %.17g, first %v %.17g", text, i, got.Lang, got.Score, want.Lang, want.Score)
			}
		}
	}
}

// TestPerScriptDetectorIsLingua checks that scoring a one-script text with
// the detector built from that script's languages gives lingua's
// all-language answer.
func TestPerScriptDetectorIsLingua(t *testing.T) {
	dir := filepath.Join(pipelinetest.SharedData(t), "langid")
	sents, err := langideval.LoadSentences(dir, "ru", "uk", "sr", "ar", "fa", "hi", "mr", "pl", "sk")
	if err != nil {
		t.Fatal(err)
	}
	all := lingua.NewLanguageDetectorBuilder().FromAllLanguages().WithLowAccuracyMode().Build()
	m := sharedModels()
	n := 0
	for _, doc := range langideval.Build(sents, langideval.Paragraphs, 1, 6) {
		f := examine(doc.Text)
		one, ok := m.low[f.only]
		if !ok || f.ruled != lingua.Unknown {
			continue
		}
		m.load(f.only, false)
		got, want := best(one.ComputeLanguageConfidenceValues(doc.Text)), best(all.ComputeLanguageConfidenceValues(doc.Text))
		if got.Lang != want.Lang || abs(got.Score-want.Score) > 1e-9 {
			t.Errorf("%s: per-script %v, lingua %v", doc.ID, got, want)
		}
		n++
	}
	if n < 30 {
		t.Errorf("only %d texts compared", n)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestAccuracy is the small version of bench/langid_accuracy.sh: on
// paragraphs of 4 sentences and documents of 25-40 sentences, filter.language
// must be no more than 0.5 points below lingua's default detector, macro-
// averaged and for each focus language. Texts under 120 letters are left
// out: lingua scores longer ones with trigrams only, in its default mode as
// in its low-accuracy mode, so the low-accuracy detector is the reference
// here and the 2.5 GB of high-accuracy models are not needed.
func TestAccuracy(t *testing.T) {
	dir := filepath.Join(pipelinetest.SharedData(t), "langid")
	langs := append([]string{"bg", "cs", "el", "fi", "it", "nl", "pl", "tr"}, langideval.Focus...)
	paragraphs, rounds, long := 8, 2, 3
	if testing.Short() {
		langs, paragraphs, rounds, long = langideval.Focus, 4, 2, 2
	}
	sents, err := langideval.LoadSentences(dir, langs...)
	if err != nil {
		t.Fatal(err)
	}
	ref := lingua.NewLanguageDetectorBuilder().FromAllLanguages().WithLowAccuracyMode().Build()
	d := Detector{Sampling: DefaultSampling}
	for _, set := range []struct {
		kind   langideval.Kind
		rounds int
		limit  int
	}{{langideval.Paragraphs, 1, paragraphs}, {langideval.Long, rounds, long}} {
		var docs []langideval.Doc
		for _, doc := range langideval.Build(sents, set.kind, set.rounds, set.limit) {
			if examine(doc.Text).letters >= shortText {
				docs = append(docs, doc)
			}
		}
		ours, theirs := make([]string, len(docs)), make([]string, len(docs))
		for i, doc := range docs {
			ours[i] = d.Detect(doc.Text).Code()
			if l, ok := ref.DetectLanguageOf(doc.Text); ok {
				theirs[i] = isoCode(l)
			}
		}
		a, b := langideval.Accuracy(docs, ours), langideval.Accuracy(docs, theirs)
		t.Logf("%s: %d texts, macro %.2f (lingua %.2f)", set.kind, len(docs), a.Macro, b.Macro)
		if a.Macro < b.Macro-0.5 {
			t.Errorf("%s: macro accuracy %.2f, lingua %.2f", set.kind, a.Macro, b.Macro)
		}
		for _, l := range langideval.Focus {
			if a.PerLang[l] < b.PerLang[l]-0.5 {
				t.Errorf("%s: %s accuracy %.2f, lingua %.2f", set.kind, l, a.PerLang[l], b.PerLang[l])
			}
		}
	}
}

// TestShortTextsUseHighAccuracy compares single sentences with lingua's
// default detector; it loads the high-accuracy models (~2.5 GB), so it only
// runs with CURATE_LANGID_HIGH=1 (bench/langid_accuracy.sh covers all
// sentences).
func TestShortTextsUseHighAccuracy(t *testing.T) {
	if os.Getenv("CURATE_LANGID_HIGH") == "" || testing.Short() {
		t.Skip("set CURATE_LANGID_HIGH=1 to load the high-accuracy models")
	}
	dir := filepath.Join(pipelinetest.SharedData(t), "langid")
	sents, err := langideval.LoadSentences(dir, langideval.Focus...)
	if err != nil {
		t.Fatal(err)
	}
	ref := lingua.NewLanguageDetectorBuilder().FromAllLanguages().Build()
	d := Detector{Sampling: DefaultSampling}
	docs := langideval.Build(sents, langideval.Sentences, 1, 40)
	ours, theirs := make([]string, len(docs)), make([]string, len(docs))
	for i, doc := range docs {
		ours[i] = d.Detect(doc.Text).Code()
		if l, ok := ref.DetectLanguageOf(doc.Text); ok {
			theirs[i] = isoCode(l)
		}
	}
	a, b := langideval.Accuracy(docs, ours), langideval.Accuracy(docs, theirs)
	t.Logf("sentences: macro %.2f (lingua %.2f)", a.Macro, b.Macro)
	for _, l := range langideval.Focus {
		if a.PerLang[l] < b.PerLang[l]-0.5 {
			t.Errorf("%s accuracy %.2f, lingua %.2f", l, a.PerLang[l], b.PerLang[l])
		}
	}
}

// TestYAML runs the stage from a pipeline file, as curate run does.
func TestYAML(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	for i, text := range []string{english, german, french, german + " " + german} {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprint("d", i), "text": text})
		in.Write(line)
		in.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `sources:
  - jsonl: {path: in.jsonl}
stages:
  - filter.language: {keep: [de], min_confidence: 0.1}
sinks:
  - jsonl: {path: out}
`
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pipelines.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, Alloc: mem, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)
	if rep.DocumentsOut != 2 || rep.Stages[0].Dropped["lang:en"] != 1 || rep.Stages[0].Dropped["lang:fr"] != 1 {
		t.Errorf("report: out %d, stage %+v", rep.DocumentsOut, rep.Stages[0])
	}
	out, err := filepath.Glob(filepath.Join(dir, "out", "*.jsonl"))
	if err != nil || len(out) == 0 {
		t.Fatalf("no output shards: %v", err)
	}
	var ids []string
	for _, path := range out {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var doc struct {
				ID    string  `json:"id"`
				Lang  string  `json:"lang"`
				Score float64 `json:"lang_score"`
			}
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if doc.Lang != "de" || doc.Score <= 0 {
				t.Errorf("output %+v", doc)
			}
			ids = append(ids, doc.ID)
		}
	}
	sort.Strings(ids)
	if !reflect.DeepEqual(ids, []string{"d1", "d3"}) {
		t.Errorf("kept %q", ids)
	}
}

func BenchmarkDetect(b *testing.B) {
	dir := filepath.Join(pipelinetest.SharedData(b), "langid")
	sents, err := langideval.LoadSentences(dir)
	if err != nil {
		b.Fatal(err)
	}
	Preload(false)
	for _, kind := range []langideval.Kind{langideval.Paragraphs, langideval.Long} {
		var docs []langideval.Doc
		var size int64
		for _, doc := range langideval.Build(sents, kind, 1, 0) {
			if examine(doc.Text).letters >= shortText { // no high-accuracy models
				docs = append(docs, doc)
				size += int64(len(doc.Text))
			}
		}
		b.Run(string(kind), func(b *testing.B) {
			d := Detector{Sampling: DefaultSampling}
			b.SetBytes(size / int64(len(docs)))
			for i := 0; i < b.N; i++ {
				d.Detect(docs[i%len(docs)].Text)
			}
		})
	}
}

func BenchmarkExamine(b *testing.B) {
	text := strings.Repeat(french+" "+russian+" ", 10)
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		examine(text)
	}
}
