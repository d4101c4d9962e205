package kafkabridge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// ordersWithTxnProducer returns a cluster and a Log, each with a
// one-partition topic "orders", and a transactional producer on the Log.
func ordersWithTxnProducer(t *testing.T) (*kfake.Cluster, *eventlog.Log, *eventlog.Producer) {
	t.Helper()
	c := newCluster(t, 1, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "orders-writer"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return c, l, p
}

// newOrdersForward returns a Forward of l's topic "orders" to c.
func newOrdersForward(t *testing.T, c *kfake.Cluster, l *eventlog.Log) *kafkabridge.Forward {
	t.Helper()
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	return f
}

// assertForwardCommitted checks that the Forward's progress, its group's
// only committed offset, is end, with no lag.
func assertForwardCommitted(t *testing.T, l *eventlog.Log, end int64, msgAndArgs ...any) {
	t.Helper()
	offset := onlyGroupOffset(t, l, kafkabridge.DefaultForwardGroupID)
	assert.Equal(t, end, offset.Committed, msgAndArgs...)
	assert.Zero(t, offset.Lag)
}

// TestForwardCommitsPastTransactionMarkers forwards a topic written in
// transactions, committed and aborted: only the committed records reach the
// cluster, and the Forward's progress ends past the last marker, at the
// high watermark, as a Kafka consumer's committed position does, so that
// GroupOffsets shows no lag once everything is forwarded.
func TestForwardCommitsPastTransactionMarkers(t *testing.T) {
	c, l, p := ordersWithTxnProducer(t)
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

	f := newOrdersForward(t, c, l)
	stop := runBridge(t, f.Run)
	got := consumeRemote(t, c, "orders", 1, len(committed))
	require.NoError(t, stop())
	require.Len(t, got[0], len(committed))
	for i, v := range committed {
		assert.Equal(t, v, string(got[0][i].Value), "remote record %d", i)
	}
	assertForwardCommitted(t, l, end, "progress past the markers and the aborted records after the last record")
}

// commitWatcher hears a Forward's commits of one partition and lets a test
// wait for its progress to reach an offset.
type commitWatcher struct {
	tp      eventlog.TopicPartition
	mu      sync.Mutex
	offset  int64
	changed chan struct{}
}

func watchCommits(f *kafkabridge.Forward, tp eventlog.TopicPartition) *commitWatcher {
	w := &commitWatcher{tp: tp, offset: -1, changed: make(chan struct{}, 1)}
	kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		om, ok := o[tp]
		if !ok {
			return
		}
		w.mu.Lock()
		w.offset = om.Offset
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	})
	return w
}

// await waits until the Forward committed offset, and fails the test if
// it has not when ctx ends.
func (w *commitWatcher) await(t *testing.T, ctx context.Context, offset int64, msg string) {
	t.Helper()
	for {
		w.mu.Lock()
		got := w.offset
		w.mu.Unlock()
		if got >= offset {
			require.Equal(t, offset, got, msg)
			return
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			require.FailNowf(t, "progress not committed", "%s: committed %d, want %d", msg, got, offset)
		}
	}
}

// abortedTransaction writes n records to topic in a transaction of p and
// aborts it.
func abortedTransaction(t *testing.T, ctx context.Context, p *eventlog.Producer, topic string, n int) {
	t.Helper()
	require.NoError(t, p.BeginTransaction())
	for i := range n {
		_, err := p.Send(ctx, eventlog.Record{Topic: topic, Value: []byte(fmt.Sprintf("aborted-%d", i))})
		require.NoError(t, err)
	}
	require.NoError(t, p.AbortTransaction(ctx))
}

// TestForwardCommitsPastAbortedTailWhileRunning writes an aborted
// transaction after everything before it was forwarded and committed,
// and nothing after it: the Forward's consumer, reading committed records
// only, moves past it as a Kafka consumer in read_committed does, and the
// Forward's progress must follow, to the high watermark, rather than show
// the aborted records and their marker as lag until the next record.
func TestForwardCommitsPastAbortedTailWhileRunning(t *testing.T) {
	c, l, p := ordersWithTxnProducer(t)
	ctx := testContext(t)
	part, err := l.Partition("orders", 0)
	require.NoError(t, err)

	f := newOrdersForward(t, c, l)
	w := watchCommits(f, eventlog.TopicPartition{Topic: "orders"})
	stop := runBridge(t, f.Run)

	require.NoError(t, p.BeginTransaction())
	for i := range 2 {
		_, err := p.Send(ctx, eventlog.Record{Topic: "orders", Value: []byte(fmt.Sprintf("committed-%d", i))})
		require.NoError(t, err)
	}
	require.NoError(t, p.CommitTransaction(ctx))
	w.await(t, ctx, part.HighWatermark(), "the committed transaction")

	abortedTransaction(t, ctx, p, "orders", 2)
	end := part.HighWatermark()
	require.Equal(t, end, part.LastStableOffset())
	w.await(t, ctx, end, "past the aborted transaction at the tail")

	require.NoError(t, stop())
	assertForwardCommitted(t, l, end)
	got := consumeRemote(t, c, "orders", 1, 2)
	assert.Len(t, got[0], 2, "only the committed records are forwarded")
}

// TestForwardCommitsPastOnlyAbortedRecords forwards a partition that holds
// nothing but an aborted transaction: nothing is sent, and the progress
// still reaches the high watermark, as a Kafka consumer's commit of its
// position does.
func TestForwardCommitsPastOnlyAbortedRecords(t *testing.T) {
	c, l, p := ordersWithTxnProducer(t)
	ctx := testContext(t)
	abortedTransaction(t, ctx, p, "orders", 3)
	part, err := l.Partition("orders", 0)
	require.NoError(t, err)
	end := part.HighWatermark()

	f := newOrdersForward(t, c, l)
	w := watchCommits(f, eventlog.TopicPartition{Topic: "orders"})
	stop := runBridge(t, f.Run)
	w.await(t, ctx, end, "past the aborted transaction")
	require.NoError(t, stop())

	assertForwardCommitted(t, l, end)
	assert.Empty(t, remoteEnds(t, c, "orders", 1)[0], "nothing forwarded")
}
