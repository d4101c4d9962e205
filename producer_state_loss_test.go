package eventlog_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Producer snapshots and .txnindex files lost or cut: Open rebuilds what
// it needs of them from the log, as Kafka does when it finds no snapshot.

// abortedTxnTopic writes 30 transactions of one record each to partition 0
// of topic "t", with 1 KiB segments, aborting every third, and returns the
// values of the committed ones, sorted.
func abortedTxnTopic(t *testing.T, l *eventlog.Log) []string {
	t.Helper()
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{SegmentBytes: 1024}))
	pr := txnProducer(t, l, "tx")
	var committed []string
	for i := range 30 {
		require.NoError(t, pr.BeginTransaction())
		v := fmt.Sprintf("v%02d", i)
		send(t, pr, "t", 0, v)
		if i%3 == 2 {
			require.NoError(t, pr.AbortTransaction(ctx))
			continue
		}
		require.NoError(t, pr.CommitTransaction(ctx))
		committed = append(committed, v)
	}
	require.NoError(t, pr.Close())
	return committed
}

// replayValues returns the values Log.Replay (read committed) hands out
// for topic, sorted.
func replayValues(t *testing.T, l *eventlog.Log, topic string) []string {
	t.Helper()
	var out []string
	require.NoError(t, l.Replay(ctx, topic, func(v *eventlog.RecordView) error {
		out = append(out, string(v.Value))
		return nil
	}))
	sort.Strings(out)
	return out
}

// removeFiles removes the files of the partition directory whose names end
// in ext and returns how many it removed.
func removeFiles(t *testing.T, partDir, ext string) int {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(partDir, "*"+ext))
	require.NoError(t, err)
	for _, m := range matches {
		require.NoError(t, os.Remove(m))
	}
	return len(matches)
}

// TestTxnSnapshotsDeleted: with a partition's .snapshot files gone, Open
// finds its producer history from the .txnindex files and rebuilds it from
// the log: read_committed readers still skip the aborted transactions.
func TestTxnSnapshotsDeleted(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	committed := abortedTxnTopic(t, l)
	require.Len(t, committed, 20)
	require.Equal(t, committed, replayValues(t, l, "t"))
	require.NoError(t, l.Close())

	partDir := filepath.Join(dir, "topics", "t", "0")
	require.Positive(t, removeFiles(t, partDir, ".snapshot"))
	r := openReadOnly(t, dir)
	assert.Equal(t, committed, consume(t, r, eventlog.ReadCommitted, "t"), "a read-only Log")
	require.NoError(t, r.Close())
	l = openLog(t, dir, nil)
	assert.Equal(t, committed, replayValues(t, l, "t"), "Replay")
	assert.Equal(t, committed, consume(t, l, eventlog.ReadCommitted, "t"), "a read_committed consumer")
	assert.Len(t, consume(t, l, eventlog.ReadUncommitted, "t"), 30)
	require.NoError(t, l.Close())

	// The rebuild wrote a snapshot again: the next Open loads it.
	matches, err := filepath.Glob(filepath.Join(partDir, "*.snapshot"))
	require.NoError(t, err)
	assert.NotEmpty(t, matches)
	l = openLog(t, dir, nil)
	assert.Equal(t, committed, replayValues(t, l, "t"), "after the rebuild")
}

// TestTxnIndexAndSnapshotsDeleted: a closed segment's .txnindex deleted or
// emptied is rebuilt from the log once the .snapshot files are deleted
// too: with other .txnindex files left, or with none, since the last
// batches of the active segment are transactional.
func TestTxnIndexAndSnapshotsDeleted(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run(fmt.Sprintf("all=%v", all), func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, nil)
			committed := abortedTxnTopic(t, l)
			require.NoError(t, l.Close())

			partDir := filepath.Join(dir, "topics", "t", "0")
			indexes, err := filepath.Glob(filepath.Join(partDir, "*.txnindex"))
			require.NoError(t, err)
			require.Greater(t, len(indexes), 2)
			sizes := map[string]int64{}
			for _, path := range indexes {
				info, err := os.Stat(path)
				require.NoError(t, err)
				sizes[path] = info.Size()
			}
			if all {
				removeFiles(t, partDir, ".txnindex")
			} else {
				require.NoError(t, os.Remove(indexes[0]))
				require.NoError(t, os.Truncate(indexes[1], 0))
			}
			require.Positive(t, removeFiles(t, partDir, ".snapshot"))
			l = openLog(t, dir, nil)
			assert.Equal(t, committed, replayValues(t, l, "t"))
			require.NoError(t, l.Close())
			for path, size := range sizes {
				info, err := os.Stat(path)
				if assert.NoError(t, err, "rebuilt") {
					assert.Equal(t, size, info.Size(), path)
				}
			}
		})
	}
}

// TestTxnIndexDeletedWithSnapshots: a closed segment's .txnindex deleted
// while the partition's .snapshot files are still there is rebuilt at
// Open, so that read_committed readers still skip the aborted records of
// that segment.
func TestTxnIndexDeletedWithSnapshots(t *testing.T) {
	cases := map[string]struct {
		all     bool // every closed segment's .txnindex, not only the first
		crashed bool // the Log was abandoned, not closed
	}{
		"one, closed cleanly": {},
		"every one, closed":   {all: true},
		"one, after a crash":  {crashed: true},
		"every one, crashed":  {all: true, crashed: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, nil)
			committed := abortedTxnTopic(t, l)
			if c.crashed {
				require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
				require.NoError(t, eventlog.Abandon(l))
			} else {
				require.NoError(t, l.Close())
			}

			partDir := filepath.Join(dir, "topics", "t", "0")
			logs, err := filepath.Glob(filepath.Join(partDir, "*.log"))
			require.NoError(t, err)
			require.Greater(t, len(logs), 2)
			contents := map[string][]byte{}
			for _, seg := range logs[:len(logs)-1] {
				path := strings.TrimSuffix(seg, ".log") + ".txnindex"
				if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
					contents[path] = b
				}
			}
			require.NotEmpty(t, contents, "closed segments with aborted transactions")
			deleted := 0
			for path := range contents {
				if c.all || deleted == 0 {
					require.NoError(t, os.Remove(path))
					deleted++
				}
			}
			require.NotEmpty(t, globPartitionOf(t, partDir, ".snapshot"), "the snapshots stay")

			l = openLog(t, dir, nil)
			assert.Equal(t, committed, replayValues(t, l, "t"), "Replay")
			assert.Equal(t, committed, consume(t, l, eventlog.ReadCommitted, "t"), "a read_committed consumer")
			p := partition(t, l, "t", 0)
			assert.Len(t, p.AbortedTransactions(0, p.LogEndOffset()), 10)
			for path, b := range contents {
				got, err := os.ReadFile(path)
				if assert.NoError(t, err, "rebuilt") {
					assert.Equal(t, b, got, path)
				}
			}
			require.NoError(t, l.Close())
			l = openLog(t, dir, nil)
			assert.Equal(t, committed, replayValues(t, l, "t"), "after the rebuild")
		})
	}
}

// TestTxnIndexOfEveryClosedSegment: once a partition has producers, each
// of its closed segments has a .txnindex, empty when nothing was aborted
// in it — those closed before its first producer batch too — so that
// Open, which rebuilds one that is missing, has nothing to rebuild in a
// sound log.
func TestTxnIndexOfEveryClosedSegment(t *testing.T) {
	dir := t.TempDir()
	var logged prodLogBuffer
	opts := &eventlog.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{SegmentBytes: 1024}))
	p := partition(t, l, "t", 0)
	plain := func(n int) {
		for i := range n {
			_, err := p.Append(ctx, []eventlog.Record{rec("k", strings.Repeat("x", 50)+fmt.Sprint(i))}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	partDir := filepath.Join(dir, "topics", "t", "0")
	closedWithout := func() []string {
		t.Helper()
		logs := globPartitionOf(t, partDir, ".log")
		require.Greater(t, len(logs), 2)
		var without []string
		for _, seg := range logs[:len(logs)-1] {
			if _, err := os.Stat(strings.TrimSuffix(seg, ".log") + ".txnindex"); err != nil {
				without = append(without, seg)
			}
		}
		return without
	}
	plain(50)
	assert.Empty(t, globPartitionOf(t, partDir, ".txnindex"), "no producer, no .txnindex")

	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	_, err = idemAppend(p, id, 0, "idem", 1)
	require.NoError(t, err)
	assert.Empty(t, closedWithout(), "the segments closed before the first producer batch")
	plain(50)
	assert.Empty(t, closedWithout(), "the segments closed since")
	for _, path := range globPartitionOf(t, partDir, ".txnindex") {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Zero(t, info.Size(), "no abort: %s", path)
	}
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	require.NoError(t, l.Close())
	assert.NotContains(t, logged.String(), "rebuilding producer state")

	indexes := globPartitionOf(t, partDir, ".txnindex")
	require.NoError(t, os.Remove(indexes[1]))
	l = openLog(t, dir, opts)
	require.NoError(t, l.Close())
	assert.Contains(t, logged.String(), "rebuilding producer state")
	assert.Contains(t, logged.String(), indexes[1])
	assert.FileExists(t, indexes[1], "rebuilt")
}

// globPartitionOf lists the files of the partition directory partDir whose
// names end with ext.
func globPartitionOf(t *testing.T, partDir, ext string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(partDir, "*"+ext))
	require.NoError(t, err)
	return paths
}

// TestIdempotentSnapshotsDeleted: an idempotent producer's retry after the
// snapshots were deleted is still answered as a duplicate.
func TestIdempotentSnapshotsDeleted(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	for seq := range int32(5) {
		_, err := idemAppend(p, id, seq, fmt.Sprint("r", seq), 1)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	require.Positive(t, removeFiles(t, filepath.Join(dir, "topics", "t", "0"), ".snapshot"))
	l = openLog(t, dir, nil)
	p = partition(t, l, "t", 0)
	off, err := idemAppend(p, id, 4, "r4", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(4), off, "answered as the duplicate it is")
	assert.Equal(t, int64(5), p.LogEndOffset(), "not stored again")
	_, err = idemAppend(p, id, 7, "gap", 1)
	assert.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence, "sequences are remembered")
}

// TestTxnRepairCutRemovesSnapshots: a Repair that cuts the active segment
// below its snapshots removes them; Open rebuilds the producer state from
// the log, so the aborted transactions whose markers survived stay hidden.
func TestTxnRepairCutRemovesSnapshots(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	pr := txnProducer(t, l, "tx")
	for i := range 30 {
		require.NoError(t, pr.BeginTransaction())
		send(t, pr, "t", 0, fmt.Sprintf("v%02d", i))
		if i%3 == 2 {
			require.NoError(t, pr.AbortTransaction(ctx))
		} else {
			require.NoError(t, pr.CommitTransaction(ctx))
		}
	}
	require.NoError(t, pr.Close())
	p := partition(t, l, "t", 0)
	fields := eventlog.BatchProducerFields(t, p)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	require.NoError(t, l.Close())

	// Cut the segment in the middle of the 16th transaction's batch,
	// below the recovery point: only Repair opens it.
	partDir := filepath.Join(dir, "topics", "t", "0")
	seg := filepath.Join(partDir, "00000000000000000000.log")
	cutAt := fields[30].BaseOffset // the 16th transaction's record
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	pos := batchPosition(t, data, cutAt)
	require.NoError(t, os.Truncate(seg, pos+20))
	_, err = eventlog.Open(dir, nil)
	require.Error(t, err, "damage below the recovery point")

	l = openLog(t, dir, &eventlog.Options{Repair: true})
	p = partition(t, l, "t", 0)
	require.Equal(t, cutAt, p.LogEndOffset())
	var want []string
	for i := range 15 {
		if i%3 != 2 {
			want = append(want, fmt.Sprintf("v%02d", i))
		}
	}
	assert.Equal(t, want, replayValues(t, l, "t"))
	assert.Len(t, p.AbortedTransactions(0, cutAt), 5)
}

// batchPosition returns the byte position of the batch at base offset off
// in a segment's data.
func batchPosition(t *testing.T, data []byte, off int64) int64 {
	t.Helper()
	for pos := int64(0); pos+61 <= int64(len(data)); {
		base := int64(beUint64(data[pos:]))
		if base == off {
			return pos
		}
		pos += 12 + int64(beUint32(data[pos+8:]))
	}
	t.Fatalf("no batch at offset %d", off)
	return -1
}

func beUint64(b []byte) uint64 { return uint64(beUint32(b))<<32 | uint64(beUint32(b[4:])) }
func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// TestPartitionWithoutProducersReadsNothing: a partition without snapshots,
// .txnindex files or producer batches still costs Open nothing for its
// producer state: no snapshot appears.
func TestPartitionWithoutProducersReadsNothing(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{SegmentBytes: 1024}))
	p := partition(t, l, "t", 0)
	for i := range 50 {
		_, err := p.Append(ctx, []eventlog.Record{rec("k", strings.Repeat("x", 50)+fmt.Sprint(i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	require.NoError(t, l.Close())
	matches, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.snapshot"))
	require.NoError(t, err)
	assert.Empty(t, matches)
}

// TestSnapshotOfManyProducersIsRead: a snapshot holds, besides an entry
// per batch, an entry for each producer whose newest time is not its last
// batch's (records with timestamps going backwards, or appended long after
// their timestamps): Open reads it rather than take it for a damaged file
// too large for its offset, ignore it and rebuild the state from the log.
func TestSnapshotOfManyProducersIsRead(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	dir := t.TempDir()
	var logged prodLogBuffer
	opts := &eventlog.Options{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	for range 4 {
		id, err := l.NewProducerID(ctx)
		require.NoError(t, err)
		for seq, ts := range []time.Time{now, now.Add(-time.Minute)} { // going backwards
			r := eventlog.Record{Key: []byte("k"), Value: []byte("v"), Timestamp: ts}
			_, err := p.Append(ctx, []eventlog.Record{r}, eventlog.AppendOptions{Producer: id, Sequence: int32(seq)})
			require.NoError(t, err)
		}
	}
	require.NoError(t, l.Close())
	openLog(t, dir, opts)
	assert.NotContains(t, logged.String(), "ignoring unreadable producer state snapshot")
	assert.NotContains(t, logged.String(), "rebuilding producer state")
}
