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
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

var exactSpec = pipelines.Spec{
	Name: "dedup.exact",
	Doc:  "drops a document whose normalized text (or key column, e.g. url) equals an earlier document's (128-bit hashes)",
	Fields: append([]pipelines.Field{
		{Name: "key", Type: pipelines.String, Default: "", Doc: "column to compare instead of the text (e.g. url); rows where it is null or empty are kept"},
		{Name: "index", Type: pipelines.String, Default: "",
			Doc: "incremental index file (local or s3://): loaded at start when present, saved at the end"},
	}, normalizeFields(true)...),
	Filter: true,
	MemoryPerDoc: func(pipelines.Params) int64 {
		return exactBytesPerDoc + assumedIDBytes
	},
}

// exactBytesPerDoc is the RAM cost of one distinct document in the exact
// index, its id excluded: a 16-byte hash and 4-byte number in a Go map
// (about 40 bytes per entry with the map's own overhead) plus 4 bytes of id
// offset.
const exactBytesPerDoc = 44

func init() {
	pipelines.RegisterStage(exactSpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return NewExact(p, env)
	})
}

// Exact is the dedup.exact stage: Process hashes the normalized text (or
// key) of each document with 128-bit xxh3; Sequence, in input order, drops
// every document whose hash was seen before and indexes the first
// occurrence of each hash only.
type Exact struct {
	norm      *normalizer
	keyCol    string
	indexPath string
	env       *pipelines.Env
	idx       *exactIndex
	cleanup   func()
	bufs      sync.Pool
	stats     dedupStats
	loaded    int64
}

// NewExact builds the stage, loading the incremental index when one is
// configured and present.
func NewExact(p pipelines.Params, env *pipelines.Env) (*Exact, error) {
	dir, cleanup, err := tempDir(env.TempDir)
	if err != nil {
		return nil, err
	}
	e := &Exact{norm: normalizerFrom(p), keyCol: p.String("key"), env: env, cleanup: cleanup,
		idx: newExactIndex(dir, env.Memory), stats: newDedupStats()}
	e.bufs.New = func() any { return &normHash{buf: make([]byte, 0, 4096)} }
	if ip := p.String("index"); ip != "" {
		e.indexPath = env.Path(ip)
		if err := e.loadIndex(context.Background()); err != nil {
			e.idx.close()
			cleanup()
			return nil, err
		}
	}
	return e, nil
}

type exactState struct {
	keys []key
	skip []bool // no key: never a duplicate, not indexed
}

// Process hashes every document's normalized text or key.
func (e *Exact) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	col := pipelines.Texts(rec)
	if e.keyCol != "" {
		i := pipelines.Col(rec, e.keyCol)
		if i < 0 {
			return nil, fmt.Errorf("dedup.exact: key column %q is not in the batch", e.keyCol)
		}
		s, ok := rec.Column(i).(*array.String)
		if !ok {
			return nil, fmt.Errorf("dedup.exact: key column %q is %s, want utf8", e.keyCol, rec.Column(i).DataType())
		}
		col = s
	}
	n := col.Len()
	st := &exactState{keys: make([]key, n), skip: make([]bool, n)}
	hs := e.bufs.Get().(*normHash)
	defer e.bufs.Put(hs)
	for i := 0; i < n; i++ {
		if e.keyCol != "" && (col.IsNull(i) || col.Value(i) == "") {
			st.skip[i] = true
			continue
		}
		h := e.norm.hash128(col.Value(i), hs)
		st.keys[i] = key{h.Hi, h.Lo}
	}
	return &pipelines.Result{State: st}, nil
}

// Sequence drops, in input order, each document whose hash an earlier
// document had.
func (e *Exact) Sequence(ctx context.Context, rec arrow.Record, res *pipelines.Result) error {
	st, ok := res.State.(*exactState)
	if !ok {
		return errors.New("dedup.exact: Sequence without the state of Process")
	}
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return fmt.Errorf("dedup.exact: %w", err)
	}
	n := int(rec.NumRows())
	drop := make([]string, n)
	dupOf := make([]string, n)
	for i := 0; i < n; i++ {
		if st.skip[i] {
			continue
		}
		seq, found, err := e.idx.lookup(st.keys[i])
		if err != nil {
			return fmt.Errorf("dedup.exact: %w", err)
		}
		if found {
			drop[i] = ReasonDuplicate
			if dupOf[i], err = e.idx.id(seq); err != nil {
				return fmt.Errorf("dedup.exact: %w", err)
			}
			e.stats.dup(seq)
			continue
		}
		if err := e.idx.insert(st.keys[i], ids.Value(i)); err != nil {
			return fmt.Errorf("dedup.exact: %w", err)
		}
	}
	e.stats.docs += int64(n)
	res.Drop = drop
	res.Columns = append(res.Columns, pipelines.Column{Name: ColDupOf, Array: pipelines.NewStrings(e.env.Alloc, dupOf)})
	res.State = nil
	return nil
}

// Finish saves the incremental index, when configured, and frees the index.
func (e *Exact) Finish(ctx context.Context) error {
	e.stats.spilled = len(e.idx.spilled)
	e.stats.indexed = int64(e.idx.total)
	if e.indexPath != "" {
		if err := pipelines.SaveSnapshot(ctx, e.indexPath, e); err != nil {
			return fmt.Errorf("dedup.exact: saving index %s: %w", e.indexPath, err)
		}
	}
	err := e.idx.close()
	e.cleanup()
	return err
}

// Close removes the spill files and gives the memory back; Finish does it
// too, so Close matters only for a run that failed.
func (e *Exact) Close() error {
	err := e.idx.close()
	e.cleanup()
	return err
}

// Report adds the cluster-size histogram and index figures.
func (e *Exact) Report() map[string]any {
	r := e.stats.report()
	r["index_loaded_documents"] = e.loaded
	return r
}

const exactMagic = "curate dedup.exact index v1\n"

type exactHeader struct {
	Normalize string `json:"normalize"`
	Key       string `json:"key"`
	Hash      string `json:"hash"`
}

func (e *Exact) header() exactHeader {
	return exactHeader{Normalize: e.norm.flags(), Key: e.keyCol, Hash: "xxh3-128"}
}

// Snapshot writes every indexed hash and id to w: the format of the
// incremental index file.
func (e *Exact) Snapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr, _ := json.Marshal(e.header())
	bw.WriteString(exactMagic)
	bw.Write(hdr)
	bw.WriteByte('\n')
	var b [16 + binary.MaxVarintLen64]byte
	err := e.idx.each(func(k key, id string) error {
		binary.LittleEndian.PutUint64(b[0:], k.hi)
		binary.LittleEndian.PutUint64(b[8:], k.lo)
		n := binary.PutUvarint(b[16:], uint64(len(id)))
		bw.Write(b[:16+n])
		_, err := bw.WriteString(id)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the index with a snapshot.
func (e *Exact) Restore(r io.Reader) error {
	if err := e.idx.close(); err != nil {
		return err
	}
	e.loaded = 0
	return e.read(r, "snapshot")
}

func (e *Exact) loadIndex(ctx context.Context) error {
	f, err := storage.Open(ctx, e.indexPath)
	if storage.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dedup.exact: opening index: %w", err)
	}
	defer f.Close()
	return e.read(f, e.indexPath)
}

func (e *Exact) read(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(exactMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != exactMagic {
		return fmt.Errorf("dedup.exact: %s is not a dedup.exact index", name)
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("dedup.exact: %s: truncated header", name)
	}
	var h exactHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("dedup.exact: %s: bad header: %w", name, err)
	}
	if want := e.header(); h != want {
		return fmt.Errorf("dedup.exact: %s was built with normalize=%s key=%q; this stage has normalize=%s key=%q",
			name, h.Normalize, h.Key, want.Normalize, want.Key)
	}
	var b [16]byte
	var id []byte
	for {
		if _, err := io.ReadFull(br, b[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("dedup.exact: %s: truncated at record %d", name, e.loaded+1)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n > 1<<20 {
			return fmt.Errorf("dedup.exact: %s: corrupt record %d", name, e.loaded+1)
		}
		if cap(id) < int(n) {
			id = make([]byte, n)
		}
		id = id[:n]
		if _, err := io.ReadFull(br, id); err != nil {
			return fmt.Errorf("dedup.exact: %s: truncated at record %d", name, e.loaded+1)
		}
		k := key{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}
		if _, found, err := e.idx.lookup(k); err != nil {
			return err
		} else if !found {
			if err := e.idx.insert(k, string(id)); err != nil {
				return fmt.Errorf("dedup.exact: loading %s: %w", name, err)
			}
		}
		e.loaded++
	}
}

// exactIndex maps the hash of each distinct document to its first
// occurrence. The RAM segment is a Go map; when the budget refuses more it
// is sorted into a segmentFile and a new map starts. Each hash is indexed
// once, so the order segments are searched in does not matter.
type exactIndex struct {
	dir      string
	budget   *pipelines.Budget
	total    uint32
	spilled  []*segmentFile
	base     uint32
	ram      map[key]uint32
	ids      idArena
	reserved int64
}

func newExactIndex(dir string, budget *pipelines.Budget) *exactIndex {
	return &exactIndex{dir: dir, budget: budget, ram: map[key]uint32{}}
}

func (x *exactIndex) lookup(k key) (uint32, bool, error) {
	if v, ok := x.ram[k]; ok {
		return x.base + v, true, nil
	}
	for _, s := range x.spilled {
		var got uint32
		found := false
		if err := s.lookup(k, func(v uint32) bool { got, found = v, true; return false }); err != nil {
			return 0, false, err
		}
		if found {
			return s.base + got, true, nil
		}
	}
	return 0, false, nil
}

func (x *exactIndex) id(n uint32) (string, error) {
	if n >= x.base {
		return x.ids.get(int(n - x.base)), nil
	}
	for _, s := range x.spilled {
		if n < s.base+uint32(s.n) {
			return s.id(int(n - s.base))
		}
	}
	return "", nil
}

func (x *exactIndex) insert(k key, id string) error {
	x.ram[k] = uint32(x.ids.len())
	x.ids.add(id)
	x.total++
	need := int64(len(x.ram))*40 + x.ids.footprint() - x.reserved
	for _, s := range x.spilled {
		need += s.ramBytes()
	}
	if need <= 0 {
		return nil
	}
	need = (need + 1<<20 - 1) &^ (1<<20 - 1)
	if x.budget.TryReserve(need) {
		x.reserved += need
		return nil
	}
	if x.ids.len() < minSegmentDocs {
		return nil
	}
	return x.spill()
}

func (x *exactIndex) spill() error {
	entries := make([]entry, 0, len(x.ram))
	for k, v := range x.ram {
		entries = append(entries, entry{k, v})
	}
	s, err := writeSegment(x.dir, x.base, 0, nil, &x.ids, entries)
	if err != nil {
		return err
	}
	x.spilled = append(x.spilled, s)
	x.base = x.total
	x.ram = map[key]uint32{}
	x.ids = idArena{}
	x.budget.Release(x.reserved)
	x.reserved = 0
	return nil
}

// each calls fn with every indexed hash and id in index order.
func (x *exactIndex) each(fn func(k key, id string) error) error {
	for _, s := range x.spilled {
		keys := make([]key, s.n)
		// entries are sorted by key; recover document order through v
		if err := s.scan(func(k key, v uint32) { keys[v] = k }); err != nil {
			return err
		}
		for j, k := range keys {
			id, err := s.id(j)
			if err != nil {
				return err
			}
			if err := fn(k, id); err != nil {
				return err
			}
		}
	}
	keys := make([]key, x.ids.len())
	for k, v := range x.ram {
		keys[v] = k
	}
	for j, k := range keys {
		if err := fn(k, x.ids.get(j)); err != nil {
			return err
		}
	}
	return nil
}

func (x *exactIndex) close() error {
	var first error
	for _, s := range x.spilled {
		if err := s.close(); err != nil && first == nil {
			first = err
		}
	}
	x.spilled = nil
	x.total, x.base = 0, 0
	x.ram = map[key]uint32{}
	x.ids = idArena{}
	x.budget.Release(x.reserved)
	x.reserved = 0
	return first
}
