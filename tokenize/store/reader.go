package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/curatehq/curate/pipelines/storage"
)

// Store is an open token store. Local shards are memory-mapped; a remote
// store (s3://) is read into memory, so trainers copy big remote stores to
// a local cache first. A Store is safe for concurrent reads; Close must not
// race with them.
type Store struct {
	dir       string
	m         Manifest
	shards    []openShard
	tokenizer []byte
	unmap     []func() error
	closed    bool
}

type openShard struct {
	name       string
	bin        []byte
	idx        index
	firstDoc   int64
	firstToken int64
	tokens     int64
}

// Open opens the store in dir: it reads the manifest and maps every shard,
// checking each index against its .bin and the manifest (lengths, pointers,
// counts), so that Doc and Window never meet an inconsistent shard.
// Checksums are Verify's job.
func Open(dir string) (*Store, error) {
	ctx := context.Background()
	dir = strings.TrimRight(dir, "/")
	m, err := ReadManifest(ctx, dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, m: m}
	var docs, toks int64
	for _, sh := range m.Shards {
		bin, err := s.load(ctx, sh.Bin())
		if err != nil {
			s.Close()
			return nil, err
		}
		ib, err := s.load(ctx, sh.Idx())
		if err != nil {
			s.Close()
			return nil, err
		}
		x, err := checkShard(m, sh, bin, ib)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: %s: %w", dir, err)
		}
		s.shards = append(s.shards, openShard{name: sh.Name, bin: bin, idx: x, firstDoc: docs, firstToken: toks, tokens: sh.Tokens})
		docs += sh.Documents
		toks += sh.Tokens
	}
	if m.TokenizerFile != "" {
		b, err := storage.ReadFile(ctx, storage.Join(dir, m.TokenizerFile))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: %s: tokenizer: %w", dir, err)
		}
		s.tokenizer = b
	}
	return s, nil
}

// load maps a local file or reads a remote one.
func (s *Store) load(ctx context.Context, name string) ([]byte, error) {
	p := storage.Join(s.dir, name)
	if storage.Scheme(p) == "" {
		b, unmap, err := mapFile(p)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		s.unmap = append(s.unmap, unmap)
		return b, nil
	}
	b, err := storage.ReadFile(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return b, nil
}

// checkShard checks one shard's index against its .bin and manifest entry.
// Faults name the file and byte offset.
func checkShard(m Manifest, sh Shard, bin, ib []byte) (index, error) {
	if int64(len(bin)) != sh.Bytes {
		return index{}, &Fault{File: sh.Bin(), Offset: min(int64(len(bin)), sh.Bytes),
			Problem: fmt.Sprintf("file is %d bytes, the manifest says %d", len(bin), sh.Bytes)}
	}
	x, err := parseIndex(ib)
	if err != nil {
		var f *Fault
		if errors.As(err, &f) {
			f.File = sh.Idx()
		}
		return index{}, err
	}
	if fault := scanIndex(x, m.DType, sh, int64(len(bin))); fault != nil {
		return index{}, fault
	}
	return x, nil
}

// scanIndex checks an index's arrays: its type and counts match the
// manifest, sizes are non-negative, pointers are the running byte offsets
// (documents back to back), the document index is 0..n, and the sizes add
// up to the .bin.
func scanIndex(x index, dt DType, sh Shard, binBytes int64) *Fault {
	fault := func(off int64, format string, args ...any) *Fault {
		return &Fault{File: sh.Idx(), Offset: off, Problem: fmt.Sprintf(format, args...)}
	}
	if x.dtype != dt {
		return fault(int64(offDType), "dtype %s, the manifest says %s", x.dtype, dt)
	}
	if x.n != sh.Documents {
		return fault(int64(offSeqs), "%d sequences, the manifest says %d documents", x.n, sh.Documents)
	}
	width := int64(dt.Size())
	var ptr int64
	for i := int64(0); i < x.n; i++ {
		size := x.size(i)
		if size < 0 {
			return fault(x.sizeOff(i), "sequence %d has negative length %d", i, size)
		}
		if p := x.pointer(i); p != ptr {
			return fault(x.pointerOff(i), "sequence %d starts at byte %d, want %d (the end of the one before)", i, p, ptr)
		}
		ptr += int64(size) * width
		if ptr > binBytes {
			return fault(x.sizeOff(i), "sequence %d ends at byte %d, past the end of %s (%d bytes)", i, ptr, sh.Bin(), binBytes)
		}
	}
	for i := int64(0); i <= x.n; i++ {
		if d := x.docIdx(i); d != i {
			return fault(x.docIdxOff(i), "document index entry %d is %d, want %d", i, d, i)
		}
	}
	if ptr != binBytes {
		return fault(int64(offSizes), "sequences add up to %d bytes, %s has %d", ptr, sh.Bin(), binBytes)
	}
	return nil
}

// Manifest returns the store's manifest.
func (s *Store) Manifest() Manifest { return s.m }

// Dir returns the folder the store was opened from.
func (s *Store) Dir() string { return s.dir }

// NumTokens returns the tokens in the store, end-of-text tokens included.
func (s *Store) NumTokens() int64 { return s.m.Tokens }

// NumDocs returns the documents in the store.
func (s *Store) NumDocs() int64 { return s.m.Documents }

// Tokenizer returns the saved tokenizer.json bytes, or nil when the store
// has none. The caller must not modify them.
func (s *Store) Tokenizer() []byte { return s.tokenizer }

// DocRange returns where document i lies in store order: its first token
// and its length (end-of-text included). ok is false when i is out of range.
func (s *Store) DocRange(i int64) (start, n int64, ok bool) {
	if i < 0 || i >= s.m.Documents || s.closed {
		return 0, 0, false
	}
	k := sort.Search(len(s.shards), func(k int) bool { return s.shards[k].firstDoc+s.shards[k].idx.n > i })
	sh := &s.shards[k]
	j := i - sh.firstDoc
	return sh.firstToken + sh.idx.pointer(j)/int64(s.m.DType.Size()), int64(sh.idx.size(j)), true
}

// Doc returns a copy of document i's tokens (end-of-text included), or nil
// when i is out of range.
func (s *Store) Doc(i int64) []int32 {
	start, n, ok := s.DocRange(i)
	if !ok {
		return nil
	}
	out := make([]int32, n)
	if err := s.Window(out, start); err != nil {
		return nil // unreachable: Open checked every range
	}
	return out
}

// Window fills dst with the tokens [start, start+len(dst)) in store order,
// across shard boundaries.
func (s *Store) Window(dst []int32, start int64) error {
	end := start + int64(len(dst))
	if s.closed {
		return errors.New("store: window of a closed store")
	}
	if start < 0 || end > s.m.Tokens || end < start {
		return fmt.Errorf("store: window [%d, %d) is outside the store's %d tokens", start, end, s.m.Tokens)
	}
	k := sort.Search(len(s.shards), func(k int) bool { return s.shards[k].firstToken+s.shards[k].tokens > start })
	for len(dst) > 0 {
		sh := &s.shards[k]
		off := start - sh.firstToken
		n := min(int64(len(dst)), sh.tokens-off)
		unpackTokens(dst[:n], sh.bin, off, s.m.DType)
		dst = dst[n:]
		start += n
		k++
	}
	return nil
}

// unpackTokens decodes len(dst) tokens of bin starting at token off.
func unpackTokens(dst []int32, bin []byte, off int64, dt DType) {
	if dt == Uint16 {
		b := bin[2*off : 2*off+2*int64(len(dst))]
		for i := range dst {
			dst[i] = int32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return
	}
	b := bin[4*off : 4*off+4*int64(len(dst))]
	for i := range dst {
		dst[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// Close unmaps the shards; Doc and Window then fail.
func (s *Store) Close() error {
	var errs []error
	for _, u := range s.unmap {
		errs = append(errs, u())
	}
	s.unmap = nil
	s.shards = nil
	s.closed = true
	return errors.Join(errs...)
}
