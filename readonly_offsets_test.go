package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestReadOnlyRefreshForgetsCleanedTombstones: offsets deleted, and their
// tombstones then removed by the writer's log cleaner after their delete
// retention, all between two Refreshes of a read-only Log, are gone from
// it after the second, as from a read-only Log opened afresh, whether
// __consumer_offsets holds transactional commits (replayed whole at each
// Refresh) or not (replayed from where the last Refresh ended).
func TestReadOnlyRefreshForgetsCleanedTombstones(t *testing.T) {
	for _, tc := range []struct {
		name          string
		transactional bool
		deleteTopic   bool
	}{
		{"DeleteGroup", false, false},
		{"DeleteTopic", false, true},
		{"DeleteGroup, transactional commit", true, false},
		{"DeleteTopic, transactional commit", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := newFakeClock()
			l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentAge: time.Hour})
			for _, name := range []string{"in", "keep"} {
				require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{}))
				fill(t, l, name, 1, 10)
			}
			offsets := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("in", 0): {Offset: 4}}
			if tc.transactional {
				p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
				require.NoError(t, err)
				require.NoError(t, p.BeginTransaction())
				require.NoError(t, p.SendOffsetsToTransaction(ctx, offsets, eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
				require.NoError(t, p.CommitTransaction(ctx))
				require.NoError(t, p.Close())
			} else {
				require.NoError(t, l.CommitGroupOffsets(ctx, "g", offsets))
			}
			r := openReadOnly(t, dir)
			require.Equal(t, int64(4), committedOffset(t, r, tp("in", 0)), "before the deletion")

			if tc.deleteTopic {
				require.NoError(t, l.DeleteTopic(ctx, "in"))
			} else {
				require.NoError(t, l.DeleteGroup(ctx, "g"))
			}
			// A cleaning that keeps the tombstone, and one past its delete
			// retention that removes it; each commit of h rolls the
			// segment before it, for the cleaner to take.
			for _, wait := range []time.Duration{2 * time.Hour, eventlog.DefaultDeleteRetention + 2*time.Hour} {
				clk.Advance(wait)
				require.NoError(t, l.CommitGroupOffsets(ctx, "h", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("keep", 0): {Offset: 0}}))
				require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
			}
			require.Zero(t, offsetRecords(t, l, "g", tp("in", 0)), "the tombstone is cleaned away")
			require.Equal(t, int64(-1), committedOffset(t, l, tp("in", 0)))

			require.NoError(t, r.Refresh())
			fresh := openReadOnly(t, dir)
			assert.Equal(t, int64(-1), committedOffset(t, fresh, tp("in", 0)), "opened afresh")
			assert.Equal(t, int64(-1), committedOffset(t, r, tp("in", 0)), "refreshed")
			want, err := fresh.Groups()
			require.NoError(t, err)
			got, err := r.Groups()
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// TestReadOnlyConsumerCommitted: Consumer.Committed only reads, and on a
// read-only Log reads the committed offsets the writer left, as
// Log.CommittedOffsets does, rather than failing with ErrReadOnly as a
// commit does.
func TestReadOnlyConsumerCommitted(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, nil)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	appendN(t, partition(t, w, "t", 1), 10, eventlog.AppendOptions{})
	commitOffsets(t, w, "a", map[eventlog.TopicPartition]int64{{Topic: "t", Partition: 1}: 4})
	r := openReadOnly(t, dir)
	c, err := r.NewConsumer(&eventlog.ConsumerOptions{GroupID: "a"})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(tp("t", 0), tp("t", 1)))
	got, err := c.Committed(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 1): {Offset: 4}}, got)
	assert.ErrorIs(t, c.CommitSync(ctx), eventlog.ErrReadOnly, "a commit writes")

	other := t.TempDir()
	require.NoError(t, openLog(t, other, nil).CreateTopic("t", eventlog.TopicConfig{}))
	empty, err := openReadOnly(t, other).NewConsumer(&eventlog.ConsumerOptions{GroupID: "a"})
	require.NoError(t, err)
	defer empty.Close()
	got, err = empty.Committed(ctx, tp("t", 0))
	require.NoError(t, err, "a log without __consumer_offsets has no offset committed")
	assert.Empty(t, got)
}
