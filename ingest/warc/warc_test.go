package warc

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func record(typ, uri, body string) string {
	return fmt.Sprintf("WARC/1.1\r\nWARC-Type: %s\r\nWARC-Record-ID: <urn:uuid:%s>\r\nWARC-Target-URI: %s\r\nWARC-Date: 2024-01-02T03:04:05Z\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n",
		typ, strings.ReplaceAll(uri, "/", "-"), uri, len(body), body)
}

func httpResp(ctype, html string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: " + ctype + "\r\n\r\n" + html
}

const article = `<html><head><title>River notes</title><style>p{color:red}</style><script>var x = "never shown";</script></head>
<body><header><a href="/">Home</a> <a href="/about">About</a></header>
<nav class="main-nav"><ul><li><a href="/a">Products</a></li><li><a href="/b">Pricing</a></li></ul></nav>
<div id="cookie-banner">We use cookies to improve your experience. Accept all cookies or manage preferences.</div>
<main><article><h1>How the river rose</h1>
<p>The river rose slowly through the night, and by morning the lower streets were under water.</p>
<p>Neighbours carried furniture upstairs while the council opened the school as a shelter for families.</p>
<h2>Related posts</h2></article></main>
<aside class="sidebar"><p>Subscribe to our newsletter for weekly updates and offers.</p></aside>
<footer><p>Copyright 2024 River Times. All rights reserved. Privacy policy.</p></footer></body></html>`

func TestExtractKeepsArticleDropsFurniture(t *testing.T) {
	p := Extract([]byte(article))
	if p.Title != "River notes" {
		t.Errorf("title %q", p.Title)
	}
	want := "How the river rose\n\nThe river rose slowly through the night, and by morning the lower streets were under water.\n\nNeighbours carried furniture upstairs while the council opened the school as a shelter for families."
	if p.Text != want {
		t.Errorf("text:\n%s\nwant:\n%s", p.Text, want)
	}
}

func TestCharsetLatin1(t *testing.T) {
	page := []byte("<html><head><meta charset=\"iso-8859-1\"></head><body><p>Le caf\xe9 de la gare ouvre \xe0 six heures chaque matin.</p></body></html>")
	utf, cs := ToUTF8(page, "text/html")
	if cs != "windows-1252" && cs != "iso-8859-1" {
		t.Errorf("charset %q", cs)
	}
	if got := Extract(utf).Text; got != "Le café de la gare ouvre à six heures chaque matin." {
		t.Errorf("text %q", got)
	}
	// The HTTP header wins over the page.
	utf, _ = ToUTF8([]byte("<p>na\xefve caf\xe9 with enough words here</p>"), "text/html; charset=windows-1252")
	if !strings.Contains(string(utf), "naïve café") {
		t.Errorf("header charset not applied: %q", utf)
	}
}

func gz(parts ...string) []byte {
	var buf bytes.Buffer
	for _, p := range parts { // gzip per record, as Common Crawl does
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(p))
		zw.Close()
	}
	return buf.Bytes()
}

func runSource(t *testing.T, path string) ([]map[string]string, *pipelines.Env) {
	t.Helper()
	env := testEnv(t, "", 3)
	env.BatchRows = 5
	return rowsOf(t, openSource(t, env, map[string]any{"path": path, "domain": "web"})), env
}

// testEnv returns an Env over a leak-checked allocator (checked when the
// test ends) with paths relative to dir.
func testEnv(t *testing.T, dir string, workers int) *pipelines.Env {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	env := pipelines.TestEnv(mem, dir)
	env.Workers = workers
	return env
}

// openSource builds a warc source with params.
func openSource(t *testing.T, env *pipelines.Env, params map[string]any) pipelines.Source {
	t.Helper()
	p, err := pipelines.NewParams(mustSpec(t), params)
	if err != nil {
		t.Fatal(err)
	}
	src, err := newSource(p, env)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// rowsOf drains src into rows of column values and closes it.
func rowsOf(t *testing.T, src pipelines.Source) []map[string]string {
	t.Helper()
	defer src.Close()
	var rows []map[string]string
	for {
		rec, err := src.Next(context.Background())
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := map[string]string{}
			for c := 0; c < int(rec.NumCols()); c++ {
				if !rec.Column(c).IsNull(r) {
					row[rec.ColumnName(c)] = rec.Column(c).ValueStr(r)
				}
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
}

func mustSpec(t *testing.T) *pipelines.Spec {
	s, ok := pipelines.LookupSpec(pipelines.KindSource, "warc")
	if !ok {
		t.Fatal("warc source not registered")
	}
	return s
}

func TestSourceBrokenRecordsKeepTheRest(t *testing.T) {
	dir := t.TempDir()
	good1 := record("response", "https://a.example/1", httpResp("text/html", article))
	good2 := record("response", "https://b.example/2", httpResp("text/html; charset=utf-8", "<p>A second page about bridges and the people who build them, with enough words.</p>"))
	badHeader := "WARC/1.0\r\nWARC-Type response\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
	badLength := "WARC/1.0\r\nWARC-Type: response\r\nContent-Length: lots\r\n\r\nhello\r\n\r\n"
	image := record("response", "https://c.example/x.png", "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG")
	request := record("request", "https://a.example/1", "GET / HTTP/1.1\r\n\r\n")
	wet := record("conversion", "https://d.example/", "Plain extracted text from a WET file.")
	os.WriteFile(filepath.Join(dir, "a.warc.gz"), gz(request, good1, badHeader, image, badLength, good2, wet), 0o644)
	// A truncated gzip member at the end of a second file: the first record survives.
	full := gz(good2, good1)
	os.WriteFile(filepath.Join(dir, "b.warc.gz"), full[:len(full)-40], 0o644)

	rows, env := runSource(t, filepath.Join(dir, "*.warc.gz"))
	var urls []string
	for _, r := range rows {
		urls = append(urls, r["url"])
	}
	want := "https://a.example/1 https://b.example/2 https://d.example/ https://b.example/2"
	if strings.Join(urls, " ") != want {
		t.Fatalf("urls %v, want %s", urls, want)
	}
	if rows[0]["fetch_time"] != "2024-01-02T03:04:05Z" || rows[0]["id"] != "urn:uuid:https:--a.example-1" || rows[0]["title"] != "River notes" {
		t.Errorf("row 0: %v", rows[0])
	}
	if !strings.HasPrefix(rows[0]["text"], "How the river rose") || strings.Contains(rows[0]["text"], "cookies") {
		t.Errorf("text: %q", rows[0]["text"])
	}
	rejects := env.Rejects.List()
	// Two broken records in a.warc.gz; in b.warc.gz the record cut by the
	// truncation, then the broken stream itself.
	if len(rejects) != 4 {
		t.Fatalf("rejects %+v", rejects)
	}
	if rejects[0].Reason != `bad header line "WARC-Type response"` || rejects[0].Line != 3 ||
		!strings.Contains(rejects[1].Reason, `bad Content-Length "lots"`) || rejects[1].Line != 5 ||
		!strings.Contains(rejects[2].Reason, "truncated") || !strings.HasSuffix(rejects[2].Path, "b.warc.gz") ||
		!strings.Contains(rejects[3].Reason, "rest of file unreadable") {
		t.Errorf("rejects %+v", rejects)
	}
}

func TestRealSample(t *testing.T) {
	path := filepath.Join(pipelinetest.SharedData(t), "web", "dolma_sample-0000.warc.gz")
	rows, env := runSource(t, path)
	if env.Rejects.Count() != 0 {
		t.Errorf("rejects: %+v", env.Rejects.List())
	}
	if len(rows) < 18 {
		t.Fatalf("only %d pages extracted from 22 responses", len(rows))
	}
	for _, r := range rows {
		text := r["text"]
		for _, junk := range []string{"<script", "function(", "{display:", "</div>"} {
			if strings.Contains(text, junk) {
				t.Errorf("%s: markup %q left in text", r["url"], junk)
			}
		}
		if !strings.HasPrefix(r["url"], "http") || r["fetch_time"] == "" {
			t.Errorf("row without url or fetch_time: %v", r["id"])
		}
	}
	// A page we know: its bio is kept, its copyright footer is not.
	for _, r := range rows {
		if r["url"] == "https://kyleclo.com/" {
			if !strings.Contains(r["text"], "I live in Seattle") || strings.Contains(r["text"], "Powered by Jekyll") {
				t.Errorf("kyleclo.com extraction wrong:\n%s", r["text"])
			}
			return
		}
	}
	t.Error("kyleclo.com page missing")
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(record("response", "https://a/", httpResp("text/html", "<p>x</p>"))))
	f.Add([]byte("WARC/1.0\r\nContent-Length: 99999\r\n\r\nshort"))
	f.Add([]byte("garbage\nWARC/1.0\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if _, ok := err.(*RecordError); !ok {
					return
				}
				continue
			}
			if rec.Type() == "response" {
				if resp, err := ParseHTTP(rec.Body); err == nil {
					Extract(DecodeBody(resp.Body, resp.Headers["content-encoding"]))
				}
			}
		}
		t.Fatal("reader did not finish 1000 records of input this small")
	})
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte(article))
	f.Add([]byte("<p><a>x</a><table><tr><td>a<pre>b</pre></td></tr></table>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		utf, _ := ToUTF8(data, "")
		p := Extract(utf)
		if !utf8Valid(p.Text) {
			t.Fatal("extracted text is not UTF-8")
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func BenchmarkExtract(b *testing.B) {
	page := []byte(strings.Repeat(article, 20))
	b.SetBytes(int64(len(page)))
	for i := 0; i < b.N; i++ {
		Extract(page)
	}
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 200; i++ {
		buf.WriteString(record("response", fmt.Sprintf("https://a.example/%d", i), httpResp("text/html", article)))
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data))
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			}
		}
	}
}
