package curatebeam

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/curatehq/curate/dedup"
	"github.com/curatehq/curate/pipelines"
)

// dedup.paragraph is two passes over a shuffle instead of the barrier's
// spill:
//
//  1. units (parallel): each batch's unit hashes, by the stage's own code
//     (dedup.Paragraph.UnitHashes: its units, normalization and
//     min_chars), counted within the batch: one (hash, batch, count) per
//     distinct hash of the batch;
//  2. counts (GroupByKey on hash): a hash seen more than max_repeats times
//     over the corpus is repeated; each batch holding it gets a verdict
//     (hash, whether the corpus's first occurrence is in that batch: the
//     batch with the smallest input order, as batches never interleave).
//     The group is streamed: at most max_repeats+1 entries are held;
//  3. remove (CoGroupByKey of the batches with their verdicts): the
//     stage's own removal (dedup.Paragraph.RemoveRepeated, Emit's code) on
//     each batch alone; keep_first keeps the first occurrence in the batch
//     that holds the corpus's first, as Emit does.
//
// The rows keep their input order (a hidden column carries it through the
// removal), so later stages and sinks see the local engine's order.

func init() {
	for _, t := range []any{UnitCount{}, RepeatedUnit{}, unitsFn{}, repeatsFn{}, removeFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// UnitCount is how often a unit hash occurs in one batch.
type UnitCount struct {
	Batch int64
	N     int64
}

// RepeatedUnit tells a batch that a unit hash it holds is repeated across
// the corpus, and whether the corpus's first occurrence is in that batch.
type RepeatedUnit struct {
	Hash  int64
	First bool
}

// paragraphStage builds stage i, a dedup.paragraph.
func paragraphStage(cfg Config, i int) (*component, *dedup.Paragraph, error) {
	comp, _, b, err := buildStage(cfg, i)
	if err != nil {
		return nil, nil, err
	}
	g, ok := b.(*dedup.Paragraph)
	if !ok {
		closeComponent(b)
		comp.close()
		return nil, nil, fmt.Errorf("stage %d is not dedup.paragraph", i)
	}
	return comp, g, nil
}

// paragraphFn is what the DoFns that run the stage's own code share: Setup
// builds dedup.paragraph stage Stage, Teardown closes it.
type paragraphFn struct {
	Config
	Stage int

	comp *component
	g    *dedup.Paragraph
}

func (f *paragraphFn) Setup() (err error) {
	f.comp, f.g, err = paragraphStage(f.Config, f.Stage)
	return err
}

func (f *paragraphFn) Teardown() {
	if f.g != nil {
		f.g.Close()
	}
	f.comp.close()
}

// unitsFn emits each distinct unit hash of a batch with its count there.
type unitsFn struct{ paragraphFn }

func (f *unitsFn) ProcessElement(b Batch, emit func(int64, UnitCount)) error {
	rec, err := decode(f.comp.env.Alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	counts := map[uint64]int64{}
	var order []uint64
	f.g.UnitHashes(rec, func(_ int, h uint64) {
		if counts[h] == 0 {
			order = append(order, h)
		}
		counts[h]++
	})
	for _, h := range order {
		emit(int64(h), UnitCount{Batch: b.Key, N: counts[h]})
	}
	return nil
}

// repeatsFn counts one hash over the corpus and, when it occurs more than
// max_repeats times, tells every batch holding it.
type repeatsFn struct {
	MaxRepeats int64
}

func (f *repeatsFn) ProcessElement(h int64, counts func(*UnitCount) bool, emit func(int64, RepeatedUnit)) {
	var held []UnitCount // until the total passes max_repeats
	var total int64
	first, haveFirst := UnitCount{}, false
	// After the total passes max_repeats, every batch but the earliest
	// seen so far is told at once; the earliest is told at the end.
	tell := func(u UnitCount) {
		switch {
		case !haveFirst:
			first, haveFirst = u, true
		case u.Batch < first.Batch:
			emit(first.Batch, RepeatedUnit{Hash: h})
			first = u
		default:
			emit(u.Batch, RepeatedUnit{Hash: h})
		}
	}
	repeated := false
	var u UnitCount
	for counts(&u) {
		total += u.N
		if repeated {
			tell(u)
			continue
		}
		held = append(held, u)
		if total > f.MaxRepeats {
			repeated = true
			for _, v := range held {
				tell(v)
			}
			held = nil
		}
	}
	if haveFirst {
		emit(first.Batch, RepeatedUnit{Hash: h, First: true})
	}
}

// removeFn runs the stage's removal on one batch given its verdicts.
type removeFn struct{ paragraphFn }

// orderCol carries each row's input order through the removal.
const orderCol = "__curate_beam_order"

func (f *removeFn) ProcessElement(ctx context.Context, key int64, batches func(*Batch) bool, verdicts func(*RepeatedUnit) bool, emit func(Batch)) error {
	var b Batch
	if !batches(&b) {
		return nil // verdicts for a batch that is not there cannot happen
	}
	var hashes []uint64
	var firstHere []bool
	var v RepeatedUnit
	for verdicts(&v) {
		hashes, firstHere = append(hashes, uint64(v.Hash)), append(firstHere, v.First)
	}
	alloc := f.comp.env.Alloc
	rec, err := decode(alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	if pipelines.Col(rec, orderCol) >= 0 {
		return fmt.Errorf("%s: the documents have a column %s", where(f.comp.c), orderCol)
	}
	orders := pipelines.NewInts(alloc, b.Order)
	defer orders.Release()
	md := rec.Schema().Metadata()
	fields := append(slices.Clone(rec.Schema().Fields()), arrow.Field{Name: orderCol, Type: orders.DataType()})
	cols := append(slices.Clone(rec.Columns()), arrow.Array(orders))
	with := array.NewRecord(arrow.NewSchema(fields, &md), cols, rec.NumRows())
	defer with.Release()
	err = f.g.RemoveRepeated(with, hashes, firstHere, func(out arrow.Record) error {
		c := pipelines.Col(out, orderCol)
		order := slices.Clone(out.Column(c).(*array.Int64).Int64Values())
		md := out.Schema().Metadata()
		fields := slices.Delete(slices.Clone(out.Schema().Fields()), c, c+1)
		cols := slices.Delete(slices.Clone(out.Columns()), c, c+1)
		part := array.NewRecord(arrow.NewSchema(fields, &md), cols, out.NumRows())
		defer part.Release()
		pb, err := newBatch(part, order)
		if err != nil {
			return err
		}
		emit(pb)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	return nil
}

// paragraphDedup translates dedup.paragraph (stage i) into the three steps
// above.
func paragraphDedup(s beam.Scope, cfg Config, i int, g *dedup.Paragraph, docs beam.PCollection) beam.PCollection {
	units := beam.ParDo(s.Scope("units"), &unitsFn{paragraphFn{Config: cfg, Stage: i}}, docs)
	verdicts := beam.ParDo(s.Scope("counts"), &repeatsFn{MaxRepeats: int64(g.MaxRepeats())}, beam.GroupByKey(s, units))
	keyed := beam.ParDo(s.Scope("key"), keyBatch, docs)
	return beam.ParDo(s.Scope("remove"), &removeFn{paragraphFn{Config: cfg, Stage: i}}, beam.CoGroupByKey(s, keyed, verdicts))
}
