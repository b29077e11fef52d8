package dedup

import (
	"cmp"
	"errors"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

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

// dedup.paragraph as two passes over a shuffle (curate-beam): UnitHashes
// gives every counted unit's hash (Absorb's step without the spill); the
// engine counts each hash over the corpus and, per batch, learns which of
// its units are repeated more than max_repeats times and whether the
// corpus's first occurrence of each lies in the batch; RemoveRepeated then
// runs Emit's own removal on the batch, each batch on its own.

// UnitHashes calls fn with the hash of each unit of rec that Absorb counts
// (normalized, non-empty, at least min_chars long), row by row, in order.
func (g *Paragraph) UnitHashes(rec arrow.Record, fn func(row int, h uint64)) {
	g.eachUnitHash(rec, func(row int, h uint64) error {
		fn(row, h)
		return nil
	})
}

// KeepFirst reports whether the stage keeps the first occurrence (in input
// order) of each repeated unit, and MaxRepeats how many occurrences a unit
// may have in the corpus before it is removed.
func (g *Paragraph) KeepFirst() bool { return g.keepFirst }

// MaxRepeats is the max_repeats parameter.
func (g *Paragraph) MaxRepeats() int { return g.maxRepeats }

// RemoveRepeated is Emit's removal applied to one batch: repeated holds the
// hashes of the batch's units occurring more than max_repeats times in the
// corpus, firstHere (same length) whether the corpus's first occurrence of
// each is in this batch (then, with keep_first, that occurrence is kept, as
// Emit keeps it). emit gets the batch's rows as Emit sends them: texts
// edited, paragraphs_removed (and with annotate_only paragraph_drop) added,
// emptied documents left out, in contiguous runs. rec is borrowed.
func (g *Paragraph) RemoveRepeated(rec arrow.Record, repeated []uint64, firstHere []bool, emit func(arrow.Record) error) error {
	if len(firstHere) != len(repeated) {
		return errors.New("dedup.paragraph: RemoveRepeated: one firstHere per hash")
	}
	idx := make([]int, len(repeated))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(repeated[a], repeated[b]) })
	hashes, seen := make([]uint64, len(idx)), make([]bool, len(idx))
	for k, i := range idx {
		hashes[k], seen[k] = repeated[i], !firstHere[i]
	}
	return g.emitRecord(rec, hashes, seen, emit)
}
