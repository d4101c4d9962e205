package eventlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// ErrTransactionAborted is returned by CommitTransaction when the
// transaction could not commit — a record of it failed to be stored — and
// was aborted instead (Kafka's TransactionAbortedException).
var ErrTransactionAborted = errors.New("eventlog: transaction aborted")

// ErrTransactionIncomplete is returned by CommitTransaction and
// AbortTransaction when the transaction's outcome is decided, durably, but
// not yet written everywhere: a partition refused its marker, or the
// coordinator could not store the completion. The outcome no longer
// changes, and nothing of the transaction is lost: the Log goes on writing
// what is missing, as Kafka's transaction coordinator does, every second,
// and the next Open finishes it if the Log closes first. A partition that
// failed on a write or fsync takes its marker only then, as it takes no
// append until the Log is reopened. Meanwhile the partitions that have
// their marker show the outcome to read_committed readers, the others hold
// their last stable offset before the transaction's first record, and the
// Producer can only call the same end again, which tries at once and
// returns nil once the transaction is complete. NewProducer with the
// transactional ID returns it too while it cannot complete the
// transaction.
var ErrTransactionIncomplete = errors.New("eventlog: transaction decided but incomplete")

// producerTxn is a transactional Producer's side of its transactions.
type producerTxn struct {
	id    string // the TransactionalID
	coord *txnCoordinator

	// mu is held for reading by each send in a transaction, from its check
	// to its record entering a batch, and for writing by the calls that
	// begin and end transactions, so that an end waits for the sends in
	// flight and no send slips in after it flushed.
	mu struct {
		sync.RWMutex
		open bool // a transaction is open
		// decided is set while the open transaction's outcome is decided
		// but the transaction incomplete (ErrTransactionIncomplete), and
		// commit is that outcome: only an end call for it may be made.
		decided, commit bool
	}
	// fatal is the error that ended the Producer: fenced by a newer
	// Producer of its ID, or by a timeout.
	fatal atomic.Pointer[error]
	// failed is the first error a record of the open transaction met.
	failed atomic.Pointer[error]

	// added are the partitions of the open transaction.
	added struct {
		sync.RWMutex
		parts map[*Partition]bool
	}
}

// initTransactions gives a new transactional Producer its producer id and
// epoch from the coordinator, fencing older Producers of its ID (Kafka's
// initTransactions).
func (p *Producer) initTransactions() error {
	coord, err := p.log.txnCoordinator()
	if err != nil {
		return err
	}
	if !p.log.enterLong() { // see txn_coordinator.go
		return ErrClosed
	}
	defer p.log.exitLong()
	id, err := coord.initProducer(context.Background(), p.opts.TransactionalID, p.opts.TransactionTimeout)
	if err != nil {
		return err
	}
	p.id = id
	p.txn = &producerTxn{id: p.opts.TransactionalID, coord: coord}
	return nil
}

// transaction returns the Producer's transaction state, or an error when
// it is not transactional, was fenced, or it or its Log is closed.
func (p *Producer) transaction(what string) (*producerTxn, error) {
	t := p.txn
	if t == nil {
		return nil, errorf("eventlog: %s: %w: the producer has no TransactionalID", what, ErrTransactionState)
	}
	if err := t.fatal.Load(); err != nil {
		return nil, *err
	}
	if p.closedFast.Load() {
		return nil, errProducerClosed
	}
	if p.log.closed.Load() {
		return nil, ErrClosed
	}
	return t, nil
}

// lock takes mu for writing. From a SendAsync function it does not wait:
// the holder may be a transaction's end, whose flush waits for the
// function.
func (t *producerTxn) lock(p *Producer, what string) error {
	if !p.log.calledFromCallback() {
		t.mu.Lock()
		return nil
	}
	if !t.mu.TryLock() {
		return errFromCallback(what + " while a transaction ends")
	}
	return nil
}

// rlock takes mu for reading, as lock takes it for writing.
func (t *producerTxn) rlock(p *Producer, what string) error {
	if !p.log.calledFromCallback() {
		t.mu.RLock()
		return nil
	}
	if !t.mu.TryRLock() {
		return errFromCallback(what + " while a transaction ends")
	}
	return nil
}

// noteFatal remembers a fencing, which ends the Producer.
func (t *producerTxn) noteFatal(err error) error {
	if errors.Is(err, ErrProducerFenced) {
		t.fatal.CompareAndSwap(nil, &err)
	}
	return err
}

// BeginTransaction opens a transaction (Kafka's beginTransaction): the
// records sent until CommitTransaction or AbortTransaction belong to it.
// It fails with ErrTransactionState while a transaction is open — one
// whose end failed with ErrTransactionIncomplete included, until that end
// is called again and returns — or for a Producer without a
// TransactionalID, and with ErrProducerFenced once the
// Producer learned that it is fenced: a newer Producer of its ID started,
// or a transaction of it timed out. (A Producer learns that its open
// transaction timed out at its next call that reaches the coordinator:
// CommitTransaction, AbortTransaction, SendOffsetsToTransaction or a send
// to a partition new to the transaction. Until then, as in Kafka,
// BeginTransaction finds the transaction still open.) After Log.Close it
// fails with ErrClosed, a transaction the Close left open included: the
// next Open aborts that one.
func (p *Producer) BeginTransaction() error {
	t, err := p.transaction("begin transaction")
	if err != nil {
		return err
	}
	if err := t.lock(p, "begin transaction"); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if t.mu.decided {
		return t.decidedError("begin transaction")
	}
	if t.mu.open {
		return errorf("eventlog: transactional id %q: begin transaction: %w: a transaction is open", t.id, ErrTransactionState)
	}
	t.mu.open = true
	t.failed.Store(nil)
	t.added.Lock()
	t.added.parts = make(map[*Partition]bool)
	t.added.Unlock()
	return nil
}

// enterSend admits a record to part into the open transaction, adding the
// partition to it first if needed. On success the caller holds the
// transaction open until it calls the returned function, once the record
// is in its batch. A failure to add the partition refuses the record
// inside the transaction (refusedLocked), before an end waiting for this
// call can go on without it; the caller has nothing more to note.
func (t *producerTxn) enterSend(ctx context.Context, p *Producer, part *Partition) (func(), error) {
	if err := t.fatal.Load(); err != nil {
		return nil, *err
	}
	if err := t.rlock(p, "send"); err != nil {
		return nil, err
	}
	if err := t.sendableLocked("send"); err != nil {
		t.mu.RUnlock()
		return nil, err
	}
	if err := t.addPartition(ctx, p, part); err != nil {
		t.refusedLocked(err)
		t.mu.RUnlock()
		return nil, err
	}
	return t.mu.RUnlock, nil
}

// sendableLocked refuses records and offsets unless a transaction is open
// and its end is not decided yet. The caller holds mu.
func (t *producerTxn) sendableLocked(what string) error {
	if !t.mu.open {
		return errorf("eventlog: transactional id %q: %s: %w: no transaction is open (BeginTransaction)", t.id, what, ErrTransactionState)
	}
	if t.mu.decided {
		return t.decidedError(what)
	}
	return nil
}

// decidedError is the error of a call that the open transaction's decided
// outcome rules out. The caller holds mu.
func (t *producerTxn) decidedError(what string) error {
	verb, call := "abort", "AbortTransaction"
	if t.mu.commit {
		verb, call = "commit", "CommitTransaction"
	}
	return errorf("eventlog: transactional id %q: %s: %w: the transaction's %s is decided but incomplete; call %s again", t.id, what, ErrTransactionState, verb, call)
}

// addPartition adds part to the open transaction; it returns once the
// coordinator has it durably.
func (t *producerTxn) addPartition(ctx context.Context, p *Producer, part *Partition) error {
	t.added.RLock()
	ok := t.added.parts[part]
	t.added.RUnlock()
	if ok {
		return nil
	}
	t.added.Lock()
	defer t.added.Unlock()
	if t.added.parts[part] {
		return nil
	}
	if !p.log.enterLong() { // see txn_coordinator.go
		return ErrClosed
	}
	defer p.log.exitLong()
	if err := t.coord.addPartitions(ctx, t.id, p.id, []TopicPartition{{part.topic, part.id}}); err != nil {
		return t.noteFatal(err)
	}
	t.added.parts[part] = true
	return nil
}

// recordFailed makes the open transaction abort at its commit: one of its
// records, or offsets sent to it, were not stored.
func (t *producerTxn) recordFailed(err error) {
	t.noteFatal(err)
	t.failed.CompareAndSwap(nil, &err)
}

// refused makes the open transaction abort at its commit when a send of a
// record or of offsets into it was refused at the call: they were meant
// for the transaction and are not stored, and Kafka's producer too puts
// its transaction in an abortable error state then. Refusals that say
// nothing of what the transaction holds (none is open, the Producer is
// closed or fenced) leave it alone.
func (t *producerTxn) refused(p *Producer, err error) {
	if !refusesRecord(err) {
		return
	}
	if t.rlock(p, "send") != nil {
		return // a call from a SendAsync function while the transaction ends
	}
	defer t.mu.RUnlock()
	t.refusedLocked(err)
}

// refusedLocked is refused for a caller holding mu. A send admitted into
// the open transaction (enterSend) that fails after all must call it
// before it lets mu go: a CommitTransaction waiting for mu would otherwise
// commit the transaction without the record, and the failure would then
// abort the next one.
func (t *producerTxn) refusedLocked(err error) {
	if refusesRecord(err) && t.mu.open {
		t.recordFailed(err)
	}
}

// refusesRecord reports whether err, failing a send into a transaction,
// refuses a record or offsets meant for it (see refused).
func refusesRecord(err error) bool {
	for _, state := range []error{ErrTransactionState, ErrClosed, ErrProducerFenced} {
		if errors.Is(err, state) {
			return false
		}
	}
	return true
}

// CommitTransaction commits the open transaction (Kafka's
// commitTransaction): it appends every record sent in it, makes them and
// the offsets added with SendOffsetsToTransaction durable, and writes the
// COMMIT markers that make them visible to read_committed consumers, each
// partition's records at once as its marker lands. When it returns nil, the
// transaction is committed everywhere, and survives any crash. If it
// fails before the commit is decided (ctx ended, say), the transaction
// stays open: commit or abort it again; a crash then aborts it. One
// failure leaves the outcome open instead: a failed write or fsync of the
// decision itself. __transaction_state then takes nothing more until the
// Log is reopened (see Durability), so neither end can be retried, and
// that Open commits the transaction if the decision reached the disk,
// aborts it if not. If it
// fails after — the error wraps ErrTransactionIncomplete — the transaction
// commits whatever happens: the Log writes the missing markers, and the
// only call the Producer takes is CommitTransaction again, which returns
// nil once the transaction is complete. A transaction one of whose records
// failed — refused by Send or SendAsync, or not stored, a record whose ctx
// ended while it waited in its batch included — or whose offsets
// SendOffsetsToTransaction refused is aborted instead, and
// CommitTransaction returns an error wrapping ErrTransactionAborted and
// the failure (and ErrTransactionIncomplete while the abort is not
// complete).
func (p *Producer) CommitTransaction(ctx context.Context) error {
	return p.endTransaction(ctx, true)
}

// AbortTransaction aborts the open transaction (Kafka's
// abortTransaction): its records are appended and then hidden for good by
// ABORT markers, and the offsets it added are dropped. Its failures are
// CommitTransaction's: an error wrapping ErrTransactionIncomplete means
// that the abort is decided and the Log completes it; call
// AbortTransaction again to learn when it has. After a CommitTransaction
// that failed with ErrTransactionIncomplete, AbortTransaction fails with
// ErrTransactionState: the commit is decided.
func (p *Producer) AbortTransaction(ctx context.Context) error {
	return p.endTransaction(ctx, false)
}

func (p *Producer) endTransaction(ctx context.Context, commit bool) error {
	what := "abort transaction"
	if commit {
		what = "commit transaction"
	}
	t, err := p.transaction(what)
	if err != nil {
		return err
	}
	if p.log.calledFromCallback() {
		return errFromCallback(what) // its flush would wait for the function
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return p.endTransactionLocked(ctx, t, what, commit)
}

func (p *Producer) endTransactionLocked(ctx context.Context, t *producerTxn, what string, commit bool) error {
	if !t.mu.open {
		return errorf("eventlog: transactional id %q: %s: %w: no transaction is open", t.id, what, ErrTransactionState)
	}
	if !t.mu.decided { // else a retry: nothing was sent since the decision
		if err := p.Flush(ctx); err != nil {
			return err
		}
	}
	var cause error
	if failed := t.failed.Load(); failed != nil && commit {
		commit, cause = false, *failed
	}
	if t.mu.decided && commit != t.mu.commit {
		return t.decidedError(what)
	}
	if !p.log.enterLong() { // see txn_coordinator.go
		return ErrClosed
	}
	err := t.coord.endTransaction(ctx, t.id, p.id, commit)
	p.log.exitLong()
	if errors.Is(err, ErrTransactionIncomplete) {
		t.mu.decided, t.mu.commit = true, commit
	} else if err != nil {
		return t.noteFatal(err)
	} else {
		t.mu.open, t.mu.decided = false, false
	}
	if cause == nil {
		return err
	}
	aborted := errorf("eventlog: transactional id %q: %w: a record or offsets sent to it were not stored: %w", t.id, ErrTransactionAborted, cause)
	if err != nil {
		return fmt.Errorf("%w; %w", aborted, err)
	}
	return aborted
}

// SendOffsetsToTransaction adds consumed offsets to the open transaction
// (Kafka's sendOffsetsToTransaction): they become the group's committed
// offsets if and when the transaction commits, and never if it aborts, so
// that a consume-transform-produce loop moves its input and its output
// together. Each offset is the next record to consume from its partition,
// as CommitOffsets takes it. group is the consumer's GroupMetadata: the
// commit is refused with ErrCommitFailed unless the consumer is still a
// member of the group's current generation owning those partitions (or,
// for a consumer assigning partitions by hand, the group has no members),
// so that a zombie cannot commit over its successor. Offsets refused while
// a transaction is open make CommitTransaction abort it, as a refused
// record does: the caller meant them for the transaction, which must not
// commit its output without them (Kafka's producer enters an abortable
// error state then).
func (p *Producer) SendOffsetsToTransaction(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata, group GroupMetadata) error {
	t, err := p.transaction("send offsets to transaction")
	if err != nil {
		return err
	}
	admitted := false // into the open transaction, which then waits for this call
	if err := p.sendOffsets(ctx, t, offsets, group, &admitted); err != nil {
		if !admitted {
			t.refused(p, err)
		}
		return err
	}
	return nil
}

// sendOffsets is SendOffsetsToTransaction, given the Producer's
// transaction. It sets admitted once the open transaction waits for it,
// and then notes its own failure (refusedLocked), before the transaction
// can end without the offsets.
func (p *Producer) sendOffsets(ctx context.Context, t *producerTxn, offsets map[TopicPartition]OffsetAndMetadata, group GroupMetadata, admitted *bool) (err error) {
	if err := validGroupID(group.GroupID); err != nil {
		return err
	}
	updates := make([]offsetUpdate, 0, len(offsets))
	tps := make([]TopicPartition, 0, len(offsets))
	for tp, om := range offsets {
		part, err := p.log.Partition(tp.Topic, tp.Partition)
		if err != nil {
			return errorf("eventlog: send offsets %s: %w", tp, err)
		}
		switch hw := part.HighWatermark(); {
		case om.Offset < 0 || om.Offset > hw:
			return errorf("eventlog: send offsets %s: %w: offset %d is outside [0, %d]", tp, ErrOffsetOutOfRange, om.Offset, hw)
		case len(om.Metadata) > MaxOffsetMetadataBytes:
			return errorf("eventlog: send offsets %s: %w: metadata of %d bytes is longer than %d (offset.metadata.max.bytes)", tp, ErrInvalidRecord, len(om.Metadata), MaxOffsetMetadataBytes)
		}
		tps = append(tps, tp)
		updates = append(updates, offsetUpdate{tp: tp, v: offsetValue{offset: om.Offset, epoch: noLeaderEpoch, metadata: om.Metadata}})
	}
	if len(updates) == 0 {
		return nil
	}
	slices.SortFunc(updates, func(a, b offsetUpdate) int { return compareTopicPartitions(a.tp, b.tp) })
	gc, err := p.log.coordinator()
	if err != nil {
		return err
	}
	if err := t.rlock(p, "send offsets to transaction"); err != nil {
		return err
	}
	*admitted = true
	defer func() {
		if err != nil {
			t.refusedLocked(err)
		}
		t.mu.RUnlock()
	}()
	if err := t.sendableLocked("send offsets to transaction"); err != nil {
		return err
	}
	g := gc.borrowGroup(group.GroupID)
	defer gc.returnGroup(g)
	m, err := g.beginTxnCommit(group, tps)
	if err != nil {
		return err
	}
	defer g.endCommit(m, tps) // once the offsets are pending, or failed
	if hook := p.log.txnOffsetsCheckedHook.Load(); hook != nil {
		(*hook)()
	}
	if err := t.addPartition(ctx, p, gc.offsets.partitionFor(group.GroupID)); err != nil {
		return err
	}
	if !p.log.enterLong() { // see txn_coordinator.go
		return ErrClosed
	}
	defer p.log.exitLong()
	return t.noteFatal(gc.offsets.writeTxn(group.GroupID, updates, p.id, t.id))
}

// closeTransaction aborts the transaction a closing Producer left open,
// unless its outcome is decided already: then the Log completes it.
func (p *Producer) closeTransaction() {
	t := p.txn
	if t == nil || t.fatal.Load() != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mu.open {
		return
	}
	if t.mu.decided {
		p.log.opts.Logger.Info("eventlog: a closing producer leaves its incomplete transaction to the Log", "transactional_id", t.id, "commit", t.mu.commit)
		return
	}
	if err := p.endTransactionLocked(context.Background(), t, "abort transaction at close", false); err != nil {
		p.log.opts.Logger.Warn("eventlog: abort of the transaction of a closing producer failed", "transactional_id", t.id, "err", err)
	}
}
