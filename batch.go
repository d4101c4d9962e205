package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
	"time"
)

// A segment's .log file is a sequence of Kafka RecordBatch v2 (magic 2)
// batches, byte for byte as a Kafka broker stores them. Integers in the
// fixed header are big endian; integers in records are zigzag varints
// (Kafka's varint for 32-bit fields, varlong for timestamps).
//
// Batch:
//
//	 0                   8          12          16  17        21     23
//	+-------------------+----------+-----------+---+---------+------+
//	| baseOffset int64  | length   | leader    | m | crc     | attr |
//	|                   | int32    | epoch i32 | 2 | uint32  | i16  |
//	+-------------------+----------+-----------+---+---------+------+
//	 23              27                  35                  43
//	+----------------+-------------------+-------------------+
//	| lastOffsetDelta| baseTimestamp ms  | maxTimestamp ms   |
//	| int32          | int64             | int64             |
//	+----------------+-------------------+-------------------+
//	 43                  51       53           57           61
//	+-------------------+--------+------------+------------+----------...
//	| producerId int64  | pEpoch | baseSeq    | count      | records
//	| (-1: none)        | i16    | int32      | int32      | (compressed
//	+-------------------+--------+------------+------------+  as a whole)
//
//	length = bytes after the length field = total - 12
//	m      = magic, the format version: always 2
//	crc    = CRC-32C (Castagnoli) of bytes [21, total): attributes to the end.
//	         baseOffset, length, leader epoch and magic are outside it, so the
//	         log assigns the base offset without recomputing the checksum.
//	attr   = bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
//	         bit 3 timestamp type (0 CreateTime, 1 LogAppendTime)
//	         bit 4 transactional, bit 5 control batch
//	         bit 6 baseTimestamp holds the delete horizon (set by compaction)
//
// Record (repeated count times inside records):
//
//	+--------+------+---------+----------+--------+-----+--------+-------+---------+
//	| length | attr | tsDelta | offDelta | keyLen | key | valLen | value | headers |
//	| varint | int8 | varlong | varint   | varint |     | varint |       |         |
//	+--------+------+---------+----------+--------+-----+--------+-------+---------+
//
//	length  = bytes of the record after the length field
//	keyLen  = -1 for a null key, valLen = -1 for a null value (tombstone)
//	headers = count varint, then per header: keyLen varint, key (UTF-8),
//	          valLen varint (-1 null), value
//	timestamp = baseTimestamp + tsDelta, offset = baseOffset + offDelta
//
// These constants are part of the format.
const (
	batchHeaderSize = 61 // bytes of the fixed RecordBatch v2 header
	batchMagic      = 2
	batchOverhead   = 12 // baseOffset(8)+batchLength(4): bytes before the length-counted part

	// Byte positions of the header fields.
	batchLengthPos          = 8
	batchLeaderEpochPos     = 12
	batchMagicPos           = 16
	batchCRCPos             = 17
	batchAttributesPos      = 21
	batchLastOffsetDeltaPos = 23
	batchBaseTimestampPos   = 27
	batchMaxTimestampPos    = 35
	batchProducerIDPos      = 43
	batchProducerEpochPos   = 51
	batchBaseSequencePos    = 53
	batchRecordCountPos     = 57

	// Attribute bits.
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
	attrDeleteHorizon   = 0x40

	// noTimestamp is Kafka's RecordBatch.NO_TIMESTAMP, the base timestamp
	// of a batch a cleaning emptied of its records (a producer's last).
	noTimestamp = -1

	// minRecordSize is the smallest encoded record: a one-byte varint for
	// each of length, timestampDelta, offsetDelta, keyLen, valueLen and
	// header count, plus the attributes byte.
	minRecordSize = 7
)

// Tuning of the codec; not part of the format.
const (
	// maxDecodePrealloc bounds how many records decode makes room for
	// before it has seen them.
	maxDecodePrealloc = 4096

	// maxRetainedScratch is the largest scratch buffer an encoder or
	// decoder keeps between batches.
	maxRetainedScratch = 8 << 20
)

// castagnoli is the CRC-32C table; crc32 uses the CPU's instruction for it
// where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reasons a batch fails to parse or decode. They are plain errors: the
// caller wraps them into a *CorruptError naming the file and position.
var (
	errShortBatch  = errors.New("short batch") // b is shorter than the header / declared length
	errCRCMismatch = errors.New("crc mismatch")
)

// batchHeader is the fixed 61-byte prefix of a RecordBatch v2.
type batchHeader struct {
	BaseOffset      int64
	Length          int32 // batchLength: bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64 // ms
	MaxTimestamp    int64 // ms
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
}

// size returns the total bytes of the batch on disk: 12 + Length.
func (h *batchHeader) size() int64 { return batchOverhead + int64(h.Length) }

// lastOffset returns the offset of the batch's last record:
// BaseOffset + LastOffsetDelta.
func (h *batchHeader) lastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// compression returns the codec the records are compressed with.
func (h *batchHeader) compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// isControl reports whether this is a control batch (transaction markers).
func (h *batchHeader) isControl() bool { return h.Attributes&attrControl != 0 }

// parseBatchHeader decodes the fixed header from b. It needs
// len(b) >= batchHeaderSize (else errShortBatch) and checks that the magic
// is 2, that Length covers at least the rest of the header, that
// LastOffsetDelta and RecordCount are not negative, that the record count
// fits the offset range, and that the offsets do not overflow. It does not
// verify the CRC; see verifyBatchCRC.
func parseBatchHeader(b []byte) (batchHeader, error) {
	if len(b) < batchHeaderSize {
		return batchHeader{}, errShortBatch
	}
	be := binary.BigEndian
	h := batchHeader{
		BaseOffset:      int64(be.Uint64(b[0:])),
		Length:          int32(be.Uint32(b[batchLengthPos:])),
		LeaderEpoch:     int32(be.Uint32(b[batchLeaderEpochPos:])),
		Magic:           int8(b[batchMagicPos]),
		CRC:             be.Uint32(b[batchCRCPos:]),
		Attributes:      int16(be.Uint16(b[batchAttributesPos:])),
		LastOffsetDelta: int32(be.Uint32(b[batchLastOffsetDeltaPos:])),
		BaseTimestamp:   int64(be.Uint64(b[batchBaseTimestampPos:])),
		MaxTimestamp:    int64(be.Uint64(b[batchMaxTimestampPos:])),
		ProducerID:      int64(be.Uint64(b[batchProducerIDPos:])),
		ProducerEpoch:   int16(be.Uint16(b[batchProducerEpochPos:])),
		BaseSequence:    int32(be.Uint32(b[batchBaseSequencePos:])),
		RecordCount:     int32(be.Uint32(b[batchRecordCountPos:])),
	}
	switch {
	case h.Magic != batchMagic:
		return h, fmt.Errorf("unsupported magic byte %d", h.Magic)
	case h.Length < batchHeaderSize-batchOverhead:
		return h, fmt.Errorf("batch length %d shorter than the header", h.Length)
	case h.BaseOffset < 0:
		return h, fmt.Errorf("negative base offset %d", h.BaseOffset)
	case h.LastOffsetDelta < 0:
		return h, fmt.Errorf("negative last offset delta %d", h.LastOffsetDelta)
	case h.BaseOffset > math.MaxInt64-int64(h.LastOffsetDelta):
		return h, errors.New("last offset overflows")
	case h.RecordCount < 0:
		return h, fmt.Errorf("negative record count %d", h.RecordCount)
	case int64(h.RecordCount) > int64(h.LastOffsetDelta)+1:
		return h, fmt.Errorf("record count %d exceeds offset range %d", h.RecordCount, int64(h.LastOffsetDelta)+1)
	}
	return h, nil
}

// verifyBatchCRC checks the CRC-32C of a complete batch. b must hold the
// whole batch as its length field declares (else errShortBatch); bytes past
// that length are not looked at. It returns errCRCMismatch ("crc mismatch")
// when the checksum does not match.
func verifyBatchCRC(b []byte) error {
	if len(b) < batchHeaderSize {
		return errShortBatch
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthPos:]))
	if length < batchHeaderSize-batchOverhead {
		return fmt.Errorf("batch length %d shorter than the header", length)
	}
	size := batchOverhead + int64(length)
	if int64(len(b)) < size {
		return errShortBatch
	}
	if crc32c(b, batchAttributesPos, int(size)) != binary.BigEndian.Uint32(b[batchCRCPos:]) {
		return errCRCMismatch
	}
	return nil
}

// crc32c returns the CRC-32C of b[from:to]. It sums crcChunk bytes at a
// time and asks the CPU to prefetch the chunk after the one being summed,
// up to crcChunk bytes past to when b goes on (the next batch of a
// segment): the CRC instruction keeps too few loads in flight to pull a
// large batch from memory at the memory's speed by itself, and prefetching
// doubles its speed on a segment that is not in the CPU's caches.
func crc32c(b []byte, from, to int) uint32 {
	var crc uint32
	if to-from >= crcChunk {
		prefetch(b[from:min(from+crcChunk, len(b))])
	}
	for ; to-from > crcChunk; from += crcChunk {
		prefetch(b[from+crcChunk : min(from+2*crcChunk, len(b))])
		crc = crc32cUpdate(crc, b[from:from+crcChunk])
	}
	return crc32cUpdate(crc, b[from:to])
}

// crcChunk is how many bytes crc32c sums between prefetches: large enough
// for crc32's three-way interleaved loop (4,032 bytes) and for folding
// (crc32c_amd64.go), and ahead of them by about the time a load from
// memory takes.
const crcChunk = 4 << 10

// crcCheck checks a batch's CRC a chunk at a time.
type crcCheck struct {
	b       []byte // the batch, and whatever follows it
	at, end int    // what is summed; end: the end of the batch
	crc     uint32
}

// crcCheckChunk is how much crcCheck.next sums, and crcCheckAhead how far
// ahead of it it asks the CPU to prefetch: the fastest of the pairs from
// 512 to 8192 bytes tried on batches of small records.
const (
	crcCheckChunk = 1 << 10
	crcCheckAhead = 2 << 10
)

// next sums the next chunk of the batch.
func (c *crcCheck) next() {
	to := min(c.at+crcCheckChunk, c.end)
	prefetch(c.b[min(to+crcCheckAhead-crcCheckChunk, len(c.b)):min(to+crcCheckAhead, len(c.b))])
	c.crc = crc32cUpdate(c.crc, c.b[c.at:to])
	c.at = to
}

// matches sums what is left of the batch and reports whether its CRC
// matches the one in its header.
func (c *crcCheck) matches() bool {
	for c.at < c.end {
		c.next()
	}
	return c.crc == binary.BigEndian.Uint32(c.b[batchCRCPos:])
}

// setBaseOffset writes the base offset into an encoded batch (bytes 0..8,
// outside the CRC).
func setBaseOffset(batch []byte, base int64) {
	binary.BigEndian.PutUint64(batch[0:8], uint64(base))
}

// batchEncoder encodes record batches. It keeps a scratch buffer for the
// uncompressed records of compressed batches, so it is not safe for
// concurrent use: keep one per goroutine or pool them. The zero value is
// ready to use.
type batchEncoder struct {
	buf []byte // records before compression
	// recordsBytes is the size of the last encoded batch's records before
	// compression: what a read of it decompresses.
	recordsBytes int
}

// Record timestamps are milliseconds since 1970 in an int64, as Kafka's
// are. Keeping them within ±2^62 ms (4.6 million centuries) keeps the
// difference of any two, which a batch stores, within an int64 too.
const (
	minRecordMs = -1 << 62
	maxRecordMs = 1<<62 - 1
)

var (
	minRecordTime = time.UnixMilli(minRecordMs)
	maxRecordTime = time.UnixMilli(maxRecordMs)
)

// encode appends to dst one complete RecordBatch v2 holding records, and
// returns the extended slice. The batch has base offset 0 (the log assigns
// it with setBaseOffset), partition leader epoch 0, no producer id, epoch or
// sequence (-1, as Kafka writes for a non-idempotent producer) and
// CreateTime timestamps: baseTimestamp is the first record's, maxTimestamp
// the largest. Offset deltas are 0..n-1; Record.Offset, Topic and Partition
// of the inputs are ignored. Every record's Timestamp must be set.
//
// It fails with ErrInvalidRecord for an empty batch or a zero timestamp
// or one out of range,
// ErrUnsupportedCompression for a codec it cannot write, and
// ErrRecordTooLarge when the batch overflows Kafka's 32-bit lengths. On
// error dst is returned unchanged.
func (e *batchEncoder) encode(dst []byte, records []Record, c Compression) ([]byte, error) {
	if len(records) == 0 {
		return dst, fmt.Errorf("%w: empty batch", ErrInvalidRecord)
	}
	if len(records) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: %d records in one batch", ErrRecordTooLarge, len(records))
	}
	if !c.supported() {
		return dst, fmt.Errorf("%w: %s (%d)", ErrUnsupportedCompression, c, c)
	}

	baseTS := records[0].Timestamp.UnixMilli()
	maxTS := baseTS
	estimate := batchHeaderSize
	for i := range records {
		r := &records[i]
		if r.Timestamp.IsZero() {
			return dst, fmt.Errorf("%w: record %d has no timestamp", ErrInvalidRecord, i)
		}
		if r.Timestamp.Before(minRecordTime) || r.Timestamp.After(maxRecordTime) {
			return dst, fmt.Errorf("%w: record %d has timestamp %v, outside Kafka's milliseconds since 1970 (±2^62)", ErrInvalidRecord, i, r.Timestamp)
		}
		maxTS = max(maxTS, r.Timestamp.UnixMilli())
		estimate += len(r.Key) + len(r.Value) + 16
	}

	start := len(dst)
	var err error
	if c == CompressionNone {
		dst = slices.Grow(dst, estimate)
		dst = dst[:start+batchHeaderSize]
		dst, err = appendRecords(dst, records, baseTS)
		e.recordsBytes = len(dst) - start - batchHeaderSize
	} else {
		e.buf, err = appendRecords(e.buf[:0], records, baseTS)
		e.recordsBytes = len(e.buf)
		if err == nil {
			dst = slices.Grow(dst, batchHeaderSize+len(e.buf)/2)
			dst = dst[:start+batchHeaderSize]
			dst, err = compress(dst, e.buf, c)
		}
		if cap(e.buf) > maxRetainedScratch {
			e.buf = nil
		}
	}
	if err != nil {
		return dst[:start], err
	}
	length := len(dst) - start - batchOverhead
	if length > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: batch of %d bytes", ErrRecordTooLarge, length+batchOverhead)
	}

	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[batchLengthPos:], uint32(length))
	be.PutUint32(b[batchLeaderEpochPos:], 0)
	b[batchMagicPos] = batchMagic
	be.PutUint16(b[batchAttributesPos:], uint16(c))
	be.PutUint32(b[batchLastOffsetDeltaPos:], uint32(len(records)-1))
	be.PutUint64(b[batchBaseTimestampPos:], uint64(baseTS))
	be.PutUint64(b[batchMaxTimestampPos:], uint64(maxTS))
	be.PutUint64(b[batchProducerIDPos:], math.MaxUint64) // -1
	be.PutUint16(b[batchProducerEpochPos:], math.MaxUint16)
	be.PutUint32(b[batchBaseSequencePos:], math.MaxUint32)
	be.PutUint32(b[batchRecordCountPos:], uint32(len(records)))
	be.PutUint32(b[batchCRCPos:], crc32cUpdate(0, b[batchAttributesPos:]))
	return dst, nil
}

// appendRecords appends the encoded records, with timestamp deltas relative
// to baseTS and offset deltas 0..n-1.
func appendRecords(dst []byte, records []Record, baseTS int64) ([]byte, error) {
	for i := range records {
		r := &records[i]
		tsDelta := r.Timestamp.UnixMilli() - baseTS
		fixed := recordFixedSize(r)
		size := fixed + varintLen(tsDelta) + varintLen(int64(i))
		if size > math.MaxInt32 {
			return dst, fmt.Errorf("%w: record %d encodes to %d bytes", ErrRecordTooLarge, i, size)
		}
		dst = slices.Grow(dst, size+5)
		dst = appendRecord(dst, r, fixed, tsDelta, i)
	}
	return dst, nil
}

// recordFixedSize is the encoded size of r's body without its timestamp
// and offset deltas; see appendRecords.
func recordFixedSize(r *Record) int {
	n := 1 + bytesFieldLen(r.Key) + bytesFieldLen(r.Value) + varintLen(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesFieldLen(h.Value)
	}
	return n
}

// appendRecord encodes r, whose recordFixedSize is fixed, as the record at
// offsetDelta of its batch, length prefix included.
func appendRecord(dst []byte, r *Record, fixed int, tsDelta int64, offsetDelta int) []byte {
	dst = appendVarint(dst, int64(fixed+varintLen(tsDelta)+varintLen(int64(offsetDelta))))
	dst = append(dst, 0)
	dst = appendVarint(dst, tsDelta)
	dst = appendVarint(dst, int64(offsetDelta))
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = appendVarint(dst, int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = appendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytesField(dst, h.Value)
	}
	return dst
}

// appendVarint appends v as a zigzag varint. For values that fit in 32
// bits the bytes equal Kafka's 32-bit varint.
func appendVarint(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// varintLen returns the encoded size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

// appendBytesField appends a length-prefixed byte string; nil is written
// as length -1 (null).
func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // zigzag(-1)
	}
	dst = appendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// bytesFieldLen returns the encoded size of a length-prefixed byte string.
func bytesFieldLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// readVarint reads a zigzag varint from b at i and returns it with the
// index after it, or index -1 when b holds no valid varint at i. Go does not
// inline it; the record parser reads one- and two-byte varints with
// shortVarint first.
func readVarint(b []byte, i int) (int64, int) {
	if uint(i) < uint(len(b)) {
		u := uint64(b[i])
		if u < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
		if i+1 < len(b) && b[i+1] < 0x80 {
			u = u&0x7f | uint64(b[i+1])<<7
			return int64(u>>1) ^ -int64(u&1), i + 2
		}
	}
	return readVarintSlow(b, i)
}

// readVarintSlow is readVarint for long varints and the end of b.
//
//go:noinline
func readVarintSlow(b []byte, i int) (int64, int) {
	if i < 0 {
		return 0, -1
	}
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		i++
		if shift == 63 && c > 1 {
			return 0, -1 // overflows 64 bits
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i
		}
	}
	return 0, -1
}

// batchDecoder decodes batches. It keeps a scratch buffer for decompressed
// records, so it is not safe for concurrent use. The zero value is ready to
// use.
type batchDecoder struct {
	buf []byte // decompressed records, reused across batches
}

// decode appends the records of one complete batch to dst and returns the
// extended slice. b holds the batch (at least h.size() bytes; bytes past it
// are ignored) and h its parsed header. decode does not check the CRC, but
// it is memory-safe on any input.
//
// Each record gets Offset = BaseOffset + offsetDelta and Timestamp =
// BaseTimestamp + timestampDelta, or MaxTimestamp for every record when the
// batch uses LogAppendTime, as Kafka does. That holds for a batch with the
// delete-horizon bit (attrDeleteHorizon) too: its BaseTimestamp is the
// horizon and compaction encodes the deltas against it (KIP-534), so record
// timestamps are unchanged by cleaning. Records with Offset < minOffset
// are skipped. Topic and Partition are left for the caller. A control batch
// decodes like any other.
//
// The records never alias b: the records area (after decompression) is
// copied once per batch, from the first record kept, into a fresh slice
// that keys, values and header keys and values share, each capped so that
// appending to one cannot overwrite another. The only other allocations
// are the Headers slices of records that have headers. maxDecompressed
// bounds the decompressed size of a compressed batch; exceeding it fails
// with an error wrapping ErrRecordTooLarge. The headers of the records kept
// are bounded by maxReadHeaders: more fail, before the Headers slice that
// would pass it is allocated, with a *headersError. decode makes the whole
// batch, whatever memory that takes: the copying reads use decodeWithin.
//
// Malformed varints, lengths past the end, offsets out of order or outside
// the batch, a record count that does not match the records, and trailing
// bytes fail with a short reason (see recordIter). On error dst is
// returned unchanged.
func (d *batchDecoder) decode(dst []Record, h *batchHeader, b []byte, minOffset int64, maxDecompressed int) ([]Record, error) {
	return d.decodeWithin(dst, h, b, minOffset, maxDecompressed, nil)
}

// decodeWithin is decode within a copy budget (see copy_budget.go): it
// stops before the record that would take what it made of the batch past
// budget.limit, the first record kept excepted, and records in budget what
// it made and whether it stopped short of the batch's end. The records it
// stops before are left unchecked, for the read that goes on from them;
// those below minOffset are checked only as far as recordIter.skipBelow
// reads them. With a budget, maxReadHeaders bounds the headers of one
// record, not those of the batch: a record of more fails, unless records
// were kept before it, where the batch is cut instead. A nil budget is
// decode.
func (d *batchDecoder) decodeWithin(dst []Record, h *batchHeader, b []byte, minOffset int64, maxDecompressed int, budget *copyBudget) ([]Record, error) {
	raw, err := d.recordsArea(h, b, maxDecompressed)
	if err != nil {
		return dst, err
	}
	defer d.trim()
	var it recordIter
	if err := it.reset(h, raw); err != nil {
		return dst, err
	}
	n0 := len(dst)
	// end is where the records stop fitting in the budget: the start of
	// the first record not made, or the end of the area.
	end, grow := len(raw), min(it.count, maxDecodePrealloc)
	if budget != nil {
		*budget = copyBudget{limit: budget.limit}
		if err := it.skipBelow(minOffset); err != nil {
			return dst, err
		}
		if mayPassBudget(it.count-it.index, len(raw)-it.p, budget.limit) {
			var n int
			if end, n, err = budgetEnd(it, minOffset, budget.limit); err != nil {
				return dst, err
			}
			grow = n
		}
	}
	// Grow for the records up front, but not unboundedly on the word of a
	// damaged count: append grows further as records prove real.
	dst = slices.Grow(dst, grow)
	var (
		f       recordFields
		data    []byte // fresh copy of raw[base:end], allocated at the first record kept
		base    int
		headers int // of the records kept so far
	)
	for {
		if err := it.next(&f); err == errBatchEnd {
			break
		} else if err != nil {
			clear(dst[n0:]) // drop references to the batch's data
			return dst[:n0], err
		}
		if f.offset < minOffset {
			continue
		}
		if f.start >= end {
			budget.cut = true
			break
		}
		if f.headers > 0 {
			headers += f.headers
			if f.headers > maxReadHeaders || budget == nil && headers > maxReadHeaders {
				if budget != nil && len(dst) > n0 {
					// Left for the next read, which fails on it alone.
					budget.cut = true
					headers -= f.headers
					break
				}
				clear(dst[n0:])
				return dst[:n0], &headersError{offset: f.offset, headers: f.headers, batch: headers, limit: maxReadHeaders}
			}
		}
		if data == nil {
			base = f.start
			data = make([]byte, end-base) // with the copy: allocated without zeroing
			copy(data, raw[base:end])
		}
		r := Record{
			Offset:    f.offset,
			Timestamp: time.UnixMilli(f.timestamp),
			Key:       subslice(data, f.keyAt-base, f.keyLen),
			Value:     subslice(data, f.valueAt-base, f.valueLen),
		}
		if f.headers > 0 {
			v := RecordView{headers: data[f.headersAt-base : f.end-base], headerCount: f.headers}
			r.Headers = make([]Header, 0, f.headers)
			// The keys share data rather than being copied: no slice
			// handed out covers their bytes, so nothing can write them.
			for key, value := range v.Headers() {
				r.Headers = append(r.Headers, Header{Key: key, Value: value})
			}
		}
		dst = append(dst, r)
	}
	if budget != nil {
		budget.made = int64(len(dst)-n0)*recordStructSize + int64(headers)*int64(headerSize) + int64(len(data))
	}
	return dst, nil
}

// recordsArea returns the records of the batch h heads, decompressed into
// d's buffer when the batch is compressed. The area is valid until the next
// call.
func (d *batchDecoder) recordsArea(h *batchHeader, b []byte, maxDecompressed int) ([]byte, error) {
	size := h.size()
	if size < batchHeaderSize {
		return nil, fmt.Errorf("batch length %d shorter than the header", h.Length)
	}
	if int64(len(b)) < size {
		return nil, errShortBatch
	}
	if h.RecordCount < 0 || h.LastOffsetDelta < 0 {
		return nil, errors.New("negative record count or offset delta")
	}
	raw := b[batchHeaderSize:size]
	if c := h.compression(); c != CompressionNone {
		d.trim()
		var err error
		if d.buf, err = decompress(d.buf[:0], raw, c, maxDecompressed); err != nil {
			return nil, err
		}
		raw = d.buf
	}
	return raw, nil
}

// trim drops the decompression scratch after an unusually large batch, so
// that a pooled decoder does not pin its memory.
func (d *batchDecoder) trim() {
	if cap(d.buf) > maxRetainedScratch {
		d.buf = nil
	}
}
