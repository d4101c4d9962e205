package eventlog_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// Consumer groups while their topics are deleted and created again.

func TestDeleteTopicDeletesCommitsNotYetDurable(t *testing.T) {
	// An asynchronous commit is applied once a background fsync makes it
	// durable. One of a topic that is deleted before then must not come
	// back as the committed offset of the topic created next under the
	// same name: its consumers would skip that topic's first records.
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		fill(t, l, "t", 1, 10)
		a := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
		require.NoError(t, a.Assign(tp("t", 0)))
		recs, err := a.Poll(ctx)
		require.NoError(t, err)
		require.Len(t, recs, 10)
		// Another group's commit creates __consumer_offsets.
		commitOffsets(t, l, "other", map[eventlog.TopicPartition]int64{tp("t", 0): 0})

		gate := make(chan struct{})
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSync && strings.Contains(name, "__consumer_offsets") {
				<-gate
			}
			return nil
		})
		a.CommitAsync(nil, nil)
		deleted := make(chan error, 1)
		go func() { deleted <- l.DeleteTopic(ctx, "t") }()
		synctest.Wait()
		close(gate)
		require.NoError(t, <-deleted)
		fsys.SetFault(nil)
		require.NoError(t, a.Close())

		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		fill(t, l, "t", 1, 20)
		offsets, err := l.GroupOffsets("g")
		require.NoError(t, err)
		assert.Empty(t, offsets, "the deleted topic's commit is gone")
		b := groupConsumer(t, l, "g", nil)
		require.NoError(t, b.Assign(tp("t", 0)))
		recs, err = b.Poll(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Equal(t, int64(0), recs[0].Offset, "the new topic is read from its start")
	})
}

func TestCooperativeMemberCommitsTopicCreatedAgain(t *testing.T) {
	// A cooperative member that holds a partition of a topic deleted and
	// created again between two of its polls keeps the partition: the new
	// topic's. Its automatic commits must not take the position it
	// committed of the old topic for one of the new: at Close it commits
	// where it is, and the next member starts there.
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	fill(t, l, "t", 1, 10)
	coop := func(o *eventlog.ConsumerOptions) { o.Assignor = eventlog.CooperativeStickyAssignor{} }
	a := groupConsumer(t, l, "g", coop)
	require.NoError(t, a.Subscribe("t"))
	n := 0
	pollUntil(t, func() bool { return n == 10 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, a)
	require.NoError(t, a.CommitSync(ctx))

	require.NoError(t, l.DeleteTopic(ctx, "t"))
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 10)
	n = 0
	pollUntil(t, func() bool { return n == 10 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, a)
	require.Equal(t, []eventlog.TopicPartition{tp("t", 0)}, a.Assignment())
	fill(t, l, "t", 1, 5)
	require.NoError(t, a.Close())
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	if assert.Len(t, offsets, 1, "Close committed the position in the new topic") {
		assert.Equal(t, int64(10), offsets[0].Committed)
	}

	b := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) {
		coop(o)
		o.AutoOffsetReset = eventlog.OffsetResetLatest
	})
	require.NoError(t, b.Subscribe("t"))
	var first []int64
	pollUntil(t, func() bool { return len(first) > 0 }, func(_ *eventlog.Consumer, r eventlog.Record) { first = append(first, r.Offset) }, b)
	assert.Equal(t, int64(10), first[0], "b starts where a left off")
}

// cooperative makes a consumer use the cooperative-sticky assignor and
// tell r of its rebalances.
func cooperative(r *recorder) func(*eventlog.ConsumerOptions) {
	return func(o *eventlog.ConsumerOptions) {
		o.Assignor = eventlog.CooperativeStickyAssignor{}
		o.RebalanceListener = r
	}
}

// deleteAtFirstRevocation is an OnPartitionsRevoked that deletes topic the
// first time it runs, and then sets *deleted.
func deleteAtFirstRevocation(t *testing.T, l *eventlog.Log, topic string, deleted *bool) func(context.Context, *eventlog.Consumer, []eventlog.TopicPartition) {
	return func(context.Context, *eventlog.Consumer, []eventlog.TopicPartition) {
		if !*deleted {
			*deleted = true
			assert.NoError(t, l.DeleteTopic(ctx, topic))
		}
	}
}

func TestTopicDeletedDuringRebalance(t *testing.T) {
	// A topic deleted while a member applies a rebalance — here from its
	// OnPartitionsRevoked, as another goroutine could at any time — is not
	// the member's error: it skips the topic's partitions until the group
	// takes them away, and the partitions it revoked go to their new owner.
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	var deleted bool
	ra := &recorder{onRevoked: deleteAtFirstRevocation(t, l, "u", &deleted)}
	a := groupConsumer(t, l, "g", cooperative(ra))
	require.NoError(t, a.Subscribe("t", "u"))
	pollUntil(t, func() bool { return len(a.Assignment()) == 3 }, nil, a)

	b := groupConsumer(t, l, "g", cooperative(&recorder{}))
	require.NoError(t, b.Subscribe("t"))
	_, err := b.Poll(ctx) // joins
	require.NoError(t, err)
	_, err = a.Poll(ctx) // revokes a partition of t, keeps u-0, which goes meanwhile
	require.NoError(t, err)
	require.True(t, deleted)
	pollUntil(t, func() bool { return settled(2, a, b) && len(b.Assignment()) == 1 }, nil, a, b)
	assert.Len(t, a.Assignment(), 1)
	events := ra.take()
	revokedT1 := slices.DeleteFunc(slices.Clone(events), func(e string) bool {
		return !strings.HasPrefix(e, "revoked") || !strings.Contains(e, "t-1")
	})
	assert.Len(t, revokedT1, 1, "t-1 is revoked once: %v", events)
}

func TestDeleteTopicDeletesOffsetsOfOpenTransaction(t *testing.T) {
	// Offsets sent to a transaction wait for its marker. Those of a topic
	// deleted while the transaction is open must not become, at the
	// marker, the committed offsets of the topic created next under the
	// same name, neither now nor after a reopen, which replays the
	// marker after DeleteTopic's tombstones; nor keep a consumer of the new
	// topic waiting for the transaction. The transaction's offsets of
	// other topics are committed as usual.
	dir := t.TempDir()
	l := txnLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("keep", eventlog.TopicConfig{}))
	fill(t, l, "in", 2, 10)
	fill(t, l, "keep", 1, 10)
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "o")
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		tp("in", 0): {Offset: 4}, tp("in", 1): {Offset: 6}, tp("keep", 0): {Offset: 3},
	}, eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
	require.NoError(t, l.DeleteTopic(ctx, "in"))
	require.NoError(t, l.CreateTopic("in", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "in", 2, 10)
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, c.Assign(tp("in", 0)))
	if pos, err := c.Position(tp("in", 0)); assert.NoError(t, err, "the new topic's offset is not pending in the transaction") {
		assert.Equal(t, int64(0), pos)
	}
	require.NoError(t, c.Close())
	require.NoError(t, p.CommitTransaction(ctx))

	check := func(l *eventlog.Log, when string) {
		t.Helper()
		offsets, err := l.GroupOffsets("g")
		require.NoError(t, err)
		var got []string
		for _, o := range offsets {
			got = append(got, fmt.Sprintf("%s=%d", o.TopicPartition, o.Committed))
		}
		assert.Equal(t, []string{fmt.Sprintf("%s=3", tp("keep", 0))}, got, "%s: the group's committed offsets", when)
		c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
		require.NoError(t, c.Assign(tp("in", 0)))
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		if assert.NotEmpty(t, recs, when) {
			assert.Equal(t, int64(0), recs[0].Offset, "%s: the new topic is read from its start", when)
		}
		require.NoError(t, c.Close())
	}
	check(l, "before reopening")
	require.NoError(t, p.Close())
	require.NoError(t, l.Close())
	check(openLog(t, dir, nil), "after reopening")
}

func TestAssignedListenerLeavesOutDeletedTopic(t *testing.T) {
	// A partition granted to a member whose topic is deleted before the
	// member applies the grant — here from its OnPartitionsRevoked of the
	// same rebalance — is skipped: OnPartitionsAssigned must not list it,
	// since the consumer never reads it and no OnPartitionsRevoked will
	// ever tell of it. The listener's partitions are in Assignment.
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	var deleted bool
	ra := &recorder{
		onRevoked: deleteAtFirstRevocation(t, l, "u", &deleted),
		onAssigned: func(_ context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
			assert.Subset(t, c.Assignment(), tps, "the partitions the listener is told of are assigned")
		},
	}
	a := groupConsumer(t, l, "g", cooperative(ra))
	require.NoError(t, a.Subscribe("t", "u"))
	pollUntil(t, func() bool { return len(a.Assignment()) == 2 }, nil, a)
	ra.take()

	// u appears and b joins: a is granted u-0 at once, and must give b a
	// partition of t, all in a's next Poll.
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	b := groupConsumer(t, l, "g", cooperative(&recorder{}))
	require.NoError(t, b.Subscribe("t"))
	_, err := b.Poll(ctx) // joins
	require.NoError(t, err)
	_, err = a.Poll(ctx) // revokes a partition of t, deleting u, then applies the grant of u-0
	require.NoError(t, err)
	require.True(t, deleted, "a revoked a partition")
	events := ra.take()
	for _, e := range events {
		assert.NotContains(t, e, "u-0", "a never reads u-0: %v", events)
	}
	pollUntil(t, func() bool { return settled(2, a, b) }, nil, a, b)
	assert.NotContains(t, a.Assignment(), tp("u", 0))
	for _, e := range ra.take() {
		assert.NotContains(t, e, "u-0", "nor is told of it later")
	}
}

func TestCommitSyncLeavesOutTopicDeletedDuringCommit(t *testing.T) {
	// A subscribed member leaves a deleted topic's partitions out of its
	// commits. A topic deleted after CommitSync took the positions, while
	// it commits them, is left out too: the positions of the other topics
	// are committed, and CommitSync succeeds, rather than failing whole
	// with ErrTopicNotFound because of a topic nobody asked it to commit.
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 3)
	fill(t, l, "u", 1, 3)
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, c.Subscribe("t", "u"))
	read := 0
	pollUntil(t, func() bool { return read == 6 }, func(*eventlog.Consumer, eventlog.Record) { read++ }, c)

	deletes := 0
	eventlog.SetCommitHook(l, func() {
		if deletes++; deletes == 1 {
			require.NoError(t, l.DeleteTopic(ctx, "u"))
		}
	})
	defer eventlog.SetCommitHook(l, nil)
	require.NoError(t, c.CommitSync(ctx))
	require.Positive(t, deletes, "u was deleted during the commit")
	committed, err := l.CommittedOffsets("g", []eventlog.TopicPartition{tp("t", 0), tp("u", 0)})
	require.NoError(t, err)
	assert.Equal(t, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 3}}, committed)
}

func TestViewsSkipTopicDeletedWhileTheyPlan(t *testing.T) {
	// A subscribed member skips the partitions of a topic deleted under
	// it. One deleted after Views passed its deletion check, as it
	// resolves the partition's position, is skipped too: Views yields the
	// other topics' records and ends without ErrTopicNotFound.
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.Subscribe("t", "u"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	fill(t, l, "t", 1, 3)

	up, err := l.Partition("u", 0)
	require.NoError(t, err)
	deleted := make(chan error, 1)
	hooked := false
	eventlog.SetPositionHook(l, func(tp eventlog.TopicPartition) {
		if tp.Topic != "u" || hooked {
			return
		}
		hooked = true
		// DeleteTopic waits for the read in flight, so it runs beside it;
		// the read goes on once u's partition is marked deleted.
		go func() { deleted <- l.DeleteTopic(ctx, "u") }()
		require.ErrorIs(t, up.Wait(ctx, up.HighWatermark()), eventlog.ErrTopicNotFound)
	})
	defer eventlog.SetPositionHook(l, nil)
	n := 0
	for _, err := range c.Views(ctx) {
		require.NoError(t, err)
		n++
	}
	require.True(t, hooked, "u was deleted during the loop")
	require.NoError(t, <-deleted)
	assert.Equal(t, 3, n, "t's records")
}
