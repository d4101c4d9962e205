package eventlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
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
// Open replays __transaction_state and finishes what a crash interrupted:
// a prepared transaction gets its markers again; an Ongoing one — its
// Producer died with the process — is aborted. A partition left with an
// open transaction that no Ongoing state lists (which the protocol rules
// out, short of lost files) is aborted too, so that its last stable offset
// does not stay stuck. A transaction open longer than its
// TransactionTimeout is aborted by the Log, and its Producer fenced. Each
// abort that fences bumps the producer epoch, and writes its markers with
// the new one, so that a partition refuses the old Producer's late writes.
//
// Calls into the coordinator register with the Log as long calls
// (enterLong), not as calls in flight (enter): the appends they make enter
// the Log themselves, and a read lock of Log.ops taken a second time waits
// for a Close that came in between and waits in turn for the first one.
// Close waits for a long call after the calls in flight; the call's
// appends then fail with ErrClosed, and it ends.

// txnTimeoutCheckInterval is how often the Log looks for transactions open
// longer than their timeout (Kafka's
// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10s).
const txnTimeoutCheckInterval = time.Second

// logTxns is the Log's part in idempotent and transactional producers.
type logTxns struct {
	ids producerIDs // allocates producer ids durably

	mu    sync.Mutex
	coord *txnCoordinator // nil until __transaction_state exists; guarded by mu
}

// txnCoordinator is the Log's transaction coordinator.
type txnCoordinator struct {
	log  *Log
	part *Partition // of __transaction_state

	mu   sync.Mutex
	txns map[string]*txnMeta // by transactional ID; guarded by mu
}

// txnMeta is one transactional ID's state.
type txnMeta struct {
	id string
	// op serializes the operations on the ID — its Producer's and the
	// Log's timeouts — and guards rec.
	op  sync.Mutex
	rec txnRecord
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
		return nil, fmt.Errorf("eventlog: create %s: %w", txnStateTopicName, err)
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
	return c, nil
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
		return fmt.Errorf("eventlog: transactional id %q: store state %s: %w", m.id, rec.state, err)
	}
	m.rec = rec
	return nil
}

// nextEpoch returns the producer id and epoch that fence id: the next
// epoch, or a new producer id once the epochs are used up.
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
	m := c.meta(id)
	m.op.Lock()
	defer m.op.Unlock()
	switch m.rec.state {
	case txnPrepareCommit, txnPrepareAbort:
		if err := c.completeLocked(ctx, m); err != nil {
			return ProducerID{}, err
		}
	case txnOngoing:
		if err := c.abortLocked(ctx, m, "a new producer with its transactional id started"); err != nil {
			return ProducerID{}, err
		}
	}
	next, err := c.nextEpoch(m.rec.producer)
	if err != nil {
		return ProducerID{}, err
	}
	rec := txnRecord{producer: next, timeout: timeout, state: txnEmpty, start: -1}
	if err := c.writeLocked(ctx, m, rec, DurabilityFsync); err != nil {
		return ProducerID{}, err
	}
	return next, nil
}

// checkProducerLocked fails with ErrProducerFenced unless pid is m's
// current producer.
func (m *txnMeta) checkProducerLocked(pid ProducerID) error {
	if pid != m.rec.producer {
		return fmt.Errorf("eventlog: transactional id %q: producer %s: %w: the current producer is %s", m.id, pid, ErrProducerFenced, m.rec.producer)
	}
	return nil
}

// addPartitions adds partitions to the open transaction of pid, opening
// one if needed, and returns once the Ongoing state listing them is
// fsynced: only then may the transaction's records be written to them.
func (c *txnCoordinator) addPartitions(ctx context.Context, id string, pid ProducerID, tps []TopicPartition) error {
	m := c.meta(id)
	m.op.Lock()
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
		return fmt.Errorf("eventlog: transactional id %q: %w: cannot add partitions in state %s", id, ErrTransactionState, rec.state)
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
// transaction that added no partition has nothing to end.
func (c *txnCoordinator) endTransaction(ctx context.Context, id string, pid ProducerID, commit bool) error {
	m := c.meta(id)
	m.op.Lock()
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
			return fmt.Errorf("eventlog: transactional id %q: %w: the transaction is in state %s", id, ErrTransactionState, m.rec.state)
		}
		return c.completeLocked(ctx, m) // a retry of one that failed midway
	default:
		return fmt.Errorf("eventlog: transactional id %q: %w: state %s", id, ErrTransactionState, m.rec.state)
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
	return c.completeLocked(ctx, m)
}

// abortLocked aborts m's open transaction with a new epoch, which fences
// the Producer that opened it.
func (c *txnCoordinator) abortLocked(ctx context.Context, m *txnMeta, why string) error {
	rec := m.rec
	if rec.producer.Epoch < math.MaxInt16-1 {
		// Markers with the new epoch make the partitions refuse the old
		// Producer's late writes. (At the last epoch the id is replaced on
		// the next init instead.)
		rec.producer.Epoch++
	}
	rec.state = txnPrepareAbort
	if err := c.writeLocked(ctx, m, rec, DurabilityFsync); err != nil {
		return err
	}
	c.log.opts.Logger.Info("eventlog: aborting transaction", "transactional_id", m.id, "producer", m.rec.producer.String(), "partitions", len(rec.partitions), "reason", why)
	return c.completeLocked(ctx, m)
}

// completeLocked writes the markers of m's prepared transaction and then
// its completion.
func (c *txnCoordinator) completeLocked(ctx context.Context, m *txnMeta) error {
	commit := m.rec.state == txnPrepareCommit
	if err := c.log.writeMarkers(m.rec.producer, m.id, m.rec.partitions, commit); err != nil {
		return fmt.Errorf("eventlog: transactional id %q: write markers: %w", m.id, err)
	}
	rec := m.rec
	rec.state, rec.partitions, rec.start = txnCompleteAbort, nil, -1
	if commit {
		rec.state = txnCompleteCommit
	}
	return c.writeLocked(ctx, m, rec, DurabilityOS)
}

// writeMarkers writes a COMMIT or ABORT marker of producer pid, of
// transactional ID txnID ("" when unknown), to each partition and returns
// once all are fsynced. A partition whose topic was deleted meanwhile has
// nothing left to mark.
func (l *Log) writeMarkers(pid ProducerID, txnID string, tps []TopicPartition, commit bool) error {
	now := l.opts.Now()
	var written []*Partition
	for _, tp := range tps {
		p, err := l.Partition(tp.Topic, tp.Partition)
		if errors.Is(err, ErrTopicNotFound) || errors.Is(err, ErrPartitionNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		batch, err := encodeMarker(pid, commit, 0, now)
		if err != nil {
			return err
		}
		base, err := p.appendEncoded(batch, DurabilityOS, appendChecks{transactionalID: txnID})
		if err != nil {
			if p.deleted.Load() {
				continue
			}
			return err
		}
		if tp.Topic == offsetsTopicName {
			if s, _ := l.offsetStore(false); s != nil {
				s.completeTxn(pid.ID, p, commit, base)
			}
		}
		written = append(written, p)
	}
	for _, p := range written {
		if err := p.syncTo(p.written.Load()); err != nil {
			return err
		}
	}
	return nil
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

// run aborts the transactions open longer than their timeout, every
// txnTimeoutCheckInterval, until the Log closes.
func (c *txnCoordinator) run(stop <-chan struct{}) {
	tick := time.NewTicker(txnTimeoutCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			c.abortTimedOut()
		case <-stop:
			return
		}
	}
}

// abortTimedOut aborts, and fences, every transaction open longer than its
// timeout. A transaction busy with an operation is left for the next
// check.
func (c *txnCoordinator) abortTimedOut() {
	if !c.log.enterLong() {
		return
	}
	defer c.log.exitLong()
	c.mu.Lock()
	metas := make([]*txnMeta, 0, len(c.txns))
	for _, m := range c.txns {
		metas = append(metas, m)
	}
	c.mu.Unlock()
	now := c.log.opts.Now().UnixMilli()
	for _, m := range metas {
		if !m.op.TryLock() {
			continue
		}
		if m.rec.state == txnOngoing && now-m.rec.start > m.rec.timeout.Milliseconds() {
			if err := c.abortLocked(context.Background(), m, "transaction.timeout.ms passed"); err != nil {
				c.log.opts.Logger.Warn("eventlog: abort of a timed out transaction failed", "transactional_id", m.id, "err", err)
			}
		}
		m.op.Unlock()
	}
}
