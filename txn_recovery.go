package eventlog

import (
	"context"
	"slices"
)

// loadTransactions replays __transaction_state at Open, after the
// committed offsets, reading only; finishTransactions then writes what
// the replay calls for.
func (l *Log) loadTransactions() error {
	if t := l.mu.topics[txnStateTopicName]; t != nil {
		c := &txnCoordinator{log: l, part: t.partitions[0], txns: make(map[string]*txnMeta)}
		if err := c.replay(); err != nil {
			return err
		}
		for _, m := range c.txns {
			l.txns.ids.inTxnState = max(l.txns.ids.inTxnState, m.rec.producer.ID)
			l.txns.noteTransactional(m.rec.producer.ID, m.id)
		}
		l.txns.coord = c
		l.txns.published.Store(c)
	}
	return nil
}

// finishTransactions finishes, at Open, the transactions a crash
// interrupted: a prepared one gets its markers, an open one — whose
// Producer died with the process — is aborted. Then every open
// transaction no state lists is aborted (see txn_coordinator.go).
func (l *Log) finishTransactions() error {
	if c := l.txns.coord; c != nil {
		ids := make([]string, 0, len(c.txns))
		for id := range c.txns {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			m := c.txns[id]
			var err error
			switch m.rec.state {
			case txnPrepareCommit, txnPrepareAbort:
				l.opts.Logger.Info("eventlog: finishing a transaction a crash interrupted", "transactional_id", id, "state", m.rec.state.String())
				err = c.completeLocked(m)
			case txnOngoing:
				err = c.abortLocked(context.Background(), m, "its producer did not survive the restart")
			}
			if err != nil {
				return err
			}
		}
	}
	return l.abortOrphanTransactions()
}

// replay reads the state of every transactional ID.
func (c *txnCoordinator) replay() error {
	p := c.part
	var recs []Record
	for offset := p.LogStartOffset(); offset < p.HighWatermark(); {
		var err error
		if recs, err = p.read(recs[:0], offset, replayChunk); err != nil {
			return errorf("eventlog: replay transaction state: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if err := c.apply(&recs[i]); err != nil {
				return p.errorf("replay transaction state: offset %d: %w", recs[i].Offset, err)
			}
		}
		offset = recs[len(recs)-1].Offset + 1
	}
	return nil
}

// apply applies one record of __transaction_state; the last of a key wins.
// A record that does not decode fails Open: skipping it could forget a
// decision.
func (c *txnCoordinator) apply(r *Record) error {
	id, ok, err := decodeTxnKey(r.Key)
	if err != nil || !ok {
		return err
	}
	if r.Value == nil {
		delete(c.txns, id)
		return nil
	}
	rec, err := decodeTxnValue(r.Value)
	if err != nil {
		return err
	}
	c.meta(id).setLocked(rec)
	return nil
}

// abortOrphanTransactions aborts, with an ABORT marker of the epoch the
// partition knows, each transaction still open in a partition once the
// coordinator has finished every transaction it knows: nothing would ever
// end it, and the partition's last stable offset would stay behind it.
func (l *Log) abortOrphanTransactions() error {
	type orphan struct {
		tp  TopicPartition
		pid ProducerID
	}
	var orphans []orphan
	l.forEachPartition(func(p *Partition) {
		tx := p.txns.Load()
		if tx == nil {
			return
		}
		tx.mu.Lock()
		defer tx.mu.Unlock()
		for _, u := range tx.mu.unstable {
			if u.marker < 0 {
				epoch := int16(0)
				if e := p.producers.producers[u.producerID]; e != nil {
					epoch = e.epoch
				}
				orphans = append(orphans, orphan{TopicPartition{p.topic, p.id}, ProducerID{u.producerID, epoch}})
			}
		}
	})
	for _, o := range orphans {
		l.opts.Logger.Warn("eventlog: aborting a transaction no coordinator state lists", "topic", o.tp.Topic, "partition", o.tp.Partition, "producer", o.pid.String())
		if _, err := l.writeMarkers(o.pid, "", []TopicPartition{o.tp}, false); err != nil {
			return errorf("eventlog: abort orphan transaction of producer %s in %s: %w", o.pid, o.tp, err)
		}
	}
	return nil
}
