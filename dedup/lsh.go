package dedup

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/zeebo/xxh3"

	"github.com/curatehq/curate/dedup/minhash"
	"github.com/curatehq/curate/pipelines"
)

// lshIndex is the streaming near-duplicate index of dedup.minhash: every
// document's b-bit signature (one byte per permutation), banded for LSH.
//
// In RAM a document costs perms bytes of signature, 4 bytes per band of
// chain link, at most 2 bytes per band of bucket heads (one head per 4
// documents on average; the table doubles when chains average 4) and 4
// bytes plus its id for dup_of: with the defaults (112 permutations, 14
// bands) at most 112 + 56 + 28 + 4 = 200 bytes plus the id (bytesPerDoc).
// Band buckets are found by hashing the band's signature bytes, and chain
// members are checked against those bytes, so no band key is stored.
//
// When the memory budget refuses more, the RAM segment is written to a
// local file (segmentFile) and a new one starts; queries then also search
// the spilled segments, oldest first. Queries return the earliest verified
// match, so the result does not depend on the budget.
//
// With verify: shingles, candidates (documents sharing a band) are
// verified instead by the exact Jaccard of their shingle sets, which sets
// keeps on disk (8 more bytes of RAM per document).
//
// Not safe for concurrent use: the stage calls it from Sequence only.
type lshIndex struct {
	perms, bands, rows int
	minEqual           int
	threshold          float64
	dir                string
	budget             *pipelines.Budget
	sets               *shingleStore // nil unless verify: shingles
	cands, other       []uint32

	total   uint32 // documents indexed, run-wide numbering
	spilled []*segmentFile
	ram     lshSegment

	reserved int64
	scratch  []byte
}

// lshSegment is the RAM part of the index.
type lshSegment struct {
	base  uint32
	sigs  []byte
	ids   idArena
	next  []uint32   // n*bands: 1 + the next document in the band's chain, 0 ends it
	heads [][]uint32 // per band: 1 + the newest document of each bucket
	shift uint       // bucket = hash >> shift
}

// bytesPerDoc is the RAM cost of one indexed document, its id excluded.
func bytesPerDoc(perms, bands int) int64 { return int64(perms + 4*bands + 2*bands + 4) }

const minSegmentDocs = 1024 // never spill a segment smaller than this

func newLSHIndex(perms, bands int, threshold float64, shingles bool, dir string, budget *pipelines.Budget) *lshIndex {
	ix := &lshIndex{perms: perms, bands: bands, rows: perms / bands,
		minEqual: minhash.MinEqual(perms, threshold), threshold: threshold, dir: dir, budget: budget,
		scratch: make([]byte, perms)}
	if shingles {
		ix.sets = newShingleStore(dir)
	}
	ix.resetRAM()
	return ix
}

func (ix *lshIndex) resetRAM() {
	ix.ram = lshSegment{base: ix.total, heads: make([][]uint32, ix.bands), shift: 64 - 8}
	for b := range ix.ram.heads {
		ix.ram.heads[b] = make([]uint32, 1<<8)
	}
}

func (ix *lshIndex) band(sig []byte, b int) []byte { return sig[b*ix.rows : (b+1)*ix.rows] }

func bandHash(band []byte) uint64 {
	if len(band) == 8 {
		x := binary.LittleEndian.Uint64(band)
		x ^= x >> 31
		x *= 0x9E3779B97F4A7C15
		return x ^ x>>29
	}
	return xxh3.Hash(band)
}

// query returns the run-wide number of the earliest indexed document whose
// signature agrees with sig in at least minEqual positions among those
// sharing a band with it; with verify: shingles, the earliest of those
// whose shingle set has Jaccard >= threshold with set instead.
func (ix *lshIndex) query(sig []byte, set []uint32) (uint32, bool, error) {
	if ix.sets != nil {
		return ix.queryShingles(sig, set)
	}
	for _, s := range ix.spilled {
		best, found := uint32(0), false
		for b := 0; b < ix.bands; b++ {
			k := key{uint64(b), bandHash(ix.band(sig, b))}
			var rerr error
			err := s.lookup(k, func(v uint32) bool {
				if found && v >= best {
					return false // entries ascend: nothing earlier follows
				}
				if rerr = s.payload(int(v), ix.scratch); rerr != nil {
					return false
				}
				if minhash.Equal(sig, ix.scratch) >= ix.minEqual {
					best, found = v, true
					return false
				}
				return true
			})
			if err == nil {
				err = rerr
			}
			if err != nil {
				return 0, false, err
			}
		}
		if found {
			return s.base + best, true, nil
		}
	}
	r := &ix.ram
	best, found := uint32(0), false
	for b := 0; b < ix.bands; b++ {
		band := ix.band(sig, b)
		for d := r.heads[b][bandHash(band)>>r.shift]; d != 0; d = r.next[int(d-1)*ix.bands+b] {
			j := d - 1
			if found && j >= best {
				continue
			}
			other := r.sigs[int(j)*ix.perms : int(j+1)*ix.perms]
			if !bytes.Equal(ix.band(other, b), band) {
				continue
			}
			if minhash.Equal(sig, other) >= ix.minEqual {
				best, found = j, true
			}
		}
	}
	return r.base + best, found, nil
}

// queryShingles is query for verify: shingles: the candidates of each
// spilled segment, oldest first, then of the RAM segment are verified in
// document order until one passes.
func (ix *lshIndex) queryShingles(sig []byte, set []uint32) (uint32, bool, error) {
	for _, s := range ix.spilled {
		c := ix.cands[:0]
		for b := 0; b < ix.bands; b++ {
			k := key{uint64(b), bandHash(ix.band(sig, b))}
			if err := s.lookup(k, func(v uint32) bool { c = append(c, s.base+v); return true }); err != nil {
				return 0, false, err
			}
		}
		ix.cands = c
		if n, found, err := ix.verifyEarliest(set); err != nil || found {
			return n, found, err
		}
	}
	r := &ix.ram
	c := ix.cands[:0]
	for b := 0; b < ix.bands; b++ {
		band := ix.band(sig, b)
		for d := r.heads[b][bandHash(band)>>r.shift]; d != 0; d = r.next[int(d-1)*ix.bands+b] {
			j := d - 1
			if bytes.Equal(ix.band(r.sigs[int(j)*ix.perms:int(j+1)*ix.perms], b), band) {
				c = append(c, r.base+j)
			}
		}
	}
	ix.cands = c
	return ix.verifyEarliest(set)
}

// verifyEarliest returns the earliest of ix.cands whose shingle set has
// Jaccard >= threshold with set; a candidate whose set size alone rules it
// out is not read.
func (ix *lshIndex) verifyEarliest(set []uint32) (uint32, bool, error) {
	slices.Sort(ix.cands)
	for _, n := range slices.Compact(ix.cands) {
		if !sizesAllow(len(set), ix.sets.size(n), ix.threshold) {
			continue
		}
		other, err := ix.sets.get(n, ix.other)
		if err != nil {
			return 0, false, err
		}
		ix.other = other
		if jaccardAtLeast(set, other, ix.threshold) {
			return n, true, nil
		}
	}
	return 0, false, nil
}

// id returns the id of the document numbered n.
func (ix *lshIndex) id(n uint32) (string, error) {
	if n >= ix.ram.base {
		return ix.ram.ids.get(int(n - ix.ram.base)), nil
	}
	for _, s := range ix.spilled {
		if n < s.base+uint32(s.n) {
			return s.id(int(n - s.base))
		}
	}
	return "", nil
}

// insert adds a document; it spills the RAM segment first when the budget
// refuses the memory it needs.
// With verify: shingles, set is the document's shingle set.
func (ix *lshIndex) insert(sig []byte, id string, set []uint32) error {
	if ix.sets != nil {
		if err := ix.sets.add(set); err != nil {
			return err
		}
	}
	r := &ix.ram
	n := r.ids.len()
	r.sigs = append(r.sigs, sig...)
	r.ids.add(id)
	for b := 0; b < ix.bands; b++ {
		h := bandHash(ix.band(sig, b)) >> r.shift
		r.next = append(r.next, r.heads[b][h])
		r.heads[b][h] = uint32(n + 1)
	}
	ix.total++
	if n+1 > 4*len(r.heads[0]) {
		ix.grow()
	}
	return ix.account()
}

// grow doubles the bucket tables and relinks the chains, newest first.
func (ix *lshIndex) grow() {
	r := &ix.ram
	size := 2 * len(r.heads[0])
	r.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for b := range r.heads {
		r.heads[b] = make([]uint32, size)
	}
	for j := 0; j < r.ids.len(); j++ {
		sig := r.sigs[j*ix.perms : (j+1)*ix.perms]
		for b := 0; b < ix.bands; b++ {
			h := bandHash(ix.band(sig, b)) >> r.shift
			r.next[j*ix.bands+b] = r.heads[b][h]
			r.heads[b][h] = uint32(j + 1)
		}
	}
}

func (ix *lshIndex) footprint() int64 {
	r := &ix.ram
	fp := int64(cap(r.sigs)) + 4*int64(cap(r.next)) + r.ids.footprint()
	for _, h := range r.heads {
		fp += 4 * int64(cap(h))
	}
	for _, s := range ix.spilled {
		fp += s.ramBytes()
	}
	if ix.sets != nil {
		fp += shingleStoreBytesPerDoc * int64(cap(ix.sets.ends))
	}
	return fp
}

// account reserves what the index grew by, spilling when refused.
func (ix *lshIndex) account() error {
	need := ix.footprint() - ix.reserved
	if need <= 0 {
		return nil
	}
	need = (need + 1<<20 - 1) &^ (1<<20 - 1) // reserve whole MiBs
	if ix.budget.TryReserve(need) {
		ix.reserved += need
		return nil
	}
	if ix.ram.ids.len() < minSegmentDocs {
		return nil // over budget, but too small to be worth a file
	}
	return ix.spill()
}

// spill writes the RAM segment to a file and starts an empty one.
func (ix *lshIndex) spill() error {
	r := &ix.ram
	n := r.ids.len()
	entries := make([]entry, 0, n*ix.bands)
	for j := 0; j < n; j++ {
		sig := r.sigs[j*ix.perms : (j+1)*ix.perms]
		for b := 0; b < ix.bands; b++ {
			entries = append(entries, entry{key{uint64(b), bandHash(ix.band(sig, b))}, uint32(j)})
		}
	}
	s, err := writeSegment(ix.dir, r.base, ix.perms, r.sigs, &r.ids, entries)
	if err != nil {
		return err
	}
	ix.spilled = append(ix.spilled, s)
	ix.resetRAM()
	ix.budget.Release(ix.reserved)
	ix.reserved = 0
	return ix.account()
}

// each calls fn with every indexed document in order (for saving).
func (ix *lshIndex) each(fn func(sig []byte, id string) error) error {
	buf := make([]byte, ix.perms)
	for _, s := range ix.spilled {
		for j := 0; j < s.n; j++ {
			if err := s.payload(j, buf); err != nil {
				return err
			}
			id, err := s.id(j)
			if err != nil {
				return err
			}
			if err := fn(buf, id); err != nil {
				return err
			}
		}
	}
	r := &ix.ram
	for j := 0; j < r.ids.len(); j++ {
		if err := fn(r.sigs[j*ix.perms:(j+1)*ix.perms], r.ids.get(j)); err != nil {
			return err
		}
	}
	return nil
}

// close removes the spill files and gives the memory back.
func (ix *lshIndex) close() error {
	var first error
	for _, s := range ix.spilled {
		if err := s.close(); err != nil && first == nil {
			first = err
		}
	}
	ix.spilled = nil
	if ix.sets != nil {
		if err := ix.sets.close(); err != nil && first == nil {
			first = err
		}
	}
	ix.total = 0
	ix.resetRAM()
	ix.budget.Release(ix.reserved)
	ix.reserved = 0
	return first
}
