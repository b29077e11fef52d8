package tokenize_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/curatehq/curate/ingest" // jsonl source and sink
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/tokenize/store"
	_ "github.com/curatehq/curate/tokenize/tokens" // tokens sink
)

// TestPipelineEncodeToStore runs jsonl -> tokenize.encode -> tokens and
// jsonl sinks through YAML at several worker counts: the store holds
// exactly each document's ids plus end-of-text, the jsonl output carries
// n_tokens, and the output bytes do not depend on the worker count.
func TestPipelineEncodeToStore(t *testing.T) {
	dir := t.TempDir()
	texts := []string{"Hello, world!", "", "a literal <|endoftext|> is text", "中文 😀 émoji", strings.Repeat("word ", 500)}
	var in strings.Builder
	for i := 0; i < 300; i++ {
		b, _ := json.Marshal(map[string]string{"id": fmt.Sprint("d", i), "text": texts[i%len(texts)] + fmt.Sprint(" #", i)})
		in.Write(b)
		in.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := bpe.Load(context.Background(), "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for _, workers := range []int{1, 4} {
		out := filepath.Join(dir, fmt.Sprint("out", workers))
		yaml := fmt.Sprintf(`sources:
  - jsonl: {path: in.jsonl}
stages:
  - tokenize.encode: {tokenizer: gpt2}
sinks:
  - tokens: {path: %[1]s/tokens, tokenizer: gpt2}
  - jsonl: {path: %[1]s/docs}
`, out)
		file := filepath.Join(dir, "pipeline.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := pipelines.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		if _, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: workers, Alloc: mem, TempDir: dir, BatchRows: 32}); err != nil {
			t.Fatal(err)
		}
		mem.AssertSize(t, 0)

		st, err := store.Open(filepath.Join(out, "tokens"))
		if err != nil {
			t.Fatal(err)
		}
		if st.NumDocs() != 300 {
			t.Fatalf("store has %d documents, want 300", st.NumDocs())
		}
		var bin []byte
		for i := int64(0); i < 300; i++ {
			want := append(tok.Encode(nil, texts[i%int64(len(texts))]+fmt.Sprint(" #", i)), tok.EOT())
			if got := st.Doc(i); !slices.Equal(got, want) {
				t.Fatalf("workers %d: document %d: %v, want %v", workers, i, got, want)
			}
			bin = fmt.Appendf(bin, "%v\n", st.Doc(i))
		}
		st.Close()
		docs, err := filepath.Glob(filepath.Join(out, "docs", "*.jsonl"))
		if err != nil || len(docs) == 0 {
			t.Fatalf("jsonl sink wrote nothing: %v", err)
		}
		data, _ := os.ReadFile(docs[0])
		var row map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(string(data), "\n", 2)[0]), &row); err != nil {
			t.Fatal(err)
		}
		if n, ok := row["n_tokens"].(float64); !ok || int(n) != len(tok.Encode(nil, texts[0]+" #0"))+1 {
			t.Errorf("jsonl row %v: want n_tokens = ids + 1", row)
		}
		if _, has := row["tokens"]; has {
			t.Error("jsonl sink wrote the token ids")
		}
		if first == nil {
			first = bin
		} else if string(first) != string(bin) {
			t.Errorf("workers %d: store differs from 1 worker", workers)
		}
	}
}
