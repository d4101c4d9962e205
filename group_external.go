package eventlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of external group members.
var (
	// ErrUnknownMember is returned for a group member that is no longer in
	// its group: it left, was evicted for going silent, or was fenced by a
	// static member with its instance ID (Kafka's UNKNOWN_MEMBER_ID).
	ErrUnknownMember = errors.New("eventlog: unknown group member")

	// ErrIllegalGeneration is returned for a call that names a group
	// generation the member is not in (Kafka's ILLEGAL_GENERATION).
	ErrIllegalGeneration = errors.New("eventlog: illegal group generation")

	// ErrRebalanceInProgress is returned by ExternalMember.Sync while an
	// eager rebalance is under way, which has no assignment yet: the
	// member must rejoin, and sync the generation its rejoin returns
	// (Kafka's REBALANCE_IN_PROGRESS).
	ErrRebalanceInProgress = errors.New("eventlog: group rebalance in progress")

	// errMissedSync is why an external member that did not sync within
	// its rebalance timeout of its join ending was removed.
	errMissedSync error = &chainedError{msg: "eventlog: member was removed from its group for not syncing within its rebalance timeout of its join", err: ErrCommitFailed}
)

// External members
//
// An ExternalMember is a member of a consumer group whose consumer runs
// outside the process — a Kafka client connected through kafkaserver — and
// shares the group with in-process Consumers. The coordinator treats it
// like any member: the group's assignor, run by the coordinator, gives it
// its target; it is granted partitions nobody else holds; only it may
// commit what it holds. What differs is how it learns and acts, which
// follows Kafka's classic group protocol, with the coordinator as the
// group leader:
//
//   - JoinGroup: Log.JoinGroupExternal adds it, Rejoin takes it back in
//     (releasing what its client revoked), and AwaitRebalance waits until
//     an eager rebalance has an assignment, then tells the generation.
//   - SyncGroup: Sync returns what it is granted of its target, or, while
//     an eager rebalance is under way, ErrRebalanceInProgress.
//   - Heartbeat: tells it to rejoin when there is news — a new generation,
//     partitions granted, partitions to give up.
//   - LeaveGroup: Leave.
//
// It is evicted when no call of it arrives within its session timeout,
// except while it waits in AwaitRebalance. Once a rebalance starts, it must
// also rejoin (Rejoin or AwaitRebalance) within its rebalance timeout, or
// it is removed, however often it heartbeats, and the rebalance completes
// without it, as in Kafka. The same holds for the rejoins of a cooperative
// rebalance's second phase: of a member that Sync told to give partitions
// up, from that Sync, and of one granted partitions, from the grant. And
// once AwaitRebalance returned its generation, it must Sync within its
// rebalance timeout, or it is removed, as Kafka removes a member pending
// its sync: otherwise it would hold the partitions granted to it unread.

// ExternalMemberConfig describes an external group member.
type ExternalMemberConfig struct {
	// InstanceID makes the member static (Kafka's group.instance.id): a
	// member joining with the instance ID of another takes its place, and
	// the other is fenced.
	InstanceID string
	// Topics are the topics the member subscribes to; those that do not
	// exist are assigned once created.
	Topics []string
	// Assignors are the strategies the member's client supports, in order
	// of preference (Kafka's partition.assignment.strategy). A group with
	// members keeps its assignor: the member joins if one of these has the
	// same Name. An empty group takes the first.
	Assignors []Assignor
	// SessionTimeout is how long the member stays in the group without a
	// call (Kafka's session.timeout.ms). Default DefaultSessionTimeout.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the member has to rejoin once a
	// rebalance starts, or once told to rejoin in the second phase of a
	// cooperative one, and to sync once its join ended, before it is
	// removed from the group (the rebalance
	// timeout of Kafka's JoinGroup, which clients set to their
	// max.poll.interval.ms). Default SessionTimeout.
	RebalanceTimeout time.Duration
	// ClientID and ClientHost identify the member's client in
	// DescribeGroup and in the group's stored metadata (Kafka's client.id,
	// and the address the client connected from, such as "/10.0.0.7").
	ClientID   string
	ClientHost string
}

// ExternalMember is a consumer group member whose consumer runs outside
// the process; see ExternalMemberConfig. It is safe for concurrent use.
// Once its Log is closed, its calls fail with ErrClosed, an AwaitRebalance
// in progress included.
type ExternalMember struct {
	g    *group
	m    *member
	wake chan struct{} // buffer 1: the coordinator has news

	// synced is the generation of the last Sync; guarded by g.mu.
	synced int32
	// claimed is what the member held once its last Rejoin gave back what
	// its client revoked: the partitions its client says it still owns
	// (none for a new member). What it is granted after that, its client
	// learns of only at its Sync. Guarded by g.mu.
	claimed map[TopicPartition]bool
}

// JoinGroupExternal adds an external member to a consumer group, starting
// a rebalance (or, for a static member whose instance ID is known, taking
// the previous member's place). It fails with ErrInvalidConfig when none of
// cfg.Assignors matches the group's (Kafka's INCONSISTENT_GROUP_PROTOCOL).
func (l *Log) JoinGroupExternal(group string, cfg ExternalMemberConfig) (*ExternalMember, error) {
	if err := validGroupID(group); err != nil {
		return nil, err
	}
	switch {
	case len(cfg.Assignors) == 0:
		return nil, fmt.Errorf("%w: group %q: an external member with no assignor", ErrInvalidConfig, group)
	case cfg.SessionTimeout < 0:
		return nil, fmt.Errorf("%w: SessionTimeout %v is negative", ErrInvalidConfig, cfg.SessionTimeout)
	case cfg.SessionTimeout == 0:
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	switch {
	case cfg.RebalanceTimeout < 0:
		return nil, fmt.Errorf("%w: RebalanceTimeout %v is negative", ErrInvalidConfig, cfg.RebalanceTimeout)
	case cfg.RebalanceTimeout == 0:
		cfg.RebalanceTimeout = cfg.SessionTimeout
	}
	for i, a := range cfg.Assignors {
		if err := checkAssignor(a); err != nil {
			return nil, fmt.Errorf("%w: group %q: Assignors[%d] %w", ErrInvalidConfig, group, i, err)
		}
	}
	for _, name := range cfg.Topics {
		if err := validateTopicName(name, false); err != nil {
			return nil, err
		}
	}
	c, err := l.coordinator()
	if err != nil {
		return nil, err
	}
	// Borrowed until it has the member, which keeps it in memory.
	g := c.borrowGroup(group)
	defer c.returnGroup(g)
	x := &ExternalMember{g: g, wake: make(chan struct{}, 1), synced: -1}
	m, err := g.join(memberConfig{
		instanceID:       cfg.InstanceID,
		clientID:         cfg.ClientID,
		clientHost:       cfg.ClientHost,
		topics:           slices.Clone(cfg.Topics),
		assignor:         g.pickAssignor(cfg.Assignors),
		sessionTimeout:   cfg.SessionTimeout,
		maxPollInterval:  cfg.SessionTimeout, // any call keeps it in the group
		rebalanceTimeout: cfg.RebalanceTimeout,
		wake:             x.wake,
	})
	if err != nil {
		return nil, err
	}
	x.m = m
	return x, nil
}

// pickAssignor returns the group's assignor when one of candidates has its
// name, or else the first candidate, for join to accept or refuse.
func (g *group) pickAssignor(candidates []Assignor) Assignor {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.mu.members) > 0 {
		for _, a := range candidates {
			if a.Name() == g.mu.assignor.Name() {
				return g.mu.assignor
			}
		}
	}
	return candidates[0]
}

// ID returns the member ID the coordinator gave the member. No other
// membership has it, in this Log or in one opened on its directory later,
// as Kafka's end in a UUID: a client that rejoins with the ID it held
// before a restart is not taken for another member.
func (x *ExternalMember) ID() string { return x.m.id }

// Assignor returns the group's assignor, which the member joined with.
func (x *ExternalMember) Assignor() Assignor { return x.m.cfg.assignor }

// checkLocked evicts the expired members of the group and fails when x is
// one of them, or otherwise no longer in the group, or when the Log is
// closed.
func (x *ExternalMember) checkLocked(now time.Time) error {
	if x.g.coord.log.closed.Load() {
		return ErrClosed
	}
	x.g.expireLocked(now)
	if m := x.m; m.removed != nil {
		return errorf("eventlog: group %q member %s: %w: %w", x.g.id, m.id, ErrUnknownMember, m.removed)
	}
	return nil
}

// checkGenerationLocked accepts the generation of the member's last Sync or
// its current one; a member learns of a new generation only when it
// rejoins, and may commit and heartbeat in the old one until then.
func (x *ExternalMember) checkGenerationLocked(generation int32) error {
	if generation != x.synced && generation != x.m.generation {
		return errorf("eventlog: group %q member %s: %w: %d, the member is in generation %d", x.g.id, x.m.id, ErrIllegalGeneration, generation, x.m.generation)
	}
	return nil
}

// Rejoin takes the member back into the group (a JoinGroup of a known
// member): its subscription becomes topics, rebalancing the group if that
// changes what it subscribes to, and it releases every partition it holds
// that is not in owned, which its client has revoked. Under the eager
// protocol a client revokes everything before it rejoins, so the member
// releases everything it holds, owned or not (the assignor still sees what
// it held when the rebalance began); under the cooperative one it keeps
// what it still owns.
func (x *ExternalMember) Rejoin(topics []string, owned []TopicPartition) error {
	for _, name := range topics {
		if err := validateTopicName(name, false); err != nil {
			return err
		}
	}
	g, m := x.g, x.m
	g.mu.Lock()
	defer g.unlock()
	now := g.coord.log.opts.Now()
	if err := x.checkLocked(now); err != nil {
		return err
	}
	m.lastPoll = now
	had := heldList(m)
	eager := g.mu.assignor.Protocol() == RebalanceEager
	var revoked []TopicPartition
	for tp := range m.held {
		// An eager client owns nothing once it rejoins, whatever its
		// JoinGroup says it owned: kept, a claimed partition would hold
		// up the rebalance, which waits for every partition back.
		if eager || !slices.Contains(owned, tp) {
			revoked = append(revoked, tp)
		}
	}
	g.releaseLocked(m, revoked)
	x.claimed = make(map[TopicPartition]bool, len(m.held))
	for tp := range m.held {
		x.claimed[tp] = true
	}
	m.cfg.topics = slices.Clone(topics)
	if resolved := g.resolveTopics(&m.cfg); !slices.Equal(resolved, m.topics) {
		m.topics = resolved
		if !g.mu.emptying && eager {
			// Its client revoked everything to rejoin; the rebalance
			// this starts is to see what it owned, which a Kafka
			// client's subscription tells the eager sticky assignor.
			m.revoked = had
		}
		g.rebalanceLocked()
	}
	g.progressLocked()
	// It has rejoined: what it was granted meanwhile, even just now, it
	// learns at its sync; a sync its last join awaited is moot.
	m.rejoinBy, m.syncBy = time.Time{}, time.Time{}
	return nil
}

// AwaitRebalance waits until the group has an assignment for the member —
// until an eager rebalance in progress has every member's partitions back
// and ran the assignor — and returns the member's generation. When ctx
// ends first it returns the generation the member is in with ctx's error.
// The member is not evicted while it waits, and has rejoined every
// rebalance that starts meanwhile. What it was granted since its join
// began, which its client has not learned of, it gives back to an eager
// rebalance: only its own Sync could tell its client, so the rebalance
// would otherwise wait for it, and it for the rebalance.
func (x *ExternalMember) AwaitRebalance(ctx context.Context) (int32, error) {
	g, m := x.g, x.m
	defer func() {
		g.mu.Lock()
		m.inPoll, m.lastPoll = false, g.coord.log.opts.Now()
		g.unlock()
	}()
	for {
		g.mu.Lock()
		err := x.checkLocked(g.coord.log.opts.Now())
		if err == nil && g.mu.emptying {
			x.releaseUnclaimedLocked()
		}
		settled, generation := !g.mu.emptying, m.generation
		m.inPoll = err == nil
		if m.inPoll {
			m.rejoinBy = time.Time{}
		}
		if err == nil && settled && m.cfg.rebalanceTimeout > 0 {
			// Its join ended: it must sync within its rebalance timeout,
			// as Kafka removes a member still pending its sync then.
			m.syncBy = g.coord.log.opts.Now().Add(m.cfg.rebalanceTimeout)
			g.coord.wakeTimerFor(m.syncBy)
		}
		g.unlock()
		if err != nil || settled {
			return generation, err
		}
		select {
		case <-x.wake:
		case <-ctx.Done():
			return generation, ctx.Err()
		case <-g.coord.log.stop:
			return generation, ErrClosed
		}
	}
}

// releaseUnclaimedLocked gives back what the member holds that its client
// did not claim when its join began, which may finish the eager rebalance
// under way.
func (x *ExternalMember) releaseUnclaimedLocked() {
	var unclaimed []TopicPartition
	for tp := range x.m.held {
		if !x.claimed[tp] {
			unclaimed = append(unclaimed, tp)
		}
	}
	if len(unclaimed) > 0 {
		x.g.releaseLocked(x.m, unclaimed)
		x.g.progressLocked()
	}
}

// Sync returns what the member owns in generation (a SyncGroup): the part
// of its target it has been granted, sorted. Partitions of its target
// still held by others come later: Heartbeat tells it to rejoin once they
// are granted. It fails with ErrIllegalGeneration when generation is not
// the member's, and otherwise with ErrRebalanceInProgress while an eager
// rebalance is under way — the member has not rejoined it, or its
// AwaitRebalance ended first — as Kafka's coordinator answers a SyncGroup
// in those cases.
func (x *ExternalMember) Sync(generation int32) ([]TopicPartition, error) {
	g, m := x.g, x.m
	g.mu.Lock()
	defer g.unlock()
	now := g.coord.log.opts.Now()
	if err := x.checkLocked(now); err != nil {
		return nil, err
	}
	if generation != m.generation {
		return nil, errorf("eventlog: group %q member %s: %w: %d, the group is in generation %d", g.id, m.id, ErrIllegalGeneration, generation, m.generation)
	}
	if g.mu.emptying {
		// Its target is empty until the assignor runs: an answer now
		// would be an empty assignment in a generation that is ending.
		return nil, errorf("eventlog: group %q member %s generation %d: %w: rejoin", g.id, m.id, generation, ErrRebalanceInProgress)
	}
	m.lastPoll, m.news, x.synced, m.syncBy = now, false, generation, time.Time{}
	var out []TopicPartition
	giveUp := false
	for tp := range m.held {
		if m.target[tp] {
			out = append(out, tp)
		} else {
			giveUp = true
		}
	}
	if giveUp {
		// It gives them up by rejoining without them, which begins the
		// second phase of a cooperative rebalance: bounded as a join is.
		g.awaitRejoinLocked(m)
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out, nil
}

// Heartbeat keeps the member in the group and reports whether it must
// rejoin (Kafka's REBALANCE_IN_PROGRESS): a rebalance it has not rejoined
// began — even an eager one that still waits for others' partitions, to a
// member with none to give up — a new generation began, it was granted
// partitions, or it holds partitions it must give up. It does not keep a
// member that does not rejoin a rebalance in the group past its
// RebalanceTimeout.
func (x *ExternalMember) Heartbeat(generation int32) (rejoin bool, err error) {
	g, m := x.g, x.m
	g.mu.Lock()
	defer g.unlock()
	now := g.coord.log.opts.Now()
	if err := x.checkLocked(now); err != nil {
		return false, err
	}
	if err := x.checkGenerationLocked(generation); err != nil {
		return false, err
	}
	m.lastPoll = now
	g.refreshTopicsLocked()
	if m.news || m.generation != x.synced || !m.rejoinBy.IsZero() {
		// A member with a rejoin deadline is told of it, so that it
		// is not removed for a rejoin nobody asked of it.
		return true, nil
	}
	for tp := range m.held {
		if !m.target[tp] {
			return true, nil
		}
	}
	return false, nil
}

// Commit commits offsets for the member's group, as a Consumer's
// CommitOffsets does, and returns once they are as durable as the Log
// promises. Only partitions the member holds can be committed; others fail
// with ErrCommitFailed, and then nothing is committed.
func (x *ExternalMember) Commit(ctx context.Context, generation int32, offsets map[TopicPartition]OffsetAndMetadata) error {
	g, m := x.g, x.m
	g.mu.Lock()
	err := x.checkLocked(g.coord.log.opts.Now())
	if err == nil {
		err = x.checkGenerationLocked(generation)
	}
	if err == nil {
		m.lastPoll = g.coord.log.opts.Now()
	}
	g.unlock()
	if err != nil {
		return err
	}
	return g.commit(ctx, m, offsets)
}

// Leave takes the member out of its group, which rebalances without it.
func (x *ExternalMember) Leave() { x.g.leave(x.m) }

// commit checks and writes offsets of the group for m, or for no member.
func (g *group) commit(ctx context.Context, m *member, offsets map[TopicPartition]OffsetAndMetadata) error {
	if len(offsets) == 0 {
		return nil
	}
	updates, tps, err := g.coord.log.offsetUpdates(offsets)
	if err != nil {
		return err
	}
	if err := g.beginCommit(m, tps); err != nil {
		return err
	}
	defer g.endCommit(m, tps)
	g.commitChecked()
	_, err = g.coord.offsets.write(ctx, g.id, updates, DurabilityDefault)
	return err
}

// CommitGroupOffsets commits offsets for a consumer group from outside its
// membership — Kafka's OffsetCommit with no member ID, as admin tools and
// consumers that assign partitions by hand send it — and returns once they
// are durable. As in Kafka, the group must have no members: otherwise it
// fails with ErrCommitFailed. A member that joins while the offsets are
// written is granted none of their partitions until CommitGroupOffsets
// returns, so that it starts from them.
func (l *Log) CommitGroupOffsets(ctx context.Context, group string, offsets map[TopicPartition]OffsetAndMetadata) error {
	if err := validGroupID(group); err != nil {
		return err
	}
	c, err := l.coordinator()
	if err != nil {
		return err
	}
	g := c.borrowGroup(group)
	defer c.returnGroup(g)
	return g.commit(ctx, nil, offsets)
}

// OffsetCommitPending reports whether group has an offset commit of tp in
// a transaction still open (Producer.SendOffsetsToTransaction), which may
// change the group's committed offset of tp when the transaction ends, or
// in a committed one whose COMMIT marker is not yet durable, which
// changes it once the marker is. A
// consumer that starts from the committed offset waits until it is decided,
// as a Consumer does (ErrUnstableOffsetCommit) and as Kafka's OffsetFetch
// with requireStable has it.
func (l *Log) OffsetCommitPending(group string, tp TopicPartition) bool {
	s, err := l.offsetStore(false)
	return err == nil && s != nil && s.unstable(group, tp)
}

// CommittedOffsets returns a group's committed offsets of tps; partitions
// without one are absent. Commits written but not yet durable, such as a
// Consumer's automatic ones, are made durable first, so that a member that
// takes over a partition reads its previous owner's last commit.
func (l *Log) CommittedOffsets(group string, tps []TopicPartition) (map[TopicPartition]OffsetAndMetadata, error) {
	if err := validGroupID(group); err != nil {
		return nil, err
	}
	s, err := l.offsetStore(false)
	if err != nil || s == nil {
		return map[TopicPartition]OffsetAndMetadata{}, err
	}
	if err := s.flush(group); err != nil {
		return nil, err
	}
	return s.committed(group, tps), nil
}
