package trainer

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/trainer/blas"
	"github.com/curatehq/curate/trainer/llama"
)

func TestSamplerSupport(t *testing.T) {
	logits := []float32{0.5, 3, -1, 2, 2, 0}
	// softmax at temperature 1, ordered: 1 (3), 3 (2), 4 (2), 0, 5, 2
	for _, tc := range []struct {
		name string
		opts GenerateOptions
		want []int32
	}{
		{"greedy", GenerateOptions{}, []int32{1}},
		{"all", GenerateOptions{Temperature: 1}, []int32{1, 3, 4, 0, 5, 2}},
		{"top-k 3", GenerateOptions{Temperature: 1, TopK: 3}, []int32{1, 3, 4}},
		{"top-k beyond vocab", GenerateOptions{Temperature: 1, TopK: 50}, []int32{1, 3, 4, 0, 5, 2}},
		// p ≈ 0.530, 0.195, 0.195, 0.044, 0.026, 0.010: cumulative 0.530,
		// 0.725, 0.920, 0.964.
		{"top-p 0.5", GenerateOptions{Temperature: 1, TopP: 0.5}, []int32{1}},
		{"top-p 0.6", GenerateOptions{Temperature: 1, TopP: 0.6}, []int32{1, 3}},
		{"top-p 0.9", GenerateOptions{Temperature: 1, TopP: 0.9}, []int32{1, 3, 4}},
		{"top-p 0.95", GenerateOptions{Temperature: 1, TopP: 0.95}, []int32{1, 3, 4, 0}},
		{"top-k then top-p", GenerateOptions{Temperature: 1, TopK: 2, TopP: 0.99}, []int32{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSampler(tc.opts)
			ids, probs := s.support(logits)
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("support %v, want %v", ids, tc.want)
			}
			var sum float64
			for _, p := range probs {
				sum += p
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Fatalf("probabilities sum to %v", sum)
			}
			for range 200 {
				if id := s.next(logits); !slices.Contains(tc.want, id) {
					t.Fatalf("drew %d outside the support %v", id, tc.want)
				}
			}
		})
	}
}

func TestGenerateOptionsValidate(t *testing.T) {
	for _, o := range []GenerateOptions{{MaxTokens: -1}, {Temperature: -1}, {TopK: -2}, {TopP: 1.5}, {Temperature: math.NaN()}} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// randomWeights is a small byte-level model with random weights.
func randomWeights(t *testing.T, context int) *Weights {
	t.Helper()
	k, err := blas.New(blas.Auto, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: 256, Context: context, Layers: 2, Heads: 4, KVHeads: 2, Dim: 32, TieEmbeddings: true}, k, 2)
	if err != nil {
		t.Fatal(err)
	}
	m.Init(3)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range m.Params {
		m.Params[i] += float32(r.NormFloat64() * 0.2) // sharper than an initialisation
	}
	return &Weights{Model: m.Cfg, Params: m.Params, Tokenizer: "bytes"}
}

func generate(t *testing.T, w *Weights, opts GenerateOptions) string {
	t.Helper()
	var out strings.Builder
	res, err := Generate(context.Background(), w, byteCodec{}, opts, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tokens) != opts.MaxTokens || out.Len() != opts.MaxTokens {
		t.Fatalf("%d tokens, %d bytes, want %d", len(res.Tokens), out.Len(), opts.MaxTokens)
	}
	return out.String()
}

func TestGenerateIsDeterministic(t *testing.T) {
	w := randomWeights(t, 16)
	// 40 tokens after a 5-token prompt slide the 16-position cache twice.
	opts := GenerateOptions{Prompt: "ROMEO", MaxTokens: 40, Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: 7}
	a, b := generate(t, w, opts), generate(t, w, opts)
	if a != b {
		t.Fatalf("same seed, different text:\n%q\n%q", a, b)
	}
	opts.Threads = 1
	if c := generate(t, w, opts); c != a {
		t.Fatalf("one thread changed the text:\n%q\n%q", a, c)
	}
	opts.Seed = 8
	if c := generate(t, w, opts); c == a {
		t.Fatalf("seeds 7 and 8 gave the same text %q", a)
	}
}

// TestGreedyMatchesFullForward: greedy decoding through the cache picks the
// argmax of a full forward pass over the text so far at every step.
func TestGreedyMatchesFullForward(t *testing.T) {
	w := randomWeights(t, 32)
	got := generate(t, w, GenerateOptions{Prompt: "To be", MaxTokens: 20})
	k, _ := blas.New(blas.Auto, 2)
	m, err := llama.New(w.Model, k, 2)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Params, w.Params)
	seq := (byteCodec{}).Encode(nil, "To be")
	for range 20 {
		logits, err := m.Logits(seq)
		if err != nil {
			t.Fatal(err)
		}
		last := logits[(len(seq)-1)*256:]
		best := 0
		for i, v := range last {
			if v > last[best] {
				best = i
			}
		}
		seq = append(seq, int32(best))
	}
	if want := (byteCodec{}).Decode(seq[5:]); got != want {
		t.Fatalf("cached greedy %q, full-forward greedy %q", got, want)
	}
}

func TestGenerateBadInput(t *testing.T) {
	w := randomWeights(t, 16)
	if _, err := Generate(context.Background(), w, byteCodec{}, GenerateOptions{MaxTokens: 3}, new(bytes.Buffer)); err == nil {
		t.Error("empty prompt without an end-of-text token accepted")
	}
	if _, err := Generate(context.Background(), w, byteCodec{}, GenerateOptions{Prompt: "x", TopP: 2}, new(bytes.Buffer)); err == nil {
		t.Error("top-p 2 accepted")
	}
}

// TestCodecFromRunFolder: a run folder's tokenizer.json wins; a byte-level
// checkpoint without one decodes bytes; anything else is a clear error.
func TestCodecFromRunFolder(t *testing.T) {
	dir := t.TempDir()
	w := &Weights{Model: llama.Config{Vocab: 256}, Tokenizer: "bytes", Dirs: []string{dir}}
	c, err := w.Codec(context.Background())
	if err != nil || c.Decode(c.Encode(nil, "héllo")) != "héllo" {
		t.Fatalf("byte codec: %v", err)
	}
	w.Model.Vocab = 1000
	if _, err := w.Codec(context.Background()); err == nil || !strings.Contains(err.Error(), TokenizerFile) {
		t.Fatalf("no tokenizer: %v", err)
	}
	gpt2, err := bpe.Load(context.Background(), "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	hf, err := gpt2.HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, TokenizerFile), hf, 0o644)
	c, err = w.Codec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Decode(c.Encode(nil, "hello world")); got != "hello world" {
		t.Fatalf("round trip %q", got)
	}
}

func FuzzParseAdapter(f *testing.F) {
	a := &AdapterState{Header: AdapterHeader{LoRA: llama.LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"q"}},
		Model: llama.Config{Vocab: 10, Context: 4, Layers: 1, Heads: 2, Dim: 8, TieEmbeddings: true}.Normalized()}}
	n := a.Header.LoRA.NumParams(a.Header.Model)
	a.Params, a.M, a.V = make([]float32, n), make([]float32, n), make([]float32, n)
	path := filepath.Join(f.TempDir(), "a")
	if err := SaveAdapter(path, a); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Add([]byte(adapterMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAdapter(b)
		if err != nil {
			return
		}
		if n := a.Header.LoRA.NumParams(a.Header.Model); len(a.Params) != n || len(a.V) != n {
			t.Fatalf("accepted an adapter with %d floats for %d parameters", len(a.Params), n)
		}
	})
}
