package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"math"
	"strings"
	"sync/atomic"

	"github.com/curatehq/curate/pipelines/storage"
)

// DefaultShardTokens bounds a shard when Options.ShardTokens is 0: 100M
// tokens, the shard size of nanoGPT's and llm.c's FineWeb exports.
const DefaultShardTokens = 100_000_000

// BlockSize is the write buffer and the unit of the per-block checksums.
const BlockSize = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure a Writer.
type Options struct {
	// Tokenizer names the tokenizer in the manifest ("gpt2", a path...).
	Tokenizer string
	// TokenizerJSON, when set, is saved as tokenizer.json in the store so
	// readers can decode without knowing where the tokenizer came from.
	TokenizerJSON []byte
	// VocabSize is the number of token ids; every id must be below it.
	VocabSize int
	// EOT is the end-of-text id. With AppendEOT the writer adds it after
	// every document (it is part of the document's sequence and counts).
	EOT       int32
	AppendEOT bool
	// DType is the token type on disk (Auto by default).
	DType DType
	// ShardTokens bounds the tokens of a shard (DefaultShardTokens when 0).
	// Documents are never split: a document longer than the bound gets a
	// shard of its own.
	ShardTokens int64
	// LLMC also writes each shard in llm.c's format under llmc/.
	LLMC bool
}

// Writer builds a store, one document at a time. It is not safe for
// concurrent use. Nothing in dir is touched before the first AddDoc, Flush
// or Close; from then on the old manifest is gone, so a half-rewritten store
// never passes for a complete one.
type Writer struct {
	ctx    context.Context
	dir    string
	opts   Options
	dtype  DType
	maxTok int64

	started   bool
	cur       *shardWriter
	shards    []Shard // closed shards, in order
	committed int     // shards made durable by Flush (kept by Abort)
	next      int     // number of the next shard
	docs      int64
	tokens    int64
	domains   map[string]Counts
	llmc      []string
	failed    error
	closed    bool
	pending   *finishing // the shard being finished in the background
	// tokenizerDone receives the result of writing tokenizer.json.
	tokenizerDone chan error
	free          chan []byte // block buffers to reuse
	blocks        int         // block buffers allocated
}

// Create starts a store in dir (a local folder or s3:// prefix).
func Create(dir string, opts Options) (*Writer, error) {
	return CreateContext(context.Background(), dir, opts)
}

// CreateContext is Create with a context for the storage calls.
func CreateContext(ctx context.Context, dir string, opts Options) (*Writer, error) {
	if dir == "" {
		return nil, errors.New("store: empty path")
	}
	dt, err := ResolveDType(opts.DType, opts.VocabSize)
	if err != nil {
		return nil, err
	}
	if opts.AppendEOT && (opts.EOT < 0 || int(opts.EOT) >= opts.VocabSize) {
		return nil, fmt.Errorf("store: end-of-text id %d is outside the vocabulary of %d ids", opts.EOT, opts.VocabSize)
	}
	if opts.ShardTokens < 0 {
		return nil, fmt.Errorf("store: shard_tokens %d: want a positive bound", opts.ShardTokens)
	}
	if opts.ShardTokens == 0 {
		opts.ShardTokens = DefaultShardTokens
	}
	if opts.LLMC && opts.ShardTokens > math.MaxInt32 {
		return nil, fmt.Errorf("store: llm.c files hold at most %d tokens; lower shard_tokens", math.MaxInt32)
	}
	return &Writer{ctx: ctx, dir: strings.TrimRight(dir, "/"), opts: opts, dtype: dt,
		maxTok: opts.ShardTokens, domains: map[string]Counts{}, free: make(chan []byte, maxBlocks)}, nil
}

// DType returns the token type the writer stores.
func (w *Writer) DType() DType { return w.dtype }

// Documents returns the documents added so far.
func (w *Writer) Documents() int64 { return w.docs }

// Tokens returns the tokens written so far (end-of-text included).
func (w *Writer) Tokens() int64 { return w.tokens }

// AddDoc appends one document. tokens is borrowed. With AppendEOT an empty
// document is stored as a lone end-of-text token; without it, as an empty
// sequence. An id outside the vocabulary is an error, and the document is
// not written.
func (w *Writer) AddDoc(tokens []int32, domain string) error {
	if err := w.usable(); err != nil {
		return err
	}
	n := int64(len(tokens))
	if w.opts.AppendEOT {
		n++
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("store: document %d has %d tokens; a Megatron sequence holds at most %d", w.docs, n, math.MaxInt32)
	}
	vocab := uint32(w.opts.VocabSize)
	for i, t := range tokens {
		if uint32(t) >= vocab {
			return fmt.Errorf("store: document %d: token %d is id %d, outside the vocabulary of %d ids", w.docs, i, t, vocab)
		}
	}
	if w.cur != nil && w.cur.tokens > 0 && w.cur.tokens+n > w.maxTok {
		if err := w.closeShard(); err != nil {
			return w.fail(err)
		}
	}
	if w.cur == nil {
		if err := w.openShard(); err != nil {
			return w.fail(err)
		}
	}
	s := w.cur
	if err := s.write(w, tokens); err != nil {
		w.cur = nil
		return w.fail(err)
	}
	if w.opts.AppendEOT {
		if err := s.write(w, []int32{w.opts.EOT}); err != nil {
			w.cur = nil
			return w.fail(err)
		}
	}
	s.sizes = append(s.sizes, int32(n))
	s.tokens += n
	w.docs++
	w.tokens += n
	c := w.domains[domain]
	c.Documents++
	c.Tokens += n
	w.domains[domain] = c
	return nil
}

// Flush closes the current shard, so that everything added so far is
// durable and would survive a crash; the tokens sink calls it at every
// checkpoint. Abort keeps flushed shards. The next document starts a new
// shard.
func (w *Writer) Flush() error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.cur != nil {
		if err := w.closeShard(); err != nil {
			return w.fail(err)
		}
	}
	if err := w.wait(); err != nil {
		return w.fail(err)
	}
	w.committed = len(w.shards)
	return nil
}

// State is what a resumed writer needs: the flushed shards and counts.
type State struct {
	Shards  []Shard           `json:"shards"`
	Domains map[string]Counts `json:"domains"`
	LLMC    []string          `json:"llmc,omitempty"`
	Next    int               `json:"next"`
}

// Checkpoint flushes (see Flush) and returns the writer's state, from which
// Restore continues the store after a crash.
func (w *Writer) Checkpoint() (State, error) {
	if err := w.Flush(); err != nil {
		return State{}, err
	}
	st := State{Shards: append([]Shard{}, w.shards...), Domains: map[string]Counts{}, Next: w.next,
		LLMC: append([]string(nil), w.llmc...)}
	for k, v := range w.domains {
		st.Domains[k] = v
	}
	return st, nil
}

// Restore continues a store from a Checkpoint's State, before any
// document is added: the flushed shards are kept (they must still exist)
// and the next document goes into a new shard after them.
func (w *Writer) Restore(st State) error {
	if w.started {
		return errors.New("store: Restore after the writer started")
	}
	for _, s := range st.Shards {
		if !validName(s.Name) {
			return fmt.Errorf("store: restore: bad shard name %q", s.Name)
		}
		for _, name := range []string{s.Bin(), s.Idx()} {
			info, err := storage.Stat(w.ctx, storage.Join(w.dir, name))
			if err != nil {
				return fmt.Errorf("store: restore: shard %s: %w", s.Name, err)
			}
			want := s.Bytes
			if name == s.Idx() {
				want = s.IdxBytes
			}
			if info.Size != want {
				return fmt.Errorf("store: restore: %s is %d bytes, the checkpoint says %d", name, info.Size, want)
			}
		}
		w.docs += s.Documents
		w.tokens += s.Tokens
	}
	w.shards = append([]Shard(nil), st.Shards...)
	w.committed = len(w.shards)
	w.next = max(st.Next, len(w.shards))
	w.domains = map[string]Counts{}
	for k, v := range st.Domains {
		w.domains[k] = v
	}
	w.llmc = append([]string(nil), st.LLMC...)
	return nil
}

// Close writes the last shard, the tokenizer and then the manifest, and
// removes shard files of an earlier store in dir that the manifest does not
// list.
func (w *Writer) Close() error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.start(); err != nil {
		return w.fail(err)
	}
	if w.cur != nil {
		if err := w.closeShard(); err != nil {
			return w.fail(err)
		}
	}
	if err := w.wait(); err != nil {
		return w.fail(err)
	}
	if err := w.waitTokenizer(); err != nil {
		return w.fail(err)
	}
	m := w.manifest()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return w.fail(err)
	}
	if err := storage.WriteFile(w.ctx, storage.Join(w.dir, ManifestFile), append(b, '\n')); err != nil {
		return w.fail(fmt.Errorf("store: write manifest: %w", err))
	}
	w.closed = true
	w.committed = len(w.shards)
	return w.removeStale(m)
}

// Manifest returns the manifest as it stands (complete after Close).
func (w *Writer) Manifest() Manifest { return w.manifest() }

func (w *Writer) manifest() Manifest {
	m := Manifest{Format: Format, Tokenizer: w.opts.Tokenizer, VocabSize: w.opts.VocabSize,
		EOT: -1, DType: w.dtype, Documents: w.docs, Tokens: w.tokens, ShardTokens: w.maxTok,
		Shards: append([]Shard{}, w.shards...), Domains: map[string]Counts{}, LLMC: append([]string(nil), w.llmc...)}
	if w.opts.AppendEOT {
		m.EOT = w.opts.EOT
	}
	if len(w.opts.TokenizerJSON) > 0 {
		m.TokenizerFile = TokenizerFile
	}
	for k, v := range w.domains {
		m.Domains[k] = v
	}
	return m
}

// Abort discards the open shard and every shard closed since the last
// Flush (and tokenizer.json when nothing was flushed). It is safe after
// Close (it then does nothing) and more than once.
func (w *Writer) Abort() error {
	if w.closed {
		return nil
	}
	var errs []error
	if w.cur != nil {
		w.cur.abort()
		w.cur = nil
	}
	if err := w.wait(); err != nil {
		errs = append(errs, err)
	}
	if w.waitTokenizer() == nil && w.started && w.committed == 0 && len(w.opts.TokenizerJSON) > 0 {
		errs = append(errs, storage.Remove(w.ctx, storage.Join(w.dir, TokenizerFile)))
	}
	for _, s := range w.shards[w.committed:] {
		errs = append(errs, w.remove(s.Name))
	}
	w.shards = w.shards[:w.committed]
	w.closed = true
	return errors.Join(errs...)
}

func (w *Writer) remove(name string) error {
	var errs []error
	for _, f := range []string{name + ".bin", name + ".idx", LLMCDir + "/" + name + ".bin"} {
		errs = append(errs, storage.Remove(w.ctx, storage.Join(w.dir, f)))
	}
	return errors.Join(errs...)
}

func (w *Writer) usable() error {
	if w.closed {
		return errors.New("store: writer is closed")
	}
	return w.failed
}

// fail remembers the first write error: after it the store is in an unknown
// state and only Abort makes sense.
func (w *Writer) fail(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

// start removes the previous manifest before the first byte is written.
func (w *Writer) start() error {
	if w.started {
		return nil
	}
	w.started = true
	if err := storage.Remove(w.ctx, storage.Join(w.dir, ManifestFile)); err != nil {
		return fmt.Errorf("store: remove old manifest: %w", err)
	}
	if len(w.opts.TokenizerJSON) > 0 {
		// Written in the background: its sync overlaps the documents.
		done := make(chan error, 1)
		go func() { done <- storage.WriteFile(w.ctx, storage.Join(w.dir, TokenizerFile), w.opts.TokenizerJSON) }()
		w.tokenizerDone = done
	}
	return nil
}

// waitTokenizer waits for tokenizer.json to be written.
func (w *Writer) waitTokenizer() error {
	if w.tokenizerDone == nil {
		return nil
	}
	err := <-w.tokenizerDone
	w.tokenizerDone = nil
	if err != nil {
		return fmt.Errorf("store: write tokenizer: %w", err)
	}
	return nil
}

func shardName(i int) string { return fmt.Sprintf("shard_%05d", i) }

func (w *Writer) openShard() error {
	if err := w.start(); err != nil {
		return err
	}
	name := shardName(w.next)
	bw, err := storage.Create(w.ctx, storage.Join(w.dir, name+".bin"))
	if err != nil {
		return fmt.Errorf("store: create shard %s: %w", name, err)
	}
	w.next++
	w.cur = newShardWriter(name, bw, w.free, w.block())
	return nil
}

// block returns an empty block buffer: a recycled one, a new one while
// fewer than maxBlocks exist, else the next one the hashing goroutine frees.
func (w *Writer) block() []byte {
	select {
	case b := <-w.free:
		return b
	default:
	}
	if w.blocks < maxBlocks {
		w.blocks++
		return make([]byte, 0, BlockSize)
	}
	return <-w.free
}

// closeShard ends the current shard and finishes it (index, commits, llm.c
// copy) in the background, after the previous shard's finish: the caller
// goes on packing the next shard meanwhile.
func (w *Writer) closeShard() error {
	s := w.cur
	w.cur = nil
	s.end()
	if err := w.wait(); err != nil {
		s.abort()
		return err
	}
	f := &finishing{name: s.name, done: make(chan struct{})}
	ctx, dir, dt, llmc := w.ctx, w.dir, w.dtype, w.opts.LLMC
	go func() {
		defer close(f.done)
		f.shard, f.err = s.finish(ctx, dir, dt)
		if f.err == nil && llmc {
			f.llmc = LLMCDir + "/" + f.shard.Name + ".bin"
			f.err = exportShard(ctx, storage.Join(dir, f.shard.Bin()), storage.Join(dir, f.llmc), dt, f.shard.Tokens)
		}
	}()
	w.pending = f
	return nil
}

// finishing is a shard being finished in the background.
type finishing struct {
	name  string
	done  chan struct{}
	shard Shard
	llmc  string
	err   error
}

// wait collects the shard being finished, if any.
func (w *Writer) wait() error {
	f := w.pending
	if f == nil {
		return nil
	}
	<-f.done
	w.pending = nil
	if f.err != nil {
		w.remove(f.name)
		return f.err
	}
	w.shards = append(w.shards, f.shard)
	if f.llmc != "" {
		w.llmc = append(w.llmc, f.llmc)
	}
	return nil
}

// removeStale deletes shard files in dir (and llmc/) that m does not list:
// leftovers of an earlier, larger store written to the same place.
func (w *Writer) removeStale(m Manifest) error {
	keep := map[string]bool{}
	for _, s := range m.Shards {
		keep[s.Bin()], keep[s.Idx()] = true, true
		keep[LLMCDir+"/"+s.Bin()] = true
	}
	var errs []error
	for _, pat := range []string{"shard_*", LLMCDir + "/shard_*.bin"} {
		infos, err := storage.List(w.ctx, storage.Join(w.dir, pat))
		if err != nil {
			continue // nothing there
		}
		for _, info := range infos {
			rel := strings.TrimPrefix(info.Path, w.dir+"/")
			if !keep[rel] && (strings.HasSuffix(rel, ".bin") || strings.HasSuffix(rel, ".idx")) {
				errs = append(errs, storage.Remove(w.ctx, info.Path))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: remove stale shards: %w", err)
	}
	return nil
}

// maxBlocks bounds the block buffers of a writer: one being packed, the
// rest queued for or inside the hashing goroutine.
const maxBlocks = 4

// shardWriter streams one .bin. The caller packs tokens into a block; full
// blocks go to a goroutine that hashes them (sha256 of the file, CRC-32C of
// the block) and writes them, so checksumming and I/O overlap packing.
type shardWriter struct {
	name string
	w    storage.Writer
	buf  []byte        // the block being packed (caller)
	full chan []byte   // packed blocks, to the goroutine
	free chan []byte   // emptied blocks, back to the writer's pool
	done chan struct{} // closed when the goroutine has written everything
	bad  atomic.Bool   // the goroutine hit a write error

	// Owned by the goroutine until done is closed.
	sha   hash.Hash
	crcs  []uint32
	bytes int64
	err   error

	// Owned by the caller.
	tokens int64
	sizes  []int32
	ended  bool
}

func newShardWriter(name string, w storage.Writer, free chan []byte, buf []byte) *shardWriter {
	s := &shardWriter{name: name, w: w, buf: buf, full: make(chan []byte, maxBlocks), free: free,
		done: make(chan struct{}), sha: sha256.New()}
	go s.drain()
	return s
}

func (s *shardWriter) drain() {
	defer close(s.done)
	for b := range s.full {
		if s.err == nil {
			s.sha.Write(b)
			s.crcs = append(s.crcs, crc32.Checksum(b, castagnoli))
			if _, err := s.w.Write(b); err != nil {
				s.err = fmt.Errorf("store: write shard %s: %w", s.name, err)
				s.bad.Store(true)
			}
			s.bytes += int64(len(b))
		}
		s.free <- b[:0]
	}
}

func (s *shardWriter) write(w *Writer, tokens []int32) error {
	dt := w.dtype
	for len(tokens) > 0 {
		if len(s.buf) == cap(s.buf) {
			if s.bad.Load() {
				return s.abort()
			}
			s.full <- s.buf
			s.buf = w.block()
		}
		room := (cap(s.buf) - len(s.buf)) / dt.Size()
		k := min(room, len(tokens))
		s.buf = packTokens(s.buf, tokens[:k], dt)
		tokens = tokens[k:]
	}
	return nil
}

// packTokens appends tokens in the store's little-endian encoding; dst has
// room for them.
func packTokens(dst []byte, tokens []int32, dt DType) []byte {
	off := len(dst)
	if dt == Uint16 {
		dst = dst[:off+2*len(tokens)]
		b := dst[off:]
		for i, t := range tokens {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(t))
		}
		return dst
	}
	dst = dst[:off+4*len(tokens)]
	b := dst[off:]
	for i, t := range tokens {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return dst
}

// end hands the last block to the goroutine and lets it finish.
func (s *shardWriter) end() {
	if s.ended {
		return
	}
	s.ended = true
	if len(s.buf) > 0 {
		s.full <- s.buf
	} else {
		s.free <- s.buf
	}
	s.buf = nil
	close(s.full)
}

// finish waits for the blocks to be written, then writes the index and
// commits both files. It runs on its own goroutine.
func (s *shardWriter) finish(ctx context.Context, dir string, dt DType) (Shard, error) {
	<-s.done
	if s.err != nil {
		s.w.Abort()
		return Shard{}, s.err
	}
	idx := appendIndex(make([]byte, 0, idxSize(int64(len(s.sizes)))), dt, s.sizes)
	iw, err := storage.Create(ctx, storage.Join(dir, s.name+".idx"))
	if err != nil {
		s.w.Abort()
		return Shard{}, fmt.Errorf("store: create index %s: %w", s.name, err)
	}
	defer iw.Abort()
	if _, err := iw.Write(idx); err != nil {
		s.w.Abort()
		return Shard{}, fmt.Errorf("store: write index %s: %w", s.name, err)
	}
	if err := s.w.Commit(); err != nil {
		return Shard{}, fmt.Errorf("store: commit shard %s: %w", s.name, err)
	}
	if err := iw.Commit(); err != nil {
		return Shard{}, fmt.Errorf("store: commit index %s: %w", s.name, err)
	}
	isum := sha256.Sum256(idx)
	return Shard{Name: s.name, Documents: int64(len(s.sizes)), Tokens: s.tokens, Bytes: s.bytes,
		SHA256: hex.EncodeToString(s.sha.Sum(nil)), IdxBytes: int64(len(idx)), IdxSHA256: hex.EncodeToString(isum[:]),
		BlockSize: BlockSize, BlockCRC32C: s.crcs}, nil
}

// abort stops the goroutine and discards the file; it returns the write
// error that made it necessary, if any.
func (s *shardWriter) abort() error {
	s.end()
	<-s.done
	s.w.Abort()
	if s.err != nil {
		return s.err
	}
	return fmt.Errorf("store: shard %s aborted", s.name)
}

// Remove deletes the store in dir: its manifest first (so a reader never
// sees a manifest without its shards), then the files the manifest lists.
// A folder without a manifest is left as it is.
func Remove(ctx context.Context, dir string) error {
	dir = strings.TrimRight(dir, "/")
	m, err := ReadManifest(ctx, dir)
	if err != nil {
		if _, serr := storage.Stat(ctx, storage.Join(dir, ManifestFile)); storage.IsNotExist(serr) {
			return nil
		}
		return err
	}
	errs := []error{storage.Remove(ctx, storage.Join(dir, ManifestFile))}
	if errs[0] != nil {
		return fmt.Errorf("store: remove %s: %w", dir, errs[0])
	}
	for _, s := range m.Shards {
		errs = append(errs, storage.Remove(ctx, storage.Join(dir, s.Bin())), storage.Remove(ctx, storage.Join(dir, s.Idx())))
	}
	for _, f := range m.LLMC {
		errs = append(errs, storage.Remove(ctx, storage.Join(dir, f)))
	}
	if m.TokenizerFile != "" {
		errs = append(errs, storage.Remove(ctx, storage.Join(dir, m.TokenizerFile)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: remove %s: %w", dir, err)
	}
	return nil
}
