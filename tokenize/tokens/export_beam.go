package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

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
	eot := int64(0)
	if s.train.Manifest().EOT >= 0 {
		eot = 1
	}
	return s.eachDoc(ctx, rec, func(i int, _ string, doc []int32, val bool) error {
		fn(i, int64(len(doc))+eot, val)
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
