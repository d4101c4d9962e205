package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestTransactionEndPowerLoss cuts the power at each operation of the
// three ways an open transaction with records in two partitions and
// offsets in __consumer_offsets ends aborted — AbortTransaction, a new
// Producer of its transactional ID fencing it, the Log's timeout — then
// reopens: nothing of it is read committed, its offsets are neither
// committed nor pending, no partition's last stable offset is held back,
// and the transactional ID's next Producer commits as ever.
func TestTransactionEndPowerLoss(t *testing.T) {
	in := tp("in", 0)
	manual := eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}
	ends := map[string]func(*testing.T, *eventlog.Log, *eventlog.Producer, *fakeClock){
		"abort": func(_ *testing.T, _ *eventlog.Log, p *eventlog.Producer, _ *fakeClock) {
			_ = p.AbortTransaction(ctx)
		},
		"fence": func(_ *testing.T, l *eventlog.Log, _ *eventlog.Producer, _ *fakeClock) {
			_, _ = l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
		},
		"timeout": func(_ *testing.T, l *eventlog.Log, _ *eventlog.Producer, clock *fakeClock) {
			clock.Advance(eventlog.DefaultTransactionTimeout + time.Second)
			eventlog.AbortTimedOutTransactions(l)
		},
	}
	for _, mode := range txnPowerLossModes {
		for name, end := range ends {
			t.Run(mode.String()+"/"+name, func(t *testing.T) {
				eachPowerCut(t, "the end of the transaction", func(at int) bool {
					clock := newFakeClock()
					fsys := eventlog.NewMemFS()
					opts := &eventlog.Options{FS: fsys, Now: clock.Now}
					l := openCompleteLog(t, opts)
					p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
					require.NoError(t, err)
					require.NoError(t, p.BeginTransaction())
					send(t, p, "out", 0, "aborted")
					send(t, p, "out", 1, "aborted")
					require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 3}}, manual))

					done := cutPowerDuring(fsys, mode, at, l, func() { end(t, l, p, clock) })

					l = openCompleteLog(t, opts)
					assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"), "cut at %d", at)
					for _, tp := range []eventlog.TopicPartition{tp("out", 0), tp("out", 1), tp("__consumer_offsets", 0)} {
						p := partition(t, l, tp.Topic, tp.Partition)
						assert.Equal(t, p.HighWatermark(), p.LastStableOffset(), "cut at %d: %s", at, tp)
					}
					assert.Equal(t, int64(-1), committedOffset(t, l, in), "cut at %d", at)
					assert.False(t, l.OffsetCommitPending("g", in), "cut at %d", at)

					next, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
					require.NoError(t, err)
					require.NoError(t, next.BeginTransaction())
					send(t, next, "out", 1, "next")
					require.NoError(t, next.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 5}}, manual))
					require.NoError(t, next.CommitTransaction(ctx), "cut at %d", at)
					assert.Equal(t, []string{"next"}, consume(t, l, eventlog.ReadCommitted, "out"), "cut at %d", at)
					assert.Equal(t, int64(5), committedOffset(t, l, in), "cut at %d", at)
					require.NoError(t, next.Close())
					require.NoError(t, l.Close())
					return done
				})
			})
		}
	}
}

// openCompleteLog is completeLog with options, and without topic A.
func openCompleteLog(t *testing.T, opts *eventlog.Options) *eventlog.Log {
	t.Helper()
	return openWithIn(t, opts, map[string]int{"in": 1, "out": 2})
}
