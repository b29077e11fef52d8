package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/trainer/llama"
)

// GenerateOptions are the sampling settings of Generate.
type GenerateOptions struct {
	Prompt      string
	MaxTokens   int     // tokens to sample after the prompt
	Temperature float64 // 0: greedy (the most likely token every time)
	TopK        int     // 0: no limit
	TopP        float64 // 0 or 1: no nucleus cut
	Seed        uint64
	Threads     int // 0: every core
}

// Validate reports the first bad setting.
func (o GenerateOptions) Validate() error {
	switch {
	case o.MaxTokens < 0:
		return fmt.Errorf("max-tokens must not be negative, got %d", o.MaxTokens)
	case o.Temperature < 0 || math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("temperature must be a number ≥ 0, got %v", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("top-k must not be negative, got %d", o.TopK)
	case o.TopP < 0 || o.TopP > 1 || math.IsNaN(o.TopP):
		return fmt.Errorf("top-p must be in [0, 1], got %v", o.TopP)
	}
	return nil
}

// Codec turns text into token ids and back.
type Codec interface {
	Encode(dst []int32, text string) []int32
	Decode(ids []int32) string
	// EOT is the end-of-text id, or -1.
	EOT() int32
}

// byteCodec is the tokenizer of byte-level stores: id = byte.
type byteCodec struct{}

func (byteCodec) Encode(dst []int32, text string) []int32 {
	for i := 0; i < len(text); i++ {
		dst = append(dst, int32(text[i]))
	}
	return dst
}

func (byteCodec) Decode(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}

func (byteCodec) EOT() int32 { return -1 }

// Codec is the tokenizer of the store w was trained on: the run folder's
// tokenizer.json, else the built-in vocabulary the checkpoint names, else
// bytes for a vocabulary of at most 256.
func (w *Weights) Codec(ctx context.Context) (Codec, error) {
	if b := w.TokenizerJSON(); b != nil {
		t, err := bpe.FromHFJSON(b)
		if err != nil {
			return nil, fmt.Errorf("tokenizer.json: %w", err)
		}
		return t, nil
	}
	if slices.Contains(bpe.Builtins(), w.Tokenizer) {
		return bpe.Load(ctx, w.Tokenizer)
	}
	if w.Model.Vocab <= 256 {
		return byteCodec{}, nil
	}
	return nil, fmt.Errorf("no tokenizer: the run folder has no %s and the checkpoint names tokenizer %q", TokenizerFile, w.Tokenizer)
}

// GenerateResult counts what Generate did.
type GenerateResult struct {
	PromptTokens int
	Tokens       []int32 // sampled
	StoppedAtEOT bool
}

// Generate samples opts.MaxTokens tokens after the prompt, writing their
// text to out as they come, and stops early at the end-of-text token. The
// key/value cache holds model.context positions; when it fills, it is
// refilled with the last half of the text so far (a sliding window). The
// same weights, prompt and options give the same text.
func Generate(ctx context.Context, w *Weights, codec Codec, opts GenerateOptions, out io.Writer) (*GenerateResult, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	dev, err := OpenDevice("cpu", opts.Threads)
	if err != nil {
		return nil, err
	}
	model, err := llama.New(w.Model, dev.Kernel, dev.Kernel.Workers())
	if err != nil {
		return nil, err
	}
	copy(model.Params, w.Params)
	seq := codec.Encode(nil, opts.Prompt)
	if len(seq) == 0 {
		if codec.EOT() < 0 {
			return nil, errors.New("generate: empty prompt, and the tokenizer has no end-of-text token to start from")
		}
		seq = append(seq, codec.EOT())
	}
	for _, id := range seq {
		if id < 0 || int(id) >= w.Model.Vocab {
			return nil, fmt.Errorf("generate: the prompt encodes to id %d, outside the model's vocabulary of %d", id, w.Model.Vocab)
		}
	}
	res := &GenerateResult{PromptTokens: len(seq)}
	dec := model.NewDecoder()
	ctxLen := w.Model.Context
	sampler := newSampler(opts)
	// window is where seq's cached part starts: seq[window:] is in the cache.
	window := 0
	var logits []float32
	for i := 0; i <= opts.MaxTokens; i++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// Bring the cache up to date with seq, sliding when it is full.
		if len(seq)-window > ctxLen {
			window = len(seq) - max(1, ctxLen/2)
			dec.Reset()
		}
		for dec.Pos() < len(seq)-window {
			l, err := dec.Next(seq[window+dec.Pos()])
			if err != nil {
				return res, err
			}
			logits = l
		}
		if i == opts.MaxTokens {
			break
		}
		id := sampler.next(logits)
		if id == codec.EOT() {
			res.StoppedAtEOT = true
			break
		}
		seq = append(seq, id)
		res.Tokens = append(res.Tokens, id)
		if _, err := io.WriteString(out, codec.Decode([]int32{id})); err != nil {
			return res, err
		}
	}
	return res, nil
}

// sampler draws token ids from logits: temperature, then top-k, then top-p
// (nucleus), from a seeded generator. Ties are broken by the lower id, so
// the draw depends only on the logits and the seed.
type sampler struct {
	opts  GenerateOptions
	rng   *rand.Rand
	order []int32
	probs []float64
}

func newSampler(opts GenerateOptions) *sampler {
	return &sampler{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x67656e))}
}

// support returns the ids that may be drawn, most likely first, and their
// probabilities (summing to 1).
func (s *sampler) support(logits []float32) ([]int32, []float64) {
	o := s.opts
	if cap(s.order) < len(logits) {
		s.order, s.probs = make([]int32, len(logits)), make([]float64, len(logits))
	}
	order := s.order[:len(logits)]
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		switch la, lb := logits[a], logits[b]; {
		case la > lb:
			return -1
		case la < lb:
			return 1
		}
		return 0
	})
	if o.Temperature == 0 {
		order = order[:1]
	}
	if o.TopK > 0 && o.TopK < len(order) {
		order = order[:o.TopK]
	}
	probs := s.probs[:len(order)]
	mx := float64(logits[order[0]])
	var total float64
	for i, id := range order {
		p := 1.0
		if o.Temperature > 0 {
			p = math.Exp((float64(logits[id]) - mx) / o.Temperature)
		}
		probs[i] = p
		total += p
	}
	for i := range probs {
		probs[i] /= total
	}
	if o.TopP > 0 && o.TopP < 1 {
		var cum float64
		for i, p := range probs {
			cum += p
			if cum >= o.TopP {
				order, probs = order[:i+1], probs[:i+1]
				break
			}
		}
		for i := range probs {
			probs[i] /= cum
		}
	}
	return order, probs
}

// next draws one id.
func (s *sampler) next(logits []float32) int32 {
	order, probs := s.support(logits)
	if len(order) == 1 {
		return order[0]
	}
	u := s.rng.Float64()
	var cum float64
	for i, p := range probs {
		cum += p
		if u < cum {
			return order[i]
		}
	}
	return order[len(order)-1]
}
