//go:build !purego

package eventlog

import (
	"hash/crc32"
	"math/bits"

	"golang.org/x/sys/cpu"
)

// CRC-32C by folding: on a CPU with AVX-512 and its carry-less multiply
// (VPCLMULQDQ), castagnoliFold (crc32c_amd64.s) reduces a long input to 16
// bytes with the same CRC, 256 bytes a step, about twice as fast as the
// CRC32 instruction hash/crc32 uses on 3 streams; hash/crc32 sums the tail.

// canFold reports whether the CPU and the OS support castagnoliFold (SSE 4.2
// comes with AVX-512).
var canFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VPCLMULQDQ

// foldMin is the shortest input crc32cUpdate folds.
const foldMin = 512

// foldKeys are castagnoliFold's multipliers: for a step of d bits, x^(d+32)
// and x^(d-32) modulo the Castagnoli polynomial, bit-reflected as the CRC
// is, for the low and the high 8 bytes of a 16-byte lane.
type foldKeys struct {
	step256 [2]uint64
	step64  [2]uint64
	lanes   [8]uint64 // lanes 0, 1 and 2 of 64 bytes into lane 3, and lane 3's zeros
}

var castagnoliKeys = newFoldKeys()

func newFoldKeys() foldKeys {
	k := foldKeys{step256: foldKey(256), step64: foldKey(64)}
	for i, n := range []int{48, 32, 16} {
		key := foldKey(n)
		copy(k.lanes[2*i:], key[:])
	}
	return k
}

// foldKey returns the keys of a step of n bytes.
func foldKey(n int) [2]uint64 {
	return [2]uint64{reflectedPower(8*n + 32), reflectedPower(8*n - 32)}
}

// reflectedPower returns x^e modulo the Castagnoli polynomial, bit-reflected
// and shifted left by one, as carry-less multiplication of reflected
// operands wants it.
func reflectedPower(e int) uint64 {
	r := uint64(1)
	for range e {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= 1<<32 | 0x1EDC6F41
		}
	}
	return uint64(bits.Reverse32(uint32(r))) << 1
}

//go:noescape
func castagnoliFold(state uint32, p []byte, k *foldKeys) uint32

// crc32cUpdate is crc32.Update(crc, castagnoli, p), folding long inputs
// where the CPU can.
func crc32cUpdate(crc uint32, p []byte) uint32 {
	if !canFold || len(p) < foldMin {
		return crc32.Update(crc, castagnoli, p)
	}
	n := len(p) &^ 63
	// crc32.Update works on inverted states, castagnoliFold on plain ones.
	return crc32.Update(^castagnoliFold(^crc, p[:n], &castagnoliKeys), castagnoli, p[n:])
}
