package eventlog

import (
	"slices"
	"strings"
)

// Stats is a snapshot of a Log's counters and of the state of its
// partitions, taken by Log.Stats. Fields may be added; none will change
// meaning.
type Stats struct {
	// Cleaner counts the work of the log cleaner since Open.
	Cleaner CleanerStats
	// Partitions describes every partition of every topic, internal topics
	// included, sorted by topic and partition.
	Partitions []PartitionStats
}

// CleanerStats counts the work of the log cleaner (compaction) since Open.
type CleanerStats struct {
	// Runs counts cleaning passes that completed, whether Log.Compact or
	// the background cleaner started them. A partition with more keys
	// than the map holds takes several passes.
	Runs int64
	// BytesRead counts bytes of segments read: once to map the keys of
	// the dirty section, once more to copy what stays.
	BytesRead int64
	// BytesWritten counts bytes of cleaned segments written.
	BytesWritten int64
	// RecordsRemoved counts records dropped: superseded by a newer record
	// of their key, tombstones past their delete horizon, and records
	// without a key.
	RecordsRemoved int64
	// MapBytes is the most memory one cleaning's key→offset map used; it
	// stays within Options.CleanerBufferBytes unless a single key is larger.
	MapBytes int64
}

// PartitionStats describes one partition.
type PartitionStats struct {
	Topic     string
	Partition int32
	// CleanupPolicy is the topic's cleanup.policy.
	CleanupPolicy CleanupPolicy
	// LogStartOffset, HighWatermark and LogEndOffset are as the Partition
	// methods of those names report them.
	LogStartOffset int64
	HighWatermark  int64
	LogEndOffset   int64
	// Segments counts the segment files, the active one included.
	Segments int
	// Bytes is the size of the segment files (not counting indexes).
	Bytes int64
	// DirtyRatio is, for a compacted topic, the share of the bytes of the
	// closed segments that were written since the last cleaning — counting
	// whole the segment where the dirty part begins, as Kafka does — and 0
	// for other topics. The background cleaner cleans a partition once it
	// reaches TopicConfig.MinCleanableDirtyRatio (min.compaction.lag.ms may
	// hold some of it back).
	DirtyRatio float64
}

// Stats returns a snapshot of the Log's counters and partitions. It does no
// I/O.
func (l *Log) Stats() Stats {
	c := &l.cleaner
	s := Stats{Cleaner: CleanerStats{
		Runs:           c.runs.Load(),
		BytesRead:      c.bytesRead.Load(),
		BytesWritten:   c.bytesWritten.Load(),
		RecordsRemoved: c.recordsRemoved.Load(),
		MapBytes:       c.maxMapBytes.Load(),
	}}
	l.forEachPartition(func(p *Partition) {
		s.Partitions = append(s.Partitions, p.stats())
	})
	slices.SortFunc(s.Partitions, func(a, b PartitionStats) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return s
}

func (p *Partition) stats() PartitionStats {
	segs := *p.segments.Load()
	s := PartitionStats{
		Topic:          p.topic,
		Partition:      p.id,
		CleanupPolicy:  p.config().cleanup,
		LogStartOffset: p.LogStartOffset(),
		HighWatermark:  p.HighWatermark(),
		LogEndOffset:   p.LogEndOffset(),
		Segments:       len(segs),
	}
	firstDirty := p.cleaning.firstDirty.Load()
	var clean, dirty int64
	for i, seg := range segs {
		size := seg.size.Load()
		s.Bytes += size
		switch {
		case i == len(segs)-1: // active: not cleanable
		case segs[i+1].base <= firstDirty:
			clean += size
		default:
			dirty += size
		}
	}
	if p.config().cleanup.compacts() {
		s.DirtyRatio = dirtyRatio(clean, dirty)
	}
	return s
}
