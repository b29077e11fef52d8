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
// Emit. On Beam it is rangeSort, the range-partitioned sort of keyed
// batches that mixer.weights (mixer.go) and the phased curriculum.order
// (phases.go) use too.

func init() {
	for _, t := range []any{Bounds{}, KeyedBatch{}, keyFn{}, sampleFn{}, boundsFn{}, partitionFn{}, sortBucketFn{}} {
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
// configuration.
func orderStage(cfg Config, i int) (curriculum.Config, error) {
	comp, _, barrier, err := buildStage(cfg, i)
	if err != nil {
		return curriculum.Config{}, err
	}
	defer comp.close()
	defer closeComponent(barrier)
	o, ok := barrier.(*curriculum.Order)
	if !ok {
		return curriculum.Config{}, fmt.Errorf("stage %d is not curriculum.order", i)
	}
	return o.Config(), nil
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

// orderFn is what the sort's DoFns share: the stage's Env (envFn) and
// its configuration.
type orderFn struct {
	envFn

	cfg curriculum.Config
}

func (f *orderFn) Setup() (err error) {
	if f.cfg, err = orderStage(f.Config, f.Stage); err != nil {
		return err
	}
	return f.envFn.Setup()
}

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

// KeyedBatch is a batch with sort entries: entry j is row Rows[j] of the
// batch under key Keys[j]. Keys are unique over the collection, so the
// order they give is total; a row may have several entries (the copies of
// a mixer) or none (a document dropped). Weight and Shuffle travel with
// the entries of a phased sort only (see phasedSort).
type KeyedBatch struct {
	Batch   Batch
	Rows    []int32
	Keys    [][]byte
	Weight  []int64
	Shuffle []uint64
}

// sub returns the entries of kb that sel keeps, on the same batch.
func (kb KeyedBatch) sub(sel []int) KeyedBatch {
	out := KeyedBatch{Batch: kb.Batch}
	for _, j := range sel {
		out.Rows = append(out.Rows, kb.Rows[j])
		out.Keys = append(out.Keys, kb.Keys[j])
		if kb.Weight != nil {
			out.Weight = append(out.Weight, kb.Weight[j])
			out.Shuffle = append(out.Shuffle, kb.Shuffle[j])
		}
	}
	return out
}

// keyFn gives every row of a batch its curriculum.order key (phases 0):
// the score's key, then the input order.
type keyFn struct{ orderFn }

func (f *keyFn) ProcessElement(ctx context.Context, b Batch, emit func(KeyedBatch)) error {
	rec, keys, err := f.keys(b)
	if err != nil {
		return err
	}
	rec.Release()
	rows := make([]int32, len(keys))
	for i := range rows {
		rows[i] = int32(i)
	}
	emit(KeyedBatch{Batch: b, Rows: rows, Keys: keys})
	return nil
}

// sampleFn emits a sample of the keys: each batch's first entry and every
// sampleEvery-th.
type sampleFn struct{}

func (f *sampleFn) ProcessElement(kb KeyedBatch, emit func([]byte)) {
	for j := 0; j < len(kb.Keys); j += sampleEvery {
		emit(kb.Keys[j])
	}
}

// boundsFn picks the bucket boundaries from the sample.
type boundsFn struct {
	BucketDocs int
}

func (f *boundsFn) ProcessElement(_ []byte, sample func(*[]byte) bool, emit func(Bounds)) {
	keys := collect(sample)
	slices.SortFunc(keys, bytes.Compare)
	docs := len(keys) * sampleEvery
	buckets := min(maxBuckets, max(1, (docs+f.BucketDocs-1)/f.BucketDocs), max(1, len(keys)))
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

// partitionFn sends each keyed batch's entries to their buckets; a part
// holds the entries of one bucket, on the rows they need.
type partitionFn struct{ envFn }

func (f *partitionFn) ProcessElement(ctx context.Context, kb KeyedBatch, bounds func(*Bounds) bool, emit func(int, KeyedBatch)) error {
	var bs Bounds
	if !bounds(&bs) {
		return fmt.Errorf("%s: no sort bounds", where(f.comp.c))
	}
	if len(kb.Keys) == 0 {
		return nil
	}
	byBucket := map[int][]int{}
	var present []int
	for j, k := range kb.Keys {
		b := bs.bucketOf(k)
		if _, ok := byBucket[b]; !ok {
			present = append(present, b)
		}
		byBucket[b] = append(byBucket[b], j)
	}
	if len(present) == 1 {
		emit(present[0], kb)
		return nil
	}
	rec, err := decode(f.comp.env.Alloc, kb.Batch.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	for _, bucket := range present {
		part := kb.sub(byBucket[bucket])
		// Keep only the rows this bucket's entries name, renumbered.
		need := make([]bool, len(kb.Batch.Order))
		for _, r := range part.Rows {
			need[r] = true
		}
		drop := make([]string, len(need))
		renumber := make([]int32, len(need))
		var order []int64
		for i, ok := range need {
			if !ok {
				drop[i] = "other bucket"
				continue
			}
			renumber[i] = int32(len(order))
			order = append(order, kb.Batch.Order[i])
		}
		for j, r := range part.Rows {
			part.Rows[j] = renumber[r]
		}
		out, _, err := pipelines.Apply(ctx, f.comp.env.Alloc, f.comp.c.Name, rec, &pipelines.Result{Drop: drop}, false)
		if err != nil {
			return fmt.Errorf("%s: %w", where(f.comp.c), err)
		}
		part.Batch, err = newBatch(out, order)
		out.Release()
		if err != nil {
			return err
		}
		emit(bucket, part)
	}
	return nil
}

// sortBucketFn sorts one bucket with the local engine's spill and gather:
// its entries by key, each reading its row back (a row named by several
// entries is emitted once per entry). The output rows get the order
// bucket<<40 | rank.
type sortBucketFn struct{ envFn }

func (f *sortBucketFn) ProcessElement(ctx context.Context, bucket int, parts func(*KeyedBatch) bool, emit func(Batch)) error {
	all := collect(parts)
	slices.SortFunc(all, func(a, b KeyedBatch) int { return bytes.Compare(a.Keys[0], b.Keys[0]) })
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
	for _, kb := range all {
		rec, err := decode(env.Alloc, kb.Batch.IPC)
		if err != nil {
			return err
		}
		first, err := recs.Append(ctx, rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("%s: %w", where(f.comp.c), err)
		}
		for j, k := range kb.Keys {
			entries = append(entries, entry{k, first + int64(kb.Rows[j])})
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
	return g.Emit(ctx, env.BatchRows, env.BatchBytes, emitNumbered(int64(bucket)<<bucketShift, emit))
}

// emitNumbered returns an emit function for a stage's output records that
// emits each non-empty one as a Batch whose rows have the orders first,
// first+1, ... in emit order. rec is borrowed.
func emitNumbered(first int64, emit func(Batch)) func(arrow.Record) error {
	n := first
	return func(rec arrow.Record) error {
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
	}
}

// stageEnv builds the Env of stage i (its spill folder, allocator and
// batch sizes) without building the stage.
func stageEnv(cfg Config, i int) (*component, error) {
	p, err := cfg.load()
	if err != nil {
		return nil, err
	}
	return newEnv(p, p.Stages[i])
}

// envFn is what a DoFn needs that uses stage i's Env (stageEnv) but not
// the stage itself: Setup builds the Env, Teardown releases it.
type envFn struct {
	Config
	Stage int

	comp *component
}

func (f *envFn) Setup() (err error) {
	f.comp, err = stageEnv(f.Config, f.Stage)
	return err
}

func (f *envFn) Teardown() { f.comp.close() }

// rangeSort sorts keyed batches by key, on behalf of stage i:
//
//  1. sample (parallel): every batch's first entry and every 32nd entry's key;
//  2. bounds (one worker, the sample only): bucket boundaries at the
//     sample's quantiles, about one bucket per bucketDocs entries;
//  3. partition (parallel): each batch's entries go to their key's bucket;
//  4. sort (one worker per bucket): the bucket's rows spilled, its entries
//     sorted by key and read back with the local engine's gather, in
//     batches whose rows get the input order bucket<<40 | rank, so later
//     stages and the sinks see the global order.
func rangeSort(s beam.Scope, cfg Config, i int, impulse, keyed beam.PCollection) beam.PCollection {
	parts := partition(s, cfg, i, impulse, keyed)
	return beam.ParDo(s.Scope("sort"), &sortBucketFn{envFn{Config: cfg, Stage: i}}, beam.GroupByKey(s, parts))
}

// partition is rangeSort's steps 1 to 3: KV(bucket, KeyedBatch).
func partition(s beam.Scope, cfg Config, i int, impulse, keyed beam.PCollection) beam.PCollection {
	sample := beam.ParDo(s.Scope("sample"), &sampleFn{}, keyed)
	bounds := beam.ParDo(s.Scope("bounds"), &boundsFn{BucketDocs: bucketDocs}, impulse, beam.SideInput{Input: sample})
	return beam.ParDo(s.Scope("partition"), &partitionFn{envFn{Config: cfg, Stage: i}}, keyed, beam.SideInput{Input: bounds})
}

// sortByKey translates curriculum.order (without phases) stage i: each
// row keyed by the stage's key, then rangeSort.
func sortByKey(s beam.Scope, cfg Config, i int, impulse, docs beam.PCollection) beam.PCollection {
	keyed := beam.ParDo(s.Scope("key"), &keyFn{orderFn{envFn: envFn{Config: cfg, Stage: i}}}, docs)
	return rangeSort(s, cfg, i, impulse, keyed)
}
