package eventlog_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// txnLog opens a log with two topics for transaction tests.
func txnLog(t *testing.T, dir string, opts *eventlog.Options) *eventlog.Log {
	t.Helper()
	l := openLog(t, dir, opts)
	for _, name := range []string{"in", "out"} {
		if _, err := l.TopicConfig(name); err != nil {
			require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 2}))
		}
	}
	return l
}

func txnProducer(t *testing.T, l *eventlog.Log, id string) *eventlog.Producer {
	t.Helper()
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: id, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// minuteTxnProducer is txnProducer with a TransactionTimeout of a minute.
func minuteTxnProducer(t *testing.T, l *eventlog.Log, id string) *eventlog.Producer {
	t.Helper()
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: id, TransactionTimeout: time.Minute, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// consume reads every record of the topic's partitions at the isolation
// level, from the start to the end as of now.
func consume(t *testing.T, l *eventlog.Log, level eventlog.IsolationLevel, topic string) []string {
	t.Helper()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{IsolationLevel: level, FetchMaxWait: -1})
	require.NoError(t, err)
	defer c.Close()
	cfg, err := l.TopicConfig(topic)
	require.NoError(t, err)
	var tps []eventlog.TopicPartition
	for i := range cfg.Partitions {
		tps = append(tps, eventlog.TopicPartition{Topic: topic, Partition: int32(i)})
	}
	require.NoError(t, c.Assign(tps...))
	require.NoError(t, c.SeekToBeginning())
	var out []string
	for r, err := range c.ReadToEnd(ctx) {
		require.NoError(t, err)
		out = append(out, string(r.Value))
	}
	sort.Strings(out)
	return out
}

func send(t *testing.T, p *eventlog.Producer, topic string, part int32, value string) {
	t.Helper()
	_, err := p.Send(ctx, eventlog.Record{Topic: topic, Partition: part, Key: []byte("k"), Value: []byte(value)})
	require.NoError(t, err)
}

func TestTransactionCommitAndAbort(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	plain, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer plain.Close()
	send(t, plain, "out", 0, "plain-before")

	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "a1")
	send(t, p, "out", 1, "a2")
	send(t, p, "in", 0, "a3")
	send(t, plain, "out", 0, "plain-during")

	// A transaction's records are fsynced at its commit; until then they
	// reach read_uncommitted readers with the Log's background fsync.
	require.NoError(t, partition(t, l, "out", 1).Wait(ctx, 0))
	out0 := partition(t, l, "out", 0)
	assert.Equal(t, int64(1), out0.LastStableOffset(), "the open transaction holds the last stable offset at its first record")
	assert.Equal(t, []string{"plain-before"}, consume(t, l, eventlog.ReadCommitted, "out"), "nothing after an open transaction is read committed")
	assert.Equal(t, []string{"a1", "a2", "plain-before", "plain-during"}, consume(t, l, eventlog.ReadUncommitted, "out"))

	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset())
	assert.Equal(t, []string{"a1", "a2", "plain-before", "plain-during"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.Equal(t, []string{"a3"}, consume(t, l, eventlog.ReadCommitted, "in"))

	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "b1")
	send(t, p, "out", 1, "b2")
	require.NoError(t, p.AbortTransaction(ctx))
	assert.Equal(t, []string{"a1", "a2", "plain-before", "plain-during"}, consume(t, l, eventlog.ReadCommitted, "out"), "aborted records are never read committed")
	assert.Equal(t, []string{"a1", "a2", "b1", "b2", "plain-before", "plain-during"}, consume(t, l, eventlog.ReadUncommitted, "out"))
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset())

	// Markers are control batches, read by nobody: Partition.Read skips
	// them, as it skips nothing else.
	recs := readAll(t, out0, 0)
	assert.Equal(t, []string{"plain-before", "a1", "plain-during", "b1"}, valueStrings(recs))

	// The aborted transaction, as a Kafka fetch response lists it.
	aborted := out0.AbortedTransactions(0, out0.HighWatermark())
	require.Len(t, aborted, 1)
	assert.Equal(t, recs[3].Offset, aborted[0].FirstOffset)
	assert.Greater(t, aborted[0].MarkerOffset, recs[3].Offset)
	assert.Equal(t, aborted, out0.AbortedTransactions(recs[3].Offset, recs[3].Offset+1))
	assert.Empty(t, out0.AbortedTransactions(0, recs[3].Offset), "nothing aborted below it")
	assert.Empty(t, out0.AbortedTransactions(aborted[0].MarkerOffset+1, out0.HighWatermark()+1), "nothing aborted after its marker")

	// Replay reads committed.
	var replayed []string
	require.NoError(t, l.Replay(ctx, "out", func(v *eventlog.RecordView) error {
		replayed = append(replayed, string(v.Value))
		return nil
	}))
	sort.Strings(replayed)
	assert.Equal(t, []string{"a1", "a2", "plain-before", "plain-during"}, replayed)
}

func TestTransactionStateErrors(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	p := txnProducer(t, l, "tx")
	_, err := p.Send(ctx, eventlog.Record{Topic: "out", Value: []byte("x")})
	assert.ErrorIs(t, err, eventlog.ErrTransactionState, "a send outside a transaction")
	assert.ErrorIs(t, p.CommitTransaction(ctx), eventlog.ErrTransactionState)
	assert.ErrorIs(t, p.AbortTransaction(ctx), eventlog.ErrTransactionState)
	require.NoError(t, p.BeginTransaction())
	assert.ErrorIs(t, p.BeginTransaction(), eventlog.ErrTransactionState)
	require.NoError(t, p.CommitTransaction(ctx), "an empty transaction commits")

	plain, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer plain.Close()
	assert.ErrorIs(t, plain.BeginTransaction(), eventlog.ErrTransactionState)

	_, err = l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "x", TransactionTimeout: time.Hour})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	_, err = p.Send(ctx, eventlog.Record{Topic: "__transaction_state", Key: []byte("k"), Value: []byte("x")})
	assert.ErrorIs(t, err, eventlog.ErrInvalidTopic, "internal topics are the library's")
}

// TestTransactionFencing: a new Producer with the same transactional ID
// aborts the old one's open transaction and fences it. The partition that
// refuses the old one's late batch names its transactional ID.
func TestTransactionFencing(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	old := txnProducer(t, l, "tx")
	require.NoError(t, old.BeginTransaction())
	send(t, old, "out", 0, "zombie")

	fresh := txnProducer(t, l, "tx")
	_, err := old.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("late")})
	require.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorContains(t, err, `topic "out" partition 0: producer `)
	assert.ErrorContains(t, err, ` of transactional id "tx": `)
	err = old.CommitTransaction(ctx)
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorIs(t, old.BeginTransaction(), eventlog.ErrProducerFenced, "fenced for good")

	require.NoError(t, fresh.BeginTransaction())
	send(t, fresh, "out", 1, "fresh")
	require.NoError(t, fresh.CommitTransaction(ctx))
	assert.Equal(t, []string{"fresh"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.Contains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "zombie")
	assert.NotContains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "late", "the old epoch is refused by the partition")
}

// TestTransactionAbortsOnDroppedRecord: a record buffered in a
// transaction whose context ends before its batch is appended is not
// stored, so the transaction must not commit without it, even when
// nobody listened for the record's outcome.
func TestTransactionAbortsOnDroppedRecord(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: time.Hour})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 1, "stored")
	sendCtx, cancel := context.WithCancel(ctx)
	p.SendAsync(sendCtx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("dropped")}, nil)
	cancel() // while the record lingers in its batch

	err = p.CommitTransaction(ctx)
	assert.ErrorIs(t, err, eventlog.ErrTransactionAborted)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, `topic "out" partition 0`)
	assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"), "nothing of the transaction is read committed")

	require.NoError(t, p.BeginTransaction(), "the next transaction starts afresh")
	send(t, p, "out", 0, "next")
	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, []string{"next"}, consume(t, l, eventlog.ReadCommitted, "out"))
}

// A record that Send or SendAsync refuses at the call, inside a
// transaction, or offsets that SendOffsetsToTransaction refuses, were meant
// for it and are not stored: the transaction aborts at its commit, as
// Kafka's does, whether or not the caller looked at the error. Refusals that are not about a record of the transaction leave the
// next one alone.
func TestTransactionAbortsOnRefusedRecord(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: time.Hour})
	require.NoError(t, err)
	defer p.Close()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	refusals := map[string]func() error{
		"unknown topic": func() error {
			_, err := p.Send(ctx, eventlog.Record{Topic: "nope", Value: []byte("v")})
			return err
		},
		"unknown partition, SendAsync without a function": func() error {
			p.SendAsync(ctx, eventlog.Record{Topic: "out", Partition: 7, Value: []byte("v")}, nil)
			return nil
		},
		"too large": func() error {
			_, err := p.Send(ctx, eventlog.Record{Topic: "out", Value: make([]byte, eventlog.DefaultMaxBatchBytes)})
			return err
		},
		"ended ctx": func() error {
			_, err := p.Send(ended, eventlog.Record{Topic: "out", Value: []byte("v")})
			return err
		},
		"offsets out of range": func() error {
			return p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("out", 0): {Offset: 1000}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1})
		},
		"offsets of an unknown topic": func() error {
			return p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("nope", 0): {Offset: 0}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1})
		},
	}
	for name, refuse := range refusals {
		_, err := p.Send(ctx, eventlog.Record{Topic: "out", Value: []byte("outside")})
		require.ErrorIs(t, err, eventlog.ErrTransactionState, "no transaction is open")
		require.NoError(t, p.BeginTransaction(), name)
		send(t, p, "out", 0, "stored")
		_ = refuse() // as a caller that ignores the error would
		err = p.CommitTransaction(ctx)
		assert.ErrorIs(t, err, eventlog.ErrTransactionAborted, name)
		assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"), name)
	}

	require.NoError(t, p.BeginTransaction(), "the next transaction starts afresh")
	send(t, p, "out", 1, "next")
	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, []string{"next"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.Empty(t, committed(t, l, "g"), "no offsets were committed")
}

func TestTransactionTimeout(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now})
	p := minuteTxnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "slow")
	clock.Advance(30 * time.Second)
	eventlog.AbortTimedOutTransactions(l)
	assert.Equal(t, int64(0), partition(t, l, "out", 0).LastStableOffset(), "not yet timed out")

	clock.Advance(90 * time.Second)
	eventlog.AbortTimedOutTransactions(l)
	out0 := partition(t, l, "out", 0)
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset(), "the timed out transaction was aborted")
	assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.ErrorIs(t, p.CommitTransaction(ctx), eventlog.ErrProducerFenced)
}

// TestTransactionAbortedOnReopen: a transaction open when the process
// died is aborted by the next Open; a committed one stays.
func TestTransactionAbortedOnReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("out", eventlog.TopicConfig{Partitions: 2}))
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "committed")
	require.NoError(t, p.CommitTransaction(ctx))
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 1, "open")
	require.NoError(t, eventlog.Abandon(l))

	l = openLog(t, dir, nil)
	out1 := partition(t, l, "out", 1)
	assert.Equal(t, out1.HighWatermark(), out1.LastStableOffset())
	assert.Equal(t, []string{"committed"}, consume(t, l, eventlog.ReadCommitted, "out"))

	// The transactional ID lives on, with a new epoch.
	p2 := txnProducer(t, l, "tx")
	require.NoError(t, p2.BeginTransaction())
	send(t, p2, "out", 1, "again")
	require.NoError(t, p2.CommitTransaction(ctx))
	assert.Equal(t, []string{"again", "committed"}, consume(t, l, eventlog.ReadCommitted, "out"))
	require.NoError(t, l.Close())

	l = openLog(t, dir, nil)
	assert.Equal(t, []string{"again", "committed"}, consume(t, l, eventlog.ReadCommitted, "out"), "after a clean reopen too")
}

// TestBeginTransactionAfterLogClose: BeginTransaction, like every call on
// a handle of a closed Log, fails with ErrClosed — not with nil, and not
// with ErrTransactionState for the transaction the Close left open, which
// no call can end any more (the next Open aborts it).
func TestBeginTransactionAfterLogClose(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("out", eventlog.TopicConfig{}))
	idle := txnProducer(t, l, "idle")
	open := txnProducer(t, l, "open")
	require.NoError(t, open.BeginTransaction())
	require.NoError(t, l.Close())
	assert.ErrorIs(t, idle.BeginTransaction(), eventlog.ErrClosed, "no transaction open")
	assert.ErrorIs(t, open.AbortTransaction(ctx), eventlog.ErrClosed)
	assert.ErrorIs(t, open.BeginTransaction(), eventlog.ErrClosed, "a transaction left open by Close")
	assert.ErrorIs(t, idle.SendOffsetsToTransaction(ctx, nil, eventlog.GroupMetadata{GroupID: "g"}), eventlog.ErrClosed)
	assert.NoError(t, idle.Close())
}

// TestSendOffsetsToTransaction: offsets added to a transaction are the
// group's committed offsets once it commits, and never if it aborts.
func TestSendOffsetsToTransaction(t *testing.T) {
	dir := t.TempDir()
	l := txnLog(t, dir, nil)
	in := eventlog.TopicPartition{Topic: "in", Partition: 0}
	plain, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer plain.Close()
	for i := range 10 {
		send(t, plain, "in", 0, fmt.Sprint("in", i))
	}
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", DisableAutoCommit: true, FetchMaxWait: -1})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Subscribe("in"))
	_, err = c.Poll(ctx)
	require.NoError(t, err)
	md, err := c.GroupMetadata()
	require.NoError(t, err)
	require.GreaterOrEqual(t, md.GenerationID, int32(0))

	p := txnProducer(t, l, "tx")
	committed := func() int64 { return committedOffset(t, l, in) }

	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "o1")
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 4}}, md))
	assert.Equal(t, int64(-1), committed(), "pending until the commit")
	assert.True(t, l.OffsetCommitPending("g", in))
	assert.False(t, l.OffsetCommitPending("other", in))
	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, int64(4), committed())
	assert.False(t, l.OffsetCommitPending("g", in))

	require.NoError(t, p.BeginTransaction())
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 9}}, md))
	require.NoError(t, p.AbortTransaction(ctx))
	assert.Equal(t, int64(4), committed(), "an aborted transaction commits no offset")

	require.NoError(t, p.BeginTransaction())
	stale := md
	stale.GenerationID++
	err = p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 9}}, stale)
	assert.ErrorIs(t, err, eventlog.ErrCommitFailed, "another generation's offsets")
	other := md
	other.MemberID = "nobody"
	err = p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 9}}, other)
	assert.ErrorIs(t, err, eventlog.ErrCommitFailed)
	err = p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 99}}, md)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	// Offsets refused make the transaction abort, as in Kafka, though good
	// ones follow.
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 8}}, md))
	assert.ErrorIs(t, p.CommitTransaction(ctx), eventlog.ErrTransactionAborted)
	assert.Equal(t, int64(4), committed())

	require.NoError(t, p.BeginTransaction())
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 7, Metadata: "m"}}, md))
	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, int64(7), committed())

	// Open replays the transactional commits the same way.
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())
	require.NoError(t, plain.Close())
	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	got, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, int64(7), got[0].Committed)
	assert.Equal(t, "m", got[0].Metadata)
}

// TestConsumerWaitsForPendingOffsets: a consumer of a group whose offset is
// pending in an open transaction does not start before the transaction
// decides where it starts (Kafka's requireStable).
func TestConsumerWaitsForPendingOffsets(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	in := eventlog.TopicPartition{Topic: "in", Partition: 0}
	plain, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer plain.Close()
	for i := range 6 {
		send(t, plain, "in", 0, fmt.Sprint("in", i))
	}
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 4}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))

	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: -1})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(in))
	_, err = c.Position(in)
	require.ErrorIs(t, err, eventlog.ErrUnstableOffsetCommit)
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing until the transaction is decided")

	require.NoError(t, p.CommitTransaction(ctx))
	recs, err = c.Poll(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	assert.Equal(t, int64(4), recs[0].Offset, "from the offset the transaction committed")
}

// TestReadToEndWaitsForPendingOffsets: ReadToEnd yields every record below
// each partition's end, so a partition whose start, the group's committed
// offset, is pending in an open transaction is waited for, as Poll and
// Records wait, rather than left unread by a loop that ends without an
// error.
func TestReadToEndWaitsForPendingOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := txnLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
		in := eventlog.TopicPartition{Topic: "in", Partition: 0}
		fill(t, l, "in", 1, 6)
		p := txnProducer(t, l, "tx")
		require.NoError(t, p.BeginTransaction())
		require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 4}},
			eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))

		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", DisableAutoCommit: true, AutoOffsetReset: eventlog.OffsetResetEarliest})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Assign(in))
		var got []int64
		var loopErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			for r, err := range c.ReadToEnd(ctx) {
				if err != nil {
					loopErr = err
					return
				}
				got = append(got, r.Offset)
			}
		}()
		synctest.Wait()
		select {
		case <-done:
			require.Fail(t, "ReadToEnd ended before the transaction did", "read %v, err %v", got, loopErr)
		default:
		}
		require.NoError(t, p.CommitTransaction(ctx))
		<-done
		require.NoError(t, loopErr)
		assert.Equal(t, []int64{4, 5}, got, "from the offset the transaction committed to the end")

		// Without a wait (a negative FetchMaxWait), the partition is
		// reported rather than skipped.
		require.NoError(t, p.BeginTransaction())
		require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 5}},
			eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
		now, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", DisableAutoCommit: true, FetchMaxWait: -1})
		require.NoError(t, err)
		defer now.Close()
		require.NoError(t, now.Assign(in))
		for _, err := range now.ReadToEnd(ctx) {
			loopErr = err
		}
		assert.ErrorIs(t, loopErr, eventlog.ErrUnstableOffsetCommit)
		require.NoError(t, p.AbortTransaction(ctx))
	})
}

// A read-only Log reads committed as a writer's consumers do: an open
// transaction holds its readers at the last stable offset, aborted records
// never reach them, and a commit shows after Refresh.
func TestTransactionsReadOnly(t *testing.T) {
	dir := t.TempDir()
	w := txnLog(t, dir, nil)
	p := txnProducer(t, w, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "aborted")
	require.NoError(t, p.AbortTransaction(ctx))
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "committed")
	require.NoError(t, p.CommitTransaction(ctx))
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "open")

	r := openReadOnly(t, dir)
	assert.Equal(t, []string{"committed"}, consume(t, r, eventlog.ReadCommitted, "out"))
	assert.Equal(t, []string{"aborted", "committed", "open"}, consume(t, r, eventlog.ReadUncommitted, "out"))

	require.NoError(t, p.CommitTransaction(ctx))
	require.NoError(t, r.Refresh())
	assert.Equal(t, []string{"committed", "open"}, consume(t, r, eventlog.ReadCommitted, "out"))
}

// TestLogCloseDuringCommit: a Close that comes while CommitTransaction is
// in the coordinator, here fsyncing the transaction's records before its
// decision, waits for it; the commit then fails with ErrClosed, and the
// next Open aborts the transaction. Neither call hangs.
func TestLogCloseDuringCommit(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("out", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "x")

	paused, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "/out/0/") {
			once.Do(func() {
				close(paused)
				<-resume
			})
		}
		return nil
	})
	committed := make(chan error, 1)
	go func() { committed <- p.CommitTransaction(ctx) }()
	<-paused
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	awaitCloseWaiting(t)
	close(resume)

	assert.ErrorIs(t, <-committed, eventlog.ErrClosed)
	require.NoError(t, <-closed)
	require.NoError(t, p.Close())
	fsys.SetFault(nil)
	l = openLog(t, "/data", opts)
	assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"), "undecided, so aborted")
	assert.Equal(t, []string{"x"}, consume(t, l, eventlog.ReadUncommitted, "out"))
}

// awaitCloseWaiting returns once a Log's Close waits for the calls it
// must outlast: those in flight, or the long ones and the Log's
// goroutines.
func awaitCloseWaiting(t *testing.T) {
	t.Helper()
	for range 1_000_000 {
		for _, g := range goroutineStacks() {
			if strings.Contains(g, "eventlog.(*Log).shutdown") &&
				(strings.Contains(g, "sync.(*RWMutex).Lock") || strings.Contains(g, "sync.(*WaitGroup).Wait")) {
				return
			}
		}
		runtime.Gosched()
	}
	require.FailNow(t, "Close never waited")
}

// TestTransactionalProducerNeedsAcksAll: NewProducer refuses a
// TransactionalID with Acks other than AcksAll, as Kafka's producer
// refuses acks other than all for a transactional.id ("Must set acks to
// all in order to use the transactional producer"), naming both settings;
// the Producer was made, and its Acks ignored inside transactions.
func TestTransactionalProducerNeedsAcksAll(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	for _, acks := range []eventlog.Acks{eventlog.AcksLeader, eventlog.AcksNone} {
		p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Acks: acks, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
		if p != nil {
			_ = p.Close()
		}
		require.ErrorIs(t, err, eventlog.ErrInvalidConfig, "Acks %s", acks)
		assert.ErrorContains(t, err, "TransactionalID")
		assert.ErrorContains(t, err, "Acks")
		assert.ErrorContains(t, err, "acks="+acks.String())
	}
	assert.Empty(t, eventlog.TransactionalIDs(l), "refused before the coordinator saw the ID")
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Acks: eventlog.AcksAll, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 1, "v")
	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, []string{"v"}, consume(t, l, eventlog.ReadCommitted, "out"))
}
