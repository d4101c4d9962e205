package eventlog

import (
	"sort"
	"sync"
)

// A partition's transactions as its readers see them. A partition that
// never held a transactional batch has none (Partition.txns is nil), and
// its reads cost one pointer check more than they did before transactions
// existed. Otherwise:
//
//   - the last stable offset (LSO) is the first offset of the oldest
//     transaction not yet decided — open, or whose marker is not yet below
//     the high watermark — or the high watermark when there is none.
//     read_committed readers stop there;
//   - the aborted transactions are kept in memory, from the .txnindex
//     files (txn_index.go), so that a read_committed read knows, before it
//     reads a batch, whether the batch belongs to one: no look-ahead for
//     the marker.

// partitionTxns is a partition's transactions.
type partitionTxns struct {
	mu struct {
		sync.Mutex
		// unstable are the transactions that hold the last stable offset
		// back.
		unstable []unstableTxn
		// aborted are the aborted transactions, by marker offset.
		aborted []abortedTxn
	}
}

// unstableTxn is a transaction not yet decided for readers.
type unstableTxn struct {
	producerID int64
	first      int64
	marker     int64 // offset of its marker; -1 while open
}

// txnsLocked returns the partition's transactions, making them on first
// use. The append lock (or Open) must be held.
func (p *Partition) txnsLocked() *partitionTxns {
	tx := p.txns.Load()
	if tx == nil {
		tx = new(partitionTxns)
		p.txns.Store(tx)
	}
	return tx
}

// beginTransactionLocked records the first batch of a producer's
// transaction in the partition.
func (p *Partition) beginTransactionLocked(producerID, first int64) {
	tx := p.txnsLocked()
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.mu.unstable = append(tx.mu.unstable, unstableTxn{producerID: producerID, first: first, marker: -1})
}

// endTransactionLocked records the marker, at offset marker, of the
// transaction of producerID that began at first, and returns the aborted
// transaction it makes, if it aborts.
func (p *Partition) endTransactionLocked(producerID, first, marker int64, commit bool) (abortedTxn, bool) {
	tx := p.txnsLocked()
	tx.mu.Lock()
	defer tx.mu.Unlock()
	lso := marker + 1
	hw := p.HighWatermark()
	kept := tx.mu.unstable[:0]
	for _, u := range tx.mu.unstable {
		if u.producerID == producerID && u.first == first && u.marker < 0 {
			u.marker = marker
		} else if u.marker >= 0 && u.marker < hw {
			continue // decided, and durable: no reader waits for it
		} else if u.marker < 0 || u.marker > marker {
			lso = min(lso, u.first)
		}
		kept = append(kept, u)
	}
	clear(tx.mu.unstable[len(kept):])
	tx.mu.unstable = kept
	if commit {
		return abortedTxn{}, false
	}
	a := abortedTxn{producerID: producerID, first: first, last: marker, lastStable: lso}
	tx.mu.aborted = append(tx.mu.aborted, a)
	return a, true
}

// LastStableOffset is the partition's last stable offset (Kafka's LSO):
// the first offset of its oldest transaction still open or not yet
// decided, or the high watermark when it has none. Consumers reading
// committed records (ReadCommitted) read up to it.
func (p *Partition) LastStableOffset() int64 {
	hw := p.HighWatermark()
	tx := p.txns.Load()
	if tx == nil {
		return hw
	}
	return tx.lastStable(hw, p.logStart.Load())
}

// lastStable returns the last stable offset under the high watermark hw,
// forgetting the transactions decided below it.
func (tx *partitionTxns) lastStable(hw, logStart int64) int64 {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	lso := hw
	kept := tx.mu.unstable[:0]
	for _, u := range tx.mu.unstable {
		if u.marker >= 0 && u.marker < hw {
			continue
		}
		kept = append(kept, u)
		lso = min(lso, u.first)
	}
	clear(tx.mu.unstable[len(kept):])
	tx.mu.unstable = kept
	return max(lso, min(logStart, hw))
}

// abortedIn returns the aborted transactions that may hold batches in
// [from, to), by first offset.
func (tx *partitionTxns) abortedIn(from, to int64) []abortedTxn {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	all := tx.mu.aborted
	i := sort.Search(len(all), func(i int) bool { return all[i].last >= from })
	var out []abortedTxn
	for _, a := range all[i:] {
		if a.first < to {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out
}

// AbortedTransaction is an aborted transaction of a partition, as a Kafka
// fetch response lists it: a read_committed client skips the batches of
// ProducerID from FirstOffset up to the ABORT marker at MarkerOffset.
type AbortedTransaction struct {
	ProducerID   int64
	FirstOffset  int64
	MarkerOffset int64
}

// AbortedTransactions returns, ordered by first offset, the aborted
// transactions that may have batches in offsets [from, to): what a Kafka
// broker answers a read_committed fetch of those offsets with. A partition
// that never had a transaction has none (nil).
//
// The first call that needs a closed segment's aborted transactions checks
// them against the segment's records, as a read_committed read does (see
// Idempotent producers in the package documentation); should that fail
// (a segment cannot be mapped), the error is logged and the answer is what
// the segments' .txnindex files list.
func (p *Partition) AbortedTransactions(from, to int64) []AbortedTransaction {
	if p.log.enter() {
		if err := p.checkTxnIndexes(from); err != nil {
			p.log.opts.Logger.Error("eventlog: aborted transactions not checked against the log", "topic", p.topic, "partition", p.id, "err", err)
		}
		p.log.exit()
	}
	tx := p.txns.Load()
	if tx == nil {
		return nil
	}
	var out []AbortedTransaction
	for _, a := range tx.abortedIn(from, to) {
		out = append(out, AbortedTransaction{ProducerID: a.producerID, FirstOffset: a.first, MarkerOffset: a.last})
	}
	return out
}

// forgetAborted drops the aborted transactions whose ABORT markers a
// cleaning removed: their records went before them.
func (tx *partitionTxns) forgetAborted(removed map[markerKey]bool) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	kept := make([]abortedTxn, 0, len(tx.mu.aborted))
	for _, a := range tx.mu.aborted {
		if !removed[markerKey{a.producerID, a.last}] {
			kept = append(kept, a)
		}
	}
	tx.mu.aborted = kept
}
