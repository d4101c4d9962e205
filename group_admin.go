package eventlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of consumer group administration.
var (
	// ErrGroupNotFound is returned for a group that has neither members,
	// committed offsets nor stored metadata (Kafka's GROUP_ID_NOT_FOUND).
	ErrGroupNotFound = errors.New("eventlog: consumer group not found")

	// ErrGroupNotEmpty is returned by DeleteGroup and ResetGroupOffsets
	// while the group has members (Kafka's NON_EMPTY_GROUP): close or
	// unsubscribe them first. A static member that closed stays a member
	// for its SessionTimeout. So does, for the moment it takes, a commit
	// of a member evicted meanwhile that is still being written, which
	// would otherwise land after them and undo them.
	ErrGroupNotEmpty = errors.New("eventlog: consumer group has active members")
)

// GroupState is the state of a consumer group, named as Kafka names it.
type GroupState string

// The states DescribeGroup reports.
const (
	// GroupEmpty: no members; the group may have committed offsets.
	GroupEmpty GroupState = "Empty"
	// GroupPreparingRebalance: an eager rebalance is waiting for every
	// member to give up its partitions.
	GroupPreparingRebalance GroupState = "PreparingRebalance"
	// GroupCompletingRebalance: the assignment is decided, and some
	// members have yet to give up or take up partitions.
	GroupCompletingRebalance GroupState = "CompletingRebalance"
	// GroupStable: every member owns exactly what it was assigned.
	GroupStable GroupState = "Stable"
)

// GroupDescription describes a consumer group (Kafka's
// DescribeConsumerGroups, with the offsets of ListConsumerGroupOffsets).
//
// A group whose members run in this process is described as it is now.
// Any other — every group on a read-only Log, and on a writer a group no
// member joined since Open — is described from the metadata that the
// process running it last wrote to __consumer_offsets, when a rebalance
// completed or its last member left: Stored is set, StoredAt says when,
// and State is GroupStable with members, GroupEmpty without. Members of a
// process that crashed stay listed, as Kafka lists them until their
// session expires.
type GroupDescription struct {
	GroupID string
	State   GroupState
	// Generation is the group's generation, bumped by every rebalance
	// (Kafka's generation ID).
	Generation int32
	// Assignor is the name of the members' assignor, "" without members
	// (Kafka's partition assignor, the group's protocol).
	Assignor string
	// Members are sorted by MemberID.
	Members []GroupMemberDescription
	// Offsets are the group's committed offsets with their lag, as
	// GroupOffsets returns them.
	Offsets []GroupPartitionOffset
	// Stored tells that State, Generation, Assignor and Members come from
	// the group's stored metadata rather than from members running in
	// this process.
	Stored bool
	// StoredAt is when the stored metadata was written (Kafka's current
	// state timestamp); zero when not Stored.
	StoredAt time.Time
}

// GroupMemberDescription describes a member of a consumer group.
type GroupMemberDescription struct {
	MemberID string
	// GroupInstanceID is the static member's instance ID, "" for a
	// dynamic member (Kafka's group.instance.id).
	GroupInstanceID string
	// ClientID and ClientHost identify the member's client (Kafka's
	// client.id, and the address it connected from): those an
	// ExternalMember gave, "in-process" for a Consumer of the Log.
	ClientID   string
	ClientHost string
	// Topics are the existing topics the member subscribes to, sorted.
	Topics []string
	// Assignment is what the member owns now, sorted.
	Assignment []TopicPartition
}

// ResetTarget says where ResetGroupOffsets moves committed offsets, as the
// options of kafka-consumer-groups --reset-offsets do.
type ResetTarget int

// The targets of ResetGroupOffsets.
const (
	// ResetToEarliest moves to the log start offset (--to-earliest).
	ResetToEarliest ResetTarget = iota + 1
	// ResetToLatest moves to the high watermark (--to-latest).
	ResetToLatest
	// ResetToTime moves to the first record at or after
	// ResetOffsetsSpec.Time, or to the high watermark when every record is
	// older (--to-datetime).
	ResetToTime
	// ResetToOffset moves to ResetOffsetsSpec.Offset, brought into
	// [log start offset, high watermark] (--to-offset).
	ResetToOffset
)

// ResetOffsetsSpec says which committed offsets ResetGroupOffsets sets, and to
// what.
type ResetOffsetsSpec struct {
	// Topics selects every partition of these topics (--topic name).
	Topics []string
	// Partitions selects these partitions too (--topic name:partition).
	// With neither Topics nor Partitions, every partition the group has a
	// committed offset for is selected (--all-topics).
	Partitions []TopicPartition
	// To is where the offsets go.
	To ResetTarget
	// Time is the time of ResetToTime.
	Time time.Time
	// Offset is the offset of ResetToOffset.
	Offset int64
	// DryRun returns the offsets that would be committed without
	// committing them (the tool's default, without --execute).
	DryRun bool
}

// DeleteGroup deletes a consumer group: its committed offsets and its
// stored metadata go, durably, as with Kafka's DeleteGroups, and so do its
// offsets sent to a transaction still open, which then commits without
// them. A member that joins the group afterwards starts a new one, at
// generation 1. It fails with ErrGroupNotEmpty while the group has members
// and with ErrGroupNotFound when it has no offsets, committed or pending,
// nor stored metadata.
func (l *Log) DeleteGroup(ctx context.Context, group string) error {
	if err := validGroupID(group); err != nil {
		return err
	}
	if err := l.refuseWrite("delete group %q", group); err != nil {
		return err
	}
	s, err := l.offsetStore(false)
	if err != nil {
		return err
	}
	if s == nil {
		return errorf("eventlog: group %q: %w", group, ErrGroupNotFound)
	}
	c, err := l.coordinator()
	if err != nil {
		return err
	}
	g := c.borrowGroup(group)
	defer c.returnGroup(g)
	err = g.delete(ctx, s)
	if g.metaPending.Load() {
		g.writeMetadata() // evictions emptied the group, which is not deleted
	}
	return err
}

// delete is DeleteGroup. It holds metaWrite, so that no metadata of the
// group is written after the tombstone; and so it unlocks mu itself, not
// with unlock, which may write metadata.
func (g *group) delete(ctx context.Context, s *offsetStore) error {
	g.metaWrite.Lock()
	defer g.metaWrite.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(g.coord.log.opts.Now())
	if err := g.notEmptyLocked(); err != nil {
		return err
	}
	if _, stored := s.storedMetadata(g.id); !stored && g.mu.metadata == nil && len(s.offsetsOfGroup(g.id)) == 0 {
		return errorf("eventlog: group %q: %w", g.id, ErrGroupNotFound)
	}
	// One batch: the offsets and the metadata go all at once or not at all.
	n, err := s.deleteGroup(ctx, g.id)
	if err != nil {
		return errorf("eventlog: delete group %q: %w", g.id, err)
	}
	g.mu.metadata, g.mu.metaDirty = nil, false
	g.metaPending.Store(false)
	// Gone as if it had expired (expireOffsetsLocked): nothing is left to
	// expire, and the coordinator lets go of it; a member joining it next
	// starts a new group.
	g.mu.joined, g.mu.emptySince, g.mu.generation = false, time.Time{}, 0
	g.mu.assignor, g.mu.partitions = nil, nil
	g.coord.log.opts.Logger.Info("eventlog: group deleted", "group", g.id, "offsets", n)
	return nil
}

// lockEmptyGroup returns the group borrowed and locked, so that no member
// joins until the caller unlocks it (and then returns it), or
// ErrGroupNotEmpty.
func (l *Log) lockEmptyGroup(id string) (*group, error) {
	c, err := l.coordinator()
	if err != nil {
		return nil, err
	}
	g := c.borrowGroup(id)
	g.mu.Lock()
	g.expireLocked(l.opts.Now())
	if err := g.notEmptyLocked(); err != nil {
		g.unlock()
		c.returnGroup(g)
		return nil, err
	}
	return g, nil
}

// notEmptyLocked returns ErrGroupNotEmpty while the group has members, or
// a removed member's commit in flight, which still holds its partitions
// (see releaseLocked).
func (g *group) notEmptyLocked() error {
	if n := len(g.mu.members); n > 0 {
		return errorf("eventlog: group %q: %w: %d members", g.id, ErrGroupNotEmpty, n)
	}
	if len(g.mu.holder) > 0 {
		return errorf("eventlog: group %q: %w: a commit of a member evicted meanwhile is still being written", g.id, ErrGroupNotEmpty)
	}
	return nil
}

// ResetGroupOffsets sets committed offsets of a group that has no members,
// as kafka-consumer-groups --reset-offsets does, and returns them with
// their partitions' high watermarks and lags, sorted. The offsets are
// committed at once, in one batch, and are durable when it returns; with
// spec.DryRun nothing is committed, and nothing on disk changes. It fails
// with ErrGroupNotEmpty while the group has members, with ErrTopicNotFound
// or ErrPartitionNotFound for a partition that does not exist, and with
// ErrInvalidConfig for a bad spec. On a read-only Log only a dry run is allowed, and it cannot tell
// whether another process runs members of the group.
func (l *Log) ResetGroupOffsets(ctx context.Context, group string, spec ResetOffsetsSpec) ([]GroupPartitionOffset, error) {
	if err := validGroupID(group); err != nil {
		return nil, err
	}
	switch {
	case spec.To < ResetToEarliest || spec.To > ResetToOffset:
		return nil, fmt.Errorf("%w: reset target %d is not ResetToEarliest, ResetToLatest, ResetToTime or ResetToOffset", ErrInvalidConfig, spec.To)
	case spec.To == ResetToTime && spec.Time.IsZero():
		return nil, fmt.Errorf("%w: ResetToTime without a Time", ErrInvalidConfig)
	case spec.To == ResetToOffset && spec.Offset < 0:
		return nil, fmt.Errorf("%w: ResetToOffset to offset %d", ErrOffsetOutOfRange, spec.Offset)
	}
	if l.opts.ReadOnly && !spec.DryRun {
		return nil, l.refuseWrite("reset offsets of group %q (a dry run can)", group)
	}
	if spec.DryRun {
		s, err := l.offsetStore(false)
		if err != nil {
			return nil, err
		}
		// Members live in the process that runs them: a read-only Log
		// cannot see them, and only plans. A Log without
		// __consumer_offsets has neither members nor committed offsets
		// (the coordinator creates the topic before any member joins),
		// and a plan does not create it.
		if l.opts.ReadOnly || s == nil {
			out, _, err := l.planReset(s, group, &spec)
			return out, err
		}
	}
	g, err := l.lockEmptyGroup(group)
	if err != nil {
		return nil, err
	}
	defer g.coord.returnGroup(g)
	defer g.unlock()
	s := g.coord.offsets
	out, updates, err := l.planReset(s, group, &spec)
	if err != nil || spec.DryRun || len(updates) == 0 {
		return out, err
	}
	if _, err := s.write(ctx, group, updates, DurabilityFsync); err != nil {
		return nil, errorf("eventlog: reset offsets of group %q: %w", group, err)
	}
	now := l.opts.Now()
	for i := range out {
		out[i].CommitTime = time.UnixMilli(now.UnixMilli())
	}
	l.opts.Logger.Info("eventlog: group offsets reset", "group", group, "partitions", len(out))
	return out, nil
}

// planReset returns the offsets spec sets, with their partitions' high
// watermarks and lags, and the updates that commit them. s may be nil
// when no group has committed yet.
func (l *Log) planReset(s *offsetStore, group string, spec *ResetOffsetsSpec) ([]GroupPartitionOffset, []offsetUpdate, error) {
	tps, err := l.resetSelection(s, group, spec)
	if err != nil {
		return nil, nil, err
	}
	out := make([]GroupPartitionOffset, 0, len(tps))
	updates := make([]offsetUpdate, 0, len(tps))
	for _, tp := range tps {
		p, err := l.Partition(tp.Topic, tp.Partition)
		if err != nil {
			return nil, nil, errorf("eventlog: reset offsets of group %q: %w", group, err)
		}
		offset, err := p.resetOffset(spec)
		if err != nil {
			return nil, nil, errorf("eventlog: reset offsets of group %q: %w", group, err)
		}
		hw := p.HighWatermark()
		out = append(out, GroupPartitionOffset{TopicPartition: tp, Committed: offset, HighWatermark: hw, Lag: max(hw-offset, 0)})
		updates = append(updates, offsetUpdate{tp: tp, v: offsetValue{offset: offset, epoch: noLeaderEpoch}})
	}
	return out, updates, nil
}

// resetSelection returns the partitions spec selects, sorted and distinct.
func (l *Log) resetSelection(s *offsetStore, group string, spec *ResetOffsetsSpec) ([]TopicPartition, error) {
	var tps []TopicPartition
	if len(spec.Topics) == 0 && len(spec.Partitions) == 0 && s != nil {
		for tp := range s.groupOffsets(group) {
			tps = append(tps, tp)
		}
	}
	for _, name := range spec.Topics {
		t, err := l.topic(name)
		if err != nil {
			return nil, errorf("eventlog: reset offsets of group %q: %w", group, err)
		}
		for _, p := range t.partitions {
			tps = append(tps, TopicPartition{Topic: name, Partition: p.id})
		}
	}
	tps = append(tps, spec.Partitions...)
	slices.SortFunc(tps, compareTopicPartitions)
	return slices.Compact(tps), nil
}

// resetOffset is where spec moves a committed offset of p.
func (p *Partition) resetOffset(spec *ResetOffsetsSpec) (int64, error) {
	start, hw := p.LogStartOffset(), p.HighWatermark()
	switch spec.To {
	case ResetToEarliest:
		return start, nil
	case ResetToTime:
		offset, found, err := p.OffsetForTime(spec.Time)
		if err != nil || !found {
			return hw, err
		}
		return offset, nil
	case ResetToOffset:
		return min(max(spec.Offset, start), hw), nil
	}
	return hw, nil
}

// DescribeGroup describes a consumer group: its state, generation, members
// and what each owns, and its committed offsets with their lag; see
// GroupDescription for groups whose members run in another process. A
// group with neither members, committed offsets nor stored metadata yields
// ErrGroupNotFound.
func (l *Log) DescribeGroup(group string) (GroupDescription, error) {
	if err := validGroupID(group); err != nil {
		return GroupDescription{}, err
	}
	offsets, err := l.GroupOffsets(group)
	if err != nil {
		return GroupDescription{}, err
	}
	d := GroupDescription{GroupID: group, State: GroupEmpty, Offsets: offsets}
	s, err := l.offsetStore(false)
	if err != nil {
		return GroupDescription{}, err
	}
	l.groups.mu.Lock()
	c := l.groups.coord
	l.groups.mu.Unlock()
	live := false
	if c != nil {
		c.mu.Lock()
		g := c.groups[group]
		c.mu.Unlock()
		if g != nil {
			live = g.describe(&d)
		}
	}
	stored := false
	if s != nil {
		_, stored = s.storedMetadata(group)
		if !live {
			if err := s.describeStored(&d); err != nil {
				return GroupDescription{}, err
			}
		}
	}
	if len(d.Members) == 0 && len(d.Offsets) == 0 && !stored {
		return GroupDescription{}, errorf("eventlog: group %q: %w", group, ErrGroupNotFound)
	}
	return d, nil
}

// describe fills in the group's state and members, and reports whether a
// member joined in this process: otherwise it fills in nothing.
func (g *group) describe(d *GroupDescription) bool {
	g.mu.Lock()
	defer g.unlock()
	if !g.mu.joined {
		return false
	}
	g.expireLocked(g.coord.log.opts.Now())
	d.Generation = g.mu.generation
	if len(g.mu.members) == 0 {
		return true
	}
	d.Assignor = g.mu.assignor.Name()
	d.State = GroupStable
	if g.mu.emptying {
		d.State = GroupPreparingRebalance
	}
	for _, m := range g.mu.members {
		d.Members = append(d.Members, GroupMemberDescription{
			MemberID:        m.id,
			GroupInstanceID: m.cfg.instanceID,
			ClientID:        m.cfg.clientID,
			ClientHost:      m.cfg.clientHost,
			Topics:          slices.Clone(m.topics),
			Assignment:      heldList(m),
		})
		if d.State == GroupStable && !sameKeys(m.held, m.target) {
			d.State = GroupCompletingRebalance
		}
	}
	sortMembers(d.Members)
	return true
}

func sameKeys(a, b map[TopicPartition]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
