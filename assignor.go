package eventlog

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// RebalanceProtocol says how a consumer group moves partitions between its
// members when membership changes.
type RebalanceProtocol int8

const (
	// RebalanceEager is Kafka's classic protocol: at a rebalance every
	// member gives up all its partitions, and only then does any member get
	// its new ones. Consumption of the whole group stops for the duration.
	RebalanceEager RebalanceProtocol = iota
	// RebalanceCooperative is Kafka's incremental protocol (KIP-429):
	// members keep the partitions that do not move and go on consuming
	// them; only the partitions that move are revoked from their owner and
	// then, in a second step, assigned to their new one.
	RebalanceCooperative
)

// String returns Kafka's name for the protocol.
func (p RebalanceProtocol) String() string {
	if p == RebalanceCooperative {
		return "cooperative"
	}
	return "eager"
}

// Assignor decides which member of a consumer group owns which partition:
// Kafka's partition.assignment.strategy. The group's coordinator calls it at
// every rebalance, from one goroutine at a time.
//
// The library supplies RangeAssignor (the default), RoundRobinAssignor,
// StickyAssignor and CooperativeStickyAssignor; an application may plug in
// its own. All members of a group must use assignors of the same Name.
type Assignor interface {
	// Name identifies the strategy, as Kafka's names do: "range",
	// "roundrobin", "sticky", "cooperative-sticky".
	Name() string

	// Protocol says whether rebalances under this assignor are eager or
	// cooperative.
	Protocol() RebalanceProtocol

	// Assign maps each member's ID to the partitions it is to own. members
	// are sorted by MemberID; partitions gives the partition count of every
	// topic some member subscribes to. A partition may go only to a member
	// subscribed to its topic, and to at most one member; the coordinator
	// drops assignments that break these rules. A partition left out of
	// every member's list stays unconsumed until the next rebalance.
	Assign(members []AssignorMember, partitions map[string]int32) map[string][]TopicPartition
}

// checkAssignor reports what makes a unusable: nil, a nil pointer to one
// of the library's assignors (whose methods would dereference it), or a
// name that is empty or too long for Kafka's protocol name.
func checkAssignor(a Assignor) error {
	switch {
	case a == nil:
		return errors.New("is nil")
	case isNilLibraryAssignor(a):
		return fmt.Errorf("is a nil %T: use a value of the type, or a pointer to one", a)
	case a.Name() == "":
		return errors.New("has an empty Name")
	case len(a.Name()) > maxKafkaStringLen:
		return fmt.Errorf("has a Name of %d bytes, longer than %d", len(a.Name()), maxKafkaStringLen)
	}
	return nil
}

// isNilLibraryAssignor reports whether a is a nil pointer to one of the
// library's assignor types. A nil pointer to an application's own type is
// left to its methods, which may accept it.
func isNilLibraryAssignor(a Assignor) bool {
	switch p := a.(type) {
	case *RangeAssignor:
		return p == nil
	case *RoundRobinAssignor:
		return p == nil
	case *StickyAssignor:
		return p == nil
	case *CooperativeStickyAssignor:
		return p == nil
	}
	return false
}

// AssignorMember is one member of a group as an Assignor sees it.
type AssignorMember struct {
	// MemberID identifies the member within the group for this
	// membership; it is the key of the map Assign returns.
	MemberID string
	// InstanceID is the member's GroupInstanceID (Kafka's
	// group.instance.id), or empty for a dynamic member.
	InstanceID string
	// Topics are the topics the member subscribes to that exist, sorted.
	Topics []string
	// Owned are the partitions the member owns going into the rebalance,
	// sorted. Sticky assignors keep as many of them where they are as
	// balance allows. Under the eager protocol they are those it owned
	// when the rebalance began, which it has revoked since, as Kafka's
	// eager sticky assignor reads each member's last assignment: for an
	// external member whose rejoin started the rebalance, what it owned
	// before it revoked them to rejoin. Under either protocol, a static
	// member that returned owns what its predecessor held.
	Owned []TopicPartition
}

// RangeAssignor is Kafka's default range strategy: for each topic, the
// partitions in order are split into contiguous ranges, one per subscribed
// member in order of member (static members by instance ID), the first
// members getting one more when the split is uneven. It is eager.
type RangeAssignor struct{}

// RoundRobinAssignor is Kafka's round-robin strategy: all partitions of all
// subscribed topics, in order, are dealt out one at a time to the members,
// skipping members not subscribed to a partition's topic. It is eager.
type RoundRobinAssignor struct{}

// StickyAssignor is Kafka's sticky strategy: the assignment is as balanced
// as the subscriptions allow (partition counts of any two members subscribed
// to the same topics differ by at most one), and within that, as many
// partitions as possible stay with their current owner. It is eager: every
// partition is still revoked and reassigned at a rebalance, but most come
// back to the same member.
type StickyAssignor struct{}

// CooperativeStickyAssignor makes the same assignment as StickyAssignor
// under the cooperative protocol: members keep consuming the partitions
// that stay with them during a rebalance, and only the partitions that move
// are revoked.
type CooperativeStickyAssignor struct{}

// Name returns "range".
func (RangeAssignor) Name() string { return "range" }

// Protocol returns RebalanceEager.
func (RangeAssignor) Protocol() RebalanceProtocol { return RebalanceEager }

// Assign implements the range strategy.
func (RangeAssignor) Assign(members []AssignorMember, partitions map[string]int32) map[string][]TopicPartition {
	out := make(map[string][]TopicPartition, len(members))
	for _, topic := range sortedTopics(partitions) {
		var subs []*AssignorMember
		for i := range members {
			if subscribes(&members[i], topic) {
				subs = append(subs, &members[i])
			}
		}
		if len(subs) == 0 {
			continue
		}
		// Static members sort by instance ID so that their ranges survive
		// restarts, which give them new member IDs.
		slices.SortStableFunc(subs, func(a, b *AssignorMember) int {
			return cmp.Compare(rangeKey(a), rangeKey(b))
		})
		n := partitions[topic]
		per, extra := n/int32(len(subs)), n%int32(len(subs))
		next := int32(0)
		for i, m := range subs {
			count := per
			if int32(i) < extra {
				count++
			}
			for range count {
				out[m.MemberID] = append(out[m.MemberID], TopicPartition{topic, next})
				next++
			}
		}
	}
	return out
}

func rangeKey(m *AssignorMember) string {
	if m.InstanceID != "" {
		return "0" + m.InstanceID // static members first, as Kafka orders them
	}
	return "1" + m.MemberID
}

// Name returns "roundrobin".
func (RoundRobinAssignor) Name() string { return "roundrobin" }

// Protocol returns RebalanceEager.
func (RoundRobinAssignor) Protocol() RebalanceProtocol { return RebalanceEager }

// Assign implements the round-robin strategy.
func (RoundRobinAssignor) Assign(members []AssignorMember, partitions map[string]int32) map[string][]TopicPartition {
	out := make(map[string][]TopicPartition, len(members))
	if len(members) == 0 {
		return out
	}
	next := 0
	for _, topic := range sortedTopics(partitions) {
		for id := range partitions[topic] {
			// Deal to the next member subscribed to the topic; if none is,
			// the partition stays unassigned.
			for k := range members {
				m := &members[(next+k)%len(members)]
				if subscribes(m, topic) {
					out[m.MemberID] = append(out[m.MemberID], TopicPartition{topic, id})
					next = (next + k + 1) % len(members)
					break
				}
			}
		}
	}
	return out
}

// Name returns "sticky".
func (StickyAssignor) Name() string { return "sticky" }

// Protocol returns RebalanceEager.
func (StickyAssignor) Protocol() RebalanceProtocol { return RebalanceEager }

// Assign implements the sticky strategy; see StickyAssignor.
func (StickyAssignor) Assign(members []AssignorMember, partitions map[string]int32) map[string][]TopicPartition {
	return assignSticky(members, partitions)
}

// Name returns "cooperative-sticky".
func (CooperativeStickyAssignor) Name() string { return "cooperative-sticky" }

// Protocol returns RebalanceCooperative.
func (CooperativeStickyAssignor) Protocol() RebalanceProtocol { return RebalanceCooperative }

// Assign implements the sticky strategy; see StickyAssignor.
func (CooperativeStickyAssignor) Assign(members []AssignorMember, partitions map[string]int32) map[string][]TopicPartition {
	return assignSticky(members, partitions)
}

// assignSticky keeps every valid owned partition with its owner, deals out
// the rest to the eligible member with the fewest partitions, and then moves
// partitions, one at a time, from a member to an eligible one holding at
// least two fewer, until no such move exists. Each move lowers the sum of
// squared partition counts, so the loop ends; what it ends at is balanced in
// the sense StickyAssignor documents, and it moves no partition that balance
// does not require.
func assignSticky(members []AssignorMember, partitions map[string]int32) map[string][]TopicPartition {
	type state struct {
		m     *AssignorMember
		owned map[TopicPartition]bool
	}
	states := make([]*state, len(members))
	byID := make(map[string]*state, len(members))
	owner := make(map[TopicPartition]*state)
	for i := range members {
		s := &state{m: &members[i], owned: make(map[TopicPartition]bool)}
		states[i], byID[s.m.MemberID] = s, s
	}
	valid := func(s *state, tp TopicPartition) bool {
		n, ok := partitions[tp.Topic]
		return ok && tp.Partition >= 0 && tp.Partition < n && subscribes(s.m, tp.Topic)
	}
	for _, s := range states {
		for _, tp := range s.m.Owned {
			if valid(s, tp) && owner[tp] == nil {
				owner[tp], s.owned[tp] = s, true
			}
		}
	}
	// Partitions nobody keeps, those with the fewest eligible members
	// first, each to the eligible member with the fewest partitions.
	type free struct {
		tp       TopicPartition
		eligible []*state
	}
	var pool []free
	for _, topic := range sortedTopics(partitions) {
		var eligible []*state
		for _, s := range states {
			if subscribes(s.m, topic) {
				eligible = append(eligible, s)
			}
		}
		if len(eligible) == 0 {
			continue
		}
		for id := range partitions[topic] {
			if tp := (TopicPartition{topic, id}); owner[tp] == nil {
				pool = append(pool, free{tp, eligible})
			}
		}
	}
	slices.SortStableFunc(pool, func(a, b free) int { return cmp.Compare(len(a.eligible), len(b.eligible)) })
	for _, f := range pool {
		best := f.eligible[0]
		for _, s := range f.eligible[1:] {
			if len(s.owned) < len(best.owned) {
				best = s
			}
		}
		owner[f.tp], best.owned[f.tp] = best, true
	}
	// Balance: move from the fullest member to an eligible emptier one.
	for moved := true; moved; {
		moved = false
		order := slices.Clone(states)
		slices.SortStableFunc(order, func(a, b *state) int { return cmp.Compare(len(b.owned), len(a.owned)) })
		for _, from := range order {
			tps := sortedSet(from.owned)
			for i := len(tps) - 1; i >= 0 && !moved; i-- {
				tp := tps[i]
				var to *state
				for _, s := range states {
					if s != from && len(s.owned) < len(from.owned)-1 && subscribes(s.m, tp.Topic) && (to == nil || len(s.owned) < len(to.owned)) {
						to = s
					}
				}
				if to != nil {
					delete(from.owned, tp)
					owner[tp], to.owned[tp] = to, true
					moved = true
				}
			}
			if moved {
				break
			}
		}
	}
	out := make(map[string][]TopicPartition, len(states))
	for _, s := range states {
		out[s.m.MemberID] = sortedSet(s.owned)
	}
	return out
}

func sortedSet(set map[TopicPartition]bool) []TopicPartition {
	out := make([]TopicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out
}

func sortedTopics(partitions map[string]int32) []string {
	topics := make([]string, 0, len(partitions))
	for t := range partitions {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	return topics
}

func subscribes(m *AssignorMember, topic string) bool {
	_, found := slices.BinarySearch(m.Topics, topic)
	return found
}
