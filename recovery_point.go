package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Recovery points. A partition's recovery point is a place in its active
// segment up to which the log is known to be durable: every byte before it
// was covered by an fsync that returned. It is Kafka's recovery-point
// checkpoint, kept per partition in "recovery.meta" beside the segments, so
// that it goes wherever the partition directory goes (a topic deleted and
// created again cannot inherit a stale one).
//
// The rule at Open after a crash: below the recovery point, damage is
// corruption — no crash can explain it, since those bytes were durable —
// and Open refuses with a *CorruptError unless Options.Repair; above it,
// the first batch that is incomplete or fails its checksum ends the log and
// everything from there is cut, whatever follows. A disk persists unsynced
// pages in any order, so above the recovery point a damaged batch followed
// by good ones is an ordinary crash, not corruption. No acknowledged record
// is lost by that cut: an fsync-acknowledged record lies before the end of
// the last fsync that returned, and every byte before it is intact, so the
// first damaged batch is after it. Segments before the active one were
// fsynced before the next was created: they are below the recovery point
// by construction.
//
// Only a point an fsync covered is ever recorded (Partition.syncTo notes it
// after the fsync returns), so the persisted point can lag the durable data
// but never run ahead of it. A lagging point is safe: more is treated as
// tail and scanned, and damage there is cut rather than refused. One ahead
// would make Open refuse a healthy log, or serve bytes it never checked.
//
// Writing it costs the append path nothing: the Log's checkpointer writes
// the points that moved every Options.RecoveryPointInterval, in the
// background, with the active segment's indexes (fsynced, so that a reopen
// after a crash reads them instead of scanning). Close writes none: after a
// clean Close the next Open scans nothing anyway, and the next Log writes
// the point within an interval; a crash before that finds an older point,
// which lags. A partition without a readable recovery.meta (new, written by
// an older version, or damaged, which is logged) has its point at the
// start of its active segment.
//
// recovery.meta is a metadata file (see metafile.go) whose payload is
//
//	+--------------------+--------------------+--------------------+
//	| segment base i64   | position i64       | next offset i64    |
//	+--------------------+--------------------+--------------------+
//
// all big-endian: the base offset of the segment the point is in, the byte
// position in its .log file, and the offset of the first record at or after
// that position. These constants are part of the format.
const (
	recoveryPointName    = "recovery.meta"
	recoveryPointVersion = 1
	recoveryPointSize    = 24
)

// recoveryPoint is a persisted recovery point.
type recoveryPoint struct {
	base   int64 // base offset of the segment
	pos    int64 // bytes of the segment's .log known durable
	offset int64 // offset after the last record before pos
}

// recoveryCheckpoint is a partition's record of what recovery.meta holds.
type recoveryCheckpoint struct {
	// mu serializes checkpoints of the partition and guards persisted.
	mu        sync.Mutex
	persisted recoveryPoint
}

func encodeRecoveryPoint(rp recoveryPoint) []byte {
	b := make([]byte, 0, recoveryPointSize)
	b = binary.BigEndian.AppendUint64(b, uint64(rp.base))
	b = binary.BigEndian.AppendUint64(b, uint64(rp.pos))
	return binary.BigEndian.AppendUint64(b, uint64(rp.offset))
}

func decodeRecoveryPoint(path string, version uint16, payload []byte) (recoveryPoint, error) {
	if version != recoveryPointVersion || len(payload) != recoveryPointSize {
		return recoveryPoint{}, &CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("unknown recovery point version %d of %d bytes", version, len(payload))}
	}
	rp := recoveryPoint{
		base:   int64(binary.BigEndian.Uint64(payload)),
		pos:    int64(binary.BigEndian.Uint64(payload[8:])),
		offset: int64(binary.BigEndian.Uint64(payload[16:])),
	}
	if rp.base < 0 || rp.pos < 0 || rp.offset < rp.base {
		return recoveryPoint{}, &CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("impossible recovery point %+v", rp)}
	}
	return rp, nil
}

// readRecoveryPoint loads the partition's persisted recovery point; ok is
// false when there is none to trust. A damaged file counts as none: the
// point only ever lags, so forgetting it is safe, while refusing to open
// over a file whose loss is harmless would not be.
func (p *Partition) readRecoveryPoint() (rp recoveryPoint, ok bool) {
	path := filepath.Join(p.dir, recoveryPointName)
	version, payload, err := readMetaFile(p.log.opts.FS, path)
	if err == nil {
		rp, err = decodeRecoveryPoint(path, version, payload)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.log.opts.Logger.Warn("eventlog: ignoring unreadable recovery point", "path", path, "err", err)
		}
		return recoveryPoint{}, false
	}
	p.checkpoint.persisted = rp
	return rp, true
}

// noteDurable records that an fsync covering everything up to end
// returned. Leaders of the group commit call it one at a time.
func (p *Partition) noteDurable(end *position) {
	if cur := p.durable.Load(); cur == nil || end.offset > cur.offset || end.seg.base > cur.seg.base {
		p.durable.Store(end)
	}
}

// checkpointRecoveryPoint persists the partition's recovery point if an
// fsync moved it since the last checkpoint: it writes and fsyncs the
// active segment's indexes, then replaces recovery.meta durably. Failing is
// harmless — the previous point stays, and it lags — so the checkpointer
// only logs the error. Nothing is written once DeleteTopic moved the
// partition's directory away: its names may be a new topic's.
func (p *Partition) checkpointRecoveryPoint() error {
	var held *segment // released once the directory is let go (see inPlace)
	err := p.removals.inPlace(func() error {
		p.checkpoint.mu.Lock()
		defer p.checkpoint.mu.Unlock()
		d := p.durable.Load()
		if d == nil || d.seg != p.active() || d.pos == 0 {
			return nil // nothing durable in the active segment yet
		}
		rp := recoveryPoint{base: d.seg.base, pos: d.pos, offset: d.offset}
		if rp == p.checkpoint.persisted {
			return nil
		}
		if !d.seg.acquire() {
			return nil
		}
		held = d.seg
		if err := d.seg.writeIndexFilesDurably(); err != nil {
			return p.errorf("checkpoint recovery point: %w", err)
		}
		if err := writeMetaFile(p.log.opts.FS, filepath.Join(p.dir, recoveryPointName), recoveryPointVersion, encodeRecoveryPoint(rp), true); err != nil {
			return p.errorf("checkpoint recovery point: %w", err)
		}
		p.checkpoint.persisted = rp
		return nil
	})
	if held != nil {
		_ = held.release()
	}
	return err
}

// writeIndexFilesDurably writes and fsyncs the indexes of the active
// segment as they are now, unless a seal (which writes them whole) got
// there first. Entries past the recovery point may be included; recovery
// ignores those.
//
// Only the writes hold indexFiles, so that a seal cannot interleave its
// own; the fsyncs come after, because a roll seals holding the partition's
// append lock, and appends must not wait for the checkpointer's fsyncs. A
// seal that rewrites the files meanwhile only makes the fsyncs cover its
// bytes instead, as the seal's bytes replace these anyway; recovery checks
// whatever a crash leaves of either against the log (resumeFromIndex).
func (s *segment) writeIndexFilesDurably() error {
	s.mu.RLock()
	idx := segmentIndex{offsets: s.mu.index.offsets, times: s.mu.index.times}
	s.mu.RUnlock()
	files, err := s.writeIndexFilesUnsynced(&idx)
	for _, f := range files {
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	return err
}

// writeIndexFilesUnsynced writes the index files from idx, as
// writeIndexFiles does, unless the segment is sealed, and returns them
// open for the caller to fsync and close.
func (s *segment) writeIndexFilesUnsynced(idx *segmentIndex) ([]File, error) {
	s.indexFiles.Lock()
	defer s.indexFiles.Unlock()
	if s.indexFiles.sealed {
		return nil, nil
	}
	if len(idx.offsets) == 0 {
		return nil, s.writeIndexFiles(idx) // removes stale files
	}
	var files []File
	for _, w := range []struct {
		ext  string
		data []byte
	}{
		{indexExt, encodeOffsetIndex(idx.offsets)},
		{timeIndexExt, encodeTimeIndex(idx.times)},
	} {
		f, err := s.fsys.OpenFile(s.path(w.ext), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err == nil {
			if _, err = f.Write(w.data); err != nil {
				err = errors.Join(err, f.Close())
			}
		}
		if err != nil {
			for _, f := range files {
				err = errors.Join(err, f.Close())
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// checkpointRecoveryPoints runs until stop is closed, persisting the
// recovery points that moved every RecoveryPointInterval. It has its own
// goroutine so that its fsyncs never delay the background fsyncs that
// appenders wait on.
func (l *Log) checkpointRecoveryPoints(stop <-chan struct{}) {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.RecoveryPointInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			_ = l.checkpointAll() // logged; a point not written lags, which is safe
		case <-stop:
			return
		}
	}
}

// checkpointAll checkpoints every partition's recovery point and returns
// the failures, which it also logs.
func (l *Log) checkpointAll() error {
	// Not under the topic registry's lock, which CreateTopic needs: a
	// checkpoint fsyncs.
	var parts []*Partition
	l.forEachPartition(func(p *Partition) { parts = append(parts, p) })
	var errs []error
	for _, p := range parts {
		if err := p.checkpointRecoveryPoint(); err != nil {
			l.opts.Logger.Warn("eventlog: recovery point not written", "err", err)
			errs = append(errs, err)
		}
		if err := p.checkpointProducerState(); err != nil {
			l.opts.Logger.Warn("eventlog: producer state snapshot not written", "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// activeRecovery is what the scan of an active segment after a crash found.
type activeRecovery struct {
	idx *segmentIndex
	b   *indexBuilder
	r   scanResult // of the whole segment: r.end is where it is cut
	// fromIndex is set when the bytes below the recovery point were not
	// scanned but resumed from the index files.
	fromIndex bool
	scanned   int64 // bytes read batch by batch
}

// scanActive checks the active segment's bytes after a crash against its
// recovery point rp: up to rp they must be intact, from there the first
// bad batch ends the segment. Below rp it resumes from the index files the
// checkpointer wrote, scanning only from the last index entry before rp,
// so that a reopen costs O(bytes written since the last checkpoint), not
// O(segment). A *CorruptError reports damage below rp. An rp.offset of -1
// means that the offset at rp is not known (after a clean shutdown rp is the
// end of the segment): the bytes below it are scanned. With Options.Repair
// they are scanned too, so that Repair finds damage anywhere in the
// segment, not only after the last index entry.
func (p *Partition) scanActive(seg *segment, data []byte, rp recoveryPoint) (activeRecovery, error) {
	interval := p.config().indexInterval
	var a activeRecovery
	if rp.pos > int64(len(data)) {
		return a, &CorruptError{Path: seg.path(logExt), Pos: int64(len(data)), Offset: -1,
			Reason: fmt.Sprintf("the segment is %d bytes, but its first %d bytes were fsynced (recovery point at offset %d)", len(data), rp.pos, rp.offset)}
	}
	below := data[:rp.pos]
	next := max(rp.offset, seg.base)
	if rp.pos > 0 && rp.offset >= 0 && !p.log.opts.Repair {
		a.idx, a.b, a.fromIndex = seg.resumeFromIndex(below, int64(len(data)), rp, interval)
	}
	if !a.fromIndex {
		a.idx = &segmentIndex{}
		a.b = &indexBuilder{base: seg.base, interval: interval, maxTs: -1}
		r := scanDense(below, 0, seg.base, a.b, a.idx)
		if r.err == nil && r.nextOffset != rp.offset && rp.pos > 0 && rp.offset >= 0 {
			r.err = fmt.Errorf("the batches before the recovery point end at offset %d, not %d", r.nextOffset, rp.offset)
			r.end = rp.pos
		}
		if r.err != nil {
			a.r = r
			where := fmt.Sprintf("this is before the recovery point at byte %d, which was fsynced", rp.pos)
			if rp.offset < 0 {
				where = "the segment was fsynced whole by a clean Close"
			}
			return a, &CorruptError{Path: seg.path(logExt), Pos: r.end, Offset: r.nextOffset,
				Reason: fmt.Sprintf("%v; %s, so no crash explains it (open with Options.Repair to cut it)", r.err, where)}
		}
		if rp.pos > 0 {
			next = r.nextOffset
		}
	}
	a.scanned = int64(len(data))
	if a.fromIndex {
		a.scanned -= int64(a.idx.offsets[len(a.idx.offsets)-1].pos)
	}
	a.r = scanDense(data, rp.pos, next, a.b, a.idx)
	return a, nil
}

// resumeFromIndex rebuilds the index and builder state of the bytes below a
// recovery point from the segment's index files, scanning only the batches
// after the last entry before it. ok is false when the files cannot be
// trusted for that (missing, damaged, or not matching the log); the caller
// then scans from the start. segmentBytes is the segment's whole size.
func (s *segment) resumeFromIndex(below []byte, segmentBytes int64, rp recoveryPoint, interval int64) (*segmentIndex, *indexBuilder, bool) {
	offBytes, err1 := readWholeFile(s.fsys, s.path(indexExt), indexFileLimit(segmentBytes, offsetEntrySize))
	timeBytes, err2 := readWholeFile(s.fsys, s.path(timeIndexExt), indexFileLimit(segmentBytes, timeEntrySize))
	if err1 != nil || err2 != nil {
		return nil, nil, false
	}
	offsets, ok := decodeOffsetIndex(offBytes, math.MaxInt64)
	if !ok {
		return nil, nil, false
	}
	n := 0
	for n < len(offsets) && int64(offsets[n].pos)+batchHeaderSize <= rp.pos {
		n++
	}
	if n == 0 {
		return nil, nil, false
	}
	offsets = offsets[:n]
	tail := offsets[n-1]
	times, ok := decodeTimeIndex(timeBytes, math.MaxUint32)
	if !ok {
		return nil, nil, false
	}
	m := 0
	for m < len(times) && times[m].rel <= tail.rel {
		m++
	}
	times = times[:m]
	// The last entry kept is the newest timestamp below the tail, by
	// which retention deletes the segment once it is closed: it must
	// match the batches.
	idx := &segmentIndex{offsets: offsets, times: times}
	if !idx.lastTimeEntriesHold(m, below, s.base) {
		return nil, nil, false
	}
	// The builder adds no entries below the recovery point: they are in
	// the files already.
	b := &indexBuilder{base: s.base, interval: interval, maxTs: -1, bytesSince: -1 << 62}
	expected := s.base + int64(tail.rel)
	r := scanDense(below, int64(tail.pos), expected, b, &segmentIndex{})
	if r.err != nil || r.batches == 0 || r.nextOffset != rp.offset || r.lastPos-int64(tail.pos) >= interval {
		return nil, nil, false
	}
	b.maxTs = max(b.maxTs, idx.maxTimestamp())
	b.bytesSince = r.end - int64(tail.pos)
	return idx, b, true
}

// scanDense is scan for an active segment, whose offsets have no gaps
// (only a cleaning makes gaps, and it never touches the active segment):
// each batch must start at the offset where the one before ended, which
// also catches a damaged base offset, which lies outside the checksum.
func scanDense(data []byte, pos, next int64, b *indexBuilder, x *segmentIndex) scanResult {
	r := scanResult{end: pos, nextOffset: next, firstTs: -1}
	for r.end < int64(len(data)) {
		h, _, err := batchAt(data, r.end)
		if err == nil && h.BaseOffset != r.nextOffset {
			err = fmt.Errorf("batch base offset %d is not the expected %d", h.BaseOffset, r.nextOffset)
		}
		if err != nil {
			r.err = err
			return r
		}
		b.add(x, &h, r.end)
		r.lastPos = r.end
		r.batches++
		r.end += h.size()
		r.nextOffset = h.lastOffset() + 1
	}
	return r
}
