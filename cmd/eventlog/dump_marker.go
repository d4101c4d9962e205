package main

import (
	"fmt"

	"github.com/eventlog/eventlog"
)

// batchControl returns the control record of control batch b, as
// Batches decoded it, or nil when the record is before the log start
// (deleted).
func batchControl(p *eventlog.Partition, b *eventlog.BatchInfo) *eventlog.ControlRecord {
	if b.BaseOffset < p.LogStartOffset() {
		return nil
	}
	return b.ControlRecord
}

// controlTypeName is Kafka's name for a control record's type.
func controlTypeName(c *eventlog.ControlRecord) string {
	if c.TransactionMarker() {
		return c.Type.String()
	}
	return fmt.Sprintf("control type %d", c.Type)
}

// jsonControl is a control record in JSON.
type jsonControl struct {
	Offset           int64  `json:"offset"`
	Timestamp        string `json:"timestamp"`
	Type             string `json:"type"`
	CoordinatorEpoch *int32 `json:"coordinator_epoch,omitempty"`
}

func controlJSON(c *eventlog.ControlRecord) *jsonControl {
	j := &jsonControl{Offset: c.Offset, Timestamp: formatTime(c.Timestamp), Type: controlTypeName(c)}
	if c.TransactionMarker() {
		j.CoordinatorEpoch = &c.CoordinatorEpoch
	}
	return j
}

// controlText is the line kafka-dump-log --print-data-log prints for c.
func controlText(c *eventlog.ControlRecord, timestampType string) string {
	s := fmt.Sprintf("| offset: %d %s: %d keySize: %d valueSize: %d headerKeys: [] ",
		c.Offset, timestampType, c.Timestamp.UnixMilli(), c.KeySize, c.ValueSize)
	if c.TransactionMarker() {
		return s + fmt.Sprintf("endTxnMarker: %s coordinatorEpoch: %d", c.Type, c.CoordinatorEpoch)
	}
	return s + fmt.Sprintf("controlType: %d", c.Type)
}
