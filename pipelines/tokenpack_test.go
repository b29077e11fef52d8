package pipelines_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

// TestPackTokenLists: a token list column whose ids fit 16 bits is packed
// and unpacked back to the same values, type and field metadata; one with a
// larger id is left alone.
func TestPackTokenLists(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	list := func(rows ...[]int32) arrow.Array {
		b := array.NewListBuilder(alloc, arrow.PrimitiveTypes.Int32)
		defer b.Release()
		for _, r := range rows {
			if r == nil {
				b.AppendNull()
				continue
			}
			b.Append(true)
			b.ValueBuilder().(*array.Int32Builder).AppendValues(r, nil)
		}
		return b.NewArray()
	}
	small, big := list([]int32{1, 65535}, nil, []int32{}), list([]int32{70000}, []int32{1}, nil)
	defer small.Release()
	defer big.Release()
	md := arrow.NewMetadata([]string{"tokenizer"}, []string{"gpt2"})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "tokens", Type: small.DataType(), Nullable: true, Metadata: md},
		{Name: "other", Type: big.DataType(), Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{small, big}, 3)
	defer rec.Release()
	packed := pipelines.PackTokenLists(alloc, rec)
	defer packed.Release()
	if id := packed.Schema().Field(0).Type.(*arrow.ListType).Elem().ID(); id != arrow.UINT16 {
		t.Fatalf("tokens packed as %s", packed.Schema().Field(0).Type)
	}
	if !arrow.TypeEqual(packed.Schema().Field(1).Type, big.DataType()) {
		t.Errorf("a list with an id past 16 bits packed: %s", packed.Schema().Field(1).Type)
	}
	back := pipelines.UnpackTokenLists(alloc, packed)
	defer back.Release()
	if !back.Schema().Equal(schema) {
		t.Errorf("unpacked schema %s, want %s", back.Schema(), schema)
	}
	for c := range 2 {
		if !array.Equal(back.Column(c), rec.Column(c)) {
			t.Errorf("column %d: %s, want %s", c, back.Column(c), rec.Column(c))
		}
	}
	same := pipelines.UnpackTokenLists(alloc, rec) // nothing packed
	defer same.Release()
	if same != rec {
		t.Error("a record with nothing packed was copied")
	}
}
