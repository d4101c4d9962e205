package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/eventlog/eventlog"
)

// controlRecord is the record of a control batch: a transaction marker,
// COMMIT or ABORT, or another of Kafka's control types.
type controlRecord struct {
	offset              int64
	timestamp           time.Time
	keySize, valueSize  int
	controlType         int16 // 0 ABORT, 1 COMMIT
	coordinatorEpoch    int32 // of a transaction marker
	isTransactionMarker bool
}

// typeName is Kafka's name for the control type.
func (c *controlRecord) typeName() string {
	switch {
	case c.isTransactionMarker && c.controlType == 1:
		return "COMMIT"
	case c.isTransactionMarker:
		return "ABORT"
	}
	return fmt.Sprintf("control type %d", c.controlType)
}

// batchControl returns the control record of control batch b, or nil
// when the record is before the log start (deleted). The library reads
// records, not control records, so it is parsed here from the stored
// batch, in Kafka's RecordBatch v2 format.
func batchControl(p *eventlog.Partition, b *eventlog.BatchInfo) (*controlRecord, error) {
	if b.BaseOffset < p.LogStartOffset() {
		return nil, nil
	}
	if b.Compression != eventlog.CompressionNone {
		return nil, fmt.Errorf("%s at byte %d: control batch compressed with %s", b.Path, b.Pos, b.Compression)
	}
	raw, release, err := p.ReadBatches(b.BaseOffset, 1) // the first batch, however large
	defer release()
	if err != nil {
		return nil, err
	}
	c, err := parseControlRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%s at byte %d: control batch: %w", b.Path, b.Pos, err)
	}
	if b.LogAppendTime {
		c.timestamp = b.MaxTimestamp // as for every record of such a batch
	}
	return c, nil
}

// Positions in a RecordBatch v2 header.
const (
	baseTimestampPos = 27
	recordsPos       = 61 // the header's size
)

var errShortControl = errors.New("the record is cut short")

// parseControlRecord parses the first record of the uncompressed batch
// at the start of raw.
func parseControlRecord(raw []byte) (*controlRecord, error) {
	if len(raw) < recordsPos {
		return nil, errShortControl
	}
	c := &controlRecord{}
	base := int64(binary.BigEndian.Uint64(raw))
	baseTime := int64(binary.BigEndian.Uint64(raw[baseTimestampPos:]))
	rec := raw[recordsPos:]
	varint := func() int64 {
		v, n := binary.Varint(rec)
		if n <= 0 {
			rec = nil
			return -1
		}
		rec = rec[n:]
		return v
	}
	bytesOf := func() []byte {
		n := varint()
		if n < 0 || n > int64(len(rec)) {
			rec = nil
			return nil
		}
		b := rec[:n]
		rec = rec[n:]
		return b
	}
	if varint() < 0 || len(rec) < 1 { // the record's length
		return nil, errShortControl
	}
	rec = rec[1:] // attributes
	timeDelta, offsetDelta := varint(), varint()
	key := bytesOf()
	value := bytesOf()
	if rec == nil || len(key) < 4 {
		return nil, errShortControl
	}
	c.offset = base + offsetDelta
	c.timestamp = time.UnixMilli(baseTime + timeDelta)
	c.keySize, c.valueSize = len(key), len(value)
	c.controlType = int16(binary.BigEndian.Uint16(key[2:]))
	if (c.controlType == 0 || c.controlType == 1) && len(value) >= 6 {
		c.isTransactionMarker = true
		c.coordinatorEpoch = int32(binary.BigEndian.Uint32(value[2:]))
	}
	return c, nil
}

// jsonControl is a control record in JSON.
type jsonControl struct {
	Offset           int64  `json:"offset"`
	Timestamp        string `json:"timestamp"`
	Type             string `json:"type"`
	CoordinatorEpoch *int32 `json:"coordinator_epoch,omitempty"`
}

func (c *controlRecord) json() *jsonControl {
	j := &jsonControl{Offset: c.offset, Timestamp: formatTime(c.timestamp), Type: c.typeName()}
	if c.isTransactionMarker {
		j.CoordinatorEpoch = &c.coordinatorEpoch
	}
	return j
}

// text is the line kafka-dump-log --print-data-log prints for it.
func (c *controlRecord) text(timestampType string) string {
	s := fmt.Sprintf("| offset: %d %s: %d keySize: %d valueSize: %d headerKeys: [] ",
		c.offset, timestampType, c.timestamp.UnixMilli(), c.keySize, c.valueSize)
	if c.isTransactionMarker {
		return s + fmt.Sprintf("endTxnMarker: %s coordinatorEpoch: %d", c.typeName(), c.coordinatorEpoch)
	}
	return s + fmt.Sprintf("controlType: %d", c.controlType)
}
