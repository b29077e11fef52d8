package dedup

import (
	"bytes"
	"encoding/binary"
	"math/bits"

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
// Not safe for concurrent use: the stage calls it from Sequence only.
type lshIndex struct {
	perms, bands, rows int
	minEqual           int
	dir                string
	budget             *pipelines.Budget

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

func newLSHIndex(perms, bands int, threshold float64, dir string, budget *pipelines.Budget) *lshIndex {
	ix := &lshIndex{perms: perms, bands: bands, rows: perms / bands,
		minEqual: minhash.MinEqual(perms, threshold), dir: dir, budget: budget,
		scratch: make([]byte, perms)}
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
// sharing a band with it.
func (ix *lshIndex) query(sig []byte) (uint32, bool, error) {
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
func (ix *lshIndex) insert(sig []byte, id string) error {
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
	ix.total = 0
	ix.resetRAM()
	ix.budget.Release(ix.reserved)
	ix.reserved = 0
	return first
}
