package kafkabridge_test

import (
	"fmt"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForwardCommitsPastTransactionMarkers forwards a topic written in
// transactions, committed and aborted: only the committed records reach the
// cluster, and the Forward's progress ends past the last marker, at the
// high watermark, as a Kafka consumer's committed position does, so that
// GroupOffsets shows no lag once everything is forwarded.
func TestForwardCommitsPastTransactionMarkers(t *testing.T) {
	c := newCluster(t, 1, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "orders-writer"})
	require.NoError(t, err)
	defer p.Close()
	ctx := testContext(t)
	var committed []string
	for i, commit := range []bool{true, false, true, false} { // the last transaction aborts, after the last record forwarded
		require.NoError(t, p.BeginTransaction())
		for j := range 2 + i%2 {
			v := fmt.Sprintf("txn-%d-%d", i, j)
			_, err := p.Send(ctx, eventlog.Record{Topic: "orders", Value: []byte(v)})
			require.NoError(t, err)
			if commit {
				committed = append(committed, v)
			}
		}
		if commit {
			require.NoError(t, p.CommitTransaction(ctx))
		} else {
			require.NoError(t, p.AbortTransaction(ctx))
		}
	}
	part, err := l.Partition("orders", 0)
	require.NoError(t, err)
	end := part.HighWatermark()
	require.Equal(t, end, part.LastStableOffset())

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	stop := runBridge(t, f.Run)
	got := consumeRemote(t, c, "orders", 1, len(committed))
	require.NoError(t, stop())
	require.Len(t, got[0], len(committed))
	for i, v := range committed {
		assert.Equal(t, v, string(got[0][i].Value), "remote record %d", i)
	}
	offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, end, offsets[0].Committed, "progress past the markers and the aborted records after the last record")
	assert.Zero(t, offsets[0].Lag)
}
