package eventlog

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// GroupStats describes a consumer group in a Stats snapshot.
type GroupStats struct {
	GroupID string
	// State is the group's state, as DescribeGroup reports it.
	State GroupState
	// Members counts the group's members; a static member that closed
	// counts until its SessionTimeout passes.
	Members int
	// Generation is the group's generation (Kafka's generation ID).
	//
	// Of a group that no member joined since Open, State, Members and
	// Generation are, as DescribeGroup reports them, those of the
	// metadata stored for it: by the process running it, for a read-only
	// Log, or by the one before, whose generations the group goes on from.
	Generation int32
	// Rebalances counts the rebalances the group completed since Open:
	// the assignments it made, each of which began a generation.
	Rebalances int64
	// Offsets are the group's committed offsets, sorted, each with the
	// high watermark of its partition as Stats.Partitions reports it and
	// the lag between the two; HighWatermark is -1 and Lag 0 for a
	// partition that no longer exists.
	Offsets []GroupPartitionOffset
}

// groupStats describes the groups with members or committed offsets, with
// the high watermarks of parts. As DescribeGroup, it describes a group
// that no member joined since Open by the metadata stored for it: that of
// the process running it, for a read-only Log, or of the last one, whose
// generation the group goes on from.
func (l *Log) groupStats(parts []PartitionStats) []GroupStats {
	byID := make(map[string]*GroupStats)
	get := func(id string) *GroupStats {
		g := byID[id]
		if g == nil {
			g = &GroupStats{GroupID: id, State: GroupEmpty}
			byID[id] = g
		}
		return g
	}
	// A Log that closed meanwhile has no offsets, and no groups to report.
	s, err := l.offsetStore(false)
	if err != nil {
		s = nil
	}
	if s != nil {
		hw := make(map[TopicPartition]int64, len(parts))
		for i := range parts {
			hw[TopicPartition{Topic: parts[i].Topic, Partition: parts[i].Partition}] = parts[i].HighWatermark
		}
		s.eachOffset(func(group string, tp TopicPartition, c committedOffset) {
			o := GroupPartitionOffset{TopicPartition: tp, Committed: c.offset, Metadata: c.metadata,
				CommitTime: time.UnixMilli(c.commitTime), HighWatermark: -1}
			if h, ok := hw[tp]; ok {
				o.HighWatermark, o.Lag = h, max(h-c.offset, 0)
			}
			g := get(group)
			g.Offsets = append(g.Offsets, o)
		})
	}
	live := make(map[string]bool)
	l.groups.mu.Lock()
	c := l.groups.coord
	l.groups.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		groups := make([]*group, 0, len(c.groups))
		for _, g := range c.groups {
			groups = append(groups, g)
		}
		c.mu.Unlock()
		for _, g := range groups {
			d := GroupDescription{State: GroupEmpty}
			if !g.describe(&d) {
				continue // described by its stored metadata, below
			}
			live[g.id] = true
			g.mu.Lock()
			rebalances := g.mu.rebalances
			g.mu.Unlock()
			if len(d.Members) == 0 && byID[g.id] == nil {
				continue // as Groups: neither members nor offsets
			}
			gs := get(g.id)
			gs.State, gs.Members, gs.Generation, gs.Rebalances = d.State, len(d.Members), d.Generation, rebalances
		}
	}
	if s != nil {
		for id, stored := range s.storedGroups() {
			if live[id] {
				continue
			}
			md, err := stored.decode(id)
			if err != nil || len(md.members) == 0 && byID[id] == nil {
				continue // DescribeGroup reports the error; Stats has no place for it
			}
			g := get(id)
			g.Members, g.Generation = len(md.members), md.generation
			if len(md.members) > 0 {
				g.State = GroupStable
			}
		}
	}
	out := make([]GroupStats, 0, len(byID))
	for _, g := range byID {
		slices.SortFunc(g.Offsets, func(a, b GroupPartitionOffset) int { return compareTopicPartitions(a.TopicPartition, b.TopicPartition) })
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GroupStats) int { return strings.Compare(a.GroupID, b.GroupID) })
	return out
}

// storedGroups returns the stored metadata of every group that has some.
func (s *offsetStore) storedGroups() map[string]storedGroupMetadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mu.groupMetadata)
}

// eachOffset calls fn with every committed offset, under the store's lock:
// one pass for the offsets of every group, where groupOffsets makes one per
// group.
func (s *offsetStore) eachOffset(fn func(group string, tp TopicPartition, c committedOffset)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	for id, c := range s.mu.committed {
		group, tp := parseOffsetID(id)
		fn(group, tp, c)
	}
}
