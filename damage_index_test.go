package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
)

// appendStamped appends n single-record batches to p, the i-th stamped
// t0 plus i times step, and returns their timestamps by offset.
func appendStamped(t *testing.T, p *eventlog.Partition, n int, t0 time.Time, step time.Duration) []time.Time {
	t.Helper()
	stamps := make([]time.Time, n)
	for i := range n {
		stamps[i] = t0.Add(time.Duration(i) * step)
		off, err := p.Append(ctx, []eventlog.Record{{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: stamps[i]}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(i), off)
	}
	return stamps
}

// A closed segment's .timeindex with a bit flipped in a middle entry, which
// keeps the entries in order, is not believed: OffsetForTime checks the
// entry it relies on against the batches it covers, finds the first record
// at or after the time asked for, not a later one, and rebuilds the index,
// as Verify says.
func TestOffsetForTimeDistrustsDamagedTimeIndexEntry(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 4096, IndexIntervalBytes: 256}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	t0 := clk.Now()
	stamps := appendStamped(t, partition(t, l, "t", 0), 200, t0, 10*time.Millisecond)
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 1)

	// Lower a middle entry's timestamp by flipping one of its bits, keeping
	// it above the entry before, so that the entries stay in order.
	path := fmt.Sprintf("/d/topics/t/0/%020d.timeindex", bases[0])
	good, err := fsys.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(good)/12, 4, "entries to damage")
	entry := func(b []byte, i int) (int64, uint32) {
		return int64(binary.BigEndian.Uint64(b[i*12:])), binary.BigEndian.Uint32(b[i*12+8:])
	}
	var k, bit int
	var prevMax, maxTs int64
	var rel uint32
	for k = 1; k < len(good)/12-1 && bit == 0; k++ {
		prevMax, _ = entry(good, k-1)
		maxTs, rel = entry(good, k)
		for b := 62; b > 0 && bit == 0; b-- {
			if maxTs&(1<<b) != 0 && maxTs-1<<b > prevMax {
				bit = b
			}
		}
	}
	k--
	require.Positive(t, bit, "a middle entry with a bit whose flip keeps the entries in order")
	damaged := append([]byte(nil), good...)
	binary.BigEndian.PutUint64(damaged[k*12:], uint64(maxTs-1<<bit))
	require.NoError(t, fsys.WriteFile(path, damaged, 0o644))

	report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	require.Len(t, report.Problems, 1)
	require.Equal(t, eventlog.ProblemIndex, report.Problems[0].Kind)
	assert.Contains(t, report.Problems[0].Reason, "rebuilds the index")

	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	// Asked for a time between the damaged maximum and the true one, the
	// index sends the lookup past the answer, to entry k's batch.
	ts := time.UnixMilli(maxTs - 1<<bit + 1)
	want := int64(slices.IndexFunc(stamps, func(s time.Time) bool { return !s.Before(ts) }))
	require.Less(t, want, bases[0]+int64(rel))
	off, found, err := p.OffsetForTime(ts)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, want, off, "OffsetForTime(%d) skips no record", ts.UnixMilli())

	rebuilt, err := fsys.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, good, rebuilt, "the time index is rebuilt")
	report, err = eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, report.Problems, "as Verify said")
	for i, s := range stamps {
		off, found, err := p.OffsetForTime(s)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, int64(i), off, "OffsetForTime(%d)", s.UnixMilli())
	}
}

// damageLastBatch removes the index files of the closed segment at base of
// topic t, partition 0, and flips a byte near the end of its log, in its
// last batch, so that the index cannot be rebuilt. It returns the log's
// path.
func damageLastBatch(t *testing.T, fsys *eventlog.MemFS, base int64) string {
	t.Helper()
	stem := fmt.Sprintf("/d/topics/t/0/%020d", base)
	for _, ext := range []string{".index", ".timeindex"} {
		if err := fsys.Remove(stem + ext); err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
	}
	data, err := fsys.ReadFile(stem + ".log")
	require.NoError(t, err)
	data[len(data)-3] ^= 0xff
	require.NoError(t, fsys.WriteFile(stem+".log", data, 0o644))
	return stem + ".log"
}

// A closed segment whose index files are missing and whose last batch is
// damaged serves the records before the damage; a read fails only when it
// reaches the damage, with an error naming the file.
func TestReadBeforeDamageWithoutIndex(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024, IndexIntervalBytes: 128}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 50, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 2)
	path := damageLastBatch(t, fsys, bases[1])

	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	damagedAt := bases[2] - 1 // a single-record batch
	for off := bases[1]; off < damagedAt; off++ {
		recs, err := p.Read(off, 1)
		require.NoError(t, err, "read at %d, before the damage", off)
		require.NotEmpty(t, recs)
		assert.Equal(t, off, recs[0].Offset)
		assert.Equal(t, fmt.Sprintf("v%d", off), string(recs[0].Value))
	}
	_, err := p.Read(damagedAt, 1)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, path, ce.Path)
	recs, err := p.Read(bases[2], 1)
	require.NoError(t, err, "the segment after")
	assert.Equal(t, bases[2], recs[0].Offset)
}

// Time retention judges a closed segment whose index cannot be rebuilt (its
// log is damaged, its index files gone) by the timestamps it holds, the
// damaged batch's included: it deletes the segment, and those after it, once
// they are past retention, and not before; with no copy, as the records
// are past retention (see the package doc's Retention).
func TestRetentionByAgePastDamagedSegment(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 30, eventlog.AppendOptions{})
	// A segment of its own, as it fills one, stamped later than the rest.
	big, err := p.Append(ctx, []eventlog.Record{{Value: make([]byte, 900), Timestamp: clk.Now().Add(2 * time.Hour)}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	appendN(t, p, 30, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Contains(t, bases, big)
	require.Contains(t, bases, big+1)
	require.Greater(t, bases[len(bases)-1], big+1)
	damageLastBatch(t, fsys, bases[0])
	damageLastBatch(t, fsys, big)

	l = openLog(t, "/d", opts)
	p = partition(t, l, "t", 0)
	clk.Advance(90 * time.Minute)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, big, p.LogStartOffset(), "the segments before the recent one are deleted, the damaged one first")
	clk.Advance(2 * time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, bases[len(bases)-1], p.LogStartOffset(), "every closed segment is past retention")
	names, err := fsys.ReadDir("/d/topics/t/0")
	require.NoError(t, err)
	for _, name := range names {
		assert.NotContains(t, name, ".broken", "retention keeps no copy")
	}
}

// The index files of an active segment that went on after clean shutdowns
// hold the closing time entry of each session in the middle, at a batch
// with no offset entry; they match the log, and Open trusts them.
func TestActiveSegmentIndexTrustedAcrossCleanRestarts(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, IndexIntervalBytes: 128}
	for i := range 4 {
		l := openLog(t, "/d", opts)
		if i == 0 {
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		}
		assert.Zero(t, l.Recovery().SegmentsScanned, "open %d", i)
		assert.Zero(t, l.Recovery().IndexesRebuilt, "open %d", i)
		for range 17 { // the second session ends between index entries
			clk.Advance(time.Second)
			appendN(t, partition(t, l, "t", 0), 1, eventlog.AppendOptions{})
		}
		require.NoError(t, l.Close())
	}
	require.Len(t, segmentBases(t, fsys, "/d/topics/t/0"), 1)
}

// A closed segment's .timeindex whose last entry, the segment's newest
// timestamp, has a bit flipped that lowers it, keeping the entries in order,
// is not believed: retention, which deletes the segment by that timestamp,
// would delete records not yet past retention. Here the segment's newest
// record is in the interval before its last batch, which is at an index
// entry, so that nothing but that entry records it.
func TestRetentionDistrustsDamagedLastTimeIndexEntry(t *testing.T) {
	// Seven batches, with index entries at the fourth and the seventh,
	// the last.
	fsys, clk, t0, opts, path, ti := stampedSegments(t, 7)
	require.Len(t, ti, 24, "entries at offsets 3 and 6")
	require.Equal(t, uint32(6), binary.BigEndian.Uint32(ti[20:]))
	prev, newest := int64(binary.BigEndian.Uint64(ti[0:])), int64(binary.BigEndian.Uint64(ti[12:]))
	require.Equal(t, t0.Add(2*time.Hour).UnixMilli(), newest)
	lowered := int64(-1)
	for bit := 62; bit >= 0 && lowered < 0; bit-- {
		if newest&(1<<bit) != 0 && newest-1<<bit >= prev {
			lowered = newest - 1<<bit
		}
	}
	require.GreaterOrEqual(t, lowered, prev, "a bit whose flip keeps the entries in order")
	binary.BigEndian.PutUint64(ti[12:], uint64(lowered))
	require.NoError(t, fsys.WriteFile(path, ti, 0o644))

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	// Past retention by the damaged entry, not by the segment's newest
	// record.
	clk.Advance(time.UnixMilli(lowered+(newest-lowered)/2).Sub(t0) + time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset(), "the segment holds a record not yet past retention")
	recs, err := p.Read(4, 1)
	require.NoError(t, err)
	assert.True(t, recs[0].Timestamp.Equal(t0.Add(2*time.Hour)))
}

// stampedSegments writes topic "t", whose retention is an hour, of a log
// in "/d" of a MemFS: 2n batches of one record, in two closed segments of
// n batches with an index entry every third, each stamped t0 but the
// fifth, two hours later. It returns the log's options and the first
// segment's .timeindex, its path and its bytes.
func stampedSegments(t *testing.T, n int) (fsys *eventlog.MemFS, clk *clock, t0 time.Time, opts *eventlog.Options, path string, ti []byte) {
	t.Helper()
	fsys = eventlog.NewMemFS()
	size := stampedBatchSize(t, fsys)
	clk = newClock()
	t0 = clk.Now()
	opts = &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: int64(n) * size, IndexIntervalBytes: int(3 * size)}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
	p := partition(t, l, "t", 0)
	for i := range 2 * n {
		ts := t0
		if i == 4 {
			ts = t0.Add(2 * time.Hour)
		}
		_, err := p.Append(ctx, stamped(ts), eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	require.Equal(t, []int64{0, int64(n)}, segmentBases(t, fsys, "/d/topics/t/0"))
	path = "/d/topics/t/0/00000000000000000000.timeindex"
	ti, err := fsys.ReadFile(path)
	require.NoError(t, err)
	return fsys, clk, t0, opts, path, ti
}

// The same damage in the active segment's .timeindex, which Open reads
// after a crash to resume from the recovery point, is not believed either:
// the segment, once rolled, would be deleted by the damaged timestamp.
func TestRetentionDistrustsDamagedTimeIndexOfCrashedActiveSegment(t *testing.T) {
	fsys := eventlog.NewMemFS()
	size := stampedBatchSize(t, fsys)

	clk := newClock()
	t0 := clk.Now()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 10 * size, IndexIntervalBytes: int(3 * size)}
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
	p := partition(t, l, "t", 0)
	for i := range 8 {
		ts := t0
		if i == 4 {
			ts = t0.Add(2 * time.Hour)
		}
		_, err := p.Append(ctx, stamped(ts), eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	require.NoError(t, eventlog.Abandon(l))

	path := "/d/topics/t/0/00000000000000000000.timeindex"
	ti, err := fsys.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, ti, 24, "entries at offsets 3 and 6")
	prev, newest := int64(binary.BigEndian.Uint64(ti[0:])), int64(binary.BigEndian.Uint64(ti[12:]))
	require.Equal(t, t0.Add(2*time.Hour).UnixMilli(), newest)
	lowered := int64(-1)
	for bit := 62; bit >= 0 && lowered < 0; bit-- {
		if newest&(1<<bit) != 0 && newest-1<<bit >= prev {
			lowered = newest - 1<<bit
		}
	}
	require.GreaterOrEqual(t, lowered, prev, "a bit whose flip keeps the entries in order")
	binary.BigEndian.PutUint64(ti[12:], uint64(lowered))
	require.NoError(t, fsys.WriteFile(path, ti, 0o644))

	l = openLog(t, "/d", opts)
	p = partition(t, l, "t", 0)
	_, err = p.Append(ctx, []eventlog.Record{{Value: make([]byte, 3*size), Timestamp: t0}}, eventlog.AppendOptions{}) // rolls
	require.NoError(t, err)
	require.Equal(t, []int64{0, 8}, segmentBases(t, fsys, "/d/topics/t/0"))
	clk.Advance(time.UnixMilli(lowered+(newest-lowered)/2).Sub(t0) + time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset(), "the segment holds a record not yet past retention")
}

// OffsetForTime finds a record before the damage in a closed segment whose
// index cannot be rebuilt, as it does when the segment's index files are
// there, and fails, naming the file, only when the answer may lie past
// the damage.
func TestOffsetForTimeBeforeDamageWithoutIndex(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024, IndexIntervalBytes: 128}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	stamps := appendStamped(t, partition(t, l, "t", 0), 40, clk.Now(), time.Millisecond)
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 2)
	path := damageLastBatch(t, fsys, bases[0])

	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	for i := range bases[1] - 1 {
		off, found, err := p.OffsetForTime(stamps[i])
		require.NoError(t, err, "OffsetForTime(%d), before the damage", stamps[i].UnixMilli())
		assert.True(t, found)
		assert.Equal(t, i, off)
	}
	_, _, err := p.OffsetForTime(stamps[bases[1]-1])
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce, "the damaged batch holds the answer")
	assert.Equal(t, path, ce.Path)
}

// stamped is one record of the two tests of damaged last time entries, of
// a fixed size, stamped ts.
func stamped(ts time.Time) []eventlog.Record {
	return []eventlog.Record{{Key: []byte("k"), Value: make([]byte, 100), Timestamp: ts}}
}

// stampedBatchSize returns the size of a batch of stamped, to lay out
// segments by, from a log it writes under /probe in fsys.
func stampedBatchSize(t *testing.T, fsys *eventlog.MemFS) int64 {
	t.Helper()
	probe := openLog(t, "/probe", &eventlog.Options{FS: fsys})
	require.NoError(t, probe.CreateTopic("t", eventlog.TopicConfig{}))
	_, err := partition(t, probe, "t", 0).Append(ctx, stamped(time.Now()), eventlog.AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, probe.Close())
	b, err := fsys.ReadFile("/probe/topics/t/0/00000000000000000000.log")
	require.NoError(t, err)
	return int64(len(b))
}

// unstampedBatch is a Kafka producer's batch of one record with no
// timestamp (-1), as clients older than Kafka 0.10's message format
// leave them.
func unstampedBatch(t *testing.T, i int) []byte {
	t.Helper()
	r := kmsg.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
	r.Length = int32(len(r.AppendTo(nil)) - 1) // a one-byte length varint
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: -1, MaxTimestamp: -1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: r.AppendTo(nil),
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	return reCRC(raw)
}

// Closed segments whose records have no timestamps keep the index files
// written for them: the next Open's reads rebuild none, and Verify finds
// nothing wrong with them.
func TestUnstampedSegmentsKeepTheirIndexes(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 2048, IndexIntervalBytes: 256}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	for i := range 100 {
		off, err := p.AppendBatch(ctx, unstampedBatch(t, i), eventlog.AppendOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(i), off)
	}
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 2)

	report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, report.Problems)
	for range 2 {
		l = openLog(t, "/d", opts)
		p = partition(t, l, "t", 0)
		for _, base := range bases {
			recs, err := p.Read(base+3, 1)
			require.NoError(t, err)
			require.NotEmpty(t, recs)
			assert.Equal(t, base+3, recs[0].Offset)
			assert.Equal(t, fmt.Sprintf("v%d", base+3), string(recs[0].Value))
		}
		assert.Zero(t, l.Recovery().IndexesRebuilt)
		require.NoError(t, l.Close())
	}
}

// A closed segment's .timeindex middle entry overwritten whole, with stale
// bytes that name a later batch and a lower maximum, which match the
// batches from the offset entry before that batch on, is not believed
// either, nor two such entries in a row: OffsetForTime checks the entries
// it relies on against every batch since the entry two before, finds the
// record the damaged entries would skip, and rebuilds the index.
func TestOffsetForTimeDistrustsRewrittenTimeIndexEntry(t *testing.T) {
	// Fourteen batches, with offset entries every two from the third on.
	fsys := eventlog.NewMemFS()
	size := stampedBatchSize(t, fsys)
	clk := newClock()
	t0 := clk.Now()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 14 * size, IndexIntervalBytes: int(2 * size)}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	for i := range 20 {
		ts := t0
		switch i {
		case 3:
			ts = t0.Add(time.Hour) // a record stamped later than those after it
		case 9:
			ts = t0.Add(2 * time.Hour)
		case 11:
			ts = t0.Add(3 * time.Hour)
		}
		_, err := p.Append(ctx, stamped(ts), eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	require.Equal(t, []int64{0, 14}, segmentBases(t, fsys, "/d/topics/t/0"))

	path := "/d/topics/t/0/00000000000000000000.timeindex"
	ti, err := fsys.ReadFile(path)
	require.NoError(t, err)
	entry := func(i int) (int64, uint32) {
		return int64(binary.BigEndian.Uint64(ti[i*12:])), binary.BigEndian.Uint32(ti[i*12+8:])
	}
	require.Len(t, ti, 5*12)
	for i, want := range []struct {
		ts  time.Time
		rel uint32
	}{{t0, 2}, {t0.Add(time.Hour), 4}, {t0.Add(2 * time.Hour), 10}, {t0.Add(3 * time.Hour), 12}, {t0.Add(3 * time.Hour), 13}} {
		maxTs, rel := entry(i)
		require.Equal(t, want.ts.UnixMilli(), maxTs, "entry %d", i)
		require.Equal(t, want.rel, rel, "entry %d", i)
	}
	for name, damaged := range map[string][]struct {
		i   int
		rel uint32
	}{
		// The second entry says the batches up to offset 6 are no newer
		// than t0: as the batches from the offset entry at 4 to 6 are.
		"one": {{1, 6}},
		// The second says so up to offset 4, and the third up to 8, as
		// the batches from the second's on are.
		"two in a row": {{1, 4}, {2, 8}},
	} {
		b := slices.Clone(ti)
		for _, d := range damaged {
			binary.BigEndian.PutUint64(b[d.i*12:], uint64(t0.UnixMilli()))
			binary.BigEndian.PutUint32(b[d.i*12+8:], d.rel)
		}
		require.NoError(t, fsys.WriteFile(path, b, 0o644))

		l = openLog(t, "/d", opts)
		p = partition(t, l, "t", 0)
		off, found, err := p.OffsetForTime(t0.Add(30 * time.Minute))
		require.NoError(t, err, name)
		assert.True(t, found, name)
		assert.Equal(t, int64(3), off, "%s: OffsetForTime skips no record", name)
		require.NoError(t, l.Close())
		rebuilt, err := fsys.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, ti, rebuilt, "%s: the time index is rebuilt", name)
	}
}

// Two damaged entries at the end of a closed segment's .timeindex, the
// last (the segment's newest timestamp) and the one before, both lowered
// so that the last agrees with the one before and the batches after it,
// are not believed either: time retention would delete the segment by
// the lowered timestamp, before its newest record is past retention.
func TestRetentionDistrustsTwoDamagedLastTimeIndexEntries(t *testing.T) {
	// Ten batches, with index entries at the fourth, the seventh and the
	// tenth, the last.
	fsys, clk, t0, opts, path, ti := stampedSegments(t, 10)
	require.Len(t, ti, 36, "entries at offsets 3, 6 and 9")
	for i, rel := range []uint32{3, 6, 9} {
		require.Equal(t, rel, binary.BigEndian.Uint32(ti[i*12+8:]))
	}
	require.Equal(t, t0.Add(2*time.Hour).UnixMilli(), int64(binary.BigEndian.Uint64(ti[24:])))
	lowered := t0.Add(time.Hour).UnixMilli()
	binary.BigEndian.PutUint64(ti[12:], uint64(lowered))
	binary.BigEndian.PutUint64(ti[24:], uint64(lowered))
	require.NoError(t, fsys.WriteFile(path, ti, 0o644))

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	// Past retention by the damaged entries, not by the segment's newest
	// record.
	clk.Advance(150 * time.Minute)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset(), "the segment holds a record not yet past retention")
	clk.Advance(time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, int64(10), p.LogStartOffset(), "and is deleted once it is")
}
