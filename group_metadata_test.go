package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
)

// groupMetadataRecords returns the group metadata records in
// __consumer_offsets, decoded with kmsg; a tombstone has a nil value.
func groupMetadataRecords(t *testing.T, l *eventlog.Log) []*kmsg.GroupMetadataValue {
	t.Helper()
	var out []*kmsg.GroupMetadataValue
	for _, r := range readAll(t, partition(t, l, "__consumer_offsets", 0), 0) {
		if r.Key[1] != 2 {
			continue
		}
		var k kmsg.GroupMetadataKey
		require.NoError(t, k.ReadFrom(r.Key))
		if r.Value == nil {
			out = append(out, nil)
			continue
		}
		v := new(kmsg.GroupMetadataValue)
		require.NoError(t, v.ReadFrom(r.Value))
		out = append(out, v)
	}
	return out
}

func describe(t *testing.T, l *eventlog.Log, group string) eventlog.GroupDescription {
	t.Helper()
	d, err := l.DescribeGroup(group)
	require.NoError(t, err)
	return d
}

// A writer that crashes with members leaves them described by the next
// process, which continues the group's generations; an empty group is
// described as empty.
func TestGroupMetadataSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := &eventlog.Options{Now: clk.Now, Durability: eventlog.DurabilityOS}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 4}))
	fill(t, l, "t", 4, 3)
	a := groupConsumer(t, l, "g", nil)
	b := groupConsumer(t, l, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	require.NoError(t, b.Subscribe("t"))
	pollUntil(t, func() bool { return settled(4, a, b) }, nil, a, b)
	eventlog.WriteGroupMetadata(l, "g")
	live := describe(t, l, "g")
	assert.False(t, live.Stored)
	require.Len(t, live.Members, 2)
	assert.Equal(t, "in-process", live.Members[0].ClientID)
	assert.Len(t, live.Members[0].Assignment, 2)
	require.NoError(t, eventlog.Abandon(l)) // a crash, members and all

	clk.Advance(time.Minute)
	l, err = eventlog.Open(dir, opts)
	require.NoError(t, err)
	defer l.Close()
	stored := describe(t, l, "g")
	assert.True(t, stored.Stored)
	assert.Equal(t, eventlog.GroupStable, stored.State)
	assert.Equal(t, live.Generation, stored.Generation)
	assert.Equal(t, "range", stored.Assignor)
	assert.Equal(t, live.Members, stored.Members, "members, clients, topics and assignment as they were")
	assert.Equal(t, clk.Now().Add(-time.Minute), stored.StoredAt)
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, groups)

	// A member joining here takes over: described live, in the next
	// generation.
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return settled(4, c) }, nil, c)
	now := describe(t, l, "g")
	assert.False(t, now.Stored)
	assert.Equal(t, live.Generation+1, now.Generation)
	require.Len(t, now.Members, 1)
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())

	l, err = eventlog.Open(dir, opts)
	require.NoError(t, err)
	defer l.Close()
	empty := describe(t, l, "g")
	assert.True(t, empty.Stored)
	assert.Equal(t, eventlog.GroupEmpty, empty.State)
	assert.Equal(t, live.Generation+1, empty.Generation)
	assert.Empty(t, empty.Members)
	assert.Empty(t, empty.Assignor)
}

// A read-only Log follows a writer's rebalances at each Refresh.
func TestGroupMetadataReadOnlyFollowsRebalances(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, w, "t", 2, 3)
	a := groupConsumer(t, w, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return settled(2, a) }, nil, a)
	eventlog.WriteGroupMetadata(w, "g")
	metadataBefore := len(groupMetadataRecords(t, w))

	ro := openLog(t, dir, &eventlog.Options{ReadOnly: true})
	one := describe(t, ro, "g")
	assert.True(t, one.Stored)
	require.Len(t, one.Members, 1)
	assert.Equal(t, []eventlog.TopicPartition{tp("t", 0), tp("t", 1)}, one.Members[0].Assignment)

	// A second member: the partitions are split, as the read-only Log
	// sees once it refreshes.
	b := groupConsumer(t, w, "g", nil)
	require.NoError(t, b.Subscribe("t"))
	pollUntil(t, func() bool { return settled(2, a, b) }, nil, a, b)
	eventlog.WriteGroupMetadata(w, "g")
	assert.Len(t, groupMetadataRecords(t, w), metadataBefore+1, "one record for the rebalance")
	assert.Equal(t, one, describe(t, ro, "g"), "nothing changes before Refresh")
	require.NoError(t, ro.Refresh())
	two := describe(t, ro, "g")
	assert.True(t, two.Stored)
	assert.Equal(t, eventlog.GroupStable, two.State)
	assert.Equal(t, one.Generation+1, two.Generation)
	require.Len(t, two.Members, 2)
	assert.Len(t, two.Members[0].Assignment, 1)
	assert.Len(t, two.Members[1].Assignment, 1)
	assert.ElementsMatch(t, []eventlog.TopicPartition{tp("t", 0), tp("t", 1)},
		append(two.Members[0].Assignment, two.Members[1].Assignment...))
	assert.Equal(t, describe(t, w, "g").Members, two.Members, "as the writer describes it live")

	// The second member leaves; then the first.
	require.NoError(t, b.Close())
	pollUntil(t, func() bool { return settled(2, a) }, nil, a)
	eventlog.WriteGroupMetadata(w, "g")
	require.NoError(t, ro.Refresh())
	back := describe(t, ro, "g")
	require.Len(t, back.Members, 1)
	assert.Equal(t, one.Members[0].MemberID, back.Members[0].MemberID)
	assert.Len(t, back.Members[0].Assignment, 2)
	require.NoError(t, a.Close())
	require.NoError(t, ro.Refresh())
	empty := describe(t, ro, "g")
	assert.Equal(t, eventlog.GroupEmpty, empty.State)
	assert.Empty(t, empty.Members)
	assert.NotEmpty(t, empty.Offsets, "the members committed when they closed")

	// DeleteGroup's tombstone reaches the reader too.
	require.NoError(t, w.DeleteGroup(ctx, "g"))
	require.NoError(t, ro.Refresh())
	_, err := ro.DescribeGroup("g")
	assert.ErrorIs(t, err, eventlog.ErrGroupNotFound)
	groups, err := ro.Groups()
	require.NoError(t, err)
	assert.Empty(t, groups)
}

// A group whose members never committed is listed, described and deleted
// by its metadata; the deletion is a tombstone, durable across a reopen.
func TestDeleteGroupWritesMetadataTombstone(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return settled(1, c) }, nil, c)
	eventlog.WriteGroupMetadata(l, "g") // else Close's snapshot replaces it
	require.NoError(t, c.Close())
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, groups, "listed by its metadata alone")

	require.NoError(t, l.DeleteGroup(ctx, "g"))
	records := groupMetadataRecords(t, l)
	require.Len(t, records, 3, "joined, emptied, deleted")
	assert.Len(t, records[0].Members, 1)
	assert.Empty(t, records[1].Members)
	assert.Nil(t, records[2], "a tombstone")
	groups, err = l.Groups()
	require.NoError(t, err)
	assert.Empty(t, groups)
	assert.ErrorIs(t, l.DeleteGroup(ctx, "g"), eventlog.ErrGroupNotFound)
	require.NoError(t, l.Close())

	l = openLog(t, dir, nil)
	_, err = l.DescribeGroup("g")
	assert.ErrorIs(t, err, eventlog.ErrGroupNotFound)
}

// External members are stored with their client's ID and host.
func TestGroupMetadataOfExternalMembers(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, nil)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 3}))
	x, err := w.JoinGroupExternal("g", eventlog.ExternalMemberConfig{InstanceID: "billing-1", Topics: []string{"t"},
		Assignors: []eventlog.Assignor{eventlog.RoundRobinAssignor{}}, ClientID: "kgo", ClientHost: "/10.0.0.7"})
	require.NoError(t, err)
	generation, err := x.AwaitRebalance(ctx)
	require.NoError(t, err)
	owned, err := x.Sync(generation)
	require.NoError(t, err)
	require.Len(t, owned, 3)
	eventlog.WriteGroupMetadata(w, "g")

	ro := openLog(t, dir, &eventlog.Options{ReadOnly: true})
	d := describe(t, ro, "g")
	assert.Equal(t, generation, d.Generation)
	assert.Equal(t, "roundrobin", d.Assignor)
	assert.Equal(t, []eventlog.GroupMemberDescription{{MemberID: x.ID(), GroupInstanceID: "billing-1", ClientID: "kgo",
		ClientHost: "/10.0.0.7", Topics: []string{"t"}, Assignment: owned}}, d.Members)
	x.Leave()
}

// Compacting __consumer_offsets keeps each group's last metadata.
func TestGroupMetadataSurvivesCompaction(t *testing.T) {
	clk := newFakeClock()
	dir := t.TempDir()
	opts := &eventlog.Options{Now: clk.Now, SegmentAge: time.Hour, Durability: eventlog.DurabilityOS}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	// Members that outlive the clock's jumps.
	patient := func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit, o.MaxPollInterval = true, 100*time.Hour }
	a := groupConsumer(t, l, "g", patient)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return settled(2, a) }, nil, a)
	eventlog.WriteGroupMetadata(l, "g")
	for range 5 { // rebalances, each in a segment of its own
		clk.Advance(2 * time.Hour)
		b := groupConsumer(t, l, "g", patient)
		require.NoError(t, b.Subscribe("t"))
		pollUntil(t, func() bool { return settled(2, a, b) }, nil, a, b)
		eventlog.WriteGroupMetadata(l, "g")
		require.NoError(t, b.Close())
		pollUntil(t, func() bool { return settled(2, a) }, nil, a)
		eventlog.WriteGroupMetadata(l, "g")
	}
	before := len(groupMetadataRecords(t, l))
	require.Equal(t, 11, before)
	want := describe(t, l, "g")
	clk.Advance(2 * time.Hour)
	commitFor(t, l, "h", map[eventlog.TopicPartition]int64{tp("t", 0): 0}) // rolls the segment of the last metadata
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	after := groupMetadataRecords(t, l)
	assert.Len(t, after, 1, "compaction kept the last metadata of the group")
	require.NoError(t, eventlog.Abandon(l))

	l, err = eventlog.Open(dir, opts)
	require.NoError(t, err)
	defer l.Close()
	got := describe(t, l, "g")
	assert.True(t, got.Stored)
	assert.Equal(t, want.Generation, got.Generation)
	assert.Equal(t, want.Members, got.Members)
}
