package eventlog_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Reads of a read-only Log that meet a segment file the writer removed or
// replaced since the last listing: the Log lists the partition again and
// goes on, as a writable Log's reader goes on when retention or a
// compaction drops a segment under it.

// removedUnderReader opens a read-only Log on a topic whose first segments
// the writer then removes (DeleteRecords and retention), without a
// Refresh. It returns the writer's partition and the reader's, and the reader.
func removedUnderReader(t *testing.T) (wp, rp *eventlog.Partition, r *eventlog.Log) {
	t.Helper()
	dir := t.TempDir()
	w := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, w.CreateTopic("d", eventlog.TopicConfig{}))
	wp = partition(t, w, "d", 0)
	for i := range 60 {
		_, err := wp.Append(ctx, []eventlog.Record{{Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: time.UnixMilli(int64(1000 + i))}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	first := filepath.Join(dir, "topics", "d", "0", fmt.Sprintf("%020d.log", 0))
	r = openReadOnly(t, dir)
	rp = partition(t, r, "d", 0)
	_, err := w.DeleteRecords(ctx, "d", 0, 30)
	require.NoError(t, err)
	require.NoError(t, eventlog.EnforceRetention(w))
	_, err = os.Stat(first)
	require.ErrorIs(t, err, os.ErrNotExist, "the writer removed the first segment")
	require.Equal(t, int64(0), rp.LogStartOffset(), "the reader has not refreshed")
	return wp, rp, r
}

func TestReadOnlyReadsPastRemovedSegmentFiles(t *testing.T) {
	t.Run("Views", func(t *testing.T) {
		wp, rp, _ := removedUnderReader(t)
		assert.Equal(t, partitionValues(t, wp), partitionValues(t, rp))
		assert.Equal(t, wp.LogStartOffset(), rp.LogStartOffset(), "the read listed the partition again")
	})
	t.Run("Read", func(t *testing.T) {
		wp, rp, _ := removedUnderReader(t)
		recs, err := rp.Read(0, 1<<20)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Equal(t, wp.LogStartOffset(), recs[0].Offset, "the read goes on from the log start")
	})
	t.Run("Batches", func(t *testing.T) {
		wp, rp, _ := removedUnderReader(t)
		var last int64 = -1
		for b, err := range rp.Batches(0) {
			require.NoError(t, err)
			last = b.LastOffset
		}
		assert.Equal(t, wp.HighWatermark()-1, last)
	})
	t.Run("OffsetForTime", func(t *testing.T) {
		wp, rp, _ := removedUnderReader(t)
		offset, found, err := rp.OffsetForTime(time.UnixMilli(0))
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, wp.LogStartOffset(), offset)
	})
	t.Run("Poll", func(t *testing.T) {
		wp, _, r := removedUnderReader(t)
		cons, err := r.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: time.Millisecond})
		require.NoError(t, err)
		defer cons.Close()
		require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: "d"}))
		require.NoError(t, cons.Seek(eventlog.TopicPartition{Topic: "d"}, 0))
		recs, err := cons.Poll(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Equal(t, wp.LogStartOffset(), recs[0].Offset)
	})
}

// A read of a topic the writer deleted since the last listing fails as a
// read of a deleted topic does, not with the absence of a file.
func TestReadOnlyReadOfADeletedTopic(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, w.CreateTopic("d", eventlog.TopicConfig{}))
	appendN(t, partition(t, w, "d", 0), 60, eventlog.AppendOptions{})
	r := openReadOnly(t, dir)
	rp := partition(t, r, "d", 0)
	require.NoError(t, w.DeleteTopic(ctx, "d"))
	_, err := rp.Read(0, 1<<20)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.NotErrorIs(t, err, os.ErrNotExist)
}

// A compaction swap replaces the segments a read-only Log listed: some
// under their own names, by smaller files, others gone. A read before the
// next Refresh reads the cleaned segments, each record once.
func TestReadOnlyReadsPastACompactionSwap(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024, CleanerCheckInterval: time.Hour})
	require.NoError(t, w.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	cp := partition(t, w, "c", 0)
	for i := range 200 {
		putKV(t, cp, fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i)))
	}
	r := openReadOnly(t, dir)
	rc := partition(t, r, "c", 0)
	require.NoError(t, w.Compact(ctx, "c"))

	var offsets []int64
	for v, err := range rc.Views(0) {
		require.NoError(t, err)
		offsets = append(offsets, v.Offset)
	}
	var want []int64
	for v, err := range cp.Views(0) {
		require.NoError(t, err)
		want = append(want, v.Offset)
	}
	assert.Equal(t, want, offsets)
	latest, err := r.ReplayLatest(ctx, "c")
	require.NoError(t, err)
	wantLatest, err := w.ReplayLatest(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, wantLatest, latest)
}

// compactOnOpenFS, once armed, calls compact when path is next opened,
// before opening it: the writer's cleaner swapping the segment a
// read-only Log is about to read.
type compactOnOpenFS struct {
	eventlog.FS
	path    string // set before armed
	compact func()
	armed   atomic.Bool
	fired   atomic.Bool
}

func (f *compactOnOpenFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	if f.armed.Load() && name == f.path && f.armed.CompareAndSwap(true, false) {
		f.compact()
		f.fired.Store(true)
	}
	return f.FS.OpenFile(name, flag, perm)
}

// TestReadOnlyReplaysOffsetsThroughACompaction: the writer's cleaner
// compacts __consumer_offsets while a read-only Log, at Open or at a
// Refresh, replays the committed offsets from the segments it has just
// listed; the replay goes on in the cleaned segments.
func TestReadOnlyReplaysOffsetsThroughACompaction(t *testing.T) {
	for _, at := range []string{"Open", "Refresh"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			clk := newFakeClock()
			w := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentAge: time.Hour, CleanerCheckInterval: time.Hour})
			require.NoError(t, w.CreateTopic("in", eventlog.TopicConfig{}))
			fill(t, w, "in", 1, 10)
			fsys := &compactOnOpenFS{FS: eventlog.OSFS{}, compact: func() { assert.NoError(t, w.Compact(ctx, "__consumer_offsets")) }}
			open := func() *eventlog.Log {
				r, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, r.Close()) })
				return r
			}
			var r *eventlog.Log
			if at == "Refresh" {
				r = open()
			}
			// Each commit but the second rolls the segment before it: the
			// first segments of the group's partition are closed and hold
			// dirty records.
			for i := range 6 {
				if i != 1 {
					clk.Advance(2 * time.Hour)
				}
				commitOffsets(t, w, "g", map[eventlog.TopicPartition]int64{tp("in", 0): int64(i + 1)})
			}
			first, err := filepath.Glob(filepath.Join(dir, "topics", "__consumer_offsets", "*", fmt.Sprintf("%020d.log", 0)))
			require.NoError(t, err)
			for _, path := range first {
				if logs, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.log")); len(logs) > 2 {
					fsys.path = path
				}
			}
			require.NotEmpty(t, fsys.path, "the group's partition has rolled")
			fsys.armed.Store(true)
			if at == "Open" {
				r = open()
			} else {
				require.NoError(t, r.Refresh())
			}
			require.True(t, fsys.fired.Load(), "the cleaner ran while the replay read the partition")
			assert.Equal(t, int64(6), committedOffset(t, r, tp("in", 0)))
		})
	}
}

// A topic deleted and created again between two Refreshes, with as many
// bytes written to it as before, is read anew: the read-only Log does not
// go on reading the deleted topic's file, which it holds open, for the new
// one by the same name.
func TestReadOnlyRefreshSeesATopicRecreatedAtTheSameSize(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, nil)
	write := func(values ...string) {
		require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{}))
		p := partition(t, w, "t", 0)
		for _, v := range values {
			_, err := p.Append(ctx, []eventlog.Record{{Value: []byte(v), Timestamp: time.UnixMilli(1000)}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	write("a", "b", "c")
	r := openReadOnly(t, dir)
	require.Equal(t, []string{"a", "b", "c"}, partitionValues(t, partition(t, r, "t", 0)))
	require.NoError(t, w.DeleteTopic(ctx, "t"))
	write("x", "y", "z")
	require.NoError(t, r.Refresh())
	assert.Equal(t, []string{"x", "y", "z"}, partitionValues(t, partition(t, r, "t", 0)))
}
