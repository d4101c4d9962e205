package eventlog_test

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// lastEpochProducer starts a transactional Producer of id at the last
// epoch a Producer is given, math.MaxInt16-1.
func lastEpochProducer(t *testing.T, l *eventlog.Log, id string) *eventlog.Producer {
	t.Helper()
	require.NoError(t, eventlog.StoreTransactionalIDEpoch(l, id, math.MaxInt16-2))
	p := minuteTxnProducer(t, l, id)
	require.Equal(t, int16(math.MaxInt16-1), eventlog.ProducerIDOf(p).Epoch)
	return p
}

// lastMarker returns the producer fields of the last transaction marker
// of the partition.
func lastMarker(t *testing.T, p *eventlog.Partition) eventlog.BatchFields {
	t.Helper()
	var marker eventlog.BatchFields
	for _, b := range eventlog.BatchProducerFields(t, p) {
		if b.Control {
			marker = b
		}
	}
	require.True(t, marker.Control, "no marker")
	return marker
}

// TestTransactionTimeoutAtLastEpoch: a transaction of a Producer at the
// last epoch that times out is aborted with markers of epoch MaxInt16, as
// Kafka's coordinator fences the exhausted epoch, so the timed out
// Producer is fenced at the coordinator and at the partitions it wrote;
// the next Producer of the ID gets a new producer id.
func TestTransactionTimeoutAtLastEpoch(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now})
	p := lastEpochProducer(t, l, "tx")
	old := eventlog.ProducerIDOf(p)
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "slow")

	clock.Advance(2 * time.Minute)
	eventlog.AbortTimedOutTransactions(l)
	out0 := partition(t, l, "out", 0)
	require.Equal(t, out0.HighWatermark(), out0.LastStableOffset(), "the timed out transaction was aborted")
	assert.Equal(t, eventlog.ProducerID{ID: old.ID, Epoch: math.MaxInt16}, lastMarker(t, out0).ID)

	_, err := p.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("late")})
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced, "the partition refuses the timed out epoch")
	assert.ErrorIs(t, p.CommitTransaction(ctx), eventlog.ErrProducerFenced)
	assert.ErrorIs(t, p.BeginTransaction(), eventlog.ErrProducerFenced)
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset(), "no transaction left open")
	assert.NotContains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "late")

	next := txnProducer(t, l, "tx")
	id := eventlog.ProducerIDOf(next)
	assert.NotEqual(t, old.ID, id.ID, "a new producer id once the epochs are used up")
	assert.Equal(t, int16(0), id.Epoch)
	require.NoError(t, next.BeginTransaction())
	send(t, next, "out", 0, "next")
	require.NoError(t, next.CommitTransaction(ctx))
	assert.Equal(t, []string{"next"}, consume(t, l, eventlog.ReadCommitted, "out"))
}

// TestTransactionFencingAtLastEpoch: a new Producer of a transactional ID
// whose Producer is at the last epoch aborts the open transaction with
// markers of epoch MaxInt16, which fences the old Producer at the
// partitions too (a late batch of its epoch would open a transaction
// nobody ends), and gets a new producer id.
func TestTransactionFencingAtLastEpoch(t *testing.T) {
	l := txnLog(t, t.TempDir(), nil)
	old := lastEpochProducer(t, l, "tx")
	oldID := eventlog.ProducerIDOf(old)
	require.NoError(t, old.BeginTransaction())
	send(t, old, "out", 0, "zombie")

	fresh := txnProducer(t, l, "tx")
	id := eventlog.ProducerIDOf(fresh)
	assert.NotEqual(t, oldID.ID, id.ID)
	assert.Equal(t, int16(0), id.Epoch)
	out0 := partition(t, l, "out", 0)
	assert.Equal(t, eventlog.ProducerID{ID: oldID.ID, Epoch: math.MaxInt16}, lastMarker(t, out0).ID)

	_, err := old.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("late")})
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorIs(t, old.CommitTransaction(ctx), eventlog.ErrProducerFenced)
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset(), "no transaction left open")

	require.NoError(t, fresh.BeginTransaction())
	send(t, fresh, "out", 1, "fresh")
	require.NoError(t, fresh.CommitTransaction(ctx))
	assert.Equal(t, []string{"fresh"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.NotContains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "late")
}

// TestAppendRefusesTransactionalProducerID: an idempotent append — Append
// with AppendOptions.Producer, or a Kafka client's batch through
// AppendBatch — naming the producer id of a transactional Producer (ids
// are small and handed out in order: easy to hit) with a higher epoch
// fenced that Producer in the partition, and the markers of its
// transactions with it: its abort could never complete, and its
// transactional ID was stuck for good, every NewProducer with it failing
// with ErrTransactionIncomplete. The appends are refused instead, with the
// ids of the transactional IDs in __transaction_state after a reopen too.
func TestAppendRefusesTransactionalProducerID(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	txn := txnProducer(t, l, "tx")
	require.NoError(t, txn.BeginTransaction())
	send(t, txn, "t", 0, "one")
	require.NoError(t, txn.CommitTransaction(ctx))
	id := eventlog.ProducerIDOf(txn)

	imposters := func(t *testing.T, l *eventlog.Log) {
		p := partition(t, l, "t", 0)
		end := p.LogEndOffset()
		_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("imposter")}},
			eventlog.AppendOptions{Producer: eventlog.ProducerID{ID: id.ID, Epoch: math.MaxInt16}})
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "Append")
		assert.ErrorContains(t, err, `"tx"`)
		b := producedBatch(t, 1, 0, false)
		binary.BigEndian.PutUint64(b[43:], uint64(id.ID))
		binary.BigEndian.PutUint16(b[51:], math.MaxInt16)
		_, err = p.AppendBatch(ctx, reCRC(b), eventlog.AppendOptions{})
		assert.ErrorIs(t, err, eventlog.ErrInvalidRecord, "AppendBatch")
		assert.ErrorContains(t, err, `"tx"`)
		assert.Equal(t, end, p.LogEndOffset(), "nothing stored")
	}
	imposters(t, l)

	require.NoError(t, txn.BeginTransaction())
	send(t, txn, "t", 0, "two")
	require.NoError(t, txn.AbortTransaction(ctx))
	require.NoError(t, txn.Close())
	_, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err, "the transactional ID goes on")

	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	imposters(t, l)
	txn = txnProducer(t, l, "tx")
	require.NoError(t, txn.BeginTransaction())
	send(t, txn, "t", 0, "three")
	require.NoError(t, txn.CommitTransaction(ctx))
	assert.Equal(t, []string{"one", "three"}, consume(t, l, eventlog.ReadCommitted, "t"))
}
