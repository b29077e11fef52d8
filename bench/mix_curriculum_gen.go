//go:build ignore

// mix_curriculum_gen writes the input of bench/mix_curriculum.sh: about
// SIZE megabytes of JSONL documents in three domains of unequal size (web
// 60%, books 25%, speeches 15%), cut at random from the shared public
// texts, each with a numeric "difficulty" field for curriculum.order.
// Output is deterministic for a given -size.
//
//	go run bench/mix_curriculum_gen.go -data ../shared/data -size 1024 -out DIR
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	data := flag.String("data", "../shared/data", "the shared data folder")
	size := flag.Int64("size", 1024, "megabytes of text to write")
	out := flag.String("out", "", "output folder")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: go run bench/mix_curriculum_gen.go -data DIR -size MB -out DIR")
		os.Exit(2)
	}
	domains := []struct {
		name  string
		share float64
		globs []string
	}{
		{"web", 0.60, []string{"text/nltk_webtext/*.txt"}},
		{"books", 0.25, []string{"text/tinyshakespeare_train90.txt", "text/nltk_genesis/english-*.txt"}},
		{"speeches", 0.15, []string{"text/nltk_state_union/*.txt"}},
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for di, d := range domains {
		var lines []string
		for _, g := range d.globs {
			files, _ := filepath.Glob(filepath.Join(*data, g))
			sort.Strings(files)
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					fail(err)
				}
				for _, l := range strings.Split(strings.ToValidUTF8(string(b), "\uFFFD"), "\n") {
					if l = strings.TrimSpace(l); l != "" {
						lines = append(lines, l)
					}
				}
			}
		}
		if len(lines) == 0 {
			fail(fmt.Errorf("no text for %s under %s", d.name, *data))
		}
		if err := write(filepath.Join(*out, d.name+".jsonl"), d.name, lines, int64(d.share*float64(*size<<20)), uint64(di)); err != nil {
			fail(err)
		}
	}
}

func write(path, domain string, lines []string, bytes int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, 99))
	var n int64
	var b strings.Builder
	for i := 0; n < bytes; i++ {
		b.Reset()
		want := 200 + rng.IntN(4000)
		for at := rng.IntN(len(lines)); b.Len() < want; at = (at + 1) % len(lines) {
			b.WriteString(lines[at])
			b.WriteByte('\n')
		}
		rec, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("%s-%07d", domain, i), "text": b.String(),
			"difficulty": float64(rng.IntN(1000)) / 100})
		w.Write(rec)
		w.WriteByte('\n')
		n += int64(b.Len())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mix_curriculum_gen:", err)
	os.Exit(1)
}
