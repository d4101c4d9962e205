package eventlog

import (
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segmentBytes encodes n batches of 100 records of about 1 KiB each and
// returns them back to back, with where each batch starts.
func segmentBytes(t *testing.T, n int) ([]byte, []int64) {
	t.Helper()
	var data []byte
	var starts []int64
	value := make([]byte, 1000)
	for i := range n {
		records := make([]Record, 100)
		for j := range records {
			records[j] = Record{Key: fmt.Appendf(nil, "k%d-%d", i, j), Value: value, Timestamp: testTime}
		}
		b := encodeBatch(t, records, CompressionNone)
		setBaseOffset(b, int64(i*100))
		starts = append(starts, int64(len(data)))
		data = append(data, b...)
	}
	return data, starts
}

// TestVerifierStopsAtDamage runs a verifier on the reader's goroutine, with
// the reader standing still at the start: it checks batches up to the
// window's end, or up to the first damaged one, and no further. One that
// parses ahead publishes no table for the damaged batch, wherever in it
// the damage lies.
func TestVerifierStopsAtDamage(t *testing.T) {
	data, starts := segmentBytes(t, 7) // about 700 KiB: less than the window
	require.Less(t, len(data), readAheadWindow)
	batchSize := int(starts[1] - starts[0])
	for _, parse := range []bool{false, true} {
		for _, bad := range []int{-1, 0, 1, 4, 6} {
			for _, at := range []int{batchHeaderSize + 10, batchSize / 2, batchSize - 1} {
				if bad < 0 && at != batchSize-1 {
					continue // one run without damage is enough
				}
				t.Run(fmt.Sprintf("parse=%t/bad=%d/at=%d", parse, bad, at), func(t *testing.T) {
					data := append([]byte(nil), data...)
					want, tables := int64(len(data)), int64(len(starts))
					if bad >= 0 {
						data[starts[bad]+int64(at)] ^= 1
						want, tables = starts[bad], int64(bad)
					}
					var released atomic.Int32
					v := newVerifier(nil, data, 0, func() { released.Add(1) })
					if parse {
						v.tables = (&Log{}).newParseTables()
					}
					v.run(make(chan struct{}))
					assert.Equal(t, want, v.checked.Load())
					assert.Equal(t, int32(1), released.Load(), "the verifier lets go of the segment once")
					if parse {
						assert.Equal(t, tables, v.tables.tabled.Load(), "tables published")
					}

					ra := readAhead{v: v, l: &Log{}}
					for i, start := range starts {
						end := int64(len(data))
						if i+1 < len(starts) {
							end = starts[i+1]
						}
						assert.Equal(t, bad < 0 || i < bad, ra.checked(start, end), "batch %d", i)
					}
				})
			}
		}
	}
}

// TestVerifierWaitsForTheReader checks that a verifier runs at most a
// window ahead of the reader, waits for it without using the CPU, goes on
// when the reader comes closer, jumps to the reader when it falls behind,
// and ends when the reader stops.
func TestVerifierWaitsForTheReader(t *testing.T) {
	data, starts := segmentBytes(t, 130) // about 13 MiB: three windows
	synctest.Test(t, func(t *testing.T) {
		done := make(chan struct{})
		v := newVerifier(nil, data, 0, func() { close(done) })
		ra := readAhead{v: v, l: &Log{}}
		go v.run(make(chan struct{}))
		synctest.Wait()
		require.True(t, v.parked.Load(), "the verifier waits a window ahead")
		checked := v.checked.Load()
		assert.Greater(t, checked, int64(readAheadWindow))
		assert.LessOrEqual(t, checked, int64(readAheadWindow)+starts[1])

		// Reading less than half a window does not wake it.
		i := 0
		for ; starts[i+1] < readAheadWindow/4; i++ {
			ra.moved(starts[i], starts[i+1])
		}
		synctest.Wait()
		assert.Equal(t, checked, v.checked.Load())

		// Reading up to where it stopped does.
		for ; starts[i+1] <= checked; i++ {
			ra.moved(starts[i], starts[i+1])
		}
		synctest.Wait()
		assert.Greater(t, v.checked.Load(), checked)
		assert.True(t, v.parked.Load())

		// A reader that overtook it makes it jump there and check on
		// from the reader's position.
		ra.publish(starts[125])
		synctest.Wait()
		assert.Equal(t, int64(len(data)), v.checked.Load())
		<-done
		assert.True(t, ra.checked(starts[126], starts[127]))
		ra.stop()
	})

	// A reader that stops ends a waiting verifier.
	synctest.Test(t, func(t *testing.T) {
		done := make(chan struct{})
		v := newVerifier(nil, data, 0, func() { close(done) })
		ra := readAhead{v: v, l: &Log{}}
		go v.run(make(chan struct{}))
		synctest.Wait()
		require.True(t, v.parked.Load())
		ra.stop()
		<-done
	})

	// So does the Log stopping.
	synctest.Test(t, func(t *testing.T) {
		done, stop := make(chan struct{}), make(chan struct{})
		v := newVerifier(nil, data, 0, func() { close(done) })
		go v.run(stop)
		synctest.Wait()
		require.True(t, v.parked.Load())
		close(stop)
		<-done
	})
}

// TestCRC32CInChunks checks the chunked, prefetching CRC against the
// standard library's over lengths around the chunk size, from offsets
// inside buffers that go on past the summed bytes.
func TestCRC32CInChunks(t *testing.T) {
	buf := make([]byte, 5*crcChunk+100)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for _, from := range []int{0, 1, 21} {
		for _, n := range []int{0, 1, crcChunk - 1, crcChunk, crcChunk + 1, 2 * crcChunk, 3*crcChunk + 5, 5 * crcChunk} {
			want := crc32.Checksum(buf[from:from+n], castagnoli)
			assert.Equal(t, want, crc32c(buf, from, from+n), "from %d, %d bytes", from, n)
			assert.Equal(t, want, crc32c(buf[:from+n], from, from+n), "from %d, %d bytes, ending the buffer", from, n)
		}
	}
}
