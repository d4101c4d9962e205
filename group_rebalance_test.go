package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// TestGroupPollDuringEagerRebalance: a Consumer that polls while an eager
// rebalance is under way gives up what it holds and hears of no assignment
// until the rebalance has one; in particular not of an empty one in the
// generation before, which it had not applied yet when the rebalance
// began. Kafka answers the SyncGroup of such a member with
// REBALANCE_IN_PROGRESS, and its consumer rejoins without calling
// onPartitionsAssigned.
func TestGroupPollDuringEagerRebalance(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	a := groupConsumer(t, l, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, owning(a, 2), nil, a)

	rc := &recorder{}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.RebalanceListener = rc })
	require.NoError(t, c.Subscribe("t"))
	_, err := c.Poll(ctx) // joins: a is to give its partitions back
	require.NoError(t, err)
	pollUntil(t, owning(a, 1), nil, a) // the next generation gives c the other
	mdA, err := a.GroupMetadata()
	require.NoError(t, err)

	// d joins before c polls again: c learns of the generation that gave
	// it a partition only once another rebalance has begun.
	d := groupConsumer(t, l, "g", nil)
	require.NoError(t, d.Subscribe("t"))
	_, err = d.Poll(ctx)
	require.NoError(t, err)
	_, err = c.Poll(ctx)
	require.NoError(t, err)
	assert.Empty(t, rc.take(), "c hears of no assignment while the group rebalances")
	assert.Empty(t, c.Assignment())
	md, err := c.GroupMetadata()
	require.NoError(t, err)
	assert.Equal(t, int32(-1), md.GenerationID, "c applied no generation, generation %d included", mdA.GenerationID)

	pollUntil(t, func() bool { return settled(2, a, c, d) }, nil, a, c, d)
	md, err = c.GroupMetadata()
	require.NoError(t, err)
	assert.Greater(t, md.GenerationID, mdA.GenerationID)
	assert.Equal(t, []string{"assigned[t-1]"}, rc.take(), "one assignment, of the rebalance that c joined")
}
