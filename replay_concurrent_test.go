package eventlog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// replayLog opens a log with topic "t" of partitions, each holding
// batches of 10 records "p<partition>-<i>" in segments of a few batches.
func replayLog(t *testing.T, partitions, batches int, cfg eventlog.TopicConfig) *eventlog.Log {
	t.Helper()
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true, SegmentBytes: 1024})
	cfg.Partitions, cfg.Durability = partitions, eventlog.DurabilityOS
	require.NoError(t, l.CreateTopic("t", cfg))
	for id := range int32(partitions) {
		p := partition(t, l, "t", id)
		for b := range batches {
			recs := make([]eventlog.Record, 10)
			for i := range recs {
				recs[i] = rec(fmt.Sprintf("k%d", i%4), fmt.Sprintf("p%d-%d", id, b*10+i))
			}
			_, err := p.Append(ctx, recs, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	return l
}

// replayed runs Replay with fn called after each record is noted, and
// returns the records as "partition/offset:value", with Replay's error.
func replayed(l *eventlog.Log, fn func(n int, v *eventlog.RecordView) error) ([]string, error) {
	var got []string
	err := l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
		got = append(got, fmt.Sprintf("%d/%d:%s", v.Partition, v.Offset, v.Value))
		return fn(len(got), v)
	})
	return got, err
}

// assertAscending checks that each partition's offsets only go up: no
// record twice.
func assertAscending(t *testing.T, got []string) {
	t.Helper()
	last := map[int32]int64{}
	for _, s := range got {
		var part int32
		var off int64
		_, err := fmt.Sscanf(s, "%d/%d:", &part, &off)
		require.NoError(t, err)
		if prev, ok := last[part]; ok {
			assert.Greater(t, off, prev, "partition %d: offsets after %d", part, prev)
		}
		last[part] = off
	}
}

func TestReplayWhileRecordsAreDeleted(t *testing.T) {
	l := replayLog(t, 2, 20, eventlog.TopicConfig{})
	got, err := replayed(l, func(n int, v *eventlog.RecordView) error {
		if n == 1 {
			// Below the start of partition 1, not yet read, and far
			// into partition 0, being read.
			_, err := l.DeleteRecords(ctx, "t", 1, 55)
			require.NoError(t, err)
			_, err = l.DeleteRecords(ctx, "t", 0, 120)
			require.NoError(t, err)
		}
		return nil
	})
	require.NoError(t, err)
	assertAscending(t, got)
	require.NotEmpty(t, got)
	assert.Equal(t, "0/0:p0-0", got[0])
	assert.Contains(t, got, "0/199:p0-199")
	var first1 string
	for _, s := range got {
		if s[0] == '1' {
			first1 = s
			break
		}
	}
	assert.Equal(t, "1/55:p1-55", first1, "partition 1 starts at its log start as of its turn")
	assert.Equal(t, "1/199:p1-199", got[len(got)-1])
}

// A replay that DeleteRecords overtakes goes on from the new log start: it
// finishes the segment it holds, but yields no record below the log start
// from the segments it enters afterwards, as a read started then would
// not; the same holds for Partition.Views.
func TestReplayOvertakenByDeleteRecordsGoesOnFromLogStart(t *testing.T) {
	// Inside a batch of a segment after the one held, which DeleteRecords
	// drops along with the one before.
	testReplayOvertakenByDeleteRecords(t, 125)
}

// The same when DeleteRecords leaves the segment after the one held, the
// new log start inside it: the replay goes on from there, not from the
// segment's base.
func TestReplayOvertakenByDeleteRecordsInTheNextSegment(t *testing.T) {
	testReplayOvertakenByDeleteRecords(t, 75)
}

func testReplayOvertakenByDeleteRecords(t *testing.T, start int64) {
	check := func(t *testing.T, offsets []int64) {
		t.Helper()
		require.NotEmpty(t, offsets)
		assert.Equal(t, int64(0), offsets[0])
		for i := 1; i < len(offsets); i++ {
			if offsets[i] != offsets[i-1]+1 {
				assert.Equal(t, start, offsets[i], "the offset after %d, the end of the segment held", offsets[i-1])
				break
			}
		}
		assert.Equal(t, int64(199), offsets[len(offsets)-1])
		// The segment held at the first record ends before start-1
		// (segments of 1 KiB hold 5 batches of 10).
		assert.NotContains(t, offsets, start-1, "a record below the log start, of a segment entered after DeleteRecords")
	}
	t.Run("Replay", func(t *testing.T) {
		l := replayLog(t, 1, 20, eventlog.TopicConfig{})
		var offsets []int64
		require.NoError(t, l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
			if offsets = append(offsets, v.Offset); len(offsets) == 1 {
				_, err := l.DeleteRecords(ctx, "t", 0, start)
				require.NoError(t, err)
			}
			return nil
		}))
		check(t, offsets)
	})
	t.Run("Views", func(t *testing.T) {
		l := replayLog(t, 1, 20, eventlog.TopicConfig{})
		var offsets []int64
		for v, err := range partition(t, l, "t", 0).Views(0) {
			require.NoError(t, err)
			if offsets = append(offsets, v.Offset); len(offsets) == 1 {
				_, err := l.DeleteRecords(ctx, "t", 0, start)
				require.NoError(t, err)
			}
		}
		check(t, offsets)
	})
}

// The same when DeleteRecords drops the segment a loop looks up between
// the lookup and its acquiring: the loop goes on from the log start, the
// records of its batch below it skipped.
func TestViewsOvertakenByDeleteRecordsAtLookup(t *testing.T) {
	const start = 125 // inside a batch of the third segment
	l := replayLog(t, 1, 20, eventlog.TopicConfig{})
	var armed atomic.Bool
	eventlog.SetSegmentHook(l, func(eventlog.TopicPartition) {
		if armed.CompareAndSwap(true, false) {
			_, err := l.DeleteRecords(ctx, "t", 0, start)
			require.NoError(t, err)
		}
	})
	defer eventlog.SetSegmentHook(l, nil)
	var offsets []int64
	for v, err := range partition(t, l, "t", 0).Views(0) {
		require.NoError(t, err)
		if offsets = append(offsets, v.Offset); len(offsets) == 1 {
			armed.Store(true) // at the lookup of the next segment
		}
	}
	require.Len(t, offsets, 50+200-start, "the first segment, and the records from the log start")
	assert.Equal(t, int64(49), offsets[49])
	assert.Equal(t, int64(start), offsets[50], "the offset after the segment held")
}

// A copying read (Partition.Read, Consumer.Poll) that DeleteRecords
// overtakes at its lookup of a segment skips the records below the log
// start as the view loops do.
func TestReadOvertakenByDeleteRecordsAtLookup(t *testing.T) {
	const start = 125 // inside a batch of the third segment
	l := replayLog(t, 1, 20, eventlog.TopicConfig{})
	lookups := 0
	eventlog.SetSegmentHook(l, func(eventlog.TopicPartition) {
		if lookups++; lookups == 2 { // the second segment's
			_, err := l.DeleteRecords(ctx, "t", 0, start)
			require.NoError(t, err)
		}
	})
	defer eventlog.SetSegmentHook(l, nil)
	recs, err := partition(t, l, "t", 0).Read(0, 1<<20)
	require.NoError(t, err)
	offsets := make([]int64, len(recs))
	for i, r := range recs {
		offsets[i] = r.Offset
	}
	require.Len(t, offsets, 50+200-start, "the first segment, and the records from the log start")
	assert.Equal(t, int64(49), offsets[49])
	assert.Equal(t, int64(start), offsets[50], "the offset after the segment held")
}

// Retention or DeleteRecords moving a partition's log start offset as a
// replay starts reading it does not fail the replay with
// ErrOffsetOutOfRange: it reads from the new log start.
func TestReplayStartsAtALogStartThatMoves(t *testing.T) {
	l := replayLog(t, 2, 3, eventlog.TopicConfig{})
	eventlog.SetReplayHook(l, func(tp eventlog.TopicPartition) {
		if tp.Partition == 1 {
			_, err := l.DeleteRecords(ctx, "t", 1, 12)
			require.NoError(t, err)
		}
	})
	defer eventlog.SetReplayHook(l, nil)
	got, err := replayed(l, func(int, *eventlog.RecordView) error { return nil })
	require.NoError(t, err)
	require.Len(t, got, 30+18)
	assert.Equal(t, "1/12:p1-12", got[30])

	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Len(t, latest, 4)
}

func TestReplayWhileCompacting(t *testing.T) {
	l := replayLog(t, 2, 20, eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: 0.01})
	got, err := replayed(l, func(n int, v *eventlog.RecordView) error {
		if n == 5 || n == 250 {
			require.NoError(t, l.Compact(ctx, "t"))
		}
		return nil
	})
	require.NoError(t, err)
	assertAscending(t, got)
	assert.Equal(t, "1/199:p1-199", got[len(got)-1])
	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"k0": []byte("p1-198"), "k1": []byte("p1-199"), "k2": []byte("p1-196"), "k3": []byte("p1-197")}, latest)
}

func TestReplayWhileTopicChanges(t *testing.T) {
	t.Run("deleted", func(t *testing.T) {
		l := replayLog(t, 2, 3, eventlog.TopicConfig{})
		got, err := replayed(l, func(n int, v *eventlog.RecordView) error {
			if n == 1 {
				require.NoError(t, l.DeleteTopic(ctx, "t"))
			}
			return nil
		})
		assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
		assertAscending(t, got)
	})
	t.Run("re-created", func(t *testing.T) {
		l := replayLog(t, 2, 3, eventlog.TopicConfig{})
		got, err := replayed(l, func(n int, v *eventlog.RecordView) error {
			if n == 1 {
				require.NoError(t, l.DeleteTopic(ctx, "t"))
				require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 3}))
				produce(t, l, 0, 2, "new")
				produce(t, l, 1, 2, "new")
			}
			return nil
		})
		assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
		for _, s := range got {
			assert.NotContains(t, s, "new", "a record of the new topic")
		}
	})
	t.Run("partitions added", func(t *testing.T) {
		l := replayLog(t, 2, 3, eventlog.TopicConfig{})
		got, err := replayed(l, func(n int, v *eventlog.RecordView) error {
			if n == 1 {
				require.NoError(t, l.CreatePartitions(ctx, "t", 3))
				produce(t, l, 2, 2, "new")
			}
			return nil
		})
		require.NoError(t, err)
		assert.Len(t, got, 60, "the partitions as of the call")
	})
	t.Run("closed", func(t *testing.T) {
		l := replayLog(t, 2, 3, eventlog.TopicConfig{})
		got, err := replayed(l, func(n int, v *eventlog.RecordView) error {
			if n == 1 {
				require.NoError(t, l.Close())
			}
			return nil
		})
		assert.ErrorIs(t, err, eventlog.ErrClosed)
		assert.LessOrEqual(t, len(got), 10, "the rest of the batch at most")
	})
	t.Run("cancelled", func(t *testing.T) {
		l := replayLog(t, 2, 3, eventlog.TopicConfig{})
		cctx, cancel := context.WithCancel(ctx)
		n := 0
		err := l.Replay(cctx, "t", func(v *eventlog.RecordView) error {
			if n++; n == 3 {
				cancel()
			}
			return nil
		})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 10, n, "to the end of the batch")
		_, err = l.ReplayLatest(cctx, "t")
		assert.ErrorIs(t, err, context.Canceled)
	})
}
