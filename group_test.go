package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// Behaviour of consumer groups through the public API. Time-dependent
// tests (eviction, automatic commits, static membership) run in a
// testing/synctest bubble, where time.Sleep only advances a fake clock.

// fill appends n records to each partition of topic, valued "p<partition>-<i>".
func fill(t testing.TB, l *eventlog.Log, topic string, partitions, n int) {
	t.Helper()
	for id := range partitions {
		p, err := l.Partition(topic, int32(id))
		require.NoError(t, err)
		recs := make([]eventlog.Record, n)
		for i := range recs {
			recs[i].Value = fmt.Appendf(nil, "p%d-%d", id, i)
		}
		_, err = p.Append(ctx, recs, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
}

// groupConsumer opens a consumer of group that polls without waiting long.
func groupConsumer(t testing.TB, l *eventlog.Log, group string, edit func(*eventlog.ConsumerOptions)) *eventlog.Consumer {
	t.Helper()
	o := &eventlog.ConsumerOptions{GroupID: group, AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: time.Millisecond}
	if edit != nil {
		edit(o)
	}
	c, err := l.NewConsumer(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// pollUntil polls each consumer in turn until cond holds, passing every
// record polled to seen (which may be nil).
func pollUntil(t testing.TB, cond func() bool, seen func(*eventlog.Consumer, eventlog.Record), consumers ...*eventlog.Consumer) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		for _, c := range consumers {
			recs, err := c.Poll(ctx)
			require.NoError(t, err)
			for _, r := range recs {
				if seen != nil {
					seen(c, r)
				}
			}
		}
	}
	t.Fatal("condition never held")
}

// settled reports whether the consumers all applied the same generation
// and their assignments are disjoint and cover want partitions in all.
func settled(want int, consumers ...*eventlog.Consumer) bool {
	seen := map[eventlog.TopicPartition]bool{}
	generation := int32(-2)
	for _, c := range consumers {
		md, err := c.GroupMetadata()
		if err != nil || md.GenerationID < 0 || generation != -2 && md.GenerationID != generation {
			return false
		}
		generation = md.GenerationID
		for _, tp := range c.Assignment() {
			if seen[tp] {
				return false
			}
			seen[tp] = true
		}
	}
	return len(seen) == want
}

func TestGroupSplitsPartitions(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{Partitions: 4}))
	require.NoError(t, l.CreateTopic("b", eventlog.TopicConfig{Partitions: 3}))
	fill(t, l, "a", 4, 5)
	fill(t, l, "b", 3, 5)
	var cs []*eventlog.Consumer
	for range 3 {
		c := groupConsumer(t, l, "g", nil)
		require.NoError(t, c.Subscribe("a", "b"))
		cs = append(cs, c)
	}
	seen := map[string]int{}
	record := func(c *eventlog.Consumer, r eventlog.Record) {
		assert.Contains(t, c.Assignment(), eventlog.TopicPartition{Topic: r.Topic, Partition: r.Partition})
		seen[r.Topic+string(r.Value)]++
	}
	pollUntil(t, func() bool { return settled(7, cs...) && len(seen) == 35 }, record, cs...)
	for _, c := range cs {
		assert.NotEmpty(t, c.Assignment(), "3 members over 7 partitions: nobody idles")
	}
	for k, n := range seen {
		assert.Equal(t, 1, n, "record %s consumed once", k)
	}
}

// recorder is a RebalanceListener that records its calls.
type recorder struct {
	mu         sync.Mutex
	events     []string
	onRevoked  func(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition)
	onAssigned func(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition)
}

func (r *recorder) add(kind string, tps []eventlog.TopicPartition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprint(kind, tps))
}

func (r *recorder) OnPartitionsRevoked(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
	r.add("revoked", tps)
	if r.onRevoked != nil {
		r.onRevoked(ctx, c, tps)
	}
}

func (r *recorder) OnPartitionsAssigned(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
	r.add("assigned", tps)
	if r.onAssigned != nil {
		r.onAssigned(ctx, c, tps)
	}
}

func (r *recorder) OnPartitionsLost(_ context.Context, _ *eventlog.Consumer, tps []eventlog.TopicPartition) {
	r.add("lost", tps)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func tp(topic string, partition int32) eventlog.TopicPartition {
	return eventlog.TopicPartition{Topic: topic, Partition: partition}
}

func TestGroupExtraMembersIdle(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	var cs []*eventlog.Consumer
	for range 3 {
		c := groupConsumer(t, l, "g", nil)
		require.NoError(t, c.Subscribe("t"))
		cs = append(cs, c)
	}
	pollUntil(t, func() bool { return settled(2, cs...) }, nil, cs...)
	idle := 0
	for _, c := range cs {
		if len(c.Assignment()) == 0 {
			idle++
		}
	}
	assert.Equal(t, 1, idle)
}

func TestGroupsAreIndependent(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	fill(t, l, "t", 2, 3)
	for _, group := range []string{"g1", "g2"} {
		c := groupConsumer(t, l, group, nil)
		require.NoError(t, c.Subscribe("t"))
		n := 0
		pollUntil(t, func() bool { return n == 6 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
		require.NoError(t, c.CommitSync(ctx))
	}
	for _, group := range []string{"g1", "g2"} {
		offsets, err := l.GroupOffsets(group)
		require.NoError(t, err)
		require.Len(t, offsets, 2)
		for _, o := range offsets {
			assert.Equal(t, int64(3), o.Committed)
			assert.Equal(t, int64(0), o.Lag)
		}
	}
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g1", "g2"}, groups)
}

func TestGroupResumesAtCommittedOffset(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 10)
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		tp("t", 0): {Offset: 4, Metadata: "four"},
		tp("t", 1): {Offset: 7},
	}))
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())

	l, err = eventlog.Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	c = groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	first := map[int32]int64{}
	pollUntil(t, func() bool { return len(first) == 2 }, func(_ *eventlog.Consumer, r eventlog.Record) {
		if _, ok := first[r.Partition]; !ok {
			first[r.Partition] = r.Offset
		}
	}, c)
	assert.Equal(t, map[int32]int64{0: 4, 1: 7}, first)
	committed, err := c.Committed(ctx, tp("t", 0))
	require.NoError(t, err)
	assert.Equal(t, eventlog.OffsetAndMetadata{Offset: 4, Metadata: "four"}, committed[tp("t", 0)])

	// Without a committed offset, auto.offset.reset decides: latest.
	latest := groupConsumer(t, l, "other", func(o *eventlog.ConsumerOptions) { o.AutoOffsetReset = eventlog.OffsetResetLatest })
	require.NoError(t, latest.Subscribe("t"))
	pollUntil(t, func() bool { return len(latest.Assignment()) == 2 }, nil, latest)
	pos, err := latest.Position(tp("t", 0))
	require.NoError(t, err)
	assert.Equal(t, int64(10), pos)
}

func TestGroupRebalanceMovesPartitionsAndFencesCommits(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 4})
	fill(t, l, "t", 4, 10)
	ra, rb := &recorder{}, &recorder{}
	a := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = ra; o.DisableAutoCommit = true })
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return len(a.Assignment()) == 4 }, nil, a)
	mdA, err := a.GroupMetadata()
	require.NoError(t, err)
	assert.Equal(t, []string{"assigned[t-0 t-1 t-2 t-3]"}, ra.take())

	b := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = rb; o.DisableAutoCommit = true })
	require.NoError(t, b.Subscribe("t"))
	// b's join makes a revoke everything (eager range) at its next poll.
	_, err = b.Poll(ctx)
	require.NoError(t, err)
	require.NoError(t, a.CommitSync(ctx), "a owns its partitions until it polls")
	pollUntil(t, func() bool { return settled(4, a, b) && len(a.Assignment()) == 2 }, nil, a, b)
	assert.Equal(t, []string{"revoked[t-0 t-1 t-2 t-3]", "assigned[t-0 t-1]"}, ra.take())
	assert.Equal(t, []string{"assigned[t-2 t-3]"}, rb.take())
	md2, err := a.GroupMetadata()
	require.NoError(t, err)
	assert.Greater(t, md2.GenerationID, mdA.GenerationID, "a rebalance bumps the generation")

	// a no longer owns t-2: committing it fails, distinguishably.
	err = a.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 2): {Offset: 5}})
	require.ErrorIs(t, err, eventlog.ErrCommitFailed)
	require.NoError(t, a.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 5}}))

	// b closing hands everything back to a.
	require.NoError(t, b.Close())
	assert.Equal(t, []string{"revoked[t-2 t-3]"}, rb.take(), "Close revokes")
	pollUntil(t, func() bool { return len(a.Assignment()) == 4 }, nil, a)
}

func TestGroupCommitInRevokedListener(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	fill(t, l, "t", 2, 10)
	var commitErr error
	ra := &recorder{onRevoked: func(ctx context.Context, c *eventlog.Consumer, _ []eventlog.TopicPartition) {
		commitErr = c.CommitSync(ctx)
	}}
	a := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = ra; o.DisableAutoCommit = true })
	require.NoError(t, a.Subscribe("t"))
	n := 0
	pollUntil(t, func() bool { return n == 20 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, a)
	b := groupConsumer(t, l, "g", nil)
	require.NoError(t, b.Subscribe("t"))
	pollUntil(t, func() bool { return settled(2, a, b) }, nil, a, b)
	require.NoError(t, commitErr)
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 2)
	for _, o := range offsets {
		assert.Equal(t, int64(10), o.Committed, "committed in OnPartitionsRevoked")
	}
}

func TestGroupCooperativeKeepsPartitionsThatStay(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 4})
	ra := &recorder{}
	coop := func(r *recorder) func(*eventlog.ConsumerOptions) {
		return func(o *eventlog.ConsumerOptions) {
			o.Assignor = eventlog.CooperativeStickyAssignor{}
			o.RebalanceListener = r
		}
	}
	a := groupConsumer(t, l, "g", coop(ra))
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return len(a.Assignment()) == 4 }, nil, a)
	ra.take()

	b := groupConsumer(t, l, "g", coop(&recorder{}))
	require.NoError(t, b.Subscribe("t"))
	_, err := b.Poll(ctx) // joins
	require.NoError(t, err)
	// a is asked to give up two partitions; it keeps the others and
	// consumes them throughout.
	fill(t, l, "t", 4, 1)
	recs, err := a.Poll(ctx)
	require.NoError(t, err)
	assert.Len(t, a.Assignment(), 2)
	kept := a.Assignment()
	for _, r := range recs {
		assert.Contains(t, kept, tp(r.Topic, r.Partition))
	}
	assert.NotEmpty(t, recs, "a consumed its remaining partitions in the poll that revoked the others")
	events := ra.take()
	require.Len(t, events, 2)
	assert.Equal(t, "revoked", events[0][:7])
	assert.Equal(t, "assigned[]", events[1])
	pollUntil(t, func() bool { return settled(4, a, b) }, nil, a, b)
	assert.Equal(t, kept, a.Assignment(), "sticky: a kept what it kept")
}

func TestGroupAssignAndSubscribeExclude(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Assign(tp("t", 0)))
	require.ErrorIs(t, c.Subscribe("t"), eventlog.ErrSubscriptionConflict)
	require.NoError(t, c.Assign())
	require.NoError(t, c.Subscribe("t"))
	require.ErrorIs(t, c.Assign(tp("t", 0)), eventlog.ErrSubscriptionConflict)
	require.NoError(t, c.Unsubscribe())
	require.NoError(t, c.Assign(tp("t", 0)))

	noGroup, err := l.NewConsumer(nil)
	require.NoError(t, err)
	defer noGroup.Close()
	require.ErrorIs(t, noGroup.Subscribe("t"), eventlog.ErrNoGroupID)
	require.ErrorIs(t, noGroup.CommitSync(ctx), eventlog.ErrNoGroupID)
}

func TestInternalTopicsAreReadOnly(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 1 }, nil, c)
	require.NoError(t, c.CommitSync(ctx))
	p, err := l.Partition("__consumer_offsets", 0)
	require.NoError(t, err)
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
	require.ErrorIs(t, err, eventlog.ErrInvalidTopic)
	require.ErrorIs(t, l.CreateTopic("__mine", eventlog.TopicConfig{}), eventlog.ErrInvalidTopic)
	assert.Equal(t, []string{"t"}, l.Topics(), "internal topics are not listed")
	recs, err := p.Read(0, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 2, "internal topics can be read")
	var meta kmsg.GroupMetadataKey
	require.NoError(t, meta.ReadFrom(recs[0].Key), "the group's metadata, at its first generation")
	var commit kmsg.OffsetCommitKey
	require.NoError(t, commit.ReadFrom(recs[1].Key), "the commit")
	assert.Equal(t, "g", commit.Group)
}

func TestGroupPatternSubscriptionPicksUpNewTopics(t *testing.T) {
	l := eventlogtest.NewTopic(t, "orders-eu", eventlog.TopicConfig{})
	require.NoError(t, l.CreateTopic("payments", eventlog.TopicConfig{}))
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.SubscribePattern(regexp.MustCompile(`^orders-`)))
	pollUntil(t, func() bool { return len(c.Assignment()) == 1 }, nil, c)
	require.NoError(t, l.CreateTopic("orders-us", eventlog.TopicConfig{Partitions: 2}))
	pollUntil(t, func() bool { return len(c.Assignment()) == 3 }, nil, c)
	assert.Equal(t, []eventlog.TopicPartition{tp("orders-eu", 0), tp("orders-us", 0), tp("orders-us", 1)}, c.Assignment())
}

func TestCommitAsyncCallbackRunsInOrder(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	fill(t, l, "t", 1, 10)
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 1 }, nil, c)
	var got []int64
	for i := range int64(5) {
		c.CommitAsync(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: i + 1}},
			func(offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
				assert.NoError(t, err)
				got = append(got, offsets[tp("t", 0)].Offset)
			})
	}
	c.CommitAsync(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 9): {Offset: 1}}, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
		assert.ErrorIs(t, err, eventlog.ErrPartitionNotFound)
		got = append(got, -1)
	})
	require.NoError(t, c.Close())
	assert.Equal(t, []int64{1, 2, 3, 4, 5, -1}, got)
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	assert.Equal(t, int64(5), offsets[0].Committed)
}

func TestGroupEvictsSilentMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
		defer l.Close()
		ra := &recorder{}
		opts := func(r *recorder) func(*eventlog.ConsumerOptions) {
			return func(o *eventlog.ConsumerOptions) {
				o.MaxPollInterval = time.Minute
				o.DisableAutoCommit = true
				o.RebalanceListener = r
			}
		}
		a := groupConsumer(t, l, "g", opts(ra))
		b := groupConsumer(t, l, "g", opts(&recorder{}))
		require.NoError(t, a.Subscribe("t"))
		require.NoError(t, b.Subscribe("t"))
		pollUntil(t, func() bool { return settled(2, a, b) && len(a.Assignment()) == 1 }, nil, a, b)
		owned := a.Assignment()
		ra.take()

		// b blocks in Poll (a long FetchMaxWait would do too: a member
		// waiting in Poll is not silent); a goes silent.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for len(b.Assignment()) < 2 {
				_, err := b.Poll(ctx)
				assert.NoError(t, err)
			}
		}()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.Len(t, b.Assignment(), 1, "a is not evicted before MaxPollInterval")
		time.Sleep(2 * time.Second)
		<-done
		assert.Len(t, b.Assignment(), 2, "the coordinator's timer evicted a and b took over")

		// a learns it at its next call.
		err := a.CommitSync(ctx)
		require.ErrorIs(t, err, eventlog.ErrCommitFailed)
		_, err = a.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprint("lost", owned)}, ra.take()[:1])
		assert.Empty(t, a.Assignment())
	})
}

func TestGroupAutoCommitInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
		defer l.Close()
		fill(t, l, "t", 1, 100)
		c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) {
			o.AutoCommitInterval = 10 * time.Second
			o.MaxPollRecords = 10
		})
		require.NoError(t, c.Subscribe("t"))
		committed := func() int64 {
			offsets, err := l.GroupOffsets("g")
			require.NoError(t, err)
			if len(offsets) == 0 {
				return -1
			}
			return offsets[0].Committed
		}
		pollUntil(t, func() bool { return len(c.Assignment()) == 1 }, nil, c)
		for range 3 {
			_, err := c.Poll(ctx)
			require.NoError(t, err)
		}
		assert.Equal(t, int64(-1), committed(), "nothing before the interval")
		time.Sleep(10 * time.Second)
		pos, err := c.Position(tp("t", 0))
		require.NoError(t, err)
		_, err = c.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, pos, committed(), "the poll after the interval commits what the previous poll returned")
		_, err = c.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, pos, committed(), "and not again before the next interval")
		pos, err = c.Position(tp("t", 0))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		assert.Equal(t, pos, committed(), "Close commits")
	})
}

// TestAssignedConsumerCommitsAutomatically: a consumer with a GroupID that
// assigns its partitions by hand commits automatically too, as Kafka's does
// (enable.auto.commit does not depend on subscribing): every
// AutoCommitInterval in Poll, and at Close.
func TestAssignedConsumerCommitsAutomatically(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
		defer l.Close()
		fill(t, l, "t", 1, 100)
		c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) {
			o.AutoCommitInterval = 10 * time.Second
			o.MaxPollRecords = 10
		})
		require.NoError(t, c.Assign(tp("t", 0)))
		committed := func() int64 {
			offsets, err := l.GroupOffsets("g")
			require.NoError(t, err)
			if len(offsets) == 0 {
				return -1
			}
			return offsets[0].Committed
		}
		for range 3 {
			_, err := c.Poll(ctx)
			require.NoError(t, err)
		}
		assert.Equal(t, int64(-1), committed(), "nothing before the interval")
		time.Sleep(10 * time.Second)
		pos, err := c.Position(tp("t", 0))
		require.NoError(t, err)
		_, err = c.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, pos, committed(), "the poll after the interval commits what the previous poll returned")
		_, err = c.Poll(ctx)
		require.NoError(t, err)
		pos, err = c.Position(tp("t", 0))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		assert.Equal(t, pos, committed(), "Close commits")

		manual := groupConsumer(t, l, "h", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
		require.NoError(t, manual.Assign(tp("t", 0)))
		_, err = manual.Poll(ctx)
		require.NoError(t, err)
		time.Sleep(10 * time.Second)
		_, err = manual.Poll(ctx)
		require.NoError(t, err)
		require.NoError(t, manual.Close())
		offsets, err := l.GroupOffsets("h")
		require.NoError(t, err)
		assert.Empty(t, offsets, "DisableAutoCommit commits nothing")
	})
}

func TestGroupStaticMemberReturnsWithoutRebalance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 4})
		defer l.Close()
		static := func(id string) func(*eventlog.ConsumerOptions) {
			return func(o *eventlog.ConsumerOptions) {
				o.GroupInstanceID = id
				o.SessionTimeout = 30 * time.Second
			}
		}
		a := groupConsumer(t, l, "g", static("a"))
		b := groupConsumer(t, l, "g", static("b"))
		require.NoError(t, a.Subscribe("t"))
		require.NoError(t, b.Subscribe("t"))
		pollUntil(t, func() bool { return settled(4, a, b) && len(a.Assignment()) == 2 }, nil, a, b)
		before, err := b.GroupMetadata()
		require.NoError(t, err)
		owned := a.Assignment()
		require.NoError(t, a.Close())

		time.Sleep(20 * time.Second)
		a2 := groupConsumer(t, l, "g", static("a"))
		require.NoError(t, a2.Subscribe("t"))
		pollUntil(t, func() bool { return len(a2.Assignment()) == 2 }, nil, a2, b)
		assert.Equal(t, owned, a2.Assignment(), "the returning instance gets its partitions back")
		after, err := b.GroupMetadata()
		require.NoError(t, err)
		assert.Equal(t, before.GenerationID, after.GenerationID, "no rebalance of the others")
		md, err := a2.GroupMetadata()
		require.NoError(t, err)
		assert.Equal(t, before.GenerationID, md.GenerationID)

		// Gone for longer than the session timeout, it is replaced.
		require.NoError(t, a2.Close())
		time.Sleep(31 * time.Second)
		pollUntil(t, func() bool { return len(b.Assignment()) == 4 }, nil, b)
		after, err = b.GroupMetadata()
		require.NoError(t, err)
		assert.Greater(t, after.GenerationID, before.GenerationID)
	})
}

func TestGroupFencesDuplicateInstance(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	static := func(o *eventlog.ConsumerOptions) { o.GroupInstanceID = "x" }
	a := groupConsumer(t, l, "g", static)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return len(a.Assignment()) == 1 }, nil, a)
	a2 := groupConsumer(t, l, "g", static)
	require.NoError(t, a2.Subscribe("t"))
	pollUntil(t, func() bool { return len(a2.Assignment()) == 1 }, nil, a2)
	_, err := a.Poll(ctx)
	require.ErrorIs(t, err, eventlog.ErrFencedInstanceID)
	assert.Empty(t, a.Assignment())
	require.ErrorIs(t, a.CommitSync(ctx), eventlog.ErrFencedInstanceID)
}

func TestGroupOptionsValidated(t *testing.T) {
	l := eventlogtest.New(t, nil)
	for _, o := range []eventlog.ConsumerOptions{
		{GroupInstanceID: "x"},
		{GroupID: "g", MaxPollInterval: -1},
		{GroupID: "g", SessionTimeout: -1},
		{GroupID: "g", AutoCommitInterval: -1},
	} {
		_, err := l.NewConsumer(&o)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%+v", o)
	}
}

func TestGroupInconsistentAssignors(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	a := groupConsumer(t, l, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return len(a.Assignment()) == 1 }, nil, a)
	b := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.Assignor = eventlog.RoundRobinAssignor{} })
	require.NoError(t, b.Subscribe("t"))
	_, err := b.Poll(ctx)
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	assert.True(t, errors.Is(err, eventlog.ErrInvalidConfig))
	_ = slices.Contains[[]int]
}

func TestCommittedOffsetPastLogEndIsLoweredDurably(t *testing.T) {
	// A topic acknowledging at DurabilityOS loses its unsynced records in a
	// power loss; the group's commit of them, fsynced, survives. The
	// committed offset must come back at the log end, and stay there once
	// new records fill the gap.
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	fill(t, l, "t", 1, 10)
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	n := 0
	pollUntil(t, func() bool { return n == 10 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
	require.NoError(t, c.CommitSync(ctx))
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = eventlog.Abandon(l) // its handles died with the crash

	l, err = eventlog.Open("/data", opts)
	require.NoError(t, err)
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	require.Equal(t, int64(0), p.LogEndOffset(), "the records were lost")
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(0), offsets[0].Committed, "lowered to the log end")
	fill(t, l, "t", 1, 15)
	require.NoError(t, l.Close())

	l, err = eventlog.Open("/data", opts)
	require.NoError(t, err)
	defer l.Close()
	offsets, err = l.GroupOffsets("g")
	require.NoError(t, err)
	assert.Equal(t, int64(0), offsets[0].Committed, "the lowered offset was written: new records at 0..14 are not skipped")
	assert.Equal(t, int64(15), offsets[0].Lag)
}

func TestNewOwnerSeesPreviousOwnersAsyncCommit(t *testing.T) {
	// An asynchronous commit is durable only after a background fsync. A
	// partition's next owner must still start at it: the handoff waits for
	// that fsync. Here it is held up at a gate until everyone else is
	// blocked, so a handoff that did not wait would read the older offset.
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		fill(t, l, "t", 2, 10)
		noAuto := func(o *eventlog.ConsumerOptions) {
			o.DisableAutoCommit = true
			o.Assignor = eventlog.CooperativeStickyAssignor{} // a keeps t-0 throughout
		}
		a := groupConsumer(t, l, "g", noAuto)
		require.NoError(t, a.Subscribe("t"))
		pollUntil(t, func() bool { return len(a.Assignment()) == 2 }, nil, a)

		gate := make(chan struct{})
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSync && strings.Contains(name, "__consumer_offsets") {
				<-gate
			}
			return nil
		})
		var callbackErr error
		called := false
		a.CommitAsync(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 1): {Offset: 7}},
			func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
				called, callbackErr = true, err
			})
		b := groupConsumer(t, l, "g", noAuto)
		require.NoError(t, b.Subscribe("t"))
		_, err = b.Poll(ctx) // joins
		require.NoError(t, err)
		_, err = a.Poll(ctx) // revokes t-1
		require.NoError(t, err)
		require.Equal(t, []eventlog.TopicPartition{tp("t", 0)}, a.Assignment())
		assert.False(t, called, "the commit is not durable yet")

		resumed := make(chan int64, 1)
		go func() {
			defer close(resumed)
			for {
				recs, err := b.Poll(ctx)
				if !assert.NoError(t, err) {
					return
				}
				if len(recs) > 0 {
					resumed <- recs[0].Offset
					return
				}
			}
		}()
		synctest.Wait()
		close(gate)
		assert.Equal(t, int64(7), <-resumed)
		fsys.SetFault(nil)
		require.NoError(t, a.Close())
		assert.True(t, called)
		assert.NoError(t, callbackErr)
	})
}

func TestCommittedOffsetsSurviveCompaction(t *testing.T) {
	// __consumer_offsets is compacted: cleaning drops all but the last
	// commit of each partition, and the offsets read back the same.
	clock := newFakeClock()
	dir := t.TempDir()
	opts := &eventlog.Options{Now: clock.Now, SegmentAge: time.Hour, Durability: eventlog.DurabilityOS}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 100)
	c := groupConsumer(t, l, "g", nil)
	for i := range int64(50) {
		require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
			tp("t", 0): {Offset: i + 1},
			tp("t", 1): {Offset: 2 * (i + 1), Metadata: fmt.Sprint(i)},
		}))
		if i%10 == 9 {
			clock.Advance(2 * time.Hour) // the next commit starts a segment
		}
	}
	cfg, err := l.TopicConfig("__consumer_offsets")
	require.NoError(t, err)
	assert.Equal(t, eventlog.CleanupCompact, cfg.CleanupPolicy)
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	p, err := l.Partition("__consumer_offsets", 0)
	require.NoError(t, err)
	assert.Less(t, len(readAll(t, p, 0)), 30, "compaction dropped superseded commits")
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())

	l, err = eventlog.Open(dir, opts)
	require.NoError(t, err)
	defer l.Close()
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 2)
	assert.Equal(t, int64(50), offsets[0].Committed)
	assert.Equal(t, int64(100), offsets[1].Committed)
	assert.Equal(t, "49", offsets[1].Metadata)
}

// While a RebalanceListener or commit callback runs, it may call the
// consumer, but another goroutine may not: its calls are concurrent use, as
// at any other time, and not taken for the listener's.
func TestOtherGoroutineWhileListenerRuns(t *testing.T) {
	l := eventlogtest.NewTopic(t, "a", eventlog.TopicConfig{Partitions: 2})
	fill(t, l, "a", 2, 1)
	tp := eventlog.TopicPartition{Topic: "a"}
	running, resume := make(chan struct{}), make(chan struct{})
	var fromListener []error
	rec := &recorder{onAssigned: func(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
		close(running)
		<-resume
		_, err := c.Position(tp)
		fromListener = append(fromListener, err, c.Seek(tp, 1))
	}}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = rec })
	require.NoError(t, c.Subscribe("a"))
	polled := make(chan error)
	go func() {
		_, err := c.Poll(ctx)
		polled <- err
	}()
	<-running
	checkRefused := func(t *testing.T) {
		t.Helper()
		_, err := c.Poll(ctx)
		assert.ErrorIs(t, err, eventlog.ErrConcurrentUse)
		assert.NotContains(t, err.Error(), "RebalanceListener", "not the listener's call")
		assert.ErrorIs(t, c.Seek(tp, 0), eventlog.ErrConcurrentUse)
		_, err = c.Position(tp)
		assert.ErrorIs(t, err, eventlog.ErrConcurrentUse)
		assert.ErrorIs(t, c.CommitSync(ctx), eventlog.ErrConcurrentUse)
		assert.ErrorIs(t, c.Pause(tp), eventlog.ErrConcurrentUse)
	}
	checkRefused(t)
	close(resume)
	require.NoError(t, <-polled)
	assert.Equal(t, []error{nil, nil}, fromListener, "the listener's own calls go through")
	pos, err := c.Position(tp)
	require.NoError(t, err)
	assert.Equal(t, int64(1), pos, "the listener's Seek")
	assert.Empty(t, c.Paused(), "the other goroutine's Pause did not happen")

	// A commit callback likewise, here run by the CommitAsync itself.
	running, resume = make(chan struct{}), make(chan struct{})
	var fromCallback []error
	go func() {
		c.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
			close(running)
			<-resume
			fromCallback = append(fromCallback, err, c.Seek(tp, 0))
		})
		polled <- nil
	}()
	<-running
	checkRefused(t)
	close(resume)
	<-polled
	assert.Equal(t, []error{nil, nil}, fromCallback, "the commit and the callback's Seek")
	pos, err = c.Position(tp)
	require.NoError(t, err)
	assert.Equal(t, int64(0), pos, "the callback's Seek")
}

// A commit callback run inside a RebalanceListener (by its CommitAsync)
// leaves the listener free to go on calling the consumer.
func TestCommitCallbackInsideListener(t *testing.T) {
	l := eventlogtest.NewTopic(t, "a", eventlog.TopicConfig{Partitions: 1})
	fill(t, l, "a", 1, 3)
	tp := eventlog.TopicPartition{Topic: "a"}
	var errs []error
	rec := &recorder{onAssigned: func(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
		c.CommitAsync(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: 1}},
			func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
				errs = append(errs, err, c.Seek(tp, 1))
			})
		errs = append(errs, c.Seek(tp, 2))
	}}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = rec })
	require.NoError(t, c.Subscribe("a"))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, []error{nil, nil, nil}, errs, "the commit, the callback's Seek, then the listener's")
	require.NotEmpty(t, recs)
	assert.Equal(t, int64(2), recs[0].Offset, "the listener's Seek")
}

// Close from a RebalanceListener or commit callback, which would wait
// forever for the Poll around it, is refused; the consumer goes on, and
// closes later.
func TestCloseFromListener(t *testing.T) {
	l := eventlogtest.NewTopic(t, "a", eventlog.TopicConfig{Partitions: 1})
	fill(t, l, "a", 1, 3)
	var errs []error
	rec := &recorder{onAssigned: func(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
		errs = append(errs, c.Close())
		c.CommitAsync(nil, func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, error) {
			errs = append(errs, c.Close())
		})
	}}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = rec })
	require.NoError(t, c.Subscribe("a"))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 3)
	require.Len(t, errs, 2)
	for _, err := range errs {
		assert.ErrorIs(t, err, eventlog.ErrConcurrentUse)
		assert.ErrorContains(t, err, "Close from a RebalanceListener")
	}
	require.NoError(t, c.Close())
	_, err = c.Poll(ctx)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
}

// A RebalanceListener that calls what would poll or change the
// subscription gets an error instead of a panic later in the Poll around
// it.
func TestListenerCallsThatWouldRebalance(t *testing.T) {
	l := eventlogtest.NewTopic(t, "a", eventlog.TopicConfig{Partitions: 2})
	fill(t, l, "a", 2, 1)
	var errs []error
	rec := &recorder{onAssigned: func(ctx context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
		_, err := c.Poll(ctx)
		errs = append(errs, err)
		errs = append(errs, c.Unsubscribe(), c.Subscribe("a"), c.Assign(eventlog.TopicPartition{Topic: "a"}))
		for _, err := range c.Records(ctx) {
			errs = append(errs, err)
			break
		}
	}}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = rec })
	require.NoError(t, c.Subscribe("a"))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 2, "the Poll goes on with its partitions")
	require.Len(t, errs, 5)
	for _, err := range errs {
		assert.ErrorIs(t, err, eventlog.ErrConcurrentUse)
		assert.ErrorContains(t, err, "from a RebalanceListener")
	}
}
