package kafkaserver_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchRequest asks for partitions of topic, each from its offset in
// offsets, with the given limits and no wait.
func fetchRequest(version int16, topic string, offsets map[int32]int64, partMax, maxBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, maxBytes, 1, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for id := range int32(len(offsets)) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = id, offsets[id], partMax, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	return req
}

// storedBatches returns a copy of the stored batches of p from offset to
// the high watermark, every segment's.
func storedBatches(t *testing.T, p *eventlog.Partition, offset int64) []byte {
	t.Helper()
	var out []byte
	for offset < p.HighWatermark() {
		b, release, err := p.ReadBatches(offset, 1<<30)
		require.NoError(t, err)
		out = append(out, b...)
		offset = nextOffset(b, offset)
		release()
	}
	return out
}

// batchSizes returns the sizes of the whole batches of b.
func batchSizes(b []byte) []int {
	var sizes []int
	for len(b) >= 12 {
		n := 12 + int(binary.BigEndian.Uint32(b[8:]))
		sizes = append(sizes, n)
		b = b[n:]
	}
	return sizes
}

func sum(sizes []int) int32 {
	var n int32
	for _, s := range sizes {
		n += int32(s)
	}
	return n
}

// appendBatches appends n batches of one record with a value of size
// bytes.
func appendBatches(t *testing.T, p *eventlog.Partition, n, size int) {
	t.Helper()
	for i := range n {
		v := make([]byte, size)
		v[0] = byte(i)
		_, err := p.Append(context.Background(), []eventlog.Record{{Key: []byte{byte(i)}, Value: v}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
}

// TestFetchEveryVersion fetches a partition spread over several segments,
// and an empty one, in every version the server advertises, on one
// connection: one fetch serves every segment's batches, byte for byte.
func TestFetchEveryVersion(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2, SegmentBytes: 4096}})
	p0, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	appendBatches(t, p0, 40, 300)
	require.Greater(t, f.log.Stats().Partitions[0].Segments, 2)
	want := storedBatches(t, p0, 0)

	r := dialRaw(t, f.addr)
	for version := int16(4); version <= 12; version++ {
		resp := r.roundTrip(fetchRequest(version, "t", map[int32]int64{0: 0, 1: 0}, 1<<20, 50<<20)).(*kmsg.FetchResponse)
		require.Zero(t, resp.ErrorCode)
		require.Len(t, resp.Topics, 1)
		require.Len(t, resp.Topics[0].Partitions, 2)
		full, empty := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		assert.Zero(t, full.ErrorCode, "v%d", version)
		assert.EqualValues(t, 40, full.HighWatermark, "v%d", version)
		assert.EqualValues(t, 40, full.LastStableOffset, "v%d", version)
		assert.Equal(t, want, full.RecordBatches, "v%d: every segment's batches as stored", version)
		assert.Zero(t, empty.ErrorCode, "v%d", version)
		assert.Zero(t, empty.HighWatermark, "v%d", version)
		assert.NotNil(t, empty.RecordBatches, "v%d: empty, not null", version)
		assert.Empty(t, empty.RecordBatches, "v%d", version)
	}
}

// TestFetchAcrossSegmentsLimits checks the limits of a fetch whose
// batches span segments: whole batches only, within the partition's max
// bytes and the response's.
func TestFetchAcrossSegmentsLimits(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2, SegmentBytes: 4096}})
	ctx := testContext(t)
	p0, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	appendBatches(t, p0, 40, 300)
	p1, err := f.log.Partition("t", 1)
	require.NoError(t, err)
	appendBatches(t, p1, 5, 300)
	all := storedBatches(t, p0, 0)
	sizes := batchSizes(all)
	require.Len(t, sizes, 40)
	perSegment := 4096 / sizes[0]
	k := perSegment*2 + 3 // well into the third segment
	upTo := sum(sizes[:k])

	r := dialRaw(t, f.addr)
	fetch := func(offsets map[int32]int64, partMax, maxBytes int32) []kmsg.FetchResponseTopicPartition {
		return r.roundTrip(fetchRequest(12, "t", offsets, partMax, maxBytes)).(*kmsg.FetchResponse).Topics[0].Partitions
	}
	// Partition max bytes, one byte short of batch k+1.
	got := fetch(map[int32]int64{0: 0}, upTo+int32(sizes[k])-1, 50<<20)[0].RecordBatches
	assert.Equal(t, all[:upTo], got)
	// Response max bytes: the first partition takes it all, the second
	// gets nothing (not even a first batch).
	parts := fetch(map[int32]int64{0: 0, 1: 0}, 1<<20, upTo)
	assert.Equal(t, all[:upTo], parts[0].RecordBatches)
	assert.Empty(t, parts[1].RecordBatches)
	assert.EqualValues(t, 5, parts[1].HighWatermark)
	// From the middle of a segment: from the batch holding the offset.
	from := int64(perSegment + 1)
	assert.Equal(t, storedBatches(t, p0, from), fetch(map[int32]int64{0: from}, 1<<20, 50<<20)[0].RecordBatches)
	// A first batch larger than the limits is served whole, alone.
	got = fetch(map[int32]int64{0: 0}, 1, 1)[0].RecordBatches
	assert.Equal(t, all[:sizes[0]], got)

	// kgo reads it all, with limits that cut fetches at every few batches.
	cl := f.client(t, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(1000))
	recs := consume(t, ctx, cl, 45)
	perPartition := map[int32]int{}
	for _, rec := range recs {
		assert.EqualValues(t, perPartition[rec.Partition], rec.Offset)
		perPartition[rec.Partition]++
	}
	assert.Equal(t, map[int32]int{0: 40, 1: 5}, perPartition)
}

// signal is a slog.Handler that reports when a message is logged.
type signal struct {
	msg string
	ch  chan struct{}
}

func newSignal(msg string) *signal { return &signal{msg: msg, ch: make(chan struct{}, 1)} }

func (s *signal) Enabled(context.Context, slog.Level) bool { return true }
func (s *signal) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *signal) WithGroup(string) slog.Handler            { return s }
func (s *signal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == s.msg {
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// wait waits for the message.
func (s *signal) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.ch:
	case <-time.After(testTimeout):
		t.Fatalf("%q was not logged", s.msg)
	}
}

// smallBuffers makes the send buffer of every accepted connection small,
// so that a large response cannot be written before the client reads it.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(64 << 10)
	}
	return c, err
}

// clock is a test's time, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestFetchResponseOutlivesItsSegments deletes the segments a Fetch
// response is being written from, by retention and by DeleteRecords, and
// closes the connection in the middle of a response: the response goes
// out intact, and each segment's file is removed once the response is
// written or abandoned, not before.
func TestFetchResponseOutlivesItsSegments(t *testing.T) {
	for _, tc := range []struct {
		name string
		// remove deletes the segments below the active one while the
		// response is being written.
		remove func(t *testing.T, l *eventlog.Log, c *clock, deleting *signal)
		// closeMidWrite closes the connection instead of reading the
		// response.
		closeMidWrite bool
	}{
		{"retention", func(t *testing.T, _ *eventlog.Log, c *clock, deleting *signal) {
			c.advance(2 * time.Hour)
			deleting.wait(t)
		}, false},
		{"DeleteRecords", deleteRecords, false},
		{"connection closed", deleteRecords, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := &clock{now: time.UnixMilli(1_700_000_000_000)}
			deleting := newSignal("eventlog: retention deleting segments")
			l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS, Now: c.Now,
				RetentionCheckInterval: time.Millisecond, Logger: slog.New(deleting)})
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, SegmentBytes: 256 << 10, Retention: time.Hour}))
			p, err := l.Partition("t", 0)
			require.NoError(t, err)
			appendBatches(t, p, 128, 32<<10)
			want := storedBatches(t, p, 0)
			first := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
			require.FileExists(t, first)

			writeFailed := newSignal("kafkaserver: write failed")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			f := serveOn(t, smallBuffers{ln}, l, &kafkaserver.Options{Logger: slog.New(writeFailed)})
			r := dialRaw(t, f.addr)
			require.NoError(t, r.c.(*net.TCPConn).SetReadBuffer(256<<10))
			r.send(fetchRequest(12, "t", map[int32]int64{0: 0}, 8<<20, 8<<20))
			size := r.receiveSize()
			require.Greater(t, int(size), len(want), "the response is being written")

			tc.remove(t, l, c, deleting)
			require.Positive(t, p.LogStartOffset())
			assert.FileExists(t, first, "the response being written holds its segments")

			if tc.closeMidWrite {
				require.NoError(t, r.c.Close())
				writeFailed.wait(t) // logged once the response is given up
				assert.NoFileExists(t, first, "an abandoned response lets go of its segments")
				return
			}
			resp := kmsg.NewPtrFetchResponse()
			resp.SetVersion(12)
			r.receiveBody(size, resp)
			assert.Equal(t, want, resp.Topics[0].Partitions[0].RecordBatches, "intact")
			api := kmsg.NewPtrApiVersionsRequest()
			api.SetVersion(3)
			api.ClientSoftwareName, api.ClientSoftwareVersion = "test", "1.0"
			r.roundTrip(api) // the response before it was written and let go
			if tc.name == "retention" {
				// Retention removes what nothing holds once it is done,
				// which Close waits for.
				require.NoError(t, f.srv.Close())
				require.NoError(t, l.Close())
			}
			assert.NoFileExists(t, first, "a written response lets go of its segments")
		})
	}
}

func deleteRecords(t *testing.T, l *eventlog.Log, _ *clock, _ *signal) {
	t.Helper()
	_, err := l.DeleteRecords(context.Background(), "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
}

// TestFetchDamagedBatch serves a batch whose records were damaged on disk:
// by default as it is stored, for the client to find the damage, as a
// Kafka broker does; with Options.CheckFetchCRCs as KAFKA_STORAGE_ERROR.
func TestFetchDamagedBatch(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, SegmentBytes: 16 << 10}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	appendBatches(t, p, 200, 100)
	require.NoError(t, l.Close())
	// The first batch of the first segment, sealed and below its last
	// index entry: neither Open nor loading the index scans it.
	first := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
	data, err := os.ReadFile(first)
	require.NoError(t, err)
	data[70] ^= 0x40 // in the first record
	require.NoError(t, os.WriteFile(first, data, 0o644))
	l, err = eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	p, err = l.Partition("t", 0)
	require.NoError(t, err)
	ctx := testContext(t)

	t.Run("default", func(t *testing.T) {
		f := serve(t, l, nil)
		resp := dialRaw(t, f.addr).roundTrip(fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 50<<20)).(*kmsg.FetchResponse)
		part := resp.Topics[0].Partitions[0]
		require.Zero(t, part.ErrorCode)
		require.Greater(t, len(part.RecordBatches), len(data))
		assert.Equal(t, data, part.RecordBatches[:len(data)], "as stored, damage included")
		cl := f.client(t, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		errs := cl.PollFetches(ctx).Errors()
		require.NotEmpty(t, errs, "kgo checks the CRC")
		assert.ErrorContains(t, errs[0].Err, "crc")
	})
	t.Run("CheckFetchCRCs", func(t *testing.T) {
		failed := newSignal("kafkaserver: fetch failed")
		f := serve(t, l, &kafkaserver.Options{CheckFetchCRCs: true, Logger: slog.New(failed)})
		r := dialRaw(t, f.addr)
		resp := r.roundTrip(fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 50<<20)).(*kmsg.FetchResponse)
		part := resp.Topics[0].Partitions[0]
		assert.Equal(t, kerr.KafkaStorageError.Code, part.ErrorCode)
		assert.Empty(t, part.RecordBatches)
		failed.wait(t)
		// Past the damage, the rest is served.
		resp = r.roundTrip(fetchRequest(12, "t", map[int32]int64{0: 1}, 1<<20, 50<<20)).(*kmsg.FetchResponse)
		part = resp.Topics[0].Partitions[0]
		require.Zero(t, part.ErrorCode)
		assert.Equal(t, storedBatches(t, p, 1), part.RecordBatches)
	})
}

// fetchMentions is a Fetch (v11, no wait) of the partitions mentions
// names, in order, repeats included, each with its offset and partition
// max bytes.
func fetchMentions(maxBytes int32, mentions ...fetchMention) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, maxBytes, 1, 0
	for _, m := range mentions {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != m.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = m.topic
			req.Topics = append(req.Topics, rt)
		}
		rt := &req.Topics[len(req.Topics)-1]
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = m.partition, m.offset, m.partMax
		rt.Partitions = append(rt.Partitions, rp)
	}
	return req
}

type fetchMention struct {
	topic     string
	partition int32
	offset    int64
	partMax   int32
}

// TestFetchDuplicatesAndMaxBytes checks that a Fetch naming a partition
// more than once answers it once, as Kafka's broker does, whose request's
// partitions are a map: in the place of the first mention, with the
// offset and limits of the last. And that a response's max bytes of 0 or
// less, or above Options.FetchMaxBytes, is capped to it (Kafka's
// fetch.max.bytes), so that a request of a few hundred bytes cannot ask
// for a response of a GiB.
func TestFetchDuplicatesAndMaxBytes(t *testing.T) {
	const maxBytes = 8 << 10
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{Partitions: 1}))
	f := serve(t, l, &kafkaserver.Options{FetchMaxBytes: maxBytes})
	p0, err := l.Partition("t", 0)
	require.NoError(t, err)
	appendBatches(t, p0, 40, 1000)
	all := storedBatches(t, p0, 0)
	sizes := batchSizes(all)
	fit := 0 // the whole batches that fit in maxBytes
	for fit < len(sizes) && sum(sizes[:fit+1]) <= maxBytes {
		fit++
	}
	require.Less(t, fit, len(sizes), "more stored than a response may hold")
	for _, id := range []struct {
		topic string
		p     int32
	}{{"t", 1}, {"u", 0}} {
		p, err := l.Partition(id.topic, id.p)
		require.NoError(t, err)
		appendBatches(t, p, 3, 100)
	}

	r := dialRaw(t, f.addr)
	for _, requested := range []int32{0, -1, maxBytes + 1, math.MaxInt32} {
		var mentions []fetchMention
		for range 50 {
			mentions = append(mentions, fetchMention{"t", 0, 0, 1 << 30})
		}
		r.send(fetchMentions(requested, mentions...))
		size := r.receiveSize()
		assert.LessOrEqual(t, size, uint32(maxBytes+200), "max bytes %d: response size", requested)
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(11)
		r.receiveBody(size, resp)
		require.Len(t, resp.Topics, 1, "max bytes %d", requested)
		require.Len(t, resp.Topics[0].Partitions, 1, "max bytes %d: partition 0 once", requested)
		assert.Equal(t, all[:sum(sizes[:fit])], resp.Topics[0].Partitions[0].RecordBatches, "max bytes %d", requested)
	}

	// Mentions spread over the request, of a topic listed twice: each
	// partition once, where it was first named, with what it was last
	// asked.
	resp := r.roundTrip(fetchMentions(maxBytes,
		fetchMention{"t", 0, 0, 1 << 20},
		fetchMention{"t", 1, 0, 1 << 20},
		fetchMention{"u", 0, 0, 1 << 20},
		fetchMention{"t", 0, 38, 1 << 20},
		fetchMention{"u", 0, 1, 1 << 20},
		fetchMention{"t", 0, 39, 1 << 20},
	)).(*kmsg.FetchResponse)
	type answer struct {
		topic     string
		partition int32
		first     int64 // base offset of the first batch
		batches   int
	}
	var got []answer
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			require.Zero(t, rp.ErrorCode)
			require.NotEmpty(t, rp.RecordBatches)
			got = append(got, answer{rt.Topic, rp.Partition, int64(binary.BigEndian.Uint64(rp.RecordBatches)), len(batchSizes(rp.RecordBatches))})
		}
	}
	assert.Equal(t, []answer{{"t", 0, 39, 1}, {"t", 1, 0, 3}, {"u", 0, 1, 2}}, got)
	assert.Len(t, resp.Topics, 2, "t, then u")

	for _, bad := range []int{-1, 1<<30 + 1} {
		_, err := kafkaserver.New(l, &kafkaserver.Options{FetchMaxBytes: bad})
		assert.Error(t, err, "FetchMaxBytes %d", bad)
	}
}

// TestFetchOffsetOutOfRange checks that a fetch from past the high
// watermark answers OFFSET_OUT_OF_RANGE at every isolation level, from
// the largest offset too, and one from the high watermark answers nothing
// without an error.
func TestFetchOffsetOutOfRange(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	appendBatches(t, p, 10, 10)
	r := dialRaw(t, f.addr)
	for _, isolation := range []int8{0, 1} {
		for offset, want := range map[int64]int16{
			10:            0,
			11:            kerr.OffsetOutOfRange.Code,
			1 << 40:       kerr.OffsetOutOfRange.Code,
			math.MaxInt64: kerr.OffsetOutOfRange.Code,
			-1:            kerr.OffsetOutOfRange.Code,
		} {
			req := fetchRequest(12, "t", map[int32]int64{0: offset}, 1<<20, 1<<20)
			req.IsolationLevel = isolation
			part := r.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
			assert.Equal(t, want, part.ErrorCode, "isolation level %d, offset %d", isolation, offset)
			assert.Empty(t, part.RecordBatches, "isolation level %d, offset %d", isolation, offset)
		}
	}
}

// TestFetchOffsetOutOfRangeAfterBudget checks that a partition fetched
// from an offset out of range answers OFFSET_OUT_OF_RANGE, with its log
// start offset, even when the partitions before it took the whole
// response's max bytes, as Kafka checks every partition's offset: the
// consumer learns of it, and resets, at once, not only once it fetches
// that partition first.
func TestFetchOffsetOutOfRangeAfterBudget(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 3}})
	ctx := testContext(t)
	for id := range int32(3) {
		p, err := f.log.Partition("t", id)
		require.NoError(t, err)
		appendBatches(t, p, 10, 1000)
	}
	_, err := f.log.DeleteRecords(ctx, "t", 2, 5)
	require.NoError(t, err)
	cl := f.client(t)
	// Partition 0 takes the whole budget, and more: its first batch is
	// served whole. 1 is past its end, 2 below its
	// start.
	req := fetchRequest(12, "t", map[int32]int64{0: 0, 1: 11, 2: 0}, 1<<20, 500)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	parts := resp.Topics[0].Partitions
	require.Len(t, parts, 3)
	assert.Zero(t, parts[0].ErrorCode)
	assert.NotEmpty(t, parts[0].RecordBatches)
	assert.Equal(t, kerr.OffsetOutOfRange.Code, parts[1].ErrorCode, "past the end: %v", kerr.ErrorForCode(parts[1].ErrorCode))
	assert.Equal(t, kerr.OffsetOutOfRange.Code, parts[2].ErrorCode, "below the start: %v", kerr.ErrorForCode(parts[2].ErrorCode))
	assert.EqualValues(t, 5, parts[2].LogStartOffset)
	assert.Empty(t, parts[1].RecordBatches)
	assert.Empty(t, parts[2].RecordBatches)
}

// TestFetchWaitEndsWhenTopicReplaced checks that a fetch waiting for
// records on a topic that is deleted, and created again before the fetch
// reads once more, is answered then, as Kafka ends a fetch waiting on a
// partition that goes, rather than at its max wait: it watched the
// partitions of the topic that is gone.
func TestFetchWaitEndsWhenTopicReplaced(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	ctx := testContext(t)
	waiting, replaced := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// Set before the server's goroutines start, removed after they end
	// (cleanups run last first).
	kafkaserver.SetFetchWaitHook(func() {
		once.Do(func() {
			close(waiting)
			<-replaced
		})
	})
	t.Cleanup(func() { kafkaserver.SetFetchWaitHook(nil) })
	f := serve(t, l, nil)

	r := dialRaw(t, f.addr)
	req := fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)
	req.MaxWaitMillis = int32(time.Hour / time.Millisecond)
	r.send(req)
	select {
	case <-waiting:
	case <-ctx.Done():
		t.Fatal("the fetch did not wait")
	}
	// The deletion wakes the fetch, which reads again only once the
	// topic is back.
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	close(replaced)

	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(12)
	r.receive(resp) // within the connection's deadline, testTimeout
	require.Len(t, resp.Topics, 1)
	require.Len(t, resp.Topics[0].Partitions, 1)
	assert.Zero(t, resp.Topics[0].Partitions[0].ErrorCode, "%v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	assert.Zero(t, resp.Topics[0].Partitions[0].HighWatermark)
}

// TestFetchSessions checks fetch sessions (KIP-227) as Kafka's broker
// answers them when it holds none of the client's: a full fetch (session
// epoch 0, or -1 to close a session) is served whatever session ID it
// names, any session it names being closed; an incremental one (epoch 1
// or more) names a session the server does not have, and is answered
// FETCH_SESSION_ID_NOT_FOUND, even with session ID 0.
func TestFetchSessions(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	_, err = p.Append(testContext(t), []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	r := dialRaw(t, f.addr)
	for _, tc := range []struct {
		id    int32
		epoch int32
		code  int16
	}{
		{0, -1, 0},
		{0, 0, 0},
		{7, 0, 0},
		{7, -1, 0},
		{0, 1, kerr.FetchSessionIDNotFound.Code},
		{7, 1, kerr.FetchSessionIDNotFound.Code},
		{7, 5, kerr.FetchSessionIDNotFound.Code},
	} {
		req := fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)
		req.SessionID, req.SessionEpoch = tc.id, tc.epoch
		resp := r.roundTrip(req).(*kmsg.FetchResponse)
		assert.Equal(t, tc.code, resp.ErrorCode, "session %d epoch %d: %v", tc.id, tc.epoch, kerr.ErrorForCode(resp.ErrorCode))
		assert.Zero(t, resp.SessionID, "session %d epoch %d", tc.id, tc.epoch)
		if tc.code == 0 {
			require.Len(t, resp.Topics, 1, "session %d epoch %d", tc.id, tc.epoch)
			assert.NotEmpty(t, resp.Topics[0].Partitions[0].RecordBatches, "session %d epoch %d", tc.id, tc.epoch)
		} else {
			assert.Empty(t, resp.Topics, "session %d epoch %d", tc.id, tc.epoch)
		}
	}
}

// TestFetchStorageErrorBeforeV6 checks that a Fetch v4 or v5, whose
// clients need not know KAFKA_STORAGE_ERROR (which they would take for
// a fatal unknown error), is answered NOT_LEADER_OR_FOLLOWER in its
// place, which they retry after a metadata refresh, as Kafka's broker
// answers it; from v6 on, KAFKA_STORAGE_ERROR. The storage error here is
// the Log's, closed under the server.
func TestFetchStorageErrorBeforeV6(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	f := serve(t, l, nil)
	require.NoError(t, l.Close())
	r := dialRaw(t, f.addr)
	for v, want := range map[int16]int16{
		4:  kerr.NotLeaderForPartition.Code,
		5:  kerr.NotLeaderForPartition.Code,
		6:  kerr.KafkaStorageError.Code,
		12: kerr.KafkaStorageError.Code,
	} {
		resp := r.roundTrip(fetchRequest(v, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)).(*kmsg.FetchResponse)
		require.Len(t, resp.Topics, 1, "v%d", v)
		require.Len(t, resp.Topics[0].Partitions, 1, "v%d", v)
		got := resp.Topics[0].Partitions[0].ErrorCode
		assert.Equal(t, want, got, "v%d: %v", v, kerr.ErrorForCode(got))
	}
}

// counter is a slog.Handler that counts the lines logged with each
// message.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Enabled(context.Context, slog.Level) bool { return true }
func (c *counter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *counter) WithGroup(string) slog.Handler            { return c }
func (c *counter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[r.Message]++
	return nil
}

func (c *counter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[msg]
}

// TestFetchFromClosedLogLogsOnce closes the Log under a running Server
// and fetches two partitions, three times: every partition is answered
// KAFKA_STORAGE_ERROR, and the Log being closed is logged once, not for
// each partition of each fetch.
func TestFetchFromClosedLogLogsOnce(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	logged := &counter{}
	f := serve(t, l, &kafkaserver.Options{Logger: slog.New(logged)})
	require.NoError(t, l.Close())
	r := dialRaw(t, f.addr)
	for range 3 {
		resp := r.roundTrip(fetchRequest(11, "t", map[int32]int64{0: 0, 1: 0}, 1<<20, 1<<20)).(*kmsg.FetchResponse)
		require.Len(t, resp.Topics, 1)
		for _, p := range resp.Topics[0].Partitions {
			assert.Equal(t, kerr.KafkaStorageError.Code, p.ErrorCode, "partition %d", p.Partition)
		}
	}
	assert.Equal(t, 1, logged.count("kafkaserver: fetch failed")+logged.count("kafkaserver: the Log is closed"), "lines logged for the closed Log")
}
