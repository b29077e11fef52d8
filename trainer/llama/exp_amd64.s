#include "textflag.h"

// Constants of expShift (exec.go), one float32 each, broadcast per call.
DATA expc<>+0(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+4(SB)/4, $0x3f318000  // ln2 high part
DATA expc<>+8(SB)/4, $0xb95e8083  // ln2 low part
DATA expc<>+12(SB)/4, $0x39506967 // p0
DATA expc<>+16(SB)/4, $0x3ab743ce // p1
DATA expc<>+20(SB)/4, $0x3c088908 // p2
DATA expc<>+24(SB)/4, $0x3d2aa9c1 // p3
DATA expc<>+28(SB)/4, $0x3e2aaaaa // p4
DATA expc<>+32(SB)/4, $0x3f000000 // p5 = 0.5
DATA expc<>+36(SB)/4, $0x3f800000 // 1, also 127<<23: the exponent bias
DATA expc<>+40(SB)/4, $0xc2aeac4f // lowest argument, -87.33654
DATA expc<>+44(SB)/4, $0x42b0999a // highest argument, 88.3
GLOBL expc<>(SB), RODATA|NOPTR, $48

// func expAVX2(dst, src []float32, shift float32)
// dst[i] = exp(src[i]-shift) for len(src) a multiple of 8; dst may be src.
TEXT ·expAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	VBROADCASTSS shift+48(FP), Y15
	VBROADCASTSS expc<>+0(SB), Y14
	VBROADCASTSS expc<>+4(SB), Y13
	VBROADCASTSS expc<>+8(SB), Y12
	VBROADCASTSS expc<>+12(SB), Y11
	VBROADCASTSS expc<>+16(SB), Y10
	VBROADCASTSS expc<>+20(SB), Y9
	VBROADCASTSS expc<>+24(SB), Y8
	VBROADCASTSS expc<>+28(SB), Y7
	VBROADCASTSS expc<>+32(SB), Y6
	VBROADCASTSS expc<>+36(SB), Y5
	VBROADCASTSS expc<>+40(SB), Y4
	VBROADCASTSS expc<>+44(SB), Y3

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0          // x = src - shift
	VMAXPS  Y4, Y0, Y0           // clamp to [lo, hi]
	VMINPS  Y3, Y0, Y0
	VMULPS  Y14, Y0, Y1          // t = x·log2(e)
	VROUNDPS $0, Y1, Y1          // n = round(t)
	VFNMADD231PS Y13, Y1, Y0     // r = x - n·ln2hi
	VFNMADD231PS Y12, Y1, Y0     // r -= n·ln2lo
	VMOVAPS Y11, Y2              // p = ((((p0·r + p1)·r + p2)·r + p3)·r + p4)·r + p5
	VFMADD213PS Y10, Y0, Y2
	VFMADD213PS Y9, Y0, Y2
	VFMADD213PS Y8, Y0, Y2
	VFMADD213PS Y7, Y0, Y2
	VFMADD213PS Y6, Y0, Y2
	VMULPS  Y0, Y2, Y2           // p·r
	VFMADD213PS Y0, Y0, Y2       // p·r² + r
	VADDPS  Y5, Y2, Y2           // + 1
	VCVTPS2DQ Y1, Y1             // 2ⁿ: n into the exponent field of 1.0
	VPSLLD  $23, Y1, Y1
	VPADDD  Y5, Y1, Y1
	VMULPS  Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET
