package store

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestPythonReader reads stores with testdata/read_store.py, an
// independent reader written from Megatron-LM's index reader and nanoGPT's
// loader, and compares every document with what was written.
func TestPythonReader(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	for _, vocab := range []int{50257, 100277} {
		t.Run(fmt.Sprint(vocab), func(t *testing.T) {
			dir := t.TempDir()
			c := makeCorpus(12, 80, 150, vocab)
			writeCorpus(t, dir, c, Options{VocabSize: vocab, EOT: int32(vocab - 1), AppendEOT: true, ShardTokens: 2000})
			out, err := exec.Command(python, "testdata/read_store.py", dir).Output()
			if err != nil {
				t.Fatalf("read_store.py: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(lines) != len(c.docs) {
				t.Fatalf("python read %d documents, want %d", len(lines), len(c.docs))
			}
			for i, d := range c.docs {
				want := strings.Trim(fmt.Sprint(append(d, int32(vocab-1))), "[]")
				if lines[i] != want {
					t.Fatalf("doc %d: python reads %.60q..., want %.60q...", i, lines[i], want)
				}
			}
		})
	}
}
