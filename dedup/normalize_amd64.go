package dedup

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector loop of the default normalizer (tests turn it
// off to check the SWAR loop on the same inputs).
var useAVX2 = cpu.X86.HasAVX2

// normAVX2 is swarDefault's loop 32 bytes at a time: it normalizes src
// into dst (lower case; white space mapped to ' ', runs of it collapsed)
// until the first non-ASCII byte or fewer than 32 bytes remain. It returns
// the bytes of src read and of dst written, and lead after them (1 when a
// space may not be written next: after a space or at the start). It stores
// 32 bytes at a time: dst must be at least as long as src.
//
//go:noescape
func normAVX2(dst, src []byte, lead uint64) (read, written int, leadOut uint64)
