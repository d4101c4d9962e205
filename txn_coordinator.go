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

// The transaction coordinator, as Kafka's: it owns every transactional
// ID's state, kept in __transaction_state (txn_state.go), and drives each
// transaction through Kafka's states.
//
//	Empty ──AddPartitions──▶ Ongoing ──commit──▶ PrepareCommit ──markers──▶ CompleteCommit
//	                            │                                          (then Ongoing again)
//	                            └──abort, timeout, new producer──▶ PrepareAbort ──markers──▶ CompleteAbort
//
// The protocol that makes a transaction all or nothing, whatever the crash:
//
//  1. A partition is added to the transaction — the Ongoing record that
//     lists it is fsynced — before any record of the transaction is
//     written to it. So every partition that may hold the transaction's
//     records is listed.
//  2. Commit first fsyncs every partition of the transaction, then writes
//     PrepareCommit, fsynced: the decision. Until it is durable the
//     transaction aborts after a crash; once it is, it commits.
//  3. A COMMIT or ABORT marker is written to every listed partition, and
//     each is fsynced.
//  4. CompleteCommit or CompleteAbort is written; it need not be fsynced,
//     since redoing step 3 is harmless (a marker for a producer without an
//     open transaction changes nothing).
//
// Once step 2 is durable the outcome is fixed, and the coordinator owns
// steps 3 and 4, as Kafka's does: a partition whose marker fails does not
// stop the others from getting theirs, and a transaction left incomplete
// is kept, with the partitions that have their marker, and tried again
// every txnCheckInterval until its markers and completion are written.
// Its Producer's calls fail with ErrTransactionIncomplete or
// ErrTransactionState meanwhile (txn_producer.go). A partition that failed
// on a write or fsync refuses every append until the Log is reopened, its
// marker included; the next Open finishes the transaction then.
//
// Open replays __transaction_state and finishes what a crash interrupted:
// a prepared transaction gets its markers again; an Ongoing one — its
// Producer died with the process — is aborted. A partition left with an
// open transaction that no Ongoing state lists (which the protocol rules
// out, short of lost files) is aborted too, so that its last stable offset
// does not stay stuck. A transaction open longer than its
// TransactionTimeout is aborted by the Log, and its Producer fenced. Each
// abort that fences bumps the producer epoch, and writes its markers with
// the new one, so that a partition refuses the old Producer's late writes;
// at the last epoch a Producer is given, math.MaxInt16-1, the bump is to
// math.MaxInt16, kept for that, and the ID's next Producer gets a new
// producer id (Kafka's prepareFenceProducerEpoch and producer id
// rotation).
//
// Calls into the coordinator register with the Log as long calls
// (enterLong), not as calls in flight (enter): the appends they make enter
// the Log themselves, and a read lock of Log.ops taken a second time waits
// for a Close that came in between and waits in turn for the first one.
// Close waits for a long call after the calls in flight; the call's
// appends then fail with ErrClosed, and it ends.

// txnCheckInterval is how often the Log looks for transactions open longer
// than their timeout (Kafka's
// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10s),
// retries the completion of those decided but incomplete, and looks for
// transactional IDs to expire (Kafka's
// transaction.remove.expired.transaction.cleanup.interval.ms is an hour:
// a Log may not stay open that long).
const txnCheckInterval = time.Second

// logTxns is the Log's part in idempotent and transactional producers.
type logTxns struct {
	ids producerIDs // allocates producer ids durably

	// transactional maps each producer id the coordinator gave a
	// transactional Producer, now or before, to its transactional ID
	// (int64 to string), so that an idempotent append naming one is
	// refused (checkNotTransactional).
	transactional sync.Map

	mu    sync.Mutex
	coord *txnCoordinator // nil until __transaction_state exists; guarded by mu
	// published is coord, for the partitions' checks (checkBegin), which
	// run under their append locks and must not wait for mu.
	published atomic.Pointer[txnCoordinator]
}

// txnCoordinator is the Log's transaction coordinator.
type txnCoordinator struct {
	log  *Log
	part *Partition // of __transaction_state

	mu   sync.Mutex
	txns map[string]*txnMeta // by transactional ID; guarded by mu
	// incomplete are the transactions decided, whose markers or
	// completion failed to be written: the Log retries them. Guarded by
	// mu.
	incomplete map[*txnMeta]bool
}

// txnMeta is one transactional ID's state.
type txnMeta struct {
	id string
	// op serializes the operations on the ID — its Producer's, the Log's
	// timeouts and retries — and guards the fields below.
	op  sync.Mutex
	rec txnRecord
	// current is rec, for checkBegin, which does not take op.
	current atomic.Pointer[txnRecord]
	// fenced is the last Producer the coordinator fenced, and why, for
	// the errors that refuse it to say.
	fenced atomic.Pointer[fencing]
	// marked are the partitions of a decided transaction whose marker is
	// written and fsynced, kept when an attempt to complete it fails so
	// that a retry marks only the others.
	marked map[TopicPartition]bool
	// failures counts the failed attempts to complete the decided
	// transaction.
	failures int
	// expired is set once the Log expired the ID (txn_expire.go) and
	// dropped this state: a caller that waited for op looks the ID up
	// again (lock).
	expired bool
}

// fencing is a Producer fenced by the coordinator, and why.
type fencing struct {
	producer ProducerID
	why      string // a clause: "its transaction was open longer than ..."
}

// fencedLocked notes that producer is fenced, for why. The caller holds
// op.
func (m *txnMeta) fencedLocked(producer ProducerID, why string) {
	m.fenced.Store(&fencing{producer: producer, why: why})
}

// fencedWhy returns why producer pid was fenced, as a suffix for an
// error that refuses it, or "" when the coordinator does not know.
func (m *txnMeta) fencedWhy(pid ProducerID) string {
	if f := m.fenced.Load(); f != nil && f.producer == pid {
		return ": fenced because " + f.why
	}
	return ""
}

// fencedWhy is txnMeta.fencedWhy for the partitions, which know the
// transactional ID only.
func (t *logTxns) fencedWhy(txnID string, pid ProducerID) string {
	c := t.published.Load()
	if c == nil {
		return ""
	}
	c.mu.Lock()
	m := c.txns[txnID]
	c.mu.Unlock()
	if m == nil {
		return ""
	}
	return m.fencedWhy(pid)
}

// txnCoordinator returns the Log's transaction coordinator, creating
// __transaction_state and starting the timeout checks on first use.
func (l *Log) txnCoordinator() (*txnCoordinator, error) {
	l.txns.mu.Lock()
	defer l.txns.mu.Unlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if c := l.txns.coord; c != nil {
		return c, nil
	}
	// Kafka's settings for the topic, in one partition, fsynced whatever
	// the Log's durability: the coordinator's decisions must survive
	// power loss for transactions to be all or nothing.
	cfg := TopicConfig{Partitions: 1, SegmentBytes: txnStateSegmentBytes, CleanupPolicy: CleanupCompact, Durability: DurabilityFsync}
	if err := l.createTopic(txnStateTopicName, cfg, true); err != nil && !errors.Is(err, ErrTopicExists) {
		return nil, errorf("eventlog: create %s: %w", txnStateTopicName, err)
	}
	t, err := l.topic(txnStateTopicName)
	if err != nil {
		return nil, err
	}
	c := &txnCoordinator{log: l, part: t.partitions[0], txns: make(map[string]*txnMeta)}
	if !l.goBackground(c.run) {
		return nil, ErrClosed
	}
	l.txns.coord = c
	l.txns.published.Store(c)
	return c, nil
}

// lock returns the state of transactional ID id with its op held, making
// an empty one if create is set, or nil. A state the Log expired while
// the caller waited for op is no longer the ID's: lock looks again.
func (c *txnCoordinator) lock(id string, create bool) *txnMeta {
	for {
		var m *txnMeta
		if create {
			m = c.meta(id)
		} else {
			c.mu.Lock()
			m = c.txns[id]
			c.mu.Unlock()
			if m == nil {
				return nil
			}
		}
		m.op.Lock()
		if !m.expired {
			return m
		}
		m.op.Unlock()
	}
}

// meta returns the state of a transactional ID, making an empty one.
func (c *txnCoordinator) meta(id string) *txnMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.txns[id]
	if m == nil {
		m = &txnMeta{id: id, rec: txnRecord{producer: ProducerID{ID: -1, Epoch: -1}, start: -1}}
		c.txns[id] = m
	}
	return m
}

// writeLocked stores rec as m's new state and adopts it once written. A
// decision is fsynced; a completion only written.
func (c *txnCoordinator) writeLocked(ctx context.Context, m *txnMeta, rec txnRecord, d Durability) error {
	rec.lastUpdate = c.log.opts.Now().UnixMilli()
	r := Record{Key: encodeTxnKey(nil, m.id), Value: encodeTxnValue(nil, &rec), Timestamp: time.UnixMilli(rec.lastUpdate)}
	if _, err := c.part.appendUnchecked(ctx, []Record{r}, AppendOptions{Durability: d}); err != nil {
		return errorf("eventlog: transactional id %q: store state %s: %w", m.id, rec.state, err)
	}
	m.setLocked(rec)
	c.log.txns.noteTransactional(rec.producer.ID, m.id)
	return nil
}

// setLocked adopts rec as m's state. The caller holds op, or is Open.
func (m *txnMeta) setLocked(rec txnRecord) {
	m.rec = rec
	m.current.Store(&rec)
}

// checkBegin is asked by a partition before it takes the first batch of
// a transaction of producer pid, of transactional ID txnID, in it: it
// fails unless the coordinator has pid's transaction open with the
// partition in it (Kafka's transaction verification, KIP-890). A
// Producer adds each partition to its transaction before it sends there,
// so this refuses only a late batch of a Producer that is fenced — by a
// newer Producer of its ID or by a timeout — which the partition's epoch
// no longer refuses once the partition has forgotten the producer
// (ProducerIDExpiration). Taken, the batch would begin a transaction no
// coordinator state lists, which would hold the partition's last stable
// offset until the next Open, or which the next transaction of the same
// producer id would commit as its own. It runs under the partition's
// append lock, so it reads the state without op: a state written after
// the read but before the batch is an abort whose marker comes after the
// batch and ends it.
func (t *logTxns) checkBegin(txnID string, pid ProducerID, tp TopicPartition) error {
	c := t.published.Load()
	if c == nil {
		return nil // no transactional Producer was ever made
	}
	c.mu.Lock()
	m := c.txns[txnID]
	c.mu.Unlock()
	var rec *txnRecord
	if m != nil {
		rec = m.current.Load()
	}
	if rec == nil || rec.producer != pid {
		current := "none"
		if rec != nil {
			current = rec.producer.String()
		}
		why := ""
		if m != nil {
			why = m.fencedWhy(pid)
		} else {
			why = ": " + expiredWhy
		}
		return fmt.Errorf("producer %s of transactional id %q: %w: the transaction coordinator's producer is %s%s", pid, txnID, ErrProducerFenced, current, why)
	}
	if _, listed := slices.BinarySearchFunc(rec.partitions, tp, compareTopicPartitions); rec.state != txnOngoing || !listed {
		return fmt.Errorf("producer %s of transactional id %q: %w: the transaction coordinator has no open transaction of it with this partition (state %s)", pid, txnID, ErrTransactionState, rec.state)
	}
	return nil
}

// noteTransactional records that producer id id is, or was, transactional
// ID txnID's.
func (t *logTxns) noteTransactional(id int64, txnID string) {
	if id >= 0 {
		if prev, ok := t.transactional.Load(id); !ok || prev != txnID {
			t.transactional.Store(id, txnID)
		}
	}
}

// checkNotTransactional refuses an idempotent append, by Partition.Append
// or AppendBatch, with the producer id of a transactional Producer: its
// epoch, if higher, would fence the Producer in the partition, and with
// it the markers of its transactions, which could then never complete;
// its sequences would break the Producer's. Ids are handed out in order,
// so an id taken by mistake is likely one in use.
func (t *logTxns) checkNotTransactional(id int64) error {
	if txnID, ok := t.transactional.Load(id); ok {
		return fmt.Errorf("producer id %d belongs to the transactional Producer of transactional id %q: an idempotent append needs an id of its own (Log.NewProducerID)", id, txnID)
	}
	return nil
}

// nextEpoch returns the producer id and epoch that fence id: the next
// epoch, or a new producer id once the epochs are used up. The epochs a
// Producer is given stop at math.MaxInt16-1, as Kafka's do, keeping
// math.MaxInt16 for abortLocked to fence the last one with.
func (c *txnCoordinator) nextEpoch(id ProducerID) (ProducerID, error) {
	if id.ID >= 0 && id.Epoch < math.MaxInt16-1 {
		return ProducerID{ID: id.ID, Epoch: id.Epoch + 1}, nil
	}
	pid, err := c.log.txns.ids.allocate()
	return ProducerID{ID: pid}, err
}

// initProducer gives a new Producer of transactional ID id its producer id
// and epoch, fencing every older Producer of the ID: a prepared
// transaction of theirs is finished, an open one aborted.
func (c *txnCoordinator) initProducer(ctx context.Context, id string, timeout time.Duration) (ProducerID, error) {
	m := c.lock(id, true)
	defer m.op.Unlock()
	switch m.rec.state {
	case txnPrepareCommit, txnPrepareAbort:
		if err := c.completeLocked(m); err != nil {
			return ProducerID{}, err
		}
	case txnOngoing:
		if err := c.abortLocked(ctx, m, fencedByNewProducer); err != nil {
			return ProducerID{}, err
		}
	}
	prev := m.rec.producer
	next, err := c.nextEpoch(prev)
	if err != nil {
		return ProducerID{}, err
	}
	rec := txnRecord{producer: next, timeout: timeout, state: txnEmpty, start: -1}
	if err := c.writeLocked(ctx, m, rec, DurabilityFsync); err != nil {
		return ProducerID{}, err
	}
	// prev is fenced now, unless it is the epoch an abort fenced its
	// Producer with, which no Producer has: then the abort's reason stays.
	if f := m.fenced.Load(); f == nil || f.producer.ID != prev.ID || f.producer.Epoch+1 != prev.Epoch {
		m.fencedLocked(prev, fencedByNewProducer)
	}
	return next, nil
}

// fencedByNewProducer is why initProducer fences the producers before.
const fencedByNewProducer = "a newer Producer of its transactional id started"

// checkProducerLocked fails with ErrProducerFenced unless pid is m's
// current producer.
func (m *txnMeta) checkProducerLocked(pid ProducerID) error {
	if pid != m.rec.producer {
		return errorf("eventlog: transactional id %q: producer %s: %w: the current producer is %s%s", m.id, pid, ErrProducerFenced, m.rec.producer, m.fencedWhy(pid))
	}
	return nil
}

// addPartitions adds partitions to the open transaction of pid, opening
// one if needed, and returns once the Ongoing state listing them is
// fsynced: only then may the transaction's records be written to them.
func (c *txnCoordinator) addPartitions(ctx context.Context, id string, pid ProducerID, tps []TopicPartition) error {
	m := c.lock(id, false)
	if m == nil {
		return expiredError(id, pid)
	}
	defer m.op.Unlock()
	if err := m.checkProducerLocked(pid); err != nil {
		return err
	}
	rec := m.rec
	switch rec.state {
	case txnEmpty, txnCompleteCommit, txnCompleteAbort:
		rec.state, rec.partitions, rec.start = txnOngoing, nil, c.log.opts.Now().UnixMilli()
	case txnOngoing:
	default:
		return errorf("eventlog: transactional id %q: %w: cannot add partitions in state %s", id, ErrTransactionState, rec.state)
	}
	added := slices.Clone(rec.partitions)
	for _, tp := range tps {
		if _, found := slices.BinarySearchFunc(added, tp, compareTopicPartitions); !found {
			added = append(added, tp)
		}
	}
	slices.SortFunc(added, compareTopicPartitions)
	if rec.state == m.rec.state && len(added) == len(rec.partitions) {
		return nil // all listed already
	}
	rec.partitions = added
	return c.writeLocked(ctx, m, rec, DurabilityFsync)
}

// endTransaction commits or aborts the open transaction of pid. A
// transaction that added no partition has nothing to end. Once the
// decision is durable, ctx no longer matters, and a failure leaves the
// transaction to the Log's retries, with an error wrapping
// ErrTransactionIncomplete; a call for the same outcome then tries again
// at once.
func (c *txnCoordinator) endTransaction(ctx context.Context, id string, pid ProducerID, commit bool) error {
	m := c.lock(id, false)
	if m == nil {
		return expiredError(id, pid)
	}
	defer m.op.Unlock()
	if err := m.checkProducerLocked(pid); err != nil {
		return err
	}
	switch m.rec.state {
	case txnEmpty, txnCompleteCommit, txnCompleteAbort:
		return nil
	case txnOngoing:
	case txnPrepareCommit, txnPrepareAbort:
		if (m.rec.state == txnPrepareCommit) != commit {
			return errorf("eventlog: transactional id %q: %w: the transaction is in state %s, its outcome decided", id, ErrTransactionState, m.rec.state)
		}
		return c.completeLocked(m) // a retry of one that failed midway
	default:
		return errorf("eventlog: transactional id %q: %w: state %s", id, ErrTransactionState, m.rec.state)
	}
	rec := m.rec
	rec.state = txnPrepareAbort
	if commit {
		// The transaction's records must be durable before the decision to
		// commit them is.
		if err := c.syncPartitions(rec.partitions); err != nil {
			return err
		}
		rec.state = txnPrepareCommit
	}
	if err := c.writeLocked(ctx, m, rec, DurabilityFsync); err != nil {
		return err
	}
	return c.completeLocked(m)
}

// abortLocked aborts m's open transaction with a new epoch, which fences
// the Producer that opened it: the coordinator refuses its calls, and the
// markers, written with the new epoch, make the partitions refuse its late
// batches. A Producer is never given an epoch past math.MaxInt16-1
// (nextEpoch), so that one is always left for this, as in Kafka: a
// Producer at the last epoch is fenced with math.MaxInt16, and the next
// Producer of the ID gets a new producer id.
func (c *txnCoordinator) abortLocked(ctx context.Context, m *txnMeta, why string) error {
	rec := m.rec
	fenced := rec.producer
	if rec.producer.Epoch < math.MaxInt16 { // else fenced already: no Producer has it
		rec.producer.Epoch++
	}
	rec.state = txnPrepareAbort
	if err := c.writeLocked(ctx, m, rec, DurabilityFsync); err != nil {
		return err
	}
	m.fencedLocked(fenced, why)
	c.log.opts.Logger.Info("eventlog: aborting transaction", "transactional_id", m.id, "producer", m.rec.producer.String(), "partitions", len(rec.partitions), "reason", why)
	return c.completeLocked(m)
}

// completeLocked writes the markers of m's decided transaction that are
// not written yet, and then its completion. The outcome is durable, so
// this is the coordinator's work, not bound to any caller's context. If it
// fails, the transaction is left to the Log's retries and the error wraps
// ErrTransactionIncomplete.
func (c *txnCoordinator) completeLocked(m *txnMeta) error {
	commit := m.rec.state == txnPrepareCommit
	var todo []TopicPartition
	for _, tp := range m.rec.partitions {
		if !m.marked[tp] {
			todo = append(todo, tp)
		}
	}
	marked, err := c.log.writeMarkers(m.rec.producer, m.id, todo, commit)
	for _, tp := range marked {
		if m.marked == nil {
			m.marked = make(map[TopicPartition]bool)
		}
		m.marked[tp] = true
	}
	if err == nil {
		rec := m.rec
		rec.state, rec.partitions, rec.start = txnCompleteAbort, nil, -1
		if commit {
			rec.state = txnCompleteCommit
		}
		err = c.writeLocked(context.Background(), m, rec, DurabilityOS)
	}
	if err != nil {
		return c.incompleteLocked(m, len(todo)-len(marked), err)
	}
	if m.failures > 0 {
		c.log.opts.Logger.Info("eventlog: completed a transaction after failed attempts", "transactional_id", m.id, "state", m.rec.state.String(), "failed_attempts", m.failures)
	}
	m.marked, m.failures = nil, 0
	c.mu.Lock()
	delete(c.incomplete, m)
	c.mu.Unlock()
	return nil
}

// incompleteLocked leaves m's decided transaction, still missing the
// markers of some partitions or only its completion, to the Log's
// retries, and returns the error for the call that tried.
func (c *txnCoordinator) incompleteLocked(m *txnMeta, missing int, err error) error {
	outcome := "commit"
	if m.rec.state == txnPrepareAbort {
		outcome = "abort"
	}
	if m.failures == 0 {
		c.log.opts.Logger.Warn("eventlog: a decided transaction is incomplete; the Log retries it, and the next Open finishes it", "transactional_id", m.id, "outcome", outcome, "missing_markers", missing, "err", err)
	} else {
		c.log.opts.Logger.Debug("eventlog: a retry of an incomplete transaction failed", "transactional_id", m.id, "outcome", outcome, "missing_markers", missing, "err", err)
	}
	m.failures++
	c.mu.Lock()
	if c.incomplete == nil {
		c.incomplete = make(map[*txnMeta]bool)
	}
	c.incomplete[m] = true
	c.mu.Unlock()
	what := fmt.Sprintf("%d of its partitions lack their marker", missing)
	if missing == 0 {
		what = "its completion is not stored"
	}
	return errorf("eventlog: transactional id %q: %w: its %s is decided, but %s; the Log retries: %w", m.id, ErrTransactionIncomplete, outcome, what, err)
}

// writeMarkers writes a COMMIT or ABORT marker of producer pid, of
// transactional ID txnID ("" when unknown), to each partition, going on
// past those that fail, and fsyncs them. It returns the partitions that
// have their marker, durably — a partition whose topic is deleted has
// nothing left to mark, and counts, once the topic is gone from the Log —
// and the failures, joined.
func (l *Log) writeMarkers(pid ProducerID, txnID string, tps []TopicPartition, commit bool) ([]TopicPartition, error) {
	now := l.opts.Now()
	var marked []TopicPartition
	var errs []error
	type write struct {
		tp TopicPartition
		p  *Partition
	}
	var written []write
	for _, tp := range tps {
		p, err := l.Partition(tp.Topic, tp.Partition)
		if errors.Is(err, ErrTopicNotFound) || errors.Is(err, ErrPartitionNotFound) {
			marked = append(marked, tp)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			break // the Log is closing: no partition takes a marker now
		}
		batch, err := encodeMarker(pid, commit, 0, now)
		if err != nil {
			return marked, err
		}
		base, err := p.appendEncoded(batch, DurabilityOS, appendChecks{transactionalID: txnID})
		if err != nil {
			// A partition whose topic is being deleted refuses the
			// marker, and is not marked: the deletion may yet fail and
			// put the topic back, with the transaction's records and
			// without the marker (the next Open would abort them as an
			// orphan). A retry finds the topic gone, or takes the marker.
			errs = append(errs, err)
			if errors.Is(err, ErrClosed) {
				break
			}
			continue
		}
		if tp.Topic == offsetsTopicName {
			if s, _ := l.offsetStore(false); s != nil {
				s.completeTxn(pid.ID, p, commit, base)
			}
		}
		written = append(written, write{tp, p})
	}
	for _, w := range written {
		if err := w.p.syncTo(w.p.written.Load()); err != nil {
			errs = append(errs, err)
			continue
		}
		if w.tp.Topic == offsetsTopicName && commit {
			if s, _ := l.offsetStore(false); s != nil {
				s.markerDurable() // its commits are applied: wake their consumers
			}
		}
		marked = append(marked, w.tp)
	}
	return marked, errors.Join(errs...)
}

// syncPartitions fsyncs everything written to the partitions.
func (c *txnCoordinator) syncPartitions(tps []TopicPartition) error {
	for _, tp := range tps {
		p, err := c.log.Partition(tp.Topic, tp.Partition)
		if errors.Is(err, ErrTopicNotFound) || errors.Is(err, ErrPartitionNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := p.syncTo(p.written.Load()); err != nil {
			return err
		}
	}
	return nil
}

// run aborts the transactions open longer than their timeout, retries
// the completion of those decided but incomplete and expires the
// transactional IDs idle for TransactionalIDExpiration, every
// txnCheckInterval, until the Log closes.
func (c *txnCoordinator) run(stop <-chan struct{}) {
	tick := time.NewTicker(txnCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			c.abortTimedOut()
			c.retryIncomplete()
			c.expireIdle()
		case <-stop:
			return
		}
	}
}

// retryIncomplete tries again to complete each transaction decided but
// incomplete.
func (c *txnCoordinator) retryIncomplete() {
	c.forEachIdle(func() []*txnMeta { return slices.Collect(maps.Keys(c.incomplete)) }, func(m *txnMeta) {
		switch m.rec.state {
		case txnPrepareCommit, txnPrepareAbort:
			_ = c.completeLocked(m) // a failure is logged, and retried
		default:
			c.mu.Lock()
			delete(c.incomplete, m)
			c.mu.Unlock()
		}
	})
}

// abortTimedOut aborts, and fences, every transaction open longer than its
// timeout.
func (c *txnCoordinator) abortTimedOut() {
	now := c.log.opts.Now().UnixMilli()
	c.forEachIdle(func() []*txnMeta { return slices.Collect(maps.Values(c.txns)) }, func(m *txnMeta) {
		if m.rec.state == txnOngoing && now-m.rec.start > m.rec.timeout.Milliseconds() {
			why := fmt.Sprintf("its transaction was open longer than its TransactionTimeout (%v), and the Log aborted it", m.rec.timeout)
			if err := c.abortLocked(context.Background(), m, why); err != nil {
				c.log.opts.Logger.Warn("eventlog: abort of a timed out transaction failed", "transactional_id", m.id, "err", err)
			}
		}
	})
}

// forEachIdle calls fn, holding m.op, for each m of those pick returns
// under c.mu, unless the Log is closed. Those busy with an operation — a
// Producer's call, say — are left for the next round.
func (c *txnCoordinator) forEachIdle(pick func() []*txnMeta, fn func(m *txnMeta)) {
	if !c.log.enterLong() {
		return
	}
	defer c.log.exitLong()
	c.mu.Lock()
	metas := pick()
	c.mu.Unlock()
	for _, m := range metas {
		if m.op.TryLock() {
			if !m.expired {
				fn(m)
			}
			m.op.Unlock()
		}
	}
}
