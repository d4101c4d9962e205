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

// parsedRecord is where one record's parts lie in its batch's records
// area, as recordIter found them, in 32 bytes.
type parsedRecord struct {
	offsetDelta int32
	tsDelta     int32 // timestamp - the batch's timeBase
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
func (it *recordIter) table(recs []parsedRecord, f *recordFields, timeBase int64) (int, error) {
	recs = recs[:min(len(recs), it.count-it.index)]
	if len(recs) == 0 {
		return 0, it.next(f)
	}
	if len(it.area) > math.MaxInt32 {
		return 0, errNotTabled // positions do not fit in a table
	}
	i, fast := 0, true
	for {
		if fast {
			n, end, prev := parseShortRecords(it.area, it.p, recs[i:], it.prevDelta, it.lastDelta)
			if it.appendTime >= 0 {
				for j := i; j < i+n; j++ {
					recs[j].tsDelta = 0 // every record has the batch's time
				}
			}
			it.p, it.prevDelta = end, prev
			it.index += n
			i += n
			// Stopped at once: the records that follow are likely to be
			// of the same shape, which next tables without the call.
			fast = n > 0
		}
		if i == len(recs) {
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
		r := &recs[i]
		r.offsetDelta, r.tsDelta = int32(f.offset-it.baseOffset), int32(ts)
		r.keyAt, r.keyLen = int32(f.keyAt), int32(f.keyLen)
		r.valueAt, r.valueLen = int32(f.valueAt), int32(f.valueLen)
		r.headersAt, r.end = int32(f.headersAt), int32(f.end)
		if f.headers > 0 {
			r.headersAt = ^int32(f.valueAt + max(f.valueLen, 0))
		}
		i++
	}
}

// fill points v at the record r of area, the records area of a batch with
// base offset base and time base timeBase.
func (r *parsedRecord) fill(v *RecordView, area []byte, base, timeBase int64) {
	v.Offset, v.timestamp = base+int64(r.offsetDelta), timeBase+int64(r.tsDelta)
	v.Key = subslice(area, int(r.keyAt), int(r.keyLen))
	v.Value = subslice(area, int(r.valueAt), int(r.valueLen))
	if r.headersAt < 0 {
		r.fillHeaders(v, area)
	} else if v.headerCount != 0 {
		v.headers, v.headerCount = nil, 0
	}
}

// fillHeaders points v at the headers of r, a record that has some.
func (r *parsedRecord) fillHeaders(v *RecordView, area []byte) {
	n, p := readVarint(area, int(^r.headersAt)) // checked when tabled
	end := int(r.end)
	v.headers, v.headerCount = area[p:end:end], int(n)
}
