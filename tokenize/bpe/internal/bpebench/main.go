// Command bpebench is curate's side of bench/tokenize.sh.
//
//	bpebench gen -data ../shared/data -out corpus.jsonl [-mb N]
//	bpebench encode -in corpus.jsonl -out T.bin [-workers N] [-tokenizer gpt2]
//	bpebench ref -in corpus.jsonl -out T.bin
//
// gen writes a JSONL corpus {id, text} from the shared data: the langid
// sentences of all 75 languages in documents of 20 lines, and the prose
// files (Genesis, State of the Union, webtext, tinyshakespeare) in
// documents of 10 paragraphs, repeated until it holds at least -mb MB.
//
// encode does what ../shared/peers bpe-ref does (encode every document,
// end-of-text after each, uint16 little-endian tokens out) with package
// bpe, with the same flags and summary line, so the two can be timed side
// by side and their outputs compared byte for byte.
//
// ref is bpe-ref's encoding loop (tiktoken-go, r50k_base, one worker) in
// this harness. Both encode and ref also print cpu_s, the process's CPU
// seconds spent in the timed part (getrusage), which a crowded machine
// disturbs less than wall time.
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
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	tiktoken "github.com/tiktoken-go/tokenizer"

	"github.com/curatehq/curate/tokenize/bpe"
)

type doc struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: bpebench gen|encode [flags]")
	}
	switch os.Args[1] {
	case "gen":
		gen(os.Args[2:])
	case "encode":
		encode(os.Args[2:])
	case "ref":
		encodeRef(os.Args[2:])
	default:
		log.Fatalf("bpebench: unknown command %q (want gen or encode)", os.Args[1])
	}
}

func gen(args []string) {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	data := fs.String("data", "../shared/data", "shared data folder")
	out := fs.String("out", "", "output JSONL")
	mb := fs.Float64("mb", 0, "repeat the corpus until it holds this many MB of text")
	fs.Parse(args)
	var files []string
	for _, pat := range []string{"langid/sentences/*.txt", "text/*/*.txt", "text/*.txt"} {
		m, err := filepath.Glob(filepath.Join(*data, pat))
		if err != nil {
			log.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		log.Fatalf("bpebench gen: no text under %s", *data)
	}
	var docs []doc
	var size int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		text := strings.ToValidUTF8(string(b), "\uFFFD") // as sources do
		sep, group := "\n\n", 10
		if strings.Contains(f, "langid") {
			sep, group = "\n", 20
		}
		parts := strings.Split(text, sep)
		rel, _ := filepath.Rel(*data, f)
		for i := 0; i < len(parts); i += group {
			t := strings.Join(parts[i:min(i+group, len(parts))], sep)
			docs = append(docs, doc{ID: fmt.Sprintf("%s:%d", rel, i), Text: t})
			size += len(t)
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	written := 0
	for rep := 0; rep == 0 || float64(written) < *mb*1e6; rep++ {
		for _, d := range docs {
			if rep > 0 {
				d.ID = fmt.Sprintf("%s#%d", d.ID, rep)
			}
			if err := enc.Encode(d); err != nil {
				log.Fatal(err)
			}
		}
		written += size
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func encode(args []string) {
	fs := flag.NewFlagSet("encode", flag.ExitOnError)
	in := fs.String("in", "", "input JSONL {id,text}")
	out := fs.String("out", "", "output .bin (uint16 LE)")
	workers := fs.Int("workers", 1, "encoding goroutines")
	name := fs.String("tokenizer", "gpt2", "tokenizer name or tokenizer.json path")
	fs.Parse(args)
	docs, nbytes, err := readAll(*in)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := bpe.Load(context.Background(), *name)
	if err != nil {
		log.Fatal(err)
	}
	if tok.VocabSize() > 1<<16 {
		log.Fatalf("bpebench: %s has %d ids, more than uint16 holds", *name, tok.VocabSize())
	}
	tok.Encode(nil, "warm up") // vocabulary init outside the timed part, as bpe-ref does

	start, cpu0 := time.Now(), cpuSeconds()
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
	elapsed, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
	writeBin(*out, toks, tok.EOT())
	report(docs, nbytes, toks, *workers, elapsed, cpu)
}

// encodeRef is bpe-ref's loop: github.com/tiktoken-go/tokenizer, r50k_base,
// errors replaced, one goroutine.
func encodeRef(args []string) {
	fs := flag.NewFlagSet("ref", flag.ExitOnError)
	in := fs.String("in", "", "input JSONL {id,text}")
	out := fs.String("out", "", "output .bin (uint16 LE)")
	fs.Parse(args)
	docs, nbytes, err := readAll(*in)
	if err != nil {
		log.Fatal(err)
	}
	codec, err := tiktoken.Get(tiktoken.R50kBase)
	if err != nil {
		log.Fatal(err)
	}
	codec.SetErrorMode(tiktoken.ErrorModeReplace)
	_, _, _ = codec.Encode("warm up")
	start, cpu0 := time.Now(), cpuSeconds()
	toks := make([][]int32, len(docs))
	for i, d := range docs {
		ids, _, err := codec.Encode(d.Text)
		if err != nil {
			log.Fatalf("%s: %v", d.ID, err)
		}
		toks[i] = make([]int32, len(ids))
		for j, id := range ids {
			toks[i][j] = int32(id)
		}
	}
	elapsed, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
	writeBin(*out, toks, 50256)
	report(docs, nbytes, toks, 1, elapsed, cpu)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func report(docs []doc, nbytes int64, toks [][]int32, workers int, elapsed, cpu float64) {
	var textBytes, total int64
	for i, d := range docs {
		textBytes += int64(len(d.Text))
		total += int64(len(toks[i])) + 1
	}
	fmt.Printf("docs %d bytes %d text_bytes %d tokens %d workers %d elapsed %.3f MB/s %.2f cpu_s %.3f\n",
		len(docs), nbytes, textBytes, total, workers, elapsed, float64(textBytes)/1e6/elapsed, cpu)
}

// writeBin writes each document's ids and eot as uint16 little-endian.
func writeBin(path string, toks [][]int32, eot int32) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf [2]byte
	for _, ids := range toks {
		for _, id := range ids {
			binary.LittleEndian.PutUint16(buf[:], uint16(id))
			w.Write(buf[:])
		}
		binary.LittleEndian.PutUint16(buf[:], uint16(eot))
		w.Write(buf[:])
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
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
