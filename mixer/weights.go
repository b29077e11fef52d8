// Package mixer sets the domain mix of a run's output: mixer.weights makes
// each domain's share of the output tokens match its weight.
package mixer

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/spill"
)

func init() {
	pipelines.RegisterBarrier(spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Barrier, error) {
		return New(p, env)
	})
}

var spec = pipelines.Spec{
	Name: "mixer.weights",
	Doc:  "sets each domain's share of the output tokens: repeats or samples documents and interleaves the domains",
	Fields: []pipelines.Field{
		{Name: "weights", Type: pipelines.FloatMap, Required: true, Min: pipelines.Bound(0),
			Doc: "domain -> weight, normalized to sum 1; documents of other domains are dropped"},
		{Name: "total_tokens", Type: pipelines.Int, Default: 0, Min: pipelines.Bound(0),
			Doc: "output tokens, end-of-text included (0: total_documents, else the weighted domains' input tokens)"},
		{Name: "total_documents", Type: pipelines.Int, Default: 0, Min: pipelines.Bound(0),
			Doc: "output documents, approximately, when total_tokens is 0"},
		{Name: "max_repeats", Type: pipelines.Int, Default: 4, Min: pipelines.Bound(1),
			Doc: "most times one document may appear; a weight that needs more is not met (a warning says so)"},
		{Name: "seed", Type: pipelines.Int, Default: 1, Doc: "seed of the downsampling sample"},
	},
	MemoryPerDoc: func(pipelines.Params) int64 { return 96 }, // sort entries; spilled beyond the budget
}

// Weights is the mixer.weights barrier.
//
// Absorb spills each batch (spill.Records) and logs one small entry per
// document: its row, domain, n_tokens, sample hash and, when fused with a
// curriculum, its score. Emit decides each document's number of copies:
// a domain with r times its available tokens as target gets floor(r) full
// copies of every document, plus one more copy of the documents that come
// first in the order of Hash(id, seed) until the remaining tokens are
// reached (so r < 1 is a pure downsample). It then orders the copies (by a
// stride schedule over the domains, or by the fused curriculum's Plan) and
// reads the documents back in that order (spill.Gather). Right before a
// curriculum.order of the same run it hands that stage its spill and order
// instead (see HandOff).
type Weights struct {
	env         *pipelines.Env
	weights     map[string]float64
	names       []string // weighted domains, sorted: index = domain number
	index       map[string]int
	totalTokens int64
	totalDocs   int64
	maxRepeats  int
	seed        int64

	recs    *spill.Records
	log     *spill.Sorter // one entry per kept document, input order
	stats   []domainStats
	hist    [][]int64         // per domain: tokens by the top 16 bits of the sample hash
	curr    *curriculum.Order // the curriculum.order whose sort this stage does
	handOff bool              // curr emits the documents (else this stage does: fused)
	drops   map[string]int64
	report  map[string]any
	ent     [entryLen]byte
}

type domainStats struct {
	docs, tokens int64 // available
	// decided by Emit
	target     float64
	repeats    int64   // full copies of every document
	extra      float64 // tokens wanted from one more copy of a sample
	boundary   int     // histogram bin where the sample ends
	belowBound int64   // tokens in bins before boundary
	selected   map[int64]bool
	outDocs    int64
	outTokens  int64
}

// Log entry: row, domain, tokens, sample hash, score, curriculum hash.
const entryLen = 8 + 2 + 4 + 8 + 8 + 8

const histBins = 1 << 16

// New builds mixer.weights.
func New(p pipelines.Params, env *pipelines.Env) (*Weights, error) {
	m := &Weights{env: env, weights: p.FloatMap("weights"), totalTokens: int64(p.Int("total_tokens")),
		totalDocs: int64(p.Int("total_documents")), maxRepeats: p.Int("max_repeats"), seed: int64(p.Int("seed")),
		index: map[string]int{}, drops: map[string]int64{}}
	var sum float64
	for name, w := range m.weights {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("mixer.weights: weights: %s: %v is not a weight", name, w)
		}
		if w > 0 {
			m.names = append(m.names, name)
			sum += w
		}
	}
	if sum == 0 {
		return nil, errors.New("mixer.weights: weights: give at least one domain a weight above 0")
	}
	if m.maxRepeats < 1 {
		return nil, fmt.Errorf("mixer.weights: max_repeats: %d is below 1", m.maxRepeats)
	}
	if len(m.names) > math.MaxUint16 {
		return nil, fmt.Errorf("mixer.weights: %d weighted domains, at most %d", len(m.names), math.MaxUint16)
	}
	sort.Strings(m.names)
	for i, n := range m.names {
		m.index[n] = i
		m.weights[n] /= sum
	}
	m.stats = make([]domainStats, len(m.names))
	m.hist = make([][]int64, len(m.names))
	curriculum.OfferUpstream(env, m)
	return m, nil
}

// Name implements curriculum.Upstream.
func (m *Weights) Name() string { return spec.Name }

// HandOff implements curriculum.Upstream: when curriculum.order directly
// follows, the mixer reads the curriculum's column as it absorbs, orders its
// copies by the curriculum's plan instead of interleaving them, and passes
// its spill and the plan to curriculum.order, which reads the documents back
// once in that order. The mixer then emits nothing itself.
func (m *Weights) HandOff(o *curriculum.Order) bool {
	if m.recs != nil || m.curr != nil {
		return false
	}
	m.curr, m.handOff = o, true
	return true
}

// Fuse lets the mixer take over a curriculum.order stage that follows it
// directly: both then share one sort and one read of the documents, and
// the runner calls neither Absorb nor Emit of next. It must be called
// before the first Absorb and reports whether the mixer took next over.
func (m *Weights) Fuse(next pipelines.Barrier) bool {
	c, ok := next.(*curriculum.Order)
	if !ok || m.recs != nil || (m.curr != nil && (m.curr != c || !m.handOff)) {
		return false
	}
	m.curr, m.handOff = c, false
	c.FusedInto(spec.Name)
	return true
}

func (m *Weights) start() error {
	if m.recs != nil {
		return nil
	}
	var err error
	if m.recs, err = spill.NewRecords(m.env.TempDir, m.env.Alloc); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	if m.log, err = spill.NewSorter(m.env.TempDir, 0, entryLen, m.env.Memory); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	return nil
}

// Absorb implements pipelines.Barrier.
func (m *Weights) Absorb(ctx context.Context, rec arrow.Record) error {
	return m.absorb(ctx, rec, nil)
}

// AbsorbLogged implements pipelines.LogAbsorber: the documents are read
// back from the run's barrier log instead of being spilled again.
func (m *Weights) AbsorbLogged(ctx context.Context, rec arrow.Record, at pipelines.LogFrame) error {
	return m.absorb(ctx, rec, &at)
}

func (m *Weights) absorb(ctx context.Context, rec arrow.Record, at *pipelines.LogFrame) error {
	if err := m.start(); err != nil {
		return err
	}
	ntok, err := nTokens(rec)
	if err != nil {
		return err
	}
	var scores []float64
	if m.curr != nil {
		if scores, err = curriculum.Scores(rec, m.curr.Config().By); err != nil {
			return err
		}
	}
	doms, err := pipelines.StringCol(rec, pipelines.ColDomain)
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	var first int64
	if at != nil {
		first, err = m.recs.AppendStored(rec, *at)
	} else {
		first, err = m.recs.Append(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	for i, nt := range ntok {
		d, ok := m.index[doms.Value(i)]
		if !ok {
			m.drops["domain not weighted"]++
			continue
		}
		n := docTokens(nt)
		u := curriculum.Hash(ids.Value(i), m.seed)
		st := &m.stats[d]
		st.docs++
		st.tokens += n
		if m.hist[d] == nil {
			m.hist[d] = make([]int64, histBins)
		}
		m.hist[d][HistBin(u)] += n
		score := math.NaN()
		if scores != nil {
			score = scores[i]
		}
		var ckey uint64
		if m.curr != nil {
			ckey = curriculum.Hash(ids.Value(i), m.curr.Config().Seed)
		}
		e := m.ent[:]
		binary.BigEndian.PutUint64(e[0:], uint64(first+int64(i)))
		binary.BigEndian.PutUint16(e[8:], uint16(d))
		binary.BigEndian.PutUint32(e[10:], uint32(n))
		binary.BigEndian.PutUint64(e[14:], u)
		binary.BigEndian.PutUint64(e[22:], math.Float64bits(score))
		binary.BigEndian.PutUint64(e[30:], ckey)
		if err := m.log.Add(ctx, nil, e); err != nil {
			return fmt.Errorf("mixer.weights: %w", err)
		}
	}
	return nil
}

// nTokens reads the documents' n_tokens, with an error that says how to
// get the column when it is missing.
func nTokens(rec arrow.Record) ([]float64, error) {
	if pipelines.Col(rec, pipelines.ColNTokens) < 0 {
		return nil, fmt.Errorf("mixer.weights: the documents have no %q column: put tokenize.encode before mixer.weights (the mix is a share of tokens)", pipelines.ColNTokens)
	}
	ntok, err := pipelines.Numbers(rec, pipelines.ColNTokens)
	if err != nil {
		return nil, fmt.Errorf("mixer.weights: %w", err)
	}
	return ntok, nil
}

// docTokens is a document's tokens as the mix counts them: its n_tokens
// (null, NaN or below 1 count as 1; at most MaxUint32, the log's field).
func docTokens(nt float64) int64 {
	n := int64(1)
	if !math.IsNaN(nt) && nt >= 1 {
		n = min(int64(nt), math.MaxUint32)
	}
	return n
}

type logEntry struct {
	row    int64
	domain int
	tokens int64
	hash   uint64
	score  float64
	ckey   uint64 // Hash(id, the fused curriculum's seed)
}

func decode(v []byte) logEntry {
	return logEntry{row: int64(binary.BigEndian.Uint64(v)), domain: int(binary.BigEndian.Uint16(v[8:])),
		tokens: int64(binary.BigEndian.Uint32(v[10:])), hash: binary.BigEndian.Uint64(v[14:]),
		score: math.Float64frombits(binary.BigEndian.Uint64(v[22:])), ckey: binary.BigEndian.Uint64(v[30:])}
}

// scan calls fn with every logged document in input order.
func (m *Weights) scan(ctx context.Context, fn func(e logEntry) error) error {
	it, err := m.log.Iter(ctx)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		if err := fn(decode(it.Value())); err != nil {
			return err
		}
	}
	return it.Err()
}

// decide sets each domain's target, full copies and sample size.
func (m *Weights) decide() {
	log := m.env.Logger()
	var avail, docTokens float64
	for i, name := range m.names {
		st := &m.stats[i]
		avail += float64(st.tokens)
		if st.docs > 0 {
			docTokens += m.weights[name] / (float64(st.tokens) / float64(st.docs))
		}
	}
	total := avail
	switch {
	case m.totalTokens > 0:
		total = float64(m.totalTokens)
	case m.totalDocs > 0 && docTokens > 0:
		total = float64(m.totalDocs) / docTokens
	}
	for i, name := range m.names {
		st := &m.stats[i]
		st.target = m.weights[name] * total
		if st.tokens == 0 {
			log.Warn("mixer: a weighted domain has no documents; its weight cannot be met", "domain", name, "weight", m.weights[name])
			continue
		}
		r := st.target / float64(st.tokens)
		if r > float64(m.maxRepeats) {
			log.Warn("mixer: a domain would need more repeats than max_repeats; its weight is not met",
				"domain", name, "weight", m.weights[name], "repeats_needed", fmt.Sprintf("%.2f", r), "max_repeats", m.maxRepeats)
			st.repeats = int64(m.maxRepeats)
			continue
		}
		st.repeats = int64(r)
		st.extra = st.target - float64(st.repeats*st.tokens)
		// The sample is a prefix of the domain's documents in hash order;
		// find the histogram bin where it ends.
		var cum int64
		st.boundary = histBins
		for b, n := range m.hist[i] {
			if float64(cum+n) >= st.extra {
				st.boundary = b
				break
			}
			cum += n
		}
		st.belowBound = cum
		st.selected = map[int64]bool{}
	}
}

// sample settles the documents of each domain's boundary bin: in hash
// order (ties by input order), a document is in the sample when the tokens
// before it are fewer than the domain's extra tokens.
func (m *Weights) sample(ctx context.Context) error {
	cands := make([][]Candidate, len(m.names))
	err := m.scan(ctx, func(e logEntry) error {
		st := &m.stats[e.domain]
		if st.sampling() && HistBin(e.hash) == st.boundary {
			cands[e.domain] = append(cands[e.domain], Candidate{Hash: e.hash, Order: e.row, Tokens: e.tokens})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for d, cs := range cands {
		m.stats[d].selectBin(cs)
	}
	return nil
}

// sampling reports whether the domain takes a sample (one more copy of
// some of its documents), decided by decide.
func (st *domainStats) sampling() bool { return st.selected != nil && st.extra > 0 }

// selectBin decides the documents of the domain's boundary bin (every one
// of them, in any order; cands is sorted in place): in (hash, input order)
// order, a document is in the sample while the tokens before it are fewer
// than the domain's extra tokens. It records and returns the orders of the
// selected ones.
func (st *domainStats) selectBin(cands []Candidate) []int64 {
	slices.SortFunc(cands, func(a, b Candidate) int {
		if c := cmp.Compare(a.Hash, b.Hash); c != 0 {
			return c
		}
		return cmp.Compare(a.Order, b.Order)
	})
	var out []int64
	before := st.belowBound
	for _, c := range cands {
		if float64(before) >= st.extra {
			break
		}
		st.selected[c.Order] = true
		out = append(out, c.Order)
		before += c.Tokens
	}
	return out
}

// copies returns how many times a document is output and whether the last
// copy is the partial one.
func (m *Weights) copies(e logEntry) (n int64, partial bool) {
	st := &m.stats[e.domain]
	n = st.repeats
	if !st.sampling() {
		return n, false
	}
	bin := HistBin(e.hash)
	if bin < st.boundary || (bin == st.boundary && st.selected[e.row]) {
		return n + 1, true
	}
	return n, false
}

// Emit implements pipelines.Barrier.
func (m *Weights) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	if m.recs == nil {
		if err := m.start(); err != nil {
			return err
		}
	}
	defer m.Close()
	if err := m.recs.Finish(); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	m.decide()
	if err := m.sample(ctx); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	// Achieved tokens per domain, for the stride schedule and the report.
	err := m.scan(ctx, func(e logEntry) error {
		n, _ := m.copies(e)
		st := &m.stats[e.domain]
		st.outTokens += n * e.tokens
		st.outDocs += n
		if n == 0 {
			m.drops["downsampled"]++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	if m.curr != nil {
		return m.emitCurriculum(ctx, emit)
	}
	g, err := m.recs.Gather(m.env.Memory, 0)
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	defer g.Close()
	if err := m.interleave(ctx, func(row int64) error { return g.Add(ctx, row) }); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	m.log.Close()
	m.buildReport()
	if err := g.Emit(ctx, m.env.BatchRows, m.env.BatchBytes, emit); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	return nil
}

// emitCurriculum orders the copies by the curriculum's plan. Fused, the
// mixer reads the documents back in that order and emits them; handing
// over, it passes its spill and the plan to the curriculum.order that
// follows and emits nothing: that stage emits the documents.
func (m *Weights) emitCurriculum(ctx context.Context, emit func(arrow.Record) error) error {
	plan, err := m.planCurriculum(ctx)
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	m.log.Close()
	m.buildReport()
	if m.handOff {
		recs := m.recs
		m.recs = nil
		m.curr.Adopt(spec.Name, recs, plan)
		return nil
	}
	defer plan.Close()
	g, err := m.recs.Gather(m.env.Memory, 0)
	if err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	defer g.Close()
	if err := plan.Rows(ctx, func(row int64) error { return g.Add(ctx, row) }); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	plan.Close()
	if err := g.Emit(ctx, m.env.BatchRows, m.env.BatchBytes, emit); err != nil {
		return fmt.Errorf("mixer.weights: %w", err)
	}
	return nil
}

// interleave orders the copies by a stride schedule: each domain's copies
// in (copy, input) order, placed at the middle of their span of the
// domain's output tokens as a fraction of all of them. Sorting by that
// fraction spreads every domain evenly, so any stretch of the output has
// close to the target share of each.
func (m *Weights) interleave(ctx context.Context, add func(int64) error) error {
	s, err := spill.NewSorter(m.env.TempDir, 10, 8, m.env.Memory)
	if err != nil {
		return err
	}
	defer s.Close()
	all := make([]int64, len(m.names))  // tokens of all documents before, per domain
	part := make([]int64, len(m.names)) // tokens of sampled documents before
	key := make([]byte, 0, 10)
	var val [8]byte
	err = m.scan(ctx, func(e logEntry) error {
		n, partial := m.copies(e)
		st := &m.stats[e.domain]
		for c := int64(0); c < n; c++ {
			key = st.interleaveKey(key[:0], e.domain, c, partial && c == n-1, all[e.domain], part[e.domain], e.tokens, st.outTokens)
			binary.BigEndian.PutUint64(val[:], uint64(e.row))
			if err := s.Add(ctx, key, val[:]); err != nil {
				return err
			}
		}
		all[e.domain] += e.tokens
		if partial {
			part[e.domain] += e.tokens
		}
		return nil
	})
	if err != nil {
		return err
	}
	it, err := s.Iter(ctx)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		if err := add(int64(binary.BigEndian.Uint64(it.Value()))); err != nil {
			return err
		}
	}
	return it.Err()
}

// interleaveKey appends the 10-byte interleave key of copy c of a document
// of domain d (whose stats st are) with the given tokens: the middle of the
// copy's span of the domain's outTokens, as a fraction, then d. all is the
// tokens of the domain's documents before it in input order, part those of
// the ones among them with a partial copy, partialCopy whether c is this
// document's partial copy.
func (st *domainStats) interleaveKey(dst []byte, d int, c int64, partialCopy bool, all, part, tokens, outTokens int64) []byte {
	before := c*st.tokens + all
	if partialCopy {
		before = c*st.tokens + part
	}
	at := (float64(before) + float64(tokens)/2) / float64(outTokens)
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(at))
	return binary.BigEndian.AppendUint16(dst, uint16(d))
}

// planCurriculum hands every copy to a new plan of the curriculum's; the
// caller owns the plan.
func (m *Weights) planCurriculum(ctx context.Context) (*curriculum.Plan, error) {
	plan, err := m.curr.NewPlan()
	if err != nil {
		return nil, err
	}
	err = m.scan(ctx, func(e logEntry) error {
		n, _ := m.copies(e)
		for c := int64(0); c < n; c++ {
			ent := curriculum.Entry{Row: e.row, Domain: e.domain, Tokens: e.tokens, Score: e.score,
				Key: curriculum.CopyKey(e.ckey, c)}
			if err := plan.Add(ctx, ent); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		plan.Close()
		return nil, err
	}
	return plan, nil
}

func (m *Weights) buildReport() {
	var outTotal, target float64
	for _, st := range m.stats {
		outTotal += float64(st.outTokens)
		target += st.target
	}
	doms := map[string]any{}
	for i, name := range m.names {
		st := m.stats[i]
		share := 0.0
		if outTotal > 0 {
			share = float64(st.outTokens) / outTotal
		}
		doms[name] = map[string]any{
			"weight":              m.weights[name],
			"target_tokens":       int64(math.Round(st.target)),
			"available_documents": st.docs,
			"available_tokens":    st.tokens,
			"full_repeats":        st.repeats,
			"documents":           st.outDocs,
			"tokens":              st.outTokens,
			"share":               share,
		}
	}
	m.report = map[string]any{"target_tokens": int64(math.Round(target)), "tokens": int64(outTotal), "domains": doms}
}

// Close removes the stage's spill files; Emit calls it, and a runner may
// call it after a failed run.
func (m *Weights) Close() error {
	curriculum.WithdrawUpstream(m.env)
	var errs []error
	if m.log != nil {
		errs = append(errs, m.log.Close())
		m.log = nil
	}
	if m.recs != nil {
		errs = append(errs, m.recs.Close())
		m.recs = nil
	}
	return errors.Join(errs...)
}

// Dropped implements pipelines.Dropper.
func (m *Weights) Dropped() map[string]int64 { return m.drops }

// Report implements pipelines.Reporter: target and achieved tokens and
// share per domain.
func (m *Weights) Report() map[string]any { return m.report }
