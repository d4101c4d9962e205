package eventlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzAppendBatch hands AppendBatch arbitrary bytes, on a partition that
// already holds records. Either the batch is refused, with an error
// wrapping one of the package's sentinels, and the partition is as it was
// and still writable; or every reader — Read, Views, a Consumer's
// ReadToEnd and ViewsToEnd, a read-only Log, Verify, a reopen after a
// clean Close and after a crash, and the cleaner of a compacted topic —
// reads back the records an independent, Kafka-strict decoder finds in
// the batch, at offsets that follow the high watermark the append found,
// and the records stored before are untouched.
//
// The flags byte says whether the harness sets the batch's length field
// (bit 0) and CRC (bit 1) to match its bytes, so that mutations get past
// those checks, and whether the topic is compacted (bit 2).
//
//	go test -run '^$' -fuzz '^FuzzAppendBatch$' -parallel 1 -fuzztime 3m
func FuzzAppendBatch(f *testing.F) {
	for _, s := range appendFuzzSeeds(f) {
		for _, flags := range []byte{0, 3, 4, 7} {
			f.Add(s, flags)
		}
	}
	f.Fuzz(func(t *testing.T, batch []byte, flags byte) {
		batch = bytes.Clone(batch)
		if flags&1 != 0 && len(batch) >= 12 {
			binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
		}
		if flags&2 != 0 && len(batch) >= 21 {
			reCRC(batch)
		}
		checkAppendBatch(t, batch, flags&4 != 0)
	})
}

// fuzzClock is a clock the test moves by hand.
type fuzzClock struct{ ms atomic.Int64 }

func (c *fuzzClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

// checkAppendBatch runs FuzzAppendBatch's checks on one input.
func checkAppendBatch(t *testing.T, batch []byte, compacted bool) {
	ctx := context.Background()
	clock := &fuzzClock{}
	clock.ms.Store(1_700_000_000_000)
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, Now: clock.now, SegmentAge: time.Hour, IndexIntervalBytes: 64}
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	cfg := eventlog.TopicConfig{Partitions: 1, DeleteRetention: 1000 * time.Hour}
	if compacted {
		cfg.CleanupPolicy = eventlog.CleanupCompact
	}
	require.NoError(t, l.CreateTopic("t", cfg))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)

	// Records stored before, which the append must leave alone.
	_, err = p.Append(ctx, []eventlog.Record{
		{Key: []byte("k"), Value: []byte("before"), Headers: []eventlog.Header{{Key: "h", Value: []byte("x")}}},
		{Key: []byte{}, Value: nil},
	}, eventlog.AppendOptions{})
	require.NoError(t, err)
	want := readPartition(t, p, "before")
	require.Len(t, want, 2)
	stored := storedBatches(t, p)
	hw, end := p.HighWatermark(), p.LogEndOffset()

	kept := bytes.Clone(batch)
	base, err := p.AppendBatch(ctx, batch, eventlog.AppendOptions{})
	assert.Equal(t, kept, batch, "the caller's batch is not modified")
	if err != nil {
		assert.True(t, isAppendSentinel(err), "error wraps a sentinel: %v", err)
		assert.Equal(t, hw, p.HighWatermark(), "refused: high watermark")
		assert.Equal(t, end, p.LogEndOffset(), "refused: log end")
		assert.Equal(t, stored, storedBatches(t, p), "refused: stored batches")
		next, err := p.Append(ctx, []eventlog.Record{{Key: []byte("after")}}, eventlog.AppendOptions{})
		require.NoError(t, err, "the partition is still writable")
		assert.Equal(t, hw, next)
		return
	}
	records, err := kafkaDecode(batch, base)
	require.NoError(t, err, "an accepted batch decodes as Kafka decodes it")
	assert.Equal(t, hw, base, "the batch goes at the high watermark")
	assert.Equal(t, hw+int64(len(records)), p.HighWatermark(), "the high watermark moves by the records appended")
	assert.Equal(t, stored, storedBatches(t, p)[:len(stored)], "records stored before are unchanged")
	if compacted {
		for i, r := range records {
			assert.NotNil(t, r.Key, "record %d of a compacted topic has a key", i)
		}
	}
	want = append(want, records...)
	if int64(binary.BigEndian.Uint64(batch[43:])) >= 0 {
		// A retry of an idempotent producer's batch is stored once.
		again, err := p.AppendBatch(ctx, batch, eventlog.AppendOptions{})
		require.NoError(t, err, "a retry")
		assert.Equal(t, base, again, "a retry gets the offset of the first try")
		assert.Equal(t, hw+int64(len(records)), p.HighWatermark(), "a retry is stored once")
	}
	checkReaders(t, l, p, want, "after append")

	// A read-only Log sees what the writer does, and Verify finds nothing
	// wrong, while the writer has the log open.
	ro, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, ReadOnly: true, PoisonViews: true})
	require.NoError(t, err)
	rp, err := ro.Partition("t", 0)
	require.NoError(t, err)
	checkReaders(t, ro, rp, want, "read-only")
	require.NoError(t, ro.Close())
	report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, report.Problems, "verify while open")

	// A clean reopen, then a crash after more appends.
	require.NoError(t, l.Close())
	report, err = eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, report.Problems, "verify after close")
	l, p = reopenPartition(t, opts)
	checkReaders(t, l, p, want, "reopened")
	after := eventlog.Record{Key: []byte("after"), Value: []byte("x"), Timestamp: clock.now()}
	off, err := p.Append(ctx, []eventlog.Record{after}, eventlog.AppendOptions{})
	require.NoError(t, err)
	after.Offset = off
	want = append(want, after)
	require.NoError(t, eventlog.Abandon(l))
	l, p = reopenPartition(t, opts)
	checkReaders(t, l, p, want, "recovered")

	if !compacted {
		return
	}
	// The cleaner keeps, byte for byte, the newest record of each key
	// and drops only records of keys that have newer ones.
	clock.ms.Add(2 * time.Hour.Milliseconds())
	roll := eventlog.Record{Key: []byte("roll"), Timestamp: clock.now()}
	off, err = p.Append(ctx, []eventlog.Record{roll}, eventlog.AppendOptions{}) // closes the segment
	require.NoError(t, err)
	roll.Offset = off
	want = append(want, roll)
	require.NoError(t, l.Compact(ctx, "t"))
	checkCompacted(t, readPartition(t, p, "compacted"), want)
	require.NoError(t, l.Close())
	l, p = reopenPartition(t, opts)
	checkCompacted(t, readPartition(t, p, "compacted, reopened"), want)
	require.NoError(t, l.Close())
}

// isAppendSentinel reports whether err wraps one of the errors an append
// of a bad batch may fail with.
func isAppendSentinel(err error) bool {
	for _, s := range []error{eventlog.ErrInvalidRecord, eventlog.ErrCorrupt, eventlog.ErrRecordTooLarge,
		eventlog.ErrUnsupportedCompression, eventlog.ErrOutOfOrderSequence, eventlog.ErrProducerFenced} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func reopenPartition(t *testing.T, opts *eventlog.Options) (*eventlog.Log, *eventlog.Partition) {
	t.Helper()
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	return l, p
}

// storedBatches returns a copy of the bytes of every stored batch.
func storedBatches(t *testing.T, p *eventlog.Partition) []byte {
	t.Helper()
	var out []byte
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		b, release, err := p.ReadBatches(off, 1<<30)
		require.NoError(t, err)
		out = append(out, b...)
		release()
		for len(b) >= 61 {
			size := 12 + int(binary.BigEndian.Uint32(b[8:]))
			off = int64(binary.BigEndian.Uint64(b)) + int64(binary.BigEndian.Uint32(b[23:])) + 1
			b = b[size:]
		}
	}
	return out
}

// readPartition reads every record of p with Read.
func readPartition(t *testing.T, p *eventlog.Partition, what string) []eventlog.Record {
	t.Helper()
	var out []eventlog.Record
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		recs, err := p.Read(off, 1<<20)
		require.NoError(t, err, "%s: read at %d", what, off)
		require.NotEmpty(t, recs, "%s: read at %d", what, off)
		out = append(out, recs...)
		off = recs[len(recs)-1].Offset + 1
	}
	return out
}

// checkReaders checks that Read, Views, and a Consumer's ReadToEnd and
// ViewsToEnd all read want from p of l.
func checkReaders(t *testing.T, l *eventlog.Log, p *eventlog.Partition, want []eventlog.Record, what string) {
	t.Helper()
	assertRecords(t, want, readPartition(t, p, what), what+": Read")
	var views []eventlog.Record
	for v, err := range p.Views(p.LogStartOffset()) {
		require.NoError(t, err, "%s: Views", what)
		views = append(views, v.Clone())
	}
	assertRecords(t, want, views, what+": Views")
	for _, byView := range []bool{false, true} {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: -1})
		require.NoError(t, err)
		require.NoError(t, c.Assign(eventlog.TopicPartition{Topic: p.Topic(), Partition: p.ID()}))
		var got []eventlog.Record
		if byView {
			for v, err := range c.ViewsToEnd(context.Background()) {
				require.NoError(t, err, "%s: ViewsToEnd", what)
				got = append(got, v.Clone())
			}
		} else {
			for r, err := range c.ReadToEnd(context.Background()) {
				require.NoError(t, err, "%s: ReadToEnd", what)
				got = append(got, r)
			}
		}
		require.NoError(t, c.Close())
		assertRecords(t, want, got, fmt.Sprintf("%s: consumer (views %v)", what, byView))
	}
}

// assertRecords checks records field for field: offsets, timestamps,
// keys and values (nil apart from empty) and headers.
func assertRecords(t *testing.T, want, got []eventlog.Record, what string) {
	t.Helper()
	if !assert.Len(t, got, len(want), what) {
		return
	}
	for i := range want {
		w, g := &want[i], &got[i]
		assert.Equal(t, w.Offset, g.Offset, "%s: record %d offset", what, i)
		assert.Equal(t, w.Timestamp.UnixMilli(), g.Timestamp.UnixMilli(), "%s: record %d timestamp", what, i)
		assert.Equal(t, w.Key, g.Key, "%s: record %d key", what, i)
		assert.Equal(t, w.Key == nil, g.Key == nil, "%s: record %d null key", what, i)
		assert.Equal(t, w.Value, g.Value, "%s: record %d value", what, i)
		assert.Equal(t, w.Value == nil, g.Value == nil, "%s: record %d null value", what, i)
		assert.Equal(t, len(w.Headers), len(g.Headers), "%s: record %d headers", what, i)
		for j := range min(len(w.Headers), len(g.Headers)) {
			assert.Equal(t, w.Headers[j].Key, g.Headers[j].Key, "%s: record %d header %d", what, i, j)
			assert.Equal(t, w.Headers[j].Value, g.Headers[j].Value, "%s: record %d header %d", what, i, j)
			assert.Equal(t, w.Headers[j].Value == nil, g.Headers[j].Value == nil, "%s: record %d header %d null", what, i, j)
		}
	}
}

// checkCompacted checks what a cleaning of want left: records of want,
// unchanged, among them the newest of each key.
func checkCompacted(t *testing.T, got, want []eventlog.Record) {
	t.Helper()
	byOffset := map[int64]eventlog.Record{}
	newest := map[string]int64{}
	for _, r := range want {
		byOffset[r.Offset] = r
		newest[string(r.Key)] = r.Offset
	}
	kept := map[int64]bool{}
	for i, g := range got {
		w, ok := byOffset[g.Offset]
		if !assert.True(t, ok, "compacted: record %d at offset %d was never appended", i, g.Offset) {
			continue
		}
		assertRecords(t, []eventlog.Record{w}, []eventlog.Record{g}, "compacted")
		kept[g.Offset] = true
	}
	for key, off := range newest {
		assert.True(t, kept[off], "compacted: the newest record of key %q, at %d, is kept", key, off)
	}
}

// kafkaDecode decodes the records of a produced batch as Kafka's
// DefaultRecordBatch and DefaultRecord do, independently of the package:
// 32-bit fields are varints of at most five bytes, a record's fields fill
// exactly its length, header keys are not null, and no byte follows the
// last record. Offsets count from base.
func kafkaDecode(b []byte, base int64) ([]eventlog.Record, error) {
	if len(b) < 61 || b[16] != 2 {
		return nil, errors.New("not a v2 batch")
	}
	be := binary.BigEndian
	attrs := be.Uint16(b[21:])
	baseTS := int64(be.Uint64(b[27:]))
	count := int32(be.Uint32(b[57:]))
	area := b[61:]
	if c := eventlog.Compression(attrs & 7); c != eventlog.CompressionNone {
		var err error
		if area, err = independentDecompress(c, area); err != nil {
			return nil, err
		}
	}
	var out []eventlog.Record
	r := kafkaReader{b: area}
	for i := int32(0); i < count; i++ {
		size := r.varint()
		if r.err != nil || size < 0 || int(size) > len(r.b)-r.p {
			return nil, fmt.Errorf("record %d: bad size", i)
		}
		start := r.p
		r.p++ // attributes
		ts := r.varlong()
		delta := r.varint()
		rec := eventlog.Record{Offset: base + int64(delta), Timestamp: time.UnixMilli(baseTS + ts)}
		rec.Key = r.bytes()
		rec.Value = r.bytes()
		n := r.varint()
		if n < 0 {
			return nil, fmt.Errorf("record %d: %d headers", i, n)
		}
		for j := int32(0); j < n && r.err == nil; j++ {
			k := r.bytes()
			if k == nil {
				return nil, fmt.Errorf("record %d: null header key", i)
			}
			rec.Headers = append(rec.Headers, eventlog.Header{Key: string(k), Value: r.bytes()})
		}
		if r.err != nil {
			return nil, fmt.Errorf("record %d: %w", i, r.err)
		}
		if r.p-start != int(size) {
			return nil, fmt.Errorf("record %d: read %d bytes of a %d-byte record", i, r.p-start, size)
		}
		if delta != i {
			return nil, fmt.Errorf("record %d: offset delta %d", i, delta)
		}
		out = append(out, rec)
	}
	if r.p != len(r.b) {
		return nil, fmt.Errorf("%d bytes after %d records", len(r.b)-r.p, count)
	}
	return out, nil
}

// independentDecompress decompresses a records area with the codec
// libraries alone, as a Kafka client would, not through compression.go.
func independentDecompress(c eventlog.Compression, src []byte) ([]byte, error) {
	switch c {
	case eventlog.CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case eventlog.CompressionSnappy:
		return xerial.Decode(src) // xerial framing or a raw block
	case eventlog.CompressionZstd:
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(src, nil)
	case eventlog.CompressionLZ4:
		return io.ReadAll(lz4.NewReader(bytes.NewReader(src)))
	}
	return nil, fmt.Errorf("codec %s", c)
}

// kafkaReader reads Kafka's varints from b, keeping the first error.
type kafkaReader struct {
	b   []byte
	p   int
	err error
}

func (r *kafkaReader) uvarint(maxBytes int) uint64 {
	var u uint64
	for i := 0; i < maxBytes; i++ {
		if r.p >= len(r.b) {
			r.fail("short varint")
			return 0
		}
		c := r.b[r.p]
		r.p++
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return u
		}
	}
	r.fail("varint longer than Kafka's")
	return 0
}

func (r *kafkaReader) varint() int32 {
	u := r.uvarint(5)
	if u > math.MaxUint32 {
		r.fail("varint overflows 32 bits")
	}
	return int32(uint32(u)>>1) ^ -int32(u&1)
}

func (r *kafkaReader) varlong() int64 {
	u := r.uvarint(10)
	return int64(u>>1) ^ -int64(u&1)
}

func (r *kafkaReader) bytes() []byte {
	n := r.varint()
	if r.err != nil || n < 0 {
		return nil
	}
	if int(n) > len(r.b)-r.p {
		r.fail("length past the end")
		return nil
	}
	b := slices.Clone(r.b[r.p : r.p+int(n)])
	if b == nil {
		b = []byte{}
	}
	r.p += int(n)
	return b
}

func (r *kafkaReader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.p = len(r.b)
}

// appendFuzzSeeds returns batches as producers send them, of every codec,
// and variants of them that a broker must refuse or handle with care:
// producer ids and sequences, transactional and control bits,
// LogAppendTime, odd timestamps, no records, huge record counts, lengths
// that lie, records cut short.
func appendFuzzSeeds(tb testing.TB) [][]byte {
	l, err := eventlog.Open("/seeds", &eventlog.Options{FS: eventlog.NewMemFS()})
	require.NoError(tb, err)
	defer func() { _ = l.Close() }()
	require.NoError(tb, l.CreateTopic("s", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.Partition("s", 0)
	require.NoError(tb, err)
	ts := time.UnixMilli(1_700_000_000_000)
	records := []eventlog.Record{
		{Key: []byte("k"), Value: []byte("v"), Timestamp: ts, Headers: []eventlog.Header{{Key: "h", Value: []byte("hv")}, {Key: "n"}}},
		{Key: []byte("tombstone"), Timestamp: ts.Add(-time.Second)},
		{Key: []byte{}, Value: []byte{}, Timestamp: ts.Add(time.Millisecond)},
		{Key: []byte("k"), Value: []byte("newer"), Timestamp: ts.Add(2 * time.Millisecond)},
		{Value: []byte("no key"), Timestamp: ts.Add(5 * time.Millisecond)},
	}
	var seeds [][]byte
	for _, c := range eventlog.Codecs {
		for _, rs := range [][]eventlog.Record{records[:4], records[:1], records[1:2], records[4:]} {
			off, err := p.Append(context.Background(), rs, eventlog.AppendOptions{Compression: c})
			require.NoError(tb, err)
			b, release, err := p.ReadBatches(off, 1)
			require.NoError(tb, err)
			seeds = append(seeds, bytes.Clone(b))
			release()
		}
	}
	be := binary.BigEndian
	variant := func(edit func(b []byte) []byte) {
		b := edit(bytes.Clone(seeds[0]))
		seeds = append(seeds, reCRC(b))
	}
	variant(func(b []byte) []byte { // an idempotent producer's batch
		be.PutUint64(b[43:], 7)
		be.PutUint16(b[51:], 0)
		be.PutUint32(b[53:], 0)
		return b
	})
	variant(func(b []byte) []byte { // a producer id without a sequence
		be.PutUint64(b[43:], 7)
		return b
	})
	variant(func(b []byte) []byte { // a sequence that wraps
		be.PutUint64(b[43:], 7)
		be.PutUint32(b[53:], math.MaxInt32-1)
		return b
	})
	variant(func(b []byte) []byte { // a negative producer id other than -1
		be.PutUint64(b[43:], math.MaxUint64-5)
		return b
	})
	for _, attrs := range []uint16{0x10, 0x20, 0x30, 0x08, 0x40, 0x05, 0x07, 0x80, 0x8000} {
		variant(func(b []byte) []byte { be.PutUint16(b[21:], attrs); return b })
	}
	for _, ms := range []int64{-1, 0, math.MinInt64, math.MaxInt64, 1 << 62} {
		variant(func(b []byte) []byte { be.PutUint64(b[27:], uint64(ms)); return b })
		variant(func(b []byte) []byte { be.PutUint64(b[35:], uint64(ms)); return b })
	}
	for _, count := range []uint32{0, 1, 3, 5, math.MaxInt32, math.MaxUint32} {
		variant(func(b []byte) []byte { be.PutUint32(b[57:], count); return b })
		variant(func(b []byte) []byte { be.PutUint32(b[23:], count-1); return b })
	}
	variant(func(b []byte) []byte { be.PutUint32(b[8:], be.Uint32(b[8:])+1); return b })
	variant(func(b []byte) []byte { be.PutUint32(b[8:], be.Uint32(b[8:])-1); return b })
	variant(func(b []byte) []byte { return b[:len(b)-1] })
	variant(func(b []byte) []byte { return append(b, 0) })
	variant(func(b []byte) []byte { b[16] = 1; return b })
	variant(func(b []byte) []byte { be.PutUint32(b[12:], 0xffffffff); return b })
	variant(func(b []byte) []byte { be.PutUint64(b, 1<<40); return b })
	seeds = append(seeds, seeds[0][:61], []byte{})
	return seeds
}
