package eventlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

// Raw batches: the stored bytes of record batches, read and written as a
// Kafka broker moves them, for protocol bridges such as the kafkaserver
// sub-module. A fetch serves what the segments hold without decoding it;
// a produce stores what the client encoded without re-encoding it.

// AppendBatch stores batch, one Kafka RecordBatch v2 as a Kafka producer
// encodes it, and returns the offset the log gave its first record; the
// others follow densely. The records are stored as the client encoded
// them, compression included: the log only assigns the base offset, sets
// the partition leader epoch to 0 and, when the header's max timestamp is
// not the largest record timestamp, corrects it and the CRC, as a Kafka
// broker does. The caller's batch is not modified.
//
// The batch is checked first, as a Kafka broker checks a produced batch:
// its length field must cover exactly len(batch), its magic be 2 and its
// CRC-32C match (a mismatch wraps ErrInvalidRecord and ErrCorrupt); it
// must hold at least one record, with offset deltas 0, 1, ... and record
// count equal to lastOffsetDelta+1; its codec must be one of Kafka's five
// (others fail with ErrUnsupportedCompression); it must be neither a
// control batch nor transactional, use CreateTime, and decode cleanly,
// with the records' 32-bit fields in varints of at most five bytes, as
// Kafka reads them, the checksums of an LZ4 frame matching, snappy
// blocks free of S2's extensions, xerial framing of a version
// snappy-java reads (1 or more) and zstd frames of windows of at most 128
// MiB, which Java's zstd decodes; a batch with a producer ID must carry a
// base sequence and an epoch (not negative) and an ID below 2^62 that is
// not a transactional Producer's, as Append's must; and its base
// timestamp and its records' timestamps must lie within ±2^62 ms of 1970,
// as Append's records must.
// Then the rules of Append apply: a batch larger than the topic's
// MaxBatchBytes, or whose records have more headers than Append takes,
// fails with ErrRecordTooLarge, a record without a key on a
// compacted topic with ErrInvalidRecord, and an internal topic refuses
// it. The producer ID, epoch and base sequence are stored as they are, and
// a batch with a producer ID is checked as Append checks one with
// AppendOptions.Producer: a repeat of one of the producer's last five
// batches returns the offset it got the first time, stored once; a
// sequence out of order fails with ErrOutOfOrderSequence, an old epoch
// with ErrProducerFenced.
//
// opts.Durability says when AppendBatch returns, and opts.Condition
// whether it stores the batch, as for Append; opts.Compression and
// opts.Producer are ignored, since the batch names its own codec and
// producer.
func (p *Partition) AppendBatch(ctx context.Context, batch []byte, opts AppendOptions) (int64, error) {
	if isInternalTopic(p.topic) {
		return -1, p.errorf("%w: %q is an internal topic, written only by the library", ErrInvalidTopic, p.topic)
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if !opts.Durability.valid() {
		return -1, p.errorf("%w: durability %d", ErrInvalidConfig, opts.Durability)
	}
	if limit := p.config().maxBatchBytes; len(batch) > limit {
		return -1, p.errorf("%w: batch is %d bytes, max is %d", ErrRecordTooLarge, len(batch), limit)
	}
	buf := batchBufferPool.Get().(*[]byte)
	defer putBatchBuffer(buf)
	b := append((*buf)[:0], batch...)
	*buf = b
	keyless, err := p.checkProducedBatch(b)
	if err != nil {
		return -1, err
	}
	if err := opts.Condition.validate(p); err != nil {
		return -1, err
	}
	return p.appendEncoded(b, opts.Durability, appendChecks{keyless: keyless, condition: opts.Condition})
}

// checkProducedBatch validates a client's batch for AppendBatch and
// prepares its header for the log. It reports whether a record has a null
// key.
func (p *Partition) checkProducedBatch(b []byte) (keyless bool, err error) {
	invalid := func(format string, args ...any) error {
		return p.errorf("%w: produced batch: "+format, append([]any{ErrInvalidRecord}, args...)...)
	}
	if len(b) < batchHeaderSize {
		return false, invalid("%d bytes, shorter than the %d-byte header", len(b), batchHeaderSize)
	}
	h, err := parseBatchHeader(b)
	if err != nil {
		return false, invalid("%v", err)
	}
	switch {
	case h.size() != int64(len(b)):
		return false, invalid("length field says %d bytes, the batch has %d", h.size(), len(b))
	case verifyBatchCRC(b) != nil:
		return false, p.errorf("%w: produced batch: %w: crc mismatch", ErrInvalidRecord, ErrCorrupt)
	case h.isControl():
		return false, invalid("control batches are written by the log, not by producers")
	case h.Attributes&attrTransactional != 0:
		return false, invalid("transactional batches are not supported")
	case h.Attributes&(attrLogAppendTime|attrDeleteHorizon) != 0:
		return false, invalid("attributes %#x: a producer sends CreateTime batches without a delete horizon", h.Attributes)
	case h.RecordCount == 0:
		return false, invalid("no records")
	case int64(h.RecordCount) != int64(h.LastOffsetDelta)+1:
		return false, invalid("record count %d does not match last offset delta %d", h.RecordCount, h.LastOffsetDelta)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		// Kafka's LogValidator refuses it too: a batch without a
		// sequence cannot be recognised when it is sent again.
		return false, invalid("producer id %d with base sequence %d: an idempotent producer's batches carry a sequence", h.ProducerID, h.BaseSequence)
	case h.ProducerID > maxProducerID:
		return false, invalid("producer id %d is above %d, the highest the Log takes: get ids from InitProducerId (Log.NewProducerID)", h.ProducerID, int64(maxProducerID))
	case h.ProducerID >= 0 && h.ProducerEpoch < 0:
		// As Append refuses it. Kafka's producers send epoch -1
		// (NO_PRODUCER_EPOCH) only with producer id -1.
		return false, invalid("producer id %d with epoch %d: producer epochs are never negative", h.ProducerID, h.ProducerEpoch)
	case h.BaseTimestamp < minRecordMs || h.BaseTimestamp > maxRecordMs:
		return false, invalid("base timestamp %d ms is outside Kafka's milliseconds since 1970 that the log keeps (±2^62)", h.BaseTimestamp)
	}
	if h.ProducerID >= 0 {
		if err := p.log.txns.checkNotTransactional(h.ProducerID); err != nil {
			return false, invalid("%w", err)
		}
	}
	if c := h.compression(); !c.supported() {
		return false, p.errorf("%w: produced batch: %s (%d)", ErrUnsupportedCompression, c, c)
	}
	if c := h.compression(); c == CompressionZstd {
		// Before decoding: a large window costs the decoder memory.
		if err := checkZstdWindows(b[batchHeaderSize:]); err != nil {
			return false, invalid("%v", err)
		}
	}
	dec := decoderPool.Get().(*batchDecoder)
	defer decoderPool.Put(dec)
	defer dec.trim()
	area, err := dec.recordsArea(&h, b, maxAppendDecompressedBytes(p.config().maxBatchBytes))
	if err != nil {
		return false, invalid("%w", err)
	}
	switch h.compression() {
	case CompressionLZ4:
		if err := checkLZ4Checksums(b[batchHeaderSize:], area); err != nil {
			return false, invalid("%v", err)
		}
	case CompressionSnappy:
		if err := checkSnappyStrict(b[batchHeaderSize:]); err != nil {
			return false, invalid("%v", err)
		}
	}
	var it recordIter
	if err := it.reset(&h, area); err != nil {
		return false, invalid("%v", err)
	}
	compacted := p.config().cleanup.compacts()
	maxTS := int64(-1)
	headers, maxHeaders := 0, maxAppendHeaders(p.config().maxBatchBytes)
	for i := 0; ; i++ {
		var f recordFields
		if err := it.next(&f); err == errBatchEnd {
			break
		} else if err != nil {
			return false, invalid("%v", err)
		}
		if err := checkKafkaVarints(area, &f); err != nil {
			return false, invalid("record %d: %v", i, err)
		}
		if f.keyLen < 0 {
			if compacted {
				return false, p.errorf("%w: record %d has a null key, and topic %q is compacted (cleanup.policy=%s): compaction keeps the newest record per key, so every record needs one", ErrInvalidRecord, i, p.topic, p.config().cleanup)
			}
			keyless = true
		}
		// With the base timestamp within ±2^62, a timestamp delta that
		// overflows an int64 wraps to a time outside that range too.
		if f.timestamp < minRecordMs || f.timestamp > maxRecordMs {
			return false, invalid("record %d: timestamp delta %d from base timestamp %d is outside Kafka's milliseconds since 1970 that the log keeps (±2^62), as Append refuses it", i, f.timestamp-h.BaseTimestamp, h.BaseTimestamp)
		}
		maxTS = max(maxTS, f.timestamp)
		if headers += f.headers; headers > maxHeaders {
			// Sound, but a copying read would make a Header of each.
			return false, p.errorf("%w: produced batch: record %d has %d headers, %d with those of the records before it, more than the %d a batch may hold (%d bytes as the Header values of a copying read, what the batch may decompress to)", ErrRecordTooLarge, i, f.headers, headers, maxHeaders, maxHeaders*headerSize)
		}
	}
	be := binary.BigEndian
	be.PutUint32(b[batchLeaderEpochPos:], 0)
	if maxTS != h.MaxTimestamp {
		be.PutUint64(b[batchMaxTimestampPos:], uint64(maxTS))
		be.PutUint32(b[batchCRCPos:], crc32cUpdate(0, b[batchAttributesPos:]))
	}
	return keyless, nil
}

// maxVarint32Bytes is the longest varint Kafka reads for a record's 32-bit
// fields (Java's ByteUtils.readVarint; franz-go's kbin.Varint too): five
// bytes carry 32 bits.
const maxVarint32Bytes = 5

// checkKafkaVarints checks that the 32-bit fields of the record f of area
// — its length, offset delta, key and value lengths, header count and
// header key and value lengths — are varints Kafka reads, of at most five
// bytes. recordIter reads every varint as a 64-bit one, of up to ten
// bytes: a produced record with a longer encoding of a small number would
// be read here but refused by every Kafka client that fetches it. f must
// be a record recordIter parsed.
func checkKafkaVarints(area []byte, f *recordFields) error {
	check := func(from, to int, field string) error {
		if to-from > maxVarint32Bytes {
			return fmt.Errorf("%s is a varint of %d bytes, longer than Kafka's %d", field, to-from, maxVarint32Bytes)
		}
		return nil
	}
	_, p := readVarint(area, f.start)
	if err := check(f.start, p, "record length"); err != nil {
		return err
	}
	_, p = readVarint(area, p+1) // attributes, then the timestamp delta: a 64-bit field
	q := p
	_, p = readVarint(area, q)
	if err := check(q, p, "offset delta"); err != nil {
		return err
	}
	if err := check(p, f.keyAt, "key length"); err != nil {
		return err
	}
	p = f.keyAt + max(f.keyLen, 0)
	if err := check(p, f.valueAt, "value length"); err != nil {
		return err
	}
	q = f.valueAt + max(f.valueLen, 0)
	headers, p := readVarint(area, q)
	if err := check(q, p, "header count"); err != nil {
		return err
	}
	for range headers {
		var n int64
		q = p
		n, p = readVarint(area, q)
		if err := check(q, p, "header key length"); err != nil {
			return err
		}
		q = p + int(n)
		n, p = readVarint(area, q)
		if err := check(q, p, "header value length"); err != nil {
			return err
		}
		p += max(int(n), 0)
	}
	return nil
}

// ReadBatches returns the stored bytes of whole record batches of the
// partition, read in place from the segment's mapping: the batch holding
// offset (which may start below it, as in Kafka) and those after it in the
// same segment, up to maxBytes in all, but always the first batch however
// large. Every batch is below the high watermark and has had its CRC-32C
// checked. Control batches are included. At the high watermark there is
// nothing to read: batches is empty and the error nil. Reading below the
// log start offset or past the log end offset returns
// ErrOffsetOutOfRange; damaged data returns a *CorruptError.
//
// The bytes are a read-only mapping: never write into them. They stay
// valid until release is called, however the partition changes meanwhile
// (retention, compaction, DeleteTopic, Close); call release when done,
// even when batches is empty or an error is returned (calls after the
// first do nothing). A read stops at the
// end of a segment, as Kafka's does; the next read goes on from there.
func (p *Partition) ReadBatches(offset int64, maxBytes int) (batches []byte, release func(), err error) {
	return p.readBatches(offset, maxBytes, true)
}

// readBatches is ReadBatches, checking CRCs if checkCRC is set.
func (p *Partition) readBatches(offset int64, maxBytes int, checkCRC bool) (batches []byte, release func(), err error) {
	release = func() {}
	if maxBytes <= 0 {
		return nil, release, p.errorf("%w: read of %d bytes", ErrInvalidConfig, maxBytes)
	}
	if !p.log.enter() {
		return nil, release, ErrClosed
	}
	defer p.log.exit()
	if err := p.checkReadable(offset); err != nil {
		return nil, release, err
	}
	c := batchCursor{p: p, offset: offset, hw: p.hw.Load(), control: true, noCRC: !checkCRC}
	defer c.close()
	if ok, err := c.next(); err != nil || !ok {
		return nil, release, err
	}
	// References of our own, so that the bytes outlive the cursor.
	seg, m := c.seg, c.m
	if !seg.acquire() {
		return nil, release, p.errorf("segment %s released while read", seg.path(logExt))
	}
	m.refs.tryAcquire() // cannot fail: the cursor holds one
	// Idempotent: a second call must not drop references it does not
	// hold, which would unmap the segment under every other reader.
	release = sync.OnceFunc(func() {
		m.release()
		_ = seg.release()
	})
	data := c.data
	start, end := c.batchPos, c.batchPos+c.h.size()
	for end+batchHeaderSize <= int64(len(data)) {
		next := end + batchOverhead + int64(int32(binary.BigEndian.Uint32(data[end+batchLengthPos:])))
		if next-start > int64(maxBytes) {
			break
		}
		// Damage after the first batch is reported by the read that
		// starts at it.
		if ok, err := c.next(); err != nil || !ok || c.seg != seg || c.batchPos != end {
			break
		}
		end = c.batchPos + c.h.size()
	}
	return data[start:end:end], release, nil
}

// WatchHighWatermark makes every move of the partition's high watermark —
// and the Log's Close, and the deletion of the topic — send on ch without
// blocking, until stop is called; ch should have a buffer of one. It lets
// one goroutine wait for any of several partitions, as a Kafka fetch with
// min bytes does; Wait is the simpler call for one.
func (p *Partition) WatchHighWatermark(ch chan<- struct{}) (stop func()) {
	return p.watch(ch)
}
