package eventlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// prodLog opens a Log in dir holding topic, closed when the test ends.
func prodLog(t *testing.T, dir string, opts *eventlog.Options, topic string, cfg eventlog.TopicConfig) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	require.NoError(t, l.CreateTopic(topic, cfg))
	return l
}

// prodNew returns a Producer of l, closed when the test ends (before the
// Log, since cleanups run last first).
func prodNew(t *testing.T, l *eventlog.Log, opts *eventlog.ProducerOptions) *eventlog.Producer {
	t.Helper()
	p, err := l.NewProducer(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// prodRecord is a record of topic with key k<i> and value v<i>.
func prodRecord(topic string, i int) eventlog.Record {
	return eventlog.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
}

// prodBatch is one RecordBatch as stored in a segment file.
type prodBatch struct {
	Base  int64
	Count int
	Codec eventlog.Compression
}

// prodBatches reads the RecordBatch headers of a partition's segment files
// (Kafka's format: base offset at byte 0, length at 8, attributes at 21,
// record count at 57).
func prodBatches(t *testing.T, dir, topic string, partition int) []prodBatch {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "topics", topic, fmt.Sprint(partition), "*.log"))
	require.NoError(t, err)
	sort.Strings(files)
	var out []prodBatch
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for pos := 0; pos+61 <= len(data); {
			length := int(binary.BigEndian.Uint32(data[pos+8:]))
			if length == 0 {
				break
			}
			out = append(out, prodBatch{
				Base:  int64(binary.BigEndian.Uint64(data[pos:])),
				Count: int(binary.BigEndian.Uint32(data[pos+57:])),
				Codec: eventlog.Compression(binary.BigEndian.Uint16(data[pos+21:]) & 7),
			})
			pos += 12 + length
		}
	}
	return out
}

// prodRead returns the record at offset.
func prodRead(t *testing.T, l *eventlog.Log, topic string, id int32, offset int64) eventlog.Record {
	t.Helper()
	recs, err := partition(t, l, topic, id).Read(offset, 1<<20)
	require.NoError(t, err)
	for _, r := range recs {
		if r.Offset == offset {
			return r
		}
	}
	require.Failf(t, "record not found", "topic %q partition %d offset %d", topic, id, offset)
	return eventlog.Record{}
}

// assertStored checks that the record stored at md is sent.
func assertStored(t *testing.T, l *eventlog.Log, sent eventlog.Record, md eventlog.RecordMetadata) {
	t.Helper()
	got := prodRead(t, l, md.Topic, md.Partition, md.Offset)
	assert.Equal(t, sent.Topic, got.Topic)
	assert.Equal(t, md.Partition, got.Partition)
	assert.Equal(t, sent.Key == nil, got.Key == nil, "null key stays null, empty stays empty")
	assert.Equal(t, string(sent.Key), string(got.Key))
	assert.Equal(t, sent.Value == nil, got.Value == nil, "null value stays null, empty stays empty")
	assert.Equal(t, string(sent.Value), string(got.Value))
	assert.Equal(t, len(sent.Headers), len(got.Headers))
	for i := range min(len(sent.Headers), len(got.Headers)) {
		assert.Equal(t, sent.Headers[i].Key, got.Headers[i].Key)
		assert.Equal(t, sent.Headers[i].Value == nil, got.Headers[i].Value == nil)
		assert.Equal(t, string(sent.Headers[i].Value), string(got.Headers[i].Value))
	}
	assert.Equal(t, md.Timestamp.UnixMilli(), got.Timestamp.UnixMilli())
}

func prodTestRecords(topic string) []eventlog.Record {
	return []eventlog.Record{
		{Topic: topic, Key: []byte("k1"), Value: []byte("v1"), Headers: []eventlog.Header{{Key: "h", Value: []byte("x")}, {Key: "null", Value: nil}, {Key: "empty", Value: []byte{}}}},
		{Topic: topic, Value: []byte("keyless")},
		{Topic: topic, Key: []byte("k1")}, // tombstone
		{Topic: topic, Key: []byte{}, Value: []byte{}, Timestamp: time.UnixMilli(1_600_000_000_000)},
		{Topic: topic, Key: []byte("k2"), Value: make([]byte, 10_000)},
	}
}

func TestProducerSendStoresRecords(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	dir := t.TempDir()
	l := prodLog(t, dir, &eventlog.Options{Now: func() time.Time { return now }}, "orders", eventlog.TopicConfig{Partitions: 3})
	p := prodNew(t, l, nil)
	for i, r := range prodTestRecords("orders") {
		md, err := p.Send(ctx, r)
		require.NoError(t, err, "record %d", i)
		assert.Equal(t, "orders", md.Topic)
		if r.Key != nil {
			assert.Equal(t, eventlog.KeyPartition(r.Key, 3), md.Partition, "keyed records go to Kafka's partition")
		}
		want := now
		if !r.Timestamp.IsZero() {
			want = r.Timestamp
		}
		assert.Equal(t, want.UnixMilli(), md.Timestamp.UnixMilli(), "a zero timestamp is the send time")
		assert.Greater(t, partition(t, l, "orders", md.Partition).HighWatermark(), md.Offset, "AcksAll: readable when Send returns")
		assertStored(t, l, r, md)
	}
}

func TestProducerSendAsyncCallsBackOncePerRecord(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{Partitions: 4})
	p := prodNew(t, l, nil)
	const n = 2000
	var calls [n]atomic.Int32
	mds := make([]eventlog.RecordMetadata, n)
	errs := make([]error, n)
	for i := range n {
		p.SendAsync(ctx, prodRecord("t", i), func(md eventlog.RecordMetadata, err error) {
			calls[i].Add(1)
			mds[i], errs[i] = md, err
		})
	}
	require.NoError(t, p.Flush(ctx))
	last := map[int32]int64{}
	for i := range n {
		require.Equal(t, int32(1), calls[i].Load(), "record %d: callback count when Flush returned", i)
		require.NoError(t, errs[i])
		assertStored(t, l, prodRecord("t", i), mds[i])
		if off, ok := last[mds[i].Partition]; ok {
			assert.Greater(t, mds[i].Offset, off, "records of one sender are stored in order")
		}
		last[mds[i].Partition] = mds[i].Offset
	}
	require.NoError(t, p.Close())
	for i := range n {
		assert.Equal(t, int32(1), calls[i].Load(), "no second call on Close")
	}
}

func TestProducerFireAndForget(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{Partitions: 2})
	p := prodNew(t, l, &eventlog.ProducerOptions{Partitioner: &eventlog.RoundRobinPartitioner{}})
	const n = 500
	for i := range n {
		p.SendAsync(ctx, prodRecord("t", i), nil)
	}
	require.NoError(t, p.Flush(ctx))
	seen := map[string]string{}
	for id := range int32(2) {
		recs := readAll(t, partition(t, l, "t", id), 0)
		assert.Len(t, recs, n/2, "round robin")
		for _, r := range recs {
			seen[string(r.Key)] = string(r.Value)
		}
	}
	require.Len(t, seen, n)
	for i := range n {
		assert.Equal(t, fmt.Sprintf("v%d", i), seen[fmt.Sprintf("k%d", i)])
	}
}

func TestProducerCopiesRecordsWhenSent(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: time.Hour})
	key, value, header := []byte("key"), []byte("value"), []byte("header")
	p.SendAsync(ctx, eventlog.Record{Topic: "t", Key: key, Value: value, Headers: []eventlog.Header{{Key: "h", Value: header}}}, nil)
	copy(key, "XXX") // the caller reuses its buffers at once
	copy(value, "XXXXX")
	copy(header, "XXXXXX")
	require.NoError(t, p.Flush(ctx))
	got := readAll(t, partition(t, l, "t", 0), 0)
	require.Len(t, got, 1)
	assert.Equal(t, "key", string(got[0].Key))
	assert.Equal(t, "value", string(got[0].Value))
	assert.Equal(t, "header", string(got[0].Headers[0].Value))
}

func TestProducerFlushAppendsLingeringBatches(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: time.Hour})
	var done atomic.Int32
	for i := range 10 {
		p.SendAsync(ctx, prodRecord("t", i), func(_ eventlog.RecordMetadata, err error) {
			assert.NoError(t, err)
			done.Add(1)
		})
	}
	part := partition(t, l, "t", 0)
	assert.Equal(t, int64(0), part.LogEndOffset(), "the batch lingers")
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, int32(10), done.Load(), "every callback returned before Flush")
	assert.Equal(t, int64(10), part.HighWatermark())
	assert.Equal(t, []prodBatch{{Base: 0, Count: 10}}, prodBatches(t, dir, "t", 0))
	require.NoError(t, p.Flush(ctx), "nothing to flush")
}

// prodBatchSize measures the stored size of a batch of records by appending
// them to a fresh log.
func prodBatchSize(t *testing.T, records []eventlog.Record) int {
	t.Helper()
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "size", eventlog.TopicConfig{})
	_, err := partition(t, l, "size", 0).Append(ctx, records, eventlog.AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	files, err := filepath.Glob(filepath.Join(dir, "topics", "size", "0", "*.log"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	info, err := os.Stat(files[0])
	require.NoError(t, err)
	return int(info.Size())
}

func TestProducerBatchBytesBoundaries(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_000)
	rec := func(i, size int) eventlog.Record {
		return eventlog.Record{Topic: "t", Key: fmt.Appendf(nil, "k%02d", i), Value: make([]byte, size), Timestamp: ts}
	}
	var four []eventlog.Record
	for i := range 4 {
		four = append(four, rec(i, 20))
	}
	batchBytes := prodBatchSize(t, four) // exactly four of these records fill a batch

	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{BatchBytes: batchBytes, Linger: time.Hour})
	var sent []eventlog.Record
	send := func(r eventlog.Record) {
		sent = append(sent, r)
		p.SendAsync(ctx, r, func(_ eventlog.RecordMetadata, err error) { assert.NoError(t, err) })
	}
	for i := range 10 { // 4 + 4 full batches, then 2 that wait for Linger
		send(rec(i, 20))
	}
	require.NoError(t, p.Flush(ctx))
	send(rec(10, 20))
	send(rec(11, 20))
	send(rec(12, 2*batchBytes)) // larger than BatchBytes: a batch of its own
	send(rec(13, 20))
	require.NoError(t, p.Flush(ctx))

	assert.Equal(t, []prodBatch{
		{Base: 0, Count: 4}, {Base: 4, Count: 4}, {Base: 8, Count: 2},
		{Base: 10, Count: 2}, {Base: 12, Count: 1}, {Base: 13, Count: 1},
	}, prodBatches(t, dir, "t", 0))
	got := readAll(t, partition(t, l, "t", 0), 0)
	require.Len(t, got, len(sent))
	for i := range sent {
		assert.Equal(t, string(sent[i].Key), string(got[i].Key))
		assert.Len(t, got[i].Value, len(sent[i].Value))
	}
}

func TestProducerLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{})
		p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: 10 * time.Millisecond})
		require.NoError(t, err)
		part := partition(t, l, "t", 0)
		for i := range 3 {
			p.SendAsync(context.Background(), prodRecord("t", i), nil)
		}
		synctest.Wait()
		assert.Equal(t, int64(0), part.LogEndOffset())
		time.Sleep(9 * time.Millisecond) // fake time: advances the bubble's clock
		synctest.Wait()
		assert.Equal(t, int64(0), part.LogEndOffset(), "still lingering")
		p.SendAsync(context.Background(), prodRecord("t", 3), nil)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(4), part.LogEndOffset(), "appended once Linger passed since the batch's first record")
		assert.Equal(t, []prodBatch{{Base: 0, Count: 4}}, prodBatches(t, dir, "t", 0))

		require.NoError(t, p.Close())
		require.NoError(t, l.Close())
	})
}

func TestProducerSendDoesNotLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{})
		p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: time.Hour})
		require.NoError(t, err)
		start := time.Now()
		p.SendAsync(context.Background(), prodRecord("t", 0), nil) // lingers, until Send joins it
		md, err := p.Send(context.Background(), prodRecord("t", 1))
		require.NoError(t, err)
		assert.Equal(t, int64(1), md.Offset)
		assert.Less(t, time.Since(start), time.Hour, "Send did not wait for Linger")
		assert.Equal(t, []prodBatch{{Base: 0, Count: 2}}, prodBatches(t, dir, "t", 0))
		require.NoError(t, p.Close())
		require.NoError(t, l.Close())
	})
}

func TestProducerAcks(t *testing.T) {
	t.Run("all survives power loss", func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		require.NoError(t, fsys.MkdirAll("/log/topics", 0o755))
		for _, d := range []string{"/", "/log", "/log/topics"} {
			require.NoError(t, fsys.SyncDir(d)) // the test is about records, not directories
		}
		l, err := eventlog.Open("/log", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		p, err := l.NewProducer(nil)
		require.NoError(t, err)
		var mds []eventlog.RecordMetadata
		for i := range 3 {
			md, err := p.Send(ctx, prodRecord("t", i))
			require.NoError(t, err)
			assert.Greater(t, partition(t, l, "t", 0).HighWatermark(), md.Offset)
			mds = append(mds, md)
		}
		fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
		require.NoError(t, p.Close())
		_ = eventlog.Abandon(l)
		l, err = eventlog.Open("/log", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		defer l.Close()
		for i, md := range mds {
			assertStored(t, l, prodRecord("t", i), md)
		}
	})
	t.Run("all waits for fsync, leader does not", func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		var logged prodLogBuffer
		logger := slog.New(slog.NewTextHandler(&logged, nil))
		l, err := eventlog.Open("/log", &eventlog.Options{FS: fsys, Logger: logger})
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		fsys.SetFault(eventlog.FailAfter(0, eventlog.OpSync, nil))
		manual := eventlog.ManualPartitioner{}

		leader, err := l.NewProducer(&eventlog.ProducerOptions{Acks: eventlog.AcksLeader, Partitioner: manual})
		require.NoError(t, err)
		md, err := leader.Send(ctx, eventlog.Record{Topic: "t", Partition: 0, Value: []byte("written")})
		require.NoError(t, err, "acks=1 returns once written, before the fsync that fails")
		assert.Greater(t, partition(t, l, "t", 0).LogEndOffset(), md.Offset)

		all, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: manual})
		require.NoError(t, err)
		_, err = all.Send(ctx, eventlog.Record{Topic: "t", Partition: 1, Value: []byte("fsync fails")})
		assert.ErrorIs(t, err, eventlog.ErrInjected, "acks=all waits for the fsync")

		var cbErr error
		all.SendAsync(ctx, eventlog.Record{Topic: "t", Partition: 1, Value: []byte("after the failure")}, func(_ eventlog.RecordMetadata, err error) { cbErr = err })
		require.NoError(t, all.Flush(ctx))
		assert.ErrorIs(t, cbErr, eventlog.ErrInjected, "the failure is sticky, and reaches callbacks")

		all.SendAsync(ctx, eventlog.Record{Topic: "t", Partition: 1, Value: []byte("fire and forget")}, nil)
		require.NoError(t, all.Flush(ctx))
		assert.Contains(t, logged.String(), "records lost", "fire-and-forget failures are logged")

		require.NoError(t, leader.Close())
		require.NoError(t, all.Close())
		_ = l.Close() // reports the failed partitions
	})
	t.Run("none does not wait", func(t *testing.T) {
		dir := t.TempDir()
		l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
		p := prodNew(t, l, &eventlog.ProducerOptions{Acks: eventlog.AcksNone, Linger: time.Hour})
		md, err := p.Send(ctx, prodRecord("t", 0))
		require.NoError(t, err)
		assert.Equal(t, int64(-1), md.Offset, "acks=0 reports no offset")
		assert.Equal(t, int32(0), md.Partition)
		called := false
		p.SendAsync(ctx, prodRecord("t", 1), func(md eventlog.RecordMetadata, err error) {
			called = true
			assert.NoError(t, err)
			assert.Equal(t, int64(-1), md.Offset)
		})
		assert.True(t, called, "acks=0 completes a record once buffered")
		assert.Equal(t, int64(0), partition(t, l, "t", 0).LogEndOffset(), "the records linger")
		require.NoError(t, p.Flush(ctx))
		assert.Equal(t, int64(2), partition(t, l, "t", 0).LogEndOffset(), "written; readable after the Log's background fsync")
	})
	t.Run("none stores what it acknowledged when the context ends", func(t *testing.T) {
		// Send and SendAsync with AcksNone report success once the record
		// is buffered: the context, which bounds only that wait, must not
		// drop the record afterwards — the request context of a handler
		// that returned, say.
		dir := t.TempDir()
		l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
		p := prodNew(t, l, &eventlog.ProducerOptions{Acks: eventlog.AcksNone, Linger: time.Hour})
		c, cancel := context.WithCancel(ctx)
		_, err := p.Send(c, prodRecord("t", 0))
		require.NoError(t, err)
		md, err := prodAsyncNow(t, p, c, prodRecord("t", 1))
		require.NoError(t, err)
		assert.Equal(t, int64(-1), md.Offset)
		cancel()
		require.NoError(t, p.Flush(ctx))
		assert.Equal(t, []string{"v0", "v1"}, valueStrings(readAll(t, partition(t, l, "t", 0), 0)), "both acknowledged records are stored")
	})
	assert.Equal(t, "all", eventlog.AcksAll.String())
	assert.Equal(t, "1", eventlog.AcksLeader.String())
	assert.Equal(t, "0", eventlog.AcksNone.String())
}

// prodLogBuffer collects log lines written from any goroutine.
type prodLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *prodLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *prodLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prodAsyncNow runs SendAsync and returns its result, checking that the
// callback was called exactly once before SendAsync returned.
func prodAsyncNow(t *testing.T, p *eventlog.Producer, c context.Context, r eventlog.Record) (eventlog.RecordMetadata, error) {
	t.Helper()
	var calls int
	var md eventlog.RecordMetadata
	var err error
	p.SendAsync(c, r, func(m eventlog.RecordMetadata, e error) {
		calls++
		md, err = m, e
	})
	require.Equal(t, 1, calls, "callback called on the caller's goroutine before SendAsync returned")
	return md, err
}

func TestProducerErrors(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{Partitions: 2, MaxBatchBytes: 1024})
	p := prodNew(t, l, &eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}, BufferBytes: 4096})

	cases := []struct {
		name string
		ctx  context.Context
		rec  eventlog.Record
		want error
	}{
		{"unknown topic", ctx, eventlog.Record{Topic: "nope", Value: []byte("x")}, eventlog.ErrTopicNotFound},
		{"partition out of range", ctx, eventlog.Record{Topic: "t", Partition: 2, Value: []byte("x")}, eventlog.ErrPartitionNotFound},
		{"negative partition", ctx, eventlog.Record{Topic: "t", Partition: -1, Value: []byte("x")}, eventlog.ErrPartitionNotFound},
		{"record too large for the topic", ctx, eventlog.Record{Topic: "t", Value: make([]byte, 1024)}, eventlog.ErrRecordTooLarge},
		{"context ended", prodCanceledContext(), eventlog.Record{Topic: "t", Value: []byte("x")}, context.Canceled},
		// Partition.Append refuses what Kafka's int64 milliseconds cannot
		// hold (within ±2^62, so that a batch's deltas cannot overflow);
		// so does a Producer, rather than store another timestamp.
		{"timestamp too late", ctx, eventlog.Record{Topic: "t", Timestamp: time.UnixMilli(1 << 62), Value: []byte("x")}, eventlog.ErrInvalidRecord},
		{"timestamp past milliseconds", ctx, eventlog.Record{Topic: "t", Timestamp: time.Unix(1<<62, 0), Value: []byte("x")}, eventlog.ErrInvalidRecord},
		{"timestamp too early", ctx, eventlog.Record{Topic: "t", Timestamp: time.UnixMilli(-1<<62 - 1), Value: []byte("x")}, eventlog.ErrInvalidRecord},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			md, err := p.Send(tc.ctx, tc.rec)
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, int64(-1), md.Offset)
			assert.Equal(t, tc.rec.Topic, md.Topic)
			md, err = prodAsyncNow(t, p, tc.ctx, tc.rec)
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, int64(-1), md.Offset)
		})
	}
	require.NoError(t, p.Flush(ctx))
	for id := range int32(2) {
		assert.Equal(t, int64(0), partition(t, l, "t", id).LogEndOffset(), "nothing was stored")
	}

	t.Run("record larger than BufferBytes", func(t *testing.T) {
		small := prodNew(t, l, &eventlog.ProducerOptions{BufferBytes: 100})
		_, err := small.Send(ctx, eventlog.Record{Topic: "t", Value: make([]byte, 200)})
		assert.ErrorIs(t, err, eventlog.ErrRecordTooLarge)
	})
	t.Run("partitioner out of range", func(t *testing.T) {
		bad := prodNew(t, l, &eventlog.ProducerOptions{Partitioner: eventlog.PartitionerFunc(func(*eventlog.Record, int) int32 { return 5 })})
		_, err := bad.Send(ctx, eventlog.Record{Topic: "t"})
		assert.ErrorIs(t, err, eventlog.ErrPartitionNotFound)
	})
	t.Run("closed producer", func(t *testing.T) {
		q, err := l.NewProducer(nil)
		require.NoError(t, err)
		require.NoError(t, q.Close())
		require.NoError(t, q.Close(), "Close is idempotent")
		_, err = q.Send(ctx, eventlog.Record{Topic: "t"})
		assert.ErrorIs(t, err, eventlog.ErrClosed)
		assert.EqualError(t, err, "eventlog: producer is closed", "the Producer, not the Log, which is open")
		_, err = prodAsyncNow(t, q, ctx, eventlog.Record{Topic: "t"})
		assert.ErrorIs(t, err, eventlog.ErrClosed)
		assert.NoError(t, q.Flush(ctx))
	})
}

func prodCanceledContext() context.Context {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return c
}

func TestProducerTooLargeRecordDoesNotPoisonBatch(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{MaxBatchBytes: 1024})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: time.Hour})
	var errs [3]error
	for i, size := range []int{10, 2000, 10} {
		p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: make([]byte, size)}, func(_ eventlog.RecordMetadata, err error) { errs[i] = err })
	}
	require.NoError(t, p.Flush(ctx))
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], eventlog.ErrRecordTooLarge)
	assert.NoError(t, errs[2])
	assert.Equal(t, []prodBatch{{Base: 0, Count: 2}}, prodBatches(t, dir, "t", 0))
}

func TestProducerCompactedTopicNeedsKeys(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: time.Hour})
	var errs [3]error
	for i, key := range [][]byte{[]byte("a"), nil, []byte("b")} {
		p.SendAsync(ctx, eventlog.Record{Topic: "t", Key: key, Value: []byte("v")}, func(_ eventlog.RecordMetadata, err error) { errs[i] = err })
	}
	require.NoError(t, p.Flush(ctx))
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], eventlog.ErrInvalidRecord, "refused before batching")
	assert.NoError(t, errs[2])
	assert.Equal(t, []prodBatch{{Base: 0, Count: 2}}, prodBatches(t, dir, "t", 0))
}

// TestProducerStoresBatchTheCodecGrewUncompressed checks that a batch which
// the codec makes larger than its topic allows — gzip grows random bytes —
// is stored uncompressed instead of failing.
func TestProducerStoresBatchTheCodecGrewUncompressed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := time.UnixMilli(1_700_000_000_000)
	var recs []eventlog.Record
	for range 8 {
		v := make([]byte, 500)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		recs = append(recs, eventlog.Record{Topic: "t", Key: []byte("k"), Value: v, Timestamp: ts})
	}
	limit := prodBatchSize(t, recs) // the 8 records fill the batch exactly, uncompressed

	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{MaxBatchBytes: limit})
	p := prodNew(t, l, &eventlog.ProducerOptions{BatchBytes: limit, Linger: time.Hour, Compression: eventlog.CompressionGzip})
	var errs [8]error
	for i, r := range recs {
		p.SendAsync(ctx, r, func(_ eventlog.RecordMetadata, err error) { errs[i] = err })
	}
	require.NoError(t, p.Flush(ctx))
	for i, err := range errs {
		assert.NoError(t, err, "record %d", i)
	}
	assert.Equal(t, []prodBatch{{Base: 0, Count: 8, Codec: eventlog.CompressionNone}}, prodBatches(t, dir, "t", 0))
}

func TestProducerInvalidOptions(t *testing.T) {
	l := prodLog(t, t.TempDir(), nil, "t", eventlog.TopicConfig{})
	for name, opts := range map[string]eventlog.ProducerOptions{
		"acks":        {Acks: 7},
		"batch bytes": {BatchBytes: -1},
		"buffer":      {BufferBytes: -1},
		"codec 5":     {Compression: 5},
		"codec":       {Compression: 9},
		// Nil partitioners of the library's types would panic at the
		// first send.
		"nil default partitioner":     {Partitioner: (*eventlog.DefaultPartitioner)(nil)},
		"nil round-robin partitioner": {Partitioner: (*eventlog.RoundRobinPartitioner)(nil)},
		"nil partitioner func":        {Partitioner: eventlog.PartitionerFunc(nil)},
	} {
		_, err := l.NewProducer(&opts)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, name)
	}
	require.NoError(t, l.Close())
	_, err := l.NewProducer(nil)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
}

func TestProducerContextEndsWhileBuffered(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: time.Hour})
	c, cancel := context.WithCancel(ctx)
	var gone, kept error
	var keptMD eventlog.RecordMetadata
	p.SendAsync(c, prodRecord("t", 0), func(_ eventlog.RecordMetadata, err error) { gone = err })
	p.SendAsync(ctx, prodRecord("t", 1), func(md eventlog.RecordMetadata, err error) { keptMD, kept = md, err })
	cancel()
	require.NoError(t, p.Flush(ctx))
	assert.ErrorIs(t, gone, context.Canceled)
	require.NoError(t, kept)
	assert.Equal(t, int64(0), keptMD.Offset)
	recs := readAll(t, partition(t, l, "t", 0), 0)
	require.Len(t, recs, 1, "the record whose context ended was not stored")
	assert.Equal(t, "k1", string(recs[0].Key))
}

// TestProducerFireAndForgetContextEndsIsLogged: a fire-and-forget record
// dropped from its batch because its context ended is a failure like any
// other, and SendAsync promises that those of a nil function are logged.
func TestProducerFireAndForgetContextEndsIsLogged(t *testing.T) {
	var logged prodLogBuffer
	l := prodLog(t, t.TempDir(), &eventlog.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))}, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: time.Hour})
	c, cancel := context.WithCancel(ctx)
	p.SendAsync(c, prodRecord("t", 0), nil)
	p.SendAsync(ctx, prodRecord("t", 1), nil)
	cancel()
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, int64(1), partition(t, l, "t", 0).LogEndOffset(), "the record whose context ended was not stored")
	assert.Contains(t, logged.String(), "records not sent")
	assert.Contains(t, logged.String(), "context canceled")
}

// prodBlocker is a callback that blocks its partition's drainer until
// released, so that a test can hold records in the Producer's buffer.
type prodBlocker struct {
	entered chan struct{}
	release chan struct{}
}

func newProdBlocker() *prodBlocker {
	return &prodBlocker{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *prodBlocker) callback(eventlog.RecordMetadata, error) {
	close(b.entered)
	<-b.release
}

func TestProducerSendContextEndsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		dir := t.TempDir()
		l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{})
		p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: -1})
		require.NoError(t, err)
		block := newProdBlocker()
		p.SendAsync(bg, prodRecord("t", 0), block.callback)
		<-block.entered

		c, cancel := context.WithCancel(bg)
		var sendErr error
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			_, sendErr = p.Send(c, prodRecord("t", 1))
		}()
		synctest.Wait() // Send waits behind the blocked drainer
		cancel()
		<-returned
		assert.ErrorIs(t, sendErr, context.Canceled)
		close(block.release)
		require.NoError(t, p.Flush(bg))
		recs := readAll(t, partition(t, l, "t", 0), 0)
		require.Len(t, recs, 1, "Send returned ctx.Err(): its record is not stored")
		assert.Equal(t, "k0", string(recs[0].Key))
		require.NoError(t, p.Close())
		require.NoError(t, l.Close())
	})
}

func TestProducerFlushContextEnds(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{Linger: -1})
	block := newProdBlocker()
	p.SendAsync(ctx, prodRecord("t", 0), block.callback)
	<-block.entered
	p.SendAsync(ctx, prodRecord("t", 1), nil) // waits behind the held drainer
	assert.ErrorIs(t, p.Flush(prodCanceledContext()), context.Canceled)
	close(block.release)
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, int64(2), partition(t, l, "t", 0).HighWatermark())
}

func TestProducerBufferFullBlocksSenders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		dir := t.TempDir()
		l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{})
		value := make([]byte, 100)
		p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: -1, BufferBytes: 250}) // two records fit
		require.NoError(t, err)
		block := newProdBlocker()
		p.SendAsync(bg, eventlog.Record{Topic: "t", Value: value}, block.callback)
		<-block.entered // the first record's room is free again, but the drainer is held
		p.SendAsync(bg, eventlog.Record{Topic: "t", Value: value}, nil)
		p.SendAsync(bg, eventlog.Record{Topic: "t", Value: value}, nil) // fills the buffer

		var blocked atomic.Bool
		unblocked := make(chan struct{})
		go func() {
			blocked.Store(true)
			p.SendAsync(bg, eventlog.Record{Topic: "t", Value: value}, nil)
			blocked.Store(false)
			close(unblocked)
		}()
		c, cancel := context.WithCancel(bg)
		var cancelled error
		cancelledDone := make(chan struct{})
		go func() {
			p.SendAsync(c, eventlog.Record{Topic: "t", Value: value}, func(_ eventlog.RecordMetadata, err error) { cancelled = err })
			close(cancelledDone)
		}()
		synctest.Wait()
		assert.True(t, blocked.Load(), "SendAsync waits for buffer room")
		cancel()
		<-cancelledDone
		assert.ErrorIs(t, cancelled, context.Canceled, "a context ending while waiting for room fails the record")

		close(block.release) // the drainer appends the next batch and frees room
		<-unblocked
		require.NoError(t, p.Flush(bg))
		assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 4)
		require.NoError(t, p.Close())
		require.NoError(t, l.Close())
	})
}

func TestProducerCloseCompletesEveryRecord(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{Partitions: 3})
	p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: time.Hour})
	require.NoError(t, err)
	const n = 300
	var calls [n]atomic.Int32
	var failed atomic.Int32
	for i := range n {
		p.SendAsync(ctx, prodRecord("t", i), func(_ eventlog.RecordMetadata, err error) {
			calls[i].Add(1)
			if err != nil {
				failed.Add(1)
			}
		})
	}
	require.NoError(t, p.Close())
	for i := range n {
		require.Equal(t, int32(1), calls[i].Load(), "record %d", i)
	}
	assert.Zero(t, failed.Load())
	total := 0
	for id := range int32(3) {
		total += len(readAll(t, partition(t, l, "t", id), 0))
	}
	assert.Equal(t, n, total, "Close flushed every buffered record")
}

func TestProducerLogCloseWhileProducerOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		dir := t.TempDir()
		l, err := eventlog.Open(dir, nil)
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: time.Hour, Partitioner: eventlog.ManualPartitioner{}})
		require.NoError(t, err)

		acked, err := p.Send(bg, eventlog.Record{Topic: "t", Partition: 0, Value: []byte("acked")})
		require.NoError(t, err)
		const n = 20
		var calls, closedErrs atomic.Int32
		for range n {
			p.SendAsync(bg, eventlog.Record{Topic: "t", Partition: 1, Value: []byte("lingering")}, func(_ eventlog.RecordMetadata, err error) {
				calls.Add(1)
				if assert.ErrorIs(t, err, eventlog.ErrClosed) {
					closedErrs.Add(1)
				}
			})
		}
		require.NoError(t, l.Close(), "does not hang on the producer")
		synctest.Wait()
		assert.Equal(t, int32(n), calls.Load(), "buffered records fail once the Log closes")
		assert.Equal(t, int32(n), closedErrs.Load())

		_, err = p.Send(bg, eventlog.Record{Topic: "t", Value: []byte("late")})
		assert.ErrorIs(t, err, eventlog.ErrClosed)
		_, err = prodAsyncNow(t, p, bg, eventlog.Record{Topic: "t", Value: []byte("late")})
		assert.ErrorIs(t, err, eventlog.ErrClosed)
		require.NoError(t, p.Flush(bg))
		require.NoError(t, p.Close())
		assert.Equal(t, int32(n), calls.Load(), "no second call")

		l, err = eventlog.Open(dir, nil)
		require.NoError(t, err)
		assertStored(t, l, eventlog.Record{Topic: "t", Value: []byte("acked")}, acked)
		require.NoError(t, l.Close())
	})
}

func TestProducerCompression(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, &eventlog.ProducerOptions{Compression: eventlog.CompressionZstd, Linger: time.Hour})
	var sent []eventlog.Record
	for i := range 100 {
		r := eventlog.Record{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("a fairly repetitive value, repetitive value")}
		sent = append(sent, r)
		p.SendAsync(ctx, r, nil)
	}
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []prodBatch{{Base: 0, Count: 100, Codec: eventlog.CompressionZstd}}, prodBatches(t, dir, "t", 0))
	got := readAll(t, partition(t, l, "t", 0), 0)
	require.Len(t, got, len(sent))
	for i := range sent {
		assert.Equal(t, string(sent[i].Key), string(got[i].Key))
		assert.Equal(t, string(sent[i].Value), string(got[i].Value))
	}
}

func TestProducerDefaultPartitionerSticksKeylessRecords(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{Partitions: 4})
	p := prodNew(t, l, nil)
	var first eventlog.RecordMetadata
	for i := range 50 {
		md, err := p.Send(ctx, eventlog.Record{Topic: "t", Value: []byte("small")})
		require.NoError(t, err)
		if i == 0 {
			first = md
		}
		assert.Equal(t, first.Partition, md.Partition, "keyless records stick to a partition until BatchBytes went there")
	}
}

// TestProducerConcurrentSenders checks invariants over the history of many
// goroutines sending at once, with Send and SendAsync mixed: every record
// acknowledged is stored once, where its metadata says, offsets are dense
// per partition, and each sender's records keep their order per partition.
func TestProducerConcurrentSenders(t *testing.T) {
	for _, durability := range []eventlog.Durability{eventlog.DurabilityOS, eventlog.DurabilityFsync} {
		t.Run(durability.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := prodLog(t, dir, &eventlog.Options{Durability: durability}, "t", eventlog.TopicConfig{Partitions: 3})
			p := prodNew(t, l, &eventlog.ProducerOptions{BatchBytes: 2048})
			const senders, perSender = 8, 400
			type ack struct {
				md  eventlog.RecordMetadata
				err error
			}
			acks := make([][perSender]ack, senders)
			var wg sync.WaitGroup
			for g := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perSender {
						r := eventlog.Record{Topic: "t", Key: fmt.Appendf(nil, "s%d-%d", g, i%7), Value: fmt.Appendf(nil, "%d/%d", g, i)}
						if i%10 == 0 {
							md, err := p.Send(ctx, r)
							acks[g][i] = ack{md, err}
							continue
						}
						p.SendAsync(ctx, r, func(md eventlog.RecordMetadata, err error) { acks[g][i] = ack{md, err} })
					}
				}()
			}
			wg.Wait()
			require.NoError(t, p.Flush(ctx))

			stored := map[int32][]eventlog.Record{}
			for id := range int32(3) {
				recs := readAll(t, partition(t, l, "t", id), 0)
				for i, r := range recs {
					require.Equal(t, int64(i), r.Offset, "dense offsets")
				}
				stored[id] = recs
			}
			total := 0
			for _, recs := range stored {
				total += len(recs)
			}
			assert.Equal(t, senders*perSender, total, "every record stored once")
			for g := range senders {
				last := map[int32]int64{}
				for i := range perSender {
					a := acks[g][i]
					require.NoError(t, a.err)
					r := stored[a.md.Partition][a.md.Offset]
					require.Equal(t, fmt.Sprintf("%d/%d", g, i), string(r.Value), "metadata points at the record")
					if off, ok := last[a.md.Partition]; ok {
						require.Greater(t, a.md.Offset, off, "a sender's records keep their order")
					}
					last[a.md.Partition] = a.md.Offset
				}
			}
		})
	}
}
