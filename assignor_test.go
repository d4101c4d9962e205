package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The assignors against the examples in Kafka's documentation, and against
// the properties every assignment must have, over random groups.

func members(subs ...[]string) []eventlog.AssignorMember {
	out := make([]eventlog.AssignorMember, len(subs))
	for i, topics := range subs {
		out[i] = eventlog.AssignorMember{MemberID: fmt.Sprintf("c%d", i), Topics: slices.Sorted(slices.Values(topics))}
	}
	return out
}

func tps(s ...any) []eventlog.TopicPartition {
	var out []eventlog.TopicPartition
	for i := 0; i < len(s); i += 2 {
		out = append(out, eventlog.TopicPartition{Topic: s[i].(string), Partition: int32(s[i+1].(int))})
	}
	return out
}

func TestRangeAssignorKafkaExample(t *testing.T) {
	// RangeAssignor's javadoc: two consumers, two topics of three partitions.
	got := eventlog.RangeAssignor{}.Assign(members([]string{"t0", "t1"}, []string{"t0", "t1"}), map[string]int32{"t0": 3, "t1": 3})
	assert.Equal(t, tps("t0", 0, "t0", 1, "t1", 0, "t1", 1), got["c0"])
	assert.Equal(t, tps("t0", 2, "t1", 2), got["c1"])
}

func TestRangeAssignorOrdersStaticMembersByInstanceID(t *testing.T) {
	ms := members([]string{"t"}, []string{"t"})
	ms[0].InstanceID, ms[1].InstanceID = "zz", "aa"
	got := eventlog.RangeAssignor{}.Assign(ms, map[string]int32{"t": 2})
	assert.Equal(t, tps("t", 0), got["c1"], "instance aa sorts first whatever its member ID")
	assert.Equal(t, tps("t", 1), got["c0"])
}

func TestRoundRobinAssignorKafkaExamples(t *testing.T) {
	got := eventlog.RoundRobinAssignor{}.Assign(members([]string{"t0", "t1"}, []string{"t0", "t1"}), map[string]int32{"t0": 3, "t1": 3})
	assert.Equal(t, tps("t0", 0, "t0", 2, "t1", 1), got["c0"])
	assert.Equal(t, tps("t0", 1, "t1", 0, "t1", 2), got["c1"])

	// Different subscriptions: C0 t0; C1 t0, t1; C2 t0, t1, t2.
	got = eventlog.RoundRobinAssignor{}.Assign(members([]string{"t0"}, []string{"t0", "t1"}, []string{"t0", "t1", "t2"}),
		map[string]int32{"t0": 1, "t1": 2, "t2": 3})
	assert.Equal(t, tps("t0", 0), got["c0"])
	assert.Equal(t, tps("t1", 0), got["c1"])
	assert.Equal(t, tps("t1", 1, "t2", 0, "t2", 1, "t2", 2), got["c2"])
}

func TestStickyAssignorKafkaExample(t *testing.T) {
	// StickyAssignor's javadoc: three consumers, four topics of two
	// partitions; when C1 leaves, C0 and C2 keep what they had.
	parts := map[string]int32{"t0": 2, "t1": 2, "t2": 2, "t3": 2}
	all := []string{"t0", "t1", "t2", "t3"}
	for _, a := range []eventlog.Assignor{eventlog.StickyAssignor{}, eventlog.CooperativeStickyAssignor{}} {
		first := a.Assign(members(all, all, all), parts)
		checkAssignment(t, members(all, all, all), parts, first)
		ms := members(all, all, all)
		ms = []eventlog.AssignorMember{ms[0], ms[2]}
		ms[0].Owned, ms[1].Owned = first["c0"], first["c2"]
		second := a.Assign(ms, parts)
		checkAssignment(t, ms, parts, second)
		assert.Subset(t, second["c0"], first["c0"], a.Name())
		assert.Subset(t, second["c2"], first["c2"], a.Name())
		assert.Len(t, second["c0"], 4)
		assert.Len(t, second["c2"], 4)
	}
}

func TestAssignorNamesAndProtocols(t *testing.T) {
	for _, c := range []struct {
		a        eventlog.Assignor
		name     string
		protocol eventlog.RebalanceProtocol
	}{
		{eventlog.RangeAssignor{}, "range", eventlog.RebalanceEager},
		{eventlog.RoundRobinAssignor{}, "roundrobin", eventlog.RebalanceEager},
		{eventlog.StickyAssignor{}, "sticky", eventlog.RebalanceEager},
		{eventlog.CooperativeStickyAssignor{}, "cooperative-sticky", eventlog.RebalanceCooperative},
	} {
		assert.Equal(t, c.name, c.a.Name())
		assert.Equal(t, c.protocol, c.a.Protocol())
	}
	assert.Equal(t, "eager", eventlog.RebalanceEager.String())
	assert.Equal(t, "cooperative", eventlog.RebalanceCooperative.String())
}

// checkAssignment checks what every assignor promises: each partition to
// at most one member, only to a member subscribed to its topic, and every
// partition with a subscriber assigned.
func checkAssignment(t *testing.T, ms []eventlog.AssignorMember, parts map[string]int32, got map[string][]eventlog.TopicPartition) {
	t.Helper()
	owner := map[eventlog.TopicPartition]string{}
	subscribed := map[string]bool{}
	for _, m := range ms {
		for _, topic := range m.Topics {
			subscribed[topic] = true
		}
		for _, tp := range got[m.MemberID] {
			require.Contains(t, m.Topics, tp.Topic, "%s got %s without subscribing", m.MemberID, tp)
			require.Less(t, tp.Partition, parts[tp.Topic])
			require.Empty(t, owner[tp], "%s given to %s and %s", tp, owner[tp], m.MemberID)
			owner[tp] = m.MemberID
		}
	}
	for topic, n := range parts {
		for id := range n {
			if subscribed[topic] {
				require.NotEmpty(t, owner[eventlog.TopicPartition{Topic: topic, Partition: id}], "%s-%d unassigned", topic, id)
			}
		}
	}
}

// checkStickyBalance checks that no partition could move to another
// subscribed member holding two or more fewer: the sticky balance.
func checkStickyBalance(t *testing.T, ms []eventlog.AssignorMember, got map[string][]eventlog.TopicPartition) {
	t.Helper()
	for _, from := range ms {
		for _, tp := range got[from.MemberID] {
			for _, to := range ms {
				if slices.Contains(to.Topics, tp.Topic) {
					require.LessOrEqual(t, len(got[from.MemberID]), len(got[to.MemberID])+1,
						"%s could move from %s to %s", tp, from.MemberID, to.MemberID)
				}
			}
		}
	}
}

func randomGroup(rng *rand.Rand) ([]eventlog.AssignorMember, map[string]int32) {
	parts := map[string]int32{}
	var topics []string
	for i := range 1 + rng.IntN(5) {
		name := fmt.Sprintf("t%d", i)
		parts[name] = int32(1 + rng.IntN(8))
		topics = append(topics, name)
	}
	var ms []eventlog.AssignorMember
	for i := range 1 + rng.IntN(7) {
		var sub []string
		for _, topic := range topics {
			if rng.IntN(3) != 0 {
				sub = append(sub, topic)
			}
		}
		ms = append(ms, eventlog.AssignorMember{MemberID: fmt.Sprintf("m%02d", i), Topics: sub})
	}
	return ms, parts
}

func TestAssignorsProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	assignors := []eventlog.Assignor{eventlog.RangeAssignor{}, eventlog.RoundRobinAssignor{}, eventlog.StickyAssignor{}, eventlog.CooperativeStickyAssignor{}}
	for range 500 {
		ms, parts := randomGroup(rng)
		for _, a := range assignors {
			got := a.Assign(ms, parts)
			checkAssignment(t, ms, parts, got)
			if a.Name() == "range" || a.Name() == "roundrobin" {
				continue
			}
			checkStickyBalance(t, ms, got)
			// Rebalance with a member more and one fewer: the survivors
			// keep what balance lets them keep.
			next := slices.Clone(ms)
			for i := range next {
				next[i].Owned = got[next[i].MemberID]
			}
			next = append(next[1:], eventlog.AssignorMember{MemberID: "new", Topics: ms[0].Topics})
			again := a.Assign(next, parts)
			checkAssignment(t, next, parts, again)
			checkStickyBalance(t, next, again)
			for _, m := range next {
				kept := 0
				for _, tp := range m.Owned {
					if slices.Contains(again[m.MemberID], tp) {
						kept++
					}
				}
				// A member loses partitions only to members with
				// fewer: it keeps at least as many as it ends with
				// minus what it gained.
				lost := len(m.Owned) - kept
				if lost > 0 {
					assert.GreaterOrEqual(t, len(m.Owned), len(again[m.MemberID]), "%s lost partitions yet grew", m.MemberID)
				}
			}
		}
	}
}

func TestStickyMovesOnlyWhatBalanceNeeds(t *testing.T) {
	// 8 members over 64 partitions, balanced; a ninth joins: exactly 7
	// partitions move (64/9 rounds down to 7), one from each of 7 members.
	all := []string{"t"}
	var ms []eventlog.AssignorMember
	for i := range 8 {
		ms = append(ms, eventlog.AssignorMember{MemberID: fmt.Sprintf("m%d", i), Topics: all})
	}
	parts := map[string]int32{"t": 64}
	first := eventlog.StickyAssignor{}.Assign(ms, parts)
	for i := range ms {
		ms[i].Owned = first[ms[i].MemberID]
	}
	ms = append(ms, eventlog.AssignorMember{MemberID: "m8", Topics: all})
	second := eventlog.StickyAssignor{}.Assign(ms, parts)
	checkAssignment(t, ms, parts, second)
	moved := 0
	for _, m := range ms[:8] {
		for _, tp := range m.Owned {
			if !slices.Contains(second[m.MemberID], tp) {
				moved++
			}
		}
	}
	assert.Equal(t, 7, moved)
	assert.Len(t, second["m8"], 7)
}
