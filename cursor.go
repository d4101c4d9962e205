package eventlog

import (
	"fmt"
	"iter"
	"sort"
)

// batchCursor walks a partition's batches from an offset up to a high
// watermark. It holds a reference to the segment it is in and to that
// segment's mapping, so the bytes of the batch it stopped at stay mapped —
// whatever retention, a compaction swap or Close do meanwhile — until it
// moves past them or is closed. It is the one walk over segments that the
// copying reads and the views share.
//
// Calls of next must be made between Log.enter and Log.exit; the bytes of
// the current batch may be read outside them, since the references keep
// them alive.
type batchCursor struct {
	p       *Partition
	offset  int64     // the next offset wanted: batches that end below it are skipped
	hw      *position // the end of what may be read
	control bool      // next stops at control batches too (raw reads, transaction markers)
	noCRC   bool      // step leaves CRCs unchecked (raw reads whose reader checks them)

	committed bool         // read_committed: see readCommitted
	txn       *abortFilter // for read_committed on a partition with transactions

	seg     *segment // acquired; nil between segments
	m       *mapping // acquired with seg
	data    []byte   // m.data up to what may be read of seg
	pos     int64    // of the next batch in data
	entered int64    // offset when seg was entered, to tell a pass that made no progress
	fresh   bool     // the current batch is the first of a pass over seg

	h        batchHeader // the current batch
	batch    []byte
	batchPos int64

	ahead *readAhead // nil: no read-ahead verification (see readahead.go)
	// from, if set, is the view cursor's from, which enter raises with
	// offset to the log start (see enter).
	from *int64
}

// next moves to the next batch of records, skipping control batches, and
// the empty batches a cleaning keeps for producer state, unless control is
// set. It returns false, having let go of its segment, when it
// reaches the high watermark or a batch that a concurrent cleaning moved
// past the watermark this cursor knows.
func (c *batchCursor) next() (bool, error) {
	c.fresh = false
	for c.offset < c.hw.offset {
		if c.txn != nil && c.offset >= c.txn.stable {
			break
		}
		if c.seg == nil {
			stop, err := c.enter()
			if err != nil || stop {
				return false, err
			}
			continue
		}
		if c.pos >= int64(len(c.data)) {
			if c.leave() {
				return false, nil
			}
			continue
		}
		ok, err := c.step()
		if err != nil || !ok {
			c.close()
			return false, err
		}
		if (c.control || !c.h.isControl() && c.h.RecordCount > 0) && (c.txn == nil || !c.txn.skip(&c.h)) {
			return true, nil
		}
	}
	c.close()
	return false, nil
}

// step reads the batch at pos. It reports false at a batch past the
// cursor's high watermark: a cleaning that merged segments since the
// watermark was read may have put batches below today's high watermark,
// but past this one, into seg.
func (c *batchCursor) step() (bool, error) {
	p, seg := c.p, c.seg
	h, err := batchHeaderAt(c.data, c.pos)
	if err == nil && !c.noCRC && !c.ahead.checked(c.pos, c.pos+h.size()) && !c.ahead.tableOwn(c.data, c.pos, &h) {
		err = verifyBatchCRC(c.data[c.pos:])
	}
	if err != nil {
		return false, p.corrupt(seg, c.pos, c.offset, err.Error())
	}
	if h.BaseOffset >= c.hw.offset && h.lastOffset() >= c.offset && h.BaseOffset < p.hw.Load().offset && seg != c.hw.seg {
		return false, nil
	}
	// Below the high watermark every batch must follow the one before and
	// end below it; the base offset lies outside the checksum, so these
	// checks are what catches its damage.
	if h.lastOffset() < c.offset || h.BaseOffset >= c.hw.offset {
		reason := fmt.Sprintf("batch at offsets [%d, %d] does not fit between offset %d and the high watermark %d", h.BaseOffset, h.lastOffset(), c.offset, c.hw.offset)
		return false, p.corrupt(seg, c.pos, c.offset, reason)
	}
	c.h, c.batch, c.batchPos = h, c.data[c.pos:c.pos+h.size()], c.pos
	c.pos += h.size()
	c.offset = h.lastOffset() + 1
	c.ahead.moved(c.batchPos, c.pos)
	return true, nil
}

// enter acquires the segment holding the wanted offset and finds the batch
// to start at. stop reports that there is nothing to read before the high
// watermark this cursor knows; otherwise, with no error and no segment, a
// concurrent change dropped the segment and the caller looks again.
//
// A segment that retention or DeleteRecords dropped between the lookup
// and its acquiring is a read overtaken by them, as when the reader held
// it (it finishes on its bytes) or looked a moment later (it finds the
// next segment): the cursor goes on from the log start, rather than fail
// with ErrOffsetOutOfRange for an offset that was inside the log when the
// read began (see relisted). So does a cursor that finds, as it enters
// a segment, the log start past the offset it wants: DeleteRecords or
// retention overtook it after it entered the last one, and may have put
// the log start inside this one, whose records below it the cursor does
// not yield.
func (c *batchCursor) enter() (stop bool, err error) {
	p := c.p
	seg := p.segmentFor(c.offset)
	if seg == nil {
		if p.deleted.Load() {
			return true, p.deletedErr()
		}
		c.skipTo(p.logStart.Load())
		return false, nil
	}
	// Loaded after the segment was found, so that it is at least the log
	// start of any list the segment was found in (the log start moves
	// before the segments below it are unlisted).
	c.skipTo(p.logStart.Load())
	if seg.base > c.hw.seg.base {
		_ = seg.release()
		return p.listed(seg), nil
	}
	limit := seg.size.Load()
	if seg == c.hw.seg {
		limit = c.hw.pos
	}
	idx, rebuilt, err := seg.readIndex(p.config().indexInterval)
	var m *mapping
	if err == nil {
		if rebuilt {
			p.log.recovery.indexesRebuilt.Add(1)
		}
		m, err = seg.viewFor(limit)
	}
	if err != nil {
		_ = seg.release()
		return c.relisted(seg, err)
	}
	c.seg, c.m, c.data = seg, m, m.data[:limit]
	c.pos = skipBatchesBelow(c.data, p.readStart(seg, idx, c.data, c.offset), c.offset)
	c.entered, c.fresh = c.offset, true
	if c.ahead != nil {
		c.ahead.enter(p.log, seg, m, c.data, c.pos, maxReadDecompressedBytes(p.config().maxBatchBytes))
	}
	return false, nil
}

// decompressing calls the test hook that counts decompressions when the
// batch h heads is compressed. l may be nil (parse tables made by a
// white-box test).
func (l *Log) decompressing(h *batchHeader) {
	if l == nil {
		return
	}
	if hook := l.decompressHook.Load(); hook != nil && h.compression() != CompressionNone {
		(*hook)()
	}
}

// relisted handles a segment that could not be opened, indexed or mapped
// (see relistGone): on a read-only Log whose writer removed or replaced
// the file, the cursor goes on in the partition as listed again, from the
// log start if its offset is gone, and up to the new high watermark.
func (c *batchCursor) relisted(seg *segment, err error) (stop bool, _ error) {
	p := c.p
	again, err := p.relistGone(seg, err)
	if !again {
		return true, err
	}
	c.skipTo(p.logStart.Load())
	if hw := p.hw.Load(); hw.offset > c.hw.offset {
		c.hw = hw
		if c.committed {
			if err := c.readCommitted(); err != nil {
				return true, err
			}
		}
	}
	return false, nil
}

// skipTo moves the cursor on to offset start if it is short of it, and
// with it the view cursor's from, so that the records below start of the
// next batch are skipped too.
func (c *batchCursor) skipTo(start int64) {
	if c.offset < start {
		c.offset = start
		if c.from != nil {
			*c.from = max(*c.from, start)
		}
	}
}

// leave lets go of a segment read to its end and moves on to the next one,
// even across a gap. A segment that a cleaning replaced meanwhile is not
// listed; its replacement, which covers more offsets, holds the rest. stop
// reports that a pass over a listed segment made no progress: nothing more
// is readable below the cursor's high watermark.
func (c *batchCursor) leave() (stop bool) {
	seg := c.seg
	listed := c.p.listed(seg)
	if seg != c.hw.seg {
		segs := *c.p.segments.Load()
		if i := sort.Search(len(segs), func(i int) bool { return segs[i].base > seg.base }); listed && i < len(segs) {
			c.offset = max(c.offset, segs[i].base)
		}
	}
	progressed := c.offset > c.entered
	c.ahead.stop()
	c.close()
	return !progressed && listed
}

// close lets go of the segment and its mapping.
func (c *batchCursor) close() {
	if c.seg != nil {
		c.m.release()
		_ = c.seg.release()
		c.seg, c.m, c.data, c.batch = nil, nil, nil, nil
	}
}

// segmentErr is the error of a read that could not open, index or map a
// segment. DeleteTopic renames the topic's directory before it lets go of
// the segments, and closed segments are opened on their first read: a read
// that comes to one in between finds its files gone from their names, and
// fails as every read of a deleted topic does.
func (p *Partition) segmentErr(err error) error {
	if p.deleted.Load() {
		return p.deletedErr()
	}
	return p.errorf("%w", err)
}

// corrupt reports damage at pos of seg, where offset was wanted.
func (p *Partition) corrupt(seg *segment, pos, offset int64, reason string) error {
	return p.errorf("%w", &CorruptError{Path: seg.path(logExt), Pos: pos, Offset: offset, Reason: reason})
}

// checkReadable fails with ErrOffsetOutOfRange when offset lies outside
// the log.
func (p *Partition) checkReadable(offset int64) error {
	if p.deleted.Load() {
		return p.deletedErr()
	}
	if start, end := p.logStart.Load(), p.logEnd.Load(); offset < start || offset > end {
		return p.errorf("%w: offset %d is outside [%d, %d]", ErrOffsetOutOfRange, offset, start, end)
	}
	return nil
}

// A view cursor tables the batches the read-ahead verifier did not a chunk
// at a time, the first chunk of a batch small so that a read of one record
// parses few.
const (
	viewFirstChunk   = 8
	viewChunkRecords = 64 // 2 KiB of table
)

// recordChunk is a view cursor's own table of records, pooled on the Log so
// that a short read does not allocate and clear one.
type recordChunk struct {
	kv   [viewChunkRecords]kvEntry
	meta [viewChunkRecords]metaEntry
}

// table returns the chunk's first n records.
func (c *recordChunk) table(n int) recordTable {
	return recordTable{kv: c.kv[:n:n], meta: c.meta[:n:n]}
}

// viewCursor yields a partition's records one by one as views into the
// batch its batchCursor holds (or into the decompressed copy of it).
type viewCursor struct {
	batches batchCursor
	// from is where the read goes on when it moves to the next batch: the
	// records below it, in a batch the read starts inside, are skipped.
	from    int64
	dec     batchDecoder
	kept    keptArea // what dec holds, for the next pass (see recordsArea)
	records recordIter
	area    []byte // records area of the current batch
	fields  recordFields
	// parsed is what is left of the current batch's table
	// (record_table.go): the read-ahead verifier's, when it parsed the
	// batch (readahead_parse.go), or else the chunk of records the cursor
	// tabled itself into own. Views are filled from it, from at on.
	parsed   recordTable
	at       int
	timeBase int64        // of the current batch, for parsed
	own      *recordChunk // from the Log's pool while the cursor reads
	// chunk is how many records the cursor tables next; 0: it reads the
	// rest of the batch record by record with records.next.
	chunk  int
	view   RecordView
	poison poisoner
	ahead  readAhead

	batchesRead int // counts the batches entered, so a caller can tell a new one
}

// start positions the cursor at offset. The partition's Log must be
// entered.
func (vc *viewCursor) start(p *Partition, offset int64) error {
	if err := p.checkReadable(offset); err != nil {
		return err
	}
	vc.batches = batchCursor{p: p, offset: offset, hw: p.hw.Load(), ahead: &vc.ahead, from: &vc.from}
	vc.from = offset
	vc.view = RecordView{Topic: p.topic, Partition: p.id}
	vc.poison.on = p.log.opts.PoisonViews
	return nil
}

// next returns the next record, or nil at the high watermark. The view
// stays valid until the next call of next or close. At the high watermark
// the cursor holds nothing, and a later next goes on from there with what
// was appended meanwhile.
func (vc *viewCursor) next() (*RecordView, error) {
	if vc.poison.on {
		vc.poison.expire()
	}
	for {
		if vc.at < vc.parsed.len() {
			vc.parsed.fill(vc.at, &vc.view, vc.area, vc.batches.h.BaseOffset, vc.timeBase)
			vc.at++
			if vc.poison.on {
				vc.poison.copy(&vc.view)
			}
			return &vc.view, nil
		}
		var err error
		if vc.chunk > 0 {
			if vc.own == nil {
				vc.own = vc.newChunk()
			}
			var n int
			n, err = vc.records.table(vc.own.table(vc.chunk), &vc.fields, vc.timeBase)
			vc.chunk = viewChunkRecords
			if n > 0 {
				vc.parsed, vc.at = vc.own.table(n), 0 // an error comes again after them
				continue
			}
			if err == errNotTabled {
				vc.chunk = 0
				continue
			}
		} else if err = vc.records.next(&vc.fields); err == nil {
			if vc.fields.offset < vc.from {
				continue // below the start, in the first batch
			}
			vc.fields.fill(&vc.view, vc.area)
			if vc.poison.on {
				vc.poison.copy(&vc.view)
			}
			return &vc.view, nil
		}
		b := &vc.batches
		if err != errBatchEnd {
			return nil, b.p.corrupt(b.seg, b.batchPos, b.h.BaseOffset, err.Error())
		}
		if ok, err := vc.nextBatch(); !ok || err != nil {
			return nil, err
		}
	}
}

// nextBatch moves to the next batch, taking in records that became
// readable since the cursor last reached the high watermark.
func (vc *viewCursor) nextBatch() (bool, error) {
	b := &vc.batches
	p := b.p
	vc.parsed, vc.at = recordTable{}, 0
	vc.from = b.offset // the next offset wanted: past every record of the batch read
	if !p.log.enter() {
		b.close()
		return false, ErrClosed
	}
	ok, err := b.next()
	if !ok && err == nil {
		if hw := p.hw.Load(); hw.offset > b.hw.offset {
			b.hw = hw
			if b.committed {
				err = b.readCommitted()
			}
			if err == nil {
				ok, err = b.next()
			}
		}
	}
	p.log.exit()
	if !ok || err != nil {
		return false, err
	}
	if ra := &vc.ahead; ra.table.kv != nil && ra.tablePos == b.batchPos {
		// The verifier parsed the batch, and decompressed it if need be.
		vc.parsed, vc.area, vc.timeBase = ra.table, b.batch[batchHeaderSize:], b.h.timeBase()
		if base, from := b.h.BaseOffset, vc.from; base < from {
			// The read starts inside the batch, as a Consumer's chunk
			// that goes on where the last one stopped does.
			t := vc.parsed
			vc.parsed = t.from(sort.Search(t.len(), func(i int) bool { return base+int64(t.meta[i].offsetDelta) >= from }))
		}
		if ra.tableArea != nil {
			vc.area = ra.tableArea
		}
		vc.records, vc.chunk = recordIter{}, 0
		vc.batchesRead++
		return true, nil
	}
	vc.area, err = vc.recordsArea()
	if err == nil {
		err = vc.records.reset(&b.h, vc.area)
	}
	if err == nil && b.h.BaseOffset < vc.from {
		err = vc.records.skipBelow(vc.from)
	}
	if err != nil {
		err = p.corrupt(b.seg, b.batchPos, b.h.BaseOffset, err.Error())
		vc.records = recordIter{}
		b.close()
		return false, err
	}
	vc.timeBase, vc.chunk = b.h.timeBase(), viewFirstChunk
	vc.batchesRead++
	return true, nil
}

// recordsArea returns the records area of the cursor's batch,
// decompressed into dec when the batch is compressed. A Consumer reads a
// batch of more than MaxPollRecords records in several chunks, each one
// a pass of the cursor: the batch the last pass decompressed, and stopped
// in, is not decompressed again. It is known by its segment, its place
// there and its header, CRC included, which step checked again.
func (vc *viewCursor) recordsArea() ([]byte, error) {
	b := &vc.batches
	compressed := b.h.compression() != CompressionNone
	if k := &vc.kept; compressed && k.area != nil && k.seg == b.seg && k.pos == b.batchPos && k.h == b.h {
		return k.area, nil
	}
	if compressed {
		vc.kept = keptArea{}
		b.p.log.decompressing(&b.h)
	}
	area, err := vc.dec.recordsArea(&b.h, b.batch, maxReadDecompressedBytes(b.p.config().maxBatchBytes))
	if compressed && err == nil {
		vc.kept = keptArea{seg: b.seg, pos: b.batchPos, h: b.h, area: area}
	}
	return area, err
}

// keptArea is the decompressed records area of the batch at pos of seg
// that h heads, kept in a view cursor's decoder from one pass to the next.
// seg is only compared: the cursor holds no reference to it.
type keptArea struct {
	seg  *segment
	pos  int64
	h    batchHeader
	area []byte
}

// newChunk takes a table of records from the Log's pool, or makes one.
func (vc *viewCursor) newChunk() *recordChunk {
	if c, ok := vc.batches.p.log.recordChunks.Get().(*recordChunk); ok {
		return c
	}
	return new(recordChunk)
}

// close lets go of what the cursor holds; the last view expires.
func (vc *viewCursor) close() {
	vc.ahead.stop()
	vc.kept = keptArea{}
	vc.pause()
}

// pause is close for a reader that may go on where it stopped: its
// read-ahead verifier, if any, keeps its place, and the decompressed
// records of the batch it stopped in stay in dec (see recordsArea).
func (vc *viewCursor) pause() {
	vc.poison.expire()
	vc.batches.close()
	vc.records, vc.area, vc.parsed, vc.at, vc.chunk = recordIter{}, nil, recordTable{}, 0, 0
	if vc.own != nil {
		vc.batches.p.log.recordChunks.Put(vc.own)
		vc.own = nil
	}
	if vc.kept.area == nil {
		vc.dec.trim()
	}
}

// Views returns an iterator over the records from offset on, as views read
// in place (see RecordView for their lifetime): the fast way to replay a
// partition, allocating nothing per record.
//
//	for v, err := range p.Views(p.LogStartOffset()) {
//		if err != nil {
//			return err
//		}
//		state.apply(v.Key, v.Value) // copy what you keep
//	}
//
// The loop ends when it reaches the high watermark; records that become
// readable before it gets there are included. It reads uncommitted: the
// records of open and aborted transactions included, markers not (see
// Isolation in the package documentation); Log.Replay and a ReadCommitted
// Consumer read committed. It yields an error, once,
// and ends when offset lies outside the log (ErrOffsetOutOfRange), when
// the Log closes (ErrClosed), or at damaged data (*CorruptError).
//
// Each batch's CRC is checked once per loop, before any of its records is
// yielded; in a long scan mostly on another core, a little ahead of the
// loop (see "Reading in place" in the package documentation). While the
// loop runs it holds the segment it reads mapped: retention, compaction
// and Close go ahead, and the files they drop are unmapped and closed when
// the loop moves on or ends. A loop that retention or DeleteRecords
// overtakes finishes the segment it reads, then goes on from the new log
// start offset, skipping the records below it.
func (p *Partition) Views(offset int64) iter.Seq2[*RecordView, error] {
	return func(yield func(*RecordView, error) bool) {
		if !p.log.enter() {
			yield(nil, ErrClosed)
			return
		}
		var vc viewCursor
		err := vc.start(p, offset)
		p.log.exit()
		if err != nil {
			yield(nil, err)
			return
		}
		defer vc.close()
		for {
			// The records of a table, most of a long scan, are yielded
			// from here, without a call of next and its checks for each.
			kv := vc.parsed.kv
			meta := vc.parsed.meta[:len(kv)]
			for vc.at < len(kv) && !vc.poison.on {
				i := vc.at
				vc.at++
				meta[i].fill(&vc.view, &kv[i], vc.area, vc.batches.h.BaseOffset, vc.timeBase)
				if !yield(&vc.view, nil) {
					return
				}
			}
			v, err := vc.next()
			if err != nil {
				yield(nil, err)
				return
			}
			if v == nil || !yield(v, nil) {
				return
			}
		}
	}
}

// poisoner implements Options.PoisonViews: it gives each view bytes of its
// own and overwrites them when the view expires.
type poisoner struct {
	on   bool
	live []byte // the bytes of the live view
}

// poisonByte fills the bytes of expired views.
const poisonByte = 0xDB

// copy moves v's bytes into a fresh buffer.
func (pz *poisoner) copy(v *RecordView) {
	buf := make([]byte, 0, len(v.Key)+len(v.Value)+len(v.headers))
	v.Key, buf = cloneInto(buf, v.Key)
	v.Value, buf = cloneInto(buf, v.Value)
	v.headers, buf = cloneInto(buf, v.headers)
	pz.live = buf
}

// expire poisons the live view's bytes.
func (pz *poisoner) expire() {
	for i := range pz.live {
		pz.live[i] = poisonByte
	}
	pz.live = nil
}
