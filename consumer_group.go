package eventlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync/atomic"
	"time"
)

// Defaults applied to zero group fields of ConsumerOptions; they are Kafka's.
const (
	DefaultSessionTimeout     = 45 * time.Second // session.timeout.ms
	DefaultMaxPollInterval    = 5 * time.Minute  // max.poll.interval.ms
	DefaultAutoCommitInterval = 5 * time.Second  // auto.commit.interval.ms
)

// RebalanceListener is told when the partitions of a subscribed consumer
// change (Kafka's ConsumerRebalanceListener). Its methods run on the
// consumer's goroutine, inside Poll (or Close, or Unsubscribe), and may call
// the consumer — commit, seek, read positions — but not Close, which waits
// for the Poll around it. Calls that would poll or change the subscription
// or assignment (Poll and the read iterators, Subscribe, Unsubscribe,
// Assign) fail there with an error wrapping ErrConcurrentUse.
// Assignments change only between polls: records a Poll returns all come
// from partitions the consumer owned for the whole of that Poll.
type RebalanceListener interface {
	// OnPartitionsRevoked is called before partitions are taken away
	// from the consumer, while it still owns them: the place to commit
	// what it processed. Under the eager protocol a rebalance revokes
	// every partition; under the cooperative one only those that move.
	// Close and Unsubscribe revoke everything.
	OnPartitionsRevoked(ctx context.Context, c *Consumer, partitions []TopicPartition)
	// OnPartitionsAssigned is called after every rebalance with the
	// partitions the consumer gained (possibly none): those it reads from
	// now on, as Assignment lists them, without a partition of a topic
	// deleted since the group assigned it. Their positions are the
	// group's committed offsets, or follow AutoOffsetReset; the listener
	// may Seek.
	OnPartitionsAssigned(ctx context.Context, c *Consumer, partitions []TopicPartition)
	// OnPartitionsLost is called when the consumer learns that it was
	// evicted from the group — it did not poll within MaxPollInterval —
	// and its partitions already belong to others: commits fail with
	// ErrCommitFailed. The consumer then rejoins the group.
	OnPartitionsLost(ctx context.Context, c *Consumer, partitions []TopicPartition)
}

// GroupMetadata describes a consumer's membership of its group (Kafka's
// ConsumerGroupMetadata).
type GroupMetadata struct {
	GroupID         string
	GenerationID    int32  // -1 while not a member
	MemberID        string // unique to this membership, as ExternalMember.ID
	GroupInstanceID string
}

// groupDefaults defaults and checks the group fields of ConsumerOptions.
func (o *ConsumerOptions) groupDefaults() error {
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.MaxPollInterval == 0 {
		o.MaxPollInterval = DefaultMaxPollInterval
	}
	if o.AutoCommitInterval == 0 {
		o.AutoCommitInterval = DefaultAutoCommitInterval
	}
	if o.Assignor == nil {
		o.Assignor = RangeAssignor{}
	}
	if err := checkAssignor(o.Assignor); err != nil {
		return fmt.Errorf("%w: Assignor %w", ErrInvalidConfig, err)
	}
	switch {
	case o.GroupID != "" && validGroupID(o.GroupID) != nil:
		return validGroupID(o.GroupID)
	case o.GroupInstanceID != "" && o.GroupID == "":
		return fmt.Errorf("%w: GroupInstanceID %q without a GroupID", ErrInvalidConfig, o.GroupInstanceID)
	case len(o.GroupInstanceID) > maxKafkaStringLen:
		return fmt.Errorf("%w: GroupInstanceID of %d bytes is longer than %d", ErrInvalidConfig, len(o.GroupInstanceID), maxKafkaStringLen)
	case o.SessionTimeout < 0:
		return fmt.Errorf("%w: SessionTimeout %v is negative", ErrInvalidConfig, o.SessionTimeout)
	case o.MaxPollInterval < 0:
		return fmt.Errorf("%w: MaxPollInterval %v is negative", ErrInvalidConfig, o.MaxPollInterval)
	case o.AutoCommitInterval < 0:
		return fmt.Errorf("%w: AutoCommitInterval %v is negative", ErrInvalidConfig, o.AutoCommitInterval)
	}
	return nil
}

// groupMember is a consumer's side of its group. Its fields are guarded by
// the consumer's use lock, except listener.
type groupMember struct {
	g          *group // nil until the first group operation
	subscribed bool
	topics     []string
	pattern    *regexp.Regexp
	m          *member // nil until the first Poll after Subscribe joins
	generation int32
	wake       chan struct{} // buffer 1: the coordinator has news; nil unless subscribed
	fenced     error         // sticky: another consumer took the instance ID

	lastAutoCommit time.Time
	committed      map[TopicPartition]int64 // positions this consumer last committed
	async          []asyncCommit            // commits whose callback has not run
	// rewritten is when the automatic commits last took every position,
	// moved or not (see positionsLocked).
	rewritten time.Time

	// listener is the goroutine (goroutineID) that runs a
	// RebalanceListener or commit callback, 0 while none runs; its calls
	// of the consumer re-enter the use lock held by the Poll around it,
	// and reentered counts them.
	listener  atomic.Uint64
	reentered int
}

// asyncCommit is a CommitAsync whose callback has not run yet.
type asyncCommit struct {
	written  pendingCommit
	offsets  map[TopicPartition]OffsetAndMetadata
	err      error
	callback func(map[TopicPartition]OffsetAndMetadata, error)
}

// groupLocked returns the consumer's group.
func (c *Consumer) groupLocked() (*group, error) {
	if c.opts.GroupID == "" {
		return nil, ErrNoGroupID
	}
	if c.group.g == nil {
		coord, err := c.log.coordinator()
		if err != nil {
			return nil, err
		}
		c.group.g = coord.holdGroup(c.opts.GroupID)
	}
	return c.group.g, nil
}

// Subscribe makes the consumer a member of its group (ConsumerOptions.GroupID)
// consuming topics: the group's coordinator assigns each partition of the
// topics to one member. The consumer joins at its next Poll; a topic that
// does not exist yet is assigned once it is created. Subscribing again
// replaces the subscription. Subscribe with no topics is Unsubscribe. It
// fails with ErrNoGroupID without a group, and with ErrSubscriptionConflict
// while partitions are assigned by hand.
func (c *Consumer) Subscribe(topics ...string) error {
	for _, name := range topics {
		if err := validateTopicName(name, false); err != nil {
			return err
		}
	}
	return c.subscribe(slices.Clone(topics), nil)
}

// SubscribePattern is Subscribe to every topic whose name matches pattern,
// now and as topics are created. Internal topics never match.
func (c *Consumer) SubscribePattern(pattern *regexp.Regexp) error {
	if pattern == nil {
		return fmt.Errorf("%w: nil pattern", ErrInvalidConfig)
	}
	return c.subscribe(nil, pattern)
}

func (c *Consumer) subscribe(topics []string, pattern *regexp.Regexp) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	if err := c.notInListener("subscribe"); err != nil {
		return err
	}
	if len(topics) == 0 && pattern == nil {
		return c.unsubscribeLocked(context.Background())
	}
	g, err := c.groupLocked()
	if err != nil {
		return err
	}
	gm := &c.group
	if !gm.subscribed && len(c.assigned) > 0 {
		return fmt.Errorf("%w: the consumer has partitions assigned by hand", ErrSubscriptionConflict)
	}
	gm.subscribed, gm.topics, gm.pattern = true, topics, pattern
	if gm.wake == nil {
		gm.wake = make(chan struct{}, 1)
	}
	if gm.m != nil {
		g.resubscribe(gm.m, topics, pattern)
	}
	return nil
}

// Unsubscribe leaves the group: the listener's OnPartitionsRevoked runs for
// every partition (after an automatic commit, if enabled), and the group
// rebalances without this consumer. The consumer may then Assign or
// Subscribe again.
func (c *Consumer) Unsubscribe() error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	if err := c.notInListener("unsubscribe"); err != nil {
		return err
	}
	return c.unsubscribeLocked(context.Background())
}

func (c *Consumer) unsubscribeLocked(ctx context.Context) error {
	gm := &c.group
	if !gm.subscribed {
		return nil
	}
	err := c.leaveGroupLocked(ctx, false)
	gm.subscribed, gm.topics, gm.pattern = false, nil, nil
	return errors.Join(err, c.assignLocked(nil))
}

// GroupMetadata returns the consumer's group, member ID and generation.
func (c *Consumer) GroupMetadata() (GroupMetadata, error) {
	if err := c.acquireOpen(); err != nil {
		return GroupMetadata{}, err
	}
	defer c.release()
	md := GroupMetadata{GroupID: c.opts.GroupID, GenerationID: -1, GroupInstanceID: c.opts.GroupInstanceID}
	if gm := &c.group; gm.m != nil {
		md.MemberID, md.GenerationID = gm.m.id, gm.generation
	}
	return md, nil
}

// leaving reports whether st is a partition of a topic deleted under a
// subscribed consumer, which its group takes away at its next rebalance,
// as Kafka's does: until then the consumer reads the other partitions and
// skips it, as if paused, where a consumer that assigned itself partitions
// fails with ErrTopicNotFound.
func (c *Consumer) leaving(st *fetchState) bool {
	return c.group.subscribed && st.p.deleted.Load()
}

// groupPollLocked is a subscribed consumer's part of Poll: it joins the
// group, commits automatically, and applies what the coordinator decided,
// running the listener.
func (c *Consumer) groupPollLocked(ctx context.Context) error {
	if err := c.notInListener("poll"); err != nil {
		return err
	}
	gm := &c.group
	c.runCommitCallbacksLocked()
	if !gm.subscribed {
		c.autoCommitLocked(ctx) // by hand, partitions are committed too
		return nil
	}
	if gm.fenced != nil {
		return gm.fenced
	}
	if gm.m == nil {
		if err := c.joinLocked(); err != nil {
			return err
		}
	}
	c.autoCommitLocked(ctx)
	for range 16 { // more news is picked up by the next poll
		res, ok, err := gm.g.sync(gm.m)
		switch {
		case errors.Is(err, ErrFencedInstanceID):
			gm.fenced = errorf("eventlog: group %q instance %q: %w", c.opts.GroupID, c.opts.GroupInstanceID, err)
			c.losePartitionsLocked(ctx)
			return gm.fenced
		case err != nil:
			c.log.opts.Logger.Warn("eventlog: consumer evicted from its group; rejoining",
				"group", c.opts.GroupID, "member", gm.m.id, "err", err)
			c.losePartitionsLocked(ctx)
			if err := c.joinLocked(); err != nil {
				return err
			}
			continue
		case !ok:
			return nil
		}
		if err := c.applyAssignmentLocked(ctx, res); err != nil {
			return err
		}
	}
	return nil
}

// groupPollDone ends a Poll for the coordinator's max.poll.interval clock.
func (c *Consumer) groupPollDone() {
	if gm := &c.group; gm.m != nil {
		gm.g.pollDone(gm.m)
	}
}

func (c *Consumer) joinLocked() error {
	gm := &c.group
	m, err := gm.g.join(memberConfig{
		instanceID:      c.opts.GroupInstanceID,
		clientID:        inProcessClient,
		clientHost:      inProcessClient,
		topics:          gm.topics,
		pattern:         gm.pattern,
		assignor:        c.opts.Assignor,
		sessionTimeout:  c.opts.SessionTimeout,
		maxPollInterval: c.opts.MaxPollInterval,
		wake:            gm.wake,
	})
	if err != nil {
		return err
	}
	gm.m, gm.generation = m, -1
	gm.lastAutoCommit = c.log.opts.Now()
	return nil
}

// applyAssignmentLocked makes the consumer's assignment what the
// coordinator says: revoke, release, assign.
func (c *Consumer) applyAssignmentLocked(ctx context.Context, res syncResult) error {
	gm := &c.group
	keep := make(map[TopicPartition]bool, len(res.assignment))
	for _, tp := range res.assignment {
		keep[tp] = true
	}
	var revoked []TopicPartition
	for _, st := range c.assigned {
		if !keep[st.tp] {
			revoked = append(revoked, st.tp)
		}
	}
	if len(revoked) > 0 {
		if !c.opts.DisableAutoCommit {
			if _, _, err := c.commitPositionsLocked(ctx, true, DurabilityDefault); err != nil {
				c.log.opts.Logger.Warn("eventlog: automatic commit before revocation failed", "group", c.opts.GroupID, "err", err)
			}
		}
		c.callListener(func(l RebalanceListener) { l.OnPartitionsRevoked(ctx, c, revoked) })
	}
	var added []TopicPartition
	for _, tp := range res.assignment {
		switch st := c.byTP[tp]; {
		case st == nil:
			added = append(added, tp)
		case st.p.deleted.Load():
			// Kept across its topic's deletion and creation: the new
			// topic's partition, of which nothing is committed yet.
			delete(gm.committed, tp)
		}
	}
	assignment := res.assignment
	var flushErr error
	if len(added) > 0 {
		// The previous owners' last commits, even asynchronous ones,
		// are read before the positions are. Without them the consumer
		// could start before where they left off: it takes up nothing
		// new, gives up what it revoked all the same, and hears of the
		// rest again at its next poll.
		if flushErr = gm.g.coord.offsets.flush(c.opts.GroupID); flushErr != nil {
			assignment = slices.DeleteFunc(slices.Clone(assignment), func(tp TopicPartition) bool { return slices.Contains(added, tp) })
		}
	}
	if err := c.assignLocked(assignment); err != nil {
		return err
	}
	// A partition of a topic deleted since the sync is skipped: the
	// listener hears only of what the consumer will read, as Assignment
	// lists it, and no OnPartitionsRevoked will tell of the rest.
	added = slices.DeleteFunc(added, func(tp TopicPartition) bool { return c.byTP[tp] == nil })
	for _, tp := range revoked {
		delete(gm.committed, tp)
	}
	gm.g.release(gm.m, res.revoke)
	if flushErr != nil {
		gm.g.renotify(gm.m)
		return flushErr
	}
	if res.rebalancing {
		// An eager rebalance is under way: the consumer gave everything
		// up and hears of its assignment once the rebalance has one, not
		// of an empty one in the generation ending, which it may not have
		// applied yet; as a Kafka consumer whose SyncGroup is answered
		// REBALANCE_IN_PROGRESS rejoins without onPartitionsAssigned.
		return nil
	}
	newGeneration := res.generation != gm.generation
	gm.generation = res.generation
	if newGeneration || len(added) > 0 {
		c.callListener(func(l RebalanceListener) { l.OnPartitionsAssigned(ctx, c, added) })
	}
	return nil
}

// losePartitionsLocked drops the assignment of an evicted member.
func (c *Consumer) losePartitionsLocked(ctx context.Context) {
	gm := &c.group
	lost := make([]TopicPartition, 0, len(c.assigned))
	for _, st := range c.assigned {
		lost = append(lost, st.tp)
	}
	if len(lost) > 0 {
		c.callListener(func(l RebalanceListener) { l.OnPartitionsLost(ctx, c, lost) })
	}
	_ = c.assignLocked(nil) // unassigning cannot fail
	clear(gm.committed)
	gm.m = nil
}

// leaveGroupLocked ends the membership: for Close, and Unsubscribe. A
// static member's Close departs without leaving, so that it may come back
// within SessionTimeout.
func (c *Consumer) leaveGroupLocked(ctx context.Context, closing bool) error {
	gm := &c.group
	var err error
	if gm.m != nil && gm.fenced == nil {
		if !c.opts.DisableAutoCommit {
			_, _, err = c.commitPositionsLocked(ctx, true, DurabilityDefault)
		}
		if len(c.assigned) > 0 {
			revoked := make([]TopicPartition, 0, len(c.assigned))
			for _, st := range c.assigned {
				revoked = append(revoked, st.tp)
			}
			c.callListener(func(l RebalanceListener) { l.OnPartitionsRevoked(ctx, c, revoked) })
		}
		if closing && c.opts.GroupInstanceID != "" {
			gm.g.depart(gm.m)
		} else {
			gm.g.leave(gm.m)
		}
	}
	gm.m = nil
	clear(gm.committed)
	return errors.Join(err, c.flushCommitsLocked())
}

// closeGroupLocked is Close's part for groups.
func (c *Consumer) closeGroupLocked() {
	gm := &c.group
	if !gm.subscribed && c.autoCommits() {
		// A consumer that assigned its partitions by hand commits at Close
		// too; a member does as it leaves.
		if _, _, err := c.commitPositionsLocked(context.Background(), true, DurabilityDefault); err != nil {
			c.log.opts.Logger.Warn("eventlog: commit at consumer close failed", "group", c.opts.GroupID, "err", err)
		}
	}
	if gm.g == nil {
		return
	}
	if err := c.leaveGroupLocked(context.Background(), true); err != nil {
		c.log.opts.Logger.Warn("eventlog: commit at consumer close failed", "group", c.opts.GroupID, "err", err)
	}
	gm.g.coord.releaseGroup(gm.g)
}

// notInListener refuses call, one that would poll the group or change the
// subscription, from a RebalanceListener or commit callback, which runs in
// the middle of a poll.
func (c *Consumer) notInListener(call string) error {
	if c.group.listener.Load() != 0 { // and the caller holds the use lock: the listener's goroutine
		return errorf("eventlog: %s from a RebalanceListener or commit callback: %w", call, ErrConcurrentUse)
	}
	return nil
}

// callListener runs fn with the listener, letting it call the consumer.
func (c *Consumer) callListener(fn func(RebalanceListener)) {
	if c.opts.RebalanceListener == nil {
		return
	}
	c.asListener(func() { fn(c.opts.RebalanceListener) })
}

// calledFromListener reports whether the caller is the goroutine running
// a RebalanceListener or commit callback.
func (gm *groupMember) calledFromListener() bool {
	id := gm.listener.Load()
	return id != 0 && id == goroutineID()
}

// asListener runs fn, a RebalanceListener's or commit callback's call,
// letting it call the consumer from this goroutine. A commit callback may
// run inside a listener, which goes on after it.
func (c *Consumer) asListener(fn func()) {
	outer := c.group.listener.Swap(goroutineID())
	defer c.group.listener.Store(outer)
	fn()
}

// positionsLocked returns the positions of the assigned partitions that
// have one. A deleted topic's partitions, which the group is taking away,
// are left out: their offsets went with the topic. So is a position past
// its partition's high watermark, which a Seek set and the next Poll
// resets: no committed offset lies there (see CommitOffsets). pastEnd
// names those, wrapping ErrOffsetOutOfRange, or is nil.
//
// automatic is set for the automatic commits, which take only the
// positions that moved since this consumer last committed them, and which
// cover no record an iterator has not yielded: for the partition whose
// records an iterator's loop body is being given (see reading), they take
// its position before the chunk rather than the end of the batch being
// yielded, unless this consumer committed further already. Every half
// Options.OffsetsRetention they take the positions that did not move too
// (those it committed further again), as Kafka's consumer commits every
// position at every interval: a committed offset expires OffsetsRetention
// after its commit when the group has no members, and those of a
// consumer that assigned its partitions by hand would expire under it.
func (c *Consumer) positionsLocked(automatic bool) (_ map[TopicPartition]OffsetAndMetadata, pastEnd error) {
	out := make(map[TopicPartition]OffsetAndMetadata, len(c.assigned))
	var past []error
	rewrite := automatic && c.rewriteDueLocked()
	for _, st := range c.assigned {
		if st.target != atPosition || c.leaving(st) {
			continue
		}
		position := st.position
		if automatic && st == c.reading {
			position = min(position, c.readingFrom)
		}
		if last, ok := c.group.committed[st.tp]; automatic && ok {
			if st == c.reading && last > position {
				position = last // never back
			}
			if last == position && !rewrite {
				continue
			}
		}
		if hw := st.p.HighWatermark(); position > hw {
			past = append(past, errorf("eventlog: commit %s: %w: position %d is past the high watermark %d; not committed", st.tp, ErrOffsetOutOfRange, position, hw))
			continue
		}
		out[st.tp] = OffsetAndMetadata{Offset: position}
	}
	return out, errors.Join(past...)
}

// commitPositionsLocked commits the positions of the assigned partitions
// (see positionsLocked; automatic for the automatic commits) and returns
// them. A topic deleted after they were taken makes the commit fail for
// its partitions; they are then taken again, which leaves that topic out,
// so that a subscribed member's commit of the other partitions does not
// fail because of it. A position past its high watermark is not committed
// either, and the others are; the error then names it.
func (c *Consumer) commitPositionsLocked(ctx context.Context, automatic bool, d Durability) (map[TopicPartition]OffsetAndMetadata, pendingCommit, error) {
	for {
		offsets, pastEnd := c.positionsLocked(automatic)
		pc, err := c.commitLocked(ctx, offsets, d)
		if err == nil || !c.leavingAny(offsets) {
			return offsets, pc, errors.Join(err, pastEnd)
		}
	}
}

// leavingAny reports whether a partition of offsets is one a subscribed
// member leaves out of its commits, its topic deleted (see leaving).
func (c *Consumer) leavingAny(offsets map[TopicPartition]OffsetAndMetadata) bool {
	for tp := range offsets {
		if st := c.byTP[tp]; st != nil && c.leaving(st) {
			return true
		}
	}
	return false
}

// autoCommitLocked commits, asynchronously, the positions that moved,
// once AutoCommitInterval has passed since the last automatic commit.
func (c *Consumer) autoCommitLocked(ctx context.Context) {
	gm := &c.group
	now := c.log.opts.Now()
	if !c.autoCommits() || gm.subscribed && gm.m == nil || now.Sub(gm.lastAutoCommit) < c.opts.AutoCommitInterval {
		return
	}
	gm.lastAutoCommit = now
	rewrite := c.rewriteDueLocked()
	if offsets, pastEnd := c.positionsLocked(true); len(offsets) == 0 && pastEnd == nil {
		return
	}
	if _, _, err := c.commitPositionsLocked(ctx, true, DurabilityOS); err != nil {
		c.log.opts.Logger.Warn("eventlog: automatic commit failed", "group", c.opts.GroupID, "err", err)
	} else if rewrite {
		gm.rewritten = now
	}
}

// rewriteDueLocked reports whether the automatic commits are to take the
// positions that did not move too (see positionsLocked).
func (c *Consumer) rewriteDueLocked() bool {
	r := c.log.opts.OffsetsRetention
	return r > 0 && c.log.opts.Now().Sub(c.group.rewritten) >= r/2
}

// autoCommits reports whether the consumer commits automatically: it has a
// group and automatic commits are on, whether it subscribed or assigned its
// partitions by hand, as with Kafka's enable.auto.commit. A read-only Log
// takes no commit.
func (c *Consumer) autoCommits() bool {
	return c.opts.GroupID != "" && !c.opts.DisableAutoCommit && !c.log.opts.ReadOnly
}

// commitLocked checks and writes offsets for the consumer's group. With
// DurabilityOS it returns once they are written; the Log fsyncs them in the
// background.
func (c *Consumer) commitLocked(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata, d Durability) (pendingCommit, error) {
	g, err := c.groupLocked()
	if err != nil {
		return pendingCommit{}, err
	}
	if c.group.fenced != nil {
		return pendingCommit{}, c.group.fenced
	}
	if len(offsets) == 0 {
		return pendingCommit{}, nil
	}
	if hook := c.log.commitHook.Load(); hook != nil {
		(*hook)()
	}
	updates, tps, err := c.log.offsetUpdates(offsets)
	if err != nil {
		return pendingCommit{}, err
	}
	gm := &c.group
	if err := g.beginCommit(gm.m, tps); err != nil {
		return pendingCommit{}, err
	}
	defer g.endCommit(gm.m, tps)
	g.commitChecked()
	pc, err := g.coord.offsets.write(ctx, c.opts.GroupID, updates, d)
	if err != nil {
		return pendingCommit{}, err
	}
	if gm.committed == nil {
		gm.committed = make(map[TopicPartition]int64)
	}
	for _, u := range updates {
		if c.byTP[u.tp] != nil {
			gm.committed[u.tp] = u.v.offset
		}
	}
	return pc, nil
}

// CommitSync commits the positions of all assigned partitions — the offsets
// after the records Poll returned — as the group's committed offsets, and
// returns once they are as durable as the Log promises (fsynced, by
// default). Commits of many consumers share fsyncs. A commit of a partition
// the consumer no longer owns fails with ErrCommitFailed, and then nothing
// is committed. A position past its partition's high watermark — a Seek
// past the end, which the next Poll resets by AutoOffsetReset — is not
// committed, since a committed offset never lies past it (Kafka's broker
// would take it): the other partitions are committed, and the error, which
// wraps ErrOffsetOutOfRange, names the partition left out. So it is with
// CommitAsync and the automatic commits, which log the error.
func (c *Consumer) CommitSync(ctx context.Context) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	c.runCommitCallbacksLocked()
	_, _, err := c.commitPositionsLocked(ctx, false, DurabilityDefault)
	return err
}

// CommitOffsets commits the given offsets, each the offset of the next record
// to consume, with optional metadata, and returns once they are durable, as
// CommitSync does. An offset must lie between 0 and the partition's high
// watermark. The partitions need not be assigned to a consumer that assigns
// by hand, but then the group must have no members.
func (c *Consumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	c.runCommitCallbacksLocked()
	_, err := c.commitLocked(ctx, offsets, DurabilityDefault)
	return err
}

// CommitAsync commits offsets — the positions of all assigned partitions
// when offsets is nil — without waiting for durability. callback, which may
// be nil, runs once the commit is as durable as CommitSync's would be, or
// failed; it runs on the consumer's goroutine, inside a later Poll, commit
// or Close, in the order of the commits.
func (c *Consumer) CommitAsync(offsets map[TopicPartition]OffsetAndMetadata, callback func(map[TopicPartition]OffsetAndMetadata, error)) {
	if err := c.acquireOpen(); err != nil {
		if callback != nil {
			callback(offsets, err)
		}
		return
	}
	defer c.release()
	var pc pendingCommit
	var err error
	if offsets == nil {
		offsets, pc, err = c.commitPositionsLocked(context.Background(), false, DurabilityOS)
	} else {
		offsets = maps.Clone(offsets)
		pc, err = c.commitLocked(context.Background(), offsets, DurabilityOS)
	}
	c.group.async = append(c.group.async, asyncCommit{written: pc, offsets: offsets, err: err, callback: callback})
	c.runCommitCallbacksLocked()
}

// runCommitCallbacksLocked runs, in order, the callbacks of asynchronous
// commits that are done.
func (c *Consumer) runCommitCallbacksLocked() {
	gm := &c.group
	for len(gm.async) > 0 {
		a := &gm.async[0]
		if a.err == nil && a.written.part != nil && a.written.part.HighWatermark() < a.written.end {
			if a.err = a.written.part.err(); a.err == nil {
				return
			}
		}
		done := gm.async[0]
		gm.async = gm.async[1:]
		if done.callback != nil {
			c.asListener(func() { done.callback(done.offsets, done.err) })
		}
	}
	gm.async = nil
}

// flushCommitsLocked waits until the asynchronous commits are durable and
// runs their callbacks; if that fails, they get the error.
func (c *Consumer) flushCommitsLocked() error {
	gm := &c.group
	var err error
	if len(gm.async) > 0 && gm.g != nil {
		if err = gm.g.coord.offsets.flush(c.opts.GroupID); err != nil {
			for i := range gm.async {
				a := &gm.async[i]
				if a.err == nil && a.written.part != nil && a.written.part.HighWatermark() < a.written.end {
					a.err = err
				}
			}
		}
	}
	c.runCommitCallbacksLocked()
	return err
}

// Committed returns the group's committed offsets of tps — of all assigned
// partitions if none are given. Partitions without a committed offset are
// absent. It reads what is durable: an asynchronous commit shows once its
// callback could run.
func (c *Consumer) Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]OffsetAndMetadata, error) {
	if err := c.acquireOpen(); err != nil {
		return nil, err
	}
	defer c.release()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.opts.GroupID == "" {
		return nil, ErrNoGroupID
	}
	// The offset store, not the group's coordinator, which a read-only Log
	// refuses to run: this only reads.
	s, err := c.log.offsetStore(false)
	if err != nil {
		return nil, err
	}
	if len(tps) == 0 {
		for _, st := range c.assigned {
			tps = append(tps, st.tp)
		}
	}
	if s == nil { // no __consumer_offsets yet: nothing committed
		return map[TopicPartition]OffsetAndMetadata{}, nil
	}
	return s.committed(c.opts.GroupID, tps), nil
}

// committedPositionLocked returns the group's committed offset of tp, for
// a partition that has no position yet.
func (c *Consumer) committedPositionLocked(tp TopicPartition) (int64, bool) {
	if c.opts.GroupID == "" {
		return 0, false
	}
	s, err := c.log.offsetStore(false)
	if err != nil || s == nil {
		return 0, false
	}
	om, ok := s.committed(c.opts.GroupID, []TopicPartition{tp})[tp]
	return om.Offset, ok
}

// offsetUpdates checks offsets to commit — each partition exists, each
// offset lies in [0, high watermark], each metadata is short enough — and
// returns them as updates sorted by partition, with their partitions.
func (l *Log) offsetUpdates(offsets map[TopicPartition]OffsetAndMetadata) ([]offsetUpdate, []TopicPartition, error) {
	updates := make([]offsetUpdate, 0, len(offsets))
	tps := make([]TopicPartition, 0, len(offsets))
	for tp, om := range offsets {
		p, err := l.Partition(tp.Topic, tp.Partition)
		if err != nil {
			return nil, nil, errorf("eventlog: commit %s: %w", tp, err)
		}
		switch hw := p.HighWatermark(); {
		case om.Offset < 0 || om.Offset > hw:
			return nil, nil, errorf("eventlog: commit %s: %w: offset %d is outside [0, %d]", tp, ErrOffsetOutOfRange, om.Offset, hw)
		case len(om.Metadata) > MaxOffsetMetadataBytes:
			return nil, nil, errorf("eventlog: commit %s: %w: metadata of %d bytes is longer than %d (offset.metadata.max.bytes)", tp, ErrInvalidRecord, len(om.Metadata), MaxOffsetMetadataBytes)
		}
		tps = append(tps, tp)
		updates = append(updates, offsetUpdate{tp: tp, v: offsetValue{offset: om.Offset, epoch: noLeaderEpoch, metadata: om.Metadata}})
	}
	slices.SortFunc(updates, func(a, b offsetUpdate) int { return compareTopicPartitions(a.tp, b.tp) })
	slices.SortFunc(tps, compareTopicPartitions)
	return updates, tps, nil
}
