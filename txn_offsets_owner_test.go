package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A member evicted between SendOffsetsToTransaction's check that it owns
// the partitions and the recording of its pending offsets keeps them held
// until they are recorded, as a plain commit in flight does: the new owner
// then waits for the transaction (ErrUnstableOffsetCommit) and starts from
// the offset it commits. Before, the partition went to the new owner in
// that gap, which started from the old committed offset and consumed again
// what the transaction had consumed.
func TestTxnOffsetsOfEvictedMemberHoldItsPartitions(t *testing.T) {
	clk := newClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now})
	in := eventlog.TopicPartition{Topic: "in", Partition: 0}
	appendToIn0(t, l, 10)
	member := func(o *eventlog.ConsumerOptions) {
		o.DisableAutoCommit, o.FetchMaxWait, o.MaxPollInterval = true, -1, time.Minute
	}
	a := groupConsumer(t, l, "g", member)
	require.NoError(t, a.Subscribe("in"))
	pollUntil(t, owning(a, 2), nil, a)
	require.NoError(t, a.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 5}}))
	md, err := a.GroupMetadata()
	require.NoError(t, err)

	b := groupConsumer(t, l, "g", member)
	polled := &in0Poller{t: t, c: b}
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	eventlog.SetTxnOffsetsCheckedHook(l, func() {
		eventlog.SetTxnOffsetsCheckedHook(l, nil)
		clk.Advance(2 * time.Minute) // a goes silent past MaxPollInterval
		require.NoError(t, b.Subscribe("in"))
		for range 10 { // b joins, which evicts a, and takes what it can
			polled.poll()
		}
	})
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 10}}, md))
	polled.poll()
	require.NoError(t, p.CommitTransaction(ctx))
	appendToIn0(t, l, 1)
	polled.pollUntil(10)
	assert.Equal(t, []int64{10}, polled.got, "offsets of %v the new owner polled: it starts where the transaction committed", in)
}
