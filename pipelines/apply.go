package pipelines

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ShortName is the part of a stage name after the package ("gopher_quality"
// for "filter.gopher_quality"); annotate_only columns are named after it.
func ShortName(stage string) string {
	if i := strings.LastIndexByte(stage, '.'); i >= 0 {
		return stage[i+1:]
	}
	return stage
}

// Apply builds the output of a streaming stage from its input and Result:
// text replaced, columns added, dropped rows removed. With annotateOnly
// every row is kept unchanged and the stage's decisions become columns:
// SHORT_drop (the drop reason, "" when kept) and, for edits, SHORT_changes.
// It consumes res's arrays; rec stays the caller's. The returned record is
// owned by the caller and is nil when every row was dropped. dropped counts
// rows removed (or, with annotateOnly, that would have been) by reason.
func Apply(ctx context.Context, alloc memory.Allocator, stage string, rec arrow.Record, res *Result, annotateOnly bool) (out arrow.Record, dropped map[string]int64, err error) {
	if res == nil {
		res = &Result{}
	}
	n := int(rec.NumRows())
	defer func() {
		if res.Text != nil {
			res.Text.Release()
		}
		for _, c := range res.Columns {
			if c.Array != nil {
				c.Array.Release()
			}
		}
		res.Text, res.Columns = nil, nil
	}()
	if res.Drop != nil && len(res.Drop) != n {
		return nil, nil, fmt.Errorf("%s: result has %d drop entries for %d rows", stage, len(res.Drop), n)
	}
	if res.Text != nil && res.Text.Len() != n {
		return nil, nil, fmt.Errorf("%s: result has %d texts for %d rows", stage, res.Text.Len(), n)
	}
	for _, c := range res.Columns {
		if c.Array == nil || c.Array.Len() != n {
			return nil, nil, fmt.Errorf("%s: column %q does not have %d rows", stage, c.Name, n)
		}
	}

	schema := rec.Schema()
	fields := append([]arrow.Field(nil), schema.Fields()...)
	cols := make([]arrow.Array, len(fields))
	for i := range fields {
		cols[i] = rec.Column(i)
		cols[i].Retain()
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	set := func(name string, arr arrow.Array) {
		arr.Retain()
		for i, f := range fields {
			if f.Name == name {
				cols[i].Release()
				cols[i] = arr
				fields[i] = arrow.Field{Name: name, Type: arr.DataType(), Nullable: true}
				return
			}
		}
		fields = append(fields, arrow.Field{Name: name, Type: arr.DataType(), Nullable: true})
		cols = append(cols, arr)
	}

	short := ShortName(stage)
	for _, c := range res.Columns {
		set(c.Name, c.Array)
	}
	if res.Text != nil {
		if annotateOnly {
			changes := res.Changes
			if changes == nil {
				old := Texts(rec)
				nt, ok := res.Text.(*array.String)
				if !ok {
					return nil, nil, fmt.Errorf("%s: replacement text is %s, want utf8", stage, res.Text.DataType())
				}
				changes = make([]string, n)
				for i := 0; i < n; i++ {
					if old.Value(i) != nt.Value(i) {
						changes[i] = "changed"
					}
				}
			}
			arr := NewStrings(alloc, changes)
			set(short+"_changes", arr)
			arr.Release()
		} else {
			set(ColText, res.Text)
		}
	}
	dropped = map[string]int64{}
	keep := n
	for _, r := range res.Drop {
		if r != "" {
			dropped[r]++
			keep--
		}
	}
	if annotateOnly && res.Drop != nil {
		arr := NewStrings(alloc, res.Drop)
		set(short+"_drop", arr)
		arr.Release()
	}

	full := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(n))
	if annotateOnly || keep == n {
		return full, dropped, nil
	}
	defer full.Release()
	if keep == 0 {
		return nil, dropped, nil
	}
	out, err = keepRows(alloc, full, res.Drop)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: filtering rows: %w", stage, err)
	}
	return out, dropped, nil
}

// keepRows returns the rows of rec whose drop reason is "": each column is
// the concatenation of its runs of kept rows, so that every buffer is
// allocated once at its final size and copied in long runs (dropped rows
// are usually few). The record is the caller's.
func keepRows(alloc memory.Allocator, rec arrow.Record, drop []string) (arrow.Record, error) {
	type run struct{ from, to int64 }
	var runs []run
	kept := int64(0)
	for i := 0; i < len(drop); {
		if drop[i] != "" {
			i++
			continue
		}
		j := i
		for j < len(drop) && drop[j] == "" {
			j++
		}
		runs = append(runs, run{int64(i), int64(j)})
		kept += int64(j - i)
		i = j
	}
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(runs))
	for c := range cols {
		col := rec.Column(c)
		for k, r := range runs {
			parts[k] = array.NewSlice(col, r.from, r.to)
		}
		var err error
		cols[c], err = array.Concatenate(parts, alloc)
		for _, p := range parts {
			p.Release()
		}
		if err != nil {
			return nil, err
		}
	}
	return array.NewRecord(rec.Schema(), cols, kept), nil
}
