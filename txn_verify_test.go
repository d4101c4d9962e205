package eventlog_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestZombieCannotHangPartitionAfterExpiry: a Producer whose transaction
// timed out is fenced by the abort's markers, which give its partitions a
// newer epoch. Once a partition forgets the producer
// (ProducerIDExpiration), it would take a late batch of the zombie — a
// partition, or the group's __consumer_offsets partition, it had added to
// the aborted transaction — as the first of a new transaction that no
// coordinator state lists and nothing would end: the partition's last
// stable offset, or the group's offsets, stuck until the Log is reopened.
// The partition asks the coordinator before it lets a transaction begin
// (Kafka's transaction verification, KIP-890).
func TestZombieCannotHangPartitionAfterExpiry(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, ProducerIDExpiration: 2 * time.Minute})
	in := tp("in", 0)
	plain, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer plain.Close()
	send(t, plain, "in", 0, "input")
	manual := eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}
	offsets := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 1}}

	zombie := minuteTxnProducer(t, l, "tx")
	require.NoError(t, zombie.BeginTransaction())
	send(t, zombie, "out", 0, "slow")
	require.NoError(t, zombie.SendOffsetsToTransaction(ctx, offsets, manual))
	clock.Advance(90 * time.Second)
	eventlog.AbortTimedOutTransactions(l)
	clock.Advance(5 * time.Minute)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l), "the partitions forget the producer")

	out0 := partition(t, l, "out", 0)
	_, err = zombie.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("late")})
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced, "a late batch of the timed out transaction")
	assert.ErrorIs(t, zombie.SendOffsetsToTransaction(ctx, offsets, manual), eventlog.ErrProducerFenced)
	assert.ErrorIs(t, zombie.CommitTransaction(ctx), eventlog.ErrProducerFenced)
	require.NoError(t, zombie.Close())

	send(t, plain, "out", 0, "after")
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset(), "no transaction holds the partition")
	assert.Equal(t, []string{"after"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.False(t, l.OffsetCommitPending("g", in), "no transaction holds the group's offset")
	assert.Empty(t, committed(t, l, "g"))

	// The transactional ID's next Producer works as ever.
	next := txnProducer(t, l, "tx")
	require.NoError(t, next.BeginTransaction())
	send(t, next, "out", 0, "next")
	require.NoError(t, next.SendOffsetsToTransaction(ctx, offsets, manual))
	require.NoError(t, next.CommitTransaction(ctx))
	assert.Equal(t, []string{"after", "next"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.Equal(t, map[eventlog.TopicPartition]int64{in: 1}, committed(t, l, "g"))
}

// timedOutTransaction begins a transaction of p, a minuteTxnProducer, that
// sends a record to partition 0 of "out", and lets it pass its
// TransactionTimeout, so that l aborts it.
func timedOutTransaction(t *testing.T, l *eventlog.Log, clock *fakeClock, p *eventlog.Producer) {
	t.Helper()
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "slow")
	clock.Advance(90 * time.Second)
	eventlog.AbortTimedOutTransactions(l)
}

// sendLate sends a record to the partition of "out" with p, once p was
// fenced, and returns its error.
func sendLate(p *eventlog.Producer, partition int32) error {
	_, err := p.Send(ctx, eventlog.Record{Topic: "out", Partition: partition, Key: []byte("k"), Value: []byte("late")})
	return err
}

// TestTimedOutProducerErrorsSayWhy: a Producer fenced because its
// transaction passed its TransactionTimeout is told so, at the partition
// that refuses its late batch and at the coordinator, not only that a
// newer epoch fenced it — which sends its user looking for a second
// Producer of the transactional ID that does not exist.
func TestTimedOutProducerErrorsSayWhy(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now})
	p := minuteTxnProducer(t, l, "tx")
	timedOutTransaction(t, l, clock, p)

	const why = "open longer than its TransactionTimeout (1m0s)"
	err := sendLate(p, 0)
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorContains(t, err, why, "the partition's refusal")
	err = p.CommitTransaction(ctx)
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorContains(t, err, why)

	// Told at the coordinator too: a Producer that learns it at its next
	// partition added.
	p2 := minuteTxnProducer(t, l, "tx2")
	timedOutTransaction(t, l, clock, p2)
	err = sendLate(p2, 1)
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorContains(t, err, why, "the coordinator's refusal")

	// A Producer fenced by a newer one of its ID is told that instead.
	old := txnProducer(t, l, "tx3")
	require.NoError(t, old.BeginTransaction())
	send(t, old, "out", 0, "zombie")
	txnProducer(t, l, "tx3")
	err = sendLate(old, 0)
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorContains(t, err, "a newer Producer of its transactional id started")
}

// An aborted transaction whose records lie below the log start, its ABORT
// marker above it: Open, replaying the partition from the log start when
// it has no producer-state snapshot, rebuilds the .txnindex without it, as
// no record of it is left to hide. Verify takes that for no problem.
func TestVerifyAbortBelowLogStart(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompactDelete}))
	p := partition(t, l, "t", 0)
	prod := txnProducer(t, l, "tx")
	require.NoError(t, prod.BeginTransaction())
	sendKeyed(t, prod, "b", "aborted below the log start")
	putKV(t, p, "x", []byte("x1"))
	_, err := l.DeleteRecords(ctx, "t", 0, 2)
	require.NoError(t, err)
	require.NoError(t, prod.AbortTransaction(ctx))
	putKV(t, p, "y", []byte("y1"))
	require.NoError(t, prod.Close())
	require.NoError(t, l.Close())
	require.Empty(t, verify(t, dir).Problems)

	snaps, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.snapshot"))
	require.NoError(t, err)
	require.NotEmpty(t, snaps)
	for _, s := range snaps {
		require.NoError(t, os.Remove(s))
	}
	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	assert.Empty(t, p.AbortedTransactions(p.LogStartOffset(), p.HighWatermark()), "rebuilt from the log start")
	assert.Equal(t, map[string]bool{"y1": true}, readCommitted(t, l, eventlog.TopicPartition{Topic: "t", Partition: 0}))
	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems)
}
