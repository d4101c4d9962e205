package eventlog_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// txnStateKey is the __transaction_state key of transactional ID id.
func txnStateKey(id string) []byte {
	key := binary.BigEndian.AppendUint16(nil, 0)
	key = binary.BigEndian.AppendUint16(key, uint16(len(id)))
	return append(key, id...)
}

// txnStateRecords returns the values of the records of transactional ID
// id in __transaction_state, oldest first; a tombstone's is nil.
func txnStateRecords(t *testing.T, l *eventlog.Log, id string) [][]byte {
	t.Helper()
	p := partition(t, l, "__transaction_state", 0)
	var values [][]byte
	for offset := p.LogStartOffset(); offset < p.HighWatermark(); {
		recs, err := p.Read(offset, 1<<20)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		for _, r := range recs {
			if bytes.Equal(r.Key, txnStateKey(id)) {
				values = append(values, r.Value)
			}
		}
		offset = recs[len(recs)-1].Offset + 1
	}
	return values
}

// committedTxn runs a transaction of p that commits value to partition 0
// of "out".
func committedTxn(t *testing.T, p *eventlog.Producer, value string) {
	t.Helper()
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, value)
	require.NoError(t, p.CommitTransaction(ctx))
}

// TestTransactionalIDExpires: the Log's background check forgets a
// transactional ID that has had no transaction for
// TransactionalIDExpiration (7 days by default, Kafka's
// transactional.id.expiration.ms), with a tombstone in
// __transaction_state, so that a reopened Log does not have it either.
// The coordinator kept every ID ever used, in memory and in the topic.
func TestTransactionalIDExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		dir := t.TempDir()
		opts := &eventlog.Options{Now: clock.Now, Durability: eventlog.DurabilityOS}
		l := txnLog(t, dir, opts)
		p := txnProducer(t, l, "tx")
		committedTxn(t, p, "before")
		require.NoError(t, p.Close())

		clock.Advance(7*24*time.Hour - time.Millisecond)
		time.Sleep(time.Second) // the Log's check runs
		synctest.Wait()
		assert.Equal(t, []string{"tx"}, eventlog.TransactionalIDs(l), "not idle long enough yet")

		clock.Advance(time.Millisecond)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Empty(t, eventlog.TransactionalIDs(l), "idle for TransactionalIDExpiration")
		states := txnStateRecords(t, l, "tx")
		require.NotEmpty(t, states)
		assert.Nil(t, states[len(states)-1], "the last record of the ID is a tombstone")

		require.NoError(t, l.Close())
		l = txnLog(t, dir, opts)
		assert.Empty(t, eventlog.TransactionalIDs(l), "a reopened Log does not have the ID")
		assert.Equal(t, []string{"before"}, consume(t, l, eventlog.ReadCommitted, "out"))
		require.NoError(t, l.Close())
	})
}

// TestTransactionalIDNotExpiredDuringTransaction: an ID is expired only
// in a terminal state, as in Kafka: not while a transaction of it is open
// however long (its TransactionTimeout is longer than the expiration
// here), nor while a decided transaction waits for its markers; its idle
// time counts from the end of the transaction.
func TestTransactionalIDNotExpiredDuringTransaction(t *testing.T) {
	clock := newFakeClock()
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, Now: clock.Now, TransactionalIDExpiration: time.Minute}
	l := openWithIn(t, opts, map[string]int{"A": 1, "in": 1, "out": 2})
	defer l.Close()

	// "tx"'s abort is decided, its marker in out-0 failing (first, while
	// out-0 has no producer).
	q, err := abortIncomplete(t, l, fsys)
	defer q.Close()
	require.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
	clock.Advance(10 * time.Minute)
	eventlog.ExpireTransactionalIDs(l)
	assert.Equal(t, []string{"tx"}, eventlog.TransactionalIDs(l), "its abort is incomplete")
	fsys.SetFault(nil)
	eventlog.RetryIncompleteTransactions(l)
	out0 := partition(t, l, "out", 0)
	require.Equal(t, out0.HighWatermark(), out0.LastStableOffset(), "the abort completed")
	eventlog.ExpireTransactionalIDs(l)
	assert.Equal(t, []string{"tx"}, eventlog.TransactionalIDs(l), "idle since its abort completed only")
	clock.Advance(time.Minute)
	eventlog.ExpireTransactionalIDs(l)
	assert.Empty(t, eventlog.TransactionalIDs(l))

	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "open", TransactionTimeout: 15 * time.Minute, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "slow")
	clock.Advance(10 * time.Minute)
	eventlog.ExpireTransactionalIDs(l)
	eventlog.AbortTimedOutTransactions(l)
	assert.Equal(t, []string{"open"}, eventlog.TransactionalIDs(l), "its transaction is open")
	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, []string{"slow"}, consume(t, l, eventlog.ReadCommitted, "out"))
	clock.Advance(time.Minute - time.Millisecond)
	eventlog.ExpireTransactionalIDs(l)
	assert.Equal(t, []string{"open"}, eventlog.TransactionalIDs(l), "idle since its commit only")
	clock.Advance(time.Millisecond)
	eventlog.ExpireTransactionalIDs(l)
	assert.Empty(t, eventlog.TransactionalIDs(l))
}

// TestTransactionalIDAfterExpiry: the next Producer of an expired ID gets
// a new producer id, as Kafka's InitProducerId gives an unknown ID, and
// works; the old Producer of the ID, idle all that time, is fenced, by
// the coordinator and by the partitions it wrote — which forgot its
// producer id meanwhile (ProducerIDExpiration) — whether or not the ID
// has a new Producer.
func TestTransactionalIDAfterExpiry(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now})
	old := txnProducer(t, l, "tx")
	oldID := eventlog.ProducerIDOf(old)
	committedTxn(t, old, "before")
	idle := txnProducer(t, l, "idle")
	committedTxn(t, idle, "idle-before")

	clock.Advance(eventlog.DefaultTransactionalIDExpiration)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l), "the partitions forget the producers")
	eventlog.ExpireTransactionalIDs(l)
	require.Empty(t, eventlog.TransactionalIDs(l))

	// Without a new Producer of its ID, the idle one is told why.
	require.NoError(t, idle.BeginTransaction())
	_, err := idle.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("idle-after")})
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorContains(t, err, "TransactionalIDExpiration")
	assert.ErrorIs(t, idle.CommitTransaction(ctx), eventlog.ErrProducerFenced)
	assert.Empty(t, eventlog.TransactionalIDs(l), "a refused call leaves no state behind")

	next := txnProducer(t, l, "tx")
	nextID := eventlog.ProducerIDOf(next)
	assert.NotEqual(t, oldID.ID, nextID.ID, "a new producer id")
	assert.Equal(t, int16(0), nextID.Epoch)
	assert.Equal(t, []string{"tx"}, eventlog.TransactionalIDs(l))

	require.NoError(t, old.BeginTransaction())
	_, err = old.Send(ctx, eventlog.Record{Topic: "out", Partition: 0, Key: []byte("k"), Value: []byte("zombie")})
	assert.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.ErrorIs(t, old.CommitTransaction(ctx), eventlog.ErrProducerFenced)
	out0 := partition(t, l, "out", 0)
	for _, id := range []eventlog.ProducerID{oldID, {ID: oldID.ID, Epoch: oldID.Epoch + 1}} {
		err = eventlog.AppendTransactional(out0, "tx", id, 1, "zombie")
		assert.ErrorIs(t, err, eventlog.ErrProducerFenced, "a batch of the old producer id at partition %s", id)
	}

	committedTxn(t, next, "after")
	assert.Equal(t, []string{"after", "before", "idle-before"}, consume(t, l, eventlog.ReadCommitted, "out"))
	assert.NotContains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "zombie")
	assert.Equal(t, out0.HighWatermark(), out0.LastStableOffset())

	// An idempotent append may name the old producer id now, as after a
	// reopen: the coordinator forgot it. Not the new Producer's.
	_, err = out0.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{Producer: nextID})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	_, err = out0.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{Producer: eventlog.ProducerID{ID: oldID.ID, Epoch: oldID.Epoch + 1}})
	assert.NoError(t, err)
}

// TestTransactionalIDExpiryPowerLoss cuts the power at each operation
// from an ID's expiry on — its tombstone, then a new Producer of the ID,
// whose transaction sends a record — and reopens. Whether or not the
// tombstone survived, no transaction is left open, nothing of the cut one
// is read committed, no Producer the ID had gets its producer id and
// epoch back — a late batch of each, at the partitions they wrote, is
// refused — and the ID's next Producer commits as ever.
func TestTransactionalIDExpiryPowerLoss(t *testing.T) {
	for _, mode := range txnPowerLossModes {
		t.Run(mode.String(), func(t *testing.T) {
			eachPowerCut(t, "the expiry and the next Producer", func(at int) bool {
				clock := newFakeClock()
				fsys := eventlog.NewMemFS()
				opts := &eventlog.Options{FS: fsys, Now: clock.Now}
				l := openCompleteLog(t, opts)
				// The ID's first Producer commits; a second one fences it,
				// and is fenced in turn when its transaction times out.
				first, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
				require.NoError(t, err)
				committedTxn(t, first, "before")
				second, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
				require.NoError(t, err)
				require.NoError(t, second.BeginTransaction())
				send(t, second, "out", 0, "timed out")
				clock.Advance(eventlog.DefaultTransactionTimeout + time.Second)
				eventlog.AbortTimedOutTransactions(l)
				// The abort's markers fenced the second with the next epoch.
				fenced := eventlog.ProducerIDOf(second)
				fenced.Epoch++
				had := []eventlog.ProducerID{eventlog.ProducerIDOf(first), eventlog.ProducerIDOf(second), fenced}
				clock.Advance(eventlog.DefaultTransactionalIDExpiration)

				done := cutPowerDuring(fsys, mode, at, l, func() {
					eventlog.ExpireTransactionalIDs(l)
					p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
					if err != nil {
						return
					}
					had = append(had, eventlog.ProducerIDOf(p))
					if p.BeginTransaction() == nil {
						_, _ = p.Send(ctx, eventlog.Record{Topic: "out", Partition: 1, Key: []byte("k"), Value: []byte("cut")})
					}
				})

				l = openCompleteLog(t, opts)
				assert.Equal(t, []string{"before"}, consume(t, l, eventlog.ReadCommitted, "out"), "cut at %d", at)
				for _, id := range had {
					for part := range int32(2) {
						assert.Error(t, eventlog.AppendTransactional(partition(t, l, "out", part), "tx", id, 0, "zombie"), "cut at %d: producer %s", at, id)
					}
				}
				for part := range int32(2) {
					p := partition(t, l, "out", part)
					assert.Equal(t, p.HighWatermark(), p.LastStableOffset(), "cut at %d: out-%d", at, part)
				}
				assert.NotContains(t, consume(t, l, eventlog.ReadUncommitted, "out"), "zombie")

				next, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
				require.NoError(t, err, "cut at %d", at)
				nextID := eventlog.ProducerIDOf(next)
				for _, id := range had {
					assert.False(t, nextID.ID == id.ID && nextID.Epoch <= id.Epoch, "cut at %d: producer %s after %s", at, nextID, id)
				}
				committedTxn(t, next, "next")
				assert.Equal(t, []string{"before", "next"}, consume(t, l, eventlog.ReadCommitted, "out"), "cut at %d", at)
				require.NoError(t, next.Close())
				require.NoError(t, l.Close())
				return done
			})
		})
	}
}

// TestTransactionalIDExpiryRacesNewProducer: a Producer of an ID made
// while the Log expires the ID gets a state the coordinator keeps —
// one that waited for the expiry used to be the dropped state, and its
// transactions were refused as the expired ID's — and commits.
func TestTransactionalIDExpiryRacesNewProducer(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, Durability: eventlog.DurabilityOS})
	for i := range 20 {
		p := txnProducer(t, l, "tx")
		committedTxn(t, p, fmt.Sprint(i))
		require.NoError(t, p.Close())
		clock.Advance(eventlog.DefaultTransactionalIDExpiration)
		start := make(chan struct{})
		made := make(chan *eventlog.Producer, 1)
		go func() {
			<-start
			p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
			assert.NoError(t, err)
			made <- p
		}()
		close(start)
		eventlog.ExpireTransactionalIDs(l)
		p = <-made
		require.NotNil(t, p)
		committedTxn(t, p, "racing")
		require.NoError(t, p.Close())
		assert.Equal(t, []string{"tx"}, eventlog.TransactionalIDs(l), "round %d", i)
		eventlog.ExpireTransactionalIDs(l)
		clock.Advance(eventlog.DefaultTransactionalIDExpiration)
		eventlog.ExpireTransactionalIDs(l)
		require.Empty(t, eventlog.TransactionalIDs(l), "round %d", i)
	}
}
