#include "textflag.h"

// func normAVX2(dst, src []byte, lead uint64) (done int, leadOut uint64)
//
// Per block of 32 bytes: stop if any byte is >= 0x80; ws = bytes equal to
// 0x20 or in 0x09..0x0D; stop if two ws bytes are adjacent, or the first
// is ws while lead is 1; else ws bytes become 0x20 and 'A'..'Z' get 0x20
// added, and the block is stored.
TEXT ·normAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ lead+48(FP), R9
	CMPQ DX, CX
	CMOVQLT DX, CX          // CX = min(len(dst), len(src))
	XORQ R10, R10           // done

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
	VMOVDQU (SI), Y0
	VPMOVMSKB Y0, AX
	TESTL AX, AX
	JNZ  done               // a byte >= 0x80
	VPCMPEQB Y15, Y0, Y1    // == ' '
	VPSUBB   Y14, Y0, Y2    // x - 0x09
	VPMINUB  Y13, Y2, Y3
	VPCMPEQB Y3, Y2, Y2     // x-0x09 <= 4 (unsigned): 0x09..0x0D
	VPOR     Y2, Y1, Y1     // white space
	VPMOVMSKB Y1, BX
	MOVL BX, AX
	SHRL $1, AX
	ANDL BX, AX             // ws followed by ws
	MOVL BX, R8
	ANDL R9, R8             // leading ws where none may be written
	ORL  R8, AX
	JNZ  done
	VPBLENDVB Y1, Y15, Y0, Y0 // white space -> ' '
	VPSUBB   Y12, Y0, Y2    // x - 'A'
	VPMINUB  Y11, Y2, Y3
	VPCMPEQB Y3, Y2, Y2     // 'A'..'Z'
	VPAND    Y15, Y2, Y2
	VPOR     Y2, Y0, Y0     // lower case
	VMOVDQU Y0, (DI)
	SHRL $31, BX
	MOVQ BX, R9             // lead: the last byte was white space
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R10
	SUBQ $32, CX
	JMP  loop

done:
	VZEROUPPER
	MOVQ R10, done+56(FP)
	MOVQ R9, leadOut+64(FP)
	RET
