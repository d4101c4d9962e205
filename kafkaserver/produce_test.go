package kafkaserver_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecords covers what a record can hold: null and empty keys and
// values, headers with null and empty values.
func testRecords(topic string, n int) []*kgo.Record {
	var out []*kgo.Record
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)), Value: bytes.Repeat([]byte{byte(i)}, i%300)}
		switch i % 5 {
		case 1:
			r.Key = nil
		case 2:
			r.Value = nil
		case 3:
			r.Key, r.Value = []byte{}, []byte{}
		case 4:
			r.Headers = []kgo.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "null", Value: nil}, {Key: "", Value: []byte{}}}
		}
		r.Timestamp = time.UnixMilli(1_700_000_000_000 + int64(i))
		out = append(out, r)
	}
	return out
}

// sameRecord checks that a consumed record equals a produced one, nulls
// and all.
func sameRecord(t *testing.T, want, got *kgo.Record) {
	t.Helper()
	assert.Equal(t, want.Key == nil, got.Key == nil, "null key of offset %d", got.Offset)
	assert.Equal(t, want.Value == nil, got.Value == nil, "null value of offset %d", got.Offset)
	assert.Equal(t, string(want.Key), string(got.Key))
	assert.Equal(t, want.Value, got.Value)
	assert.Equal(t, want.Timestamp.UnixMilli(), got.Timestamp.UnixMilli())
	require.Len(t, got.Headers, len(want.Headers))
	for i := range want.Headers {
		assert.Equal(t, want.Headers[i].Key, got.Headers[i].Key)
		assert.Equal(t, want.Headers[i].Value == nil, got.Headers[i].Value == nil)
		assert.Equal(t, string(want.Headers[i].Value), string(got.Headers[i].Value))
	}
}

func TestProduceConsumeEveryCodec(t *testing.T) {
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	topics := map[string]eventlog.TopicConfig{}
	for name := range codecs {
		topics[name] = eventlog.TopicConfig{Partitions: 1}
	}
	f := newFixture(t, topics)
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			prod := f.client(t, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(name))
			want := testRecords(name, 50)
			require.NoError(t, prod.ProduceSync(ctx, want...).FirstErr())

			cons := f.client(t, kgo.ConsumeTopics(name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := consume(t, ctx, cons, len(want))
			require.Len(t, got, len(want))
			for i := range want {
				assert.Equal(t, int64(i), got[i].Offset)
				sameRecord(t, want[i], got[i])
			}

			// The library reads what kgo wrote.
			p, err := f.log.Partition(name, 0)
			require.NoError(t, err)
			recs, err := p.Read(0, 10<<20)
			require.NoError(t, err)
			require.Len(t, recs, len(want))
			for b, err := range p.Batches(0) {
				require.NoError(t, err)
				assert.Equal(t, name, b.Compression.String(), "stored as produced")
			}
			for i, r := range recs {
				assert.Equal(t, want[i].Key == nil, r.Key == nil)
				assert.Equal(t, string(want[i].Key), string(r.Key))
				assert.Equal(t, want[i].Value, r.Value)
				assert.Len(t, r.Headers, len(want[i].Headers))
			}
		})
	}
}

func TestLibraryRecordsReadByKgoAndBack(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"orders": {Partitions: 3}})
	ctx := testContext(t)
	prod, err := f.log.NewProducer(&eventlog.ProducerOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	var want []eventlog.Record
	for i := range 300 {
		r := eventlog.Record{Topic: "orders", Key: []byte(fmt.Sprintf("k%d", i%17)), Value: []byte(fmt.Sprintf("value %d", i)),
			Timestamp: time.UnixMilli(1_600_000_000_000 + int64(i)), Headers: []eventlog.Header{{Key: "n", Value: []byte{byte(i)}}}}
		if i%10 == 0 {
			r.Value = nil
		}
		md, err := prod.Send(ctx, r)
		require.NoError(t, err)
		r.Partition, r.Offset = md.Partition, md.Offset
		want = append(want, r)
	}
	require.NoError(t, prod.Close())

	cons := f.client(t, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consume(t, ctx, cons, len(want))
	byPos := map[[2]int64]*kgo.Record{}
	for _, r := range got {
		byPos[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	for _, w := range want {
		g := byPos[[2]int64{int64(w.Partition), w.Offset}]
		require.NotNil(t, g, "record %d of partition %d", w.Offset, w.Partition)
		assert.Equal(t, w.Key, g.Key)
		assert.Equal(t, w.Value == nil, g.Value == nil)
		assert.Equal(t, w.Value, g.Value)
		assert.Equal(t, w.Timestamp.UnixMilli(), g.Timestamp.UnixMilli())
		require.Len(t, g.Headers, 1)
		assert.Equal(t, w.Headers[0].Value, g.Headers[0].Value)
	}

	// And back: what kgo read, produced again through the listener, reads
	// the same through the library.
	require.NoError(t, f.log.CreateTopic("copy", eventlog.TopicConfig{Partitions: 1}))
	out := f.client(t, kgo.DefaultProduceTopic("copy"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, w := range want {
		r := &kgo.Record{Key: w.Key, Value: w.Value, Timestamp: w.Timestamp, Headers: []kgo.RecordHeader{{Key: "n", Value: w.Headers[0].Value}}}
		require.NoError(t, out.ProduceSync(ctx, r).FirstErr())
	}
	p, err := f.log.Partition("copy", 0)
	require.NoError(t, err)
	back, err := p.Read(0, 10<<20)
	require.NoError(t, err)
	require.Len(t, back, len(want))
	for i, r := range back {
		assert.Equal(t, want[i].Key, r.Key)
		assert.Equal(t, want[i].Value, r.Value)
		assert.Equal(t, want[i].Timestamp.UnixMilli(), r.Timestamp.UnixMilli())
		assert.Equal(t, want[i].Headers, r.Headers)
	}
}

func TestAcks(t *testing.T) {
	for _, tc := range []struct {
		name string
		acks kgo.Acks
		dur  eventlog.Durability
	}{
		{"all-fsync", kgo.AllISRAcks(), eventlog.DurabilityFsync},
		{"all-os", kgo.AllISRAcks(), eventlog.DurabilityOS},
		{"leader", kgo.LeaderAck(), eventlog.DurabilityFsync},
		{"none", kgo.NoAck(), eventlog.DurabilityFsync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2, Durability: tc.dur}})
			ctx := testContext(t)
			opts := []kgo.Opt{kgo.RequiredAcks(tc.acks), kgo.DefaultProduceTopic("t")}
			if tc.acks != kgo.AllISRAcks() {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			prod := f.client(t, opts...)
			want := testRecords("t", 40)
			require.NoError(t, prod.ProduceSync(ctx, want...).FirstErr())
			// Every record becomes readable: with acks=0 and acks=1 once
			// written (and, on an fsync topic, fsynced in the background).
			cons := f.client(t, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := consume(t, ctx, cons, len(want))
			assert.Len(t, got, len(want))
			if tc.acks == kgo.AllISRAcks() {
				// acks=all answered after the topic's durability: the
				// records were below the high watermark already.
				var total int64
				for id := range int32(2) {
					p, err := f.log.Partition("t", id)
					require.NoError(t, err)
					total += p.HighWatermark()
				}
				assert.EqualValues(t, len(want), total)
			}
		})
	}
}

func TestProduceErrors(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{
		"compacted": {Partitions: 1, CleanupPolicy: eventlog.CleanupCompact},
		"small":     {Partitions: 1, MaxBatchBytes: 1024},
	})
	ctx := testContext(t)
	cl := f.client(t, kgo.RecordRetries(0), kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()))

	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Value: []byte("no key")}).FirstErr()
	require.ErrorIs(t, err, kerr.InvalidRecord)
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Key: []byte("k"), Value: []byte("v")}).FirstErr())

	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: bytes.Repeat([]byte("x"), 4096)}).FirstErr()
	require.ErrorIs(t, err, kerr.MessageTooLarge)

	strict := f.client(t, kgo.UnknownTopicRetries(0), kgo.DisableIdempotentWrite())
	err = strict.ProduceSync(ctx, &kgo.Record{Topic: "missing", Value: []byte("v")}).FirstErr()
	require.ErrorIs(t, err, kerr.UnknownTopicOrPartition)
}

// TestProduceRefusesMoreHeadersThanABatchMayHold: a produced batch whose
// records have more headers than the Log takes of one batch (1,677,740 for
// the default max.message.bytes; see eventlog.Partition.Append) was
// stored, and a copying read of it made a 40-byte Header of each: 64 MB of
// them for a 10 KB zstd batch. It is now refused with MESSAGE_TOO_LARGE
// and not stored; one header fewer is stored and read back.
func TestProduceRefusesMoreHeadersThanABatchMayHold(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	cl := f.client(t, kgo.RecordRetries(0), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerBatchMaxBytes(16<<20))
	const limit = 1_677_740 // 64 MiB and 768 bytes of Header values
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)

	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Headers: make([]kgo.RecordHeader, limit+1)}).FirstErr()
	require.ErrorIs(t, err, kerr.MessageTooLarge)
	assert.Zero(t, p.HighWatermark(), "stored")

	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Headers: make([]kgo.RecordHeader, limit)}).FirstErr())
	recs, err := p.Read(0, 1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Len(t, recs[0].Headers, limit)
}

// TestProduceZstdNeedsV7 checks that a zstd batch in a Produce below v7
// (KIP-110) is refused with UNSUPPORTED_COMPRESSION_TYPE and not stored,
// as Kafka's broker refuses it, and taken from v7 on.
func TestProduceZstdNeedsV7(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"src": {Partitions: 1}, "t": {Partitions: 1}})
	ctx := testContext(t)
	prod, err := f.log.NewProducer(&eventlog.ProducerOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	_, err = prod.Send(ctx, eventlog.Record{Topic: "src", Value: bytes.Repeat([]byte("zstd "), 100)})
	require.NoError(t, err)
	require.NoError(t, prod.Close())
	src, err := f.log.Partition("src", 0)
	require.NoError(t, err)
	batch, release, err := src.ReadBatches(0, 1<<20)
	require.NoError(t, err)
	batch = bytes.Clone(batch)
	release()
	require.Equal(t, 4, int(binary.BigEndian.Uint16(batch[21:])&7), "a zstd batch")

	r := dialRaw(t, f.addr)
	produce := func(version int16) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		req.Acks, req.TimeoutMillis = -1, 10_000
		tp := kmsg.NewProduceRequestTopicPartition()
		tp.Records = batch
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.Partitions = "t", []kmsg.ProduceRequestTopicPartition{tp}
		req.Topics = append(req.Topics, rt)
		return r.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	for _, v := range []int16{3, 6} {
		got := produce(v)
		assert.Equal(t, kerr.UnsupportedCompressionType.Code, got.ErrorCode, "v%d: %v", v, kerr.ErrorForCode(got.ErrorCode))
		assert.EqualValues(t, 0, p.HighWatermark(), "v%d stored the batch", v)
	}
	got := produce(7)
	assert.Zero(t, got.ErrorCode, "v7: %v", kerr.ErrorForCode(got.ErrorCode))
	assert.EqualValues(t, 1, p.HighWatermark())
}

// TestProduceNameAPartitionTwice sends a Produce request that names
// partition 0 twice, with a batch of 2 records and then one of 3, and
// partition 1 once between them. Kafka's broker takes the request's
// partitions into a map: the last batch of a partition is the one stored.
// The earlier one is not, and its mention is answered with
// INVALID_REQUEST, so that the client is not told it was stored; with
// acks=0, by closing the connection.
func TestProduceNameAPartitionTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 10_000
	for _, m := range []struct {
		partition int32
		records   int
	}{{0, 2}, {1, 1}, {0, 3}} {
		tp := kmsg.NewProduceRequestTopicPartition()
		tp.Partition, tp.Records = m.partition, produceSeed(m.records, false)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.Partitions = "t", []kmsg.ProduceRequestTopicPartition{tp}
		req.Topics = append(req.Topics, rt)
	}
	resp := r.roundTrip(req).(*kmsg.ProduceResponse)
	type answer struct {
		partition  int32
		code       int16
		baseOffset int64
	}
	var got []answer
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			got = append(got, answer{rp.Partition, rp.ErrorCode, rp.BaseOffset})
		}
	}
	assert.Equal(t, []answer{
		{0, kerr.InvalidRequest.Code, -1}, // not stored
		{1, 0, 0},
		{0, 0, 0}, // stored
	}, got)
	p0, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	assert.EqualValues(t, 3, p0.HighWatermark(), "partition 0 holds the last batch named for it, and only it")
	p1, err := f.log.Partition("t", 1)
	require.NoError(t, err)
	assert.EqualValues(t, 1, p1.HighWatermark())

	// With acks=0 there is no answer to say it: the connection closes,
	// as for a batch that fails.
	req.Acks = 0
	r.send(req)
	r.closed()
	// Written to the OS, not yet fsynced: the log end offset moved.
	assert.EqualValues(t, 6, p0.LogEndOffset(), "partition 0 holds the last batch named for it, and only it")
	assert.EqualValues(t, 2, p1.LogEndOffset())
}
