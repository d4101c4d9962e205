package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Partition is one ordered, append-only sequence of records of a topic: the
// low-level API that producers and consumers build on. Offsets are dense from
// the log start offset up to the log end offset; readers see records below
// the high watermark only. A Partition is safe for concurrent use. Once its
// topic is deleted, every call on it fails with ErrTopicNotFound.
type Partition struct {
	log   *Log
	topic string
	id    int32
	dir   string

	// settings are the partition's resolved settings, replaced whole by
	// AlterTopicConfig; read them through config.
	settings atomic.Pointer[partitionConfig]
	// deleted is set once DeleteTopic has taken the partition's topic
	// away: every later call fails with ErrTopicNotFound.
	deleted atomic.Bool
	// removals guards the removal of dropped segments' files, and the
	// checkpointer's writes, against DeleteTopic's rename of the
	// directory (see dirRemovals).
	removals dirRemovals
	// refreshing serializes the reconciliations of a read-only Log's
	// partition with its directory — a Refresh's, and a read's that found
	// a segment file gone (see readonly_partition.go) — and guards
	// listing, the directory as the last one saw it. It is taken after
	// the Log's readOnly.mu, never before.
	refreshing struct {
		sync.Mutex
		listing dirListing
	}

	segments atomic.Pointer[[]*segment] // sorted by base offset; the last is active
	logStart atomic.Int64
	logEnd   atomic.Int64
	hw       atomic.Pointer[position] // high watermark: end of what readers may see
	written  atomic.Pointer[position] // end of what was written to the file
	failure  atomic.Pointer[error]    // sticky error after a failed write or fsync
	hwMoved  notifier

	// appendMu serializes writes, rolls and closing of the active segment.
	appendMu sync.Mutex

	// fsyncMu serializes the fsyncs of the partition's segments (see
	// syncFile), so that one that fails has failed the partition before
	// the next one starts.
	fsyncMu sync.Mutex

	// sync is the group commit: one appender at a time (the leader) runs an
	// fsync covering everything written so far; the others wait on done and
	// return when a finished fsync covered their bytes.
	sync struct {
		sync.Mutex
		done    sync.Cond // broadcast when an fsync finishes or a write lands
		running bool      // a leader is in fsync
		offset  int64     // every offset below this is fsynced
	}
	// Appends between encoding and the end of their write. A leader about to
	// fsync first waits for the writes already under way, so that one fsync
	// covers every appender that was racing it rather than only the first.
	writesStarted  atomic.Int64
	writesFinished atomic.Int64
	leaderAwaits   atomic.Bool
	syncRequested  atomic.Bool // a background fsync is queued
	// writebackRequested: the partition is queued for startWriteback.
	writebackRequested atomic.Bool

	// durable is the end of what the last fsync covered, the recovery
	// point to persist; checkpoint records what is persisted (see
	// recovery_point.go).
	durable    atomic.Pointer[position]
	checkpoint recoveryCheckpoint

	cleaning partitionCleaning // compaction state: see compaction.go
	metrics  partitionMetrics  // counters and latencies for Stats: see stats.go

	producers producerState                 // idempotent producers: see producer_state.go
	txns      atomic.Pointer[partitionTxns] // nil until a transaction: see txn_partition.go
	txnIndex  txnIndexWriter                // the active segment's .txnindex: see txn_index.go
	txnCheck  txnIndexCheck                 // of the closed segments' .txnindex: see txn_index_check.go
}

// partitionConfig is a partition's resolved settings.
type partitionConfig struct {
	durability     Durability
	segmentBytes   int64
	segmentAge     time.Duration
	maxBatchBytes  int
	retention      time.Duration // RetainForever: no limit
	retentionBytes int64         // -1: no limit
	indexInterval  int64
	maxIndexOffset int // offset index entries that fit segment.index.bytes

	cleanup          CleanupPolicy
	deleteRetention  time.Duration // how long tombstones outlive their first cleaning
	minDirtyRatio    float64
	minCompactionLag time.Duration
	maxCompactionLag time.Duration // 0: no limit
}

// position is a place in the log: the next offset, the segment it falls in
// and the byte position there.
type position struct {
	offset int64
	seg    *segment
	pos    int64
}

// AppendOptions tune one Append. The zero value uses the topic's settings and
// no compression.
type AppendOptions struct {
	// Durability says when Append returns: DurabilityFsync after the batch
	// is fsynced, DurabilityOS after it is written to the OS. Default: the
	// topic's durability. On an fsync topic, a DurabilityOS append returns
	// early but its records become visible to readers only after the fsync
	// that the Log runs in the background.
	Durability Durability
	// Compression is the codec for the batch (Kafka's compression.type).
	Compression Compression
	// Condition, made with IfEndOffset, stores the batch only if the
	// partition's log end offset is the one expected; otherwise Append
	// stores nothing and returns an *UnexpectedOffsetError carrying the
	// actual log end offset. Default: no condition.
	Condition EndOffsetCondition
	// Producer makes the append idempotent (Kafka's idempotent producer):
	// the batch carries the producer's id and epoch and Sequence as its
	// base sequence, and if this producer appended the same batch (same
	// epoch, base sequence and record count) before, Append stores nothing
	// and returns the offset it got then — a retry after a timeout or a
	// crash is not stored twice. Sequences start at 0 for each partition
	// and epoch and go up by one per record; a batch whose Sequence does
	// not follow the producer's last one fails with ErrOutOfOrderSequence,
	// one of an older epoch with ErrProducerFenced. Get an id with
	// Log.NewProducerID; an id, epoch or Sequence that is negative, an id
	// from 2^62 on, which the Log never hands out, or the id of a
	// transactional Producer, whose transactions a higher epoch would
	// fence, fails with ErrInvalidConfig. Default: none.
	Producer ProducerID
	// Sequence is the sequence number of the batch's first record, when
	// Producer is set (Kafka's base sequence). A Sequence, or an Epoch,
	// without a Producer ID fails with ErrInvalidConfig: the append would
	// not be idempotent.
	Sequence int32
}

var encoderPool = sync.Pool{New: func() any { return new(batchEncoder) }}
var decoderPool = sync.Pool{New: func() any { return new(batchDecoder) }}

// Topic returns the name of the partition's topic.
func (p *Partition) Topic() string { return p.topic }

// ID returns the partition number.
func (p *Partition) ID() int32 { return p.id }

// LogStartOffset is the first offset still stored (Kafka's log start offset).
func (p *Partition) LogStartOffset() int64 { return p.logStart.Load() }

// LogEndOffset is the offset the next appended record will get.
func (p *Partition) LogEndOffset() int64 { return p.logEnd.Load() }

// config returns the partition's current settings.
func (p *Partition) config() *partitionConfig { return p.settings.Load() }

// HighWatermark is the offset after the last record that is as durable as
// the topic promises; reads return only records below it.
func (p *Partition) HighWatermark() int64 { return p.hw.Load().offset }

// MaxBatchBytes is the largest record batch, as stored (its 61-byte header
// included), that an append to the partition accepts; a larger one fails
// with ErrRecordTooLarge. It is Kafka's max.message.bytes as the topic
// has it in effect: its TopicConfig.MaxBatchBytes, or the Log's
// Options.MaxBatchBytes when the topic has none of its own (then
// Log.TopicConfig reports 0). Code that builds its own batches sizes them
// by it. A compressed batch must also hold at most 64 times as many bytes
// of records before compression (64 MiB at least, 1 GiB at most).
// AlterTopicConfig cannot change it; a reopen with another
// Options.MaxBatchBytes changes it for the topics that inherit it, and
// for their appends only: a read decompresses up to 1 GiB of a batch
// (more when 64 times MaxBatchBytes is more), so batches stored while the
// limit was higher stay readable after it is lowered.
func (p *Partition) MaxBatchBytes() int { return p.config().maxBatchBytes }

func (p *Partition) errorf(format string, args ...any) error {
	return errorf("eventlog: topic %q partition %d: "+format, append([]any{p.topic, p.id}, args...)...)
}

// err returns the sticky failure, if any.
func (p *Partition) err() error {
	if e := p.failure.Load(); e != nil {
		return *e
	}
	return nil
}

// fail makes err the partition's sticky failure: every later append returns
// it until the Log is reopened.
func (p *Partition) fail(err error) error {
	err = p.errorf("failed, reopen the log to recover: %w", err)
	if p.failure.CompareAndSwap(nil, &err) {
		p.log.opts.Logger.Error("eventlog: partition failed", "topic", p.topic, "partition", p.id, "err", err)
	}
	return p.err()
}

// Append stores records as one batch and returns the offset of the first;
// the others follow densely. Records with a zero Timestamp get the current
// time. The caller's records are not modified. Append returns once the batch
// is as durable as opts.Durability asks. Internal topics (those whose name
// starts with "__", such as __consumer_offsets) are written only by the
// library: appending to one fails with an error wrapping ErrInvalidTopic.
// The batch must fit MaxBatchBytes (see there), and its records may have
// at most as many headers in all as take, at 40 bytes each, what the batch
// may decompress to (64 times MaxBatchBytes, 64 MiB at least, 1 GiB at
// most): 1,677,740 for the default MaxBatchBytes, 26,843,545 at most. A
// copying read makes a 40-byte Header of each (see Read). More fail with
// ErrRecordTooLarge naming the record.
func (p *Partition) Append(ctx context.Context, records []Record, opts AppendOptions) (int64, error) {
	if isInternalTopic(p.topic) {
		return -1, p.errorf("%w: %q is an internal topic, written only by the library", ErrInvalidTopic, p.topic)
	}
	return p.appendUnchecked(ctx, records, opts)
}

// appendUnchecked is Append without the internal-topic guard.
func (p *Partition) appendUnchecked(ctx context.Context, records []Record, opts AppendOptions) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if len(records) == 0 {
		return -1, p.errorf("append of no records: %w", ErrInvalidRecord)
	}
	if !opts.Durability.valid() {
		return -1, p.errorf("%w: durability %d", ErrInvalidConfig, opts.Durability)
	}
	if err := opts.Condition.validate(p); err != nil {
		return -1, err
	}
	switch id := opts.Producer; {
	case id.ID == 0 && (id.Epoch != 0 || opts.Sequence != 0):
		// Taken as a plain append, a retry would be stored twice.
		return -1, p.errorf("%w: producer epoch %d and sequence %d without a producer id: an idempotent append needs AppendOptions.Producer (Log.NewProducerID)", ErrInvalidConfig, id.Epoch, opts.Sequence)
	case id.ID == 0:
	case id.ID < 0 || id.Epoch < 0 || opts.Sequence < 0:
		return -1, p.errorf("%w: producer %s with sequence %d: ids, epochs and sequences are never negative", ErrInvalidConfig, id, opts.Sequence)
	case id.ID > maxProducerID:
		return -1, p.errorf("%w: producer id %d is above %d, the highest the Log takes: get ids from Log.NewProducerID", ErrInvalidConfig, id.ID, int64(maxProducerID))
	default:
		if err := p.log.txns.checkNotTransactional(id.ID); err != nil {
			return -1, p.errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	keyless := false
	payload := 0 // bytes of keys, values and headers: less than the batch
	headers, maxHeaders := 0, maxAppendHeaders(p.config().maxBatchBytes)
	for i := range records {
		r := &records[i]
		if r.Key == nil && !keyless {
			if p.config().cleanup.compacts() {
				return -1, p.errorf("%w: record %d has a null key, and topic %q is compacted (cleanup.policy=%s): compaction keeps the newest record per key, so every record needs one", ErrInvalidRecord, i, p.topic, p.config().cleanup)
			}
			keyless = true
		}
		payload += len(r.Key) + len(r.Value)
		for j := range r.Headers {
			// An empty header takes 2 bytes: its key and value lengths.
			payload += len(r.Headers[j].Key) + len(r.Headers[j].Value) + 2
		}
		if headers += len(r.Headers); headers > maxHeaders {
			return -1, p.errorf("%w: record %d has %d headers, %d with those of the records before it, more than the %d a batch may hold (%d bytes as the Header values of a copying read, what the batch may decompress to)", ErrRecordTooLarge, i, len(r.Headers), headers, maxHeaders, maxHeaders*headerSize)
		}
	}
	// Refused before they are encoded, which would take as much memory
	// again only to find the batch too large.
	if limit := p.config().maxBatchBytes; opts.Compression == CompressionNone {
		if payload > limit-batchHeaderSize {
			return -1, p.errorf("%w: records hold %d bytes of keys, values and headers, more than a batch of at most %d bytes can", ErrRecordTooLarge, payload, limit)
		}
	} else if limit := maxAppendDecompressedBytes(limit); payload > limit {
		return -1, p.errorf("%w: records hold %d bytes of keys, values and headers, more than the %d a batch may hold before %s compression", ErrRecordTooLarge, payload, limit, opts.Compression)
	}
	records = withTimestamps(records, p.log.opts.Now())
	enc := encoderPool.Get().(*batchEncoder)
	defer encoderPool.Put(enc)
	buf := batchBufferPool.Get().(*[]byte)
	defer putBatchBuffer(buf)
	batch, err := enc.encode((*buf)[:0], records, opts.Compression)
	*buf = batch
	if err != nil {
		return -1, p.errorf("%w", err)
	}
	// A read refuses to decompress more than this of one batch, as
	// AppendBatch does: stored, the batch could never be read back.
	if limit := maxAppendDecompressedBytes(p.config().maxBatchBytes); opts.Compression != CompressionNone && enc.recordsBytes > limit {
		return -1, p.errorf("%w: records are %d bytes before %s compression, max is %d", ErrRecordTooLarge, enc.recordsBytes, opts.Compression, limit)
	}
	if opts.Producer.ID != 0 {
		setProducerFields(batch, opts.Producer, opts.Sequence, false)
	}
	return p.appendEncoded(batch, opts.Durability, appendChecks{keyless: keyless, condition: opts.Condition})
}

// batchBufferPool recycles the buffers Append encodes batches into: the
// bytes are written to the file before Append returns, and allocating (and
// zeroing) a fresh buffer per batch was a sixth of the cost of an append.
var batchBufferPool = sync.Pool{New: func() any { return new([]byte) }}

func putBatchBuffer(buf *[]byte) {
	if cap(*buf) <= maxRetainedScratch {
		*buf = (*buf)[:0]
		batchBufferPool.Put(buf)
	}
}

// appendEncoded stores batch, a complete RecordBatch v2 with base offset 0
// whose records the caller validated, as Append stores the batch it
// encodes, and returns the base offset the log gave it. The write checks
// what checks asks under the append lock.
func (p *Partition) appendEncoded(batch []byte, durability Durability, checks appendChecks) (int64, error) {
	if len(batch) > p.config().maxBatchBytes {
		return -1, p.errorf("%w: batch is %d bytes, max is %d", ErrRecordTooLarge, len(batch), p.config().maxBatchBytes)
	}
	if !p.log.enter() {
		return -1, ErrClosed
	}
	defer p.log.exit()

	n := p.writesStarted.Add(1)
	start, timed := p.appendStart(durability, n)
	base, end, err := p.write(batch, checks)
	p.writeLanded()
	if err != nil {
		return -1, err
	}
	ack := durability
	if ack == DurabilityDefault {
		ack = p.config().durability
	}
	switch {
	case ack == DurabilityFsync:
		if err := p.syncTo(end); err != nil {
			return -1, err
		}
	case p.config().durability == DurabilityFsync:
		p.requestSync()
	}
	p.appendDone(start, timed)
	return base, nil
}

// writeLanded counts a finished write and wakes a leader waiting for it.
func (p *Partition) writeLanded() {
	p.writesFinished.Add(1)
	if p.leaderAwaits.Load() {
		p.sync.Lock()
		p.sync.done.Broadcast()
		p.sync.Unlock()
	}
}

// withTimestamps returns records with zero timestamps set to now, copying
// the slice only when one needs it.
func withTimestamps(records []Record, now time.Time) []Record {
	for i := range records {
		if records[i].Timestamp.IsZero() {
			out := make([]Record, len(records))
			copy(out, records)
			for j := range out[i:] {
				if out[i+j].Timestamp.IsZero() {
					out[i+j].Timestamp = now
				}
			}
			return out
		}
	}
	return records
}

// write appends an encoded batch to the active segment, rolling it first if
// needed, and returns the batch's base offset and the log end after it.
func (p *Partition) write(batch []byte, checks appendChecks) (int64, *position, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.err(); err != nil {
		return -1, nil, err
	}
	// AlterTopicConfig switches a topic to compaction under appendMu, after
	// which every record it has is checked for a key; a keyless batch that
	// was checked against the old policy must not land after that.
	if checks.keyless && p.config().cleanup.compacts() {
		return -1, nil, p.errorf("%w: a record has a null key, and topic %q became compacted (cleanup.policy=%s) while it was being appended", ErrInvalidRecord, p.topic, p.config().cleanup)
	}
	h, err := parseBatchHeader(batch)
	if err != nil {
		return -1, nil, p.errorf("encoded batch does not parse: %w", err)
	}
	if h.ProducerID >= 0 {
		// Before the condition: a batch appended again answers with the
		// offsets it got the first time, whatever came after it.
		dupBase, dup, err := p.checkProducerLocked(&h, checks.transactionalID)
		if err != nil || dup {
			return dupBase, p.written.Load(), err
		}
	}
	if err := checks.condition.check(p, p.logEnd.Load()); err != nil {
		return -1, nil, err
	}
	seg := p.active()
	if p.shouldRollLocked(seg, int64(len(batch))) {
		var err error
		if seg, err = p.rollLocked(); err != nil {
			return -1, nil, p.fail(err)
		}
	}
	base := seg.nextOffset
	setBaseOffset(batch, base)
	h.BaseOffset = base
	pos := seg.size.Load()
	if _, err := seg.writer().WriteAt(batch, pos); err != nil {
		return -1, nil, p.fail(fmt.Errorf("write %s: %w", seg.path(logExt), err))
	}
	if seg.builder.needsEntry() {
		seg.mu.Lock()
		seg.builder.add(seg.mu.index, &h, pos)
		seg.mu.Unlock()
	} else {
		seg.builder.add(nil, &h, pos)
	}
	if seg.firstTimestamp < 0 {
		seg.firstTimestamp = p.log.opts.Now().UnixMilli()
	}
	seg.maxTimestamp.Store(seg.builder.maxTs)
	seg.nextOffset = h.lastOffset() + 1
	seg.size.Store(pos + int64(len(batch)))
	if h.ProducerID >= 0 {
		if err := p.applyProducerLocked(&h, batch, false); err != nil {
			return -1, nil, p.fail(err)
		}
	}
	end := &position{offset: seg.nextOffset, seg: seg, pos: seg.size.Load()}
	p.written.Store(end)
	p.logEnd.Store(end.offset)
	p.metrics.appended(h.RecordCount, len(batch))
	if p.config().durability == DurabilityOS {
		p.advanceHW(end)
		if end.pos/writebackChunk > pos/writebackChunk {
			p.requestWriteback() // after written moved: the worker reads it
		}
	}
	return base, end, nil
}

// writebackChunk is how many bytes of the active segment of a
// DurabilityOS topic the OS may keep unwritten before the Log asks it to
// start writing them out (see startWriteback).
const writebackChunk = 4 << 20

func (p *Partition) active() *segment {
	segs := *p.segments.Load()
	return segs[len(segs)-1]
}

func (p *Partition) shouldRollLocked(seg *segment, batchSize int64) bool {
	size := seg.size.Load()
	if size == 0 {
		return false
	}
	return size+batchSize > p.config().segmentBytes ||
		len(seg.mu.index.offsets) >= p.config().maxIndexOffset ||
		seg.nextOffset-seg.base > 1<<31-1-int64(p.config().maxBatchBytes) ||
		p.agedLocked(seg, p.log.opts.Now())
}

// agedLocked tells whether the active segment seg, not empty, is older
// than SegmentAge at now. As in Kafka's LogSegment.shouldRoll, the age
// must exceed segment.ms: a segment exactly that old stays open. The
// partition's append lock must be held.
func (p *Partition) agedLocked(seg *segment, now time.Time) bool {
	return now.UnixMilli()-seg.firstTimestamp > p.config().segmentAge.Milliseconds()
}

// rollLocked closes the active segment — fsynced, indexes written — and
// starts a new one at the log end. Because the old segment is durable before
// the new one exists, recovery only ever needs to scan the last segment.
func (p *Partition) rollLocked() (*segment, error) {
	old := p.active()
	if err := p.syncSegment(old); err != nil {
		return nil, err
	}
	if err := p.closeTxnIndexLocked(); err != nil {
		return nil, err
	}
	if p.producers.history.Load() {
		// Made durable by the directory fsync that creates the new
		// segment. Failing to leaves it missing: the next Open rebuilds it.
		if err := createTxnIndex(p.log.opts.FS, old); err != nil {
			p.log.opts.Logger.Warn("eventlog: creating a segment's .txnindex failed", "topic", p.topic, "partition", p.id, "err", err)
		}
	}
	p.advanceHW(&position{offset: old.nextOffset, seg: old, pos: old.size.Load()})
	if err := old.sealLocked(); err != nil {
		// Indexes carry no authority; a missing one is rebuilt on first use.
		p.log.opts.Logger.Warn("eventlog: writing segment indexes failed", "topic", p.topic, "partition", p.id, "err", err)
	}
	// The old segment's name is durable before the new one's can be, as
	// every segment's is from its creation (see createActiveSegment): a
	// power loss that kept the new name and lost the old one would leave a
	// hole in the log.
	seg, err := p.createActiveSegment(old.nextOffset)
	if err != nil {
		return nil, err
	}
	segs := *p.segments.Load()
	next := make([]*segment, len(segs), len(segs)+1)
	copy(next, segs)
	next = append(next, seg)
	p.segments.Store(&next)
	return seg, nil
}

// createActiveSegment creates the empty segment at base that appends go to
// next. Its name is made durable at once, whatever the topic's durability,
// before any other file of the partition can be created: so a power loss
// that keeps any file of a partition keeps a .log file of it too, and a
// partition whose other files outlive every .log file lost them some other
// way (see recovery_missing.go). On DurabilityOS topics that costs no more
// than before: a roll synced the directory anyway, before creating the new
// segment, to make the old one's name durable.
func (p *Partition) createActiveSegment(base int64) (*segment, error) {
	seg := p.newActiveSegment(base)
	if _, err := seg.openWritable(true); err != nil {
		return nil, err
	}
	if err := p.log.opts.FS.SyncDir(p.dir); err != nil {
		return nil, errors.Join(err, seg.release())
	}
	return seg, nil
}

// newActiveSegment prepares an empty segment to append to.
func (p *Partition) newActiveSegment(base int64) *segment {
	seg := newSegment(p.log.opts.FS, p.dir, base, &p.removals)
	seg.mu.index = &segmentIndex{}
	seg.builder = indexBuilder{base: base, interval: p.config().indexInterval, maxTs: -1}
	seg.mapCapacity = p.config().segmentBytes + int64(p.config().maxBatchBytes)
	return seg
}

// syncTo returns once everything up to end is fsynced. Concurrent callers
// share fsyncs: while one runs, later appenders wait, and the next fsync
// covers all of them at once.
func (p *Partition) syncTo(end *position) error {
	p.sync.Lock()
	defer p.sync.Unlock()
	for {
		if p.sync.offset >= end.offset {
			return nil // durable, even if a later fsync failed
		}
		if err := p.err(); err != nil {
			return err
		}
		if !p.sync.running {
			break
		}
		p.sync.done.Wait()
	}
	p.sync.running = true
	p.leaderAwaits.Store(true)
	for target := p.writesStarted.Load(); p.writesFinished.Load() < target; {
		p.sync.done.Wait()
	}
	p.leaderAwaits.Store(false)
	w := p.written.Load()
	p.sync.Unlock()
	var err error
	// A segment that a cleaning replaced since was fsynced when it closed.
	if w.seg.acquire() {
		err = p.syncSegment(w.seg)
		_ = w.seg.release()
	}
	p.sync.Lock()
	p.sync.running = false
	p.sync.done.Broadcast()
	if err != nil {
		return err // the partition failed
	}
	p.sync.offset = max(p.sync.offset, w.offset)
	p.noteDurable(w)
	p.advanceHW(w)
	return nil
}

// requestSync asks the Log's background worker to fsync this partition, so
// that records appended without waiting still become visible.
func (p *Partition) requestSync() {
	if p.syncRequested.CompareAndSwap(false, true) {
		p.log.requestSync(p)
	}
}

// requestWriteback queues the partition for startWriteback, unless it is
// queued already or the queue is full (the write-out is only a hint).
func (p *Partition) requestWriteback() {
	if !p.writebackRequested.CompareAndSwap(false, true) {
		return
	}
	select {
	case p.log.writebackRequests <- p:
	default:
		p.writebackRequested.Store(false)
	}
}

// startWriteback asks the OS to start writing out the whole chunks of
// writebackChunk bytes written to the active segment since it last did,
// without waiting for them; the background worker calls it. On a
// DurabilityOS topic nothing else writes a segment out before the fsync of
// its roll, which then had all of it to write with the append lock held:
// appends stalled for about 500 ms at each roll of a 1 GiB segment
// (BenchmarkAppendRollLatency, BENCHMARKS.md, issue 2). Done here rather
// than on the append path, because asking for a write-out costs the
// asker about a tenth of a millisecond a mebibyte.
func (p *Partition) startWriteback() {
	p.writebackRequested.Store(false)
	end := p.written.Load()
	seg := end.seg
	if !seg.acquire() {
		return // dropped meanwhile
	}
	defer func() { _ = seg.release() }()
	to := end.pos / writebackChunk * writebackChunk
	if w, ok := seg.writer().(writebackStarter); ok && to > seg.writtenBack {
		_ = w.StartWriteback(seg.writtenBack, to-seg.writtenBack) // a hint: the roll's fsync reports a failed write
		seg.writtenBack = to
	}
}

// syncWritten fsyncs all that was written; the background worker calls it.
func (p *Partition) syncWritten() {
	p.syncRequested.Store(false)
	_ = p.syncTo(p.written.Load()) // a failure is sticky and reported to appenders
}

// advanceHW moves the high watermark forward to end and wakes waiters.
func (p *Partition) advanceHW(end *position) {
	for {
		cur := p.hw.Load()
		if cur != nil && cur.offset >= end.offset {
			return
		}
		if p.hw.CompareAndSwap(cur, end) {
			p.hwMoved.broadcast()
			return
		}
	}
}

// Wait blocks until the high watermark is above offset, so that the record
// at offset is readable (Wait(ctx, p.HighWatermark()) waits for the next
// append), the context ends, the Log closes (ErrClosed), or the topic is
// deleted (ErrTopicNotFound).
func (p *Partition) Wait(ctx context.Context, offset int64) error {
	for {
		ch := p.hwMoved.wait()
		if p.HighWatermark() > offset {
			return nil
		}
		if p.log.closed.Load() {
			return ErrClosed
		}
		if p.deleted.Load() {
			return p.deletedErr()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifier wakes every goroutine waiting for a change: those blocked on the
// channel from wait, and the watchers, each of which gets a non-blocking send
// on its own channel (so one consumer can wait on many partitions at once).
type notifier struct {
	mu       sync.Mutex
	ch       chan struct{} // closed on the next broadcast; nil while nobody waits
	watchers map[chan<- struct{}]struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	for w := range n.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// watch makes every high watermark move (and Close) send, without blocking,
// on ch; ch should have a buffer of one. The returned function stops it.
func (p *Partition) watch(ch chan<- struct{}) (stop func()) {
	n := &p.hwMoved
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.watchers == nil {
		n.watchers = make(map[chan<- struct{}]struct{})
	}
	n.watchers[ch] = struct{}{}
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.watchers, ch)
	}
}

// Read returns records from offset onwards, below the high watermark, whole
// batches at a time until maxBytes of batches are read, or until the copies
// take the read's memory budget; at least one record is returned when one
// is available, however large. Reading at the high watermark returns no
// records and no error. Reading below the log start offset or past the log
// end offset returns ErrOffsetOutOfRange. The records are copies owned by
// the caller.
//
// A Record takes 128 bytes (on 64-bit platforms) and each of its Headers
// 40, where a record may take 7 bytes in a batch and a header 2, so that a
// batch of tiny records costs 19 times what it decompresses to, and a 1
// MiB zstd batch holds a million of them. The budget is maxBytes, or 64
// MiB when that is more (64 times the partition's MaxBatchBytes, up to 1
// GiB, when that is more still): a read stops a batch before the record
// that would take the Records, Headers and bytes it made of the batch past
// it, and takes no further batch once they pass it. The records after the
// last one returned, of the same batch, are for the next read, from that
// record's offset plus one. Every batch an append stores uncompressed
// within MaxBatchBytes (up to 48 MiB) comes back whole, as do batches of
// ordinary records however compressed (1,000 records of 100 bytes make
// about 240 KB of copies).
//
// A record of more than 26,843,545 headers (1 GiB of Header values), which
// no append stores but a file may hold, fails the read with an error
// wrapping ErrRecordTooLarge that names the record, its header count and
// the limit, before the headers are allocated; it is not damage, and
// Views and Cursors, which do not copy headers, read it.
func (p *Partition) Read(offset int64, maxBytes int) ([]Record, error) {
	if maxBytes <= 0 {
		return nil, p.errorf("%w: read of %d bytes", ErrInvalidConfig, maxBytes)
	}
	if !p.log.enter() {
		return nil, ErrClosed
	}
	defer p.log.exit()
	return p.read(nil, offset, maxBytes)
}

// readPastDeleted is read for a scan of the partition, which DeleteRecords
// or retention may overtake: once the log start offset has passed offset,
// it reads from the log start offset instead of failing with
// ErrOffsetOutOfRange, as the records it skips are gone.
func (p *Partition) readPastDeleted(out []Record, offset int64, maxBytes int) ([]Record, error) {
	for {
		recs, err := p.read(out, offset, maxBytes)
		if start := p.logStart.Load(); errors.Is(err, ErrOffsetOutOfRange) && offset < start {
			offset = start
			continue
		}
		return recs, err
	}
}

func (p *Partition) read(out []Record, offset int64, maxBytes int) ([]Record, error) {
	out, _, err := p.readAt(out, offset, maxBytes, ReadUncommitted)
	return out, err
}

// readAt is read at an isolation level; it also returns the offset the
// read reached, past batches that held no record for it (transaction
// markers, aborted transactions).
func (p *Partition) readAt(out []Record, offset int64, maxBytes int, level IsolationLevel) ([]Record, int64, error) {
	if err := p.checkReadable(offset); err != nil {
		return nil, offset, err
	}
	c := batchCursor{p: p, offset: offset, hw: p.hw.Load()}
	defer c.close()
	if level == ReadCommitted {
		if err := c.readCommitted(); err != nil {
			return out, offset, err
		}
	}
	dec := decoderPool.Get().(*batchDecoder)
	defer decoderPool.Put(dec)
	cfg := p.config()
	limit := maxReadDecompressedBytes(cfg.maxBatchBytes)
	copies := copyBudget{limit: readCopyBudget(maxBytes, cfg.maxBatchBytes)}
	made := int64(0) // bytes of copies (see copy_budget.go)
	for budget := int64(maxBytes); budget > 0 && made < copies.limit; {
		ok, err := c.next()
		if err != nil || !ok {
			return out, c.offset, err
		}
		if c.fresh {
			// The first batch of a segment: DeleteRecords or retention
			// that overtook the read may have moved it on past records
			// of the batch (see batchCursor.enter), which decode skips.
			offset = max(offset, c.entered)
			n := min(countRecords(c.data, c.batchPos, offset, budget), maxReadPrealloc, int(copies.limit/recordStructSize))
			out = slices.Grow(out, n)
		}
		n := len(out)
		p.log.decompressing(&c.h)
		if out, err = dec.decodeWithin(out, &c.h, c.batch, offset, limit, &copies); err != nil {
			if he, ok := err.(*headersError); ok {
				// Sound, but too costly to copy: not damage.
				return out, c.offset, p.errorf("%w: %v", ErrRecordTooLarge, he)
			}
			return out, c.offset, p.corrupt(c.seg, c.batchPos, c.h.BaseOffset, err.Error())
		}
		for i := n; i < len(out); i++ {
			out[i].Topic, out[i].Partition = p.topic, p.id
		}
		if copies.cut {
			// The rest of the batch is for the next read, from the
			// record after the last made; the batch made one at least.
			return out, out[len(out)-1].Offset + 1, nil
		}
		made += copies.made
		budget -= c.h.size()
	}
	return out, c.offset, nil
}

// segmentFor returns the acquired segment holding offset, or nil when the
// segment was dropped between lookup and acquire.
func (p *Partition) segmentFor(offset int64) *segment {
	segs := *p.segments.Load()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	if hook := p.log.segmentHook.Load(); hook != nil {
		(*hook)(TopicPartition{Topic: p.topic, Partition: p.id})
	}
	if !segs[i].acquire() {
		return nil
	}
	return segs[i]
}

// skipBatchesBelow advances pos over the batches that end before offset,
// reading only their lengths and offsets, as Kafka's own offset search does:
// the checksum of a batch is verified when the batch is read, not skipped.
func skipBatchesBelow(data []byte, pos, offset int64) int64 {
	for pos+batchHeaderSize <= int64(len(data)) {
		b := data[pos:]
		base := int64(binary.BigEndian.Uint64(b))
		length := int64(int32(binary.BigEndian.Uint32(b[batchLengthPos:])))
		lastDelta := int64(int32(binary.BigEndian.Uint32(b[batchLastOffsetDeltaPos:])))
		next := pos + batchOverhead + length
		if length < batchHeaderSize-batchOverhead || lastDelta < 0 || base+lastDelta >= offset || next > int64(len(data)) {
			break
		}
		pos = next
	}
	return pos
}

// countRecords estimates from batch headers alone how many records a read
// of data from pos will return, so the result slice is allocated once
// rather than grown (and copied) batch after batch. The headers are not
// yet verified, and a hostile one may claim 2^31 records in a few bytes:
// a batch counts for no more records than its bytes hold (see
// maxBatchRecords).
func countRecords(data []byte, pos, offset, budget int64) int {
	n := 0
	for pos+batchHeaderSize <= int64(len(data)) && budget > 0 {
		h, err := parseBatchHeader(data[pos:])
		if err != nil {
			break
		}
		if last := h.lastOffset(); last >= offset {
			n += int(min(int64(h.RecordCount), last-offset+1, maxBatchRecords(&h)))
			budget -= h.size()
		}
		pos += h.size()
	}
	return n
}

// maxBatchRecords bounds the records of the batch h heads by its size, for
// estimates made before its records are read: an uncompressed record takes
// minRecordSize bytes at least; a compressed batch is taken to hold a
// record per byte at most, which only batches of tiny, alike records
// exceed (an estimate short of them costs a growth of what it sized).
func maxBatchRecords(h *batchHeader) int64 {
	area := h.size() - batchHeaderSize
	if h.compression() == CompressionNone {
		return area / minRecordSize
	}
	return area
}

// maxReadPrealloc caps what a read allocates on the word of countRecords,
// which trusts headers not yet verified.
const maxReadPrealloc = 1 << 20

// maxAppendDecompressedBytes bounds what the records of one compressed
// batch may expand to for an append to accept it: 64 times the
// partition's max batch bytes, at least 64 MiB and at most
// minReadDecompressedBytes, so that every batch the log accepts reads back
// whatever MaxBatchBytes is later.
func maxAppendDecompressedBytes(maxBatchBytes int) int {
	return int(min(max(64*int64(maxBatchBytes), 64<<20), minReadDecompressedBytes))
}

// maxReadDecompressedBytes bounds what a read decompresses of one batch, so
// that a hostile file cannot exhaust memory (a damaged one fails its CRC
// before it is decompressed). It does not fall with the partition's max
// batch bytes: a batch stored and acknowledged while Options.MaxBatchBytes
// was higher must stay readable after a reopen with a lower one. It is
// minReadDecompressedBytes, above anything an append accepts, or 64 times
// the max batch bytes when that is more, for batches stored by versions
// whose appends accepted that much.
func maxReadDecompressedBytes(maxBatchBytes int) int {
	return int(min(max(64*int64(maxBatchBytes), minReadDecompressedBytes), maxDecompressLimit))
}

// minReadDecompressedBytes is the least maxReadDecompressedBytes returns,
// and the most maxAppendDecompressedBytes does.
const minReadDecompressedBytes = 1 << 30

// OffsetForTime returns the first offset from the log start offset up to the
// high watermark whose record has a timestamp at or after t, as Kafka's
// ListOffsets does. found is false when every record is older than t.
func (p *Partition) OffsetForTime(t time.Time) (offset int64, found bool, err error) {
	if !p.log.enter() {
		return -1, false, ErrClosed
	}
	defer p.log.exit()
	// Every record's time lies in [minRecordTime, maxRecordTime] (see
	// encode); beyond, t.UnixMilli would overflow.
	ts := t.UnixMilli()
	switch {
	case t.Before(minRecordTime):
		ts = minRecordTime.UnixMilli()
	case t.After(maxRecordTime):
		ts = maxRecordTime.UnixMilli() + 1 // after every record
	}
	hw := p.hw.Load()
	segs := *p.segments.Load()
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		if seg.base >= hw.offset {
			continue
		}
		if !seg.acquire() {
			if p.deleted.Load() {
				return -1, false, p.deletedErr()
			}
			// Retention deleted it or a cleaning replaced it: the records
			// may have moved to a segment listed earlier, so start over.
			segs, i = *p.segments.Load(), -1
			continue
		}
		offset, found, err = p.offsetForTimeIn(seg, ts, hw)
		_ = seg.release()
		if err == errLookAgain {
			// A read-only Log listed the partition again (see
			// relistGone): start over in the new listing.
			hw, segs, i = p.hw.Load(), *p.segments.Load(), -1
			continue
		}
		if err != nil || found {
			return offset, found, err
		}
	}
	return -1, false, nil
}

// errLookAgain is offsetForTimeIn's report that the partition was listed
// again.
var errLookAgain = errors.New("eventlog: segments listed again")

func (p *Partition) offsetForTimeIn(seg *segment, ts int64, hw *position) (int64, bool, error) {
	idx, _, err := seg.loadIndex(p.config().indexInterval)
	from := seg.base
	switch ce := (*CorruptError)(nil); {
	case err != nil && idx != nil && errors.As(err, &ce):
		// The log is damaged, so its index covers the batches before the
		// damage only: with no newest timestamp to go by, read from the
		// segment's start; the read fails at the damage if it gets
		// there, as it does with the segment's index files there.
	case err != nil:
		if again, err := p.relistGone(seg, err); !again {
			return -1, false, err
		}
		return -1, false, errLookAgain
	case seg.maxTimestamp.Load() < ts:
		return -1, false, nil
	default:
		var rebuilt bool
		from, rebuilt, err = seg.startForTime(idx, ts, func() (*segmentIndex, error) { return p.rebuildIndex(seg) })
		if err != nil {
			if again, err := p.relistGone(seg, err); !again {
				return -1, false, err
			}
			return -1, false, errLookAgain
		}
		if rebuilt {
			p.log.recovery.indexesRebuilt.Add(1)
			p.log.opts.Logger.Warn("eventlog: a time index did not match its log and was rebuilt", "path", seg.path(timeIndexExt))
		}
	}
	from = max(from, p.logStart.Load()) // DeleteRecords may have moved it inside seg
	for {
		offset, found, err := p.scanForTime(from, ts, hw)
		if start := p.logStart.Load(); errors.Is(err, ErrOffsetOutOfRange) && from < start {
			from = start // DeleteRecords or retention overtook the scan
			continue
		}
		return offset, found, err
	}
}

// scanForTime returns the first offset from offset on, below hw, whose
// record has a timestamp at or after ts. It reads the records in place, as
// views do: a copying read would copy every key, value and header (a
// 40-byte Header for each) only to look at the timestamps. A batch whose
// records are damaged fails, as a read of it does, unless the answer is in
// a batch before it.
func (p *Partition) scanForTime(offset, ts int64, hw *position) (int64, bool, error) {
	if err := p.checkReadable(offset); err != nil {
		return -1, false, err
	}
	c := batchCursor{p: p, offset: offset, hw: hw}
	defer c.close()
	dec := decoderPool.Get().(*batchDecoder)
	defer decoderPool.Put(dec)
	defer dec.trim()
	limit := maxReadDecompressedBytes(p.config().maxBatchBytes)
	for {
		ok, err := c.next()
		if err != nil || !ok {
			return -1, false, err
		}
		if c.fresh {
			offset = max(offset, c.entered) // see readAt
		}
		area, err := dec.recordsArea(&c.h, c.batch, limit)
		var it recordIter
		if err == nil {
			err = it.reset(&c.h, area)
		}
		found := int64(-1)
		for err == nil {
			// Every record is parsed, past the answer too: a batch
			// with a damaged record fails as a read of it does.
			var f recordFields
			if err = it.next(&f); err == errBatchEnd {
				err = nil
				break
			}
			if err == nil && found < 0 && f.offset >= offset && f.timestamp >= ts {
				found = f.offset
			}
		}
		if err != nil {
			return -1, false, p.corrupt(c.seg, c.batchPos, c.h.BaseOffset, err.Error())
		}
		if found >= 0 {
			return found, true, nil
		}
	}
}

// closeActive makes the active segment durable and writes its indexes, for a
// clean shutdown.
func (p *Partition) closeActive() error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.err(); err != nil {
		return err
	}
	// DurabilityOS topics too, names included: the clean-shutdown marker
	// tells the next Open not to check the active segment, which only
	// holds after a power loss if it reached the disk.
	if err := p.syncTo(p.written.Load()); err != nil {
		return err
	}
	if p.config().durability != DurabilityFsync {
		if err := p.log.opts.FS.SyncDir(p.dir); err != nil {
			return p.errorf("sync %s: %w", p.dir, err)
		}
	}
	if err := p.closeProducerStateLocked(); err != nil {
		return p.errorf("producer state: %w", err)
	}
	return p.active().sealLocked()
}

// release drops the partition's references to its segments and closes the
// .txnindex it appends to, if open: a clean Close fsynced and closed it
// (closeActive), and a partition that failed or whose topic is deleted
// needs it durable no more.
func (p *Partition) release() error {
	p.appendMu.Lock()
	err := p.releaseTxnIndexLocked()
	p.appendMu.Unlock()
	for _, seg := range *p.segments.Load() {
		err = errors.Join(err, seg.release())
	}
	return err
}
