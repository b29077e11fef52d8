package curriculum

import (
	"sync"

	"github.com/curatehq/curate/pipelines"
)

// CopiesColumn carries copy counts from an Upstream stage to the
// curriculum.order right after it: a row with n in it is ordered as n
// copies. curriculum.order drops the column from its output.
const CopiesColumn = "_curriculum_copies"

// Upstream is a barrier that can hand the curriculum.order stage directly
// after it a selection instead of materialized documents: mixer.weights
// then emits every selected document once, in input order, with its number
// of copies in CopiesColumn, and leaves the repeating and the ordering to
// curriculum.order. That saves the upstream stage its own sort and gather,
// one full write and read of the documents, with the same output as when
// the two stages are fused (see the mixer's Fuse).
type Upstream interface {
	// HandOff asks the upstream stage to feed o copy counts; it reports
	// whether it will. It is called while the run builds its stages,
	// before any Absorb.
	HandOff(o *Order) bool
	// Name is the upstream stage's name, for the report.
	Name() string
}

type upstreamKey struct {
	tempDir string
	index   int
}

var (
	upstreamMu sync.Mutex
	upstreams  = map[upstreamKey]Upstream{}
)

// OfferUpstream makes u, built with env, available to a curriculum.order
// built next in the same run at the next stage position. A run's stages
// share a private Env.TempDir, which tells runs apart; without one (a
// component built outside a run) nothing is offered. The offer lasts until
// claimed or withdrawn.
func OfferUpstream(env *pipelines.Env, u Upstream) {
	if env == nil || env.TempDir == "" {
		return
	}
	upstreamMu.Lock()
	upstreams[upstreamKey{env.TempDir, env.Index}] = u
	upstreamMu.Unlock()
}

// WithdrawUpstream removes an offer made with env (the upstream stage's
// Close calls it).
func WithdrawUpstream(env *pipelines.Env) {
	if env == nil {
		return
	}
	upstreamMu.Lock()
	delete(upstreams, upstreamKey{env.TempDir, env.Index})
	upstreamMu.Unlock()
}

func claimUpstream(env *pipelines.Env) Upstream {
	if env == nil || env.TempDir == "" || env.Index == 0 {
		return nil
	}
	k := upstreamKey{env.TempDir, env.Index - 1}
	upstreamMu.Lock()
	defer upstreamMu.Unlock()
	u := upstreams[k]
	delete(upstreams, k)
	return u
}
