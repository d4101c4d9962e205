package eventlog

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoOffsetsPartitions makes l's __consumer_offsets with two partitions,
// and a topic "in" of partitions partitions of ten records each. It
// returns a group for each partition of __consumer_offsets.
func twoOffsetsPartitions(t *testing.T, l *Log, partitions int) map[int32]string {
	t.Helper()
	require.NoError(t, l.createTopic(offsetsTopicName, TopicConfig{Partitions: 2, CleanupPolicy: CleanupCompact}, true))
	require.NoError(t, l.CreateTopic("in", TopicConfig{Partitions: partitions}))
	for id := range int32(partitions) {
		in, err := l.Partition("in", id)
		require.NoError(t, err)
		for range 10 {
			_, err := in.Append(context.Background(), []Record{{Value: []byte("x")}}, AppendOptions{})
			require.NoError(t, err)
		}
	}
	s, err := l.offsetStore(true)
	require.NoError(t, err)
	groups := map[int32]string{}
	for i := 0; len(groups) < 2; i++ {
		g := fmt.Sprint("g", i)
		if _, ok := groups[s.partitionFor(g).id]; !ok {
			groups[s.partitionFor(g).id] = g
		}
	}
	return groups
}

// committedOf returns each group's committed offset of tp.
func committedOf(t *testing.T, l *Log, groups map[int32]string, tp TopicPartition) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, g := range groups {
		got, err := l.GroupOffsets(g)
		require.NoError(t, err)
		for _, o := range got {
			if o.TopicPartition == tp {
				out[g] = o.Committed
			}
		}
	}
	return out
}

// TestTransactionalOffsetsOnTwoOffsetsPartitions: a __consumer_offsets
// made with more than one partition (used as it is found) gets a marker
// per partition; each marker completes the transaction's commits of its
// own partition, so that every group's offsets become committed with the
// transaction.
func TestTransactionalOffsetsOnTwoOffsetsPartitions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	groups := twoOffsetsPartitions(t, l, 1)
	tp := TopicPartition{Topic: "in", Partition: 0}
	// Partition 0 of __consumer_offsets runs ahead of partition 1.
	c, err := l.NewConsumer(&ConsumerOptions{GroupID: groups[0]})
	require.NoError(t, err)
	require.NoError(t, c.Assign(tp))
	for i := range 5 {
		require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]OffsetAndMetadata{tp: {Offset: int64(i)}}))
	}
	require.NoError(t, c.Close())

	p, err := l.NewProducer(&ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	for _, g := range groups {
		require.NoError(t, p.SendOffsetsToTransaction(ctx, map[TopicPartition]OffsetAndMetadata{tp: {Offset: 7}}, GroupMetadata{GroupID: g, GenerationID: -1}))
	}
	require.NoError(t, p.CommitTransaction(ctx))
	require.NoError(t, p.Close())
	want := map[string]int64{groups[0]: 7, groups[1]: 7}
	assert.Equal(t, want, committedOf(t, l, groups, tp))

	require.NoError(t, l.Close())
	l, err = Open(dir, nil)
	require.NoError(t, err)
	assert.Equal(t, want, committedOf(t, l, groups, tp), "after reopening")
}

// TestTransactionalOffsetsOrderOnTwoOffsetsPartitions: on a
// __consumer_offsets of two partitions, each group's transactional commit
// is ordered against its plain commits by their records in the group's
// own partition: a plain commit written after it wins, one written before
// it loses, in memory, after a reopen, and after compacting and reopening.
func TestTransactionalOffsetsOrderOnTwoOffsetsPartitions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opts := &Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }, SegmentAge: time.Hour}
	l, err := Open(dir, opts)
	require.NoError(t, err)
	groups := twoOffsetsPartitions(t, l, 2)
	tp := TopicPartition{Topic: "in", Partition: 0}
	commit := func(g string, tp TopicPartition, o int64) {
		require.NoError(t, l.CommitGroupOffsets(ctx, g, map[TopicPartition]OffsetAndMetadata{tp: {Offset: o}}))
	}

	commit(groups[0], tp, 3) // before the transaction's record: loses
	p, err := l.NewProducer(&ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	for _, g := range groups {
		require.NoError(t, p.SendOffsetsToTransaction(ctx, map[TopicPartition]OffsetAndMetadata{tp: {Offset: 7}}, GroupMetadata{GroupID: g, GenerationID: -1}))
	}
	commit(groups[1], tp, 8) // after the transaction's record: wins
	require.NoError(t, p.CommitTransaction(ctx))
	require.NoError(t, p.Close())
	want := map[string]int64{groups[0]: 7, groups[1]: 8}
	assert.Equal(t, want, committedOf(t, l, groups, tp), "in memory")

	require.NoError(t, l.Close())
	l, err = Open(dir, opts)
	require.NoError(t, err)
	assert.Equal(t, want, committedOf(t, l, groups, tp), "after reopening")

	clock.Add(int64(2 * time.Hour))
	for _, g := range groups { // rolls the segments
		commit(g, TopicPartition{Topic: "in", Partition: 1}, 1)
	}
	require.NoError(t, l.Compact(ctx, offsetsTopicName))
	require.NoError(t, l.Close())
	l, err = Open(dir, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	assert.Equal(t, want, committedOf(t, l, groups, tp), "after compacting and reopening")
}
