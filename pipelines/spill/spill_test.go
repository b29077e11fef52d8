package spill

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

// sortRef sorts entries by key, stably: what Sorter must return.
func sortRef(ents [][]byte, keyLen int) [][]byte {
	out := slices.Clone(ents)
	slices.SortStableFunc(out, func(a, b []byte) int { return bytes.Compare(a[:keyLen], b[:keyLen]) })
	return out
}

func collect(t *testing.T, s *Sorter) [][]byte {
	t.Helper()
	it, err := s.Iter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out [][]byte
	for it.Next() {
		out = append(out, append(slices.Clone(it.Key()), it.Value()...))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSorter(t *testing.T) {
	cases := []struct {
		name           string
		keyLen, valLen int
		n              int
		keySpace       int // small spaces make many ties
		budget         int64
		wantRuns       bool
	}{
		{"in memory", 8, 8, 5000, 1 << 30, 1 << 30, false},
		{"ties in memory", 2, 8, 5000, 7, 1 << 30, false},
		{"tiny budget", 8, 8, 20000, 1 << 30, 1, true},
		{"tiny budget ties", 1, 8, 20000, 3, 1, true},
		{"cascade merge", 4, 8, 40000, 1000, 1, true}, // > fanIn runs of minEntries
		{"no key keeps insertion order", 0, 8, 3000, 1, 1, true},
		{"budget of a few steps", 8, 16, 200000, 1 << 30, 2 * reserveStep, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			budget := pipelines.NewBudget(c.budget)
			dir := t.TempDir()
			s, err := NewSorter(dir, c.keyLen, c.valLen, budget)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(c.n)))
			var ents [][]byte
			for i := 0; i < c.n; i++ {
				e := make([]byte, c.keyLen+c.valLen)
				k := rng.IntN(c.keySpace)
				for j := 0; j < c.keyLen; j++ {
					e[j] = byte(k >> (8 * (c.keyLen - 1 - j)))
				}
				binary.BigEndian.PutUint64(e[c.keyLen:], uint64(i)) // insertion number
				ents = append(ents, e)
				if err := s.Add(ctx, e[:c.keyLen], e[c.keyLen:]); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Runs() > 0; got != c.wantRuns {
				t.Errorf("runs = %d, want spilled=%v", s.Runs(), c.wantRuns)
			}
			want := sortRef(ents, c.keyLen)
			for pass := 0; pass < 2; pass++ { // a second pass sees the same order
				got := collect(t, s)
				if len(got) != len(want) {
					t.Fatalf("pass %d: %d entries, want %d", pass, len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("pass %d: entry %d = %x, want %x", pass, i, got[i], want[i])
					}
				}
			}
			if err := s.Add(ctx, make([]byte, c.keyLen), make([]byte, c.valLen)); err == nil {
				t.Error("Add after Iter: no error")
			}
			if budget.Used() > c.budget {
				t.Errorf("budget used %d > limit %d", budget.Used(), c.budget)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if budget.Used() != 0 {
				t.Errorf("after Close the budget still has %d bytes reserved", budget.Used())
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 0 {
				t.Errorf("files left after Close: %v", left)
			}
		})
	}
}

func TestSorterBadEntries(t *testing.T) {
	if _, err := NewSorter(t.TempDir(), 0, 0, nil); err == nil {
		t.Error("empty entries: no error")
	}
	s, err := NewSorter(t.TempDir(), 4, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add(context.Background(), []byte{1, 2, 3}, []byte{1, 2, 3, 4}); err == nil {
		t.Error("short key: no error")
	}
	if err := s.Add(context.Background(), []byte{1, 2, 3, 4}, []byte{1}); err == nil {
		t.Error("short value: no error")
	}
}

// FuzzSorter checks arbitrary entries and budgets against a stable sort.
func FuzzSorter(f *testing.F) {
	f.Add([]byte("hello world, sort me please"), uint8(2), uint8(1), uint16(3))
	f.Add(bytes.Repeat([]byte{0, 1, 2}, 400), uint8(1), uint8(2), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, keyLen, valLen uint8, budget uint16) {
		k, v := int(keyLen%9), int(valLen%9)
		if k+v == 0 {
			return
		}
		s, err := NewSorter(t.TempDir(), k, v, pipelines.NewBudget(int64(budget)+1))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var ents [][]byte
		for i := 0; i+k+v <= len(data); i += k + v {
			e := data[i : i+k+v]
			ents = append(ents, e)
			if err := s.Add(context.Background(), e[:k], e[k:]); err != nil {
				t.Fatal(err)
			}
		}
		want := sortRef(ents, k)
		got := collect(t, s)
		if len(got) != len(want) {
			t.Fatalf("%d entries, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("entry %d = %x, want %x", i, got[i], want[i])
			}
		}
	})
}

func docBatch(alloc memory.Allocator, from, n int, extra string) arrow.Record {
	docs := make([]pipelinetest.Doc, n)
	for i := range docs {
		docs[i] = pipelinetest.Doc{ID: fmt.Sprintf("d%05d", from+i), Text: fmt.Sprintf("text of document %d %s", from+i, bytes.Repeat([]byte("x"), (from+i)%50)),
			Domain: []string{"web", "books"}[(from+i)%2]}
		if extra != "" {
			docs[i].Extra = map[string]any{extra: float64(from + i)}
		}
	}
	return pipelinetest.Batch(alloc, docs...)
}

func ids(t *testing.T, rec arrow.Record) []string {
	t.Helper()
	col, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, col.Len())
	for i := range out {
		out[i] = col.Value(i)
	}
	return out
}

// newTestRecords returns a Records spilling into dir over a checked
// allocator; the test's cleanup closes it, then fails the test if a buffer
// of the allocator was not released.
func newTestRecords(t *testing.T, dir string) (*Records, *memory.CheckedAllocator) {
	t.Helper()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	r, err := NewRecords(dir, alloc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, alloc
}

func TestRecordsScanUnionSchema(t *testing.T) {
	dir := t.TempDir()
	r, alloc := newTestRecords(t, dir)
	ctx := context.Background()
	extras := []string{"", "score", "score", "", "url"}
	var want []string
	for i, e := range extras {
		b := docBatch(alloc, i*10, 10, e)
		want = append(want, ids(t, b)...)
		first, err := r.Append(ctx, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		if first != int64(i*10) {
			t.Errorf("batch %d first row %d", i, first)
		}
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if r.Rows() != 50 {
		t.Errorf("rows %d", r.Rows())
	}
	var got []string
	err := r.Scan(ctx, func(rec arrow.Record, first int64) error {
		if !rec.Schema().Equal(r.Schema()) {
			t.Errorf("batch at %d: schema %s, want %s", first, rec.Schema(), r.Schema())
		}
		got = append(got, ids(t, rec)...)
		sc := rec.Column(pipelines.Col(rec, "score"))
		if first == 0 && sc.NullN() != 10 {
			t.Errorf("batch without score: %d nulls", sc.NullN())
		}
		if first == 10 && sc.NullN() != 0 {
			t.Errorf("batch with score: %d nulls", sc.NullN())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("scan ids %v, want %v", got, want)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left after Close: %v", left)
	}
}

func TestRecordsTypeChange(t *testing.T) {
	r, alloc := newTestRecords(t, t.TempDir())
	ctx := context.Background()
	// Sources type extra fields per batch: numbers, then text, then nulls
	// only (float64) all become one text column.
	batches := []arrow.Record{
		docBatch(alloc, 0, 2, "score"),
		pipelinetest.Batch(alloc, pipelinetest.Doc{ID: "t", Text: "x", Extra: map[string]any{"score": "high"}}),
		pipelinetest.Batch(alloc, pipelinetest.Doc{ID: "n", Text: "x", Extra: map[string]any{"score": nil}}),
		pipelinetest.Batch(alloc, pipelinetest.Doc{ID: "b", Text: "x", Extra: map[string]any{"score": true}}),
	}
	for _, b := range batches {
		if _, err := r.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	r.Finish()
	var got []string
	r.Scan(ctx, func(rec arrow.Record, _ int64) error {
		col, err := pipelines.StringCol(rec, "score")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < col.Len(); i++ {
			if col.IsNull(i) {
				got = append(got, "null")
			} else {
				got = append(got, col.Value(i))
			}
		}
		return nil
	})
	if want := []string{"0", "1", "high", "null", "true"}; !slices.Equal(got, want) {
		t.Errorf("scores %q, want %q", got, want)
	}

	// A list column that turns into text cannot be reconciled.
	r2, _ := NewRecords(t.TempDir(), alloc)
	defer r2.Close()
	lb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
	lb.Append(true)
	la := lb.NewArray()
	lb.Release()
	base := pipelinetest.Texts(alloc, "x")
	withList := array.NewRecord(arrow.NewSchema(append(base.Schema().Fields(), arrow.Field{Name: "tokens", Type: la.DataType()}), nil),
		append(base.Columns(), la), 1)
	la.Release()
	base.Release()
	defer withList.Release()
	asText := pipelinetest.Batch(alloc, pipelinetest.Doc{Text: "x", Extra: map[string]any{"tokens": "1 2 3"}})
	defer asText.Release()
	if _, err := r2.Append(ctx, withList); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Append(ctx, asText); err == nil {
		t.Error("list column turning into text: no error")
	}
}

func TestGather(t *testing.T) {
	cases := []struct {
		name        string
		rows        int
		bucketBytes int64
		copies      int
	}{
		{"one bucket in memory", 500, 1 << 30, 1},
		{"many buckets", 2000, 8 << 10, 1},
		{"repeats across buckets", 1000, 4 << 10, 3},
		{"bucket of one row", 40, 1, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r, alloc := newTestRecords(t, dir)
			ctx := context.Background()
			budget := pipelines.NewBudget(1) // every sorter spills
			var all []string
			for from := 0; from < c.rows; from += 97 {
				extra := ""
				if from%2 == 1 {
					extra = "score"
				}
				b := docBatch(alloc, from, min(97, c.rows-from), extra)
				if from%3 == 0 {
					b = withTokens(alloc, b, from)
				}
				all = append(all, ids(t, b)...)
				if _, err := r.Append(ctx, b); err != nil {
					t.Fatal(err)
				}
				b.Release()
			}
			if err := r.Finish(); err != nil {
				t.Fatal(err)
			}
			g, err := r.Gather(budget, c.bucketBytes)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			rng := rand.New(rand.NewPCG(7, 7))
			var order []int64
			for k := 0; k < c.copies; k++ {
				for _, i := range rng.Perm(c.rows) {
					order = append(order, int64(i))
				}
			}
			var want []string
			for _, row := range order {
				if err := g.Add(ctx, row); err != nil {
					t.Fatal(err)
				}
				want = append(want, all[row])
			}
			var got []string
			err = g.Emit(ctx, 64, 1<<20, func(rec arrow.Record) error {
				if rec.NumRows() > 64 {
					t.Errorf("batch of %d rows", rec.NumRows())
				}
				if !rec.Schema().Equal(r.Schema()) {
					t.Errorf("schema %s", rec.Schema())
				}
				got = append(got, ids(t, rec)...)
				checkTokens(t, rec)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("gathered %d ids, want %d; first %v, want %v", len(got), len(want), got[:min(5, len(got))], want[:min(5, len(want))])
			}
			if c.bucketBytes < 1<<20 && g.Buckets() < 2 {
				t.Errorf("%d buckets", g.Buckets())
			}
			if err := g.Add(ctx, int64(c.rows)); err == nil {
				t.Error("Add of a row past the end: no error")
			}
		})
	}
}

func TestGatherTextsSurvive(t *testing.T) {
	r, alloc := newTestRecords(t, t.TempDir())
	ctx := context.Background()
	b := pipelinetest.Texts(alloc, "alpha", "", "gamma \u00e9\u00e8", "delta")
	r.Append(ctx, b)
	b.Release()
	r.Finish()
	g, err := r.Gather(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, row := range []int64{3, 2, 2, 1, 0} {
		g.Add(ctx, row)
	}
	var texts []string
	g.Emit(ctx, 0, 0, func(rec arrow.Record) error {
		tx := pipelines.Texts(rec)
		for i := 0; i < tx.Len(); i++ {
			texts = append(texts, tx.Value(i))
		}
		return nil
	})
	want := []string{"delta", "gamma \u00e9\u00e8", "gamma \u00e9\u00e8", "", "alpha"}
	if !slices.Equal(texts, want) {
		t.Errorf("texts %q, want %q", texts, want)
	}
}

func TestCloseRemovesFolder(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecords(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := pipelinetest.Texts(memory.DefaultAllocator, "a", "b")
	r.Append(context.Background(), b)
	b.Release()
	r.Close() // before Finish: the open file is aborted too
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("left: %v", m)
	}
}

// tokenBase offsets the token ids of every other batch of 97 documents
// past 16 bits, so that the spill stores some token lists packed and some
// not, and buckets mix both.
func tokenBase(n int) int32 {
	if (n/97)%2 == 1 {
		return 1 << 20
	}
	return 0
}

// withTokens adds a list<int32> tokens column (null every 7th row) and an
// int16 column (a type Gather copies through its fallback) derived from
// the row's document number, and releases rec.
func withTokens(alloc memory.Allocator, rec arrow.Record, from int) arrow.Record {
	defer rec.Release()
	lb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
	defer lb.Release()
	vb := lb.ValueBuilder().(*array.Int32Builder)
	sb := array.NewInt16Builder(alloc)
	defer sb.Release()
	for i := 0; i < int(rec.NumRows()); i++ {
		n := from + i
		sb.Append(int16(n))
		if n%7 == 0 {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		for k := 0; k < n%5; k++ {
			vb.Append(tokenBase(n) + int32(n*10+k))
		}
	}
	toks, small := lb.NewArray(), sb.NewArray()
	defer toks.Release()
	defer small.Release()
	fields := append(append([]arrow.Field(nil), rec.Schema().Fields()...),
		arrow.Field{Name: "tokens", Type: toks.DataType(), Nullable: true}, arrow.Field{Name: "small", Type: small.DataType()})
	return array.NewRecord(arrow.NewSchema(fields, nil), append(append([]arrow.Array(nil), rec.Columns()...), toks, small), rec.NumRows())
}

// checkTokens checks the columns withTokens added against each row's id.
func checkTokens(t *testing.T, rec arrow.Record) {
	t.Helper()
	ti, si := pipelines.Col(rec, "tokens"), pipelines.Col(rec, "small")
	if ti < 0 {
		return
	}
	toks, small := rec.Column(ti).(*array.List), rec.Column(si).(*array.Int16)
	for i, id := range ids(t, rec) {
		var n int
		fmt.Sscanf(id, "d%d", &n)
		if small.IsNull(i) { // a batch without the columns
			if !toks.IsNull(i) {
				t.Fatalf("%s: tokens without small", id)
			}
			continue
		}
		if int(small.Value(i)) != n {
			t.Fatalf("%s: small %d", id, small.Value(i))
		}
		if toks.IsNull(i) != (n%7 == 0) {
			t.Fatalf("%s: tokens null %v", id, toks.IsNull(i))
		}
		s, e := toks.ValueOffsets(i)
		vals := toks.ListValues().(*array.Int32).Int32Values()[s:e]
		for k, v := range vals {
			if v != tokenBase(n)+int32(n*10+k) {
				t.Fatalf("%s: tokens %v", id, vals)
			}
		}
		if !toks.IsNull(i) && len(vals) != n%5 {
			t.Fatalf("%s: %d tokens", id, len(vals))
		}
	}
}

// TestRecordsPackedTokens: token lists are stored narrowed when their ids
// fit 16 bits and read back exactly, next to batches whose ids do not.
func TestRecordsPackedTokens(t *testing.T) {
	r, alloc := newTestRecords(t, t.TempDir())
	ctx := context.Background()
	want := [][]int32{{0, 65535, 7}, nil, {}, {70000, 1}, {3}}
	for _, batch := range [][][]int32{want[:3], want[3:]} {
		lb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
		vb := lb.ValueBuilder().(*array.Int32Builder)
		for _, toks := range batch {
			if toks == nil {
				lb.AppendNull()
				continue
			}
			lb.Append(true)
			vb.AppendValues(toks, nil)
		}
		la := lb.NewArray()
		lb.Release()
		texts := make([]string, len(batch))
		base := pipelinetest.Texts(alloc, texts...)
		rec := array.NewRecord(arrow.NewSchema(append(base.Schema().Fields(), arrow.Field{Name: "tokens", Type: la.DataType(), Nullable: true}), nil),
			append(base.Columns(), la), base.NumRows())
		base.Release()
		la.Release()
		if _, err := r.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(r.files) != 2 || r.files[0].schema.Field(4).Type.(*arrow.ListType).Elem().ID() != arrow.UINT16 {
		t.Errorf("stored schemas: first %v", r.files[0].schema)
	}
	var got [][]int32
	r.Scan(ctx, func(rec arrow.Record, _ int64) error {
		l := rec.Column(4).(*array.List)
		if !arrow.TypeEqual(l.DataType(), arrow.ListOf(arrow.PrimitiveTypes.Int32)) {
			t.Errorf("read back as %s", l.DataType())
		}
		for i := 0; i < l.Len(); i++ {
			if l.IsNull(i) {
				got = append(got, nil)
				continue
			}
			s, e := l.ValueOffsets(i)
			got = append(got, append([]int32{}, l.ListValues().(*array.Int32).Int32Values()[s:e]...))
		}
		return nil
	})
	if fmt.Sprint(got) != fmt.Sprint(want) || got[1] != nil || got[2] == nil {
		t.Errorf("tokens %v, want %v", got, want)
	}
}

// TestScanStopsOnError: an error from the callback ends the scan early with
// that error and leaks nothing.
func TestScanStopsOnError(t *testing.T) {
	r, alloc := newTestRecords(t, t.TempDir())
	ctx := context.Background()
	for from := 0; from < 200; from += 10 {
		b := docBatch(alloc, from, 10, "")
		r.Append(ctx, b)
		b.Release()
	}
	r.Finish()
	calls := 0
	stop := fmt.Errorf("enough")
	err := r.Scan(ctx, func(arrow.Record, int64) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("Scan = %v after %d calls, want %v after 3", err, calls, stop)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Scan(cctx, func(arrow.Record, int64) error { return nil }); err == nil {
		t.Error("cancelled scan: no error")
	}
}

// TestRecordsAppendStored: batches stored elsewhere as IPC streams (the
// runner's barrier log) are read back from there, in order with appended
// ones, through Scan and Gather, and Close leaves their file alone.
func TestRecordsAppendStored(t *testing.T) {
	dir := t.TempDir()
	r, alloc := newTestRecords(t, dir)
	ctx := context.Background()
	log := filepath.Join(dir, "log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	var off int64
	for from := 0; from < 600; from += 97 {
		b := docBatch(alloc, from, min(97, 600-from), map[bool]string{true: "score"}[from%2 == 1])
		if from%3 == 0 {
			b = withTokens(alloc, b, from)
		}
		all = append(all, ids(t, b)...)
		if (from/97)%3 == 1 { // every third batch is spilled, the rest stored
			if _, err := r.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
		} else {
			var buf bytes.Buffer
			w := ipc.NewWriter(&buf, ipc.WithSchema(b.Schema()), ipc.WithAllocator(alloc))
			if err := w.Write(b); err != nil {
				t.Fatal(err)
			}
			w.Close()
			f.Write([]byte("junk")) // frames need not be adjacent
			off += 4
			if _, err := r.AppendStored(b, pipelines.LogFrame{Path: log, Offset: off, Length: int64(buf.Len())}); err != nil {
				t.Fatal(err)
			}
			f.Write(buf.Bytes())
			off += int64(buf.Len())
		}
		b.Release()
	}
	f.Close()
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	var scanned []string
	if err := r.Scan(ctx, func(rec arrow.Record, first int64) error {
		if int(first) != len(scanned) || !rec.Schema().Equal(r.Schema()) {
			t.Errorf("batch at row %d (want %d), schema %s", first, len(scanned), rec.Schema())
		}
		scanned = append(scanned, ids(t, rec)...)
		checkTokens(t, rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scanned, all) {
		t.Fatalf("scanned %d ids, want %d", len(scanned), len(all))
	}
	g, err := r.Gather(pipelines.NewBudget(1), 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, i := range rand.New(rand.NewPCG(5, 5)).Perm(len(all)) {
		g.Add(ctx, int64(i))
		want = append(want, all[i])
	}
	var got []string
	if err := g.Emit(ctx, 50, 1<<20, func(rec arrow.Record) error {
		got = append(got, ids(t, rec)...)
		checkTokens(t, rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if !slices.Equal(got, want) {
		t.Fatalf("gathered %d ids, want %d", len(got), len(want))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log); err != nil {
		t.Errorf("the stored batches' file: %v", err)
	}
}

// TestGatherLocated: long texts and token lists of batches stored in the
// barrier log travel through the buckets as file positions and are read
// back from the log in the final copy; short ones, nulls and spilled
// batches are copied. The output is exact either way.
func TestGatherLocated(t *testing.T) {
	for _, c := range []struct {
		bucket int64
		packed bool // the log packs token ids (pipelines.PackTokenLists)
	}{{1 << 30, false}, {64 << 10, false}, {1 << 30, true}, {64 << 10, true}} {
		bucket := c.bucket
		t.Run(fmt.Sprint(bucket, c.packed), func(t *testing.T) {
			dir := t.TempDir()
			r, alloc := newTestRecords(t, dir)
			ctx := context.Background()
			log := filepath.Join(dir, "log")
			f, err := os.Create(log)
			if err != nil {
				t.Fatal(err)
			}
			text := func(n int) string {
				if n%11 == 0 {
					return "short"
				}
				return strings.Repeat(fmt.Sprintf("<%d>", n), 60+n%40)
			}
			toks := func(n int) []int32 {
				out := make([]int32, 100+n%30)
				for k := range out {
					out[k] = int32((n*1000 + k) % 60000) // fits 16 bits: packable
				}
				return out
			}
			var off int64
			const rows = 400
			for from := 0; from < rows; from += 50 {
				docs := make([]pipelinetest.Doc, 50)
				for i := range docs {
					docs[i] = pipelinetest.Doc{ID: fmt.Sprintf("d%05d", from+i), Text: text(from + i), Domain: "web"}
				}
				base := pipelinetest.Batch(alloc, docs...)
				lb := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
				vb := lb.ValueBuilder().(*array.Int32Builder)
				for i := range docs {
					if (from+i)%13 == 0 {
						lb.AppendNull()
						continue
					}
					lb.Append(true)
					vb.AppendValues(toks(from+i), nil)
				}
				la := lb.NewArray()
				lb.Release()
				b := array.NewRecord(arrow.NewSchema(append(base.Schema().Fields(), arrow.Field{Name: "tokens", Type: la.DataType(), Nullable: true}), nil),
					append(base.Columns(), la), base.NumRows())
				base.Release()
				la.Release()
				if from == 100 { // one spilled batch among the stored ones
					if _, err := r.Append(ctx, b); err != nil {
						t.Fatal(err)
					}
				} else {
					stored := b
					if c.packed {
						stored = pipelines.PackTokenLists(alloc, b)
						defer stored.Release()
						if stored.Schema().Field(4).Type.(*arrow.ListType).Elem().ID() != arrow.UINT16 {
							t.Fatalf("not packed: %s", stored.Schema())
						}
					}
					var buf bytes.Buffer
					w := ipc.NewWriter(&buf, ipc.WithSchema(stored.Schema()), ipc.WithAllocator(alloc))
					if err := w.Write(stored); err != nil {
						t.Fatal(err)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					if _, err := r.AppendStored(b, pipelines.LogFrame{Path: log, Offset: off, Length: int64(buf.Len())}); err != nil {
						t.Fatal(err)
					}
					if _, err := f.Write(buf.Bytes()); err != nil {
						t.Fatal(err)
					}
					off += int64(buf.Len())
				}
				b.Release()
			}
			f.Close()
			if err := r.Finish(); err != nil {
				t.Fatal(err)
			}
			g, err := r.Gather(pipelines.NewBudget(1), bucket)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			// The stored batches are decoded in place and their long
			// columns located.
			g.cands = locCandidates(r.union)
			var located int
			err = r.scanFrames(ctx, true, false, func(rec arrow.Record, first int64, fr *frame) error {
				for _, l := range g.locate(rec, fr) {
					if l.unit > 0 {
						located++
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if located != 2*(rows/50-1) {
				t.Errorf("%d columns of batches located, want %d", located, 2*(rows/50-1))
			}
			var order []int64
			for k := 0; k < 2; k++ {
				for _, i := range rand.New(rand.NewPCG(9, uint64(k))).Perm(rows) {
					order = append(order, int64(i))
				}
			}
			for _, row := range order {
				g.Add(ctx, row)
			}
			var got int
			err = g.Emit(ctx, 37, 1<<20, func(rec arrow.Record) error {
				tx := pipelines.Texts(rec)
				tl := rec.Column(pipelines.Col(rec, "tokens")).(*array.List)
				for i := 0; i < int(rec.NumRows()); i++ {
					n := int(order[got])
					got++
					if tx.Value(i) != text(n) {
						t.Fatalf("row %d (doc %d): text %.40q", got-1, n, tx.Value(i))
					}
					if tl.IsNull(i) != (n%13 == 0) {
						t.Fatalf("doc %d: tokens null %v", n, tl.IsNull(i))
					}
					if tl.IsNull(i) {
						continue
					}
					s, e := tl.ValueOffsets(i)
					if v := tl.ListValues().(*array.Int32).Int32Values()[s:e]; !slices.Equal(v, toks(n)) {
						t.Fatalf("doc %d: tokens %v", n, v[:min(5, len(v))])
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != len(order) {
				t.Errorf("%d rows, want %d", got, len(order))
			}
		})
	}
}

// TestGatherEmitError: an error from emit ends Emit with that error, the
// batches built ahead are released, and nothing hangs.
func TestGatherEmitError(t *testing.T) {
	r, alloc := newTestRecords(t, t.TempDir())
	ctx := context.Background()
	for from := 0; from < 1000; from += 100 {
		b := docBatch(alloc, from, 100, "")
		_, err := r.Append(ctx, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	for _, bucket := range []int64{1 << 30, 8 << 10} {
		g, err := r.Gather(pipelines.NewBudget(1<<30), bucket)
		if err != nil {
			t.Fatal(err)
		}
		for i := 999; i >= 0; i-- {
			g.Add(ctx, int64(i))
		}
		calls := 0
		stop := fmt.Errorf("enough")
		err = g.Emit(ctx, 10, 1<<20, func(arrow.Record) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		g.Close()
		if err != stop || calls != 3 {
			t.Errorf("bucket %d: Emit = %v after %d calls, want %v after 3", bucket, err, calls, stop)
		}
	}
}
