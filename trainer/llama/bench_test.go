package llama

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

// BenchmarkTrainStep measures one forward+backward; bytes are tokens.
func BenchmarkTrainStep(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
		bs   int
	}{
		{"d64", Config{Vocab: 256, Context: 64, Layers: 2, Heads: 4, KVHeads: 2, Dim: 64, TieEmbeddings: true}, 16},
		{"d128", Config{Vocab: 256, Context: 128, Layers: 4, Heads: 4, KVHeads: 4, Dim: 128, TieEmbeddings: true}, 16},
		{"d256", Config{Vocab: 256, Context: 256, Layers: 4, Heads: 4, KVHeads: 4, Dim: 256, TieEmbeddings: true}, 8},
	} {
		for _, backend := range []string{blas.OpenBLAS, blas.Go} {
			b.Run(fmt.Sprintf("%s/%s", tc.name, backend), func(b *testing.B) {
				k, err := blas.New(backend, 0)
				if err != nil {
					b.Skip(err)
				}
				m, err := New(tc.cfg, k, 0)
				if err != nil {
					b.Fatal(err)
				}
				m.Init(1)
				r := rand.New(rand.NewPCG(1, 1))
				n := tc.bs * tc.cfg.Context
				tokens, targets := make([]int32, n), make([]int32, n)
				for i := range tokens {
					tokens[i], targets[i] = int32(r.IntN(256)), int32(r.IntN(256))
				}
				b.SetBytes(int64(n))
				b.ResetTimer()
				for range b.N {
					m.ZeroGrad()
					if _, err := m.TrainStep(tokens, targets, tc.bs, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			})
		}
	}
}

// BenchmarkDecode measures generation through the key/value cache against
// recomputing the whole prefix each token (what the cache saves); bytes are
// tokens.
func BenchmarkDecode(b *testing.B) {
	cfg := Config{Vocab: 1024, Context: 128, Layers: 4, Heads: 4, KVHeads: 4, Dim: 128, TieEmbeddings: true}
	k, err := blas.New(blas.Auto, 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, k, 0)
	if err != nil {
		b.Fatal(err)
	}
	m.Init(1)
	tokens := make([]int32, cfg.Context)
	for i := range tokens {
		tokens[i] = int32(i * 7 % cfg.Vocab)
	}
	b.Run("cache", func(b *testing.B) {
		d := m.NewDecoder()
		b.SetBytes(int64(len(tokens)))
		for range b.N {
			d.Reset()
			for _, tok := range tokens {
				if _, err := d.Next(tok); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(tokens)*b.N)/b.Elapsed().Seconds(), "tok/s")
	})
	b.Run("recompute", func(b *testing.B) {
		b.SetBytes(int64(len(tokens)))
		for range b.N {
			for i := 1; i <= len(tokens); i++ {
				if _, err := m.Logits(tokens[:i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(tokens)*b.N)/b.Elapsed().Seconds(), "tok/s")
	})
}

// BenchmarkLoRAStep is one LoRA training step's extra work: merging the
// adapter into the weights and turning weight gradients into its own.
func BenchmarkLoRAStep(b *testing.B) {
	cfg := Config{Vocab: 1024, Context: 128, Layers: 4, Heads: 4, KVHeads: 4, Dim: 128, TieEmbeddings: true}
	k, err := blas.New(blas.Auto, 0)
	if err != nil {
		b.Fatal(err)
	}
	ad, err := NewAdapter(cfg, LoRAConfig{Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}, k, 1)
	if err != nil {
		b.Fatal(err)
	}
	n := cfg.NumParams()
	base, merged, grads := make([]float32, n), make([]float32, n), make([]float32, n)
	b.SetBytes(int64(4 * n))
	for range b.N {
		if err := ad.Merge(merged, base); err != nil {
			b.Fatal(err)
		}
		ad.Backward(grads)
	}
}
