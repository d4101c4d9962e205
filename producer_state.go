package eventlog

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Producer state: what a partition knows of the idempotent and
// transactional producers that wrote to it, as Kafka's
// ProducerStateManager keeps it. For each producer id: its epoch, the
// sequence numbers and offsets of its last five batches (so that a batch
// appended again is answered with its first offsets), and the first offset
// of its open transaction in the partition, if any. It is checked and
// updated under the partition's append lock, by every batch that carries a
// producer id, transaction markers included; batches without one (the
// Producer's default, Partition.Append without AppendOptions.Producer) cost
// a comparison.
//
// The state survives reopening through snapshot files (see
// producer_state_snapshot.go) and a scan of the batches after the newest
// one.

// producerBatchesKept is how many of a producer's batches a partition
// remembers, as Kafka does (max.in.flight.requests.per.connection is at
// most 5 for an idempotent producer).
const producerBatchesKept = 5

// noSequence is Kafka's base sequence of a batch without one.
const noSequence = -1

// producerState is a partition's producer state.
type producerState struct {
	// history is set once the partition may hold a batch with a producer
	// id: a snapshot file was written before the first one. Without it
	// Open, the checkpointer and Close skip the partition.
	history atomic.Bool

	// Guarded by the partition's appendMu.
	producers map[int64]*producerEntry
	changed   bool // since the last snapshot was captured

	// replayedTo is, in a read-only Log, the offset below which the
	// producer batches are applied (see refreshProducersReadOnly).
	replayedTo int64

	// files serializes the writing and pruning of snapshot files.
	files struct {
		sync.Mutex
		offsets []int64 // of the snapshot files, ascending
		// txnIndexes is set when Open found a .txnindex file.
		txnIndexes bool
	}
}

// producerEntry is one producer's state in a partition.
type producerEntry struct {
	epoch            int16
	coordinatorEpoch int32 // of its last transaction marker
	lastTimestamp    int64 // when it last appended, or its batches' max timestamp if later, ms
	txnFirst         int64 // first offset of its open transaction here; -1: none
	batches          []sequencedBatch
}

// sequencedBatch is what a partition remembers of a batch, to recognise it
// when it is appended again.
type sequencedBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64 // max timestamp, ms
}

// lastSeq returns the sequence of the producer's last batch, or noSequence.
func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return noSequence
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// lastSequence returns the sequence of a batch's last record, given its
// base sequence and last offset delta. Sequences wrap from MaxInt32 to 0,
// as Kafka's do.
func lastSequence(first, delta int32) int32 {
	if first > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - first) - 1
	}
	return first + delta
}

// inSequence reports whether a batch with base sequence next may follow
// one whose last sequence was last.
func inSequence(last, next int32) bool {
	return next == last+1 || last == math.MaxInt32 && next == 0
}

// checkProducerLocked checks a batch with a producer id before it is
// written, under the append lock. A batch the producer already appended
// returns dup with the offset it got then; a fenced epoch or a sequence out
// of order fails. txnID, when known, is the producer's transactional ID,
// for the errors to name; a transactional batch that would begin a
// transaction of its producer here is refused unless the transaction
// coordinator has that transaction open with the partition in it
// (checkBegin). The first such batch of a partition first writes the
// empty snapshot that marks where producer batches begin.
func (p *Partition) checkProducerLocked(h *batchHeader, txnID string) (dupBase int64, dup bool, err error) {
	dupBase, dup, err = p.checkSequenceLocked(h, txnID)
	if err != nil || dup || txnID == "" || h.Attributes&attrTransactional == 0 || h.isControl() {
		return dupBase, dup, err
	}
	if e := p.producers.producers[h.ProducerID]; e != nil && e.txnFirst >= 0 {
		return dupBase, dup, nil // its transaction here is open already
	}
	if err := p.log.txns.checkBegin(txnID, ProducerID{h.ProducerID, h.ProducerEpoch}, TopicPartition{p.topic, p.id}); err != nil {
		return -1, false, p.errorf("%w", err)
	}
	return dupBase, dup, nil
}

// checkSequenceLocked is checkProducerLocked but for the transaction
// coordinator's check.
func (p *Partition) checkSequenceLocked(h *batchHeader, txnID string) (dupBase int64, dup bool, err error) {
	s := &p.producers
	e := s.producers[h.ProducerID]
	if e == nil {
		if !s.history.Load() {
			if err := p.startProducerHistoryLocked(); err != nil {
				return -1, false, err
			}
		}
		// A producer the partition does not know (new, or expired) may
		// start at any sequence, as in Kafka.
		return -1, false, nil
	}
	id := ProducerID{h.ProducerID, h.ProducerEpoch}
	if h.ProducerEpoch < e.epoch {
		of, why := "", ""
		if txnID != "" {
			of, why = fmt.Sprintf(" of transactional id %q", txnID), p.log.txns.fencedWhy(txnID, id)
		}
		return -1, false, p.errorf("producer %s%s: %w: the partition has seen epoch %d%s", id, of, ErrProducerFenced, e.epoch, why)
	}
	if h.isControl() {
		return -1, false, nil
	}
	if h.Attributes&attrTransactional == 0 && e.txnFirst >= 0 {
		return -1, false, p.errorf("producer %s: %w: a batch outside a transaction while its transaction from offset %d is open", id, ErrTransactionState, e.txnFirst)
	}
	if h.BaseSequence == noSequence {
		return -1, false, nil
	}
	if h.BaseSequence < 0 {
		return -1, false, p.errorf("producer %s: %w: base sequence %d is negative", id, ErrOutOfOrderSequence, h.BaseSequence)
	}
	last := lastSequence(h.BaseSequence, h.LastOffsetDelta)
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 {
			return -1, false, p.errorf("producer %s: %w: a new epoch starts at sequence 0, not %d", id, ErrOutOfOrderSequence, h.BaseSequence)
		}
		return -1, false, nil
	}
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b.firstOffset, true, nil
		}
	}
	if prev := e.lastSeq(); !inSequence(prev, h.BaseSequence) {
		reason := fmt.Sprintf("base sequence %d does not follow the last one, %d", h.BaseSequence, prev)
		if len(e.batches) > 0 && seqBefore(h.BaseSequence, e.batches[0].firstSeq) {
			reason = fmt.Sprintf("base sequence %d is older than the last %d batches remembered, which start at %d", h.BaseSequence, producerBatchesKept, e.batches[0].firstSeq)
		}
		return -1, false, p.errorf("producer %s: %w: %s", id, ErrOutOfOrderSequence, reason)
	}
	return -1, false, nil
}

// seqBefore reports whether sequence a comes before b, allowing for the
// wrap at MaxInt32 (sequences less than half the range apart).
func seqBefore(a, b int32) bool {
	d := int64(b) - int64(a)
	if d < 0 {
		d += math.MaxInt32 + 1
	}
	return d > 0 && d < math.MaxInt32/2
}

// applyProducerLocked records a batch with a producer id that was just
// written at its base offset h.BaseOffset; batch holds its bytes, which a
// transaction marker is read from. It is also how Open replays the batches
// after a snapshot (replay set): an abort marker then adds no .txnindex
// entry, which Open writes itself.
func (p *Partition) applyProducerLocked(h *batchHeader, batch []byte, replay bool) error {
	var marker controlMarker
	if h.isControl() && !h.emptyControl() {
		var ok bool
		var err error
		if marker, ok, err = parseControlBatch(h, batch); err != nil || !ok {
			return err // not a transaction marker: nothing to remember
		}
	}
	s := &p.producers
	if s.producers == nil {
		s.producers = make(map[int64]*producerEntry)
	}
	e := s.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, txnFirst: -1}
		s.producers[h.ProducerID] = e
		p.log.txns.ids.noteAppended(h.ProducerID)
	}
	s.changed = true
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	// Expiry counts from the append, not from the records' own times,
	// which may be long past (old events imported with their times): a
	// producer that just appended must not be forgotten at the next
	// checkpoint, or its retry would be stored twice. A replay at Open
	// cannot know when a batch was appended, so it counts from now.
	e.lastTimestamp = max(e.lastTimestamp, h.MaxTimestamp, p.log.opts.Now().UnixMilli())
	if h.emptyControl() {
		// A marker the cleaner emptied, kept for the producer's epoch:
		// its transaction's batches were all cleaned away before it.
		return nil
	}
	if h.isControl() {
		e.coordinatorEpoch = marker.coordinatorEpoch
		if e.txnFirst < 0 {
			return nil // no transaction of the producer here: nothing to end
		}
		a, aborted := p.endTransactionLocked(h.ProducerID, e.txnFirst, h.BaseOffset, marker.commit)
		e.txnFirst = -1
		if aborted && !replay {
			return p.appendTxnIndexLocked(a)
		}
		return nil
	}
	if h.Attributes&attrTransactional != 0 && e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
		p.beginTransactionLocked(h.ProducerID, h.BaseOffset)
	}
	if h.BaseSequence >= 0 {
		if len(e.batches) == producerBatchesKept {
			copy(e.batches, e.batches[1:])
			e.batches = e.batches[:producerBatchesKept-1]
		}
		e.batches = append(e.batches, sequencedBatch{
			firstSeq:    h.BaseSequence,
			lastSeq:     lastSequence(h.BaseSequence, h.LastOffsetDelta),
			firstOffset: h.BaseOffset,
			lastOffset:  h.lastOffset(),
			timestamp:   h.MaxTimestamp,
		})
	}
	return nil
}

// setProducerFields writes a producer id, epoch and base sequence, and
// the transactional attribute, into an encoded batch and recomputes its
// checksum.
func setProducerFields(batch []byte, id ProducerID, seq int32, transactional bool) {
	putProducerFields(batch, id, seq, transactional)
	putBatchCRC(batch)
}
