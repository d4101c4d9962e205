package eventlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
)

// openCleaningLog opens a log at /data on fsys, with an injected clock,
// 1 KiB segments, and checkpoints and cleaner checks an hour apart, and
// creates in it the compacted topic "t" with the given delete retention
// (0 for the default).
func openCleaningLog(t *testing.T, fsys *eventlog.MemFS, deleteRetention time.Duration) (*eventlog.Log, *eventlog.Options, *clock, *eventlog.Partition) {
	t.Helper()
	require.NoError(t, fsys.MkdirAll("/data", 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024, RecoveryPointInterval: time.Hour, CleanerCheckInterval: time.Hour}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: deleteRetention}))
	return l, opts, clk, partition(t, l, "t", 0)
}

// killAndReopen kills the process that has l open (a crash that keeps
// every write, as SIGKILL does), opens /data again with opts, and returns
// the new Log and its partition t/0, having checked that its log end
// offset is the one l had.
func killAndReopen(t *testing.T, fsys *eventlog.MemFS, l *eventlog.Log, opts *eventlog.Options) (*eventlog.Log, *eventlog.Partition) {
	t.Helper()
	end := partition(t, l, "t", 0).LogEndOffset()
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashKeepAll})
	_ = eventlog.Abandon(l)
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	p := partition(t, l, "t", 0)
	require.Equal(t, end, p.LogEndOffset())
	return l, p
}

// The cleaner keeps the last batch of each producer, emptied of its records
// if none stays, as Kafka's does: producer state rebuilt from the log after
// a crash still knows the producer's last sequence, so that a retry of its
// last batch is recognised and not stored twice.
func TestCompactKeepsProducersLastBatch(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, opts, _, p := openCleaningLog(t, fsys, 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	retry := func(p *eventlog.Partition) (int64, error) {
		return p.Append(ctx, []eventlog.Record{{Key: []byte("a"), Value: []byte("once")}},
			eventlog.AppendOptions{Producer: id, Sequence: 0})
	}
	first, err := retry(p)
	require.NoError(t, err)
	for i := range 60 { // supersede it, and roll segments past it
		putKV(t, p, fmt.Sprint("k", i%3), []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
	}
	putKV(t, p, "a", []byte("newer"))
	for i := range 60 {
		putKV(t, p, fmt.Sprint("k", i%3), []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
	}
	require.NoError(t, l.Compact(ctx, "t"))
	require.NotContains(t, valueStrings(readAll(t, p, 0)), "once", "the producer's record is cleaned away")
	end := p.LogEndOffset()

	// A crash before the checkpointer writes a snapshot after the
	// producer's batch: Open replays the log from the last one.
	l, p = killAndReopen(t, fsys, l, opts)
	defer func() { assert.NoError(t, l.Close()) }()

	off, err := retry(p)
	require.NoError(t, err)
	assert.Equal(t, first, off, "the retry is recognised as the batch appended before")
	assert.Equal(t, end, p.LogEndOffset(), "the retry is not stored twice")
	assert.NotContains(t, valueStrings(readAll(t, p, 0)), "once")
}

// openProducerCompactLog opens a log in a temporary directory, with 1 KiB
// segments, holding the compacted topic "t", and gets a producer ID.
func openProducerCompactLog(t *testing.T) (string, *eventlog.Log, *eventlog.Partition, eventlog.ProducerID) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	return dir, l, partition(t, l, "t", 0), id
}

// The empty batch a cleaning keeps for a producer reads as no records
// everywhere — consumers, Replay, Verify, an independent Kafka decoder —
// and goes once the producer's last batch is a later one.
func TestCompactProducersEmptyBatch(t *testing.T) {
	dir, l, p, id := openProducerCompactLog(t)
	first, err := p.Append(ctx, []eventlog.Record{{Key: []byte("a"), Value: []byte("old")}, {Key: []byte("b"), Value: []byte("old")}},
		eventlog.AppendOptions{Producer: id, Sequence: 0, Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	fill := func() {
		putKV(t, p, "a", []byte("new"))
		putKV(t, p, "b", []byte("new"))
		for i := range 60 {
			putKV(t, p, fmt.Sprint("k", i%3), []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
		}
	}
	fill()
	require.NoError(t, l.Compact(ctx, "t"))
	producerBatches := func() []eventlog.BatchFields {
		var out []eventlog.BatchFields
		for _, b := range eventlog.BatchProducerFields(t, p) {
			if b.ID == id {
				out = append(out, b)
			}
		}
		return out
	}
	require.Equal(t, []eventlog.BatchFields{{ID: id, Sequence: 0, BaseOffset: first}}, producerBatches(), "an empty batch stays")
	recs := readAll(t, p, 0)
	assert.NotContains(t, valueStrings(recs), "old")
	got, err := p.Read(first, 1)
	require.NoError(t, err)
	require.NotEmpty(t, got, "a read at the empty batch goes on past it")
	for _, r := range recs {
		if r.Offset > first {
			assert.Equal(t, r, got[0])
			break
		}
	}
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1, MaxPollRecords: 1})
	require.NoError(t, err)
	defer c.Close()
	tp := eventlog.TopicPartition{Topic: "t"}
	require.NoError(t, c.Assign(tp))
	require.NoError(t, c.Seek(tp, first))
	polled, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, got[:1], polled, "a consumer at the empty batch goes on past it")
	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, "new", string(latest["a"]))
	require.NoError(t, l.Compact(ctx, "t"))
	assert.Len(t, producerBatches(), 1, "a second cleaning keeps it")
	assert.Equal(t, recs, readAll(t, p, 0))

	// The producer appends again: its earlier batch may go.
	_, err = p.Append(ctx, []eventlog.Record{{Key: []byte("c"), Value: []byte("old")}}, eventlog.AppendOptions{Producer: id, Sequence: 2})
	require.NoError(t, err)
	putKV(t, p, "c", []byte("new"))
	fill()
	require.NoError(t, l.Compact(ctx, "t"))
	batches := producerBatches()
	require.Len(t, batches, 1)
	assert.Equal(t, int32(2), batches[0].Sequence, "only the producer's last batch stays")
	assert.Zero(t, batches[0].Records)

	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems)
	empty := 0
	for _, rb := range diskBatches(t, dir) {
		if rb.NumRecords == 0 {
			empty++
			assert.Equal(t, id.ID, rb.ProducerID)
			assert.Zero(t, rb.Attributes&0x47, "no compression, no delete horizon")
			assert.Empty(t, rb.Records)
		}
	}
	assert.Equal(t, 1, empty)
}

// The empty batch a cleaning keeps for a producer has the header Kafka's
// cleaner writes for it (DefaultRecordBatch.writeEmptyHeader): no records,
// no compression and no delete horizon, the original's base offset, last
// offset delta, leader epoch, producer fields and max timestamp, and a
// first timestamp of -1 (RecordBatch.NO_TIMESTAMP), as Kafka documents for
// an empty batch.
func TestCompactEmptyBatchHeaderIsKafkas(t *testing.T) {
	dir, l, p, id := openProducerCompactLog(t)
	at := time.UnixMilli(1_700_000_000_000)
	first, err := p.Append(ctx, []eventlog.Record{
		{Key: []byte("a"), Value: []byte("old"), Timestamp: at.Add(7 * time.Millisecond)},
		{Key: []byte("b"), Value: nil, Timestamp: at}, // a tombstone: the first cleaning sets a delete horizon
		{Key: []byte("c"), Value: []byte("old"), Timestamp: at.Add(3 * time.Millisecond)},
	}, eventlog.AppendOptions{Producer: id, Sequence: 0, Compression: eventlog.CompressionLZ4})
	require.NoError(t, err)
	fill := func() {
		for i := range 60 {
			putKV(t, p, fmt.Sprint("k", i%3), []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
		}
	}
	fill()
	require.NoError(t, l.Compact(ctx, "t")) // keeps the batch, with a delete horizon
	for b, err := range p.Batches(first) {
		require.NoError(t, err)
		require.False(t, b.DeleteHorizon.IsZero(), "the first cleaning sets a delete horizon")
		break
	}
	putKV(t, p, "a", []byte("new"))
	putKV(t, p, "b", []byte("new"))
	putKV(t, p, "c", []byte("new"))
	fill()
	require.NoError(t, l.Compact(ctx, "t")) // empties it
	for b, err := range p.Batches(first) {
		require.NoError(t, err)
		require.Zero(t, b.Records, "the batch is emptied")
		assert.True(t, b.FirstTimestamp.IsZero(), "an emptied batch has no first timestamp, not %v", b.FirstTimestamp)
		assert.True(t, b.DeleteHorizon.IsZero())
		assert.Equal(t, at.Add(7*time.Millisecond), b.MaxTimestamp)
		break
	}
	require.NoError(t, l.Close())

	var found []kmsg.RecordBatch
	for _, rb := range diskBatches(t, dir) { // their CRCs checked
		if rb.ProducerID == id.ID {
			rb.CRC = 0
			found = append(found, rb)
		}
	}
	assert.Equal(t, []kmsg.RecordBatch{{
		FirstOffset:          first,
		Length:               49, // the header after the length field
		PartitionLeaderEpoch: 0,
		Magic:                2,
		Attributes:           0,
		LastOffsetDelta:      2,
		FirstTimestamp:       -1,
		MaxTimestamp:         at.Add(7 * time.Millisecond).UnixMilli(),
		ProducerID:           id.ID,
		ProducerEpoch:        id.Epoch,
		FirstSequence:        0,
		NumRecords:           0,
		Records:              []byte{},
	}}, found)
}
