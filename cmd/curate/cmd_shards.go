package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/curatehq/curate/pipelines/storage"
	"github.com/curatehq/curate/tokenize/store"
	"github.com/curatehq/curate/tokenize/tokens"
)

func init() {
	commands["shards"] = command{"inspect, verify or export a token store (inspect|verify|export-llmc)", shardsCmd}
}

func shardsUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  curate shards inspect DIR [--sample N]
                                      the store's summary as JSON; --sample decodes the first N documents
  curate shards verify DIR            recompute checksums and index consistency (exit 1 if corrupt)
  curate shards export-llmc DIR OUT   write the shards as llm.c data files (OUT/train_NNNNN.bin, OUT/val_NNNNN.bin)
`)
}

func shardsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		shardsUsage(stderr)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("curate shards "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { shardsUsage(stderr) }
	sample := 0
	if sub == "inspect" {
		fs.IntVar(&sample, "sample", 0, "decode the first `N` documents with the saved tokenizer")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx := context.Background()
	switch {
	case sub == "inspect" && len(pos) == 1:
		return shardsInspect(ctx, pos[0], sample, stdout, stderr)
	case sub == "verify" && len(pos) == 1:
		return shardsVerify(ctx, pos[0], stdout, stderr)
	case sub == "export-llmc" && len(pos) == 2:
		return shardsExport(ctx, pos[0], pos[1], stdout, stderr)
	case sub == "-h" || sub == "--help" || sub == "help":
		shardsUsage(stdout)
		return 0
	}
	shardsUsage(stderr)
	return 2
}

func shardsInspect(ctx context.Context, dir string, sample int, stdout, stderr io.Writer) int {
	s, err := store.Inspect(ctx, dir)
	if err != nil {
		fmt.Fprintf(stderr, "curate shards inspect: %v\n", err)
		return 1
	}
	out := struct {
		store.Summary
		Sample []tokens.SampleDoc `json:"sample,omitempty"`
	}{Summary: s}
	if sample > 0 {
		st, err := store.Open(dir)
		if err == nil {
			out.Sample, err = tokens.Sample(st, sample)
			st.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "curate shards inspect: %v\n", err)
			return 1
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "curate shards inspect: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}

// shardsVerify verifies the store and its validation store; every fault is
// printed as DIR/FILE: offset N: problem.
func shardsVerify(ctx context.Context, dir string, stdout, stderr io.Writer) int {
	dirs := []string{dir}
	if has, err := store.HasVal(ctx, dir); err != nil {
		fmt.Fprintf(stderr, "curate shards verify: %v\n", err)
		return 1
	} else if has {
		dirs = append(dirs, storage.Join(dir, store.ValDir))
	}
	bad := false
	for _, d := range dirs {
		faults, err := store.Verify(ctx, d)
		for _, f := range faults {
			fmt.Fprintf(stdout, "%s/%v\n", d, f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "curate shards verify: %v\n", err)
			return 1
		}
		if len(faults) > 0 {
			bad = true
			continue
		}
		m, err := store.ReadManifest(ctx, d)
		if err != nil {
			fmt.Fprintf(stderr, "curate shards verify: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok: %d shards, %d documents, %d tokens\n", d, len(m.Shards), m.Documents, m.Tokens)
	}
	if bad {
		fmt.Fprintf(stderr, "curate shards verify: %s is corrupt\n", dir)
		return 1
	}
	return 0
}

func shardsExport(ctx context.Context, dir, out string, stdout, stderr io.Writer) int {
	paths, err := store.ExportLLMC(ctx, dir, out, "train")
	if err == nil {
		var has bool
		if has, err = store.HasVal(ctx, dir); has {
			var vp []string
			vp, err = store.ExportLLMC(ctx, storage.Join(dir, store.ValDir), out, "val")
			paths = append(paths, vp...)
		}
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "curate shards export-llmc: %v\n", err)
		return 1
	}
	return 0
}
