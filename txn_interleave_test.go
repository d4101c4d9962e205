package eventlog_test

// Transactions whose calls interleave with a commit waiting for them, the
// Log's aborts, and topic deletions.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
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
			zombie := minuteTxnProducer(t, l, "tx")
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
			err := zombie.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in0: {Offset: 3}},
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

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTransactionAbortsOnSendRefusedWhileCommitWaits: a Send admitted into
// the open transaction — here waiting for buffer room — holds its end
// back, and when it fails after all (its ctx ends) the transaction must
// not commit without its record. The failure was noted only after the
// Send let the waiting CommitTransaction in, which then committed the
// transaction without it, and returned nil.
func TestTransactionAbortsOnSendRefusedWhileCommitWaits(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: time.Hour, BufferBytes: 4096})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.BeginTransaction())
	value := make([]byte, 1200)
	for range 3 {
		p.SendAsync(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: value}, nil)
	}
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		_, err := p.Send(sendCtx, eventlog.Record{Topic: "out", Partition: 1, Key: []byte("k"), Value: value})
		sent <- err
	}()
	waitFor(t, "the Send to wait for buffer room", func() bool {
		select {
		case err := <-sent:
			t.Fatalf("the Send returned %v", err)
		default:
		}
		return eventlog.TransactionCallsInFlight(p)
	})
	committed := make(chan error, 1)
	go func() { committed <- p.CommitTransaction(ctx) }()
	waitFor(t, "the commit to wait for the Send", func() bool { return eventlog.TransactionEndWaiting(p) })
	cancel()
	require.ErrorIs(t, <-sent, context.Canceled)
	err = <-committed
	assert.ErrorIs(t, err, eventlog.ErrTransactionAborted, "a record of the transaction was not stored")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, consume(t, l, eventlog.ReadCommitted, "out"), 0)
}

// TestTransactionAbortsOnOffsetsRefusedWhileCommitWaits:
// SendOffsetsToTransaction's offsets that are refused once the call is
// inside the transaction — here their topic was deleted while the call
// added __consumer_offsets to the transaction — make it abort, even when
// CommitTransaction was waiting for the call.
func TestTransactionAbortsOnOffsetsRefusedWhileCommitWaits(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	defer l.Close()
	for _, name := range []string{"in", "out"} {
		require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 1}))
	}
	_, err = partition(t, l, "in", 0).Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	in0 := partition(t, l, "in", 0)
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "o")

	committed := make(chan error, 1)
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "__transaction_state") {
			once.Do(func() {
				// SendOffsetsToTransaction adds __consumer_offsets to the
				// transaction.
				go func() { committed <- p.CommitTransaction(ctx) }()
				waitFor(t, "the commit to wait for the offsets", func() bool { return eventlog.TransactionEndWaiting(p) })
				// DeleteTopic waits for this call to end, after it marks
				// the topic deleted.
				go func() { assert.NoError(t, l.DeleteTopic(ctx, "in")) }()
				waitFor(t, "the deletion", func() bool { return eventlog.PartitionDeleted(in0) })
			})
		}
		return nil
	})
	err = p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "in", Partition: 0}: {Offset: 1}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1})
	require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	err = <-committed
	fsys.SetFault(nil)
	assert.ErrorIs(t, err, eventlog.ErrTransactionAborted, "offsets of the transaction were not stored")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"))
}

// TestCommitDuringDeleteTopic: a DeleteTopic marks the topic's partitions
// deleted before it renames the topic's directory, and puts them back when
// the rename (or the directory's fsync) fails. A COMMIT marker refused in
// between is missing, not moot: the coordinator counted the partition as
// marked, so when the deletion failed the committed records there stayed
// hidden behind a last stable offset stuck before them, and the next Open
// aborted them as an orphan transaction — a transaction committed in some
// partitions and aborted in another. The commit is now incomplete until
// the topic is gone, or back and marked.
func TestCommitDuringDeleteTopic(t *testing.T) {
	for _, fails := range []bool{true, false} {
		t.Run(fmt.Sprint("deletion fails=", fails), func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			opts := &eventlog.Options{FS: fsys}
			l, err := eventlog.Open("/data", opts)
			require.NoError(t, err)
			for _, name := range []string{"doomed", "out"} {
				require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 1}))
			}
			p := txnProducer(t, l, "tx")
			require.NoError(t, p.BeginTransaction())
			send(t, p, "doomed", 0, "d")
			send(t, p, "out", 0, "o")
			doomed := partition(t, l, "doomed", 0)
			require.NoError(t, doomed.Wait(ctx, 0), "the record is durable: the commit's fsync of the partition has nothing to do")

			var commitErr error
			fsys.SetFault(func(op eventlog.Op, name string) error {
				if op != eventlog.OpRename || !strings.HasSuffix(name, "/doomed") {
					return nil
				}
				require.True(t, eventlog.PartitionDeleted(doomed))
				commitErr = p.CommitTransaction(ctx) // while the deletion is under way
				if fails {
					return eventlog.ErrInjected
				}
				return nil
			})
			err = l.DeleteTopic(ctx, "doomed")
			fsys.SetFault(nil)
			if fails {
				require.ErrorIs(t, err, eventlog.ErrInjected)
				require.False(t, eventlog.PartitionDeleted(doomed), "the deletion failed: the topic is as it was")
			} else {
				require.NoError(t, err)
			}
			if errors.Is(commitErr, eventlog.ErrTransactionIncomplete) {
				require.NoError(t, p.CommitTransaction(ctx), "the retry marks the partition, or finds its topic gone")
			} else {
				require.NoError(t, commitErr)
			}
			check := func(when string) {
				if fails {
					doomed := partition(t, l, "doomed", 0)
					assert.Equal(t, doomed.HighWatermark(), doomed.LastStableOffset(), when)
					assert.Equal(t, []string{"d"}, consume(t, l, eventlog.ReadCommitted, "doomed"), when)
				}
				assert.Equal(t, []string{"o"}, consume(t, l, eventlog.ReadCommitted, "out"), when)
			}
			check("committed")
			require.NoError(t, p.Close())
			require.NoError(t, l.Close())
			l, err = eventlog.Open("/data", opts)
			require.NoError(t, err)
			defer l.Close()
			check("after a reopen")
		})
	}
}

// TestTransactionAbortsOnPartitionAddRefusedWhileCommitWaits: a Send whose
// partition could not be added to the transaction — its ctx ended while
// another Send added a partition — refuses its record inside the
// transaction, so the transaction aborts, even when CommitTransaction was
// waiting for the Send.
func TestTransactionAbortsOnPartitionAddRefusedWhileCommitWaits(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("out", eventlog.TopicConfig{Partitions: 2}))
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())

	adding, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "__transaction_state") && strings.HasSuffix(name, ".log") {
			once.Do(func() {
				close(adding)
				<-release
			})
		}
		return nil
	})
	first := make(chan error, 1)
	go func() {
		_, err := p.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("a")})
		first <- err
	}()
	<-adding // out-0 is being added, holding the transaction's additions
	sendCtx, cancel := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() {
		_, err := p.Send(sendCtx, eventlog.Record{Topic: "out", Partition: 1, Key: []byte("k"), Value: []byte("b")})
		second <- err
	}()
	waitFor(t, "the second Send to wait for the first's addition", func() bool {
		return goroutineWaits("(*producerTxn).addPartition", "sync.(*RWMutex).")
	})
	committed := make(chan error, 1)
	go func() { committed <- p.CommitTransaction(ctx) }()
	waitFor(t, "the commit to wait for the Sends", func() bool { return eventlog.TransactionEndWaiting(p) })
	cancel()
	close(release)
	fsys.SetFault(nil)
	require.NoError(t, <-first)
	require.ErrorIs(t, <-second, context.Canceled)
	err = <-committed
	assert.ErrorIs(t, err, eventlog.ErrTransactionAborted, "a record of the transaction was not stored")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"))
}

// goroutineWaits reports whether a goroutine is blocked in the call named
// wait, made from the function named in.
func goroutineWaits(in, wait string) bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if i := strings.Index(g, wait); i >= 0 && strings.Contains(g[i:], in) {
			return true
		}
	}
	return false
}
