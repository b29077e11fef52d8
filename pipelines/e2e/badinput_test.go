package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines"
)

// TestBadInputCorpus runs a corpus of every kind of broken input through a
// pipeline: the run succeeds, every good document comes out, and each
// broken record is in the rejects file with its file, position and reason.
func TestBadInputCorpus(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(in, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	line := func(id, text string) string {
		b, _ := json.Marshal(map[string]string{"id": id, "text": text})
		return string(b) + "\n"
	}
	// 1. Malformed JSON, invalid UTF-8, an empty text, a missing and a
	// non-string text field, among good lines.
	write("a-mixed.jsonl", []byte(line("good-1", "The first good document.")+
		"{\"id\": \"bad-json\", \"text\": \"unterminated\n"+
		"{\"id\": \"utf8\", \"text\": \"caf\xe9 au lait\"}\n"+
		line("empty", "")+
		"{\"id\": \"no-text\"}\n"+
		"{\"id\": \"num-text\", \"text\": 3.14}\n"+
		"[1, 2, 3]\n"+
		line("good-2", "The second good document.")))
	// 2. One 50 MB document.
	big := strings.Repeat("All work and no play makes a dull corpus. ", 50<<20/43)
	write("b-big.jsonl", []byte(line("big", big)))
	// 3. Truncated gzip and zstd files: the lines before the cut survive.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := 0; i < 2000; i++ {
		zw.Write([]byte(line(fmt.Sprintf("gz-%d", i), fmt.Sprintf("Compressed document number %d with some text.", i))))
	}
	zw.Close()
	write("c-cut.jsonl.gz", gz.Bytes()[:gz.Len()*2/3])
	var zs bytes.Buffer
	ze, _ := zstd.NewWriter(&zs)
	for i := 0; i < 40000; i++ { // several zstd blocks, so some survive the cut
		ze.Write([]byte(line(fmt.Sprintf("zst-%d", i), fmt.Sprintf("Zstd document number %d with other text.", i))))
	}
	ze.Close()
	write("d-cut.jsonl.zst", zs.Bytes()[:zs.Len()*2/3])
	// 4. Random bytes named .parquet.
	rb := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rb {
		rb[i] = byte(r.IntN(256))
	}
	write("e-random.parquet", rb)
	// 5. A WARC with a broken record between two good ones.
	warc := "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\nWARC-Target-URI: https://a.example/\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n"
	page := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body><p>A page about rivers and the bridges across them, with enough words to keep.</p></body></html>"
	w1 := fmt.Sprintf(warc, len(page), page)
	broken := "WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 12x\r\n\r\nHTTP/1.1 200\r\n\r\n"
	write("f-crawl.warc", []byte(w1+broken+strings.Replace(w1, "urn:uuid:1", "urn:uuid:2", 1)))

	y := `
sources:
  - jsonl: {path: "in/*.jsonl*"}
  - parquet: {path: "in/*.parquet"}
  - warc: {path: "in/*.warc"}
stages:
  - filter.clean: {}
sinks:
  - jsonl: {path: out/docs}
`
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(y), 0o644)
	p, err := pipelines.LoadFile(filepath.Join(dir, "p.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: 2, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("run failed on bad input: %v", err)
	}
	// Count what came out.
	ids := map[string]bool{}
	var gzOut, zstOut int
	shards, _ := filepath.Glob(filepath.Join(dir, "out", "docs", "*.jsonl"))
	for _, s := range shards {
		b, _ := os.ReadFile(s)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var d struct{ ID, Text string }
			if err := json.Unmarshal([]byte(l), &d); err != nil {
				t.Fatalf("bad output line: %v", err)
			}
			ids[d.ID] = true
			switch {
			case strings.HasPrefix(d.ID, "gz-"):
				gzOut++
			case strings.HasPrefix(d.ID, "zst-"):
				zstOut++
			case d.ID == "utf8" && d.Text != "caf\uFFFD au lait":
				t.Errorf("invalid UTF-8 not replaced: %q", d.Text)
			case d.ID == "big" && len(d.Text) != len(big)-1: // clean trims the final space
				t.Errorf("50 MB document cut to %d bytes", len(d.Text))
			}
		}
	}
	for _, id := range []string{"good-1", "good-2", "utf8", "empty", "big", "urn:uuid:1", "urn:uuid:2"} {
		if !ids[id] {
			t.Errorf("good document %q lost", id)
		}
	}
	if gzOut < 500 || zstOut < 5000 {
		t.Errorf("documents before the truncation lost: %d gz, %d zst", gzOut, zstOut)
	}
	if rep.InvalidUTF8 < 1 {
		t.Errorf("invalid_utf8_replaced = %d", rep.InvalidUTF8)
	}
	rejects, err := os.ReadFile(rep.RejectsFile)
	if err != nil {
		t.Fatalf("rejects file: %v", err)
	}
	for _, want := range []string{"a-mixed.jsonl", "c-cut.jsonl.gz", "d-cut.jsonl.zst", "e-random.parquet", "f-crawl.warc"} {
		if !strings.Contains(string(rejects), want) {
			t.Errorf("no reject names %s:\n%s", want, rejects)
		}
	}
	nrej := strings.Count(string(rejects), "\n")
	if int64(nrej) != rep.Rejected || nrej < 8 {
		t.Errorf("%d rejects in the file, %d in the report", nrej, rep.Rejected)
	}
}
