package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/curatehq/curate/trainer/blas"
)

func TestDefaultHidden(t *testing.T) {
	for dim, want := range map[int]int{256: 704, 128: 384, 64: 192, 96: 256, 100: 320, 768: 2048} {
		if got := DefaultHidden(dim); got != want {
			t.Errorf("DefaultHidden(%d) = %d, want %d", dim, got, want)
		}
	}
}

// TestRopeScale: position interpolation by s puts position s·p where
// position p was.
func TestRopeScale(t *testing.T) {
	c1, s1 := ropeTables(16, 8, 10000, 1)
	c2, s2 := ropeTables(16, 8, 10000, 2)
	for p := 0; p < 8; p++ {
		for i := 0; i < 4; i++ {
			if math.Abs(float64(c1[p*4+i]-c2[2*p*4+i])) > 1e-6 || math.Abs(float64(s1[p*4+i]-s2[2*p*4+i])) > 1e-6 {
				t.Fatalf("position %d, pair %d differs", p, i)
			}
		}
	}
}

// TestAccumulationEqualsBigBatch: two half batches at scale 1/2 give the
// gradient of the whole batch.
func TestAccumulationEqualsBigBatch(t *testing.T) {
	k, _ := blas.New(blas.Go, 2)
	m, err := New(tinyConfig(true), k, 2)
	if err != nil {
		t.Fatal(err)
	}
	m.Init(3)
	r := rand.New(rand.NewPCG(9, 9))
	tokens, targets := make([]int32, 4*8), make([]int32, 4*8)
	for i := range tokens {
		tokens[i], targets[i] = int32(r.IntN(11)), int32(r.IntN(11))
	}
	m.ZeroGrad()
	whole, _ := m.TrainStep(tokens, targets, 4, 1)
	want := append([]float32(nil), m.Grads...)
	m.ZeroGrad()
	a, _ := m.TrainStep(tokens[:16], targets[:16], 2, 0.5)
	b, _ := m.TrainStep(tokens[16:], targets[16:], 2, 0.5)
	if math.Abs((a+b)/2-whole) > 1e-5 {
		t.Fatalf("losses %v + %v vs %v", a, b, whole)
	}
	for i := range want {
		if math.Abs(float64(want[i]-m.Grads[i])) > 1e-5 {
			t.Fatalf("grad %d: %v accumulated, %v whole", i, m.Grads[i], want[i])
		}
	}
}

func TestInitStatistics(t *testing.T) {
	k, _ := blas.New(blas.Go, 1)
	cfg := Config{Vocab: 300, Context: 8, Layers: 8, Heads: 4, Dim: 64, TieEmbeddings: true}
	m, _ := New(cfg, k, 1)
	m.Init(1)
	std := func(s []float32) float64 {
		var ss float64
		for _, v := range s {
			ss += float64(v) * float64(v)
		}
		return math.Sqrt(ss / float64(len(s)))
	}
	for _, ts := range m.Tensors {
		p := m.Params[ts.Off : ts.Off+ts.Len()]
		want := 0.02
		switch {
		case !ts.Matrix:
			want = 1
		case len(ts.Name) > 3 && (ts.Name[len(ts.Name)-2:] == "wo" || ts.Name[len(ts.Name)-2:] == "w2"):
			want = 0.02 / 4 // 1/sqrt(2·8)
		}
		if got := std(p); math.Abs(got-want) > 0.1*want {
			t.Errorf("%s: std %.4f, want %.4f", ts.Name, got, want)
		}
	}
	m2, _ := New(cfg, k, 1)
	m2.Init(1)
	for i := range m.Params {
		if m.Params[i] != m2.Params[i] {
			t.Fatal("same seed, different parameters")
		}
	}
}

func TestBadBatches(t *testing.T) {
	k, _ := blas.New(blas.Go, 1)
	m, _ := New(tinyConfig(true), k, 1)
	for _, tc := range []struct {
		tokens, targets []int32
		b               int
	}{
		{make([]int32, 5), make([]int32, 5), 2},   // does not split
		{make([]int32, 18), make([]int32, 18), 1}, // longer than the context
		{[]int32{1, 2, 11}, []int32{1, 2, 3}, 1},  // id outside the vocabulary
		{[]int32{1, 2, 3}, []int32{1, -1, 3}, 1},  // negative target
		{[]int32{1, 2, 3}, []int32{1, 2}, 1},      // length mismatch
	} {
		if _, err := m.TrainStep(tc.tokens, tc.targets, tc.b, 1); err == nil {
			t.Errorf("TrainStep(%v, %v, %d): no error", tc.tokens, tc.targets, tc.b)
		}
		if _, err := m.Eval(tc.tokens, tc.targets, tc.b); err == nil {
			t.Errorf("Eval(%v, %v, %d): no error", tc.tokens, tc.targets, tc.b)
		}
	}
	if _, err := New(Config{Vocab: 10, Context: 4, Layers: 1, Heads: 3, KVHeads: 2, Dim: 12}, k, 1); err == nil {
		t.Error("kv_heads 2 of 3 heads accepted")
	}
}

// TestLargeVocab runs a GPT-2-sized vocabulary, whose logits are computed in
// row chunks: at initialisation the loss is close to ln(vocab).
func TestLargeVocab(t *testing.T) {
	k, err := blas.New(blas.Auto, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Vocab: 50257, Context: 64, Layers: 1, Heads: 2, Dim: 32, TieEmbeddings: true}
	m, err := New(cfg, k, 2)
	if err != nil {
		t.Fatal(err)
	}
	m.Init(1)
	if rows := m.headRows(4 * 64); rows >= 4*64 {
		t.Fatalf("head rows %d: the test should cover several chunks", rows)
	}
	r := rand.New(rand.NewPCG(1, 2))
	tokens, targets := make([]int32, 4*64), make([]int32, 4*64)
	for i := range tokens {
		tokens[i], targets[i] = int32(r.IntN(50257)), int32(r.IntN(50257))
	}
	m.ZeroGrad()
	loss, err := m.TrainStep(tokens, targets, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Log(50257); math.Abs(loss-want) > 0.05 {
		t.Fatalf("initial loss %.3f, want about %.3f", loss, want)
	}
	eval, _ := m.Eval(tokens, targets, 4)
	if math.Abs(eval-loss) > 1e-6 {
		t.Fatalf("eval %v and train %v losses differ on the same batch", eval, loss)
	}
}
