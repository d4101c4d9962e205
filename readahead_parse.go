package eventlog

import "sync/atomic"

// Parse-ahead: a verifier that has checked an uncompressed batch's CRC also
// parses its records, from the bytes it just pulled into its core's cache,
// into a table of where each record's parts lie; the reader, reaching a
// batch that has a table, builds its views from the table instead of
// parsing the varint framing itself (see readahead.go for the verifier).
//
// The tables live in a ring owned by the verifier and its reader together:
// the verifier appends a batch's records, then the batch's entry in a ring
// of batches, then publishes the number of batches tabled; the reader
// takes the batches in order, matching them by position, and publishes,
// with its position, the oldest batch whose table it may still be reading,
// which the verifier does not overwrite. A batch the verifier finds no room
// for, or cannot parse, or did not reach, has no table, and the reader
// parses it as it would without a verifier (and reports its damage).

const (
	// parsedRecordsCap is how many records the ring of tables holds: 64 Ki
	// records, 2 MiB, more than the verifier's window holds of records of
	// 64 bytes or more.
	parsedRecordsCap = 1 << 16
	// parsedBatchesCap is how many batches the ring of tables holds.
	parsedBatchesCap = 1 << 10
	// parseAheadLook is how many records the verifier parses between
	// looks at whether the reader took the batch.
	parseAheadLook = 128
)

// parsedRecord is where one record's parts lie in its batch's records
// area, as recordIter found them, in 32 bytes.
type parsedRecord struct {
	offsetDelta int32
	tsDelta     int32 // timestamp - the batch's base timestamp
	keyAt       int32
	keyLen      int32 // -1: null
	valueAt     int32
	valueLen    int32 // -1: null
	// headersAt is where the headers start, after their count, for a
	// record without headers; for one with headers, ^ where the count
	// starts.
	headersAt int32
	end       int32 // after the record
}

// parsedBatch is a batch tabled in the ring.
type parsedBatch struct {
	pos   int64 // where the batch starts in the segment
	first int64 // its first record in the ring, counted from the start, never wrapping
	count int64
}

// parseTables is the ring of tables of one verifier and its reader.
type parseTables struct {
	records [parsedRecordsCap]parsedRecord
	batches [parsedBatchesCap]parsedBatch

	refs   atomic.Int32 // the verifier and the reader: the last to let go pools the ring
	tabled atomic.Int64 // batches written: those below are complete
	oldest atomic.Int64 // the reader's oldest batch that may be in use

	// The verifier's own.
	head   int64 // where the next batch's records go
	it     recordIter
	fields recordFields
}

// newParseTables takes a ring from l's pool, or makes one, for a verifier
// and its reader.
func (l *Log) newParseTables() *parseTables {
	t, _ := l.parseTables.Get().(*parseTables)
	if t == nil {
		t = new(parseTables)
	}
	t.refs.Store(2)
	t.tabled.Store(0)
	t.oldest.Store(0)
	t.head = 0
	return t
}

// release lets go of one of the two references; the last pools the ring.
func (t *parseTables) release(l *Log) {
	if t.refs.Add(-1) == 0 {
		t.it, t.fields = recordIter{}, recordFields{}
		l.parseTables.Put(t)
	}
}

// add tables the records of the batch at pos of data, whose CRC the
// verifier has checked, if it is uncompressed, parses, and fits in the
// room the reader left. It gives up, now and then looking at caughtUp,
// once the reader has taken the batch itself.
func (t *parseTables) add(data []byte, pos int64, caughtUp *atomic.Int64) {
	h, err := parseBatchHeader(data[pos:])
	n := int64(h.RecordCount)
	if err != nil || h.compression() != CompressionNone || h.isControl() || n == 0 || n > parsedRecordsCap {
		return
	}
	d := t.tabled.Load()
	oldest := t.oldest.Load()
	if d-oldest >= parsedBatchesCap {
		return
	}
	first := t.head
	if r := first % parsedRecordsCap; r+n > parsedRecordsCap {
		first += parsedRecordsCap - r // a table does not wrap
	}
	inUse := first
	if oldest < d {
		inUse = t.batches[oldest%parsedBatchesCap].first
	}
	if first+n-inUse > parsedRecordsCap {
		return
	}
	if t.it.reset(&h, data[pos+batchHeaderSize:pos+h.size()]) != nil {
		return
	}
	recs := t.records[first%parsedRecordsCap:][:n]
	f := &t.fields
	for i := range recs {
		if i%parseAheadLook == 0 && caughtUp.Load() > pos {
			return
		}
		if t.it.next(f) != nil {
			return
		}
		ts := f.timestamp - h.BaseTimestamp
		if ts != int64(int32(ts)) {
			return
		}
		r := &recs[i]
		r.offsetDelta, r.tsDelta = int32(f.offset-h.BaseOffset), int32(ts)
		r.keyAt, r.keyLen = int32(f.keyAt), int32(f.keyLen)
		r.valueAt, r.valueLen = int32(f.valueAt), int32(f.valueLen)
		r.headersAt, r.end = int32(f.headersAt), int32(f.end)
		if f.headers > 0 {
			r.headersAt = ^int32(f.valueAt + max(f.valueLen, 0))
		}
	}
	if t.it.next(f) != errBatchEnd {
		return
	}
	t.batches[d%parsedBatchesCap] = parsedBatch{pos: pos, first: first, count: n}
	t.head = first + n
	t.tabled.Store(d + 1)
}

// parsed returns the table of the batch at pos, which the reader is about
// to read, or nil when the verifier has not tabled it. The table stays
// valid until the read-ahead stops.
func (ra *readAhead) parsed(pos int64) []parsedRecord {
	t := ra.tables
	if t == nil {
		return nil
	}
	for {
		if ra.nextTable == ra.tabled {
			if ra.tabled = t.tabled.Load(); ra.nextTable == ra.tabled {
				return nil
			}
		}
		b := &t.batches[ra.nextTable%parsedBatchesCap]
		switch {
		case b.pos < pos: // a batch the reader did not read through views
			ra.nextTable++
		case b.pos > pos: // the verifier jumped over pos
			return nil
		default:
			ra.inUse = ra.nextTable
			ra.nextTable++
			first := b.first % parsedRecordsCap
			return t.records[first : first+b.count : first+b.count]
		}
	}
}

// fill points v at the record r of area, the records area of an
// uncompressed batch with base offset and base timestamp base and baseTime.
func (r *parsedRecord) fill(v *RecordView, area []byte, base, baseTime int64) {
	v.Offset, v.timestamp = base+int64(r.offsetDelta), baseTime+int64(r.tsDelta)
	v.Key = subslice(area, int(r.keyAt), int(r.keyLen))
	v.Value = subslice(area, int(r.valueAt), int(r.valueLen))
	end := int(r.end)
	if r.headersAt >= 0 {
		v.headers, v.headerCount = area[r.headersAt:end:end], 0
		return
	}
	n, p := readVarint(area, int(^r.headersAt)) // checked by the verifier
	v.headers, v.headerCount = area[p:end:end], int(n)
}
