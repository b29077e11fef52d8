// Command langid-bench measures filter.language's detector beside the
// langid-ref peer (bench/langid.sh and bench/langid_accuracy.sh drive it).
//
//	langid-bench corpus -data DIR -kind long [-rounds N] [-limit N] [-min-bytes B] [-max-bytes B] -out X.jsonl
//	langid-bench detect -in X.jsonl -out Y.jsonl [-workers N] [-sample-chars N] [-windows K] [-preload low|high|none]
//	langid-bench score  -in X.jsonl [-check POINTS] NAME=PRED.jsonl...
//
// corpus writes evaluation texts as JSONL {id, lang, text}; detect labels
// them like langid-ref does ({id, lang}) and prints one summary line with
// the model load and the detection time apart; score prints the accuracy
// of each prediction file, macro-averaged and for the focus languages.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/curatehq/curate/filter/language"
	"github.com/curatehq/curate/filter/language/langideval"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("langid-bench: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: langid-bench corpus|detect|score [flags]")
	}
	var err error
	switch os.Args[1] {
	case "corpus":
		err = corpus(os.Args[2:])
	case "detect":
		err = detect(os.Args[2:])
	case "score":
		err = score(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want corpus, detect or score)", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func corpus(args []string) error {
	fs := flag.NewFlagSet("corpus", flag.ExitOnError)
	data := fs.String("data", "", "shared/data/langid folder")
	kind := fs.String("kind", "long", "sentences | paragraphs | long")
	rounds := fs.Int("rounds", 1, "rounds (round 0: no sentence repeats)")
	limit := fs.Int("limit", 0, "texts per language per round (0: all)")
	minBytes := fs.Int("min-bytes", 0, "leave out texts shorter than this")
	maxBytes := fs.Int("max-bytes", 0, "leave out texts longer than this (0: no bound)")
	out := fs.String("out", "", "output JSONL")
	fs.Parse(args)
	if *data == "" || *out == "" {
		return fmt.Errorf("corpus: -data and -out are required")
	}
	sents, err := langideval.LoadSentences(*data)
	if err != nil {
		return err
	}
	var docs []langideval.Doc
	for _, d := range langideval.Build(sents, langideval.Kind(*kind), *rounds, *limit) {
		if len(d.Text) >= *minBytes && (*maxBytes <= 0 || len(d.Text) <= *maxBytes) {
			docs = append(docs, d)
		}
	}
	return writeJSONL(*out, len(docs), func(i int) any { return docs[i] })
}

func detect(args []string) error {
	fs := flag.NewFlagSet("detect", flag.ExitOnError)
	in := fs.String("in", "", "input JSONL {id, text}")
	out := fs.String("out", "", "output JSONL {id, lang}")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "worker goroutines")
	sampleChars := fs.Int("sample-chars", language.DefaultSampling.Chars, "sample size of long texts in characters (0: whole texts)")
	windows := fs.Int("windows", language.DefaultSampling.Windows, "windows per sample")
	preload := fs.String("preload", "low", "models to load before timing: low | high | none")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the detection here")
	fs.Parse(args)
	if *in == "" || *out == "" {
		return fmt.Errorf("detect: -in and -out are required")
	}
	t0 := time.Now()
	docs, nbytes, err := readDocs(*in)
	if err != nil {
		return err
	}
	switch *preload {
	case "low":
		language.Preload(false)
	case "high":
		language.Preload(true)
	case "none":
	default:
		return fmt.Errorf("detect: -preload %q: want low, high or none", *preload)
	}
	load := time.Since(t0).Seconds()

	det := language.Detector{Sampling: language.Sampling{Chars: *sampleChars, Windows: *windows}}
	langs := make([]string, len(docs))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuSeconds()
	t1 := time.Now()
	next := make(chan int, 256)
	var wg sync.WaitGroup
	for w := 0; w < max(*workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				langs[i] = det.Detect(docs[i].Text).Code()
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(t1).Seconds()
	cpu := cpuSeconds() - cpu0

	type label struct {
		ID   string `json:"id"`
		Lang string `json:"lang"`
	}
	if err := writeJSONL(*out, len(docs), func(i int) any { return label{docs[i].ID, langs[i]} }); err != nil {
		return err
	}
	fmt.Printf("docs %d bytes %d workers %d sample %d/%d load %.3f elapsed %.3f cpu %.3f docs/s %.1f MB/s %.3f\n",
		len(docs), nbytes, *workers, *sampleChars, *windows, load, elapsed, cpu,
		float64(len(docs))/elapsed, float64(nbytes)/elapsed/1e6)
	return nil
}

func score(args []string) error {
	fs := flag.NewFlagSet("score", flag.ExitOnError)
	in := fs.String("in", "", "corpus JSONL {id, lang, text}")
	check := fs.Float64("check", -1, "fail unless the last column is at most this many points below the first, macro and for each focus language")
	fs.Parse(args)
	if *in == "" || fs.NArg() == 0 {
		return fmt.Errorf("score: -in CORPUS and NAME=PRED.jsonl... are required")
	}
	docs, _, err := readDocs(*in)
	if err != nil {
		return err
	}
	type column struct {
		name  string
		score langideval.Score
	}
	var cols []column
	for _, arg := range fs.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			name, path = arg, arg
		}
		preds, _, err := readDocs(path)
		if err != nil {
			return err
		}
		byID := make(map[string]string, len(preds))
		for _, p := range preds {
			byID[p.ID] = p.Lang
		}
		pred := make([]string, len(docs))
		for i, d := range docs {
			l, ok := byID[d.ID]
			if !ok {
				return fmt.Errorf("score: %s has no prediction for %q", path, d.ID)
			}
			pred[i] = l
		}
		cols = append(cols, column{name, langideval.Accuracy(docs, pred)})
	}
	fmt.Printf("%-8s", "lang")
	for _, c := range cols {
		fmt.Printf(" %10s", c.name)
	}
	fmt.Println()
	row := func(label string, get func(langideval.Score) float64) {
		fmt.Printf("%-8s", label)
		for _, c := range cols {
			fmt.Printf(" %10.2f", get(c.score))
		}
		if len(cols) > 1 {
			fmt.Printf(" %+7.2f", get(cols[len(cols)-1].score)-get(cols[0].score))
		}
		fmt.Println()
	}
	row("macro", func(s langideval.Score) float64 { return s.Macro })
	for _, l := range langideval.Focus {
		row(l, func(s langideval.Score) float64 { return s.PerLang[l] })
	}
	// Every language where the columns differ, for the record.
	var diff []string
	for l := range cols[0].score.PerLang {
		for _, c := range cols[1:] {
			if c.score.PerLang[l] != cols[0].score.PerLang[l] {
				diff = append(diff, l)
				break
			}
		}
	}
	sort.Strings(diff)
	for _, l := range diff {
		row("  "+l, func(s langideval.Score) float64 { return s.PerLang[l] })
	}
	if *check < 0 || len(cols) < 2 {
		return nil
	}
	ref, ours := cols[0].score, cols[len(cols)-1].score
	var fails []string
	if ours.Macro < ref.Macro-*check {
		fails = append(fails, fmt.Sprintf("macro %.2f < %.2f", ours.Macro, ref.Macro-*check))
	}
	for _, l := range langideval.Focus {
		if ours.PerLang[l] < ref.PerLang[l]-*check {
			fails = append(fails, fmt.Sprintf("%s %.2f < %.2f", l, ours.PerLang[l], ref.PerLang[l]-*check))
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("%s: %s more than %.1f points below %s: %s", *in, cols[len(cols)-1].name, *check, cols[0].name, strings.Join(fails, "; "))
	}
	fmt.Printf("PASS %s: %s within %.1f points of %s (macro and %s)\n", *in, cols[len(cols)-1].name, *check, cols[0].name, strings.Join(langideval.Focus, " "))
	return nil
}

type doc = langideval.Doc

func readDocs(path string) ([]doc, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var docs []doc
	var n int64
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		n += int64(len(b))
		if len(strings.TrimSpace(string(b))) > 0 {
			var d doc
			if jerr := json.Unmarshal(b, &d); jerr != nil {
				return nil, n, fmt.Errorf("%s:%d: %w", path, line, jerr)
			}
			docs = append(docs, d)
		}
		if err == io.EOF {
			return docs, n, nil
		}
		if err != nil {
			return nil, n, fmt.Errorf("%s: %w", path, err)
		}
	}
}

func writeJSONL(path string, n int, item func(i int) any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := 0; i < n; i++ {
		if err := enc.Encode(item(i)); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuSeconds is the process's user and system CPU time: on a shared
// machine it varies less than the wall clock.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
