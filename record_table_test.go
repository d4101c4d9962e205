package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tabledRecord is one record as recordIter.next or a table places it,
// for comparing the two.
type tabledRecord struct {
	offset, timestamp                           int64
	keyAt, keyLen, valueAt, valueLen, headersAt int
	headers, end                                int
}

// nextAll parses the records area of h's batch with recordIter.next alone,
// returning its records and the error it stopped with.
func nextAll(h *batchHeader, area []byte) ([]tabledRecord, error) {
	var it recordIter
	if err := it.reset(h, area); err != nil {
		return nil, err
	}
	var out []tabledRecord
	var f recordFields
	for {
		if err := it.next(&f); err != nil {
			return out, err
		}
		out = append(out, tabledRecord{f.offset, f.timestamp, f.keyAt, f.keyLen, f.valueAt, f.valueLen, f.headersAt, f.headers, f.end})
	}
}

// tableAll parses the same area as the view cursor does, chunk records at
// a time with recordIter.table, reading the records it does not table with
// next.
func tableAll(h *batchHeader, area []byte, chunk int) ([]tabledRecord, error) {
	var it recordIter
	if err := it.reset(h, area); err != nil {
		return nil, err
	}
	var out []tabledRecord
	var f recordFields
	recs := newRecordTable(chunk)
	var v RecordView
	for {
		n, err := it.table(recs, &f, h.timeBase())
		for j := range n {
			recs.fill(j, &v, area, h.BaseOffset, h.timeBase())
			r, m := recs.kv[j], recs.meta[j]
			headersAt := int(m.headersAt)
			if m.headersAt < 0 {
				_, headersAt = readVarint(area, int(^m.headersAt))
			}
			keyAt, valueAt := int(r.keyAt), int(r.valueAt)
			out = append(out, tabledRecord{v.Offset, v.timestamp, keyAt, int(r.keyLen), valueAt, int(r.valueLen), headersAt, v.headerCount, int(m.end)})
		}
		switch {
		case n > 0:
			continue // an error comes again
		case err == errNotTabled:
			if err = it.next(&f); err == nil {
				out = append(out, tabledRecord{f.offset, f.timestamp, f.keyAt, f.keyLen, f.valueAt, f.valueLen, f.headersAt, f.headers, f.end})
				continue
			}
		}
		if err != nil {
			return out, err
		}
	}
}

// recordTableBatches returns batches whose records take the fast parser
// and batches whose records take recordIter.next, by name.
func recordTableBatches(t testing.TB) map[string][]byte {
	batches := map[string][]byte{}
	records := func(n int, shape func(i int, r *Record)) []Record {
		out := make([]Record, n)
		for i := range out {
			out[i] = Record{Key: fmt.Appendf(nil, "key-%012d", i), Value: bytes.Repeat([]byte{byte(i)}, 100), Timestamp: testTime.Add(time.Duration(i) * time.Millisecond)}
			if shape != nil {
				shape(i, &out[i])
			}
		}
		return out
	}
	batches["reference"] = encodeBatch(t, batchBenchRecords(1000, 16, 100), CompressionNone)
	batches["tiny"] = encodeBatch(t, records(3, func(i int, r *Record) { r.Key, r.Value = nil, []byte{} }), CompressionNone)
	batches["nulls and empties"] = encodeBatch(t, records(40, func(i int, r *Record) {
		switch i % 4 {
		case 0:
			r.Key = nil
		case 1:
			r.Value = nil
		case 2:
			r.Key, r.Value = []byte{}, []byte{}
		}
	}), CompressionNone)
	batches["lengths at varint edges"] = encodeBatch(t, records(12, func(i int, r *Record) {
		sizes := []int{0, 1, 63, 64, 8191, 8192}
		r.Key = bytes.Repeat([]byte{'k'}, sizes[i%len(sizes)])
		r.Value = bytes.Repeat([]byte{'v'}, sizes[(i/2)%len(sizes)])
	}), CompressionNone)
	batches["timestamp deltas of 1 to 5 bytes"] = encodeBatch(t, records(10, func(i int, r *Record) {
		deltas := []int64{0, -1, 63, -64, 64, 8191, 8192, 1 << 20, 1 << 21, -(1 << 27)}
		r.Timestamp = testTime.Add(time.Duration(deltas[i]) * time.Millisecond)
	}), CompressionNone)
	batches["headers"] = encodeBatch(t, records(20, func(i int, r *Record) {
		if i%3 == 0 {
			r.Headers = []Header{{Key: "trace", Value: []byte("1")}, {Key: "", Value: nil}}
		}
	}), CompressionNone)
	batches["header lengths at varint edges"] = encodeBatch(t, records(10, func(i int, r *Record) {
		sizes := []int{0, 63, 64, 8191, 8192}
		r.Headers = []Header{{Key: string(bytes.Repeat([]byte{'h'}, sizes[i%5])), Value: bytes.Repeat([]byte{'v'}, sizes[(i/2)%5])}}
	}), CompressionNone)
	batches["many headers"] = encodeBatch(t, records(3, func(i int, r *Record) {
		r.Headers = make([]Header, 62+i) // 63 is the most a one-byte count holds
		for j := range r.Headers {
			r.Headers[j] = Header{Key: "k", Value: []byte{byte(j)}}
		}
	}), CompressionNone)
	batches["two-byte offset deltas"] = encodeBatch(t, records(300, nil), CompressionNone)
	batches["three-byte offset deltas"] = encodeBatch(t, records(8300, func(i int, r *Record) { r.Key, r.Value = nil, nil }), CompressionNone)
	batches["timestamps an int32 apart"] = encodeBatch(t, records(4, func(i int, r *Record) {
		r.Timestamp = testTime.AddDate(0, i, 0)
	}), CompressionNone)
	appendTime := encodeBatch(t, records(30, nil), CompressionNone)
	binary.BigEndian.PutUint16(appendTime[batchAttributesPos:], attrLogAppendTime)
	binary.BigEndian.PutUint64(appendTime[batchMaxTimestampPos:], uint64(testTime.Add(time.Hour).UnixMilli()))
	fixCRC(appendTime)
	batches["log append time"] = appendTime
	farAppendTime := bytes.Clone(appendTime)
	binary.BigEndian.PutUint64(farAppendTime[batchMaxTimestampPos:], uint64(testTime.AddDate(1, 0, 0).UnixMilli()))
	fixCRC(farAppendTime)
	batches["log append time an int32 away"] = farAppendTime

	// Damage the parsers must both report, at the same record.
	damage := func(name string, from string, at int, b byte) {
		d := bytes.Clone(batches[from])
		d[batchHeaderSize+at] = b
		batches[name] = d
	}
	second := func(name string) int { // where the second record starts
		var it recordIter
		var f recordFields
		h, err := parseBatchHeader(batches[name])
		require.NoError(t, err)
		require.NoError(t, it.reset(&h, batches[name][batchHeaderSize:]))
		require.NoError(t, it.next(&f))
		return f.end
	}
	damage("record length too short", "reference", second("reference"), 0x02)
	damage("negative record length", "reference", second("reference"), 0x03)
	damage("offset delta repeated", "reference", second("reference")+4, 0x00)
	damage("key past the record", "reference", second("reference")+5, 0x7e)
	damage("negative key length", "reference", second("reference")+5, 0x05)
	damage("headers count not zero", "tiny", second("tiny")-1, 0x02)
	longer := bytes.Clone(batches["reference"])
	longer[batchHeaderSize+second("reference")] += 2 // one byte more than its fields
	batches["record longer than its fields"] = longer
	trailing := bytes.Clone(batches["tiny"])
	binary.BigEndian.PutUint32(trailing[batchRecordCountPos:], 2)
	batches["trailing bytes"] = trailing
	return batches
}

// TestRecordTableMatchesNext checks that the view cursor's tables, the fast
// parser's and recordIter.next's together, place every record where
// recordIter.next alone does, and stop at the same damage.
func TestRecordTableMatchesNext(t *testing.T) {
	for name, b := range recordTableBatches(t) {
		h, err := parseBatchHeader(b)
		require.NoError(t, err, name)
		area := b[batchHeaderSize:]
		want, wantErr := nextAll(&h, area)
		require.Error(t, wantErr, name)
		for _, chunk := range []int{1, 3, viewFirstChunk, viewChunkRecords, 1000} {
			got, err := tableAll(&h, area, chunk)
			assert.Equal(t, want, got, "%s, chunks of %d", name, chunk)
			assert.Equal(t, wantErr.Error(), err.Error(), "%s, chunks of %d", name, chunk)
		}
	}
}

// TestFastParserTakesCommonRecords checks that the fast parser, where
// there is one, tables the records of the reference workload itself, and
// leaves the records it does not handle to recordIter.next.
func TestFastParserTakesCommonRecords(t *testing.T) {
	if !fastParser {
		t.Skip("no fast parser on " + runtime.GOARCH + " or with the purego tag")
	}
	batches := recordTableBatches(t)
	for name, whole := range map[string]bool{"reference": true, "nulls and empties": true, "two-byte offset deltas": true, "headers": true, "many headers": false, "header lengths at varint edges": false, "three-byte offset deltas": false} {
		b := batches[name]
		h, err := parseBatchHeader(b)
		require.NoError(t, err)
		recs := newRecordTable(int(h.RecordCount))
		n, _, _ := parseShortRecords(b[batchHeaderSize:], 0, recs.kv, recs.meta, -1, int64(h.LastOffsetDelta))
		if whole {
			assert.Equal(t, int(h.RecordCount), n, name)
		} else {
			assert.Less(t, n, int(h.RecordCount), name)
		}
	}
}

// FuzzRecordTable feeds the records areas of the batches above, mutated,
// to both parsers, which must agree on every record and on the damage.
func FuzzRecordTable(f *testing.F) {
	for _, b := range recordTableBatches(f) {
		h, err := parseBatchHeader(b)
		require.NoError(f, err)
		f.Add(b[batchHeaderSize:], h.RecordCount, h.LastOffsetDelta, byte(8), false)
	}
	f.Fuzz(func(t *testing.T, area []byte, count, lastDelta int32, chunk byte, appendTime bool) {
		h := batchHeader{BaseOffset: 1000, BaseTimestamp: testTime.UnixMilli(), MaxTimestamp: testTime.UnixMilli() + 5, RecordCount: count, LastOffsetDelta: lastDelta}
		if appendTime {
			h.Attributes = attrLogAppendTime
		}
		want, wantErr := nextAll(&h, area)
		got, err := tableAll(&h, area, int(chunk)+1)
		require.Equal(t, want, got)
		require.Equal(t, wantErr.Error(), err.Error())
	})
}

// newRecordTable makes a table of n records.
func newRecordTable(n int) recordTable {
	return recordTable{kv: make([]kvEntry, n), meta: make([]metaEntry, n)}
}
