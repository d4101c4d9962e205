package eventlog

import (
	"errors"
	"math"
)

// Record tables: where the records of a batch lie, parsed a run of records
// at a time. The view cursor reads its batches from tables, made by the
// read-ahead verifier on another core (readahead_parse.go) or by the
// cursor itself, a chunk at a time: filling a view from a table is a few
// loads, and tabling a run of records lets a fast parser
// (parse_short_amd64.s) take the common records, 16-byte keys and 100-byte
// values say, at a third of the cost of recordIter.next, which tables the
// others.

// A record table says where each record's parts lie in its batch's
// records area, as recordIter found them: in kv its key and value, in meta
// the rest, 16 bytes each. The two are apart so that a loop that reads
// only keys and values (Cursor.Key and Value, ReplayLatest) reads half the
// table: the read-ahead verifier writes its tables on another core, and
// taking a table's lines from there is most of what such a loop costs.
type recordTable struct {
	kv   []kvEntry
	meta []metaEntry // as long as kv
}

// kvEntry is where a record's key and value lie.
type kvEntry struct {
	keyAt    int32
	keyLen   int32 // -1: null
	valueAt  int32
	valueLen int32 // -1: null
}

// metaEntry is the rest of what a table says of a record.
type metaEntry struct {
	offsetDelta int32
	tsDelta     int32 // timestamp - the batch's timeBase
	// headersAt is where the headers start, after their count, for a
	// record without headers; for one with headers, ^ where the count
	// starts.
	headersAt int32
	end       int32 // after the record
}

// len is how many records t holds.
func (t recordTable) len() int { return len(t.kv) }

// from returns the records of t from the i-th on.
func (t recordTable) from(i int) recordTable {
	return recordTable{kv: t.kv[i:], meta: t.meta[i:len(t.kv)]}
}

// upTo returns the first n records of t.
func (t recordTable) upTo(n int) recordTable {
	return recordTable{kv: t.kv[:n:n], meta: t.meta[:n:n]}
}

// errNotTabled ends recordIter.table at a record whose timestamp lies too
// far from the batch's for a table, or at the start of a records area too
// large for one: recordIter.next reads them.
var errNotTabled = errors.New("record not tabled")

// timeBase is what the timestamps of a table of h's records are relative
// to: the batch's base timestamp, or the time every record takes when the
// log appended the batch.
func (h *batchHeader) timeBase() int64 {
	if h.Attributes&attrLogAppendTime != 0 {
		return h.MaxTimestamp
	}
	return h.BaseTimestamp
}

// table parses the next records of the batch into recs, as many as it
// holds or the batch has left, and returns how many. It stops early with
// the error recordIter.next returns (errBatchEnd once no record is left, or
// the batch's damage), or with errNotTabled, leaving the record it could
// not table for next. timeBase is the batch header's.
func (it *recordIter) table(recs recordTable, f *recordFields, timeBase int64) (int, error) {
	recs = recs.upTo(min(recs.len(), it.count-it.index))
	if recs.len() == 0 {
		return 0, it.next(f)
	}
	if len(it.area) > math.MaxInt32 {
		return 0, errNotTabled // positions do not fit in a table
	}
	i, fast := 0, true
	for {
		if fast {
			n := it.tableShort(recs.from(i), it.area)
			i += n
			// Stopped at once: the records that follow are likely to be
			// of the same shape, which next tables without the call.
			fast = n > 0
		}
		if i == recs.len() {
			return i, nil
		}
		p, prevDelta := it.p, it.prevDelta
		if err := it.next(f); err != nil {
			return i, err
		}
		ts := f.timestamp - timeBase
		if ts != int64(int32(ts)) {
			it.p, it.prevDelta = p, prevDelta
			it.index--
			return i, errNotTabled
		}
		recs.kv[i] = kvEntry{keyAt: int32(f.keyAt), keyLen: int32(f.keyLen), valueAt: int32(f.valueAt), valueLen: int32(f.valueLen)}
		m := metaEntry{offsetDelta: int32(f.offset - it.baseOffset), tsDelta: int32(ts), headersAt: int32(f.headersAt), end: int32(f.end)}
		if f.headers > 0 {
			m.headersAt = ^int32(f.valueAt + max(f.valueLen, 0))
		}
		recs.meta[i] = m
		i++
	}
}

// tableShort tables the records from it.p on that parseShortRecords takes
// and that end within area, the records area or the start of it, up to
// len(recs) of them, and returns how many.
func (it *recordIter) tableShort(recs recordTable, area []byte) int {
	n, end, prev := parseShortRecords(area, it.p, recs.kv, recs.meta, it.prevDelta, it.lastDelta)
	if it.appendTime >= 0 {
		for j := range n {
			recs.meta[j].tsDelta = 0 // every record has the batch's time
		}
	}
	it.p, it.prevDelta = end, prev
	it.index += n
	return n
}

// tableBehind sums the batch of check up to until, or to its end, a chunk
// at a time, and after each chunk tables the records of recs from the
// i-th on that end within what check summed and that tableShort takes,
// so that the parse reads what the check just pulled into the core's
// cache, while the check's next loads wait for memory. The records area
// walked must be the batch's own (uncompressed). It returns the new i.
func (it *recordIter) tableBehind(recs recordTable, i int, check *crcCheck, until int) int {
	for check.at < min(until, check.end) {
		check.next()
		i += it.tableShort(recs.from(i), it.area[:check.at-batchHeaderSize])
	}
	return i
}

// fill points v at the i-th record of t in area, the records area of a
// batch with base offset base and time base timeBase.
func (t *recordTable) fill(i int, v *RecordView, area []byte, base, timeBase int64) {
	t.meta[i].fill(v, &t.kv[i], area, base, timeBase)
}

// fill points v at the record of m and kv in area, the records area of a
// batch with base offset base and time base timeBase.
func (m *metaEntry) fill(v *RecordView, kv *kvEntry, area []byte, base, timeBase int64) {
	v.Offset, v.timestamp = base+int64(m.offsetDelta), timeBase+int64(m.tsDelta)
	v.Key = subslice(area, int(kv.keyAt), int(kv.keyLen))
	v.Value = subslice(area, int(kv.valueAt), int(kv.valueLen))
	if m.headersAt < 0 {
		m.fillHeaders(v, area)
	} else if v.headerCount != 0 {
		v.headers, v.headerCount = nil, 0
	}
}

// fillHeaders points v at the headers of m's record, which has some.
func (m *metaEntry) fillHeaders(v *RecordView, area []byte) {
	n, p := readVarint(area, int(^m.headersAt)) // checked when tabled
	end := int(m.end)
	v.headers, v.headerCount = area[p:end:end], int(n)
}
