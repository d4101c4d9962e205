package eventlog_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Options.Repair on damage that Open finds outside the active segment's
// tail: in the internal topics, which Open replays whole, and in the
// partitions' metadata files.

// damageRecordCount flips bit 7 of the record count (the int32 at byte 57)
// of the batch at pos of the segment file path.
func damageRecordCount(t *testing.T, path string, pos int) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[pos+60] ^= 0x80
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// commitN commits offsets 1 to n of partition 0 of topic "t" for group
// "g", one commit at a time.
func commitN(t *testing.T, l *eventlog.Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t", Partition: 0}: {Offset: int64(i)}}))
	}
}

// committedT0 is group "g"'s committed offset of partition 0 of "t".
func committedT0(t *testing.T, l *eventlog.Log) int64 {
	t.Helper()
	return committed(t, l, "g")[eventlog.TopicPartition{Topic: "t", Partition: 0}]
}

// requireRefused checks that Open fails with a *CorruptError naming path
// and changes nothing, twice: a refused Open must not leave the damage to
// the next one to take for a torn tail and cut without a copy.
func requireRefused(t *testing.T, dir string, opts *eventlog.Options, path string) {
	t.Helper()
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	for range 2 {
		_, err = eventlog.Open(dir, opts)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, path, ce.Path)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(before, after), "a refused Open changes nothing")
	}
}

// requireCut checks that Open repaired exactly one segment file, seg,
// keeping a copy of its bytes from pos on.
func requireCut(t *testing.T, l *eventlog.Log, seg string, data []byte, pos int) {
	t.Helper()
	rs := l.Recovery()
	require.Len(t, rs.Repaired, 1)
	assert.True(t, strings.HasPrefix(rs.Repaired[0], seg+".broken-"), rs.Repaired[0])
	kept, err := os.ReadFile(rs.Repaired[0])
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data[pos:], kept), "the copy holds what was cut")
	cut, err := os.ReadFile(seg)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(cut, data[:pos]), "the segment keeps what is before the damage")
}

// After a clean Close nothing of a segment below its last index entry is
// read at Open, but the offset replay reads it all: Repair must find and
// cut the damage there, whether an Open refused it first or not.
func TestRepairConsumerOffsets(t *testing.T) {
	for _, refusedFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("refused first %v", refusedFirst), func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{}
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
			commitN(t, l, 100)
			require.NoError(t, l.Close())

			seg := filepath.Join(dir, "topics", "__consumer_offsets", "0", "00000000000000000000.log")
			starts := batchStarts(t, seg)
			require.Len(t, starts, 100, "a batch a commit")
			damaged := int(starts[60])
			damageRecordCount(t, seg, damaged)
			data, err := os.ReadFile(seg)
			require.NoError(t, err)
			if refusedFirst {
				requireRefused(t, dir, opts, seg)
			}

			repair := *opts
			repair.Repair = true
			l = openLog(t, dir, &repair)
			requireCut(t, l, seg, data, damaged)
			assert.Equal(t, int64(60), committedT0(t, l), "the commits before the damage")
			commitN(t, l, 3)
			require.NoError(t, l.Close())

			l = openLog(t, dir, opts)
			assert.Empty(t, l.Recovery().Repaired)
			assert.Equal(t, int64(3), committedT0(t, l), "commits after the repair")
		})
	}
}

// A clock that moves a second each time it is read, so that with a short
// SegmentAge every append rolls the segment.
func tickingClock() func() time.Time {
	var n atomic.Int64
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Second) }
}

// Damage in a closed segment of __consumer_offsets: Repair cuts it there
// and sets the segments after it aside, and the log goes on after it.
func TestRepairConsumerOffsetsClosedSegment(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentAge: time.Millisecond, Now: tickingClock()}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
	commitN(t, l, 10)
	require.NoError(t, l.Close())

	partDir := filepath.Join(dir, "topics", "__consumer_offsets", "0")
	segs, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.Len(t, segs, 10, "a segment a commit")
	seg := segs[4]
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	damageRecordCount(t, seg, 0)
	data[60] ^= 0x80
	requireRefused(t, dir, opts, seg)

	repair := *opts
	repair.Repair = true
	l = openLog(t, dir, &repair)
	rs := l.Recovery()
	require.Len(t, rs.Repaired, 6, "the damaged segment and the five after it")
	kept, err := os.ReadFile(rs.Repaired[0])
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, kept), "the copy holds the damaged segment")
	for i, later := range segs[5:] {
		assert.True(t, strings.HasPrefix(rs.Repaired[i+1], later+".broken-"), rs.Repaired[i+1])
	}
	assert.Equal(t, int64(4), committedT0(t, l), "the commits before the damage")
	commitN(t, l, 2)
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.Empty(t, l.Recovery().Repaired)
	assert.Equal(t, int64(2), committedT0(t, l), "commits after the repair")
}

// Damage in __transaction_state below its recovery point: Repair cuts it,
// and the transactional ID goes on.
func TestRepairTransactionState(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{}
	l := txnLog(t, dir, opts)
	p := txnProducer(t, l, "tx")
	for i := range 20 {
		require.NoError(t, p.BeginTransaction())
		send(t, p, "out", 0, string(rune('a'+i)))
		require.NoError(t, p.CommitTransaction(ctx))
	}
	require.NoError(t, p.Close())
	require.NoError(t, l.Close())

	seg := filepath.Join(dir, "topics", "__transaction_state", "0", "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	starts := batchStarts(t, seg)
	require.Greater(t, len(starts), 40)
	damaged := int(starts[len(starts)/2])
	damageRecordCount(t, seg, damaged)
	data[damaged+60] ^= 0x80
	requireRefused(t, dir, opts, seg)

	repair := *opts
	repair.Repair = true
	l = txnLog(t, dir, &repair)
	requireCut(t, l, seg, data, damaged)
	p = txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "after")
	require.NoError(t, p.CommitTransaction(ctx))
	require.NoError(t, p.Close())
	require.NoError(t, l.Close())

	l = txnLog(t, dir, opts)
	assert.Empty(t, l.Recovery().Repaired)
	assert.Contains(t, consume(t, l, eventlog.ReadCommitted, "out"), "after")
}

// A damaged cleaner.meta: Repair sets it aside, so that the next Open
// does not refuse it again, and the partition is compacted again.
func TestRepairCleanerMeta(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	p := partition(t, l, "c", 0)
	for i := range 100 {
		_, err := p.Append(ctx, []eventlog.Record{rec(fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(ctx, "c"))
	compacted := valueStrings(readAll(t, p, 0))
	require.Less(t, len(compacted), 100)
	require.NoError(t, l.Close())

	meta := filepath.Join(dir, "topics", "c", "0", "cleaner.meta")
	require.FileExists(t, meta)
	require.NoError(t, os.WriteFile(meta, nil, 0o644))
	requireRefused(t, dir, opts, meta)

	l = repairSettingAside(t, dir, opts, meta)
	assert.Equal(t, compacted, valueStrings(readAll(t, partition(t, l, "c", 0), 0)))
	require.NoError(t, l.Compact(ctx, "c"))
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.Empty(t, l.Recovery().Repaired)
	assert.Equal(t, compacted, valueStrings(readAll(t, partition(t, l, "c", 0), 0)))
	require.FileExists(t, meta, "the cleaning wrote a new one")
}

// A damaged log-start-offset: Repair starts the log at its first
// segment, as Kafka does without the checkpoint, and sets the file aside.
func TestRepairLogStartOffset(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 100, eventlog.AppendOptions{})
	_, err := l.DeleteRecords(ctx, "t", 0, 50)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	partDir := filepath.Join(dir, "topics", "t", "0")
	segs, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(segs), 2)
	first, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(segs[0]), ".log"), 10, 64)
	require.NoError(t, err)
	require.Less(t, first, int64(50), "the first segment holds the log start")
	require.Positive(t, first, "DeleteRecords removed the segments below it")

	path := filepath.Join(partDir, "log-start-offset")
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	requireRefused(t, dir, opts, path)

	l = repairSettingAside(t, dir, opts, path)
	p = partition(t, l, "t", 0)
	assert.Equal(t, first, p.LogStartOffset(), "the records of the first segment are back")
	assert.Len(t, readAll(t, p, first), 100-int(first))
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.Empty(t, l.Recovery().Repaired)
	assert.Equal(t, first, partition(t, l, "t", 0).LogStartOffset())
}

// A metadata file grown past the size a sound one can have is reported
// with its size, not with how much of it was read.
func TestMetaFileTooLargeReportsItsSize(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	require.NoError(t, l.Close())

	path := filepath.Join(dir, "topics", "t", "topic.meta")
	require.NoError(t, os.Truncate(path, 4_194_370))
	_, err := eventlog.Open(dir, nil)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, path, ce.Path)
	assert.Contains(t, ce.Reason, "file size 4194370")
}

// repairSettingAside opens dir with opts and Repair, and checks that it
// set the damaged file at path aside, and nothing else.
func repairSettingAside(t *testing.T, dir string, opts *eventlog.Options, path string) *eventlog.Log {
	t.Helper()
	repair := *opts
	repair.Repair = true
	l := openLog(t, dir, &repair)
	rs := l.Recovery()
	require.Len(t, rs.Repaired, 1)
	assert.True(t, strings.HasPrefix(rs.Repaired[0], path+".broken-"), rs.Repaired[0])
	return l
}
