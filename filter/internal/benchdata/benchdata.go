// Package benchdata loads the real text the filter benchmarks and
// real-data tests run on: the web samples and the NLTK webtext files of
// the shared data folder (never copied into the project).
package benchdata

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// Web returns the texts of the JSONL web samples (Dolma CC, RedPajama CC
// and C4 samples, Dolma provided documents). It skips the test or benchmark
// when the shared data is absent.
func Web(tb testing.TB) []string {
	dir := filepath.Join(pipelinetest.SharedData(tb), "web")
	var out []string
	for _, name := range []string{
		"dolma_cc_en_head-0091.jsonl",
		"dolma_provided_documents_000.jsonl.gz",
		"datajuicer_redpajama-cc-2023-06-refined.jsonl",
		"datajuicer_redpajama-c4-refined.jsonl",
	} {
		out = append(out, readJSONL(tb, filepath.Join(dir, name))...)
	}
	return out
}

// Webtext returns the NLTK webtext files (forum posts, overheard
// conversations, scripts, ads, reviews) cut into documents of about 60
// lines, as invalid UTF-8 replaced the way sources replace it.
func Webtext(tb testing.TB) []string {
	dir := filepath.Join(pipelinetest.SharedData(tb), "text", "nltk_webtext")
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		tb.Skipf("no webtext files in %s", dir)
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		lines := strings.Split(strings.ToValidUTF8(string(data), "\uFFFD"), "\n")
		for i := 0; i < len(lines); i += 60 {
			out = append(out, strings.Join(lines[i:min(i+60, len(lines))], "\n"))
		}
	}
	return out
}

// All returns Web and Webtext together.
func All(tb testing.TB) []string { return append(Web(tb), Webtext(tb)...) }

// Bytes returns the total length of texts.
func Bytes(texts []string) int64 {
	n := int64(0)
	for _, t := range texts {
		n += int64(len(t))
	}
	return n
}

func readJSONL(tb testing.TB, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		tb.Skipf("shared web data missing: %v", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []string
	for sc.Scan() {
		var doc struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		out = append(out, doc.Text)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return out
}

// CPUSeconds returns the CPU time (user + system) this process has used.
// On a shared, overloaded machine wall-clock MB/s says little; bytes per
// CPU second is the throughput per core.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// Meter reports MB per CPU second as the benchmark metric "MB/cpu-s".
type Meter struct {
	start float64
	bytes int64
}

// StartMeter starts measuring a benchmark that processes bytes per op.
func StartMeter(b *testing.B, bytes int64) *Meter {
	b.SetBytes(bytes)
	b.ResetTimer()
	return &Meter{start: CPUSeconds(), bytes: bytes}
}

// Stop reports the metric.
func (m *Meter) Stop(b *testing.B) {
	b.StopTimer()
	if cpu := CPUSeconds() - m.start; cpu > 0 {
		b.ReportMetric(float64(m.bytes)*float64(b.N)/1e6/cpu, "MB/cpu-s")
	}
}
