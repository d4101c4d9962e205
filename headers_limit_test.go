package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// emptyHeadersRecord appends to dst the record at offset delta delta of a
// batch, with a null key and value and n empty headers (key "", value
// null): 2 bytes each in the batch, a 40-byte Header each in a Record.
func emptyHeadersRecord(dst []byte, delta, n int) []byte {
	body := []byte{0, 0} // attributes, timestamp delta
	body = appendVarint(body, int64(delta))
	body = append(body, 1, 1) // null key, null value
	body = appendVarint(body, int64(n))
	body = append(body, bytes.Repeat([]byte{0, 1}, n)...)
	dst = appendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// compressed returns area compressed with c.
func compressed(t *testing.T, area []byte, c Compression) []byte {
	t.Helper()
	if c == CompressionNone {
		return area
	}
	out, err := compress(nil, area, c)
	require.NoError(t, err)
	return out
}

// TestHostileEmptyHeadersAreNotCopied: a record of millions of empty
// headers, 2 bytes each in its batch, made a copying read allocate a
// 40-byte Header for each: a gigabyte for 54 MB of batch, and as much for
// a few KiB of zstd. The copying reads now refuse a batch of more headers
// than maxReadHeaders (1 GiB of them) before allocating them, with an
// error that is no corruption and names the record; views read it.
func TestHostileEmptyHeadersAreNotCopied(t *testing.T) {
	n := maxReadHeaders + 1
	area := emptyHeadersRecord(nil, 0, n)
	for _, c := range []Compression{CompressionNone, CompressionZstd} {
		t.Run(c.String(), func(t *testing.T) {
			batch := compressed(t, area, c)
			t.Logf("%d headers: %d bytes of records, %d as %s", n, len(area), len(batch), c)
			dir := hostileLog(t, hostileBatch(3, 1, c, batch))
			batch = nil
			l, err := Open(dir, nil)
			require.NoError(t, err)
			defer func() { require.NoError(t, l.Close()) }()
			p, err := l.Partition("t", 0)
			require.NoError(t, err)
			// What a read may allocate: the decompressed records, and
			// little more.
			allowed := uint64(hostileAllocCap)
			if c != CompressionNone {
				allowed += uint64(len(area))
			}
			checkErr := func(name string, err error) {
				t.Helper()
				require.ErrorIs(t, err, ErrRecordTooLarge, name)
				var ce *CorruptError
				assert.False(t, errors.As(err, &ce), "%s: reported as corruption: %v", name, err)
				for _, want := range []string{`topic "t" partition 0`, "offset 3", strconv.Itoa(n) + " headers", strconv.Itoa(maxReadHeaders), "Views"} {
					assert.Contains(t, err.Error(), want, name)
				}
			}

			var recs []Record
			used := allocated(func() { recs, err = p.Read(3, 1<<20) })
			t.Logf("Read allocated %d bytes", used)
			assert.Less(t, used, allowed, "bytes Read allocated")
			checkErr("Read", err)
			assert.Empty(t, recs)

			cons, err := l.NewConsumer(nil)
			require.NoError(t, err)
			defer cons.Close()
			require.NoError(t, cons.Assign(TopicPartition{Topic: "t", Partition: 0}))
			require.NoError(t, cons.Seek(TopicPartition{Topic: "t", Partition: 0}, 3))
			used = allocated(func() {
				for _, e := range cons.ReadToEnd(context.Background()) {
					err = e
					if e != nil {
						break
					}
				}
			})
			t.Logf("ReadToEnd allocated %d bytes", used)
			assert.Less(t, used, allowed, "bytes ReadToEnd allocated")
			checkErr("ReadToEnd", err)
			used = allocated(func() { recs, err = cons.Poll(context.Background()) })
			assert.Less(t, used, allowed, "bytes Poll allocated")
			checkErr("Poll", err)
			assert.Empty(t, recs)

			// Nothing is lost: views read the record, and the consumer's
			// position stayed at it.
			headers := 0
			for v, err := range cons.ViewsToEnd(context.Background()) {
				require.NoError(t, err)
				assert.Equal(t, int64(3), v.Offset)
				assert.Equal(t, n, v.HeaderCount())
				for key, value := range v.Headers() {
					if key != "" || value != nil {
						t.Fatalf("header %d: %q=%q", headers, key, value)
					}
					headers++
				}
			}
			assert.Equal(t, n, headers)
			recs, err = p.Read(0, 1)
			require.NoError(t, err)
			assert.Equal(t, "a", string(recs[0].Value))
		})
	}
}

// TestAppendRefusesMoreHeadersThanABatchMayHold: an append took a batch of
// millions of empty headers, which count for nothing in a record's size,
// within the limit on what the batch decompresses to; a copying read of it
// made a 40-byte Header of each. Append, AppendBatch (what the Kafka
// listener's produce calls) and the Producer now refuse a batch of more
// headers than maxAppendHeaders, and take one of that many, which reads
// back.
func TestAppendRefusesMoreHeadersThanABatchMayHold(t *testing.T) {
	_, p := tempPartition(t)
	var err error
	ctx := context.Background()
	limit := maxAppendHeaders(DefaultMaxBatchBytes)
	two := fmt.Sprintf("record 1 has %d headers, %d with those of the records before it", limit/2+2, limit/2+limit/2+2)
	empty := func(n int) []Header { return make([]Header, n) }

	refused := func(name string, err error, want ...string) {
		t.Helper()
		if assert.ErrorIs(t, err, ErrRecordTooLarge, name) {
			for _, w := range append(want, strconv.Itoa(limit)) {
				assert.Contains(t, err.Error(), w, name)
			}
		}
		assert.Zero(t, p.HighWatermark(), "%s: stored", name)
	}
	_, err = p.Append(ctx, []Record{{Headers: empty(limit + 1)}}, AppendOptions{Compression: CompressionZstd})
	refused("Append of one record", err, fmt.Sprintf("record 0 has %d headers", limit+1))
	_, err = p.Append(ctx, []Record{{Headers: empty(limit / 2)}, {Headers: empty(limit/2 + 2)}}, AppendOptions{Compression: CompressionZstd})
	refused("Append of two records", err, two)

	area := emptyHeadersRecord(nil, 0, limit/2)
	area = emptyHeadersRecord(area, 1, limit/2+2)
	_, err = p.AppendBatch(ctx, hostileBatch(0, 2, CompressionZstd, compressed(t, area, CompressionZstd)), AppendOptions{})
	refused("AppendBatch", err, two)

	// As many as a batch may hold: stored, and read back by a copying read.
	area = emptyHeadersRecord(nil, 0, limit/2)
	area = emptyHeadersRecord(area, 1, limit-limit/2)
	_, err = p.AppendBatch(ctx, hostileBatch(0, 2, CompressionZstd, compressed(t, area, CompressionZstd)), AppendOptions{})
	require.NoError(t, err)
	_, err = p.Append(ctx, []Record{{Headers: empty(limit)}}, AppendOptions{Compression: CompressionZstd})
	require.NoError(t, err)
	for offset, n := range []int{limit / 2, limit - limit/2, limit} {
		recs, err := p.Read(int64(offset), 1)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Len(t, recs[0].Headers, n)
	}
}

// TestThousandHeadersRoundTrip: a record of 1,000 headers (keys of every
// length up to 1,000 bytes, values null, empty and not) comes back byte
// for byte from Read, Poll, Records, views and Clone, appended by Append,
// a Producer or AppendBatch, compressed or not.
func TestThousandHeadersRoundTrip(t *testing.T) {
	headers := make([]Header, 1000)
	for i := range headers {
		headers[i].Key = strings.Repeat("k", i%7) + strconv.Itoa(i)
		switch i % 3 {
		case 0: // null
		case 1:
			headers[i].Value = []byte{}
		default:
			headers[i].Value = bytes.Repeat([]byte{byte(i)}, i)
		}
	}
	headers[999].Key = "" // an empty key
	want := Record{Key: []byte("key"), Value: []byte("value"), Headers: headers}

	l, p := tempPartition(t)
	ctx := context.Background()
	for _, c := range []Compression{CompressionNone, CompressionZstd} {
		_, err := p.Append(ctx, []Record{want}, AppendOptions{Compression: c})
		require.NoError(t, err)
		prod, err := l.NewProducer(&ProducerOptions{Compression: c})
		require.NoError(t, err)
		r := want
		r.Topic = "t"
		_, err = prod.Send(ctx, r)
		require.NoError(t, err)
		require.NoError(t, prod.Close())
	}
	batches, release, err := p.ReadBatches(0, 1<<30)
	require.NoError(t, err)
	batches = bytes.Clone(batches)
	release()
	for len(batches) > 0 {
		h, err := parseBatchHeader(batches)
		require.NoError(t, err)
		b := bytes.Clone(batches[:h.size()])
		batches = batches[h.size():]
		_, err = p.AppendBatch(ctx, b, AppendOptions{})
		require.NoError(t, err)
	}
	const n = 8
	require.Equal(t, int64(n), p.HighWatermark())

	same := func(name string, got Record) {
		t.Helper()
		assert.Equal(t, want.Key, got.Key, name)
		assert.Equal(t, want.Value, got.Value, name)
		assert.Equal(t, want.Headers, got.Headers, name) // nil and empty values told apart
	}
	recs, err := p.Read(0, 1<<30)
	require.NoError(t, err)
	require.Len(t, recs, n)
	for i, r := range recs {
		same(fmt.Sprintf("Read %d", i), r)
	}
	i := 0
	for v, err := range p.Views(0) {
		require.NoError(t, err)
		same(fmt.Sprintf("Clone %d", i), v.Clone())
		j := 0
		for key, value := range v.Headers() {
			assert.Equal(t, headers[j], Header{Key: key, Value: value}, "view %d header %d", i, j)
			j++
		}
		assert.Equal(t, len(headers), j)
		i++
	}
	assert.Equal(t, n, i)

	cons, err := l.NewConsumer(nil)
	require.NoError(t, err)
	defer cons.Close()
	require.NoError(t, cons.Assign(TopicPartition{Topic: "t", Partition: 0}))
	require.NoError(t, cons.SeekToBeginning(TopicPartition{Topic: "t", Partition: 0}))
	i = 0
	for r, err := range cons.ReadToEnd(ctx) {
		require.NoError(t, err)
		same(fmt.Sprintf("ReadToEnd %d", i), r)
		i++
	}
	assert.Equal(t, n, i)
	require.NoError(t, cons.SeekToBeginning(TopicPartition{Topic: "t", Partition: 0}))
	polled, err := cons.Poll(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, polled)
	for i, r := range polled {
		same(fmt.Sprintf("Poll %d", i), r)
	}
}

// TestAppendHeadersReadBack: whatever MaxBatchBytes a batch was appended
// under, a copying read makes its headers.
func TestAppendHeadersReadBack(t *testing.T) {
	for _, b := range []int{batchHeaderSize + 16, 1 << 10, DefaultMaxBatchBytes, 16 << 20, 64 << 20, math.MaxInt32 / 2} {
		assert.LessOrEqual(t, maxAppendHeaders(b), maxReadHeaders, "max batch bytes %d", b)
		assert.Positive(t, maxAppendHeaders(b))
	}
}

// TestOffsetForTimeCopiesNoHeaders: OffsetForTime (Consumer.SeekToTime,
// the Kafka listener's ListOffsets) looked at timestamps through copying
// reads, making a 40-byte Header of every header of the batches it passed:
// 70 MB for a batch of as many empty headers as an append takes. It reads
// them in place now.
func TestOffsetForTimeCopiesNoHeaders(t *testing.T) {
	_, p := tempPartition(t)
	var err error
	at := time.UnixMilli(1_700_000_000_000)
	_, err = p.Append(context.Background(), []Record{
		{Timestamp: at, Headers: make([]Header, maxAppendHeaders(DefaultMaxBatchBytes)-1)},
		{Timestamp: at.Add(time.Second), Value: []byte("later")},
	}, AppendOptions{Compression: CompressionZstd})
	require.NoError(t, err)
	var (
		offset int64
		found  bool
	)
	used := allocated(func() { offset, found, err = p.OffsetForTime(at.Add(time.Second)) })
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(1), offset)
	assert.Less(t, used, uint64(16<<20), "bytes allocated")
}

// TestProducerKeepsBatchesWithinTheHeaderLimit: a Producer's batches hold
// at most MaxBatchBytes of records before compression, which reaches the
// header limit only for a MaxBatchBytes above 51 MiB; here the limit of
// the partition's queue is lowered to 3 headers instead. A record of more
// is refused, and records whose headers together pass it go in separate
// batches.
func TestProducerKeepsBatchesWithinTheHeaderLimit(t *testing.T) {
	l, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	require.NoError(t, l.CreateTopic("t", TopicConfig{Partitions: 1}))
	prod, err := l.NewProducer(&ProducerOptions{Linger: time.Hour})
	require.NoError(t, err)
	defer func() { require.NoError(t, prod.Close()) }()
	topic, err := prod.topic("t")
	require.NoError(t, err)
	topic.queues[0].maxHeaders = 3

	_, err = prod.Send(context.Background(), Record{Topic: "t", Headers: make([]Header, 4)})
	require.ErrorIs(t, err, ErrRecordTooLarge)
	assert.Contains(t, err.Error(), "record has 4 headers, more than the 3 a batch may hold")

	for range 3 {
		prod.SendAsync(context.Background(), Record{Topic: "t", Headers: make([]Header, 2)}, nil)
	}
	require.NoError(t, prod.Flush(context.Background()))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	batches := 0
	for v, err := range p.Views(0) {
		require.NoError(t, err)
		assert.Equal(t, int64(batches), v.Offset, "one record per batch")
		batches++
	}
	require.Equal(t, 3, batches)
	raw, release, err := p.ReadBatches(0, 1<<20)
	require.NoError(t, err)
	defer release()
	for i := range 3 {
		h, err := parseBatchHeader(raw)
		require.NoError(t, err)
		assert.EqualValues(t, 1, h.RecordCount, "batch %d", i)
		raw = raw[h.size():]
	}
}
