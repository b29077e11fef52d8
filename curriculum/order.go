// Package curriculum orders the documents of a run so that the token store,
// read front to back, is a curriculum: curriculum.order sorts by a numeric
// column (optionally in shuffled phases that keep the domain mix), and
// curriculum.readability adds a difficulty column to sort by.
package curriculum

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/spill"
)

func init() {
	pipelines.RegisterBarrier(orderSpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Barrier, error) {
		return NewOrder(p, env)
	})
}

var orderSpec = pipelines.Spec{
	Name: "curriculum.order",
	Doc:  "orders documents by a numeric column (easy to hard), optionally in shuffled phases that keep the domain mix",
	Fields: []pipelines.Field{
		{Name: "by", Type: pipelines.String, Required: true,
			Doc: "numeric column to order by (e.g. quality_score, reading_grade); nulls go last"},
		{Name: "order", Type: pipelines.String, Default: "ascending", Enum: []string{"ascending", "descending"},
			Doc: "ascending puts the lowest values first"},
		{Name: "phases", Type: pipelines.Int, Default: 0, Min: pipelines.Bound(0), Max: pipelines.Bound(maxPhases),
			Doc: "0: a strict order; N: N phases, each a quantile of every domain's tokens by the column, shuffled with seed"},
		{Name: "seed", Type: pipelines.Int, Default: 1, Doc: "seed of the shuffle within phases"},
	},
	MemoryPerDoc: func(p pipelines.Params) int64 { return 64 }, // sort entries; spilled beyond the budget
}

// Order is the curriculum.order barrier. Absorb spills each batch and keeps
// one small sort entry per document (see Plan); Emit sorts the entries and
// reads the documents back in that order. It also serves as the ordering
// half of a mixer.weights stage fused with it (see Config).
type Order struct {
	cfg      Config
	upstream string // the stage handing over copy counts, if any
	env      *pipelines.Env
	recs     *spill.Records
	plan     *Plan
	domains  map[string]int
	fused    string // the stage that took over this one's work, if any
	in, out  int64
}

// Config is curriculum.order's parameters.
type Config struct {
	By         string
	Descending bool
	Phases     int
	Seed       int64
}

// NewOrder builds curriculum.order.
func NewOrder(p pipelines.Params, env *pipelines.Env) (*Order, error) {
	cfg := Config{By: p.String("by"), Descending: p.String("order") == "descending",
		Phases: p.Int("phases"), Seed: int64(p.Int("seed"))}
	if cfg.By == "" {
		return nil, errors.New("curriculum.order: by: name the numeric column to order by")
	}
	if err := checkPhases(cfg.Phases); err != nil {
		return nil, fmt.Errorf("curriculum.order: %w", err)
	}
	o := &Order{cfg: cfg, env: env, domains: map[string]int{}}
	if u := claimUpstream(env); u != nil && u.HandOff(o) {
		o.upstream = u.Name()
	}
	return o, nil
}

// Config returns the stage's parameters.
func (o *Order) Config() Config { return o.cfg }

// NewPlan returns an empty plan with the stage's parameters, for a stage
// that does the curriculum's work itself (mixer.weights fused with it).
// The caller owns the plan.
func (o *Order) NewPlan() (*Plan, error) {
	return NewPlan(o.env.TempDir, o.env.Memory, o.cfg.Phases, o.cfg.Descending)
}

// Adopt takes over the spill and the plan of the Upstream stage that
// handed over to this one (see Upstream): Emit then reads recs back in the
// plan's order. The stage owns both from now on.
func (o *Order) Adopt(stage string, recs *spill.Records, plan *Plan) {
	o.Close()
	o.upstream, o.recs, o.plan = stage, recs, plan
	o.in = plan.Len()
}

// FusedInto records that stage took over this stage's work: its Absorb and
// Emit are then not called, and its report says so.
func (o *Order) FusedInto(stage string) { o.fused = stage }

func (o *Order) start() error {
	if o.recs != nil {
		return nil
	}
	var err error
	if o.recs, err = spill.NewRecords(o.env.TempDir, o.env.Alloc); err != nil {
		return err
	}
	if o.plan, err = o.NewPlan(); err != nil {
		return err
	}
	return nil
}

// Absorb implements pipelines.Barrier.
func (o *Order) Absorb(ctx context.Context, rec arrow.Record) error {
	return o.absorb(ctx, rec, nil)
}

// AbsorbLogged implements pipelines.LogAbsorber: the documents are read
// back from the run's barrier log instead of being spilled again.
func (o *Order) AbsorbLogged(ctx context.Context, rec arrow.Record, at pipelines.LogFrame) error {
	return o.absorb(ctx, rec, &at)
}

func (o *Order) absorb(ctx context.Context, rec arrow.Record, at *pipelines.LogFrame) error {
	if o.upstream != "" {
		return fmt.Errorf("curriculum.order: got documents although %s hands over its spill and order", o.upstream)
	}
	if err := o.start(); err != nil {
		return err
	}
	scores, err := Scores(rec, o.cfg.By)
	if err != nil {
		return err
	}
	doms, err := pipelines.StringCol(rec, pipelines.ColDomain)
	if err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	weights, err := docWeights(rec)
	if err != nil {
		return err
	}
	var first int64
	if at != nil {
		first, err = o.recs.AppendStored(rec, *at)
	} else {
		first, err = o.recs.Append(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	for i := range scores {
		dom := doms.Value(i)
		d, ok := o.domains[dom]
		if !ok {
			d = len(o.domains)
			o.domains[dom] = d
		}
		row := first + int64(i)
		e := Entry{Row: row, Domain: d, Tokens: weights[i], Score: scores[i],
			Key: shuffleKey(ids.Value(i), o.cfg.Seed, row)}
		if err := o.plan.Add(ctx, e); err != nil {
			return fmt.Errorf("curriculum.order: %w", err)
		}
	}
	o.in += int64(len(scores))
	return nil
}

// Scores reads the curriculum column of a batch as numbers (nulls as NaN),
// with an error that says how to get the column when it is missing.
func Scores(rec arrow.Record, by string) ([]float64, error) {
	if pipelines.Col(rec, by) < 0 {
		return nil, fmt.Errorf("curriculum.order: the documents have no %q column: put a stage that adds it before curriculum.order "+
			"(curriculum.readability adds reading_grade, filter.quality adds quality_score)", by)
	}
	s, err := pipelines.Numbers(rec, by)
	if err != nil {
		return nil, fmt.Errorf("curriculum.order: by: %w", err)
	}
	return s, nil
}

// docWeights are the documents' weights for phase quantiles: n_tokens when
// tokenize.encode ran before, else the text's bytes.
func docWeights(rec arrow.Record) ([]int64, error) {
	out := make([]int64, rec.NumRows())
	if pipelines.Col(rec, pipelines.ColNTokens) >= 0 {
		n, err := pipelines.Numbers(rec, pipelines.ColNTokens)
		if err != nil {
			return nil, fmt.Errorf("curriculum.order: %w", err)
		}
		for i, x := range n {
			out[i] = max(1, int64(x))
			if math.IsNaN(x) {
				out[i] = 1
			}
		}
		return out, nil
	}
	texts := pipelines.Texts(rec)
	for i := range out {
		out[i] = int64(max(1, len(texts.Value(i))))
	}
	return out, nil
}

// Emit implements pipelines.Barrier.
func (o *Order) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	if o.recs == nil {
		return nil // no input (or a hand-off that never came: an empty run)
	}
	defer o.Close()
	if err := o.recs.Finish(); err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	g, err := o.recs.Gather(o.env.Memory, 0)
	if err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	defer g.Close()
	if err := o.plan.Rows(ctx, func(row int64) error { return g.Add(ctx, row) }); err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	o.plan.Close()
	o.out = g.Len()
	if err := g.Emit(ctx, o.env.BatchRows, o.env.BatchBytes, emit); err != nil {
		return fmt.Errorf("curriculum.order: %w", err)
	}
	return nil
}

// Close removes the stage's spill files; Emit calls it, and a runner may
// call it after a failed run.
func (o *Order) Close() error {
	var errs []error
	if o.plan != nil {
		errs = append(errs, o.plan.Close())
		o.plan = nil
	}
	if o.recs != nil {
		errs = append(errs, o.recs.Close())
		o.recs = nil
	}
	return errors.Join(errs...)
}

// Dropped implements pipelines.Dropper: curriculum.order drops nothing.
func (o *Order) Dropped() map[string]int64 { return map[string]int64{} }

// Report implements pipelines.Reporter.
func (o *Order) Report() map[string]any {
	r := map[string]any{"by": o.cfg.By, "phases": o.cfg.Phases}
	if o.upstream != "" {
		r["handed_over_by"] = o.upstream
	}
	if o.fused != "" {
		r["ordered_by"] = o.fused
	} else {
		r["documents_ordered"] = o.out
	}
	return r
}

// Hash is the 64-bit hash of a document id under a seed, shared by the
// mixer's sample and the curriculum's shuffle: FNV-1a, finished with the
// splitmix64 mixer. It is the same on every machine and run.
func Hash(id string, seed int64) uint64 {
	h := uint64(14695981039346656037) ^ mix(uint64(seed))
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return mix(h)
}

const golden = 0x9E3779B97F4A7C15

// shuffleKey is the shuffle key within a phase of the document with the
// given id that is the rank-th (from 0) document curriculum.order receives.
func shuffleKey(id string, seed int64, rank int64) uint64 {
	return mix(Hash(id, seed) + uint64(rank)*golden)
}

// CopyKey is the shuffle key within a phase of copy c (0, 1, ...) of the
// document whose Hash(id, seed) is idHash.
func CopyKey(idHash uint64, c int64) uint64 { return mix(idHash + uint64(c+1)*golden) }

func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
