package trainer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/curatehq/curate/trainer/llama"
)

func sampleCheckpoint() *Checkpoint {
	mc := llama.Config{Vocab: 5, Context: 4, Layers: 1, Heads: 2, KVHeads: 1, Dim: 4, Hidden: 8, RopeBase: 10000, RopeScale: 1, TieEmbeddings: true}
	n := mc.NumParams()
	c := &Checkpoint{Header: CheckpointHeader{Model: mc, Step: 7, Tokens: 99, Loader: LoaderState{RNG: []byte{1, 2}, Position: 3}},
		Params: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
	for i := 0; i < n; i++ {
		c.Params[i], c.M[i], c.V[i] = float32(i), float32(-i), float32(i)/2
	}
	return c
}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), CheckpointFile)
	c := sampleCheckpoint()
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Step != 7 || got.Header.Loader.Position != 3 || !slices.Equal(got.Params, c.Params) ||
		!slices.Equal(got.M, c.M) || !slices.Equal(got.V, c.V) {
		t.Fatalf("round trip changed the checkpoint: %+v", got.Header)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("folder holds %d entries", len(ents))
	}
	// Damage is detected.
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("damaged checkpoint: %v", err)
	}
	os.WriteFile(path, b[:len(b)-100], 0o644)
	if _, err := LoadCheckpoint(path); err == nil {
		t.Fatal("truncated checkpoint accepted")
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	path := filepath.Join(f.TempDir(), "c")
	if err := SaveCheckpoint(path, sampleCheckpoint()); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Add([]byte("CURATECK"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCheckpoint(b)
		if err != nil {
			return
		}
		if n := c.Header.Model.NumParams(); len(c.Params) != n || len(c.M) != n || len(c.V) != n {
			t.Fatalf("accepted a checkpoint with %d/%d/%d floats for %d parameters", len(c.Params), len(c.M), len(c.V), n)
		}
	})
}
