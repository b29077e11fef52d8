//go:build !amd64

package dedup

var useAVX2 = false

func normAVX2(dst, src []byte, lead uint64) (int, int, uint64) { panic("unreachable") }
