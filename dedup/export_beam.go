package dedup

import (
	"errors"

	"github.com/curatehq/curate/pipelines"
)

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

// IndexEach calls fn with every entry of the stage's incremental index, in
// index order: what NewExact loaded (each key once, first occurrence
// kept), then what IndexAdd added. Another engine treats these entries as
// earlier than every document of the run.
func (e *Exact) IndexEach(fn func(key [2]uint64, id string) error) error {
	return e.idx.each(func(k key, id string) error { return fn([2]uint64{k.hi, k.lo}, id) })
}

// IndexAdd adds a document to the index unless its key is there, as
// Sequence does for a document that is not a duplicate. Finish saves the
// index.
func (e *Exact) IndexAdd(k [2]uint64, id string) error {
	kk := key{k[0], k[1]}
	if _, found, err := e.idx.lookup(kk); err != nil || found {
		return err
	}
	return e.idx.insert(kk, id)
}

// IndexEach calls fn with every entry of the stage's incremental index, in
// index order: what NewMinHash loaded, then what IndexAdd added. The
// signature is only valid during the call.
func (m *MinHash) IndexEach(fn func(sig []byte, id string) error) error { return m.idx.each(fn) }

// IndexAdd adds a document (every document of a run, dropped or not, as
// Sequence does) to the index. Finish saves the index. A stage with
// verify: shingles refuses it (it would need the shingle set too).
func (m *MinHash) IndexAdd(sig []byte, id string) error {
	if m.shingles {
		return errors.New("dedup.minhash: verify: shingles is not supported by this engine")
	}
	return m.idx.insert(sig, id, nil)
}

// Verify returns how the stage confirms LSH candidates: "signature" (the
// rule of Shape) or "shingles" (exact Jaccard of shingle sets, which only
// the local engine's Sequence implements; another engine must reject it).
func (m *MinHash) Verify() string { return verifyName(m.shingles) }
