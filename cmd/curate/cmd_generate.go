package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/curatehq/curate/trainer"
)

func init() {
	commands["generate"] = command{"sample text from a trained model", generateCmd}
}

func generateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ckpt := fs.String("checkpoint", "", "run folder (checkpoint.bin, or a LoRA run's adapter.bin) or checkpoint file")
	prompt := fs.String("prompt", "", "text to continue")
	maxTokens := fs.Int("max-tokens", 200, "tokens to sample")
	temp := fs.Float64("temperature", 0.8, "sampling temperature; 0 = greedy")
	topK := fs.Int("top-k", 0, "sample among the K most likely tokens (0 = all)")
	topP := fs.Float64("top-p", 1, "sample among the most likely tokens holding this probability mass (1 = all)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same text")
	threads := fs.Int("threads", 0, "threads (0 = every core)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: curate generate --checkpoint DIR --prompt TEXT [--max-tokens N --temperature T --top-k K --top-p P --seed S]")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 0 || *ckpt == "" {
		fs.Usage()
		return 2
	}
	opts := trainer.GenerateOptions{Prompt: *prompt, MaxTokens: *maxTokens, Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed, Threads: *threads}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "curate generate: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, err := trainer.LoadWeights(*ckpt)
	if err != nil {
		fmt.Fprintf(stderr, "curate generate: %v\n", err)
		return 1
	}
	codec, err := w.Codec(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "curate generate: %v\n", err)
		return 1
	}
	io.WriteString(stdout, *prompt)
	if _, err := trainer.Generate(ctx, w, codec, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "\ncurate generate: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	return 0
}
