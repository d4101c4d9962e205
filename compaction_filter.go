package eventlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// Writing a cleaning's outputs: which records stay, how a batch is rebuilt
// without the others, and how segments are merged into outputs.

// cleanSegments writes the outputs of a pass. segs, in order, go into as few
// outputs as fit: a segment joins the output before it while the output's
// size so far plus the segment's (which cleaning only shrinks) fits
// segment.bytes, its offsets stay within 2^31-1 of the output's base (the
// index stores 32-bit relative offsets), and the index entries fit
// segment.index.bytes. An output that would hold just one segment in which
// nothing changes is not written: that segment stays as it is.
func (r *cleanRun) cleanSegments(segs []*segment, ends []int64, m *offsetMap, mapEnd int64) ([]*cleanedSegment, error) {
	var (
		outs []*cleanedSegment
		cur  *outputWriter
	)
	fail := func(err error) ([]*cleanedSegment, error) {
		if cur != nil {
			err = errors.Join(err, cur.close())
			outs = append(outs, &cur.out)
		}
		return nil, errors.Join(err, removeCleaned(r.p.log.opts.FS, r.p.dir, outs))
	}
	for i, s := range segs {
		data, err := r.data(s)
		if err != nil {
			return fail(err)
		}
		if cur != nil && r.canJoin(cur, s, ends[i]) {
			if !cur.written() {
				first, err := r.data(cur.out.old[0])
				if err == nil {
					err = cur.start(first)
				}
				if err != nil {
					return fail(err)
				}
			}
			cur.out.old = append(cur.out.old, s)
			cur.out.end = ends[i]
		} else {
			if cur != nil {
				out, err := cur.finish()
				if err != nil {
					return fail(err)
				}
				if out != nil {
					outs = append(outs, out)
				}
			}
			cur = r.newOutput(s, ends[i])
		}
		if err := r.cleanInto(cur, s, data, m, mapEnd); err != nil {
			return fail(err)
		}
	}
	if cur != nil {
		out, err := cur.finish()
		if err != nil {
			return fail(err)
		}
		if out != nil {
			outs = append(outs, out)
		}
	}
	return outs, nil
}

// canJoin tells whether s may go into the output w.
func (r *cleanRun) canJoin(w *outputWriter, s *segment, end int64) bool {
	size, entries := w.out.size, len(w.out.index.offsets)
	if !w.written() {
		size, entries = w.out.old[0].size.Load(), indexEntries(w.out.old[0])
	}
	cfg := r.p.config()
	return size+s.size.Load() <= cfg.segmentBytes &&
		end-1-w.out.base <= math.MaxInt32 &&
		entries+indexEntries(s)+1 <= cfg.maxIndexOffset
}

// cleanInto copies the records of s that stay into w. While w holds only s
// and nothing changed, nothing is written.
func (r *cleanRun) cleanInto(w *outputWriter, s *segment, data []byte, m *offsetMap, mapEnd int64) error {
	for pos := int64(0); pos < int64(len(data)); {
		if err := r.check(); err != nil {
			return err
		}
		h, b, err := r.nextBatch(s, data, pos)
		if err != nil {
			return r.corrupt(s, pos, -1, err)
		}
		if err := r.throttle(h.size()); err != nil {
			return err
		}
		r.bytesRead += h.size()
		kept, changed, err := r.filterBatch(&h, b, m, mapEnd)
		if err != nil {
			return r.corrupt(s, pos, h.BaseOffset, err)
		}
		if changed && !w.written() {
			if err := w.start(data[:pos]); err != nil {
				return err
			}
		}
		if w.written() && kept != nil {
			if err := w.emit(kept); err != nil {
				return err
			}
		}
		pos += h.size()
	}
	return nil
}

// nextBatch returns the complete batch at pos of s, checking its checksum
// unless buildMap did already: the mapping shows the same bytes.
func (r *cleanRun) nextBatch(s *segment, data []byte, pos int64) (batchHeader, []byte, error) {
	if from, ok := r.verified[s]; !ok || pos < from {
		return batchAt(data, pos)
	}
	h, err := parseBatchHeader(data[pos:])
	if err == nil && pos+h.size() > int64(len(data)) {
		err = errShortBatch
	}
	if err != nil {
		return h, nil, err
	}
	return h, data[pos : pos+h.size()], nil
}

// outputWriter writes one output, "<base>.log.cleaned", and its index. It
// opens the file only when something must be written.
type outputWriter struct {
	r       *cleanRun
	out     cleanedSegment
	f       File
	w       *bufio.Writer
	builder indexBuilder
}

func (r *cleanRun) newOutput(first *segment, end int64) *outputWriter {
	return &outputWriter{
		r:       r,
		out:     cleanedSegment{base: first.base, end: end, old: []*segment{first}, index: &segmentIndex{}},
		builder: indexBuilder{base: first.base, interval: r.p.config().indexInterval, maxTs: -1},
	}
}

func (w *outputWriter) written() bool { return w.w != nil }

// start creates the file and writes the whole batches of prefix: what the
// output's first segment holds before its first change.
func (w *outputWriter) start(prefix []byte) error {
	p := w.r.p
	f, err := p.log.opts.FS.OpenFile(w.out.path(p.dir), os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return p.errorf("cleaning: %w", err)
	}
	w.f, w.w = f, bufio.NewWriterSize(f, 1<<20)
	for q := int64(0); q < int64(len(prefix)); {
		h, err := parseBatchHeader(prefix[q:])
		if err != nil {
			return p.errorf("cleaning: %w", err) // checked by batchAt before
		}
		if err := w.emit(prefix[q : q+h.size()]); err != nil {
			return err
		}
		q += h.size()
	}
	return nil
}

// emit appends a batch to the output.
func (w *outputWriter) emit(batch []byte) error {
	h, err := parseBatchHeader(batch)
	if err != nil {
		return w.r.p.errorf("cleaning: rebuilt batch: %w", err)
	}
	w.builder.add(w.out.index, &h, w.out.size)
	if _, err := w.w.Write(batch); err != nil {
		return w.r.p.errorf("cleaning: write %s: %w", w.out.path(w.r.p.dir), err)
	}
	w.out.size += int64(len(batch))
	w.r.bytesWritten += int64(len(batch))
	return w.r.throttle(int64(len(batch)))
}

// finish flushes and fsyncs the output and returns it, or nil when nothing
// was written.
func (w *outputWriter) finish() (*cleanedSegment, error) {
	if !w.written() {
		return nil, nil
	}
	p := w.r.p
	path := w.out.path(p.dir)
	if err := w.w.Flush(); err != nil {
		return nil, errors.Join(p.errorf("cleaning: write %s: %w", path, err), w.close())
	}
	if err := w.f.Sync(); err != nil {
		return nil, errors.Join(p.errorf("cleaning: fsync %s: %w", path, err), w.close())
	}
	if err := w.close(); err != nil {
		return nil, p.errorf("cleaning: %w", err)
	}
	if p.producers.history.Load() {
		// The output's .txnindex: its first segment's name stays, and
		// with it that file, which the swap replaces by this one.
		var b []byte
		for _, a := range w.r.outputAborts(w.out.base, w.out.end) {
			b = appendTxnIndexEntry(b, a)
		}
		if err := writeWholeFile(p.log.opts.FS, w.out.txnIndexPath(p.dir), b, true); err != nil {
			return nil, p.errorf("cleaning: %w", err)
		}
		w.out.txnIndex = true
	}
	w.builder.seal(w.out.index)
	w.out.maxTs = w.builder.maxTs
	return &w.out, nil
}

func (w *outputWriter) close() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	return f.Close()
}

// indexEntries is the number of offset index entries of a loaded segment.
func indexEntries(s *segment) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.index == nil {
		return 0
	}
	return len(s.mu.index.offsets)
}

// rawRecord is a record as the cleaner reads it: where its bytes are and
// the fields it decides on.
type rawRecord struct {
	start, end int // the record in the records area, length prefix included
	restAt     int // position of the offset delta: the bytes after the timestamp delta
	attr       byte
	tsDelta    int64
	offDelta   int64
	key        []byte // nil for a null key
	tombstone  bool
	hash       uint64 // of key, set by hashKeys
}

var errBadRecord = errors.New("malformed record")

// nextRawRecord parses the record at p of a records area.
func nextRawRecord(area []byte, p int) (rawRecord, error) {
	r := rawRecord{start: p}
	n, p := readVarint(area, p)
	if p < 0 || n < minRecordSize-1 || n > int64(len(area)-p) {
		return r, errBadRecord
	}
	r.end = p + int(n)
	rec := area[:r.end]
	r.attr = rec[p]
	p++
	if r.tsDelta, p = readVarint(rec, p); p < 0 {
		return r, errBadRecord
	}
	r.restAt = p
	var keyLen, valLen int64
	if r.offDelta, p = readVarint(rec, p); p < 0 || r.offDelta < 0 {
		return r, errBadRecord
	}
	if keyLen, p = readVarint(rec, p); p < 0 || keyLen < -1 || keyLen > int64(len(rec)-p) {
		return r, errBadRecord
	}
	if keyLen >= 0 {
		r.key = rec[p : p+int(keyLen) : p+int(keyLen)]
		p += int(keyLen)
	}
	if valLen, p = readVarint(rec, p); p < 0 || valLen < -1 || valLen > int64(len(rec)-p) {
		return r, errBadRecord
	}
	r.tombstone = valLen < 0
	return r, nil
}

// parseBatch parses every record of a batch's records area into r.parsed.
func (r *cleanRun) parseBatch(h *batchHeader, area []byte) error {
	r.parsed = r.parsed[:0]
	p, prev := 0, int64(-1)
	for i := 0; i < int(h.RecordCount); i++ {
		rec, err := nextRawRecord(area, p)
		if err == nil && (rec.offDelta <= prev || rec.offDelta > int64(h.LastOffsetDelta)) {
			err = errors.New("offset delta out of order or out of range")
		}
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		p, prev = rec.end, rec.offDelta
		r.parsed = append(r.parsed, rec)
	}
	if p != len(area) {
		return fmt.Errorf("%d trailing bytes after %d records", len(area)-p, h.RecordCount)
	}
	return nil
}

// lookupWindow is how many records' map lookups are prepared together (see
// offsetMap.touch): enough for their cache misses to overlap, few enough
// for what they touch to stay in the cache and the TLB.
const lookupWindow = 128

// hashKeys hashes the keys of recs whose offsets lie in [from, to), and warms
// the map's cache for their lookups.
func (r *cleanRun) hashKeys(m *offsetMap, recs []rawRecord, base, from, to int64) {
	r.hashes = r.hashes[:0]
	for i := range recs {
		rec := &recs[i]
		if off := base + rec.offDelta; rec.key != nil && off >= from && off < to {
			rec.hash = m.hash(rec.key)
			r.hashes = append(r.hashes, rec.hash)
		}
	}
	r.sink += m.touch(r.hashes)
}

// records returns the records area of a batch, decompressed.
func (r *cleanRun) records(h *batchHeader, b []byte) ([]byte, error) {
	raw := b[batchHeaderSize:h.size()]
	if c := h.compression(); c != CompressionNone {
		var err error
		r.raw, err = decompress(r.raw[:0], raw, c, maxReadDecompressedBytes(r.p.config().maxBatchBytes))
		if cap(r.raw) > maxRetainedScratch {
			defer func() { r.raw = nil }()
		}
		return r.raw, err
	}
	return raw, nil
}

// filterBatch decides which records of a batch stay. It returns the batch as
// it is when nothing changes, a rebuilt batch (valid until the next call)
// when some records go or a delete horizon must be set, and nil when no
// record stays. Records at or past mapEnd are beyond what the map knows and
// stay, as in Kafka.
func (r *cleanRun) filterBatch(h *batchHeader, b []byte, m *offsetMap, mapEnd int64) (kept []byte, changed bool, err error) {
	if h.isControl() {
		return r.filterMarker(h, b) // compaction_markers.go
	}
	kept, changed, err = r.filterData(h, b, m, mapEnd)
	if err == nil {
		r.noteDataBatch(h, kept)
	}
	return kept, changed, err
}

// filterData is filterBatch for a batch of records.
func (r *cleanRun) filterData(h *batchHeader, b []byte, m *offsetMap, mapEnd int64) (kept []byte, changed bool, err error) {
	if abortedBatch(r.aborted, h) {
		// Gone even when it is its producer's last: a transactional
		// producer starts a new epoch, at sequence 0, whenever it is
		// made again, and its last marker, which stays while it
		// carries the epoch (compaction_markers.go), carries it.
		r.removed += int64(h.RecordCount)
		return nil, true, nil
	}
	area, err := r.records(h, b)
	if err != nil {
		return nil, false, err
	}
	if err := r.parseBatch(h, area); err != nil {
		return nil, false, err
	}
	hasHorizon := h.Attributes&attrDeleteHorizon != 0
	expired := hasHorizon && r.now >= h.BaseTimestamp
	r.kept = r.kept[:0]
	tombstones := false
	for w := 0; w < len(r.parsed); w += lookupWindow {
		recs := r.parsed[w:min(w+lookupWindow, len(r.parsed))]
		r.hashKeys(m, recs, h.BaseOffset, 0, mapEnd)
		for _, rec := range recs {
			if off := h.BaseOffset + rec.offDelta; off < mapEnd {
				if rec.key == nil {
					continue // a compacted topic has no place for it; Kafka drops it too
				}
				if newest, ok := m.get(rec.key, rec.hash); ok && newest > off {
					continue
				}
				if rec.tombstone && expired {
					continue
				}
			}
			tombstones = tombstones || rec.tombstone
			r.kept = append(r.kept, rec)
		}
	}
	r.removed += int64(int(h.RecordCount) - len(r.kept))
	horizon := int64(-1)
	switch {
	case hasHorizon:
		horizon = h.BaseTimestamp
	case tombstones:
		horizon = r.now + r.p.config().deleteRetention.Milliseconds()
	}
	if tombstones && (r.horizon < 0 || horizon < r.horizon) {
		r.horizon = horizon
	}
	switch {
	case len(r.kept) == 0:
		return r.dropBatch(h, b)
	case len(r.kept) == int(h.RecordCount) && (hasHorizon || !tombstones):
		return b, false, nil
	}
	out, err := r.rebuild(h, b, area, horizon)
	return out, true, err
}

// dropBatch is filterBatch's answer for a batch none of whose records stay:
// no batch, unless it is the last batch of a producer the partition
// remembers. That one stays, emptied of its records, as in Kafka: its
// header carries the producer's epoch and last sequence, which producer
// state rebuilt from the log after a crash needs, so that a retry of the
// batch is recognised rather than stored again.
func (r *cleanRun) dropBatch(h *batchHeader, b []byte) (kept []byte, changed bool, err error) {
	if last, ok := r.producers[h.ProducerID]; !ok || h.ProducerID < 0 || last.lastData != h.lastOffset() {
		return nil, true, nil
	}
	if h.RecordCount == 0 {
		return b, false, nil // emptied by an earlier cleaning
	}
	return r.emptyBatch(h, b), true, nil
}

// rebuild encodes a batch of the records in r.kept, keeping the original's
// base offset, last offset delta, producer fields and codec. With a delete
// horizon the base timestamp is the horizon (attribute bit 6); otherwise it
// is the first kept record's timestamp. Timestamp deltas are re-encoded
// against the new base, so record timestamps stay as they were.
func (r *cleanRun) rebuild(h *batchHeader, b, area []byte, horizon int64) ([]byte, error) {
	oldBase := h.BaseTimestamp
	attrs := h.Attributes
	newBase := oldBase + r.kept[0].tsDelta
	if horizon >= 0 {
		newBase = horizon
		attrs |= attrDeleteHorizon
	}
	maxTS := h.MaxTimestamp
	if attrs&attrLogAppendTime == 0 {
		maxTS = math.MinInt64
		for _, k := range r.kept {
			maxTS = max(maxTS, oldBase+k.tsDelta)
		}
	}
	recs := r.recs[:0]
	for _, k := range r.kept {
		if newBase == oldBase {
			recs = append(recs, area[k.start:k.end]...)
			continue
		}
		delta := oldBase + k.tsDelta - newBase
		rest := area[k.restAt:k.end]
		recs = appendVarint(recs, int64(1+varintLen(delta)+len(rest)))
		recs = append(recs, k.attr)
		recs = appendVarint(recs, delta)
		recs = append(recs, rest...)
	}
	out := append(r.out[:0], b[:batchHeaderSize]...)
	var err error
	if out, err = compress(out, recs, h.compression()); err != nil {
		return nil, err
	}
	r.recs, r.out = recs, out
	length := len(out) - batchOverhead
	if length > math.MaxInt32 {
		return nil, fmt.Errorf("%w: rebuilt batch of %d bytes", ErrRecordTooLarge, len(out))
	}
	be := binary.BigEndian
	be.PutUint32(out[batchLengthPos:], uint32(length))
	be.PutUint16(out[batchAttributesPos:], uint16(attrs))
	be.PutUint64(out[batchBaseTimestampPos:], uint64(newBase))
	be.PutUint64(out[batchMaxTimestampPos:], uint64(maxTS))
	be.PutUint32(out[batchRecordCountPos:], uint32(len(r.kept)))
	be.PutUint32(out[batchCRCPos:], crc32cUpdate(0, out[batchAttributesPos:]))
	return out, nil
}
