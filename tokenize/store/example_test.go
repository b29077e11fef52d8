package store_test

import (
	"fmt"
	"log"
	"os"

	"github.com/curatehq/curate/tokenize/store"
)

// A store written without the pipeline and read back by document and by
// token window.
func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)

	w, err := store.Create(dir, store.Options{Tokenizer: "gpt2", VocabSize: 50257, EOT: 50256, AppendEOT: true})
	if err != nil {
		log.Fatal(err)
	}
	w.AddDoc([]int32{15496, 995}, "web") // "Hello world"
	w.AddDoc([]int32{40, 716}, "books")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	window := make([]int32, 4)
	s.Window(window, 1)
	m := s.Manifest()
	fmt.Println(s.NumDocs(), s.NumTokens(), m.DType, m.Domains["books"])
	fmt.Println(s.Doc(0), window)
	// Output:
	// 2 6 uint16 {1 3}
	// [15496 995 50256] [995 50256 40 716]
}
