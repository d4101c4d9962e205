package eventlog

// The per-partition accumulator behind a Producer: records are encoded into
// the open batch of their partition's queue, and one goroutine at a time
// drains a queue's sealed batches into Partition.appendEncoded.

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// sendWaiter is where a batch leaves the result for a Send.
type sendWaiter struct {
	state atomic.Int32 // sendWaiting, then sendTaken or sendAbandoned
	md    RecordMetadata
	err   error
}

const (
	sendWaiting   = iota
	sendTaken     // the record is being appended
	sendAbandoned // Send returned ctx.Err(); the record must not be appended
)

// pendingSend is how a buffered record reports its result. A batch keeps
// one only for the records that have a function, a waiter or a context
// that can end: fire-and-forget records cost the drainer nothing.
type pendingSend struct {
	index int32                       // of the record in its batch
	ts    int64                       // the record's timestamp, milliseconds
	ctx   context.Context             // nil when it cannot end
	fn    func(RecordMetadata, error) // for SendAsync; nil otherwise
	wait  *sendWaiter                 // for Send; nil otherwise
}

func (s *pendingSend) needed() bool { return s.ctx != nil || s.fn != nil || s.wait != nil }

// producerBatch is one RecordBatch of a partition being built: its records
// are encoded into buf as they are sent, after room for the header.
type producerBatch struct {
	buf       []byte        // header space, then the encoded records
	count     int           // records in buf
	headers   int           // of the records in buf
	sends     []pendingSend // by record index, for the records that need one
	reserved  int64         // buffer room held by the records
	baseTS    int64         // timestamp of the first record, in milliseconds
	maxTS     int64
	urgent    bool               // a Send waits: append as soon as the partition is free
	callbacks bool               // a record has a SendAsync function
	keyless   bool               // a record has a null key (see Partition.appendEncoded)
	cond      EndOffsetCondition // of a SendIf, whose record has the batch to itself
	waiters   int                // Sends waiting for the batch
	done      chan struct{}      // closed when every record has completed
}

// partitionQueue holds a Producer's batches for one partition. One
// goroutine at a time, the drainer, appends them in order.
type partitionQueue struct {
	producer   *Producer
	part       *Partition
	limit      int  // batch size: BatchBytes within the topic's MaxBatchBytes
	maxHeaders int  // of a batch's records: maxAppendHeaders of the topic's MaxBatchBytes
	noLinger   bool // open batches are ready at once
	drainFn    func(<-chan struct{})
	spans      []appendSpan // scratch of the drainer
	released   int          // Sends the drainer's last batch completed
	seq        int32        // base sequence of the next batch, for an idempotent Producer; the drainer's

	mu struct {
		sync.Mutex
		open     *producerBatch   // takes new records; not yet ready unless urgent or noLinger
		ready    []*producerBatch // sealed, oldest first
		inFlight *producerBatch   // being appended or completed by the drainer
		draining bool             // a drainer is running
	}
}

// add appends r, whose fixed size is fixed and which holds reserved bytes
// of buffer, to the open batch, sealing batches as they fill. A record with
// a condition gets a batch of its own. It returns r's batch, whether the
// caller must start a drainer, and whether the batch is new and needs a
// linger deadline.
func (q *partitionQueue) add(r *Record, fixed int, reserved int64, s pendingSend, cond EndOffsetCondition) (b *producerBatch, start, linger bool) {
	ts := r.Timestamp.UnixMilli()
	q.mu.Lock()
	b = q.mu.open
	size := 0
	if b != nil {
		size = recordSizeInBatch(fixed, ts-b.baseTS, b.count)
		if len(b.buf)+size > q.limit || b.headers+len(r.Headers) > q.maxHeaders || cond.set {
			q.sealLocked()
			b = nil
		}
	}
	fresh := b == nil
	if fresh {
		size = recordSizeInBatch(fixed, 0, 0)
		b = &producerBatch{baseTS: ts, maxTS: ts, done: make(chan struct{})}
		if bufs, ok := batchBuffersPool.Get().(*batchBuffers); ok && cap(bufs.buf) >= min(q.limit, batchHeaderSize+size) {
			b.buf, b.sends = bufs.buf, bufs.sends
		} else {
			b.buf = make([]byte, 0, max(min(q.limit, maxPooledBatch), batchHeaderSize+size))
		}
		b.buf = b.buf[:batchHeaderSize]
		q.mu.open = b
	}
	b.callbacks = b.callbacks || s.fn != nil
	if s.needed() {
		s.index = int32(b.count)
		s.ts = ts
		b.sends = append(b.sends, s)
	}
	b.buf = appendRecord(b.buf, r, fixed, ts-b.baseTS, b.count)
	b.count++
	b.headers += len(r.Headers)
	b.keyless = b.keyless || r.Key == nil
	b.maxTS = max(b.maxTS, ts)
	b.reserved += reserved
	if s.wait != nil {
		b.urgent = true
		b.waiters++
	}
	b.cond = cond
	if len(b.buf) >= q.limit || cond.set {
		q.sealLocked()
	}
	start = q.startLocked()
	linger = fresh && q.mu.open == b && !b.urgent && !q.noLinger
	q.mu.Unlock()
	return b, start, linger
}

// seal makes b ready if it is still the open batch.
func (q *partitionQueue) seal(b *producerBatch) {
	q.mu.Lock()
	if q.mu.open == b {
		q.sealLocked()
	}
	start := q.startLocked()
	q.mu.Unlock()
	if start {
		q.startDrain()
	}
}

// flush makes the open batch ready and returns the newest batch not yet
// completed, or nil.
func (q *partitionQueue) flush() *producerBatch {
	q.mu.Lock()
	if q.mu.open != nil {
		q.sealLocked()
	}
	newest := q.mu.inFlight
	if n := len(q.mu.ready); n > 0 {
		newest = q.mu.ready[n-1]
	}
	start := q.startLocked()
	q.mu.Unlock()
	if start {
		q.startDrain()
	}
	return newest
}

// firstInLine tells whether b is the next batch to append. Only the
// drainer may ask: nobody else takes batches from the queue, so the answer
// holds until it does.
func (q *partitionQueue) firstInLine(b *producerBatch) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.mu.ready) > 0 {
		return q.mu.ready[0] == b
	}
	return q.mu.open == b
}

// idle tells whether the queue holds no batch.
func (q *partitionQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.open == nil && len(q.mu.ready) == 0 && q.mu.inFlight == nil
}

func (q *partitionQueue) sealLocked() {
	q.mu.ready = append(q.mu.ready, q.mu.open)
	q.mu.open = nil
}

// startLocked reports whether the caller must start a drainer, and if so
// marks one as running.
func (q *partitionQueue) startLocked() bool {
	if q.mu.draining {
		return false
	}
	if len(q.mu.ready) == 0 && !q.openReadyLocked() {
		return false
	}
	q.mu.draining = true
	return true
}

func (q *partitionQueue) openReadyLocked() bool {
	return q.mu.open != nil && (q.noLinger || q.mu.open.urgent)
}

// startDrain runs the drainer on a goroutine of the Log or, once the Log is
// closed, on the calling goroutine, where its appends fail at once.
func (q *partitionQueue) startDrain() {
	if !q.producer.log.goBackground(q.drainFn) {
		q.drain(nil)
	}
}

// drain appends ready batches in order until none is left or, when until
// is set, until that batch is done; then another drainer takes over if
// batches are left.
func (q *partitionQueue) drain(until *producerBatch) {
	for yields := 0; ; {
		q.mu.Lock()
		var b *producerBatch
		switch {
		case len(q.mu.ready) > 0:
			b = q.mu.ready[0]
			q.mu.ready[0] = nil
			q.mu.ready = q.mu.ready[1:]
		case q.openReadyLocked():
			if q.mu.open.waiters < q.released && yields < maxDrainYields {
				// The Sends the last batch completed are likely about to
				// send again. Appending now would leave them to the next
				// batch and its fsync, and concurrent Sends would settle
				// into two groups taking turns, each fsync covering half
				// of them. Letting them run first keeps them together:
				// measured, 8 Senders' records per fsync go from about 4
				// to about 8.
				q.mu.Unlock()
				yields++
				runtime.Gosched()
				continue
			}
			b = q.mu.open
			q.mu.open = nil
		}
		yields = 0
		q.mu.inFlight = b
		if b == nil {
			q.mu.draining = false
			q.mu.ready = nil
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		q.send(b)
		q.released = b.waiters
		if b == until {
			q.mu.Lock()
			q.mu.inFlight = nil
			q.mu.draining = false
			start := q.startLocked()
			q.mu.Unlock()
			if start {
				q.startDrain()
			}
			return
		}
	}
}

// maxDrainYields bounds how many times a drainer lets the Sends its last
// batch completed run before it appends the next batch without them.
const maxDrainYields = 3

// appendSpan is the outcome of one Append: n records from base, or err.
type appendSpan struct {
	n    int
	base int64
	err  error
}

// send appends b and completes its records.
func (q *partitionQueue) send(b *producerBatch) {
	var dropped []int32 // indexes of the records whose sender gave up
	var gaveUp error    // the context error of the first of them
	for i := range b.sends {
		s := &b.sends[i]
		gone := false
		if s.wait != nil {
			gone = !s.wait.state.CompareAndSwap(sendWaiting, sendTaken)
		} else {
			gone = s.ctx != nil && s.ctx.Err() != nil
		}
		if gone {
			dropped = append(dropped, s.index)
			if gaveUp == nil {
				gaveUp = s.ctx.Err()
			}
		}
	}
	if gaveUp != nil && q.producer.txn != nil {
		// The transaction must not commit without the record, whether or
		// not anybody listens for its outcome.
		q.producer.txn.recordFailed(q.part.errorf("its sender gave up: %w", gaveUp))
	}
	batch := q.finish(b)
	var span appendSpan
	if dropped == nil {
		span.n = b.count
		span.base, span.err = q.part.appendEncoded(batch, q.producer.appendDurability(), q.checks(b))
	} else {
		// Rare: decode the batch and append what is left of it.
		records, err := q.decode(batch)
		if err != nil {
			panic(fmt.Sprintf("eventlog: the producer cannot decode its own batch: %v", err))
		}
		kept := records[:0]
		next := 0
		for _, i := range dropped {
			kept = append(kept, records[next:i]...)
			next = int(i) + 1
		}
		kept = append(kept, records[next:]...)
		span.n = len(kept)
		if len(kept) > 0 {
			span.base, span.err = q.appendRecords(kept, b)
		}
	}
	if span.err != nil && q.producer.txn != nil {
		q.producer.txn.recordFailed(span.err)
	}
	if span.err == nil && span.n > 0 && q.producer.id.ID >= 0 {
		q.seq = lastSequence(q.seq, int32(span.n))
	}
	spans := q.spans[:0]
	if span.n > 0 {
		spans = append(spans, span)
	}
	q.spans = spans[:0]
	q.complete(b, dropped, spans)
}

// appendRecords appends records, what is left of b once records whose
// senders gave up are dropped, as one batch with b's producer fields.
func (q *partitionQueue) appendRecords(records []Record, b *producerBatch) (int64, error) {
	var enc batchEncoder
	batch, err := enc.encode(nil, records, q.producer.opts.Compression)
	if err != nil {
		return -1, q.part.errorf("%w", err)
	}
	seq := int32(noSequence)
	if q.producer.id.ID >= 0 {
		seq = q.seq
	}
	setProducerFields(batch, q.producer.id, seq, q.producer.txn != nil)
	return q.part.appendEncoded(batch, q.producer.appendDurability(), q.checks(b))
}

// checks returns what the partition checks b's batch for.
func (q *partitionQueue) checks(b *producerBatch) appendChecks {
	return appendChecks{keyless: b.keyless, condition: b.cond, transactionalID: q.producer.opts.TransactionalID}
}

// finish fills in b's header, compressing its records if asked, and
// returns the batch to write.
func (q *partitionQueue) finish(b *producerBatch) []byte {
	batch := b.buf
	c := q.producer.opts.Compression
	if c != CompressionNone {
		out := make([]byte, batchHeaderSize, batchHeaderSize+len(batch)/2)
		out, err := compress(out, batch[batchHeaderSize:], c)
		if err == nil && len(out) <= q.part.config().maxBatchBytes {
			batch = out
		} else {
			c = CompressionNone // the codec grew the batch past the limit
		}
	}
	be := binary.BigEndian
	be.PutUint64(batch[0:], 0)
	be.PutUint32(batch[batchLengthPos:], uint32(len(batch)-batchOverhead))
	be.PutUint32(batch[batchLeaderEpochPos:], 0)
	batch[batchMagicPos] = batchMagic
	be.PutUint16(batch[batchAttributesPos:], uint16(c))
	be.PutUint32(batch[batchLastOffsetDeltaPos:], uint32(b.count-1))
	be.PutUint64(batch[batchBaseTimestampPos:], uint64(b.baseTS))
	be.PutUint64(batch[batchMaxTimestampPos:], uint64(b.maxTS))
	seq := int32(noSequence)
	if q.producer.id.ID >= 0 {
		seq = q.seq
	}
	putProducerFields(batch, q.producer.id, seq, q.producer.txn != nil)
	be.PutUint32(batch[batchRecordCountPos:], uint32(b.count))
	be.PutUint32(batch[batchCRCPos:], crc32cUpdate(0, batch[batchAttributesPos:]))
	return batch
}

// decode returns the records of a batch that finish made.
func (q *partitionQueue) decode(batch []byte) ([]Record, error) {
	h, err := parseBatchHeader(batch)
	if err != nil {
		return nil, err
	}
	var d batchDecoder
	return d.decode(nil, &h, batch, 0, maxReadDecompressedBytes(q.part.config().maxBatchBytes))
}

// complete reports the outcome of b's records — dropped ones fail with
// their context's error, the others get theirs from spans, in order —
// releases the buffer room and closes b.done.
func (q *partitionQueue) complete(b *producerBatch, dropped []int32, spans []appendSpan) {
	q.producer.release(b.reserved)

	// The records appended are b.records without dropped; the k-th of them
	// is in spans[span] at offset base+k-spanStart.
	failed := 0
	for _, sp := range spans {
		if sp.err != nil {
			failed += sp.n
		}
	}
	if b.callbacks { // see calledFromCallback
		q.producer.log.callbacks.Add(1)
		defer q.producer.log.callbacks.Add(-1)
	}
	span, spanStart, skipped := 0, 0, 0
	unsent, unsentErr := 0, error(nil) // fire-and-forget records dropped
	for i := range b.sends {
		s := &b.sends[i]
		for skipped < len(dropped) && dropped[skipped] < s.index {
			skipped++
		}
		var err error
		offset := int64(-1)
		if skipped < len(dropped) && dropped[skipped] == s.index {
			if s.fn == nil {
				if s.wait == nil { // nobody listens: logged below
					unsent++
					unsentErr = cmp.Or(unsentErr, s.ctx.Err())
				}
				continue // Send returned ctx.Err() already
			}
			err = s.ctx.Err()
		} else {
			k := int(s.index) - skipped
			for k >= spanStart+spans[span].n {
				spanStart += spans[span].n
				span++
			}
			if err = spans[span].err; err == nil {
				offset = spans[span].base + int64(k-spanStart)
			}
			if s.fn == nil && s.wait == nil {
				continue // fire and forget, kept for its context
			}
			if err != nil {
				failed-- // reported to its sender, not lost silently
			}
		}
		md := RecordMetadata{
			Topic:     q.part.topic,
			Partition: q.part.id,
			Offset:    offset,
			Timestamp: time.UnixMilli(s.ts),
		}
		if s.fn != nil {
			runCallback(s.fn, md, err)
		} else {
			s.wait.md, s.wait.err = md, err
		}
	}
	if failed > 0 {
		var err error
		for _, sp := range spans {
			if sp.err != nil {
				err = sp.err
			}
		}
		q.producer.log.opts.Logger.Warn("eventlog: records lost", "topic", q.part.topic, "partition", q.part.id, "records", failed, "err", err)
	}
	if unsent > 0 {
		q.producer.log.opts.Logger.Warn("eventlog: records not sent", "topic", q.part.topic, "partition", q.part.id, "records", unsent, "err", unsentErr)
	}
	if cap(b.buf) <= maxPooledBatch {
		batchBuffersPool.Put(&batchBuffers{buf: b.buf[:0], sends: b.sends[:0]})
	}
	b.buf, b.sends = nil, nil
	close(b.done)
}

// batchBuffers are the slices of a completed batch, kept for the next.
type batchBuffers struct {
	buf   []byte
	sends []pendingSend
}

var batchBuffersPool sync.Pool

// maxPooledBatch bounds the size of a batch whose buffers are kept.
const maxPooledBatch = 1 << 20

// recordOverhead is what the Producer holds per buffered record that
// reports its result, besides its encoded bytes.
const recordOverhead = int(unsafe.Sizeof(pendingSend{}))

// recordSizeInBatch is the encoded size of a record of fixed size at the
// given timestamp and offset deltas in its batch, length prefix included.
func recordSizeInBatch(fixed int, tsDelta int64, offsetDelta int) int {
	body := fixed + varintLen(tsDelta) + varintLen(int64(offsetDelta))
	return varintLen(int64(body)) + body
}
