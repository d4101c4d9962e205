package eventlog_test

import (
	"fmt"
	"os"
	"path/filepath"
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
