package eventlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Acks says when a Producer counts a record as sent: Kafka's acks setting.
type Acks int8

const (
	// AcksAll, the default, completes a record once it is committed: as
	// durable as its topic promises — fsynced, on a DurabilityFsync topic —
	// and below the high watermark, so consumers can read it. Kafka's
	// acks=all.
	AcksAll Acks = iota
	// AcksLeader completes a record once it is written to the operating
	// system: it survives the process crashing but not a power loss. On a
	// DurabilityFsync topic consumers see it after the Log's background
	// fsync. Kafka's acks=1.
	AcksLeader
	// AcksNone completes a record as soon as the Producer has buffered it,
	// with Offset -1, as Kafka reports for acks=0. The record is then written
	// as with AcksLeader, but a failure to write it is only logged. Kafka's
	// acks=0. A SendIf, whose caller needs to know whether its condition
	// held, still waits for the write, as with AcksLeader.
	AcksNone
)

// String returns Kafka's value for the setting: "all", "1" or "0".
func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksLeader:
		return "1"
	case AcksNone:
		return "0"
	}
	return fmt.Sprintf("Acks(%d)", int8(a))
}

// Defaults applied to zero fields of ProducerOptions; they are Kafka's.
const (
	DefaultProducerBatchBytes  = 16384                // batch.size
	DefaultProducerLinger      = 5 * time.Millisecond // linger.ms (Kafka 4.0)
	DefaultProducerBufferBytes = 32 << 20             // buffer.memory
	DefaultTransactionTimeout  = time.Minute          // transaction.timeout.ms
)

// maxTransactionTimeout is Kafka's transaction.max.timeout.ms.
const maxTransactionTimeout = 15 * time.Minute

// ProducerOptions configure a Producer. A nil or zero ProducerOptions is all
// defaults. NewProducer copies the struct; later changes to it have no
// effect.
type ProducerOptions struct {
	// Acks says when a record counts as sent (Kafka's acks). A
	// transactional Producer (TransactionalID) must have AcksAll, as
	// Kafka's must have acks=all: NewProducer refuses the others.
	// Default AcksAll.
	Acks Acks

	// BatchBytes is the size, as encoded before compression, at which a
	// partition's batch is appended without waiting for Linger (Kafka's
	// batch.size). Records going to one partition are grouped into batches
	// of at most this size — a larger record gets a batch of its own — and
	// each batch is stored as one RecordBatch. A batch is also kept within
	// its topic's MaxBatchBytes. Default 16384.
	BatchBytes int

	// Linger is how long a batch that is not full waits for more records
	// before it is appended (Kafka's linger.ms). A negative Linger means no
	// wait (linger.ms=0). Default 5ms. Whatever the Linger, records that
	// arrive while their partition's previous batch is being appended wait
	// for that append and then go together, and a batch holding a record of
	// a synchronous Send does not wait for Linger. Linger is waited on
	// the real clock, not Options.Now (see there).
	Linger time.Duration

	// Compression is the codec of every batch (Kafka's compression.type).
	// Default CompressionNone.
	Compression Compression

	// Partitioner chooses each record's partition (Kafka's
	// partitioner.class). Default: a DefaultPartitioner whose StickyBytes is
	// BatchBytes. Use ManualPartitioner to send records to the partition
	// they name. A nil *DefaultPartitioner, *RoundRobinPartitioner or
	// PartitionerFunc is an error wrapping ErrInvalidConfig.
	Partitioner Partitioner

	// Idempotent stamps every batch with the Producer's own producer id
	// and per-partition sequence numbers, as Kafka's idempotent producer
	// does (enable.idempotence), so that the partitions would recognise a
	// batch stored twice. A Producer in the same process as its Log never
	// resends a batch — an append fails only when its partition failed,
	// which lasts until the Log is reopened — so, unlike Kafka's, it is
	// off by default; a transactional Producer is always idempotent. To
	// retry appends across a crash, use Partition.Append with
	// AppendOptions.Producer, whose sequence numbers the application
	// chooses. Default false.
	Idempotent bool

	// TransactionalID makes the Producer transactional (Kafka's
	// transactional.id): its records are sent inside transactions
	// (BeginTransaction, CommitTransaction, AbortTransaction) that
	// read_committed consumers see all at once or not at all, together
	// with the consumed offsets SendOffsetsToTransaction adds. A new
	// Producer with the same ID fences the old one and aborts its open
	// transaction. The Log forgets an ID that has had no transaction for
	// Options.TransactionalIDExpiration, which fences its Producer too. A
	// transactional Producer is idempotent, sends only inside
	// transactions, and must have Acks AcksAll (NewProducer refuses the
	// others, as Kafka's producer refuses acks other than all). Inside a
	// transaction, Send returns, and a SendAsync function is called, once
	// its record is written to the OS: CommitTransaction makes the
	// transaction's records durable all together. NewProducer takes part
	// in the transaction protocol (it fsyncs the ID's new epoch, and first
	// completes the old Producer's decided transaction, failing with
	// ErrTransactionIncomplete if it cannot). Default: none.
	TransactionalID string

	// TransactionTimeout is how long a transaction may stay open before
	// the Log aborts it and fences its Producer (Kafka's
	// transaction.timeout.ms), at most 15 minutes. Default 60s.
	TransactionTimeout time.Duration

	// BufferBytes bounds the memory of the records a Producer holds that
	// are not yet completed, counted as their encoded size plus about 50
	// bytes for each that reports its result to a function, a Send or a
	// context that can end (Kafka's buffer.memory). When it is full,
	// Send and SendAsync wait for room or for their context to end. A record
	// larger than BufferBytes fails with ErrRecordTooLarge. Default 32 MiB.
	BufferBytes int
}

// withDefaults returns a validated copy of o with zero fields defaulted.
func (o *ProducerOptions) withDefaults() (ProducerOptions, error) {
	var c ProducerOptions
	if o != nil {
		c = *o
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultProducerBatchBytes
	}
	if c.Linger == 0 {
		c.Linger = DefaultProducerLinger
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = DefaultProducerBufferBytes
	}
	if c.Partitioner == nil {
		c.Partitioner = &DefaultPartitioner{StickyBytes: c.BatchBytes}
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	switch {
	case c.Acks < AcksAll || c.Acks > AcksNone:
		return c, fmt.Errorf("%w: Acks %d", ErrInvalidConfig, c.Acks)
	case c.TransactionalID != "" && c.Acks != AcksAll:
		// Kafka's producer refuses it too: "Must set acks to all in order
		// to use the transactional producer".
		return c, fmt.Errorf("%w: TransactionalID %q with Acks acks=%s: a transactional Producer needs AcksAll (Kafka's acks=all)", ErrInvalidConfig, c.TransactionalID, c.Acks)
	case c.BatchBytes < 0 || c.BatchBytes > math.MaxInt32/2:
		return c, fmt.Errorf("%w: BatchBytes %d is outside [1, %d]", ErrInvalidConfig, c.BatchBytes, math.MaxInt32/2)
	case c.BufferBytes < 0:
		return c, fmt.Errorf("%w: BufferBytes %d is negative", ErrInvalidConfig, c.BufferBytes)
	case len(c.TransactionalID) > maxKafkaStringLen:
		return c, fmt.Errorf("%w: TransactionalID of %d bytes is longer than %d", ErrInvalidConfig, len(c.TransactionalID), maxKafkaStringLen)
	case c.TransactionTimeout < time.Millisecond || c.TransactionTimeout > maxTransactionTimeout:
		return c, fmt.Errorf("%w: TransactionTimeout %v is outside [1ms, %v]", ErrInvalidConfig, c.TransactionTimeout, maxTransactionTimeout)
	}
	if nilPartitioner(c.Partitioner) {
		return c, fmt.Errorf("%w: Partitioner is a nil %T", ErrInvalidConfig, c.Partitioner)
	}
	if !c.Compression.supported() {
		return c, errorf("%w: %w: Compression %s (%d)", ErrInvalidConfig, ErrUnsupportedCompression, c.Compression, c.Compression)
	}
	return c, nil
}

// nilPartitioner tells whether p is a nil of one of the library's
// Partitioner types, whose Partition would panic at a send. (A nil
// pointer of a user's type may be a valid Partitioner.)
func nilPartitioner(p Partitioner) bool {
	switch pt := p.(type) {
	case *DefaultPartitioner:
		return pt == nil
	case *RoundRobinPartitioner:
		return pt == nil
	case PartitionerFunc:
		return pt == nil
	}
	return false
}

// RecordMetadata tells where a sent record was stored. Offset is -1 when
// the record was not stored, and with AcksNone.
type RecordMetadata struct {
	Topic     string
	Partition int32 // -1 when the record failed before a partition was chosen
	Offset    int64
	Timestamp time.Time // the record's timestamp, in milliseconds as stored
}

// Producer sends records to the topics of a Log, batching them per
// partition as Kafka's producer does. Create one with Log.NewProducer and
// release it with Close. A Producer is safe for concurrent use; sharing one
// between goroutines lets their records share batches and fsyncs.
//
// Records are sent in one of three ways: Send waits for the result,
// SendAsync calls a function with it, and SendAsync with a nil function
// forgets it. Records sent to one partition, from one goroutine, are stored
// in the order they were sent.
//
// A Producer encodes each record into its batch when it is sent, as Kafka's
// producer serializes it: the caller may reuse the record's Key, Value and
// Headers as soon as Send or SendAsync returns.
type Producer struct {
	log        *Log
	opts       ProducerOptions // defaulted
	appendOpts AppendOptions

	// sending is held for reading while a record enters a batch and for
	// writing by Close, so that no record enters after Close flushed.
	sending    sync.RWMutex
	closed     bool          // guarded by sending
	closedFast atomic.Bool   // closed, for a check without the lock
	closing    chan struct{} // closed by Close

	topics    atomic.Pointer[map[string]*producerTopic] // copied on write
	topicsMu  sync.Mutex                                // serializes writers of topics
	lastTopic atomic.Pointer[producerTopic]             // the topic of the last record sent

	buffer struct {
		used    atomic.Int64
		waiting atomic.Bool // a sender may be waiting on freed
		mu      sync.Mutex
		freed   chan struct{} // closed when room is made; guarded by mu
	}

	linger struct {
		sync.Mutex
		queue []lingering   // open batches by deadline
		kick  chan struct{} // wakes the linger goroutine when queue was empty
		done  chan struct{} // closed when the linger goroutine returns
	}

	closeOnce sync.Once

	// id is the producer id and epoch stamped on every batch: {-1, -1}
	// unless the Producer is idempotent.
	id  ProducerID
	txn *producerTxn // nil unless transactional; see txn_producer.go
}

// producerTopic is a topic as a Producer knows it.
type producerTopic struct {
	name    string
	version int64             // the Log's topicsVersion when looked up
	queues  []*partitionQueue // by partition
	// retired are queues of partitions the topic no longer has (it was
	// deleted and created again) that still held batches, for Flush.
	retired []*partitionQueue
}

// lingering is an open batch waiting for its Linger to pass.
type lingering struct {
	q        *partitionQueue
	b        *producerBatch
	deadline time.Time
}

// NewProducer returns a Producer that sends to the topics of l. A nil opts
// means defaults.
func (l *Log) NewProducer(opts *ProducerOptions) (*Producer, error) {
	if err := l.refuseWrite("produce"); err != nil {
		return nil, err
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Producer{
		log:     l,
		opts:    o,
		closing: make(chan struct{}),
		id:      ProducerID{ID: -1, Epoch: -1},
	}
	switch {
	case o.TransactionalID != "":
		if err := p.initTransactions(); err != nil {
			return nil, err
		}
	case o.Idempotent:
		if !l.enter() {
			return nil, ErrClosed
		}
		id, err := l.txns.ids.allocate()
		l.exit()
		if err != nil {
			return nil, err
		}
		p.id = ProducerID{ID: id}
	}
	p.appendOpts = AppendOptions{Durability: DurabilityDefault, Compression: o.Compression}
	if o.Acks != AcksAll {
		p.appendOpts.Durability = DurabilityOS
	}
	p.linger.kick = make(chan struct{}, 1)
	p.linger.done = make(chan struct{})
	if o.Linger < 0 {
		close(p.linger.done)
	} else if !l.goBackground(p.lingerLoop) {
		return nil, ErrClosed
	}
	return p, nil
}

// Send sends r to r.Topic and returns once the record is as durable as Acks
// asks: with AcksAll, once consumers can read it. It returns where the
// record was stored, or why it was not: an error wrapping ErrTopicNotFound,
// ErrPartitionNotFound, ErrRecordTooLarge (a record larger than the
// topic's MaxBatchBytes or BufferBytes, or of more headers than a batch may
// hold, see Partition.Append), ErrInvalidRecord (a record
// without a key for a compacted topic, or with a timestamp outside Kafka's
// milliseconds since 1970), ErrClosed or ErrConcurrentUse (a
// Send from a SendAsync function, see there), an error from the Log's
// storage, or ctx.Err(). A zero r.Timestamp is set to the send time.
//
// ctx bounds the wait for buffer room and for the result. When Send returns
// ctx.Err() the record was not and will not be stored. A Send does not wait
// for Linger: its batch is appended as soon as its partition is free, and
// records other goroutines send in the meantime join it.
func (p *Producer) Send(ctx context.Context, r Record) (RecordMetadata, error) {
	return p.send(ctx, &r, EndOffsetCondition{})
}

// SendIf is Send with a condition: r is stored only if its partition's log
// end offset is the one cond expects — if r would get that offset — and
// otherwise fails with an *UnexpectedOffsetError carrying the actual log end
// offset, having stored nothing. It gives an event-sourced aggregate
// optimistic concurrency: read the stream to its end, decide, and SendIf
// expecting that end; a writer that lost the race reloads and retries. r
// travels in a batch of its own, so a failed condition fails no other
// record; choose its partition with a key or ManualPartitioner. SendIf
// waits for the outcome whatever Acks says: with AcksNone, until the
// record is written to the OS, as with AcksLeader.
func (p *Producer) SendIf(ctx context.Context, r Record, cond EndOffsetCondition) (RecordMetadata, error) {
	if !cond.set {
		return RecordMetadata{Topic: r.Topic, Partition: -1, Offset: -1}, errorf("eventlog: topic %q: %w: SendIf needs a condition (IfEndOffset)", r.Topic, ErrInvalidConfig)
	}
	if cond.offset < 0 {
		return RecordMetadata{Topic: r.Topic, Partition: -1, Offset: -1}, errorf("eventlog: topic %q: %w: expected log end offset %d is negative", r.Topic, ErrInvalidConfig, cond.offset)
	}
	return p.send(ctx, &r, cond)
}

func (p *Producer) send(ctx context.Context, r *Record, cond EndOffsetCondition) (RecordMetadata, error) {
	if p.acksOnBuffer() && !cond.set {
		_, _, md, err := p.enqueue(ctx, r, nil, nil, cond)
		return md, err
	}
	if p.log.calledFromCallback() {
		return RecordMetadata{Topic: r.Topic, Partition: -1, Offset: -1}, errFromCallback("Send")
	}
	w := new(sendWaiter)
	q, b, md, err := p.enqueue(ctx, r, nil, w, cond)
	if err != nil {
		return md, err
	}
	if q != nil {
		// No drainer was running: rather than start one and wait for it,
		// append the partition's batches up to this one here — unless
		// batches of other records lie ahead of this one and ctx can end,
		// which must bound the wait for them: a goroutine of the Log
		// appends those, and this Send waits below, as when a drainer was
		// running.
		if ctx.Done() == nil || q.firstInLine(b) {
			q.drain(b)
			return w.md, w.err
		}
		q.startDrain()
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		if w.state.CompareAndSwap(sendWaiting, sendAbandoned) {
			return md, ctx.Err()
		}
		<-b.done // the record is being appended; its result is moments away
	}
	return w.md, w.err
}

// SendAsync sends r to r.Topic without waiting for the result, and calls fn
// exactly once with the result Send would have returned; a nil fn forgets
// it (fire and forget), though failures are still logged. SendAsync returns
// once the record is buffered; it waits only while the buffer is full, until
// there is room or ctx ends.
//
// fn runs after the record's batch is appended, without any lock of the
// Producer held, on the goroutine appending the partition's batches: one of
// the Log's, or one calling Send for the same partition, which appends its
// own batch — and, when its ctx cannot end, the batches ahead of it —
// rather than wait for another goroutine to. Per
// partition, the functions run one at a time in the order of the records'
// offsets. A record that fails before it is buffered — unknown topic, too
// large, closed Producer, ended ctx — and every record with AcksNone
// has fn called on the calling goroutine before SendAsync returns. A
// record whose ctx ends while it waits in a batch is not stored and
// completes with ctx.Err() — except with AcksNone, where it completed once
// buffered, and ctx bounds only the wait for buffer room.
//
// fn must not block for long, since it delays the records after it. Calls
// from fn that would wait for appends — Send (unless Acks is AcksNone),
// SendIf, Flush, Close, CommitTransaction and
// AbortTransaction of any Producer, and Log.Close — could wait for fn
// itself, so they fail at once with an error wrapping ErrConcurrentUse.
// So do a SendAsync from fn that finds the buffer full (its own fn gets
// the error) and, while a CommitTransaction or AbortTransaction waits for
// fn, the calls into that transaction (SendAsync,
// SendOffsetsToTransaction, BeginTransaction). A SendAsync from fn that
// finds room works as anywhere else.
func (p *Producer) SendAsync(ctx context.Context, r Record, fn func(RecordMetadata, error)) {
	later := fn
	if p.acksOnBuffer() {
		later = nil // fn is called now
	}
	_, _, md, err := p.enqueue(ctx, &r, later, nil, EndOffsetCondition{})
	switch {
	case err != nil && fn != nil:
		fn(md, err)
	case err != nil:
		p.log.opts.Logger.Warn("eventlog: record not sent", "topic", r.Topic, "err", err)
	case later == nil && fn != nil:
		fn(md, nil)
	}
}

// acksOnBuffer tells whether a record completes once buffered: with
// AcksNone, which a transactional Producer cannot have.
func (p *Producer) acksOnBuffer() bool {
	return p.opts.Acks == AcksNone
}

// Flush appends every batch that holds a record sent before the call,
// without waiting for Linger, and returns once all those records completed
// and their functions returned, or ctx ended. It reports no record's
// outcome, which goes to its Send or SendAsync: it returns nil once they
// completed, whether they were stored or failed. So it does after
// Log.Close, which completed every record still buffered with ErrClosed,
// and after Close. Flush from a SendAsync function, which would wait for
// the function itself, returns an error wrapping ErrConcurrentUse.
func (p *Producer) Flush(ctx context.Context) error {
	if p.log.calledFromCallback() {
		return errFromCallback("Flush")
	}
	return p.flush(ctx)
}

// flush is Flush for the Producer's own goroutines.
func (p *Producer) flush(ctx context.Context) error {
	var pending []*producerBatch
	if m := p.topics.Load(); m != nil {
		for _, t := range *m {
			for _, q := range slices.Concat(t.queues, t.retired) {
				if b := q.flush(); b != nil {
					pending = append(pending, b)
				}
			}
		}
	}
	for _, b := range pending {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close flushes the records the Producer holds, waits for them to complete
// and stops the Producer's goroutines. Later sends fail with an error
// wrapping ErrClosed. Close is idempotent and returns nil: each record's
// outcome goes to its Send or SendAsync. A transactional Producer's open
// transaction is aborted. Close from a SendAsync function, which would wait
// for the function itself, returns an error wrapping ErrConcurrentUse and
// closes nothing.
//
// Closing the Log first fails the records still buffered with ErrClosed;
// Close the Producer first to store them.
func (p *Producer) Close() error {
	if p.log.calledFromCallback() {
		return errFromCallback("Close")
	}
	p.closeOnce.Do(func() {
		p.sending.Lock()
		p.closed = true
		p.closedFast.Store(true)
		p.sending.Unlock()
		close(p.closing)
		_ = p.flush(context.Background())
		p.closeTransaction()
		<-p.linger.done
	})
	return nil
}

// errProducerClosed is returned for records sent after Close.
var errProducerClosed error = &chainedError{msg: "eventlog: producer is closed", err: ErrClosed}

// enqueue puts r into its partition's open batch and returns the batch.
// fn or w, if set, receive the result when the batch completes. The
// metadata returned holds what is known so far. For a Send (w set) that
// finds no drainer running, it returns the partition's queue, and the
// caller must drain it; otherwise it starts a drainer if one is needed.
func (p *Producer) enqueue(ctx context.Context, r *Record, fn func(RecordMetadata, error), w *sendWaiter, cond EndOffsetCondition) (drainHere *partitionQueue, b *producerBatch, md RecordMetadata, err error) {
	md = RecordMetadata{Topic: r.Topic, Partition: -1, Offset: -1}
	// noted is set once a refusal of r is noted in the open transaction
	// (see refusedLocked): from enterSend on, which holds it open.
	noted := false
	if p.txn != nil {
		defer func() {
			if err != nil && !noted {
				p.txn.refused(p, err)
			}
		}()
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, md, err
	}
	if p.closedFast.Load() {
		return nil, nil, md, errProducerClosed
	}
	if p.log.closed.Load() {
		return nil, nil, md, ErrClosed
	}
	if isInternalTopic(r.Topic) {
		return nil, nil, md, errorf("eventlog: topic %q: %w: an internal topic, written only by the library", r.Topic, ErrInvalidTopic)
	}
	t, err := p.topic(r.Topic)
	if err != nil {
		return nil, nil, md, err
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = p.log.opts.Now()
	} else if r.Timestamp.Before(minRecordTime) || r.Timestamp.After(maxRecordTime) {
		// As Partition.Append refuses it: UnixMilli would overflow, or
		// the batch's timestamp deltas.
		return nil, nil, md, errorf("eventlog: topic %q: %w: timestamp %v is outside Kafka's milliseconds since 1970 (±2^62)", r.Topic, ErrInvalidRecord, r.Timestamp)
	}
	md.Timestamp = time.UnixMilli(r.Timestamp.UnixMilli())
	n := len(t.queues)
	id := p.partition(r, n)
	if id < 0 || int(id) >= n {
		return nil, nil, md, errorf("eventlog: topic %q: %w: the partitioner chose partition %d, topic has %d", r.Topic, ErrPartitionNotFound, id, n)
	}
	md.Partition = id
	q := t.queues[id]
	if r.Key == nil && q.part.config().cleanup.compacts() {
		return nil, nil, md, q.part.errorf("%w: a record without a key cannot go to compacted topic %q (cleanup.policy=%s)", ErrInvalidRecord, r.Topic, q.part.config().cleanup)
	}
	fixed := recordFixedSize(r)
	size := recordSizeInBatch(fixed, 0, 0)
	held := int64(size)
	// ctx can drop the record from its batch while somebody still waits
	// for its outcome. With AcksNone a record without a waiter is
	// acknowledged once buffered, which ends what
	// its ctx bounds: it must not be dropped after that.
	watchCtx := ctx.Done() != nil && (w != nil || !p.acksOnBuffer())
	if fn != nil || w != nil || watchCtx {
		held += int64(recordOverhead)
	}
	if limit := q.part.config().maxBatchBytes; batchHeaderSize+size > limit {
		return nil, nil, md, q.part.errorf("%w: record is %d bytes as a batch, max is %d", ErrRecordTooLarge, batchHeaderSize+size, limit)
	}
	if len(r.Headers) > q.maxHeaders {
		return nil, nil, md, q.part.errorf("%w: record has %d headers, more than the %d a batch may hold (%d bytes as the Header values of a copying read, what the batch may decompress to)", ErrRecordTooLarge, len(r.Headers), q.maxHeaders, q.maxHeaders*headerSize)
	}
	if held > int64(p.opts.BufferBytes) {
		return nil, nil, md, q.part.errorf("%w: record holds %d bytes of buffer, BufferBytes is %d", ErrRecordTooLarge, held, p.opts.BufferBytes)
	}
	if p.txn != nil {
		done, sendErr := p.txn.enterSend(ctx, p, q.part)
		noted = true
		if sendErr != nil {
			return nil, nil, md, sendErr
		}
		defer func() {
			// Before the transaction's end, which may be waiting for this
			// call, can go on without the record.
			if err != nil {
				p.txn.refusedLocked(err)
			}
			done()
		}()
	}
	if err := p.reserve(ctx, held); err != nil {
		return nil, nil, md, err
	}

	p.sending.RLock()
	if p.closed {
		p.sending.RUnlock()
		p.release(held)
		return nil, nil, md, errProducerClosed
	}
	s := pendingSend{fn: fn, wait: w}
	if watchCtx {
		s.ctx = ctx // checked again when the batch is appended
	}
	b, start, linger := q.add(r, fixed, held, s, cond)
	p.sending.RUnlock()
	switch {
	case start && w != nil:
		drainHere = q
	case start:
		q.startDrain()
	}
	if linger {
		if p.log.closed.Load() {
			// The linger goroutine may be gone already: let the batch fail now.
			q.seal(b)
		} else {
			p.startLinger(q, b)
		}
	}
	return drainHere, b, md, nil
}

// partition asks the Partitioner for r's partition. A user's Partitioner
// gets a copy of r from a pool: r itself would escape to the heap through
// the interface call, costing an allocation per record.
func (p *Producer) partition(r *Record, n int) int32 {
	switch pt := p.opts.Partitioner.(type) {
	case *DefaultPartitioner:
		return pt.Partition(r, n)
	case ManualPartitioner:
		return r.Partition
	case *RoundRobinPartitioner:
		return pt.Partition(r, n)
	}
	c := recordPool.Get().(*Record)
	*c = *r
	id := p.opts.Partitioner.Partition(c, n)
	*c = Record{}
	recordPool.Put(c)
	return id
}

var recordPool = sync.Pool{New: func() any { return new(Record) }}

// topic returns the producer's view of a topic, looking it up in the Log
// the first time.
func (p *Producer) topic(name string) (*producerTopic, error) {
	version := p.log.topicsVersion.Load()
	if t := p.lastTopic.Load(); t != nil && t.name == name && t.version == version {
		return t, nil
	}
	if m := p.topics.Load(); m != nil {
		if t := (*m)[name]; t != nil && t.version == version {
			p.lastTopic.Store(t)
			return t, nil
		}
	}
	lt, err := p.log.topic(name)
	if err != nil {
		if name == "" && errors.Is(err, ErrTopicNotFound) {
			// Partition.Append needs no Record.Topic; a Send does.
			return nil, fmt.Errorf("%w: the record has no Topic", ErrTopicNotFound)
		}
		return nil, err
	}
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	var old map[string]*producerTopic
	if m := p.topics.Load(); m != nil {
		old = *m
	}
	prev := old[name]
	if prev != nil && prev.version == version {
		return prev, nil
	}
	// Topics changed since: a partition this topic still has keeps its
	// queue, so that its records stay in order.
	t := &producerTopic{name: name, version: version, queues: make([]*partitionQueue, len(lt.partitions))}
	var reuse map[*Partition]*partitionQueue
	if prev != nil {
		reuse = make(map[*Partition]*partitionQueue, len(prev.queues))
		for _, q := range prev.queues {
			reuse[q.part] = q
		}
	}
	for i, part := range lt.partitions {
		if q := reuse[part]; q != nil {
			t.queues[i] = q
			delete(reuse, part)
			continue
		}
		q := &partitionQueue{
			producer:   p,
			part:       part,
			limit:      min(p.opts.BatchBytes, part.config().maxBatchBytes),
			maxHeaders: maxAppendHeaders(part.config().maxBatchBytes),
			noLinger:   p.opts.Linger < 0,
		}
		q.drainFn = func(<-chan struct{}) { q.drain(nil) }
		t.queues[i] = q
	}
	if prev != nil {
		for _, q := range slices.Concat(prev.retired, slices.Collect(maps.Values(reuse))) {
			if !q.idle() {
				t.retired = append(t.retired, q)
			}
		}
	}
	m := make(map[string]*producerTopic, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = t
	p.topics.Store(&m)
	return t, nil
}

// reserve takes n bytes of buffer room, waiting for it while the buffer is
// full.
func (p *Producer) reserve(ctx context.Context, n int64) error {
	if p.tryReserve(n) {
		return nil
	}
	b := &p.buffer
	b.mu.Lock()
	for {
		b.waiting.Store(true) // before the check, so release cannot miss us
		if p.tryReserve(n) {
			b.mu.Unlock()
			return nil
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		if p.log.calledFromCallback() {
			// The room may be held by the batches behind the function.
			return errFromCallback("a send waiting for buffer room")
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.closing:
			return errProducerClosed
		}
		b.mu.Lock()
	}
}

func (p *Producer) tryReserve(n int64) bool {
	limit := int64(p.opts.BufferBytes)
	for {
		used := p.buffer.used.Load()
		if used+n > limit {
			return false
		}
		if p.buffer.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// release returns n bytes of buffer room and wakes the senders waiting.
func (p *Producer) release(n int64) {
	b := &p.buffer
	b.used.Add(-n)
	if b.waiting.Load() {
		b.mu.Lock()
		b.waiting.Store(false)
		if b.freed != nil {
			close(b.freed)
			b.freed = nil
		}
		b.mu.Unlock()
	}
}

// startLinger arranges for the open batch b of q to be sealed when Linger
// has passed.
func (p *Producer) startLinger(q *partitionQueue, b *producerBatch) {
	p.linger.Lock()
	wasEmpty := len(p.linger.queue) == 0
	p.linger.queue = append(p.linger.queue, lingering{q: q, b: b, deadline: time.Now().Add(p.opts.Linger)})
	p.linger.Unlock()
	if wasEmpty {
		select {
		case p.linger.kick <- struct{}{}:
		default:
		}
	}
}

// lingerLoop seals open batches whose Linger has passed. It runs on a
// goroutine of the Log until the Producer or the Log closes. When the Log
// closes first, it hands every open batch to be failed, so that no record
// waits forever.
func (p *Producer) lingerLoop(stop <-chan struct{}) {
	defer close(p.linger.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		now := time.Now()
		var expired []lingering
		p.linger.Lock()
		i := 0
		for i < len(p.linger.queue) && !p.linger.queue[i].deadline.After(now) {
			i++
		}
		expired = append(expired, p.linger.queue[:i]...)
		clear(p.linger.queue[:i])
		p.linger.queue = p.linger.queue[i:]
		if len(p.linger.queue) == 0 {
			p.linger.queue = nil
		} else {
			timer.Reset(p.linger.queue[0].deadline.Sub(now))
		}
		p.linger.Unlock()
		for _, e := range expired {
			e.q.seal(e.b)
		}
		select {
		case <-timer.C:
		case <-p.linger.kick:
			timer.Stop()
		case <-p.closing:
			timer.Stop()
			return
		case <-stop:
			timer.Stop()
			_ = p.flush(context.Background())
			return
		}
	}
}

// appendDurability is the durability the Producer's appends ask for: a
// transaction's are written to the OS, and fsynced all together when it
// commits.
func (p *Producer) appendDurability() Durability {
	if p.txn != nil {
		return DurabilityOS
	}
	return p.appendOpts.Durability
}
