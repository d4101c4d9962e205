package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Interop tests against github.com/twmb/franz-go/pkg/kmsg, an independent
// Kafka codec: what we write, kmsg reads field for field, and what kmsg
// writes, we read. Compression on the kmsg side goes straight through
// klauspost/compress and pierrec/lz4's frame reader and writer, not
// through our code.

// kmsgCRCTable is the test's own CRC-32C table.
var kmsgCRCTable = crc32.MakeTable(crc32.Castagnoli)

// kmsgDecompress decompresses a records area independently of our code.
func kmsgDecompress(t *testing.T, c Compression, src []byte) []byte {
	t.Helper()
	switch c {
	case CompressionNone:
		return src
	case CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		require.NoError(t, err)
		out, err := io.ReadAll(r)
		require.NoError(t, err)
		return out
	case CompressionSnappy:
		out, err := xerial.Decode(src) // xerial framing or a raw block
		require.NoError(t, err)
		return out
	case CompressionZstd:
		d, err := zstd.NewReader(nil)
		require.NoError(t, err)
		defer d.Close()
		out, err := d.DecodeAll(src, nil)
		require.NoError(t, err)
		return out
	case CompressionLZ4:
		out, err := io.ReadAll(lz4.NewReader(bytes.NewReader(src)))
		require.NoError(t, err)
		return out
	}
	t.Fatalf("codec %s", c)
	return nil
}

// kmsgCompress compresses a records area independently of our code; for
// snappy, raw selects a bare block (older franz-go) over xerial framing.
func kmsgCompress(t *testing.T, c Compression, raw bool, src []byte) []byte {
	t.Helper()
	switch c {
	case CompressionNone:
		return src
	case CompressionGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, err := w.Write(src)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return buf.Bytes()
	case CompressionSnappy:
		if raw {
			return s2.EncodeSnappy(nil, src)
		}
		return xerial.Encode(nil, src)
	case CompressionZstd:
		e, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		defer e.Close()
		return e.EncodeAll(src, nil)
	case CompressionLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf) // franz-go's settings: 4 MiB blocks, content checksum
		_, err := w.Write(src)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return buf.Bytes()
	}
	t.Fatalf("codec %s", c)
	return nil
}

// kmsgParse reads a batch with kmsg and returns it with its records.
func kmsgParse(t *testing.T, b []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var rb kmsg.RecordBatch
	require.NoError(t, rb.ReadFrom(b))
	assert.Equal(t, uint32(rb.CRC), crc32.Checksum(b[21:], kmsgCRCTable), "crc over attributes..end")
	area := kmsgDecompress(t, Compression(rb.Attributes&7), rb.Records)
	var recs []kmsg.Record
	for len(area) > 0 {
		l, n := binary.Varint(area)
		require.Positive(t, n)
		require.LessOrEqual(t, n+int(l), len(area))
		var r kmsg.Record
		require.NoError(t, r.ReadFrom(area[:n+int(l)]))
		assert.Equal(t, int32(l), r.Length)
		recs = append(recs, r)
		area = area[n+int(l):]
	}
	assert.Len(t, recs, int(rb.NumRecords))
	return rb, recs
}

// assertKmsgBytes compares bytes from kmsg with ours, nil distinct from empty.
func assertKmsgBytes(t *testing.T, want, got []byte, what string) {
	t.Helper()
	assert.Equal(t, want == nil, got == nil, "%s: null", what)
	assert.Equal(t, string(want), string(got), what)
}

func TestKmsgReadsOurBatches(t *testing.T) {
	for name, records := range roundTripCases() {
		for _, c := range testCodecs {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				b := encodeBatch(t, records, c)
				setBaseOffset(b, 77)
				rb, recs := kmsgParse(t, b)

				assert.Equal(t, int64(77), rb.FirstOffset)
				assert.Equal(t, int32(len(b)-12), rb.Length)
				assert.Equal(t, int32(0), rb.PartitionLeaderEpoch)
				assert.Equal(t, int8(2), rb.Magic)
				assert.Equal(t, int16(c), rb.Attributes)
				assert.Equal(t, int32(len(records)-1), rb.LastOffsetDelta)
				assert.Equal(t, records[0].Timestamp.UnixMilli(), rb.FirstTimestamp)
				maxTS := records[0].Timestamp.UnixMilli()
				for _, r := range records {
					maxTS = max(maxTS, r.Timestamp.UnixMilli())
				}
				assert.Equal(t, maxTS, rb.MaxTimestamp)
				assert.Equal(t, int64(-1), rb.ProducerID)
				assert.Equal(t, int16(-1), rb.ProducerEpoch)
				assert.Equal(t, int32(-1), rb.FirstSequence)
				assert.Equal(t, int32(len(records)), rb.NumRecords)

				require.Len(t, recs, len(records))
				for i, r := range recs {
					want := &records[i]
					what := fmt.Sprintf("record %d", i)
					assert.Equal(t, int8(0), r.Attributes, what)
					assert.Equal(t, int32(i), r.OffsetDelta, what)
					assert.Equal(t, want.Timestamp.UnixMilli()-rb.FirstTimestamp, r.TimestampDelta64, what)
					assertKmsgBytes(t, want.Key, r.Key, what+" key")
					assertKmsgBytes(t, want.Value, r.Value, what+" value")
					require.Len(t, r.Headers, len(want.Headers), what)
					for j, h := range r.Headers {
						assert.Equal(t, want.Headers[j].Key, h.Key, what)
						assertKmsgBytes(t, want.Headers[j].Value, h.Value, fmt.Sprintf("%s header %d", what, j))
					}
				}
			})
		}
	}
}

// TestKmsgReadsGoldenFiles checks the stored golden files, not only what
// the current encoder writes.
func TestKmsgReadsGoldenFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.bin"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			rb, recs := kmsgParse(t, b)
			_, ours := decodeBatch(t, b, 0)
			require.Len(t, recs, len(ours))
			for i, r := range recs {
				assert.Equal(t, rb.FirstOffset+int64(r.OffsetDelta), ours[i].Offset)
				assert.Equal(t, rb.FirstTimestamp+r.TimestampDelta64, ours[i].Timestamp.UnixMilli())
				assertKmsgBytes(t, r.Key, ours[i].Key, "key")
				assertKmsgBytes(t, r.Value, ours[i].Value, "value")
				require.Len(t, ours[i].Headers, len(r.Headers))
				for j, h := range r.Headers {
					assert.Equal(t, h.Key, ours[i].Headers[j].Key)
					assertKmsgBytes(t, h.Value, ours[i].Headers[j].Value, "header value")
				}
			}
		})
	}
}

// kmsgTestRecords are records as kmsg models them: offset deltas with gaps
// (a compacted batch), timestamps before and after the first, null and
// empty keys, values and header values.
func kmsgTestRecords() []kmsg.Record {
	return []kmsg.Record{
		{TimestampDelta64: 0, OffsetDelta: 0, Key: []byte("k0"), Value: []byte("v0"),
			Headers: []kmsg.Header{{Key: "a", Value: []byte("1")}, {Key: "null"}, {Key: "", Value: []byte{}}}},
		{TimestampDelta64: -250, OffsetDelta: 2, Key: nil, Value: []byte("no key")},
		{TimestampDelta64: 1 << 33, OffsetDelta: 3, Key: []byte{}, Value: []byte{}},
		{TimestampDelta64: 7, OffsetDelta: 6, Key: []byte("tomb"), Value: nil},
		{TimestampDelta64: 8, OffsetDelta: 9, Key: bytes.Repeat([]byte("K"), 300), Value: []byte(strings.Repeat("value ", 20000))},
	}
}

// kmsgBuild encodes a batch with kmsg: records via Record.AppendTo, the
// batch via RecordBatch.AppendTo, the CRC computed by the test.
func kmsgBuild(t *testing.T, recs []kmsg.Record, c Compression, rawSnappy bool, attrs int16) (kmsg.RecordBatch, []byte) {
	t.Helper()
	var area []byte
	for _, r := range recs {
		r.Length = 0
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a zero Length is one varint byte
		area = r.AppendTo(area)
	}
	payload := kmsgCompress(t, c, rawSnappy, area)
	first := time.UnixMilli(1_650_000_000_000).UnixMilli()
	rb := kmsg.RecordBatch{
		FirstOffset:          500,
		Length:               int32(49 + len(payload)),
		PartitionLeaderEpoch: 7,
		Magic:                2,
		Attributes:           int16(c) | attrs,
		LastOffsetDelta:      10, // beyond the last record's delta, as after compaction
		FirstTimestamp:       first,
		MaxTimestamp:         first + 1<<33,
		ProducerID:           9000,
		ProducerEpoch:        3,
		FirstSequence:        17,
		NumRecords:           int32(len(recs)),
		Records:              payload,
	}
	b := rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(b[21:], kmsgCRCTable))
	return rb, rb.AppendTo(nil)
}

func TestKmsgBatchesReadByUs(t *testing.T) {
	type variant struct {
		c         Compression
		rawSnappy bool
		attrs     int16
	}
	variants := map[string]variant{
		"none":              {c: CompressionNone},
		"gzip":              {c: CompressionGzip},
		"snappy xerial":     {c: CompressionSnappy},
		"snappy raw block":  {c: CompressionSnappy, rawSnappy: true},
		"lz4":               {c: CompressionLZ4},
		"zstd":              {c: CompressionZstd},
		"transactional":     {c: CompressionNone, attrs: attrTransactional},
		"log append time":   {c: CompressionZstd, attrs: attrLogAppendTime},
		"delete horizon":    {c: CompressionGzip, attrs: attrDeleteHorizon},
		"control (decoded)": {c: CompressionNone, attrs: attrControl | attrTransactional},
	}
	recs := kmsgTestRecords()
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			rb, b := kmsgBuild(t, recs, v.c, v.rawSnappy, v.attrs)
			h, err := parseBatchHeader(b)
			require.NoError(t, err)
			require.NoError(t, verifyBatchCRC(b))
			assert.Equal(t, batchHeader{
				BaseOffset: rb.FirstOffset, Length: rb.Length, LeaderEpoch: rb.PartitionLeaderEpoch, Magic: rb.Magic,
				CRC: uint32(rb.CRC), Attributes: rb.Attributes, LastOffsetDelta: rb.LastOffsetDelta,
				BaseTimestamp: rb.FirstTimestamp, MaxTimestamp: rb.MaxTimestamp, ProducerID: rb.ProducerID,
				ProducerEpoch: rb.ProducerEpoch, BaseSequence: rb.FirstSequence, RecordCount: rb.NumRecords,
			}, h)
			assert.Equal(t, int64(len(b)), h.size())
			assert.Equal(t, int64(510), h.lastOffset())
			assert.Equal(t, v.c, h.compression())
			assert.Equal(t, v.attrs&attrControl != 0, h.isControl())

			var d batchDecoder
			got, err := d.decode(nil, &h, b, 0, testLimit)
			require.NoError(t, err)
			require.Len(t, got, len(recs))
			for i, r := range recs {
				what := fmt.Sprintf("record %d", i)
				assert.Equal(t, rb.FirstOffset+int64(r.OffsetDelta), got[i].Offset, what)
				wantTS := rb.FirstTimestamp + r.TimestampDelta64
				if v.attrs&attrLogAppendTime != 0 {
					wantTS = rb.MaxTimestamp
				}
				assert.Equal(t, wantTS, got[i].Timestamp.UnixMilli(), what)
				assertKmsgBytes(t, r.Key, got[i].Key, what+" key")
				assertKmsgBytes(t, r.Value, got[i].Value, what+" value")
				require.Len(t, got[i].Headers, len(r.Headers), what)
				for j, hd := range r.Headers {
					assert.Equal(t, hd.Key, got[i].Headers[j].Key, what)
					assertKmsgBytes(t, hd.Value, got[i].Headers[j].Value, what+" header")
				}
			}

			// Reading from the middle of the compacted batch skips by offset.
			mid, err := d.decode(nil, &h, b, 503, testLimit)
			require.NoError(t, err)
			require.Len(t, mid, 3)
			assert.Equal(t, int64(503), mid[0].Offset)
		})
	}
}

// TestSnappyStrictTakesSnappy: what AppendBatch checks of a snappy batch
// takes every block a snappy encoder writes — ours, xerial-framed, and a
// bare block, as older franz-go writes — of every shape of input
// (literals long and short, copies at every offset size).
func TestSnappyStrictTakesSnappy(t *testing.T) {
	for name, in := range lz4Inputs() {
		ours, err := compress(nil, in, CompressionSnappy)
		require.NoError(t, err)
		assert.NoError(t, checkSnappyStrict(ours), "%s: ours", name)
		assert.NoError(t, checkSnappyStrict(xerial.Encode(nil, in)), "%s: xerial", name)
		assert.NoError(t, checkSnappyStrict(s2.EncodeSnappy(nil, in)), "%s: a bare block", name)
		if strings.Contains(name, "text") { // S2 repeats offsets in what repeats
			assert.Error(t, checkSnappyStrict(s2.Encode(nil, in)), "%s: S2", name)
		}
	}
}
