// Command bpe-encode is curate's side of bench/tokenize.sh: the same job as
// ../shared/peers bpe-ref (encode JSONL documents, end-of-text after each,
// uint16 little-endian tokens out) done with package bpe, with the same
// flags and the same summary line, so the two can be timed side by side and
// their outputs compared byte for byte.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/curatehq/curate/tokenize/bpe"
)

type doc struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

func main() {
	in := flag.String("in", "", "input JSONL {id,text}")
	out := flag.String("out", "", "output .bin (uint16 LE)")
	workers := flag.Int("workers", 1, "encoding goroutines")
	name := flag.String("tokenizer", "gpt2", "tokenizer name or tokenizer.json path")
	flag.Parse()
	docs, nbytes, err := readAll(*in)
	if err != nil {
		log.Fatal(err)
	}
	var textBytes int64
	for _, d := range docs {
		textBytes += int64(len(d.Text))
	}
	tok, err := bpe.Load(context.Background(), *name)
	if err != nil {
		log.Fatal(err)
	}
	tok.Encode(nil, "warm up")

	start := time.Now()
	toks := make([][]int32, len(docs))
	next := make(chan int, 256)
	var wg sync.WaitGroup
	for w := 0; w < max(1, *workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				toks[i] = tok.Encode(nil, docs[i].Text)
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf [2]byte
	var total int64
	for _, ids := range toks {
		for _, id := range ids {
			binary.LittleEndian.PutUint16(buf[:], uint16(id))
			w.Write(buf[:])
		}
		binary.LittleEndian.PutUint16(buf[:], uint16(tok.EOT()))
		w.Write(buf[:])
		total += int64(len(ids)) + 1
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("docs %d bytes %d text_bytes %d tokens %d workers %d elapsed %.3f MB/s %.2f\n",
		len(docs), nbytes, textBytes, total, *workers, elapsed, float64(textBytes)/1e6/elapsed)
}

func readAll(path string) ([]doc, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	var docs []doc
	var n int64
	for line := 1; sc.Scan(); line++ {
		n += int64(len(sc.Bytes())) + 1
		if len(sc.Bytes()) == 0 {
			continue
		}
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, n, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		docs = append(docs, d)
	}
	return docs, n, sc.Err()
}
