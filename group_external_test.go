package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// owning returns a condition: c owns n partitions.
func owning(c *eventlog.Consumer, n int) func() bool {
	return func() bool { return len(c.Assignment()) == n }
}

// externalGroup opens a Log on an injected clock with topic "t" of the
// given partitions, and returns with it a context that bounds the test's
// waits and the configuration of an external member of "t" with the
// assignor, a session timeout of 30 s and the rebalance timeout.
func externalGroup(t *testing.T, partitions int, a eventlog.Assignor, rebalance time.Duration) (*eventlog.Log, *clock, context.Context, eventlog.ExternalMemberConfig) {
	t.Helper()
	clk := newClock()
	l := eventlogtest.New(t, &eventlog.Options{Now: clk.Now})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: partitions}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cfg := eventlog.ExternalMemberConfig{
		Topics:           []string{"t"},
		Assignors:        []eventlog.Assignor{a},
		SessionTimeout:   30 * time.Second,
		RebalanceTimeout: rebalance,
	}
	return l, clk, ctx, cfg
}

// joinExternal joins an external member to group "g" and ends its join
// (awaitAndSync).
func joinExternal(t *testing.T, ctx context.Context, l *eventlog.Log, cfg eventlog.ExternalMemberConfig) (*eventlog.ExternalMember, int32, []eventlog.TopicPartition) {
	t.Helper()
	x, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	gen, tps := awaitAndSync(t, ctx, x)
	return x, gen, tps
}

// awaitAndSync ends an external member's join: it waits for the rebalance
// and syncs the generation that returns, and returns both.
func awaitAndSync(t *testing.T, ctx context.Context, x *eventlog.ExternalMember) (int32, []eventlog.TopicPartition) {
	t.Helper()
	gen, err := x.AwaitRebalance(ctx)
	require.NoError(t, err)
	tps, err := x.Sync(gen)
	require.NoError(t, err)
	return gen, tps
}

// awaitWhilePolling waits in AwaitRebalance for each of xs while local
// polls, which an eager rebalance needs to get local's partitions back,
// until every wait returned and local owns n partitions; it returns the
// generations the waits returned, in the order of xs.
func awaitWhilePolling(t *testing.T, ctx context.Context, local *eventlog.Consumer, n int, xs ...*eventlog.ExternalMember) []int32 {
	t.Helper()
	type joined struct {
		i   int
		gen int32
	}
	done := make(chan joined, len(xs))
	for i, x := range xs {
		go func() {
			gen, err := x.AwaitRebalance(ctx)
			assert.NoError(t, err)
			done <- joined{i, gen}
		}()
	}
	gens, left := make([]int32, len(xs)), len(xs)
	pollUntil(t, func() bool {
		for {
			select {
			case j := <-done:
				gens[j.i] = j.gen
				left--
				continue
			default:
			}
			return left == 0 && len(local.Assignment()) == n
		}
	}, nil, local)
	return gens
}

// requireToldToRejoin checks that x's heartbeat in generation gen tells it
// to rejoin.
func requireToldToRejoin(t *testing.T, x *eventlog.ExternalMember, gen int32, msgAndArgs ...any) {
	t.Helper()
	rejoin, err := x.Heartbeat(gen)
	require.NoError(t, err)
	require.True(t, rejoin, msgAndArgs...)
}

// rejoinWhenTold checks that x's heartbeat in generation gen tells it to
// rejoin, and rejoins, naming owned as the partitions it owned.
func rejoinWhenTold(t *testing.T, x *eventlog.ExternalMember, gen int32, owned []eventlog.TopicPartition) {
	t.Helper()
	requireToldToRejoin(t, x, gen)
	require.NoError(t, x.Rejoin([]string{"t"}, owned))
}

func TestExternalMemberSharesAGroup(t *testing.T) {
	clk := newClock()
	l := eventlogtest.New(t, &eventlog.Options{Now: clk.Now})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 4}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for id := range int32(4) {
		p, err := l.Partition("t", id)
		require.NoError(t, err)
		for range 10 {
			_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	local, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", FetchMaxWait: time.Millisecond})
	require.NoError(t, err)
	defer local.Close()
	require.NoError(t, local.Subscribe("t"))
	pollUntil(t, owning(local, 4), nil, local)

	_, err = l.JoinGroupExternal("g", eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RoundRobinAssignor{}}})
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig, "the group uses range")

	x, err := l.JoinGroupExternal("g", eventlog.ExternalMemberConfig{
		Topics:         []string{"t"},
		Assignors:      []eventlog.Assignor{eventlog.RoundRobinAssignor{}, eventlog.RangeAssignor{}},
		SessionTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	assert.Equal(t, "range", x.Assignor().Name())
	// An eager rebalance: the external member's join waits until the
	// in-process member gave its partitions back.
	type joined struct {
		gen int32
		err error
	}
	done := make(chan joined, 1)
	go func() {
		gen, err := x.AwaitRebalance(ctx)
		done <- joined{gen, err}
	}()
	pollUntil(t, owning(local, 2), nil, local)
	j := <-done
	require.NoError(t, j.err)
	tps, err := x.Sync(j.gen)
	require.NoError(t, err)
	require.Len(t, tps, 2)
	for _, tp := range local.Assignment() {
		assert.NotContains(t, tps, tp, "each partition has one owner")
	}
	rejoin, err := x.Heartbeat(j.gen)
	require.NoError(t, err)
	assert.False(t, rejoin)

	// Generations and ownership are checked.
	_, err = x.Sync(j.gen + 7)
	require.ErrorIs(t, err, eventlog.ErrIllegalGeneration)
	_, err = x.Heartbeat(j.gen + 7)
	require.ErrorIs(t, err, eventlog.ErrIllegalGeneration)
	require.NoError(t, x.Commit(ctx, j.gen, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tps[0]: {Offset: 5, Metadata: "m"}}))
	notMine := local.Assignment()[0]
	require.ErrorIs(t, x.Commit(ctx, j.gen, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{notMine: {Offset: 1}}), eventlog.ErrCommitFailed)
	require.ErrorIs(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tps[0]: {Offset: 1}}), eventlog.ErrCommitFailed,
		"commits from outside the group wait until it is empty")
	committed, err := l.CommittedOffsets("g", tps)
	require.NoError(t, err)
	assert.Equal(t, eventlog.OffsetAndMetadata{Offset: 5, Metadata: "m"}, committed[tps[0]])

	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Len(t, d.Members, 2)

	// Silent past its session timeout, the external member is evicted
	// and the in-process one takes everything back.
	clk.Advance(11 * time.Second)
	_, err = x.Heartbeat(j.gen)
	require.ErrorIs(t, err, eventlog.ErrUnknownMember)
	require.ErrorIs(t, x.Commit(ctx, j.gen, nil), eventlog.ErrUnknownMember)
	pollUntil(t, owning(local, 4), nil, local)
}

func TestExternalMemberRejoinAndLeave(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.CooperativeStickyAssignor{}}}
	a, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	genA, err := a.AwaitRebalance(ctx)
	require.NoError(t, err)
	tps, err := a.Sync(genA)
	require.NoError(t, err)
	require.Len(t, tps, 2)

	// A second member: cooperative, so a's partitions move only once a
	// gives one up, which its heartbeat tells it to do.
	b, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	genB, err := b.AwaitRebalance(ctx)
	require.NoError(t, err)
	tpsB, err := b.Sync(genB)
	require.NoError(t, err)
	assert.Empty(t, tpsB, "a still holds both")
	requireToldToRejoin(t, a, genA)
	genA, err = a.AwaitRebalance(ctx)
	require.NoError(t, err)
	keep, err := a.Sync(genA)
	require.NoError(t, err)
	require.Len(t, keep, 1)
	require.NoError(t, a.Rejoin([]string{"t"}, keep)) // gives the other back
	requireToldToRejoin(t, b, genB, "b is granted its partition")
	genB, err = b.AwaitRebalance(ctx)
	require.NoError(t, err)
	tpsB, err = b.Sync(genB)
	require.NoError(t, err)
	require.Len(t, tpsB, 1)
	assert.NotEqual(t, keep[0], tpsB[0])

	b.Leave()
	_, err = b.Heartbeat(genB)
	require.ErrorIs(t, err, eventlog.ErrUnknownMember)
	requireToldToRejoin(t, a, genA)
	genA, err = a.AwaitRebalance(ctx)
	require.NoError(t, err)
	tps, err = a.Sync(genA)
	require.NoError(t, err)
	assert.Len(t, tps, 2)
}

// unnamedAssignor is an Assignor without a name, which the group protocol
// cannot carry.
type unnamedAssignor struct{ eventlog.RangeAssignor }

func (unnamedAssignor) Name() string { return "" }

// A nil or unnamed assignor is refused where it is given, instead of
// panicking later in the group's rebalance, its description and Log.Stats.
func TestAssignorsMustBeUsable(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	for name, a := range map[string]eventlog.Assignor{"is nil": nil, "has an empty Name": unnamedAssignor{}} {
		_, err := l.JoinGroupExternal("g", eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}, a}})
		require.ErrorIs(t, err, eventlog.ErrInvalidConfig)
		assert.ErrorContains(t, err, "Assignors[1] "+name)
	}
	_, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: unnamedAssignor{}})
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	assert.ErrorContains(t, err, "Assignor has an empty Name")

	_, err = l.DescribeGroup("g")
	assert.ErrorIs(t, err, eventlog.ErrGroupNotFound, "nothing joined")
	assert.NotPanics(t, func() { l.Stats() })
}

// TestExternalMemberMustRejoinWithinRebalanceTimeout: an external member
// that heartbeats but does not rejoin a rebalance is removed once its
// RebalanceTimeout has passed since the rebalance began, and the rebalance
// completes without it; an in-process Consumer that has not polled as
// long stays, its MaxPollInterval being what bounds it.
func TestExternalMemberMustRejoinWithinRebalanceTimeout(t *testing.T) {
	l, clk, ctx, cfg := externalGroup(t, 2, eventlog.RangeAssignor{}, 0)
	bad := cfg
	bad.RebalanceTimeout = -time.Second
	_, err := l.JoinGroupExternal("g", bad)
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig)

	local := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.MaxPollInterval = time.Minute })
	require.NoError(t, local.Subscribe("t"))
	pollUntil(t, owning(local, 2), nil, local)
	late := cfg
	late.RebalanceTimeout = 5 * time.Second
	x, err := l.JoinGroupExternal("g", late)
	require.NoError(t, err)
	genX := awaitWhilePolling(t, ctx, local, 1, x)[0]
	tps, err := x.Sync(genX)
	require.NoError(t, err)
	require.Len(t, tps, 1)

	// A third member joins, which begins a rebalance. x heartbeats, and is
	// told to rejoin, but does not; the in-process member does not poll.
	y, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	clk.Advance(3 * time.Second)
	requireToldToRejoin(t, x, genX)
	clk.Advance(3 * time.Second)
	_, err = x.Heartbeat(genX)
	require.ErrorIs(t, err, eventlog.ErrUnknownMember, "x did not rejoin within its rebalance timeout")

	// The rebalance completes with the two others, once the in-process
	// member gave its partition back at its next poll.
	genY := awaitWhilePolling(t, ctx, local, 1, y)[0]
	tps, err = y.Sync(genY)
	require.NoError(t, err)
	require.Len(t, tps, 1)
	assert.NotEqual(t, local.Assignment()[0], tps[0])
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Len(t, d.Members, 2)
}

// TestExternalMemberMustSyncWithinRebalanceTimeout: a member whose join
// ended must sync within its rebalance timeout, as Kafka removes a member
// still pending its sync then: one that heartbeats but never syncs would
// hold the partitions granted to it unread. One that syncs in time stays.
func TestExternalMemberMustSyncWithinRebalanceTimeout(t *testing.T) {
	l, clk, ctx, cfg := externalGroup(t, 2, eventlog.RangeAssignor{}, 10*time.Second)
	a, genA, tpsA := joinExternal(t, ctx, l, cfg)
	require.Len(t, tpsA, 2)

	// b joins: a rejoins in time, and both joins end; b never syncs.
	b, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	rejoinWhenTold(t, a, genA, nil)
	genB, err := b.AwaitRebalance(ctx)
	require.NoError(t, err)
	genA, tpsA = awaitAndSync(t, ctx, a)
	require.Equal(t, genB, genA)
	require.Len(t, tpsA, 1)

	clk.Advance(6 * time.Second)
	_, err = b.Heartbeat(genB)
	require.NoError(t, err, "within its rebalance timeout")
	_, err = a.Heartbeat(genA)
	require.NoError(t, err)
	clk.Advance(6 * time.Second)
	_, err = b.Heartbeat(genB)
	require.ErrorIs(t, err, eventlog.ErrUnknownMember, "b did not sync within its rebalance timeout")
	_, err = a.Heartbeat(genA)
	require.NoError(t, err, "a synced: it stays")

	// The group rebalances without b, and a, rejoining as an eager client
	// does (owning nothing), gets b's partition too.
	require.NoError(t, a.Rejoin([]string{"t"}, nil))
	_, tpsA = awaitAndSync(t, ctx, a)
	assert.Len(t, tpsA, 2)
}

// TestCooperativeSecondPhaseIsBoundedByRebalanceTimeout: under the
// cooperative protocol a partition moves in two phases: its holder rejoins,
// learns at its sync that it must give the partition up, and rejoins again
// without it; the partition is then granted to its new owner, which rejoins
// to learn of it. Either rejoin of the second phase is bounded by the
// member's RebalanceTimeout, as Kafka bounds every JoinGroup phase: a
// member that heartbeats but does not rejoin is removed, and the group
// rebalances without it, instead of holding the partition for as long as it
// heartbeats.
func TestCooperativeSecondPhaseIsBoundedByRebalanceTimeout(t *testing.T) {
	for _, late := range []string{"giver", "taker"} {
		t.Run(late, func(t *testing.T) {
			l, clk, ctx, cfg := externalGroup(t, 2, eventlog.CooperativeStickyAssignor{}, 10*time.Second)
			a, genA, tpsA := joinExternal(t, ctx, l, cfg)
			require.Len(t, tpsA, 2)

			// The first phase: b joins, a rejoins and learns that it keeps
			// one partition.
			b, genB, tpsB := joinExternal(t, ctx, l, cfg)
			require.Empty(t, tpsB, "a still holds both")
			requireToldToRejoin(t, a, genA)
			genA, keep := awaitAndSync(t, ctx, a)
			require.Len(t, keep, 1)

			// The second phase: the late member heartbeats, is told to
			// rejoin, and does not.
			stays, gone, genStays, genGone, owned := b, a, genB, genA, tpsB
			if late == "taker" {
				require.NoError(t, a.Rejoin([]string{"t"}, keep)) // gives the other back; b is granted it
				stays, gone, genStays, genGone, owned = a, b, genA, genB, keep
			}
			clk.Advance(6 * time.Second)
			requireToldToRejoin(t, gone, genGone)
			clk.Advance(6 * time.Second)
			_, err := gone.Heartbeat(genGone)
			require.ErrorIs(t, err, eventlog.ErrUnknownMember, "the %s did not rejoin within its rebalance timeout", late)

			// The group rebalances without it: the other member gets both.
			rejoinWhenTold(t, stays, genStays, owned)
			_, tps := awaitAndSync(t, ctx, stays)
			assert.Len(t, tps, 2)
		})
	}
}

// TestExternalSyncDuringEagerRebalance: an external member that syncs
// while an eager rebalance is under way, without having rejoined it, is
// answered ErrRebalanceInProgress, as Kafka answers REBALANCE_IN_PROGRESS,
// so that it rejoins, and not with an empty assignment in the generation
// before. A generation it is not in is still ErrIllegalGeneration, which
// Kafka checks first.
func TestExternalSyncDuringEagerRebalance(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}}}
	x, genX, tps := joinExternal(t, ctx, l, cfg)
	require.Len(t, tps, 2)

	// y joins: x is to give everything back, and has not rejoined.
	y, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	tps, err = x.Sync(genX)
	require.ErrorIs(t, err, eventlog.ErrRebalanceInProgress, "x synced %v in the generation before", tps)
	_, err = x.Sync(genX - 1)
	require.ErrorIs(t, err, eventlog.ErrIllegalGeneration)

	// It rejoins, and the rebalance completes.
	require.NoError(t, x.Rejoin([]string{"t"}, nil))
	genX, tpsX := awaitAndSync(t, ctx, x)
	genY, tpsY := awaitAndSync(t, ctx, y)
	assert.Equal(t, genX, genY)
	assert.Len(t, tpsX, 1)
	assert.Len(t, tpsY, 1)
}

// TestExternalHeartbeatDuringEagerRebalance: while an eager rebalance waits
// for partitions to come back, the heartbeat of an external member that
// holds none, and so has nothing to give up, still tells it to rejoin, as
// Kafka's answers REBALANCE_IN_PROGRESS to every member of a group
// preparing a rebalance; before, it was not told, and its rebalance timeout
// removed it however often it heartbeat.
func TestExternalHeartbeatDuringEagerRebalance(t *testing.T) {
	l, clk, ctx, cfg := externalGroup(t, 1, eventlog.RangeAssignor{}, 5*time.Second)
	local := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.MaxPollInterval = time.Minute })
	require.NoError(t, local.Subscribe("t"))
	pollUntil(t, owning(local, 1), nil, local)
	x, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	genX := awaitWhilePolling(t, ctx, local, 1, x)[0]
	tps, err := x.Sync(genX)
	require.NoError(t, err)
	require.Empty(t, tps, "one partition, which the first member keeps")
	rejoin, err := x.Heartbeat(genX)
	require.NoError(t, err)
	require.False(t, rejoin)

	// y joins: the rebalance waits for the in-process member, which does
	// not poll, to give its partition back.
	y, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	clk.Advance(3 * time.Second)
	requireToldToRejoin(t, x, genX, "x is told to rejoin although it has nothing to give up")
	require.NoError(t, x.Rejoin([]string{"t"}, nil))
	clk.Advance(3 * time.Second)
	gens := awaitWhilePolling(t, ctx, local, 1, x, y)
	assert.Equal(t, gens[0], gens[1])
	_, err = x.Sync(gens[0])
	assert.NoError(t, err, "x rejoined in time, and is in the group")
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Len(t, d.Members, 3)
}

// awaitOneEach waits in AwaitRebalance for x, then y, with ctx, and checks
// that the rebalance ends in one generation that grants each one
// partition; msg says why x's wait may not fail. It returns x's partitions.
func awaitOneEach(t *testing.T, ctx context.Context, x, y *eventlog.ExternalMember, msg string) []eventlog.TopicPartition {
	t.Helper()
	genX, err := x.AwaitRebalance(ctx)
	require.NoError(t, err, msg)
	genY, err := y.AwaitRebalance(ctx)
	require.NoError(t, err)
	assert.Equal(t, genX, genY)
	tpsX, err := x.Sync(genX)
	require.NoError(t, err)
	tpsY, err := y.Sync(genY)
	require.NoError(t, err)
	assert.Len(t, tpsX, 1)
	assert.Len(t, tpsY, 1)
	return tpsX
}

// TestExternalAwaitGivesBackWhatItsClientNeverLearned: an external member
// granted partitions while its join is under way — by the rebalance its own
// join completed, before its AwaitRebalance began — whose group starts an
// eager rebalance before it syncs, gives them back in AwaitRebalance. Its
// client never learned of them (only its Sync tells it), so nobody else
// could release them: the rebalance waited for the member, and the member,
// in AwaitRebalance, for the rebalance, until its rebalance timeout ended
// the join (a minute for a kgo client, which then rejoined). A context
// that is already done shows that AwaitRebalance no longer waits.
func TestExternalAwaitGivesBackWhatItsClientNeverLearned(t *testing.T) {
	cfg := eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}}}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("new member", func(t *testing.T) {
		l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
		// x's join completes a rebalance at once, granting x both
		// partitions; y joins before x's AwaitRebalance.
		x, err := l.JoinGroupExternal("g", cfg)
		require.NoError(t, err)
		y, err := l.JoinGroupExternal("g", cfg)
		require.NoError(t, err)
		awaitOneEach(t, done, x, y, "x's join waits for the partitions granted to x")
	})
	t.Run("rejoining member", func(t *testing.T) {
		l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		x, _, tps := joinExternal(t, ctx, l, cfg)
		require.Len(t, tps, 2)
		// y joins; x rejoins without its partitions, which completes the
		// rebalance and grants x one of them; y syncs and leaves before
		// x's AwaitRebalance, which starts another.
		y, err := l.JoinGroupExternal("g", cfg)
		require.NoError(t, err)
		require.NoError(t, x.Rejoin([]string{"t"}, nil))
		_, tpsY := awaitAndSync(t, ctx, y)
		require.Len(t, tpsY, 1)
		y.Leave()
		genX, err := x.AwaitRebalance(done)
		require.NoError(t, err, "x's join waits for the partition granted to x")
		tps, err = x.Sync(genX)
		require.NoError(t, err)
		assert.Len(t, tps, 2)
	})
}

// TestExternalMemberOfClosedLog: an external member waiting in
// AwaitRebalance when its Log closes returns ErrClosed, as a Consumer's
// Poll does, and so do its later calls; before, the wait went on until its
// ctx ended, for ever with none, although nothing could end the rebalance.
func TestExternalMemberOfClosedLog(t *testing.T) {
	l, _, ctx, cfg := externalGroup(t, 1, eventlog.RangeAssignor{}, 0)
	x, gen, tps := joinExternal(t, ctx, l, cfg)
	require.Len(t, tps, 1)
	// y joins: the rebalance waits for x, which does not rejoin.
	y, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	waited := make(chan error, 1)
	go func() {
		_, err := y.AwaitRebalance(ctx)
		waited <- err
	}()
	require.NoError(t, l.Close())
	assert.ErrorIs(t, <-waited, eventlog.ErrClosed)
	_, err = x.Heartbeat(gen)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
	_, err = x.Sync(gen)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
	assert.ErrorIs(t, x.Rejoin([]string{"t"}, nil), eventlog.ErrClosed)
}

// TestExternalEagerRejoinClaimingPartitionsDoesNotWaitOnItself: under the
// eager protocol a client gives up everything before it rejoins; one whose
// JoinGroup still names the partitions it owned (the subscription's owned
// partitions, which some clients send whatever the protocol) owns none of
// them. Before, Rejoin kept them held, and the rebalance waited for the
// member, in AwaitRebalance, to give them back — until its rebalance
// timeout ended the join. A context that is already done shows that the
// rebalance completes once every member rejoined, without waiting.
func TestExternalEagerRejoinClaimingPartitionsDoesNotWaitOnItself(t *testing.T) {
	for _, a := range []eventlog.Assignor{eventlog.RangeAssignor{}, eventlog.StickyAssignor{}} {
		t.Run(a.Name(), func(t *testing.T) {
			l, _, ctx, cfg := externalGroup(t, 2, a, 5*time.Second)
			done, cancel := context.WithCancel(context.Background())
			cancel()
			x, genX, owned := joinExternal(t, ctx, l, cfg)
			require.Len(t, owned, 2)

			// y joins: x is told to rejoin, and does, naming what it owned.
			y, err := l.JoinGroupExternal("g", cfg)
			require.NoError(t, err)
			rejoinWhenTold(t, x, genX, owned)
			tpsX := awaitOneEach(t, done, x, y, "x's join waits for the partitions x gave up")
			if a.Name() == "sticky" {
				// The assignor saw what x owned: x keeps one of them.
				assert.Contains(t, owned, tpsX[0])
			}
		})
	}
}
