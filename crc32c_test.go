package eventlog

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCRC32CUpdateMatchesHashCRC32 checks the folding CRC-32C against
// hash/crc32 at every length up to 3 KiB, at every alignment of the input
// modulo 64, from random states, and at some long lengths.
func TestCRC32CUpdateMatchesHashCRC32(t *testing.T) {
	if !canFold {
		t.Log("no folding CRC on this CPU or platform: crc32cUpdate is hash/crc32's")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1<<20+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	check := func(at, n int) {
		crc := rng.Uint32()
		p := buf[at : at+n]
		require.Equal(t, crc32.Update(crc, castagnoli, p), crc32cUpdate(crc, p), "%d bytes at %d", n, at)
	}
	for n := range 3 << 10 {
		check(n%64, n)
	}
	for _, n := range []int{4 << 10, 4<<10 + 1, 64<<10 - 3, 125_000, 1 << 20} {
		for at := range 64 {
			check(at, n)
		}
	}
}

// FuzzCRC32CUpdate checks the folding CRC-32C against hash/crc32 on
// anything.
func FuzzCRC32CUpdate(f *testing.F) {
	f.Add(uint32(0), make([]byte, 600))
	f.Add(uint32(0xffffffff), make([]byte, 1000))
	f.Fuzz(func(t *testing.T, crc uint32, p []byte) {
		require.Equal(t, crc32.Update(crc, castagnoli, p), crc32cUpdate(crc, p))
	})
}

func BenchmarkCRC32C(b *testing.B) {
	p := make([]byte, 125_000) // a batch of the reference workload
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.Run("hash-crc32", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			crc32.Update(0, castagnoli, p)
		}
	})
	b.Run("fold", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			crc32cUpdate(0, p)
		}
	})
}
