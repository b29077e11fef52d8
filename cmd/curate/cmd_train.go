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
	commands["train"] = command{"train a Transformer on a token store", trainCmd}
}

func trainCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	resume := fs.Bool("resume", false, "continue from the checkpoint in the config's out folder")
	eval := fs.Bool("eval", false, "only measure the validation loss of train.init_from (else the out folder's model) at the config's model.context and rope_scale")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: curate train [--resume | --eval] CONFIG.yaml")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if len(pos) != 1 {
		fs.Usage()
		return 1
	}
	cfg, err := trainer.LoadConfig(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "curate train: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *eval {
		if *resume {
			fmt.Fprintln(stderr, "curate train: --eval and --resume exclude each other")
			return 1
		}
		ev, err := trainer.Evaluate(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "curate train: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, `{"val_loss": %.5f, "context": %d, "rope_scale": %g, "tokens": %d, "weights": %q}`+"\n",
			ev.ValLoss, ev.Context, ev.RopeScale, ev.Tokens, ev.Weights)
		return 0
	}
	res, err := trainer.Run(ctx, cfg, trainer.Options{Resume: *resume, Progress: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "curate train: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `{"step": %d, "loss": %.5f, "val_loss": %.5f, "tokens_per_sec": %.1f, "params": %d, "trainable_params": %d, "kernel": %q, "checkpoint": %q}`+"\n",
		res.Step, res.Loss, res.ValLoss, res.TokensPerSec, res.Params, res.Trainable, res.Kernel, res.Checkpoint)
	return 0
}
