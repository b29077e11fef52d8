package spill

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// Sorter is an external sort of fixed-size entries under a memory budget.
//
// Each entry is KeyLen key bytes followed by ValLen value bytes; keys compare
// as byte strings (encode numbers big-endian, see PutOrderedFloat), and equal
// keys keep their insertion order. Add copies the entry into a buffer whose
// bytes are reserved from the budget in steps; when a reservation fails the
// buffer is sorted and written as a run file and reused, so the sorter holds
// at most its reservation plus a small floor of minEntries entries. Iter
// merges the runs and the buffer. Adds end at the first Iter; Iter may be
// called again for another pass. Close removes the run files and gives the
// reservation back.
type Sorter struct {
	dir      *folder
	keyLen   int
	entLen   int
	budget   *pipelines.Budget
	reserved int64
	buf      []byte
	order    []uint32 // sorted entry indexes of buf, set by Iter
	runs     []string
	n        int64
	frozen   bool
}

const (
	reserveStep = 1 << 20 // bytes reserved from the budget at a time
	minEntries  = 256     // entries held even when the budget grants nothing
	fanIn       = 64      // runs merged at once; more runs are merged in rounds
	ioBuf       = 64 << 10
)

// NewSorter returns a sorter of entries with keyLen key bytes and valLen
// value bytes whose run files go in a private folder under dir (the
// system's temporary folder when dir is ""). budget may be nil (unbounded).
func NewSorter(dir string, keyLen, valLen int, budget *pipelines.Budget) (*Sorter, error) {
	if keyLen < 0 || valLen < 0 || keyLen+valLen == 0 {
		return nil, fmt.Errorf("spill: sorter entries of %d key and %d value bytes", keyLen, valLen)
	}
	f, err := newFolder(dir, "sort-")
	if err != nil {
		return nil, err
	}
	return &Sorter{dir: f, keyLen: keyLen, entLen: keyLen + valLen, budget: budget}, nil
}

// Len returns the number of entries added.
func (s *Sorter) Len() int64 { return s.n }

// Runs returns how many run files the sorter has written so far.
func (s *Sorter) Runs() int { return len(s.runs) }

// Add appends one entry; key and val must have the sorter's lengths.
func (s *Sorter) Add(ctx context.Context, key, val []byte) error {
	if s.frozen {
		return errors.New("spill: Sorter.Add after Iter")
	}
	if len(key) != s.keyLen || len(key)+len(val) != s.entLen {
		return fmt.Errorf("spill: sorter entry of %d+%d bytes, want %d+%d", len(key), len(val), s.keyLen, s.entLen-s.keyLen)
	}
	if len(s.buf)+s.entLen > cap(s.buf) {
		if err := s.grow(ctx); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, key...)
	s.buf = append(s.buf, val...)
	s.n++
	return nil
}

// grow makes room for one more entry: a larger reservation if the budget
// grants it, else a run file.
func (s *Sorter) grow(ctx context.Context) error {
	floor := int64(minEntries * s.entLen)
	c := int64(cap(s.buf))
	// Doubling keeps the copying linear; a single step is the fallback.
	for _, want := range []int64{max(2*c, reserveStep, floor), max(c+reserveStep, floor)} {
		if want <= s.reserved || s.budget.TryReserve(want-s.reserved) {
			s.reserved = max(s.reserved, want)
			nb := make([]byte, len(s.buf), want)
			copy(nb, s.buf)
			s.buf = nb
			return nil
		}
	}
	if len(s.buf) == 0 { // nothing to spill: work within the floor
		s.buf = make([]byte, 0, max(floor, s.reserved))
		return nil
	}
	return s.spillRun(ctx)
}

// sortBuf sorts the buffered entries' indexes by key, ties by index. Keys
// are compared by an 8-byte big-endian prefix first, which decides almost
// every comparison without touching the buffer.
func (s *Sorter) sortBuf() []uint32 {
	n := len(s.buf) / s.entLen
	idx := make([]uint32, n)
	if s.keyLen == 0 {
		for i := range idx {
			idx[i] = uint32(i)
		}
		return idx
	}
	k, e := s.keyLen, s.entLen
	ents := make([]sortEnt, n)
	var pre [8]byte
	for i := range ents {
		clear(pre[:])
		copy(pre[:], s.buf[i*e:i*e+min(k, 8)])
		ents[i] = sortEnt{pre: binary.BigEndian.Uint64(pre[:]), idx: uint32(i)}
	}
	slices.SortFunc(ents, func(a, b sortEnt) int {
		if a.pre != b.pre {
			if a.pre < b.pre {
				return -1
			}
			return 1
		}
		if k > 8 {
			ai, bi := int(a.idx)*e, int(b.idx)*e
			if c := bytes.Compare(s.buf[ai+8:ai+k], s.buf[bi+8:bi+k]); c != 0 {
				return c
			}
		}
		return int(a.idx) - int(b.idx)
	})
	for i, x := range ents {
		idx[i] = x.idx
	}
	return idx
}

type sortEnt struct {
	pre uint64
	idx uint32
}

func (s *Sorter) spillRun(ctx context.Context) error {
	idx := s.sortBuf()
	path := s.dir.next("run")
	w, err := s.dir.create(ctx, path)
	if err != nil {
		return fmt.Errorf("spill: sorter run: %w", err)
	}
	defer w.Abort()
	bw := bufio.NewWriterSize(w, ioBuf)
	for _, i := range idx {
		bw.Write(s.buf[int(i)*s.entLen : int(i+1)*s.entLen])
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("spill: sorter run %s: %w", path, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("spill: sorter run %s: %w", path, err)
	}
	s.runs = append(s.runs, path)
	s.buf = s.buf[:0]
	return nil
}

// Iter starts a pass over all entries in key order. The caller must Close
// the iterator before calling Iter again or closing the sorter.
func (s *Sorter) Iter(ctx context.Context) (*Iterator, error) {
	if s.dir == nil {
		return nil, errors.New("spill: Sorter.Iter after Close")
	}
	if !s.frozen {
		s.frozen = true
		s.order = s.sortBuf()
		// Too many runs to open at once: merge the oldest in rounds. Runs
		// stay in insertion order, so ties still resolve by insertion.
		for len(s.runs) > fanIn {
			merged, err := s.mergeRuns(ctx, s.runs[:fanIn])
			if err != nil {
				return nil, err
			}
			s.runs = append([]string{merged}, s.runs[fanIn:]...)
		}
	}
	it := &Iterator{entLen: s.entLen, keyLen: s.keyLen}
	for i, p := range s.runs {
		c, err := openRun(ctx, p, s.keyLen, s.entLen, i)
		if err != nil {
			it.Close()
			return nil, err
		}
		it.add(c)
	}
	it.add(&cursor{mem: s.buf, order: s.order, entLen: s.entLen, keyLen: s.keyLen, rank: len(s.runs)})
	heap.Init(&it.h)
	return it, nil
}

func (s *Sorter) mergeRuns(ctx context.Context, paths []string) (string, error) {
	it := &Iterator{entLen: s.entLen, keyLen: s.keyLen}
	defer it.Close()
	for i, p := range paths {
		c, err := openRun(ctx, p, s.keyLen, s.entLen, i)
		if err != nil {
			return "", err
		}
		it.add(c)
	}
	heap.Init(&it.h)
	out := s.dir.next("run")
	w, err := s.dir.create(ctx, out)
	if err != nil {
		return "", fmt.Errorf("spill: sorter merge: %w", err)
	}
	defer w.Abort()
	bw := bufio.NewWriterSize(w, ioBuf)
	for it.Next() {
		bw.Write(it.cur)
	}
	if err := it.Err(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("spill: sorter merge %s: %w", out, err)
	}
	if err := w.Commit(); err != nil {
		return "", fmt.Errorf("spill: sorter merge %s: %w", out, err)
	}
	it.Close()
	for _, p := range paths {
		if err := storage.Remove(ctx, p); err != nil {
			return "", fmt.Errorf("spill: %w", err)
		}
	}
	return out, nil
}

// Close removes the run files and releases the reservation.
func (s *Sorter) Close() error {
	if s.dir == nil {
		return nil
	}
	s.budget.Release(s.reserved)
	s.reserved = 0
	s.buf, s.order = nil, nil
	err := s.dir.remove()
	s.dir = nil
	return err
}

// Iterator walks a Sorter's entries in key order.
type Iterator struct {
	h      cursorHeap
	all    []*cursor
	cur    []byte
	last   *cursor
	entLen int
	keyLen int
	err    error
}

func (it *Iterator) add(c *cursor) {
	it.all = append(it.all, c)
	if c.advance() {
		it.h = append(it.h, c)
	} else if c.err != nil && it.err == nil {
		it.err = c.err
	}
}

// Next moves to the next entry and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	if it.last != nil { // advance the cursor the previous entry came from
		top := it.last
		it.last = nil
		if top.advance() {
			heap.Fix(&it.h, 0)
		} else {
			if top.err != nil {
				it.err = top.err
				return false
			}
			heap.Pop(&it.h)
		}
	}
	if len(it.h) == 0 {
		return false
	}
	it.last = it.h[0]
	it.cur = it.last.ent
	return true
}

// Key returns the current entry's key; it is valid until the next Next.
func (it *Iterator) Key() []byte { return it.cur[:it.keyLen] }

// Value returns the current entry's value; it is valid until the next Next.
func (it *Iterator) Value() []byte { return it.cur[it.keyLen:] }

// Err returns the first read error.
func (it *Iterator) Err() error { return it.err }

// Close closes the run files.
func (it *Iterator) Close() error {
	for _, c := range it.all {
		if c.f != nil {
			c.f.Close()
			c.f = nil
		}
	}
	it.all, it.h = nil, nil
	return nil
}

// cursor reads one sorted run: a file or the in-memory buffer.
type cursor struct {
	f      storage.File
	r      *bufio.Reader
	path   string
	mem    []byte
	order  []uint32
	pos    int
	entLen int
	keyLen int
	ent    []byte
	rank   int // run order: lower ranks hold earlier insertions
	err    error
}

func openRun(ctx context.Context, path string, keyLen, entLen, rank int) (*cursor, error) {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("spill: sorter run: %w", err)
	}
	return &cursor{f: f, r: bufio.NewReaderSize(f, ioBuf), path: path, entLen: entLen,
		keyLen: keyLen, ent: make([]byte, entLen), rank: rank}, nil
}

func (c *cursor) advance() bool {
	if c.f == nil && c.r == nil {
		if c.pos >= len(c.order) {
			return false
		}
		i := int(c.order[c.pos])
		c.ent = c.mem[i*c.entLen : (i+1)*c.entLen]
		c.pos++
		return true
	}
	if c.r == nil {
		return false
	}
	_, err := io.ReadFull(c.r, c.ent)
	if err == io.EOF {
		return false
	}
	if err != nil {
		c.err = fmt.Errorf("spill: sorter run %s: %w", c.path, err)
		return false
	}
	return true
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	k := h[i].keyLen
	if c := bytes.Compare(h[i].ent[:k], h[j].ent[:k]); c != 0 {
		return c < 0
	}
	return h[i].rank < h[j].rank
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// folder is a private spill folder: a fresh local temporary folder, or a
// prefix under a storage URL. It names the files it hands out and removes
// them all.
type folder struct {
	path  string
	local bool
	files []string
	seq   int
}

func newFolder(dir, prefix string) (*folder, error) {
	if storage.Scheme(dir) == "" {
		p, err := os.MkdirTemp(dir, "curate-"+prefix)
		if err != nil {
			return nil, fmt.Errorf("spill: %w", err)
		}
		return &folder{path: p, local: true}, nil
	}
	return &folder{path: storage.Join(dir, fmt.Sprintf("curate-%s%d", prefix, folderSeq.Add(1)))}, nil
}

var folderSeq atomic.Int64

func (f *folder) next(kind string) string {
	f.seq++
	p := storage.Join(f.path, fmt.Sprintf("%s-%06d", kind, f.seq))
	f.files = append(f.files, p)
	return p
}

// create starts a spill file. Local spill files are scratch: written in
// place and closed on Commit without the sync to disk (and rename) that
// storage.Create does for files that must survive a crash; a crash loses
// the run's temporary folder anyway.
func (f *folder) create(ctx context.Context, path string) (storage.Writer, error) {
	if !f.local {
		return storage.Create(ctx, path)
	}
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &scratchWriter{f: file}, nil
}

type scratchWriter struct {
	f    *os.File
	done bool
}

func (w *scratchWriter) Write(b []byte) (int, error) { return w.f.Write(b) }

func (w *scratchWriter) Commit() error {
	if w.done {
		return fmt.Errorf("commit %s: already finished", w.f.Name())
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("commit %s: %w", w.f.Name(), err)
	}
	return nil
}

func (w *scratchWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

func (f *folder) remove() error {
	if f.local {
		if err := os.RemoveAll(f.path); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		return nil
	}
	var first error
	for _, p := range f.files {
		if err := storage.Remove(context.Background(), p); err != nil && first == nil {
			first = fmt.Errorf("spill: %w", err)
		}
	}
	return first
}
