// Command curate-beam runs a curate pipeline on Apache Beam: the same YAML
// as `curate run`, in-process on Prism by default, or on a cluster with
// --runner=flink|spark|dataflow|universal --endpoint=HOST:PORT.
//
//	curate-beam run [BEAM FLAGS] PIPELINE.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	curatebeam "github.com/curatehq/curate/beam"
	"github.com/curatehq/curate/pipelines"
	_ "github.com/curatehq/curate/pipelines/all"
)

const usage = `usage: curate-beam run [BEAM FLAGS] PIPELINE.yaml

Runs the pipeline on Apache Beam: in-process on Prism by default, or on a
cluster, e.g. --runner=flink --endpoint=localhost:8099 --environment_type=LOOPBACK.
Beam flags (see -help for all): --runner, --endpoint, --environment_type,
--environment_config, --project, --region, --staging_location, --temp_location.
`

func main() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage); flag.PrintDefaults() }
	if err := flag.CommandLine.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(flag.Arg(0)))
}

func run(file string) int {
	beam.Init()
	cfg, err := curatebeam.Load(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if pipelines.IsConfigError(err) {
			return 2
		}
		return 1
	}
	p := beam.NewPipeline()
	if err := curatebeam.Translate(p, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "curate-beam:", err)
		if pipelines.IsConfigError(err) || errors.Is(err, curatebeam.ErrUnsupported) {
			return 2
		}
		return 1
	}
	start := time.Now()
	if _, err := beamx.RunWithMetrics(context.Background(), p); err != nil {
		fmt.Fprintln(os.Stderr, "curate-beam: run failed:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "curate-beam: %s done in %.1fs\n", file, time.Since(start).Seconds())
	return 0
}
