// Package langideval builds the language-ID evaluation sets from lingua's
// test sentences (shared/data/langid) and scores predictions against them.
// The test suite and the accuracy and benchmark scripts share it, so that
// all of them measure the same texts.
package langideval

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is the shape of an evaluation text.
type Kind string

// Kinds.
const (
	Sentences  Kind = "sentences"  // one sentence
	Paragraphs Kind = "paragraphs" // 4 consecutive sentences of one language
	Long       Kind = "long"       // 25 to 40 sentences of one language (3 to 6 KB)
)

// Doc is one evaluation text with its gold language.
type Doc struct {
	ID   string `json:"id"`
	Lang string `json:"lang"` // ISO 639-1, the file name it came from
	Text string `json:"text"`
}

// LoadSentences reads dir/sentences/<code>.txt for every language (or only
// the given codes), one sentence a line, in file order.
func LoadSentences(dir string, codes ...string) (map[string][]string, error) {
	if len(codes) == 0 {
		paths, err := filepath.Glob(filepath.Join(dir, "sentences", "*.txt"))
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			codes = append(codes, strings.TrimSuffix(filepath.Base(p), ".txt"))
		}
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("langideval: no sentences/*.txt under %s", dir)
	}
	out := map[string][]string{}
	for _, code := range codes {
		p := filepath.Join(dir, "sentences", code+".txt")
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("langideval: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				out[code] = append(out[code], line)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("langideval: %s: %w", p, err)
		}
	}
	return out, nil
}

// Build makes the evaluation texts of one kind. Round 0 cuts each
// language's sentences, in file order, into consecutive texts, so no
// sentence repeats; each further round does the same over a seeded
// shuffle of the sentences (more long documents from the same data, for
// tighter accuracy figures). At most limit texts per language per round
// (0: all). Languages come in code order.
func Build(sentences map[string][]string, kind Kind, rounds, limit int) []Doc {
	codes := make([]string, 0, len(sentences))
	for c := range sentences {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var docs []Doc
	for _, code := range codes {
		for round := 0; round < max(rounds, 1); round++ {
			lines := append([]string(nil), sentences[code]...)
			rng := rand.New(rand.NewPCG(uint64(round), hashCode(code)))
			if round > 0 {
				rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
			}
			n := 0
			for i := 0; i < len(lines) && (limit <= 0 || n < limit); {
				size := 1
				switch kind {
				case Paragraphs:
					size = 4
				case Long:
					size = 25 + rng.IntN(16)
				}
				if i+size > len(lines) {
					break
				}
				sep := " "
				if kind == Long && rng.IntN(2) == 0 {
					sep = "\n"
				}
				docs = append(docs, Doc{
					ID:   fmt.Sprintf("%s/%s/%d/%d", code, kind, round, n),
					Lang: code,
					Text: strings.Join(lines[i:i+size], sep),
				})
				i += size
				n++
			}
		}
	}
	return docs
}

func hashCode(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Focus are the languages whose accuracy is checked one by one.
var Focus = []string{"en", "zh", "es", "ar", "hi", "pt", "ru", "ja", "de", "fr"}

// Score is the accuracy of predictions, per language and macro-averaged.
type Score struct {
	PerLang map[string]float64 // percent correct
	Macro   float64            // mean of PerLang
	Docs    int
}

// Accuracy scores pred (one code per doc, "" for unknown) against docs.
func Accuracy(docs []Doc, pred []string) Score {
	right, total := map[string]int{}, map[string]int{}
	for i, d := range docs {
		total[d.Lang]++
		if pred[i] == d.Lang {
			right[d.Lang]++
		}
	}
	s := Score{PerLang: map[string]float64{}, Docs: len(docs)}
	for l, n := range total {
		s.PerLang[l] = 100 * float64(right[l]) / float64(n)
		s.Macro += s.PerLang[l]
	}
	if len(total) > 0 {
		s.Macro /= float64(len(total))
	}
	return s
}
