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
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/curatehq/curate/pipelines"
)

func init() {
	commands["run"] = command{"run a pipeline", runCmd}
	commands["validate"] = command{"check a pipeline file without running it", validateCmd}
	commands["stages"] = command{"list every source, stage and sink with its parameters", stagesCmd}
}

// parseInterleaved lets flags follow the positional arguments
// ("curate run p.yaml --workers 4") as users type them.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

type sizeFlag struct{ n *int64 }

func (s sizeFlag) String() string {
	if s.n == nil {
		return "0"
	}
	return fmt.Sprint(*s.n)
}
func (s sizeFlag) Set(v string) error {
	n, err := pipelines.ParseSize(v)
	if err != nil {
		return err
	}
	*s.n = n
	return nil
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts pipelines.Options
	fs.IntVar(&opts.Workers, "workers", 0, "workers per streaming stage (0 = one per core)")
	fs.Var(sizeFlag{&opts.Memory}, "memory", "budget for buffers, indexes and spills, e.g. 2GiB (0 = no limit)")
	fs.Int64Var(&opts.Limit, "limit", 0, "stop after N input documents (a dry run)")
	report := fs.String("report", "", "write the run summary as JSON to `FILE`")
	fs.StringVar(&opts.RejectsPath, "rejects", "", "write rejected records to `FILE` (default: beside the first sink)")
	fs.Int64Var(&opts.MaxRejects, "max-rejects", 0, "fail the run after N rejected records (0 = no limit)")
	state := fs.String("state", "", "`DIR` of the run journal (default: beside the first sink)")
	resume := fs.Bool("resume", false, "continue an interrupted run from its journal")
	force := fs.Bool("force-restart", false, "start over even if a journal exists")
	quiet := fs.Bool("quiet", false, "no progress lines")
	fs.IntVar(&opts.BatchRows, "batch-rows", 0, "most documents in one batch (default 1024; batches also close at 4 MiB)")
	fs.Var(sizeFlag{&opts.CheckpointBytes}, "checkpoint-bytes", "input text between checkpoint barriers (default 64MiB); fixed per output: a resumed run must use the same value")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: curate run [flags] PIPELINE.yaml")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	p, err := pipelines.LoadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	opts.StateDir, opts.Resume, opts.ForceRestart = *state, *resume, *force
	if opts.Memory > 0 {
		// The budget covers what components reserve; a soft limit for the
		// Go heap makes the collector keep the rest near it too.
		debug.SetMemoryLimit(opts.Memory + 256<<20)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Stop = gracefulStop(cancel, stderr)
	opts.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !*quiet {
		opts.Progress = stderr
	}
	rep, err := pipelines.Run(ctx, p, opts)
	if rep != nil {
		if err != nil {
			rep.Error = err.Error()
		}
		rep.WriteTable(stderr)
		if *report != "" {
			if werr := os.WriteFile(*report, rep.JSON(), 0o644); werr != nil {
				fmt.Fprintf(stderr, "curate run: writing report: %v\n", werr)
				if err == nil {
					return 1
				}
			}
		}
	}
	switch {
	case err == nil:
		if p.Train != "" {
			return trainAfterRun(ctx, p.Train, stdout, stderr)
		}
		return 0
	case errors.Is(err, pipelines.ErrStopped) && !strings.Contains(err.Error(), "cannot be resumed"):
		fmt.Fprintf(stderr, "curate run: interrupted at a checkpoint (%d documents read); continue with:\n  curate run --resume %s%s\n",
			rep.DocumentsIn, stateFlag(*state), pos[0])
		return 130
	case errors.Is(err, pipelines.ErrStopped) || ctx.Err() != nil:
		fmt.Fprintf(stderr, "curate run: interrupted: %v\nuncommitted output was removed; run the same command again to start over\n", err)
		return 130
	case pipelines.IsConfigError(err):
		fmt.Fprintln(stderr, err)
		return 2
	default:
		fmt.Fprintf(stderr, "curate run: %v\n", err)
		return 1
	}
}

// gracefulStop turns the first SIGINT or SIGTERM into a graceful stop (the
// run saves a checkpoint and exits) and a second one into cancellation.
func gracefulStop(cancel context.CancelFunc, stderr io.Writer) <-chan struct{} {
	stop := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(stderr, "curate run: stopping at the next checkpoint (interrupt again to abort now)")
		close(stop)
		<-sig
		cancel()
	}()
	return stop
}

func stateFlag(state string) string {
	if state == "" {
		return ""
	}
	return "--state " + state + " "
}

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	docs := fs.Int64("documents", 1_000_000, "corpus size for the memory estimate")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: curate validate PIPELINE.yaml")
		return 2
	}
	p, err := pipelines.LoadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: valid: %d sources, %d stages, %d sinks\n", pos[0], len(p.Sources), len(p.Stages), len(p.Sinks))
	for _, est := range pipelines.MemoryEstimates(p) {
		fmt.Fprintf(stdout, "memory: %s (line %d): %d bytes per document, about %s for %d documents\n",
			est.Component.Name, est.Component.Line, est.PerDoc, humanBytes(est.PerDoc**docs), *docs)
	}
	return 0
}

func humanBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return ""
}

func stagesCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("curate stages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	md := fs.Bool("markdown", false, "print the reference as Markdown (as in the README)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *md {
		io.WriteString(stdout, pipelines.MarkdownReference())
		return 0
	}
	io.WriteString(stdout, strings.TrimLeft(pipelines.TextReference(), "\n"))
	return 0
}
