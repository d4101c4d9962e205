package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

var ctx = context.Background()

func openLog(t *testing.T, dir string, opts *eventlog.Options) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func partition(t *testing.T, l *eventlog.Log, topic string, id int32) *eventlog.Partition {
	t.Helper()
	p, err := l.Partition(topic, id)
	require.NoError(t, err)
	return p
}

func rec(key, value string) eventlog.Record {
	return eventlog.Record{Key: []byte(key), Value: []byte(value)}
}

// appendN appends n single-record batches with values "v<i>" and returns the
// offsets.
func appendN(t *testing.T, p *eventlog.Partition, n int, opts eventlog.AppendOptions) []int64 {
	t.Helper()
	offsets := make([]int64, n)
	for i := range n {
		off, err := p.Append(ctx, []eventlog.Record{rec(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))}, opts)
		require.NoError(t, err)
		offsets[i] = off
	}
	return offsets
}

func readAll(t *testing.T, p *eventlog.Partition, from int64) []eventlog.Record {
	t.Helper()
	var out []eventlog.Record
	for {
		recs, err := p.Read(from, 64<<10)
		require.NoError(t, err)
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Offset + 1
	}
}

func TestOpenCloseLock(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)

	_, err = eventlog.Open(dir, nil)
	assert.ErrorIs(t, err, eventlog.ErrLocked)

	require.NoError(t, l.Close())
	assert.NoError(t, l.Close(), "Close is idempotent")
	assert.ErrorIs(t, l.CreateTopic("t", eventlog.TopicConfig{}), eventlog.ErrClosed)
	_, err = l.Partition("t", 0)
	assert.ErrorIs(t, err, eventlog.ErrClosed)

	l2, err := eventlog.Open(dir, nil)
	require.NoError(t, err, "the lock is released by Close")
	assert.True(t, l2.Recovery().CleanShutdown)
	require.NoError(t, l2.Close())
}

func TestInvalidOptions(t *testing.T) {
	for _, opts := range []eventlog.Options{
		{SegmentBytes: 10},
		{SegmentBytes: 1 << 40},
		{SegmentAge: -time.Second},
		{IndexIntervalBytes: -1},
		{MaxBatchBytes: 5},
		{Durability: 9},
		{TransactionalIDExpiration: -time.Second},
	} {
		_, err := eventlog.Open(t.TempDir(), &opts)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%+v", opts)
	}
	_, err := eventlog.Open("", nil)
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
}

func TestTopicNames(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	for _, name := range []string{"", ".", "..", "a/b", `a\b`, "a b", "é", "__internal", strings.Repeat("x", 250)} {
		assert.ErrorIs(t, l.ValidateCreateTopic(name, eventlog.TopicConfig{}), eventlog.ErrInvalidTopic, "%q", name)
		assert.ErrorIs(t, l.CreateTopic(name, eventlog.TopicConfig{}), eventlog.ErrInvalidTopic, "%q", name)
	}
	for _, name := range []string{"orders", "a.b_c-d", "_one", strings.Repeat("x", 249)} {
		assert.NoError(t, l.ValidateCreateTopic(name, eventlog.TopicConfig{}), "%q", name)
		assert.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{}), "%q", name)
	}
	assert.ErrorIs(t, l.CreateTopic("orders", eventlog.TopicConfig{}), eventlog.ErrTopicExists)
	assert.ErrorIs(t, l.CreateTopic("Orders", eventlog.TopicConfig{}), eventlog.ErrTopicExists, "case-insensitive collision")
	assert.ErrorIs(t, l.CreateTopic("neg", eventlog.TopicConfig{Partitions: -1}), eventlog.ErrInvalidConfig)
	assert.ErrorIs(t, l.ValidateCreateTopic("orders", eventlog.TopicConfig{}), eventlog.ErrTopicExists)
	assert.ErrorIs(t, l.ValidateCreateTopic("Orders", eventlog.TopicConfig{}), eventlog.ErrTopicExists, "case-insensitive collision")
	assert.ErrorIs(t, l.ValidateCreateTopic("neg", eventlog.TopicConfig{Partitions: -1}), eventlog.ErrInvalidConfig)
	assert.NoError(t, l.ValidateCreateTopic("fresh", eventlog.TopicConfig{}))
	assert.NotContains(t, l.Topics(), "fresh", "validation creates nothing")

	_, err := l.Partition("missing", 0)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	_, err = l.Partition("orders", 1)
	assert.ErrorIs(t, err, eventlog.ErrPartitionNotFound)
	_, err = l.Partition("orders", -1)
	assert.ErrorIs(t, err, eventlog.ErrPartitionNotFound)
}

// CreateTopic makes its topic's files, fsyncs included, without holding
// the lock every topic lookup takes: while it waits for the disk, the other
// topics stay usable, and its name stays taken.
func TestCreateTopicDoesNotStallLookups(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	require.NoError(t, l.CreateTopic("other", eventlog.TopicConfig{}))
	reached, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "/slow/") {
			once.Do(func() { close(reached); <-resume })
		}
		return nil
	})
	created := make(chan error)
	go func() { created <- l.CreateTopic("slow", eventlog.TopicConfig{Partitions: 2}) }()
	<-reached

	p, err := l.Partition("other", 0)
	require.NoError(t, err)
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	assert.NoError(t, err)
	assert.Equal(t, []string{"other"}, l.Topics())
	_, err = l.Partition("slow", 0)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound, "not there until made")
	assert.ErrorIs(t, l.CreateTopic("slow", eventlog.TopicConfig{}), eventlog.ErrTopicExists)
	err = l.CreateTopic("SLOW", eventlog.TopicConfig{})
	assert.ErrorIs(t, err, eventlog.ErrTopicExists)
	assert.ErrorContains(t, err, "only in case")
	assert.ErrorIs(t, l.DeleteTopic(ctx, "slow"), eventlog.ErrTopicNotFound)

	close(resume)
	require.NoError(t, <-created)
	fsys.SetFault(nil)
	assert.Equal(t, []string{"other", "slow"}, l.Topics())
	p, err = l.Partition("slow", 1)
	require.NoError(t, err)
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	assert.NoError(t, err)
}

// A CreateTopic that fails leaves no files, and its name free.
func TestCreateTopicFailureFreesName(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSyncDir {
			return eventlog.ErrInjected
		}
		return nil
	})
	require.ErrorIs(t, l.CreateTopic("t", eventlog.TopicConfig{}), eventlog.ErrInjected)
	fsys.SetFault(nil)
	assert.Empty(t, l.Topics())
	_, err := fsys.Stat("/d/topics/t")
	assert.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	assert.Equal(t, []string{"t"}, l.Topics())
}

func TestTopicConfigSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	cfg := eventlog.TopicConfig{Partitions: 3, Durability: eventlog.DurabilityOS, SegmentBytes: 4096, SegmentAge: time.Hour, MaxBatchBytes: 2048}
	require.NoError(t, l.CreateTopic("events", cfg))
	require.NoError(t, l.Close())

	l = openLog(t, dir, nil)
	assert.Equal(t, []string{"events"}, l.Topics())
	got, err := l.TopicConfig("events")
	require.NoError(t, err)
	assert.Equal(t, cfg, got)
	_, err = l.Partition("events", 2)
	assert.NoError(t, err)
}

// Durations are kept in whole milliseconds, as the metadata file stores
// them: a fraction rounds up, so that what a topic has before a reopen it
// has after, and a value under a millisecond does not come back as 0,
// "inherit" (which, for Retention, kept everything).
func TestTopicConfigDurationsInMilliseconds(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	cfg := eventlog.TopicConfig{SegmentAge: 900 * time.Microsecond, Retention: 500 * time.Microsecond, CleanupPolicy: eventlog.CleanupCompactDelete,
		DeleteRetention: 10 * time.Microsecond, MinCompactionLag: 1500 * time.Microsecond, MaxCompactionLag: 2 * time.Millisecond}
	require.NoError(t, l.CreateTopic("t", cfg))
	want := eventlog.TopicConfig{Partitions: 1, SegmentAge: time.Millisecond, Retention: time.Millisecond, CleanupPolicy: eventlog.CleanupCompactDelete,
		DeleteRetention: time.Millisecond, MinCompactionLag: 2 * time.Millisecond, MaxCompactionLag: 2 * time.Millisecond}
	got, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, want, got, "before reopen")
	cfg.Retention = 1001 * time.Microsecond
	require.NoError(t, l.AlterTopicConfig(context.Background(), "t", cfg))
	want.Retention = 2 * time.Millisecond
	require.NoError(t, l.Close())

	l = openLog(t, dir, nil)
	got, err = l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, want, got, "after reopen")
}

func TestAppendReadRoundTrip(t *testing.T) {
	for _, c := range eventlog.Codecs {
		t.Run(c.String(), func(t *testing.T) {
			l := openLog(t, t.TempDir(), nil)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
			p := partition(t, l, "t", 1)
			ts := time.UnixMilli(1_700_000_000_123)
			in := []eventlog.Record{
				{Key: []byte("k"), Value: []byte("v"), Timestamp: ts},
				{Key: nil, Value: []byte("null key"), Timestamp: ts.Add(time.Millisecond)},
				{Key: []byte("tomb"), Value: nil, Timestamp: ts},
				{Key: []byte{}, Value: []byte{}, Timestamp: ts, Headers: []eventlog.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2", Value: nil}}},
			}
			base, err := p.Append(ctx, in, eventlog.AppendOptions{Compression: c})
			require.NoError(t, err)
			assert.Equal(t, int64(0), base)
			assert.Equal(t, int64(4), p.HighWatermark())
			assert.Equal(t, int64(4), p.LogEndOffset())

			out, err := p.Read(0, 1<<20)
			require.NoError(t, err)
			require.Len(t, out, 4)
			for i, r := range out {
				assert.Equal(t, "t", r.Topic)
				assert.Equal(t, int32(1), r.Partition)
				assert.Equal(t, int64(i), r.Offset)
				assert.Equal(t, in[i].Key, r.Key, "record %d key", i)
				assert.Equal(t, in[i].Value, r.Value, "record %d value", i)
				assert.Equal(t, in[i].Timestamp.UnixMilli(), r.Timestamp.UnixMilli())
				assert.Equal(t, in[i].Headers, r.Headers)
			}
			assert.Nil(t, out[1].Key, "null key stays null")
			assert.NotNil(t, out[3].Key, "empty key stays empty")
			assert.Nil(t, out[2].Value, "tombstone stays null")
			assert.NotNil(t, out[3].Value, "empty value stays empty")

			mid, err := p.Read(2, 1<<20)
			require.NoError(t, err)
			require.Len(t, mid, 2, "a read from the middle of a batch skips the records before")
			assert.Equal(t, int64(2), mid[0].Offset)
		})
	}
}

func TestAppendStampsZeroTimestampsWithoutTouchingCaller(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: func() time.Time { return now }})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	in := []eventlog.Record{rec("a", "1")}
	_, err := p.Append(ctx, in, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.True(t, in[0].Timestamp.IsZero(), "caller's record unchanged")
	out, err := p.Read(0, 100)
	require.NoError(t, err)
	require.Len(t, out, 1)
	assert.Equal(t, now.UnixMilli(), out[0].Timestamp.UnixMilli())
}

// A timestamp whose milliseconds do not fit Kafka's int64 is refused,
// instead of being stored wrapped around (year 1.1e9 read back as year
// -27399002).
func TestAppendRefusesTimestampsOutOfRange(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	for _, ts := range []time.Time{time.Unix(1<<55, 0), time.Unix(-(1 << 55), 0)} {
		_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("v"), Timestamp: ts}}, eventlog.AppendOptions{})
		require.ErrorIs(t, err, eventlog.ErrInvalidRecord, ts.String())
		assert.ErrorContains(t, err, "outside Kafka's milliseconds")
	}
	far := time.UnixMilli(1 << 61)
	_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("v"), Timestamp: far}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	recs, err := p.Read(0, 100)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.True(t, far.Equal(recs[0].Timestamp), "%v read back as %v", far, recs[0].Timestamp)
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 5, eventlog.AppendOptions{})

	_, err := p.Read(-1, 100)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	_, err = p.Read(6, 100)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	assert.Contains(t, err.Error(), `topic "t" partition 0`)
	_, err = p.Read(0, 0)
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)

	recs, err := p.Read(5, 100)
	require.NoError(t, err, "reading at the high watermark is not an error")
	assert.Empty(t, recs)

	recs, err = p.Read(0, 1)
	require.NoError(t, err)
	assert.Len(t, recs, 1, "at least one batch is returned even if larger than maxBytes")
}

// A Partition's MaxBatchBytes is the largest batch an append to it takes:
// Options.MaxBatchBytes, or its default, for a topic without one of its
// own, and the topic's otherwise, through AlterTopicConfig,
// CreatePartitions and a reopen with another Log-wide value.
func TestPartitionMaxBatchBytes(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		l := openLog(t, t.TempDir(), nil)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		p := partition(t, l, "t", 0)
		assert.Equal(t, eventlog.DefaultMaxBatchBytes, p.MaxBatchBytes())
		assertLargestBatch(t, p)
	})

	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{MaxBatchBytes: 4096})
	require.NoError(t, l.CreateTopic("inherits", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("own", eventlog.TopicConfig{MaxBatchBytes: 2048}))
	cfg, err := l.TopicConfig("inherits")
	require.NoError(t, err)
	assert.Zero(t, cfg.MaxBatchBytes, "the topic's configuration holds its own setting only")
	want := map[string]int{"inherits": 4096, "own": 2048}
	check := func(l *eventlog.Log, when string) {
		t.Helper()
		for topic, n := range want {
			p := partition(t, l, topic, 0)
			assert.Equal(t, n, p.MaxBatchBytes(), "%s, topic %q", when, topic)
			assertLargestBatch(t, p)
		}
	}
	check(l, "created")

	for topic := range want {
		cfg, err := l.TopicConfig(topic)
		require.NoError(t, err)
		cfg.Retention, cfg.SegmentBytes = time.Hour, 1<<20
		require.NoError(t, l.AlterTopicConfig(ctx, topic, cfg))
	}
	check(l, "altered")
	require.NoError(t, l.CreatePartitions(ctx, "inherits", 2))
	added := partition(t, l, "inherits", 1)
	assert.Equal(t, 4096, added.MaxBatchBytes(), "a partition added")
	assertLargestBatch(t, added)

	require.NoError(t, l.Close())
	l = openLog(t, dir, &eventlog.Options{MaxBatchBytes: 6000})
	want["inherits"] = 6000
	check(l, "reopened with another Log-wide value")
}

// assertLargestBatch checks that p stores a batch of exactly its
// MaxBatchBytes and refuses one a byte larger.
func assertLargestBatch(t *testing.T, p *eventlog.Partition) {
	t.Helper()
	limit := p.MaxBatchBytes()
	batchOf := func(valueBytes int) (size int64, err error) {
		off, err := p.Append(ctx, []eventlog.Record{{Value: make([]byte, valueBytes)}}, eventlog.AppendOptions{})
		if err != nil {
			return 0, err
		}
		for b, err := range p.Batches(off) {
			require.NoError(t, err)
			return b.Size, nil
		}
		require.Fail(t, "no batch at the offset appended")
		return 0, nil
	}
	// A one-record batch grows byte for byte with its value, its varints
	// being as wide for values this close.
	probe := limit - 100
	size, err := batchOf(probe)
	require.NoError(t, err)
	fits := probe + limit - int(size)
	size, err = batchOf(fits)
	require.NoError(t, err, "a batch of MaxBatchBytes")
	require.Equal(t, int64(limit), size)
	_, err = batchOf(fits + 1)
	assert.ErrorIs(t, err, eventlog.ErrRecordTooLarge, "a batch one byte larger")
}

func TestBadAppends(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{MaxBatchBytes: 1000})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)

	_, err := p.Append(ctx, []eventlog.Record{{Value: make([]byte, 2000)}}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrRecordTooLarge)
	_, err = p.Append(ctx, nil, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrInvalidRecord)
	_, err = p.Append(ctx, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{Compression: 5})
	assert.ErrorIs(t, err, eventlog.ErrUnsupportedCompression)
	_, err = p.Append(ctx, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{Durability: 42})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Append(cancelled, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, context.Canceled)

	assert.Equal(t, int64(0), p.LogEndOffset(), "nothing was stored by the bad appends")
	off, err := p.Append(ctx, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(0), off)

	require.NoError(t, l.Close())
	_, err = p.Append(ctx, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrClosed)
	_, err = p.Read(0, 100)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
}

func TestSegmentsRollBySizeAndReadAcross(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 256}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	const n = 500
	offsets := appendN(t, p, n, eventlog.AppendOptions{})
	for i, off := range offsets {
		require.Equal(t, int64(i), off, "offsets are dense")
	}
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	assert.Greater(t, len(logs), 5, "segments rolled")
	assert.Equal(t, "00000000000000000000.log", filepath.Base(logs[0]))

	check := func(p *eventlog.Partition) {
		all := readAll(t, p, 0)
		require.Equal(t, n, len(all))
		for i, r := range all {
			assert.Equal(t, int64(i), r.Offset)
			assert.Equal(t, fmt.Sprintf("v%d", i), string(r.Value))
		}
		for _, from := range []int64{1, 17, 123, 250, 499} {
			recs, err := p.Read(from, 1)
			require.NoError(t, err)
			require.NotEmpty(t, recs)
			assert.Equal(t, from, recs[0].Offset)
		}
	}
	check(p)
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.True(t, l.Recovery().CleanShutdown)
	assert.Zero(t, l.Recovery().SegmentsScanned)
	check(partition(t, l, "t", 0))
	require.NoError(t, eventlog.Abandon(l))

	l = openLog(t, dir, opts)
	assert.False(t, l.Recovery().CleanShutdown)
	assert.Equal(t, 1, l.Recovery().SegmentsScanned, "only the active segment is scanned")
	p = partition(t, l, "t", 0)
	check(p)
	off, err := p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(n), off)
}

func TestSegmentsRollByAge(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1_700_000_000_000)
	l := openLog(t, dir, &eventlog.Options{Now: func() time.Time { return now }, SegmentAge: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 3, eventlog.AppendOptions{})
	now = now.Add(2 * time.Hour)
	appendN(t, p, 1, eventlog.AppendOptions{})
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	assert.Equal(t, []string{"00000000000000000000.log", "00000000000000000003.log"}, []string{filepath.Base(logs[0]), filepath.Base(logs[len(logs)-1])})
	assert.Len(t, logs, 2)
}

// A segment's age counts from when its first record was appended, not from
// the record's timestamp; after a reopen, from the timestamp.
func TestSegmentAgeCountsFromFirstAppend(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := &eventlog.Options{Now: clk.Now, SegmentAge: time.Hour}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	old := rec("k", "old")
	old.Timestamp = clk.Now().Add(-2 * time.Hour)
	_, err := p.Append(ctx, []eventlog.Record{old}, eventlog.AppendOptions{})
	require.NoError(t, err)
	appendN(t, p, 1, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, []string{"00000000000000000000.log"}, segmentFiles(t, dir), "appended just now")

	require.NoError(t, l.Close())
	l = openLog(t, dir, opts)
	appendN(t, partition(t, l, "t", 0), 1, eventlog.AppendOptions{})
	assert.Equal(t, []string{"00000000000000000000.log", "00000000000000000002.log"}, segmentFiles(t, dir), "first stamped two hours ago")
}

func TestOffsetForTime(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 2048, IndexIntervalBytes: 128})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 300 {
		r := rec("k", fmt.Sprint(i))
		r.Timestamp = base.Add(time.Duration(i) * 10 * time.Millisecond)
		_, err := p.Append(ctx, []eventlog.Record{r}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	for _, i := range []int{0, 1, 57, 150, 299} {
		off, found, err := p.OffsetForTime(base.Add(time.Duration(i) * 10 * time.Millisecond))
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, int64(i), off)
		off, found, err = p.OffsetForTime(base.Add(time.Duration(i)*10*time.Millisecond - 5*time.Millisecond))
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, int64(i), off, "between two timestamps the later record is found")
	}
	_, found, err := p.OffsetForTime(base.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, found)
	off, found, err := p.OffsetForTime(time.Time{})
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(0), off)
}

// Times too far from 1970 for milliseconds in an int64 are still before or
// after every record: the lookup does not wrap around.
func TestOffsetForTimeBeyondMillisecondRange(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 3, eventlog.AppendOptions{})
	_, err := l.DeleteRecords(ctx, "t", 0, 1)
	require.NoError(t, err)

	off, found, err := p.OffsetForTime(time.Unix(-1<<54, 0))
	require.NoError(t, err)
	assert.True(t, found, "every record is after the year -570 million")
	assert.Equal(t, int64(1), off, "the first record after the log start offset")

	_, found, err = p.OffsetForTime(time.Unix(1<<54, 0))
	require.NoError(t, err)
	assert.False(t, found, "every record is before the year 570 million")
}

// DeleteRecords that moves the log start offset past where an OffsetForTime
// is scanning does not fail the lookup: it goes on from the new log start
// offset, and never answers below it.
func TestOffsetForTimeOvertakenByDeleteRecords(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	// 30 records of 64 KiB: a lookup reads them in several reads of 1 MiB.
	// Only offsets 0 and 25 are as new as the time looked up.
	target := time.UnixMilli(1_700_000_000_000)
	for i := range 30 {
		r := eventlog.Record{Key: []byte("k"), Value: make([]byte, 64<<10), Timestamp: target.Add(-time.Hour)}
		if i == 0 || i == 25 {
			r.Timestamp = target
		}
		_, err := p.Append(ctx, []eventlog.Record{r}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	_, err := l.DeleteRecords(ctx, "t", 0, 1)
	require.NoError(t, err)

	// The lookup's first read stops at its mapping of the segment while
	// DeleteRecords moves the log start offset past what that read returns.
	mapping, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpMmap {
			once.Do(func() {
				close(mapping)
				<-proceed
			})
		}
		return nil
	})
	type result struct {
		offset int64
		found  bool
		err    error
	}
	done := make(chan result)
	go func() {
		off, found, err := p.OffsetForTime(target)
		done <- result{off, found, err}
	}()
	<-mapping
	_, err = l.DeleteRecords(ctx, "t", 0, 20)
	require.NoError(t, err)
	close(proceed)
	got := <-done
	require.NoError(t, got.err)
	assert.True(t, got.found)
	assert.Equal(t, int64(25), got.offset)
}

func TestWait(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)

	woke := make(chan error)
	go func() { woke <- p.Wait(ctx, 0) }()
	appendN(t, p, 1, eventlog.AppendOptions{})
	assert.NoError(t, <-woke)

	cctx, cancel := context.WithCancel(ctx)
	go func() { woke <- p.Wait(cctx, 1) }()
	cancel()
	assert.ErrorIs(t, <-woke, context.Canceled)

	go func() { woke <- p.Wait(ctx, 1) }()
	require.NoError(t, l.Close())
	assert.ErrorIs(t, <-woke, eventlog.ErrClosed)
}

func TestConcurrentAppendersShareFsyncs(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	const writers, each = 8, 50
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v := fmt.Sprintf("w%d-%d", w, i)
				off, err := p.Append(ctx, []eventlog.Record{rec("k", v)}, eventlog.AppendOptions{})
				if !assert.NoError(t, err) {
					return
				}
				assert.Greater(t, p.HighWatermark(), off, "an fsync-acknowledged record is below the high watermark")
				mu.Lock()
				seen[off] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, writers*each, "every append got its own offset")
	for _, r := range readAll(t, p, 0) {
		assert.Equal(t, seen[r.Offset], string(r.Value))
	}
}

func TestRecordsAreCopies(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 10, eventlog.AppendOptions{})
	recs, err := p.Read(0, 1<<20)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, os.RemoveAll(dir))
	for i, r := range recs {
		assert.Equal(t, fmt.Sprintf("v%d", i), string(r.Value), "records outlive the log and its files")
		r.Value = append(r.Value, 'x')
	}
	assert.Equal(t, "v1", string(recs[1].Value), "appending to one value does not clobber its neighbour")
}

func TestDurabilityOSTopicVisibleAtOnce(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	off, err := p.Append(ctx, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, off+1, p.HighWatermark())
}

func TestOSAckOnFsyncTopicBecomesVisible(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	off, err := p.Append(ctx, []eventlog.Record{rec("a", "b")}, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, p.Wait(ctx, off), "the background fsync raises the high watermark")
	recs, err := p.Read(off, 100)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
}

var _ = errors.Is

// Close stops every goroutine the Log started: synctest.Test fails if any
// goroutine of the bubble is still blocked when the test function returns.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := eventlog.Open(t.TempDir(), nil)
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
		prod, err := l.NewProducer(nil)
		require.NoError(t, err)
		prod.SendAsync(ctx, eventlog.Record{Topic: "t", Key: []byte("k"), Value: []byte("v")}, nil)
		_, err = prod.Send(ctx, eventlog.Record{Topic: "c", Key: []byte("k"), Value: []byte("v")})
		require.NoError(t, err)
		cons, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest})
		require.NoError(t, err)
		require.NoError(t, cons.Subscribe("t"))
		_, err = cons.Poll(ctx)
		require.NoError(t, err)
		// Close the Log with the producer and consumer still open.
		require.NoError(t, l.Close())
	})
}

// Close releases every file the Log opened, including closed segments
// opened lazily by reads.
func TestCloseLeavesNoOpenFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	openFiles := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(fds)
	}
	dir := t.TempDir()
	before := openFiles()
	for range 2 { // the second round reopens and reads closed segments
		l, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 4096})
		require.NoError(t, err)
		if _, err := l.TopicConfig("t"); err != nil {
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		}
		p := partition(t, l, "t", 1)
		appendN(t, p, 200, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
		require.NotEmpty(t, readAll(t, p, 0))
		require.NoError(t, l.Close())
		assert.Equal(t, before, openFiles(), "file descriptors after Close")
	}
}
