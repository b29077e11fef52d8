package curatebeam

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

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

func (f *keysFn) Setup() error {
	comp, s, _, err := buildStage(f.Config, f.Stage)
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
		k := make([]byte, 16)
		for i := range keys {
			if skip[i] {
				continue
			}
			binary.BigEndian.PutUint64(k, keys[i][0])
			binary.BigEndian.PutUint64(k[8:], keys[i][1])
			members(string(k), Member{Batch: b.Key, Order: b.Order[i], ID: ids.Value(i)})
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
				k := make([]byte, 2+rows)
				binary.BigEndian.PutUint16(k, uint16(band))
				copy(k[2:], sig[band*rows:(band+1)*rows])
				members(string(k), m)
			}
		}
	default:
		return fmt.Errorf("%s: no shuffle translation", where(f.comp.c))
	}
	batches(b.Key, b)
	return nil
}

// verifyFn decides one group: with MinEqual 0 (dedup.exact) every member
// but the earliest duplicates the earliest; otherwise (dedup.minhash) a
// member duplicates the earliest earlier member whose signature agrees in
// at least MinEqual positions. Pairs are checked, not clusters: a document
// is dropped for its own verified earlier match, as in the local engine.
type verifyFn struct {
	MinEqual int
}

func (f *verifyFn) ProcessElement(_ string, group func(*Member) bool, emit func(int64, Verdict)) {
	var ms []Member
	var m Member
	for group(&m) {
		ms = append(ms, m)
	}
	if len(ms) < 2 {
		return
	}
	slices.SortFunc(ms, func(a, b Member) int {
		switch {
		case a.Order < b.Order:
			return -1
		case a.Order > b.Order:
			return 1
		}
		return 0
	})
	for j := 1; j < len(ms); j++ {
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
	Config
	Stage  int
	Reason string

	comp *component
}

func (f *joinFn) Setup() error {
	p, err := f.load()
	if err != nil {
		return err
	}
	comp, err := newEnv(p, p.Stages[f.Stage])
	if err != nil {
		return err
	}
	f.comp = comp
	return nil
}

func (f *joinFn) Teardown() { f.comp.close() }

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
