package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

// TestDecoderMatchesForward: the cached one-token-at-a-time logits equal
// the full forward's at every position, with grouped-query attention and
// position interpolation in play.
func TestDecoderMatchesForward(t *testing.T) {
	for _, backend := range []string{blas.Go, blas.OpenBLAS} {
		t.Run(backend, func(t *testing.T) {
			k, err := blas.New(backend, 2)
			if err != nil {
				t.Skip(err)
			}
			cfg := tinyConfig(false)
			cfg.Context = 20
			m, err := New(cfg, k, 2)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(5, 6))
			for i := range m.Params {
				m.Params[i] = float32(r.NormFloat64() * 0.3)
			}
			tokens := make([]int32, cfg.Context)
			for i := range tokens {
				tokens[i] = int32(r.IntN(cfg.Vocab))
			}
			full, err := m.Logits(tokens)
			if err != nil {
				t.Fatal(err)
			}
			d := m.NewDecoder()
			for p, tok := range tokens {
				got, err := d.Next(tok)
				if err != nil {
					t.Fatal(err)
				}
				want := full[p*cfg.Vocab : (p+1)*cfg.Vocab]
				for i := range got {
					if math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("position %d logit %d: cached %v, full %v", p, i, got[i], want[i])
					}
				}
			}
			if _, err := d.Next(0); err == nil {
				t.Fatal("a full cache accepted another token")
			}
			d.Reset()
			if _, err := d.Next(int32(cfg.Vocab)); err == nil {
				t.Fatal("an id outside the vocabulary accepted")
			}
		})
	}
}
