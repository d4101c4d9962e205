package eventlog_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var rawCRC = crc32.MakeTable(crc32.Castagnoli)

// producedBatch encodes records as a Kafka producer does, with kmsg (an
// independent codec): base offset 0, leader epoch -1, the given codec
// (0 or gzip) and attributes.
// producedBatchProducers numbers the producers of producedBatch.
var producedBatchProducers atomic.Int64

func producedBatch(t *testing.T, n int, codec int16, keyless bool) []byte {
	t.Helper()
	var records []byte
	base := int64(1_700_000_000_000)
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte{'k', byte(i)}, Value: []byte{'v', byte(i)},
			Headers: []kmsg.Header{{Key: "h", Value: []byte{byte(i)}}}}
		if keyless {
			r.Key = nil
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a one-byte length varint
		records = r.AppendTo(records)
	}
	if codec == 1 {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, err := w.Write(records)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		records = buf.Bytes()
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: codec, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: base, MaxTimestamp: base + int64(n-1),
		// A producer of its own for each batch: the same producer and
		// sequence twice would be one batch retried, stored once.
		ProducerID: producedBatchProducers.Add(1), ProducerEpoch: 1, FirstSequence: 0, NumRecords: int32(n), Records: records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	return reCRC(raw)
}

// reCRC sets a batch's CRC to match its bytes.
func reCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], rawCRC))
	return b
}

func TestAppendBatchStoresTheClientsBytes(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	ctx := context.Background()
	for _, codec := range []int16{0, 1} {
		batch := producedBatch(t, 5, codec, false)
		kept := bytes.Clone(batch)
		base, err := p.AppendBatch(ctx, batch, eventlog.AppendOptions{})
		require.NoError(t, err)
		assert.Equal(t, kept, batch, "the caller's batch is not modified")
		recs, err := p.Read(base, 1<<20)
		require.NoError(t, err)
		require.Len(t, recs, 5)
		for i, r := range recs {
			assert.Equal(t, base+int64(i), r.Offset)
			assert.Equal(t, []byte{'k', byte(i)}, r.Key)
			assert.Equal(t, []byte{'v', byte(i)}, r.Value)
			assert.Equal(t, []eventlog.Header{{Key: "h", Value: []byte{byte(i)}}}, r.Headers)
			assert.Equal(t, time.UnixMilli(1_700_000_000_000+int64(i)), r.Timestamp)
		}

		// The stored batch is the client's, but for the base offset and
		// the leader epoch, which lie outside the CRC.
		stored, release, err := p.ReadBatches(base, 1<<20)
		require.NoError(t, err)
		require.Len(t, stored, len(kept))
		assert.EqualValues(t, base, binary.BigEndian.Uint64(stored))
		assert.Zero(t, binary.BigEndian.Uint32(stored[12:]))
		assert.Equal(t, kept[16:], stored[16:])
		release()
	}
}

func TestAppendBatchRefuses(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, MaxBatchBytes: 4096}))
	require.NoError(t, l.CreateTopic("compacted", eventlog.TopicConfig{Partitions: 1, CleanupPolicy: eventlog.CleanupCompact}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	pc, err := l.Partition("compacted", 0)
	require.NoError(t, err)
	ctx := context.Background()
	attrs := func(a uint16) []byte {
		b := producedBatch(t, 2, 0, false)
		binary.BigEndian.PutUint16(b[21:], a)
		return reCRC(b)
	}
	for name, tc := range map[string]struct {
		p     *eventlog.Partition
		batch []byte
		want  error
	}{
		"crc":           {p, func() []byte { b := producedBatch(t, 2, 0, false); b[len(b)-1] ^= 1; return b }(), eventlog.ErrCorrupt},
		"short":         {p, producedBatch(t, 2, 0, false)[:40], eventlog.ErrInvalidRecord},
		"length":        {p, append(producedBatch(t, 2, 0, false), 0), eventlog.ErrInvalidRecord},
		"magic":         {p, func() []byte { b := producedBatch(t, 2, 0, false); b[16] = 1; return b }(), eventlog.ErrInvalidRecord},
		"codec 5":       {p, attrs(5), eventlog.ErrUnsupportedCompression},
		"transactional": {p, attrs(0x10), eventlog.ErrInvalidRecord},
		"control":       {p, attrs(0x20), eventlog.ErrInvalidRecord},
		"log append":    {p, attrs(0x08), eventlog.ErrInvalidRecord},
		"too large":     {p, producedBatch(t, 400, 0, false), eventlog.ErrRecordTooLarge},
		"count": {p, func() []byte {
			b := producedBatch(t, 2, 0, false)
			binary.BigEndian.PutUint32(b[57:], 1)
			return reCRC(b)
		}(), eventlog.ErrInvalidRecord},
		"keyless compacted": {pc, producedBatch(t, 2, 0, true), eventlog.ErrInvalidRecord},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.p.AppendBatch(ctx, tc.batch, eventlog.AppendOptions{})
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.p.Topic())
			assert.Zero(t, tc.p.LogEndOffset(), "nothing stored")
		})
	}
	_, err = p.AppendBatch(ctx, producedBatch(t, 2, 0, true), eventlog.AppendOptions{})
	require.NoError(t, err, "keyless records on a topic that does not compact")
}

func TestAppendBatchCorrectsMaxTimestamp(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	b := producedBatch(t, 3, 0, false)
	binary.BigEndian.PutUint64(b[35:], 5) // a max timestamp below the records'
	_, err = p.AppendBatch(context.Background(), reCRC(b), eventlog.AppendOptions{})
	require.NoError(t, err)
	stored, release, err := p.ReadBatches(0, 1<<20)
	require.NoError(t, err)
	defer release()
	var rb kmsg.RecordBatch
	require.NoError(t, rb.ReadFrom(stored))
	assert.Equal(t, int64(1_700_000_000_002), rb.MaxTimestamp)
	assert.Equal(t, crc32.Checksum(stored[21:], rawCRC), uint32(rb.CRC))
	off, found, err := p.OffsetForTime(time.UnixMilli(1_700_000_000_001))
	require.NoError(t, err)
	require.True(t, found)
	assert.EqualValues(t, 1, off)
}

func TestReadBatches(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, SegmentBytes: 1024}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	ctx := context.Background()
	var sizes []int
	for range 12 {
		b := producedBatch(t, 3, 0, false)
		_, err := p.AppendBatch(ctx, b, eventlog.AppendOptions{})
		require.NoError(t, err)
		sizes = append(sizes, len(b))
	}
	count := func(b []byte) (bases []int64) {
		for len(b) > 0 {
			bases = append(bases, int64(binary.BigEndian.Uint64(b)))
			b = b[12+binary.BigEndian.Uint32(b[8:]):]
		}
		return bases
	}
	read := func(offset int64, maxBytes int) []int64 {
		b, release, err := p.ReadBatches(offset, maxBytes)
		require.NoError(t, err)
		defer release()
		return count(b)
	}
	// A read stops at its segment's end (1 KiB here) and at maxBytes,
	// always with whole batches, and at least one.
	all := read(0, 1<<20)
	require.NotEmpty(t, all)
	assert.Less(t, len(all), 12, "one segment at a time")
	assert.Equal(t, []int64{0, 3}, read(0, 2*sizes[0]))
	assert.Equal(t, []int64{0}, read(0, 1))
	assert.Equal(t, []int64{3}, read(4, 1), "the batch holding the offset")
	// Every offset is reached, segment after segment.
	next := int64(0)
	for next < p.HighWatermark() {
		bases := read(next, 1<<20)
		require.NotEmpty(t, bases)
		assert.Equal(t, next, bases[0])
		next = bases[len(bases)-1] + 3
	}
	assert.Empty(t, read(p.HighWatermark(), 1<<20), "nothing at the high watermark")
	_, release, err := p.ReadBatches(p.LogEndOffset()+1, 1<<20)
	release()
	require.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)

	// The bytes outlive the Log until released.
	b, release, err := p.ReadBatches(0, 1<<20)
	require.NoError(t, err)
	want := bytes.Clone(b)
	require.NoError(t, l.Close())
	assert.Equal(t, want, b)
	release()
	_, release, err = p.ReadBatches(0, 1<<20)
	release()
	require.ErrorIs(t, err, eventlog.ErrClosed)
}

// A release called twice, by mistake, must not drop references that other
// readers hold: once, it unmapped the active segment, and reads spun, the
// next append failed the partition and Close hung.
func TestReadBatchesReleaseTwice(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	for _, read := range []func(int64, int) ([]byte, func(), error){p.ReadBatches, p.ReadBatchesUnchecked} {
		_, release, err := read(0, 1<<20)
		require.NoError(t, err)
		release()
		release()
	}
	recs, err := p.Read(0, 100)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("y")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestWatchHighWatermark(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	p0, err := l.Partition("t", 0)
	require.NoError(t, err)
	p1, err := l.Partition("t", 1)
	require.NoError(t, err)
	ch := make(chan struct{}, 1)
	stop0, stop1 := p0.WatchHighWatermark(ch), p1.WatchHighWatermark(ch)
	_, err = p1.Append(context.Background(), []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	select {
	case <-ch:
	default:
		t.Fatal("an append moved the high watermark and did not tell")
	}
	stop0()
	stop1()
	_, err = p0.Append(context.Background(), []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	select {
	case <-ch:
		t.Fatal("told after stop")
	default:
	}
}

// TestAppendBatchRetried: a Kafka client's batch sent again (a retry after
// a timeout) is answered with the offset it got, not stored twice; one out
// of sequence is refused.
func TestAppendBatchRetried(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	ctx := context.Background()
	b := producedBatch(t, 3, 0, false)
	first, err := p.AppendBatch(ctx, b, eventlog.AppendOptions{})
	require.NoError(t, err)
	again, err := p.AppendBatch(ctx, b, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, int64(3), p.LogEndOffset())

	gap := bytes.Clone(b)
	binary.BigEndian.PutUint32(gap[53:], 7) // base sequence 7, after 0-2
	_, err = p.AppendBatch(ctx, reCRC(gap), eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrOutOfOrderSequence)
}

// TestAppendBatchRefusesProducerIDWithoutSequence: a batch with a producer
// id but no base sequence is refused, as Kafka's LogValidator refuses it
// ("Invalid sequence number"): it could never be recognised when retried,
// so a retry would store its records twice.
func TestAppendBatchRefusesProducerIDWithoutSequence(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	ctx := context.Background()
	known := producedBatch(t, 1, 0, false)
	_, err = p.AppendBatch(ctx, known, eventlog.AppendOptions{})
	require.NoError(t, err)
	for _, seq := range []uint32{0xffffffff, 0xfffffff9} { // -1, -7
		for name, b := range map[string][]byte{"new producer": producedBatch(t, 2, 0, false), "known producer": bytes.Clone(known)} {
			binary.BigEndian.PutUint32(b[53:], seq)
			_, err := p.AppendBatch(ctx, reCRC(b), eventlog.AppendOptions{})
			require.ErrorIs(t, err, eventlog.ErrInvalidRecord, "%s, sequence %d", name, int32(seq))
			assert.Contains(t, err.Error(), "sequence")
			assert.Equal(t, int64(1), p.LogEndOffset(), "nothing stored")
		}
	}
}

// TestAppendBatchRefusesLongVarints: Kafka reads a record's 32-bit fields
// (its length, offset delta, key, value and header lengths, header count)
// as varints of at most five bytes, and refuses longer ones, however
// small their value (Java's ByteUtils.readVarint, franz-go's kbin). A
// batch holding one, stored, could be read here but by no Kafka client
// fetching it.
func TestAppendBatchRefusesLongVarints(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	long := func(v byte) []byte { return []byte{v | 0x80, 0x80, 0x80, 0x80, 0x80, 0x00} } // six bytes
	for name, fields := range map[string][][]byte{
		// attributes, timestamp delta, offset delta, key length, key,
		// value length, value, header count, headers
		"offset delta":      {{0}, {0}, long(0), {2}, {'k'}, {1}, {0}},
		"key length":        {{0}, {0}, {0}, long(2), {'k'}, {1}, {0}},
		"value length":      {{0}, {0}, {0}, {2}, {'k'}, long(2), {'v'}, {0}},
		"header count":      {{0}, {0}, {0}, {2}, {'k'}, {1}, long(2), {2}, {'h'}, {1}},
		"header key length": {{0}, {0}, {0}, {2}, {'k'}, {1}, {2}, long(2), {'h'}, {1}},
		"header value":      {{0}, {0}, {0}, {2}, {'k'}, {1}, {2}, {2}, {'h'}, long(1)},
		"second header":     {{0}, {0}, {0}, {2}, {'k'}, {1}, {4}, {2}, {'h'}, {1}, long(2), {'i'}, {1}},
		"record length":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			var body []byte
			if fields == nil {
				fields = [][]byte{{0}, {0}, {0}, {2}, {'k'}, {1}, {0}}
			}
			for _, f := range fields {
				body = append(body, f...)
			}
			var record []byte
			if name == "record length" {
				record = append(long(byte(len(body)<<1)), body...)
			} else {
				record = append([]byte{byte(len(body) << 1)}, body...)
			}
			b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: 1_700_000_000_000,
				MaxTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
				NumRecords: 1, Records: record}
			raw := b.AppendTo(nil)
			binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
			_, err := p.AppendBatch(context.Background(), reCRC(raw), eventlog.AppendOptions{})
			require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
			assert.Contains(t, err.Error(), "longer than")
			assert.Zero(t, p.LogEndOffset(), "nothing stored")
		})
	}
}

// TestAppendBatchChecksLZ4Checksums: an LZ4 frame carries checksums of its
// descriptor (always), of each block and of its content (when its flags
// say so), which Kafka's and franz-go's readers check. The Log's reads
// leave them to the batch CRC, but a produced frame whose checksums are
// wrong is one no Kafka consumer could read: AppendBatch refuses it.
func TestAppendBatchChecksLZ4Checksums(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	plain := producedBatch(t, 40, 0, false)
	var frame bytes.Buffer
	w := lz4.NewWriter(&frame)
	require.NoError(t, w.Apply(lz4.BlockChecksumOption(true), lz4.ChecksumOption(true)))
	_, err = w.Write(plain[61:])
	require.NoError(t, err)
	require.NoError(t, w.Close())
	batch := func(frame []byte) []byte {
		b := append(bytes.Clone(plain[:61]), frame...)
		binary.BigEndian.PutUint16(b[21:], 3) // lz4
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint64(b[43:], uint64(producedBatchProducers.Add(1)))
		return reCRC(b)
	}
	damage := func(at int) []byte {
		f := bytes.Clone(frame.Bytes())
		f[(at+len(f))%len(f)] ^= 1
		return batch(f)
	}
	for name, tc := range map[string]struct {
		batch []byte
		want  string
	}{
		"descriptor checksum": {damage(6), "descriptor checksum"},
		"block checksum":      {damage(-9), "block checksum"},
		"content checksum":    {damage(-1), "content checksum"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.AppendBatch(context.Background(), tc.batch, eventlog.AppendOptions{})
			require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
			assert.ErrorContains(t, err, tc.want)
			assert.Zero(t, p.LogEndOffset(), "nothing stored")
		})
	}
	_, err = p.AppendBatch(context.Background(), batch(frame.Bytes()), eventlog.AppendOptions{})
	require.NoError(t, err, "a frame whose checksums match")
}

// TestAppendBatchRefusesS2InSnappy: the snappy decoder (klauspost's s2)
// also takes S2's extensions of the block format, such as a copy at
// offset 0 that repeats the last offset. Snappy itself, which Kafka's Java
// clients decode with, refuses those blocks: stored, such a batch would be
// read here and by franz-go, but by no Java consumer.
func TestAppendBatchRefusesS2InSnappy(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	// One record, key "k", value "abcdabcdabcd", no headers.
	area := append([]byte{38, 0, 0, 0, 2, 'k', 24}, "abcdabcdabcd\x00"...)
	block := []byte{byte(len(area)), 10 << 2} // decoded size; a literal of 11 bytes
	block = append(block, area[:11]...)
	block = append(block, 0x01, 0x04) // copy 4 bytes from offset 4
	block = append(block, 0x01, 0x00) // S2: copy 4 bytes from the last offset again
	block = append(block, 0x00, 0x00) // a literal of 1 byte: the header count
	xerial := append([]byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01"), 0, 0, 0, byte(len(block)))
	xerial = append(xerial, block...)
	for name, records := range map[string][]byte{"raw block": block, "xerial": xerial} {
		t.Run(name, func(t *testing.T) {
			b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 2, FirstTimestamp: 1_700_000_000_000,
				MaxTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
				NumRecords: 1, Records: records}
			raw := b.AppendTo(nil)
			binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
			_, err := p.AppendBatch(context.Background(), reCRC(raw), eventlog.AppendOptions{})
			require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
			assert.ErrorContains(t, err, "offset 0")
			assert.Zero(t, p.LogEndOffset(), "nothing stored")
		})
	}
}

// TestAppendBatchRefusesWhatAppendRefuses: a produced batch is held to the
// rules Append holds records to. Its records' timestamps stay within
// ±2^62 ms of 1970, where the log keeps the difference of any two in an
// int64 (a timestamp delta that overflows the base timestamp, which Java
// would wrap, included), and a batch with a producer id has an epoch that
// is not negative.
func TestAppendBatchRefusesWhatAppendRefuses(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	ctx := context.Background()
	batch := func(base int64, deltas []int64, producer int64, epoch int16) []byte {
		var records []byte
		for i, d := range deltas {
			r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: d, Key: []byte{'k'}, Value: []byte{'v'}}
			r.Length = int32(len(r.AppendTo(nil)) - 1)
			records = r.AppendTo(records)
		}
		seq := int32(-1)
		if producer >= 0 {
			seq = 0
		}
		b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(deltas) - 1),
			FirstTimestamp: base, MaxTimestamp: base, ProducerID: producer, ProducerEpoch: epoch,
			FirstSequence: seq, NumRecords: int32(len(deltas)), Records: records}
		raw := b.AppendTo(nil)
		binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
		return reCRC(raw)
	}
	const limit = int64(1) << 62
	for name, tc := range map[string]struct {
		batch []byte
		want  string
	}{
		"timestamp 2^62":           {batch(limit-1, []int64{0, 1}, -1, -1), "timestamp"},
		"timestamp below -2^62":    {batch(-limit, []int64{0, -1}, -1, -1), "timestamp"},
		"base timestamp 2^62":      {batch(limit, []int64{-1}, -1, -1), "base timestamp"},
		"timestamp delta overflow": {batch(math.MaxInt64, []int64{-math.MaxInt64 + 10, 11}, -1, -1), "timestamp"},
		"negative epoch":           {batch(1_700_000_000_000, []int64{0}, producedBatchProducers.Add(1), -1), "epoch"},
		"epoch -32768":             {batch(1_700_000_000_000, []int64{0}, producedBatchProducers.Add(1), math.MinInt16), "epoch"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.AppendBatch(ctx, tc.batch, eventlog.AppendOptions{})
			require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
			assert.ErrorContains(t, err, tc.want)
			assert.Zero(t, p.LogEndOffset(), "nothing stored")
		})
	}
	// Append refuses the same.
	_, err = p.Append(ctx, []eventlog.Record{{Timestamp: time.UnixMilli(limit)}}, eventlog.AppendOptions{})
	require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
	_, err = p.Append(ctx, []eventlog.Record{{Timestamp: time.UnixMilli(1)}},
		eventlog.AppendOptions{Producer: eventlog.ProducerID{ID: producedBatchProducers.Add(1), Epoch: -1}})
	require.Error(t, err)

	// The edges are accepted, by both.
	_, err = p.AppendBatch(ctx, batch(limit-2, []int64{0, 1, -2*limit + 2}, -1, -1), eventlog.AppendOptions{})
	require.NoError(t, err, "timestamps 2^62-1 and -2^62")
	_, err = p.Append(ctx, []eventlog.Record{{Timestamp: time.UnixMilli(limit - 1)}, {Timestamp: time.UnixMilli(-limit)}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	recs, err := p.Read(0, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 5)
	assert.Equal(t, recs[1].Timestamp, recs[3].Timestamp)
	assert.Equal(t, recs[2].Timestamp, recs[4].Timestamp)
}

// TestAppendBatchChecksXerialVersion: snappy-java, with which Kafka's Java
// clients read snappy batches, refuses xerial framing whose version is
// below 1 ("incompatible codec version"); its minimum compatible version
// field it does not read. Stored, such a batch could be read here but by
// no Java consumer: AppendBatch refuses it.
func TestAppendBatchChecksXerialVersion(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	plain := producedBatch(t, 3, 0, false)
	block := s2.EncodeSnappy(nil, plain[61:])
	batch := func(version, compat uint32) []byte {
		b := append(bytes.Clone(plain[:61]), "\x82SNAPPY\x00"...)
		b = binary.BigEndian.AppendUint32(b, version)
		b = binary.BigEndian.AppendUint32(b, compat)
		b = binary.BigEndian.AppendUint32(b, uint32(len(block)))
		b = append(b, block...)
		binary.BigEndian.PutUint16(b[21:], 2) // snappy
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint64(b[43:], uint64(producedBatchProducers.Add(1)))
		return reCRC(b)
	}
	for _, version := range []uint32{0, 0xffffffff} {
		_, err := p.AppendBatch(context.Background(), batch(version, 1), eventlog.AppendOptions{})
		require.ErrorIs(t, err, eventlog.ErrInvalidRecord, "version %d", int32(version))
		assert.ErrorContains(t, err, "version")
		assert.Zero(t, p.LogEndOffset(), "nothing stored")
	}
	for _, v := range [][2]uint32{{1, 1}, {2, 1}, {1, 0}, {1, 7}} {
		_, err := p.AppendBatch(context.Background(), batch(v[0], v[1]), eventlog.AppendOptions{})
		require.NoError(t, err, "version %d, compatible version %d", v[0], v[1])
	}
	recs, err := p.Read(0, 1<<20)
	require.NoError(t, err)
	assert.Len(t, recs, 12)
}

// TestAppendBatchChecksZstdWindow: Kafka's Java clients, and its broker,
// decode zstd with zstd-jni's streaming decoder, which refuses a frame
// whose window is larger than 2^27 bytes (ZSTD_WINDOWLOG_LIMIT_DEFAULT;
// for a single-segment frame, the window is its content size). Our
// decoder takes windows up to the decompression limit, which a topic with
// a larger MaxBatchBytes puts above that: stored, such a batch could be
// read here but by no Java consumer. AppendBatch refuses it.
func TestAppendBatchChecksZstdWindow(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1, MaxBatchBytes: 8 << 20})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	plain := producedBatch(t, 3, 0, false)
	enc, err := zstd.NewWriter(nil, zstd.WithSingleSegment(false), zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	frame := enc.EncodeAll(plain[61:], nil)
	require.NoError(t, enc.Close())
	require.Zero(t, frame[4]&0x20, "a frame with a window descriptor")
	batch := func(frames ...[]byte) []byte {
		b := append(bytes.Clone(plain[:61]), bytes.Join(frames, nil)...)
		binary.BigEndian.PutUint16(b[21:], 4) // zstd
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint64(b[43:], uint64(producedBatchProducers.Add(1)))
		return reCRC(b)
	}
	// A window descriptor is exponent<<3 | mantissa, for a window of
	// 1<<(10+exponent) bytes plus mantissa eighths of that.
	window := func(descriptor byte) []byte {
		f := bytes.Clone(frame)
		f[5] = descriptor
		return f
	}
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'x', 'y'}
	for name, tc := range map[string]struct {
		batch []byte
		ok    bool
	}{
		"window 128 MiB":            {batch(window(17 << 3)), true},
		"window 144 MiB":            {batch(window(17<<3 | 1)), false},
		"window 256 MiB":            {batch(window(18 << 3)), false},
		"a later frame of 256 MiB":  {batch(frame, skippable, zstdEmptyFrame(18<<3)), false},
		"a later frame of 64 MiB":   {batch(frame, skippable, zstdEmptyFrame(16<<3)), true},
		"single segment of 256 MiB": {batch(frame, []byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0x10, 1, 0, 0}), false},
	} {
		t.Run(name, func(t *testing.T) {
			end := p.LogEndOffset()
			_, err := p.AppendBatch(context.Background(), tc.batch, eventlog.AppendOptions{})
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
			assert.ErrorContains(t, err, "window")
			assert.Equal(t, end, p.LogEndOffset(), "nothing stored")
		})
	}
}

// zstdEmptyFrame returns a zstd frame with the window descriptor given and
// no content: one empty raw block, the last.
func zstdEmptyFrame(windowDescriptor byte) []byte {
	return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor, 0x01, 0x00, 0x00}
}
