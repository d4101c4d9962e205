package eventlog_test

import (
	"slices"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStickyGroupKeepsPartitionsAcrossEagerRebalance: in a group using
// StickyAssignor, which is eager, a member joining moves only the
// partitions balance needs, as StickyAssignor promises and Kafka's eager
// sticky assignor does with each member's previous assignment. Before,
// the assignor saw what members owned after they had revoked everything,
// nothing, and dealt every partition out afresh.
func TestStickyGroupKeepsPartitionsAcrossEagerRebalance(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 4})
	sticky := func(o *eventlog.ConsumerOptions) { o.Assignor = eventlog.StickyAssignor{} }
	a := groupConsumer(t, l, "g", sticky)
	b := groupConsumer(t, l, "g", sticky)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, owning(a, 4), nil, a)
	require.NoError(t, b.Subscribe("t"))
	pollUntil(t, func() bool { return settled(4, a, b) }, nil, a, b)
	before := map[*eventlog.Consumer][]eventlog.TopicPartition{a: a.Assignment(), b: b.Assignment()}
	require.Len(t, before[a], 2)
	require.Len(t, before[b], 2)
	t.Logf("a owns %v, b %v", before[a], before[b])

	c := groupConsumer(t, l, "g", sticky)
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return settled(4, a, b, c) }, nil, a, b, c)
	moved := 0
	for member, owned := range before {
		for _, tp := range owned {
			if !slices.Contains(member.Assignment(), tp) {
				moved++
			}
		}
	}
	assert.Equal(t, 1, moved, "partitions that left their owner: a owns %v, b %v, c %v",
		a.Assignment(), b.Assignment(), c.Assignment())
	assert.Len(t, c.Assignment(), 1)
}
