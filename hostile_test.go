package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileAllocCap is the most a read, a scan or a compaction may allocate
// on the word of a hostile batch: a few KiB of file must not cost more.
const hostileAllocCap = 64 << 20

// hostileBatch returns a batch at offset base claiming count records,
// whose records area (compressed with c) is area, with a valid CRC: what
// anyone can write into a segment.
func hostileBatch(base int64, count int32, c Compression, area []byte) []byte {
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(area))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(base))
	be.PutUint32(b[batchLengthPos:], uint32(batchHeaderSize-batchOverhead+len(area)))
	b[batchMagicPos] = batchMagic
	be.PutUint16(b[batchAttributesPos:], uint16(c))
	be.PutUint32(b[batchLastOffsetDeltaPos:], uint32(count-1))
	be.PutUint64(b[batchBaseTimestampPos:], 1_700_000_000_000)
	be.PutUint64(b[batchMaxTimestampPos:], 1_700_000_000_000)
	be.PutUint64(b[batchProducerIDPos:], math.MaxUint64)
	be.PutUint16(b[batchProducerEpochPos:], math.MaxUint16)
	be.PutUint32(b[batchBaseSequencePos:], math.MaxUint32)
	be.PutUint32(b[batchRecordCountPos:], uint32(count))
	b = append(b, area...)
	fixCRC(b)
	return b
}

// hostileLog writes topic "t" of two partitions, three records in each,
// closes the Log and appends bad, a batch at offset 3, to partition 0's
// segment. It returns the directory.
func hostileLog(t *testing.T, bad []byte) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", TopicConfig{Partitions: 2}))
	for id := range int32(2) {
		p, err := l.Partition("t", id)
		require.NoError(t, err)
		for i := range 3 {
			_, err := p.Append(context.Background(), []Record{{Value: []byte{byte('a' + i)}}}, AppendOptions{})
			require.NoError(t, err)
		}
	}
	require.NoError(t, l.Close())
	f, err := os.OpenFile(filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(bad)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return dir
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// assertHostileRefused opens dir, written by hostileLog, and checks that
// every read of the bad batch (Partition.Read, Partition.Views, Replay,
// and a read-only Log's Read) fails with a *CorruptError naming it and
// saying what, allocating little, while the records before it and the
// other partition read back.
func assertHostileRefused(t *testing.T, dir, what string) {
	t.Helper()
	for _, ro := range []bool{false, true} {
		l, err := Open(dir, &Options{ReadOnly: ro})
		require.NoError(t, err)
		p, err := l.Partition("t", 0)
		require.NoError(t, err)
		reads := map[string]func() error{
			"Read": func() error {
				_, err := p.Read(3, 1<<20)
				return err
			},
			"Views": func() error {
				for _, err := range p.Views(3) {
					if err != nil {
						return err
					}
				}
				return nil
			},
			"Replay": func() error {
				return l.Replay(context.Background(), "t", func(*RecordView) error { return nil })
			},
		}
		for name, read := range reads {
			var err error
			n := allocated(func() { err = read() })
			var ce *CorruptError
			if assert.ErrorAs(t, err, &ce, "%s, read-only %v: %s of the bad batch", what, ro, name) {
				assert.Equal(t, int64(3), ce.Offset, "%s, read-only %v: %s", what, ro, name)
				assert.Contains(t, ce.Reason, what, "%s, read-only %v: %s", what, ro, name)
			}
			assert.Less(t, n, uint64(hostileAllocCap), "%s, read-only %v: bytes %s allocated", what, ro, name)
		}
		for id := range int32(2) {
			p, err := l.Partition("t", id)
			require.NoError(t, err)
			recs, err := p.Read(0, 1)
			require.NoError(t, err, "partition %d", id)
			assert.Equal(t, "a", string(recs[0].Value))
		}
		require.NoError(t, l.Close())
	}
}

// TestHostileSnappyBlockDeclaringAHugeSize: a snappy block declares its
// decoded size up front, and decoding allocated it before finding that a
// few bytes make nothing like it: 5 bytes cost a gigabyte.
func TestHostileSnappyBlockDeclaringAHugeSize(t *testing.T) {
	// A raw snappy block: its decoded size as a varint, 1 GiB - 1, then a
	// one-byte literal.
	block := append(binary.AppendUvarint(nil, 1<<30-1), 0, 'x')
	xerial := binary.BigEndian.AppendUint32(bytes.Clone(xerialHeader), uint32(len(block)))
	for name, area := range map[string][]byte{"raw": block, "xerial": append(xerial, block...)} {
		t.Run(name, func(t *testing.T) {
			dir := hostileLog(t, hostileBatch(3, 1, CompressionSnappy, area))
			assertHostileRefused(t, dir, "snappy: block of 7 bytes declares 1073741823 decoded bytes")
		})
	}
}

// TestSnappyS2RepeatsDecodePastSnappysRatio: S2's repeats, which reads
// take, make more of a byte than snappy's elements; such a block's size
// is checked by summing its elements, and it decodes.
func TestSnappyS2RepeatsDecodePastSnappysRatio(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789"), 400_000)
	block := s2.Encode(nil, want)
	require.Greater(t, len(want), snappyMaxRatio*len(block), "the block exceeds snappy's ratio")
	got, err := decompress(nil, block, CompressionSnappy, len(want))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))

	// A block that claims a byte more than its elements make.
	bad := append(binary.AppendUvarint(nil, uint64(len(want)+1)), block[len(binary.AppendUvarint(nil, uint64(len(want)))):]...)
	_, err = decompress(nil, bad, CompressionSnappy, 1<<30)
	assert.ErrorContains(t, err, "which its elements do not make")
}

// TestHostileRecordCountIsNotPreallocated: a read sized its result from
// the record counts of the batch headers ahead, which no CRC had vouched
// for yet: a 61-byte header claiming 2^30 records made room for a million
// records (128 MiB).
func TestHostileRecordCountIsNotPreallocated(t *testing.T) {
	dir := hostileLog(t, hostileBatch(3, 1<<30, CompressionNone, []byte{12, 0, 0, 0, 0, 0, 0}))
	assertHostileRefused(t, dir, "record count 1073741824 does not fit in 7 bytes of records")
}

// TestHostileRecordCountDoesNotSizeReplayLatest: ReplayLatest sized its
// map from the record counts of the cleaned segments' headers, bounded by
// the partition's offsets only, which a hostile last batch can stretch: a
// 61-byte header claiming 2^22 records made room for 2^22 keys.
func TestHostileRecordCountDoesNotSizeReplayLatest(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("c", TopicConfig{Partitions: 1, CleanupPolicy: CleanupCompact, SegmentBytes: 1 << 10}))
	p, err := l.Partition("c", 0)
	require.NoError(t, err)
	for i := range 40 {
		_, err := p.Append(context.Background(), []Record{{Key: []byte{byte('a' + i%4)}, Value: bytes.Repeat([]byte{'v'}, 100)}}, AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(context.Background(), "c"))
	end := p.HighWatermark()
	require.NoError(t, l.Close())

	segs, err := filepath.Glob(filepath.Join(dir, "topics", "c", "0", "*.log"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(segs), 2)
	appendTo := func(path string, b []byte) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.Write(b)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	// A cleaned segment claims 2^22 records; the last batch stretches
	// the offsets past them.
	appendTo(segs[0], hostileBatch(0, 1<<22, CompressionNone, []byte{12, 0, 0, 0, 0, 0, 0}))
	appendTo(segs[len(segs)-1], hostileBatch(end, 1<<23, CompressionNone, []byte{12, 0, 0, 0, 0, 0, 0}))

	l, err = Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	var replayErr error
	n := allocated(func() { _, replayErr = l.ReplayLatest(context.Background(), "c") })
	var ce *CorruptError
	assert.ErrorAs(t, replayErr, &ce)
	assert.Less(t, n, uint64(hostileAllocCap), "bytes ReplayLatest allocated")
}

// TestHostileBatchStopsCompactionCleanly: the cleaner decompresses the
// batches it cleans; a hostile one fails the cleaning of its partition
// with a *CorruptError, allocating little, and loses nothing: the
// records around it and the other partition read back.
func TestHostileBatchStopsCompactionCleanly(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("c", TopicConfig{Partitions: 2, CleanupPolicy: CleanupCompact, SegmentBytes: 1 << 10}))
	put := func(l *Log, id int32, n int) {
		p, err := l.Partition("c", id)
		require.NoError(t, err)
		for i := range n {
			_, err := p.Append(context.Background(), []Record{{Key: []byte{byte('a' + i%4)}, Value: bytes.Repeat([]byte{'v'}, 100)}}, AppendOptions{})
			require.NoError(t, err)
		}
	}
	put(l, 0, 3)
	put(l, 1, 3)
	require.NoError(t, l.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "topics", "c", "0", "*.log"))
	require.NoError(t, err)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	block := append(binary.AppendUvarint(nil, 1<<30-1), 0, 'x')
	_, err = f.Write(hostileBatch(3, 1, CompressionSnappy, block))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l, err = Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	put(l, 0, 30) // roll the segment with the bad batch: it is cleaned
	put(l, 1, 30)
	n := allocated(func() { err = l.Compact(context.Background(), "c") })
	var ce *CorruptError
	if assert.ErrorAs(t, err, &ce) {
		assert.Equal(t, int64(3), ce.Offset)
		assert.Contains(t, ce.Reason, "snappy: block of 7 bytes declares 1073741823 decoded bytes")
	}
	assert.Less(t, n, uint64(hostileAllocCap), "bytes Compact allocated")
	for id := range int32(2) {
		p, err := l.Partition("c", id)
		require.NoError(t, err)
		recs, err := p.Read(0, 1)
		require.NoError(t, err, "partition %d", id)
		assert.Equal(t, "a", string(recs[0].Key))
	}
	p, err := l.Partition("c", 0)
	require.NoError(t, err)
	recs, err := p.Read(4, 1<<20)
	require.NoError(t, err, "the records after the bad batch")
	assert.Len(t, recs, 30)
}

// zstdRLEFrame returns a zstd frame without a content size holding n RLE
// blocks of 128 KiB of zeros: 4 bytes of frame a block.
func zstdRLEFrame(n int) []byte {
	b := []byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x58} // magic; no content size; an 8 MiB window
	for i := range n {
		h := uint32(1<<1 | (128<<10)<<3) // an RLE block of 128 KiB
		if i == n-1 {
			h |= 1 // the last
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	return b
}

// TestHostileZstdBombPastTheLimit: a zstd batch of 32 KiB whose RLE blocks
// make 1 GiB and 128 KiB, past the 1 GiB a read decompresses of a batch,
// was decoded to the limit before it was refused, growing its buffer a
// quarter at a time: gigabytes allocated and seconds spent per read. The
// blocks' headers give their sizes.
func TestHostileZstdBombPastTheLimit(t *testing.T) {
	dir := hostileLog(t, hostileBatch(3, 1, CompressionZstd, zstdRLEFrame(8193)))
	assertHostileRefused(t, dir, "zstd batch decompresses to more than 1073741824 bytes")
}

// TestZstdFrameWithoutContentSizeDecodesIntoOneBuffer: a frame without
// its content size, as Kafka's Java producer writes them, decoded into a
// buffer grown a quarter at a time: 16 MiB took 90 MiB of allocations.
func TestZstdFrameWithoutContentSizeDecodesIntoOneBuffer(t *testing.T) {
	want := make([]byte, 16<<20) // compresses by 2: 4 bits in a byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = 'a' + byte(rng.IntN(16))
	}
	var frame bytes.Buffer
	w, err := zstd.NewWriter(&frame, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	_, err = w.Write(want)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	var got []byte
	n := allocated(func() { got, err = decompress(nil, frame.Bytes(), CompressionZstd, 1<<30) })
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))
	// One buffer of about its size; under the race detector, growing a
	// slice allocates as much again.
	assert.Less(t, n, 3*uint64(len(want)), "bytes decompress allocated for %d", len(want))
}

// TestHostileOffsetsDoNotSizeTheOffsetStore: Open sized the committed
// offsets' map for every offset of __consumer_offsets, up to a million,
// and a hostile last batch of 68 bytes claiming 2^31 offsets made it make
// room for the million: 128 MiB, which a Log keeps while it is open.
func TestHostileOffsetsDoNotSizeTheOffsetStore(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", TopicConfig{Partitions: 1}))
	require.NoError(t, l.CommitGroupOffsets(context.Background(), "g", map[TopicPartition]OffsetAndMetadata{{Topic: "t"}: {Offset: 0}}))
	require.NoError(t, l.Close())

	segs, err := filepath.Glob(filepath.Join(dir, "topics", offsetsTopicName, "*", "*.log"))
	require.NoError(t, err)
	var seg string
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil && fi.Size() > 0 {
			seg = s
		}
	}
	require.NotEmpty(t, seg, "the segment holding the commit")
	bad := hostileBatch(1, 1, CompressionNone, []byte{12, 0, 0, 0, 1, 1, 0})
	binary.BigEndian.PutUint32(bad[batchLastOffsetDeltaPos:], math.MaxInt32-1)
	fixCRC(bad)
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(bad)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	// The record has no key, which Open refuses: after sizing the map.
	n := allocated(func() { l, err = Open(dir, nil) })
	assert.ErrorContains(t, err, "offset 1: offset commit key")
	if err == nil {
		require.NoError(t, l.Close())
	}
	assert.Less(t, n, uint64(hostileAllocCap), "bytes Open allocated")
}

// TestLZ4FrameDecodesIntoOneBuffer: unlz4 grew its buffer a block at a
// time, by a quarter each time it was full: 64 MiB took five times as
// much in allocations, and a hostile 4.6 MiB batch of 1 GiB + 64 KiB,
// past the limit, cost 5.6 GB before it was refused.
func TestLZ4FrameDecodesIntoOneBuffer(t *testing.T) {
	want := make([]byte, 16<<20) // compresses by 2: 4 bits in a byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = 'a' + byte(rng.IntN(16))
	}
	frame := appendLZ4(nil, want)
	var got []byte
	var err error
	n := allocated(func() { got, err = decompress(nil, frame, CompressionLZ4, 1<<30) })
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))
	// One buffer of its size; under the race detector, growing a slice
	// allocates as much again.
	assert.Less(t, n, 3*uint64(len(want)), "bytes decompress allocated for %d", len(want))

	// Stored blocks give their sizes: a frame of them past the limit is
	// refused undecoded.
	stored := bytes.Clone(lz4Header)
	for range 17 {
		stored = binary.LittleEndian.AppendUint32(stored, lz4BlockSize|lz4Uncompressed)
		stored = append(stored, make([]byte, lz4BlockSize)...)
	}
	stored = binary.LittleEndian.AppendUint32(stored, 0)
	n = allocated(func() { _, err = decompress(nil, stored, CompressionLZ4, 1<<20) })
	assert.ErrorContains(t, err, "lz4 batch decompresses to more than 1048576 bytes")
	assert.Less(t, n, uint64(64<<10), "bytes a refused frame allocated")
}

// TestZstdFrameWithContentSizeIsSizedOnce: a frame that tells its content
// size (as the log's own appends write them) is sized by the decoder; a
// size estimated from its blocks' headers as well allocated a second
// buffer when the blocks compress better than the estimate expects.
func TestZstdFrameWithContentSizeIsSizedOnce(t *testing.T) {
	want := make([]byte, 16<<20) // a random byte in 500: compresses by ~200
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(want); i += 500 {
		want[i] = byte(rng.Uint32())
	}
	frame, err := compress(nil, want, CompressionZstd)
	require.NoError(t, err)
	least, expect, _, ok := zstdSizes(frame)
	require.True(t, ok)
	require.Zero(t, least)
	require.Less(t, expect, uint64(len(want)), "the blocks compress better than expected")
	require.GreaterOrEqual(t, expect, uint64(zstdPresizeFloor))
	var got []byte
	n := allocated(func() { got, err = decompress(nil, frame, CompressionZstd, 1<<30) })
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))
	assert.Less(t, n, uint64(len(want)+len(want)/8), "bytes decompress allocated for %d", len(want))
}

// TestOutputSizingStaysWithinWhatFramesCanMake: a zstd raw or RLE
// block's header may state up to 2 MiB, more than the 128 KiB a block
// makes; counted as stated, 600 RLE blocks in 2 406 bytes sized a buffer
// of 1.2 GiB for a read whose limit was higher (64 times a large max batch
// bytes), before the decoder refused the first block. And sizing an lz4
// frame against the largest limit overflowed.
func TestOutputSizingStaysWithinWhatFramesCanMake(t *testing.T) {
	frame := []byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x58}
	for i := range 600 {
		h := uint32(1<<1 | (2<<20-1)<<3) // an RLE block of 2 MiB - 1
		if i == 599 {
			h |= 1
		}
		frame = append(frame, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	var err error
	n := allocated(func() { _, err = decompress(nil, frame, CompressionZstd, 64<<30) })
	assert.Error(t, err)
	assert.Less(t, n, uint64(hostileAllocCap), "bytes decompress allocated")

	lz4Frame := appendLZ4(nil, make([]byte, 2<<20))
	got, err := decompress(nil, lz4Frame, CompressionLZ4, maxDecompressLimit)
	require.NoError(t, err)
	assert.Len(t, got, 2<<20)
}
