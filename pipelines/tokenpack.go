package pipelines

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Token ids are list<int32> in memory, but every vocabulary up to 65,536
// ids fits in 16 bits: spills and the barrier log store such a column as
// list<uint16>, halving the bytes of token ids written and read back.

// packedKey marks, in a field's metadata, a list<uint16> column packed from
// list<int32> by PackTokenLists.
const packedKey = "curate.packed"

func withPackedMark(md arrow.Metadata) arrow.Metadata {
	if md.FindKey(packedKey) >= 0 {
		return md
	}
	return arrow.NewMetadata(append(md.Keys(), packedKey), append(md.Values(), "int32"))
}

func withoutPackedMark(md arrow.Metadata) arrow.Metadata {
	i := md.FindKey(packedKey)
	if i < 0 {
		return md
	}
	keys := append(append([]string(nil), md.Keys()[:i]...), md.Keys()[i+1:]...)
	vals := append(append([]string(nil), md.Values()[:i]...), md.Values()[i+1:]...)
	if len(keys) == 0 {
		return arrow.Metadata{}
	}
	return arrow.NewMetadata(keys, vals)
}

// UnpackTokenLists returns rec with the columns PackTokenLists packed
// widened back to list<int32> and their fields as they were (owned by the
// caller), or rec itself, retained, when none is packed.
func UnpackTokenLists(alloc memory.Allocator, rec arrow.Record) arrow.Record {
	return replaceColumns(rec, func(f arrow.Field, col arrow.Array) (arrow.Array, arrow.Field) {
		l, ok := col.(*array.List)
		if !ok || f.Metadata.FindKey(packedKey) < 0 || l.ListValues().DataType().ID() != arrow.UINT16 {
			return nil, f
		}
		elem := f.Type.(*arrow.ListType).ElemField()
		elem.Type = arrow.PrimitiveTypes.Int32
		f.Type = arrow.ListOfField(elem)
		f.Metadata = withoutPackedMark(f.Metadata)
		return WidenTokenList(alloc, l, f.Type), f
	})
}

// PackTokenLists returns rec with its packable list<int32> columns (token
// ids, all in 0..65535, no nulls among the ids) narrowed to list<uint16>
// and marked packed in their field's metadata (owned by the caller), or rec
// itself, retained, when there is nothing to pack. It halves the bytes of
// token ids written to spills and logs; UnpackTokenLists undoes it.
func PackTokenLists(alloc memory.Allocator, rec arrow.Record) arrow.Record {
	return replaceColumns(rec, func(f arrow.Field, col arrow.Array) (arrow.Array, arrow.Field) {
		if lt, ok := f.Type.(*arrow.ListType); !ok || lt.Elem().ID() != arrow.INT32 {
			return nil, f
		}
		packed := narrowList(alloc, col.(*array.List))
		if packed == nil {
			return nil, f
		}
		f.Type = packed.DataType()
		f.Metadata = withPackedMark(f.Metadata)
		return packed, f
	})
}

// replaceColumns returns rec with each column for which replace returns an
// array (owned by replaceColumns, which releases it) swapped for that array
// and its field for the field returned, or rec itself, retained, when
// replace returns nil for every column. The caller owns the result.
func replaceColumns(rec arrow.Record, replace func(f arrow.Field, col arrow.Array) (arrow.Array, arrow.Field)) arrow.Record {
	var cols []arrow.Array
	var fields []arrow.Field
	for i, f := range rec.Schema().Fields() {
		a, nf := replace(f, rec.Column(i))
		if a == nil {
			continue
		}
		defer a.Release()
		if cols == nil {
			cols = append([]arrow.Array(nil), rec.Columns()...)
			fields = rec.Schema().Fields() // a copy
		}
		cols[i], fields[i] = a, nf
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
	src := vals.Int32Values()[start:end]
	for _, v := range src {
		if uint32(v) > 0xFFFF {
			return nil
		}
	}
	buf := memory.NewResizableBuffer(alloc)
	defer buf.Release()
	buf.Resize(len(src) * 2)
	dst := arrow.Uint16Traits.CastFromBytes(buf.Bytes())
	for i, v := range src {
		dst[i] = uint16(v)
	}
	elem := a.DataType().(*arrow.ListType).ElemField()
	elem.Type = arrow.PrimitiveTypes.Uint16
	return relist(alloc, a, arrow.ListOfField(elem), arrow.PrimitiveTypes.Uint16, buf, len(src))
}

// WidenTokenList turns a list<uint16> packed by PackTokenLists back into a
// list of want (list<int32>); the caller owns the result.
func WidenTokenList(alloc memory.Allocator, a *array.List, want arrow.DataType) arrow.Array {
	var src []uint16
	if a.Len() > 0 {
		start, _ := a.ValueOffsets(0)
		_, end := a.ValueOffsets(a.Len() - 1)
		src = a.ListValues().(*array.Uint16).Uint16Values()[start:end]
	}
	buf := memory.NewResizableBuffer(alloc)
	defer buf.Release()
	buf.Resize(len(src) * 4)
	dst := arrow.Int32Traits.CastFromBytes(buf.Bytes())
	for i, v := range src {
		dst[i] = int32(v)
	}
	return relist(alloc, a, want, arrow.PrimitiveTypes.Int32, buf, len(src))
}

// relist builds a list array of type lt with a's validity and lengths over
// the n values in vals (of type elem).
func relist(alloc memory.Allocator, a *array.List, lt, elem arrow.DataType, vals *memory.Buffer, n int) arrow.Array {
	rows := a.Len()
	offs := memory.NewResizableBuffer(alloc)
	defer offs.Release()
	offs.Resize((rows + 1) * 4)
	o := arrow.Int32Traits.CastFromBytes(offs.Bytes())
	var base int64
	if rows > 0 {
		base, _ = a.ValueOffsets(0)
	}
	for i := 0; i < rows; i++ {
		s, _ := a.ValueOffsets(i)
		o[i] = int32(s - base)
	}
	o[rows] = int32(n)
	var valid *memory.Buffer
	nulls := a.NullN()
	if nulls > 0 {
		valid = memory.NewResizableBuffer(alloc)
		defer valid.Release()
		valid.Resize(int(bitutil.BytesForBits(int64(rows))))
		bits := valid.Bytes()
		for i := 0; i < rows; i++ {
			bitutil.SetBitTo(bits, i, a.IsValid(i))
		}
	}
	child := array.NewData(elem, n, []*memory.Buffer{nil, vals}, nil, 0, 0)
	defer child.Release()
	data := array.NewData(lt, rows, []*memory.Buffer{valid, offs}, []arrow.ArrayData{child}, nulls, 0)
	defer data.Release()
	return array.NewListData(data)
}
