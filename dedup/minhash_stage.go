package dedup

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/dedup/minhash"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// ColDupOf names the column holding, for a dropped document, the id of the
// earlier document it duplicates ("" for a kept one).
const ColDupOf = "dup_of"

// Drop reasons.
const (
	ReasonDuplicate     = "duplicate"
	ReasonNearDuplicate = "near-duplicate"
)

var minhashSpec = pipelines.Spec{
	Name: "dedup.minhash",
	Doc:  "drops a document when an earlier one (kept or dropped) is a near-duplicate: word n-gram MinHash + LSH, candidates verified by signature Jaccard (or exact shingle Jaccard)",
	Fields: []pipelines.Field{
		{Name: "ngram", Type: pipelines.Int, Default: 5, Min: pipelines.Bound(1), Max: pipelines.Bound(64),
			Doc: "shingle size in words (in characters for scripts written without spaces)"},
		{Name: "permutations", Type: pipelines.Int, Default: 112, Min: pipelines.Bound(8), Max: pipelines.Bound(1024),
			Doc: "MinHash permutations (signature length)"},
		{Name: "bands", Type: pipelines.Int, Default: 14, Min: pipelines.Bound(1), Max: pipelines.Bound(1024),
			Doc: "LSH bands; must divide permutations"},
		{Name: "threshold", Type: pipelines.Float, Default: 0.8, Min: pipelines.Bound(0), Max: pipelines.Bound(1),
			Doc: "Jaccard similarity at which a document is a near-duplicate (estimated from the signatures, or exact with verify: shingles)"},
		{Name: "seed", Type: pipelines.Int, Default: 1, Min: pipelines.Bound(0), Doc: "seed of the permutations"},
		{Name: "signature", Type: pipelines.String, Default: "one_permutation", Enum: []string{"one_permutation", "classic"},
			Doc: "one_permutation: one hash per shingle into permutations bins, densified (fast); classic: permutations independent hash functions"},
		{Name: "verify", Type: pipelines.String, Default: "signature", Enum: []string{"signature", "shingles"},
			Doc: "how an LSH candidate is confirmed: signature (Jaccard estimated from the b-bit signatures, in RAM) or shingles (exact Jaccard of the two shingle sets, kept in a local temporary file at 4 bytes per shingle and saved with index:)"},
		{Name: "index", Type: pipelines.String, Default: "",
			Doc: "incremental index file (local or s3://): loaded at start when present, saved at the end"},
	},
	Filter: true,
	MemoryPerDoc: func(p pipelines.Params) int64 {
		n := bytesPerDoc(p.Int("permutations"), p.Int("bands")) + assumedIDBytes
		if p.String("verify") == "shingles" {
			n += shingleStoreBytesPerDoc
		}
		return n
	},
}

// assumedIDBytes is the id length the memory estimate assumes.
const assumedIDBytes = 32

func init() {
	pipelines.RegisterStage(minhashSpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return NewMinHash(p, env)
	})
}

// MinHash is the dedup.minhash stage. Process computes the signatures of a
// batch (concurrently for different batches); Sequence, called in input
// order, looks every document up in the index and then adds it, so the
// outcome does not depend on the number of workers.
type MinHash struct {
	hasher       *minhash.Hasher
	perms, bands int
	threshold    float64
	shingles     bool // verify: shingles
	ngram        int
	seed         uint64
	indexPath    string
	env          *pipelines.Env
	idx          *lshIndex
	cleanup      func()
	scratch      sync.Pool
	stats        dedupStats
	loaded       int64
}

// NewMinHash builds the stage, loading the incremental index when one is
// configured and present.
func NewMinHash(p pipelines.Params, env *pipelines.Env) (*MinHash, error) {
	perms, bands := p.Int("permutations"), p.Int("bands")
	if bands <= 0 || perms%bands != 0 {
		return nil, fmt.Errorf("dedup.minhash: bands (%d) must divide permutations (%d)", bands, perms)
	}
	scheme := minhash.OnePermutation
	if p.String("signature") == "classic" {
		scheme = minhash.Classic
	}
	h, err := minhash.NewScheme(p.Int("ngram"), perms, uint64(p.Int("seed")), scheme)
	if err != nil {
		return nil, fmt.Errorf("dedup.minhash: %w", err)
	}
	dir, cleanup, err := tempDir(env.TempDir)
	if err != nil {
		return nil, err
	}
	m := &MinHash{hasher: h, perms: perms, bands: bands, threshold: p.Float("threshold"),
		shingles: p.String("verify") == "shingles",
		ngram:    p.Int("ngram"), seed: uint64(p.Int("seed")), env: env, cleanup: cleanup,
		stats: newDedupStats()}
	m.idx = newLSHIndex(perms, bands, m.threshold, m.shingles, dir, env.Memory)
	m.scratch.New = func() any { return new(minhash.Scratch) }
	if ip := p.String("index"); ip != "" {
		m.indexPath = env.Path(ip)
		if err := m.loadIndex(context.Background()); err != nil {
			m.idx.close()
			cleanup()
			return nil, err
		}
	}
	return m, nil
}

// minhashState carries a batch's signatures from Process to Sequence, and
// with verify: shingles its shingle sets (document i's is
// sets[ends[i-1]:ends[i]]).
type minhashState struct {
	sigs []byte
	sets []uint32
	ends []int
}

func (st *minhashState) set(i int) []uint32 {
	if st.ends == nil {
		return nil
	}
	start := 0
	if i > 0 {
		start = st.ends[i-1]
	}
	return st.sets[start:st.ends[i]]
}

// Process computes the b-bit signature of every document of rec, and with
// verify: shingles its shingle set.
func (m *MinHash) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	texts := pipelines.Texts(rec)
	n := texts.Len()
	st := &minhashState{sigs: make([]byte, n*m.perms)}
	if m.shingles {
		st.ends = make([]int, n)
	}
	s := m.scratch.Get().(*minhash.Scratch)
	defer m.scratch.Put(s)
	for i := 0; i < n; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		m.hasher.Signature(s, texts.Value(i), st.sigs[i*m.perms:(i+1)*m.perms])
		if m.shingles {
			st.sets = shingleSet(st.sets, s.Shingles())
			st.ends[i] = len(st.sets)
		}
	}
	return &pipelines.Result{State: st}, nil
}

// Sequence decides, in input order, which documents are near-duplicates of
// earlier ones and indexes every document.
func (m *MinHash) Sequence(ctx context.Context, rec arrow.Record, res *pipelines.Result) error {
	st, ok := res.State.(*minhashState)
	if !ok {
		return errors.New("dedup.minhash: Sequence without the state of Process")
	}
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return fmt.Errorf("dedup.minhash: %w", err)
	}
	n := int(rec.NumRows())
	drop := make([]string, n)
	dupOf := make([]string, n)
	for i := 0; i < n; i++ {
		sig := st.sigs[i*m.perms : (i+1)*m.perms]
		seq, found, err := m.idx.query(sig, st.set(i))
		if err != nil {
			return fmt.Errorf("dedup.minhash: %w", err)
		}
		if found {
			drop[i] = ReasonNearDuplicate
			if dupOf[i], err = m.idx.id(seq); err != nil {
				return fmt.Errorf("dedup.minhash: %w", err)
			}
			m.stats.dup(seq)
		}
		if err := m.idx.insert(sig, ids.Value(i), st.set(i)); err != nil {
			return fmt.Errorf("dedup.minhash: %w", err)
		}
	}
	m.stats.docs += int64(n)
	res.Drop = drop
	res.Columns = append(res.Columns, pipelines.Column{Name: ColDupOf, Array: pipelines.NewStrings(m.env.Alloc, dupOf)})
	res.State = nil
	return nil
}

// Finish saves the incremental index, when configured, and frees the index.
func (m *MinHash) Finish(ctx context.Context) error {
	m.stats.spilled = len(m.idx.spilled)
	m.stats.indexed = int64(m.idx.total)
	if m.indexPath != "" {
		if err := pipelines.SaveSnapshot(ctx, m.indexPath, m); err != nil {
			return fmt.Errorf("dedup.minhash: saving index %s: %w", m.indexPath, err)
		}
	}
	err := m.idx.close()
	m.cleanup()
	return err
}

// Close removes the spill files and gives the memory back; Finish does it
// too, so Close matters only for a run that failed.
func (m *MinHash) Close() error {
	err := m.idx.close()
	m.cleanup()
	return err
}

// Report adds the cluster-size histogram and index figures.
func (m *MinHash) Report() map[string]any {
	r := m.stats.report()
	r["index_loaded_documents"] = m.loaded
	r["bytes_per_document"] = bytesPerDoc(m.perms, m.bands)
	return r
}

const minhashMagic = "curate dedup.minhash index v1\n"

type minhashHeader struct {
	Perms int    `json:"permutations"`
	NGram int    `json:"ngram"`
	Seed  uint64 `json:"seed"`
	Hash  string `json:"hash"`
	// Shingles: "u32" when every record ends with the document's shingle
	// set (verify: shingles): uvarint count, then count little-endian
	// uint32 in increasing order.
	Shingles string `json:"shingles,omitempty"`
}

func (m *MinHash) header() minhashHeader {
	h := minhashHeader{Perms: m.perms, NGram: m.ngram, Seed: m.seed, Hash: "xxh3-b8-" + m.hasher.Scheme().String()}
	if m.shingles {
		h.Shingles = "u32"
	}
	return h
}

// Snapshot writes every indexed document (id, signature and, with verify:
// shingles, shingle set) to w: the same format as the incremental index
// file.
func (m *MinHash) Snapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr, _ := json.Marshal(m.header())
	bw.WriteString(minhashMagic)
	bw.Write(hdr)
	bw.WriteByte('\n')
	var lb [binary.MaxVarintLen64]byte
	doc := uint32(0)
	err := m.idx.each(func(sig []byte, id string) error {
		bw.Write(lb[:binary.PutUvarint(lb[:], uint64(len(id)))])
		bw.WriteString(id)
		_, err := bw.Write(sig)
		if err != nil || !m.shingles {
			return err
		}
		set, err := m.idx.sets.raw(doc) // the record's encoding already
		if err != nil {
			return err
		}
		doc++
		bw.Write(lb[:binary.PutUvarint(lb[:], uint64(len(set)/4))])
		_, err = bw.Write(set)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the index with a snapshot.
func (m *MinHash) Restore(r io.Reader) error {
	if err := m.idx.close(); err != nil {
		return err
	}
	m.loaded = 0
	return m.read(r, "snapshot")
}

func (m *MinHash) loadIndex(ctx context.Context) error {
	f, err := storage.Open(ctx, m.indexPath)
	if storage.IsNotExist(err) {
		return nil // first run: the index is created at the end
	}
	if err != nil {
		return fmt.Errorf("dedup.minhash: opening index: %w", err)
	}
	defer f.Close()
	return m.read(f, m.indexPath)
}

func (m *MinHash) read(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(minhashMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != minhashMagic {
		return fmt.Errorf("dedup.minhash: %s is not a dedup.minhash index", name)
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("dedup.minhash: %s: truncated header", name)
	}
	var h minhashHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("dedup.minhash: %s: bad header: %w", name, err)
	}
	if want := m.header(); h != want {
		return fmt.Errorf("dedup.minhash: %s was built with permutations=%d ngram=%d seed=%d signature=%s verify=%s; this stage has permutations=%d ngram=%d seed=%d signature=%s verify=%s",
			name, h.Perms, h.NGram, h.Seed, h.Hash, verifyName(h.Shingles != ""),
			want.Perms, want.NGram, want.Seed, want.Hash, verifyName(m.shingles))
	}
	sig := make([]byte, m.perms)
	var id []byte
	var set []uint32
	var raw []byte
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return nil
		}
		if err != nil || n > 1<<20 {
			return fmt.Errorf("dedup.minhash: %s: corrupt record %d", name, m.loaded+1)
		}
		if cap(id) < int(n) {
			id = make([]byte, n)
		}
		id = id[:n]
		if _, err := io.ReadFull(br, id); err != nil {
			return fmt.Errorf("dedup.minhash: %s: truncated at record %d", name, m.loaded+1)
		}
		if _, err := io.ReadFull(br, sig); err != nil {
			return fmt.Errorf("dedup.minhash: %s: truncated at record %d", name, m.loaded+1)
		}
		if m.shingles {
			if set, raw, err = readShingleSet(br, set, raw); err != nil {
				return fmt.Errorf("dedup.minhash: %s: record %d: %w", name, m.loaded+1, err)
			}
		}
		if err := m.idx.insert(sig, string(id), set); err != nil {
			return fmt.Errorf("dedup.minhash: loading %s: %w", name, err)
		}
		m.loaded++
	}
}

func verifyName(shingles bool) string {
	if shingles {
		return "shingles"
	}
	return "signature"
}

// maxShingles bounds the shingle count a record of an index file may claim.
const maxShingles = 1 << 28

// readShingleSet reads one shingle set of an index record into set[:0]
// (raw is a reusable buffer) and checks that it increases strictly.
func readShingleSet(br *bufio.Reader, set []uint32, raw []byte) ([]uint32, []byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxShingles {
		return set, raw, errors.New("corrupt shingle set")
	}
	if cap(raw) < int(4*n) {
		raw = make([]byte, 4*n)
	}
	raw = raw[:4*n]
	if _, err := io.ReadFull(br, raw); err != nil {
		return set, raw, errors.New("truncated shingle set")
	}
	set = set[:0]
	for k := 0; k < len(raw); k += 4 {
		x := binary.LittleEndian.Uint32(raw[k:])
		if len(set) > 0 && x <= set[len(set)-1] {
			return set, raw, errors.New("shingle set out of order")
		}
		set = append(set, x)
	}
	return set, raw, nil
}
