package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Transaction markers are control batches, byte for byte as Kafka writes
// them: attributes transactional and control (bits 4 and 5), the
// producer's id and epoch, base sequence -1, and one record, uncompressed,
// without headers:
//
//	key   (ControlRecordKey): +-------------+-----------+
//	                          | version i16 | type i16  |
//	                          | = 0         | 0 ABORT,  |
//	                          |             | 1 COMMIT  |
//	                          +-------------+-----------+
//
//	value (EndTxnMarker):     +-------------+-------------------------+
//	                          | version i16 | coordinator epoch i32   |
//	                          | = 0         |                         |
//	                          +-------------+-------------------------+
//
// big-endian. A marker ends its producer's open transaction in the
// partition: COMMIT makes the transaction's records readable to
// read_committed consumers, ABORT hides them for good. Readers never see a
// control batch. These constants are part of the format.
const (
	controlKeyVersion   = 0
	controlTypeAbort    = 0
	controlTypeCommit   = 1
	controlKeySize      = 4
	endTxnMarkerVersion = 0
	endTxnMarkerSize    = 6
)

// controlMarker is a decoded transaction marker.
type controlMarker struct {
	commit           bool
	coordinatorEpoch int32
}

// encodeMarker returns a transaction marker batch of producer id, with
// base offset 0 for the log to assign.
func encodeMarker(id ProducerID, commit bool, coordinatorEpoch int32, ts time.Time) ([]byte, error) {
	typ := uint16(controlTypeAbort)
	if commit {
		typ = controlTypeCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, controlKeyVersion), typ)
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, endTxnMarkerVersion), uint32(coordinatorEpoch))
	var enc batchEncoder
	batch, err := enc.encode(nil, []Record{{Key: key, Value: value, Timestamp: ts}}, CompressionNone)
	if err != nil {
		return nil, err
	}
	attrs := binary.BigEndian.Uint16(batch[batchAttributesPos:])
	binary.BigEndian.PutUint16(batch[batchAttributesPos:], attrs|attrControl)
	setProducerFields(batch, id, noSequence, true)
	return batch, nil
}

// errNotMarker is the reason a control batch fails to parse as a marker.
var errNotMarker = errors.New("control batch")

// ControlType is the type of a control record (Kafka's
// ControlRecordType): a transaction marker, ControlAbort or
// ControlCommit, or one of Kafka's other types, which the Log does not
// write (KRaft's, for instance).
type ControlType int16

// The control types of transaction markers.
const (
	// ControlAbort ends a transaction whose records are hidden for good.
	ControlAbort ControlType = controlTypeAbort
	// ControlCommit ends a transaction whose records read_committed
	// consumers then read.
	ControlCommit ControlType = controlTypeCommit
)

// String returns Kafka's name for a marker's type, "ABORT" or "COMMIT",
// and ControlType(n) for other types.
func (t ControlType) String() string {
	switch t {
	case ControlAbort:
		return "ABORT"
	case ControlCommit:
		return "COMMIT"
	}
	return fmt.Sprintf("ControlType(%d)", int16(t))
}

// ControlRecord is the one record of a control batch, decoded: what
// Kafka's kafka-dump-log prints of it. Readers never see control records;
// Partition.Batches hands them out with their batches
// (BatchInfo.ControlRecord).
type ControlRecord struct {
	Offset    int64
	Timestamp time.Time // as for the batch's other records: the batch's max timestamp if LogAppendTime
	KeySize   int       // bytes of its key, -1 for none
	ValueSize int       // bytes of its value, -1 for none
	Type      ControlType
	// CoordinatorEpoch is the epoch of the transaction coordinator that
	// wrote a transaction marker; 0 for other control records.
	CoordinatorEpoch int32
}

// TransactionMarker reports whether c ends a transaction: a COMMIT or
// ABORT marker.
func (c *ControlRecord) TransactionMarker() bool {
	return c.Type == ControlAbort || c.Type == ControlCommit
}

// emptyControl reports whether h is a control batch without records: a
// transaction marker the cleaner emptied (compaction_markers.go), kept for
// its producer's epoch, as Kafka's cleaner keeps one. It ends nothing.
func (h *batchHeader) emptyControl() bool { return h.isControl() && h.RecordCount == 0 }

// parseControlBatch reads the control record of a control batch. ok is
// false, without an error, for control records that are not transaction
// markers (Kafka's other control types) and for an emptied marker.
func parseControlBatch(h *batchHeader, batch []byte) (m controlMarker, ok bool, err error) {
	if h.emptyControl() {
		return m, false, nil
	}
	c, err := decodeControlBatch(h, batch)
	if err != nil || !c.TransactionMarker() {
		return m, false, err
	}
	return controlMarker{commit: c.Type == ControlCommit, coordinatorEpoch: c.CoordinatorEpoch}, true, nil
}

// decodeControlBatch decodes the control record of a control batch: one
// record, uncompressed, whose key is a ControlRecordKey of version 0 and,
// for a transaction marker, whose value is an EndTxnMarker.
func decodeControlBatch(h *batchHeader, batch []byte) (ControlRecord, error) {
	if h.compression() != CompressionNone {
		return ControlRecord{}, fmt.Errorf("%w: compressed with %s", errNotMarker, h.compression())
	}
	if int64(len(batch)) < h.size() {
		return ControlRecord{}, fmt.Errorf("%w: %w", errNotMarker, errShortBatch)
	}
	var it recordIter
	if err := it.reset(h, batch[batchHeaderSize:h.size()]); err != nil {
		return ControlRecord{}, fmt.Errorf("%w: %w", errNotMarker, err)
	}
	var f recordFields
	if err := it.next(&f); err != nil {
		return ControlRecord{}, fmt.Errorf("%w: %w", errNotMarker, err)
	}
	c := ControlRecord{Offset: f.offset, Timestamp: time.UnixMilli(f.timestamp), KeySize: f.keyLen, ValueSize: f.valueLen}
	var err error
	c.Type, c.CoordinatorEpoch, err = decodeMarker(subslice(it.area, f.keyAt, f.keyLen), subslice(it.area, f.valueAt, f.valueLen))
	return c, err
}

// decodeMarker decodes a control record's key and value: its type and,
// for a transaction marker, the coordinator epoch.
func decodeMarker(key, value []byte) (typ ControlType, coordinatorEpoch int32, err error) {
	if len(key) < controlKeySize {
		return 0, 0, fmt.Errorf("%w: key of %d bytes", errNotMarker, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != controlKeyVersion {
		return 0, 0, fmt.Errorf("%w: key version %d", errNotMarker, v)
	}
	typ = ControlType(binary.BigEndian.Uint16(key[2:]))
	if typ != ControlAbort && typ != ControlCommit {
		return typ, 0, nil
	}
	if len(value) < endTxnMarkerSize {
		return typ, 0, fmt.Errorf("%w: marker value of %d bytes", errNotMarker, len(value))
	}
	if v := int16(binary.BigEndian.Uint16(value)); v < 0 {
		return typ, 0, fmt.Errorf("%w: marker value version %d", errNotMarker, v)
	}
	return typ, int32(binary.BigEndian.Uint32(value[2:])), nil
}

// putProducerFields writes a producer id, epoch and base sequence, and the
// transactional attribute, into an encoded batch header; the checksum is
// the caller's to update.
func putProducerFields(batch []byte, id ProducerID, seq int32, transactional bool) {
	be := binary.BigEndian
	be.PutUint64(batch[batchProducerIDPos:], uint64(id.ID))
	be.PutUint16(batch[batchProducerEpochPos:], uint16(id.Epoch))
	be.PutUint32(batch[batchBaseSequencePos:], uint32(seq))
	if transactional {
		be.PutUint16(batch[batchAttributesPos:], be.Uint16(batch[batchAttributesPos:])|attrTransactional)
	}
}

// putBatchCRC recomputes the checksum of a complete encoded batch.
func putBatchCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[batchCRCPos:], crc32.Checksum(batch[batchAttributesPos:], castagnoli))
}
