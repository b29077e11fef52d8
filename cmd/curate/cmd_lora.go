package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/curatehq/curate/trainer"
)

func init() {
	commands["lora"] = command{"LoRA adapters: merge an adapter into its base", loraCmd}
}

func loraCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "merge" {
		fmt.Fprintln(stderr, "usage: curate lora merge --base DIR --adapter DIR --out DIR")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("curate lora merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("base", "", "the base run folder or checkpoint file the adapter was trained on")
	adapter := fs.String("adapter", "", "the LoRA run folder or adapter file")
	out := fs.String("out", "", "folder for the merged checkpoint (a normal checkpoint for train and generate)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: curate lora merge --base DIR --adapter DIR --out DIR")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 0 || *base == "" || *adapter == "" || *out == "" {
		fs.Usage()
		return 2
	}
	w, err := trainer.MergeAdapter(*base, *adapter)
	if err != nil {
		fmt.Fprintf(stderr, "curate lora merge: %v\n", err)
		return 1
	}
	path, err := trainer.SaveMerged(w, *out)
	if err != nil {
		fmt.Fprintf(stderr, "curate lora merge: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `{"checkpoint": %q, "params": %d, "context": %d, "rope_scale": %g}`+"\n", path, len(w.Params), w.Model.Context, w.Model.RopeScale)
	return 0
}
