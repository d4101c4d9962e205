package eventlog_test

import (
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of static membership (group instance IDs).

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
