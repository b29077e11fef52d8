package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/tokenize/store"
)

// What another engine (curate-beam) needs to write the sink's store in
// parallel: every document's size as the store counts it and its store
// (training or validation) decide where the shards are cut; the shards
// themselves are then written by the sink's own Write into private
// folders, and the manifests by the sink's own Restore + Close.

// Plan calls fn, in row order, with each row's token count as the store
// counts it (end-of-text included) and whether it goes to the validation
// store: the decisions Write takes for the same batch, by the same code
// (eachDoc). rec is borrowed. TestPlanEqualsWrite checks it against written
// stores.
func (s *Sink) Plan(ctx context.Context, rec arrow.Record, fn func(row int, tokens int64, val bool)) error {
	return s.plan(ctx, rec, func(i int, doc []int32, n int64, val bool) { fn(i, n, val) })
}

// PlanTokens is Plan that also returns every row's token ids (end-of-text
// excluded) as the column Write reads instead of encoding: list<int32>, to
// be added to rec as pipelines.ColTokens (replacing one tokenize.encode left
// with null rows). The ids are the ones Write would add, found by the same
// code (eachDoc), so a batch carrying them writes the same bytes without
// encoding a text again. It returns a nil column when every row already
// has tokenize.encode's ids: rec itself is then what Write needs. The
// column is the caller's; rec is borrowed.
func (s *Sink) PlanTokens(ctx context.Context, alloc memory.Allocator, rec arrow.Record, fn func(row int, tokens int64, val bool)) (arrow.Array, error) {
	if lists, _, err := tokenColumn(rec, s.tok.Name()); err == nil && lists != nil && lists.NullN() == 0 {
		return nil, s.Plan(ctx, rec, fn)
	}
	b := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Int32Builder)
	b.Reserve(int(rec.NumRows()))
	err := s.plan(ctx, rec, func(i int, doc []int32, n int64, val bool) {
		b.Append(true)
		vb.AppendValues(doc, nil)
		fn(i, n, val)
	})
	if err != nil {
		return nil, err
	}
	return b.NewArray(), nil
}

// plan calls fn, in row order, with each row's ids (eachDoc's, only valid
// during the call), its size as the store counts it and its store.
func (s *Sink) plan(ctx context.Context, rec arrow.Record, fn func(row int, doc []int32, tokens int64, val bool)) error {
	eot := int64(0)
	if s.train.Manifest().EOT >= 0 {
		eot = 1
	}
	return s.eachDoc(ctx, rec, func(i int, _ string, doc []int32, val bool) error {
		fn(i, doc, int64(len(doc))+eot, val)
		return nil
	})
}

// ShardTokens is the sink's shard bound: the store starts a new shard before
// a document that would take a non-empty shard past it.
func (s *Sink) ShardTokens() int64 { return s.train.Manifest().ShardTokens }

// RestoreStores continues the sink's stores after shards written elsewhere
// (they must exist in the sink's folders, named as the states list them):
// Restore with these states, so that Close then writes tokenizer.json,
// the manifests and removes stale shards exactly as after a local run. val
// must be nil exactly when the sink has no val_fraction.
func (s *Sink) RestoreStores(train store.State, val *store.State) error {
	b, err := json.Marshal(checkpoint{Train: train, Val: val})
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return s.Restore(bytes.NewReader(b))
}
