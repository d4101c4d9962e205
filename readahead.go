package eventlog

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
)

// Read-ahead verification: the batches a long scan is about to reach are
// CRC-checked on another core, a little ahead of the goroutine reading them.
//
// A view scan that has read readAheadAfter bytes of a segment, and has at
// least readAheadMinBytes more to read there, starts a verifier, when the
// Log has a core to spare for one: a goroutine of the Log that walks the
// same batches from the reader's position, checks each one's CRC, and
// publishes how far it got. (Starting only once a scan has shown it is
// long keeps short reads, such as reads of one record, from paying for a
// goroutine.) The reader skips the
// CRC of a batch the verifier has checked and checks it itself otherwise, so
// a verifier that falls behind (its core is busy) costs the reader only a
// look at an atomic; the verifier then jumps to where the reader is. It
// stays at most readAheadWindow bytes ahead, so that the bytes it pulled
// into the shared cache are still there when the reader arrives, and waits
// for the reader otherwise.
//
// Both walk one chain of batches: the verifier starts where the reader
// starts and only ever moves to a position the reader published, or on
// from one along the chain, and the reader trusts it only at positions on
// that chain. Every batch of the chain from the reader's position up to the
// verifier's progress has therefore been checked during this scan, by the
// verifier or by the reader itself. A verifier stops at the first batch
// that fails its check, and the reader, checking that batch itself, reports
// the damage.
//
// A verifier also parses ahead (readahead_parse.go): it tables the records
// of the batches it checked, decompressing compressed ones first, and a
// batch with a table has been checked. When its tables have no room left
// until the reader moves on, it waits for the reader rather than run
// ahead without them. A reader that caught up with the verifier (it reached a
// batch without a table) says so, after waiting for the table if the
// verifier is on that very batch (working); the verifier then leaves it
// the batches of the next readAheadLead bytes and goes on after them, so
// that the reader, fast on tables and slower on the batches it parses
// itself, and the verifier share the scan instead of both working on the
// same batch. A verifier that sees the reader gain on it and come within
// readAheadNear does the same before the reader catches up, so that the
// reader goes on with batches of its own instead of waiting for the one
// the verifier is on (in a scan of small records that wait was a tenth of
// the scan: BENCHMARKS.md, issue 8).
// The verifier vouches for CRCs again once the reader is past the batches
// it left.

const (
	// readAheadAfter is how much of a segment a scan reads before it
	// starts a verifier.
	readAheadAfter = 256 << 10
	// readAheadMinBytes is the least a scan must have left to read in a
	// segment for a verifier to be worth a goroutine.
	readAheadMinBytes = 1 << 20
	// readAheadWindow bounds how far ahead of the reader a verifier runs:
	// far enough for the batches it leaves a reader that catches up
	// (readAheadLead), and near enough that a reader slower than it finds
	// the bytes it checked still in a cache. Once the verifier checked and
	// parsed in one pass, it ran a full window ahead of a reader that
	// hashed every key and value; with a window of 4 MiB that reader took
	// 1.3 times as long (the bytes came from memory again), with 768 KiB
	// as long as before (BENCHMARKS.md, issue 8).
	readAheadWindow = 768 << 10
	// readAheadLead is how far a verifier that parses ahead moves on
	// when the reader catches up with it.
	readAheadLead = 256 << 10
	// A verifier that parses ahead leaves the reader the next
	// readAheadNearLead batches when the reader gains on it and comes
	// within the last readAheadNear batches it checked. (Within 4, the
	// verifier also left batches to a reader as fast as itself, when the
	// distance between them merely wavered: a loop that hashed every key
	// and value ran 13-29% slower than within 2.)
	readAheadNear     = 2
	readAheadNearLead = 2
	// readAheadCaughtUp is how far the reader moves between publishing
	// its position while it reads batches that have no table.
	readAheadCaughtUp = 4 << 10
)

// readAheadSpin bounds how many times a reader looks whether the verifier
// finished the batch it waits for: tens of microseconds. (A variable, for
// a test that must not give up.)
var readAheadSpin = 1 << 16

// verifier checks the CRCs of a segment's batches ahead of a reader. The
// reader owns it through a readAhead; the goroutine running it holds its
// own references to the segment and its mapping, which release drops when
// it ends.
type verifier struct {
	seg     *segment
	data    []byte // the readable bytes of seg
	start   int64  // where the reader started
	release func()
	tables  *parseTables // nil: check CRCs only (see readahead_parse.go)

	checked  atomic.Int64 // the chain's batches from the reader's position to this one have good CRCs
	at       atomic.Int64 // where the verifier parked
	working  atomic.Int64 // the batch the verifier checks and tables; -1: none
	progress readerProgress
	reader   atomic.Int64 // where the reader's next batch starts
	done     atomic.Bool  // the reader is gone: stop
	parked   atomic.Bool  // the verifier waits for the reader
	full     atomic.Bool  // it waits for room in its tables
	wake     chan struct{}
}

// run checks batches until the reader is done, the segment's readable
// bytes end, a batch fails its check, or the Log stops.
func (v *verifier) run(stop <-chan struct{}) {
	defer v.release()
	defer v.working.Store(-1)
	pos := v.start
	gapEnd := pos       // the end of the batches last left to the reader
	var lastAhead int64 // how far ahead of the reader the verifier last was
	// recent holds where the last readAheadNear batches the verifier
	// checked start, the one at done%readAheadNear the oldest.
	recent := [readAheadNear]int64{-1, -1}
	var done int
	for !v.done.Load() {
		reader := v.reader.Load()
		if c := v.progress.caughtUp.Load(); c >= pos && v.tables != nil {
			// The reader caught up and reads batches without tables
			// itself; the verifier leaves it the next ones too and parses
			// further on, where it is not in the way.
			pos = v.skip(c, readAheadLead)
			gapEnd = pos
		}
		pos = max(pos, reader)
		if ahead := pos - reader; ahead < lastAhead && reader > recent[done%readAheadNear] && v.tables != nil {
			// The reader gains on the verifier and is about to catch up:
			// the verifier leaves it the next batches before it does,
			// rather than make it wait for the batch the verifier is on.
			pos = v.skipBatches(pos, readAheadNearLead)
			gapEnd = pos
		}
		lastAhead = pos - reader
		if pos >= int64(len(v.data)) {
			return
		}
		if pos-reader > readAheadWindow {
			v.working.Store(-1)
			v.at.Store(pos)
			v.parked.Store(true)
			// The reader wakes a parked verifier once it comes within
			// half the window; looking again after parking closes the gap
			// in which it could have done so unseen.
			if pos-v.reader.Load() > readAheadWindow/2 && !v.done.Load() {
				select {
				case <-v.wake:
				case <-stop:
					return
				}
			}
			v.parked.Store(false)
			continue
		}
		v.working.Store(pos)
		full, bad := false, false
		if v.tables != nil {
			full, bad = v.tables.add(v.data, pos, &v.progress)
		} else {
			bad = verifyBatchCRC(v.data[pos:]) != nil
		}
		if bad {
			return // the reader finds the damage itself
		}
		if full {
			// No room for the batch's table until the reader moves on:
			// wait for it rather than run ahead without tables.
			v.working.Store(-1)
			if !v.waitForRoom(stop) {
				return
			}
			lastAhead = 0 // the reader gained while the verifier waited for it
			continue
		}
		recent[done%readAheadNear] = pos
		done++
		pos += batchOverhead + int64(int32(binary.BigEndian.Uint32(v.data[pos+batchLengthPos:])))
		if reader >= gapEnd {
			// The batches the verifier left to the reader lie behind
			// it: from where it is, the verifier checked every batch.
			v.checked.Store(pos)
		}
	}
}

// waitForRoom parks the verifier until the reader publishes that it moved
// on, freeing tables; false means the Log stops.
func (v *verifier) waitForRoom(stop <-chan struct{}) bool {
	oldest := v.tables.oldest.Load()
	v.full.Store(true)
	v.parked.Store(true)
	defer v.parked.Store(false)
	defer v.full.Store(false)
	// Looking again after parking closes the gap in which the reader
	// could have published unseen, as for the window.
	if v.tables.oldest.Load() == oldest && !v.done.Load() {
		select {
		case <-v.wake:
		case <-stop:
			return false
		}
	}
	return true
}

// skip walks the chain from pos over at least n bytes of batches, or to a
// batch whose length is wrong, reading only their lengths, and returns
// where it stopped.
func (v *verifier) skip(pos, n int64) int64 {
	end := pos + n
	for pos < end && pos+batchHeaderSize <= int64(len(v.data)) {
		length := int64(int32(binary.BigEndian.Uint32(v.data[pos+batchLengthPos:])))
		next := pos + batchOverhead + length
		if length < batchHeaderSize-batchOverhead || next > int64(len(v.data)) {
			break
		}
		pos = next
	}
	return pos
}

// skipBatches walks the chain from pos over n batches, or to a batch whose
// length is wrong, and returns where it stopped.
func (v *verifier) skipBatches(pos int64, n int) int64 {
	for range n {
		next := v.skip(pos, 1)
		if next == pos {
			break
		}
		pos = next
	}
	return pos
}

// readAhead is a reader's side of read-ahead verification: where the
// reader is, the verifier it started, if any, and what it knows of it. The
// reader publishes its position and reads the verifier's progress only now
// and then, so that the two cores do not pass a cache line back and forth
// at every batch.
type readAhead struct {
	l *Log
	// The segment the reader is in, its mapping and the bytes it may read.
	// The reader holds references to them while it is in the segment;
	// between the chunks of a Consumer, these stay as they were so that
	// the next chunk can tell it goes on where the last one stopped.
	seg  *segment
	m    *mapping
	data []byte

	decompressLimit int // the most a batch of the partition may decompress to

	batchPos int64 // where the reader's last batch starts
	next     int64 // where its next batch starts
	read     int64 // bytes the reader read in seg along one chain

	v         *verifier
	published int64 // the position last stored in v.reader
	known     int64 // v.checked when last read
	skipped   int64 // batches whose CRC the verifier checked for the reader

	// The verifier's tables of parsed records, and the reader's place in
	// their ring (see readahead_parse.go).
	tables    *parseTables
	nextTable int64       // the next batch of the ring to look at
	tabled    int64       // tables.tabled when last read
	inUse     int64       // the oldest batch of the ring the reader may still read
	table     recordTable // the table of the batch the reader checked last, if any (kv nil if none)
	tableArea []byte      // its decompressed records area; nil: uncompressed
	tablePos  int64       // where that batch starts
	ownTable  bool        // the reader tabled it itself (tableOwn)
	// own is where the reader tables batches itself: tables.reader with a
	// verifier, one from the Log's pool in a long scan without one.
	own *readerTable
	// The reader's parser, for tableOwn.
	it       recordIter
	fields   recordFields
	caughtUp int64 // the position last stored in v.progress.caughtUp
	// parsedBatches counts the batches read from the verifier's tables,
	// ownTabled those the reader tabled itself.
	parsedBatches, ownTabled int64
}

// readAheadStride is how far the reader moves between publishing its
// position.
const readAheadStride = 64 << 10

// enter is called when the reader enters seg at pos, with data the bytes
// it may read. It keeps the reader's place, and the verifier if any, when
// the reader goes on along the chain it was reading; otherwise it starts
// afresh. A verifier stops at the end of the bytes it was given: when a
// reader that goes on (a Consumer's next chunk) finds the active segment
// grown by readAheadMinBytes or more since its verifier started, it starts
// a new one, which goes on to the new end, in its place.
func (ra *readAhead) enter(l *Log, seg *segment, m *mapping, data []byte, pos int64, decompressLimit int) {
	goesOn := seg == ra.seg && (pos == ra.batchPos || pos == ra.next)
	if goesOn && (ra.v == nil || int64(len(data)-len(ra.v.data)) < readAheadMinBytes) {
		ra.m, ra.data = m, data
		if ra.v != nil {
			ra.publish(pos)
		}
		return
	}
	ra.stop()
	*ra = readAhead{l: l, seg: seg, m: m, data: data, batchPos: pos, next: pos, decompressLimit: decompressLimit}
	if goesOn && int64(len(data))-pos >= readAheadMinBytes {
		ra.start() // the reader had a verifier: its scan is long
	}
}

// moved tells the read-ahead that the reader read the batch at pos and goes
// on at next. It starts a verifier once the scan is long enough.
func (ra *readAhead) moved(pos, next int64) {
	if ra == nil {
		return
	}
	ra.batchPos, ra.next = pos, next
	ra.read += next - pos
	switch {
	case ra.v != nil:
		if (ra.table.kv == nil || ra.ownTable) && ra.tables != nil && next-ra.caughtUp >= readAheadCaughtUp {
			ra.v.progress.caughtUp.Store(next)
			ra.caughtUp = next
		}
		if next-ra.published >= readAheadStride {
			ra.publish(next)
		}
	case ra.read >= readAheadAfter && int64(len(ra.data))-next >= readAheadMinBytes:
		ra.start()
	}
}

// start starts a verifier at the reader's next batch, if the Log has a
// core to spare. The reader is in ra.seg, between Log.enter and Log.exit.
func (ra *readAhead) start() {
	l, seg, m := ra.l, ra.seg, ra.m
	ra.read = 0 // if no verifier starts, try again after as much again
	if !l.reserveVerifier() {
		if ra.own == nil {
			// The reader checks and parses the scan alone, but in one
			// pass a batch (tableOwn).
			ra.own, _ = l.readerTables.Get().(*readerTable)
			if ra.own == nil {
				ra.own = new(readerTable)
			}
		}
		return
	}
	// The reader's own references keep both alive, so these succeed.
	if !seg.acquire() {
		l.verifiers.Add(-1)
		return
	}
	if !m.refs.tryAcquire() {
		_ = seg.release()
		l.verifiers.Add(-1)
		return
	}
	tables := l.newParseTables()
	tables.limit, tables.log = ra.decompressLimit, l
	v := newVerifier(seg, ra.data, ra.next, func() {
		tables.release(l)
		m.release()
		_ = seg.release()
	})
	v.tables = tables
	ra.releaseOwn()
	ra.v, ra.published, ra.known, ra.tables, ra.own = v, ra.next, ra.next, tables, &tables.reader
	// Close has not begun to wait for the Log's goroutines: the reader
	// is between Log.enter and Log.exit.
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.verifiers.Add(-1)
		v.run(l.stop)
	}()
}

// checked reports whether the verifier has checked the batch at pos, which
// ends at end. pos must be on the verifier's chain.
func (ra *readAhead) checked(pos, end int64) bool {
	if ra == nil || ra.v == nil || pos < ra.v.start {
		return false
	}
	if ra.tables != nil {
		if ra.table.kv != nil && ra.tablePos == pos {
			// A Consumer's chunk that goes on in the batch the last one
			// stopped in: the table is still the reader's (inUse).
			return true
		}
		ra.ownTable = false
		ra.table, ra.tableArea = ra.parsed(pos)
		if ra.table.kv == nil && ra.v.working.Load() == pos {
			ra.waitForTable(pos, end)
			ra.table, ra.tableArea = ra.parsed(pos)
		}
		if ra.table.kv != nil {
			ra.tablePos = pos
			ra.skipped++
			ra.parsedBatches++
			return true
		}
	}
	if end > ra.known {
		ra.known = ra.v.checked.Load()
		if end > ra.known {
			return false
		}
	}
	ra.skipped++
	return true
}

// waitForTable waits for the verifier to finish the batch at pos, which
// ends at end and which the verifier is checking and tabling: parsing the
// batch too would cost the reader more than waiting for the rest of the
// verifier's work on it, which would then be lost. The reader has caught up
// and says so, so that the verifier leaves it the batches after. It waits
// at most readAheadSpin looks, in case the verifier's goroutine is not
// running. It waits for a table beyond the ones parsed last saw: one the
// verifier publishes at any moment after that look ends the wait.
func (ra *readAhead) waitForTable(pos, end int64) {
	v, t := ra.v, ra.tables
	v.progress.waiting.Store(pos)
	v.progress.caughtUp.Store(end)
	ra.caughtUp = end
	for i := 0; i < readAheadSpin && v.working.Load() == pos && t.tabled.Load() == ra.tabled; i++ {
	}
	v.progress.waiting.Store(-1)
}

// publish stores the reader's position, and wakes the verifier if it waits
// for the reader to come closer.
func (ra *readAhead) publish(pos int64) {
	v := ra.v
	if ra.tables != nil {
		ra.tables.oldest.Store(ra.inUse)
	}
	v.reader.Store(pos)
	ra.published = pos
	if v.parked.Load() && (v.full.Load() || v.at.Load()-pos <= readAheadWindow/2) {
		v.nudge()
	}
}

// stop ends the verifier, if any, and forgets where the reader is.
func (ra *readAhead) stop() {
	if ra == nil {
		return
	}
	if v := ra.v; v != nil {
		v.done.Store(true)
		v.nudge()
		ra.l.readAheadBatches.Add(ra.skipped)
		ra.l.readAheadParsed.Add(ra.parsedBatches)
	}
	if ra.l != nil {
		ra.l.readerTabled.Add(ra.ownTabled)
	}
	if ra.tables != nil {
		ra.tables.release(ra.l)
	} else {
		ra.releaseOwn()
	}
	*ra = readAhead{}
}

// releaseOwn gives the reader's own table of a scan without a verifier
// back to the Log's pool.
func (ra *readAhead) releaseOwn() {
	if ra.own != nil && ra.v == nil {
		ra.l.readerTables.Put(ra.own)
	}
	ra.own, ra.table, ra.ownTable = nil, recordTable{}, false
}

func newVerifier(seg *segment, data []byte, start int64, release func()) *verifier {
	v := &verifier{seg: seg, data: data, start: start, release: release, wake: make(chan struct{}, 1)}
	v.checked.Store(start)
	v.reader.Store(start)
	v.progress.caughtUp.Store(-1)
	v.progress.waiting.Store(-1)
	v.working.Store(-1)
	return v
}

func (v *verifier) nudge() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// reserveVerifier takes one of the Log's verifier slots: one per core but
// the reader's own.
func (l *Log) reserveVerifier() bool {
	if l.verifiers.Add(1) <= int32(runtime.GOMAXPROCS(0)-1) {
		return true
	}
	l.verifiers.Add(-1)
	return false
}
