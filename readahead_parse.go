package eventlog

import "sync/atomic"

// Parse-ahead: a verifier that checks a batch's CRC also parses its
// records, from the bytes it just pulled into its core's cache, into a
// table of where each record's parts lie; the reader, reaching a batch that
// has a table, builds its views from the table instead of parsing the
// varint framing itself (see readahead.go for the verifier). A compressed
// batch is decompressed first, into a buffer that goes with its table: the
// decompression, most of the cost of reading a compressed batch, then runs
// on the verifier's core too.
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
	// parseAheadLookBytes is how much of an uncompressed batch the
	// verifier checks and parses between looks at whether the reader took
	// the batch.
	parseAheadLookBytes = 16 << 10
	// readerTableCap is the most records a batch may hold for the reader
	// to table it itself (readAhead.tableOwn).
	readerTableCap = 4096
	// parseAheadAreaBytes bounds the decompressed batches a verifier
	// holds for its reader; past it, the reader decompresses itself.
	parseAheadAreaBytes = 8 << 20
)

// parsedBatch is a batch tabled in the ring.
type parsedBatch struct {
	pos   int64 // where the batch starts in the segment
	first int64 // its first record in the ring, counted from the start, never wrapping
	count int64
}

// parseTables is the ring of tables of one verifier and its reader.
type parseTables struct {
	kv      [parsedRecordsCap]kvEntry
	meta    [parsedRecordsCap]metaEntry
	batches [parsedBatchesCap]parsedBatch

	refs   atomic.Int32 // the verifier and the reader: the last to let go pools the ring
	tabled atomic.Int64 // batches written: those below are complete
	oldest atomic.Int64 // the reader's oldest batch that may be in use

	// areas holds, by batch, the decompressed records area of a compressed
	// batch tabled (nil for an uncompressed one, read from the mapping).
	// Written by the verifier before it publishes the batch, like its
	// table; given back to spare once the reader is past the batch.
	areas [parsedBatchesCap][]byte

	// The reader's table of the batch it checked and tabled itself
	// (readAhead.tableOwn).
	reader readerTable

	// The verifier's own.
	log       *Log  // for its decompressHook
	head      int64 // where the next batch's records go
	it        recordIter
	fields    recordFields
	limit     int      // the most a batch may decompress to
	spare     [][]byte // buffers for decompressing into
	areaBytes int      // capacity of the buffers in areas
	reclaimed int64    // batches below this gave their buffers back
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
	t.head, t.reclaimed = 0, 0
	return t
}

// release lets go of one of the two references; the last pools the ring.
func (t *parseTables) release(l *Log) {
	if t.refs.Add(-1) == 0 {
		t.it, t.fields = recordIter{}, recordFields{}
		clear(t.areas[:])
		t.spare, t.areaBytes = nil, 0
		l.parseTables.Put(t)
	}
}

// readerTable is where a reader tables a batch it checks itself
// (readAhead.tableOwn): part of its verifier's ring, or its own when no
// core was spare for a verifier.
type readerTable struct {
	kv   [readerTableCap]kvEntry
	meta [readerTableCap]metaEntry
}

// readerProgress is what a reader tells its verifier of where it is.
type readerProgress struct {
	// caughtUp is where the reader's next batch starts when it last
	// caught up with the verifier: it read a batch without a table, or
	// waits for one; -1 before.
	caughtUp atomic.Int64
	waiting  atomic.Int64 // the batch whose table the reader waits for; -1: none
}

// passed reports whether the reader went past the batch at pos without
// its table, and reads it itself.
func (r *readerProgress) passed(pos int64) bool {
	return r.caughtUp.Load() > pos && r.waiting.Load() != pos
}

// add checks the CRC of the batch at pos of data and tables its records,
// if it decompresses, parses, and fits in the room the reader left. It
// gives up the table, now and then looking at the reader's progress,
// once the reader has taken the batch itself, but not the check. It
// reports bad when the CRC does not match, and full, having checked
// nothing, when the batch would fit once the reader has moved on.
//
// An uncompressed batch is checked and tabled in one pass, the parse a
// chunk behind the check, so that it reads what the check just pulled
// into the core's cache, while the check waits for memory: in a scan of
// small records the verifier took 15.4-16.4 µs a batch instead of 18.2
// (BENCHMARKS.md, issue 8). No table is published before its batch's CRC
// matched.
func (t *parseTables) add(data []byte, pos int64, reader *readerProgress) (full, bad bool) {
	h, err := parseBatchHeader(data[pos:])
	n := int64(h.RecordCount)
	if err != nil || h.isControl() || n == 0 || n > parsedRecordsCap {
		return false, verifyBatchCRC(data[pos:]) != nil
	}
	d := t.tabled.Load()
	oldest := t.oldest.Load()
	if d-oldest >= parsedBatchesCap {
		return true, false
	}
	t.reclaim(oldest)
	check := crcCheck{b: data[pos:], at: batchAttributesPos, end: int(h.size())}
	area := data[pos+batchHeaderSize : pos+h.size()]
	compressed := h.compression() != CompressionNone
	if compressed {
		if t.areaBytes >= parseAheadAreaBytes && d > oldest {
			return true, false
		}
		if !check.matches() {
			return false, true
		}
		var buf []byte
		if k := len(t.spare); k > 0 {
			buf, t.spare = t.spare[k-1], t.spare[:k-1]
		}
		t.log.decompressing(&h)
		if area, err = decompress(buf[:0], area, h.compression(), t.limit); err != nil {
			t.spare = append(t.spare, area[:0])
			return false, false
		}
	}
	tabled, full := t.table(&h, area, pos, d, oldest, reader, &check)
	if !check.matches() {
		return false, true // the table, if any, stays unpublished
	}
	switch {
	case !tabled && compressed:
		t.spare = append(t.spare, area[:0])
	case compressed:
		t.areas[d%parsedBatchesCap] = area
		t.areaBytes += cap(area)
	}
	if tabled {
		t.tabled.Store(d + 1)
	}
	return full, false
}

// reclaim gives back to spare the buffers of the batches below oldest,
// which the reader is past.
func (t *parseTables) reclaim(oldest int64) {
	for ; t.reclaimed < oldest; t.reclaimed++ {
		i := t.reclaimed % parsedBatchesCap
		if b := t.areas[i]; b != nil {
			t.areas[i] = nil
			t.areaBytes -= cap(b)
			if cap(b) <= maxRetainedScratch {
				t.spare = append(t.spare, b[:0])
			}
		}
	}
}

// table parses the records area of the batch h heads, at pos, into the
// ring as batch d, leaving the tables from batch oldest on alone, and
// reports whether it did, or else whether the ring was full; the caller
// publishes the table. check is the batch's CRC check: table advances it
// through an uncompressed batch a chunk ahead of the parse.
func (t *parseTables) table(h *batchHeader, area []byte, pos, d, oldest int64, reader *readerProgress, check *crcCheck) (tabled, full bool) {
	n := int64(h.RecordCount)
	first := t.head
	if r := first % parsedRecordsCap; r+n > parsedRecordsCap {
		first += parsedRecordsCap - r // a table does not wrap
	}
	inUse := first
	if oldest < d {
		inUse = t.batches[oldest%parsedBatchesCap].first
	}
	if first+n-inUse > parsedRecordsCap {
		return false, oldest < d
	}
	if t.it.reset(h, area) != nil {
		return false, false
	}
	recs := t.records(first, n)
	for i := 0; i < recs.len(); {
		if reader.passed(pos) {
			return false, false
		}
		if check.at < check.end {
			// Uncompressed: the parse follows the check, as far as the
			// fast parser takes the records; table takes the rest once
			// the check is done.
			i = t.it.tableBehind(recs, i, check, check.at+parseAheadLookBytes)
			continue
		}
		want := min(parseAheadLook, recs.len()-i)
		if k, _ := t.it.table(recs.from(i).upTo(want), &t.fields, h.timeBase()); k < want {
			return false, false
		}
		i += want
	}
	if t.it.next(&t.fields) != errBatchEnd {
		return false, false
	}
	t.batches[d%parsedBatchesCap] = parsedBatch{pos: pos, first: first, count: n}
	t.head = first + n
	return true, false
}

// records returns the n records of the ring from first on, counted from
// the start, never wrapping.
func (t *parseTables) records(first, n int64) recordTable {
	i := first % parsedRecordsCap
	return recordTable{kv: t.kv[i : i+n : i+n], meta: t.meta[i : i+n : i+n]}
}

// parsed returns the table of the batch at pos, which the reader is about
// to read, and its decompressed records area if it is compressed, or a nil
// table when the verifier has not tabled it. Both stay valid until the
// reader publishes a later batch as its oldest in use.
func (ra *readAhead) parsed(pos int64) (recordTable, []byte) {
	t := ra.tables
	if t == nil {
		return recordTable{}, nil
	}
	for {
		if ra.nextTable == ra.tabled {
			if ra.tabled = t.tabled.Load(); ra.nextTable == ra.tabled {
				ra.inUse = ra.nextTable // the tables before are done with
				return recordTable{}, nil
			}
		}
		i := ra.nextTable % parsedBatchesCap
		b := &t.batches[i]
		switch {
		case b.pos < pos: // a batch the reader did not read through views
			ra.nextTable++
		case b.pos > pos: // the verifier jumped over pos
			ra.inUse = ra.nextTable
			return recordTable{}, nil
		default:
			ra.inUse = ra.nextTable
			ra.nextTable++
			return t.records(b.first, b.count), t.areas[i]
		}
	}
}

// tableOwn is the reader's side of add, for a batch of a long scan that
// the verifier left to it, or that it reads with no verifier beside it
// (no core was spare): it checks the CRC of the batch h heads at pos of
// data and, when the batch is uncompressed, tables its records in the
// same pass into the reader's own table, which the reader then reads as
// it reads the verifier's. It reports whether it checked the batch and
// its CRC matched; the batch has a table if it also parsed. When it
// reports false, the reader checks the batch itself (and reports its
// damage).
func (ra *readAhead) tableOwn(data []byte, pos int64, h *batchHeader) bool {
	if ra == nil || ra.own == nil {
		return false
	}
	if ra.v == nil && ra.ownTable && ra.tablePos == pos {
		// A Consumer's chunk that goes on in the batch the last one
		// stopped in (as checked says with a verifier).
		return true
	}
	ra.table, ra.ownTable = recordTable{}, false
	n := int(h.RecordCount)
	if h.compression() != CompressionNone || h.isControl() || n <= 0 || n > readerTableCap {
		return false
	}
	check := crcCheck{b: data[pos:], at: batchAttributesPos, end: int(h.size())}
	it := &ra.it
	if it.reset(h, data[pos+batchHeaderSize:pos+h.size()]) != nil {
		return false
	}
	recs := recordTable{kv: ra.own.kv[:n:n], meta: ra.own.meta[:n:n]}
	i := it.tableBehind(recs, 0, &check, check.end)
	if !check.matches() {
		return false
	}
	if i < n {
		if k, _ := it.table(recs.from(i), &ra.fields, h.timeBase()); k < n-i {
			return true // checked; the reader parses it and finds what stopped the table
		}
	}
	if it.next(&ra.fields) == errBatchEnd {
		ra.table, ra.tableArea, ra.tablePos, ra.ownTable = recs, nil, pos, true
		ra.ownTabled++
	}
	return true
}
