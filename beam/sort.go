package curatebeam

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/spill"
)

// curriculum.order without phases is a sort by (score, input order): the
// stage's own key (curriculum.SortKey) followed by the document's input
// order, which is unique, so the order is total and equals the stage's
// Emit. On Beam it is a range-partitioned sort:
//
//  1. sample (parallel): every batch's first row and every 32nd record's key;
//  2. bounds (one worker, the sample only): bucket boundaries at the
//     sample's quantiles, about one bucket per 100,000 documents;
//  3. partition (parallel): each batch's rows go to their key's bucket;
//  4. sort (one worker per bucket): the bucket's documents spilled, sorted
//     by key and read back with the local engine's gather, in batches whose
//     rows get the input order bucket<<40 | rank, so later stages and the
//     sinks see the global order.
//
// With phases (per-domain token quantiles in score order, then a shuffle)
// the stage still runs on one worker.

func init() {
	for _, t := range []any{Bounds{}, sampleFn{}, boundsFn{}, partitionFn{}, sortBucketFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// Bounds are the sort's bucket boundaries: bucket b holds the keys in
// [Keys[b-1], Keys[b]).
type Bounds struct {
	Keys [][]byte
}

// bucketDocs is how many documents a sort bucket aims at (tests lower it).
var bucketDocs = 100_000

const (
	sampleEvery   = 32 // one key in this many records is sampled
	maxBuckets    = 1 << 16
	bucketShift   = 40 // an output order is bucket<<40 | rank
	maxBucketDocs = 1 << bucketShift
)

// orderStage builds the curriculum.order stage i and returns its
// configuration; ok is false when it must run on one worker (phases).
func orderStage(cfg Config, i int) (curriculum.Config, bool, error) {
	comp, _, barrier, err := buildStage(cfg, i)
	if err != nil {
		return curriculum.Config{}, false, err
	}
	defer comp.close()
	defer closeComponent(barrier)
	o, ok := barrier.(*curriculum.Order)
	if !ok {
		return curriculum.Config{}, false, nil
	}
	c := o.Config()
	return c, c.Phases == 0, nil
}

// sortKeys computes each row's key: the stage's score key, then the input
// order.
func sortKeys(c curriculum.Config, rec arrow.Record, order []int64) ([][]byte, error) {
	scores, err := curriculum.Scores(rec, c.By)
	if err != nil {
		return nil, err
	}
	keys := make([][]byte, len(scores))
	for i, s := range scores {
		k := curriculum.SortKey(make([]byte, 0, 17), s, c.Descending)
		keys[i] = binary.BigEndian.AppendUint64(k, uint64(order[i]))
	}
	return keys, nil
}

// orderFn is what the sort's DoFns share: the stage and its configuration.
type orderFn struct {
	Config
	Stage int

	comp *component
	cfg  curriculum.Config
}

func (f *orderFn) Setup() error {
	cfg, _, err := orderStage(f.Config, f.Stage)
	if err != nil {
		return err
	}
	p, err := f.load()
	if err != nil {
		return err
	}
	f.cfg = cfg
	f.comp, err = newEnv(p, p.Stages[f.Stage])
	return err
}

func (f *orderFn) Teardown() { f.comp.close() }

func (f *orderFn) keys(b Batch) (arrow.Record, [][]byte, error) {
	rec, err := decode(f.comp.env.Alloc, b.IPC)
	if err != nil {
		return nil, nil, err
	}
	keys, err := sortKeys(f.cfg, rec, b.Order)
	if err != nil {
		rec.Release()
		return nil, nil, fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	return rec, keys, nil
}

// sampleFn emits a sample of the keys.
type sampleFn struct{ orderFn }

func (f *sampleFn) ProcessElement(ctx context.Context, b Batch, emit func([]byte)) error {
	rec, keys, err := f.keys(b)
	if err != nil {
		return err
	}
	rec.Release()
	for i, k := range keys {
		if i == 0 || b.Order[i]%sampleEvery == 0 {
			emit(k)
		}
	}
	return nil
}

// boundsFn picks the bucket boundaries from the sample.
type boundsFn struct {
	BucketDocs int
}

func (f *boundsFn) ProcessElement(_ []byte, sample func(*[]byte) bool, emit func(Bounds)) {
	var keys [][]byte
	var k []byte
	for sample(&k) {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, bytes.Compare)
	docs := len(keys) * sampleEvery
	buckets := min(maxBuckets, max(1, (docs+f.BucketDocs-1)/f.BucketDocs), len(keys))
	var b Bounds
	for i := 1; i < buckets; i++ {
		b.Keys = append(b.Keys, keys[i*len(keys)/buckets])
	}
	emit(b)
}

// bucketOf returns the bucket of key.
func (b Bounds) bucketOf(key []byte) int {
	return sort.Search(len(b.Keys), func(i int) bool { return bytes.Compare(key, b.Keys[i]) < 0 })
}

// partitionFn sends each batch's rows to their buckets.
type partitionFn struct{ orderFn }

func (f *partitionFn) ProcessElement(ctx context.Context, b Batch, bounds func(*Bounds) bool, emit func(int, Batch)) error {
	var bs Bounds
	if !bounds(&bs) {
		return fmt.Errorf("%s: no sort bounds", where(f.comp.c))
	}
	rec, keys, err := f.keys(b)
	if err != nil {
		return err
	}
	defer rec.Release()
	buckets := make([]int, len(keys))
	var present []int
	for i, k := range keys {
		buckets[i] = bs.bucketOf(k)
		if !slices.Contains(present, buckets[i]) {
			present = append(present, buckets[i])
		}
	}
	if len(present) == 1 {
		emit(present[0], b)
		return nil
	}
	for _, bucket := range present {
		drop := make([]string, len(keys))
		var order []int64
		for i := range drop {
			if buckets[i] != bucket {
				drop[i] = "other bucket"
			} else {
				order = append(order, b.Order[i])
			}
		}
		part, _, err := pipelines.Apply(ctx, f.comp.env.Alloc, f.comp.c.Name, rec, &pipelines.Result{Drop: drop}, false)
		if err != nil {
			return fmt.Errorf("%s: %w", where(f.comp.c), err)
		}
		pb, err := newBatch(part, order)
		part.Release()
		if err != nil {
			return err
		}
		emit(bucket, pb)
	}
	return nil
}

// sortBucketFn sorts one bucket with the local engine's spill and gather.
type sortBucketFn struct{ orderFn }

func (f *sortBucketFn) ProcessElement(ctx context.Context, bucket int, parts func(*Batch) bool, emit func(Batch)) error {
	var all []Batch
	var b Batch
	for parts(&b) {
		all = append(all, b)
	}
	sortBatches(all)
	env := f.comp.env
	recs, err := spill.NewRecords(env.TempDir, env.Alloc)
	if err != nil {
		return err
	}
	defer recs.Close()
	type entry struct {
		key []byte
		row int64
	}
	var entries []entry
	for _, b := range all {
		rec, keys, err := f.keys(b)
		if err != nil {
			return err
		}
		first, err := recs.Append(ctx, rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("%s: %w", where(f.comp.c), err)
		}
		for i, k := range keys {
			entries = append(entries, entry{k, first + int64(i)})
		}
	}
	if int64(len(entries)) >= maxBucketDocs {
		return fmt.Errorf("%s: %d documents in one sort bucket", where(f.comp.c), len(entries))
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	if err := recs.Finish(); err != nil {
		return err
	}
	g, err := recs.Gather(env.Memory, 0)
	if err != nil {
		return err
	}
	defer g.Close()
	for _, e := range entries {
		if err := g.Add(ctx, e.row); err != nil {
			return err
		}
	}
	n := int64(bucket) << bucketShift
	return g.Emit(ctx, env.BatchRows, env.BatchBytes, func(rec arrow.Record) error {
		rows := rec.NumRows()
		if rows == 0 {
			return nil
		}
		order := make([]int64, rows)
		for i := range order {
			order[i] = n + int64(i)
		}
		n += rows
		out, err := newBatch(rec, order)
		if err != nil {
			return err
		}
		emit(out)
		return nil
	})
}

// sortByKey translates curriculum.order (without phases) stage i.
func sortByKey(s beam.Scope, cfg Config, i int, impulse, docs beam.PCollection) beam.PCollection {
	of := orderFn{Config: cfg, Stage: i}
	sample := beam.ParDo(s.Scope("sample"), &sampleFn{of}, docs)
	bounds := beam.ParDo(s.Scope("bounds"), &boundsFn{BucketDocs: bucketDocs}, impulse, beam.SideInput{Input: sample})
	parts := beam.ParDo(s.Scope("partition"), &partitionFn{of}, docs, beam.SideInput{Input: bounds})
	return beam.ParDo(s.Scope("sort"), &sortBucketFn{of}, beam.GroupByKey(s, parts))
}
