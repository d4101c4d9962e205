package kafkaserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch serves the stored batch bytes, read in place from the segments'
// mappings and written to the socket from there (fetch_response.go). A
// fetch with min bytes waits on the partitions' high watermarks, up to its
// max wait.

// maxFetchResponseBytes bounds Options.FetchMaxBytes, so that a
// response's size fits the int32 of the framing.
const maxFetchResponseBytes = 1 << 30

// fetchWaitHook, if set (by tests), is called by every fetch about to
// wait for records.
var fetchWaitHook func()

func (c *conn) handleFetch(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.FetchRequest)
	resp := &c.fetch
	resp.reset(req.version)
	req.fetch = resp
	if r.Version >= 7 && r.SessionEpoch != 0 && r.SessionEpoch != -1 {
		// No session is ever created (every answer says session 0), so
		// an incremental fetch (epoch 1 on) names one the server does
		// not have, as Kafka answers it: the client falls back to full
		// fetches. A full one (epoch 0, or -1 closing a session) is
		// served whatever session it names, as in Kafka.
		resp.errorCode = kerr.FetchSessionIDNotFound.Code
		return nil, nil
	}
	if r.ReplicaID >= 0 {
		resp.errorCode = kerr.InvalidRequest.Code // only consumers fetch here
		return nil, nil
	}
	maxBytes := int64(r.MaxBytes)
	if maxBytes <= 0 || maxBytes > int64(c.s.opts.FetchMaxBytes) {
		maxBytes = int64(c.s.opts.FetchMaxBytes)
	}
	targets := fetchTargets(r)
	deadline := time.Now().Add(time.Duration(max(r.MaxWaitMillis, 0)) * time.Millisecond)

	var (
		wake    chan struct{}
		watched []*eventlog.Partition // by target
		stops   []func()
		timer   *time.Timer
		ended   bool // a partition watched went
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
		total, final := c.fillFetch(req, targets, r.IsolationLevel == readCommitted, resp, maxBytes)
		if final || ended || total >= int64(r.MinBytes) || !time.Now().Before(deadline) || req.ctx.Err() != nil {
			return nil, nil
		}
		// Too little: give back what was read, wait for any partition's
		// high watermark to move, and read again.
		resp.reset(req.version)
		req.releaseAll()
		if wake == nil {
			wake = make(chan struct{}, 1)
			watched = make([]*eventlog.Partition, len(targets))
			for i, tg := range targets {
				if p, err := c.s.log.Partition(tg.topic, tg.Partition); err == nil {
					watched[i] = p
					stops = append(stops, p.WatchHighWatermark(wake))
				}
			}
			timer = time.NewTimer(time.Until(deadline))
			c.watchClient()
			continue // a move between the read and the watch is not missed
		}
		if fetchWaitHook != nil {
			fetchWaitHook()
		}
		select {
		case <-wake:
			// A deleted topic wakes its watchers. Kafka ends a fetch
			// waiting on a partition that goes; so does this one,
			// with what it reads now: were the topic created again
			// meanwhile, its new partitions would not wake it.
			ended = c.partitionsReplaced(targets, watched)
		case <-timer.C:
		case <-req.ctx.Done():
		}
	}
}

// partitionsReplaced reports whether a partition of the targets is no
// longer the one watched: its topic was deleted, and maybe created again.
func (c *conn) partitionsReplaced(targets []fetchTarget, watched []*eventlog.Partition) bool {
	for i, tg := range targets {
		if p, err := c.s.log.Partition(tg.topic, tg.Partition); err != nil || p != watched[i] {
			return true
		}
	}
	return false
}

// fetchTarget is a partition a Fetch asks for, with what it asks of it.
type fetchTarget struct {
	topic string
	kmsg.FetchRequestTopicPartition
}

// fetchTargets returns the partitions r asks for, each once, as Kafka's
// broker reads them into a map: in the place of its first mention, with
// the offset and limits of its last. Clients name a partition once; a
// request naming one many times is not read, nor answered, many times.
func fetchTargets(r *kmsg.FetchRequest) []fetchTarget {
	n := 0
	for _, t := range r.Topics {
		n += len(t.Partitions)
	}
	targets := make([]fetchTarget, 0, n)
	index := make(map[eventlog.TopicPartition]int, n)
	for _, t := range r.Topics {
		for _, tp := range t.Partitions {
			key := eventlog.TopicPartition{Topic: t.Topic, Partition: tp.Partition}
			if i, ok := index[key]; ok {
				targets[i].FetchRequestTopicPartition = tp
				continue
			}
			index[key] = len(targets)
			targets = append(targets, fetchTarget{t.Topic, tp})
		}
	}
	return targets
}

// fillFetch reads every partition of the fetch into resp and returns the
// bytes read; final reports an error that ends the wait, as in Kafka.
// Partitions of one topic named apart, with others between them, are
// answered apart, as Kafka answers them.
func (c *conn) fillFetch(req *request, targets []fetchTarget, committed bool, resp *fetchResponse, maxBytes int64) (total int64, final bool) {
	var rt *fetchTopic
	for _, tg := range targets {
		if rt == nil || rt.name != tg.topic {
			rt = resp.addTopic(tg.topic)
		}
		rp := rt.addPartition(tg.Partition)
		err := c.fetchPartition(req, rp, tg.topic, tg.FetchRequestTopicPartition, committed, maxBytes-total, total == 0)
		if err != nil {
			rp.errorCode = errorCode(err)
			final = true
			switch {
			case errors.Is(err, eventlog.ErrClosed):
				c.s.logLogClosed()
			case rp.errorCode == kerr.UnknownServerError.Code || rp.errorCode == kerr.KafkaStorageError.Code:
				c.s.opts.Logger.Warn("kafkaserver: fetch failed", "topic", tg.topic, "partition", tg.Partition, "offset", tg.FetchOffset, "err", err)
			}
			if rp.errorCode == kerr.KafkaStorageError.Code && req.version <= 5 {
				// Clients of Fetch v5 and before need not know the
				// code, and would take it for a fatal unknown one:
				// Kafka's broker answers one they retry instead.
				rp.errorCode = kerr.NotLeaderForPartition.Code
			}
		}
		total += rp.size
	}
	return total, final
}

// readCommitted is the isolation level of a read_committed fetch.
const readCommitted = 1

// fetchPartition fills in one partition of a fetch: whole batches from the
// fetch offset on, across segments, as many as its partition max bytes
// and the response's budget allow. The first batch of the response is
// served whatever its size, so that a consumer always makes progress. A
// read_committed fetch (committed) stops at the last stable offset and
// lists the aborted transactions of what it serves, whose batches the
// client skips, as Kafka's broker does.
func (c *conn) fetchPartition(req *request, rp *fetchPartition, topic string, tp kmsg.FetchRequestTopicPartition, committed bool, budget int64, first bool) error {
	p, err := c.s.log.Partition(topic, tp.Partition)
	if err != nil {
		return err
	}
	if tp.CurrentLeaderEpoch > 0 {
		return fmt.Errorf("leader epoch %d: %w", tp.CurrentLeaderEpoch, errUnknownLeaderEpoch)
	}
	end := int64(math.MaxInt64) // where reading stops
	if committed {
		end = p.LastStableOffset()
	}
	offset := tp.FetchOffset
	// The high watermark is read after the batches, so that none of them
	// lies past the one reported; the last stable offset is the one a
	// read_committed fetch stopped at, and for read_uncommitted the
	// partition's, as Kafka reports it at either isolation level.
	defer func() {
		hw, lso := p.HighWatermark(), end
		if !committed {
			lso = p.LastStableOffset()
		}
		rp.highWatermark, rp.lastStableOffset, rp.logStartOffset = hw, min(lso, hw), p.LogStartOffset()
		if committed && offset > tp.FetchOffset {
			rp.aborted = p.AbortedTransactions(tp.FetchOffset, offset)
		}
	}()
	limit := min(int64(tp.PartitionMaxBytes), budget)
	// The first read is made whatever the offset, so that one past the
	// high watermark is reported out of range, the largest one too.
	for {
		left := limit - rp.size
		if left <= 0 && !first {
			if rp.size == 0 {
				// Nothing is read, but an offset out of range is
				// reported all the same, as Kafka checks every
				// partition's: the client resets it now, not once the
				// partition comes first in a fetch.
				return checkFetchOffset(p, offset)
			}
			return nil
		}
		batches, release, err := c.readBatches(p, offset, int(max(min(left, math.MaxInt32), 1)))
		req.onDone(release)
		if committed {
			batches = batchesBelow(batches, end)
		}
		if err != nil {
			if rp.size > 0 {
				// The next fetch, starting where this one ends, reports
				// it.
				return nil
			}
			return err
		}
		if len(batches) == 0 {
			return nil // the high watermark
		}
		if !first && int64(len(batches)) > left {
			return nil // a first batch larger than what is left: the next fetch
		}
		rp.batches = append(rp.batches, batches)
		rp.size += int64(len(batches))
		first = false
		if offset = nextOffset(batches); offset >= end {
			return nil
		}
	}
}

// checkFetchOffset fails with ErrOffsetOutOfRange for an offset a read
// would: below the log start offset or past the log end offset.
func checkFetchOffset(p *eventlog.Partition, offset int64) error {
	if start, end := p.LogStartOffset(), p.LogEndOffset(); offset < start || offset > end {
		return fmt.Errorf("offset %d is outside [%d, %d]: %w", offset, start, end, eventlog.ErrOffsetOutOfRange)
	}
	return nil
}

// batchesBelow returns the whole batches of b that start below offset end.
func batchesBelow(b []byte, end int64) []byte {
	n := 0
	for n+batchHeaderSize <= len(b) && int64(binary.BigEndian.Uint64(b[n:])) < end {
		n += batchLogOverhead + int(binary.BigEndian.Uint32(b[n+batchLengthPos:]))
	}
	return b[:n]
}

// readBatches reads stored batches, checking their CRCs if the options say
// so.
func (c *conn) readBatches(p *eventlog.Partition, offset int64, maxBytes int) ([]byte, func(), error) {
	if c.s.opts.CheckFetchCRCs {
		return p.ReadBatches(offset, maxBytes)
	}
	return p.ReadBatchesUnchecked(offset, maxBytes)
}

// nextOffset returns the offset after the last of the whole batches b.
func nextOffset(b []byte) int64 {
	var next int64
	for len(b) >= batchHeaderSize {
		base := int64(binary.BigEndian.Uint64(b))
		next = base + int64(int32(binary.BigEndian.Uint32(b[batchLastOffsetDeltaPos:]))) + 1
		b = b[batchLogOverhead+int(binary.BigEndian.Uint32(b[batchLengthPos:])):]
	}
	return next
}

// errUnknownLeaderEpoch answers a fetch or list that names a leader epoch
// the log never had: every partition is in epoch 0.
var errUnknownLeaderEpoch = errors.New("partitions of this listener are in leader epoch 0")

func (c *conn) handleListOffsets(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	// Kafka's broker answers a partition named more than once in a
	// request once, with INVALID_REQUEST, and lists none of them.
	named := make(map[eventlog.TopicPartition]int)
	for _, t := range r.Topics {
		for _, tp := range t.Partitions {
			named[eventlog.TopicPartition{Topic: t.Topic, Partition: tp.Partition}]++
		}
	}
	for _, t := range r.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.Offset, rp.Timestamp = -1, -1
			switch key := (eventlog.TopicPartition{Topic: t.Topic, Partition: tp.Partition}); {
			case named[key] > 1:
				named[key] = -1
				rp.ErrorCode = kerr.InvalidRequest.Code
			case named[key] < 0:
				continue // answered once
			default:
				rp.ErrorCode = errorCode(c.listOffset(&rp, t.Topic, tp, r.IsolationLevel == readCommitted))
			}
			// Every partition is in leader epoch 0; an answer without
			// an offset has none (-1), as Kafka answers it.
			rp.LeaderEpoch = -1
			if rp.Offset >= 0 {
				rp.LeaderEpoch = 0
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 || len(t.Partitions) == 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp, nil
}

// Special timestamps of ListOffsets served: the versions served (1 to 6)
// have only these two. Kafka's broker answers UNSUPPORTED_VERSION to a
// special timestamp of a later version — max timestamp (-3, KIP-734,
// v7), earliest local (-4, KIP-405, v8), latest tiered (-5, KIP-1005,
// v9), earliest pending upload (-6, v11) — asked for in an earlier one,
// and to any other negative timestamp (its ReplicaManager's
// isListOffsetsTimestampUnsupported); so does the server.
const (
	listLatest   = -1
	listEarliest = -2
)

// errListTimestamp answers a ListOffsets for a negative timestamp that is
// not one of the special timestamps of its version.
var errListTimestamp = errors.New("not a timestamp of the ListOffsets versions served (1 to 6): -1 (latest), -2 (earliest), or a time")

// listOffset answers one partition of a ListOffsets; for a read_committed
// one (committed), the latest offset is the last stable offset, and a
// search by time finds none at or past it.
func (c *conn) listOffset(rp *kmsg.ListOffsetsResponseTopicPartition, topic string, tp kmsg.ListOffsetsRequestTopicPartition, committed bool) error {
	if tp.Timestamp < 0 && tp.Timestamp != listLatest && tp.Timestamp != listEarliest {
		// Checked first, as Kafka checks it.
		return fmt.Errorf("timestamp %d: %w", tp.Timestamp, errListTimestamp)
	}
	p, err := c.s.log.Partition(topic, tp.Partition)
	if err != nil {
		return err
	}
	if tp.CurrentLeaderEpoch > 0 {
		return errUnknownLeaderEpoch
	}
	switch {
	case tp.Timestamp == listLatest && committed:
		rp.Offset = p.LastStableOffset()
	case tp.Timestamp == listLatest:
		rp.Offset = p.HighWatermark()
	case tp.Timestamp == listEarliest:
		rp.Offset = p.LogStartOffset()
	default:
		offset, found, err := p.OffsetForTime(time.UnixMilli(tp.Timestamp))
		if err != nil || !found {
			return err // none: offset and timestamp -1, as in Kafka
		}
		if committed && offset >= p.LastStableOffset() {
			// As Kafka answers: only offsets a read_committed fetch
			// can reach are found. The last stable offset only grows,
			// so reading it after the search misses none.
			return nil
		}
		rp.Offset = offset
		// Kafka answers with the found record's timestamp too. Read in
		// place: a copy of its batch would make a Header of each header.
		for v, err := range p.Views(offset) {
			if err == nil && v.Offset == offset {
				rp.Timestamp = v.Timestamp().UnixMilli()
			}
			break
		}
	}
	return nil
}
