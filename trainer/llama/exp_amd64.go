package llama

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector exp; GODEBUG-style opt-out for comparisons.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// expAVX2 sets dst[i] = exp(src[i]-shift); len(src) must be a multiple of
// 8 and len(dst) at least as long. Same algorithm as expShift's loop.
//
//go:noescape
func expAVX2(dst, src []float32, shift float32)
