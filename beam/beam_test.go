package curatebeam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	curatebeam "github.com/curatehq/curate/beam"
	"github.com/curatehq/curate/pipelines"
	_ "github.com/curatehq/curate/pipelines/all"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init()
	os.Exit(m.Run())
}

// corpus writes JSONL files with exact duplicates (also after
// normalization), near-duplicates, PII, and documents the Gopher rules drop.
func corpus(t testing.TB, dir string, files, perFile int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	vocab := strings.Fields("the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can out up into them only time some could these two may first then do any like my now over such our man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three")
	var prev []string
	for f := 0; f < files; f++ {
		var buf bytes.Buffer
		for r := 0; r < perFile; r++ {
			var text string
			switch k := rng.IntN(10); {
			case k == 0 && len(prev) > 0: // exact duplicate, differently spaced and cased
				text = strings.ToUpper(prev[rng.IntN(len(prev))]) + "  "
			case k == 1 && len(prev) > 0: // near duplicate: one word in 60 changed
				w := strings.Fields(prev[rng.IntN(len(prev))])
				for i := 0; i < len(w); i += 60 {
					w[i] = "changed"
				}
				text = strings.Join(w, " ")
			case k == 2: // too short for Gopher
				text = "buy now"
			default:
				n := 80 + rng.IntN(300)
				w := make([]string, n)
				for i := range w {
					w[i] = vocab[rng.IntN(len(vocab))]
					if i%13 == 12 {
						w[i] += "."
					}
				}
				if k == 3 {
					w[n/2] = "mail jane.doe@example.com or call 555-867-5309"
				}
				text = strings.Join(w, " ")
			}
			prev = append(prev, text)
			line, _ := json.Marshal(map[string]any{"text": text, "url": fmt.Sprintf("https://x.test/%d/%d", f, r)})
			buf.Write(line)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d.jsonl", f)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const stages = `
stages:
  - filter.clean: {}
  - dedup.exact: {}
  - filter.gopher_quality: {}
  - filter.pii: {}
  - dedup.minhash: {threshold: 0.8}
`

// runBoth runs the same pipeline (sinks differing only in folder) with the
// local engine and with curate-beam on Prism, and returns both outputs.
func runBoth(t *testing.T, dir, sources, stages string) (local, onBeam string) {
	t.Helper()
	write := func(name, out string) string {
		p := filepath.Join(dir, name)
		y := sources + stages + "sinks:\n  - jsonl: {path: " + out + ", shard_bytes: 150KB}\n" +
			"  - jsonl: {path: " + out + "-gz, compression: gzip, shard_bytes: 60KB}\n" +
			"  - parquet: {path: " + out + "-parquet, shard_bytes: 200KB, row_group_bytes: 50KB}\n"
		if withTokens(stages) {
			y += "  - tokens: {path: " + out + "-tokens, tokenizer: gpt2, val_fraction: 0.1, shard_tokens: 8000, llmc: true}\n"
		}
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runEngine(t, write("local.yaml", "out-local"), false)
	runEngine(t, write("beam.yaml", "out-beam"), true)
	local, onBeam = readDir(t, filepath.Join(dir, "out-local")), readDir(t, filepath.Join(dir, "out-beam"))
	if lg, bg := readTree(t, filepath.Join(dir, "out-local-gz")), readTree(t, filepath.Join(dir, "out-beam-gz")); lg != bg {
		t.Errorf("gzipped jsonl sinks differ (%d and %d bytes)", len(lg), len(bg))
	} else if !strings.Contains(lg, "part-00001.jsonl.gz") {
		t.Errorf("want several gzipped jsonl shards:\n%.300s", lg)
	}
	if lp, bp := readTree(t, filepath.Join(dir, "out-local-parquet")), readTree(t, filepath.Join(dir, "out-beam-parquet")); lp != bp {
		t.Errorf("parquet sinks differ (%d and %d bytes)", len(lp), len(bp))
	} else if !strings.Contains(lp, "part-00001.parquet") {
		t.Errorf("want several parquet shards:\n%.300s", lp)
	}
	if withTokens(stages) {
		lt, bt := readTree(t, filepath.Join(dir, "out-local-tokens")), readTree(t, filepath.Join(dir, "out-beam-tokens"))
		if lt != bt {
			t.Errorf("token stores differ (%d and %d bytes)", len(lt), len(bt))
		}
		for _, f := range []string{"== shard_00002.bin", "== val/shard_00001.idx", "== llmc/shard_00002.bin", "== val/manifest.json", "== tokenizer.json"} {
			if !strings.Contains(lt, f) {
				t.Errorf("no %s in the token store: the sharded write is not exercised", f[3:])
			}
		}
	}
	return local, onBeam
}

// withTokens reports whether runBoth adds a tokens sink: after
// tokenize.encode (ids in a column) and for the plain conversion (the sink
// encodes the texts itself).
func withTokens(stages string) bool {
	return stages == "" || strings.Contains(stages, "tokenize.encode")
}

// readDir concatenates a sink folder's files in name order, each headed by
// its name.
func readDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "== %s\n%s", e.Name(), data)
	}
	return b.String()
}

// readTree concatenates every file under dir in path order, each headed by
// its relative path.
func readTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "== %s\n%s", rel, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func ids(t *testing.T, out string) []string {
	var got []string
	inShard := false
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "== "); ok {
			inShard = strings.HasSuffix(name, ".jsonl")
			continue
		}
		if !inShard || line == "" {
			continue
		}
		var d struct{ ID string }
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, d.ID)
	}
	sort.Strings(got)
	return got
}

func compare(t *testing.T, local, onBeam string) {
	t.Helper()
	li, bi := ids(t, local), ids(t, onBeam)
	if strings.Join(li, "\n") != strings.Join(bi, "\n") {
		t.Fatalf("kept documents differ: local %d, beam %d", len(li), len(bi))
	}
	if local != onBeam {
		t.Errorf("same documents but different output bytes:\nlocal:\n%.2000s\nbeam:\n%.2000s", local, onBeam)
	}
}

// mixSources reads six corpus files as three domains.
const mixSources = `sources:
  - jsonl: {path: "in/part-0[0-3].jsonl", domain: web}
  - jsonl: {path: "in/part-04.jsonl", domain: books}
  - jsonl: {path: "in/part-05.jsonl", domain: code}
`

func TestBeamEqualsLocal(t *testing.T) {
	for _, tc := range []struct {
		name, stages, sources string
	}{
		{"conversion", "", ""},
		{"filters-and-dedup", stages, ""},
		{"exact-by-url-and-annotate", `
stages:
  - dedup.exact: {key: url}
  - filter.gopher_quality: {annotate_only: true}
  - dedup.minhash: {annotate_only: true, bands: 28}
  - dedup.exact: {}
`, ""},
		{"barrier", stages + "  - filter.quality: {}\n  - curriculum.order: {by: quality_score}\n", ""},
		{"mixer", stages + "  - tokenize.encode: {tokenizer: gpt2}\n  - mixer.weights: {weights: {web: 0.7, books: 0.3}, total_tokens: 200000, seed: 3}\n",
			"sources:\n  - jsonl: {path: \"in/part-0[01].jsonl\", domain: web}\n  - jsonl: {path: \"in/part-02.jsonl\", domain: books}\n"},
		{"sorted-in-buckets", stages + "  - filter.quality: {}\n  - curriculum.order: {by: quality_score, order: descending}\n", ""},
		{"parquet-source", stages, "sources:\n  - parquet: {path: \"pq/*.parquet\", domain: web}\n"},
		// Six files, three domains: web downsampled (about 0.45 of it),
		// books upsampled (about 3 copies), code 1.2 copies; the sorts in
		// several buckets.
		{"mixer-up-and-down", stages + "  - filter.quality: {}\n  - tokenize.encode: {tokenizer: gpt2}\n  - mixer.weights: {weights: {web: 0.3, books: 0.5, code: 0.2}, max_repeats: 5, seed: 11}\n", mixSources},
		{"mixer-curriculum", stages + "  - filter.quality: {}\n  - tokenize.encode: {tokenizer: gpt2}\n  - mixer.weights: {weights: {web: 0.3, books: 0.5, code: 0.2}, max_repeats: 5}\n  - curriculum.order: {by: quality_score}\n", mixSources},
		{"mixer-curriculum-phases", stages + "  - filter.quality: {}\n  - tokenize.encode: {tokenizer: gpt2}\n  - mixer.weights: {weights: {web: 0.3, books: 0.5, code: 0.2}, max_repeats: 5}\n  - curriculum.order: {by: quality_score, order: descending, phases: 4, seed: 5}\n", mixSources},
		{"curriculum-phases", stages + "  - filter.quality: {}\n  - curriculum.order: {by: quality_score, phases: 3, seed: 2}\n", mixSources},
		{"paragraph-keep-first", "stages:\n  - filter.clean: {}\n  - dedup.paragraph: {max_repeats: 3, keep_first: true, min_chars: 8}\n  - dedup.exact: {}\n", ""},
		{"paragraph-lines-annotate", "stages:\n  - dedup.paragraph: {unit: line, max_repeats: 5, lowercase: true}\n  - dedup.paragraph: {annotate_only: true, max_repeats: 1}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			os.Mkdir(in, 0o755)
			files := 3
			if tc.sources == mixSources {
				files = 6
			}
			if strings.HasPrefix(tc.name, "paragraph") {
				paragraphCorpus(t, in, files, 400)
			} else {
				corpus(t, in, files, 400)
			}
			if tc.name == "conversion" {
				extraColumns(t, in)
			}
			if tc.name == "sorted-in-buckets" || tc.sources == mixSources {
				defer curatebeam.SetBucketDocs(60)()
			}
			if strings.Contains(tc.sources, "pq/") {
				toParquet(t, dir)
			}
			sources := tc.sources
			if sources == "" {
				sources = "sources:\n  - jsonl: {path: \"in/*.jsonl\", domain: web}\n"
			}
			local, onBeam := runBoth(t, dir, sources, tc.stages)
			if tc.name == "conversion" { // the files with a new column, then a new type, are shards of their own
				data, err := os.ReadFile(filepath.Join(dir, "out-local-parquet", "manifest.json"))
				if err != nil {
					t.Fatal(err)
				}
				var m struct{ Shards []struct{ Documents int } }
				if err := json.Unmarshal(data, &m); err != nil {
					t.Fatal(err)
				}
				if n := len(m.Shards); n < 3 || m.Shards[n-2].Documents != 300 || m.Shards[n-1].Documents != 300 {
					t.Errorf("parquet shards %+v: want the last two of 300 documents (cut by columns)", m.Shards)
				}
			}
			kept := len(ids(t, local))
			if kept == 0 {
				t.Fatal("nothing kept")
			}
			shards := strings.Count(local, "== part-")
			t.Logf("%d of %d documents kept, %d jsonl shards", kept, files*400, shards)
			if shards < 2 {
				t.Errorf("%d jsonl shards: the sharded write is not exercised", shards)
			}
			compare(t, local, onBeam)
			if strings.Contains(tc.stages, "mixer.weights") && tc.sources == mixSources {
				copies, web, most := map[string]int{}, 0, 0
				for _, id := range ids(t, local) {
					copies[id]++
					most = max(most, copies[id])
					if !strings.HasPrefix(id, "part-04") && !strings.HasPrefix(id, "part-05") {
						web++
					}
				}
				if most < 3 || web > 900 {
					t.Errorf("want books upsampled (3 copies or more: %d) and web downsampled (%d of 1600 kept)", most, web)
				}
			}
		})
	}
}

// paragraphCorpus writes JSONL files of documents made of paragraphs,
// many of them boilerplate repeated across files (some differing only in
// case and spacing), some documents nothing but boilerplate.
func paragraphCorpus(t *testing.T, dir string, files, perFile int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 9))
	pool := []string{"Home | About | Contact", "Copyright 2024 Example Corp. All rights reserved.", "SUBSCRIBE   to our newsletter",
		"subscribe to our newsletter", "Share this:\nTweet\nEmail", "Read more", "Cookies help us deliver our services."}
	for f := 0; f < files; f++ {
		var buf bytes.Buffer
		for r := 0; r < perFile; r++ {
			var parts []string
			for k := rng.IntN(6); k >= 0; k-- {
				if r%9 == 0 || rng.IntN(2) == 0 {
					parts = append(parts, pool[rng.IntN(len(pool))])
				} else {
					words := make([]string, 40+rng.IntN(40))
					for i := range words {
						words[i] = fmt.Sprintf("w%d", rng.IntN(5000))
					}
					parts = append(parts, fmt.Sprintf("Story %d of file %d, paragraph %d: %s.\nA second line: %d.", r, f, k, strings.Join(words, " "), rng.IntN(7)))
				}
			}
			line, _ := json.Marshal(map[string]any{"text": strings.Join(parts, "\n\n"), "url": fmt.Sprintf("https://x.test/%d/%d", f, r)})
			buf.Write(line)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d.jsonl", f)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// extraColumns adds two files whose documents carry a column the others
// lack, an integer in one and a string in the other: the parquet sink
// starts a new shard for each (new column, then another type).
func extraColumns(t *testing.T, in string) {
	t.Helper()
	for f, v := range []any{5, "five"} {
		var buf bytes.Buffer
		for r := range 300 {
			line, _ := json.Marshal(map[string]any{"text": fmt.Sprintf("document %d of file %d, with a star rating", r, f), "stars": v})
			buf.Write(line)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%02d.jsonl", 3+f)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// toParquet converts dir/in/*.jsonl into several Parquet files in dir/pq
// with the local engine.
func toParquet(t *testing.T, dir string) {
	t.Helper()
	y := "sources:\n  - jsonl: {path: \"in/*.jsonl\"}\nsinks:\n  - parquet: {path: pq, shard_bytes: 150KB}\n"
	p := filepath.Join(dir, "to-parquet.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	pl, err := pipelines.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipelines.Run(context.Background(), pl, pipelines.Options{Workers: 2, NoJournal: true}); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "pq", "*.parquet")); len(m) < 3 {
		t.Fatalf("%d parquet files, want several", len(m))
	}
}

// TestBeamRejectsShingles: dedup.minhash's verify: shingles has no Beam
// translation; it fails the translation (exit 2) instead of verifying by
// signatures and keeping other documents than curate run.
func TestBeamRejectsShingles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	y := "sources:\n  - jsonl: {path: in.jsonl}\nstages:\n  - dedup.minhash: {verify: shingles}\nsinks:\n  - jsonl: {path: out}\n"
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := curatebeam.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	err = curatebeam.Translate(beam.NewPipeline(), cfg)
	if !errors.Is(err, curatebeam.ErrUnsupported) || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("verify: shingles translated: %v", err)
	}
}

func TestBeamEqualsLocalSharedData(t *testing.T) {
	if testing.Short() {
		t.Skip("real-data comparison")
	}
	if os.Getenv("CURATE_SHARED_DATA") == "" {
		// pipelinetest looks beside the module root; this module is one deeper.
		t.Setenv("CURATE_SHARED_DATA", filepath.Join("..", "..", "shared", "data"))
	}
	data, err := filepath.Abs(pipelinetest.SharedData(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sources := fmt.Sprintf(`sources:
  - text: {path: %q, split: paragraph, domain: speeches}
  - jsonl: {path: %q, domain: web}
  - text: {path: %q, split: line, domain: bible}
`, filepath.Join(data, "text/nltk_state_union/*.txt"), filepath.Join(data, "web/*.jsonl"),
		filepath.Join(data, "text/nltk_genesis/english-*.txt"))
	local, onBeam := runBoth(t, dir, sources, stages)
	t.Logf("%d documents kept", len(ids(t, local)))
	compare(t, local, onBeam)
}

// runEngine runs a pipeline file with the local engine or on Prism.
func runEngine(t *testing.T, path string, onBeam bool) {
	t.Helper()
	if !onBeam {
		pl, err := pipelines.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipelines.Run(context.Background(), pl, pipelines.Options{Workers: 2, NoJournal: true}); err != nil {
			t.Fatal(err)
		}
		return
	}
	cfg, err := curatebeam.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := beam.NewPipeline()
	if err := curatebeam.Translate(p, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Incremental dedup indexes: run 1 saves the dedup.exact and dedup.minhash
// indexes, run 2 reads new files (one of them already seen in run 1) with
// them. curate-beam writes the very index files curate run writes, and a
// run 2 on either engine from either engine's index keeps the same
// documents, in the same bytes.
func TestBeamIndexEqualsLocal(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	corpus(t, in, 5, 300)
	// write a pipeline over files glob, with its indexes in folder idx
	write := func(name, glob, idx string) string {
		if err := os.MkdirAll(filepath.Join(dir, idx), 0o755); err != nil {
			t.Fatal(err)
		}
		y := fmt.Sprintf(`sources:
  - jsonl: {path: %q, domain: web}
stages:
  - filter.clean: {}
  - dedup.exact: {index: %q}
  - filter.gopher_quality: {}
  - dedup.minhash: {threshold: 0.8, index: %q}
sinks:
  - jsonl: {path: %q, shard_bytes: 100KB}
`, filepath.Join(in, glob), filepath.Join(dir, idx, "exact.idx"), filepath.Join(dir, idx, "minhash.idx"), filepath.Join(dir, "out-"+name))
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sameIndexes := func(what, a, b string) {
		t.Helper()
		for _, f := range []string{"exact.idx", "minhash.idx"} {
			x, err := os.ReadFile(filepath.Join(dir, a, f))
			if err != nil {
				t.Fatal(err)
			}
			y, err := os.ReadFile(filepath.Join(dir, b, f))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x, y) {
				t.Errorf("%s: %s differs (%d and %d bytes)", what, f, len(x), len(y))
			}
		}
	}
	out := func(name string) string { return readDir(t, filepath.Join(dir, "out-"+name)) }

	// Run 1 on both engines: same output, same index files.
	runEngine(t, write("1-local", "part-0[0-2].jsonl", "idx-local"), false)
	runEngine(t, write("1-beam", "part-0[0-2].jsonl", "idx-beam"), true)
	compare(t, out("1-local"), out("1-beam"))
	sameIndexes("run 1", "idx-local", "idx-beam")

	// Run 2 from each engine's index, on each engine.
	for _, from := range []string{"local", "beam"} {
		for _, eng := range []string{"local", "beam"} {
			idx := "idx-2-" + from + "-" + eng
			os.MkdirAll(filepath.Join(dir, idx), 0o755)
			for _, f := range []string{"exact.idx", "minhash.idx"} {
				copyFile(t, filepath.Join(dir, "idx-"+from, f), filepath.Join(dir, idx, f))
			}
			runEngine(t, write("2-"+from+"-"+eng, "part-0[2-4].jsonl", idx), eng == "beam")
		}
		local, onBeam := out("2-"+from+"-local"), out("2-"+from+"-beam")
		compare(t, local, onBeam)
		sameIndexes("run 2 after "+from, "idx-2-"+from+"-local", "idx-2-"+from+"-beam")
		kept := ids(t, local)
		seen := 0
		for _, id := range kept {
			if strings.HasPrefix(id, "part-02") {
				seen++
			}
		}
		if seen > 0 || len(kept) < 100 {
			t.Errorf("run 2 after %s: %d documents kept, %d of them from the file run 1 indexed", from, len(kept), seen)
		}
	}
	// Without the indexes run 2 keeps documents of part-02.
	runEngine(t, write("2-none", "part-0[2-4].jsonl", "idx-none"), true)
	if n := strings.Count(out("2-none"), `"id":"part-02`); n == 0 {
		t.Errorf("without an index run 2 keeps no document of part-02: the test shows nothing")
	}
}

// idSink is a sink registered outside curate: curate-beam writes it on one
// worker (sinkFn). It writes the documents' ids, one a line, to path.
type idSink struct {
	path string
	ids  []string
}

func (s *idSink) Write(_ context.Context, rec arrow.Record) error {
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return err
	}
	for i := 0; i < ids.Len(); i++ {
		s.ids = append(s.ids, ids.Value(i)+"\n")
	}
	return nil
}

func (s *idSink) Commit(context.Context) error { return nil }
func (s *idSink) Abort() error                 { return nil }
func (s *idSink) Close(context.Context) error {
	return os.WriteFile(s.path, []byte(strings.Join(s.ids, "")), 0o644)
}

func init() {
	pipelines.RegisterSink(pipelines.Spec{Name: "beamtest.ids", Doc: "writes the ids, one a line (tests)",
		Fields: []pipelines.Field{{Name: "path", Type: pipelines.String, Required: true, Doc: "file"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Sink, error) {
			return &idSink{path: env.Path(p.String("path"))}, nil
		})
}

// TestBeamOtherSink: a sink without a translation gets every document, in
// the local engine's output order, on one worker; here that order comes
// from a sort in many buckets.
func TestBeamOtherSink(t *testing.T) {
	defer curatebeam.SetBucketDocs(60)()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	corpus(t, in, 3, 300)
	for _, eng := range []string{"local", "beam"} {
		y := fmt.Sprintf("sources:\n  - jsonl: {path: \"in/*.jsonl\"}\nstages:\n  - filter.clean: {}\n  - dedup.exact: {}\n"+
			"  - filter.quality: {}\n  - curriculum.order: {by: quality_score}\n"+
			"sinks:\n  - beamtest.ids: {path: ids-%s.txt}\n", eng)
		p := filepath.Join(dir, eng+".yaml")
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		runEngine(t, p, eng == "beam")
	}
	local, err := os.ReadFile(filepath.Join(dir, "ids-local.txt"))
	if err != nil {
		t.Fatal(err)
	}
	onBeam, err := os.ReadFile(filepath.Join(dir, "ids-beam.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(local, []byte("\n")); n < 500 || n == 900 {
		t.Fatalf("%d ids: want most of 900 documents, some dropped as duplicates", n)
	}
	if !bytes.Equal(local, onBeam) {
		t.Errorf("the ids differ:\nlocal:\n%.300s\nbeam:\n%.300s", local, onBeam)
	}
}
