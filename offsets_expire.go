package eventlog

import (
	"context"
	"slices"
	"time"
)

// Committed offsets expire, as in Kafka since 2.1 (KIP-211,
// offsets.retention.minutes): every offsetsRetentionCheckInterval the
// group coordinator forgets the offsets of groups nobody consumes with,
// so that neither its memory nor __consumer_offsets grows with every
// group ever used.
//
//   - A group that members joined — in this process, or in one before as
//     its stored metadata tells — keeps its offsets while it has members.
//     Once it has had none for Options.OffsetsRetention they expire, all
//     together, counted from when it became empty (Kafka's current state
//     timestamp): from when its last member left in this process, from
//     its stored metadata's state time when that says it is empty, and,
//     when that lists members, which ran in a process before this one,
//     from when the coordinator started plus their longest session
//     timeout, when Kafka's coordinator would have evicted them after
//     loading the group. An offset committed while the group was empty
//     (CommitGroupOffsets, ResetGroupOffsets) counts from its commit
//     instead, where Kafka counts from the emptiness alone and drops it at
//     the next check.
//   - A group that only commits — a Consumer that assigns partitions by
//     hand, CommitGroupOffsets — has each offset expire OffsetsRetention
//     after its commit.
//
// An offset whose partition has a commit not yet durable, or one in a
// transaction still open or whose marker is not yet durable, stays, as
// does every offset of a group with a commit in flight. The coordinator
// holds the group's lock, which keeps members and commits of the group out,
// and the store's gate while it looks and writes; it writes a tombstone
// for each expired offset in one batch, fsynced whatever the Log's
// durability, and forgets the offsets once the batch is durable, as
// DeleteGroup does. A crash before then keeps them all: Open replays the
// batch whole or not at all. Compaction of __consumer_offsets then drops
// their records, and the tombstones after DeleteRetention.
//
// A group that members joined and that has no offset left dies, as in
// Kafka: a tombstone for its stored metadata goes in the same batch, and
// its in-memory state (generation, when it became empty) is forgotten, so
// that the next member to join starts a new group at generation 1. A group
// that nobody holds and that has nothing to remember leaves memory
// (coordinator.dropLocked). A read-only Log expires nothing: it runs no
// coordinator; nor do the commands of cmd/eventlog, which keep offsets
// for ever whatever the service's setting.

// offsetsRetentionCheckInterval is how often the coordinator expires
// committed offsets (Kafka's offsets.retention.check.interval.ms).
const offsetsRetentionCheckInterval = 10 * time.Minute

// expireOffsets expires the committed offsets past OffsetsRetention, and
// lets the groups that have no offsets left die.
func (c *coordinator) expireOffsets() {
	retention := c.log.opts.OffsetsRetention
	if retention < 0 || !c.log.enterLong() {
		return
	}
	defer c.log.exitLong()
	now := c.log.opts.Now()
	horizon := now.UnixMilli() - retention.Milliseconds()
	for _, id := range c.expiryCandidates(horizon) {
		c.expireGroup(id, now, horizon)
	}
}

// expiryCandidates returns, sorted, the groups that may have offsets to
// expire — a committed offset no younger than horizon — and those that
// may die or leave memory: those without offsets, committed, not durable
// yet or in a transaction, that have stored metadata or are in memory.
// One pass over the offsets of every group; expireGroup looks again at
// each candidate under its lock.
func (c *coordinator) expiryCandidates(horizon int64) []string {
	s := c.offsets
	candidate := make(map[string]bool)
	hasOffsets := make(map[string]bool)
	s.mu.Lock()
	s.applyDurableLocked()
	for id, o := range s.mu.committed {
		n := int(id[0])<<8 | int(id[1])
		group := id[2 : 2+n]
		hasOffsets[group] = true
		if o.commitTime <= horizon {
			candidate[group] = true
		}
	}
	for _, pc := range s.mu.pending {
		hasOffsets[pc.group] = true
	}
	for _, pcs := range s.mu.txnPending {
		for _, pc := range pcs {
			hasOffsets[pc.group] = true
		}
	}
	for group := range s.mu.groupMetadata {
		if !hasOffsets[group] {
			candidate[group] = true
		}
	}
	s.mu.Unlock()
	c.mu.Lock()
	for id := range c.groups {
		if !hasOffsets[id] {
			candidate[id] = true
		}
	}
	c.mu.Unlock()
	ids := make([]string, 0, len(candidate))
	for id := range candidate {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// expireGroup expires the group's offsets past horizon, if it has no
// members and no commit in flight, and lets it die if it has none left.
// It holds metaWrite, so that no metadata of the group is written after
// its tombstone.
func (c *coordinator) expireGroup(id string, now time.Time, horizon int64) {
	g := c.borrowGroup(id)
	defer c.returnGroup(g)
	func() {
		g.metaWrite.Lock()
		defer g.metaWrite.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		g.expireLocked(now)
		if err := g.expireOffsetsLocked(horizon); err != nil {
			c.log.opts.Logger.Warn("eventlog: expiry of committed offsets failed; the Log tries again", "group", id, "err", err)
		}
	}()
	if g.metaPending.Load() {
		g.writeMetadata() // evictions emptied the group
	}
}

// expireOffsetsLocked is expireGroup under the group's lock and metaWrite.
func (g *group) expireOffsetsLocked(horizon int64) error {
	if len(g.mu.members) > 0 || len(g.mu.holder) > 0 || len(g.mu.outside) > 0 || g.mu.metadata != nil {
		return nil // a member, a commit in flight, or an emptiness not yet stored
	}
	s := g.coord.offsets
	since, joined := g.emptySinceLocked(s)
	s.gate.Lock() // no commit in flight between the look and the tombstones
	defer s.gate.Unlock()
	expired, left := s.expiredOffsets(g.id, since, joined, horizon)
	dies := joined && left == 0
	if len(expired) == 0 && !dies {
		return nil
	}
	recs, err := s.records(g.id, expired)
	if err != nil {
		return err
	}
	if dies {
		recs = append(recs, Record{Key: encodeGroupMetadataKey(nil, g.id), Timestamp: g.coord.log.opts.Now()})
	}
	if _, err := s.appendLocked(context.Background(), g.id, recs, expired, DurabilityFsync); err != nil {
		return errorf("eventlog: expire committed offsets of group %q: %w", g.id, err)
	}
	if dies {
		s.mu.Lock()
		delete(s.mu.groupMetadata, g.id)
		s.mu.Unlock()
		g.mu.joined, g.mu.emptySince, g.mu.generation = false, time.Time{}, 0
		g.mu.assignor, g.mu.partitions, g.mu.metaDirty = nil, nil, false
	}
	g.coord.log.opts.Logger.Info("eventlog: committed offsets expired", "group", g.id, "offsets", len(expired), "group_dead", dies)
	return nil
}

// emptySinceLocked reports whether members joined the group, in this
// process or, by its stored metadata, in one before, and if so since when
// it has had none, in unix milliseconds (see the top of this file).
func (g *group) emptySinceLocked(s *offsetStore) (since int64, joined bool) {
	if g.mu.joined {
		return g.mu.emptySince.UnixMilli(), true
	}
	stored, ok := s.storedMetadata(g.id)
	if !ok {
		return 0, false
	}
	started := g.coord.started.UnixMilli()
	md, err := stored.decode(g.id)
	switch {
	case err != nil:
		return started + DefaultSessionTimeout.Milliseconds(), true
	case len(md.members) == 0:
		return md.stateTime, true // -1 in metadata from before Kafka 2.1: the commit times count
	}
	var session int32
	for _, m := range md.members {
		session = max(session, m.sessionTimeout)
	}
	return started + int64(session), true
}

// expiredOffsets returns the tombstones of the group's committed offsets
// that are past horizon, counted from their commit or, for a group that
// members joined, from since if that is later; and how many offsets the
// group has left: committed, not durable yet, or in a transaction. An
// offset whose partition has a commit of the group not durable yet or in
// a transaction stays.
func (s *offsetStore) expiredOffsets(group string, since int64, joined bool, horizon int64) (expired []offsetUpdate, left int) {
	prefix := string(appendKafkaString(nil, group))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	busy := make(map[TopicPartition]bool)
	note := func(pcs []pendingCommit) {
		for _, pc := range pcs {
			if pc.group == group {
				for _, u := range pc.values {
					busy[u.tp] = true
				}
			}
		}
	}
	note(s.mu.pending)
	for _, pcs := range s.mu.txnPending {
		note(pcs)
	}
	for id, c := range s.mu.committed {
		if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
			continue
		}
		_, tp := parseOffsetID(id)
		base := c.commitTime
		if joined {
			base = max(base, since)
		}
		if busy[tp] || base > horizon {
			if !busy[tp] {
				left++
			}
			continue
		}
		expired = append(expired, offsetUpdate{tp: tp, delete: true})
	}
	slices.SortFunc(expired, func(a, b offsetUpdate) int { return compareTopicPartitions(a.tp, b.tp) })
	return expired, left + len(busy)
}
