package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Producer-state snapshots. A partition's producer state (producer_state.go)
// is checkpointed, as Kafka checkpoints it, in "<offset>.snapshot" files
// beside the segments: the state as of that log offset. A snapshot is a
// metadata file (see metafile.go) whose payload is
//
//	+------------+----------------+----------------+---------------+
//	| offset i64 | txn segment    | txn entries    | producers i32 |
//	|            | base i64       | i32            |               |
//	+------------+----------------+----------------+---------------+
//
// then for each producer
//
//	+----------+---------+-------------+-----------+-----------------+---------+
//	| id i64   | epoch   | coordinator | last      | open txn first  | batches |
//	|          | i16     | epoch i32   | ts i64 ms | offset i64 (-1) | u8 <= 5 |
//	+----------+---------+-------------+-----------+-----------------+---------+
//
// and for each of its last batches, oldest first
//
//	+--------------+-------------+------------------+-----------------+-----------+
//	| first seq i32| last seq i32| first offset i64 | last offset i64 | max ts i64|
//	+--------------+-------------+------------------+-----------------+-----------+
//
// all big-endian. "txn entries" counts the entries of the .txnindex of the
// segment at "txn segment base" that the state includes: that file is
// fsynced before the snapshot is written. These constants are part of the
// format.
//
// The rules that keep Open cheap and right:
//
//   - A partition has no snapshot until the first batch with a producer id
//     is about to be written: then an empty one is written durably at the
//     log end, before that batch. No snapshot therefore means no producer
//     batch, and Open reads nothing.
//   - The checkpointer writes a snapshot of a partition whose state changed
//     (or whose newest snapshot lies before its active segment) at the log
//     end, each RecoveryPointInterval; Close writes one at the log end.
//   - Open deletes, durably, the snapshots past the log end — a crash took
//     the records they describe — and loads the newest of the others, then
//     replays the batch headers after it. A snapshot is never pruned unless
//     a newer one lies below the durable end (the recovery point or the
//     active segment's base), which no crash can cut.
//   - A snapshot or .txnindex that does not check out makes Open rebuild the
//     producer state from the whole log, and log that it did.
const (
	snapshotExt     = ".snapshot"
	snapshotVersion = 1

	snapshotHeaderSize   = 24
	snapshotProducerSize = 31
	snapshotBatchSize    = 32
)

// producerSnapshot is a decoded snapshot.
type producerSnapshot struct {
	offset     int64
	txnSegment int64
	txnEntries int
	producers  map[int64]*producerEntry
}

func encodeProducerSnapshot(s *producerSnapshot) []byte {
	be := binary.BigEndian
	b := make([]byte, 0, snapshotHeaderSize+len(s.producers)*(snapshotProducerSize+producerBatchesKept*snapshotBatchSize))
	b = be.AppendUint64(b, uint64(s.offset))
	b = be.AppendUint64(b, uint64(s.txnSegment))
	b = be.AppendUint32(b, uint32(s.txnEntries))
	b = be.AppendUint32(b, uint32(len(s.producers)))
	ids := make([]int64, 0, len(s.producers))
	for id := range s.producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := s.producers[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = be.AppendUint64(b, uint64(e.lastTimestamp))
		b = be.AppendUint64(b, uint64(e.txnFirst))
		b = append(b, byte(len(e.batches)))
		for _, sb := range e.batches {
			b = be.AppendUint32(b, uint32(sb.firstSeq))
			b = be.AppendUint32(b, uint32(sb.lastSeq))
			b = be.AppendUint64(b, uint64(sb.firstOffset))
			b = be.AppendUint64(b, uint64(sb.lastOffset))
			b = be.AppendUint64(b, uint64(sb.timestamp))
		}
	}
	return b
}

// decodeProducerSnapshot decodes and checks a snapshot payload.
func decodeProducerSnapshot(path string, version uint16, payload []byte) (*producerSnapshot, error) {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Path: path, Offset: -1, Reason: "producer state snapshot: " + fmt.Sprintf(format, args...)}
	}
	if version != snapshotVersion {
		return nil, corrupt("unknown version %d", version)
	}
	r := kafkaReader{b: payload}
	s := &producerSnapshot{offset: r.int64(), txnSegment: r.int64(), txnEntries: int(r.int32())}
	n := int(r.int32())
	if r.err != nil {
		return nil, corrupt("%v", r.err)
	}
	if s.offset < 0 || s.txnSegment < 0 || s.txnSegment > s.offset || s.txnEntries < 0 || n < 0 || n > len(r.b)/snapshotProducerSize {
		return nil, corrupt("impossible header: offset %d, txn segment %d, %d txn entries, %d producers", s.offset, s.txnSegment, s.txnEntries, n)
	}
	s.producers = make(map[int64]*producerEntry, n)
	prev := int64(-1)
	for i := range n {
		id := r.int64()
		e := &producerEntry{epoch: r.int16(), coordinatorEpoch: r.int32(), lastTimestamp: r.int64(), txnFirst: r.int64()}
		k := 0
		if b := r.take(1); b != nil {
			k = int(b[0])
		}
		if r.err != nil {
			return nil, corrupt("producer %d: %v", i, r.err)
		}
		if id <= prev || e.txnFirst < -1 || e.txnFirst >= s.offset || k > producerBatchesKept {
			return nil, corrupt("producer %d: impossible entry: id %d after %d, open transaction at %d, %d batches", i, id, prev, e.txnFirst, k)
		}
		prev = id
		for j := range k {
			sb := sequencedBatch{firstSeq: r.int32(), lastSeq: r.int32(), firstOffset: r.int64(), lastOffset: r.int64(), timestamp: r.int64()}
			if r.err == nil && (sb.firstSeq < 0 || sb.lastSeq < 0 || sb.firstOffset < 0 || sb.firstOffset > sb.lastOffset || sb.lastOffset >= s.offset) {
				return nil, corrupt("producer %d batch %d: impossible sequences [%d, %d] at offsets [%d, %d]", id, j, sb.firstSeq, sb.lastSeq, sb.firstOffset, sb.lastOffset)
			}
			e.batches = append(e.batches, sb)
		}
		if r.err != nil {
			return nil, corrupt("producer %d: %v", id, r.err)
		}
		s.producers[id] = e
	}
	if err := r.done(); err != nil {
		return nil, corrupt("%v", err)
	}
	return s, nil
}

func (p *Partition) snapshotPath(offset int64) string {
	return filepath.Join(p.dir, segmentFileName(offset, snapshotExt))
}

// expireProducersLocked forgets the producers idle longer than
// ProducerIDExpiration (Kafka's producer.id.expiration.ms), except those
// with an open transaction.
func (p *Partition) expireProducersLocked() {
	s := &p.producers
	horizon := p.log.opts.Now().Add(-p.log.opts.ProducerIDExpiration).UnixMilli()
	for id, e := range s.producers {
		if e.txnFirst < 0 && e.lastTimestamp < horizon {
			delete(s.producers, id)
			s.changed = true
		}
	}
}

// captureProducersLocked copies the producer state as of the log end and
// fsyncs the active segment's .txnindex, so that the entries it counts are
// durable before the snapshot is.
func (p *Partition) captureProducersLocked() (*producerSnapshot, error) {
	if err := p.syncTxnIndexLocked(); err != nil {
		return nil, err
	}
	s := &p.producers
	snap := &producerSnapshot{
		offset:     p.logEnd.Load(),
		txnSegment: p.active().base,
		txnEntries: p.activeTxnIndexEntriesLocked(),
		producers:  make(map[int64]*producerEntry, len(s.producers)),
	}
	for id, e := range s.producers {
		c := *e
		c.batches = slices.Clone(e.batches)
		snap.producers[id] = &c
	}
	s.changed = false
	return snap, nil
}

// writeSnapshot writes snap durably and lists it. The caller holds
// producers.files.
func (p *Partition) writeSnapshotFilesLocked(snap *producerSnapshot) error {
	path := p.snapshotPath(snap.offset)
	if err := writeMetaFile(p.log.opts.FS, path, snapshotVersion, encodeProducerSnapshot(snap), true); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f := &p.producers.files
	if i, found := slices.BinarySearch(f.offsets, snap.offset); !found {
		f.offsets = slices.Insert(f.offsets, i, snap.offset)
	}
	return nil
}

// startProducerHistoryLocked writes the empty snapshot at the log end that
// must precede the partition's first batch with a producer id.
func (p *Partition) startProducerHistoryLocked() error {
	p.producers.files.Lock()
	defer p.producers.files.Unlock()
	snap := &producerSnapshot{offset: p.logEnd.Load(), txnSegment: p.active().base}
	if err := p.writeSnapshotFilesLocked(snap); err != nil {
		return p.errorf("producer state: %w", err)
	}
	p.producers.history.Store(true)
	return nil
}

// checkpointProducerState writes a snapshot of a partition with producers
// whose state changed since the last one, or whose last one lies before
// the active segment, and prunes the snapshots no longer needed. The
// checkpointer calls it after the recovery point.
func (p *Partition) checkpointProducerState() error {
	s := &p.producers
	if !s.history.Load() {
		return nil
	}
	p.appendMu.Lock()
	var snap *producerSnapshot
	var err error
	s.files.Lock()
	stale := len(s.files.offsets) == 0 || s.files.offsets[len(s.files.offsets)-1] < p.active().base
	s.files.Unlock()
	p.expireProducersLocked()
	if p.err() == nil && (s.changed || stale) {
		snap, err = p.captureProducersLocked()
	}
	p.appendMu.Unlock()
	if err != nil {
		return p.errorf("producer state snapshot: %w", err)
	}
	s.files.Lock()
	defer s.files.Unlock()
	if snap != nil {
		if err := p.writeSnapshotFilesLocked(snap); err != nil {
			return p.errorf("producer state snapshot: %w", err)
		}
	}
	return p.pruneSnapshotsLocked()
}

// pruneSnapshotsLocked removes the snapshots older than the newest one at
// or below the durable end, which no crash can cut. The caller holds
// producers.files.
func (p *Partition) pruneSnapshotsLocked() error {
	p.checkpoint.mu.Lock()
	rp := p.checkpoint.persisted
	p.checkpoint.mu.Unlock()
	durable := p.active().base
	if rp.base == durable {
		durable = max(durable, rp.offset)
	}
	f := &p.producers.files
	keep := 0
	for i, off := range f.offsets {
		if off <= durable {
			keep = i
		}
	}
	var errs []error
	for _, off := range f.offsets[:keep] {
		if err := p.log.opts.FS.Remove(p.snapshotPath(off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	f.offsets = slices.Delete(f.offsets, 0, keep)
	return errors.Join(errs...)
}

// closeProducerStateLocked writes the snapshot at the log end that lets the
// next Open skip the replay, for a clean Close.
func (p *Partition) closeProducerStateLocked() error {
	s := &p.producers
	if !s.history.Load() {
		return nil
	}
	s.files.Lock()
	defer s.files.Unlock()
	end := p.logEnd.Load()
	if n := len(s.files.offsets); !s.changed && n > 0 && s.files.offsets[n-1] == end {
		return p.closeTxnIndexLocked() // the newest snapshot is at the log end already
	}
	snap, err := p.captureProducersLocked()
	if err == nil {
		err = p.writeSnapshotFilesLocked(snap)
	}
	return errors.Join(err, p.closeTxnIndexLocked())
}

// noteSnapshotFiles records the snapshot files found among the names of
// the partition's directory.
func (p *Partition) noteSnapshotFiles(names []string) {
	f := &p.producers.files
	f.offsets = f.offsets[:0]
	for _, name := range names {
		if off, ok := parseSegmentName(name, snapshotExt); ok {
			f.offsets = append(f.offsets, off)
		}
	}
	slices.Sort(f.offsets)
}

// loadProducerState rebuilds the producer state and transactions at Open,
// after the segments are recovered, from the newest snapshot at or below
// the log end and the batches after it.
func (p *Partition) loadProducerState() error {
	s := &p.producers
	offsets := s.files.offsets
	if len(offsets) == 0 {
		return nil
	}
	fsys := p.log.opts.FS
	end := p.logEnd.Load()
	removed := false
	for len(offsets) > 0 && offsets[len(offsets)-1] > end {
		off := offsets[len(offsets)-1]
		p.log.opts.Logger.Info("eventlog: removing producer state snapshot past the log end", "path", p.snapshotPath(off), "log_end", end)
		if err := fsys.Remove(p.snapshotPath(off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return p.errorf("remove stale snapshot: %w", err)
		}
		offsets = offsets[:len(offsets)-1]
		removed = true
	}
	if removed {
		// Before anything is appended: a stale snapshot that came back
		// would describe records that are not there.
		if err := fsys.SyncDir(p.dir); err != nil {
			return p.errorf("remove stale snapshot: %w", err)
		}
	}
	s.files.offsets = offsets
	if len(offsets) == 0 {
		// Every producer batch was after the log end: none is left.
		return nil
	}
	s.history.Store(true)
	var snap *producerSnapshot
	for i := len(offsets) - 1; i >= 0 && snap == nil; i-- {
		path := p.snapshotPath(offsets[i])
		version, payload, err := readMetaFile(fsys, path)
		if err == nil {
			snap, err = decodeProducerSnapshot(path, version, payload)
		}
		if err != nil {
			p.log.opts.Logger.Warn("eventlog: ignoring unreadable producer state snapshot", "path", path, "err", err)
		}
	}
	if snap == nil || snap.offset < p.logStart.Load() {
		return p.rebuildProducerState("no usable producer state snapshot")
	}
	if err := p.loadFromSnapshot(snap); err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) && ce.Path != "" && filepath.Ext(ce.Path) == txnIndexExt {
			return p.rebuildProducerState(err.Error())
		}
		return err
	}
	return nil
}

// loadFromSnapshot loads snap, the aborted transactions of the .txnindex
// files, and replays the batches after snap.
func (p *Partition) loadFromSnapshot(snap *producerSnapshot) error {
	s := &p.producers
	s.producers = snap.producers
	segs := *p.segments.Load()
	active := segs[len(segs)-1]
	var aborted []abortedTxn
	for i, seg := range segs[:len(segs)-1] {
		entries, err := readTxnIndex(p.log.opts.FS, seg, segs[i+1].base)
		if err != nil {
			return &CorruptError{Path: seg.path(txnIndexExt), Offset: -1, Reason: err.Error()}
		}
		aborted = append(aborted, entries...)
	}
	kept := 0
	if snap.txnSegment == active.base {
		kept = snap.txnEntries
	}
	b, err := readWholeFile(p.log.opts.FS, active.path(txnIndexExt))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return p.errorf("%w", err)
	}
	if len(b) < kept*txnIndexEntrySize {
		return &CorruptError{Path: active.path(txnIndexExt), Offset: -1, Reason: fmt.Sprintf("%d bytes hold fewer than the %d entries the snapshot at offset %d counts", len(b), kept, snap.offset)}
	}
	prefix, err := decodeTxnIndex(b[:kept*txnIndexEntrySize], active.base, snap.offset)
	if err != nil {
		return &CorruptError{Path: active.path(txnIndexExt), Offset: -1, Reason: err.Error()}
	}
	aborted = append(aborted, prefix...)
	for id, e := range s.producers {
		if e.txnFirst >= 0 {
			p.beginTransactionLocked(id, e.txnFirst)
		}
	}
	if len(aborted) > 0 {
		p.txnsLocked().mu.aborted = aborted
	}
	if err := p.replayProducers(snap.offset, p.logEnd.Load()); err != nil {
		return err
	}
	// The active segment's .txnindex: the entries the snapshot counts, then
	// those the replay found, which a crash may have lost or torn.
	var derived []abortedTxn
	if tx := p.txns.Load(); tx != nil {
		tx.mu.aborted = dedupAborted(tx.mu.aborted)
		for _, a := range tx.mu.aborted {
			if a.last >= max(active.base, snap.offset) {
				derived = append(derived, a)
			}
		}
	}
	p.txnIndex.base, p.txnIndex.entries = active.base, kept
	if len(b) > kept*txnIndexEntrySize || len(derived) > 0 {
		if err := p.resetActiveTxnIndex(active, kept, derived); err != nil {
			return p.errorf("%w", err)
		}
	}
	s.changed = snap.offset != p.logEnd.Load()
	p.dropIdleTxns()
	return nil
}

// dedupAborted sorts aborted transactions by marker and drops repeats: an
// abort a closed segment's file holds that the replay found again.
func dedupAborted(a []abortedTxn) []abortedTxn {
	sortAborted(a)
	return slices.CompactFunc(a, func(x, y abortedTxn) bool { return x.last == y.last && x.producerID == y.producerID })
}

// resetActiveTxnIndex cuts the active segment's .txnindex to its first
// kept entries, which are durable and untouched by the cut, and appends
// entries after them.
func (p *Partition) resetActiveTxnIndex(active *segment, kept int, entries []abortedTxn) error {
	f, err := p.log.opts.FS.OpenFile(active.path(txnIndexExt), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(kept) * txnIndexEntrySize); err != nil {
		return errors.Join(err, f.Close())
	}
	w := &p.txnIndex
	w.f, w.base, w.entries = f, active.base, kept
	for _, a := range entries {
		if _, err := f.WriteAt(appendTxnIndexEntry(nil, a), int64(w.entries)*txnIndexEntrySize); err != nil {
			return err
		}
		w.entries++
	}
	w.dirty = true
	return nil
}

// dropIdleTxns forgets the partition's transactions when none is open and
// none aborted: its reads then cost nothing for them.
func (p *Partition) dropIdleTxns() {
	tx := p.txns.Load()
	if tx == nil {
		return
	}
	tx.mu.Lock()
	idle := len(tx.mu.aborted) == 0 && len(tx.mu.unstable) == 0
	tx.mu.Unlock()
	if idle {
		p.txns.Store(nil)
	}
}

// replayProducers applies every batch with a producer id from offset from
// to offset to, the end of the last segment, reading only batch headers and
// the records of markers. Batches it uses have their checksum verified.
func (p *Partition) replayProducers(from, to int64) error {
	segs := *p.segments.Load()
	for i, seg := range segs {
		end := to
		if i+1 < len(segs) {
			end = segs[i+1].base
		}
		if end <= from {
			continue
		}
		size := seg.size.Load()
		m, err := seg.viewFor(size)
		if err != nil {
			return p.errorf("%w", err)
		}
		err = p.replaySegment(seg, m.data[:size], from)
		m.release()
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *Partition) replaySegment(seg *segment, data []byte, from int64) error {
	pos := int64(0)
	if from > seg.base {
		idx, _, err := seg.loadIndex(p.config().indexInterval)
		if err != nil {
			return p.errorf("%w", err)
		}
		pos = skipBatchesBelow(data, seg.startPosition(idx, data, from), from)
	}
	for pos < int64(len(data)) {
		h, err := parseBatchHeader(data[pos:])
		if err == nil && pos+h.size() > int64(len(data)) {
			err = errShortBatch
		}
		if err != nil {
			return p.corrupt(seg, pos, from, "producer state replay: "+err.Error())
		}
		// A read-only Log needs the transactions only, not the
		// sequences of idempotent producers: it skips their other
		// batches, and their checksums.
		skip := p.log.opts.ReadOnly && h.Attributes&attrTransactional == 0 && !h.isControl()
		if h.ProducerID >= 0 && h.lastOffset() >= from && !skip {
			b := data[pos : pos+h.size()]
			if err := verifyBatchCRC(b); err != nil {
				return p.corrupt(seg, pos, h.BaseOffset, "producer state replay: "+err.Error())
			}
			if err := p.applyProducerLocked(&h, b, true); err != nil {
				return p.corrupt(seg, pos, h.BaseOffset, "producer state replay: "+err.Error())
			}
		}
		pos += h.size()
	}
	return nil
}

// rebuildProducerState rebuilds the producer state and the .txnindex
// files from the whole log, when what was stored of them cannot be
// trusted, and writes a snapshot of the result.
func (p *Partition) rebuildProducerState(why string) error {
	p.log.opts.Logger.Warn("eventlog: rebuilding producer state from the log", "dir", p.dir, "reason", why)
	p.producers.producers = nil
	p.txns.Store(nil)
	if err := p.replayProducers(p.logStart.Load(), p.logEnd.Load()); err != nil {
		return err
	}
	var aborted []abortedTxn
	if tx := p.txns.Load(); tx != nil {
		aborted = dedupAborted(tx.mu.aborted)
		tx.mu.aborted = aborted
	}
	segs := *p.segments.Load()
	active := segs[len(segs)-1]
	for i, seg := range segs[:len(segs)-1] {
		var entries []abortedTxn
		for _, a := range aborted {
			if a.last >= seg.base && a.last < segs[i+1].base {
				entries = append(entries, a)
			}
		}
		if err := writeTxnIndex(p.log.opts.FS, seg, entries); err != nil {
			return p.errorf("rebuild %s: %w", seg.path(txnIndexExt), err)
		}
	}
	var inActive []abortedTxn
	for _, a := range aborted {
		if a.last >= active.base {
			inActive = append(inActive, a)
		}
	}
	if err := p.resetActiveTxnIndex(active, 0, inActive); err != nil {
		return p.errorf("rebuild %s: %w", active.path(txnIndexExt), err)
	}
	snap, err := p.captureProducersLocked()
	if err != nil {
		return p.errorf("producer state: %w", err)
	}
	f := &p.producers.files
	f.Lock()
	defer f.Unlock()
	if err := p.writeSnapshotFilesLocked(snap); err != nil {
		return p.errorf("producer state: %w", err)
	}
	for _, off := range f.offsets {
		if off != snap.offset {
			_ = p.log.opts.FS.Remove(p.snapshotPath(off))
		}
	}
	f.offsets = []int64{snap.offset}
	p.dropIdleTxns()
	return nil
}
