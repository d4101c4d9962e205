package eventlog_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Transactions whose outcome is decided but whose markers could not all be
// written: the coordinator marks every partition it can, keeps the rest,
// and retries until they are written or the next Open finishes them.

var completeIn = eventlog.TopicPartition{Topic: "in", Partition: 0}

// completeLog opens a Log on fsys with the topics of these tests: A (one
// partition, first in the order the markers go in), in (one) and out
// (two), in holding six records.
func completeLog(t *testing.T, fsys *eventlog.MemFS) *eventlog.Log {
	t.Helper()
	return openWithIn(t, &eventlog.Options{FS: fsys}, map[string]int{"A": 1, "in": 1, "out": 2})
}

// openWithIn opens a Log in /data with opts and the topics missing of
// topics, by name the partitions of each, and gives partition 0 of "in",
// one of them, six records if it has none.
func openWithIn(t *testing.T, opts *eventlog.Options, topics map[string]int) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	for name, partitions := range topics {
		if _, err := l.TopicConfig(name); err != nil {
			require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: partitions}))
		}
	}
	if partition(t, l, "in", 0).HighWatermark() == 0 {
		for range 6 {
			_, err := partition(t, l, "in", 0).Append(ctx, []eventlog.Record{rec("k", "in")}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	return l
}

// committedOffset returns group g's committed offset of tp, or -1.
func committedOffset(t *testing.T, l *eventlog.Log, tp eventlog.TopicPartition) int64 {
	t.Helper()
	got, err := l.GroupOffsets("g")
	require.NoError(t, err)
	for _, o := range got {
		if o.TopicPartition == tp {
			return o.Committed
		}
	}
	return -1
}

// commitIncomplete runs a transaction that writes "a" to A-0 and "o" to
// out-1 and commits offset 4 of in-0 for group g, with the first write to
// the .log files under the directory failing fails: the COMMIT marker's,
// which fails that partition until the Log is reopened. It returns the
// Producer and CommitTransaction's error.
func commitIncomplete(t *testing.T, l *eventlog.Log, fsys *eventlog.MemFS, failing string) (*eventlog.Producer, error) {
	t.Helper()
	p := beginCompleteTxn(t, l)
	fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool {
		return op == eventlog.OpWrite && strings.Contains(name, failing) && strings.HasSuffix(name, ".log")
	}))
	err := p.CommitTransaction(ctx)
	fsys.SetFault(nil)
	return p, err
}

// beginCompleteTxn starts a Producer of transactional ID "tx" and, in a
// transaction it leaves open, writes "a" to A-0 and "o" to out-1 and sends
// offset 4 of in-0 for group g.
func beginCompleteTxn(t *testing.T, l *eventlog.Log) *eventlog.Producer {
	t.Helper()
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	send(t, p, "A", 0, "a")
	send(t, p, "out", 1, "o")
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{completeIn: {Offset: 4}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
	return p
}

// requireCommitted checks that commitIncomplete's transaction is
// committed in every partition.
func requireCommitted(t *testing.T, l *eventlog.Log) {
	t.Helper()
	require.Equal(t, []string{"a"}, consume(t, l, eventlog.ReadCommitted, "A"))
	require.Equal(t, []string{"o"}, consume(t, l, eventlog.ReadCommitted, "out"))
	require.Equal(t, int64(4), committedOffset(t, l, completeIn))
}

// controlBatches counts the control batches of a partition.
func controlBatches(t *testing.T, p *eventlog.Partition) int {
	n := 0
	for _, b := range eventlog.BatchProducerFields(t, p) {
		if b.Control {
			n++
		}
	}
	return n
}

// TestIncompleteCommitMarksTheOtherPartitions: a COMMIT marker that a
// partition refuses does not keep the transaction's other partitions —
// data, or the __consumer_offsets partition of its offsets — from getting
// theirs: their records and offsets are committed at once. The failed
// partition takes its marker at the next Open. Meanwhile the Producer can
// only retry the commit, and its Close and the Log's neither hang nor
// leave goroutines behind.
func TestIncompleteCommitMarksTheOtherPartitions(t *testing.T) {
	for name, failing := range map[string]string{"data partition": "/A/0/", "offsets partition": "/__consumer_offsets/"} {
		t.Run(name, func(t *testing.T) {
			before := goroutineIDs()
			fsys := eventlog.NewMemFS()
			l := completeLog(t, fsys)
			p, err := commitIncomplete(t, l, fsys, failing)
			assert.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
			assert.ErrorIs(t, err, eventlog.ErrInjected)
			assert.ErrorContains(t, err, `transactional id "tx"`)

			a0, out1 := partition(t, l, "A", 0), partition(t, l, "out", 1)
			assert.Equal(t, out1.HighWatermark(), out1.LastStableOffset(), "out-1 has its marker")
			assert.Equal(t, []string{"o"}, consume(t, l, eventlog.ReadCommitted, "out"))
			if failing == "/A/0/" {
				assert.Zero(t, a0.LastStableOffset(), "A-0 holds its readers before the transaction")
				assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "A"))
				assert.Equal(t, int64(4), committedOffset(t, l, completeIn), "the offsets are committed")
			} else {
				assert.Equal(t, a0.HighWatermark(), a0.LastStableOffset(), "A-0 has its marker")
				assert.Equal(t, []string{"a"}, consume(t, l, eventlog.ReadCommitted, "A"))
				assert.Equal(t, int64(-1), committedOffset(t, l, completeIn), "the offsets wait for their marker")
			}

			// The commit is decided: only CommitTransaction again is taken.
			assert.ErrorIs(t, p.AbortTransaction(ctx), eventlog.ErrTransactionState)
			assert.ErrorIs(t, p.BeginTransaction(), eventlog.ErrTransactionState)
			_, err = p.Send(ctx, eventlog.Record{Topic: "out", Partition: 1, Key: []byte("k"), Value: []byte("late")})
			assert.ErrorIs(t, err, eventlog.ErrTransactionState, "no record joins a decided transaction")
			err = p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{completeIn: {Offset: 5}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1})
			assert.ErrorIs(t, err, eventlog.ErrTransactionState)
			eventlog.RetryIncompleteTransactions(l)
			err = p.CommitTransaction(ctx)
			assert.ErrorIs(t, err, eventlog.ErrTransactionIncomplete, "the failed partition takes no marker until the Log is reopened")
			assert.Equal(t, 1, controlBatches(t, out1), "retries leave the partitions that have their marker alone")
			_, err = l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
			assert.ErrorIs(t, err, eventlog.ErrTransactionIncomplete, "a new producer cannot complete it either")

			require.NoError(t, p.Close(), "the Log owns the transaction now")
			assert.Error(t, l.Close(), "a partition failed")
			assertNoGoroutinesLeft(t, before)

			l = completeLog(t, fsys)
			defer l.Close()
			requireCommitted(t, l)
			p = txnProducer(t, l, "tx")
			require.NoError(t, p.BeginTransaction())
			send(t, p, "out", 0, "next")
			require.NoError(t, p.CommitTransaction(ctx))
			assert.Equal(t, []string{"next", "o"}, consume(t, l, eventlog.ReadCommitted, "out"))
		})
	}
}

// abortIncomplete runs a transaction that stores "stored" in out-1 and
// drops a record meant for out-0 (its ctx ends while it lingers), so that
// CommitTransaction aborts it. out-0 then holds no batch with a producer
// id: its ABORT marker must first write the partition's first producer
// snapshot, and a fault, left in place, fails that, which fails the marker
// but not the partition. It returns the Producer and CommitTransaction's
// error.
func abortIncomplete(t *testing.T, l *eventlog.Log, fsys *eventlog.MemFS) (*eventlog.Producer, error) {
	t.Helper()
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: time.Hour})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 1, "stored")
	sendCtx, cancel := context.WithCancel(ctx)
	p.SendAsync(sendCtx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("dropped")}, nil)
	cancel()
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if strings.Contains(name, "/out/0/") && strings.Contains(name, ".snapshot") {
			return eventlog.ErrInjected
		}
		return nil
	})
	return p, p.CommitTransaction(ctx)
}

// TestIncompleteAbortCompletesOnceTheFaultClears: a marker that failed
// without failing its partition is written by the Log's own retry, a
// second later, once the fault is gone; the Producer's retried call then
// returns the outcome, and the Producer goes on.
func TestIncompleteAbortCompletesOnceTheFaultClears(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l := completeLog(t, fsys)
		defer func() { require.NoError(t, l.Close()) }()
		p, err := abortIncomplete(t, l, fsys)
		defer p.Close()
		assert.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
		assert.ErrorIs(t, err, eventlog.ErrTransactionAborted)
		assert.ErrorIs(t, err, eventlog.ErrInjected)
		out0, out1 := partition(t, l, "out", 0), partition(t, l, "out", 1)
		assert.Equal(t, out1.HighWatermark(), out1.LastStableOffset(), "out-1 has its marker")
		assert.Zero(t, controlBatches(t, out0))
		assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"))
		assert.ErrorIs(t, p.CommitTransaction(ctx), eventlog.ErrTransactionIncomplete, "the fault is still there")

		fsys.SetFault(nil)
		time.Sleep(time.Second) // the Log's retry runs
		synctest.Wait()
		assert.Equal(t, 1, controlBatches(t, out0), "out-0 got its marker")
		assert.Equal(t, 1, controlBatches(t, out1), "out-1 got none again")
		err = p.CommitTransaction(ctx)
		assert.ErrorIs(t, err, eventlog.ErrTransactionAborted, "the retried call returns the outcome")
		assert.NotErrorIs(t, err, eventlog.ErrTransactionIncomplete)
		require.NoError(t, p.BeginTransaction())
		send(t, p, "out", 0, "next")
		require.NoError(t, p.CommitTransaction(ctx))
		assert.Equal(t, []string{"next"}, consume(t, l, eventlog.ReadCommitted, "out"))
	})
}

// TestLogCloseDuringTransactionRetry: a Close while the Log's retry is
// writing a marker waits for it, the retry stops, and the next Open
// finishes the transaction.
func TestLogCloseDuringTransactionRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l := completeLog(t, fsys)
		p, err := abortIncomplete(t, l, fsys)
		require.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
		// The retry pauses at the fsync of out-0's marker, which no call
		// into the Log holds up.
		paused, resume := make(chan struct{}), make(chan struct{})
		var once sync.Once
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSync && strings.Contains(name, "/out/0/") && strings.HasSuffix(name, ".log") {
				once.Do(func() {
					close(paused)
					<-resume
				})
			}
			return nil
		})
		time.Sleep(time.Second)
		<-paused
		closed := make(chan error, 1)
		go func() { closed <- l.Close() }()
		synctest.Wait() // Close waits for the retry
		select {
		case err := <-closed:
			require.FailNow(t, "Close returned before the retry ended", "%v", err)
		default:
		}
		close(resume)
		require.NoError(t, <-closed)
		require.NoError(t, p.Close())
		fsys.SetFault(nil)

		l = completeLog(t, fsys)
		defer func() { require.NoError(t, l.Close()) }()
		assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"))
		assert.Equal(t, []string{"stored"}, consume(t, l, eventlog.ReadUncommitted, "out"))
		out1 := partition(t, l, "out", 1)
		assert.Equal(t, out1.HighWatermark(), out1.LastStableOffset())
		p = txnProducer(t, l, "tx")
		require.NoError(t, p.BeginTransaction())
		send(t, p, "out", 0, "next")
		require.NoError(t, p.CommitTransaction(ctx))
		assert.Equal(t, []string{"next"}, consume(t, l, eventlog.ReadCommitted, "out"))
	})
}

// TestCommitCompletesWhenContextEndsAfterDecision: once the commit is
// decided, the caller's ctx ending does not leave the transaction half
// done: the coordinator completes it, and CommitTransaction says so.
func TestCommitCompletesWhenContextEndsAfterDecision(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := completeLog(t, fsys)
	defer l.Close()
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 1, "o")
	commitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpWrite && strings.Contains(name, "/out/1/") {
			cancel() // as the marker is written: the commit is decided
		}
		return nil
	})
	err := p.CommitTransaction(commitCtx)
	fsys.SetFault(nil)
	require.Error(t, commitCtx.Err(), "the fault ended ctx")
	require.NoError(t, err)
	assert.Equal(t, []string{"o"}, consume(t, l, eventlog.ReadCommitted, "out"))
	require.NoError(t, p.BeginTransaction(), "the transaction is complete")
}

// TestIncompleteTransactionPowerLoss loses power while a transaction is
// decided but incomplete, in every crash mode: with a commit whose marker
// a partition refused, then at each operation of the Open that finishes
// it; with an abort whose marker failed, at each operation of the Log's
// retry that completes it. Whatever the cut, the transaction ends with its
// decided outcome in every partition.
func TestIncompleteTransactionPowerLoss(t *testing.T) {
	for _, mode := range txnPowerLossModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Run("commit", func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				l := completeLog(t, fsys)
				_, err := commitIncomplete(t, l, fsys, "/A/0/")
				require.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
				fsys.Crash(eventlog.CrashOptions{Mode: mode})
				_ = eventlog.Abandon(l)
				crashed := cloneMemFS(t, fsys)
				cuts := sweepPowerCuts(t, crashed, mode, func(l *eventlog.Log) { requireCommitted(t, l) })
				t.Logf("a cut at each of the %d operations of the Open that finishes the commit", cuts)
			})
			t.Run("abort", func(t *testing.T) {
				// A cut at each operation of the retry, from a Log that
				// holds the incomplete abort, made afresh for each cut.
				eachPowerCut(t, "the retry that completes the abort", func(at int) bool {
					fsys := eventlog.NewMemFS()
					l := completeLog(t, fsys)
					_, err := abortIncomplete(t, l, fsys)
					require.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
					done := cutPowerDuring(fsys, mode, at, l, func() { eventlog.RetryIncompleteTransactions(l) })
					l = completeLog(t, fsys)
					assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"), "cut at %d", at)
					assert.Contains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "stored")
					out1 := partition(t, l, "out", 1)
					assert.Equal(t, out1.HighWatermark(), out1.LastStableOffset(), "cut at %d", at)
					require.NoError(t, l.Close())
					return done
				})
			})
		})
	}
}

// eachPowerCut calls cut with at = 1, 2, ...: cut runs something with
// the power cut at its at-th filesystem operation (cutPowerDuring) and
// checks the log after, and reports whether what it ran ended before the
// cut. eachPowerCut stops there, and logs how many operations what did.
func eachPowerCut(t *testing.T, what string, cut func(at int) (done bool)) {
	t.Helper()
	for at := 1; ; at++ {
		require.Less(t, at, 1000, "%s never ended", what)
		if cut(at) {
			t.Logf("a cut at each of the %d operations of %s", at-1, what)
			return
		}
	}
}

// cutPowerDuring runs fn with the power of fsys cut, in mode, at its at-th
// operation, then abandons l, the Log on fsys, and turns the power back
// on; it reports whether fn ended before the cut.
func cutPowerDuring(fsys *eventlog.MemFS, mode eventlog.CrashMode, at int, l *eventlog.Log, fn func()) (done bool) {
	sw := newPowerSwitch(fsys, mode, uint64(at))
	sw.arm(at)
	fn()
	done = !sw.isDead()
	sw.cut()
	_ = eventlog.Abandon(l)
	sw.arm(0)
	return done
}

// sweepPowerCuts reopens a copy of the crashed fsys once per operation of
// that Open, cutting the power at it, then reopens with the power on and
// checks the Log. It returns the number of operations.
func sweepPowerCuts(t *testing.T, crashed *eventlog.MemFS, mode eventlog.CrashMode, check func(*eventlog.Log)) int {
	t.Helper()
	for at := 1; ; at++ {
		require.Less(t, at, 1000, "Open never ended")
		fsys := cloneMemFS(t, crashed)
		sw := newPowerSwitch(fsys, mode, uint64(at))
		sw.arm(at)
		l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
		if err == nil {
			_ = eventlog.Abandon(l)
		} else {
			require.True(t, sw.isDead(), "Open failed with the power on: %v", err)
		}
		done := !sw.isDead()
		sw.cut()
		sw.arm(0)
		l, err = eventlog.Open("/data", &eventlog.Options{FS: fsys})
		require.NoError(t, err, "reopen after a cut at %d", at)
		check(l)
		require.NoError(t, l.Close())
		if done {
			return at - 1
		}
	}
}
