// Package tokenize implements the tokenize.encode stage: it adds each
// document's token ids (list<int32>) and n_tokens (int64: the ids plus the
// end-of-text token the token store appends), so that mixing counts tokens
// and the tokens sink writes them without encoding twice.
//
// The tokenizer itself lives in tokenize/bpe; the token store in
// tokenize/store and its sink in tokenize/tokens.
package tokenize

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/tokenize/bpe"
)

// Spec is tokenize.encode's spec.
var Spec = pipelines.Spec{
	Name: "tokenize.encode",
	Doc:  "adds token ids (tokens, list<int32>) and n_tokens (ids + 1 end-of-text token); exact tiktoken encode_ordinary",
	Fields: []pipelines.Field{
		{Name: "tokenizer", Type: pipelines.String, Default: "gpt2",
			Doc: "gpt2 (= r50k_base), p50k_base, cl100k_base, or the path of a Hugging Face tokenizer.json (byte-level BPE)"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(context.Background(), p, env)
	})
}

// Encoder is the tokenize.encode stage. Process is safe for concurrent use
// on different batches: the tokenizer is shared and immutable, and each
// call builds its own arrays.
type Encoder struct {
	tok   *bpe.Tokenizer
	alloc memory.Allocator
}

// New loads the stage's tokenizer. A tokenizer path is relative to the
// pipeline file.
func New(ctx context.Context, p pipelines.Params, env *pipelines.Env) (*Encoder, error) {
	name := p.String("tokenizer")
	if !slices.Contains(bpe.Builtins(), name) {
		name = env.Path(name)
	}
	tok, err := bpe.Load(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("tokenize.encode: %w", err)
	}
	alloc := env.Alloc
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	return &Encoder{tok: tok, alloc: alloc}, nil
}

// NewWith returns a stage using tok, for programmatic use.
func NewWith(tok *bpe.Tokenizer, alloc memory.Allocator) *Encoder {
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	return &Encoder{tok: tok, alloc: alloc}
}

// Tokenizer returns the stage's tokenizer.
func (e *Encoder) Tokenizer() *bpe.Tokenizer { return e.tok }

// Process encodes every row's text. A null text encodes as empty: no ids,
// n_tokens 1 (the end-of-text token alone).
func (e *Encoder) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	texts, err := pipelines.StringCol(rec, pipelines.ColText)
	if err != nil {
		return nil, fmt.Errorf("tokenize.encode: %w", err)
	}
	n := texts.Len()
	lb := array.NewListBuilder(e.alloc, arrow.PrimitiveTypes.Int32)
	defer lb.Release()
	vb := lb.ValueBuilder().(*array.Int32Builder)
	nb := array.NewInt64Builder(e.alloc)
	defer nb.Release()
	lb.Reserve(n)
	nb.Reserve(n)
	var bytes int
	for i := 0; i < n; i++ {
		if !texts.IsNull(i) {
			bytes += len(texts.Value(i))
		}
	}
	vb.Reserve(bytes/3 + 16) // English runs about 4.5 bytes a token
	var ids []int32
	var total int64
	for i := 0; i < n; i++ {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ids = ids[:0]
		if !texts.IsNull(i) {
			ids = e.tok.Encode(ids, texts.Value(i))
		}
		lb.Append(true)
		vb.AppendValues(ids, nil)
		nb.Append(int64(len(ids)) + 1)
		total += int64(len(ids)) + 1
	}
	tokens := lb.NewArray()
	counts := nb.NewArray()
	return &pipelines.Result{
		Columns: []pipelines.Column{{Name: pipelines.ColTokens, Array: tokens}, {Name: pipelines.ColNTokens, Array: counts}},
		Stats:   map[string]int64{"tokens": total, "bytes": int64(bytes)},
	}, nil
}
