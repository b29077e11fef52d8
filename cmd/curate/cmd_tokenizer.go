package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/curatehq/curate/pipelines/storage"
	"github.com/curatehq/curate/tokenize/bpe"
)

func init() {
	commands["tokenizer"] = command{"learn a byte-level BPE tokenizer (tokenizer train)", tokenizerCmd}
}

// stringsFlag collects a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func tokenizerCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "train" {
		fmt.Fprintln(stderr, "usage: curate tokenizer train --vocab-size N --out FILE [--special TOKEN ...] INPUT...")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("curate tokenizer train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vocab := fs.Int("vocab-size", 0, "vocabulary size, special tokens included (required)")
	out := fs.String("out", "", "where to write the Hugging Face tokenizer.json (required)")
	var specials stringsFlag
	fs.Var(&specials, "special", "a special token (repeatable; default <|endoftext|>)")
	pattern := fs.String("pattern", "gpt2", "pre-tokenizer: gpt2 or cl100k_base")
	minFreq := fs.Int64("min-frequency", 2, "stop when the best pair occurs fewer times")
	maxPieces := fs.Int("max-pieces", 1<<20, "distinct pre-tokens held while counting (bounds memory)")
	field := fs.String("text-field", "text", "text field of .jsonl inputs (.jsonl.gz and .jsonl.zst too)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: curate tokenizer train --vocab-size N --out FILE [--special TOKEN ...] INPUT...")
		fmt.Fprintln(stderr, "INPUT is a text file, a .jsonl file or a glob, local or s3://; .gz and .zst are decompressed.")
		fs.PrintDefaults()
	}
	inputs, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *vocab <= 0 || *out == "" || len(inputs) == 0 {
		fs.Usage()
		return 2
	}
	opts := bpe.TrainOptions{VocabSize: *vocab, Specials: specials, Pattern: *pattern,
		MinFrequency: *minFreq, MaxPieces: *maxPieces, TextField: *field, Name: *out}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tok, stats, err := bpe.Train(ctx, opts, inputs...)
	if err != nil {
		fmt.Fprintf(stderr, "curate tokenizer train: %v\n", err)
		return 1
	}
	js, err := tok.HFJSON()
	if err == nil {
		err = storage.WriteFile(ctx, *out, js)
	}
	if err != nil {
		fmt.Fprintf(stderr, "curate tokenizer train: writing %s: %v\n", *out, err)
		return 1
	}
	fmt.Fprintf(stderr, "learned %d merges from %d pre-tokens (%d distinct, %d pruned) in %.1f MB: counting %.1f MB/s, merging %.2fs; vocab %d -> %s\n",
		stats.Merges, stats.Pieces, stats.Distinct, stats.Pruned, float64(stats.Bytes)/1e6,
		stats.BytesPerSec/1e6, stats.MergeSecs, stats.VocabSize, *out)
	line, _ := json.Marshal(stats)
	fmt.Fprintln(stdout, string(line))
	return 0
}
