// Command dedupbench builds dedup's benchmark corpus, runs a dedup stage over
// a JSONL file the way the runner does (signatures on several workers,
// decisions in input order) and scores kept-id lists against the corpus's
// exact-Jaccard ground truth. bench/dedup.sh drives it.
//
//	dedupbench gen -out corpus.jsonl -mb 40
//	dedupbench run -in corpus.jsonl -stage minhash|exact|none -out kept.ids [-workers N]
//	dedupbench quality -in corpus.jsonl -kept kept.ids [-kept other.ids]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/dedup"
	"github.com/curatehq/curate/dedup/internal/neardup"
	"github.com/curatehq/curate/pipelines"
	_ "github.com/curatehq/curate/pipelines/all"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: dedupbench gen|run|quality [flags]")
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "quality":
		err = quality(os.Args[2:])
	case "pipeline":
		err = pipeline(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal("dedupbench: ", err)
	}
}

type doc struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	data := fs.String("data", "../shared/data/text", "folder of .txt prose")
	out := fs.String("out", "", "output JSONL")
	mb := fs.Float64("mb", 40, "corpus size in MB")
	docs := fs.Int("docs", 0, "number of documents (instead of -mb)")
	seed := fs.Uint64("seed", 1, "generator seed")
	fs.Parse(args)
	sents, err := neardup.Sentences(*data)
	if err != nil {
		return err
	}
	n := *docs
	if n == 0 {
		n = int(*mb * 1e6 / 2260) // average document ~2.26 kB
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	kinds := map[string]int{}
	size := 0
	for _, d := range neardup.Generate(sents, n, *seed) {
		line, _ := json.Marshal(doc{ID: d.ID, Text: d.Text})
		w.Write(line)
		w.WriteByte('\n')
		size += len(line) + 1
		kinds[strings.SplitN(d.Kind, "-", 2)[0]]++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d documents, %.1f MB, kinds %v\n", *out, n, float64(size)/1e6, kinds)
	return f.Close()
}

// chunk is a run of raw JSONL lines, decoded and processed by a worker.
type chunk struct {
	seq   int
	lines [][]byte
	rec   arrow.Record
	res   *pipelines.Result
	err   error
	done  chan struct{}
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	in := fs.String("in", "", "input JSONL {id,text}")
	out := fs.String("out", "", "kept ids, one a line")
	stage := fs.String("stage", "minhash", "minhash, exact or none")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "Process workers")
	memory := fs.String("memory", "0", "memory budget (e.g. 64MiB; 0 = unlimited)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile")
	signature := fs.String("signature", "one_permutation", "dedup.minhash signature scheme")
	verify := fs.String("verify", "signature", "dedup.minhash verification: signature or shingles")
	fs.Parse(args)
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	budget, err := pipelines.ParseSize(*memory)
	if err != nil {
		return err
	}
	start := time.Now()
	env := pipelines.TestEnv(nil, ".")
	env.Memory = pipelines.NewBudget(budget)
	env.TempDir, err = os.MkdirTemp("", "dedupbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(env.TempDir)
	var st pipelines.Stage
	switch *stage {
	case "minhash", "exact":
		spec, _ := pipelines.LookupSpec(pipelines.KindStage, "dedup."+*stage)
		values := map[string]any{}
		if *stage == "minhash" {
			values["signature"] = *signature
			values["verify"] = *verify
		}
		p, err := pipelines.NewParams(spec, values)
		if err != nil {
			return err
		}
		if *stage == "minhash" {
			st, err = dedup.NewMinHash(p, env)
		} else {
			st, err = dedup.NewExact(p, env)
		}
		if err != nil {
			return err
		}
	case "none":
	default:
		return fmt.Errorf("unknown stage %q", *stage)
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	of, err := os.Create(*out)
	if err != nil {
		return err
	}
	ow := bufio.NewWriterSize(of, 1<<20)

	ctx := context.Background()
	jobs := make(chan *chunk, 2**workers)
	order := make(chan *chunk, 2**workers)
	for w := 0; w < *workers; w++ {
		go func() {
			for c := range jobs {
				c.rec, c.err = decode(env, c.lines)
				if c.err == nil && st != nil {
					c.res, c.err = st.Process(ctx, c.rec)
				}
				close(c.done)
			}
		}()
	}
	go func() {
		defer close(jobs)
		defer close(order)
		r := bufio.NewReaderSize(f, 1<<20)
		var lines [][]byte
		seq := 0
		flush := func() {
			c := &chunk{seq: seq, lines: lines, done: make(chan struct{})}
			seq++
			lines = nil
			jobs <- c
			order <- c
		}
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				lines = append(lines, line)
				if len(lines) == pipelines.DefaultBatchRows {
					flush()
				}
			}
			if err != nil {
				if err != io.EOF {
					log.Fatal(err)
				}
				break
			}
		}
		if len(lines) > 0 {
			flush()
		}
	}()
	var docs, dropped, bytesIn int64
	for c := range order {
		<-c.done
		if c.err != nil {
			return c.err
		}
		for _, l := range c.lines {
			bytesIn += int64(len(l))
		}
		if sq, ok := st.(pipelines.Sequencer); ok {
			if err := sq.Sequence(ctx, c.rec, c.res); err != nil {
				return err
			}
		}
		ids, _ := pipelines.StringCol(c.rec, pipelines.ColID)
		for i := 0; i < ids.Len(); i++ {
			if c.res != nil && c.res.Drop != nil && c.res.Drop[i] != "" {
				dropped++
				continue
			}
			ow.WriteString(ids.Value(i))
			ow.WriteByte('\n')
		}
		docs += int64(ids.Len())
		if c.res != nil {
			for _, col := range c.res.Columns {
				col.Array.Release()
			}
		}
		c.rec.Release()
	}
	if f, ok := st.(pipelines.Finisher); ok {
		if err := f.Finish(ctx); err != nil {
			return err
		}
	}
	if err := ow.Flush(); err != nil {
		return err
	}
	if err := of.Close(); err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	extra := ""
	if rp, ok := st.(pipelines.Reporter); ok {
		r := rp.Report()
		extra = fmt.Sprintf(" clusters %v largest %v spilled %v", r["clusters"], r["largest_cluster"], r["spilled_segments"])
	}
	fmt.Printf("stage %s docs %d bytes %d dropped %d workers %d elapsed %.3f MB/s %.2f%s\n",
		*stage, docs, bytesIn, dropped, *workers, el, float64(bytesIn)/1e6/el, extra)
	return nil
}

// pipeline runs a pipeline file through pipelines.Run, optionally with a CPU
// profile: what `curate run` does, for profiling.
func pipeline(args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ExitOnError)
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "workers")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile")
	fs.Parse(args)
	p, err := pipelines.LoadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: *workers})
	if err != nil {
		return err
	}
	fmt.Printf("documents %d in, %d out in %.2fs\n", rep.DocumentsIn, rep.DocumentsOut, rep.Seconds)
	return nil
}

func decode(env *pipelines.Env, lines [][]byte) (arrow.Record, error) {
	e := *env
	e.BatchRows = len(lines) + 1
	e.BatchBytes = 1 << 62
	e.Alloc = memory.DefaultAllocator
	b := pipelines.NewDocBuilder(&e)
	for _, l := range lines {
		var d doc
		if err := json.Unmarshal(l, &d); err != nil {
			b.Release()
			return nil, err
		}
		b.Add(d.ID, d.Text, "bench", "default")
	}
	return b.Build(), nil
}

func quality(args []string) error {
	fs := flag.NewFlagSet("quality", flag.ExitOnError)
	in := fs.String("in", "", "input JSONL {id,text}")
	var kept []string
	fs.Func("kept", "kept ids file (repeatable)", func(s string) error { kept = append(kept, s); return nil })
	ngram := fs.Int("ngram", 5, "shingle size")
	fs.Parse(args)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	var docs []neardup.Doc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return err
		}
		docs = append(docs, neardup.Doc{ID: d.ID, Text: d.Text})
	}
	t0 := time.Now()
	best := neardup.BestEarlier(docs, *ngram)
	fmt.Printf("ground truth for %d documents in %.1fs\n", len(docs), time.Since(t0).Seconds())
	for _, k := range kept {
		b, err := os.ReadFile(k)
		if err != nil {
			return err
		}
		keep := map[string]bool{}
		for _, id := range strings.Fields(string(b)) {
			keep[id] = true
		}
		var high, removed, low, lowKept int
		for i, d := range docs {
			switch {
			case best[i] >= 0.85:
				high++
				if !keep[d.ID] {
					removed++
				}
			case best[i] < 0.6:
				low++
				if keep[d.ID] {
					lowKept++
				}
			}
		}
		r, kp := float64(removed)/float64(max(high, 1)), float64(lowKept)/float64(max(low, 1))
		verdict := "PASS"
		if r < 0.97 || kp < 0.995 {
			verdict = "FAIL"
		}
		fmt.Printf("%s: best earlier J>=0.85 removed %d/%d = %.4f (>= 0.97); J<0.6 kept %d/%d = %.4f (>= 0.995): %s\n",
			k, removed, high, r, lowKept, low, kp, verdict)
	}
	return nil
}
