package dedup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
)

// shingleSet turns a document's 64-bit shingle hashes into its shingle set
// for verify: shingles, appended to dst: the high 32 bits of each hash,
// sorted, without repeats. Two distinct shingles of two documents share
// their 32 bits with probability 2^-32, so the Jaccard of these sets is the
// exact shingle Jaccard but for about one shingle in 4 billion.
func shingleSet(dst []uint32, shingles []uint64) []uint32 {
	start := len(dst)
	for _, h := range shingles {
		dst = append(dst, uint32(h>>32))
	}
	set := dst[start:]
	slices.Sort(set)
	return dst[:start+len(slices.Compact(set))]
}

// jaccardAtLeast reports whether |a∩b| / |a∪b| >= t for two sorted sets
// without repeats.
func jaccardAtLeast(a, b []uint32, t float64) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	if !sizesAllow(len(a), len(b), t) {
		return false
	}
	inter := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			inter++
			i++
			j++
		}
	}
	return float64(inter) >= t*float64(len(a)+len(b)-inter)
}

// sizesAllow reports whether sets of m and n elements can reach Jaccard t:
// J <= min/max.
func sizesAllow(m, n int, t float64) bool {
	return float64(min(m, n)) >= t*float64(max(m, n))
}

// shingleStore keeps the shingle set of every indexed document for verify:
// shingles in a local temporary file, 4 bytes per shingle, appended in
// document order; RAM holds 8 bytes per document (where its set ends).
// Reads of the part not yet flushed flush first. Not safe for concurrent
// use: the stage calls it from Sequence, Snapshot and Restore only.
type shingleStore struct {
	dir     string
	f       *os.File // created at the first add
	w       *bufio.Writer
	ends    []int64 // byte offset where document i's set ends
	flushed int64   // bytes of the file already written out
	buf     []byte
}

// shingleStoreBytesPerDoc is its RAM cost per document.
const shingleStoreBytesPerDoc = 8

func newShingleStore(dir string) *shingleStore { return &shingleStore{dir: dir} }

func (s *shingleStore) end() int64 {
	if len(s.ends) == 0 {
		return 0
	}
	return s.ends[len(s.ends)-1]
}

// size returns the number of shingles of document i.
func (s *shingleStore) size(i uint32) int {
	start := int64(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	return int((s.ends[i] - start) / 4)
}

// add appends the next document's set.
func (s *shingleStore) add(set []uint32) error {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "shingles-*.bin")
		if err != nil {
			return fmt.Errorf("shingle store: %w", err)
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 1<<20)
	}
	s.buf = s.buf[:0]
	for _, x := range set {
		s.buf = binary.LittleEndian.AppendUint32(s.buf, x)
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("shingle store: %w", err)
	}
	s.ends = append(s.ends, s.end()+int64(len(s.buf)))
	return nil
}

// get returns document i's set, appended to dst[:0].
func (s *shingleStore) get(i uint32, dst []uint32) ([]uint32, error) {
	b, err := s.raw(i)
	if err != nil {
		return nil, err
	}
	dst = dst[:0]
	for k := 0; k+4 <= len(b); k += 4 {
		dst = append(dst, binary.LittleEndian.Uint32(b[k:]))
	}
	return dst, nil
}

// raw returns document i's set as stored: little-endian uint32, in a
// buffer of the store valid until its next call.
func (s *shingleStore) raw(i uint32) ([]byte, error) {
	if int(i) >= len(s.ends) {
		return nil, fmt.Errorf("shingle store: no document %d", i)
	}
	start := int64(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	end := s.ends[i]
	if end > s.flushed {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("shingle store: %w", err)
		}
		s.flushed = s.end()
	}
	n := int(end - start)
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := s.f.ReadAt(b, start); err != nil {
		return nil, fmt.Errorf("shingle store: reading document %d: %w", i, err)
	}
	return b, nil
}

// close removes the file; the store is empty and usable again after it.
func (s *shingleStore) close() error {
	s.ends, s.flushed = nil, 0
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	s.f, s.w = nil, nil
	return err
}
