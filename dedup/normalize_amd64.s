#include "textflag.h"

// func normAVX2(dst, src []byte, lead uint64) (read, written int, leadOut uint64)
//
// Per block of 32 bytes of src: hi = bytes >= 0x80; ws = bytes equal to
// 0x20 or in 0x09..0x0D; extra = ws bytes right after a ws byte (or first
// in the block while lead is 1). The block is stored with ws bytes made
// 0x20 and 'A'..'Z' lowered. With no hi and no extra byte it is done; else
// the bytes before the first such byte are kept, and an extra ws byte is
// skipped (collapsed) and the loop goes on, while a hi byte ends it.
TEXT ·normAVX2(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ lead+48(FP), R9
	XORQ R10, R10           // written
	XORQ R12, R12           // read

	MOVL $0x20202020, AX
	MOVD AX, X15
	VPBROADCASTD X15, Y15   // 0x20
	MOVL $0x09090909, AX
	MOVD AX, X14
	VPBROADCASTD X14, Y14   // 0x09
	MOVL $0x04040404, AX
	MOVD AX, X13
	VPBROADCASTD X13, Y13   // 0x0D-0x09
	MOVL $0x41414141, AX
	MOVD AX, X12
	VPBROADCASTD X12, Y12   // 'A'
	MOVL $0x19191919, AX
	MOVD AX, X11
	VPBROADCASTD X11, Y11   // 'Z'-'A'

loop:
	CMPQ CX, $32
	JLT  done
	CMPQ DX, $32
	JLT  done
	VMOVDQU (SI), Y0
	VPMOVMSKB Y0, AX        // hi
	VPCMPEQB Y15, Y0, Y1    // == ' '
	VPSUBB   Y14, Y0, Y2    // x - 0x09
	VPMINUB  Y13, Y2, Y3
	VPCMPEQB Y3, Y2, Y2     // x-0x09 <= 4 (unsigned): 0x09..0x0D
	VPOR     Y2, Y1, Y1     // ws
	VPMOVMSKB Y1, BX
	MOVL BX, R8
	SHLL $1, R8
	ORL  R9, R8
	ANDL BX, R8             // extra ws
	ORL  AX, R8             // bytes this block cannot take as they are
	VPBLENDVB Y1, Y15, Y0, Y0 // ws -> ' '
	VPSUBB   Y12, Y0, Y2    // x - 'A'
	VPMINUB  Y11, Y2, Y3
	VPCMPEQB Y3, Y2, Y2     // 'A'..'Z'
	VPAND    Y15, Y2, Y2
	VPOR     Y2, Y0, Y0     // lower case
	VMOVDQU Y0, (DI)
	TESTL R8, R8
	JNZ  partial
	SHRL $31, BX
	MOVQ BX, R9             // lead: the last byte was ws
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R10
	ADDQ $32, R12
	SUBQ $32, CX
	SUBQ $32, DX
	JMP  loop

partial:
	BSFL R8, R11            // p: the first byte the block cannot take
	BTL  R11, AX
	JCS  hi
	// byte p is ws after ws: keep bytes 0..p-1, skip byte p
	ADDQ R11, DI
	ADDQ R11, R10
	SUBQ R11, DX
	INCQ R11
	ADDQ R11, SI
	ADDQ R11, R12
	SUBQ R11, CX
	MOVQ $1, R9
	JMP  loop

hi:
	// byte p is not ASCII: keep bytes 0..p-1 and stop
	TESTQ R11, R11
	JZ   done               // nothing kept: lead unchanged
	ADDQ R11, R10
	ADDQ R11, R12
	DECQ R11
	MOVL $0, R9
	BTL  R11, BX            // was byte p-1 ws?
	SETCS R9B

done:
	VZEROUPPER
	MOVQ R12, read+56(FP)
	MOVQ R10, written+64(FP)
	MOVQ R9, leadOut+72(FP)
	RET
