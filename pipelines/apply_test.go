package pipelines

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// applyRecord has a text, a nullable string, an int64 and a list<int32>
// column of n rows.
func applyRecord(alloc memory.Allocator, rng *rand.Rand, n int) arrow.Record {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: ColText, Type: arrow.BinaryTypes.String},
		{Name: "url", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tokens", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.StringBuilder).Append(strings.Repeat(fmt.Sprint(i), rng.IntN(5)))
		if rng.IntN(4) == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("u%d", i))
		}
		b.Field(2).(*array.Int64Builder).Append(int64(i))
		lb := b.Field(3).(*array.ListBuilder)
		if rng.IntN(5) == 0 {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		for k := rng.IntN(4); k > 0; k-- {
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(i + k))
		}
	}
	return b.NewRecord()
}

// TestApplyDropsRows: the rows Apply keeps are those compute's filter
// keeps, for drop patterns from none to all, and no buffer leaks.
func TestApplyDropsRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 60; trial++ {
		alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
		n := 1 + rng.IntN(200)
		rec := applyRecord(alloc, rng, n)
		rate := []int{0, 1, 10, 50, 90, 100}[trial%6]
		drop := make([]string, n)
		mb := array.NewBooleanBuilder(alloc)
		for i := range drop {
			if rng.IntN(100) < rate {
				drop[i] = "x"
			}
			mb.Append(drop[i] == "")
		}
		mask := mb.NewArray()
		mb.Release()
		want, err := compute.FilterRecordBatch(t.Context(), rec, mask, compute.DefaultFilterOptions())
		if err != nil {
			t.Fatal(err)
		}
		got, dropped, err := Apply(t.Context(), alloc, "test.stage", rec, &Result{Drop: drop}, false)
		if err != nil {
			t.Fatal(err)
		}
		if want.NumRows() == 0 {
			if got != nil {
				t.Errorf("trial %d: every row dropped, got %d rows", trial, got.NumRows())
				got.Release()
			}
		} else if !array.RecordEqual(got, want) {
			t.Errorf("trial %d (%d rows, %d%% dropped): Apply kept\n%v\nwant\n%v", trial, n, rate, got, want)
		}
		if int64(n)-want.NumRows() != dropped["x"] {
			t.Errorf("trial %d: dropped %v, want %d", trial, dropped, int64(n)-want.NumRows())
		}
		if got != nil {
			got.Release()
		}
		want.Release()
		mask.Release()
		rec.Release()
		alloc.AssertSize(t, 0)
	}
}

// BenchmarkApplyDrop: Apply dropping 6% of 1024 rows of 2 KB texts (what
// dedup.exact does to a batch of the dedup benchmark's corpus).
func BenchmarkApplyDrop(b *testing.B) {
	alloc := memory.NewGoAllocator()
	sb := array.NewStringBuilder(alloc)
	rng := rand.New(rand.NewPCG(1, 1))
	drop := make([]string, 1024)
	size := 0
	for i := range drop {
		s := strings.Repeat("word ", 400)
		sb.Append(s)
		size += len(s)
		if rng.IntN(100) < 6 {
			drop[i] = "duplicate"
		}
	}
	col := sb.NewArray()
	sb.Release()
	rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: ColText, Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{col}, 1024)
	col.Release()
	defer rec.Release()
	b.SetBytes(int64(size))
	for b.Loop() {
		out, _, err := Apply(b.Context(), alloc, "dedup.exact", rec, &Result{Drop: drop}, false)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
}
