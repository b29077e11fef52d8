package spill

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/curatehq/curate/pipelines"
)

// Gather builds output batches from a Records spill in an order given row by
// row: Add the row number of each output row in turn (a row may come any
// number of times), then Emit.
//
// Reading rows one by one in a random order would read every input batch
// once per output batch. Gather instead splits the output into buckets of
// about bucketBytes, each a contiguous range of output positions; Emit reads
// the spill once, in order, sending each row's copies to their buckets (bucket
// files when there is more than one bucket), then loads one bucket at a time,
// puts its rows in output order and emits them. Memory: the (row, position)
// pairs go through a Sorter under the budget; Emit holds about twice
// bucketBytes of rows at a time.
type Gather struct {
	r           *Records
	sorter      *Sorter
	budget      *pipelines.Budget
	n           int64
	bucketBytes int64
	cur         int64   // bytes in the last bucket so far
	starts      []int64 // first output position of each bucket
	key, val    [8]byte
}

// posColumn carries output positions through bucket files.
const posColumn = "__spill_pos"

// DefaultBucketBytes is the bucket size Gather uses for a budget: a quarter
// of it, between 256 KiB and 256 MiB.
func DefaultBucketBytes(b *pipelines.Budget) int64 {
	if b.Limit() == 0 {
		return 256 << 20
	}
	return min(max(b.Limit()/4, 256<<10), 256<<20)
}

// Gather starts an output order over the spilled rows; the spill must be
// finished. bucketBytes <= 0 means DefaultBucketBytes(budget).
func (r *Records) Gather(budget *pipelines.Budget, bucketBytes int64) (*Gather, error) {
	if !r.done {
		return nil, errors.New("spill: Records.Gather before Finish")
	}
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes(budget)
	}
	s, err := NewSorter(r.dir.path, 8, 8, budget)
	if err != nil {
		return nil, err
	}
	return &Gather{r: r, sorter: s, budget: budget, bucketBytes: bucketBytes, starts: []int64{0}}, nil
}

// Len returns the number of output rows added.
func (g *Gather) Len() int64 { return g.n }

// Buckets returns the number of buckets the output is split into.
func (g *Gather) Buckets() int { return len(g.starts) }

// Add appends spilled row number row as the next output row.
func (g *Gather) Add(ctx context.Context, row int64) error {
	if row < 0 || row >= g.r.rows {
		return fmt.Errorf("spill: Gather.Add: row %d out of range [0, %d)", row, g.r.rows)
	}
	b := g.r.rowBytes(row)
	if g.cur > 0 && g.cur+b > g.bucketBytes {
		g.starts = append(g.starts, g.n)
		g.cur = 0
	}
	g.cur += b
	binary.BigEndian.PutUint64(g.key[:], uint64(row))
	binary.BigEndian.PutUint64(g.val[:], uint64(g.n))
	g.n++
	return g.sorter.Add(ctx, g.key[:], g.val[:])
}

// bucketOf returns the bucket of output position pos.
func (g *Gather) bucketOf(pos int64) int {
	return sort.Search(len(g.starts), func(i int) bool { return g.starts[i] > pos }) - 1
}

// Emit sends the output rows in order, in batches of at most maxRows rows
// and about maxBytes bytes, through emit, which borrows each batch. The
// batches have the spill's union schema.
func (g *Gather) Emit(ctx context.Context, maxRows int, maxBytes int64, emit func(arrow.Record) error) error {
	if g.n == 0 {
		return nil
	}
	if maxRows <= 0 {
		maxRows = pipelines.DefaultBatchRows
	}
	if maxBytes <= 0 {
		maxBytes = pipelines.DefaultBatchBytes
	}
	alloc := g.r.alloc
	cctx := exec.WithAllocator(ctx, alloc)
	nb := len(g.starts)
	inMemory := nb == 1
	mem := make([][]arrow.Record, nb)
	files := make([]*Records, nb)
	defer func() {
		for _, recs := range mem {
			for _, r := range recs {
				r.Release()
			}
		}
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()

	// Pass 1: route every row copy to its bucket.
	it, err := g.sorter.Iter(ctx)
	if err != nil {
		return err
	}
	defer it.Close()
	have := it.Next()
	idx := make([][]int64, nb)
	pos := make([][]int64, nb)
	err = g.r.Scan(ctx, func(rec arrow.Record, first int64) error {
		end := first + rec.NumRows()
		var touched []int
		for have {
			row := int64(binary.BigEndian.Uint64(it.Key()))
			if row >= end {
				break
			}
			p := int64(binary.BigEndian.Uint64(it.Value()))
			b := g.bucketOf(p)
			if len(idx[b]) == 0 {
				touched = append(touched, b)
			}
			idx[b] = append(idx[b], row-first)
			pos[b] = append(pos[b], p)
			have = it.Next()
		}
		sort.Ints(touched)
		for _, b := range touched {
			part, err := takeWithPos(cctx, rec, idx[b], pos[b])
			idx[b], pos[b] = idx[b][:0], pos[b][:0]
			if err != nil {
				return err
			}
			if inMemory {
				mem[b] = append(mem[b], part)
				continue
			}
			if files[b] == nil {
				if files[b], err = NewRecords(g.r.dir.path, alloc); err != nil {
					part.Release()
					return err
				}
			}
			_, err = files[b].Append(ctx, part)
			part.Release()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := it.Err(); err != nil {
		return err
	}
	if have {
		return errors.New("spill: Gather: rows past the end of the spill")
	}
	it.Close()

	// Pass 2: one bucket at a time, rows into output order.
	for b := 0; b < nb; b++ {
		if !inMemory && files[b] != nil {
			if err := files[b].Finish(); err != nil {
				return err
			}
			err := files[b].Scan(ctx, func(rec arrow.Record, _ int64) error {
				rec.Retain()
				mem[b] = append(mem[b], rec)
				return nil
			})
			if err != nil {
				return err
			}
			files[b].Close()
			files[b] = nil
		}
		end := g.n
		if b+1 < nb {
			end = g.starts[b+1]
		}
		err := g.emitBucket(cctx, mem[b], g.starts[b], end, maxRows, maxBytes, emit)
		for _, r := range mem[b] {
			r.Release()
		}
		mem[b] = nil
		if err != nil {
			return err
		}
	}
	return nil
}

// takeWithPos returns rows idx of rec with their output positions as an
// extra last column.
func takeWithPos(ctx context.Context, rec arrow.Record, idx, pos []int64) (arrow.Record, error) {
	alloc := exec.GetAllocator(ctx)
	ia := pipelines.NewInts(alloc, idx)
	defer ia.Release()
	taken, err := take(ctx, rec, ia)
	if err != nil {
		return nil, err
	}
	defer taken.Release()
	pa := pipelines.NewInts(alloc, pos)
	defer pa.Release()
	fields := append(append([]arrow.Field(nil), rec.Schema().Fields()...), arrow.Field{Name: posColumn, Type: arrow.PrimitiveTypes.Int64})
	cols := append(append([]arrow.Array(nil), taken.Columns()...), pa)
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(len(idx))), nil
}

func take(ctx context.Context, rec arrow.Record, indices arrow.Array) (arrow.Record, error) {
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(rec), compute.NewDatumWithoutOwning(indices))
	if err != nil {
		return nil, fmt.Errorf("spill: take: %w", err)
	}
	return out.(*compute.RecordDatum).Value, nil
}

// emitBucket puts the rows of one bucket (positions start..end-1, each once)
// in order and emits them in bounded batches.
func (g *Gather) emitBucket(ctx context.Context, parts []arrow.Record, start, end int64, maxRows int, maxBytes int64, emit func(arrow.Record) error) error {
	alloc := exec.GetAllocator(ctx)
	ncol := int(parts[0].NumCols()) - 1
	cols := make([]arrow.Array, ncol)
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	chunks := make([]arrow.Array, len(parts))
	for c := 0; c < ncol; c++ {
		for i, p := range parts {
			chunks[i] = p.Column(c)
		}
		a, err := array.Concatenate(chunks, alloc)
		if err != nil {
			return fmt.Errorf("spill: gather column %q: %w", parts[0].Schema().Field(c).Name, err)
		}
		cols[c] = a
	}
	perm := make([]int64, end-start)
	for i := range perm {
		perm[i] = -1
	}
	var row int64
	for _, p := range parts {
		ps := p.Column(ncol).(*array.Int64).Int64Values()
		for _, x := range ps {
			if x < start || x >= end || perm[x-start] >= 0 {
				return fmt.Errorf("spill: gather: bad position %d in bucket [%d, %d)", x, start, end)
			}
			perm[x-start] = row
			row++
		}
	}
	if row != end-start {
		return fmt.Errorf("spill: gather: bucket [%d, %d) has %d rows", start, end, row)
	}
	all := array.NewRecord(g.r.schema, cols, row)
	defer all.Release()
	var size int64
	for _, c := range cols {
		size += dataBytes(c.Data())
	}
	per := max(1, size/max(1, row))
	chunk := int64(max(1, min(int64(maxRows), maxBytes/per)))
	for lo := int64(0); lo < row; lo += chunk {
		hi := min(lo+chunk, row)
		ia := pipelines.NewInts(alloc, perm[lo:hi])
		out, err := take(ctx, all, ia)
		ia.Release()
		if err != nil {
			return err
		}
		err = emit(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Close removes the gather's files and gives back its reservation.
func (g *Gather) Close() error {
	if g.sorter == nil {
		return nil
	}
	err := g.sorter.Close()
	g.sorter = nil
	return err
}
