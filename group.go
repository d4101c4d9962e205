package eventlog

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of consumer groups.
var (
	// ErrCommitFailed is returned by a commit of a partition the member
	// does not own: the group rebalanced and gave it to another member, or
	// the member was evicted for not polling within MaxPollInterval (Kafka's
	// CommitFailedException). The records it consumed since its last
	// successful commit will be consumed again by the partition's new owner.
	ErrCommitFailed = errors.New("eventlog: commit failed: partition not owned by this group member")

	// ErrFencedInstanceID is returned to a static member (one with a
	// GroupInstanceID) after another consumer joined the group with the same
	// instance ID and took its place (Kafka's FencedInstanceIdException).
	// The fenced consumer can only be closed.
	ErrFencedInstanceID = errors.New("eventlog: another consumer joined the group with the same group instance ID")

	// ErrNoGroupID is returned by group operations (Subscribe, commits,
	// Committed) of a consumer without a ConsumerOptions.GroupID (Kafka's
	// InvalidGroupIdException).
	ErrNoGroupID = errors.New("eventlog: consumer has no group ID")

	// ErrSubscriptionConflict is returned by Assign on a subscribed consumer
	// and by Subscribe on one with partitions assigned by hand: the two are
	// mutually exclusive, as in Kafka. Unsubscribe, or Assign nothing, to
	// switch.
	ErrSubscriptionConflict = errors.New("eventlog: Subscribe and Assign are mutually exclusive")
)

// Why a member is no longer in its group; commits report both as
// ErrCommitFailed.
var (
	errEvicted error = &chainedError{msg: "eventlog: member was evicted from its group (no poll within max.poll.interval, or its static membership expired)", err: ErrCommitFailed}
	errLeft    error = &chainedError{msg: "eventlog: member left its group", err: ErrCommitFailed}
	// errMissedRebalance is why an external member that did not rejoin a
	// rebalance within its rebalance timeout was removed.
	errMissedRebalance error = &chainedError{msg: "eventlog: member was removed from its group for not rejoining a rebalance within its rebalance timeout", err: ErrCommitFailed}
)

// How a group works
//
// The coordinator is in-process and synchronous: members call it from
// their own goroutines, inside Poll, Commit and Close, and it answers at
// once. Its only goroutine is a timer that evicts members that stopped
// polling, so that the others need not wait for them.
//
// Ownership is explicit: every partition has at most one holder, the member
// it was granted to, until that member releases it. A member releases a
// partition only after its OnPartitionsRevoked returned (or when it leaves,
// or is evicted), and only then can the partition be granted to another, so
// that no two members own a partition at the same time, let alone in the
// same generation. A commit is accepted only from the partition's holder.
//
// A rebalance bumps the generation and gives every member a target: the
// partitions the assignor gives it. Each member learns its target at its
// next poll; it revokes what it holds outside its target and is granted
// what is in its target once nobody else holds it.
//
//   - Eager (range, round-robin, sticky): when the rebalance starts every
//     target is empty, so every member revokes everything. Once no member
//     holds a partition, the assignor runs, the generation is bumped and the
//     targets are set.
//   - Cooperative (cooperative-sticky): the assignor runs at once, knowing
//     what each member holds, and the generation is bumped. Members keep
//     consuming what stays theirs; a partition that moves is revoked by its
//     holder at that holder's next poll and granted to its new owner right
//     after, in the same generation.
//
// An external member (group_external.go) learns of a rebalance from a
// Heartbeat and acts on it when it rejoins, as a Kafka client does. It must
// rejoin within its rebalance timeout of the rebalance's start, or it is
// removed, as Kafka removes it, so that the rebalance completes without
// it: otherwise a member that heartbeats but never rejoins would hold its
// partitions, and an eager rebalance would wait, for as long as it kept
// heartbeating. The second phase of a cooperative rebalance is bounded the
// same way, as Kafka bounds every JoinGroup round: a member whose sync
// left it partitions to give up must rejoin without them, and one granted
// a partition must rejoin to learn of it, each within its rebalance
// timeout of being told. A Consumer needs no such deadline: it rebalances
// inside Poll, and MaxPollInterval bounds the time between its polls.
//
// A member that commits while the coordinator evicts it may still be
// writing its commit when the partition is granted elsewhere; the coordinator
// counts commits in flight per member and keeps an evicted member's
// partitions held until they finish, so the new owner reads the last one.
// Offsets sent to a transaction (SendOffsetsToTransaction) count until they
// are recorded as pending, so that the new owner waits for the transaction.
// A commit from outside the group, accepted only while it has no members,
// is counted per partition, and a member that joins meanwhile is granted
// none of its partitions until it ends.

// group is one consumer group.
type group struct {
	id    string
	coord *coordinator

	// holders counts the Consumers that hold the group (holdGroup) and
	// may join it; borrowed counts the calls using it (borrowGroup).
	// While either is above zero it stays in the coordinator's map. Both
	// are guarded by coord.mu.
	holders  int
	borrowed int

	// metaWrite orders the writes of the group's metadata (and
	// DeleteGroup's tombstone of it); it is taken before mu.
	metaWrite sync.Mutex
	// metaPending is set while mu.metadata waits to be written, so that
	// unlock checks it without the lock.
	metaPending atomic.Bool

	mu struct {
		sync.Mutex
		generation int32
		rebalances int64    // assignments made since Open, for Stats
		assignor   Assignor // of the first member; later ones must match
		members    map[string]*member
		instances  map[string]*member // static members by instance ID
		// holder is the member each partition was granted to, until that
		// member releases it; removed members with commits in flight
		// still hold theirs.
		holder map[TopicPartition]*member
		// emptying is set during an eager rebalance, until no member
		// holds a partition.
		emptying bool
		// outside counts, per partition, the commits from outside the
		// group in flight (beginOutsideCommitLocked): a partition is
		// granted to no member until they end.
		outside map[TopicPartition]int
		// topicsVersion is the Log's topicsVersion when subscriptions
		// were last resolved, and partitions what the last assignment
		// knew of the subscribed topics.
		topicsVersion int64
		partitions    map[string]topicShape
		// joined is set once a member joined in this process: from then
		// on the group is described live rather than from its stored
		// metadata. It is cleared when the group dies (offsets_expire.go).
		joined bool
		// emptySince is when the last member left, by Options.Now: the
		// committed offsets of a joined group that has no members expire
		// OffsetsRetention after it.
		emptySince time.Time
		// metaDirty is set when the membership or generation changed
		// since the metadata was last snapshot; metadata is the snapshot
		// waiting to be written (group_metadata.go).
		metaDirty bool
		metadata  *metadataSnapshot
	}
}

// memberConfig is what a consumer brings to its group.
type memberConfig struct {
	instanceID      string
	clientID        string // Kafka's client.id; inProcessClient for a Consumer
	clientHost      string
	topics          []string       // subscribed by name
	pattern         *regexp.Regexp // or by pattern
	assignor        Assignor
	sessionTimeout  time.Duration
	maxPollInterval time.Duration
	// rebalanceTimeout is how long an external member has to rejoin once
	// a rebalance starts; 0 for a Consumer, which rebalances in Poll.
	rebalanceTimeout time.Duration
	wake             chan struct{} // buffer 1: the member has news
}

// member is a consumer's membership in a group. Its fields are guarded by
// the group's mu.
type member struct {
	id  string
	cfg memberConfig

	topics     []string // subscribed topics that exist, sorted
	held       map[TopicPartition]bool
	target     map[TopicPartition]bool // what the member is to own
	generation int32                   // of the target
	news       bool                    // target or holdings changed since the member's last sync
	// revoked is, during an eager rebalance, what the member held when
	// the rebalance began: the assignor sees it as what the member owns,
	// as Kafka's eager sticky assignor sees a member's last assignment.
	// Under the cooperative protocol it is what the predecessor of a
	// static member that returned with a changed subscription held, which
	// the assignment its return starts sees as the member's too.
	revoked []TopicPartition

	inPoll   bool      // in Poll: never evicted for not polling
	lastPoll time.Time // when the last Poll returned, or the member joined
	// rejoinBy is when an external member is removed unless it rejoins:
	// its rebalance timeout after the start of a rebalance it has not
	// rejoined, or after it was told to rejoin for the second phase of a
	// cooperative one; zero when there is none.
	rejoinBy time.Time
	// syncBy is when an external member whose join ended is removed
	// unless it syncs (Kafka's pending-sync timeout): zero when synced.
	syncBy   time.Time
	departed time.Time // a static member's Close; zero while active
	inflight int       // commits between their check and their application (or, in a transaction, their recording as pending)
	removed  error     // why the member is no longer in the group
}

// deadline is when the member is evicted unless it polls (or, once
// departed, returns; or, while it has a rebalance to rejoin, rejoins).
func (m *member) deadline() (time.Time, bool) {
	switch {
	case m.removed != nil:
		return time.Time{}, false
	case !m.departed.IsZero():
		return m.departed.Add(m.cfg.sessionTimeout), true
	case m.inPoll:
		return time.Time{}, false
	}
	d := m.lastPoll.Add(m.cfg.maxPollInterval)
	for _, by := range []time.Time{m.rejoinBy, m.syncBy} {
		if !by.IsZero() && by.Before(d) {
			d = by
		}
	}
	return d, true
}

func (m *member) notify() {
	m.news = true
	if m.cfg.wake != nil {
		select {
		case m.cfg.wake <- struct{}{}:
		default:
		}
	}
}

// join adds a member to the group and starts a rebalance, or, for a static
// member whose instance ID is known, puts it in the place of the previous
// one without a rebalance.
func (g *group) join(cfg memberConfig) (*member, error) {
	g.mu.Lock()
	defer g.unlock()
	now := g.coord.log.opts.Now()
	g.expireLocked(now)
	if len(g.mu.members) == 0 {
		g.mu.assignor = cfg.assignor
	} else if g.mu.assignor.Name() != cfg.assignor.Name() {
		return nil, fmt.Errorf("%w: group %q uses assignor %q, the consumer %q (Kafka's INCONSISTENT_GROUP_PROTOCOL)",
			ErrInvalidConfig, g.id, g.mu.assignor.Name(), cfg.assignor.Name())
	}
	g.mu.joined = true
	g.markMetadataLocked()
	prefix := "consumer"
	if cfg.instanceID != "" {
		prefix = cfg.instanceID
	}
	m := &member{
		id:         fmt.Sprintf("%s-%06d-%s", prefix, g.coord.nextMember.Add(1), g.coord.incarnation),
		cfg:        cfg,
		held:       make(map[TopicPartition]bool),
		target:     make(map[TopicPartition]bool),
		generation: g.mu.generation,
		lastPoll:   now,
	}
	m.topics = g.resolveTopics(&cfg)
	g.mu.members[m.id] = m
	if cfg.instanceID != "" {
		if old := g.mu.instances[cfg.instanceID]; old != nil {
			// A static member returns: it takes the old one's place and
			// target. Only a changed subscription needs a rebalance.
			g.mu.instances[cfg.instanceID] = m
			for tp := range old.target {
				m.target[tp] = true
			}
			m.revoked = old.revoked
			changed := !slices.Equal(old.topics, m.topics)
			if changed && !g.mu.emptying {
				// The rebalance its change starts is to see what the
				// old one owned as this one's, as it sees every other
				// member's holdings (see rebalanceLocked and
				// assignTargetsLocked).
				m.revoked = heldList(old)
			}
			g.removeLocked(old, ErrFencedInstanceID)
			m.notify() // of its generation, even with nothing to own
			if changed {
				g.rebalanceLocked()
			}
			// The old one's partitions are free: an eager rebalance that
			// waited for them completes, and they go to the new one.
			g.progressLocked()
			m.rejoinBy = time.Time{} // it is joining
			g.coord.wakeTimer()
			return m, nil
		}
		g.mu.instances[cfg.instanceID] = m
	}
	g.coord.wakeTimer()
	g.rebalanceLocked()
	m.rejoinBy = time.Time{} // it is joining
	return m, nil
}

// resolveTopics returns the existing topics a member subscribes to, sorted.
func (g *group) resolveTopics(cfg *memberConfig) []string {
	l := g.coord.log
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	if cfg.pattern != nil {
		for name, t := range l.mu.topics {
			if !isInternalTopic(name) && !t.deleted() && cfg.pattern.MatchString(name) {
				out = append(out, name)
			}
		}
	} else {
		for _, name := range cfg.topics {
			if t := l.mu.topics[name]; t != nil && !t.deleted() {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isInternalTopic(name string) bool {
	return len(name) >= len(internalTopicPrefix) && name[:len(internalTopicPrefix)] == internalTopicPrefix
}

// topicShape is what an assignment depends on of a topic: its partition
// count, and its first partition, which tells a topic deleted and created
// again from the one before.
type topicShape struct {
	partitions int32
	first      *Partition
}

func shapeOf(t *topic) topicShape {
	return topicShape{partitions: int32(len(t.partitions)), first: t.partitions[0]}
}

// refreshTopicsLocked re-resolves subscriptions when topics changed since
// the last time, and rebalances if a member's topics changed (a subscribed
// topic, or one matching a pattern, has been created or deleted) or a
// subscribed topic did (it gained partitions, or was deleted and created
// again).
func (g *group) refreshTopicsLocked() {
	l := g.coord.log
	v := l.topicsVersion.Load()
	if v == g.mu.topicsVersion {
		return
	}
	g.mu.topicsVersion = v
	changed := false
	for _, m := range g.mu.members {
		if topics := g.resolveTopics(&m.cfg); !slices.Equal(topics, m.topics) {
			m.topics, changed = topics, true
		}
	}
	for name, shape := range g.mu.partitions {
		if t, err := l.topic(name); err != nil || shapeOf(t) != shape {
			changed = true
		}
	}
	if changed {
		g.rebalanceLocked()
	}
}

// resubscribe changes a member's subscription, rebalancing if its topics
// change.
func (g *group) resubscribe(m *member, topics []string, pattern *regexp.Regexp) {
	g.mu.Lock()
	defer g.unlock()
	if m.removed != nil {
		return
	}
	m.cfg.topics, m.cfg.pattern = topics, pattern
	if resolved := g.resolveTopics(&m.cfg); !slices.Equal(resolved, m.topics) {
		m.topics = resolved
		g.rebalanceLocked()
	}
}

// rebalanceLocked starts a rebalance: a new generation. A caller that
// rebalances for a member joining clears that member's rejoinBy after.
func (g *group) rebalanceLocked() {
	if g.mu.assignor == nil || len(g.mu.members) == 0 {
		// Nobody to rebalance; an eager rebalance under way, emptied
		// by evictions, completes, and the group is stored as empty.
		g.progressLocked()
		return
	}
	g.awaitRejoinsLocked()
	if g.mu.assignor.Protocol() == RebalanceEager {
		// Everyone gives up everything first; assignTargetsLocked runs
		// once nobody holds a partition. What each member holds now is
		// what the assignor sees it own, unless the caller set it: a
		// member that gave up its partitions just before, to start this
		// rebalance (a static member returning, an external one
		// rejoining), owned what it gave up.
		for _, m := range g.mu.members {
			if !g.mu.emptying && m.revoked == nil {
				m.revoked = heldList(m)
			}
			clear(m.target)
			g.updateLocked(m)
		}
		g.mu.emptying = true
		g.progressLocked()
		return
	}
	g.assignTargetsLocked()
}

// awaitRejoinsLocked gives every external member that is not waiting in a
// rejoin its rebalance timeout to rejoin.
func (g *group) awaitRejoinsLocked() {
	for _, m := range g.mu.members {
		g.awaitRejoinLocked(m)
	}
}

// awaitRejoinLocked gives an external member that is not waiting in a
// rejoin its rebalance timeout to rejoin. One already late keeps its
// deadline: it has yet to rejoin the rebalance that set it.
func (g *group) awaitRejoinLocked(m *member) {
	if m.cfg.rebalanceTimeout <= 0 || m.inPoll || !m.rejoinBy.IsZero() || m.removed != nil {
		return
	}
	m.rejoinBy = g.coord.log.opts.Now().Add(m.cfg.rebalanceTimeout)
	g.coord.wakeTimerFor(m.rejoinBy)
}

// progressLocked finishes an eager rebalance once no member holds a
// partition, and grants what can be granted.
func (g *group) progressLocked() {
	if g.mu.emptying {
		for _, h := range g.mu.holder {
			if h.removed == nil {
				return
			}
		}
		g.mu.emptying = false
		g.assignTargetsLocked()
		return
	}
	g.grantLocked()
}

// assignTargetsLocked runs the assignor, bumps the generation and gives
// every member its target.
func (g *group) assignTargetsLocked() {
	l := g.coord.log
	ids := make([]string, 0, len(g.mu.members))
	for id := range g.mu.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	members := make([]AssignorMember, len(ids))
	partitions := make(map[string]int32)
	shapes := make(map[string]topicShape)
	for i, id := range ids {
		m := g.mu.members[id]
		owned := heldList(m)
		switch {
		case g.mu.assignor.Protocol() == RebalanceEager:
			owned, m.revoked = m.revoked, nil
		case m.revoked != nil:
			// A static member whose return with a changed subscription
			// started this rebalance: its predecessor's partitions,
			// released as it took its place, are its own.
			owned = append(owned, m.revoked...)
			slices.SortFunc(owned, compareTopicPartitions)
			owned, m.revoked = slices.Compact(owned), nil
		}
		members[i] = AssignorMember{MemberID: id, InstanceID: m.cfg.instanceID, Topics: slices.Clone(m.topics), Owned: owned}
		for _, name := range m.topics {
			if _, ok := partitions[name]; ok {
				continue
			}
			if t, err := l.topic(name); err == nil {
				shapes[name] = shapeOf(t)
				partitions[name] = shapes[name].partitions
			}
		}
	}
	assignment := g.mu.assignor.Assign(members, partitions)
	g.mu.partitions = shapes
	g.mu.generation++
	g.mu.rebalances++
	g.markMetadataLocked()
	taken := make(map[TopicPartition]bool)
	for _, id := range ids {
		m := g.mu.members[id]
		clear(m.target)
		for _, tp := range assignment[id] {
			n, ok := partitions[tp.Topic]
			switch {
			case !ok || tp.Partition < 0 || tp.Partition >= n || !slices.Contains(m.topics, tp.Topic):
				l.opts.Logger.Warn("eventlog: assignor gave a member a partition it cannot own; ignored",
					"group", g.id, "assignor", g.mu.assignor.Name(), "member", id, "topic", tp.Topic, "partition", tp.Partition)
			case taken[tp]:
				l.opts.Logger.Warn("eventlog: assignor gave a partition to two members; ignored the second",
					"group", g.id, "assignor", g.mu.assignor.Name(), "member", id, "topic", tp.Topic, "partition", tp.Partition)
			default:
				taken[tp], m.target[tp] = true, true
			}
		}
		m.generation = g.mu.generation
		g.updateLocked(m)
		m.notify() // a new generation is news even when the target is the same
	}
	g.grantLocked()
}

// updateLocked notifies a member whose holdings differ from its target. A
// departed static member has no consumer to run its revocations: it
// releases at once.
func (g *group) updateLocked(m *member) {
	var revoke []TopicPartition
	for tp := range m.held {
		if !m.target[tp] {
			revoke = append(revoke, tp)
		}
	}
	if len(revoke) == 0 {
		return
	}
	if !m.departed.IsZero() {
		g.releaseLocked(m, revoke)
		return
	}
	m.notify()
}

// grantLocked grants every targeted partition that nobody holds and no
// commit from outside the group is writing (see outside). An
// external member learns of what it was granted when it rejoins, which its
// rebalance timeout bounds: under the cooperative protocol, that rejoin is
// the second phase of the rebalance.
func (g *group) grantLocked() {
	if g.mu.emptying {
		return
	}
	for _, m := range g.mu.members {
		granted := false
		for tp := range m.target {
			if !m.held[tp] && g.mu.holder[tp] == nil && g.mu.outside[tp] == 0 {
				g.mu.holder[tp], m.held[tp] = m, true
				granted = true
			}
		}
		if granted {
			m.notify()
			g.awaitRejoinLocked(m)
		}
	}
	g.snapshotMetadataLocked()
}

// releaseLocked takes partitions away from a member. Those of a removed
// member with commits in flight stay held until the commits finish.
func (g *group) releaseLocked(m *member, tps []TopicPartition) {
	for _, tp := range tps {
		if !m.held[tp] {
			continue
		}
		if m.removed != nil && m.inflight > 0 {
			continue // endCommit releases it
		}
		delete(m.held, tp)
		if g.mu.holder[tp] == m {
			delete(g.mu.holder, tp)
		}
	}
}

// removeLocked takes a member out of the group.
func (g *group) removeLocked(m *member, why error) {
	if m.removed != nil {
		return
	}
	m.removed = why
	delete(g.mu.members, m.id)
	if g.mu.instances[m.cfg.instanceID] == m {
		delete(g.mu.instances, m.cfg.instanceID)
	}
	g.releaseLocked(m, heldList(m))
	clear(m.target)
	m.notify()
	g.markMetadataLocked()
	if len(g.mu.members) == 0 {
		g.mu.emptySince = g.coord.log.opts.Now()
		g.snapshotMetadataLocked()
	}
}

func heldList(m *member) []TopicPartition {
	out := make([]TopicPartition, 0, len(m.held))
	for tp := range m.held {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out
}

// expireLocked evicts the members past their deadline.
func (g *group) expireLocked(now time.Time) {
	evicted := false
	for _, m := range g.mu.members {
		d, ok := m.deadline()
		switch {
		case !ok || now.Before(d):
			continue
		case d.Equal(m.rejoinBy):
			g.coord.log.opts.Logger.Info("eventlog: group member removed for not rejoining a rebalance within its rebalance timeout",
				"group", g.id, "member", m.id, "instance", m.cfg.instanceID, "rebalance_timeout", m.cfg.rebalanceTimeout)
			g.removeLocked(m, errMissedRebalance)
		case d.Equal(m.syncBy):
			g.coord.log.opts.Logger.Info("eventlog: group member removed for not syncing within its rebalance timeout",
				"group", g.id, "member", m.id, "instance", m.cfg.instanceID, "rebalance_timeout", m.cfg.rebalanceTimeout)
			g.removeLocked(m, errMissedSync)
		default:
			g.coord.log.opts.Logger.Info("eventlog: group member evicted", "group", g.id, "member", m.id,
				"instance", m.cfg.instanceID, "departed", !m.departed.IsZero())
			g.removeLocked(m, errEvicted)
		}
		evicted = true
	}
	if evicted {
		g.rebalanceLocked()
	}
}

// syncResult is what a member learns at a sync.
type syncResult struct {
	generation int32
	// assignment is what the member owns now: its target, as far as
	// granted. It is sorted.
	assignment []TopicPartition
	// revoke is what it must give up: held, outside its target.
	revoke []TopicPartition
	// rebalancing is set while an eager rebalance is under way: there is
	// no assignment yet, only revocations, and generation is the one
	// ending.
	rebalancing bool
}

// sync is a member's poll: it marks the member as polling and returns its
// assignment when there is news. ok is false when there is none.
func (g *group) sync(m *member) (res syncResult, ok bool, err error) {
	g.mu.Lock()
	defer g.unlock()
	now := g.coord.log.opts.Now()
	g.expireLocked(now)
	if m.removed != nil {
		return res, false, m.removed
	}
	m.inPoll, m.lastPoll = true, now
	g.refreshTopicsLocked()
	if !m.news {
		return res, false, nil
	}
	m.news = false
	res.generation, res.rebalancing = m.generation, g.mu.emptying
	for tp := range m.held {
		if m.target[tp] {
			res.assignment = append(res.assignment, tp)
		} else {
			res.revoke = append(res.revoke, tp)
		}
	}
	slices.SortFunc(res.assignment, compareTopicPartitions)
	slices.SortFunc(res.revoke, compareTopicPartitions)
	return res, true, nil
}

// renotify tells a member again of its assignment, which it could not
// take up.
func (g *group) renotify(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.removed == nil {
		m.notify()
	}
}

// pollDone marks the end of a member's Poll: the max.poll.interval clock
// starts.
func (g *group) pollDone(m *member) {
	g.mu.Lock()
	defer g.unlock()
	if m.removed == nil {
		m.inPoll, m.lastPoll = false, g.coord.log.opts.Now()
		g.coord.wakeTimerFor(m.lastPoll.Add(m.cfg.maxPollInterval))
	}
}

// release gives up partitions the member revoked.
func (g *group) release(m *member, tps []TopicPartition) {
	if len(tps) == 0 {
		return
	}
	g.mu.Lock()
	defer g.unlock()
	g.releaseLocked(m, tps)
	g.progressLocked()
}

// leave takes a member out of the group: a dynamic member's Close or
// Unsubscribe. A static member's Close departs instead.
func (g *group) leave(m *member) {
	g.mu.Lock()
	defer g.unlockAndWrite()
	if m.removed != nil {
		return
	}
	g.removeLocked(m, errLeft)
	g.rebalanceLocked()
	g.progressLocked()
}

// depart marks a static member as gone without leaving: its partitions
// wait for a consumer with the same instance ID for SessionTimeout.
func (g *group) depart(m *member) {
	g.mu.Lock()
	defer g.unlock()
	if m.removed != nil {
		return
	}
	m.departed = g.coord.log.opts.Now()
	m.inPoll = false
	m.cfg.wake = nil
	g.updateLocked(m) // revocations it was asked for happen now
	g.progressLocked()
	g.coord.wakeTimer()
}

// beginCommit checks that the member holds every partition it commits,
// and counts the commit as in flight. A consumer with manual assignment
// (m == nil) may commit only while the group has no members, as in Kafka.
// The group's metadata snapshot, if one waits, is written first, so that
// the metadata of a generation comes before the offsets committed in it.
func (g *group) beginCommit(m *member, tps []TopicPartition) error {
	g.mu.Lock()
	defer g.unlockAndWrite()
	g.expireLocked(g.coord.log.opts.Now())
	if m == nil {
		if len(g.mu.members) > 0 {
			return errorf("eventlog: group %q: %w: the group has members, and this consumer is not one (it assigns partitions by hand, or has not joined yet)", g.id, ErrCommitFailed)
		}
		g.beginOutsideCommitLocked(tps)
		return nil
	}
	if m.removed != nil {
		return errorf("eventlog: group %q member %s: %w", g.id, m.id, m.removed)
	}
	for _, tp := range tps {
		if !m.held[tp] {
			return errorf("eventlog: group %q member %s generation %d: %s: %w", g.id, m.id, m.generation, tp, ErrCommitFailed)
		}
	}
	m.inflight++
	return nil
}

// commitChecked calls the Log's commitCheckedHook, if set.
func (g *group) commitChecked() {
	if hook := g.coord.log.commitCheckedHook.Load(); hook != nil {
		(*hook)()
	}
}

// beginOutsideCommitLocked counts a commit of tps from outside the group
// as in flight. The group has no members now, but one may join before the
// offsets are written (or, in a transaction, recorded as pending): it is
// granted none of tps until the commit ends, so that it starts from the
// offsets committed rather than from the ones before. Kafka leaves this
// race open.
func (g *group) beginOutsideCommitLocked(tps []TopicPartition) {
	if g.mu.outside == nil {
		g.mu.outside = make(map[TopicPartition]int)
	}
	for _, tp := range tps {
		g.mu.outside[tp]++
	}
}

// endCommit ends a commit of tps begun by beginCommit (or
// beginTxnCommit); an evicted member's partitions are released once its
// last commit ends, and those of a commit from outside the group (m nil)
// are granted once the last such commit of them ends.
func (g *group) endCommit(m *member, tps []TopicPartition) {
	g.mu.Lock()
	defer g.unlock()
	if m == nil {
		for _, tp := range tps {
			if g.mu.outside[tp]--; g.mu.outside[tp] == 0 {
				delete(g.mu.outside, tp)
			}
		}
		g.progressLocked()
		return
	}
	m.inflight--
	if m.inflight == 0 && m.removed != nil && len(m.held) > 0 {
		g.releaseLocked(m, heldList(m))
		g.progressLocked()
	}
}

// snapshot is the group as a test or monitor sees it.
type groupSnapshot struct {
	generation int32
	owners     map[TopicPartition]string // holder's member ID
	members    []string
}

func (g *group) snapshot() groupSnapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := groupSnapshot{generation: g.mu.generation, owners: make(map[TopicPartition]string)}
	for tp, m := range g.mu.holder {
		s.owners[tp] = m.id
	}
	for id := range g.mu.members {
		s.members = append(s.members, id)
	}
	slices.Sort(s.members)
	return s
}
