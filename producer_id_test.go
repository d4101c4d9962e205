package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// Producer ids in a directory whose producer-ids.meta is lost or damaged:
// the allocator starts above every id the Log knows, so that no id goes to
// a second producer that the partitions would take for the first.

// producersThatWrote writes to topic "t" with an idempotent Producer and a
// transactional one, then starts a second transactional Producer that
// writes nothing, so that the highest id, which it returns, is known only
// to __transaction_state.
func producersThatWrote(t *testing.T, l *eventlog.Log) int64 {
	t.Helper()
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	idem, err := l.NewProducer(&eventlog.ProducerOptions{Idempotent: true, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = idem.Close() })
	send(t, idem, "t", 0, "idempotent")
	txn := txnProducer(t, l, "tx")
	require.NoError(t, txn.BeginTransaction())
	send(t, txn, "t", 0, "transactional")
	require.NoError(t, txn.CommitTransaction(ctx))
	idle := eventlog.ProducerIDOf(txnProducer(t, l, "idle")).ID
	require.Greater(t, idle, eventlog.ProducerIDOf(idem).ID)
	require.Greater(t, idle, eventlog.ProducerIDOf(txn).ID)
	return idle
}

// assertIDsAbove checks that every way of getting a producer id gives one
// above highest, and that a new idempotent Producer's records are stored,
// not answered as an older producer's duplicates. It returns the id of the
// transactional Producer it started.
func assertIDsAbove(t *testing.T, l *eventlog.Log, highest int64) (txnID int64) {
	t.Helper()
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Greater(t, id.ID, highest, "NewProducerID")

	idem, err := l.NewProducer(&eventlog.ProducerOptions{Idempotent: true, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer idem.Close()
	assert.Greater(t, eventlog.ProducerIDOf(idem).ID, highest, "an idempotent Producer")
	send(t, idem, "t", 0, "idempotent after")

	txn := txnProducer(t, l, "new")
	assert.Greater(t, eventlog.ProducerIDOf(txn).ID, highest, "a transactional Producer")
	require.NoError(t, txn.BeginTransaction())
	send(t, txn, "t", 0, "transactional after")
	require.NoError(t, txn.CommitTransaction(ctx))

	assert.Equal(t, []string{"idempotent", "idempotent after", "transactional", "transactional after"},
		consume(t, l, eventlog.ReadCommitted, "t"))
	return eventlog.ProducerIDOf(txn).ID
}

// TestProducerIDsFileLost: with producer-ids.meta deleted, after a clean
// Close or a crash, ids start above those in use and at the clock's floor,
// with a warning that names the file and the first id; a new directory
// starts at 1 without one.
func TestProducerIDsFileLost(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := t.TempDir()
			var logged prodLogBuffer
			clock := newTestClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
			opts := &eventlog.Options{Now: clock.now, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
			l := openLog(t, dir, opts)
			id, err := l.NewProducerID(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), id.ID, "a new directory starts at 1")
			highest := producersThatWrote(t, l)
			if crash {
				require.NoError(t, eventlog.Abandon(l))
			} else {
				require.NoError(t, l.Close())
			}
			assert.NotContains(t, logged.String(), "producer ids file missing")

			path := filepath.Join(dir, "producer-ids.meta")
			require.NoError(t, os.Remove(path))
			clock.set(clock.now().Add(time.Minute))
			l = openLog(t, dir, opts)
			assertIDsAbove(t, l, highest)
			assert.Contains(t, logged.String(), "producer ids file missing")
			assert.Contains(t, logged.String(), path)
			assert.Contains(t, logged.String(), fmt.Sprintf("next=%d", eventlog.ProducerIDClockFloor(clock.now())))
			require.NoError(t, l.Close())
			assert.FileExists(t, path, "the block is reserved again")
		})
	}
}

// TestProducerIDsFileDamaged: a damaged producer-ids.meta fails every
// allocation with a *CorruptError naming it; Repair sets it aside, and
// ids start above those in use.
func TestProducerIDsFileDamaged(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	highest := producersThatWrote(t, l)
	require.NoError(t, l.Close())

	path := filepath.Join(dir, "producer-ids.meta")
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	l = openLog(t, dir, nil)
	var ce *eventlog.CorruptError
	_, err := l.NewProducerID(ctx)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, path, ce.Path)
	_, err = l.NewProducer(&eventlog.ProducerOptions{Idempotent: true})
	assert.ErrorAs(t, err, &ce, "the error stays")
	require.NoError(t, l.Close())

	l = repairSettingAside(t, dir, &eventlog.Options{}, path)
	assertIDsAbove(t, l, highest)
	require.NoError(t, l.Close())

	l = openLog(t, dir, nil)
	assert.Empty(t, l.Recovery().Repaired)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Greater(t, id.ID, highest)
}

// TestProducerIDsFileRestoredFromOldCopy: a producer-ids.meta older than
// the ids in use (put back from a backup, say) does not hand them out
// again either.
func TestProducerIDsFileRestoredFromOldCopy(t *testing.T) {
	dir := t.TempDir()
	var logged prodLogBuffer
	clock := newTestClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	opts := &eventlog.Options{Now: clock.now, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
	l := openLog(t, dir, opts)
	_, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	path := filepath.Join(dir, "producer-ids.meta")
	old, err := os.ReadFile(path) // the first block reserved
	require.NoError(t, err)
	for range 1000 { // use it up: the next producers' ids lie in the second
		_, err := l.NewProducerID(ctx)
		require.NoError(t, err)
	}
	highest := producersThatWrote(t, l)
	require.Greater(t, highest, int64(1000))
	require.NoError(t, l.Close())

	require.NoError(t, os.WriteFile(path, old, 0o644))
	l = openLog(t, dir, opts)
	assertIDsAbove(t, l, highest)
	assert.Contains(t, logged.String(), "producer ids file behind the producer ids in use")
	assert.Contains(t, logged.String(), fmt.Sprintf("next=%d", eventlog.ProducerIDClockFloor(clock.now())))
	require.NoError(t, l.Close())
}

// TestProducerIDsSkipIDsAppendedAfterLoading: with producer-ids.meta
// behind (restored from an old copy) or lost, the allocator starts above
// the ids the partitions know when it loads; an application that kept an
// id from before the crash and appends with it only afterwards must not
// have it handed to a new producer too, whose first batch the partition
// would take for the kept producer's and drop as a duplicate. The clock
// stands at the Unix epoch, as if it had gone back, so that its floor,
// which would put the allocator above the kept id from the start, does
// not.
func TestProducerIDsSkipIDsAppendedAfterLoading(t *testing.T) {
	for _, file := range []string{"restored", "lost"} {
		t.Run(file, func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
			require.NoError(t, fsys.SyncDir("/"))
			sw := newPowerSwitch(fsys, eventlog.CrashDropUnsynced, 1)
			opts := &eventlog.Options{FS: fsys, Now: func() time.Time { return time.Unix(0, 0) }}
			l, err := eventlog.Open(powerLossDir, opts)
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
			p := partition(t, l, "t", 0)
			_, err = l.NewProducerID(ctx)
			require.NoError(t, err)
			path := powerLossDir + "/producer-ids.meta"
			old, err := fsys.ReadFile(path) // the first block reserved
			require.NoError(t, err)
			var kept eventlog.ProducerID
			for range 1500 { // into the second block
				kept, err = l.NewProducerID(ctx)
				require.NoError(t, err)
			}
			_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("kept")}}, eventlog.AppendOptions{Producer: kept})
			require.NoError(t, err)

			// The power goes before the append is synced; the file goes
			// back to its old copy, or is lost.
			sw.cut()
			_ = eventlog.Abandon(l)
			sw.arm(0)
			if file == "restored" {
				require.NoError(t, fsys.WriteFile(path, old, 0o644))
			} else {
				require.NoError(t, fsys.Remove(path))
			}
			l = openLog(t, powerLossDir, opts)
			require.Empty(t, consume(t, l, eventlog.ReadUncommitted, "t"), "the power loss took the append")
			first, err := l.NewProducerID(ctx)
			require.NoError(t, err)
			require.Less(t, first.ID, kept.ID, "nothing shows the kept id yet")

			// The application appends again what it may have appended
			// before, with the id it kept; then new producers come.
			p = partition(t, l, "t", 0)
			_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("kept")}}, eventlog.AppendOptions{Producer: kept})
			require.NoError(t, err)
			id := first
			for id.ID < kept.ID {
				id, err = l.NewProducerID(ctx)
				require.NoError(t, err)
			}
			assert.NotEqual(t, kept.ID, id.ID, "the kept id was handed out again")
			_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("new")}}, eventlog.AppendOptions{Producer: id})
			require.NoError(t, err)
			assert.Equal(t, []string{"kept", "new"}, consume(t, l, eventlog.ReadUncommitted, "t"))
		})
	}
}

// TestProducerIDsPowerLossDuringReservation: a block of ids is durable
// before any id of it is handed out, as Kafka's controller commits a block
// before a broker hands out its ids, so that a power loss alone never
// leaves producer-ids.meta behind an id handed out: cut at any operation of
// the allocation that reserves the next block, in every crash mode, the
// reopened Log hands out none of the ids it handed out before.
func TestProducerIDsPowerLossDuringReservation(t *testing.T) {
	for _, mode := range append(slices.Clone(powerLossModes), eventlog.CrashReorder) {
		t.Run(mode.String(), func(t *testing.T) {
			for crashAt := 1; ; crashAt++ {
				fsys := eventlog.NewMemFS()
				require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
				require.NoError(t, fsys.SyncDir("/"))
				sw := newPowerSwitch(fsys, mode, uint64(crashAt))
				opts := &eventlog.Options{FS: fsys}
				l, err := eventlog.Open(powerLossDir, opts)
				require.NoError(t, err)
				handed := make(map[int64]bool)
				for range 1000 { // the first block, used up
					id, err := l.NewProducerID(ctx)
					require.NoError(t, err)
					handed[id.ID] = true
				}
				sw.arm(crashAt)
				id, err := l.NewProducerID(ctx) // reserves the second block
				if err == nil {
					handed[id.ID] = true
				} else {
					require.True(t, sw.isDead() && isPowerLoss(err), "failed with the power on: %v", err)
				}
				finished := !sw.isDead()
				sw.cut()
				_ = eventlog.Abandon(l)
				sw.arm(0)

				l, err = eventlog.Open(powerLossDir, opts)
				require.NoError(t, err)
				for range 3 {
					id, err := l.NewProducerID(ctx)
					require.NoError(t, err)
					require.False(t, handed[id.ID], "id %d handed out again after the power went at operation %d", id.ID, crashAt)
				}
				require.NoError(t, l.Close())
				if finished {
					require.Greater(t, crashAt, 1, "the reservation takes operations")
					break
				}
			}
		})
	}
}

// TestProducerIDsNotPushedToTheirEnd: the allocator starts above every id
// a partition takes a batch of (a producer that kept its id across a lost
// producer-ids.meta), so an append with an id near the int64 maximum,
// which no allocator handed out, would leave it no ids to hand out: every
// later NewProducerID and transactional Producer would fail. Append and
// AppendBatch refuse ids from 2^62 on, leaving the allocator 2^62 ids
// above any it is pushed to.
func TestProducerIDsNotPushedToTheirEnd(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p := partition(t, l, "t", 0)
	for _, id := range []int64{math.MaxInt64, math.MaxInt64 - 1000, 1 << 62} {
		_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("x")}},
			eventlog.AppendOptions{Producer: eventlog.ProducerID{ID: id}})
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "Append, id %d", id)

		b := producedBatch(t, 1, 0, false)
		binary.BigEndian.PutUint64(b[43:], uint64(id))
		_, err = p.AppendBatch(ctx, reCRC(b), eventlog.AppendOptions{})
		assert.ErrorIs(t, err, eventlog.ErrInvalidRecord, "AppendBatch, id %d", id)
	}
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err, "the allocator still hands out ids")
	assert.Zero(t, p.LogEndOffset(), "nothing stored")
	assert.Less(t, id.ID, int64(1000))

	// The highest id taken moves the allocator above it, with room left.
	highest := int64(1)<<62 - 1
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("x")}},
		eventlog.AppendOptions{Producer: eventlog.ProducerID{ID: highest}})
	require.NoError(t, err)
	id, err = l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Greater(t, id.ID, highest)
	txn := txnProducer(t, l, "tx")
	assert.Greater(t, eventlog.ProducerIDOf(txn).ID, highest)
}
