package eventlog_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A Repair that cuts a compacted partition below its first dirty offset
// leaves what is appended next dirty. A commit and the deletion of its
// group after the repair get offsets below the old first dirty offset; were
// they taken for clean, no cleaning would compare the tombstones with the
// commit, and once they went at their delete horizon the commit would come
// back.
func TestCompactAfterRepairCutBelowFirstDirty(t *testing.T) {
	dir := t.TempDir()
	var ticks, skew atomic.Int64
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { // a second a read: every append rolls
		return start.Add(time.Duration(ticks.Add(1))*time.Second + time.Duration(skew.Load()))
	}
	opts := &eventlog.Options{SegmentAge: time.Millisecond, Now: now, CleanerCheckInterval: time.Hour}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{})
	tp := eventlog.TopicPartition{Topic: "t"}
	commit := func(group string, offset int64) {
		require.NoError(t, l.CommitGroupOffsets(ctx, group, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: offset}}))
	}
	for i := range 5 {
		commit("a", int64(i+1)) // a segment each
	}
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	require.NoError(t, l.Close())

	// Damage the first batch of the cleaned segment: Repair cuts the
	// partition there, to offset 0, below the first dirty offset.
	seg := filepath.Join(dir, "topics", "__consumer_offsets", "0", "00000000000000000000.log")
	damageRecordCount(t, seg, 0)
	repair := *opts
	repair.Repair = true
	l = openLog(t, dir, &repair)
	require.NotEmpty(t, l.Recovery().Repaired)
	require.Empty(t, committed(t, l, "a"))

	commit("a", 7)
	require.NoError(t, l.DeleteGroup(ctx, "a"))
	for i := range 3 {
		commit("z", int64(i+1))
	}
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	skew.Store(int64(2 * eventlog.DefaultDeleteRetention)) // past the tombstones' delete horizon
	commit("z", 20)
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.Empty(t, committed(t, l, "a"), "the deleted group stays deleted")
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp: 20}, committed(t, l, "z"))
}
