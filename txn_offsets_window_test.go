package eventlog_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestTxnOffsetsPendingUntilMarkerDurable: offsets sent to a transaction
// become the group's committed offsets once the COMMIT marker in their
// __consumer_offsets partition is durable. Between the marker's write and
// its fsync they were neither pending (ErrUnstableOffsetCommit) nor
// committed, so a consumer of the group that resolved its start then began
// at the committed offset from before the transaction — here the earliest
// record — and kept that position: a consume-transform-produce worker taking
// over the partition processed again the input whose output the
// transaction had just committed. They stay pending until the marker is
// durable.
func TestTxnOffsetsPendingUntilMarkerDurable(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("in", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("out", eventlog.TopicConfig{}))
	in := tp("in", 0)
	for i := range 6 {
		_, err := partition(t, l, "in", 0).Append(ctx, []eventlog.Record{rec("k", fmt.Sprint(i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "o")
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 4}}, eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: -1})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(in))
	_, err = c.Position(in)
	require.ErrorIs(t, err, eventlog.ErrUnstableOffsetCommit)

	// The fsync of the group's __consumer_offsets partition once its
	// marker is written: the partition has grown since the offsets were.
	offsets := partition(t, l, "__consumer_offsets", 0)
	end := offsets.LogEndOffset()
	var once sync.Once
	inWindow := false
	var pos int64
	var posErr error
	var pending bool
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "/__consumer_offsets/0/") && offsets.LogEndOffset() > end {
			once.Do(func() {
				inWindow = true
				pos, posErr = c.Position(in)
				pending = l.OffsetCommitPending("g", in)
			})
		}
		return nil
	})
	require.NoError(t, p.CommitTransaction(ctx))
	fsys.SetFault(nil)
	require.True(t, inWindow, "the marker's fsync was seen")
	assert.ErrorIs(t, posErr, eventlog.ErrUnstableOffsetCommit, "a start resolved before the marker is durable; got position %d", pos)
	assert.True(t, pending, "OffsetCommitPending before the marker is durable")

	got, err := c.Position(in)
	require.NoError(t, err)
	assert.Equal(t, int64(4), got, "the consumer starts where the transaction committed")
	assert.False(t, l.OffsetCommitPending("g", in))
}

// TestPollWokenWhenPendingOffsetsDecided: a Poll that waits because its
// partition starts from offsets pending in a transaction returns as soon
// as the transaction ends — commit, abort, or the Log's timeout — as it
// returns at an append, rather than at FetchMaxWait: a worker taking over
// the partitions of an exactly-once worker that was mid transaction sat
// idle for up to FetchMaxWait after the transaction ended.
func TestPollWokenWhenPendingOffsetsDecided(t *testing.T) {
	for _, end := range []string{"commit", "abort", "timeout"} {
		t.Run(end, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				l := txnLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS, Now: clock.Now})
				in := eventlog.TopicPartition{Topic: "in", Partition: 0}
				fill(t, l, "in", 1, 6)
				p := txnProducer(t, l, "tx")
				require.NoError(t, p.BeginTransaction())
				require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 4}},
					eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))

				c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", DisableAutoCommit: true, AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: time.Hour})
				require.NoError(t, err)
				defer c.Close()
				require.NoError(t, c.Assign(in))
				var recs []eventlog.Record
				var pollErr error
				done := make(chan struct{})
				go func() {
					defer close(done)
					recs, pollErr = c.Poll(ctx)
				}()
				synctest.Wait()
				select {
				case <-done:
					require.Fail(t, "Poll returned before the transaction ended", "records %d, err %v", len(recs), pollErr)
				default:
				}
				switch end {
				case "commit":
					require.NoError(t, p.CommitTransaction(ctx))
				case "abort":
					require.NoError(t, p.AbortTransaction(ctx))
				case "timeout":
					clock.Advance(eventlog.DefaultTransactionTimeout + time.Second)
					eventlog.AbortTimedOutTransactions(l)
				}
				synctest.Wait()
				select {
				case <-done:
				default:
					c.Wakeup()
					<-done
					require.Fail(t, "Poll still waits for FetchMaxWait after the transaction ended")
				}
				require.NoError(t, pollErr)
				require.NotEmpty(t, recs)
				want := int64(0)
				if end == "commit" {
					want = 4
				}
				assert.Equal(t, want, recs[0].Offset)
			})
		})
	}
}
