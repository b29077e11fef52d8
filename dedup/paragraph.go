package dedup

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/spill"
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
	// No MemoryPerDoc: batches and unit hashes spill to disk (package spill)
	// within --memory; only the repeated units' hashes stay in RAM.
	Filter: true,
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

// Paragraph is the dedup.paragraph barrier. Absorb appends each batch to a
// record spill (Arrow IPC files, package spill) and each unit's 64-bit hash
// to an external sorter under the memory budget; after the last batch the
// sorted hashes are counted to find those occurring more than max_repeats
// times (kept in RAM, sorted: only the repeated ones), and Emit re-reads the
// spilled batches and removes those units from the texts. Close removes the
// spill files.
type Paragraph struct {
	env          *pipelines.Env
	norm         *normalizer
	lines        bool
	maxRepeats   int
	keepFirst    bool
	minChars     int
	annotateOnly bool

	records *spill.Records
	hashes  *spill.Sorter
	normBuf []byte

	units, removed, removedBytes, docsEmptied int64
	repeated, hashRuns                        int
}

// NewParagraph builds the barrier.
func NewParagraph(p pipelines.Params, env *pipelines.Env) (*Paragraph, error) {
	records, err := spill.NewRecords(env.TempDir, env.Alloc)
	if err != nil {
		return nil, fmt.Errorf("dedup.paragraph: %w", err)
	}
	hashes, err := spill.NewSorter(env.TempDir, 8, 0, env.Memory)
	if err != nil {
		records.Close()
		return nil, fmt.Errorf("dedup.paragraph: %w", err)
	}
	return &Paragraph{env: env, norm: normalizerFrom(p), lines: p.String("unit") == "line",
		maxRepeats: p.Int("max_repeats"), keepFirst: p.Bool("keep_first"), minChars: p.Int("min_chars"),
		annotateOnly: p.Bool("annotate_only"), records: records, hashes: hashes}, nil
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
	if _, err := g.records.Append(ctx, rec); err != nil {
		return fmt.Errorf("dedup.paragraph: %w", err)
	}
	var kb [8]byte
	return g.eachUnitHash(rec, func(_ int, h uint64) error {
		g.units++
		binary.BigEndian.PutUint64(kb[:], h)
		if err := g.hashes.Add(ctx, kb[:], nil); err != nil {
			return fmt.Errorf("dedup.paragraph: %w", err)
		}
		return nil
	})
}

// eachUnitHash calls fn with the hash of each unit of rec that is counted
// (normalized, non-empty, at least min_chars long), row by row, in order,
// until fn returns an error.
func (g *Paragraph) eachUnitHash(rec arrow.Record, fn func(row int, h uint64) error) error {
	texts := pipelines.Texts(rec)
	var sp []span
	for i := 0; i < texts.Len(); i++ {
		t := texts.Value(i)
		sp = units(t, g.lines, sp)
		for _, s := range sp {
			if h, ok := g.hash(t[s.start:s.end]); ok {
				if err := fn(i, h); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// repeatedUnits returns, sorted, the unit hashes seen more than maxRepeats
// times, and frees the sorter.
func (g *Paragraph) repeatedUnits(ctx context.Context) ([]uint64, error) {
	defer g.hashes.Close()
	it, err := g.hashes.Iter(ctx)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint64
	var cur uint64
	n := 0
	for it.Next() {
		h := binary.BigEndian.Uint64(it.Key())
		if n > 0 && h != cur {
			if n > g.maxRepeats {
				out = append(out, cur)
			}
			n = 0
		}
		cur = h
		n++
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if n > g.maxRepeats {
		out = append(out, cur)
	}
	g.hashRuns = g.hashes.Runs()
	return out, nil
}

// Emit finds the repeated units, then re-reads the spilled batches in order
// and emits them with those units removed.
func (g *Paragraph) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	defer g.Close()
	if err := g.records.Finish(); err != nil {
		return fmt.Errorf("dedup.paragraph: %w", err)
	}
	repeated, err := g.repeatedUnits(ctx)
	if err != nil {
		return fmt.Errorf("dedup.paragraph: %w", err)
	}
	g.repeated = len(repeated)
	seen := make([]bool, len(repeated))
	return g.records.Scan(ctx, func(rec arrow.Record, _ int64) error {
		return g.emitRecord(rec, repeated, seen, emit)
	})
}

// Close removes the spill files; it is safe to call more than once.
func (g *Paragraph) Close() error {
	err := g.records.Close()
	if herr := g.hashes.Close(); err == nil {
		err = herr
	}
	return err
}

func (g *Paragraph) emitRecord(rec arrow.Record, repeated []uint64, seen []bool, emit func(arrow.Record) error) error {
	texts := pipelines.Texts(rec)
	n := texts.Len()
	out := array.NewStringBuilder(g.env.Alloc)
	defer out.Release()
	counts := make([]int64, n)
	keep := make([]bool, n)
	wouldEmpty := make([]bool, n)
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
		if counts[i] > 0 {
			edited := strings.TrimRight(b.String(), " \t\r\n")
			wouldEmpty[i] = strings.TrimSpace(edited) == ""
			if !g.annotateOnly {
				text = edited
			}
		}
		keep[i] = g.annotateOnly || !wouldEmpty[i]
		if wouldEmpty[i] {
			g.docsEmptied++
		}
		out.Append(text)
	}
	textArr := out.NewArray()
	defer textArr.Release()
	countArr := pipelines.NewInts(g.env.Alloc, counts)
	defer countArr.Release()
	extra := []pipelines.Column{{Name: ColParagraphsRemoved, Array: countArr}}
	if g.annotateOnly {
		// the runner's annotate_only convention: SHORT_drop holds the reason
		// a document would have been dropped
		reasons := make([]string, n)
		for i := range reasons {
			if wouldEmpty[i] {
				reasons[i] = ReasonEmptyAfterParagraphs
			}
		}
		dropArr := pipelines.NewStrings(g.env.Alloc, reasons)
		defer dropArr.Release()
		extra = append(extra, pipelines.Column{Name: "paragraph_drop", Array: dropArr})
	}

	ti := pipelines.Col(rec, pipelines.ColText)
	fields := slices.Clone(rec.Schema().Fields())
	cols := slices.Clone(rec.Columns())
	cols[ti] = textArr
	for _, c := range extra {
		f := arrow.Field{Name: c.Name, Type: c.Array.DataType()}
		if ci := pipelines.Col(rec, c.Name); ci >= 0 {
			fields[ci], cols[ci] = f, c.Array
		} else {
			fields, cols = append(fields, f), append(cols, c.Array)
		}
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

// Dropped reports the documents that lost every unit (none are dropped
// with annotate_only).
func (g *Paragraph) Dropped() map[string]int64 {
	if g.docsEmptied == 0 || g.annotateOnly {
		return map[string]int64{}
	}
	return map[string]int64{ReasonEmptyAfterParagraphs: g.docsEmptied}
}

// Report gives the units counted, repeated and removed.
func (g *Paragraph) Report() map[string]any {
	return map[string]any{"units": g.units, "repeated_units": g.repeated,
		"units_removed": g.removed, "bytes_removed": g.removedBytes, "documents_emptied": g.docsEmptied,
		"hash_runs": g.hashRuns}
}
