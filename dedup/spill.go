package dedup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"golang.org/x/exp/mmap"
)

// key is a 128-bit index key: an exact-dedup text hash, or an LSH band
// number and band hash.
type key struct{ hi, lo uint64 }

func (k key) cmp(o key) int {
	switch {
	case k.hi < o.hi:
		return -1
	case k.hi > o.hi:
		return 1
	case k.lo < o.lo:
		return -1
	case k.lo > o.lo:
		return 1
	}
	return 0
}

// entry maps a key to a document's index within its segment.
type entry struct {
	k key
	v uint32
}

const (
	entrySize  = 20  // hi, lo, v little-endian
	fenceEvery = 128 // entries per block; one fence key in RAM per block
)

// idArena holds document ids back to back; it costs 4 bytes per id plus
// the id itself.
type idArena struct {
	data []byte
	ends []uint32
}

func (a *idArena) add(id string) {
	a.data = append(a.data, id...)
	a.ends = append(a.ends, uint32(len(a.data)))
}

func (a *idArena) get(i int) string {
	start := uint32(0)
	if i > 0 {
		start = a.ends[i-1]
	}
	return string(a.data[start:a.ends[i]])
}

func (a *idArena) len() int { return len(a.ends) }

func (a *idArena) footprint() int64 { return int64(cap(a.data) + 4*cap(a.ends)) }

// segmentFile is an index segment spilled to a local temporary file when
// the in-RAM index outgrew the memory budget. It holds the segment's
// per-document payload (b-bit signatures; none for exact dedup), its ids and
// its key entries sorted by key; only one fence key per 128 entries stays
// in RAM. The file is removed by close.
//
// Layout: payload (n*payloadLen) | id ends (n*uint32) | id bytes | entries.
type segmentFile struct {
	f          readAtCloser // the file, memory-mapped: lookups make no system call
	path       string
	base       uint32 // run-wide number of the segment's first document
	n          int
	payloadLen int
	endsOff    int64
	idsOff     int64
	entOff     int64
	nEnt       int64
	fence      []key
}

type readAtCloser interface {
	io.ReaderAt
	io.Closer
}

// writeSegment spills a segment to a new file in dir. entries is sorted in
// place.
func writeSegment(dir string, base uint32, payloadLen int, payload []byte, ids *idArena, entries []entry) (*segmentFile, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "dedup-segment-*.bin")
	if err != nil {
		return nil, fmt.Errorf("spilling dedup index: %w", err)
	}
	s := &segmentFile{f: f, path: f.Name(), base: base, n: ids.len(), payloadLen: payloadLen}
	fail := func(err error) (*segmentFile, error) {
		if s.f != nil {
			s.close()
		}
		return nil, fmt.Errorf("spilling dedup index to %s: %w", s.path, err)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := a.k.cmp(b.k); c != 0 {
			return c
		}
		return int(a.v) - int(b.v)
	})
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(payload[:s.n*payloadLen]); err != nil {
		return fail(err)
	}
	s.endsOff = int64(s.n * payloadLen)
	var b [entrySize]byte
	for _, e := range ids.ends {
		binary.LittleEndian.PutUint32(b[:4], e)
		w.Write(b[:4])
	}
	s.idsOff = s.endsOff + int64(4*s.n)
	w.Write(ids.data)
	s.entOff = s.idsOff + int64(len(ids.data))
	s.nEnt = int64(len(entries))
	s.fence = make([]key, 0, len(entries)/fenceEvery+1)
	for i, e := range entries {
		if i%fenceEvery == 0 {
			s.fence = append(s.fence, e.k)
		}
		binary.LittleEndian.PutUint64(b[0:], e.k.hi)
		binary.LittleEndian.PutUint64(b[8:], e.k.lo)
		binary.LittleEndian.PutUint32(b[16:], e.v)
		if _, err := w.Write(b[:]); err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		s.f = nil
		os.Remove(s.path)
		return fail(err)
	}
	m, err := mmap.Open(s.path)
	if err != nil {
		s.f = nil
		os.Remove(s.path)
		return fail(err)
	}
	s.f = m
	return s, nil
}

// payload reads document i's payload into buf.
func (s *segmentFile) payload(i int, buf []byte) error {
	_, err := s.f.ReadAt(buf[:s.payloadLen], int64(i*s.payloadLen))
	if err != nil {
		return fmt.Errorf("reading spilled dedup index %s: %w", s.path, err)
	}
	return nil
}

// id reads document i's id.
func (s *segmentFile) id(i int) (string, error) {
	var b [8]byte
	var start, end uint32
	if i == 0 {
		if _, err := s.f.ReadAt(b[:4], s.endsOff); err != nil {
			return "", fmt.Errorf("reading spilled dedup index %s: %w", s.path, err)
		}
		end = binary.LittleEndian.Uint32(b[:4])
	} else {
		if _, err := s.f.ReadAt(b[:8], s.endsOff+int64(4*(i-1))); err != nil {
			return "", fmt.Errorf("reading spilled dedup index %s: %w", s.path, err)
		}
		start, end = binary.LittleEndian.Uint32(b[:4]), binary.LittleEndian.Uint32(b[4:])
	}
	buf := make([]byte, end-start)
	if _, err := s.f.ReadAt(buf, s.idsOff+int64(start)); err != nil {
		return "", fmt.Errorf("reading spilled dedup index %s: %w", s.path, err)
	}
	return string(buf), nil
}

// lookup calls fn with the document index of every entry equal to k, in
// ascending order, until fn returns false. The fence narrows the search to
// two blocks, a binary search finds the first entry >= k, and entries are
// read one by one from there: a lookup copies tens of bytes, not blocks.
func (s *segmentFile) lookup(k key, fn func(v uint32) bool) error {
	nb := len(s.fence)
	j := sort.Search(nb, func(i int) bool { return s.fence[i].cmp(k) >= 0 })
	lo := int64(max(j-1, 0)) * fenceEvery
	hi := min(int64(j)*fenceEvery+1, s.nEnt)
	var b [entrySize]byte
	var rerr error
	at := func(i int64) (key, uint32) {
		if _, err := s.f.ReadAt(b[:], s.entOff+i*entrySize); err != nil && rerr == nil {
			rerr = fmt.Errorf("reading spilled dedup index %s: %w", s.path, err)
		}
		return key{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}, binary.LittleEndian.Uint32(b[16:])
	}
	for lo < hi { // first entry >= k in [lo, hi)
		mid := lo + (hi-lo)/2
		if e, _ := at(mid); e.cmp(k) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo; i < s.nEnt && rerr == nil; i++ {
		e, v := at(i)
		if e != k || !fn(v) {
			break
		}
	}
	return rerr
}

// ramBytes is what the segment keeps in RAM: its fence keys.
func (s *segmentFile) ramBytes() int64 { return int64(cap(s.fence)) * 16 }

func (s *segmentFile) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	if rerr := os.Remove(s.path); err == nil && rerr != nil && !os.IsNotExist(rerr) {
		err = rerr
	}
	s.f = nil
	return err
}

// tempDir returns dir, or a new private folder when dir is empty (tests and
// programmatic use); cleanup removes what tempDir created.
func tempDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "curate-dedup-")
	if err != nil {
		return "", nil, fmt.Errorf("dedup: creating a spill folder: %w", err)
	}
	return d, func() { os.RemoveAll(filepath.Clean(d)) }, nil
}

// scan calls fn with every entry in key order.
func (s *segmentFile) scan(fn func(k key, v uint32)) error {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.entOff, s.nEnt*entrySize), 1<<16)
	var b [entrySize]byte
	for i := int64(0); i < s.nEnt; i++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return fmt.Errorf("reading spilled dedup index %s: %w", s.path, err)
		}
		fn(key{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}, binary.LittleEndian.Uint32(b[16:]))
	}
	return nil
}
