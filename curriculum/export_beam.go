package curriculum

// SortKey appends to dst the 9-byte key by which curriculum.order without
// phases sorts a document's score: byte order is the stage's order (nulls,
// NaN, last in either direction; -0 and +0 equal). Ties are broken by input
// order, which the caller appends. Another engine (curate-beam) sorts by it
// to give the very order of the stage's Emit.
func SortKey(dst []byte, score float64, descending bool) []byte {
	var k [9]byte
	putScore(k[:], score, descending)
	return append(dst, k[:]...)
}
