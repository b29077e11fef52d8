package curriculum

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/spill"
)

// Entry is one output document (or one copy of a repeated document) handed
// to a Plan. Only these few numbers are held per document; the rows
// themselves stay in the caller's spill.
type Entry struct {
	Row    int64   // the row number in the caller's spill.Records
	Domain int     // a small index naming the document's domain
	Tokens int64   // the document's weight for phase quantiles (n_tokens)
	Score  float64 // the curriculum column's value; NaN (null) sorts last
	Key    uint64  // a hash of the document (and copy) and the seed: the shuffle order within a phase
}

// Plan computes a curriculum order over entries in bounded memory. It is
// the ordering half of curriculum.order, separate from its spill so that a
// mixer.weights right before it can hand over its selection and the two
// stages share one sort and one pass over the documents.
//
// Without phases the order is by score (ties in Add order). With phases,
// each domain's entries are cut into that many quantiles of its tokens by
// score, phase p is the union of every domain's p-th quantile (so each
// phase keeps the domain mix), and each phase is shuffled by Entry.Key.
type Plan struct {
	phases     int
	descending bool
	sorter     *spill.Sorter
	totals     map[int]int64
	budget     *pipelines.Budget
	dir        string
	key, val   []byte
}

// NewPlan returns an empty plan; its sorts spill under dir within budget.
func NewPlan(dir string, budget *pipelines.Budget, phases int, descending bool) (*Plan, error) {
	p := &Plan{phases: phases, descending: descending, totals: map[int]int64{}, budget: budget, dir: dir}
	var err error
	if phases == 0 {
		p.key, p.val = make([]byte, 9), make([]byte, 8)
	} else {
		p.key, p.val = make([]byte, 4+9), make([]byte, 24)
	}
	p.sorter, err = spill.NewSorter(dir, len(p.key), len(p.val), budget)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Len returns the number of entries added.
func (p *Plan) Len() int64 { return p.sorter.Len() }

// Add adds an entry. Entries are ordered by Add order where nothing else
// decides, so adding in input order keeps the result deterministic.
func (p *Plan) Add(ctx context.Context, e Entry) error {
	k := p.key
	if p.phases > 0 {
		binary.BigEndian.PutUint32(k, uint32(e.Domain))
		k = k[4:]
		p.totals[e.Domain] += e.Tokens
		binary.BigEndian.PutUint64(p.val[8:], uint64(e.Tokens))
		binary.BigEndian.PutUint64(p.val[16:], e.Key)
	}
	putScore(k, e.Score, p.descending)
	binary.BigEndian.PutUint64(p.val, uint64(e.Row))
	return p.sorter.Add(ctx, p.key, p.val)
}

// putScore writes a 9-byte key that sorts like the score: a NaN flag (so
// nulls come last in either direction), then the float's bits made
// byte-comparable, inverted for a descending order.
func putScore(k []byte, f float64, descending bool) {
	if math.IsNaN(f) {
		k[0] = 1
		binary.BigEndian.PutUint64(k[1:], 0)
		return
	}
	k[0] = 0
	if f == 0 {
		f = 0 // -0 and +0 are one score
	}
	b := math.Float64bits(f)
	if b>>63 == 0 {
		b |= 1 << 63
	} else {
		b = ^b
	}
	if descending {
		b = ^b
	}
	binary.BigEndian.PutUint64(k[1:], b)
}

// Rows calls fn with every entry's row in curriculum order. It may be
// called once.
func (p *Plan) Rows(ctx context.Context, fn func(row int64) error) error {
	it, err := p.sorter.Iter(ctx)
	if err != nil {
		return err
	}
	defer it.Close()
	if p.phases == 0 {
		for it.Next() {
			if err := fn(int64(binary.BigEndian.Uint64(it.Value()))); err != nil {
				return err
			}
		}
		return it.Err()
	}
	// Entries come by domain, then score: cut each domain into quantiles of
	// its tokens, then sort by (phase, shuffle key).
	phased, err := spill.NewSorter(p.dir, 10, 8, p.budget)
	if err != nil {
		return err
	}
	defer phased.Close()
	var (
		key        [10]byte
		cum        int64
		lastDomain = -1
	)
	for it.Next() {
		d := int(binary.BigEndian.Uint32(it.Key()))
		if d != lastDomain {
			lastDomain, cum = d, 0
		}
		v := it.Value()
		n := int64(binary.BigEndian.Uint64(v[8:]))
		phase := phaseAt(cum, n, p.totals[d], p.phases)
		cum += n
		binary.BigEndian.PutUint16(key[:2], uint16(phase))
		copy(key[2:], v[16:24])
		if err := phased.Add(ctx, key[:], v[:8]); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	it.Close()
	pit, err := phased.Iter(ctx)
	if err != nil {
		return err
	}
	defer pit.Close()
	for pit.Next() {
		if err := fn(int64(binary.BigEndian.Uint64(pit.Value()))); err != nil {
			return err
		}
	}
	return pit.Err()
}

// phaseAt is the phase (0 to phases-1) of an entry with the given weight
// whose domain has cum weight before it in score order and total weight in
// all: the phase its middle falls in.
func phaseAt(cum, weight, total int64, phases int) int {
	if total <= 0 {
		return 0
	}
	mid := float64(cum) + float64(weight)/2
	return min(phases-1, int(mid*float64(phases)/float64(total)))
}

// Close removes the plan's files.
func (p *Plan) Close() error { return p.sorter.Close() }

// maxPhases bounds phases: the phase is a 2-byte key.
const maxPhases = math.MaxUint16

func checkPhases(n int) error {
	if n < 0 || n > maxPhases {
		return fmt.Errorf("phases %d out of range [0, %d]", n, maxPhases)
	}
	return nil
}
