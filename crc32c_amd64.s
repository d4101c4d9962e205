//go:build !purego

#include "textflag.h"

// func castagnoliFold(state uint32, p []byte, k *foldKeys) uint32
//
// castagnoliFold returns the CRC-32C state (not inverted) after p, a
// multiple of 64 bytes and at least 256 long, from state (see
// crc32c_amd64.go). It multiplies four 64-byte accumulators, carry-less,
// by the keys of a 256-byte step, XORs in the next 256 bytes, and so on;
// then folds the accumulators into one, and its four 16-byte lanes into
// the last: 16 bytes whose CRC from a state of 0, which the CRC32
// instruction sums, is the state after p.
TEXT ·castagnoliFold(SB), NOSPLIT, $0-44
	MOVL state+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ k+32(FP), DX

	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVD     AX, X4
	VPXORQ    Z4, Z0, Z0 // the state goes into the first four bytes
	ADDQ      $256, SI
	SUBQ      $256, CX
	VBROADCASTI32X4 0(DX), Z5 // keys of a 256-byte step

loop256:
	CMPQ       CX, $256
	JB         fold64
	VPCLMULQDQ $0x00, Z5, Z0, Z6
	VPCLMULQDQ $0x11, Z5, Z0, Z0
	VPTERNLOGD $0x96, (SI), Z6, Z0
	VPCLMULQDQ $0x00, Z5, Z1, Z7
	VPCLMULQDQ $0x11, Z5, Z1, Z1
	VPTERNLOGD $0x96, 64(SI), Z7, Z1
	VPCLMULQDQ $0x00, Z5, Z2, Z8
	VPCLMULQDQ $0x11, Z5, Z2, Z2
	VPTERNLOGD $0x96, 128(SI), Z8, Z2
	VPCLMULQDQ $0x00, Z5, Z3, Z9
	VPCLMULQDQ $0x11, Z5, Z3, Z3
	VPTERNLOGD $0x96, 192(SI), Z9, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JMP        loop256

fold64:
	// Each accumulator into the next, 64 bytes on.
	VBROADCASTI32X4 16(DX), Z5 // keys of a 64-byte step
	VPCLMULQDQ      $0x00, Z5, Z0, Z6
	VPCLMULQDQ      $0x11, Z5, Z0, Z0
	VPTERNLOGD      $0x96, Z6, Z0, Z1
	VPCLMULQDQ      $0x00, Z5, Z1, Z6
	VPCLMULQDQ      $0x11, Z5, Z1, Z1
	VPTERNLOGD      $0x96, Z6, Z1, Z2
	VPCLMULQDQ      $0x00, Z5, Z2, Z6
	VPCLMULQDQ      $0x11, Z5, Z2, Z2
	VPTERNLOGD      $0x96, Z6, Z2, Z3

loop64:
	CMPQ       CX, $64
	JB         lanes
	VPCLMULQDQ $0x00, Z5, Z3, Z6
	VPCLMULQDQ $0x11, Z5, Z3, Z3
	VPTERNLOGD $0x96, (SI), Z6, Z3
	ADDQ       $64, SI
	SUBQ       $64, CX
	JMP        loop64

lanes:
	// Lanes 0, 1 and 2 into lane 3, 48, 32 and 16 bytes on; the keys of
	// lane 3 are zero.
	VMOVDQU64      32(DX), Z5
	VPCLMULQDQ     $0x00, Z5, Z3, Z6
	VPCLMULQDQ     $0x11, Z5, Z3, Z7
	VPXORQ         Z6, Z7, Z6
	VEXTRACTI64X4  $1, Z6, Y7
	VPXORQ         Y7, Y6, Y6
	VEXTRACTI64X2  $1, Y6, X7
	VPXORQ         X7, X6, X6
	VEXTRACTI64X2  $3, Z3, X7
	VPXORQ         X7, X6, X6
	VMOVQ          X6, AX
	VPEXTRQ        $1, X6, BX
	VZEROUPPER
	XORL           CX, CX
	CRC32Q         AX, CX
	CRC32Q         BX, CX
	MOVL           CX, ret+40(FP)
	RET
