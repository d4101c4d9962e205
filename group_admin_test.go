package eventlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

func committed(t *testing.T, l *eventlog.Log, group string) map[eventlog.TopicPartition]int64 {
	t.Helper()
	offsets, err := l.GroupOffsets(group)
	require.NoError(t, err)
	out := make(map[eventlog.TopicPartition]int64, len(offsets))
	for _, o := range offsets {
		out[o.TopicPartition] = o.Committed
	}
	return out
}

// committedOnly returns the offset group committed for the one partition
// it committed.
func committedOnly(t *testing.T, l *eventlog.Log, group string) int64 {
	t.Helper()
	offsets := committed(t, l, group)
	require.Len(t, offsets, 1)
	var only int64
	for _, o := range offsets {
		only = o
	}
	return only
}

func TestDeleteGroup(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 5)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 3, tp("t", 1): 5})
	commitFor(t, l, "h", map[eventlog.TopicPartition]int64{tp("t", 0): 1})

	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	assert.ErrorIs(t, l.DeleteGroup(ctx, "g"), eventlog.ErrGroupNotEmpty)
	require.NoError(t, c.Close())

	require.NoError(t, l.DeleteGroup(ctx, "g"))
	assert.Empty(t, committed(t, l, "g"))
	assert.ErrorIs(t, l.DeleteGroup(ctx, "g"), eventlog.ErrGroupNotFound)
	_, err := l.DescribeGroup("g")
	assert.ErrorIs(t, err, eventlog.ErrGroupNotFound)
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"h"}, groups)

	// A member joining afterwards starts from auto.offset.reset.
	c = groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	var n int
	pollUntil(t, func() bool { return n == 10 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
	require.NoError(t, c.Close())

	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 1}, committed(t, l, "h"))
	assert.Len(t, committed(t, l, "g"), 2, "the new member committed when it closed")
}

func TestDeleteGroupDeletesOffsetsOfOpenTransaction(t *testing.T) {
	// An offset pending in an open transaction goes with the group, as with
	// Kafka's DeleteGroups, whether or not the group has a committed offset
	// of its partition, or any committed offset at all: the marker, after
	// the tombstone, does not bring it back, neither now nor after a
	// reopen.
	for _, c := range []struct {
		name      string
		committed map[eventlog.TopicPartition]int64
	}{
		{"committed too", map[eventlog.TopicPartition]int64{tp("in", 0): 2}},
		{"another partition committed", map[eventlog.TopicPartition]int64{tp("in", 1): 2}},
		{"only pending", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := txnLog(t, dir, nil)
			fill(t, l, "in", 2, 10)
			if c.committed != nil {
				commitFor(t, l, "g", c.committed)
			}
			p := txnProducer(t, l, "tx")
			require.NoError(t, p.BeginTransaction())
			send(t, p, "out", 0, "o")
			require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("in", 0): {Offset: 4}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
			require.NoError(t, l.DeleteGroup(ctx, "g"))
			require.NoError(t, p.CommitTransaction(ctx))
			assert.Empty(t, committed(t, l, "g"))

			require.NoError(t, p.Close())
			require.NoError(t, l.Close())
			l = openLog(t, dir, nil)
			assert.Empty(t, committed(t, l, "g"), "after reopening")
		})
	}
}

func TestResetGroupOffsets(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	for id := range int32(2) {
		appendN(t, partition(t, l, "t", id), 10, eventlog.AppendOptions{})
	}
	clk.Advance(time.Hour)
	midway := clk.Now()
	for id := range int32(2) {
		appendN(t, partition(t, l, "t", id), 10, eventlog.AppendOptions{})
	}
	appendN(t, partition(t, l, "u", 0), 4, eventlog.AppendOptions{})
	_, err := l.DeleteRecords(ctx, "t", 1, 3)
	require.NoError(t, err)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 15, tp("t", 1): 15, tp("u", 0): 2})

	plan := func(got []eventlog.GroupPartitionOffset) map[eventlog.TopicPartition]int64 {
		out := map[eventlog.TopicPartition]int64{}
		for _, o := range got {
			out[o.TopicPartition] = o.Committed
			assert.Equal(t, o.HighWatermark-o.Committed, o.Lag)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		spec eventlog.ResetOffsetsSpec
		want map[eventlog.TopicPartition]int64
	}{
		{"earliest, all topics", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest},
			map[eventlog.TopicPartition]int64{tp("t", 0): 0, tp("t", 1): 3, tp("u", 0): 0}},
		{"latest, one topic", eventlog.ResetOffsetsSpec{To: eventlog.ResetToLatest, Topics: []string{"t"}},
			map[eventlog.TopicPartition]int64{tp("t", 0): 20, tp("t", 1): 20}},
		{"time", eventlog.ResetOffsetsSpec{To: eventlog.ResetToTime, Time: midway, Topics: []string{"t"}},
			map[eventlog.TopicPartition]int64{tp("t", 0): 10, tp("t", 1): 10}},
		{"time after every record", eventlog.ResetOffsetsSpec{To: eventlog.ResetToTime, Time: midway.Add(time.Hour), Partitions: []eventlog.TopicPartition{tp("u", 0)}},
			map[eventlog.TopicPartition]int64{tp("u", 0): 4}},
		{"offset, clamped", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: 1, Partitions: []eventlog.TopicPartition{tp("t", 0), tp("t", 1)}},
			map[eventlog.TopicPartition]int64{tp("t", 0): 1, tp("t", 1): 3}},
		{"offset past the end", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: 99, Partitions: []eventlog.TopicPartition{tp("u", 0)}},
			map[eventlog.TopicPartition]int64{tp("u", 0): 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := committed(t, l, "g")
			dry := tc.spec
			dry.DryRun = true
			got, err := l.ResetGroupOffsets(ctx, "g", dry)
			require.NoError(t, err)
			assert.Equal(t, tc.want, plan(got))
			assert.Equal(t, before, committed(t, l, "g"), "a dry run commits nothing")

			got, err = l.ResetGroupOffsets(ctx, "g", tc.spec)
			require.NoError(t, err)
			assert.Equal(t, tc.want, plan(got))
			after := committed(t, l, "g")
			for tp, o := range tc.want {
				assert.Equal(t, o, after[tp], "%s", tp)
			}
		})
	}

	// A member resumes from the reset offsets.
	_, err = l.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: 18, Topics: []string{"t"}})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	assert.Equal(t, int64(18), committed(t, l, "g")[tp("t", 0)], "the reset is durable")
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	var offsets []int64
	pollUntil(t, func() bool { return len(offsets) == 4 }, func(_ *eventlog.Consumer, r eventlog.Record) { offsets = append(offsets, r.Offset) }, c)
	assert.ElementsMatch(t, []int64{18, 19, 18, 19}, offsets)
	_, err = l.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest})
	assert.ErrorIs(t, err, eventlog.ErrGroupNotEmpty)
}

func TestResetGroupOffsetsDryRunWritesNothing(t *testing.T) {
	// A dry run only plans. On a Log where no group committed yet, it must
	// not create __consumer_offsets for it, nor change anything else on
	// disk, and its plan is the same.
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{RecoveryPointInterval: time.Hour}) // no checkpoint meanwhile
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 5)
	before := dirState(t, dir)

	plan, err := l.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: 3, Topics: []string{"t"}, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, []eventlog.GroupPartitionOffset{
		{TopicPartition: tp("t", 0), Committed: 3, HighWatermark: 5, Lag: 2},
		{TopicPartition: tp("t", 1), Committed: 3, HighWatermark: 5, Lag: 2},
	}, plan)
	plan, err = l.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest, DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, plan, "no committed offsets: nothing selected")
	_, err = l.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest, Topics: []string{"nope"}, DryRun: true})
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)

	assert.Equal(t, before, dirState(t, dir), "a dry run changes nothing on disk")
	_, err = l.TopicConfig("__consumer_offsets")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.Empty(t, committed(t, l, "g"))
}

func TestGroupAdminForgetsUnknownGroups(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 3)
	// An open consumer of the group holds it in memory.
	holder := groupConsumer(t, l, "g", nil)
	require.NoError(t, holder.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 1}}))
	before := eventlog.CoordinatorGroups(l)
	require.Equal(t, []string{"g"}, before)

	for i := range 100 {
		name := fmt.Sprintf("unknown-%d", i)
		assert.ErrorIs(t, l.DeleteGroup(ctx, name), eventlog.ErrGroupNotFound)
		_, err := l.ResetGroupOffsets(ctx, name, eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest, Topics: []string{"t"}, DryRun: true})
		assert.NoError(t, err)
		_, err = l.ResetGroupOffsets(ctx, name, eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest})
		assert.NoError(t, err, "no committed offsets: nothing to reset")
		_, err = l.ResetGroupOffsets(ctx, name, eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest, Topics: []string{"nope"}})
		assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
		assert.ErrorIs(t, l.CommitGroupOffsets(ctx, name, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("nope", 0): {Offset: 1}}), eventlog.ErrTopicNotFound)
	}
	assert.Equal(t, before, eventlog.CoordinatorGroups(l), "the coordinator holds entries for groups it was only asked about")
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, groups)

	// Commits from outside a group, as Kafka's OffsetCommit without a
	// member sends them, make it a group with committed offsets, and leave
	// no entry in memory either.
	for i := range 10 {
		offsets := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: int64(i % 4)}}
		assert.NoError(t, l.CommitGroupOffsets(ctx, fmt.Sprintf("outside-%d", i), offsets))
	}
	assert.Equal(t, before, eventlog.CoordinatorGroups(l))
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 3}, committed(t, l, "outside-7"))
	groups, err = l.Groups()
	require.NoError(t, err)
	assert.Len(t, groups, 11)

	// A group of one of those names, made by a reset and deleted, leaves
	// nothing either; a member joining it afterwards works as in any group.
	_, err = l.ResetGroupOffsets(ctx, "unknown-0", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: 2, Topics: []string{"t"}})
	require.NoError(t, err)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 2}, committed(t, l, "unknown-0"))
	require.NoError(t, l.DeleteGroup(ctx, "unknown-0"))
	assert.Equal(t, before, eventlog.CoordinatorGroups(l))
	_, err = l.ResetGroupOffsets(ctx, "unknown-0", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: 2, Topics: []string{"t"}})
	require.NoError(t, err)
	c := groupConsumer(t, l, "unknown-0", nil)
	require.NoError(t, c.Subscribe("t"))
	var offsets []int64
	pollUntil(t, func() bool { return len(offsets) == 1 }, func(_ *eventlog.Consumer, r eventlog.Record) { offsets = append(offsets, r.Offset) }, c)
	assert.Equal(t, []int64{2}, offsets, "the member starts at the reset offset")
	_, err = l.ResetGroupOffsets(ctx, "unknown-0", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest})
	assert.ErrorIs(t, err, eventlog.ErrGroupNotEmpty)
	assert.ErrorIs(t, l.DeleteGroup(ctx, "unknown-0"), eventlog.ErrGroupNotEmpty)
	d, err := l.DescribeGroup("unknown-0")
	require.NoError(t, err)
	assert.Equal(t, eventlog.GroupStable, d.State)
	assert.Len(t, d.Members, 1)
	require.NoError(t, c.Close())
	require.NoError(t, l.DeleteGroup(ctx, "unknown-0"))
}

func TestDescribeGroup(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 3}))
	fill(t, l, "t", 3, 4)
	a := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.GroupInstanceID = "alpha" })
	b := groupConsumer(t, l, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	require.NoError(t, b.Subscribe("t"))
	pollUntil(t, func() bool { return settled(3, a, b) }, nil, a, b)
	require.NoError(t, a.CommitSync(ctx))
	require.NoError(t, b.CommitSync(ctx))

	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Equal(t, "g", d.GroupID)
	assert.Equal(t, eventlog.GroupStable, d.State)
	assert.Equal(t, "range", d.Assignor)
	mdA, err := a.GroupMetadata()
	require.NoError(t, err)
	mdB, err := b.GroupMetadata()
	require.NoError(t, err)
	assert.Equal(t, mdA.GenerationID, d.Generation)
	require.Len(t, d.Members, 2)
	byID := map[string]eventlog.GroupMemberDescription{}
	for _, m := range d.Members {
		byID[m.MemberID] = m
		assert.Equal(t, []string{"t"}, m.Topics)
	}
	assert.Equal(t, "alpha", byID[mdA.MemberID].GroupInstanceID)
	assert.ElementsMatch(t, a.Assignment(), byID[mdA.MemberID].Assignment)
	assert.ElementsMatch(t, b.Assignment(), byID[mdB.MemberID].Assignment)
	require.Len(t, d.Offsets, 3)
	for _, o := range d.Offsets {
		assert.Equal(t, int64(4), o.Committed)
		assert.Zero(t, o.Lag)
	}

	fill(t, l, "t", 3, 1)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	d, err = l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Equal(t, eventlog.GroupStable, d.State, "the static member stays for its session timeout")
	assert.Len(t, d.Members, 1)
	for _, o := range d.Offsets {
		assert.Equal(t, int64(1), o.Lag)
	}
}

func TestGroupAdminRefusesBadInput(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 3)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 1})
	reset := func(group string, spec eventlog.ResetOffsetsSpec) func() error {
		return func() error { _, err := l.ResetGroupOffsets(ctx, group, spec); return err }
	}
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"delete empty group ID", func() error { return l.DeleteGroup(ctx, "") }, eventlog.ErrInvalidConfig},
		{"delete unknown group", func() error { return l.DeleteGroup(ctx, "nope") }, eventlog.ErrGroupNotFound},
		{"describe empty group ID", func() error { _, err := l.DescribeGroup(""); return err }, eventlog.ErrInvalidConfig},
		{"describe unknown group", func() error { _, err := l.DescribeGroup("nope"); return err }, eventlog.ErrGroupNotFound},
		{"reset without target", reset("g", eventlog.ResetOffsetsSpec{}), eventlog.ErrInvalidConfig},
		{"reset bad target", reset("g", eventlog.ResetOffsetsSpec{To: 99}), eventlog.ErrInvalidConfig},
		{"reset to time without time", reset("g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToTime}), eventlog.ErrInvalidConfig},
		{"reset to negative offset", reset("g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToOffset, Offset: -1}), eventlog.ErrOffsetOutOfRange},
		{"reset missing topic", reset("g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToLatest, Topics: []string{"nope"}}), eventlog.ErrTopicNotFound},
		{"reset missing partition", reset("g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToLatest, Partitions: []eventlog.TopicPartition{tp("t", 4)}}), eventlog.ErrPartitionNotFound},
		{"reset empty group ID", reset("", eventlog.ResetOffsetsSpec{To: eventlog.ResetToLatest}), eventlog.ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, tc.call(), tc.want)
		})
	}
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 1}, committed(t, l, "g"), "nothing changed")

	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.DeleteGroup(ctx, "g"), eventlog.ErrClosed)
	_, err := l.DescribeGroup("g")
	assert.ErrorIs(t, err, eventlog.ErrClosed)
	assert.ErrorIs(t, reset("g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToLatest})(), eventlog.ErrClosed)
}

func TestCrashDuringDeleteGroup(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: crashSetup,
		op:    func(l *eventlog.Log) error { return l.DeleteGroup(ctx, "g") },
		state: logState,
	})
}

func TestCrashDuringResetGroupOffsets(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: crashSetup,
		op: func(l *eventlog.Log) error {
			_, err := l.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest})
			return err
		},
		state: logState,
	})
}
