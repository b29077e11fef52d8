package curatebeam

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/mixer"
	"github.com/curatehq/curate/pipelines"
)

// mixer.weights on Beam: global aggregations, then a sort by key. Every
// decision is the stage's own (mixer/export_beam.go); Beam only supplies
// the totals each decision needs.
//
//  1. log (parallel): each document's domain, tokens and sample hash
//     (Weights.Docs), a few bytes per document;
//  2. totals (a Combine per key, small): per domain, documents and tokens
//     by sample-hash bin (at most 65,536 bins per domain);
//  3. decide (on every worker, from the totals as a side input): each
//     domain's full copies and the one bin whose documents need a closer
//     look (Weights.Decide, SampleBin);
//  4. select (GroupByKey on domain, one worker per domain, that bin's
//     documents only): the sampled documents (Weights.Select);
//  5. without a curriculum.order after it: prefix sums (parallel per
//     batch, then one worker over one small record per batch) give each
//     document the tokens of its domain's documents before it in input
//     order, all of them and the sampled ones;
//  6. assign (parallel): each document's copies (Weights.Copies) and each
//     copy's key: its interleaved place (Weights.InterleaveKey), or, when
//     a curriculum.order follows (which the local engine fuses with the
//     mixer: one sort), the curriculum's key of the copy;
//  7. the range-partitioned sort by that key (rangeSort, or phasedSort
//     for a phased curriculum).

func init() {
	for _, t := range []any{MixLog{}, MixCand{}, MixSelection{}, Prefix{}, Offsets{}, mixLogFn{}, mixHistFn{}, mixDecideFn{},
		mixCandFn{}, mixSelectFn{}, mixSumsFn{}, offsetsFn{}, mixAssignFn{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
	beam.RegisterFunction(sumInt64)
	beam.RegisterFunction(minInt64)
}

func sumInt64(a, b int64) int64 { return a + b }
func minInt64(a, b int64) int64 { return min(a, b) }

// MixLog is what the mixer needs of a batch: per row its input order,
// domain number (-1: not weighted), tokens and sample hash.
type MixLog struct {
	Key    int64
	Order  []int64
	Domain []int32
	Tokens []int64
	Hash   []uint64
}

// MixCand is a document of its domain's sample bin.
type MixCand struct {
	Hash   uint64
	Order  int64
	Tokens int64
}

// MixSelection is the sampled documents of one domain's sample bin.
type MixSelection struct {
	Domain int
	Orders []int64
	Tokens int64
}

// Prefix is one batch's sums that later batches (in input order) need.
type Prefix struct {
	Key  int64
	Sums []int64
}

// Offsets are exclusive prefix sums of Prefix records in input order:
// batch Keys[i] starts at Sums[i*Width : (i+1)*Width].
type Offsets struct {
	Keys  []int64
	Width int
	Sums  []int64
}

// at returns the offsets of batch key.
func (o Offsets) at(key int64) ([]int64, error) {
	i := sort.Search(len(o.Keys), func(i int) bool { return o.Keys[i] >= key })
	if i == len(o.Keys) || o.Keys[i] != key {
		return nil, fmt.Errorf("no prefix sums for batch %d", key)
	}
	return o.Sums[i*o.Width : (i+1)*o.Width], nil
}

// offsetsFn turns every batch's Prefix into Offsets, on one worker (one
// small record per batch).
type offsetsFn struct {
	Width int
}

func (f *offsetsFn) ProcessElement(_ []byte, prefixes func(*Prefix) bool, emit func(Offsets)) error {
	all := collect(prefixes)
	slices.SortFunc(all, func(a, b Prefix) int { return cmp.Compare(a.Key, b.Key) })
	out := Offsets{Width: f.Width, Keys: make([]int64, len(all)), Sums: make([]int64, len(all)*f.Width)}
	run := make([]int64, f.Width)
	for i, p := range all {
		if len(p.Sums) != f.Width {
			return fmt.Errorf("prefix of width %d, want %d", len(p.Sums), f.Width)
		}
		out.Keys[i] = p.Key
		copy(out.Sums[i*f.Width:], run)
		for k, v := range p.Sums {
			run[k] += v
		}
	}
	emit(out)
	return nil
}

// mixStage builds mixer.weights stage i on a worker, with its decisions
// made from the totals side input (once per DoFn instance: the side input
// is global).
type mixStage struct {
	Config
	Stage int

	comp     *component
	m        *mixer.Weights
	decided  bool
	selected bool
	selTok   []int64
	out      []int64
}

func (f *mixStage) Setup() error {
	comp, _, barrier, err := buildStage(f.Config, f.Stage)
	if err != nil {
		return err
	}
	m, ok := barrier.(*mixer.Weights)
	if !ok {
		closeComponent(barrier)
		comp.close()
		return fmt.Errorf("stage %d is not mixer.weights", f.Stage)
	}
	f.comp, f.m = comp, m
	return nil
}

func (f *mixStage) Teardown() {
	closeComponent(f.m)
	f.comp.close()
}

// Keys of the totals: domain<<17 | bin for tokens by bin, domain<<17 |
// 1<<16 for documents.
func histKey(d, bin int) int64 { return int64(d)<<17 | int64(bin) }
func docsKey(d int) int64      { return int64(d)<<17 | 1<<16 }

// decide makes the stage's decisions from the totals; quiet silences the
// stage's warnings (every worker decides, one says so).
func (f *mixStage) decide(totals func(*int64, *int64) bool, quiet bool) error {
	if f.decided {
		return nil
	}
	nd := len(f.m.Domains())
	docs, tokens, hist := make([]int64, nd), make([]int64, nd), make([][]int64, nd)
	var k, v int64
	for totals(&k, &v) {
		d, bin := int(k>>17), int(k&(1<<17-1))
		if d < 0 || d >= nd {
			return fmt.Errorf("%s: totals for domain %d of %d", where(f.comp.c), d, nd)
		}
		if bin == 1<<16 {
			docs[d] += v
			continue
		}
		if hist[d] == nil {
			hist[d] = make([]int64, mixer.HistBins)
		}
		hist[d][bin] += v
		tokens[d] += v
	}
	if quiet {
		f.comp.env.Log = slog.New(slog.DiscardHandler)
	}
	if err := f.m.Decide(docs, tokens, hist); err != nil {
		return fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	f.decided = true
	return nil
}

// selections records every domain's sample selection and computes each
// domain's output tokens.
func (f *mixStage) selections(sel func(*MixSelection) bool) {
	if f.selected {
		return
	}
	nd := len(f.m.Domains())
	f.selTok, f.out = make([]int64, nd), make([]int64, nd)
	var s MixSelection
	for sel(&s) {
		f.m.SetSelected(s.Domain, s.Orders)
		f.selTok[s.Domain] += s.Tokens
	}
	for d := range nd {
		f.out[d] = f.m.OutTokens(d, f.selTok[d])
	}
	f.selected = true
}

// docs decodes a batch and reads each row's domain number, tokens and
// sample hash with the stage's own Weights.Docs. The caller releases rec.
func (f *mixStage) docs(b Batch) (rec arrow.Record, dom []int, tok []int64, hash []uint64, err error) {
	if rec, err = decode(f.comp.env.Alloc, b.IPC); err != nil {
		return nil, nil, nil, nil, err
	}
	if dom, tok, hash, err = f.m.Docs(rec); err != nil {
		rec.Release()
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", where(f.comp.c), err)
	}
	return rec, dom, tok, hash, nil
}

// mixLogFn computes a batch's MixLog with the stage's own code.
type mixLogFn struct{ mixStage }

func (f *mixLogFn) ProcessElement(b Batch, emit func(MixLog)) error {
	rec, dom, tok, hash, err := f.docs(b)
	if err != nil {
		return err
	}
	defer rec.Release()
	l := MixLog{Key: b.Key, Order: b.Order, Domain: make([]int32, len(dom)), Tokens: tok, Hash: hash}
	for i, d := range dom {
		l.Domain[i] = int32(d)
	}
	emit(l)
	return nil
}

// mixHistFn sums a batch's documents and tokens per domain and bin.
type mixHistFn struct{}

func (f *mixHistFn) ProcessElement(l MixLog, emit func(int64, int64)) {
	sums := map[int64]int64{}
	for i, d := range l.Domain {
		if d < 0 {
			continue
		}
		sums[docsKey(int(d))]++
		sums[histKey(int(d), mixer.HistBin(l.Hash[i]))] += l.Tokens[i]
	}
	keys := make([]int64, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		emit(k, sums[k])
	}
}

// mixDecideFn decides once on one worker, where the stage's warnings (a
// weight that cannot be met) are logged.
type mixDecideFn struct{ mixStage }

func (f *mixDecideFn) ProcessElement(_ []byte, totals func(*int64, *int64) bool) error {
	return f.decide(totals, false)
}

// mixCandFn emits the documents of their domain's sample bin.
type mixCandFn struct{ mixStage }

func (f *mixCandFn) ProcessElement(l MixLog, totals func(*int64, *int64) bool, emit func(int, MixCand)) error {
	if err := f.decide(totals, true); err != nil {
		return err
	}
	for i, d := range l.Domain {
		if d < 0 {
			continue
		}
		if bin, ok := f.m.SampleBin(int(d)); ok && mixer.HistBin(l.Hash[i]) == bin {
			emit(int(d), MixCand{Hash: l.Hash[i], Order: l.Order[i], Tokens: l.Tokens[i]})
		}
	}
	return nil
}

// mixSelectFn decides one domain's sample bin.
type mixSelectFn struct{ mixStage }

func (f *mixSelectFn) ProcessElement(d int, cands func(*MixCand) bool, totals func(*int64, *int64) bool, emit func(MixSelection)) error {
	if err := f.decide(totals, true); err != nil {
		return err
	}
	var cs []mixer.Candidate
	tokens := map[int64]int64{}
	var c MixCand
	for cands(&c) {
		cs = append(cs, mixer.Candidate{Hash: c.Hash, Order: c.Order, Tokens: c.Tokens})
		tokens[c.Order] = c.Tokens
	}
	sel := f.m.Select(d, cs)
	out := MixSelection{Domain: d, Orders: sel}
	for _, o := range sel {
		out.Tokens += tokens[o]
	}
	emit(out)
	return nil
}

// mixSumsFn sums a batch's tokens per domain: all documents, and those with
// a partial copy (Prefix.Sums: all by domain, then partial by domain).
type mixSumsFn struct{ mixStage }

func (f *mixSumsFn) ProcessElement(l MixLog, totals func(*int64, *int64) bool, sel func(*MixSelection) bool, emit func(Prefix)) error {
	if err := f.decide(totals, true); err != nil {
		return err
	}
	f.selections(sel)
	nd := len(f.m.Domains())
	p := Prefix{Key: l.Key, Sums: make([]int64, 2*nd)}
	for i, d := range l.Domain {
		if d < 0 {
			continue
		}
		p.Sums[d] += l.Tokens[i]
		if _, partial := f.m.Copies(int(d), l.Hash[i], l.Order[i]); partial {
			p.Sums[nd+int(d)] += l.Tokens[i]
		}
	}
	emit(p)
	return nil
}

// mixAssignFn gives every copy of every document its sort key: the
// interleaved place, or with Curriculum >= 0 the key of that
// curriculum.order stage (which the mixer's sort serves, as in the local
// engine).
type mixAssignFn struct {
	mixStage
	Curriculum int // stage index of the curriculum.order after the mixer, or -1

	ccfg curriculum.Config
}

func (f *mixAssignFn) Setup() error {
	if err := f.mixStage.Setup(); err != nil {
		return err
	}
	if f.Curriculum >= 0 {
		c, err := orderStage(f.Config, f.Curriculum)
		if err != nil {
			return err
		}
		f.ccfg = c
	}
	return nil
}

func (f *mixAssignFn) ProcessElement(ctx context.Context, b Batch, totals func(*int64, *int64) bool, sel func(*MixSelection) bool,
	offsets func(*Offsets) bool, emit func(KeyedBatch)) error {
	if err := f.decide(totals, true); err != nil {
		return err
	}
	f.selections(sel)
	rec, dom, tok, hash, err := f.docs(b)
	if err != nil {
		return err
	}
	defer rec.Release()
	nd := len(f.m.Domains())
	kb := KeyedBatch{Batch: b}
	var (
		all, part []int64
		scores    []float64
		ids       interface{ Value(int) string }
	)
	if f.Curriculum < 0 {
		var off Offsets
		if !offsets(&off) {
			return fmt.Errorf("%s: no prefix sums", where(f.comp.c))
		}
		o, err := off.at(b.Key)
		if err != nil {
			return fmt.Errorf("%s: %w", where(f.comp.c), err)
		}
		all, part = slices.Clone(o[:nd]), slices.Clone(o[nd:])
	} else {
		if scores, err = curriculum.Scores(rec, f.ccfg.By); err != nil {
			return err
		}
		s, err := pipelines.StringCol(rec, pipelines.ColID)
		if err != nil {
			return fmt.Errorf("%s: %w", where(f.comp.c), err)
		}
		ids = s
	}
	for i, d := range dom {
		if d < 0 {
			continue
		}
		order := b.Order[i]
		n, partial := f.m.Copies(d, hash[i], order)
		for c := range n {
			var k []byte
			switch {
			case f.Curriculum < 0:
				k = f.m.InterleaveKey(make([]byte, 0, 26), d, c, partial && c == n-1, all[d], part[d], tok[i], f.out[d])
			case f.ccfg.Phases == 0:
				k = curriculum.SortKey(make([]byte, 0, 21), scores[i], f.ccfg.Descending)
			default:
				k = binary.BigEndian.AppendUint32(make([]byte, 0, 25), uint32(d))
				k = curriculum.SortKey(k, scores[i], f.ccfg.Descending)
				kb.Weight = append(kb.Weight, tok[i])
				kb.Shuffle = append(kb.Shuffle, curriculum.CopyKey(curriculum.Hash(ids.Value(i), f.ccfg.Seed), c))
			}
			k = binary.BigEndian.AppendUint64(k, uint64(order))
			k = binary.BigEndian.AppendUint32(k, uint32(c))
			kb.Rows = append(kb.Rows, int32(i))
			kb.Keys = append(kb.Keys, k)
		}
		if all != nil {
			all[d] += tok[i]
			if partial {
				part[d] += tok[i]
			}
		}
	}
	if len(kb.Keys) > 0 {
		emit(kb)
	}
	return nil
}

// mixWeights translates mixer.weights stage i, which weights nd domains;
// with curr >= 0 the curriculum.order stage curr that follows it is
// translated with it (one sort, as the local engine fuses them).
func mixWeights(s beam.Scope, cfg Config, i, nd, curr int, impulse, docs beam.PCollection) (beam.PCollection, error) {
	ms := mixStage{Config: cfg, Stage: i}
	logs := beam.ParDo(s.Scope("log"), &mixLogFn{ms}, docs)
	totals := beam.CombinePerKey(s.Scope("totals"), sumInt64, beam.ParDo(s.Scope("hist"), &mixHistFn{}, logs))
	beam.ParDo0(s.Scope("decide"), &mixDecideFn{ms}, impulse, beam.SideInput{Input: totals})
	cands := beam.ParDo(s.Scope("candidates"), &mixCandFn{ms}, logs, beam.SideInput{Input: totals})
	sel := beam.ParDo(s.Scope("select"), &mixSelectFn{ms}, beam.GroupByKey(s, cands), beam.SideInput{Input: totals})
	var offsets beam.PCollection
	if curr < 0 {
		prefixes := beam.ParDo(s.Scope("prefix"), &mixSumsFn{ms}, logs, beam.SideInput{Input: totals}, beam.SideInput{Input: sel})
		offsets = beam.ParDo(s.Scope("offsets"), &offsetsFn{Width: 2 * nd}, impulse, beam.SideInput{Input: prefixes})
	} else {
		offsets = beam.Create(s.Scope("no offsets"), Offsets{})
	}
	keyed := beam.ParDo(s.Scope("assign"), &mixAssignFn{mixStage: ms, Curriculum: curr}, docs,
		beam.SideInput{Input: totals}, beam.SideInput{Input: sel}, beam.SideInput{Input: offsets})
	if curr >= 0 {
		c, err := orderStage(cfg, curr)
		if err != nil {
			return beam.PCollection{}, err
		}
		if c.Phases > 0 {
			return phasedSort(s, cfg, i, c.Phases, impulse, keyed), nil
		}
	}
	return rangeSort(s, cfg, i, impulse, keyed), nil
}
