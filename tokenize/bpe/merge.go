package bpe

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// noRank marks a pair of adjacent tokens that does not merge.
const noRank = ^uint32(0)

// pairTable maps two adjacent token ids to the token they merge into and
// the merge's rank (lower merges first). Pairs are added with put, then
// compact freezes them into an open-addressing hash table of packed 8-byte
// slots (left and right id, merged id: 21 bits each), read without
// locking: one multiply and, usually, one cache line per lookup. When every
// merge's rank is its merged id (tiktoken vocabularies) ranks take no
// space; otherwise a parallel array holds them. Pairs of single bytes, the
// first lookups of every merge, come from a dense 256x256 table.
type pairTable struct {
	pending []pendingPair // pairs put, until compact

	slots []uint64 // key<<idBits | id; emptySlot when free
	ranks []uint32 // rank per slot; nil when every rank is the merged id
	shift uint

	bytePairs []int32  // merged id of two bytes' tokens, or -1
	byteRanks []uint32 // nil when every rank is the merged id
}

type pendingPair struct {
	key  uint64
	rank uint32
	id   int32
}

const (
	idBits    = 21
	idMask    = 1<<idBits - 1
	emptySlot = ^uint64(0)
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<idBits | uint64(uint32(b)) }

func newPairTable(capacity int) pairTable {
	return pairTable{pending: make([]pendingPair, 0, capacity)}
}

// put records that a followed by b merges into id at rank. When a pair is
// put twice its lower rank counts. Ids must be below maxVocab.
func (p *pairTable) put(a, b int32, rank uint32, id int32) {
	p.pending = append(p.pending, pendingPair{pairKey(a, b), rank, id})
}

// compact freezes the pairs put so far into the lookup tables; byteID
// gives the token of each byte.
func (p *pairTable) compact(byteID *[256]int32) {
	size := 16
	for size < 2*len(p.pending) {
		size *= 2
	}
	p.slots = make([]uint64, size)
	for i := range p.slots {
		p.slots[i] = emptySlot
	}
	p.shift = uint(64 - bits.TrailingZeros(uint(size)))
	rankIsID := true
	for _, e := range p.pending {
		if e.rank != uint32(e.id) {
			rankIsID = false
			break
		}
	}
	p.ranks = nil
	if !rankIsID {
		p.ranks = make([]uint32, size)
	}
	mask := uint64(size - 1)
	for _, e := range p.pending {
		i := p.slot(e.key)
		for p.slots[i] != emptySlot && p.slots[i]>>idBits != e.key {
			i = (i + 1) & mask
		}
		if p.slots[i] != emptySlot { // put twice: the lower rank wins
			old := uint32(p.slots[i] & idMask)
			if p.ranks != nil {
				old = p.ranks[i]
			}
			if old <= e.rank {
				continue
			}
		}
		p.slots[i] = e.key<<idBits | uint64(uint32(e.id))&idMask
		if p.ranks != nil {
			p.ranks[i] = e.rank
		}
	}
	p.pending = nil
	p.bytePairs = make([]int32, 1<<16)
	if !rankIsID {
		p.byteRanks = make([]uint32, 1<<16)
	}
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			r, m := p.get(byteID[a], byteID[b])
			p.bytePairs[a<<8|b] = m
			if p.byteRanks != nil {
				p.byteRanks[a<<8|b] = r
			}
		}
	}
}

func (p *pairTable) slot(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> p.shift }

// get returns the rank and merged id of the pair (a, b), or noRank.
func (p *pairTable) get(a, b int32) (uint32, int32) {
	key := pairKey(a, b)
	mask := uint64(len(p.slots) - 1)
	for i := p.slot(key); ; i = (i + 1) & mask {
		s := p.slots[i]
		if s>>idBits == key {
			id := int32(s & idMask)
			if p.ranks == nil {
				return uint32(id), id
			}
			return p.ranks[i], id
		}
		if s == emptySlot {
			return noRank, -1
		}
	}
}

// getBytes returns the merge of the single-byte tokens of a and b.
func (p *pairTable) getBytes(a, b byte) (uint32, int32) {
	i := int(a)<<8 | int(b)
	id := p.bytePairs[i]
	switch {
	case id < 0:
		return noRank, -1
	case p.byteRanks == nil:
		return uint32(id), id
	}
	return p.byteRanks[i], id
}

// Piece cache bounds: pieces longer than maxCachedPiece are merged every
// time (they are rare and would crowd the cache), and a state's cache is
// emptied when it holds maxCacheEntries pieces.
const (
	maxCachedPiece  = 64
	maxCacheEntries = 1 << 16
	cacheKeyBytes   = 1 << 20
	// Pieces up to smallPiece bytes merge by scanning an array for the
	// lowest rank (quadratic but cache-friendly); longer ones use a linked
	// list and a heap.
	smallPiece = 48
	// maxKeptScratch bounds the merge scratch a pooled state keeps, in
	// bytes of piece (about 28 bytes of scratch each).
	maxKeptScratch = 1 << 16
)

// span locates a cached piece's ids in encoderState.arena.
type span struct{ off, n uint32 }

// The hot cache is a small direct-mapped table of short pieces and their
// ids, stored inline so that one lookup touches one cache line and the
// table stays in the core's own cache: the few thousand most frequent
// pieces (" the", " and", "\n", ...) make up most of any text.
const (
	hotBits   = 12
	hotKey    = 16 // longest piece held
	hotMaxIDs = 6
)

type hotEntry struct {
	k0, k1 uint64 // the piece's bytes, zero-padded
	n      uint8  // piece length; 0 marks a free entry
	nids   uint8
	ids    [hotMaxIDs]int32
}

// hotKeyOf loads a piece of at most hotKey bytes as two words and hashes
// them.
func hotKeyOf(piece string) (k0, k1 uint64, slot uint32) {
	var b [hotKey]byte
	copy(b[:], piece)
	k0 = binary.LittleEndian.Uint64(b[:8])
	k1 = binary.LittleEndian.Uint64(b[8:])
	h := (k0^uint64(len(piece)))*0x9E3779B97F4A7C15 ^ k1*0xC2B2AE3D27D4EB4F
	return k0, k1, uint32(h >> (64 - hotBits))
}

// encoderState is one goroutine's scratch space and piece cache. A state is
// used by one Encode call at a time (see statePool).
type encoderState struct {
	hot []hotEntry
	// cache maps pieces to spans of arena. Its keys are copies in keys,
	// never the caller's text, which may be freed once Encode returns.
	cache map[string]span
	arena []int32
	keys  []byte

	// merge scratch
	ids   []int32
	nodes []node
	heap  []uint64

	scratch []int32 // for Count
}

func newEncoderState() *encoderState {
	return &encoderState{hot: make([]hotEntry, 1<<hotBits), cache: make(map[string]span, 1024)}
}

// encodePiece appends the ids of one pre-token.
func (st *encoderState) encodePiece(t *Tokenizer, dst []int32, piece string) []int32 {
	if len(piece) == 1 {
		return append(dst, t.byteID[piece[0]])
	}
	if len(piece) > hotKey {
		return st.encodeSlow(t, dst, piece)
	}
	k0, k1, slot := hotKeyOf(piece)
	e := &st.hot[slot]
	if e.k0 == k0 && e.k1 == k1 && int(e.n) == len(piece) {
		return append(dst, e.ids[:e.nids]...)
	}
	start := len(dst)
	dst = st.encodeSlow(t, dst, piece)
	if n := len(dst) - start; n <= hotMaxIDs {
		e.k0, e.k1, e.n, e.nids = k0, k1, uint8(len(piece)), uint8(n)
		copy(e.ids[:], dst[start:])
	}
	return dst
}

// encodeSlow is encodePiece past the hot cache.
func (st *encoderState) encodeSlow(t *Tokenizer, dst []int32, piece string) []int32 {
	if t.wholePiece {
		if id, ok := t.vocab[piece]; ok {
			return append(dst, id)
		}
	}
	if len(piece) > maxCachedPiece {
		return st.merge(t, dst, piece)
	}
	if s, ok := st.cache[piece]; ok {
		return append(dst, st.arena[s.off:s.off+s.n]...)
	}
	start := len(dst)
	dst = st.merge(t, dst, piece)
	if len(st.cache) >= maxCacheEntries || len(st.keys)+len(piece) > cap(st.keys) {
		clear(st.cache)
		st.arena = st.arena[:0]
		if st.keys == nil {
			st.keys = make([]byte, 0, cacheKeyBytes)
		}
		st.keys = st.keys[:0] // no key points into it any more
	}
	k := len(st.keys)
	st.keys = append(st.keys, piece...) // within capacity: never moves
	key := unsafe.String(&st.keys[k], len(piece))
	st.cache[key] = span{off: uint32(len(st.arena)), n: uint32(len(dst) - start)}
	st.arena = append(st.arena, dst[start:]...)
	return dst
}

// merge appends the BPE merge of piece's bytes: repeatedly merge the
// adjacent pair with the lowest rank, the leftmost one among equals, until
// no pair merges. This is tiktoken's byte_pair_merge and Hugging Face's
// BPE word merge.
func (st *encoderState) merge(t *Tokenizer, dst []int32, piece string) []int32 {
	if len(piece) > smallPiece {
		return st.mergeLong(t, dst, piece)
	}
	// parts on the stack: token id, and the rank and result of merging
	// it with the next part
	var parts [smallPiece]struct {
		id, merged int32
		rank       uint32
	}
	n := len(piece)
	for i := 0; i+1 < n; i++ {
		parts[i].id = t.byteID[piece[i]]
		parts[i].rank, parts[i].merged = t.pairs.getBytes(piece[i], piece[i+1])
	}
	parts[n-1].id, parts[n-1].rank = t.byteID[piece[n-1]], noRank
	for n > 1 {
		best, bi := noRank, -1
		for i := 0; i < n-1; i++ {
			if parts[i].rank < best {
				best, bi = parts[i].rank, i
			}
		}
		if bi < 0 {
			break
		}
		parts[bi].id = parts[bi].merged
		copy(parts[bi+1:n-1], parts[bi+2:n])
		n--
		if bi < n-1 {
			parts[bi].rank, parts[bi].merged = t.pairs.get(parts[bi].id, parts[bi+1].id)
		} else {
			parts[bi].rank = noRank
		}
		if bi > 0 {
			parts[bi-1].rank, parts[bi-1].merged = t.pairs.get(parts[bi-1].id, parts[bi].id)
		}
	}
	for i := 0; i < n; i++ {
		dst = append(dst, parts[i].id)
	}
	return dst
}

// node is one token of a long piece being merged: a doubly linked list in
// byte order, with the rank of merging it with its successor.
type node struct {
	id, merged int32
	prev, next int32 // -1 at the ends; prev == -2 marks a node merged away
	rank       uint32
}

// mergeLong is merge for long pieces (CJK sentences without spaces, long
// runs of punctuation): O(n log n) with a heap of (rank, position) keys and
// lazy deletion of stale entries.
func (st *encoderState) mergeLong(t *Tokenizer, dst []int32, piece string) []int32 {
	n := len(piece)
	if cap(st.nodes) < n {
		st.nodes = make([]node, n)
	}
	nodes := st.nodes[:n]
	h := st.heap[:0]
	for i := 0; i < n; i++ {
		nodes[i] = node{id: t.byteID[piece[i]], prev: int32(i - 1), next: int32(i + 1), rank: noRank}
	}
	nodes[n-1].next = -1
	for i := 0; i+1 < n; i++ {
		r, m := t.pairs.getBytes(piece[i], piece[i+1])
		nodes[i].rank, nodes[i].merged = r, m
		if r != noRank {
			h = append(h, uint64(r)<<32|uint64(i))
		}
	}
	heapInit(h)
	for len(h) > 0 {
		top := h[0]
		h = heapPop(h)
		r, i := uint32(top>>32), int32(uint32(top))
		nd := &nodes[i]
		if nd.prev == -2 || nd.rank != r || nd.next < 0 {
			continue // stale entry
		}
		j := nd.next
		nd.id = nd.merged
		nd.next = nodes[j].next
		nodes[j].prev = -2
		if nd.next >= 0 {
			nodes[nd.next].prev = i
			nd.rank, nd.merged = t.pairs.get(nd.id, nodes[nd.next].id)
			if nd.rank != noRank {
				h = heapPush(h, uint64(nd.rank)<<32|uint64(i))
			}
		} else {
			nd.rank = noRank
		}
		if p := nd.prev; p >= 0 {
			pn := &nodes[p]
			pn.rank, pn.merged = t.pairs.get(pn.id, nd.id)
			if pn.rank != noRank {
				h = heapPush(h, uint64(pn.rank)<<32|uint64(p))
			}
		}
	}
	for i := int32(0); i >= 0; i = nodes[i].next {
		dst = append(dst, nodes[i].id)
	}
	st.heap = h
	if n > maxKeptScratch {
		// a huge piece (megabytes without a break): do not keep its
		// scratch space in the pool
		st.nodes, st.heap = nil, nil
	}
	return dst
}

// A min-heap of uint64 keys; the low 32 bits (position) break rank ties
// towards the leftmost pair.

func heapInit(h []uint64) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapDown(h, i)
	}
}

func heapPush(h []uint64, x uint64) []uint64 {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p] <= h[i] {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func heapPop(h []uint64) []uint64 {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	heapDown(h, 0)
	return h
}

func heapDown(h []uint64, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r] < h[l] {
			m = r
		}
		if h[i] <= h[m] {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
