package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/tokenize/bpe"
)

func TestTokenizerTrainCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	text := strings.Repeat("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n", 50)
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tok.json")
	var stdout, stderr bytes.Buffer
	code := dispatch([]string{"tokenizer", "train", "--vocab-size", "300", "--out", out, "--special", "<|endoftext|>", "--special", "<pad>", in}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"merges"`) {
		t.Errorf("stdout %q: want the stats as JSON", stdout.String())
	}
	tok, err := bpe.Load(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 300 || tok.Specials()["<pad>"] != 299 {
		t.Errorf("vocab %d specials %v", tok.VocabSize(), tok.Specials())
	}
	if got := tok.Decode(tok.Encode(nil, text)); got != text {
		t.Error("trained tokenizer is not lossless on its training text")
	}
	for _, args := range [][]string{
		{"tokenizer"},
		{"tokenizer", "train", "--out", out, in},
		{"tokenizer", "train", "--vocab-size", "300", in},
		{"tokenizer", "train", "--vocab-size", "300", "--out", out},
	} {
		if code := dispatch(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code := dispatch([]string{"tokenizer", "train", "--vocab-size", "300", "--out", out, filepath.Join(dir, "missing")}, &stdout, &stderr); code != 1 {
		t.Errorf("missing input: exit %d, want 1", code)
	}
}
