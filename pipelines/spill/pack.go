package spill

import "github.com/apache/arrow-go/v18/arrow"

// Token id lists whose ids fit 16 bits are stored as list<uint16>
// (pipelines.PackTokenLists) and widened again when read.

// isTokenList reports whether t is list<int32> or list<uint16> (packed).
func isTokenList(t arrow.DataType) bool {
	lt, ok := t.(*arrow.ListType)
	return ok && (lt.Elem().ID() == arrow.INT32 || lt.Elem().ID() == arrow.UINT16)
}

// isInt32List reports whether t is list<int32>.
func isInt32List(t arrow.DataType) bool {
	lt, ok := t.(*arrow.ListType)
	return ok && lt.Elem().ID() == arrow.INT32
}
