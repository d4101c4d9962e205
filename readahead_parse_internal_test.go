package eventlog

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseAheadSegment returns batches that the verifier tables or must
// leave to the reader, back to back, with where each starts and whether
// it should have a table.
func parseAheadSegment(t *testing.T) (data []byte, starts []int64, tabled []bool) {
	t.Helper()
	add := func(b []byte, want bool) {
		starts = append(starts, int64(len(data)))
		setBaseOffset(b, int64(len(starts)*1000))
		data = append(data, b...)
		tabled = append(tabled, want)
	}
	varied := make([]Record, 60)
	for i := range varied {
		r := Record{Key: fmt.Appendf(nil, "key-%d", i), Value: make([]byte, i*7), Timestamp: testTime.Add(time.Duration(i-5) * time.Second)}
		switch i % 5 {
		case 0:
			r.Key = nil // Kafka's null key
		case 1:
			r.Value = nil // a tombstone
		case 2:
			r.Headers = []Header{{Key: "a", Value: []byte("1")}, {Key: "trace", Value: nil}}
		case 3:
			r.Headers = []Header{{Key: "", Value: []byte{}}}
		}
		varied[i] = r
	}
	add(encodeBatch(t, varied, CompressionNone), true)
	add(encodeBatch(t, varied, CompressionSnappy), false) // the reader decompresses it
	add(encodeBatch(t, varied[:1], CompressionNone), true)
	// Timestamps further apart than an int32 of milliseconds.
	far := []Record{{Value: []byte("a"), Timestamp: testTime}, {Value: []byte("b"), Timestamp: testTime.AddDate(0, 2, 0)}}
	add(encodeBatch(t, far, CompressionNone), false)
	// A good CRC over a record whose key runs past it: the reader reports it.
	bad := encodeBatch(t, varied[:3], CompressionNone)
	bad[batchHeaderSize+4] = 0x7e // the first record's key length: 63
	binary.BigEndian.PutUint32(bad[batchCRCPos:], crc32c(bad, batchAttributesPos, len(bad)))
	require.NoError(t, verifyBatchCRC(bad))
	add(bad, false)
	add(encodeBatch(t, varied[10:], CompressionNone), true)
	return data, starts, tabled
}

// TestParseAheadTablesMatchTheParser runs a verifier that parses ahead
// over batches of every kind: the views built from its tables equal those
// the reader's own parser builds, and the batches it must not table
// (compressed, timestamps out of range, damaged records) have none.
func TestParseAheadTablesMatchTheParser(t *testing.T) {
	data, starts, tabled := parseAheadSegment(t)
	l := &Log{}
	v := newVerifier(nil, data, 0, func() {})
	v.tables = l.newParseTables()
	v.run(make(chan struct{}))
	assert.Equal(t, int64(len(data)), v.checked.Load())

	ra := readAhead{v: v, l: l, tables: v.tables}
	for i, pos := range starts {
		table := ra.parsed(pos)
		if !tabled[i] {
			assert.Nil(t, table, "batch %d", i)
			continue
		}
		require.NotNil(t, table, "batch %d", i)
		h, err := parseBatchHeader(data[pos:])
		require.NoError(t, err)
		area := data[pos+batchHeaderSize : pos+h.size()]
		var it recordIter
		require.NoError(t, it.reset(&h, area))
		require.Len(t, table, int(h.RecordCount))
		for j := range table {
			var f recordFields
			require.NoError(t, it.next(&f))
			var want, got RecordView
			f.fill(&want, area)
			table[j].fill(&got, area, h.BaseOffset, h.BaseTimestamp)
			assert.Equal(t, want, got, "batch %d record %d", i, j)
			assert.Equal(t, want.Key == nil, got.Key == nil)
			assert.Equal(t, want.Value == nil, got.Value == nil)
			assert.Equal(t, want.Clone(), got.Clone())
		}
	}
	ra.stop()
	assert.Equal(t, int32(1), v.tables.refs.Load(), "the verifier's reference is left")
}

// TestParseAheadLeavesTablesInUse fills the ring of tables: the verifier
// tables no batch over the records or batches the reader may still read,
// and goes on once the reader has moved past them.
func TestParseAheadLeavesTablesInUse(t *testing.T) {
	tiny := make([]Record, 10_000)
	for i := range tiny {
		tiny[i].Timestamp = testTime
	}
	batch := encodeBatch(t, tiny, CompressionNone)
	var data []byte
	for range 8 {
		data = append(data, batch...)
	}
	size := int64(len(batch))
	l := &Log{}
	tables := l.newParseTables()
	var none atomic.Int64 // the reader took no batch
	none.Store(-1)
	for i := range int64(6) {
		tables.add(data, i*size, &none)
	}
	require.Equal(t, int64(6), tables.tabled.Load(), "60,000 records fit")
	tables.add(data, 6*size, &none)
	assert.Equal(t, int64(6), tables.tabled.Load(), "the seventh table would overwrite the first, which is in use")
	tables.oldest.Store(1)
	tables.add(data, 6*size, &none)
	assert.Equal(t, int64(7), tables.tabled.Load(), "it may once the reader moved on")
	assert.Equal(t, int64(parsedRecordsCap), tables.batches[6].first, "at the start of the ring, not wrapping")

	ra := readAhead{tables: tables}
	for i := range int64(7) {
		table := ra.parsed(i * size)
		require.Len(t, table, 10_000)
		if i == 0 {
			continue // overwritten
		}
		var got RecordView
		table[9_999].fill(&got, data[i*size+batchHeaderSize:(i+1)*size], 0, 0)
		assert.Equal(t, int64(9_999), got.Offset)
	}

	one := encodeBatch(t, tiny[:1], CompressionNone)
	data = nil
	for range parsedBatchesCap + 1 {
		data = append(data, one...)
	}
	tables = l.newParseTables()
	for i := range int64(parsedBatchesCap + 1) {
		tables.add(data, i*int64(len(one)), &none)
	}
	assert.Equal(t, int64(parsedBatchesCap), tables.tabled.Load(), "no more batches than the ring holds")
}

// TestParseAheadLeavesBatchesToTheReader has a reader overtake a verifier
// that parses ahead: the verifier leaves it the next batches, tables the
// ones after them, and vouches for the CRCs of what lies ahead of the
// reader again once the reader has passed the batches it left.
func TestParseAheadLeavesBatchesToTheReader(t *testing.T) {
	data, starts := segmentBytes(t, 60)
	synctest.Test(t, func(t *testing.T) {
		l := &Log{}
		done := make(chan struct{})
		v := newVerifier(nil, data, 0, func() { close(done) })
		v.tables = l.newParseTables()
		ra := readAhead{v: v, l: l, tables: v.tables}
		ra.moved(starts[2], starts[3]) // a batch it read without a table
		go v.run(make(chan struct{}))
		defer ra.stop() // also when a check fails
		synctest.Wait()
		require.True(t, v.parked.Load())

		left := 3
		for starts[left]-starts[3] < readAheadLead {
			left++
		}
		for i := 3; i < left; i++ {
			assert.False(t, ra.checked(starts[i], starts[i+1]), "batch %d is left to the reader", i)
		}
		assert.True(t, ra.checked(starts[left], starts[left+1]), "batch %d has a table", left)
		assert.NotNil(t, ra.table)
		assert.Equal(t, int64(0), v.checked.Load(), "no CRC vouched for across the batches left")

		ra.moved(starts[left], starts[left+1])
		i := left + 1
		for ; starts[i] < v.at.Load()-readAheadWindow/4; i++ {
			require.True(t, ra.checked(starts[i], starts[i+1]), "batch %d has a table", i)
			ra.moved(starts[i], starts[i+1])
		}
		synctest.Wait()
		assert.Greater(t, v.checked.Load(), starts[i], "past the batches left, the CRCs are vouched for again")
		ra.stop()
		<-done
	})
}
