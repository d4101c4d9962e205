package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
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
	for _, c := range testCodecs[1:] {
		add(encodeBatch(t, varied, c), true) // decompressed by the verifier
	}
	// A good CRC over a compressed records area that does not decompress.
	garbled := encodeBatch(t, varied, CompressionZstd)
	garbled[batchHeaderSize+8] ^= 0xff
	binary.BigEndian.PutUint32(garbled[batchCRCPos:], crc32c(garbled, batchAttributesPos, len(garbled)))
	add(garbled, false)
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
	// Records the verifier's check passes over a chunk at a time before
	// the fast parser takes them (values of 3000 bytes), or that it does
	// not take at all (values of 10,000), so that the parse waits for the
	// check and finishes after it.
	large := make([]Record, 12)
	for i := range large {
		large[i] = Record{Key: []byte("k"), Value: bytes.Repeat([]byte{byte(i)}, 3000), Timestamp: testTime}
	}
	large[7].Value = make([]byte, 10000)
	add(encodeBatch(t, large, CompressionNone), true)
	// A batch whose records all take the time the log appended it at.
	appended := encodeBatch(t, varied[20:], CompressionNone)
	appended[batchAttributesPos+1] |= attrLogAppendTime
	binary.BigEndian.PutUint32(appended[batchCRCPos:], crc32c(appended, batchAttributesPos, len(appended)))
	add(appended, true)
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
	v.tables.limit = maxReadDecompressedBytes(DefaultMaxBatchBytes)
	v.run(make(chan struct{}))
	assert.Equal(t, int64(len(data)), v.checked.Load())

	ra := readAhead{v: v, l: l, tables: v.tables}
	for i, pos := range starts {
		table, decompressed := ra.parsed(pos)
		if !tabled[i] {
			assert.Nil(t, table.kv, "batch %d", i)
			continue
		}
		require.NotNil(t, table.kv, "batch %d", i)
		assertTableMatchesParser(t, data[pos:], table, decompressed, v.tables.limit, fmt.Sprintf("batch %d", i))
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
	var none readerProgress // the reader took no batch
	none.caughtUp.Store(-1)
	none.waiting.Store(-1)
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
		table, _ := ra.parsed(i * size)
		require.Equal(t, 10_000, table.len())
		if i == 0 {
			continue // overwritten
		}
		var got RecordView
		table.fill(9_999, &got, data[i*size+batchHeaderSize:(i+1)*size], 0, 0)
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
		assert.NotNil(t, ra.table.kv)
		assert.Equal(t, int64(0), v.checked.Load(), "no CRC vouched for across the batches left")

		// The reader goes on, letting the verifier settle after each
		// batch, so that it never finds the verifier on the batch it
		// reaches (and so catches up again).
		ra.moved(starts[left], starts[left+1])
		synctest.Wait()
		i := left + 1
		for ; starts[i] < v.at.Load()-readAheadWindow/4; i++ {
			require.True(t, ra.checked(starts[i], starts[i+1]), "batch %d has a table", i)
			ra.moved(starts[i], starts[i+1])
			synctest.Wait()
		}
		assert.Greater(t, v.checked.Load(), starts[i], "past the batches left, the CRCs are vouched for again")
		ra.stop()
		<-done
	})
}

// TestParseAheadLeavesBatchesToAGainingReader: a verifier whose reader
// stands still tables every batch up to its window's end; once the reader
// gains on it and comes within the last readAheadNear batches it checked,
// the verifier leaves it the next batches before it catches up, so that the reader parses them
// instead of waiting for the batch the verifier is on, and tables the
// ones after them.
func TestParseAheadLeavesBatchesToAGainingReader(t *testing.T) {
	// More than a window, and less than the window past the batch the
	// reader moves to.
	data, starts := segmentBytes(t, 13)
	require.Greater(t, len(data), readAheadWindow)
	require.Less(t, len(data), 2*readAheadWindow-2*int(starts[1]))
	synctest.Test(t, func(t *testing.T) {
		l := &Log{}
		v := newVerifier(nil, data, 0, func() {})
		v.tables = l.newParseTables()
		ra := readAhead{v: v, l: l, tables: v.tables}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			v.run(make(chan struct{}))
		}()
		defer ra.stop() // also when a check fails
		synctest.Wait()
		require.True(t, v.parked.Load(), "the verifier ran to its window's end")
		at := slices.Index(starts, v.at.Load())
		require.Positive(t, at)
		reader := at - readAheadNear + 1 // within the last batches the verifier checked
		for i := range reader {
			require.True(t, ra.checked(starts[i], starts[i+1]), "batch %d: tabled while the reader stood still", i)
		}

		ra.publish(starts[reader])
		synctest.Wait()
		<-ended // the verifier went on to the end of the data
		left := at + readAheadNearLead
		for i := reader; i < at; i++ {
			assert.True(t, ra.checked(starts[i], starts[i+1]), "batch %d was tabled before the reader gained", i)
		}
		for i := at; i < left; i++ {
			assert.False(t, ra.checked(starts[i], starts[i+1]), "batch %d is left to the reader", i)
		}
		for i := left; i < len(starts)-1; i++ {
			assert.True(t, ra.checked(starts[i], starts[i+1]), "batch %d has a table", i)
		}
	})
}

// TestParseAheadLeavesAreasInUse: the verifier decompresses compressed
// batches for its reader up to parseAheadAreaBytes, never reuses the
// buffer of a batch the reader may still read, and reuses it once the
// reader has moved past.
func TestParseAheadLeavesAreasInUse(t *testing.T) {
	recs := make([]Record, 1000)
	for i := range recs {
		recs[i] = Record{Value: bytes.Repeat([]byte{byte(i)}, 1000), Timestamp: testTime}
	}
	batch := encodeBatch(t, recs, CompressionZstd)
	size := int64(len(batch))
	var data []byte
	for range 12 {
		data = append(data, batch...)
	}
	l := &Log{}
	tables := l.newParseTables()
	tables.limit = maxReadDecompressedBytes(DefaultMaxBatchBytes)
	var none readerProgress // the reader took no batch
	none.caughtUp.Store(-1)
	none.waiting.Store(-1)
	for pos := int64(0); pos < 12*size; pos += size {
		tables.add(data, pos, &none)
	}
	held := tables.tabled.Load()
	require.Positive(t, held)
	assert.Less(t, held, int64(12), "tabling stops at the bound on decompressed bytes")
	assert.GreaterOrEqual(t, tables.areaBytes, parseAheadAreaBytes)
	first := bytes.Clone(tables.areas[0])
	want, err := (&batchDecoder{}).recordsArea(mustHeader(t, batch), batch, tables.limit)
	require.NoError(t, err)
	require.Equal(t, want, first)

	tables.add(data, held*size, &none)
	assert.Equal(t, held, tables.tabled.Load(), "nothing more while the reader holds the first batch")
	givenBack := []*byte{&tables.areas[0][0], &tables.areas[1][0]}
	tables.oldest.Store(2) // the reader is at the third batch
	tables.add(data, held*size, &none)
	require.Equal(t, held+1, tables.tabled.Load(), "the buffers of the first two came back")
	reused := &tables.areas[held%parsedBatchesCap][0]
	assert.True(t, reused == givenBack[0] || reused == givenBack[1], "the new batch reuses a buffer given back")
	assert.Nil(t, tables.areas[0], "given back")
	assert.Equal(t, want, tables.areas[2], "the batch the reader is at is untouched")
	assert.Equal(t, want, tables.areas[held%parsedBatchesCap])
	tables.release(l)
	tables.release(l)
}

func mustHeader(t *testing.T, b []byte) *batchHeader {
	t.Helper()
	h, err := parseBatchHeader(b)
	require.NoError(t, err)
	return &h
}

// TestVerifierWaitsForRoom: a verifier whose decompressed batches fill
// its bound waits for the reader instead of running ahead without
// tables, so that every batch of a long compressed scan reaches the
// reader decompressed, and it ends when the reader does.
func TestVerifierWaitsForRoom(t *testing.T) {
	recs := make([]Record, 1000)
	for i := range recs {
		recs[i] = Record{Value: bytes.Repeat([]byte{byte(i)}, 1000), Timestamp: testTime}
	}
	batch := encodeBatch(t, recs, CompressionZstd)
	const batches = 30
	size := int64(len(batch))
	var data []byte
	for i := range batches {
		b := bytes.Clone(batch)
		setBaseOffset(b, int64(i*len(recs)))
		data = append(data, b...)
	}
	want, err := (&batchDecoder{}).recordsArea(mustHeader(t, batch), batch, maxReadDecompressedBytes(DefaultMaxBatchBytes))
	require.NoError(t, err)

	synctest.Test(t, func(t *testing.T) {
		l := &Log{}
		v := newVerifier(nil, data, 0, func() {})
		v.tables = l.newParseTables()
		v.tables.limit = maxReadDecompressedBytes(DefaultMaxBatchBytes)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			v.run(make(chan struct{}))
		}()
		synctest.Wait()
		require.True(t, v.full.Load(), "the verifier waits for room")
		assert.Less(t, v.tables.tabled.Load(), int64(batches))

		ra := readAhead{v: v, l: l, tables: v.tables}
		for i := range int64(batches) {
			table, area := ra.parsed(i * size)
			require.Equal(t, len(recs), table.len(), "batch %d has a table", i)
			require.Equal(t, want, area, "batch %d", i)
			ra.publish((i + 1) * size)
			synctest.Wait()
		}
		ra.stop()
		synctest.Wait()
		select {
		case <-ended:
		default:
			t.Fatal("the verifier did not end with its reader")
		}
	})
}

// TestReaderWaitsForTheBatchTheVerifierIsOn has the reader reach the very
// batch the verifier is tabling: it waits for the table instead of parsing
// the batch too, the verifier does not give the batch up, and the reader
// says it caught up so that the verifier leaves it the batches after.
func TestReaderWaitsForTheBatchTheVerifierIsOn(t *testing.T) {
	spin := readAheadSpin
	readAheadSpin = math.MaxInt // however slowly the goroutine below runs
	t.Cleanup(func() { readAheadSpin = spin })
	data, starts := segmentBytes(t, 8)
	l := &Log{}
	v := newVerifier(nil, data, 0, func() {})
	v.tables = l.newParseTables()
	ra := readAhead{v: v, l: l, tables: v.tables}
	v.working.Store(starts[0]) // the verifier is on the first batch
	tabled := make(chan bool)
	stop := make(chan struct{}) // a reader that does not wait ends the test first
	defer close(stop)
	go func() {
		for v.progress.waiting.Load() != starts[0] {
			select {
			case <-stop:
				return
			default:
				runtime.Gosched() // until the reader waits
			}
		}
		assert.False(t, v.progress.passed(starts[0]), "the reader waits for the batch: it did not pass it")
		v.tables.add(data, starts[0], &v.progress)
		ok := v.tables.tabled.Load() == 1
		v.working.Store(starts[1]) // and moves on, as the verifier does
		tabled <- ok
	}()
	require.True(t, ra.checked(starts[0], starts[1]))
	require.True(t, <-tabled, "the verifier tabled the batch the reader waited for")
	assert.NotNil(t, ra.table.kv, "the reader read the batch from its table")
	assert.Equal(t, starts[1], v.progress.caughtUp.Load(), "the verifier leaves the reader the batches after")
	assert.Equal(t, int64(-1), v.progress.waiting.Load())

	// A batch the verifier is not on: no wait, no table.
	v.working.Store(starts[2])
	assert.False(t, ra.checked(starts[1], starts[2]))
	assert.Nil(t, ra.table.kv)
	ra.stop()
}

// assertTableMatchesParser checks table, made of the batch at the start
// of data, and decompressed, its records area as the verifier
// decompressed it (nil if the table points into data): every record's
// view from the table equals the one the parser makes.
func assertTableMatchesParser(t *testing.T, data []byte, table recordTable, decompressed []byte, limit int, name string) {
	t.Helper()
	h, err := parseBatchHeader(data)
	require.NoError(t, err)
	var dec batchDecoder
	area, err := dec.recordsArea(&h, data[:h.size()], limit)
	require.NoError(t, err)
	if h.compression() == CompressionNone {
		assert.Nil(t, decompressed, "%s is read from the segment", name)
	} else {
		require.Equal(t, area, decompressed, "%s decompressed by the verifier", name)
		area = decompressed
	}
	var it recordIter
	require.NoError(t, it.reset(&h, area))
	require.Equal(t, int(h.RecordCount), table.len())
	for j := range table.len() {
		var f recordFields
		require.NoError(t, it.next(&f))
		var want, got RecordView
		f.fill(&want, area)
		table.fill(j, &got, area, h.BaseOffset, h.timeBase())
		assert.Equal(t, want, got, "%s record %d", name, j)
		assert.Equal(t, want.Key == nil, got.Key == nil)
		assert.Equal(t, want.Value == nil, got.Value == nil)
		assert.Equal(t, want.Clone(), got.Clone())
	}
}

// TestReaderTablesTheBatchesLeftToIt: a reader that reaches a batch the
// verifier did not check checks its CRC itself and, if it is uncompressed,
// tables its records in the same pass. The views from its table equal the
// parser's; a batch it cannot table (damaged records, timestamps out of
// range) is still checked, a compressed one is left to the reader's usual
// path, and one whose CRC does not match gets no table, for the reader's
// own check to report. A reader that reads its own tables still tells the
// verifier that it caught up with it.
func TestReaderTablesTheBatchesLeftToIt(t *testing.T) {
	data, starts, tabled := parseAheadSegment(t)
	l := &Log{}
	v := newVerifier(nil, data, 0, func() {}) // never runs: every batch is left to the reader
	v.tables = l.newParseTables()
	ra := readAhead{v: v, l: l, tables: v.tables, own: &v.tables.reader}
	defer ra.stop()
	for i, pos := range starts {
		name := fmt.Sprintf("batch %d", i)
		h, err := parseBatchHeader(data[pos:])
		require.NoError(t, err)
		require.False(t, ra.checked(pos, pos+h.size()), "%s: not checked by the verifier", name)
		compressed := h.compression() != CompressionNone
		require.Equal(t, !compressed, ra.tableOwn(data, pos, &h), "%s checked by tableOwn", name)
		if !tabled[i] || compressed {
			assert.Nil(t, ra.table.kv, "%s has no table", name)
			continue
		}
		require.NotNil(t, ra.table.kv, "%s has a table", name)
		assert.Equal(t, pos, ra.tablePos)
		assertTableMatchesParser(t, data[pos:], ra.table, ra.tableArea, maxReadDecompressedBytes(DefaultMaxBatchBytes), name)
		assert.True(t, ra.checked(pos, pos+h.size()), "%s: a Consumer's next chunk in it goes on with the table", name)

		damaged := append([]byte(nil), data...)
		damaged[pos+h.size()/2] ^= 0x10
		ra.table = recordTable{}
		assert.False(t, ra.tableOwn(damaged, pos, &h), "%s damaged", name)
		assert.Nil(t, ra.table.kv, "%s damaged has no table", name)
	}

	uncompressed, ustarts := segmentBytes(t, 4)
	v = newVerifier(nil, uncompressed, 0, func() {})
	v.tables = l.newParseTables()
	own := readAhead{v: v, l: l, tables: v.tables, own: &v.tables.reader}
	defer own.stop()
	for i, pos := range ustarts {
		end := int64(len(uncompressed))
		if i+1 < len(ustarts) {
			end = ustarts[i+1]
		}
		h, err := parseBatchHeader(uncompressed[pos:])
		require.NoError(t, err)
		require.False(t, own.checked(pos, end))
		require.True(t, own.tableOwn(uncompressed, pos, &h))
		require.NotNil(t, own.table.kv)
		own.moved(pos, end)
		assert.Equal(t, end, v.progress.caughtUp.Load(), "batch %d: the reader says it caught up", i)
	}
}
