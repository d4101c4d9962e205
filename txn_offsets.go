package eventlog

import (
	"bytes"
	"errors"
	"slices"
)

// Offsets committed in a transaction (Producer.SendOffsetsToTransaction)
// are written to __consumer_offsets as Kafka's group coordinator writes
// them: in a transactional batch of the producer's id and epoch. They are
// pending until the transaction's marker reaches the partition: an ABORT
// drops them, a COMMIT makes each the group's committed offset unless
// that comes from a record written after its own, a plain commit made
// while the transaction was open. Records, not markers, order the commits
// of an offset, as in Kafka's coordinator (OffsetMetadataManager's
// replayEndTransactionMarker compares record offsets; the older
// GroupMetadata.completePendingTxnOffsetCommit compares batch offsets,
// which order the commits of one offset the same): the log cleaner keeps
// an offset's last record, and Open must find what was in memory whether
// or not the cleaner ran. Open replays the topic the same way.
//
// A deletion of committed offsets (DeleteTopic, DeleteGroup) takes the
// pending ones of the same partitions with it, as Kafka's coordinator does
// (GroupMetadata.removeOffsets): their tombstones come after them in the
// log, but the marker may come after the tombstones, and must not bring
// the deleted offsets back, for a topic created again under the same name
// above all. Open's replay drops them at the tombstone the same way.

// writeTxn writes the updates of one group as a transactional batch of
// producer id, pending until the transaction ends. The caller has added
// the group's partition of __consumer_offsets to the transaction.
//
// The commits are pending before the batch is appended, not once it is:
// the Log may abort the transaction — it timed out, or a new Producer of
// its ID fenced it — with a marker that lands right after the batch, and
// that marker must find them to drop them, as Open's replay drops them.
// Registered only after the append, they stayed pending past the marker,
// holding the group's consumers of their partitions
// (ErrUnstableOffsetCommit) until the Log was reopened, and the producer
// id's next transaction committed them with its own. A marker that comes
// while the batch is being appended (see completeTxn) is an abort that
// fences it, or follows it: either way the commits go.
func (s *offsetStore) writeTxn(group string, updates []offsetUpdate, id ProducerID, txnID string) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	p := s.partitionFor(group)
	recs, err := s.records(group, updates)
	if err != nil {
		return err
	}
	var enc batchEncoder
	batch, err := enc.encode(nil, recs, CompressionNone)
	if err != nil {
		return p.errorf("%w", err)
	}
	setProducerFields(batch, id, noSequence, true)
	s.mu.Lock()
	s.mu.txnWrites++
	write := s.mu.txnWrites
	if s.mu.txnPending == nil {
		s.mu.txnPending = make(map[int64][]pendingCommit)
	}
	// A commit per record, each ordered by its own offset, which
	// dropTxnCommits may drop alone; base and end are the record's index
	// until the batch has its offset.
	for i, u := range updates {
		s.mu.txnPending[id.ID] = append(s.mu.txnPending[id.ID], pendingCommit{part: p, base: int64(i), end: int64(i) + 1, group: group, values: []offsetUpdate{u}, txnWrite: write})
	}
	s.mu.Unlock()
	base, err := p.appendEncoded(batch, DurabilityOS, appendChecks{transactionalID: txnID})
	if err == nil {
		if hook := s.log.txnOffsetsHook.Load(); hook != nil {
			(*hook)()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pcs := s.mu.txnPending[id.ID]
	kept := pcs[:0]
	for _, pc := range pcs {
		if pc.txnWrite == write {
			if err != nil {
				continue // not stored
			}
			pc.base, pc.end, pc.txnWrite = base+pc.base, base+pc.end, 0
		}
		kept = append(kept, pc)
	}
	clear(pcs[len(kept):])
	if len(kept) == 0 {
		delete(s.mu.txnPending, id.ID)
	} else {
		s.mu.txnPending[id.ID] = kept
	}
	if err != nil {
		s.wakeStableLocked()
	}
	return err
}

// dropTxnCommits drops, from the commits of open transactions, those of
// group's partitions that updates delete, before their tombstones are
// written. The caller holds gate for writing, so that no commit of a
// transaction is written in between: every one dropped is before the
// tombstones in the log, where the replay drops it too. A marker written
// before the tombstones but completed after this finds nothing to apply;
// the replay applies the commit at the marker and deletes it at the
// tombstone, which ends the same.
func (s *offsetStore) dropTxnCommits(group string, updates []offsetUpdate) {
	var deleted map[TopicPartition]bool
	for _, u := range updates {
		if u.delete {
			if deleted == nil {
				deleted = make(map[TopicPartition]bool)
			}
			deleted[u.tp] = true
		}
	}
	if deleted == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wakeStableLocked()
	for id, pcs := range s.mu.txnPending {
		var kept []pendingCommit
		for _, pc := range pcs {
			if pc.group == group {
				pc.values = slices.DeleteFunc(slices.Clone(pc.values), func(u offsetUpdate) bool { return deleted[u.tp] })
			}
			if len(pc.values) > 0 {
				kept = append(kept, pc)
			}
		}
		if kept == nil {
			delete(s.mu.txnPending, id)
		} else {
			s.mu.txnPending[id] = kept
		}
	}
}

// completeTxn applies or drops the commits in part of producer id's
// transaction, whose marker was written there at offset marker. Its
// commits in other partitions of __consumer_offsets wait for their own
// markers.
func (s *offsetStore) completeTxn(id int64, part *Partition, commit bool, marker int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var others []pendingCommit
	for _, pc := range s.mu.txnPending[id] {
		switch {
		case pc.part != part:
			others = append(others, pc)
		case pc.txnWrite != 0 && commit:
			// Its batch is being appended (writeTxn), so after this
			// marker: a COMMIT is written only once the Producer's sends
			// have returned, and a batch it has not sent yet goes to its
			// next transaction. (An ABORT drops it with the others: an
			// abort that the Producer did not ask for fences its epoch,
			// so the batch is either before the marker or refused.)
			others = append(others, pc)
		case commit:
			// Applied once the marker is durable, still ordered by its
			// record: applyDurableLocked keeps a commit written after it.
			// Unstable until then (see unstable).
			pc.end, pc.committedTxn = marker+1, true
			s.mu.pending = append(s.mu.pending, pc)
		}
	}
	if others == nil {
		delete(s.mu.txnPending, id)
	} else {
		s.mu.txnPending[id] = others
	}
	s.applyDurableLocked()
	s.wakeStableLocked() // an abort's are decided: the marker drops them
}

// markerDurable wakes the consumers waiting for commits of a transaction
// whose COMMIT marker, written to one of the partitions, is now durable:
// they are applied.
func (s *offsetStore) markerDurable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	s.wakeStableLocked()
}

// wakeStableLocked sends once to each consumer waiting for pending offsets
// (unstableWatch): what is pending changed, and it looks again.
func (s *offsetStore) wakeStableLocked() {
	for ch := range s.mu.stableWatchers {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is there already
		}
	}
	clear(s.mu.stableWatchers)
}

// unstable reports whether tp of group has an offset commit in an open
// transaction, or in a committed one whose marker is not durable yet: a
// consumer that starts from the group's committed offset waits for it to
// be decided and applied (Kafka's requireStable). Without the second, a
// consumer resolving its start between the marker's write and its fsync
// found neither the pending commit nor the committed offset it makes, and
// started from the one before the transaction.
func (s *offsetStore) unstable(group string, tp TopicPartition) bool {
	return s.unstableWatch(group, tp, nil)
}

// unstableWatch is unstable, which also makes the next change of what is
// pending send to notify, if set, when it reports true: a consumer waiting
// for the offsets is woken when they may be decided, as an append wakes
// it.
func (s *offsetStore) unstableWatch(group string, tp TopicPartition, notify chan<- struct{}) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unstableLocked(group, tp) {
		return false
	}
	if notify != nil {
		if s.mu.stableWatchers == nil {
			s.mu.stableWatchers = make(map[chan<- struct{}]struct{})
		}
		s.mu.stableWatchers[notify] = struct{}{}
	}
	return true
}

func (s *offsetStore) unstableLocked(group string, tp TopicPartition) bool {
	for _, pcs := range s.mu.txnPending {
		for i := range pcs {
			if pcs[i].commits(group, tp) {
				return true
			}
		}
	}
	s.applyDurableLocked()
	for i := range s.mu.pending {
		if pc := &s.mu.pending[i]; pc.committedTxn && pc.commits(group, tp) {
			return true
		}
	}
	return false
}

// commits reports whether pc commits tp of group.
func (pc *pendingCommit) commits(group string, tp TopicPartition) bool {
	if pc.group != group {
		return false
	}
	for _, u := range pc.values {
		if u.tp == tp {
			return true
		}
	}
	return false
}

// replayTransactional is replay for a partition of __consumer_offsets that
// holds transactional commits: each batch's records are applied when it is
// read, except a transaction's, which wait for its marker.
func (r *replayer) replayTransactional(p *Partition) error {
	c := batchCursor{p: p, offset: p.LogStartOffset(), hw: p.hw.Load(), control: true}
	defer c.close()
	var dec batchDecoder
	start, limit := p.LogStartOffset(), maxReadDecompressedBytes(p.config().maxBatchBytes)
	open := make(map[int64][]Record)
	for {
		ok, err := c.next()
		if err != nil {
			return errorf("eventlog: replay committed offsets: %w", err)
		}
		if !ok {
			break
		}
		h := &c.h
		if h.emptyControl() {
			continue // emptied by the cleaner: its transaction's records are gone
		}
		if h.isControl() {
			m, ok, err := parseControlBatch(h, c.batch)
			if err != nil {
				return p.corrupt(c.seg, c.batchPos, h.BaseOffset, "replay committed offsets: "+err.Error())
			}
			recs := open[h.ProducerID]
			delete(open, h.ProducerID)
			if !ok || !m.commit {
				continue
			}
			for i := range recs {
				if err := r.applyCommitted(&recs[i]); err != nil {
					return p.errorf("replay committed offsets: offset %d: %w", recs[i].Offset, err)
				}
			}
			continue
		}
		recs, err := dec.decode(nil, h, c.batch, start, limit)
		if err != nil {
			return p.corrupt(c.seg, c.batchPos, h.BaseOffset, err.Error())
		}
		if h.Attributes&attrTransactional != 0 {
			open[h.ProducerID] = append(open[h.ProducerID], recs...)
			continue
		}
		for i := range recs {
			if err := r.apply(&recs[i]); err != nil {
				return p.errorf("replay committed offsets: offset %d: %w", recs[i].Offset, err)
			}
			if recs[i].Value == nil && len(open) > 0 {
				dropOpenCommits(open, recs[i].Key)
			}
		}
	}
	// Transactions still open: pending, for the recovery of transactions
	// to commit or abort. A read-only Log recovers nothing, and replays
	// again at each Refresh.
	if p.log.opts.ReadOnly {
		return nil
	}
	for id, recs := range open {
		for _, rec := range recs {
			group, tp, ok, err := decodeOffsetKey(rec.Key)
			if err != nil || !ok {
				continue
			}
			u := offsetUpdate{tp: tp, delete: rec.Value == nil}
			if !u.delete {
				if u.v, err = decodeOffsetValue(rec.Value); err != nil {
					return p.errorf("replay committed offsets: offset %d: %w", rec.Offset, err)
				}
			}
			if r.s.mu.txnPending == nil {
				r.s.mu.txnPending = make(map[int64][]pendingCommit)
			}
			r.s.mu.txnPending[id] = append(r.s.mu.txnPending[id], pendingCommit{part: p, base: rec.Offset, end: rec.Offset + 1, group: group, values: []offsetUpdate{u}})
		}
	}
	return nil
}

// applyCommitted applies a record of a transaction at its COMMIT marker,
// unless its offset was committed since by a later record, which wins, as
// it does in memory (applyDurableLocked) and in the cleaned log.
func (r *replayer) applyCommitted(rec *Record) error {
	if len(rec.Key) >= 2 && !isGroupMetadataKey(rec.Key) {
		if c, ok := r.s.mu.committed[string(rec.Key[2:])]; ok && c.at > rec.Offset {
			return nil
		}
	}
	return r.apply(rec)
}

// dropOpenCommits drops the commits of the offset whose tombstone has key
// from the records of the open transactions: see dropTxnCommits.
func dropOpenCommits(open map[int64][]Record, key []byte) {
	if len(key) < 2 || isGroupMetadataKey(key) {
		return
	}
	for id, recs := range open {
		open[id] = slices.DeleteFunc(recs, func(rec Record) bool {
			// The same group, topic and partition, whatever the key's version.
			return len(rec.Key) >= 2 && !isGroupMetadataKey(rec.Key) && bytes.Equal(rec.Key[2:], key[2:])
		})
	}
}

// beginTxnCommit checks that a transactional offset commit of tps comes
// from a member of the group's current generation that owns them, as
// Kafka's TxnOffsetCommit does; a consumer that assigns partitions by
// hand (generation -1) may commit only while the group has no members.
// As beginCommit does, it counts the commit as in flight, so that a
// member evicted before its offsets are recorded as pending keeps its
// partitions held until then: their next owner finds the offsets pending
// (ErrUnstableOffsetCommit) rather than starting from the committed
// offset before them; one from outside the group keeps its partitions
// from being granted until then (beginOutsideCommitLocked). The caller
// ends the commit with endCommit(m, tps) once writeTxn returned; m is nil
// for a commit from outside the group.
func (g *group) beginTxnCommit(md GroupMetadata, tps []TopicPartition) (m *member, err error) {
	g.mu.Lock()
	defer g.unlock()
	g.expireLocked(g.coord.log.opts.Now())
	if md.GenerationID < 0 {
		if len(g.mu.members) > 0 {
			return nil, errorf("eventlog: group %q: %w: the group has members, and the offsets come from none of them", g.id, ErrCommitFailed)
		}
		g.beginOutsideCommitLocked(tps)
		return nil, nil
	}
	m = g.mu.members[md.MemberID]
	switch {
	case m == nil:
		return nil, errorf("eventlog: group %q: %w: member %q is not in the group", g.id, ErrCommitFailed, md.MemberID)
	case m.removed != nil:
		return nil, errorf("eventlog: group %q member %s: %w", g.id, m.id, m.removed)
	case m.generation != md.GenerationID:
		return nil, errorf("eventlog: group %q member %s: %w: generation %d is not the member's %d", g.id, m.id, ErrCommitFailed, md.GenerationID, m.generation)
	}
	for _, tp := range tps {
		if !m.held[tp] {
			return nil, errorf("eventlog: group %q member %s generation %d: %s: %w", g.id, m.id, m.generation, tp, ErrCommitFailed)
		}
	}
	m.inflight++
	return m, nil
}

// ErrUnstableOffsetCommit is returned by Consumer.Position for a partition
// whose group has an offset commit in a transaction not yet decided, or
// committed but not yet applied, its marker not durable (Kafka's
// UNSTABLE_OFFSET_COMMIT): where the consumer starts depends on how the
// transaction ends. Poll and the iterators wait for it instead, reading
// the partition once the transaction is decided: its end wakes them, as
// an append does.
var ErrUnstableOffsetCommit = errors.New("eventlog: the group's committed offset is pending in an open transaction")

// stableLocked fails with ErrUnstableOffsetCommit while the consumer's
// group has an offset commit of tp in an open transaction, so that the
// consumer does not start before the offset the transaction commits
// (Kafka's requireStable).
func (c *Consumer) stableLocked(tp TopicPartition) error {
	if c.opts.GroupID == "" {
		return nil
	}
	s, err := c.log.offsetStore(false)
	if err != nil || s == nil || !s.unstableWatch(c.opts.GroupID, tp, c.notify) {
		return nil
	}
	return errorf("eventlog: group %q %s: %w", c.opts.GroupID, tp, ErrUnstableOffsetCommit)
}
