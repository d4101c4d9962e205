package eventlog_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// The counters, histograms and group statistics of Log.Stats, checked
// against the log's own state. Compaction's statistics are also checked in
// TestCompactStats.

// statsOf returns the statistics of one partition from a snapshot.
func statsOf(t *testing.T, st eventlog.Stats, topic string, id int32) eventlog.PartitionStats {
	t.Helper()
	for _, s := range st.Partitions {
		if s.Topic == topic && s.Partition == id {
			return s
		}
	}
	t.Fatalf("no stats for %s/%d", topic, id)
	return eventlog.PartitionStats{}
}

func TestStatsCountAppends(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 3}))

	// Partition 0: ten appends of 1 to 10 records, each fsynced in turn.
	p0 := partition(t, l, "t", 0)
	for n := 1; n <= 10; n++ {
		recs := make([]eventlog.Record, n)
		for i := range recs {
			recs[i] = rec(fmt.Sprintf("k%d", i), strings.Repeat("v", n))
		}
		_, err := p0.Append(ctx, recs, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	// Partition 1: a producer's batches, as many as it makes.
	prod, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	for i := range 40 {
		prod.SendAsync(ctx, eventlog.Record{Topic: "t", Partition: 1, Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i)}, nil)
	}
	require.NoError(t, prod.Close())

	st := l.Stats()
	for id := range int32(3) {
		s := statsOf(t, st, "t", id)
		p := partition(t, l, "t", id)
		assert.Equal(t, p.LogEndOffset(), s.AppendedRecords, "partition %d: every record of a new log was appended since Open", id)
		assert.Equal(t, s.Bytes, s.AppendedBytes, "partition %d: every byte of its segments was appended since Open", id)
		assert.Equal(t, p.HighWatermark(), s.HighWatermark)
		assert.Equal(t, p.LogStartOffset(), s.LogStartOffset)
		assert.Equal(t, p.LogEndOffset(), s.LogEndOffset)
		assert.Equal(t, 1, s.Segments)
		assert.Len(t, s.AppendLatency.Counts, len(eventlog.LatencyBucketBounds())+1)
		assert.Len(t, s.FsyncLatency.Counts, len(eventlog.LatencyBucketBounds())+1)
	}
	s0, s1, s2 := statsOf(t, st, "t", 0), statsOf(t, st, "t", 1), statsOf(t, st, "t", 2)
	assert.Equal(t, int64(55), s0.AppendedRecords)
	assert.Equal(t, int64(10), s0.AppendLatency.Count())
	assert.Equal(t, int64(10), s0.FsyncLatency.Count(), "one fsync per append: no two ran at once")
	assert.Positive(t, s0.FsyncLatency.Sum)
	assert.GreaterOrEqual(t, s0.AppendLatency.Sum, s0.FsyncLatency.Sum, "each append waited for its fsync")
	assert.Equal(t, int64(40), s1.AppendedRecords)
	assert.Equal(t, s1.AppendLatency.Count(), s1.FsyncLatency.Count(), "one fsync per producer batch")
	assert.Positive(t, s1.AppendLatency.Count())
	assert.LessOrEqual(t, s1.AppendLatency.Count(), int64(40))
	assert.Zero(t, s2.AppendedRecords)
	assert.Zero(t, s2.AppendedBytes)
	assert.Zero(t, s2.AppendLatency.Count())
	assert.Zero(t, s2.AppendLatency.Sum)
	assert.Zero(t, s2.FsyncLatency.Count())
	assert.Equal(t, l.Recovery(), st.Recovery)

	// The counters count since Open; the log's state stays.
	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	st = l.Stats()
	s := statsOf(t, st, "t", 0)
	assert.Zero(t, s.AppendedRecords)
	assert.Zero(t, s.AppendedBytes)
	assert.Zero(t, s.AppendLatency.Count())
	assert.Zero(t, s.FsyncLatency.Count())
	assert.Equal(t, s0.Bytes, s.Bytes)
	assert.Equal(t, int64(55), s.LogEndOffset)
	assert.True(t, st.Recovery.CleanShutdown)

	// After a crash, Open scans the active segment of each partition.
	require.NoError(t, eventlog.Abandon(l))
	l = openLog(t, dir, nil)
	st = l.Stats()
	assert.False(t, st.Recovery.CleanShutdown)
	assert.Equal(t, 3, st.Recovery.SegmentsScanned)
	assert.Equal(t, l.Recovery(), st.Recovery)
}

// The histograms count each duration in the bucket whose bounds hold it,
// the bounds included: fsyncs of MemFS, made to take exact durations of a
// synctest bubble's fake clock.
func TestStatsLatencyHistograms(t *testing.T) {
	bounds := eventlog.LatencyBucketBounds()
	require.Len(t, bounds, 25)
	assert.Equal(t, time.Microsecond, bounds[0])
	assert.Equal(t, 16777216*time.Microsecond, bounds[24])
	for i := 1; i < len(bounds); i++ {
		assert.Equal(t, 2*bounds[i-1], bounds[i])
	}
	bucket := func(d time.Duration) int { // the first bound at or above d
		for i, b := range bounds {
			if d <= b {
				return i
			}
		}
		return len(bounds)
	}
	delays := []time.Duration{0, time.Nanosecond, time.Microsecond, time.Microsecond + 1, 3 * time.Microsecond,
		3 * time.Millisecond, bounds[12], bounds[12] + 1, bounds[24], bounds[24] + 1, time.Minute}

	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		delay := time.Duration(0) // of the next fsync of a segment file
		fsys := eventlog.NewMemFS()
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSync && strings.HasSuffix(name, ".log") {
				mu.Lock()
				d := delay
				mu.Unlock()
				time.Sleep(d)
			}
			return nil
		})
		l, err := eventlog.Open("/log", &eventlog.Options{FS: fsys, SegmentBytes: 1 << 20})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("fsync", eventlog.TopicConfig{}))
		require.NoError(t, l.CreateTopic("os", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		fsyncPart, osPart := partition(t, l, "fsync", 0), partition(t, l, "os", 0)

		want := make([]int64, len(bounds)+1)
		var sum time.Duration
		for _, d := range delays {
			mu.Lock()
			delay = d
			mu.Unlock()
			_, err := fsyncPart.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
			require.NoError(t, err)
			_, err = osPart.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
			require.NoError(t, err)
			want[bucket(d)]++
			sum += d
		}
		st := l.Stats()
		s := statsOf(t, st, "fsync", 0)
		assert.Equal(t, want, s.FsyncLatency.Counts)
		assert.Equal(t, sum, s.FsyncLatency.Sum)
		assert.Equal(t, want, s.AppendLatency.Counts, "in the bubble, an fsync append takes its fsync's time exactly")
		assert.Equal(t, sum, s.AppendLatency.Sum)
		assert.Equal(t, int64(len(delays)), s.FsyncLatency.Count())

		s = statsOf(t, st, "os", 0)
		assert.Zero(t, s.FsyncLatency.Count(), "a DurabilityOS append does not fsync")
		assert.Equal(t, int64(len(delays)/8), s.AppendLatency.Count(), "the 8th appends acknowledged on the write are timed")
		assert.Equal(t, int64(len(delays)/8), s.AppendLatency.Counts[0], "they do not wait")
		assert.Zero(t, s.AppendLatency.Sum)
	})
}

// A segment's roll fsyncs it; FsyncLatency counts that too.
func TestStatsCountRollFsyncs(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	for i := range 100 {
		_, err := p.Append(ctx, []eventlog.Record{rec(fmt.Sprintf("k%d", i), strings.Repeat("v", 50))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	s := statsOf(t, l.Stats(), "t", 0)
	require.Greater(t, s.Segments, 3)
	assert.Equal(t, int64(s.Segments-1), s.FsyncLatency.Count(), "one fsync per closed segment")
	assert.Equal(t, int64(100/8), s.AppendLatency.Count(), "a sample of the appends acknowledged on the write")
	assert.Equal(t, int64(100), s.AppendedRecords)
	assert.Equal(t, s.Bytes, s.AppendedBytes)
}

func TestStatsCleanerPerPartition(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 1024, CleanerBufferBytes: 64 << 10})
	cfg := compactTopic
	cfg.Partitions = 3
	require.NoError(t, l.CreateTopic("t", cfg))
	p0, p1 := partition(t, l, "t", 0), partition(t, l, "t", 1)
	for i := range 300 {
		putKV(t, p0, fmt.Sprintf("k%d", i%10), []byte("value"))
	}
	for i := range 100 {
		putKV(t, p1, fmt.Sprintf("k%d", i%50), []byte("value"))
	}
	require.NoError(t, l.Compact(ctx, "t"))

	st := l.Stats()
	var sum eventlog.CleanerStats
	for id := range int32(3) {
		c := statsOf(t, st, "t", id).Cleaner
		sum.Runs += c.Runs
		sum.BytesRead += c.BytesRead
		sum.BytesWritten += c.BytesWritten
		sum.RecordsRemoved += c.RecordsRemoved
		sum.MapBytes = max(sum.MapBytes, c.MapBytes)
	}
	assert.Equal(t, st.Cleaner, sum, "the Log's counters are the sum of its partitions'")
	c0, c1, c2 := statsOf(t, st, "t", 0).Cleaner, statsOf(t, st, "t", 1).Cleaner, statsOf(t, st, "t", 2).Cleaner
	assert.Equal(t, int64(1), c0.Runs)
	assert.Equal(t, int64(300-len(readAll(t, p0, 0))), c0.RecordsRemoved)
	assert.Equal(t, int64(100-len(readAll(t, p1, 0))), c1.RecordsRemoved)
	assert.Positive(t, c1.RecordsRemoved)
	assert.Greater(t, c0.BytesRead, c0.BytesWritten)
	assert.Positive(t, c0.MapBytes)
	assert.Equal(t, eventlog.CleanerStats{}, c2, "nothing to clean")
}

func TestStatsGroups(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 3}))
	fill(t, l, "t", 3, 4)
	assert.Empty(t, l.Stats().Groups, "no group yet")

	a := groupConsumer(t, l, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return settled(3, a) }, nil, a)
	require.NoError(t, a.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		tp("t", 0): {Offset: 1}, tp("t", 1): {Offset: 2, Metadata: "m"}, tp("t", 2): {Offset: 4},
	}))
	// A group with committed offsets and no members.
	m := newTestConsumer(t, l, &eventlog.ConsumerOptions{GroupID: "manual"}, tp("t", 0))
	require.NoError(t, m.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 3}}))

	st := l.Stats()
	require.Len(t, st.Groups, 2)
	g, manual := st.Groups[0], st.Groups[1]
	assert.Equal(t, "g", g.GroupID)
	assert.Equal(t, eventlog.GroupStable, g.State)
	assert.Equal(t, 1, g.Members)
	md, err := a.GroupMetadata()
	require.NoError(t, err)
	assert.Equal(t, md.GenerationID, g.Generation)
	assert.Equal(t, int64(1), g.Rebalances)
	require.Len(t, g.Offsets, 3)
	for i, want := range []struct{ committed, lag int64 }{{1, 3}, {2, 2}, {4, 0}} {
		o := g.Offsets[i]
		assert.Equal(t, tp("t", int32(i)), o.TopicPartition)
		assert.Equal(t, want.committed, o.Committed)
		assert.Equal(t, int64(4), o.HighWatermark)
		assert.Equal(t, want.lag, o.Lag)
	}
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Equal(t, d.Offsets, g.Offsets, "as DescribeGroup reports them")
	assert.Equal(t, d.State, g.State)
	assert.Equal(t, d.Generation, g.Generation)

	assert.Equal(t, eventlog.GroupStats{GroupID: "manual", State: eventlog.GroupEmpty, Offsets: []eventlog.GroupPartitionOffset{{
		TopicPartition: tp("t", 0), Committed: 3, CommitTime: manual.Offsets[0].CommitTime, HighWatermark: 4, Lag: 1,
	}}}, manual)

	// A second member: a rebalance; then it leaves: another.
	b := groupConsumer(t, l, "g", nil)
	require.NoError(t, b.Subscribe("t"))
	pollUntil(t, func() bool { return settled(3, a, b) }, nil, a, b)
	g = l.Stats().Groups[0]
	assert.Equal(t, 2, g.Members)
	assert.Equal(t, int64(2), g.Rebalances)
	require.NoError(t, b.Close())
	pollUntil(t, func() bool { return settled(3, a) }, nil, a)
	fill(t, l, "t", 3, 1)
	g = l.Stats().Groups[0]
	assert.Equal(t, 1, g.Members)
	assert.Equal(t, int64(3), g.Rebalances)
	assert.Equal(t, int64(g.Generation), g.Rebalances, "generations count from Open too")
	for _, o := range g.Offsets {
		assert.Equal(t, int64(5), o.HighWatermark)
		assert.Equal(t, o.HighWatermark-o.Committed, o.Lag)
	}

	require.NoError(t, a.Close())
	g = l.Stats().Groups[0]
	assert.Equal(t, eventlog.GroupEmpty, g.State)
	assert.Zero(t, g.Members)
	assert.Equal(t, int64(3), g.Rebalances, "leaving an empty group is no rebalance")
	assert.Len(t, g.Offsets, 3)
}

// A group no member joined since Open is reported as DescribeGroup
// describes it, from the metadata that the process running it stored: by a
// read-only Log following a writer whose member is live (a group with
// members, none of which committed), and by the writer reopened after the
// member left, where the group's generation goes on from the stored one.
func TestStatsGroupsStored(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, w, "t", 2, 3)
	a := groupConsumer(t, w, "g", nil)
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, func() bool { return settled(2, a) }, nil, a)
	eventlog.WriteGroupMetadata(w, "g")

	ro := openLog(t, dir, &eventlog.Options{ReadOnly: true})
	d := describe(t, ro, "g")
	require.True(t, d.Stored)
	require.Len(t, d.Members, 1)
	require.Empty(t, d.Offsets)
	assertStatsAsDescribed(t, ro, d)

	require.NoError(t, a.Close()) // commits as it leaves
	require.NoError(t, w.Close())
	w = openLog(t, dir, nil)
	d = describe(t, w, "g")
	require.True(t, d.Stored)
	require.Positive(t, d.Generation)
	require.NotEmpty(t, d.Offsets)
	assertStatsAsDescribed(t, w, d)
}

// assertStatsAsDescribed checks that l.Stats reports its one group, which
// no member joined since Open, as d describes it.
func assertStatsAsDescribed(t *testing.T, l *eventlog.Log, d eventlog.GroupDescription) {
	t.Helper()
	st := l.Stats()
	require.Len(t, st.Groups, 1)
	g := st.Groups[0]
	assert.Equal(t, d.GroupID, g.GroupID)
	assert.Equal(t, d.State, g.State)
	assert.Equal(t, len(d.Members), g.Members)
	assert.Equal(t, d.Generation, g.Generation)
	assert.ElementsMatch(t, d.Offsets, g.Offsets)
	assert.Zero(t, g.Rebalances, "none since Open")
}
