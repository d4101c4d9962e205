//go:build !purego

#include "textflag.h"

// parseShortRecords is the fast path of recordIter.table (record_table.go):
// it tables the records at p of area whose framing is short, up to
// len(kv) of them (meta is as long), and stops at the first record that is not: a record
// length, offset delta, key length or value length of more than two bytes
// or negative (a null key or value is fine), a timestamp delta of more than
// three bytes, an offset delta not above prevDelta or above lastDelta,
// more than 63 headers, a header key longer than 63 bytes or value longer
// than 8191,
// fields that do not end exactly at the record's end, or fewer than 16
// bytes left in area. It reads area only below len(area), and
// writes kv and meta only below n, the number of records it returns. The caller
// parses the record it stopped at with recordIter.next, which decodes
// anything or names the damage.
//
// It writes the table with plain stores, also when another core reads it
// next (the read-ahead verifier's tables): the reader then takes each line
// from this core's cache. Non-temporal stores, used before, sent each line
// to memory and the reader fetched it back from there; on a machine whose
// memory is slow to reach that made a scan 1.25 times slower
// (BENCHMARKS.md).
//
// Registers: SI area, DX len(area), BX p, DI the next entry of kv, R8
// prevDelta, R15 records tabled; R12 and R14 walk the
// record, R13 is its end. A record is written as four quadwords: R9 (key
// at, key length) and AX (value at, value length) into kv, R10 (offset
// delta, timestamp delta) and R14 (headers at, end) into meta, at
// meta_base + 16*R15.

// func parseShortRecords(area []byte, p int, kv []kvEntry, meta []metaEntry, prevDelta, lastDelta int64) (n, end int, prev int64)
TEXT ·parseShortRecords(SB), NOSPLIT, $0-120
	MOVQ      area_base+0(FP), SI
	MOVQ      area_len+8(FP), DX
	MOVQ      p+24(FP), BX
	MOVQ      kv_base+32(FP), DI
	MOVQ      prevDelta+80(FP), R8
	XORQ      R15, R15

loop:
	CMPQ R15, kv_len+40(FP)
	JAE  done
	MOVQ DX, AX
	SUBQ BX, AX
	CMPQ AX, $16
	JLT  done

	// Record length: one or two bytes, not negative.
	MOVBLZX (SI)(BX*1), AX
	LEAQ    1(BX), R12
	TESTL   $0x80, AX
	JZ      len1
	MOVBLZX 1(SI)(BX*1), R10
	TESTL   $0x80, R10
	JNZ     done
	ANDL    $0x7f, AX
	SHLL    $7, R10
	ORL     R10, AX
	INCQ    R12

len1:
	TESTL $1, AX
	JNZ   done
	SHRL  $1, AX
	CMPL  AX, $6
	JLT   done
	LEAQ  (R12)(AX*1), R13 // the record's end
	CMPQ  R13, DX
	JGT   done
	INCQ  R12              // past the attributes

	// Timestamp delta: one to three bytes, zigzag, into R10.
	MOVBLZX (SI)(R12*1), R10
	INCQ    R12
	TESTL   $0x80, R10
	JZ      ts1
	ANDL    $0x7f, R10
	MOVBLZX (SI)(R12*1), AX
	INCQ    R12
	MOVL    AX, R11
	ANDL    $0x7f, R11
	SHLL    $7, R11
	ORL     R11, R10
	TESTL   $0x80, AX
	JZ      ts1
	MOVBLZX (SI)(R12*1), AX
	INCQ    R12
	TESTL   $0x80, AX
	JNZ     done
	SHLL    $14, AX
	ORL     AX, R10

ts1:
	MOVL R10, R11
	SHRL $1, R10
	ANDL $1, R11
	NEGL R11
	XORL R11, R10

	// Offset delta: one or two bytes, above prevDelta, at most lastDelta,
	// into R11.
	MOVBLZX (SI)(R12*1), R11
	INCQ    R12
	TESTL   $0x80, R11
	JZ      off1
	ANDL    $0x7f, R11
	MOVBLZX (SI)(R12*1), AX
	INCQ    R12
	TESTL   $0x80, AX
	JNZ     done
	SHLL    $7, AX
	ORL     AX, R11

off1:
	TESTL $1, R11
	JNZ   done
	SHRL  $1, R11
	CMPQ  R11, R8
	JLE   done
	CMPQ  R11, lastDelta+88(FP)
	JGT   done
	SHLQ  $32, R10
	ORQ   R11, R10 // the entry's first quadword

	// Key length: one or two bytes; 1 is -1, a null key.
	MOVBLZX (SI)(R12*1), AX
	INCQ    R12
	TESTL   $0x80, AX
	JZ      key1
	ANDL    $0x7f, AX
	MOVBLZX (SI)(R12*1), R14
	INCQ    R12
	TESTL   $0x80, R14
	JNZ     done
	SHLL    $7, R14
	ORL     R14, AX

key1:
	MOVQ  R12, R14 // where the value length starts
	CMPL  AX, $1
	JEQ   keynull
	TESTL $1, AX
	JNZ   done
	SHRL  $1, AX
	ADDQ  AX, R14
	JMP   keydone

keynull:
	MOVL $-1, AX

keydone:
	MOVQ AX, R9
	SHLQ $32, R9
	ORQ  R12, R9
	LEAQ 2(R14), AX
	CMPQ AX, R13
	JGT  done

	// Value length: one or two bytes; 1 is -1, a null value.
	MOVQ    R14, R12
	MOVBLZX (SI)(R12*1), AX
	INCQ    R12
	TESTL   $0x80, AX
	JZ      val1
	ANDL    $0x7f, AX
	MOVBLZX (SI)(R12*1), R14
	INCQ    R12
	TESTL   $0x80, R14
	JNZ     done
	SHLL    $7, R14
	ORL     R14, AX

val1:
	MOVQ  R12, R14 // where the value starts
	CMPL  AX, $1
	JEQ   valnull
	TESTL $1, AX
	JNZ   done
	SHRL  $1, AX
	ADDQ  AX, R12
	JMP   valdone

valnull:
	MOVL $-1, AX

valdone:
	SHLQ $32, AX
	ORQ  R14, AX

	// Header count: one byte in the record.
	CMPQ    R12, R13
	JGE     done
	MOVBLZX (SI)(R12*1), R14
	TESTL   R14, R14
	JNZ     headers
	LEAQ    1(R12), R14 // no headers: the count is the record's last byte
	CMPQ    R14, R13
	JNE     done
	MOVQ    R13, R14
	SHLQ    $32, R14
	ORQ     R13, R14
	JMP     store

headers:
	// Up to 63 headers, each a key of up to 63 bytes and a value of up to
	// 8191, ending at the record's end.
	TESTL $0x81, R14
	JNZ   done
	SHRL  $1, R14
	MOVQ  R12, DX // where the count is; len(area) is back at store
	INCQ  R12

hloop:
	CMPQ    R12, R13
	JGE     done
	MOVBLZX (SI)(R12*1), R11 // key length
	TESTL   $0x81, R11
	JNZ     done
	SHRL    $1, R11
	LEAQ    1(R12)(R11*1), R12
	CMPQ    R12, R13
	JGE     done
	MOVBLZX (SI)(R12*1), R11 // value length, one or two bytes; 1 is -1, a null value
	INCQ    R12
	TESTL   $0x80, R11
	JZ      hval1
	CMPQ    R12, R13
	JGE     done
	MOVBLZX (SI)(R12*1), CX
	INCQ    R12
	TESTL   $0x80, CX
	JNZ     done
	ANDL    $0x7f, R11
	SHLL    $7, CX
	ORL     CX, R11

hval1:
	CMPL    R11, $1
	JEQ     hnext
	TESTL   $1, R11
	JNZ     done
	SHRL    $1, R11
	ADDQ    R11, R12

hnext:
	DECL R14
	JNZ  hloop
	CMPQ R12, R13
	JNE  done
	MOVL DX, R14
	NOTL R14 // headers at: ^ where the count is
	MOVQ R13, R11
	SHLQ $32, R11
	ORQ  R11, R14

store:
	MOVQ area_len+8(FP), DX
	MOVL R10, R8 // the offset delta
	MOVQ R9, 0(DI)
	MOVQ AX, 8(DI)
	MOVQ R15, CX
	SHLQ $4, CX
	ADDQ meta_base+56(FP), CX
	MOVQ R10, 0(CX)
	MOVQ R14, 8(CX)

next:
	MOVQ R13, BX
	INCQ R15
	ADDQ $16, DI
	JMP  loop

done:
	MOVQ R15, n+96(FP)
	MOVQ BX, end+104(FP)
	MOVQ R8, prev+112(FP)
	RET
