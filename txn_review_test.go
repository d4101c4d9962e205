package eventlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestTxnOffsetsAbortedWhileWritten: offsets that SendOffsetsToTransaction
// appends to __consumer_offsets just before the Log aborts the transaction
// (it timed out, or a new Producer of the ID fenced it) belong to the
// aborted transaction, whose ABORT marker follows them in the log. They
// must be dropped, not left pending: pending, they held the group's
// consumers of the partition with ErrUnstableOffsetCommit until the Log was
// reopened, and the next transaction of the producer id (the new Producer
// of the ID) committed them with its own at its COMMIT marker — offsets of
// an aborted transaction, which the next Open did not have.
func TestTxnOffsetsAbortedWhileWritten(t *testing.T) {
	for _, how := range []string{"timeout", "fenced"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			clock := newFakeClock()
			opts := &eventlog.Options{Now: clock.Now}
			l := txnLog(t, dir, opts)
			in0 := eventlog.TopicPartition{Topic: "in", Partition: 0}
			in1 := eventlog.TopicPartition{Topic: "in", Partition: 1}
			for i := range 6 {
				for _, part := range []int32{0, 1} {
					_, err := partition(t, l, "in", part).Append(ctx, []eventlog.Record{rec("k", fmt.Sprint(i))}, eventlog.AppendOptions{})
					require.NoError(t, err)
				}
			}
			zombie, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", TransactionTimeout: time.Minute, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
			require.NoError(t, err)
			defer zombie.Close()
			require.NoError(t, zombie.BeginTransaction())
			send(t, zombie, "out", 0, "zombie")

			var fresh *eventlog.Producer
			eventlog.SetTxnOffsetsHook(l, func() {
				eventlog.SetTxnOffsetsHook(l, nil)
				if how == "timeout" {
					clock.Advance(2 * time.Minute)
					eventlog.AbortTimedOutTransactions(l)
					return
				}
				var err error
				fresh, err = l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
				require.NoError(t, err)
			})
			err = zombie.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in0: {Offset: 3}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1})
			require.NoError(t, err, "written before the abort: the zombie learns at its next call")
			assert.ErrorIs(t, zombie.CommitTransaction(ctx), eventlog.ErrProducerFenced)

			c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: -1, DisableAutoCommit: true})
			require.NoError(t, err)
			require.NoError(t, c.Assign(in0))
			pos, err := c.Position(in0)
			assert.NoError(t, err, "the aborted transaction's offsets hold no consumer")
			assert.Equal(t, int64(0), pos)
			require.NoError(t, c.Close())

			// The producer id's next transaction commits offsets of its own.
			if fresh == nil {
				fresh, err = l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
				require.NoError(t, err)
			}
			defer fresh.Close()
			require.Equal(t, eventlog.ProducerIDOf(zombie).ID, eventlog.ProducerIDOf(fresh).ID)
			require.NoError(t, fresh.BeginTransaction())
			require.NoError(t, fresh.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in1: {Offset: 5}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
			require.NoError(t, fresh.CommitTransaction(ctx))
			want := map[eventlog.TopicPartition]int64{in1: 5}
			assert.Equal(t, want, committed(t, l, "g"), "the aborted transaction's offsets are not committed")
			require.NoError(t, fresh.Close())
			require.NoError(t, zombie.Close())
			require.NoError(t, l.Close())

			l = openLog(t, dir, opts)
			assert.Equal(t, want, committed(t, l, "g"), "after a reopen")
		})
	}
}
