package dedup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/gzip"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		zw.Write([]byte(content))
		zw.Close()
		f.Close()
		return
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDecontaminate(t *testing.T) {
	dir := t.TempDir()
	q1 := "Which planet in our solar system is known as the red planet because of iron oxide on its surface?"
	q2 := "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."
	writeFile(t, dir+"/evals/trivia.jsonl", `{"question": "x", "text": "`+q1+`"}`+"\n\n"+`{"text": "short one here"}`+"\n")
	writeFile(t, dir+"/evals/gsm.jsonl.gz", `{"question": "`+q2+`"}`+"\n")
	writeFile(t, dir+"/evals/cloze.txt", "the quick brown fox jumps over the lazy dog near the bank\n")
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	env := testEnv(t, alloc)
	env.Dir = dir
	d, err := NewDecontaminate(t.Context(), params(t, decontaminateSpec, map[string]any{
		"against": []any{"evals/*.jsonl*", "evals/cloze.txt"}, "text_field": []any{"text", "question"}}), env)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"Intro. " + strings.ToUpper(q1[:80]) + " -- lots of words around it",       // 13+ words of q1, case differs
		"Homework: natalia sold clips to 48 of her friends in april; and then she", // q2 with other punctuation
		"Totally unrelated text about gardening and tomatoes and the weather in spring today",
		"I saw the quick brown fox, jumps over the lazy dog near the bank!", // short eval text matched whole
		"the quick brown fox jumps over the lazy dog",                       // a part of it is not enough
		"red planet",
	}
	out := streamDocs(t, d, alloc, textDocs(texts...), 2, 2)
	wantBy := []string{"trivia", "gsm", "", "cloze", "", ""}
	for i, o := range out {
		if o.drop != "" != (wantBy[i] != "") {
			t.Errorf("doc %d: drop %q, want contaminated by %q", i, o.drop, wantBy[i])
		}
	}
	rep := d.Report()
	sets := rep["sets"].(map[string]any)
	if h := sets["trivia"].(map[string]int64); h["documents_hit"] != 1 || h["too_short"] != 2 || h["texts"] != 1 {
		t.Errorf("trivia report %v", h)
	}
	if h := sets["gsm"].(map[string]int64); h["documents_hit"] != 1 {
		t.Errorf("gsm report %v", h)
	}
}

func TestDecontaminateColumn(t *testing.T) {
	dir := t.TempDir()
	shared := "one two three four five six seven eight nine ten eleven twelve thirteen"
	writeFile(t, dir+"/a.txt", shared+"\n")
	writeFile(t, dir+"/b.txt", shared+" fourteen\n")
	writeFile(t, dir+"/sub/a.txt", "nothing in common with anything at all in this test file here today\n")
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	env := testEnv(t, alloc)
	env.Dir = dir
	d, err := NewDecontaminate(t.Context(), params(t, decontaminateSpec, map[string]any{"against": []any{"*.txt", "sub/*.txt"}}), env)
	if err != nil {
		t.Fatal(err)
	}
	rec := textRecord(alloc, "x "+shared+" y")
	defer rec.Release()
	res, err := d.Process(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Columns[0].Array.Release()
	if got := res.Columns[0].Array.ValueStr(0); got != "a,b" {
		t.Errorf("contaminated_by = %q, want a,b", got)
	}
	if sets := d.Report()["sets"].(map[string]any); len(sets) != 3 || sets["a-2"] == nil {
		t.Errorf("sets %v: want a, b and a-2", sets)
	}
}

func TestDecontaminateErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/bad.jsonl", "{\"text\": \"ok\"}\nnot json\n")
	writeFile(t, dir+"/nofield.jsonl", "{\"q\": \"ok\"}\n")
	for _, tc := range []struct{ against, want string }{
		{"missing/*.jsonl", "matches no file"},
		{"bad.jsonl", "bad.jsonl:2: not a JSON object"},
		{"nofield.jsonl", `nofield.jsonl:1: no string field text`},
	} {
		env := testEnv(t, nil)
		env.Dir = dir
		_, err := NewDecontaminate(t.Context(), params(t, decontaminateSpec, map[string]any{"against": tc.against}), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("against %s: err = %v, want %q", tc.against, err, tc.want)
		}
	}
}

func FuzzEvalTexts(f *testing.F) {
	f.Add([]byte(`{"text": "a b c"}`), true)
	f.Add([]byte(`{"text": null, "question": 3}`), true)
	f.Add([]byte("plain line"), false)
	f.Add([]byte(`[1,2]`), true)
	f.Fuzz(func(t *testing.T, line []byte, jsonl bool) {
		texts, err := evalTexts(line, jsonl, []string{"text", "question"})
		if err == nil && !jsonl && len(texts) != 1 {
			t.Fatalf("plain line gave %d texts", len(texts))
		}
		for _, s := range texts {
			evalTokens(nil, s)
		}
	})
}

func BenchmarkDecontaminate(b *testing.B) {
	dir := b.TempDir()
	docs := corpusDocs(b, 2000)
	var evals strings.Builder
	for _, d := range docs[:200] {
		fmt.Fprintf(&evals, "{\"text\": %q}\n", d.Text[:min(len(d.Text), 300)])
	}
	writeFile(b, dir+"/eval.jsonl", evals.String())
	env := testEnv(b, nil)
	env.Dir = dir
	d, err := NewDecontaminate(b.Context(), params(b, decontaminateSpec, map[string]any{"against": "eval.jsonl"}), env)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, doc := range docs {
		size += int64(len(doc.Text))
	}
	b.SetBytes(size)
	for b.Loop() {
		streamDocs(b, d, memory.DefaultAllocator, docs, 256, 1)
	}
}
