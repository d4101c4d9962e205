package eventlog

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
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
	// Groups describes every consumer group that has members or committed
	// offsets, sorted by GroupID.
	Groups []GroupStats
	// Recovery is what Open did to bring the log back, as Log.Recovery
	// reports it.
	Recovery RecoveryStats
}

// CleanerStats counts the work of the log cleaner (compaction) since Open,
// of the whole Log (Stats.Cleaner) or of one partition
// (PartitionStats.Cleaner).
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

	// AppendedRecords and AppendedBytes count the records, and the bytes
	// of the batches holding them, appended since Open: by Append, by
	// producers and, to internal topics, by commits. What Open found on
	// disk is not counted.
	AppendedRecords int64
	AppendedBytes   int64
	// AppendLatency is how long appends took, from the partition getting
	// the encoded batch to acknowledging it: waiting for the append lock,
	// the write, and for an append acknowledged on fsync the wait for the
	// (shared) fsync. Encoding the batch is not included, and failed
	// appends are not counted. Every append acknowledged on fsync is
	// timed, but of those acknowledged on the write to the OS
	// (DurabilityOS) only a sample: the 8th, 16th, … append of the
	// partition. Reading the clock twice costs a few percent of an append
	// that takes microseconds, and a sample shows their distribution as
	// well; its count is about an eighth of theirs. (Go's runtime samples
	// its scheduling latencies in the same way.)
	AppendLatency LatencyHistogram
	// FsyncLatency is how long the fsyncs of the partition's segment files
	// took: those acknowledging appends, one per group commit; those the
	// Log runs in the background so that DurabilityOS appends to an fsync
	// topic become visible; and those closing a segment when it rolls or
	// the Log closes.
	FsyncLatency LatencyHistogram
	// Cleaner counts the log cleaner's work on this partition since Open;
	// Stats.Cleaner is its sum over the Log (and over deleted topics).
	Cleaner CleanerStats
}

// partitionMetrics counts what a partition did since Open, for Stats. The
// append and fsync paths only add to atomic counters.
type partitionMetrics struct {
	appendedRecords atomic.Int64
	appendedBytes   atomic.Int64
	appendLatency   latencyHistogram
	fsyncLatency    latencyHistogram
	cleaner         cleanerCounters
}

// appended counts a batch of records written to the partition.
func (m *partitionMetrics) appended(records int32, bytes int) {
	m.appendedRecords.Add(int64(records))
	m.appendedBytes.Add(int64(bytes))
}

// osAppendSampling is how many of the appends acknowledged on the write to
// the OS have one timed for AppendLatency.
const osAppendSampling = 8

// appendStart starts timing the n-th append of the partition since Open,
// which asked for durability d, if it is one to time (see
// PartitionStats.AppendLatency); appendDone ends it. n is the count the
// group commit keeps, so that sampling costs no counter of its own.
func (p *Partition) appendStart(d Durability, n int64) (start time.Duration, timed bool) {
	if n%osAppendSampling == 0 || d == DurabilityFsync || d == DurabilityDefault && p.config().durability == DurabilityFsync {
		return monotonicNow(), true
	}
	return 0, false
}

func (p *Partition) appendDone(start time.Duration, timed bool) {
	if timed {
		p.metrics.appendLatency.since(start)
	}
}

// syncSegment fsyncs the .log file of seg, a segment of the partition
// that was active in this process, and counts how long it took.
//
// A failed fsync fails the partition, and so does any fsync that returns
// after the partition failed: its success proves nothing. After a failed
// fsync the kernel may have dropped the pages it could not write, and
// Linux reports a writeback error to one fsync only: the next fsync of the
// file succeeds although those bytes are gone. The fsyncs are serialized
// so that one that fails has failed the partition before the next starts.
func (p *Partition) syncSegment(seg *segment) error {
	p.fsyncMu.Lock()
	defer p.fsyncMu.Unlock()
	start := monotonicNow()
	err := seg.writer().Sync()
	p.metrics.fsyncLatency.since(start)
	if err != nil {
		return p.fail(fmt.Errorf("fsync %s: %w", seg.path(logExt), err))
	}
	return p.err()
}

// cleanerCounters are the counters of CleanerStats.
type cleanerCounters struct {
	runs, bytesRead, bytesWritten, recordsRemoved, maxMapBytes atomic.Int64
}

// cleaned counts one cleaning pass.
func (c *cleanerCounters) cleaned(bytesRead, bytesWritten, removed, mapBytes int64) {
	c.runs.Add(1)
	c.bytesRead.Add(bytesRead)
	c.bytesWritten.Add(bytesWritten)
	c.recordsRemoved.Add(removed)
	for peak := c.maxMapBytes.Load(); mapBytes > peak && !c.maxMapBytes.CompareAndSwap(peak, mapBytes); {
		peak = c.maxMapBytes.Load()
	}
}

func (c *cleanerCounters) snapshot() CleanerStats {
	return CleanerStats{
		Runs:           c.runs.Load(),
		BytesRead:      c.bytesRead.Load(),
		BytesWritten:   c.bytesWritten.Load(),
		RecordsRemoved: c.recordsRemoved.Load(),
		MapBytes:       c.maxMapBytes.Load(),
	}
}

// Stats returns a snapshot of the Log's counters, partitions and consumer
// groups. It does no I/O. Each number is exact when it is read, but they
// are not read at one instant: a snapshot taken while appends go on may,
// for example, count an append in AppendedRecords and not yet in
// AppendLatency.
func (l *Log) Stats() Stats {
	s := Stats{Cleaner: l.cleaner.snapshot(), Recovery: l.Recovery()}
	l.forEachPartition(func(p *Partition) {
		s.Partitions = append(s.Partitions, p.stats())
	})
	slices.SortFunc(s.Partitions, func(a, b PartitionStats) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	s.Groups = l.groupStats(s.Partitions)
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

		AppendedRecords: p.metrics.appendedRecords.Load(),
		AppendedBytes:   p.metrics.appendedBytes.Load(),
		AppendLatency:   p.metrics.appendLatency.snapshot(),
		FsyncLatency:    p.metrics.fsyncLatency.snapshot(),
		Cleaner:         p.metrics.cleaner.snapshot(),
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
