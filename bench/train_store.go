//go:build ignore

// train_store writes a byte-level token store (vocab 256, one document per
// paragraph) of a text file for bench/train.sh: the first 90% of the
// paragraphs in OUT, the rest in OUT/val.
//
//	go run bench/train_store.go -in FILE -out DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/curatehq/curate/tokenize/store"
)

func main() {
	in := flag.String("in", "", "text file")
	out := flag.String("out", "", "store directory")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		fail(err)
	}
	paras := strings.SplitAfter(string(b), "\n\n")
	cut := len(paras) * 9 / 10
	write(*out, paras[:cut])
	write(filepath.Join(*out, "val"), paras[cut:])
}

func write(dir string, paras []string) {
	w, err := store.Create(dir, store.Options{Tokenizer: "bytes", VocabSize: 256})
	if err != nil {
		fail(err)
	}
	for _, p := range paras {
		toks := make([]int32, len(p))
		for i := 0; i < len(p); i++ {
			toks[i] = int32(p[i])
		}
		if err := w.AddDoc(toks, "shakespeare"); err != nil {
			fail(err)
		}
	}
	if err := w.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "train_store:", err)
	os.Exit(1)
}
