//go:build ignore

// tokens_sink_gen writes the input of bench/tokens_sink.sh: about SIZE
// megabytes of JSONL documents ({"id", "text"}, the peers' input format),
// one per paragraph of the shared public text corpora (English prose,
// Genesis in eight languages, speeches, web text), repeated until the size
// is reached. Invalid UTF-8 is replaced so every reader sees the same text.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxDoc bounds a document's size in bytes.
const maxDoc = 4096

func main() {
	data := flag.String("data", "../shared/data", "shared data folder")
	size := flag.Int("size", 32, "megabytes to write")
	out := flag.String("out", "corpus.jsonl", "output file")
	flag.Parse()
	var files []string
	for _, pat := range []string{"text/*.txt", "text/*/*.txt"} {
		m, _ := filepath.Glob(filepath.Join(*data, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	var paras []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range strings.Split(strings.ToValidUTF8(string(b), "\uFFFD"), "\n\n") {
			// Files without blank lines (a verse a line) are cut into
			// documents of about maxDoc bytes at line ends.
			for len(p) > maxDoc {
				cut := strings.LastIndexByte(p[:maxDoc], '\n')
				if cut <= 0 {
					cut = maxDoc
				}
				paras = append(paras, p[:cut])
				p = p[cut:]
			}
			if strings.TrimSpace(p) != "" {
				paras = append(paras, p)
			}
		}
	}
	if len(paras) == 0 {
		log.Fatalf("no text under %s/text", *data)
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	written := 0
	for i := 0; written < *size<<20; i++ {
		p := paras[i%len(paras)]
		if err := enc.Encode(map[string]string{"id": fmt.Sprintf("doc-%d", i), "text": p}); err != nil {
			log.Fatal(err)
		}
		written += len(p)
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
