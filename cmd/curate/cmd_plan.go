package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/curatehq/curate/tokenize/store"
	"github.com/curatehq/curate/trainer/plan"
)

func init() {
	commands["plan"] = command{"size a model for a token count and a compute budget (Chinchilla)", planCmd}
}

// parseCount reads 2e9, 2000000000, 2B, 350M, 1.2T.
func parseCount(s string) (float64, error) {
	mul := 1.0
	t := strings.TrimSpace(s)
	if t != "" {
		switch strings.ToUpper(t[len(t)-1:]) {
		case "K":
			mul = 1e3
		case "M":
			mul = 1e6
		case "B", "G":
			mul = 1e9
		case "T":
			mul = 1e12
		}
		if mul != 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a number such as 2e9 or 350M, got %q", s)
	}
	return v * mul, nil
}

func planCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tokens := fs.String("tokens", "", "training tokens available, e.g. 2B")
	data := fs.String("data", "", "a token store `DIR` (its token count and vocabulary)")
	flops := fs.String("flops", "", "compute budget in FLOPs, e.g. 1e20")
	hours := fs.Float64("hours", 0, "compute budget as device-hours (with --tflops)")
	tflops := fs.Float64("tflops", 0, "sustained TFLOP/s per device for --hours")
	vocab := fs.Int("vocab", 0, "vocabulary size (default: the store's, else 50257)")
	contextLen := fs.Int("context", 1024, "training context")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var in plan.Input
	in.Vocab, in.Context = *vocab, *contextLen
	var err error
	if *tokens != "" {
		if in.Tokens, err = parseCount(*tokens); err != nil {
			fmt.Fprintf(stderr, "curate plan: --tokens: %v\n", err)
			return 2
		}
	}
	if *data != "" {
		sum, err := store.Inspect(context.Background(), *data)
		if err != nil {
			fmt.Fprintf(stderr, "curate plan: %v\n", err)
			return 1
		}
		in.Tokens = float64(sum.Tokens)
		if in.Vocab == 0 {
			in.Vocab = sum.VocabSize
		}
	}
	if *flops != "" {
		if in.FLOPs, err = parseCount(*flops); err != nil {
			fmt.Fprintf(stderr, "curate plan: --flops: %v\n", err)
			return 2
		}
	}
	if *hours > 0 {
		if *tflops <= 0 {
			fmt.Fprintln(stderr, "curate plan: --hours needs --tflops (sustained TFLOP/s per device)")
			return 2
		}
		in.FLOPs += *hours * 3600 * *tflops * 1e12
	}
	p, err := plan.Make(in)
	if err != nil {
		fmt.Fprintf(stderr, "curate plan: %v\n", err)
		return 2
	}
	if p.ComputeParams > 0 {
		fmt.Fprintf(stdout, "compute budget %.3g FLOPs: optimal %s parameters on %s tokens\n", in.FLOPs, plan.Human(p.ComputeParams), plan.Human(20*p.ComputeParams))
	}
	if p.DataParams > 0 {
		fmt.Fprintf(stdout, "data %s tokens: at %d tokens per parameter, %s parameters\n", plan.Human(in.Tokens), plan.TokensPerParam, plan.Human(p.DataParams))
	}
	fmt.Fprintf(stdout, "plan (%s-limited): %s parameters, %s training tokens, %.3g FLOPs", p.Limit, plan.Human(p.Params), plan.Human(p.TrainTokens), p.FLOPs)
	if p.Epochs > 0 {
		fmt.Fprintf(stdout, ", %.2f epochs of the data", p.Epochs)
	}
	fmt.Fprintln(stdout)
	c := p.Config
	fmt.Fprintf(stdout, "nearest config (%s parameters):\nmodel: {context: %d, layers: %d, heads: %d, kv_heads: %d, dim: %d}\n",
		plan.Human(float64(p.ConfigParams)), c.Context, c.Layers, c.Heads, c.KVHeads, c.Dim)
	return 0
}
