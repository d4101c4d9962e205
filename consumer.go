package eventlog

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the Consumer. Like the other sentinels, they are returned
// wrapped with context; test for them with errors.Is.
var (
	// ErrWakeup is returned by a Poll that Consumer.Wakeup interrupted, or
	// by the first Poll after a Wakeup that found no Poll in progress
	// (Kafka's WakeupException).
	ErrWakeup = errors.New("eventlog: consumer woken up")

	// ErrNoOffset is returned for a partition that has no position when
	// AutoOffsetReset is OffsetResetNone (Kafka's
	// NoOffsetForPartitionException). It wraps ErrOffsetOutOfRange, so
	// errors.Is(err, ErrOffsetOutOfRange) holds for it too.
	ErrNoOffset error = &chainedError{msg: "eventlog: no position and auto.offset.reset is none", err: ErrOffsetOutOfRange}

	// ErrNotAssigned is returned for an operation on a partition that is not
	// assigned to the consumer.
	ErrNotAssigned = errors.New("eventlog: partition not assigned to this consumer")

	// ErrConcurrentUse is returned when two goroutines call a Consumer at the
	// same time (Kafka's ConcurrentModificationException). Only Wakeup,
	// Assignment, Paused and Close may be called from any goroutine. Errors
	// wrapping it also refuse a call that would wait for its own caller: one
	// from a RebalanceListener, commit callback or TypedConsumer's
	// Deserializer that would wait for the Poll around it, and one from a
	// Producer's SendAsync function that would wait for appends while the
	// function holds them up.
	ErrConcurrentUse = errors.New("eventlog: concurrent use")
)

// errConsumerBusy is returned by a call while another is running.
var errConsumerBusy = errorf("eventlog: consumer called from two goroutines at once: %w", ErrConcurrentUse)

// errConsumerClosed is returned by calls on a closed Consumer.
var errConsumerClosed error = &chainedError{msg: "eventlog: consumer is closed", err: ErrClosed}

// chainedError is a sentinel that also matches a more general one.
type chainedError struct {
	msg string
	err error
}

func (e *chainedError) Error() string { return e.msg }
func (e *chainedError) Unwrap() error { return e.err }

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String formats tp as Kafka does: "topic-partition".
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

func compareTopicPartitions(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// OffsetReset says where a consumer starts reading a partition for which it
// has no valid position (Kafka's auto.offset.reset).
type OffsetReset int8

const (
	// OffsetResetLatest starts at the end — the high watermark, or the
	// last stable offset for a ReadCommitted consumer: only records
	// appended from now on are read. It is Kafka's default, and the zero
	// value.
	OffsetResetLatest OffsetReset = iota
	// OffsetResetEarliest starts at the log start offset: every record
	// still stored is read.
	OffsetResetEarliest
	// OffsetResetNone makes Poll and Position fail with ErrNoOffset (no
	// position) or ErrOffsetOutOfRange (a position outside the log), so the
	// application decides with Seek.
	OffsetResetNone
)

// String returns Kafka's name for the policy.
func (r OffsetReset) String() string {
	switch r {
	case OffsetResetLatest:
		return "latest"
	case OffsetResetEarliest:
		return "earliest"
	case OffsetResetNone:
		return "none"
	}
	return fmt.Sprintf("OffsetReset(%d)", int8(r))
}

// Defaults applied to zero fields of ConsumerOptions; they are Kafka's.
const (
	DefaultFetchMinBytes          = 1                      // fetch.min.bytes
	DefaultFetchMaxWait           = 500 * time.Millisecond // fetch.max.wait.ms
	DefaultMaxPollRecords         = 500                    // max.poll.records
	DefaultMaxPartitionFetchBytes = 1 << 20                // max.partition.fetch.bytes
)

// ConsumerOptions configure a Consumer. A nil or zero ConsumerOptions is all
// defaults. NewConsumer copies the struct; later changes have no effect.
//
// Byte counts (FetchMinBytes, MaxPartitionFetchBytes) measure records as
// Kafka's fetches do, approximately: keys, values and headers plus a few
// bytes of framing per record.
type ConsumerOptions struct {
	// AutoOffsetReset decides where to read a partition that has no
	// position, or whose position fell outside the log — below the log
	// start offset after retention deleted segments, or past the end
	// (Kafka's auto.offset.reset). Default OffsetResetLatest.
	AutoOffsetReset OffsetReset

	// FetchMinBytes is how many bytes of records Poll waits for before it
	// returns, unless FetchMaxWait passes first (Kafka's fetch.min.bytes).
	// Default 1: return as soon as there is any record.
	FetchMinBytes int

	// FetchMaxWait is the longest Poll waits for FetchMinBytes; then it
	// returns what it has, possibly nothing (Kafka's fetch.max.wait.ms).
	// Default 500ms. A negative value makes Poll return at once.
	FetchMaxWait time.Duration

	// MaxPollRecords is the most records one Poll returns (Kafka's
	// max.poll.records). Records read beyond it are kept for the next Poll.
	// Default 500.
	MaxPollRecords int

	// MaxPartitionFetchBytes bounds the bytes one Poll reads from one
	// partition (Kafka's max.partition.fetch.bytes). A batch larger than
	// this is still read whole, so that a partition always makes
	// progress, unless its copies would pass the memory budget of a read
	// (see Partition.Read): then it is read in parts, from one Poll to
	// the next. Default 1 MiB.
	MaxPartitionFetchBytes int

	// GroupID names the consumer group the consumer belongs to (Kafka's
	// group.id). It is needed to Subscribe and to commit offsets; a
	// consumer with a GroupID that assigns partitions by hand starts each
	// at the group's committed offset, if there is one. Default: none.
	GroupID string

	// GroupInstanceID makes the consumer a static member of its group
	// (Kafka's group.instance.id): when it closes, its partitions wait for
	// SessionTimeout for a consumer with the same instance ID, which gets
	// them back without a rebalance. Default: a dynamic member.
	GroupInstanceID string

	// SessionTimeout is how long a closed static member's partitions wait
	// for it to come back before the group rebalances without it (Kafka's
	// session.timeout.ms; in one process, a live consumer needs no
	// heartbeat). Default 45s.
	SessionTimeout time.Duration

	// MaxPollInterval is the longest a group member may go between two
	// calls of Poll (Kafka's max.poll.interval.ms). A member that takes
	// longer is evicted: the group rebalances without it, and it learns
	// this at its next call (OnPartitionsLost; ErrCommitFailed from
	// commits) and rejoins. Default 5 minutes.
	MaxPollInterval time.Duration

	// DisableAutoCommit turns off the automatic commit of positions, the
	// inverse of Kafka's enable.auto.commit, so that the zero value keeps
	// Kafka's default: on. With it on, Poll commits the positions after
	// the records the previous Poll returned, every AutoCommitInterval,
	// without waiting for durability; before partitions are revoked and at
	// Close it commits and waits. As with Kafka, it needs a GroupID, and a
	// consumer that assigns its partitions by hand commits them so too
	// (such a commit fails, and is logged, while the group has members).
	DisableAutoCommit bool

	// AutoCommitInterval is how often Poll commits automatically (Kafka's
	// auto.commit.interval.ms). Default 5s.
	AutoCommitInterval time.Duration

	// Assignor decides which member owns which partition (Kafka's
	// partition.assignment.strategy). Every member of a group must use
	// the same one. Default RangeAssignor.
	Assignor Assignor

	// RebalanceListener, if set, is told of partitions revoked, assigned
	// and lost; see RebalanceListener.
	RebalanceListener RebalanceListener

	// IsolationLevel says whether the consumer reads the records of
	// transactions before they commit and after they abort (Kafka's
	// isolation.level). Default ReadCommitted: only committed records, up
	// to each partition's last stable offset. Reading a partition that
	// never had a transaction costs the same either way.
	IsolationLevel IsolationLevel
}

// withDefaults returns a validated copy of o with zero fields defaulted.
func (o *ConsumerOptions) withDefaults() (ConsumerOptions, error) {
	var c ConsumerOptions
	if o != nil {
		c = *o
	}
	if c.FetchMinBytes == 0 {
		c.FetchMinBytes = DefaultFetchMinBytes
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.MaxPartitionFetchBytes == 0 {
		c.MaxPartitionFetchBytes = DefaultMaxPartitionFetchBytes
	}
	switch {
	case c.AutoOffsetReset < OffsetResetLatest || c.AutoOffsetReset > OffsetResetNone:
		return c, fmt.Errorf("%w: AutoOffsetReset %d", ErrInvalidConfig, c.AutoOffsetReset)
	case !c.IsolationLevel.valid():
		return c, fmt.Errorf("%w: IsolationLevel %d", ErrInvalidConfig, c.IsolationLevel)
	case c.FetchMinBytes < 0:
		return c, fmt.Errorf("%w: FetchMinBytes %d is negative", ErrInvalidConfig, c.FetchMinBytes)
	case c.MaxPollRecords < 0:
		return c, fmt.Errorf("%w: MaxPollRecords %d is negative", ErrInvalidConfig, c.MaxPollRecords)
	case c.MaxPartitionFetchBytes < 0 || c.MaxPartitionFetchBytes > math.MaxInt32:
		return c, fmt.Errorf("%w: MaxPartitionFetchBytes %d is outside [1, %d]", ErrInvalidConfig, c.MaxPartitionFetchBytes, math.MaxInt32)
	}
	return c, c.groupDefaults()
}

// Consumer reads records from the partitions assigned to it, as Kafka's
// consumer does: Assign partitions, optionally Seek, then Poll (or range over
// Records) in a loop. Each partition has a position, the offset of the next
// record to return; Poll advances it.
//
// A Consumer is meant for one goroutine at a time, like Kafka's. A call made
// while another is still running fails with ErrConcurrentUse rather than
// corrupting the consumer. Wakeup, Assignment, Paused and Close are safe from
// any goroutine: Wakeup to interrupt a blocked Poll, Close to end it. A
// RebalanceListener or commit callback may call the consumer from the
// goroutine it runs on; a call from another goroutine meanwhile fails.
//
// Records returned are copies owned by the caller (see Record). A Consumer
// holds no goroutine and no file; an idle one blocked in Poll uses no CPU
// until a record is appended to one of its partitions.
type Consumer struct {
	log  *Log
	opts ConsumerOptions

	// use is held by the method running on behalf of the consumer's user;
	// TryLock detects a second goroutine. It guards every field below it
	// down to the atomics, and the fetchStates.
	use      sync.Mutex
	assigned []*fetchState // sorted by topic and partition
	byTP     map[TopicPartition]*fetchState
	next     int         // index in assigned where the next poll starts, for fairness
	timer    *time.Timer // FetchMaxWait, reused across polls
	pollMark uint64      // seq at the last commit of a poll
	bounded  bool        // ReadToEnd is running: partitions stop at stopAt
	lim      pollLimits  // of the poll under way
	// pendingErr is an error met by a poll that returned records read
	// before it; the next poll returns it. Moving a position clears it: if
	// the cause remains, the next poll meets it again.
	pendingErr error
	// reading is the partition whose chunk an iterator is yielding to its
	// loop body, nil between chunks; readingFrom is its position before
	// the chunk. The position is at the end of the batch being yielded,
	// and a Close or Unsubscribe from the body, or from another goroutine
	// meanwhile, commits readingFrom instead (positionsLocked).
	reading     *fetchState
	readingFrom int64

	// seq counts changes to positions, pauses and the assignment, so that
	// an iterator notices them between two records it yields.
	seq atomic.Uint64

	view atomic.Pointer[consumerView] // for Assignment and Paused

	// scratch is a poll buffer that TypedConsumer.Poll borrows, since the
	// records it polls are not handed out.
	scratch atomic.Pointer[[]Record]

	notify  chan struct{} // buffer 1: a watched high watermark moved or the Log closes
	wakeup  chan struct{} // buffer 1: a Wakeup not yet delivered
	closing chan struct{} // closed by Close
	taking  atomic.Bool   // a TypedConsumer's Poll decodes its records (runTake)
	closed  atomic.Bool
	once    sync.Once

	wakeups atomic.Int64 // times a blocked Poll woke because of an append

	group groupMember // consumer group membership; see consumer_group.go
}

// consumerView is an immutable copy of the assignment, readable from any
// goroutine.
type consumerView struct {
	assigned, paused []TopicPartition
}

// target says how a partition's position is to be found.
type target int8

const (
	atPosition  target = iota // position holds the next offset
	atBeginning               // the log start offset, once needed (SeekToBeginning)
	atEnd                     // the high watermark, once needed (SeekToEnd)
	atReset                   // no position: AutoOffsetReset decides
)

// fetchState is one assigned partition. Its fields are guarded by the
// consumer's use lock.
type fetchState struct {
	tp       TopicPartition
	p        *Partition
	position int64 // next offset to return, valid when target is atPosition
	target   target
	movedAt  uint64 // consumer seq of the last Seek, reset or assignment
	paused   bool
	unwatch  func() // nil while not watched (paused)

	// buf holds records read but not yet returned, at the front of which is
	// the record at position. spare is buf's backing array, for reuse.
	buf, spare []Record
	avgBytes   int   // average record size seen, to size reads
	stopAt     int64 // records at or after it are not returned (ReadToEnd)

	poll pollScratch
}

// NewConsumer returns a consumer of l with no partitions assigned. A nil
// opts means defaults.
func (l *Log) NewConsumer(opts *ConsumerOptions) (*Consumer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if l.closed.Load() {
		return nil, ErrClosed
	}
	c := &Consumer{
		log:     l,
		opts:    o,
		byTP:    make(map[TopicPartition]*fetchState),
		notify:  make(chan struct{}, 1),
		wakeup:  make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	c.view.Store(&consumerView{})
	c.group.lastAutoCommit = l.opts.Now() // the automatic commit's clock starts now, as Kafka's
	c.group.rewritten = c.group.lastAutoCommit
	return c, nil
}

// acquire takes the use lock for a call of the consumer's user.
func (c *Consumer) acquire() error {
	if !c.use.TryLock() {
		if c.group.calledFromListener() {
			// A rebalance listener or commit callback calling back, on
			// the goroutine that holds the lock. Another goroutine calling
			// meanwhile is concurrent use like any other.
			c.group.reentered++
			return nil
		}
		if c.closed.Load() {
			return errConsumerClosed
		}
		return errConsumerBusy
	}
	if c.closed.Load() {
		c.use.Unlock()
		return errConsumerClosed
	}
	return nil
}

// acquireOpen is acquire for a call that answers from the Log: after
// Log.Close it fails with ErrClosed, as every call on a handle of a closed
// Log does, rather than answer from what the consumer last knew of it.
func (c *Consumer) acquireOpen() error {
	if err := c.acquire(); err != nil {
		return err
	}
	if c.log.closed.Load() {
		c.release()
		return ErrClosed
	}
	return nil
}

func (c *Consumer) release() {
	if c.group.reentered > 0 {
		c.group.reentered--
		return
	}
	c.use.Unlock()
}

// goroutineID returns the calling goroutine's number, which Go keeps to
// itself but for the first line of a stack trace ("goroutine 18
// [running]:"). It costs a few microseconds, more on a deep stack, and is
// asked only around listeners and commit callbacks: when one is called,
// and when a call finds the consumer busy while one runs. Should a Go
// release write traces differently, every goroutine gets
// unknownGoroutine, and a call made while a listener runs is taken for the
// listener's own, as if from its goroutine.
func goroutineID() uint64 {
	var buf [64]byte
	trace, ok := bytes.CutPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	number, _, found := bytes.Cut(trace, []byte(" "))
	id, err := strconv.ParseUint(string(number), 10, 64)
	if !ok || !found || err != nil || id == 0 {
		return unknownGoroutine
	}
	return id
}

// unknownGoroutine is goroutineID's answer when a trace has no number.
const unknownGoroutine = math.MaxUint64

// Close releases the consumer: a Poll in progress returns an error wrapping
// ErrClosed, and so does every later call. Close is safe from any goroutine
// and idempotent, and waits for a call in progress. A RebalanceListener,
// commit callback or TypedConsumer's Deserializer, which runs inside such
// a call, cannot wait for it: Close from one returns an error wrapping
// ErrConcurrentUse and closes nothing.
// Close closes nothing of the Log.
func (c *Consumer) Close() error {
	if c.group.listener.Load() != unknownGoroutine && c.group.calledFromListener() {
		return errorf("eventlog: Close from a RebalanceListener or commit callback, which would wait for the Poll around it: %w", ErrConcurrentUse)
	}
	if c.taking.Load() && onStack(runTakeEntry) {
		return errorf("eventlog: Close from a Deserializer, which would wait for the Poll around it: %w", ErrConcurrentUse)
	}
	c.once.Do(func() {
		c.closed.Store(true)
		close(c.closing)
		c.use.Lock() // wait for the call in progress
		defer c.use.Unlock()
		c.closeLocked()
	})
	return nil
}

// closeLocked releases what the consumer holds.
func (c *Consumer) closeLocked() {
	c.closeGroupLocked()
	for _, st := range c.assigned {
		st.stopWatching()
	}
	c.assigned, c.byTP = nil, nil
	if c.timer != nil {
		c.timer.Stop()
	}
	c.seq.Add(1)
	c.view.Store(&consumerView{})
}

// pollScratch is Poll into the scratch buffer, for a TypedConsumer. take
// runs before the consumer is released and returns how many of the records
// it took; the others are given back, so that no call in between sees the
// positions past them. If take panics, all of them are given back, since
// the caller gets none, and the panic goes on.
func (c *Consumer) pollScratch(ctx context.Context, take func([]Record) int) ([]Record, error) {
	var buf []Record
	if p := c.scratch.Swap(nil); p != nil {
		buf = *p
	}
	if err := c.acquire(); err != nil {
		return nil, err
	}
	defer c.release()
	recs, err := c.pollLocked(ctx, buf, c.pollLimits())
	if err == nil && len(recs) > 0 {
		n := -1
		defer func() {
			if n < 0 { // take panicked
				c.unpollLocked(recs)
			}
		}()
		if n = runTake(c, take, recs); n < len(recs) {
			c.unpollLocked(recs[n:])
		}
	}
	return recs, err
}

// runTake calls take, a TypedConsumer's decoding, with the records of a
// poll, and returns how many it took. It is never inlined, so that a Close
// from a Deserializer finds its frame (see reentry.go).
//
//go:noinline
func runTake(c *Consumer, take func([]Record) int, recs []Record) int {
	c.taking.Store(true)
	defer c.taking.Store(false)
	return take(recs)
}

var runTakeEntry = funcEntry(runTake)

func (c *Consumer) giveScratch(recs []Record) {
	clear(recs) // let go of the records' bytes
	recs = recs[:0]
	c.scratch.Store(&recs)
}

// Wakeup makes a Poll in progress return ErrWakeup at once; without one, the
// next Poll does (once, however many Wakeups came before). It is the only
// way to interrupt Poll from another goroutine besides cancelling its
// context, and it is safe from any goroutine.
func (c *Consumer) Wakeup() {
	select {
	case c.wakeup <- struct{}{}:
	default:
	}
}

// Assign replaces the consumer's assignment with partitions, in any order;
// duplicates count once. Partitions that stay assigned keep their position
// and pause; new ones start without a position (see
// ConsumerOptions.AutoOffsetReset). Assign with no partitions unassigns all.
// If a partition does not exist, Assign returns an error wrapping
// ErrTopicNotFound or ErrPartitionNotFound and changes nothing.
func (c *Consumer) Assign(partitions ...TopicPartition) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	if err := c.notInListener("assign"); err != nil {
		return err
	}
	if c.group.subscribed {
		return errorf("eventlog: assign: %w: the consumer is subscribed", ErrSubscriptionConflict)
	}
	return c.assignLocked(partitions)
}

// assignLocked is Assign with the use lock held; a consumer group will drive
// the assignment through it.
func (c *Consumer) assignLocked(partitions []TopicPartition) error {
	seq := c.seq.Add(1)
	states := make([]*fetchState, 0, len(partitions))
	byTP := make(map[TopicPartition]*fetchState, len(partitions))
	for _, tp := range partitions {
		if byTP[tp] != nil {
			continue
		}
		st := c.byTP[tp]
		if st == nil || st.p.deleted.Load() { // a topic deleted and created again is new
			p, err := c.log.Partition(tp.Topic, tp.Partition)
			switch {
			case err == nil:
				st = &fetchState{tp: tp, p: p, target: atReset, movedAt: seq, stopAt: math.MaxInt64}
			case !c.group.subscribed:
				return errorf("eventlog: assign %s: %w", tp, err)
			case st == nil:
				// Deleted since the group assigned it, which takes it
				// away at its next rebalance: nothing to read meanwhile.
				continue
			}
		}
		states = append(states, st)
		byTP[tp] = st
	}
	slices.SortFunc(states, func(a, b *fetchState) int { return compareTopicPartitions(a.tp, b.tp) })
	for _, st := range c.assigned {
		if byTP[st.tp] == nil {
			st.stopWatching()
		}
	}
	for _, st := range states {
		if !st.paused && st.unwatch == nil {
			st.unwatch = st.p.watch(c.notify)
		}
	}
	c.assigned, c.byTP, c.next, c.pendingErr, c.reading = states, byTP, 0, nil, nil
	c.publishViewLocked()
	return nil
}

func (st *fetchState) stopWatching() {
	if st.unwatch != nil {
		st.unwatch()
		st.unwatch = nil
	}
}

func (c *Consumer) publishViewLocked() {
	v := &consumerView{assigned: make([]TopicPartition, 0, len(c.assigned))}
	for _, st := range c.assigned {
		v.assigned = append(v.assigned, st.tp)
		if st.paused {
			v.paused = append(v.paused, st.tp)
		}
	}
	c.view.Store(v)
}

// Assignment returns the assigned partitions, sorted by topic and partition.
// It is safe from any goroutine.
func (c *Consumer) Assignment() []TopicPartition {
	return slices.Clone(c.view.Load().assigned)
}

// Paused returns the paused partitions, sorted by topic and partition. It is
// safe from any goroutine.
func (c *Consumer) Paused() []TopicPartition {
	return slices.Clone(c.view.Load().paused)
}

// stateLocked returns the state of an assigned partition.
func (c *Consumer) stateLocked(tp TopicPartition) (*fetchState, error) {
	st := c.byTP[tp]
	if st == nil {
		return nil, errorf("eventlog: topic %q partition %d: %w", tp.Topic, tp.Partition, ErrNotAssigned)
	}
	return st, nil
}

// statesLocked returns the states of tps, or of every assigned partition
// when tps is empty; it fails, before any change, if one is not assigned.
func (c *Consumer) statesLocked(tps []TopicPartition) ([]*fetchState, error) {
	if len(tps) == 0 {
		return c.assigned, nil
	}
	states := make([]*fetchState, len(tps))
	for i, tp := range tps {
		st, err := c.stateLocked(tp)
		if err != nil {
			return nil, err
		}
		states[i] = st
	}
	return states, nil
}

// Poll returns the next records of the assigned, unpaused partitions and
// advances their positions past them. It takes records from one partition
// after another, starting each poll where the last one stopped, so that a
// busy partition cannot starve the others; at most MaxPollRecords records
// and MaxPartitionFetchBytes bytes per partition.
//
// Poll blocks until FetchMinBytes of records are there, or FetchMaxWait
// passes (then it returns what it has, possibly nothing, and no error). It
// is woken by appends, not by a clock. It returns early with ctx.Err() when
// ctx ends, with ErrWakeup after Wakeup, and with an error wrapping ErrClosed
// when the consumer or the Log is closed; then no position moves, and
// records read so far are returned by the next Poll.
//
// A partition without a position, or whose position is outside the log,
// starts where AutoOffsetReset says.
//
// Errors are never skipped. When a poll meets one — damaged data
// (*CorruptError), ErrNoOffset, ErrOffsetOutOfRange with OffsetResetNone,
// a record of more headers than a copying read makes (ErrRecordTooLarge,
// see Partition.Read) —
// after gathering records, it returns those and the next poll returns the
// error; the partition's position stays before the failure, so the error
// comes back until the cause is gone or the application seeks elsewhere.
// A deleted topic is one, for a consumer that assigned itself its
// partitions (ErrTopicNotFound); a subscribed consumer skips the
// partitions of a topic deleted under it until its group takes them away
// at its next rebalance, as Kafka's does, and leaves them out of commits.
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
	if err := c.acquireOpen(); err != nil {
		return nil, err
	}
	defer c.release()
	// Partition.read sizes the result from the batch headers.
	return c.pollLocked(ctx, nil, c.pollLimits())
}
