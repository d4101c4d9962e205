package eventlog_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// viewed describes views as polled describes records.
func viewed(t *testing.T, seq func(func(*eventlog.RecordView, error) bool), limit int) []string {
	t.Helper()
	var out []string
	for v, err := range seq {
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%d/%d:%s", v.Partition, v.Offset, v.Value))
		if len(out) == limit {
			break
		}
	}
	return out
}

// TestConsumerViewsMatchRecords reads the same partitions through Views and
// through Records: the same records in the same order, taken from the
// partitions in turn, MaxPollRecords at a time.
func TestConsumerViewsMatchRecords(t *testing.T) {
	l := consumerLog(t, 3, nil)
	for part := range int32(3) {
		for range 4 {
			produce(t, l, part, 5, fmt.Sprintf("p%d-", part))
		}
	}
	opts := &eventlog.ConsumerOptions{MaxPollRecords: 7, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}
	views := newTestConsumer(t, l, opts, tpart(0), tpart(1), tpart(2))
	records := newTestConsumer(t, l, opts, tpart(0), tpart(1), tpart(2))
	var want []string
	for r, err := range records.Records(ctx) {
		require.NoError(t, err)
		want = append(want, fmt.Sprintf("%d/%d:%s", r.Partition, r.Offset, r.Value))
	}
	require.Len(t, want, 60)
	got := viewed(t, views.Views(ctx), -1)
	assert.Equal(t, want, got)
	assert.Equal(t, []string{"0/0:p0-0", "0/1:p0-1", "0/2:p0-2", "0/3:p0-3", "0/4:p0-4", "0/5:p0-0", "0/6:p0-1", "1/0:p1-0"}, got[:8], "7 from a partition, then the next")
	for part := range int32(3) {
		pos, err := views.Position(tpart(part))
		require.NoError(t, err)
		assert.Equal(t, int64(20), pos)
	}
}

func TestConsumerViewsPositions(t *testing.T) {
	l := consumerLog(t, 2, nil)
	produce(t, l, 0, 10, "a")
	produce(t, l, 1, 10, "b")
	opts := &eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}

	t.Run("break in a batch", func(t *testing.T) {
		c := newTestConsumer(t, l, opts, tpart(0))
		assert.Equal(t, []string{"0/0:a0", "0/1:a1", "0/2:a2"}, viewed(t, c.Views(ctx), 3))
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, int64(3), pos, "right after the last record yielded")
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, "a3", string(recs[0].Value), "Poll goes on from there")
	})

	t.Run("position inside the loop", func(t *testing.T) {
		c := newTestConsumer(t, l, opts, tpart(0))
		for v, err := range c.Views(ctx) {
			require.NoError(t, err)
			pos, err := c.Position(tpart(0))
			require.NoError(t, err)
			assert.Greater(t, pos, v.Offset, "past the batch being yielded")
		}
	})

	t.Run("seek and pause in the body", func(t *testing.T) {
		c := newTestConsumer(t, l, opts, tpart(0))
		var got []string
		for v, err := range c.Views(ctx) {
			require.NoError(t, err)
			got = append(got, fmt.Sprintf("%d/%d", v.Partition, v.Offset))
			if len(got) == 1 {
				require.NoError(t, c.Seek(tpart(0), 8))
			}
		}
		assert.Equal(t, []string{"0/0", "0/8", "0/9"}, got)

		c = newTestConsumer(t, l, opts, tpart(0), tpart(1))
		got = got[:0]
		for v, err := range c.Views(ctx) {
			require.NoError(t, err)
			got = append(got, fmt.Sprintf("%d/%d", v.Partition, v.Offset))
			if len(got) == 1 {
				require.NoError(t, c.Pause(tpart(1)))
			}
		}
		assert.Len(t, got, 10, "partition 0 only")
		assert.NotContains(t, got, "1/0", "nothing of the paused partition")
		pos, err := c.Position(tpart(1))
		require.NoError(t, err)
		assert.Equal(t, int64(0), pos)
	})

	t.Run("to the end", func(t *testing.T) {
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 4}, tpart(0), tpart(1))
		require.NoError(t, c.SeekToBeginning())
		n := 0
		for v, err := range c.ViewsToEnd(ctx) {
			require.NoError(t, err)
			if n == 0 {
				produce(t, l, v.Partition, 2, "late")
			}
			assert.NotContains(t, string(v.Value), "late")
			n++
		}
		assert.Equal(t, 20, n)
		for part := range int32(2) {
			pos, err := c.Position(tpart(part))
			require.NoError(t, err)
			assert.Equal(t, int64(10), pos, "at the end the loop saw")
		}
	})
}

// TestConsumerViewsAcrossCompactionGaps: a view loop that ends at a gap a
// cleaning left after the last record still finishes, positioned past it.
func TestConsumerViewsAcrossCompactionGaps(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS, CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: 0.01}))
	p := partition(t, l, "t", 0)
	for i := range 300 {
		putKV(t, p, fmt.Sprintf("k%d", i%3), fmt.Append(nil, i))
	}
	require.NoError(t, l.Compact(ctx, "t"))
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	latest := map[string]string{}
	for v, err := range c.ViewsToEnd(ctx) {
		require.NoError(t, err)
		latest[string(v.Key)] = string(v.Value)
	}
	assert.Equal(t, map[string]string{"k0": "297", "k1": "298", "k2": "299"}, latest)
	pos, err := c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, p.HighWatermark(), pos)
}

func TestConsumerViewsCorruption(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 4096}
	corruptSecondSegment(t, dir, opts)

	l := openLog(t, dir, opts)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	good := int64(0)
	for range 2 {
		errs := 0
		for v, err := range c.ViewsToEnd(ctx) {
			if err != nil {
				var ce *eventlog.CorruptError
				require.ErrorAs(t, err, &ce, "not skipped, every time")
				errs++
				continue
			}
			good = v.Offset + 1
		}
		assert.Equal(t, 1, errs)
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, good, pos, "stays before the damage")
	}
}

// TestConsumerViewsWait: Views waits for appends, as Records does, without
// waking while nothing happens, and ends at Wakeup.
func TestConsumerViewsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 1, nil)
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: time.Hour}, tpart(0))
		got := make(chan string)
		done := make(chan error)
		go func() {
			for v, err := range c.Views(ctx) {
				if err != nil {
					done <- err
					return
				}
				got <- string(v.Value)
			}
			done <- nil
		}()
		synctest.Wait()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		assert.Zero(t, eventlog.ConsumerWakeups(c), "idle: never woken")
		produce(t, l, 0, 2, "v")
		assert.Equal(t, "v0", <-got)
		assert.Equal(t, "v1", <-got)
		synctest.Wait()
		c.Wakeup()
		assert.ErrorIs(t, <-done, eventlog.ErrWakeup)
	})
}

// TestConsumerViewsInGroup: a group member reads with Views, breaks out
// and commits; the member that takes its partitions over goes on exactly
// there.
func TestConsumerViewsInGroup(t *testing.T) {
	l := consumerLog(t, 2, nil)
	produce(t, l, 0, 10, "a")
	produce(t, l, 1, 10, "b")
	opts := &eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest, DisableAutoCommit: true, FetchMaxWait: -1}
	c1 := newTestConsumer(t, l, opts)
	require.NoError(t, c1.Subscribe("t"))
	first := viewed(t, c1.Views(ctx), 15)
	require.Len(t, first, 15)
	require.NoError(t, c1.CommitSync(ctx))
	require.NoError(t, c1.Close())

	c2 := newTestConsumer(t, l, opts)
	require.NoError(t, c2.Subscribe("t"))
	rest := viewed(t, c2.Views(ctx), -1)
	assert.Len(t, rest, 5, "exactly the records after the commit")
	assert.ElementsMatch(t, []string{"0/0:a0", "0/1:a1", "0/2:a2", "0/3:a3", "0/4:a4", "0/5:a5", "0/6:a6", "0/7:a7", "0/8:a8", "0/9:a9",
		"1/0:b0", "1/1:b1", "1/2:b2", "1/3:b3", "1/4:b4", "1/5:b5", "1/6:b6", "1/7:b7", "1/8:b8", "1/9:b9"}, append(first, rest...))
}

// TestConsumerViewsRetentionOvertakesMidChunk: retention that drops the
// segments ahead of a view loop while it reads one resets the position by
// AutoOffsetReset, as Poll does: the loop goes on from the log start and
// does not end with ErrOffsetOutOfRange.
func TestConsumerViewsRetentionOvertakesMidChunk(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	for i := range 100 {
		putKV(t, p, "k", fmt.Append(nil, i))
	}
	segs := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(segs), 3, "several segments")
	cut := segs[2] // the loop reads the first segment when the first two go
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	var offsets []int64
	for v, err := range c.ViewsToEnd(ctx) {
		require.NoError(t, err, "after offset %d", offsets)
		offsets = append(offsets, v.Offset)
		if v.Offset == 0 {
			_, err := l.DeleteRecords(ctx, "t", 0, cut)
			require.NoError(t, err)
			require.NoError(t, eventlog.EnforceRetention(l))
		}
	}
	require.NotEmpty(t, offsets)
	assert.Equal(t, p.HighWatermark()-1, offsets[len(offsets)-1], "read to the end")
	assert.Contains(t, offsets, cut, "reset to the log start")
	pos, err := c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, p.HighWatermark(), pos)
}
