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
	for range 10 {
		_, err := partition(t, l, "in", 0).Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
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
	var got []int64 // offsets of in-0 that b polled
	poll := func() {
		recs, err := b.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Partition == in.Partition {
				got = append(got, r.Offset)
			}
		}
	}
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	eventlog.SetTxnOffsetsCheckedHook(l, func() {
		eventlog.SetTxnOffsetsCheckedHook(l, nil)
		clk.Advance(2 * time.Minute) // a goes silent past MaxPollInterval
		require.NoError(t, b.Subscribe("in"))
		for range 10 { // b joins, which evicts a, and takes what it can
			poll()
		}
	})
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 10}}, md))
	poll()
	require.NoError(t, p.CommitTransaction(ctx))
	_, err = partition(t, l, "in", 0).Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	for range 100 {
		if len(got) > 0 && got[len(got)-1] == 10 {
			break
		}
		poll()
	}
	assert.Equal(t, []int64{10}, got, "offsets of %v the new owner polled: it starts where the transaction committed", in)
}
