package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/tokenize/store"
)

func writeTestStore(t *testing.T, dir string, docs int) {
	t.Helper()
	w, err := store.Create(dir, store.Options{Tokenizer: "gpt2", VocabSize: 50257, EOT: 50256, AppendEOT: true, ShardTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < docs; i++ {
		if err := w.AddDoc([]int32{int32(i), 1, 2, 3, 4, 5, 6}, []string{"web", "books"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestShardsCommands(t *testing.T) {
	dir := t.TempDir()
	writeTestStore(t, dir, 50)
	writeTestStore(t, filepath.Join(dir, "val"), 5)

	var out, errb bytes.Buffer
	if code := dispatch([]string{"shards", "inspect", dir}, &out, &errb); code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errb.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"documents", "tokens", "vocab_size", "dtype", "tokenizer", "shards", "domains"} {
		if _, ok := got[k]; !ok {
			t.Errorf("inspect lacks %q", k)
		}
	}
	if got["documents"].(float64) != 50 || got["tokens"].(float64) != 400 || got["dtype"] != "uint16" {
		t.Errorf("inspect: %v", got)
	}

	// --sample decodes with the saved tokenizer (after the directory, too).
	sampled := t.TempDir()
	w, err := store.Create(sampled, store.Options{Tokenizer: "gpt2", TokenizerJSON: gpt2JSON(t), VocabSize: 50257, EOT: 50256, AppendEOT: true})
	if err != nil {
		t.Fatal(err)
	}
	w.AddDoc([]int32{15496, 995}, "web")
	w.Close()
	out.Reset()
	if code := dispatch([]string{"shards", "inspect", sampled, "--sample", "1"}, &out, &errb); code != 0 {
		t.Fatalf("inspect --sample: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"text": "Hello world"`) {
		t.Errorf("inspect --sample: %s", out.String())
	}
	if code := dispatch([]string{"shards", "inspect", dir, "--sample", "1"}, &out, &errb); code != 1 {
		t.Errorf("--sample of a store without a tokenizer: exit %d, want 1", code)
	}

	out.Reset()
	if code := dispatch([]string{"shards", "verify", dir}, &out, &errb); code != 0 {
		t.Fatalf("verify: exit %d: %s%s", code, out.String(), errb.String())
	}

	llmc := t.TempDir()
	out.Reset()
	if code := dispatch([]string{"shards", "export-llmc", dir, llmc}, &out, &errb); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "train_00000.bin") || !strings.Contains(out.String(), "val_00000.bin") {
		t.Errorf("export wrote %s", out.String())
	}

	// Corrupt a byte of the third shard's tokens: verify names it.
	p := filepath.Join(dir, "shard_00002.bin")
	b, _ := os.ReadFile(p)
	b[10] ^= 1
	os.WriteFile(p, b, 0o644)
	out.Reset()
	if code := dispatch([]string{"shards", "verify", dir}, &out, &errb); code != 1 {
		t.Fatalf("verify of a corrupt store: exit %d", code)
	}
	if !strings.Contains(out.String(), "shard_00002.bin: offset 0:") {
		t.Errorf("verify output %q does not name the shard and offset", out.String())
	}

	for _, args := range [][]string{{"shards"}, {"shards", "inspect"}, {"shards", "frobnicate", dir}} {
		if code := dispatch(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code := dispatch([]string{"shards", "inspect", t.TempDir()}, &out, &errb); code != 1 {
		t.Errorf("inspect of a folder without a store: exit %d", code)
	}
}

func gpt2JSON(t *testing.T) []byte {
	tok, err := bpe.Load(context.Background(), "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
