package curriculum

import "github.com/apache/arrow-go/v18/arrow"

// SortKey appends to dst the 9-byte key by which curriculum.order without
// phases sorts a document's score: byte order is the stage's order (nulls,
// NaN, last in either direction; -0 and +0 equal). Ties are broken by input
// order, which the caller appends. Another engine (curate-beam) sorts by it
// to give the very order of the stage's Emit.
func SortKey(dst []byte, score float64, descending bool) []byte {
	var k [9]byte
	putScore(k[:], score, descending)
	return append(dst, k[:]...)
}

// With phases, curriculum.order (and a mixer.weights handing its copies to
// it) orders in two sorts (see Plan): first by (domain, SortKey, Add
// order), where each entry's phase is its share of the domain's tokens
// before it (PhaseOf); then by (phase, shuffle key, the first sort's
// order). The functions below give another engine (curate-beam) each
// entry's numbers, so that it can do both sorts distributed and get the
// very order of Plan.Rows.

// DocWeights returns the documents' weights for phase quantiles, as
// curriculum.order counts them: n_tokens when the batch has it, else the
// text's bytes (at least 1).
func DocWeights(rec arrow.Record) ([]int64, error) { return docWeights(rec) }

// ShuffleKey returns the shuffle key within a phase of the document with
// the given id that is the rank-th (from 0) document curriculum.order
// receives, under seed.
func ShuffleKey(id string, seed int64, rank int64) uint64 { return shuffleKey(id, seed, rank) }

// PhaseOf returns the phase (0 to phases-1) of an entry with the given
// weight whose domain has cum weight before it in the first sort's order
// and total weight in all.
func PhaseOf(cum, weight, total int64, phases int) int { return phaseAt(cum, weight, total, phases) }
