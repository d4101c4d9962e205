package eventlog

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Transactional IDs expire, as in Kafka: the coordinator forgets an ID
// whose state has not changed for Options.TransactionalIDExpiration, once
// no transaction of it is open or being completed (Empty, CompleteCommit,
// CompleteAbort), so that neither its memory nor __transaction_state
// grows with every ID ever used. It writes a tombstone for the ID, then
// drops the state; compaction of __transaction_state drops the ID's
// records, and the tombstone after DeleteRetention.
//
// The ID's next Producer finds no state and gets a new producer id
// (nextEpoch), as Kafka's InitProducerId does for an unknown ID. It must
// not get the old producer id again: the partitions may remember that id
// at an epoch that would refuse a restart at 0, or may have forgotten it
// (ProducerIDExpiration) and take any epoch of it, the old Producer's
// included. A Producer of the ID from before the expiry is refused by the
// coordinator, which has no state of its producer id, and by the
// partitions, which ask the coordinator before a transaction begins
// (checkBegin).
//
// The tombstone is written, not fsynced. Lost in a power cut, the ID
// comes back in the terminal state it expired in, with the producer id
// and epoch it had, which fence every Producer they fenced before; its
// next Producer bumps the epoch as ever. The tombstone cannot be lost
// while a later state of the ID survives: __transaction_state is one
// partition, and the fsync of any later state, such as the new
// Producer's, makes everything before it durable; Open keeps no record
// after one that did not survive.

// expiredWhy says why the coordinator has no state of a transactional ID
// that a Producer had.
const expiredWhy = "the transactional id expired: it had no transaction for Options.TransactionalIDExpiration"

// expiredError is the error for a call of Producer pid of transactional
// ID id that the coordinator no longer knows.
func expiredError(id string, pid ProducerID) error {
	return errorf("eventlog: transactional id %q: producer %s: %w: %s", id, pid, ErrProducerFenced, expiredWhy)
}

// expireIdle expires the transactional IDs idle for
// TransactionalIDExpiration whose state is terminal. An ID busy with an
// operation is left for the next round.
func (c *txnCoordinator) expireIdle() {
	now := c.log.opts.Now()
	horizon := now.Add(-c.log.opts.TransactionalIDExpiration).UnixMilli()
	var gone []string
	c.forEachIdle(func() []*txnMeta { return slices.Collect(maps.Values(c.txns)) }, func(m *txnMeta) {
		switch m.rec.state {
		case txnEmpty, txnCompleteCommit, txnCompleteAbort:
		default:
			return
		}
		// Kafka expires an ID whose last update is at or before the
		// horizon. A state never stored — a Producer's start that failed
		// — goes whatever its age.
		if m.rec.producer.ID >= 0 && m.rec.lastUpdate > horizon {
			return
		}
		if err := c.expireLocked(m, now); err != nil {
			c.log.opts.Logger.Warn("eventlog: expiry of a transactional id failed; the Log tries again", "transactional_id", m.id, "err", err)
			return
		}
		c.log.opts.Logger.Debug("eventlog: transactional id expired", "transactional_id", m.id, "producer", m.rec.producer.String())
		gone = append(gone, m.id)
	})
	if len(gone) > 0 {
		c.forgetProducerIDs(gone)
	}
}

// expireLocked writes a tombstone for m's ID, unless no state of it was
// ever stored, and drops m. The caller holds m.op.
func (c *txnCoordinator) expireLocked(m *txnMeta, now time.Time) error {
	if m.rec.producer.ID >= 0 {
		r := Record{Key: encodeTxnKey(nil, m.id), Timestamp: now}
		if _, err := c.part.appendUnchecked(context.Background(), []Record{r}, AppendOptions{Durability: DurabilityOS}); err != nil {
			return fmt.Errorf("store its tombstone: %w", err)
		}
	}
	m.expired = true
	c.mu.Lock()
	if c.txns[m.id] == m {
		delete(c.txns, m.id)
	}
	delete(c.incomplete, m)
	c.mu.Unlock()
	return nil
}

// forgetProducerIDs forgets the producer ids of the transactional IDs
// that expired, as a reopen would: checkNotTransactional no longer guards
// them, since no transaction of theirs can be open. The producer id of a
// Producer of one of the IDs made since is kept.
func (c *txnCoordinator) forgetProducerIDs(ids []string) {
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	t := &c.log.txns
	t.transactional.Range(func(key, value any) bool {
		pid, id := key.(int64), value.(string)
		if !gone[id] {
			return true
		}
		c.mu.Lock()
		m := c.txns[id]
		c.mu.Unlock()
		if m != nil {
			// A new state stores its producer id before noting it.
			if rec := m.current.Load(); rec != nil && rec.producer.ID == pid {
				return true
			}
		}
		t.transactional.Delete(pid)
		return true
	})
}
