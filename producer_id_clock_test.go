package eventlog_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Producer ids handed out but never used, in a directory whose
// producer-ids.meta is lost, damaged or restored from an old copy: no
// partition and no transaction shows them, so only the clock can put the
// allocator past them.

// testClock is an Options.Now that a test sets, safe to read from the
// Log's goroutines.
type testClock struct{ nanos atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) now() time.Time  { return time.Unix(0, c.nanos.Load()) }
func (c *testClock) set(t time.Time) { c.nanos.Store(t.UnixNano()) }

// handOutIDs hands out producer ids in a Log whose clock is at clock's
// time: two blocks' worth from NewProducerID, an idempotent Producer and a
// transactional one that append, and then more from NewProducerID that
// nothing appends with, the highest ids handed out. It returns every id
// handed out and the first block's producer-ids.meta.
func handOutIDs(t *testing.T, l *eventlog.Log, dir string) (handed map[int64]bool, oldFile []byte) {
	t.Helper()
	handed = make(map[int64]bool)
	newID := func() {
		id, err := l.NewProducerID(ctx)
		require.NoError(t, err)
		handed[id.ID] = true
	}
	newID()
	oldFile, err := os.ReadFile(filepath.Join(dir, "producer-ids.meta"))
	require.NoError(t, err)
	for range 1500 { // into the second block
		newID()
	}
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	idem, err := l.NewProducer(&eventlog.ProducerOptions{Idempotent: true, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	handed[eventlog.ProducerIDOf(idem).ID] = true
	send(t, idem, "t", 0, "idempotent")
	require.NoError(t, idem.Close())
	txn := txnProducer(t, l, "tx")
	handed[eventlog.ProducerIDOf(txn).ID] = true
	require.NoError(t, txn.BeginTransaction())
	send(t, txn, "t", 0, "transactional")
	require.NoError(t, txn.CommitTransaction(ctx))
	for range 5 { // kept by an application, never appended with
		newID()
	}
	return handed, oldFile
}

// TestProducerIDsHandedOutButUnusedAfterFileLost: with producer-ids.meta
// lost, set aside as damaged, or restored from an old copy behind the ids
// in use, the ids handed out and kept but never appended with are not
// handed out again, as the appended ones are not: the allocator starts at
// the clock's floor, above everything handed out before.
func TestProducerIDsHandedOutButUnusedAfterFileLost(t *testing.T) {
	for _, file := range []string{"lost", "damaged", "restored"} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			clock := newTestClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
			opts := &eventlog.Options{Now: clock.now}
			l := openLog(t, dir, opts)
			handed, oldFile := handOutIDs(t, l, dir)
			require.NoError(t, l.Close())

			path := filepath.Join(dir, "producer-ids.meta")
			switch file {
			case "lost":
				require.NoError(t, os.Remove(path))
			case "damaged":
				require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
			case "restored":
				require.NoError(t, os.WriteFile(path, oldFile, 0o644))
			}
			clock.set(clock.now().Add(time.Second))
			if file == "damaged" {
				l = repairSettingAside(t, dir, opts, path)
			} else {
				l = openLog(t, dir, opts)
			}
			var highest int64
			for id := range handed {
				highest = max(highest, id)
			}
			for range 3 {
				id, err := l.NewProducerID(ctx)
				require.NoError(t, err)
				assert.False(t, handed[id.ID], "id %d handed out again", id.ID)
				assert.Greater(t, id.ID, highest, "NewProducerID")
			}
			txnID := assertIDsAbove(t, l, highest)
			assert.Less(t, txnID, int64(1)<<62, "a transactional Producer's id is below the cap of appends")
		})
	}
}

// TestProducerIDsClockFloorOnlyWhenLost: ids stay small in a directory
// that keeps producer-ids.meta, and a clock that went back after the floor
// was applied does not bring ids handed out again: the file's value wins.
// A directory reopened before its first allocation has no file either,
// and, not knowing that none was lost, starts at the floor.
func TestProducerIDsClockFloorOnlyWhenLost(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	opts := &eventlog.Options{Now: clock.now}
	l := openLog(t, dir, opts)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), id.ID, "a new directory starts at 1")
	require.NoError(t, l.Close())
	l = openLog(t, dir, opts)
	id, err = l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1001), id.ID, "the next block, with the file kept")
	require.NoError(t, l.Close())

	require.NoError(t, os.Remove(filepath.Join(dir, "producer-ids.meta")))
	l = openLog(t, dir, opts)
	floored, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Equal(t, eventlog.ProducerIDClockFloor(clock.now()), floored.ID, "the file lost: the clock's floor")
	require.NoError(t, l.Close())

	clock.set(clock.now().Add(-time.Hour)) // the clock goes back
	l = openLog(t, dir, opts)
	id, err = l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Equal(t, floored.ID+1000, id.ID, "the file's next block")
	require.NoError(t, l.Close())

	reopened := t.TempDir()
	require.NoError(t, openLog(t, reopened, opts).Close())
	l = openLog(t, reopened, opts)
	id, err = l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Equal(t, eventlog.ProducerIDClockFloor(clock.now()), id.ID)
}

// TestProducerIDClockFloor: the floor counts producerIDsPerMilli ids a
// millisecond from the Unix epoch, none before it, and stops at 2^61,
// leaving 2^61 ids below the cap of appends.
func TestProducerIDClockFloor(t *testing.T) {
	assert.Zero(t, eventlog.ProducerIDClockFloor(time.Unix(-5, 0)))
	assert.Zero(t, eventlog.ProducerIDClockFloor(time.Unix(0, 0)))
	assert.Equal(t, int64(100_000), eventlog.ProducerIDClockFloor(time.UnixMilli(1)))
	now := eventlog.ProducerIDClockFloor(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).UnixMilli()*100_000, now)
	assert.Equal(t, int64(1)<<61, eventlog.ProducerIDClockFloor(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, int64(1)<<61, eventlog.ProducerIDClockFloor(time.Unix(1<<62, 0)))
}
