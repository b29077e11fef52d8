// Package tokens is the `tokens` sink: it writes the pipeline's documents,
// in output order, into a token store (package tokenize/store): Megatron
// .bin/.idx shards, manifest.json and the tokenizer, with an optional
// validation store in val/ and llm.c copies.
package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/tokenize/store"
)

func init() {
	pipelines.RegisterSink(pipelines.Spec{
		Name: "tokens",
		Doc:  "a token store: Megatron .bin/.idx shards (end-of-text after each document), manifest.json and tokenizer.json; uses tokenize.encode's ids when present",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true, Doc: "output directory (local or s3://)"},
			{Name: "tokenizer", Type: pipelines.String, Default: "gpt2",
				Doc: "gpt2, cl100k_base or a tokenizer.json path; must be tokenize.encode's tokenizer when that stage ran"},
			{Name: "shard_tokens", Type: pipelines.Int, Default: store.DefaultShardTokens, Min: pipelines.Bound(1),
				Doc: "start a new shard before a document that would take a shard past this many tokens (documents are never split)"},
			{Name: "val_fraction", Type: pipelines.Float, Default: 0.0, Min: pipelines.Bound(0), Max: pipelines.Bound(1),
				Doc: "share of documents (chosen by a hash of the id) written to the validation store PATH/val"},
			{Name: "dtype", Type: pipelines.String, Default: "auto", Enum: []string{"auto", "uint16", "int32"},
				Doc: "token type on disk; auto is uint16 for vocabularies of at most 65,535 ids"},
			{Name: "llmc", Type: pipelines.Bool, Default: false, Doc: "also write each shard in llm.c's format under llmc/"},
		},
	}, New)
}

// Sink writes documents into a training store and, with val_fraction, a
// validation store. Write encodes texts (when the batch has no token ids)
// on Env.Workers goroutines and adds documents strictly in row order, so the
// store never depends on the worker count.
type Sink struct {
	tok         *bpe.Tokenizer
	path        string
	train, val  *store.Writer
	valFraction float64
	workers     int

	parts []encoded // per-worker encode buffers, reused across batches
	docs  [][]int32 // the encoded rows of the current batch
}

// encoded holds the token ids of a run of rows back to back.
type encoded struct {
	ids  []int32
	ends []int
}

// New builds the sink from its parameters. Nothing is written before the
// first document.
func New(p pipelines.Params, env *pipelines.Env) (pipelines.Sink, error) {
	ctx := context.Background()
	name := p.String("tokenizer")
	if !slices.Contains(bpe.Builtins(), name) {
		name = env.Path(name)
	}
	tok, err := bpe.Load(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if _, err := store.ResolveDType(store.DType(p.String("dtype")), tok.VocabSize()); err != nil {
		return nil, fmt.Errorf("tokens: tokenizer %s: %w", tok.Name(), err)
	}
	tj, err := tokenizerJSON(ctx, tok, name)
	if err != nil {
		return nil, fmt.Errorf("tokens: saving tokenizer %s: %w", tok.Name(), err)
	}
	opts := store.Options{Tokenizer: tok.Name(), TokenizerJSON: tj, VocabSize: tok.VocabSize(),
		EOT: tok.EOT(), AppendEOT: true, DType: store.DType(p.String("dtype")),
		ShardTokens: int64(p.Int("shard_tokens")), LLMC: p.Bool("llmc")}
	s := &Sink{tok: tok, path: env.Path(p.String("path")), valFraction: p.Float("val_fraction"), workers: env.Workers}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	if s.train, err = store.CreateContext(ctx, s.path, opts); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if s.valFraction > 0 {
		if s.val, err = store.CreateContext(ctx, storage.Join(s.path, store.ValDir), opts); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
	}
	return s, nil
}

// builtinJSON caches the tokenizer.json of built-in tokenizers (building it
// takes about a second), keyed by the shared *bpe.Tokenizer.
var builtinJSON sync.Map

// tokenizerJSON returns what the store saves as tokenizer.json: the file
// itself for a tokenizer loaded from a path, else the tokenizer's own
// Hugging Face rendering.
func tokenizerJSON(ctx context.Context, tok *bpe.Tokenizer, name string) ([]byte, error) {
	if !slices.Contains(bpe.Builtins(), name) {
		return storage.ReadFile(ctx, name)
	}
	if b, ok := builtinJSON.Load(tok); ok {
		return b.([]byte), nil
	}
	b, err := tok.HFJSON()
	if err != nil {
		return nil, err
	}
	builtinJSON.Store(tok, b)
	return b, nil
}

// minRowsPerPart keeps small batches on one goroutine.
const minRowsPerPart = 16

// Write adds the batch's documents in row order. rec is borrowed.
func (s *Sink) Write(ctx context.Context, rec arrow.Record) error {
	return s.eachDoc(ctx, rec, func(i int, domain string, doc []int32, val bool) error {
		w := s.train
		if val {
			w = s.val
		}
		if err := w.AddDoc(doc, domain); err != nil {
			return fmt.Errorf("tokens: document %q: %w", rowID(rec, i), err)
		}
		return nil
	})
}

// eachDoc calls fn, in row order, with each row's domain, token ids
// (tokenize.encode's, else the sink's own encoding; without end-of-text)
// and whether it goes to the validation store: the decisions of Write. doc
// is only valid during the call; rec is borrowed.
func (s *Sink) eachDoc(ctx context.Context, rec arrow.Record, fn func(row int, domain string, doc []int32, val bool) error) error {
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	domains, err := pipelines.StringCol(rec, pipelines.ColDomain)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	var ids *array.String
	if s.val != nil {
		if ids, err = pipelines.StringCol(rec, pipelines.ColID); err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
	}
	lists, values, err := tokenColumn(rec, s.tok.Name())
	if err != nil {
		return err
	}
	texts := pipelines.Texts(rec)
	// Rows without ids from tokenize.encode are encoded here, in parallel.
	var todo []int
	for i := range n {
		if lists == nil || lists.IsNull(i) {
			todo = append(todo, i)
		}
	}
	encoded := s.encode(texts, todo)
	for i := range n {
		var doc []int32
		if lists == nil || lists.IsNull(i) {
			doc, encoded = encoded[0], encoded[1:]
		} else {
			start, end := lists.ValueOffsets(i)
			doc = values[start:end]
		}
		if err := fn(i, domains.Value(i), doc, s.val != nil && isVal(ids.Value(i), s.valFraction)); err != nil {
			return err
		}
		if i%1024 == 1023 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// TokenizerKey is the metadata key of the tokens column's field that, when
// present, names the tokenizer that produced the ids; the sink refuses ids
// from another tokenizer than its own.
const TokenizerKey = "tokenizer"

// tokenColumn returns tokenize.encode's list<int32> column and its values,
// or nils when the batch has none.
func tokenColumn(rec arrow.Record, tokenizer string) (*array.List, []int32, error) {
	c := pipelines.Col(rec, pipelines.ColTokens)
	if c < 0 {
		return nil, nil, nil
	}
	md := rec.Schema().Field(c).Metadata
	if i := md.FindKey(TokenizerKey); i >= 0 && !sameTokenizer(md.Values()[i], tokenizer) {
		return nil, nil, fmt.Errorf("tokens: the token ids come from tokenizer %q, the sink's is %q: give both the same tokenizer",
			md.Values()[i], tokenizer)
	}
	lists, ok := rec.Column(c).(*array.List)
	if !ok {
		return nil, nil, fmt.Errorf("tokens: column %q is %s, want list<int32>", pipelines.ColTokens, rec.Column(c).DataType())
	}
	values, ok := lists.ListValues().(*array.Int32)
	if !ok {
		return nil, nil, fmt.Errorf("tokens: column %q is %s, want list<int32>", pipelines.ColTokens, lists.DataType())
	}
	return lists, values.Int32Values(), nil
}

// encode tokenizes the texts of the rows listed in todo on up to s.workers
// goroutines and returns their ids in todo's order. The slices point into
// buffers reused by the next call.
func (s *Sink) encode(texts *array.String, todo []int) [][]int32 {
	parts := max(1, min(s.workers, len(todo)/minRowsPerPart))
	for len(s.parts) < parts {
		s.parts = append(s.parts, encoded{})
	}
	run := func(p int) {
		e := &s.parts[p]
		e.ids, e.ends = e.ids[:0], e.ends[:0]
		for _, row := range todo[p*len(todo)/parts : (p+1)*len(todo)/parts] {
			e.ids = s.tok.Encode(e.ids, texts.Value(row))
			e.ends = append(e.ends, len(e.ids))
		}
	}
	if parts == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for p := range parts {
			wg.Go(func() { run(p) })
		}
		wg.Wait()
	}
	s.docs = s.docs[:0]
	for p := range parts {
		e := &s.parts[p]
		start := 0
		for _, end := range e.ends {
			s.docs = append(s.docs, e.ids[start:end:end])
			start = end
		}
	}
	return s.docs
}

// sameTokenizer compares tokenizer names, "r50k_base" being "gpt2".
func sameTokenizer(a, b string) bool {
	canon := func(s string) string {
		if s == "r50k_base" {
			return "gpt2"
		}
		return s
	}
	return canon(a) == canon(b)
}

func rowID(rec arrow.Record, i int) string {
	if ids, err := pipelines.StringCol(rec, pipelines.ColID); err == nil {
		return ids.Value(i)
	}
	return fmt.Sprintf("row %d", i)
}

// isVal reports whether the document with this id belongs to the
// validation share: a hash of the id, mapped to [0, 1), below fraction. The
// choice depends on the id alone, so it is the same for any worker count,
// batch size or rerun.
func isVal(id string, fraction float64) bool {
	h := fnv.New64a()
	io.WriteString(h, id)
	x := h.Sum64()
	// splitmix64's finalizer spreads FNV's weak high bits over the word.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < fraction
}

// Commit closes the open shards so that every document written so far is
// durable (a checkpoint barrier).
func (s *Sink) Commit(ctx context.Context) error {
	if err := s.train.Flush(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if s.val != nil {
		if err := s.val.Flush(); err != nil {
			return fmt.Errorf("tokens: val: %w", err)
		}
	}
	return nil
}

// Close finishes the stores: the validation store first, then the training
// store, whose manifest is the last file written. Without val_fraction, a
// validation store left by an earlier run in PATH/val is removed.
func (s *Sink) Close(ctx context.Context) error {
	if s.val != nil {
		if err := s.val.Close(); err != nil {
			return fmt.Errorf("tokens: val: %w", err)
		}
	} else if err := store.Remove(ctx, storage.Join(s.path, store.ValDir)); err != nil {
		return fmt.Errorf("tokens: removing the old validation store: %w", err)
	}
	if err := s.train.Close(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
}

// Abort discards every shard not made durable by Commit.
func (s *Sink) Abort() error {
	err := s.train.Abort()
	if s.val != nil {
		if verr := s.val.Abort(); err == nil {
			err = verr
		}
	}
	return err
}

// checkpoint is the sink's snapshot: both writers' states.
type checkpoint struct {
	Train store.State  `json:"train"`
	Val   *store.State `json:"val,omitempty"`
}

// Snapshot implements pipelines.Checkpointer: it flushes both stores and
// saves what a resumed run needs to continue them.
func (s *Sink) Snapshot(w io.Writer) error {
	var cp checkpoint
	var err error
	if cp.Train, err = s.train.Checkpoint(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if s.val != nil {
		st, err := s.val.Checkpoint()
		if err != nil {
			return fmt.Errorf("tokens: val: %w", err)
		}
		cp.Val = &st
	}
	return json.NewEncoder(w).Encode(cp)
}

// Restore implements pipelines.Checkpointer: the stores continue after the
// shards the snapshot lists.
func (s *Sink) Restore(r io.Reader) error {
	var cp checkpoint
	if err := json.NewDecoder(r).Decode(&cp); err != nil {
		return fmt.Errorf("tokens: restore: %w", err)
	}
	if err := s.train.Restore(cp.Train); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if (cp.Val != nil) != (s.val != nil) {
		return fmt.Errorf("tokens: restore: the checkpoint was taken with a different val_fraction")
	}
	if s.val != nil {
		if err := s.val.Restore(*cp.Val); err != nil {
			return fmt.Errorf("tokens: val: %w", err)
		}
	}
	return nil
}

// Report implements pipelines.Reporter.
func (s *Sink) Report() map[string]any {
	m := s.train.Manifest()
	r := map[string]any{"path": s.path, "tokenizer": m.Tokenizer, "dtype": string(m.DType),
		"documents": m.Documents, "tokens": m.Tokens, "shards": len(m.Shards)}
	if s.val != nil {
		vm := s.val.Manifest()
		r["val_documents"], r["val_tokens"] = vm.Documents, vm.Tokens
	}
	return r
}
