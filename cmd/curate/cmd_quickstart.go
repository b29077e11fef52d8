package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/quickstart"
	"github.com/curatehq/curate/trainer"
)

func init() {
	commands["quickstart"] = command{"generate a small corpus, curate it into token shards and train on them", quickstartCmd}
}

func quickstartCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "quickstart", "`DIR` to write the corpus, configs and outputs into")
	workers := fs.Int("workers", 0, "workers per stage (0 = one per core)")
	noTrain := fs.Bool("no-train", false, "stop after the pipeline")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, sub := range []string{"out", "runs"} {
		os.RemoveAll(filepath.Join(*dir, sub))
	}
	file, err := quickstart.Setup(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "curate quickstart: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "curate quickstart: corpus and configs in %s; running %s\n", *dir, file)
	p, err := pipelines.LoadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := pipelines.Run(ctx, p, pipelines.Options{Workers: *workers, Progress: stderr,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if rep != nil {
		rep.WriteTable(stderr)
		os.WriteFile(filepath.Join(*dir, "out", "report.json"), rep.JSON(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "curate quickstart: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	if *noTrain || p.Train == "" {
		return 0
	}
	return trainAfterRun(ctx, p.Train, stdout, stderr)
}

// trainAfterRun runs the training config named by a pipeline's train: block
// on the shards the run just wrote.
func trainAfterRun(ctx context.Context, config string, stdout, stderr io.Writer) int {
	cfg, err := trainer.LoadConfig(config)
	if err != nil {
		fmt.Fprintf(stderr, "curate: train: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "curate: training with %s\n", config)
	res, err := trainer.Run(ctx, cfg, trainer.Options{Progress: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "curate: train: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	fmt.Fprintf(stdout, `{"step": %d, "loss": %.5f, "val_loss": %.5f, "tokens_per_sec": %.1f, "params": %d, "kernel": %q, "checkpoint": %q}`+"\n",
		res.Step, res.Loss, res.ValLoss, res.TokensPerSec, res.Params, res.Kernel, res.Checkpoint)
	return 0
}
