package curatebeam

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	blog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/curatehq/curate/dedup"
	"github.com/curatehq/curate/dedup/minhash"
	"github.com/curatehq/curate/pipelines"
)

// The dedup stages decide in input order in the local engine (Sequence). On
// Beam the same decision is a shuffle: Process (the stage's own code)
// computes each document's key (dedup.exact) or signature (dedup.minhash);
// documents are grouped by key, or by (band, band bytes) for MinHash; in
// each group every document with an earlier match gets a Verdict; the
// verdicts are joined back to their batches by batch key.

// Member is one document in a dedup group.
type Member struct {
	Batch int64  // key of the batch holding it
	Order int64  // its input order
	ID    string // for dup_of
	Sig   []byte // MinHash signature (dedup.minhash only)
}

// Verdict drops one document: it duplicates the earlier document DupOrder.
type Verdict struct {
	Order    int64
	DupOrder int64
	DupID    string
}

// keysFn runs dedup.exact's or dedup.minhash's Process on a batch and emits
// each document under its group keys, and the batch under its own key.
type keysFn struct {
	Config
	Stage int

	comp  *component
	stage pipelines.Stage
}

// Setup builds the stage without its index: Process (the keys, the
// signatures) does not depend on it, the index's header must match the
// stage's parameters (checked when the graph was built), and only the
// index reader and writer need its entries, so hashing workers do not
// load it.
func (f *keysFn) Setup() error {
	comp, s, _, err := buildStageWith(f.Config, f.Stage, map[string]any{"index": ""})
	if err != nil {
		return err
	}
	f.comp, f.stage = comp, s
	return nil
}

func (f *keysFn) Teardown() {
	closeComponent(f.stage)
	f.comp.close()
}

func (f *keysFn) ProcessElement(ctx context.Context, b Batch, members func(string, Member), batches func(int64, Batch)) error {
	rec, err := decode(f.comp.env.Alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	res, err := f.stage.Process(ctx, rec)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	switch st := f.stage.(type) {
	case *dedup.Exact:
		keys, skip, ok := dedup.ExactKeys(res)
		if !ok {
			return fmt.Errorf("%s: Process gave no keys", where(f.comp.c))
		}
		for i := range keys {
			if !skip[i] {
				members(exactKey(keys[i]), Member{Batch: b.Key, Order: b.Order[i], ID: ids.Value(i)})
			}
		}
	case *dedup.MinHash:
		sigs, ok := dedup.MinHashSignatures(res)
		if !ok {
			return fmt.Errorf("%s: Process gave no signatures", where(f.comp.c))
		}
		perms, bands, _ := st.Shape()
		rows := perms / bands
		for i := 0; i < len(b.Order); i++ {
			sig := sigs[i*perms : (i+1)*perms]
			m := Member{Batch: b.Key, Order: b.Order[i], ID: ids.Value(i), Sig: sig}
			for band := 0; band < bands; band++ {
				members(bandKey(sig, band, rows), m)
			}
		}
	default:
		return fmt.Errorf("%s: no shuffle translation", where(f.comp.c))
	}
	batches(b.Key, b)
	return nil
}

// IndexEntry is a document the stage's incremental index gains: for
// dedup.exact the first document of a key the index lacks, for
// dedup.minhash every document.
type IndexEntry struct {
	Order int64
	Key   []byte // dedup.exact: the 16-byte key
	Sig   []byte // dedup.minhash: the signature
	ID    string
}

// Members read from an incremental index belong to no batch and come
// before every document: order indexOrder + their place in the index.
const (
	indexBatch = math.MinInt64
	indexOrder = math.MinInt64 / 2
)

// indexReadFn loads the stage's incremental index with the stage's own
// loader (local or s3://, the local engine's format) and emits its entries
// as group members earlier than every document.
type indexReadFn struct {
	Config
	Stage int
}

func (f *indexReadFn) ProcessElement(ctx context.Context, _ []byte, emit func(string, Member)) error {
	comp, s, _, err := buildStage(f.Config, f.Stage)
	if err != nil {
		return err
	}
	defer comp.close()
	defer closeComponent(s)
	var n int64
	switch st := s.(type) {
	case *dedup.Exact:
		err = st.IndexEach(func(k [2]uint64, id string) error {
			emit(exactKey(k), Member{Batch: indexBatch, Order: indexOrder + n, ID: id})
			n++
			return nil
		})
	case *dedup.MinHash:
		perms, bands, _ := st.Shape()
		err = st.IndexEach(func(sig []byte, id string) error {
			m := Member{Batch: indexBatch, Order: indexOrder + n, ID: id, Sig: slices.Clone(sig)}
			for band := 0; band < bands; band++ {
				emit(bandKey(sig, band, perms/bands), m)
			}
			n++
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("%s: reading its index: %w", where(comp.c), err)
	}
	blog.Infof(ctx, "%s: %d index entries", where(comp.c), n)
	return nil
}

// indexWriteFn saves the merged index: the stage, built on one worker,
// loads the old index as the local engine does, adds the run's entries in
// input order and saves it with its own Finish.
type indexWriteFn struct {
	Config
	Stage int
}

func (f *indexWriteFn) ProcessElement(ctx context.Context, _ []byte, entries func(*IndexEntry) bool) error {
	all := collect(entries)
	slices.SortFunc(all, func(a, b IndexEntry) int { return cmp.Compare(a.Order, b.Order) })
	comp, s, _, err := buildStage(f.Config, f.Stage)
	if err != nil {
		return err
	}
	defer comp.close()
	defer closeComponent(s)
	for _, e := range all {
		switch st := s.(type) {
		case *dedup.Exact:
			err = st.IndexAdd([2]uint64{binary.BigEndian.Uint64(e.Key), binary.BigEndian.Uint64(e.Key[8:])}, e.ID)
		case *dedup.MinHash:
			err = st.IndexAdd(e.Sig, e.ID)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where(comp.c), err)
		}
	}
	return finish(ctx, comp, s)
}

func exactKey(k [2]uint64) string {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, k[0])
	binary.BigEndian.PutUint64(b[8:], k[1])
	return string(b)
}

func bandKey(sig []byte, band, rows int) string {
	k := make([]byte, 2+rows)
	binary.BigEndian.PutUint16(k, uint16(band))
	copy(k[2:], sig[band*rows:(band+1)*rows])
	return string(k)
}

// verifyFn decides one group: with MinEqual 0 (dedup.exact) every member
// but the earliest duplicates the earliest; otherwise (dedup.minhash) a
// member duplicates the earliest earlier member whose signature agrees in
// at least MinEqual positions. Pairs are checked, not clusters: a document
// is dropped for its own verified earlier match, as in the local engine.
//
// With Index, it also emits what the stage's incremental index gains:
// for dedup.exact a group's first document when no index entry precedes
// it, for dedup.minhash every document, from its band-0 group.
type verifyFn struct {
	MinEqual int
	Index    bool
}

func (f *verifyFn) ProcessElement(key string, group func(*Member) bool, emit func(int64, Verdict), index func(IndexEntry)) {
	ms := collect(group)
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.Order, b.Order) })
	if f.Index {
		switch {
		case f.MinEqual == 0 && ms[0].Batch != indexBatch:
			index(IndexEntry{Order: ms[0].Order, Key: []byte(key), ID: ms[0].ID})
		case f.MinEqual > 0 && key[0] == 0 && key[1] == 0: // band 0
			for _, m := range ms {
				if m.Batch != indexBatch {
					index(IndexEntry{Order: m.Order, Sig: m.Sig, ID: m.ID})
				}
			}
		}
	}
	for j := 1; j < len(ms); j++ {
		if ms[j].Batch == indexBatch {
			continue // an index entry is never dropped
		}
		if f.MinEqual == 0 {
			emit(ms[j].Batch, Verdict{Order: ms[j].Order, DupOrder: ms[0].Order, DupID: ms[0].ID})
			continue
		}
		for i := 0; i < j; i++ {
			if minhash.Equal(ms[i].Sig, ms[j].Sig) >= f.MinEqual {
				emit(ms[j].Batch, Verdict{Order: ms[j].Order, DupOrder: ms[i].Order, DupID: ms[i].ID})
				break
			}
		}
	}
}

// joinFn applies a batch's verdicts with pipelines.Apply, exactly as the
// local engine applies Sequence's Result: drop reason and dup_of column
// (the earliest match across groups), annotate_only honoured.
type joinFn struct {
	envFn
	Reason string
}

func (f *joinFn) ProcessElement(ctx context.Context, key int64, batches func(*Batch) bool, verdicts func(*Verdict) bool, emit func(Batch)) error {
	var b Batch
	if !batches(&b) {
		return nil // verdicts only come for batches that exist
	}
	best := map[int64]Verdict{}
	var v Verdict
	for verdicts(&v) {
		if old, ok := best[v.Order]; !ok || v.DupOrder < old.DupOrder {
			best[v.Order] = v
		}
	}
	rec, err := decode(f.comp.env.Alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	n := len(b.Order)
	drop, dupOf := make([]string, n), make([]string, n)
	for i, o := range b.Order {
		if v, ok := best[o]; ok {
			drop[i], dupOf[i] = f.Reason, v.DupID
		}
	}
	res := &pipelines.Result{Drop: drop,
		Columns: []pipelines.Column{{Name: dedup.ColDupOf, Array: pipelines.NewStrings(f.comp.env.Alloc, dupOf)}}}
	out, ok, err := apply(ctx, f.comp.env.Alloc, f.comp.c, rec, b.Order, res)
	if err != nil {
		return err
	}
	if ok {
		emit(out)
	}
	return nil
}
