package eventlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// gateFS pauses the first op on a name ending in suffix until the returned
// release is called, which the test's cleanup also does (before the Log's
// Close, which waits for the paused call).
func gateFS(t *testing.T, fsys *eventlog.MemFS, op eventlog.Op, suffix string) (reached <-chan struct{}, release func()) {
	t.Helper()
	r, resume := pauseFSAt(fsys, op, suffix)
	var once sync.Once
	release = func() { once.Do(func() { close(resume) }) }
	t.Cleanup(release)
	return r, release
}

// DeleteRecords makes the new log start offset durable before it moves it,
// but holds no lock appends or reads wait for across that fsync: a slow
// disk holds up only the DeleteRecords call.
func TestDeleteRecordsCheckpointFsyncHoldsUpNoAppend(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 30, eventlog.AppendOptions{})
	require.Greater(t, len(segmentBases(t, fsys, "/d/topics/t/0")), 2)

	reached, release := gateFS(t, fsys, eventlog.OpSync, "log-start-offset.tmp")
	type result struct {
		start int64
		err   error
	}
	deleted := make(chan result, 1)
	go func() {
		start, err := l.DeleteRecords(ctx, "t", 0, 20)
		deleted <- result{start, err}
	}()
	<-reached
	require.True(t, eventlog.AppendLockFree(p), "the append lock is held across the fsync of the log start offset checkpoint")
	appendN(t, p, 5, eventlog.AppendOptions{})
	assert.Len(t, readAll(t, p, 0), 35, "reads go on, from the old log start offset while the new one is not durable")
	assert.Zero(t, p.LogStartOffset(), "the log start offset moves only once its checkpoint is durable")

	release()
	r := <-deleted
	require.NoError(t, r.err)
	assert.Equal(t, int64(20), r.start)
	assert.Equal(t, int64(20), p.LogStartOffset())
	assert.Equal(t, int64(35), p.HighWatermark())
	recs := readAll(t, p, 20)
	require.Len(t, recs, 15)
	assert.Equal(t, int64(20), recs[0].Offset)
	assert.NotContains(t, segmentBases(t, fsys, "/d/topics/t/0"), int64(0), "the first segment, below the log start offset, is deleted")
}

// Retention too makes the log start offset durable before it deletes the
// segments below it, holding no lock appends or reads wait for across
// that fsync.
func TestRetentionCheckpointFsyncHoldsUpNoAppend(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 2048}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 60, eventlog.AppendOptions{})
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 4)

	reached, release := gateFS(t, fsys, eventlog.OpSync, "log-start-offset.tmp")
	retained := make(chan error, 1)
	go func() { retained <- eventlog.EnforceRetention(l) }()
	<-reached
	require.True(t, eventlog.AppendLockFree(p), "the append lock is held across the fsync of the log start offset checkpoint")
	appendN(t, p, 5, eventlog.AppendOptions{})
	assert.Len(t, readAll(t, p, 0), 65, "reads go on, from the old log start offset while the new one is not durable")
	assert.Zero(t, p.LogStartOffset(), "the log start offset moves only once its checkpoint is durable")

	release()
	require.NoError(t, <-retained)
	start := p.LogStartOffset()
	assert.Greater(t, start, bases[1])
	assert.Contains(t, bases, start, "retention deletes whole segments")
	assert.Equal(t, int64(65), p.HighWatermark())
	recs := readAll(t, p, start)
	require.NotEmpty(t, recs)
	assert.Equal(t, start, recs[0].Offset)
	assert.Equal(t, int64(64), recs[len(recs)-1].Offset)
	assert.NotContains(t, segmentBases(t, fsys, "/d/topics/t/0"), bases[0], "the segments below the log start offset are deleted")
}

// The recovery point checkpointer fsyncs the active segment's index files
// holding no lock that a roll waits for: an append that fills the segment
// rolls it, writing its indexes whole, while the checkpoint's fsync of the
// same files is under way.
func TestRecoveryPointIndexFsyncHoldsUpNoRoll(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 4096, IndexIntervalBytes: 256, RecoveryPointInterval: time.Hour}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 20, eventlog.AppendOptions{})
	require.Equal(t, []int64{0}, segmentBases(t, fsys, "/d/topics/t/0"))

	reached, release := gateFS(t, fsys, eventlog.OpSync, fmt.Sprintf("%020d.index", 0))
	checkpointed := make(chan error, 1)
	go func() { checkpointed <- eventlog.CheckpointRecoveryPoints(l) }()
	<-reached
	require.True(t, eventlog.ActiveIndexFilesFree(p), "the active segment's index files are locked across the checkpoint's fsync, which a roll waits for")
	off, err := p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: make([]byte, 4000)}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(20), off)
	assert.Equal(t, []int64{0, 20}, segmentBases(t, fsys, "/d/topics/t/0"), "the append rolled the segment")

	release()
	require.NoError(t, <-checkpointed)
	require.NoError(t, l.Close())
	l = openLog(t, "/d", opts)
	recs := readAll(t, partition(t, l, "t", 0), 0)
	require.Len(t, recs, 21)
	assert.Equal(t, int64(20), recs[20].Offset)
}

// Retention runs on a goroutine of its own: its fsyncs (and index loads
// and file removals) hold up none of the background fsyncs that make the
// records appended with DurabilityOS to a DurabilityFsync topic visible,
// on any partition.
func TestSlowRetentionHoldsUpNoBackgroundFsync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024,
			RetentionCheckInterval: time.Minute, RecoveryPointInterval: time.Hour})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 2048}))
		require.NoError(t, l.CreateTopic("other", eventlog.TopicConfig{}))
		appendN(t, partition(t, l, "t", 0), 60, eventlog.AppendOptions{})

		reached, resume := pauseFSAt(fsys, eventlog.OpSync, "log-start-offset.tmp")
		var once sync.Once
		release := func() { once.Do(func() { close(resume) }) }
		defer release() // before the Log's Close, which waits for retention
		<-reached       // the retention ticker fired

		other := partition(t, l, "other", 0)
		off, err := other.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
		require.NoError(t, err)
		waitCtx, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		assert.NoError(t, other.Wait(waitCtx, off), "the background fsync that makes the record visible waits for retention")

		release()
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Positive(t, partition(t, l, "t", 0).LogStartOffset(), "retention went on")
	})
}
