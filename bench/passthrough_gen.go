//go:build ignore

// passthrough_gen writes the input of bench/passthrough.sh: about -mb
// megabytes of JSONL documents {"id", "text"} (the peers' input format),
// one per block of up to -lines lines of the shared public text corpora
// (prose, Genesis in eight languages, speeches, web text), cycling through
// them until the size is reached. Invalid UTF-8 is replaced so that every
// reader sees the same text.
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

func main() {
	data := flag.String("data", "../shared/data/text", "folder of .txt files")
	out := flag.String("out", "corpus.jsonl", "output JSONL")
	mb := flag.Int("mb", 40, "size in megabytes")
	lines := flag.Int("lines", 40, "lines per document")
	flag.Parse()

	var files []string
	err := filepath.WalkDir(*data, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".txt") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	sort.Strings(files)
	var docs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		ls := strings.Split(strings.ToValidUTF8(string(b), "\uFFFD"), "\n")
		for i := 0; i < len(ls); i += *lines {
			doc := strings.TrimSpace(strings.Join(ls[i:min(len(ls), i+*lines)], "\n"))
			if doc != "" {
				docs = append(docs, doc)
			}
		}
	}
	if len(docs) == 0 {
		log.Fatalf("no text under %s", *data)
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var size int64
	for n := 0; size < int64(*mb)<<20; n++ {
		d := struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		}{fmt.Sprintf("doc-%d", n), docs[n%len(docs)]}
		line, err := json.Marshal(d)
		if err != nil {
			log.Fatal(err)
		}
		size += int64(len(line)) + 1
		if err := enc.Encode(d); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
