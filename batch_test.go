package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// White-box tests of the RecordBatch v2 codec (batch.go, compression.go).

// testCodecs are the codecs the encoder writes.
var testCodecs = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}

// testTime is the timestamp test records start at.
var testTime = time.UnixMilli(1_700_000_000_000)

// testLimit is the decompression limit tests decode with.
const testLimit = 64 << 20

// encodeBatch encodes records with c, requiring success.
func encodeBatch(t testing.TB, records []Record, c Compression) []byte {
	t.Helper()
	var e batchEncoder
	b, err := e.encode(nil, records, c)
	require.NoError(t, err)
	return b
}

// decodeBatch parses, verifies and decodes one batch, requiring success.
func decodeBatch(t testing.TB, b []byte, minOffset int64) (batchHeader, []Record) {
	t.Helper()
	h, err := parseBatchHeader(b)
	require.NoError(t, err)
	require.Equal(t, int64(len(b)), h.size())
	require.NoError(t, verifyBatchCRC(b))
	var d batchDecoder
	got, err := d.decode(nil, &h, b, minOffset, testLimit)
	require.NoError(t, err)
	return h, got
}

// fixCRC recomputes the CRC of a batch after a test changed it.
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[batchCRCPos:], crc32.Checksum(b[batchAttributesPos:], castagnoli))
}

// assertRecordsEqual compares records field by field, telling a nil key,
// value or header value apart from an empty one.
func assertRecordsEqual(t testing.TB, want, got []Record) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := &want[i], &got[i]
		assert.Equal(t, w.Offset, g.Offset, "record %d offset", i)
		assert.Equal(t, w.Timestamp.UnixMilli(), g.Timestamp.UnixMilli(), "record %d timestamp", i)
		assertBytesEqual(t, w.Key, g.Key, fmt.Sprintf("record %d key", i))
		assertBytesEqual(t, w.Value, g.Value, fmt.Sprintf("record %d value", i))
		if assert.Len(t, g.Headers, len(w.Headers), "record %d headers", i) {
			for j := range w.Headers {
				assert.Equal(t, w.Headers[j].Key, g.Headers[j].Key, "record %d header %d key", i, j)
				assertBytesEqual(t, w.Headers[j].Value, g.Headers[j].Value, fmt.Sprintf("record %d header %d value", i, j))
			}
		}
		if len(w.Headers) == 0 {
			assert.Nil(t, g.Headers, "record %d: no headers must decode to nil", i)
		}
	}
}

// assertBytesEqual compares byte slices, with nil distinct from empty.
func assertBytesEqual(t testing.TB, want, got []byte, what string) {
	t.Helper()
	assert.Equal(t, want == nil, got == nil, "%s: nil", what)
	assert.True(t, bytes.Equal(want, got), "%s: want %q, got %q", what, want, got)
}

// withOffsets returns copies of records numbered from base, as decode
// returns them.
func withOffsets(records []Record, base int64) []Record {
	out := make([]Record, len(records))
	for i, r := range records {
		r.Offset = base + int64(i)
		out[i] = r
	}
	return out
}

// roundTripCases are record sets every codec must carry unchanged.
func roundTripCases() map[string][]Record {
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<10) // 160 KiB: several xerial blocks
	many := make([]Record, 500)
	for i := range many {
		many[i] = Record{
			Timestamp: testTime.Add(time.Duration(i) * time.Millisecond),
			Key:       fmt.Appendf(nil, "key-%04d", i),
			Value:     fmt.Appendf(nil, "value-%d-%s", i, strings.Repeat("x", i%50)),
		}
	}
	return map[string][]Record{
		"one":                 {{Timestamp: testTime, Key: []byte("k"), Value: []byte("v")}},
		"null key":            {{Timestamp: testTime, Value: []byte("value")}},
		"tombstone":           {{Timestamp: testTime, Key: []byte("gone")}},
		"empty key and value": {{Timestamp: testTime, Key: []byte{}, Value: []byte{}}},
		"null key and value":  {{Timestamp: testTime}},
		"headers": {{
			Timestamp: testTime, Key: []byte("k"), Value: []byte("v"),
			Headers: []Header{{Key: "trace", Value: []byte("abc")}, {Key: "null"}, {Key: "", Value: []byte{}}, {Key: "ключ", Value: []byte{0, 1, 2}}},
		}},
		"timestamps out of order": {
			{Timestamp: testTime, Value: []byte("a")},
			{Timestamp: testTime.Add(-time.Hour), Value: []byte("b")},
			{Timestamp: testTime.Add(time.Hour), Value: []byte("c")},
		},
		"pre-epoch timestamp": {{Timestamp: time.UnixMilli(-5000), Value: []byte("old")}},
		"large value":         {{Timestamp: testTime, Key: []byte("big"), Value: big}, {Timestamp: testTime, Value: big[:100]}},
		"many":                many,
	}
}

func TestBatchRoundTrip(t *testing.T) {
	for name, records := range roundTripCases() {
		for _, c := range testCodecs {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				b := encodeBatch(t, records, c)
				setBaseOffset(b, 1000)
				h, got := decodeBatch(t, b, 0)
				assert.Equal(t, c, h.compression())
				assertRecordsEqual(t, withOffsets(records, 1000), got)
			})
		}
	}
}

func TestBatchHeaderFields(t *testing.T) {
	records := []Record{
		{Timestamp: testTime, Value: []byte("a")},
		{Timestamp: testTime.Add(5 * time.Millisecond), Value: []byte("b")},
		{Timestamp: testTime.Add(-2 * time.Millisecond), Value: []byte("c")},
	}
	for _, c := range testCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := encodeBatch(t, records, c)
			h, err := parseBatchHeader(b)
			require.NoError(t, err)
			assert.Equal(t, int64(0), h.BaseOffset)
			assert.Equal(t, int64(len(b)), h.size())
			assert.Equal(t, int32(len(b)-batchOverhead), h.Length)
			assert.Equal(t, int32(0), h.LeaderEpoch)
			assert.Equal(t, int8(batchMagic), h.Magic)
			assert.Equal(t, int16(c), h.Attributes, "CreateTime, not transactional, not control")
			assert.Equal(t, int32(2), h.LastOffsetDelta)
			assert.Equal(t, testTime.UnixMilli(), h.BaseTimestamp, "first record's timestamp")
			assert.Equal(t, testTime.UnixMilli()+5, h.MaxTimestamp)
			assert.Equal(t, int64(-1), h.ProducerID)
			assert.Equal(t, int16(-1), h.ProducerEpoch)
			assert.Equal(t, int32(-1), h.BaseSequence)
			assert.Equal(t, int32(3), h.RecordCount)
			assert.Equal(t, c, h.compression())
			assert.False(t, h.isControl())

			setBaseOffset(b, 42)
			require.NoError(t, verifyBatchCRC(b), "the base offset is outside the CRC")
			h, err = parseBatchHeader(b)
			require.NoError(t, err)
			assert.Equal(t, int64(42), h.BaseOffset)
			assert.Equal(t, int64(44), h.lastOffset())
		})
	}
}

// TestBatchExactBytes pins one small batch against bytes assembled by hand
// from the format description, independently of the encoder.
func TestBatchExactBytes(t *testing.T) {
	records := []Record{
		{Timestamp: time.UnixMilli(1000), Key: []byte("k"), Value: []byte("vv")},
		{Timestamp: time.UnixMilli(999), Headers: []Header{{Key: "h", Value: nil}}},
	}
	recs := []byte{
		// record 0: length 9, attributes, tsDelta 0, offDelta 0, key "k", value "vv", 0 headers
		18, 0, 0, 0, 2, 'k', 4, 'v', 'v', 0,
		// record 1: length 9, attributes, tsDelta -1, offDelta 1, null key, null value, 1 header "h": null
		18, 0, 1, 2, 1, 1, 2, 2, 'h', 1,
	}
	want := []byte{
		0, 0, 0, 0, 0, 0, 0, 0, // base offset
		0, 0, 0, byte(49 + len(recs)), // length
		0, 0, 0, 0, // partition leader epoch
		2,          // magic
		0, 0, 0, 0, // crc, filled below
		0, 0, // attributes
		0, 0, 0, 1, // last offset delta
		0, 0, 0, 0, 0, 0, 0x03, 0xe8, // base timestamp 1000
		0, 0, 0, 0, 0, 0, 0x03, 0xe8, // max timestamp 1000
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer id -1
		0xff, 0xff, // producer epoch -1
		0xff, 0xff, 0xff, 0xff, // base sequence -1
		0, 0, 0, 2, // record count
	}
	want = append(want, recs...)
	fixCRC(want)
	assert.Equal(t, want, encodeBatch(t, records, CompressionNone))
}

func TestBatchEncodeErrors(t *testing.T) {
	one := []Record{{Timestamp: testTime, Value: []byte("v")}}
	tests := []struct {
		name    string
		records []Record
		c       Compression
		want    error
	}{
		{"empty", nil, CompressionNone, ErrInvalidRecord},
		{"zero timestamp", []Record{{Timestamp: testTime}, {Value: []byte("v")}}, CompressionNone, ErrInvalidRecord},
		{"unknown codec", one, Compression(7), ErrUnsupportedCompression},
		{"negative codec", one, Compression(-1), ErrUnsupportedCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e batchEncoder
			dst := []byte("prefix")
			got, err := e.encode(dst, tt.records, tt.c)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, []byte("prefix"), got, "dst is returned unchanged")
		})
	}
}

func TestBatchEncodeAppends(t *testing.T) {
	var e batchEncoder
	first := []Record{{Timestamp: testTime, Value: []byte("first")}}
	second := []Record{{Timestamp: testTime, Key: []byte("k"), Value: []byte("second")}}
	for _, c := range testCodecs {
		buf, err := e.encode(nil, first, c)
		require.NoError(t, err)
		n := len(buf)
		buf, err = e.encode(buf, second, c) // the encoder is reused
		require.NoError(t, err)
		_, got := decodeBatch(t, buf[:n], 0)
		assertRecordsEqual(t, withOffsets(first, 0), got)
		_, got = decodeBatch(t, buf[n:], 0)
		assertRecordsEqual(t, withOffsets(second, 0), got)
	}
}

func TestParseBatchHeaderErrors(t *testing.T) {
	valid := encodeBatch(t, []Record{{Timestamp: testTime, Value: []byte("v")}, {Timestamp: testTime}}, CompressionNone)
	tests := []struct {
		name   string
		change func(b []byte) []byte
		want   string
	}{
		{"short", func(b []byte) []byte { return b[:batchHeaderSize-1] }, "short batch"},
		{"magic 1", func(b []byte) []byte { b[batchMagicPos] = 1; return b }, "magic"},
		{"length too small", func(b []byte) []byte { binary.BigEndian.PutUint32(b[batchLengthPos:], 48); return b }, "shorter than the header"},
		{"negative length", func(b []byte) []byte { binary.BigEndian.PutUint32(b[batchLengthPos:], math.MaxUint32); return b }, "shorter than the header"},
		{"negative base offset", func(b []byte) []byte { setBaseOffset(b, -1); return b }, "negative base offset"},
		{"offset overflow", func(b []byte) []byte { setBaseOffset(b, math.MaxInt64); return b }, "overflows"},
		{"negative last offset delta", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[batchLastOffsetDeltaPos:], math.MaxUint32)
			return b
		}, "negative last offset delta"},
		{"negative count", func(b []byte) []byte { binary.BigEndian.PutUint32(b[batchRecordCountPos:], math.MaxUint32); return b }, "negative record count"},
		{"count beyond offsets", func(b []byte) []byte { binary.BigEndian.PutUint32(b[batchRecordCountPos:], 3); return b }, "exceeds offset range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseBatchHeader(tt.change(bytes.Clone(valid)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := parseBatchHeader(valid[:10])
	assert.ErrorIs(t, err, errShortBatch)
	_, err = parseBatchHeader(valid[:batchHeaderSize])
	assert.NoError(t, err, "the header alone parses; the caller checks size()")
}

func TestVerifyBatchCRC(t *testing.T) {
	for _, c := range testCodecs {
		b := encodeBatch(t, []Record{{Timestamp: testTime, Key: []byte("k"), Value: []byte("value")}}, c)
		for i := range b {
			bad := bytes.Clone(b)
			bad[i] ^= 0x10
			err := verifyBatchCRC(bad)
			switch {
			case i < batchLengthPos || (i >= batchLeaderEpochPos && i < batchCRCPos):
				assert.NoError(t, err, "%s: byte %d is outside the CRC", c, i)
			case i < batchLeaderEpochPos:
				assert.Error(t, err, "%s: byte %d is the length", c, i)
			default:
				assert.ErrorIs(t, err, errCRCMismatch, "%s: byte %d", c, i)
			}
		}
		assert.ErrorIs(t, verifyBatchCRC(b[:len(b)-1]), errShortBatch)
		assert.ErrorIs(t, verifyBatchCRC(b[:20]), errShortBatch)
		assert.NoError(t, verifyBatchCRC(append(bytes.Clone(b), "next batch"...)), "bytes past the batch are not looked at")
	}
	assert.Equal(t, "crc mismatch", errCRCMismatch.Error())
}

func TestBatchDecodeMinOffset(t *testing.T) {
	records := make([]Record, 5)
	for i := range records {
		records[i] = Record{Timestamp: testTime, Value: fmt.Appendf(nil, "v%d", i)}
	}
	for _, c := range testCodecs {
		b := encodeBatch(t, records, c)
		setBaseOffset(b, 100)
		for _, minOffset := range []int64{0, 100, 101, 103, 104, 105, 1 << 40} {
			t.Run(fmt.Sprintf("%s/from %d", c, minOffset), func(t *testing.T) {
				_, got := decodeBatch(t, b, minOffset)
				skip := int(min(max(minOffset-100, 0), 5))
				assertRecordsEqual(t, withOffsets(records, 100)[skip:], got)
			})
		}
	}
}

func TestBatchDecodeDoesNotAlias(t *testing.T) {
	records := []Record{
		{Timestamp: testTime, Key: []byte("k1"), Value: []byte("v1"), Headers: []Header{{Key: "h", Value: []byte("hv")}}},
		{Timestamp: testTime, Key: []byte("k2"), Value: []byte("v2")},
	}
	for _, c := range testCodecs {
		b := encodeBatch(t, records, c)
		h, got := decodeBatch(t, b, 0)
		for i := range b {
			b[i] = 0xee // as if the mapping went away
		}
		assertRecordsEqual(t, withOffsets(records, 0), got)

		// Appending to a key or value must not overwrite its neighbours.
		for i := range got {
			assert.Equal(t, len(got[i].Key), cap(got[i].Key))
			assert.Equal(t, len(got[i].Value), cap(got[i].Value))
			got[i].Key = append(got[i].Key, "XXXXXXXX"...)
			got[i].Value = append(got[i].Value, "XXXXXXXX"...)
		}
		assert.Equal(t, len(got[0].Headers[0].Value), cap(got[0].Headers[0].Value))
		assert.Equal(t, "hv", string(got[0].Headers[0].Value))
		assert.Equal(t, "v2", string(got[1].Value[:2]))
		assert.Equal(t, "k2", string(got[1].Key[:2]))

		// The decoder's scratch is reused: decoding another batch must not
		// change records already returned.
		other := encodeBatch(t, []Record{{Timestamp: testTime, Key: []byte("zz"), Value: []byte("zz")}}, c)
		var d batchDecoder
		first, err := d.decode(nil, &h, encodeBatch(t, records, c), 0, testLimit)
		require.NoError(t, err)
		oh, err := parseBatchHeader(other)
		require.NoError(t, err)
		_, err = d.decode(nil, &oh, other, 0, testLimit)
		require.NoError(t, err)
		assertRecordsEqual(t, withOffsets(records, 0), first)
	}
}

func TestBatchDecodeAppendsToDst(t *testing.T) {
	b := encodeBatch(t, []Record{{Timestamp: testTime, Value: []byte("new")}}, CompressionNone)
	h, err := parseBatchHeader(b)
	require.NoError(t, err)
	dst := []Record{{Offset: 7, Value: []byte("old")}}
	var d batchDecoder
	got, err := d.decode(dst, &h, b, 0, testLimit)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "old", string(got[0].Value))
	assert.Equal(t, "new", string(got[1].Value))
}

func TestBatchDecodeLogAppendTime(t *testing.T) {
	records := []Record{{Timestamp: testTime, Value: []byte("a")}, {Timestamp: testTime.Add(time.Second), Value: []byte("b")}}
	b := encodeBatch(t, records, CompressionNone)
	binary.BigEndian.PutUint16(b[batchAttributesPos:], attrLogAppendTime)
	binary.BigEndian.PutUint64(b[batchMaxTimestampPos:], uint64(testTime.Add(time.Hour).UnixMilli()))
	fixCRC(b)
	_, got := decodeBatch(t, b, 0)
	require.Len(t, got, 2)
	for _, r := range got {
		assert.Equal(t, testTime.Add(time.Hour).UnixMilli(), r.Timestamp.UnixMilli())
	}
}

func TestBatchDecodeControl(t *testing.T) {
	b := encodeBatch(t, []Record{{Timestamp: testTime, Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}}, CompressionNone)
	binary.BigEndian.PutUint16(b[batchAttributesPos:], attrControl|attrTransactional)
	fixCRC(b)
	h, got := decodeBatch(t, b, 0)
	assert.True(t, h.isControl())
	assert.Len(t, got, 1)
}

// recordsAt returns the records area of an uncompressed batch.
func recordsAt(b []byte) []byte { return b[batchHeaderSize:] }

// withRecords rebuilds a batch around a new records area, with the given
// record count and last offset delta, and a correct length and CRC.
func withRecords(header []byte, recs []byte, count, lastDelta int32) []byte {
	b := append(bytes.Clone(header[:batchHeaderSize]), recs...)
	binary.BigEndian.PutUint32(b[batchLengthPos:], uint32(len(b)-batchOverhead))
	binary.BigEndian.PutUint32(b[batchRecordCountPos:], uint32(count))
	binary.BigEndian.PutUint32(b[batchLastOffsetDeltaPos:], uint32(lastDelta))
	fixCRC(b)
	return b
}

func TestBatchDecodeMalformed(t *testing.T) {
	two := encodeBatch(t, []Record{
		{Timestamp: testTime, Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "h", Value: []byte("x")}}},
		{Timestamp: testTime, Key: []byte("k"), Value: []byte("v")},
	}, CompressionNone)
	recs := recordsAt(two)
	first := int(recs[0]>>1) + 1 // bytes of the first record, length included
	record := func(fields ...byte) []byte { return append([]byte{byte(len(fields) << 1)}, fields...) }
	tests := []struct {
		name  string
		batch []byte
		want  string
	}{
		{"count too high", withRecords(two, recs, 3, 2), "bad record length"},
		{"count too low", withRecords(two, recs, 1, 1), "trailing bytes"},
		{"trailing garbage", withRecords(two, append(bytes.Clone(recs), 0, 0, 0), 2, 1), "trailing bytes"},
		{"truncated", withRecords(two, recs[:len(recs)-1], 2, 1), "bad record length"},
		{"varint too long", withRecords(two, bytes.Repeat([]byte{0xff}, 20), 2, 1), "bad record length"},
		{"negative record length", withRecords(two, append([]byte{1}, recs[1:]...), 2, 1), "bad record length"},
		{"key past record", withRecords(two, record(0, 0, 0, 40, 0, 0), 1, 0), "bad key length"},
		{"key length -2", withRecords(two, record(0, 0, 0, 3, 0, 0), 1, 0), "bad key length"},
		{"value past record", withRecords(two, record(0, 0, 0, 1, 40, 0), 1, 0), "bad value length"},
		{"negative header count", withRecords(two, record(0, 0, 0, 1, 1, 1), 1, 0), "bad header count"},
		{"header count too high", withRecords(two, record(0, 0, 0, 1, 1, 8, 0, 1), 1, 0), "bad header count"},
		{"null header key", withRecords(two, record(0, 0, 0, 1, 1, 2, 1, 1), 1, 0), "bad header key length"},
		{"header value past end", withRecords(two, record(0, 0, 0, 1, 1, 2, 0, 9), 1, 0), "bad header value length"},
		{"record longer than fields", withRecords(two, record(0, 0, 0, 1, 1, 0, 0), 1, 0), "record length mismatch"},
		{"timestamp varint runs out", withRecords(two, record(0, 0x80, 0x80, 0x80, 0x80, 0x80), 1, 0), "bad timestamp delta"},
		{"negative offset delta", withRecords(two, record(0, 0, 1, 1, 1, 0), 1, 0), "offset delta"},
		{"offset delta past last", withRecords(two, record(0, 0, 2, 1, 1, 0), 1, 0), "offset delta"},
		{"offset deltas repeat", withRecords(two, append(record(0, 0, 0, 1, 1, 0), record(0, 0, 0, 1, 1, 0)...), 2, 1), "offset delta"},
		{"first record broken, skipped or not", withRecords(two, append(record(0, 0, 0, 1, 1, 2, 1, 1), recs[first:]...), 2, 1), "bad header key length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseBatchHeader(tt.batch)
			require.NoError(t, err)
			require.NoError(t, verifyBatchCRC(tt.batch))
			for _, minOffset := range []int64{0, 1} {
				var d batchDecoder
				dst := []Record{{Value: []byte("keep")}}
				got, err := d.decode(dst, &h, tt.batch, minOffset, testLimit)
				require.Error(t, err, "from offset %d", minOffset)
				assert.Contains(t, err.Error(), tt.want)
				assert.Len(t, got, 1, "dst comes back unchanged")
			}
		})
	}
}

func TestBatchDecodeHeaderInconsistentWithBytes(t *testing.T) {
	b := encodeBatch(t, []Record{{Timestamp: testTime, Value: []byte("v")}}, CompressionNone)
	h, err := parseBatchHeader(b)
	require.NoError(t, err)
	var d batchDecoder
	_, err = d.decode(nil, &h, b[:len(b)-1], 0, testLimit)
	assert.ErrorIs(t, err, errShortBatch)
	bad := h
	bad.Length = 10
	_, err = d.decode(nil, &bad, b, 0, testLimit)
	assert.Error(t, err)
	bad = h
	bad.RecordCount = math.MaxInt32
	_, err = d.decode(nil, &bad, b, 0, testLimit)
	assert.ErrorContains(t, err, "does not fit")
	bad = h
	bad.Attributes = 5
	_, err = d.decode(nil, &bad, b, 0, testLimit)
	assert.ErrorIs(t, err, ErrUnsupportedCompression)
	bad.Attributes = 6
	_, err = d.decode(nil, &bad, b, 0, testLimit)
	assert.ErrorIs(t, err, ErrUnsupportedCompression)
}

// compressedBatch builds a batch holding records whose records area is
// compressed by compressFn instead of our encoder.
func compressedBatch(t testing.TB, records []Record, c Compression, compressFn func([]byte) []byte) []byte {
	t.Helper()
	plain := encodeBatch(t, records, CompressionNone)
	b := append(bytes.Clone(plain[:batchHeaderSize]), compressFn(recordsAt(plain))...)
	binary.BigEndian.PutUint32(b[batchLengthPos:], uint32(len(b)-batchOverhead))
	binary.BigEndian.PutUint16(b[batchAttributesPos:], uint16(c))
	fixCRC(b)
	return b
}

func TestBatchSnappyFramings(t *testing.T) {
	records := roundTripCases()["large value"]
	t.Run("raw block", func(t *testing.T) {
		b := compressedBatch(t, records, CompressionSnappy, func(p []byte) []byte { return s2.EncodeSnappy(nil, p) })
		_, got := decodeBatch(t, b, 0)
		assertRecordsEqual(t, withOffsets(records, 0), got)
	})
	t.Run("xerial", func(t *testing.T) {
		b := encodeBatch(t, records, CompressionSnappy)
		recs := recordsAt(b)
		require.True(t, bytes.HasPrefix(recs, xerialHeader))
		blocks := 0
		for rest := recs[len(xerialHeader):]; len(rest) > 0; blocks++ {
			n := binary.BigEndian.Uint32(rest)
			rest = rest[4+n:]
		}
		assert.Greater(t, blocks, 1, "160 KiB of records spans several 32 KiB blocks")
	})
	t.Run("xerial header only", func(t *testing.T) {
		out, err := decompress(nil, xerialHeader, CompressionSnappy, 10)
		require.NoError(t, err)
		assert.Empty(t, out)
	})
	t.Run("xerial malformed", func(t *testing.T) {
		valid := appendXerial(nil, []byte("hello hello hello"))
		for _, bad := range [][]byte{
			append(bytes.Clone(xerialHeader), 0, 0),
			append(bytes.Clone(xerialHeader), 0, 0, 0, 9, 1),
			append(bytes.Clone(xerialHeader), 0xff, 0xff, 0xff, 0xff, 1),
			valid[:len(valid)-1],
			append(bytes.Clone(valid), 0),
		} {
			_, err := decompress(nil, bad, CompressionSnappy, 1<<20)
			assert.Error(t, err, "%x", bad)
		}
	})
}

func TestBatchDecompressionLimit(t *testing.T) {
	records := []Record{{Timestamp: testTime, Value: make([]byte, 1<<20)}} // 1 MiB of zeros
	plainSize := len(recordsAt(encodeBatch(t, records, CompressionNone)))
	batches := map[string][]byte{
		"raw snappy": compressedBatch(t, records, CompressionSnappy, func(p []byte) []byte { return s2.EncodeSnappy(nil, p) }),
	}
	for _, c := range testCodecs[1:] {
		batches[c.String()] = encodeBatch(t, records, c)
	}
	for name, b := range batches {
		t.Run(name, func(t *testing.T) {
			assert.Less(t, len(b), plainSize/10, "zeros compress well")
			h, err := parseBatchHeader(b)
			require.NoError(t, err)
			var d batchDecoder
			for _, limit := range []int{0, 1000, plainSize - 1} {
				_, err = d.decode(nil, &h, b, 0, limit)
				assert.ErrorIs(t, err, ErrRecordTooLarge, "limit %d", limit)
			}
			got, err := d.decode(nil, &h, b, 0, plainSize)
			require.NoError(t, err, "exactly at the limit")
			assert.Len(t, got[0].Value, 1<<20)
			_, err = d.decode(nil, &h, b, 0, math.MaxInt)
			require.NoError(t, err, "the largest limit")
		})
	}
}

// TestBatchCodecsStartNoGoroutines guards the rule that only the Log starts
// goroutines: the pooled codecs must not.
func TestBatchCodecsStartNoGoroutines(t *testing.T) {
	for _, c := range testCodecs {
		b := encodeBatch(t, roundTripCases()["many"], c)
		decodeBatch(t, b, 0)
	}
	stacks := make([]byte, 1<<20)
	stacks = stacks[:runtime.Stack(stacks, true)]
	assert.NotContains(t, string(stacks), "klauspost/compress", "a codec left a goroutine running")
}

func TestVarint(t *testing.T) {
	values := []int64{0, 1, -1, 63, -64, 64, -65, 127, 128, 300, -300, math.MaxInt32, math.MinInt32,
		math.MaxInt32 + 1, 1 << 40, math.MaxInt64, math.MinInt64}
	for _, v := range values {
		enc := appendVarint(nil, v)
		assert.Equal(t, binary.AppendVarint(nil, v), enc, "zigzag varint of %d", v)
		assert.Equal(t, len(enc), varintLen(v), "length of %d", v)
		got, n := readVarint(append([]byte{0xaa}, enc...), 1)
		assert.Equal(t, v, got)
		assert.Equal(t, len(enc)+1, n)
	}
	for _, bad := range [][]byte{
		nil,
		{0x80},
		{0xff, 0xff},
		bytes.Repeat([]byte{0xff}, 10), // 10th byte continues
		append(bytes.Repeat([]byte{0xff}, 9), 0x02),  // overflows 64 bits
		append(bytes.Repeat([]byte{0x80}, 10), 0x00), // 11 bytes
	} {
		_, n := readVarint(bad, 0)
		assert.Equal(t, -1, n, "%x", bad)
	}
	_, n := readVarint([]byte{0}, -1)
	assert.Equal(t, -1, n)
	_, n = readVarint([]byte{0}, 1)
	assert.Equal(t, -1, n)
}

func TestBatchScratchIsNotPinned(t *testing.T) {
	records := []Record{{Timestamp: testTime, Value: make([]byte, maxRetainedScratch+1)}}
	var e batchEncoder
	b, err := e.encode(nil, records, CompressionSnappy)
	require.NoError(t, err)
	assert.Nil(t, e.buf, "the encoder drops an oversized scratch buffer")

	h, err := parseBatchHeader(b)
	require.NoError(t, err)
	var d batchDecoder
	got, err := d.decode(nil, &h, b, 0, math.MaxInt)
	require.NoError(t, err, "any limit works, however large")
	assert.Len(t, got[0].Value, maxRetainedScratch+1)
	assert.Nil(t, d.buf, "the decoder drops an oversized scratch buffer")
}

// TestBatchDecodeAllocations pins decode's allocations: one copy of the
// records area per batch, plus one Headers slice per record with headers.
func TestBatchDecodeAllocations(t *testing.T) {
	records := make([]Record, 100)
	for i := range records {
		records[i] = Record{Timestamp: testTime, Key: []byte("key"), Value: []byte("value")}
		if i%2 == 0 {
			records[i].Headers = []Header{{Key: "trace-id", Value: []byte("abc")}, {Key: "source"}}
		}
	}
	for _, c := range testCodecs {
		b := encodeBatch(t, records, c)
		h, err := parseBatchHeader(b)
		require.NoError(t, err)
		var d batchDecoder
		out := make([]Record, 0, len(records))
		allocs := testing.AllocsPerRun(20, func() {
			out, err = d.decode(out[:0], &h, b, 0, testLimit)
		})
		require.NoError(t, err)
		assertRecordsEqual(t, withOffsets(records, 0), out)
		want := float64(1 + len(records)/2)
		if c == CompressionGzip || c == CompressionZstd {
			// Pooled codec state is occasionally rebuilt (always under
			// -race, which drops pooled items on purpose); per-record
			// allocations would still show.
			want += float64(len(records) / 4)
		}
		assert.LessOrEqual(t, allocs, want, "%s", c)
	}
}
