package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// Commits of positions: what a position that cannot be committed does to
// the others.

// A Seek past the high watermark leaves a position that is not committed
// (a committed offset lies within [0, high watermark]); the other
// partitions' positions are, by CommitSync, CommitAsync and the automatic
// commit at Close, and the error names the partition left out.
func TestCommitPositionPastHighWatermark(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	fill(t, l, "t", 2, 5)
	committed := func() map[int32]int64 {
		offsets, err := l.GroupOffsets("g")
		require.NoError(t, err)
		out := map[int32]int64{}
		for _, o := range offsets {
			out[o.Partition] = o.Committed
		}
		return out
	}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 1}, tp("t", 1): {Offset: 1}}))

	require.NoError(t, c.Seek(tp("t", 0), 3))
	require.NoError(t, c.Seek(tp("t", 1), 1000))
	err := c.CommitSync(ctx)
	require.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	assert.ErrorContains(t, err, "t-1")
	assert.NotContains(t, err.Error(), "t-0")
	assert.Equal(t, map[int32]int64{0: 3, 1: 1}, committed(), "the other partition's commit failed with it")

	require.NoError(t, c.Seek(tp("t", 0), 4))
	done := make(chan error, 1)
	c.CommitAsync(nil, func(offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
		assert.Equal(t, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 4}}, offsets)
		done <- err
	})
	assert.ErrorIs(t, c.CommitSync(ctx), eventlog.ErrOffsetOutOfRange, "runs the callback, and fails again for t-1")
	require.ErrorIs(t, <-done, eventlog.ErrOffsetOutOfRange)
	assert.Equal(t, map[int32]int64{0: 4, 1: 1}, committed())

	require.NoError(t, c.Seek(tp("t", 0), 5))
	require.NoError(t, c.Close())
	assert.Equal(t, map[int32]int64{0: 5, 1: 1}, committed(), "the automatic commit at Close")
}

// Commits after Log.Close fail with ErrClosed, as every call on a handle
// of a closed Log does, even with nothing to commit. Before, a commit of
// no offsets returned nil.
func TestCommitOfNothingAfterLogClose(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.CommitOffsets(ctx, nil), "creates the group's coordinator")
	require.NoError(t, c.CommitSync(ctx))
	require.NoError(t, l.Close())
	assert.ErrorIs(t, c.CommitOffsets(ctx, nil), eventlog.ErrClosed, "CommitOffsets")
	assert.ErrorIs(t, c.CommitSync(ctx), eventlog.ErrClosed, "CommitSync")
	var asyncErr error
	c.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) { asyncErr = err })
	assert.ErrorIs(t, asyncErr, eventlog.ErrClosed, "CommitAsync")
}
