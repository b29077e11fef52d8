package dedup

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector loop of the default normalizer (tests turn it
// off to check the SWAR loop on the same inputs).
var useAVX2 = cpu.X86.HasAVX2

// normAVX2 is swarDefault's loop 32 bytes at a time: it normalizes src
// into dst (lower case, white space mapped to ' ') block by block for as
// long as a block is all ASCII, has no two white space bytes in a row and
// does not start with white space while lead is 1; it returns the bytes
// done (a multiple of 32; as many written) and lead after them (1 when
// the last byte done was white space). dst must be at least as long as
// the part of src it is to take.
//
//go:noescape
func normAVX2(dst, src []byte, lead uint64) (done int, leadOut uint64)
