package eventlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Abandon drops l as a crashed process would: the lock and the files are
// released, nothing is flushed, no clean-shutdown marker is written. The
// goroutines stop so tests do not leak them.
func Abandon(l *Log) error {
	l.closeOnce.Do(func() {
		l.shutdown()
		defer l.ops.Unlock()
		l.closeErr = errors.Join(l.releaseTopics(), l.lock.Close())
	})
	return l.closeErr
}

// Codecs are the compression codecs the library writes and reads.
var Codecs = testCodecs

// DecompressIndependently decompresses a records area with the codec
// libraries alone, not through compression.go.
var DecompressIndependently = kmsgDecompress

// EnforceRetention runs the background retention check now.
func EnforceRetention(l *Log) error { return l.enforceRetention() }

// ConsumerWakeups counts the times a Poll of c, blocked waiting for records,
// was woken by a partition's high watermark moving.
func ConsumerWakeups(c *Consumer) int64 { return c.wakeups.Load() }

// CheckpointRecoveryPoints persists every partition's recovery point now,
// as the background checkpointer does every RecoveryPointInterval.
func CheckpointRecoveryPoints(l *Log) error {
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	return l.checkpointAll()
}

// BatchFields are the producer fields of one stored batch.
type BatchFields struct {
	ID            ProducerID
	Sequence      int32
	Records       int32
	Transactional bool
	Control       bool
	BaseOffset    int64
}

// BatchProducerFields returns the producer fields of every batch of p, in
// order, reading the segment files.
func BatchProducerFields(t interface{ Fatalf(string, ...any) }, p *Partition) []BatchFields {
	var out []BatchFields
	for _, seg := range *p.segments.Load() {
		data, err := readWholeFile(p.log.opts.FS, seg.path(logExt), math.MaxInt64)
		if err != nil {
			t.Fatalf("read %s: %v", seg.path(logExt), err)
		}
		for pos := int64(0); pos < int64(len(data)); {
			h, err := parseBatchHeader(data[pos:])
			if err != nil {
				t.Fatalf("batch at %d of %s: %v", pos, seg.path(logExt), err)
			}
			out = append(out, BatchFields{
				ID: ProducerID{h.ProducerID, h.ProducerEpoch}, Sequence: h.BaseSequence, Records: h.RecordCount,
				Transactional: h.Attributes&attrTransactional != 0, Control: h.isControl(), BaseOffset: h.BaseOffset,
			})
			pos += h.size()
		}
	}
	return out
}

// AbortTimedOutTransactions runs the Log's check for transactions open
// longer than their timeout now, as it runs every second.
func AbortTimedOutTransactions(l *Log) {
	if c := coordinatorOf(l); c != nil {
		c.abortTimedOut()
	}
}

// coordinatorOf returns l's transaction coordinator, nil before it starts.
func coordinatorOf(l *Log) *txnCoordinator {
	l.txns.mu.Lock()
	defer l.txns.mu.Unlock()
	return l.txns.coord
}

// TransactionalIDs returns the transactional IDs whose state l's
// transaction coordinator keeps, sorted.
func TransactionalIDs(l *Log) []string {
	c := coordinatorOf(l)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.txns))
}

// ExpireTransactionalIDs runs the Log's expiry of the transactional IDs
// idle for TransactionalIDExpiration now, as it runs every second.
func ExpireTransactionalIDs(l *Log) {
	if c := coordinatorOf(l); c != nil {
		c.expireIdle()
	}
}

// ExpireGroupOffsets runs the Log's expiry of committed offsets now, as
// its group coordinator runs it every 10 minutes.
func ExpireGroupOffsets(l *Log) {
	c, err := l.coordinator()
	if err == nil {
		c.expireOffsets()
	}
}

// AppendTransactional appends to p a transactional batch of one record
// of producer id, of transactional ID txnID, with sequence seq, as a
// transactional Producer's batch is appended, bypassing the Producer's
// own checks: what a late batch of a fenced Producer meets at p.
func AppendTransactional(p *Partition, txnID string, id ProducerID, seq int32, value string) error {
	var enc batchEncoder
	batch, err := enc.encode(nil, []Record{{Key: []byte("k"), Value: []byte(value), Timestamp: p.log.opts.Now()}}, CompressionNone)
	if err != nil {
		return err
	}
	setProducerFields(batch, id, seq, true)
	_, err = p.appendEncoded(batch, DurabilityDefault, appendChecks{transactionalID: txnID})
	return err
}

// RetryIncompleteTransactions runs the Log's retry of the transactions
// decided but incomplete now, as it runs every second.
func RetryIncompleteTransactions(l *Log) {
	if c := coordinatorOf(l); c != nil {
		c.retryIncomplete()
	}
}

// ReadAheadWindow is how far ahead of a scan its verifier runs, at most.
const ReadAheadWindow = readAheadWindow

// ReaderTabledBatches counts the batches that view scans that have ended
// checked and tabled themselves in one pass.
func ReaderTabledBatches(l *Log) int64 { return l.readerTabled.Load() }

// ReadAheadBatches counts the batches whose CRC a read-ahead verifier
// checked for a view scan that has ended.
func ReadAheadBatches(l *Log) int64 { return l.readAheadBatches.Load() }

// WriteGroupMetadata waits until the metadata snapshots of group taken so
// far are written to __consumer_offsets, writing the pending one if no
// call is writing it.
func WriteGroupMetadata(l *Log, group string) {
	l.groups.mu.Lock()
	c := l.groups.coord
	l.groups.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	g := c.groups[group]
	c.mu.Unlock()
	if g != nil {
		g.writeMetadata()
	}
}

// RunningVerifiers counts the read-ahead verifiers running.
func RunningVerifiers(l *Log) int32 { return l.verifiers.Load() }

// ParsedAheadBatches counts the batches a view scan that has ended read
// from the tables of its read-ahead verifier.
func ParsedAheadBatches(l *Log) int64 { return l.readAheadParsed.Load() }

// IndexRebuildScans reports how many times a lookup on l that distrusted
// an index scanned a segment's log to rebuild it, rebuilds that failed
// included.
func IndexRebuildScans(l *Log) int64 { return l.rebuildScans.Load() }

// ProducerIDOf returns the producer id and epoch an idempotent or
// transactional Producer was given.
func ProducerIDOf(p *Producer) ProducerID { return p.id }

// ProducerIDClockFloor returns the id the producer id allocator starts at,
// at time now, in a directory that lost producer-ids.meta.
func ProducerIDClockFloor(now time.Time) int64 { return producerIDClockFloor(now) }

// ConsumerClosing returns the channel that c's Close closes first, before
// it waits for the call in progress.
func ConsumerClosing(c *Consumer) <-chan struct{} { return c.closing }

// CoordinatorGroups returns the names of the groups the coordinator holds
// in memory, sorted; nil before it starts.
func CoordinatorGroups(l *Log) []string {
	l.groups.mu.Lock()
	c := l.groups.coord
	l.groups.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.groups))
	for id := range c.groups {
		names = append(names, id)
	}
	slices.Sort(names)
	return names
}

// SetDeleteRecordsHook makes DeleteRecords on l call fn before it takes the
// partition's locks; nil removes it.
func SetDeleteRecordsHook(l *Log, fn func()) {
	if fn == nil {
		l.deleteRecordsHook.Store(nil)
		return
	}
	l.deleteRecordsHook.Store(&fn)
}

// SetTxnOffsetsHook makes SendOffsetsToTransaction on l call fn once its
// batch is appended to __consumer_offsets; nil removes it.
func SetTxnOffsetsHook(l *Log, fn func()) {
	if fn == nil {
		l.txnOffsetsHook.Store(nil)
		return
	}
	l.txnOffsetsHook.Store(&fn)
}

// SetTxnOffsetsCheckedHook makes SendOffsetsToTransaction on l call fn
// once it checked that the group member owns the partitions, before it
// writes the offsets; nil removes it.
func SetTxnOffsetsCheckedHook(l *Log, fn func()) {
	if fn == nil {
		l.txnOffsetsCheckedHook.Store(nil)
		return
	}
	l.txnOffsetsCheckedHook.Store(&fn)
}

// SetCommitHook makes a Consumer's commits on l call fn once they took the
// offsets to commit, before they check them; nil removes it.
func SetCommitHook(l *Log, fn func()) {
	if fn == nil {
		l.commitHook.Store(nil)
		return
	}
	l.commitHook.Store(&fn)
}

// SetCommitCheckedHook makes the plain offset commits on l (a
// Consumer's, an ExternalMember's, CommitGroupOffsets) call fn once their
// check passed, before they write the offsets; nil removes it.
func SetCommitCheckedHook(l *Log, fn func()) {
	if fn == nil {
		l.commitCheckedHook.Store(nil)
		return
	}
	l.commitCheckedHook.Store(&fn)
}

// SetPositionHook makes a Consumer's reads on l call fn with each
// partition before they check its position; nil removes it.
func SetPositionHook(l *Log, fn func(TopicPartition)) {
	if fn == nil {
		l.positionHook.Store(nil)
		return
	}
	l.positionHook.Store(&fn)
}

// TransactionEndWaiting reports whether a CommitTransaction or
// AbortTransaction of p waits for the calls inside its transaction.
func TransactionEndWaiting(p *Producer) bool {
	if p.txn.mu.TryRLock() {
		p.txn.mu.RUnlock()
		return false
	}
	return true
}

// TransactionCallsInFlight reports whether a call inside p's transaction
// (or the end of it) is in progress.
func TransactionCallsInFlight(p *Producer) bool {
	if p.txn.mu.TryLock() {
		p.txn.mu.Unlock()
		return false
	}
	return true
}

// PartitionDeleted reports whether p's topic is being deleted, or was.
func PartitionDeleted(p *Partition) bool { return p.deleted.Load() }

// SegmentLockFree reports whether nothing holds the lock of p's listed
// segment at base, which appends, rolls, retention and DeleteRecords take.
func SegmentLockFree(p *Partition, base int64) bool { return SegmentLockCheck(p, base)() }

// SegmentLockCheck returns a check of whether nothing holds the lock of
// p's segment listed now at base, which keeps checking that segment once
// it is dropped.
func SegmentLockCheck(p *Partition, base int64) func() bool {
	for _, seg := range *p.segments.Load() {
		if seg.base == base {
			return func() bool {
				if !seg.mu.TryLock() {
					return false
				}
				seg.mu.Unlock()
				return true
			}
		}
	}
	panic(fmt.Sprintf("no segment at %d", base))
}

// AppendLockFree reports whether nothing holds p's append lock, which every
// append takes.
func AppendLockFree(p *Partition) bool {
	if !p.appendMu.TryLock() {
		return false
	}
	p.appendMu.Unlock()
	return true
}

// StoreTransactionalIDEpoch stores the state of transactional ID id as
// that of a new producer id at epoch, as if epoch+1 Producers of the ID
// had started, so that a test can start the next one near the last epoch.
func StoreTransactionalIDEpoch(l *Log, id string, epoch int16) error {
	c, err := l.txnCoordinator()
	if err != nil {
		return err
	}
	pid, err := l.txns.ids.allocate()
	if err != nil {
		return err
	}
	m := c.lock(id, true)
	defer m.op.Unlock()
	rec := txnRecord{producer: ProducerID{ID: pid, Epoch: epoch}, timeout: DefaultTransactionTimeout, state: txnEmpty, start: -1}
	return c.writeLocked(context.Background(), m, rec, DurabilityFsync)
}

// TopicRegistryFree reports whether nothing holds the lock of l's topic
// registry, which CreateTopic and DeleteTopic take to change it.
func TopicRegistryFree(l *Log) bool {
	if !l.mu.TryLock() {
		return false
	}
	l.mu.Unlock()
	return true
}

// ActiveIndexFilesFree reports whether nothing holds the lock on the index
// files of p's active segment, which a roll takes, holding p's append lock,
// to write them whole.
func ActiveIndexFilesFree(p *Partition) bool {
	seg := p.active()
	if !seg.indexFiles.TryLock() {
		return false
	}
	seg.indexFiles.Unlock()
	return true
}

// OnCursorDropped makes f run after the cleanup of each Cursor dropped
// unclosed, until the test ends.
func OnCursorDropped(t interface{ Cleanup(func()) }, f func()) {
	cursorDropped.Store(&f)
	t.Cleanup(func() { cursorDropped.Store(nil) })
}

// SetSegmentHook makes reads on l call fn with the partition each time they
// look up the segment holding an offset, between loading the partition's
// segment list and acquiring the segment: what retention or DeleteRecords
// does in fn drops a segment the lookup found. A nil fn removes the hook.
func SetSegmentHook(l *Log, fn func(TopicPartition)) {
	if fn == nil {
		l.segmentHook.Store(nil)
		return
	}
	l.segmentHook.Store(&fn)
}

// TxnIndexCheckedFrom returns the base offset from which p's closed
// segments' aborted transactions are checked against the log (see
// txn_index_check.go).
func TxnIndexCheckedFrom(p *Partition) int64 { return p.txnCheck.from.Load() }

// SetReplayHook makes Replay and ReplayLatest on l call fn with each
// partition once they loaded its log start offset, before they start
// reading there. A nil fn removes the hook.
func SetReplayHook(l *Log, fn func(TopicPartition)) {
	if fn == nil {
		l.replayHook.Store(nil)
		return
	}
	l.replayHook.Store(&fn)
}

// SetDecompressHook makes the reads on l (views, consumers, copying
// reads) and their read-ahead verifiers call fn each time they decompress
// a batch. A nil fn removes the hook.
func SetDecompressHook(l *Log, fn func()) {
	if fn == nil {
		l.decompressHook.Store(nil)
		return
	}
	l.decompressHook.Store(&fn)
}

const WritebackChunk = writebackChunk
