package eventlog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// idemAppend appends n records with the producer id and base sequence
// given, valued "<tag>-<i>".
func idemAppend(p *eventlog.Partition, id eventlog.ProducerID, seq int32, tag string, n int) (int64, error) {
	recs := make([]eventlog.Record, n)
	for i := range recs {
		recs[i] = rec("k", fmt.Sprintf("%s-%d", tag, i))
	}
	return p.Append(ctx, recs, eventlog.AppendOptions{Producer: id, Sequence: seq})
}

func TestIdempotentAppend(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.Positive(t, id.ID)
	assert.Zero(t, id.Epoch)

	off, err := idemAppend(p, id, 0, "a", 2)
	require.NoError(t, err)
	assert.Equal(t, int64(0), off)
	off, err = idemAppend(p, id, 0, "a", 2)
	require.NoError(t, err, "a retry is answered, not refused")
	assert.Equal(t, int64(0), off, "with its first offsets")
	assert.Equal(t, int64(2), p.LogEndOffset(), "and stored once")

	off, err = idemAppend(p, id, 2, "b", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(2), off)

	_, err = idemAppend(p, id, 5, "gap", 1)
	require.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence)
	assert.Contains(t, err.Error(), "does not follow the last one, 2")
	_, err = idemAppend(p, id, 0, "a", 3)
	assert.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence, "the same base sequence with another record count is not a repeat")

	// The partition remembers five batches: a repeat of an older one is
	// refused, not stored again.
	seq := int32(3)
	for i := range 5 {
		_, err := idemAppend(p, id, seq, fmt.Sprint("c", i), 1)
		require.NoError(t, err)
		seq++
	}
	_, err = idemAppend(p, id, 2, "b", 1)
	require.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence)
	assert.Contains(t, err.Error(), "older than the last 5 batches")
	off, err = idemAppend(p, id, 3, "c0", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(3), off, "the oldest batch remembered")

	// A new epoch starts at sequence 0 and fences the old one.
	bumped := eventlog.ProducerID{ID: id.ID, Epoch: 1}
	_, err = idemAppend(p, bumped, 4, "e", 1)
	assert.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence)
	off, err = idemAppend(p, bumped, 0, "e", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(8), off)
	_, err = idemAppend(p, id, seq, "old", 1)
	require.ErrorIs(t, err, eventlog.ErrProducerFenced)
	assert.Contains(t, err.Error(), `topic "t" partition 0`)

	// Producers are independent; records without one are not checked.
	other, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, id.ID, other.ID)
	_, err = idemAppend(p, other, 0, "o", 1)
	require.NoError(t, err)
	_, err = p.Append(ctx, []eventlog.Record{rec("k", "plain")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(11), p.LogEndOffset())

	_, err = p.Append(ctx, []eventlog.Record{rec("k", "x")}, eventlog.AppendOptions{Producer: eventlog.ProducerID{ID: -3}})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	_, err = p.Append(ctx, []eventlog.Record{rec("k", "x")}, eventlog.AppendOptions{Producer: id, Sequence: -1})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
}

// TestIdempotentSequenceWraps: sequences wrap from MaxInt32 to 0, as
// Kafka's do.
func TestIdempotentSequenceWraps(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	_, err = idemAppend(p, id, 1<<31-2, "a", 3) // sequences MaxInt32-1, MaxInt32, 0
	require.NoError(t, err)
	off, err := idemAppend(p, id, 1, "b", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(3), off)
	off, err = idemAppend(p, id, 1<<31-2, "a", 3)
	require.NoError(t, err)
	assert.Equal(t, int64(0), off, "the wrapped batch is recognised")
}

func TestNewProducerIDDurable(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	for range 3 {
		l, err := eventlog.Open(dir, nil)
		require.NoError(t, err)
		for range 5 {
			id, err := l.NewProducerID(ctx)
			require.NoError(t, err)
			require.False(t, seen[id.ID], "id %d handed out twice", id.ID)
			seen[id.ID] = true
		}
		require.NoError(t, eventlog.Abandon(l), "a crash must not make ids come back")
	}
	_, err := os.Stat(filepath.Join(dir, "producer-ids.meta"))
	assert.NoError(t, err)
}

// TestIdempotentRetryAfterReopen: a batch appended again after the Log
// closed — cleanly, or in a crash — is recognised from the snapshots and
// the log, not stored twice.
func TestIdempotentRetryAfterReopen(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := t.TempDir()
			l, err := eventlog.Open(dir, nil)
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{SegmentBytes: 4096}))
			p := partition(t, l, "t", 0)
			id, err := l.NewProducerID(ctx)
			require.NoError(t, err)
			seq := int32(0)
			for i := range 40 {
				if i == 20 {
					require.NoError(t, eventlog.CheckpointRecoveryPoints(l), "a snapshot in the middle")
				}
				_, err := idemAppend(p, id, seq, fmt.Sprint("r", i), 3)
				require.NoError(t, err)
				seq += 3
				_, err = p.Append(ctx, []eventlog.Record{rec("k", strings.Repeat("x", 200))}, eventlog.AppendOptions{})
				require.NoError(t, err)
			}
			end := p.LogEndOffset()
			if crash {
				require.NoError(t, eventlog.Abandon(l))
			} else {
				require.NoError(t, l.Close())
			}
			l = openLog(t, dir, nil)
			p = partition(t, l, "t", 0)
			require.Equal(t, end, p.LogEndOffset())
			for k := range 5 {
				i := 35 + k
				off, err := idemAppend(p, id, int32(3*i), fmt.Sprint("r", i), 3)
				require.NoError(t, err)
				assert.Equal(t, int64(4*i), off, "batch %d answered with its offsets", i)
			}
			assert.Equal(t, end, p.LogEndOffset(), "nothing stored twice")
			off, err := idemAppend(p, id, seq, "next", 1)
			require.NoError(t, err)
			assert.Equal(t, end, off)
			_, err = idemAppend(p, id, seq+5, "gap", 1)
			assert.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence, "sequences are remembered")
		})
	}
}

// TestPartitionWithoutProducersHasNoSnapshots: the producer state costs a
// partition nothing until an idempotent batch arrives.
func TestPartitionWithoutProducersHasNoSnapshots(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 10, eventlog.AppendOptions{})
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	require.NoError(t, l.Close())
	matches, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.snapshot"))
	require.NoError(t, err)
	assert.Empty(t, matches)

	l = openLog(t, dir, nil)
	p = partition(t, l, "t", 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	_, err = idemAppend(p, id, 0, "a", 1)
	require.NoError(t, err)
	matches, err = filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.snapshot"))
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "topics", "t", "0", "00000000000000000010.snapshot")}, matches,
		"an empty snapshot at the log end precedes the first idempotent batch")
}

// TestProducerExpiration: a producer idle longer than ProducerIDExpiration
// is forgotten at the next snapshot, as Kafka forgets it.
func TestProducerExpiration(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return now }
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clock, ProducerIDExpiration: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	_, err = idemAppend(p, id, 0, "a", 1)
	require.NoError(t, err)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	_, err = idemAppend(p, id, 5, "gap", 1)
	require.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence, "remembered within the expiration")

	now = now.Add(2 * time.Hour)
	_, err = p.Append(ctx, []eventlog.Record{rec("k", "tick")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	_, err = idemAppend(p, id, 5, "after", 1)
	assert.NoError(t, err, "forgotten: any sequence starts it again")
}

func TestIdempotentProducer(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	prod, err := l.NewProducer(&eventlog.ProducerOptions{Idempotent: true, Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	for i := range 30 {
		_, err := prod.Send(ctx, eventlog.Record{Topic: "t", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i)})
		require.NoError(t, err)
	}
	require.NoError(t, prod.Close())
	for part := range int32(2) {
		batches := eventlog.BatchProducerFields(t, partition(t, l, "t", part))
		require.NotEmpty(t, batches)
		next := int32(0)
		for _, b := range batches {
			assert.Positive(t, b.ID.ID, "partition %d: batches carry the producer id", part)
			assert.Equal(t, next, b.Sequence, "partition %d: sequences are dense per partition", part)
			next += b.Records
		}
		assert.Equal(t, int32(15), next)
	}
}

// TestProducerExpirationCountsFromTheAppend: a producer is forgotten
// ProducerIDExpiration after its last append, not after the timestamps its
// records carry: an application appending old events with their original
// times (an import, a replay from another store) keeps its retries
// recognised, instead of having them stored twice once a checkpoint runs.
func TestProducerExpirationCountsFromTheAppend(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	opts := &eventlog.Options{Now: clock, ProducerIDExpiration: time.Hour}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	old := []eventlog.Record{{Key: []byte("k"), Value: []byte("from last year"), Timestamp: now.AddDate(-1, 0, 0)}}
	_, err = p.Append(ctx, old, eventlog.AppendOptions{Producer: id})
	require.NoError(t, err)

	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	off, err := p.Append(ctx, old, eventlog.AppendOptions{Producer: id})
	require.NoError(t, err)
	assert.Zero(t, off, "a retry right after the append is recognised")
	assert.Equal(t, int64(1), p.LogEndOffset(), "and not stored again")

	require.NoError(t, l.Close())
	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	off, err = p.Append(ctx, old, eventlog.AppendOptions{Producer: id})
	require.NoError(t, err)
	assert.Zero(t, off, "after a reopen too")
	assert.Equal(t, int64(1), p.LogEndOffset())

	now = now.Add(2 * time.Hour)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	_, err = idemAppend(p, id, 7, "after", 1)
	assert.NoError(t, err, "idle longer than the expiration: forgotten, any sequence starts it again")
}

// TestAppendRefusesSequenceWithoutProducer: an append with a Sequence, or
// a producer epoch, but no producer id — the zero ProducerID of a
// NewProducerID whose error was dropped, say — was stored as a plain
// append, without a word: the caller, believing it idempotent, retries
// after a timeout and has its records stored twice. It is refused.
func TestAppendRefusesSequenceWithoutProducer(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	for _, opts := range []eventlog.AppendOptions{
		{Sequence: 5},
		{Producer: eventlog.ProducerID{Epoch: 2}},
		{Producer: eventlog.ProducerID{Epoch: 2}, Sequence: 1},
	} {
		for range 2 { // a retry
			_, err := p.Append(ctx, []eventlog.Record{rec("k", "x")}, opts)
			assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%+v", opts)
		}
	}
	assert.Zero(t, p.LogEndOffset(), "nothing stored")
	_, err := p.Append(ctx, []eventlog.Record{rec("k", "x")}, eventlog.AppendOptions{})
	require.NoError(t, err, "no producer, sequence 0: a plain append")
}
