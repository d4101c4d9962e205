package kafkaserver_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var produceFuzzCRC = crc32.MakeTable(crc32.Castagnoli)

// FuzzProduceBatch sends a well-framed Produce request whose first
// partition's records are the fuzzer's bytes, and whose second partition's
// are a valid batch. The server must answer on the same connection, the
// valid batch must be stored, and the fuzzer's bytes either refused with
// a Kafka error code that says what was wrong (never
// UNKNOWN_SERVER_ERROR), the partition unchanged, or stored: the high
// watermark moved by the batch's records, and a Fetch returns the client's
// batch with only the fields a broker sets changed, decodable by kmsg.
//
// The flags byte says whether the harness sets the batch's length field
// (bit 0) and CRC (bit 1) to match its bytes, whether the batch goes to a
// compacted topic (bit 2), and whether the request is Produce v3 rather
// than v9 (bit 3).
//
//	go test -run '^$' -fuzz '^FuzzProduceBatch$' -parallel 1 -fuzztime 3m
func FuzzProduceBatch(f *testing.F) {
	l := eventlogtest.New(f, nil)
	require.NoError(f, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(f, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 2, CleanupPolicy: eventlog.CleanupCompact}))
	fx := serve(f, l, nil)

	good := produceSeed(1, false)
	for _, seed := range [][]byte{
		good, produceSeed(3, false), produceSeed(2, true), nil, {}, good[:61], append(bytes.Clone(good), good...),
	} {
		for _, flags := range []byte{0, 3, 4, 8} {
			f.Add(seed, flags)
		}
	}
	c := dialRaw(f, fx.addr)
	f.Fuzz(func(t *testing.T, records []byte, flags byte) {
		c.t = t
		require.NoError(t, c.c.SetDeadline(time.Now().Add(testTimeout)))
		records = bytes.Clone(records)
		if flags&1 != 0 && len(records) >= 12 {
			binary.BigEndian.PutUint32(records[8:], uint32(len(records)-12))
		}
		if flags&2 != 0 && len(records) >= 21 {
			binary.BigEndian.PutUint32(records[17:], crc32.Checksum(records[21:], produceFuzzCRC))
		}
		topic := "t"
		if flags&4 != 0 {
			topic = "c"
		}
		version := int16(9)
		if flags&8 != 0 {
			version = 3
		}
		p0, err := l.Partition(topic, 0)
		require.NoError(t, err)
		p1, err := l.Partition(topic, 1)
		require.NoError(t, err)
		hw0, hw1 := p0.HighWatermark(), p1.HighWatermark()

		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		req.Acks = -1
		req.TimeoutMillis = int32(testTimeout / time.Millisecond)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		for i, b := range [][]byte{records, good} {
			tp := kmsg.NewProduceRequestTopicPartition()
			tp.Partition, tp.Records = int32(i), b
			rt.Partitions = append(rt.Partitions, tp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req).(*kmsg.ProduceResponse) // fails the test if the connection drops
		require.Len(t, resp.Topics, 1)
		require.Len(t, resp.Topics[0].Partitions, 2)
		bad, ok := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		assert.Zero(t, ok.ErrorCode, "the valid batch of the same request is stored: %v", kerr.ErrorForCode(ok.ErrorCode))
		assert.Equal(t, hw1, ok.BaseOffset)
		assert.Equal(t, hw1+1, p1.HighWatermark())

		if bad.ErrorCode != 0 {
			assert.NotEqual(t, kerr.UnknownServerError.Code, bad.ErrorCode, "refused with a code that says why: %v", bad.ErrorMessage)
			assert.Equal(t, hw0, p0.HighWatermark(), "refused: nothing stored")
			return
		}
		if bad.BaseOffset < hw0 {
			// A retry of a batch an earlier input stored: answered with
			// its offset, not stored again.
			assert.Equal(t, hw0, p0.HighWatermark(), "a retry is stored once")
			return
		}
		require.GreaterOrEqual(t, len(records), 61)
		count := int64(binary.BigEndian.Uint32(records[57:]))
		assert.Equal(t, hw0, bad.BaseOffset)
		assert.Equal(t, hw0+count, p0.HighWatermark(), "the high watermark moves by the batch's records")

		stored := fetchBatch(t, c, topic, bad.BaseOffset)
		require.Len(t, stored, len(records), "a fetch returns the produced batch")
		assert.EqualValues(t, bad.BaseOffset, binary.BigEndian.Uint64(stored))
		assert.Equal(t, records[8:12], stored[8:12], "length")
		assert.Equal(t, records[16:17], stored[16:17], "magic")
		assert.Equal(t, records[21:35], stored[21:35], "attributes, last offset delta, first timestamp")
		assert.Equal(t, records[43:], stored[43:], "producer fields and records")
		var kb kmsg.RecordBatch
		require.NoError(t, kb.ReadFrom(stored), "kmsg reads the stored batch")
		assert.Equal(t, binary.BigEndian.Uint32(stored[17:]), crc32.Checksum(stored[21:], produceFuzzCRC), "stored CRC")
		if kb.Attributes&7 == 0 {
			rest := kb.Records
			for i := range kb.NumRecords {
				var r kmsg.Record
				require.NoError(t, r.ReadFrom(rest), "kmsg reads record %d", i)
				n := len(r.AppendTo(nil))
				require.LessOrEqual(t, n, len(rest))
				rest = rest[n:]
			}
		}
	})
}

// produceSeed is a batch of n records as a Kafka producer sends it.
func produceSeed(n int, withHeaders bool) []byte {
	var records []byte
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte{'k', byte(i)}, Value: []byte{'v', byte(i)}}
		if withHeaders {
			r.Headers = []kmsg.Header{{Key: "h", Value: []byte{byte(i)}}, {Key: "null"}}
			r.Value = nil
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		records = r.AppendTo(records)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + int64(n-1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], produceFuzzCRC))
	return raw
}

// fetchBatch fetches the first batch at offset of partition 0 of topic.
func fetchBatch(t *testing.T, c *rawConn, topic string, offset int64) []byte {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxBytes, req.MinBytes = -1, 1<<20, 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, offset, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	require.Len(t, resp.Topics, 1)
	require.Len(t, resp.Topics[0].Partitions, 1)
	rp := resp.Topics[0].Partitions[0]
	require.Zero(t, rp.ErrorCode, "fetch: %v", kerr.ErrorForCode(rp.ErrorCode))
	b := rp.RecordBatches
	for len(b) >= 61 {
		size := 12 + int(binary.BigEndian.Uint32(b[8:]))
		require.LessOrEqual(t, size, len(b))
		if base := int64(binary.BigEndian.Uint64(b)); base == offset {
			return b[:size]
		}
		b = b[size:]
	}
	t.Fatalf("fetch at %d: no batch starts there", offset)
	return nil
}
