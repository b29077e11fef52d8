package curatebeam

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	blog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
	"github.com/curatehq/curate/tokenize/store"
	"github.com/curatehq/curate/tokenize/tokens"
)

// The tokens sink is written in parallel, shard by shard, with the names
// and bytes of the local engine. The store (and its validation store in
// val/) starts a new shard before a document that would take a non-empty
// shard past shard_tokens, so its cuts depend only on the token counts of
// the documents before, in output order, and on which store each goes to.
// Hence, as for the jsonl sink:
//
//  1. sizes (parallel): each batch's documents are measured by the sink's
//     own code (tokens.Sink.PlanTokens: tokenize.encode's ids or the sink's
//     encoding, end-of-text included, and the id's validation choice); a
//     batch with texts the sink encoded leaves this step with those ids as
//     its tokens column, which the write step's sink reads instead of
//     encoding the texts a second time (the shuffle carries ~4 bytes a
//     token more);
//  2. plan (one worker, 9 bytes a document): the sizes in output order give
//     every document its store and shard, by the store's rule; the old
//     manifests are removed first, as the local writers do before their
//     first byte;
//  3. split (parallel): each batch of step 1, joined with its plan, is
//     split into one part per (store, shard) it meets;
//  4. write (GroupByKey on (store, shard), one worker each): the parts, in
//     order, are written by the sink's own Write into a private folder,
//     where they make exactly one shard; its .bin, .idx (and llm.c copy)
//     are copied to the shard's final name;
//  5. finish (one worker, one small record a shard): the sink itself,
//     restored after those shards (tokens.Sink.RestoreStores, the local
//     resume path), closes the stores: tokenizer.json, the validation
//     store's manifest, then the training store's, stale shards removed.

func init() {
	for _, t := range []any{TokenSizes{}, TokenPlan{}, TokenShard{}, tokenSizeFn{}, tokenPlanFn{}, tokenSplitFn{}, tokenWriteFn{}, tokenFinishFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// TokenSizes are the sizes of one batch's documents as the store counts
// them, and which go to the validation store.
type TokenSizes struct {
	Key    int64
	Tokens []int64
	Val    []bool
}

// TokenPlan gives each row of one batch its shard key (see shardKey).
type TokenPlan struct {
	Shards []int32
}

// shardKey names shard k of the training (val false) or validation store.
func shardKey(val bool, k int) int {
	if val {
		return 2*k + 1
	}
	return 2 * k
}

// TokenShard is one shard written by tokenWriteFn: its key and the manifest
// of the private store it was written as (one shard, named shard_00000).
type TokenShard struct {
	Key      int
	Manifest []byte
}

// tokenSink builds sink i, the tokens sink, with its path replaced.
type tokenSink struct {
	Config
	Sink int
}

// build returns the sink writing into path ("" keeps the pipeline's) and
// its component; close releases both.
func (t tokenSink) build(path string) (*tokens.Sink, *component, *pipelines.Pipeline, error) {
	c, e, p, err := shardedSink(t).component()
	if err != nil {
		return nil, nil, nil, err
	}
	comp, err := newEnv(p, c)
	if err != nil {
		return nil, nil, nil, err
	}
	params := c.Params
	if path != "" {
		if params, err = paramsWith(c, map[string]any{"path": path}); err != nil {
			comp.close()
			return nil, nil, nil, fmt.Errorf("%s: %w", where(c), err)
		}
	}
	s, err := e.Sink(params, comp.env)
	if err != nil {
		comp.close()
		return nil, nil, nil, fmt.Errorf("%s: %w", where(c), err)
	}
	ts, ok := s.(*tokens.Sink)
	if !ok {
		s.Abort()
		comp.close()
		return nil, nil, nil, fmt.Errorf("%s: not the tokens sink", where(c))
	}
	return ts, comp, p, nil
}

// tokenSizeFn measures each document of a batch with the sink's own
// PlanTokens and passes the batch on, keyed, with the ids the sink encoded
// as its tokens column.
type tokenSizeFn struct {
	tokenSink

	sink *tokens.Sink
	comp *component
	dir  string
}

func (f *tokenSizeFn) Setup() error {
	dir, err := os.MkdirTemp("", "curate-beam-tokens-")
	if err != nil {
		return err
	}
	f.dir = dir
	f.sink, f.comp, _, err = f.build(dir) // never written: PlanTokens only
	return err
}

func (f *tokenSizeFn) Teardown() {
	if f.sink != nil {
		f.sink.Abort()
	}
	f.comp.close()
	os.RemoveAll(f.dir)
}

func (f *tokenSizeFn) ProcessElement(ctx context.Context, b Batch, emit func(TokenSizes), emitBatch func(int64, Batch)) error {
	alloc := f.comp.env.Alloc
	rec, err := decode(alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	out := TokenSizes{Key: b.Key, Tokens: make([]int64, rec.NumRows()), Val: make([]bool, rec.NumRows())}
	ids, err := f.sink.PlanTokens(ctx, alloc, rec, func(row int, n int64, val bool) { out.Tokens[row], out.Val[row] = n, val })
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	emit(out)
	if ids == nil { // every row has tokenize.encode's ids
		emitBatch(b.Key, b)
		return nil
	}
	with, _, err := pipelines.Apply(ctx, alloc, "tokens", rec,
		&pipelines.Result{Columns: []pipelines.Column{{Name: pipelines.ColTokens, Array: ids}}}, false)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	nb, err := newBatch(with, b.Order)
	with.Release()
	if err != nil {
		return err
	}
	emitBatch(b.Key, nb)
	return nil
}

// tokenPlanFn gives every document its store and shard: the store's rule
// (a shard ends before a document that would take it, non-empty, past
// shard_tokens; store.Writer.AddDoc) over the sizes in output order, for
// each store separately. TestBeamEqualsLocal's tokens stores catch any
// drift from the local writer.
type tokenPlanFn struct{ tokenSink }

func (f *tokenPlanFn) ProcessElement(ctx context.Context, _ []byte, sizes func(*TokenSizes) bool, emit func(int64, TokenPlan)) error {
	sink, comp, p, err := f.build("")
	if err != nil {
		return err
	}
	defer comp.close()
	limit := sink.ShardTokens()
	sink.Abort() // nothing written: the folder is untouched
	all := collect(sizes)
	slices.SortFunc(all, func(a, b TokenSizes) int { return cmp.Compare(a.Key, b.Key) })

	// The local writers remove their store's old manifest before their
	// first byte, so a half-rewritten store never passes for a complete
	// one; the shards here are written after this. Without val_fraction
	// the old validation store is removed whole at the end (by Close).
	dir := outDir(p, comp.c)
	manifests := []string{storage.Join(dir, store.ManifestFile)}
	if comp.c.Params.Float("val_fraction") > 0 {
		manifests = append(manifests, storage.Join(dir, store.ValDir, store.ManifestFile))
	}
	for _, m := range manifests {
		if err := storage.Remove(ctx, m); err != nil {
			return fmt.Errorf("%s: removing the old manifest %s: %w", where(comp.c), m, err)
		}
	}

	var cur [2]int64
	var shard [2]int
	docs := 0
	for _, b := range all {
		plan := TokenPlan{Shards: make([]int32, len(b.Tokens))}
		for i, n := range b.Tokens {
			v := 0
			if b.Val[i] {
				v = 1
			}
			if cur[v] > 0 && cur[v]+n > limit {
				shard[v], cur[v] = shard[v]+1, 0
			}
			cur[v] += n
			plan.Shards[i] = int32(shardKey(v == 1, shard[v]))
		}
		docs += len(b.Tokens)
		emit(b.Key, plan)
	}
	blog.Infof(ctx, "%s: %d documents planned", where(comp.c), docs)
	return nil
}

// tokenSplitFn cuts a batch into one part per shard it meets.
type tokenSplitFn struct{ tokenSink }

func (f *tokenSplitFn) ProcessElement(ctx context.Context, key int64, batches func(*Batch) bool, plans func(*TokenPlan) bool, emit func(int, Batch)) error {
	var b Batch
	var plan TokenPlan
	if !batches(&b) || !plans(&plan) {
		return fmt.Errorf("sink %d: batch %x without its shard plan", f.Sink, key)
	}
	if len(plan.Shards) != len(b.Order) {
		return fmt.Errorf("sink %d: batch %x of %d documents, plan of %d", f.Sink, key, len(b.Order), len(plan.Shards))
	}
	var keys []int32
	for _, k := range plan.Shards {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 1 {
		emit(int(keys[0]), b)
		return nil
	}
	alloc := memory.NewGoAllocator()
	rec, err := decode(alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	for _, k := range keys {
		drop := make([]string, len(plan.Shards))
		var order []int64
		for i, s := range plan.Shards {
			if s == k {
				order = append(order, b.Order[i])
			} else {
				drop[i] = "other shard"
			}
		}
		part, _, err := pipelines.Apply(ctx, alloc, "tokens", rec, &pipelines.Result{Drop: drop}, false)
		if err != nil {
			return err
		}
		pb, err := newBatch(part, order)
		part.Release()
		if err != nil {
			return err
		}
		emit(int(k), pb)
	}
	return nil
}

// tokenWriteFn writes one shard's parts, in output order, with the sink's
// own Write into a private folder, and copies the one shard it makes to
// the shard's final name.
type tokenWriteFn struct{ tokenSink }

func (f *tokenWriteFn) ProcessElement(ctx context.Context, key int, parts func(*Batch) bool, emit func(TokenShard)) (err error) {
	all := collect(parts)
	sortBatches(all)
	tmp, err := os.MkdirTemp("", "curate-beam-tokens-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sink, comp, p, err := f.build(tmp)
	if err != nil {
		return err
	}
	defer comp.close()
	c := comp.c
	if err := writeAll(ctx, sink, comp.env.Alloc, all); err != nil {
		return fmt.Errorf("%s: %w", where(c), err)
	}
	if err := sink.Close(ctx); err != nil {
		return fmt.Errorf("%s: %w", where(c), err)
	}
	from, to := tmp, outDir(p, c)
	if key%2 == 1 {
		from, to = storage.Join(from, store.ValDir), storage.Join(to, store.ValDir)
	}
	m, err := store.ReadManifest(ctx, from)
	if err != nil {
		return fmt.Errorf("%s: %w", where(c), err)
	}
	if len(m.Shards) != 1 {
		return fmt.Errorf("%s: shard %d came out as %d shards", where(c), key/2, len(m.Shards))
	}
	s := m.Shards[0]
	name := fmt.Sprintf("shard_%05d", key/2)
	files := [][2]string{{s.Bin(), name + ".bin"}, {s.Idx(), name + ".idx"}}
	if len(m.LLMC) > 0 {
		files = append(files, [2]string{m.LLMC[0], store.LLMCDir + "/" + name + ".bin"})
		m.LLMC = []string{store.LLMCDir + "/" + name + ".bin"}
	}
	for _, f := range files {
		if err := copyTo(ctx, storage.Join(from, f[0]), storage.Join(to, f[1])); err != nil {
			return fmt.Errorf("%s: %w", where(c), err)
		}
	}
	m.Shards[0].Name = name
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	emit(TokenShard{Key: key, Manifest: data})
	return nil
}

// tokenFinishFn closes the stores once every shard is written: the sink,
// restored after the shards as a resumed local run would be, writes the
// tokenizer, the manifests (the validation store's first) and removes stale
// shards — or, without val_fraction, an old validation store.
type tokenFinishFn struct{ tokenSink }

func (f *tokenFinishFn) ProcessElement(ctx context.Context, _ []byte, shards func(*TokenShard) bool) error {
	all := collect(shards)
	slices.SortFunc(all, func(a, b TokenShard) int { return a.Key - b.Key })
	sink, comp, _, err := f.build("")
	if err != nil {
		return err
	}
	defer comp.close()
	c := comp.c
	states := [2]store.State{{Domains: map[string]store.Counts{}}, {Domains: map[string]store.Counts{}}}
	for _, s := range all {
		var m store.Manifest
		if err := json.Unmarshal(s.Manifest, &m); err != nil {
			sink.Abort()
			return fmt.Errorf("%s: shard %d: %w", where(c), s.Key/2, err)
		}
		st := &states[s.Key%2]
		if s.Key/2 != len(st.Shards) {
			sink.Abort()
			return fmt.Errorf("%s: shard %d missing", where(c), len(st.Shards))
		}
		st.Shards = append(st.Shards, m.Shards...)
		st.LLMC = append(st.LLMC, m.LLMC...)
		st.Next = len(st.Shards)
		for d, n := range m.Domains {
			sum := st.Domains[d]
			sum.Documents += n.Documents
			sum.Tokens += n.Tokens
			st.Domains[d] = sum
		}
	}
	var val *store.State
	if c.Params.Float("val_fraction") > 0 {
		val = &states[1]
	} else if len(states[1].Shards) > 0 {
		sink.Abort()
		return fmt.Errorf("%s: validation shards without val_fraction", where(c))
	}
	if err := sink.RestoreStores(states[0], val); err != nil {
		sink.Abort()
		return fmt.Errorf("%s: %w", where(c), err)
	}
	if err := sink.Close(ctx); err != nil {
		return fmt.Errorf("%s: %w", where(c), err)
	}
	blog.Infof(ctx, "%s: wrote %d training and %d validation shards", where(c), len(states[0].Shards), len(states[1].Shards))
	return nil
}

// writeTokens translates the tokens sink i into the five steps above.
func writeTokens(s beam.Scope, cfg Config, i int, impulse, docs beam.PCollection) {
	ts := tokenSink{Config: cfg, Sink: i}
	sizes, keyed := beam.ParDo2(s.Scope("sizes"), &tokenSizeFn{tokenSink: ts}, docs)
	plans := beam.ParDo(s.Scope("plan"), &tokenPlanFn{ts}, impulse, beam.SideInput{Input: sizes})
	parts := beam.ParDo(s.Scope("split"), &tokenSplitFn{ts}, beam.CoGroupByKey(s, keyed, plans))
	written := beam.ParDo(s.Scope("write"), &tokenWriteFn{ts}, beam.GroupByKey(s, parts))
	beam.ParDo0(s.Scope("finish"), &tokenFinishFn{ts}, impulse, beam.SideInput{Input: written})
}
