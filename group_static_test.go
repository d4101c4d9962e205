package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of group membership: static members, member IDs, evictions.

// TestStaticMemberReplacedDuringEagerRebalance: a static member whose
// client restarts and joins again with its instance ID while an eager
// rebalance waits for the old member's partitions takes the old one's
// place, and the rebalance completes, as Kafka's does when a known static
// member rejoins a group preparing a rebalance. Before, the old member's
// partitions were released without the rebalance noticing that nobody
// held a partition any more: it waited for ever.
func TestStaticMemberReplacedDuringEagerRebalance(t *testing.T) {
	l, _, ctx, cfg := externalGroup(t, 2, eventlog.RangeAssignor{}, 0)
	static := cfg
	static.InstanceID = "i"
	_, _, tps := joinExternal(t, ctx, l, static)
	require.Len(t, tps, 2)

	// y joins: the rebalance waits for the static member's partitions.
	y, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Equal(t, eventlog.GroupPreparingRebalance, d.State)

	// Its client restarts before it rejoined, and joins as "i" again.
	x, err := l.JoinGroupExternal("g", static)
	require.NoError(t, err)
	d, err = l.DescribeGroup("g")
	require.NoError(t, err)
	require.NotEqual(t, eventlog.GroupPreparingRebalance, d.State, "the rebalance waits for partitions that nobody holds")
	genX, tpsX := awaitAndSync(t, ctx, x)
	genY, tpsY := awaitAndSync(t, ctx, y)
	assert.Equal(t, genX, genY)
	assert.Len(t, tpsX, 1)
	assert.Len(t, tpsY, 1)
}

// TestMemberIDsAreNotReusedAfterReopen: a member ID names one membership
// for good, as Kafka's, which end in a UUID: the Log opened again on the
// directory, or another process, gives its members new ones. Before, every
// Log numbered its members from 1, so a Kafka client that held
// "consumer-000001" before the server restarted, and rejoined with it, was
// taken for the member the new server had given that ID, and two clients
// consumed its partitions.
func TestMemberIDsAreNotReusedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	cfg := eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}}}
	seen := map[string]bool{}
	for i := range 2 {
		l, err := eventlog.Open(dir, &eventlog.Options{Now: clk.Now})
		require.NoError(t, err)
		if i == 0 {
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		}
		x, err := l.JoinGroupExternal("g", cfg)
		require.NoError(t, err)
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", FetchMaxWait: time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, c.Subscribe("t"))
		_, err = c.Poll(ctx)
		require.NoError(t, err)
		md, err := c.GroupMetadata()
		require.NoError(t, err)
		for _, id := range []string{x.ID(), md.MemberID} {
			assert.False(t, seen[id], "member ID %q given again after the Log was opened again", id)
			seen[id] = true
		}
		require.NoError(t, c.Close())
		require.NoError(t, l.Close())
		clk.Advance(time.Second)
	}
}

// TestGroupEmptiedByEvictionsMidRebalanceStoresItsEmptiness: members
// evicted while an eager rebalance waits for their partitions leave the
// group empty, and the group's metadata says so, as when they leave, so
// that another process does not describe the evicted members as the
// group's. Before, the rebalance stayed under way in the empty group, and
// an empty group under way was not taken for complete: its metadata was
// never written, and the last generation's members stayed described.
func TestGroupEmptiedByEvictionsMidRebalanceStoresItsEmptiness(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg := eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}},
		SessionTimeout: 10 * time.Second}
	_, _, tps := joinExternal(t, ctx, l, cfg)
	require.Len(t, tps, 1)
	eventlog.WriteGroupMetadata(l, "g")
	// y joins, and the rebalance waits for x; neither calls again.
	_, err := l.JoinGroupExternal("g", cfg)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	d := describe(t, l, "g")
	require.Empty(t, d.Members, "both evicted")
	eventlog.WriteGroupMetadata(l, "g")

	ro := openLog(t, dir, &eventlog.Options{ReadOnly: true})
	stored := describe(t, ro, "g")
	assert.True(t, stored.Stored)
	assert.Equal(t, eventlog.GroupEmpty, stored.State)
	assert.Empty(t, stored.Members)
}
