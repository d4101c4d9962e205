package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Producer-state snapshots. A partition's producer state (producer_state.go)
// is checkpointed, as Kafka checkpoints it, in "<offset>.snapshot" files
// beside the segments: the state as of that log offset. A snapshot is
// Kafka's producer snapshot (ProducerSnapshot version 1, which
// kafka-dump-log and a broker read), all big-endian:
//
//	+-------------+------------+-------------+
//	| version i16 | crc u32    | entries i32 |
//	| = 1         | CRC-32C of what follows  |
//	+-------------+------------+-------------+
//
// then each entry, 46 bytes:
//
//	+--------+-------+----------+---------+--------+----------+-------------+--------------+
//	| id i64 | epoch | last seq | last    | offset | time-    | coordinator | open txn     |
//	|        | i16   | i32      | offset  | delta  | stamp    | epoch i32   | first offset |
//	|        |       | (-1)     | i64 (-1)| i32    | i64 ms   |             | i64 (-1)     |
//	+--------+-------+----------+---------+--------+----------+-------------+--------------+
//
// Kafka writes one entry per producer, for its last batch. This library
// remembers a producer's last five batches, as a broker does in memory,
// and writes an entry for each, oldest first and the producer's entries
// together, so that a broker, where a later entry of a producer replaces an
// earlier one, loads the last; a producer without batches has one entry
// with sequence and offset -1. An entry's timestamp is its batch's; when
// the producer's last timestamp (a transaction marker's) is later than its
// last batch's, a last entry repeats the last batch with that timestamp.
//
// The first entry, for producer id -1 (which Kafka never assigns, and which
// a broker drops at once as expired: its timestamp is 0), records what
// this library needs of the active segment's .txnindex: the segment's base
// offset (as the last offset) and how many of its entries the state
// includes (as the last sequence); that file is fsynced before the
// snapshot is written.
//
// The rules that keep Open cheap and right:
//
//   - A partition has no snapshot until the first batch with a producer id
//     is about to be written: then an empty one is written durably at the
//     log end, before that batch. No snapshot therefore means no producer
//     batch, and Open reads next to nothing — unless the snapshots were
//     lost, which Open looks for where it costs nothing
//     (lostProducerHistory) and then rebuilds from the whole log.
//   - The checkpointer writes a snapshot of a partition whose state changed
//     (or whose newest snapshot lies before its active segment) at the log
//     end, each RecoveryPointInterval; Close writes one at the log end.
//   - Open deletes, durably, the snapshots past the log end — a crash took
//     the records they describe — and loads the newest of the others, then
//     replays the batch headers after it; when a cut of Options.Repair
//     left none, it rebuilds from the whole log. A snapshot is never pruned unless
//     a newer one lies below the durable end (the recovery point or the
//     active segment's base), which no crash can cut.
//   - A snapshot or .txnindex that does not check out makes Open rebuild the
//     producer state from the whole log, and log that it did.
const (
	snapshotExt     = ".snapshot"
	snapshotVersion = 1

	snapshotHeaderSize = 10
	snapshotEntrySize  = 46
	// snapshotTxnIndexID is the producer id of the entry about the
	// .txnindex.
	snapshotTxnIndexID = -1
)

// snapshotLimit is the most bytes a snapshot at offset holds: an entry a
// batch below offset, each ending at an offset of its own; at most one more
// per producer, each of which appended below offset (its newest time, when
// that is not its last batch's); and the .txnindex entry.
func snapshotLimit(offset int64) int64 {
	entries := 2*min(max(offset, 0), 1<<40) + 1 // 1<<40: no file is that large
	return snapshotHeaderSize + entries*snapshotEntrySize
}

// producerSnapshot is a decoded snapshot.
type producerSnapshot struct {
	offset     int64 // from the file name
	txnSegment int64
	txnEntries int
	producers  map[int64]*producerEntry
}

// snapshotEntry is one entry of a snapshot file.
type snapshotEntry struct {
	id               int64
	epoch            int16
	lastSeq          int32
	lastOffset       int64
	offsetDelta      int32
	timestamp        int64
	coordinatorEpoch int32
	txnFirst         int64
}

func (e *snapshotEntry) append(b []byte) []byte {
	be := binary.BigEndian
	b = be.AppendUint64(b, uint64(e.id))
	b = be.AppendUint16(b, uint16(e.epoch))
	b = be.AppendUint32(b, uint32(e.lastSeq))
	b = be.AppendUint64(b, uint64(e.lastOffset))
	b = be.AppendUint32(b, uint32(e.offsetDelta))
	b = be.AppendUint64(b, uint64(e.timestamp))
	b = be.AppendUint32(b, uint32(e.coordinatorEpoch))
	return be.AppendUint64(b, uint64(e.txnFirst))
}

// encodeProducerSnapshot returns the snapshot file's bytes.
func encodeProducerSnapshot(s *producerSnapshot) []byte {
	be := binary.BigEndian
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+(1+len(s.producers)*(producerBatchesKept+1))*snapshotEntrySize)
	be.PutUint16(b, snapshotVersion)
	entries := 1
	b = (&snapshotEntry{
		id: snapshotTxnIndexID, epoch: -1, lastSeq: int32(s.txnEntries), lastOffset: s.txnSegment,
		coordinatorEpoch: -1, txnFirst: -1,
	}).append(b)
	ids := make([]int64, 0, len(s.producers))
	for id := range s.producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := s.producers[id]
		entry := snapshotEntry{id: id, epoch: e.epoch, lastSeq: noSequence, lastOffset: -1,
			timestamp: e.lastTimestamp, coordinatorEpoch: e.coordinatorEpoch, txnFirst: e.txnFirst}
		for _, sb := range e.batches {
			entry.lastSeq, entry.lastOffset = sb.lastSeq, sb.lastOffset
			entry.offsetDelta, entry.timestamp = int32(sb.lastOffset-sb.firstOffset), sb.timestamp
			b = entry.append(b)
			entries++
		}
		if len(e.batches) == 0 || entry.timestamp != e.lastTimestamp {
			entry.timestamp = e.lastTimestamp
			b = entry.append(b)
			entries++
		}
	}
	be.PutUint32(b[6:], uint32(entries))
	be.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

// decodeProducerSnapshot decodes and checks the snapshot file b, named
// for offset.
func decodeProducerSnapshot(path string, offset int64, b []byte) (*producerSnapshot, error) {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Path: path, Offset: -1, Reason: "producer state snapshot: " + fmt.Sprintf(format, args...)}
	}
	if len(b) < snapshotHeaderSize {
		return nil, corrupt("%d bytes are too short", len(b))
	}
	be := binary.BigEndian
	if v := int16(be.Uint16(b)); v != snapshotVersion {
		return nil, corrupt("unknown version %d", v)
	}
	if crc32.Checksum(b[6:], castagnoli) != be.Uint32(b[2:]) {
		return nil, corrupt("checksum mismatch")
	}
	r := kafkaReader{b: b[6:]}
	n := int(r.int32())
	if n < 1 || n != len(r.b)/snapshotEntrySize || len(r.b)%snapshotEntrySize != 0 {
		return nil, corrupt("%d entries in %d bytes", n, len(r.b))
	}
	next := func() snapshotEntry {
		return snapshotEntry{id: r.int64(), epoch: r.int16(), lastSeq: r.int32(), lastOffset: r.int64(),
			offsetDelta: r.int32(), timestamp: r.int64(), coordinatorEpoch: r.int32(), txnFirst: r.int64()}
	}
	txn := next()
	s := &producerSnapshot{offset: offset, txnSegment: txn.lastOffset, txnEntries: int(txn.lastSeq)}
	if txn != (snapshotEntry{id: snapshotTxnIndexID, epoch: -1, lastSeq: txn.lastSeq, lastOffset: txn.lastOffset, coordinatorEpoch: -1, txnFirst: -1}) ||
		s.offset < 0 || s.txnSegment < 0 || s.txnSegment > s.offset || s.txnEntries < 0 {
		return nil, corrupt("no .txnindex entry first, or an impossible one: producer %d, offset %d, txn segment %d, %d txn entries", txn.id, s.offset, s.txnSegment, s.txnEntries)
	}
	s.producers = make(map[int64]*producerEntry, n-1)
	var e *producerEntry
	var first snapshotEntry // e's first entry
	done := false           // e's entries are complete
	for range n - 1 {
		entry := next()
		if e == nil || entry.id != first.id {
			if e != nil && entry.id < first.id || entry.id < 0 || entry.txnFirst < -1 || entry.txnFirst >= s.offset {
				return nil, corrupt("impossible entry: producer %d after %d, open transaction at %d", entry.id, first.id, entry.txnFirst)
			}
			e = &producerEntry{epoch: entry.epoch, coordinatorEpoch: entry.coordinatorEpoch, txnFirst: entry.txnFirst}
			s.producers[entry.id] = e
			first, done = entry, false
		} else if done || entry.epoch != first.epoch || entry.coordinatorEpoch != first.coordinatorEpoch || entry.txnFirst != first.txnFirst {
			return nil, corrupt("producer %d: entries that disagree, or follow its last", entry.id)
		}
		e.lastTimestamp = entry.timestamp
		k := len(e.batches)
		switch {
		case entry.lastOffset < 0:
			// A producer without batches: its only entry.
			if entry.lastSeq != noSequence || entry.lastOffset != -1 || entry.offsetDelta != 0 || k > 0 {
				return nil, corrupt("producer %d: an entry without a batch among its batches", entry.id)
			}
			done = true
		case k > 0 && e.batches[k-1].lastOffset == entry.lastOffset:
			// The producer's last timestamp, later than its last batch's.
			if b := e.batches[k-1]; b.lastSeq != entry.lastSeq || b.lastOffset-b.firstOffset != int64(entry.offsetDelta) || entry.timestamp <= b.timestamp {
				return nil, corrupt("producer %d: a last entry that does not repeat its last batch", entry.id)
			}
			done = true
		default:
			sb := sequencedBatch{
				firstSeq: firstSequence(entry.lastSeq, entry.offsetDelta), lastSeq: entry.lastSeq,
				firstOffset: entry.lastOffset - int64(entry.offsetDelta), lastOffset: entry.lastOffset, timestamp: entry.timestamp,
			}
			if sb.lastSeq < 0 || entry.offsetDelta < 0 || sb.firstOffset < 0 || sb.lastOffset >= s.offset || k == producerBatchesKept ||
				k > 0 && sb.firstOffset <= e.batches[k-1].lastOffset {
				return nil, corrupt("producer %d: impossible batch %d: sequences up to %d at offsets [%d, %d]", entry.id, k, sb.lastSeq, sb.firstOffset, sb.lastOffset)
			}
			e.batches = append(e.batches, sb)
		}
	}
	return s, nil
}

// firstSequence returns the base sequence of a batch whose last sequence
// is last and whose records span delta offsets: lastSequence's inverse.
func firstSequence(last, delta int32) int32 {
	if last < delta {
		return last + (math.MaxInt32 - delta) + 1
	}
	return last - delta
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
	if err := replaceFile(p.log.opts.FS, path, encodeProducerSnapshot(snap), true); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f := &p.producers.files
	if i, found := slices.BinarySearch(f.offsets, snap.offset); !found {
		f.offsets = slices.Insert(f.offsets, i, snap.offset)
	}
	return nil
}

// startProducerHistoryLocked writes the empty snapshot at the log end that
// must precede the partition's first batch with a producer id, after an
// empty .txnindex for each closed segment that has none (see
// txn_index.go).
func (p *Partition) startProducerHistoryLocked() error {
	if err := p.createClosedTxnIndexes(); err != nil {
		return p.errorf("producer state: %w", err)
	}
	p.producers.files.Lock()
	defer p.producers.files.Unlock()
	snap := &producerSnapshot{offset: p.logEnd.Load(), txnSegment: p.active().base}
	if err := p.writeSnapshotFilesLocked(snap); err != nil {
		return p.errorf("producer state: %w", err)
	}
	p.producers.history.Store(true)
	return nil
}

// createClosedTxnIndexes creates, durably, an empty .txnindex for each
// closed segment that has none, for a partition whose producer history
// starts. A cleaning may remove a merged segment's files meanwhile, and
// leave the one made for it behind, without its .log, inside the offsets of
// the segment it went into: nothing reads it there, and nothing counts it
// as a segment lost.
func (p *Partition) createClosedTxnIndexes() error {
	fsys := p.log.opts.FS
	segs := *p.segments.Load()
	created := false
	for _, seg := range segs[:len(segs)-1] {
		if _, err := fsys.Stat(seg.path(txnIndexExt)); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := createTxnIndex(fsys, seg); err != nil {
			return fmt.Errorf("create %s: %w", seg.path(txnIndexExt), err)
		}
		created = true
	}
	if !created {
		return nil
	}
	return fsys.SyncDir(p.dir)
}

// checkpointProducerState writes a snapshot of a partition with producers
// whose state changed since the last one, or whose last one lies before
// the active segment, and prunes the snapshots no longer needed. The
// checkpointer calls it after the recovery point. Nothing is written or
// removed once DeleteTopic moved the partition's directory away: its names
// may be a new topic's.
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
	return p.removals.inPlace(func() error {
		if snap != nil {
			if err := p.writeSnapshotFilesLocked(snap); err != nil {
				return p.errorf("producer state snapshot: %w", err)
			}
		}
		return p.pruneSnapshotsLocked()
	})
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
// the partition's directory, and whether any .txnindex file is.
func (p *Partition) noteSnapshotFiles(names []string) {
	f := &p.producers.files
	f.offsets = f.offsets[:0]
	f.txnIndexes = false
	for _, name := range names {
		if off, ok := parseSegmentName(name, snapshotExt); ok {
			f.offsets = append(f.offsets, off)
		}
		if _, ok := parseSegmentName(name, txnIndexExt); ok {
			f.txnIndexes = true
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
		why := p.lostProducerHistory(removed)
		if why == "" {
			return nil // no producer batch: nothing to load
		}
		s.history.Store(true)
		return p.rebuildProducerState(why)
	}
	s.history.Store(true)
	var snap *producerSnapshot
	for i := len(offsets) - 1; i >= 0 && snap == nil; i-- {
		path := p.snapshotPath(offsets[i])
		b, err := readWholeFile(fsys, path, snapshotLimit(offsets[i]))
		if err == nil {
			snap, err = decodeProducerSnapshot(path, offsets[i], b)
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
			return p.rebuildProducerState(ce.Path + ": " + ce.Reason)
		}
		return err
	}
	return nil
}

// lostProducerHistory returns why a partition without a snapshot at or
// below its log end must have its producer state rebuilt from the log, or
// "" when it has no producer batch. Without snapshots the log alone knows,
// and reading it all would make every Open of a partition that never had a
// producer cost the size of its log; so Open looks only where the loss
// shows for nothing or next to nothing:
//
//   - snapshots removed because a cut of Options.Repair left them past the
//     log end: the cut went below the recovery point, and the batches they
//     describe may lie before it. (A crash cuts only after the recovery
//     point, which the newest snapshot kept is at or below: when it takes
//     every snapshot it takes every producer batch.)
//   - a .txnindex file: every closed segment of a partition with producer
//     history has one (see txn_index.go), as has an active segment with an
//     aborted transaction.
//   - a batch with a producer id among the last ones of the active segment,
//     from its last offset index entry on (at most an index interval of
//     bytes and a batch).
//
// A partition whose snapshots were all deleted, with no closed segment
// (or none with its .txnindex left), no aborted transaction, and producer
// batches only further back in the active segment, looks like one that
// never had a producer.
func (p *Partition) lostProducerHistory(removed bool) string {
	switch {
	case removed && p.log.opts.Repair:
		return "producer state snapshots past the repaired log end removed"
	case p.producers.files.txnIndexes:
		return "no producer state snapshot, but .txnindex files"
	}
	active := p.active()
	size := active.size.Load()
	if size == 0 {
		return ""
	}
	idx, _, err := active.loadIndex(p.config().indexInterval)
	if err != nil {
		return "" // a read reports it
	}
	m, err := active.viewFor(size)
	if err != nil {
		return ""
	}
	defer m.release()
	data := m.data[:size]
	pos, _ := active.startPosition(idx, data, p.logEnd.Load()-1)
	for pos < size {
		h, err := parseBatchHeader(data[pos:])
		if err != nil {
			return ""
		}
		if h.ProducerID >= 0 {
			return "no producer state snapshot, but batches with a producer id"
		}
		pos += h.size()
	}
	return ""
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
		if errors.Is(err, fs.ErrNotExist) {
			return &CorruptError{Path: seg.path(txnIndexExt), Offset: -1, Reason: "missing: every closed segment of a partition with producers has one, empty when no transaction was aborted in it (see txn_index.go)"}
		}
		if err != nil {
			return &CorruptError{Path: seg.path(txnIndexExt), Offset: -1, Reason: err.Error()}
		}
		aborted = append(aborted, entries...)
	}
	kept := 0
	if snap.txnSegment == active.base {
		kept = snap.txnEntries
	}
	if int64(kept)*txnIndexEntrySize > txnIndexLimit(active.base, snap.offset) {
		return &CorruptError{Path: active.path(txnIndexExt), Offset: -1, Reason: fmt.Sprintf("the snapshot at offset %d counts %d entries, more than offsets %d to %d can have", snap.offset, kept, active.base, snap.offset)}
	}
	// Only the entries the snapshot counts are read, and whether there are
	// more: those the replay finds again.
	b, err := readFilePrefix(p.log.opts.FS, active.path(txnIndexExt), int64(kept)*txnIndexEntrySize+1)
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
	// The aborts of the closed segments below those replayed came from
	// their files, which a cut can shorten unseen: a read that needs them
	// checks them first (txn_index_check.go).
	if replayed := sort.Search(len(segs), func(i int) bool { return segs[i].base >= snap.offset }); replayed > 0 {
		p.txnCheck.from.Store(segs[min(replayed, len(segs)-1)].base)
	}
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
		start, _ := seg.startPosition(idx, data, from)
		pos = skipBatchesBelow(data, start, from)
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
	p.txnCheck.from.Store(0) // every abort is derived from the log
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
