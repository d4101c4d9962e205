package eventlog

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// Group metadata
//
// Members live in the process that runs them. So that another process —
// the CLI on a read-only Log, the next process to open the directory — can
// tell who they were and what they owned, the coordinator writes a group's
// membership to __consumer_offsets (group_metadata_codec.go), as Kafka's
// group coordinator does:
//
//   - when a generation completes: every member owns exactly what the
//     assignor gave it (or, for a static member that came back, what its
//     predecessor had);
//   - when the group becomes empty: its last member left or was evicted;
//   - a tombstone when DeleteGroup deletes the group.
//
// A change marks the group dirty; the first call that finds the group
// complete and dirty takes a snapshot under the group's lock, and no lock
// is held across its write. The coordinator's goroutine writes it
// metadataLinger later, so that no member waits for the write and the
// write does not compete with the rest of the rebalance. Three calls write
// it at once instead: a member leaving (the group may have become empty,
// and Close is often followed by the process ending), a commit of the
// group (the metadata of a generation comes before the offsets committed
// in it), and Log.Close (for the snapshots still waiting).
//
// The write is as a Consumer's automatic commits are: handed to the OS,
// so that it survives the process crashing, and fsynced by the Log's
// background sync on an fsync topic. A partition changing owner waits for
// the commits of its old owner to be durable, not for the metadata
// (offsetStore.flush). Snapshots are written in the order they are taken,
// one group at a time (group.metaWrite), and a newer one replaces one not
// yet written, so the last record of a group is its latest state. A failed
// write is logged and dropped: the next completed generation writes again,
// and committed offsets do not depend on it.
//
// Open and a read-only Log's Refresh replay the records into the offset
// store, the last of a group winning; DescribeGroup describes a group from
// them when no member of it joined in this process since Open. The
// generation of a group continues from the stored one.

// inProcessClient is the client ID and host recorded for a Consumer of
// the Log, which has neither (kafkaserver describes such members the same).
const inProcessClient = "in-process"

// storedGroupMetadata is the last GroupMetadataValue of a group in
// __consumer_offsets: the value as stored, decoded when described, and the
// offset of its record.
type storedGroupMetadata struct {
	value []byte
	at    int64
}

// markMetadataLocked notes that the group's membership or generation
// changed: its metadata is written once the generation completes.
func (g *group) markMetadataLocked() { g.mu.metaDirty = true }

// metadataSnapshot is a group's metadata as snapshotMetadataLocked takes
// it, under the group's lock, and the writer encodes it, without.
type metadataSnapshot struct {
	generation int32
	assignor   string // "" without members
	stateTime  int64  // unix milliseconds
	members    []memberSnapshot
}

type memberSnapshot struct {
	id, instanceID, clientID, clientHost string
	rebalanceTimeout, sessionTimeout     time.Duration
	topics                               []string // the member's, which are replaced, never changed
	target                               []TopicPartition
}

// snapshotMetadataLocked takes a snapshot of the group's metadata for
// writing when it changed and the generation is complete: no eager
// rebalance is waiting for revocations, and every member holds exactly its
// target. An empty group is complete.
func (g *group) snapshotMetadataLocked() {
	if !g.mu.metaDirty || g.mu.emptying {
		return
	}
	for _, m := range g.mu.members {
		if !sameKeys(m.held, m.target) {
			return
		}
	}
	g.mu.metaDirty = false
	snap := &metadataSnapshot{generation: g.mu.generation, stateTime: g.coord.log.opts.Now().UnixMilli()}
	if len(g.mu.members) > 0 {
		snap.assignor = g.mu.assignor.Name()
		snap.members = make([]memberSnapshot, 0, len(g.mu.members))
		for _, m := range g.mu.members {
			target := make([]TopicPartition, 0, len(m.target))
			for tp := range m.target {
				target = append(target, tp)
			}
			rebalance := m.cfg.rebalanceTimeout
			if rebalance == 0 {
				rebalance = m.cfg.maxPollInterval // a Consumer's, as Kafka's consumer sends it
			}
			snap.members = append(snap.members, memberSnapshot{id: m.id, instanceID: m.cfg.instanceID,
				clientID: m.cfg.clientID, clientHost: m.cfg.clientHost, rebalanceTimeout: rebalance,
				sessionTimeout: m.cfg.sessionTimeout, topics: m.topics, target: target})
		}
	}
	g.mu.metadata = snap
	g.metaPending.Store(true)
}

// metadata returns the GroupMetadataValue of the snapshot.
func (snap *metadataSnapshot) metadata() *groupMetadata {
	md := &groupMetadata{protocolType: consumerProtocolType, generation: snap.generation, protocol: snap.assignor, stateTime: snap.stateTime}
	for _, m := range snap.members {
		slices.SortFunc(m.target, compareTopicPartitions)
		md.members = append(md.members, groupMetadataMember{
			memberID:         m.id,
			instanceID:       m.instanceID,
			clientID:         m.clientID,
			clientHost:       m.clientHost,
			rebalanceTimeout: millis32(m.rebalanceTimeout),
			sessionTimeout:   millis32(m.sessionTimeout),
			subscription:     encodeSubscription(m.topics),
			assignment:       encodeAssignment(m.target),
		})
	}
	slices.SortFunc(md.members, func(a, b groupMetadataMember) int { return strings.Compare(a.memberID, b.memberID) })
	if len(md.members) > 0 {
		// The coordinator leads every group; Kafka names the member whose
		// client ran the assignor. The first member stands in.
		md.leader = md.members[0].memberID
	}
	return md
}

// flushGroupMetadata writes the metadata snapshots still waiting for the
// coordinator's goroutine; Close calls it before stopping the goroutine.
func (l *Log) flushGroupMetadata() {
	l.groups.mu.Lock()
	c := l.groups.coord
	l.groups.mu.Unlock()
	if c != nil {
		c.writeMetadata()
	}
}

// writeMetadata writes the metadata snapshots of every group.
func (c *coordinator) writeMetadata() {
	for _, g := range c.groupList() {
		g.writePendingMetadata()
	}
}

// millis32 is d in milliseconds as Kafka's int32 timeouts hold it.
func millis32(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), math.MaxInt32))
}

// unlock unlocks the group and, when a snapshot of its metadata was taken
// meanwhile, wakes the coordinator's goroutine to write it. Every method
// that may change the group unlocks it with unlock: any change, an
// eviction included, may complete a generation or empty the group.
func (g *group) unlock() {
	g.mu.Unlock()
	if g.metaPending.Load() {
		select {
		case g.coord.metaPoke <- struct{}{}:
		default:
		}
	}
}

// unlockAndWrite is unlock writing the snapshot itself.
func (g *group) unlockAndWrite() {
	g.mu.Unlock()
	g.writePendingMetadata()
}

// writePendingMetadata writes the group's metadata snapshot, if one waits.
func (g *group) writePendingMetadata() {
	if g.metaPending.Load() {
		g.writeMetadata()
	}
}

// writeMetadata writes the group's pending metadata snapshot, or waits
// for the call writing it.
func (g *group) writeMetadata() {
	g.metaWrite.Lock()
	defer g.metaWrite.Unlock()
	g.mu.Lock()
	snap := g.mu.metadata
	g.mu.metadata = nil
	g.metaPending.Store(false)
	g.mu.Unlock()
	if snap == nil {
		return // written by another call
	}
	md := snap.metadata()
	l := g.coord.log
	switch err := g.coord.offsets.writeGroupMetadata(g.id, md); {
	case errors.Is(err, ErrClosed):
		l.opts.Logger.Debug("eventlog: group metadata not written: the log is closed", "group", g.id, "generation", md.generation)
	case err != nil:
		l.opts.Logger.Warn("eventlog: writing group metadata failed; DescribeGroup from another process shows an older state",
			"group", g.id, "generation", md.generation, "err", err)
	}
}

// writeGroupMetadata appends a group's metadata record, handed to the OS
// (see Group metadata above), and keeps it as the group's stored metadata.
func (s *offsetStore) writeGroupMetadata(group string, md *groupMetadata) error {
	p := s.partitionFor(group)
	rec := Record{Key: encodeGroupMetadataKey(nil, group), Value: encodeGroupMetadataValue(nil, md)}
	at, err := p.appendUnchecked(context.Background(), []Record{rec}, AppendOptions{Durability: DurabilityOS})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.groupMetadata[group] = storedGroupMetadata{value: rec.Value, at: at}
	return nil
}

// storedMetadata returns the group's stored metadata.
func (s *offsetStore) storedMetadata(group string) (storedGroupMetadata, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.mu.groupMetadata[group]
	return md, ok
}

// applyGroupMetadata is replayer.apply for a GroupMetadataKey. A record
// that does not decode is logged and skipped, dropping what the group had:
// unlike a committed offset, metadata only describes the group.
func (r *replayer) applyGroupMetadata(rec *Record) {
	group, err := decodeGroupMetadataKey(rec.Key)
	if err != nil {
		r.s.log.opts.Logger.Warn("eventlog: skipped a group metadata record that does not decode", "topic", offsetsTopicName, "offset", rec.Offset, "err", err)
		return
	}
	if rec.Value == nil {
		delete(r.s.mu.groupMetadata, group)
		return
	}
	r.s.mu.groupMetadata[group] = storedGroupMetadata{value: slices.Clone(rec.Value), at: rec.Offset}
}

// decode decodes the stored metadata of group.
func (md storedGroupMetadata) decode(group string) (groupMetadata, error) {
	v, err := decodeGroupMetadataValue(md.value)
	if err != nil {
		return v, errorf("eventlog: group %q: stored metadata at %s offset %d: %w", group, offsetsTopicName, md.at, err)
	}
	return v, nil
}

// storedGeneration returns the generation of the group's stored metadata,
// 0 without one, for a group that starts in this process to continue from.
func (s *offsetStore) storedGeneration(group string) int32 {
	stored, ok := s.storedMetadata(group)
	if !ok {
		return 0
	}
	md, err := stored.decode(group)
	if err != nil {
		return 0
	}
	return md.generation
}

// describeStored describes a group from its stored metadata, if it has
// any.
func (s *offsetStore) describeStored(d *GroupDescription) error {
	stored, ok := s.storedMetadata(d.GroupID)
	if !ok {
		return nil
	}
	md, err := stored.decode(d.GroupID)
	if err != nil {
		return err
	}
	d.Stored, d.Generation, d.Assignor = true, md.generation, md.protocol
	if md.stateTime >= 0 {
		d.StoredAt = time.UnixMilli(md.stateTime)
	}
	if len(md.members) > 0 {
		d.State = GroupStable
	}
	for _, m := range md.members {
		topics, err := decodeSubscription(m.subscription)
		if err == nil {
			var assignment []TopicPartition
			if assignment, err = decodeAssignment(m.assignment); err == nil {
				slices.Sort(topics)
				slices.SortFunc(assignment, compareTopicPartitions)
				d.Members = append(d.Members, GroupMemberDescription{MemberID: m.memberID, GroupInstanceID: m.instanceID,
					ClientID: m.clientID, ClientHost: m.clientHost, Topics: topics, Assignment: assignment})
				continue
			}
		}
		return errorf("eventlog: group %q: stored metadata at %s offset %d: member %s: %w", d.GroupID, offsetsTopicName, stored.at, m.memberID, err)
	}
	sortMembers(d.Members)
	return nil
}

func sortMembers(members []GroupMemberDescription) {
	slices.SortFunc(members, func(a, b GroupMemberDescription) int { return strings.Compare(a.MemberID, b.MemberID) })
}
