//go:build !purego

#include "textflag.h"

// parseShortRecords is the fast path of recordIter.table (record_table.go):
// it tables the records at p of area whose framing is short, up to
// len(recs) of them, and stops at the first record that is not: a record
// length, offset delta, key length or value length of more than two bytes
// or negative (a null key or value is fine), a timestamp delta of more than
// three bytes, an offset delta not above prevDelta or above lastDelta,
// headers, fields that do not end exactly at the record's end, or fewer
// than 16 bytes left in area. It reads area only below len(area), and
// writes recs only below len(recs): the n entries it returns, and parts of
// the one after them. The caller parses the record it stopped
// at with recordIter.next, which decodes anything or names the damage.
//
// Registers: SI area, DX len(area), BX p, DI the next entry of recs, CX
// len(recs), R8 prevDelta, R9 lastDelta, R15 records tabled; R12 and R14
// walk the record, R13 is its end; AX, R10 and R11 hold the fields.

// func parseShortRecords(area []byte, p int, recs []parsedRecord, prevDelta, lastDelta int64) (n, end int, prev int64)
TEXT ·parseShortRecords(SB), NOSPLIT, $0-96
	MOVQ area_base+0(FP), SI
	MOVQ area_len+8(FP), DX
	MOVQ p+24(FP), BX
	MOVQ recs_base+32(FP), DI
	MOVQ recs_len+40(FP), CX
	MOVQ prevDelta+56(FP), R8
	MOVQ lastDelta+64(FP), R9
	XORQ R15, R15

loop:
	CMPQ R15, CX
	JAE  done
	MOVQ DX, AX
	SUBQ BX, AX
	CMPQ AX, $16
	JLT  done

	// record length: one or two bytes, even (not negative)
	MOVBLZX (SI)(BX*1), AX
	LEAQ 1(BX), R12
	TESTL $0x80, AX
	JZ   len1
	MOVBLZX 1(SI)(BX*1), R10
	TESTL $0x80, R10
	JNZ  done
	ANDL $0x7f, AX
	SHLL $7, R10
	ORL  R10, AX
	INCQ R12
len1:
	TESTL $1, AX
	JNZ  done
	SHRL $1, AX
	CMPL AX, $6
	JLT  done
	LEAQ (R12)(AX*1), R13 // end of the record
	CMPQ R13, DX
	JGT  done
	INCQ R12 // attributes

	// timestamp delta: one to three bytes, zigzag
	MOVBLZX (SI)(R12*1), R10
	INCQ R12
	TESTL $0x80, R10
	JZ   ts1
	ANDL $0x7f, R10
	MOVBLZX (SI)(R12*1), AX
	INCQ R12
	MOVL AX, R11
	ANDL $0x7f, R11
	SHLL $7, R11
	ORL  R11, R10
	TESTL $0x80, AX
	JZ   ts1
	MOVBLZX (SI)(R12*1), AX
	INCQ R12
	TESTL $0x80, AX
	JNZ  done
	SHLL $14, AX
	ORL  AX, R10
ts1:
	MOVL R10, R11
	SHRL $1, R10
	ANDL $1, R11
	NEGL R11
	XORL R11, R10 // timestamp delta

	// offset delta: one or two bytes, even, above prevDelta, at most lastDelta
	MOVBLZX (SI)(R12*1), R11
	INCQ R12
	TESTL $0x80, R11
	JZ   off1
	ANDL $0x7f, R11
	MOVBLZX (SI)(R12*1), AX
	INCQ R12
	TESTL $0x80, AX
	JNZ  done
	SHLL $7, AX
	ORL  AX, R11
off1:
	TESTL $1, R11
	JNZ  done
	SHRL $1, R11
	CMPQ R11, R8
	JLE  done
	CMPQ R11, R9
	JGT  done

	// key length: one or two bytes, even or 1 (null)
	MOVBLZX (SI)(R12*1), AX
	INCQ R12
	TESTL $0x80, AX
	JZ   key1
	ANDL $0x7f, AX
	MOVBLZX (SI)(R12*1), R14
	INCQ R12
	TESTL $0x80, R14
	JNZ  done
	SHLL $7, R14
	ORL  R14, AX
key1:
	MOVL R12, 8(DI)  // keyAt
	MOVQ R12, R14     // where the value length starts
	CMPL AX, $1
	JEQ  keynull
	TESTL $1, AX
	JNZ  done
	SHRL $1, AX
	MOVL AX, 12(DI)  // keyLen
	ADDQ AX, R14
	JMP  keydone
keynull:
	MOVL $-1, 12(DI)
keydone:
	LEAQ 2(R14), AX
	CMPQ AX, R13
	JGT  done

	// value length: one or two bytes, even or 1 (null)
	MOVBLZX (SI)(R14*1), AX
	INCQ R14
	TESTL $0x80, AX
	JZ   val1
	ANDL $0x7f, AX
	MOVBLZX (SI)(R14*1), R12
	INCQ R14
	TESTL $0x80, R12
	JNZ  done
	SHLL $7, R12
	ORL  R12, AX
val1:
	MOVL R14, 16(DI)  // valueAt
	CMPL AX, $1
	JEQ  valnull
	TESTL $1, AX
	JNZ  done
	SHRL $1, AX
	MOVL AX, 20(DI)  // valueLen
	ADDQ AX, R14
	JMP  valdone
valnull:
	MOVL $-1, 20(DI)
valdone:
	// no headers: a count of 0 is the record's last byte
	LEAQ 1(R14), AX
	CMPQ AX, R13
	JNE  done
	CMPB (SI)(R14*1), $0
	JNE  done

	MOVL R11, 0(DI)  // offsetDelta
	MOVL R10, 4(DI)  // tsDelta
	MOVL R13, 24(DI) // headersAt
	MOVL R13, 28(DI) // end
	MOVQ R13, BX
	MOVQ R11, R8
	INCQ R15
	ADDQ $32, DI
	JMP  loop

done:
	MOVQ R15, n+72(FP)
	MOVQ BX, end+80(FP)
	MOVQ R8, prev+88(FP)
	RET
