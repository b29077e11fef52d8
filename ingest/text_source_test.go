package ingest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestTextSource(t *testing.T) {
	content := "\xef\xbb\xbfFirst para line one\r\nline two\n\n  \nSecond para\n\n\nThird \xff para\n"
	doc := func(id, text string) row {
		return row{"id": id, "text": text, "source": "t/a.txt", "domain": "books"}
	}
	tests := []struct {
		split string
		want  []row
	}{
		{"file", []row{doc("t/a.txt:0", "First para line one\r\nline two\n\n  \nSecond para\n\n\nThird \uFFFD para\n")}},
		{"paragraph", []row{doc("t/a.txt:0", "First para line one\nline two"), doc("t/a.txt:1", "Second para"),
			doc("t/a.txt:2", "Third \uFFFD para")}},
		{"line", []row{doc("t/a.txt:0", "First para line one"), doc("t/a.txt:1", "line two"),
			doc("t/a.txt:4", "Second para"), doc("t/a.txt:7", "Third \uFFFD para")}},
	}
	for _, tc := range tests {
		t.Run(tc.split, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "in/t/a.txt", []byte(content))
			env := checkedEnv(t, dir, 1)
			rows := readAll(t, newSource(t, "text", env, map[string]any{"path": "in/*/*.txt", "split": tc.split, "domain": "books"}))
			if !reflect.DeepEqual(rows, tc.want) {
				t.Errorf("rows:\n got  %q\n want %q", rows, tc.want)
			}
			if env.Counters.InvalidUTF8.Load() != 1 {
				t.Errorf("invalid UTF-8 = %d, want 1", env.Counters.InvalidUTF8.Load())
			}
		})
	}
}

func TestTextSourceCompressedAndTruncated(t *testing.T) {
	var b strings.Builder
	for i := range 30000 {
		fmt.Fprintf(&b, "line number %d with some words\n", i)
	}
	full := []byte(b.String())
	gz := gzipBytes(t, full)
	zs := zstdBytes(t, full)
	for _, tc := range []struct {
		name     string
		data     []byte
		split    string
		complete bool
	}{
		{"a.txt.gz", gz, "line", true},
		{"b.txt.zst", zs, "line", true},
		{"c.txt.gz", gz[:len(gz)/2], "line", false},
		{"d.txt.zst", zs[:len(zs)/2], "paragraph", false},
		{"e.txt.gz", gz[:len(gz)/2], "file", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tc.name, tc.data)
			env := checkedEnv(t, dir, 1)
			rows := readAll(t, newSource(t, "text", env, map[string]any{"path": tc.name, "split": tc.split}))
			rej := env.Rejects.List()
			if tc.complete {
				if len(rows) != 30000 || len(rej) != 0 || rows[29999]["text"] != "line number 29999 with some words" {
					t.Errorf("%d rows, %d rejects", len(rows), len(rej))
				}
				return
			}
			if len(rej) != 1 || !strings.Contains(rej[0].Reason, "rest of file rejected") && !strings.Contains(rej[0].Reason, "unreadable file") {
				t.Fatalf("rejects = %+v, want one for the truncated rest", rej)
			}
			switch tc.split {
			case "line":
				if len(rows) == 0 || len(rows) >= 30000 || rej[0].Line != int64(len(rows))+1 {
					t.Errorf("%d rows, reject at line %d", len(rows), rej[0].Line)
				}
			case "paragraph":
				if len(rows) != 1 || !strings.HasPrefix(rows[0]["text"].(string), "line number 0 ") {
					t.Errorf("%d rows, want the good part as one paragraph", len(rows))
				}
			case "file":
				if len(rows) != 0 {
					t.Errorf("%d rows, want the broken file rejected whole", len(rows))
				}
			}
		})
	}
}

// Batches respect the row bound even inside one chunk.
func TestTextSourceBatchBounds(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "many.txt", []byte(strings.Repeat("x\n", 5000)))
	env := checkedEnv(t, dir, 1)
	env.BatchRows = 700
	rows, batches := readBatches(t, newSource(t, "text", env, map[string]any{"path": "many.txt", "split": "line"}))
	if len(rows) != 5000 || batches != 8 {
		t.Errorf("%d rows in %d batches, want 5000 in 8", len(rows), batches)
	}
	if got := env.Counters.BytesIn.Load(); got != 5000 {
		t.Errorf("bytes in = %d, want 5000", got)
	}
}

// FuzzText feeds arbitrary bytes to the line and paragraph splitters: no
// panic, and every non-blank line comes out.
func FuzzText(f *testing.F) {
	f.Add([]byte("a\n\nb\r\nc"), false)
	f.Add([]byte("\xef\xbb\xbf\xff\n \n\t\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, paragraph bool) {
		dir := t.TempDir()
		writeFile(t, dir, "f.txt", data)
		env := checkedEnv(t, dir, 1)
		env.BatchRows = 3
		split := "line"
		if paragraph {
			split = "paragraph"
		}
		rows, err := drain(newSource(t, "text", env, map[string]any{"path": "f.txt", "split": split}))
		if err != nil {
			t.Fatal(err)
		}
		lines := 0
		for _, l := range strings.Split(strings.TrimPrefix(string(data), "\xef\xbb\xbf"), "\n") {
			if strings.TrimSpace(strings.TrimSuffix(l, "\r")) != "" {
				lines++
			}
		}
		got := 0
		for _, r := range rows {
			got += strings.Count(r["text"].(string), "\n") + 1
		}
		if got != lines {
			t.Fatalf("%d lines out, want %d", got, lines)
		}
	})
}
