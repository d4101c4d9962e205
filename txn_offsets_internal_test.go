package eventlog

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTransactionalOffsetsOnTwoOffsetsPartitions: a __consumer_offsets
// made with more than one partition (used as it is found) gets a marker
// per partition; each marker completes the transaction's commits of its
// own partition, ordered at its own offset, so that every group's offsets
// become committed with the transaction.
func TestTransactionalOffsetsOnTwoOffsetsPartitions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	require.NoError(t, l.createTopic(offsetsTopicName, TopicConfig{Partitions: 2, CleanupPolicy: CleanupCompact}, true))
	require.NoError(t, l.CreateTopic("in", TopicConfig{Partitions: 1}))
	in, err := l.Partition("in", 0)
	require.NoError(t, err)
	for range 10 {
		_, err := in.Append(ctx, []Record{{Value: []byte("x")}}, AppendOptions{})
		require.NoError(t, err)
	}
	s, err := l.offsetStore(true)
	require.NoError(t, err)
	groups := map[int32]string{} // a group per partition of __consumer_offsets
	for i := 0; len(groups) < 2; i++ {
		g := fmt.Sprint("g", i)
		if _, ok := groups[s.partitionFor(g).id]; !ok {
			groups[s.partitionFor(g).id] = g
		}
	}
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
	committed := func() map[string]int64 {
		out := map[string]int64{}
		for _, g := range groups {
			got, err := l.GroupOffsets(g)
			require.NoError(t, err)
			for _, o := range got {
				out[g] = o.Committed
			}
		}
		return out
	}
	want := map[string]int64{groups[0]: 7, groups[1]: 7}
	assert.Equal(t, want, committed())

	require.NoError(t, l.Close())
	l, err = Open(dir, nil)
	require.NoError(t, err)
	assert.Equal(t, want, committed(), "after reopening")
}
