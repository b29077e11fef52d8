//go:build ignore

// passthrough_gen writes the input of bench/passthrough.sh: about -mb
// megabytes of JSONL documents {"id", "text"} (the peers' input format),
// one per block of up to -lines lines of the shared public text corpora
// (prose, Genesis in eight languages, speeches, web text), cycling through
// them until the size is reached. Invalid UTF-8 is replaced so that every
// reader sees the same text. With -parquet it also writes the same
// documents as a Parquet file (columns id and text, snappy pages, a row
// group per 16 MiB of text), the input of the parquet -> jsonl row.
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

	"github.com/parquet-go/parquet-go"
)

// doc is one document, in JSON and in Parquet.
type doc struct {
	ID   string `json:"id" parquet:"id"`
	Text string `json:"text" parquet:"text"`
}

func main() {
	data := flag.String("data", "../shared/data/text", "folder of .txt files")
	out := flag.String("out", "corpus.jsonl", "output JSONL")
	mb := flag.Int("mb", 40, "size in megabytes")
	lines := flag.Int("lines", 40, "lines per document")
	pqOut := flag.String("parquet", "", "also write the documents to this Parquet file")
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
	var pq *parquetOut
	if *pqOut != "" {
		pq = newParquetOut(*pqOut)
	}
	var size int64
	for n := 0; size < int64(*mb)<<20; n++ {
		d := doc{fmt.Sprintf("doc-%d", n), docs[n%len(docs)]}
		if pq != nil {
			pq.write(d)
		}
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
	if pq != nil {
		pq.close()
	}
}

// parquetOut writes documents to a Parquet file in row groups of about
// 16 MiB of text.
type parquetOut struct {
	f     *os.File
	w     *parquet.GenericWriter[doc]
	group int
}

func newParquetOut(path string) *parquetOut {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	return &parquetOut{f: f, w: parquet.NewGenericWriter[doc](f, parquet.Compression(&parquet.Snappy))}
}

func (p *parquetOut) write(d doc) {
	if _, err := p.w.Write([]doc{d}); err != nil {
		log.Fatal(err)
	}
	if p.group += len(d.Text); p.group >= 16<<20 {
		if err := p.w.Flush(); err != nil {
			log.Fatal(err)
		}
		p.group = 0
	}
}

func (p *parquetOut) close() {
	if err := p.w.Close(); err != nil {
		log.Fatal(err)
	}
	if err := p.f.Close(); err != nil {
		log.Fatal(err)
	}
}
