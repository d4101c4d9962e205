package eventlog

import "fmt"

// IsolationLevel says which records of transactions a Consumer reads
// (Kafka's isolation.level).
type IsolationLevel int8

const (
	// ReadCommitted, the default, reads the records of committed
	// transactions only, and records sent outside transactions: up to the
	// partition's last stable offset (the first record of a transaction
	// not yet decided), skipping the records of aborted transactions.
	// Kafka's read_committed; its default is read_uncommitted, but an
	// in-process log has no reason to show what a crash or an abort will
	// take back.
	ReadCommitted IsolationLevel = iota
	// ReadUncommitted reads every record below the high watermark, those
	// of open and aborted transactions included: Kafka's read_uncommitted.
	ReadUncommitted
)

// String returns Kafka's name for the level.
func (i IsolationLevel) String() string {
	switch i {
	case ReadCommitted:
		return "read_committed"
	case ReadUncommitted:
		return "read_uncommitted"
	}
	return fmt.Sprintf("IsolationLevel(%d)", int8(i))
}

func (i IsolationLevel) valid() bool { return i == ReadCommitted || i == ReadUncommitted }

// abortFilter is what a read_committed cursor knows of the transactions of
// the part of the partition it reads: where to stop, and which batches to
// skip. It is made per read, and only for a partition that has had a
// transaction; a batch is checked against it with a comparison or two,
// its records never.
type abortFilter struct {
	stable int64        // the last stable offset: nothing at or after it is read
	ranges []abortedTxn // aborted transactions overlapping the read, by first offset
	next   int          // ranges[:next] have begun
	active []abortedTxn // begun ranges not known to have ended
}

// readCommitted makes the cursor read as a read_committed consumer does:
// up to the last stable offset, without the batches of aborted
// transactions. It costs an atomic load on a partition that never had a
// transaction. Call it again after moving the cursor's high watermark.
// It fails when the closed segments whose aborted transactions the read
// needs could not be checked against the log (txn_index_check.go).
func (c *batchCursor) readCommitted() error {
	c.committed = true
	c.txn = nil
	if err := c.p.checkTxnIndexes(c.offset); err != nil {
		return err
	}
	tx := c.p.txns.Load()
	if tx == nil {
		return nil
	}
	stable := tx.lastStable(c.hw.offset, c.p.logStart.Load())
	c.txn = &abortFilter{stable: stable, ranges: tx.abortedIn(c.offset, stable)}
	return nil
}

// skip reports whether the batch h belongs to an aborted transaction.
// Batches must come in offset order.
func (f *abortFilter) skip(h *batchHeader) bool {
	for f.next < len(f.ranges) && f.ranges[f.next].first <= h.BaseOffset {
		f.active = append(f.active, f.ranges[f.next])
		f.next++
	}
	if h.Attributes&attrTransactional == 0 || h.isControl() || len(f.active) == 0 {
		return false
	}
	kept := f.active[:0]
	skip := false
	for _, a := range f.active {
		if a.last < h.BaseOffset {
			continue // ended before this batch
		}
		kept = append(kept, a)
		skip = skip || a.producerID == h.ProducerID
	}
	f.active = kept
	return skip
}

// endOffset is where a consumer at level stops reading the partition: its
// high watermark, or its last stable offset when reading committed.
func (p *Partition) endOffset(level IsolationLevel) int64 {
	if level == ReadUncommitted {
		return p.HighWatermark()
	}
	return p.LastStableOffset()
}

// abortedBatch reports whether the batch h lies in one of ranges, the
// aborted transactions of the part of a partition the cleaner cleans.
func abortedBatch(ranges []abortedTxn, h *batchHeader) bool {
	if h.Attributes&attrTransactional == 0 || h.isControl() {
		return false
	}
	for _, a := range ranges {
		if a.producerID == h.ProducerID && a.first <= h.BaseOffset && h.BaseOffset <= a.last {
			return true
		}
	}
	return false
}

// skipTo moves a poll past batches that held no record for the consumer
// (markers, aborted transactions), up to next, when it read nothing else:
// the position must not stay before them.
func (s *pollScratch) skipTo(next int64) {
	if next <= s.cursor {
		return
	}
	if s.delivered == s.cursor {
		s.delivered = next
	}
	s.cursor = next
}
