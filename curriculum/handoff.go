package curriculum

import (
	"sync"

	"github.com/curatehq/curate/pipelines"
)

// Upstream is a barrier that can do the sort of the curriculum.order stage
// directly after it: mixer.weights then orders its copies by that stage's
// Plan (NewPlan) instead of interleaving them, and at the end of its Emit
// passes its record spill and the plan to the stage (Adopt) without
// emitting anything itself; curriculum.order's Emit, which the runner calls
// once the upstream stage is done, reads the documents back once, in order.
// The pair costs one sort and one gather instead of two, and gives the same
// output as fused stages (the mixer's Fuse).
type Upstream interface {
	// HandOff asks the upstream stage to do o's sort; it reports whether it
	// will. It is called while the run builds its stages, before any
	// Absorb.
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
