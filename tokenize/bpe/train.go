package bpe

import (
	"bufio"
	"compress/gzip"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines/storage"
)

// TrainOptions configure Train.
type TrainOptions struct {
	// VocabSize is the size of the vocabulary to learn, special tokens
	// included: 256 byte tokens, then merges, then the special tokens.
	VocabSize int
	// Specials are the special tokens, given the last ids in this order.
	// Nil means ["<|endoftext|>"]; an empty non-nil slice means none.
	Specials []string
	// Pattern is the pre-tokenizer: "gpt2" (the default) or "cl100k_base".
	Pattern string
	// MinFrequency stops training when the best pair occurs fewer times
	// (default 2).
	MinFrequency int64
	// MaxPieces bounds the distinct pre-tokens counted at once (default
	// 1<<20, about 100 MB): past it the rarest are pruned, so memory stays
	// bounded whatever the corpus size while frequent pieces keep exact
	// counts.
	MaxPieces int
	// TextField is the field holding the text in JSONL inputs (default
	// "text"). Inputs ending in .jsonl (.jsonl.gz, .jsonl.zst) are read as
	// JSON lines, others as plain text; .gz and .zst are decompressed.
	TextField string
	// Name names the tokenizer (default "trained").
	Name string
	// Progress, if set, is called now and then with the statistics so far.
	Progress func(TrainStats)
}

// TrainStats report what Train did.
type TrainStats struct {
	Files     int     `json:"files"`
	Documents int64   `json:"documents"` // JSONL records, or files for plain text
	Bytes     int64   `json:"bytes"`
	Pieces    int64   `json:"pieces"`   // pre-tokens counted
	Distinct  int     `json:"distinct"` // distinct pre-tokens kept for merging
	Pruned    int64   `json:"pruned"`   // distinct pre-tokens dropped to bound memory
	Merges    int     `json:"merges"`
	VocabSize int     `json:"vocab_size"`
	CountSecs float64 `json:"count_seconds"`
	MergeSecs float64 `json:"merge_seconds"`
	// BytesPerSec is the counting throughput (input bytes per second).
	BytesPerSec float64 `json:"bytes_per_second"`
}

// Train learns a byte-level BPE from inputs (paths or globs, local or
// storage URLs): it counts pre-tokens in one streaming pass with bounded
// memory, then merges the most frequent adjacent pair (ties broken by the
// lower pair of ids, so training is deterministic) until the vocabulary is
// full or no pair occurs MinFrequency times. The result encodes with the
// learned merges in order (Hugging Face BPE semantics) and HFJSON writes
// it as a tokenizer.json.
func Train(ctx context.Context, opts TrainOptions, inputs ...string) (*Tokenizer, TrainStats, error) {
	var stats TrainStats
	if opts.Specials == nil {
		opts.Specials = []string{EndOfText}
	}
	seen := map[string]bool{}
	for _, s := range opts.Specials {
		if s == "" || seen[s] {
			return nil, stats, fmt.Errorf("train: special token %q is empty or repeated", s)
		}
		seen[s] = true
	}
	if opts.VocabSize < 256+len(opts.Specials) {
		return nil, stats, fmt.Errorf("train: vocab size %d is below 256 bytes + %d special tokens", opts.VocabSize, len(opts.Specials))
	}
	if opts.VocabSize > maxVocab {
		return nil, stats, fmt.Errorf("train: vocab size %d is too large", opts.VocabSize)
	}
	var split splitter
	switch opts.Pattern {
	case "", "gpt2":
		split = gpt2Splitter{}
	case "cl100k_base":
		split = cl100kSplitter{}
	default:
		return nil, stats, fmt.Errorf("train: pattern %q: want gpt2 or cl100k_base", opts.Pattern)
	}
	if opts.MinFrequency <= 0 {
		opts.MinFrequency = 2
	}
	if opts.MaxPieces <= 0 {
		opts.MaxPieces = 1 << 20
	}
	if opts.TextField == "" {
		opts.TextField = "text"
	}
	if opts.Name == "" {
		opts.Name = "trained"
	}
	if len(inputs) == 0 {
		return nil, stats, errors.New("train: no input files")
	}
	initClasses()

	start := time.Now()
	c := &pieceCounter{split: split, counts: map[string]int64{}, max: opts.MaxPieces, chunk: chunkSize}
	for _, in := range inputs {
		files, err := storage.List(ctx, in)
		if err != nil {
			return nil, stats, fmt.Errorf("train: %s: %w", in, err)
		}
		if len(files) == 0 {
			return nil, stats, fmt.Errorf("train: %s: no such files", in)
		}
		for _, f := range files {
			if err := c.countFile(ctx, f.Path, opts.TextField, &stats); err != nil {
				return nil, stats, fmt.Errorf("train: %s: %w", f.Path, err)
			}
			stats.Files++
			if opts.Progress != nil {
				opts.Progress(stats)
			}
		}
	}
	stats.Pieces, stats.Pruned = c.pieces, c.pruned
	stats.Distinct = len(c.counts)
	stats.CountSecs = time.Since(start).Seconds()
	if stats.CountSecs > 0 {
		stats.BytesPerSec = float64(stats.Bytes) / stats.CountSecs
	}

	start = time.Now()
	merges, err := learnMerges(ctx, c.counts, opts.VocabSize-256-len(opts.Specials), opts.MinFrequency)
	if err != nil {
		return nil, stats, err
	}
	stats.Merges = len(merges)
	stats.MergeSecs = time.Since(start).Seconds()

	t, err := fromMerges(opts.Name, merges, opts.Specials, split)
	if err != nil {
		return nil, stats, err
	}
	stats.VocabSize = t.VocabSize()
	return t, stats, nil
}

// pieceCounter counts pre-tokens with a bounded number of distinct entries.
type pieceCounter struct {
	split  splitter
	counts map[string]int64
	max    int
	pieces int64
	pruned int64
	floor  int64 // counts at or below it were pruned before
	chunk  int   // bytes of plain text split at a time
}

// chunkSize is how much plain text is split at a time; a piece that
// outgrows maxCarry (megabytes without a break) is counted cut there.
const (
	chunkSize = 1 << 20
	maxCarry  = 16 << 20
	lookahead = 4
)

func (c *pieceCounter) countFile(ctx context.Context, path, field string, stats *TrainStats) error {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	var in io.Reader = f
	name := path
	switch {
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer zr.Close()
		in, name = zr, strings.TrimSuffix(name, ".gz")
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return err
		}
		defer zr.Close()
		in, name = zr, strings.TrimSuffix(name, ".zst")
	}
	if strings.HasSuffix(name, ".jsonl") {
		// a struct with just the text field, so that decoding skips the
		// other fields instead of building them
		recType := reflect.StructOf([]reflect.StructField{{Name: "Text", Type: reflect.TypeFor[string](),
			Tag: reflect.StructTag(`json:"` + strings.NewReplacer(`"`, ``, `,`, ``).Replace(field) + `"`)}})
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 1<<20), 1<<30)
		for line := 1; sc.Scan(); line++ {
			b := sc.Bytes()
			stats.Bytes += int64(len(b)) + 1
			if len(strings.TrimSpace(string(b))) == 0 {
				continue
			}
			rec := reflect.New(recType)
			if err := json.Unmarshal(b, rec.Interface()); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return fmt.Errorf("line %d: field %q is not a string", line, field)
				}
				return fmt.Errorf("line %d: %w", line, err)
			}
			text := rec.Elem().Field(0).String()
			c.count(text, true) // encoding/json made it valid UTF-8
			stats.Documents++
			if line%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return sc.Err()
	}
	// Plain text in chunks. Pieces near the end of a chunk may continue
	// or split differently once the next chunk is there, so they are
	// carried over (see count); every earlier piece ends where it would in
	// the whole text (FuzzChunkedCount checks this).
	stats.Documents++
	buf := make([]byte, 0, 2*c.chunk)
	r := bufio.NewReaderSize(in, max(c.chunk, 16))
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := len(buf)
		buf = append(buf, make([]byte, c.chunk)...)
		m, err := io.ReadFull(r, buf[n:])
		buf = buf[:n+m]
		stats.Bytes += int64(m)
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return err
		}
		if eof {
			c.count(string(buf), true)
			return nil
		}
		// Bytes are counted as they are (a byte-level BPE learns bytes; an
		// invalid UTF-8 byte is a character of its own to the
		// pre-tokenizer), but a character cut at the end of the chunk is
		// held back whole for the next one.
		cut := len(buf)
		for k := 1; k <= 3 && k <= len(buf); k++ {
			if b := buf[len(buf)-k]; b >= 0xC0 {
				if !utf8.FullRune(buf[len(buf)-k:]) {
					cut = len(buf) - k
				}
				break
			} else if b < 0x80 {
				break
			}
		}
		done := c.count(string(buf[:cut]), false)
		if done == 0 && len(buf) > maxCarry {
			// one piece longer than maxCarry: count it as it is
			c.count(string(buf), true)
			done = len(buf)
		}
		buf = append(buf[:0], buf[done:]...)
	}
}

// count adds the pieces of text and returns where the counted part ends.
// Unless final, pieces that end in the last lookahead bytes are left out:
// where a piece ends may depend on what follows it (the contraction 'll
// needs two characters after the apostrophe, \s+(?!\S) one after the
// run), so only pieces that end earlier end where they would in the whole
// text.
func (c *pieceCounter) count(text string, final bool) int {
	last := 0
	for i := 0; i < len(text); {
		j := c.split.next(text, i)
		if !final && j > len(text)-lookahead {
			return last
		}
		c.add(text[i:j])
		last = j
		i = j
	}
	return last
}

func (c *pieceCounter) add(piece string) {
	c.pieces++
	if n, ok := c.counts[piece]; ok {
		c.counts[piece] = n + 1
		return
	}
	// A piece new to the table may have been pruned before, with up to
	// floor occurrences lost; it restarts at one (lossy counting).
	c.counts[strings.Clone(piece)] = 1
	if len(c.counts) > c.max {
		c.prune()
	}
}

// prune drops the rarest pieces until the table is at most half full.
func (c *pieceCounter) prune() {
	for len(c.counts) > c.max/2 {
		c.floor++
		for p, n := range c.counts {
			if n <= c.floor {
				delete(c.counts, p)
				c.pruned++
			}
		}
	}
}

// word is a distinct pre-token being merged: its current symbols and how
// often it occurs.
type word struct {
	syms  []int32
	count int64
}

// pairHeap orders candidate pairs by count, then by ids.
type pairItem struct {
	key   uint64
	count int64
}

type pairHeap []pairItem

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return h[i].key < h[j].key
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// learnMerges runs BPE training over the counted pieces and returns the
// merges, in order, that make n new tokens. Token ids: bytes are 0..255,
// then each new token in the order it was first made.
func learnMerges(ctx context.Context, counts map[string]int64, n int, minFreq int64) ([]mergePair, error) {
	pieces := make([]string, 0, len(counts))
	for p := range counts {
		pieces = append(pieces, p)
	}
	sort.Strings(pieces) // map order must not leak into the result
	words := make([]word, len(pieces))
	pairCount := map[uint64]int64{}
	where := map[uint64][]int32{}
	for wi, p := range pieces {
		syms := make([]int32, len(p))
		for i := 0; i < len(p); i++ {
			syms[i] = int32(p[i])
		}
		words[wi] = word{syms: syms, count: counts[p]}
		for i := 0; i+1 < len(syms); i++ {
			k := trainKey(syms[i], syms[i+1])
			pairCount[k] += counts[p]
			if w := where[k]; len(w) == 0 || w[len(w)-1] != int32(wi) {
				where[k] = append(w, int32(wi))
			}
		}
	}
	h := make(pairHeap, 0, len(pairCount))
	for k, c := range pairCount {
		h = append(h, pairItem{k, c})
	}
	heap.Init(&h)

	var merges []mergePair
	// token bytes by id, to give a merge whose bytes some earlier merge
	// already made that token's id (as Hugging Face's trainer does)
	tokStr := make([]string, 256, 256+n)
	for b := range tokStr {
		tokStr[b] = string([]byte{byte(b)})
	}
	strID := map[string]int32{}
	lastTouched := make([]int32, len(words))
	for i := range lastTouched {
		lastTouched[i] = -1
	}
	changed := map[uint64]bool{}
	var oldPairs, newPairs []uint64
	for len(tokStr) < 256+n && h.Len() > 0 {
		if len(merges)%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		top := heap.Pop(&h).(pairItem)
		cur := pairCount[top.key]
		if cur != top.count {
			if cur > 0 {
				heap.Push(&h, pairItem{top.key, cur})
			}
			continue
		}
		if cur < minFreq {
			break
		}
		a, b := int32(top.key>>32), int32(uint32(top.key))
		tok := tokStr[a] + tokStr[b]
		id, ok := strID[tok]
		if !ok {
			id = int32(len(tokStr))
			tokStr = append(tokStr, tok)
			strID[tok] = id
		}
		step := int32(len(merges))
		merges = append(merges, mergePair{a, b, id})
		clear(changed)
		for _, wi := range where[top.key] {
			if lastTouched[wi] == step {
				continue
			}
			lastTouched[wi] = step
			w := &words[wi]
			if !hasPair(w.syms, a, b) {
				continue // stale entry: an earlier merge changed the word
			}
			// Only the pairs around the merge sites change: compare the
			// word's pairs before and after as sorted lists and touch the
			// counts of those that differ.
			oldPairs = oldPairs[:0]
			for i := 0; i+1 < len(w.syms); i++ {
				oldPairs = append(oldPairs, trainKey(w.syms[i], w.syms[i+1]))
			}
			out := w.syms[:0]
			for i := 0; i < len(w.syms); i++ {
				if i+1 < len(w.syms) && w.syms[i] == a && w.syms[i+1] == b {
					out = append(out, id)
					i++
				} else {
					out = append(out, w.syms[i])
				}
			}
			w.syms = out
			newPairs = newPairs[:0]
			for i := 0; i+1 < len(out); i++ {
				newPairs = append(newPairs, trainKey(out[i], out[i+1]))
			}
			slices.Sort(oldPairs)
			slices.Sort(newPairs)
			i, j := 0, 0
			for i < len(oldPairs) || j < len(newPairs) {
				switch {
				case j == len(newPairs) || i < len(oldPairs) && oldPairs[i] < newPairs[j]:
					pairCount[oldPairs[i]] -= w.count
					i++
				case i == len(oldPairs) || newPairs[j] < oldPairs[i]:
					k := newPairs[j]
					pairCount[k] += w.count
					changed[k] = true
					if l := where[k]; len(l) == 0 || l[len(l)-1] != wi {
						where[k] = append(l, wi)
					}
					j++
				default: // in both
					i++
					j++
				}
			}
		}
		delete(where, top.key)
		delete(pairCount, top.key)
		keys := make([]uint64, 0, len(changed))
		for k := range changed {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			if c := pairCount[k]; c > 0 {
				heap.Push(&h, pairItem{k, c})
			}
		}
	}
	return merges, nil
}

func hasPair(syms []int32, a, b int32) bool {
	for i := 0; i+1 < len(syms); i++ {
		if syms[i] == a && syms[i+1] == b {
			return true
		}
	}
	return false
}

// fromMerges builds a tokenizer from learned merges: ids 0..255 are the
// bytes, then the merged tokens, then the special tokens.
func fromMerges(name string, merges []mergePair, specials []string, split splitter) (*Tokenizer, error) {
	tokens := make([]string, 256, 256+len(merges))
	for b := 0; b < 256; b++ {
		tokens[b] = string([]byte{byte(b)})
	}
	t := &Tokenizer{name: name, vocab: make(map[string]int32, len(tokens)), split: split,
		merges: merges, pairs: newPairTable(len(merges))}
	for b := 0; b < 256; b++ {
		t.vocab[tokens[b]] = int32(b)
	}
	for k, m := range merges {
		if int(m.a) >= len(tokens) || int(m.b) >= len(tokens) || int(m.id) > len(tokens) {
			return nil, fmt.Errorf("merge %d uses a token not made yet", k)
		}
		tok := tokens[m.a] + tokens[m.b]
		if int(m.id) == len(tokens) {
			tokens = append(tokens, tok)
			t.vocab[tok] = m.id
		} else if tokens[m.id] != tok {
			return nil, fmt.Errorf("merge %d makes %q, not token %d", k, tok, m.id)
		}
		t.pairs.put(m.a, m.b, uint32(k), m.id)
	}
	sp := map[string]int32{}
	for i, s := range specials {
		sp[s] = int32(len(tokens) + i)
	}
	if err := t.finish(tokens, sp); err != nil {
		return nil, err
	}
	return t, nil
}

// trainKey packs a pair of ids for training's maps; ordering keys orders
// pairs by left id, then right id.
func trainKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }
