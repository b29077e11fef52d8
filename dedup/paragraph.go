package dedup

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/zeebo/xxh3"

	"github.com/curatehq/curate/pipelines"
)

var paragraphSpec = pipelines.Spec{
	Name: "dedup.paragraph",
	Doc:  "removes paragraphs (or lines) repeated across the corpus more than max_repeats times; two passes, bounded memory",
	Fields: append([]pipelines.Field{
		{Name: "unit", Type: pipelines.String, Default: "paragraph", Enum: []string{"paragraph", "line"},
			Doc: "paragraph: blocks separated by blank lines; line: single lines"},
		{Name: "max_repeats", Type: pipelines.Int, Default: 3, Min: pipelines.Bound(1),
			Doc: "a unit occurring more often than this in the corpus is removed"},
		{Name: "keep_first", Type: pipelines.Bool, Default: false,
			Doc: "keep the first occurrence (in input order) of each removed unit"},
		{Name: "min_chars", Type: pipelines.Int, Default: 0, Min: pipelines.Bound(0),
			Doc: "units shorter than this (normalized) are never removed"},
	}, normalizeFields(false)...),
	Filter: true,
	MemoryPerDoc: func(pipelines.Params) int64 {
		return 0 // batches and unit hashes spill to disk; counting is an external sort
	},
}

// ColParagraphsRemoved names the int64 column giving how many units
// dedup.paragraph removed from (or, with annotate_only, found repeated in)
// each document.
const ColParagraphsRemoved = "paragraphs_removed"

// ReasonEmptyAfterParagraphs is the drop reason of a document that
// dedup.paragraph emptied.
const ReasonEmptyAfterParagraphs = "empty after paragraph dedup"

func init() {
	pipelines.RegisterBarrier(paragraphSpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Barrier, error) {
		return NewParagraph(p, env)
	})
}

// Paragraph is the dedup.paragraph barrier. Absorb appends each batch to an
// Arrow IPC spill file and each unit's 64-bit hash to a bounded buffer that
// is sorted into run files when full; after the last batch the runs are
// merged to find the hashes occurring more than max_repeats times (kept in
// RAM, sorted), and Emit re-reads the spilled batches and removes those
// units from the texts.
type Paragraph struct {
	env          *pipelines.Env
	norm         normalizer
	lines        bool
	maxRepeats   int
	keepFirst    bool
	minChars     int
	annotateOnly bool

	dir     string
	cleanup func()
	spills  []string // IPC stream files, one per schema change
	cur     *os.File
	curW    *ipc.Writer
	curBuf  *bufio.Writer
	schema  *arrow.Schema

	counter hashCounter
	normBuf []byte

	units, removed, removedBytes, docsEmptied int64
	repeated                                  int
}

// NewParagraph builds the barrier.
func NewParagraph(p pipelines.Params, env *pipelines.Env) (*Paragraph, error) {
	dir, cleanup, err := tempDir(env.TempDir)
	if err != nil {
		return nil, err
	}
	return &Paragraph{env: env, norm: normalizerFrom(p), lines: p.String("unit") == "line",
		maxRepeats: p.Int("max_repeats"), keepFirst: p.Bool("keep_first"), minChars: p.Int("min_chars"),
		annotateOnly: p.Bool("annotate_only"), dir: dir, cleanup: cleanup,
		counter: newHashCounter(dir, env.Memory)}, nil
}

// span is one unit of a text: its content [start, end) and where the next
// unit starts (the unit owns the separator after it).
type span struct{ start, end, next int }

// units splits text into paragraphs (runs of non-blank lines) or lines.
func units(text string, lines bool, dst []span) []span {
	dst = dst[:0]
	start, lastEnd, inUnit := 0, 0, false
	for pos, next := 0, 0; pos <= len(text); pos = next {
		lineEnd := len(text)
		if eol := strings.IndexByte(text[pos:], '\n'); eol >= 0 {
			lineEnd = pos + eol
		}
		next = lineEnd + 1
		blank := strings.TrimSpace(text[pos:lineEnd]) == ""
		switch {
		case lines:
			if !blank {
				dst = append(dst, span{start: pos, end: lineEnd})
			}
		case !blank:
			if !inUnit {
				start, inUnit = pos, true
			}
			lastEnd = lineEnd
		case inUnit:
			dst = append(dst, span{start: start, end: lastEnd})
			inUnit = false
		}
	}
	if inUnit {
		dst = append(dst, span{start: start, end: lastEnd})
	}
	for i := range dst {
		if i+1 < len(dst) {
			dst[i].next = dst[i+1].start
		} else {
			dst[i].next = len(text)
		}
	}
	return dst
}

func (g *Paragraph) hash(unit string) (uint64, bool) {
	g.normBuf = g.norm.append(g.normBuf[:0], unit)
	if len(g.normBuf) == 0 || len(g.normBuf) < g.minChars {
		return 0, false
	}
	return xxh3.Hash(g.normBuf), true
}

// Absorb spills rec and counts its units.
func (g *Paragraph) Absorb(ctx context.Context, rec arrow.Record) error {
	if g.schema == nil || !g.schema.Equal(rec.Schema()) {
		if err := g.closeSpill(); err != nil {
			return err
		}
		f, err := os.CreateTemp(g.dir, "dedup-paragraph-*.arrows")
		if err != nil {
			return fmt.Errorf("dedup.paragraph: spilling: %w", err)
		}
		g.cur, g.curBuf = f, bufio.NewWriterSize(f, 1<<20)
		g.curW = ipc.NewWriter(g.curBuf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(g.env.Alloc))
		g.spills = append(g.spills, f.Name())
		g.schema = rec.Schema()
	}
	if err := g.curW.Write(rec); err != nil {
		return fmt.Errorf("dedup.paragraph: spilling: %w", err)
	}
	texts := pipelines.Texts(rec)
	var sp []span
	for i := 0; i < texts.Len(); i++ {
		t := texts.Value(i)
		sp = units(t, g.lines, sp)
		for _, s := range sp {
			if h, ok := g.hash(t[s.start:s.end]); ok {
				g.units++
				if err := g.counter.add(h); err != nil {
					return fmt.Errorf("dedup.paragraph: %w", err)
				}
			}
		}
	}
	return nil
}

func (g *Paragraph) closeSpill() error {
	if g.curW == nil {
		return nil
	}
	err := g.curW.Close()
	if err == nil {
		err = g.curBuf.Flush()
	}
	if cerr := g.cur.Close(); err == nil {
		err = cerr
	}
	g.curW, g.cur = nil, nil
	if err != nil {
		return fmt.Errorf("dedup.paragraph: spilling: %w", err)
	}
	return nil
}

// Emit finds the repeated units, then re-reads the spilled batches in order
// and emits them with those units removed.
func (g *Paragraph) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	defer g.cleanup()
	if err := g.closeSpill(); err != nil {
		return err
	}
	repeated, err := g.counter.repeated(g.maxRepeats)
	if err != nil {
		return fmt.Errorf("dedup.paragraph: %w", err)
	}
	g.repeated = len(repeated)
	seen := make([]bool, len(repeated))
	for _, path := range g.spills {
		if err := g.emitFile(ctx, path, repeated, seen, emit); err != nil {
			return err
		}
		os.Remove(path)
	}
	return nil
}

func (g *Paragraph) emitFile(ctx context.Context, path string, repeated []uint64, seen []bool, emit func(arrow.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dedup.paragraph: reading spill: %w", err)
	}
	defer f.Close()
	rd, err := ipc.NewReader(bufio.NewReaderSize(f, 1<<20), ipc.WithAllocator(g.env.Alloc))
	if err != nil {
		return fmt.Errorf("dedup.paragraph: reading spill %s: %w", path, err)
	}
	defer rd.Release()
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := g.emitRecord(rd.Record(), repeated, seen, emit); err != nil {
			return err
		}
	}
	if err := rd.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("dedup.paragraph: reading spill %s: %w", path, err)
	}
	return nil
}

func (g *Paragraph) emitRecord(rec arrow.Record, repeated []uint64, seen []bool, emit func(arrow.Record) error) error {
	texts := pipelines.Texts(rec)
	n := texts.Len()
	out := array.NewStringBuilder(g.env.Alloc)
	defer out.Release()
	counts := make([]int64, n)
	keep := make([]bool, n)
	var sp []span
	var b strings.Builder
	for i := 0; i < n; i++ {
		t := texts.Value(i)
		sp = units(t, g.lines, sp)
		b.Reset()
		if len(sp) > 0 {
			b.WriteString(t[:sp[0].start])
		}
		for _, s := range sp {
			h, ok := g.hash(t[s.start:s.end])
			remove := false
			if ok {
				if j, found := slices.BinarySearch(repeated, h); found {
					remove = !(g.keepFirst && !seen[j])
					seen[j] = true
				}
			}
			if remove {
				counts[i]++
				g.removedBytes += int64(s.next - s.start)
				continue
			}
			b.WriteString(t[s.start:s.next])
		}
		g.removed += counts[i]
		text := t
		if counts[i] > 0 && !g.annotateOnly {
			text = strings.TrimRight(b.String(), " \t\r\n")
		}
		keep[i] = g.annotateOnly || counts[i] == 0 || strings.TrimSpace(text) != ""
		if !keep[i] {
			g.docsEmptied++
		}
		out.Append(text)
	}
	textArr := out.NewArray()
	defer textArr.Release()
	countArr := pipelines.NewInts(g.env.Alloc, counts)
	defer countArr.Release()

	ti := pipelines.Col(rec, pipelines.ColText)
	fields := slices.Clone(rec.Schema().Fields())
	cols := slices.Clone(rec.Columns())
	cols[ti] = textArr
	if ci := pipelines.Col(rec, ColParagraphsRemoved); ci >= 0 {
		fields[ci] = arrow.Field{Name: ColParagraphsRemoved, Type: arrow.PrimitiveTypes.Int64}
		cols[ci] = countArr
	} else {
		fields = append(fields, arrow.Field{Name: ColParagraphsRemoved, Type: arrow.PrimitiveTypes.Int64})
		cols = append(cols, countArr)
	}
	md := rec.Schema().Metadata()
	full := array.NewRecord(arrow.NewSchema(fields, &md), cols, int64(n))
	defer full.Release()
	// emit the kept rows as contiguous slices
	for i := 0; i < n; {
		if !keep[i] {
			i++
			continue
		}
		j := i
		for j < n && keep[j] {
			j++
		}
		var part arrow.Record
		if i == 0 && j == n {
			part = full
			part.Retain()
		} else {
			part = full.NewSlice(int64(i), int64(j))
		}
		err := emit(part)
		part.Release()
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

// Dropped reports the documents that lost every unit.
func (g *Paragraph) Dropped() map[string]int64 {
	if g.docsEmptied == 0 {
		return map[string]int64{}
	}
	return map[string]int64{ReasonEmptyAfterParagraphs: g.docsEmptied}
}

// Report gives the units counted, repeated and removed.
func (g *Paragraph) Report() map[string]any {
	return map[string]any{"units": g.units, "repeated_units": g.repeated,
		"units_removed": g.removed, "bytes_removed": g.removedBytes, "documents_emptied": g.docsEmptied,
		"hash_runs": g.counter.runsWritten}
}

// hashCounter counts 64-bit hashes exactly in bounded memory: hashes gather
// in a buffer reserved from the budget; a full buffer is sorted and written
// to a run file, and the runs are merged at the end.
type hashCounter struct {
	dir         string
	budget      *pipelines.Budget
	buf         []uint64
	reserved    int64
	runs        []string
	runsWritten int
}

const (
	maxCounterBuffer = 64 << 20
	minCounterBuffer = 1 << 20
)

func newHashCounter(dir string, budget *pipelines.Budget) hashCounter {
	size := int64(maxCounterBuffer)
	for size > minCounterBuffer && !budget.TryReserve(size) {
		size /= 2
	}
	c := hashCounter{dir: dir, budget: budget}
	if size > minCounterBuffer || budget.TryReserve(size) {
		c.reserved = size
	}
	c.buf = make([]uint64, 0, size/8)
	return c
}

func (c *hashCounter) add(h uint64) error {
	if len(c.buf) == cap(c.buf) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	c.buf = append(c.buf, h)
	return nil
}

func (c *hashCounter) flush() error {
	slices.Sort(c.buf)
	f, err := os.CreateTemp(c.dir, "dedup-hashes-*.run")
	if err != nil {
		return fmt.Errorf("spilling unit hashes: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var b [8]byte
	for _, h := range c.buf {
		binary.LittleEndian.PutUint64(b[:], h)
		w.Write(b[:])
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spilling unit hashes: %w", err)
	}
	c.runs = append(c.runs, f.Name())
	c.runsWritten++
	c.buf = c.buf[:0]
	return nil
}

// repeated returns, sorted, the hashes added more than maxRepeats times,
// and frees the counter.
func (c *hashCounter) repeated(maxRepeats int) ([]uint64, error) {
	defer func() {
		for _, r := range c.runs {
			os.Remove(r)
		}
		c.runs = nil
		c.buf = nil
		c.budget.Release(c.reserved)
		c.reserved = 0
	}()
	var out []uint64
	count := func(h uint64, n int) {
		if n > maxRepeats {
			out = append(out, h)
		}
	}
	if len(c.runs) == 0 {
		slices.Sort(c.buf)
		for i := 0; i < len(c.buf); {
			j := i
			for j < len(c.buf) && c.buf[j] == c.buf[i] {
				j++
			}
			count(c.buf[i], j-i)
			i = j
		}
		return out, nil
	}
	if len(c.buf) > 0 {
		if err := c.flush(); err != nil {
			return nil, err
		}
	}
	c.buf = nil
	h := &runHeap{}
	for _, r := range c.runs {
		f, err := os.Open(r)
		if err != nil {
			return nil, fmt.Errorf("merging unit hashes: %w", err)
		}
		defer f.Close()
		rr := &runReader{r: bufio.NewReaderSize(f, 64<<10)}
		if rr.next() {
			heap.Push(h, rr)
		} else if rr.err != nil {
			return nil, rr.err
		}
	}
	var cur uint64
	n := 0
	for h.Len() > 0 {
		rr := (*h)[0]
		if n > 0 && rr.cur != cur {
			count(cur, n)
			n = 0
		}
		cur = rr.cur
		n++
		if rr.next() {
			heap.Fix(h, 0)
		} else {
			if rr.err != nil {
				return nil, rr.err
			}
			heap.Pop(h)
		}
	}
	if n > 0 {
		count(cur, n)
	}
	return out, nil
}

type runReader struct {
	r   *bufio.Reader
	cur uint64
	b   [8]byte
	err error
}

func (r *runReader) next() bool {
	if _, err := io.ReadFull(r.r, r.b[:]); err != nil {
		if err != io.EOF {
			r.err = fmt.Errorf("merging unit hashes: %w", err)
		}
		return false
	}
	r.cur = binary.LittleEndian.Uint64(r.b[:])
	return true
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].cur < h[j].cur }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
