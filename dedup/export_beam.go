package dedup

import "github.com/curatehq/curate/pipelines"

// This file exports what curate-beam (module beam/) needs to run dedup.exact
// and dedup.minhash as Beam shuffles instead of in-order Sequence calls: the
// per-document keys and signatures that Process computes, and the minhash
// verification rule. Process stays the single implementation of both.

// ExactKeys returns the 128-bit keys (hi, lo) of a batch from the Result of
// Exact.Process, and which rows have no key (never duplicates, not indexed).
// ok is false for a Result that did not come from Exact.Process.
func ExactKeys(res *pipelines.Result) (keys [][2]uint64, skip []bool, ok bool) {
	st, ok := res.State.(*exactState)
	if !ok {
		return nil, nil, false
	}
	keys = make([][2]uint64, len(st.keys))
	for i, k := range st.keys {
		keys[i] = [2]uint64{k.hi, k.lo}
	}
	return keys, st.skip, true
}

// MinHashSignatures returns the b-bit signatures of a batch (Perms bytes per
// row, back to back) from the Result of MinHash.Process.
func MinHashSignatures(res *pipelines.Result) ([]byte, bool) {
	st, ok := res.State.(*minhashState)
	if !ok {
		return nil, false
	}
	return st.sigs, true
}

// Shape returns the stage's signature length, its number of LSH bands and
// the fewest equal signature bytes that make two documents near-duplicates.
// Two documents are candidates when one of their bands is byte-identical.
func (m *MinHash) Shape() (perms, bands, minEqual int) {
	return m.perms, m.bands, m.idx.minEqual
}

// IndexPath returns the incremental index file configured for the stage, or
// "" (curate-beam does not support incremental indexes).
func (m *MinHash) IndexPath() string { return m.indexPath }

// IndexPath returns the incremental index file configured for the stage, or "".
func (e *Exact) IndexPath() string { return e.indexPath }
