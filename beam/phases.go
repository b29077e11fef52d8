package curatebeam

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
)

// curriculum.order with phases orders in two sorts (curriculum.Plan): by
// (domain, score, input order), where each document's phase is its share
// of its domain's tokens before it; then by (phase, shuffle key, the first
// order). On Beam:
//
//  1. keys (parallel): each document's first key (domain number, score
//     key, input order), weight (curriculum.DocWeights) and shuffle key
//     (curriculum.ShuffleKey of its input rank); the rank and the domain
//     numbers (domains in order of first appearance, as the stage numbers
//     them) come from small aggregations: a count per batch turned into
//     offsets on one worker, the earliest input order per domain;
//  2. partition by the first key (rangeSort's steps 1-3);
//  3. weights per (bucket, domain), a Combine (small), give every bucket
//     the weight of each domain before it;
//  4. phases (GroupByKey on bucket, one worker per bucket, keys only): the
//     bucket's entries in first-key order, each one's phase by
//     curriculum.PhaseOf; the second key is (phase, shuffle key, first key);
//  5. rangeSort by the second key.
//
// A mixer.weights right before the stage gives step 1 itself (its copies,
// see mixWeights) and the rest is the same.

func init() {
	for _, t := range []any{phasedKeyFn{}, rankFn{}, phaseSumsFn{}, phaseFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// rankFn counts a batch's documents (for the input ranks) and names the
// earliest document of each domain in it.
type rankFn struct{ envFn }

func (f *rankFn) ProcessElement(b Batch, counts func(Prefix), first func(string, int64)) error {
	counts(Prefix{Key: b.Key, Sums: []int64{int64(len(b.Order))}})
	rec, err := decode(f.comp.env.Alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	doms, err := pipelines.StringCol(rec, pipelines.ColDomain)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	seen := map[string]bool{}
	for i := 0; i < doms.Len(); i++ {
		if d := doms.Value(i); !seen[d] {
			seen[d] = true
			first(d, b.Order[i])
		}
	}
	return nil
}

// phasedKeyFn gives every document of a batch its first key, weight and
// shuffle key.
type phasedKeyFn struct {
	orderFn

	domains map[string]int
}

func (f *phasedKeyFn) ProcessElement(ctx context.Context, b Batch, offsets func(*Offsets) bool, firsts func(*string, *int64) bool, emit func(KeyedBatch)) error {
	if f.domains == nil {
		type first struct {
			name  string
			order int64
		}
		var all []first
		var name string
		var order int64
		for firsts(&name, &order) {
			all = append(all, first{name, order})
		}
		slices.SortFunc(all, func(a, b first) int { return cmp.Compare(a.order, b.order) })
		f.domains = map[string]int{}
		for i, d := range all {
			f.domains[d.name] = i
		}
	}
	var off Offsets
	if !offsets(&off) {
		return fmt.Errorf("%s: no ranks", where(f.comp.c))
	}
	o, err := off.at(b.Key)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	rank := o[0]
	rec, err := decode(f.comp.env.Alloc, b.IPC)
	if err != nil {
		return err
	}
	defer rec.Release()
	scores, err := curriculum.Scores(rec, f.cfg.By)
	if err != nil {
		return err
	}
	weights, err := curriculum.DocWeights(rec)
	if err != nil {
		return err
	}
	doms, err := pipelines.StringCol(rec, pipelines.ColDomain)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	n := len(scores)
	kb := KeyedBatch{Batch: b, Rows: make([]int32, n), Keys: make([][]byte, n), Weight: weights, Shuffle: make([]uint64, n)}
	for i := range n {
		d, ok := f.domains[doms.Value(i)]
		if !ok {
			return fmt.Errorf("%s: domain %q has no first document", where(f.comp.c), doms.Value(i))
		}
		k := binary.BigEndian.AppendUint32(make([]byte, 0, 21), uint32(d))
		k = curriculum.SortKey(k, scores[i], f.cfg.Descending)
		kb.Keys[i] = binary.BigEndian.AppendUint64(k, uint64(b.Order[i]))
		kb.Rows[i] = int32(i)
		kb.Shuffle[i] = curriculum.ShuffleKey(ids.Value(i), f.cfg.Seed, rank+int64(i))
	}
	emit(kb)
	return nil
}

// phaseSumsFn sums a part's weights per domain: key bucket<<32 | domain.
type phaseSumsFn struct{}

func (f *phaseSumsFn) ProcessElement(bucket int, kb KeyedBatch, emit func(int64, int64)) {
	sums := map[uint32]int64{}
	for j, k := range kb.Keys {
		sums[binary.BigEndian.Uint32(k)] += kb.Weight[j]
	}
	doms := make([]uint32, 0, len(sums))
	for d := range sums {
		doms = append(doms, d)
	}
	slices.Sort(doms)
	for _, d := range doms {
		emit(int64(bucket)<<32|int64(d), sums[d])
	}
}

// phaseFn gives the entries of one bucket their second key.
type phaseFn struct {
	Phases int

	before map[uint32][]bucketSum // per domain, ascending buckets with the weight before each
	total  map[uint32]int64
}

type bucketSum struct {
	bucket int
	before int64
}

func (f *phaseFn) sums(sums func(*int64, *int64) bool) {
	if f.before != nil {
		return
	}
	type rec struct {
		bucket int
		sum    int64
	}
	per := map[uint32][]rec{}
	var k, v int64
	for sums(&k, &v) {
		d := uint32(k)
		per[d] = append(per[d], rec{int(k >> 32), v})
	}
	f.before, f.total = map[uint32][]bucketSum{}, map[uint32]int64{}
	for d, rs := range per {
		slices.SortFunc(rs, func(a, b rec) int { return a.bucket - b.bucket })
		var run int64
		for _, r := range rs {
			f.before[d] = append(f.before[d], bucketSum{r.bucket, run})
			run += r.sum
		}
		f.total[d] = run
	}
}

// offset returns the weight of domain d in buckets before bucket.
func (f *phaseFn) offset(d uint32, bucket int) int64 {
	bs := f.before[d]
	i := sort.Search(len(bs), func(i int) bool { return bs[i].bucket >= bucket })
	if i < len(bs) && bs[i].bucket == bucket {
		return bs[i].before
	}
	return f.total[d] // no entry of d in this bucket (not reached)
}

func (f *phaseFn) ProcessElement(bucket int, parts func(*KeyedBatch) bool, sums func(*int64, *int64) bool, emit func(KeyedBatch)) {
	f.sums(sums)
	all := collect(parts)
	type ref struct{ part, j int }
	var refs []ref
	for p, kb := range all {
		for j := range kb.Keys {
			refs = append(refs, ref{p, j})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int { return bytes.Compare(all[a.part].Keys[a.j], all[b.part].Keys[b.j]) })
	cum := map[uint32]int64{}
	keys := make([][][]byte, len(all))
	for p, kb := range all {
		keys[p] = make([][]byte, len(kb.Keys))
	}
	for _, r := range refs {
		kb := all[r.part]
		k1 := kb.Keys[r.j]
		d := binary.BigEndian.Uint32(k1)
		c, ok := cum[d]
		if !ok {
			c = f.offset(d, bucket)
		}
		w := kb.Weight[r.j]
		phase := curriculum.PhaseOf(c, w, f.total[d], f.Phases)
		cum[d] = c + w
		k2 := binary.BigEndian.AppendUint16(make([]byte, 0, 10+len(k1)), uint16(phase))
		k2 = binary.BigEndian.AppendUint64(k2, kb.Shuffle[r.j])
		keys[r.part][r.j] = append(k2, k1...)
	}
	for p, kb := range all {
		emit(KeyedBatch{Batch: kb.Batch, Rows: kb.Rows, Keys: keys[p]})
	}
}

// phasedSort sorts keyed batches carrying first keys (a 4-byte domain
// number first), weights and shuffle keys into the phased order, on
// behalf of stage i.
func phasedSort(s beam.Scope, cfg Config, i, phases int, impulse, keyed beam.PCollection) beam.PCollection {
	parts := partition(s.Scope("by domain and score"), cfg, i, impulse, keyed)
	sums := beam.CombinePerKey(s.Scope("weights"), sumInt64, beam.ParDo(s.Scope("bucket weights"), &phaseSumsFn{}, parts))
	phased := beam.ParDo(s.Scope("phases"), &phaseFn{Phases: phases}, beam.GroupByKey(s, parts), beam.SideInput{Input: sums})
	return rangeSort(s.Scope("by phase"), cfg, i, impulse, phased)
}

// phasedOrder translates curriculum.order stage i, with phases > 0.
func phasedOrder(s beam.Scope, cfg Config, i, phases int, impulse, docs beam.PCollection) beam.PCollection {
	counts, firsts := beam.ParDo2(s.Scope("ranks"), &rankFn{envFn{Config: cfg, Stage: i}}, docs)
	offsets := beam.ParDo(s.Scope("offsets"), &offsetsFn{Width: 1}, impulse, beam.SideInput{Input: counts})
	domains := beam.CombinePerKey(s.Scope("domains"), minInt64, firsts)
	keyed := beam.ParDo(s.Scope("keys"), &phasedKeyFn{orderFn: orderFn{envFn: envFn{Config: cfg, Stage: i}}}, docs,
		beam.SideInput{Input: offsets}, beam.SideInput{Input: domains})
	return phasedSort(s, cfg, i, phases, impulse, keyed)
}
