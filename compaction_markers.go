package eventlog

import (
	"encoding/binary"
	"math"
	"slices"
)

// Removing transaction markers, as Kafka 3.x's cleaner does (KIP-534). A
// cleaning walks its segments from the first, and follows each producer's
// transactions as it goes:
//
//   - a COMMIT or ABORT marker is needed while a transactional batch of its
//     transaction stays (if only emptied, for its producer), or, for an
//     ABORT marker, while the cleaning removes its transaction's records:
//     it then stays as it is, and an ABORT marker keeps its .txnindex
//     entry; a cleaning removing an aborted transaction's records notes a
//     delete horizon a delete.retention.ms away, so that the partition is
//     due for the cleaning that gives the marker its own, written to
//     since or not;
//   - otherwise the first cleaning to see it sets its delete horizon, as
//     for a batch holding tombstones: attribute bit 6, base timestamp now
//     + delete.retention.ms, so that a reader from the start within that
//     time still sees where the transaction ended;
//   - a cleaning at or after the horizon removes it, and its .txnindex
//     entry with it — but not while a producer-state snapshot the
//     partition has was taken while its transaction was open: Open replays
//     producer state from the newest usable snapshot, falling back to
//     older ones, and from such a snapshot the transaction would stay open
//     for good without its marker, holding the last stable offset back. (A
//     replay from the whole log, when no snapshot is usable, finds no batch
//     of the transaction, and so opens none.) The marker that ends a
//     transaction a snapshot at offset S holds open is its producer's first
//     marker at or after S. Snapshots are only ever written at the log
//     end, after every marker a cleaning sees, and those pruned since the
//     cleaning listed them stay pruned: the swap fsyncs the directory
//     before its commit;
//   - a removed marker that is the last control batch of its producer in
//     the segments cleaned, carries the producer's current epoch and
//     follows the producer's last batch with a sequence, stays as an empty
//     control batch (header only, as Kafka's), so that Open, replaying
//     from the log, still knows the epoch. Readers, replay and Verify take
//     an empty control batch for a marker that ends nothing; a cleaning
//     removes it once it no longer carries the epoch.
//
// The .txnindex of each output lists the aborted transactions whose ABORT
// markers it keeps; the swap puts it in place of the first segment's
// (compaction_swap.go), and the partition forgets the aborted transactions
// whose markers went.

// producerLast is what the cleaner needs of a producer the partition
// remembers.
type producerLast struct {
	lastData int64 // last offset of its last batch with a sequence, -1 if none
	epoch    int16
}

// markerKey names a marker: its producer and offset.
type markerKey struct{ producerID, offset int64 }

// cleanedTxns follows the producers' transactions through a cleaning.
type cleanedTxns struct {
	// snapshots are the producer-state snapshots taken while a
	// transaction of the producer was open, by offset, ascending.
	snapshots map[int64][]int64
	// floor is the offset of the oldest snapshot that could not be read:
	// no marker at or after it goes. MaxInt64 if none.
	floor      int64
	lastMarker map[int64]int64 // offset of the producer's last marker seen with its record
	// lastControl is the offset of each producer's last control batch
	// in the segments cleaned.
	lastControl map[int64]int64
	kept        map[int64]bool     // a transactional batch of the producer's transaction stays
	dropped     map[int64]bool     // the cleaning removes records of the producer's aborted transaction
	aborts      map[markerKey]bool // ABORT markers that stay with their record
	removed     map[markerKey]bool // markers removed or emptied
}

// newCleanedTxns reads the partition's snapshots for the transactions
// they hold open.
func (p *Partition) newCleanedTxns() cleanedTxns {
	t := cleanedTxns{snapshots: map[int64][]int64{}, floor: math.MaxInt64, lastMarker: map[int64]int64{},
		kept: map[int64]bool{}, dropped: map[int64]bool{}, aborts: map[markerKey]bool{}, removed: map[markerKey]bool{}}
	if !p.producers.history.Load() {
		return t
	}
	f := &p.producers.files
	f.Lock()
	defer f.Unlock()
	for _, off := range f.offsets {
		path := p.snapshotPath(off)
		b, err := readWholeFile(p.log.opts.FS, path, snapshotLimit(off))
		var snap *producerSnapshot
		if err == nil {
			snap, err = decodeProducerSnapshot(path, off, b)
		}
		if err != nil {
			t.floor = min(t.floor, off)
			continue
		}
		for id, e := range snap.producers {
			if e.txnFirst >= 0 {
				t.snapshots[id] = append(t.snapshots[id], off)
			}
		}
	}
	return t
}

// heldOpen reports whether a snapshot holds open the transaction that the
// marker h, with its record, ends.
func (t *cleanedTxns) heldOpen(h *batchHeader) bool {
	if h.BaseOffset >= t.floor {
		return true
	}
	prev, ok := t.lastMarker[h.ProducerID]
	if !ok {
		prev = -1
	}
	for _, s := range t.snapshots[h.ProducerID] {
		if prev < s && s <= h.BaseOffset {
			return true
		}
	}
	return false
}

// noteDataBatch follows a data batch of a producer that filterData decided
// on: kept is what stays of it, nil if nothing.
func (r *cleanRun) noteDataBatch(h *batchHeader, kept []byte) {
	if h.ProducerID < 0 || h.Attributes&attrTransactional == 0 {
		return
	}
	t := &r.txns
	switch {
	case kept != nil:
		t.kept[h.ProducerID] = true
	case abortedBatch(r.aborted, h):
		t.dropped[h.ProducerID] = true
	}
}

// filterMarker decides on a control batch: it returns the batch as it is,
// with a delete horizon set, emptied, or nil when it goes.
func (r *cleanRun) filterMarker(h *batchHeader, b []byte) (kept []byte, changed bool, err error) {
	t := &r.txns
	id := h.ProducerID
	txnKept := t.kept[id]
	needed := txnKept || t.dropped[id]
	delete(t.kept, id)
	delete(t.dropped, id)
	key := markerKey{id, h.BaseOffset}
	if h.emptyControl() {
		// Emptied by an earlier cleaning, past its horizon: it ends
		// nothing, and stays only for the epoch.
		if r.epochMarker(h) {
			return b, false, nil
		}
		return nil, true, nil
	}
	m, ok, err := parseControlBatch(h, b)
	if err != nil {
		return nil, false, err
	}
	if !ok || id < 0 {
		return b, false, nil // not a transaction marker
	}
	heldOpen := t.heldOpen(h)
	t.lastMarker[id] = h.BaseOffset
	if needed {
		if !m.commit {
			t.aborts[key] = true
			if !txnKept {
				// Its records go now; a later cleaning gives it its
				// horizon. Note one a delete retention away, so that
				// the partition is due for that cleaning even if
				// nothing more is written to it: else an idle
				// partition would keep the marker for good.
				r.noteHorizon(r.now + r.p.config().deleteRetention.Milliseconds())
			}
		}
		return b, false, nil
	}
	if h.Attributes&attrDeleteHorizon == 0 {
		horizon := r.now + r.p.config().deleteRetention.Milliseconds()
		r.noteHorizon(horizon)
		if !m.commit {
			t.aborts[key] = true
		}
		return r.withHorizon(h, b, horizon)
	}
	if r.now < h.BaseTimestamp || heldOpen {
		if r.now < h.BaseTimestamp {
			r.noteHorizon(h.BaseTimestamp)
		}
		if !m.commit {
			t.aborts[key] = true
		}
		return b, false, nil
	}
	t.removed[key] = true
	r.removed++
	if r.epochMarker(h) {
		return r.emptyBatch(h, b), true, nil
	}
	return nil, true, nil
}

// epochMarker reports whether a marker is the last control batch of a
// producer the partition remembers and carries its current epoch, after
// the producer's last batch with a sequence: then the log needs it for the
// epoch.
func (r *cleanRun) epochMarker(h *batchHeader) bool {
	last, ok := r.producers[h.ProducerID]
	return ok && h.ProducerEpoch == last.epoch && h.BaseOffset > last.lastData &&
		r.txns.lastControl[h.ProducerID] == h.BaseOffset
}

// findLastControls sets txns.lastControl from the batch headers of segs,
// the segments a pass cleans.
func (r *cleanRun) findLastControls(segs []*segment) error {
	r.txns.lastControl = map[int64]int64{}
	if len(r.producers) == 0 {
		return nil
	}
	for _, s := range segs {
		data, err := r.data(s)
		if err != nil {
			return err
		}
		for pos := int64(0); pos < int64(len(data)); {
			h, err := parseBatchHeader(data[pos:])
			if err != nil {
				return r.corrupt(s, pos, -1, err)
			}
			if h.isControl() && h.ProducerID >= 0 {
				r.txns.lastControl[h.ProducerID] = h.BaseOffset
			}
			pos += h.size()
		}
	}
	return nil
}

func (r *cleanRun) noteHorizon(horizon int64) {
	if r.horizon < 0 || horizon < r.horizon {
		r.horizon = horizon
	}
}

// withHorizon rebuilds a marker with a delete horizon; its record keeps
// its timestamp.
func (r *cleanRun) withHorizon(h *batchHeader, b []byte, horizon int64) ([]byte, bool, error) {
	area := b[batchHeaderSize:h.size()] // markers are never compressed
	if err := r.parseBatch(h, area); err != nil {
		return nil, false, err
	}
	r.kept = append(r.kept[:0], r.parsed...)
	out, err := r.rebuild(h, b, area, horizon)
	return out, true, err
}

// emptyBatch returns the header of batch b as Kafka's empty batch
// (DefaultRecordBatch.writeEmptyHeader): no records, no compression, no
// delete horizon, a first timestamp of -1 (NO_TIMESTAMP) and the max
// timestamp it had. It is valid until the next rebuild.
func (r *cleanRun) emptyBatch(h *batchHeader, b []byte) []byte {
	out := append(r.out[:0], b[:batchHeaderSize]...)
	r.out = out
	be := binary.BigEndian
	attrs := uint16(h.Attributes) &^ (attrCompressionMask | attrDeleteHorizon)
	be.PutUint32(out[batchLengthPos:], uint32(batchHeaderSize-batchOverhead))
	be.PutUint16(out[batchAttributesPos:], attrs)
	be.PutUint64(out[batchBaseTimestampPos:], math.MaxUint64) // noTimestamp, -1
	be.PutUint64(out[batchMaxTimestampPos:], uint64(h.MaxTimestamp))
	be.PutUint32(out[batchRecordCountPos:], 0)
	be.PutUint32(out[batchCRCPos:], crc32cUpdate(0, out[batchAttributesPos:]))
	return out
}

// outputAborts returns the .txnindex entries of an output of offsets
// [base, end): those of the aborted transactions whose ABORT markers stay.
func (r *cleanRun) outputAborts(base, end int64) []abortedTxn {
	var out []abortedTxn
	for _, a := range r.aborted {
		if a.last >= base && a.last < end && r.txns.aborts[markerKey{a.producerID, a.last}] {
			out = append(out, a)
		}
	}
	sortAborted(out)
	return slices.CompactFunc(out, func(a, b abortedTxn) bool { return a.last == b.last })
}
