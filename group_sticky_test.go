package eventlog_test

import (
	"cmp"
	"slices"
	"sync"
	"testing"
	"time"

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

// ownedRecorder is an assignor recording what each member owns, by
// instance ID (or member ID), at each assignment.
type ownedRecorder struct {
	eventlog.Assignor
	mu    sync.Mutex
	owned []map[string][]eventlog.TopicPartition
}

func (r *ownedRecorder) Assign(members []eventlog.AssignorMember, partitions map[string]int32) map[string][]eventlog.TopicPartition {
	r.mu.Lock()
	defer r.mu.Unlock()
	owned := map[string][]eventlog.TopicPartition{}
	for _, m := range members {
		owned[cmp.Or(m.InstanceID, m.MemberID)] = m.Owned
	}
	r.owned = append(r.owned, owned)
	return r.Assignor.Assign(members, partitions)
}

// last returns what the last assignment was told each member owned.
func (r *ownedRecorder) last() map[string][]eventlog.TopicPartition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owned[len(r.owned)-1]
}

// A static member that comes back subscribing to other topics makes the
// group rebalance; the sticky assignor is to see what its previous member
// owned, as it sees what every other member owned, and as it would have
// without the change (the returning member then takes its predecessor's
// assignment). Before, it saw nothing, under either protocol.
func TestStickyStaticMemberReturningWithNewTopicsOwnsWhatItHad(t *testing.T) {
	for _, a := range []eventlog.Assignor{eventlog.StickyAssignor{}, eventlog.CooperativeStickyAssignor{}} {
		t.Run(a.Name(), func(t *testing.T) {
			l := eventlogtest.NewTopic(t, "a", eventlog.TopicConfig{Partitions: 4})
			require.NoError(t, l.CreateTopic("b", eventlog.TopicConfig{Partitions: 2}))
			rec := &ownedRecorder{Assignor: a}
			x := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.Assignor, o.GroupInstanceID = rec, "x" })
			y := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.Assignor = rec })
			require.NoError(t, x.Subscribe("a"))
			require.NoError(t, y.Subscribe("a"))
			pollUntil(t, func() bool { return settled(4, x, y) && len(x.Assignment()) == 2 }, nil, x, y)
			had := x.Assignment()
			require.NoError(t, x.Close()) // departs: its partitions wait for it

			x2 := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.Assignor, o.GroupInstanceID = rec, "x" })
			require.NoError(t, x2.Subscribe("a", "b"))
			pollUntil(t, func() bool { return settled(6, x2, y) }, nil, x2, y)
			assert.Equal(t, had, rec.last()["x"], "what the assignor was told the returning member owned")
		})
	}
}

// An external member that rejoins subscribing to other topics revokes
// everything first under the eager protocol, as a Kafka client does; the
// sticky assignor of the rebalance its rejoin starts is still to see what
// it owned, as a Kafka client's subscription tells it. Before, it saw
// nothing.
func TestStickyExternalRejoinWithNewTopicsOwnsWhatItHad(t *testing.T) {
	rec := &ownedRecorder{Assignor: eventlog.StickyAssignor{}}
	l, _, ctx, cfg := externalGroup(t, 2, rec, time.Minute)
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{Partitions: 1}))
	cfg.InstanceID = "x"
	x, _, had := joinExternal(t, ctx, l, cfg)
	require.Len(t, had, 2)

	require.NoError(t, x.Rejoin([]string{"t", "u"}, nil))
	awaitAndSync(t, ctx, x)
	assert.Equal(t, had, rec.last()["x"], "what the assignor was told the rejoining member owned")
}
