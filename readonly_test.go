package eventlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// dirState is everything in a directory tree: each path with its type,
// size, permissions and the hash of its contents.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	state := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		entry := fmt.Sprintf("%v %d", info.Mode(), info.Size())
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			entry += fmt.Sprintf(" %x", sha256.Sum256(data))
			// A read-only Log must not even touch a file's times.
			entry += " " + info.ModTime().String()
		}
		state[rel] = entry
		return nil
	})
	require.NoError(t, err)
	return state
}

func openReadOnly(t *testing.T, dir string) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	return l
}

// partitionValues reads a partition from the start and returns its values.
func partitionValues(t *testing.T, p *eventlog.Partition) []string {
	t.Helper()
	var out []string
	for v, err := range p.Views(p.LogStartOffset()) {
		require.NoError(t, err)
		out = append(out, string(v.Value))
	}
	return out
}

func TestReadOnlyWhileAWriterHoldsTheLog(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, &eventlog.Options{SegmentBytes: 2048})
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	wp := partition(t, w, "t", 0)
	appendN(t, wp, 40, eventlog.AppendOptions{})

	// The writer holds the lock: a second writer is refused, a reader is not.
	_, err := eventlog.Open(dir, nil)
	require.ErrorIs(t, err, eventlog.ErrLocked)
	r := openReadOnly(t, dir)
	assert.Equal(t, []string{"t"}, r.Topics())
	rp := partition(t, r, "t", 0)
	assert.Equal(t, wp.HighWatermark(), rp.HighWatermark())
	assert.Equal(t, partitionValues(t, wp), partitionValues(t, rp))
	assert.Greater(t, len(r.Stats().Partitions), 1)

	// Appends, a segment roll, a new topic, added partitions and a changed
	// configuration all show at the next Refresh, not before.
	appendN(t, wp, 40, eventlog.AppendOptions{})
	require.NoError(t, w.CreateTopic("u", eventlog.TopicConfig{}))
	require.NoError(t, w.CreatePartitions(ctx, "t", 3))
	cfg, err := w.TopicConfig("t")
	require.NoError(t, err)
	cfg.Retention = time.Hour
	require.NoError(t, w.AlterTopicConfig(ctx, "t", cfg))
	assert.Equal(t, int64(40), rp.HighWatermark())
	require.NoError(t, r.Refresh())
	assert.Equal(t, int64(80), rp.HighWatermark())
	assert.Equal(t, partitionValues(t, wp), partitionValues(t, rp))
	assert.Equal(t, []string{"t", "u"}, r.Topics())
	rcfg, err := r.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, cfg, rcfg)
	_, err = r.Partition("t", 2)
	require.NoError(t, err)
	assert.Equal(t, onDisk(w.Stats()), onDisk(r.Stats()), "the reader sees the same segments, offsets and sizes")

	// A deleted topic goes; handles on it fail as on the writer.
	ru := partition(t, r, "u", 0)
	require.NoError(t, w.DeleteTopic(ctx, "u"))
	require.NoError(t, r.Refresh())
	assert.Equal(t, []string{"t"}, r.Topics())
	_, err = r.Partition("u", 0)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	_, err = ru.Read(0, 100)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)

	// The writer's records are there for a reopened writer too: the
	// reader changed nothing.
	require.NoError(t, w.Close())
	w2 := openLog(t, dir, nil)
	assert.Equal(t, int64(80), partition(t, w2, "t", 0).HighWatermark())
}

// onDisk keeps of the partitions' stats what the directory says — not
// what the process that took them did since Open.
func onDisk(s eventlog.Stats) []eventlog.PartitionStats {
	out := make([]eventlog.PartitionStats, len(s.Partitions))
	for i, p := range s.Partitions {
		out[i] = eventlog.PartitionStats{Topic: p.Topic, Partition: p.Partition, CleanupPolicy: p.CleanupPolicy,
			LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark, LogEndOffset: p.LogEndOffset,
			Segments: p.Segments, Bytes: p.Bytes, DirtyRatio: p.DirtyRatio}
	}
	return out
}

func TestReadOnlyFollowsRetentionDeleteRecordsAndCompaction(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	w := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, w.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	require.NoError(t, w.CreateTopic("d", eventlog.TopicConfig{Retention: time.Hour}))
	cp, dp := partition(t, w, "c", 0), partition(t, w, "d", 0)
	for i := range 200 {
		putKV(t, cp, fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i)))
	}
	appendN(t, dp, 60, eventlog.AppendOptions{})
	r := openReadOnly(t, dir)
	rc, rd := partition(t, r, "c", 0), partition(t, r, "d", 0)
	before, err := r.ReplayLatest(ctx, "c")
	require.NoError(t, err)

	require.NoError(t, w.Compact(ctx, "c"))
	clk.Advance(2 * time.Hour)
	appendN(t, dp, 1, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(w))
	require.Positive(t, dp.LogStartOffset())
	_, err = w.DeleteRecords(ctx, "d", 0, dp.LogStartOffset()+1)
	require.NoError(t, err)

	require.NoError(t, r.Refresh())
	assert.Equal(t, dp.LogStartOffset(), rd.LogStartOffset())
	assert.Equal(t, partitionValues(t, dp), partitionValues(t, rd))
	after, err := r.ReplayLatest(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, before, after, "compaction keeps the newest value per key")
	assert.Equal(t, partitionValues(t, cp), partitionValues(t, rc), "the reader reads the cleaned segments")
	assert.Equal(t, onDisk(w.Stats()), onDisk(r.Stats()))
}

// A compaction swap that a crash stopped after its commit is read as Open
// would finish it, at every step, without finishing it.
func TestReadOnlyReadsAnUnfinishedSwap(t *testing.T) {
	for _, step := range []string{"committed", "removed", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{SegmentBytes: 1024, CleanerCheckInterval: time.Hour}
			w, err := eventlog.Open(dir, opts)
			require.NoError(t, err)
			require.NoError(t, w.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
			cp := partition(t, w, "c", 0)
			for i := range 200 {
				putKV(t, cp, fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i)))
			}
			eventlog.SetCleanerFailpoint(w, func(s string) error {
				if s == step {
					return errors.New("crash")
				}
				return nil
			})
			require.Error(t, w.Compact(ctx, "c"))
			require.NoError(t, eventlog.Abandon(w))
			state := dirState(t, dir)
			cleaned := 0
			for path := range state {
				if strings.HasSuffix(path, ".cleaned") {
					cleaned++
				}
			}
			assert.Equal(t, step != "renamed", cleaned > 0, "outputs left under their temporary names")

			r := openReadOnly(t, dir)
			got := partitionValues(t, partition(t, r, "c", 0))
			latest, err := r.ReplayLatest(ctx, "c")
			require.NoError(t, err)
			require.NoError(t, r.Close())
			assert.Equal(t, state, dirState(t, dir), "a read-only Log finishes nothing")

			w2 := openLog(t, dir, opts)
			assert.Equal(t, partitionValues(t, partition(t, w2, "c", 0)), got)
			want, err := w2.ReplayLatest(ctx, "c")
			require.NoError(t, err)
			assert.Equal(t, want, latest)
		})
	}
}

// A swap that failed after its commit is read as Open finishes it even
// once the topic was switched to cleanup.policy=delete.
func TestReadOnlyReadsAnUnfinishedSwapAfterPolicyChange(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024, CleanerCheckInterval: time.Hour}
	w, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, w.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	cp := partition(t, w, "c", 0)
	for i := range 200 {
		putKV(t, cp, fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i)))
	}
	eventlog.SetCleanerFailpoint(w, func(s string) error {
		if s == "removed" {
			return errors.New("injected")
		}
		return nil
	})
	require.Error(t, w.Compact(ctx, "c"))
	require.NoError(t, w.AlterTopicConfig(ctx, "c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupDelete}))
	require.NoError(t, eventlog.Abandon(w))

	r := openReadOnly(t, dir)
	got := partitionValues(t, partition(t, r, "c", 0))
	require.NoError(t, r.Close())
	report := verify(t, dir)
	assert.Empty(t, report.Problems)
	assert.Equal(t, int64(len(got)), report.Records, "Verify reads the swap as Open finishes it")
	w2 := openLog(t, dir, opts)
	assert.Equal(t, partitionValues(t, partition(t, w2, "c", 0)), got)
}

func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, nil)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{}))
	require.NoError(t, w.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	appendN(t, partition(t, w, "t", 0), 3, eventlog.AppendOptions{})
	commitOffsets(t, w, "g", map[eventlog.TopicPartition]int64{{Topic: "t"}: 2})
	require.NoError(t, w.Close())
	state := dirState(t, dir)

	r := openReadOnly(t, dir)
	p := partition(t, r, "t", 0)
	cons, err := r.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g"})
	require.NoError(t, err)
	defer cons.Close()
	refused := map[string]error{
		"CreateTopic":       r.CreateTopic("x", eventlog.TopicConfig{}),
		"DeleteTopic":       r.DeleteTopic(ctx, "t"),
		"CreatePartitions":  r.CreatePartitions(ctx, "t", 2),
		"AlterTopicConfig":  r.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Partitions: 1}),
		"Compact":           r.Compact(ctx, "c"),
		"DeleteGroup":       r.DeleteGroup(ctx, "g"),
		"Subscribe":         cons.Subscribe("t"),
		"CommitOffsets":     cons.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {Offset: 1}}),
		"CommitSync":        cons.CommitSync(ctx),
		"DeleteRecords":     second(r.DeleteRecords(ctx, "t", 0, 1)),
		"Append":            second(p.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})),
		"NewProducer":       second(r.NewProducer(nil)),
		"NewProducerID":     second(r.NewProducerID(ctx)),
		"ResetGroupOffsets": second(r.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest})),
	}
	batches, release, err := p.ReadBatches(0, 1<<20)
	require.NoError(t, err)
	first := batches[:12+binary.BigEndian.Uint32(batches[8:])] // one whole batch, as a client sends it
	refused["AppendBatch"] = second(p.AppendBatch(ctx, bytes.Clone(first), eventlog.AppendOptions{}))
	release()
	refused["JoinGroupExternal"] = second(r.JoinGroupExternal("g", eventlog.ExternalMemberConfig{Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}}}))
	refused["CommitGroupOffsets"] = r.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {Offset: 1}})
	asyncErr := make(chan error, 1)
	cons.CommitAsync(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {Offset: 1}},
		func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) { asyncErr <- err })
	refused["CommitAsync"] = <-asyncErr
	for call, err := range refused {
		assert.ErrorIs(t, err, eventlog.ErrReadOnly, call)
		assert.Contains(t, fmt.Sprint(err), "read-only", call)
	}

	// What only reads works: committed offsets and lag, a dry run, and a
	// consumer of the group that assigns by hand starts at its commit.
	groups, err := r.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, groups)
	d, err := r.DescribeGroup("g")
	require.NoError(t, err)
	require.Len(t, d.Offsets, 1)
	assert.Equal(t, int64(2), d.Offsets[0].Committed)
	assert.Equal(t, int64(1), d.Offsets[0].Lag)
	committed, err := r.CommittedOffsets("g", []eventlog.TopicPartition{{Topic: "t"}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), committed[eventlog.TopicPartition{Topic: "t"}].Offset)
	plan, err := r.ResetGroupOffsets(ctx, "g", eventlog.ResetOffsetsSpec{To: eventlog.ResetToEarliest, DryRun: true})
	require.NoError(t, err)
	require.Len(t, plan, 1)
	assert.Equal(t, int64(0), plan[0].Committed)
	require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: "t"}))
	recs, err := cons.Poll(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, int64(2), recs[0].Offset)
	require.NoError(t, cons.Close())
	require.NoError(t, r.Close())
	assert.Equal(t, state, dirState(t, dir), "nothing in the directory changed")
}

func second[T any](_ T, err error) error { return err }

// commitOffsets commits offsets for a group that assigns by hand.
func commitOffsets(t *testing.T, l *eventlog.Log, group string, offsets map[eventlog.TopicPartition]int64) {
	t.Helper()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: group})
	require.NoError(t, err)
	defer c.Close()
	om := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	for tp, o := range offsets {
		om[tp] = eventlog.OffsetAndMetadata{Offset: o}
	}
	require.NoError(t, c.CommitOffsets(ctx, om))
}

func TestReadOnlyOptionsAndMissingLog(t *testing.T) {
	_, err := eventlog.Open(t.TempDir(), &eventlog.Options{ReadOnly: true, Repair: true})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	missing := filepath.Join(t.TempDir(), "nothing")
	_, err = eventlog.Open(missing, &eventlog.Options{ReadOnly: true})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(missing)
	assert.ErrorIs(t, err, fs.ErrNotExist, "a read-only Open creates nothing")

	// Refresh of a writable Log does nothing; of a closed one, fails.
	dir := t.TempDir()
	w := openLog(t, dir, nil)
	assert.NoError(t, w.Refresh())
	r, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.ErrorIs(t, r.Refresh(), eventlog.ErrClosed)
}

// Damage: what Open would cut is not readable, what Open would refuse is
// refused, and what a read finds is reported; nothing is changed.
func TestReadOnlyDamagedLogs(t *testing.T) {
	t.Run("torn tail", func(t *testing.T) {
		dir := t.TempDir()
		partDir := crashedLog(t, dir, &eventlog.Options{SegmentBytes: 4096}, 100)
		seg := lastSegment(t, partDir)
		appendBytes(t, seg, make([]byte, 500))
		state := dirState(t, dir)
		r := openReadOnly(t, dir)
		p := partition(t, r, "t", 0)
		assert.Equal(t, int64(100), p.HighWatermark())
		checkDense(t, p, 100)
		require.NoError(t, r.Refresh())
		assert.Equal(t, int64(100), p.HighWatermark(), "a tail that stays torn stays unreadable")
		require.NoError(t, r.Close())
		assert.Equal(t, state, dirState(t, dir))
	})
	t.Run("damaged tail after a clean close", func(t *testing.T) {
		// Close fsynced the whole active segment: bytes after its last
		// batch are damage, which a writable Open refuses, not a batch
		// being written. A reader says so too.
		dir := t.TempDir()
		l, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 4096})
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
		require.NoError(t, l.Close())
		seg := lastSegment(t, filepath.Join(dir, "topics", "t", "0"))
		appendBytes(t, seg, bytes.Repeat([]byte{0x5a}, 100))
		state := dirState(t, dir)
		_, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, seg, ce.Path)
		assert.Equal(t, state, dirState(t, dir))
		_, err = eventlog.Open(dir, nil)
		require.ErrorAs(t, err, &ce, "as a writable Open refuses it")
		assert.Equal(t, state, dirState(t, dir))
	})
	t.Run("corrupt before the recovery point", func(t *testing.T) {
		dir := t.TempDir()
		partDir := crashedLog(t, dir, &eventlog.Options{SegmentBytes: 1 << 20}, 50)
		seg := lastSegment(t, partDir)
		data, err := os.ReadFile(seg)
		require.NoError(t, err)
		data[200] ^= 0xff
		require.NoError(t, os.WriteFile(seg, data, 0o644))
		for _, ext := range []string{".index", ".timeindex"} {
			_ = os.Remove(strings.TrimSuffix(seg, ".log") + ext)
		}
		state := dirState(t, dir)
		_, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, seg, ce.Path)
		assert.Equal(t, state, dirState(t, dir))
	})
	t.Run("corrupt closed segment", func(t *testing.T) {
		dir := t.TempDir()
		logs := corruptSecondSegment(t, dir, &eventlog.Options{SegmentBytes: 4096})
		state := dirState(t, dir)
		r := openReadOnly(t, dir)
		_, err := partition(t, r, "t", 0).Read(0, 1<<30)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, logs[1], ce.Path)
		require.NoError(t, r.Close())
		assert.Equal(t, state, dirState(t, dir))
	})
	t.Run("indexes to rebuild", func(t *testing.T) {
		dir := t.TempDir()
		l, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 100})
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		appendN(t, partition(t, l, "t", 0), 200, eventlog.AppendOptions{})
		require.NoError(t, l.Close())
		indexes, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.index"))
		require.NoError(t, err)
		require.Greater(t, len(indexes), 1)
		for _, path := range indexes {
			require.NoError(t, os.Remove(path))
		}
		state := dirState(t, dir)
		r := openReadOnly(t, dir)
		p := partition(t, r, "t", 0)
		checkDense(t, p, 200)
		off, found, err := p.OffsetForTime(time.UnixMilli(0))
		require.NoError(t, err)
		assert.True(t, found)
		assert.Zero(t, off)
		assert.Positive(t, r.Recovery().IndexesRebuilt)
		require.NoError(t, r.Close())
		assert.Equal(t, state, dirState(t, dir), "indexes are rebuilt in memory only")
	})
}

// A batch the writer is writing is not readable until it is whole, and
// the reader never cuts it.
func TestReadOnlyBatchBeingWritten(t *testing.T) {
	dir := t.TempDir()
	w, err := eventlog.Open(dir, &eventlog.Options{RecoveryPointInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, w, "t", 0), 5, eventlog.AppendOptions{})
	require.NoError(t, eventlog.Abandon(w))
	seg := lastSegment(t, filepath.Join(dir, "topics", "t", "0"))
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	// Take the last batch away and write it back in two halves.
	r0 := openReadOnly(t, dir)
	batches := 0
	var lastPos int64
	for b, err := range partition(t, r0, "t", 0).Batches(0) {
		require.NoError(t, err)
		batches++
		lastPos = b.Pos
	}
	require.Equal(t, 5, batches)
	last := data[lastPos:]
	require.NoError(t, os.Truncate(seg, lastPos))

	r := openReadOnly(t, dir)
	p := partition(t, r, "t", 0)
	assert.Equal(t, int64(4), p.HighWatermark())
	appendBytes(t, seg, last[:len(last)/2])
	require.NoError(t, r.Refresh())
	assert.Equal(t, int64(4), p.HighWatermark())
	appendBytes(t, seg, last[len(last)/2:])
	require.NoError(t, r.Refresh())
	assert.Equal(t, int64(5), p.HighWatermark())
	checkDense(t, p, 5)
}

// A consumer of a read-only Log follows a writer: each Refresh wakes its
// Poll with what was appended, in order, whatever the segments do.
func TestReadOnlyConsumerFollowsAWriter(t *testing.T) {
	dir := t.TempDir()
	// Recovery points persisted all the time: a Refresh that meets a batch
	// being written must tell it from damage below the recovery point.
	w := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024, RecoveryPointInterval: time.Millisecond})
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	wp := partition(t, w, "t", 0)
	r := openReadOnly(t, dir)
	cons, err := r.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: time.Hour})
	require.NoError(t, err)
	defer cons.Close()
	require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: "t"}))
	require.NoError(t, cons.SeekToBeginning())

	const n = 300
	writerDone := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := wp.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{}); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	// Refresh without pause, so that some refreshes meet a batch half
	// written, until the consumer has everything.
	read := make(chan struct{})
	refresherDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-read:
				refresherDone <- nil
				return
			default:
			}
			if err := r.Refresh(); err != nil {
				refresherDone <- err
				return
			}
		}
	}()
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var got []string
	for len(got) < n {
		recs, err := cons.Poll(c)
		require.NoError(t, err)
		for _, rc := range recs {
			require.Equal(t, int64(len(got)), rc.Offset, "offsets dense and in order")
			got = append(got, string(rc.Value))
		}
	}
	close(read)
	require.NoError(t, <-writerDone)
	require.NoError(t, <-refresherDone)
	assert.Equal(t, "v299", got[n-1])
}

// A read-only Log starts no goroutine and leaves no file open.
func TestReadOnlyLeavesNoGoroutinesOrFiles(t *testing.T) {
	dir := t.TempDir()
	w, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, err)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	appendN(t, partition(t, w, "t", 0), 100, eventlog.AppendOptions{})
	commitOffsets(t, w, "g", map[eventlog.TopicPartition]int64{{Topic: "t"}: 5})
	require.NoError(t, w.Close())
	synctest.Test(t, func(t *testing.T) {
		r, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
		require.NoError(t, err)
		cons, err := r.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g"})
		require.NoError(t, err)
		require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: "t"}))
		_, err = cons.Poll(ctx)
		require.NoError(t, err)
		require.NoError(t, r.Refresh())
		require.NoError(t, r.Close())
	})
	if runtime.GOOS != "linux" {
		return
	}
	openFiles := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(fds)
	}
	before := openFiles()
	r, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	checkDense(t, partition(t, r, "t", 0), 100)
	_, err = r.DescribeGroup("g")
	require.NoError(t, err)
	require.NoError(t, r.Refresh())
	require.NoError(t, r.Close())
	assert.Equal(t, before, openFiles(), "file descriptors after Close")
}

// Committed offsets that the writer adds show at Refresh.
func TestReadOnlyGroupOffsetsRefresh(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, nil)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	appendN(t, partition(t, w, "t", 1), 10, eventlog.AppendOptions{})
	r := openReadOnly(t, dir)
	groups, err := r.Groups()
	require.NoError(t, err)
	assert.Empty(t, groups)

	commitOffsets(t, w, "a", map[eventlog.TopicPartition]int64{{Topic: "t", Partition: 1}: 4})
	require.NoError(t, r.Refresh())
	offsets, err := r.GroupOffsets("a")
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(4), offsets[0].Committed)
	assert.Equal(t, int64(6), offsets[0].Lag)

	commitOffsets(t, w, "a", map[eventlog.TopicPartition]int64{{Topic: "t", Partition: 1}: 9})
	commitOffsets(t, w, "b", map[eventlog.TopicPartition]int64{{Topic: "t", Partition: 0}: 0})
	require.NoError(t, w.DeleteGroup(ctx, "b"))
	require.NoError(t, r.Refresh())
	want, err := w.GroupOffsets("a")
	require.NoError(t, err)
	got, err := r.GroupOffsets("a")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	groups, err = r.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, groups)
}

// listingMissesFS lists directories without the file named hide, as many
// times as misses says, as a listing taken while a writer creates that file
// and a later one may.
type listingMissesFS struct {
	eventlog.FS
	hide   string
	misses *atomic.Int64
}

func (f listingMissesFS) ReadDir(name string) ([]string, error) {
	names, err := f.FS.ReadDir(name)
	if slices.Contains(names, f.hide) && f.misses.Add(-1) >= 0 {
		names = slices.DeleteFunc(names, func(n string) bool { return n == f.hide })
	}
	return names, err
}

// TestReadOnlyListingMissesASegment: a listing that misses a segment though
// it shows a later one is not taken as the log: the read-only Log lists
// again, and reads every record, at Open and at a Refresh.
func TestReadOnlyListingMissesASegment(t *testing.T) {
	dir := t.TempDir()
	logs := closedLog(t, dir, &eventlog.Options{SegmentBytes: 4096}, 200)
	require.Greater(t, len(logs), 3)
	fsys := listingMissesFS{FS: eventlog.OSFS{}, hide: filepath.Base(logs[1]), misses: new(atomic.Int64)}
	fsys.misses.Store(1)
	l, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
	require.NoError(t, err)
	defer func() { assert.NoError(t, l.Close()) }()
	require.Negative(t, fsys.misses.Load(), "a listing at Open missed the segment, and one after did not")
	readAll := func() {
		var offsets []int64
		for v, err := range partition(t, l, "t", 0).Views(0) {
			require.NoError(t, err)
			offsets = append(offsets, v.Offset)
		}
		require.Len(t, offsets, 200)
		for i, off := range offsets {
			require.Equal(t, int64(i), off)
		}
	}
	readAll()
	fsys.misses.Store(1)
	require.NoError(t, l.Refresh())
	require.Negative(t, fsys.misses.Load(), "a listing at the Refresh missed the segment, and one after did not")
	readAll()
}
