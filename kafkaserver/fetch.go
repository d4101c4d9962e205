package kafkaserver

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch serves the stored batch bytes, read in place from the segments'
// mappings and copied once, into the response. A fetch with min bytes
// waits on the partitions' high watermarks, up to its max wait.

func (c *conn) handleFetch(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.FetchRequest)
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	if r.Version >= 7 && r.SessionID != 0 {
		// No session is ever created (every answer says session 0), so
		// the client's is unknown: it falls back to full fetches.
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	if r.ReplicaID >= 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code // only consumers fetch here
		return resp, nil
	}
	maxBytes := int64(r.MaxBytes)
	if r.Version < 3 || maxBytes <= 0 {
		maxBytes = math.MaxInt32
	}
	deadline := time.Now().Add(time.Duration(max(r.MaxWaitMillis, 0)) * time.Millisecond)

	var (
		wake  chan struct{}
		stops []func()
		timer *time.Timer
	)
	defer func() {
		for _, stop := range stops {
			stop()
		}
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		total, final := c.fillFetch(req, r, resp, maxBytes)
		if final || total >= int64(r.MinBytes) || !time.Now().Before(deadline) || req.ctx.Err() != nil {
			return resp, nil
		}
		// Too little: give back what was read, wait for any partition's
		// high watermark to move, and read again.
		req.releaseAll()
		resp.Topics = resp.Topics[:0]
		if wake == nil {
			wake = make(chan struct{}, 1)
			for _, t := range r.Topics {
				for _, tp := range t.Partitions {
					if p, err := c.s.log.Partition(t.Topic, tp.Partition); err == nil {
						stops = append(stops, p.WatchHighWatermark(wake))
					}
				}
			}
			timer = time.NewTimer(time.Until(deadline))
			continue // a move between the read and the watch is not missed
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-req.ctx.Done():
		}
	}
}

// fillFetch reads every partition of the fetch into resp and returns the
// bytes read; final reports an error that ends the wait, as in Kafka.
func (c *conn) fillFetch(req *request, r *kmsg.FetchRequest, resp *kmsg.FetchResponse, maxBytes int64) (total int64, final bool) {
	for _, t := range r.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.RecordBatches = []byte{} // never null: some clients reject it
			rp.PreferredReadReplica = -1
			err := c.fetchPartition(req, &rp, t.Topic, tp, maxBytes-total, total == 0)
			if err != nil {
				rp.ErrorCode = errorCode(err)
				final = true
				if rp.ErrorCode == kerr.UnknownServerError.Code || rp.ErrorCode == kerr.KafkaStorageError.Code {
					c.s.opts.Logger.Warn("kafkaserver: fetch failed", "topic", t.Topic, "partition", tp.Partition, "offset", tp.FetchOffset, "err", err)
				}
			}
			total += int64(len(rp.RecordBatches))
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return total, final
}

// fetchPartition fills in one partition of a fetch. The first batch of
// the response is served whatever its size, so that a consumer always
// makes progress; after that, only batches within budget.
func (c *conn) fetchPartition(req *request, rp *kmsg.FetchResponseTopicPartition, topic string, tp kmsg.FetchRequestTopicPartition, budget int64, first bool) error {
	p, err := c.s.log.Partition(topic, tp.Partition)
	if err != nil {
		return err
	}
	if tp.CurrentLeaderEpoch > 0 {
		return fmt.Errorf("leader epoch %d: %w", tp.CurrentLeaderEpoch, errUnknownLeaderEpoch)
	}
	hw := p.HighWatermark()
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = hw, hw, p.LogStartOffset()
	limit := min(int64(tp.PartitionMaxBytes), budget)
	if limit <= 0 && !first {
		return nil
	}
	batches, release, err := p.ReadBatches(tp.FetchOffset, int(max(min(limit, math.MaxInt32), 1)))
	req.onDone(release)
	if err != nil {
		return err
	}
	if !first && int64(len(batches)) > limit {
		return nil // a first batch larger than what is left: the next fetch
	}
	rp.RecordBatches = batches
	return nil
}

// errUnknownLeaderEpoch answers a fetch or list that names a leader epoch
// the log never had: every partition is in epoch 0.
var errUnknownLeaderEpoch = errors.New("partitions of this listener are in leader epoch 0")

func (c *conn) handleListOffsets(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.Offset, rp.Timestamp, rp.LeaderEpoch = -1, -1, 0
			rp.ErrorCode = errorCode(c.listOffset(&rp, t.Topic, tp))
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// Special timestamps of ListOffsets.
const (
	listLatest   = -1
	listEarliest = -2
)

func (c *conn) listOffset(rp *kmsg.ListOffsetsResponseTopicPartition, topic string, tp kmsg.ListOffsetsRequestTopicPartition) error {
	p, err := c.s.log.Partition(topic, tp.Partition)
	if err != nil {
		return err
	}
	if tp.CurrentLeaderEpoch > 0 {
		return errUnknownLeaderEpoch
	}
	switch {
	case tp.Timestamp == listLatest:
		rp.Offset = p.HighWatermark()
	case tp.Timestamp == listEarliest:
		rp.Offset = p.LogStartOffset()
	case tp.Timestamp >= 0:
		offset, found, err := p.OffsetForTime(time.UnixMilli(tp.Timestamp))
		if err != nil || !found {
			return err // none: offset and timestamp -1, as in Kafka
		}
		rp.Offset = offset
		// Kafka answers with the found record's timestamp too.
		if recs, err := p.Read(offset, 1); err == nil {
			for _, rec := range recs {
				if rec.Offset == offset {
					rp.Timestamp = rec.Timestamp.UnixMilli()
				}
			}
		}
	default:
		return fmt.Errorf("%w: timestamp %d is not a time, latest (-1) or earliest (-2)", eventlog.ErrInvalidConfig, tp.Timestamp)
	}
	return nil
}
