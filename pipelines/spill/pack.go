package spill

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Token ids are list<int32> in memory, but every vocabulary up to 65,536
// ids fits in 16 bits: the spill stores such a list column as list<uint16>,
// halving the bytes of token ids written and read back, and widens it again
// when reading. A batch holding a larger (or negative) id is stored as is.

// isInt32List reports whether t is list<int32>.
func isInt32List(t arrow.DataType) bool {
	lt, ok := t.(*arrow.ListType)
	return ok && lt.Elem().ID() == arrow.INT32
}

// packRecord returns rec with its packable list<int32> columns narrowed to
// list<uint16> (owned by the caller), or rec itself, retained, when there
// is nothing to pack.
func packRecord(alloc memory.Allocator, rec arrow.Record) arrow.Record {
	var cols []arrow.Array
	var fields []arrow.Field
	for i, f := range rec.Schema().Fields() {
		if !isInt32List(f.Type) {
			continue
		}
		packed := narrowList(alloc, rec.Column(i).(*array.List))
		if packed == nil {
			continue
		}
		if cols == nil {
			cols = append([]arrow.Array(nil), rec.Columns()...)
			fields = append([]arrow.Field(nil), rec.Schema().Fields()...)
			defer func() {
				for j, c := range cols {
					if c != rec.Column(j) {
						c.Release()
					}
				}
			}()
		}
		cols[i] = packed
		fields[i].Type = packed.DataType()
	}
	if cols == nil {
		rec.Retain()
		return rec
	}
	md := rec.Schema().Metadata()
	return array.NewRecord(arrow.NewSchema(fields, &md), cols, rec.NumRows())
}

// narrowList returns a as list<uint16>, or nil when a value does not fit
// or the values have nulls.
func narrowList(alloc memory.Allocator, a *array.List) arrow.Array {
	vals, ok := a.ListValues().(*array.Int32)
	if !ok || vals.NullN() > 0 || a.Len() == 0 {
		return nil
	}
	start, _ := a.ValueOffsets(0)
	_, end := a.ValueOffsets(a.Len() - 1)
	all := vals.Int32Values()[start:end]
	for _, v := range all {
		if uint32(v) > 0xFFFF {
			return nil
		}
	}
	elem := a.DataType().(*arrow.ListType).ElemField()
	elem.Type = arrow.PrimitiveTypes.Uint16
	b := array.NewListBuilderWithField(alloc, elem)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Uint16Builder)
	b.Reserve(a.Len())
	vb.Reserve(len(all))
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		s, e := a.ValueOffsets(i)
		b.Append(true)
		for _, v := range vals.Int32Values()[s:e] {
			vb.UnsafeAppend(uint16(v))
		}
	}
	return b.NewArray()
}

// widenList turns a list<uint16> written by narrowList back into a list
// of want (list<int32>).
func widenList(alloc memory.Allocator, a *array.List, want arrow.DataType) arrow.Array {
	vals := a.ListValues().(*array.Uint16).Values()
	b := array.NewListBuilderWithField(alloc, want.(*arrow.ListType).ElemField())
	defer b.Release()
	vb := b.ValueBuilder().(*array.Int32Builder)
	b.Reserve(a.Len())
	if a.Len() > 0 {
		s, _ := a.ValueOffsets(0)
		_, e := a.ValueOffsets(a.Len() - 1)
		vb.Reserve(int(e - s))
	}
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		s, e := a.ValueOffsets(i)
		b.Append(true)
		for _, v := range vals[s:e] {
			vb.UnsafeAppend(int32(v))
		}
	}
	return b.NewArray()
}
