package kafkaserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce acks and the log's durability:
//
//	acks=-1 (all)  DurabilityDefault: answered once the batch is as durable
//	               as its topic promises — fsynced on a DurabilityFsync
//	               topic, written to the OS on a DurabilityOS one.
//	acks=1         DurabilityOS: answered once the batch is written to the
//	               OS. It survives the process crashing; on a fsync topic
//	               it becomes readable after the background fsync.
//	acks=0         as acks=1, and not answered. A failed batch closes the
//	               connection, as Kafka does, which is how the client
//	               learns of it.

// RecordBatch header positions a fetch reads.
const (
	batchHeaderSize         = 61
	batchLengthPos          = 8
	batchLogOverhead        = 12 // base offset and length: what the length leaves out
	batchLastOffsetDeltaPos = 23
	batchAttributesPos      = 21
	compressionZstd         = 4 // of the attributes' lowest three bits
)

// errZstdBeforeV7 refuses a zstd batch in a Produce below v7, as Kafka's
// broker does (KIP-110): such a client has not said it knows zstd.
var errZstdBeforeV7 = fmt.Errorf("%w: Produce requests below version 7 may not use zstd", eventlog.ErrUnsupportedCompression)

// isZstd reports whether the batch that batch begins with is compressed
// with zstd; Kafka looks at the first batch of a Produce only.
func isZstd(batch []byte) bool {
	return len(batch) > batchAttributesPos+1 && batch[batchAttributesPos+1]&7 == compressionZstd
}

func (c *conn) handleProduce(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	var durability eventlog.Durability
	fail := int16(0)
	var failure error
	switch r.Acks {
	case -1:
		durability = eventlog.DurabilityDefault
	case 0, 1:
		durability = eventlog.DurabilityOS
	default:
		fail, failure = kerr.InvalidRequiredAcks.Code, fmt.Errorf("acks %d is not -1, 0 or 1", r.Acks)
	}
	if r.TransactionID != nil && *r.TransactionID != "" {
		fail, failure = kerr.UnsupportedForMessageFormat.Code, fmt.Errorf("transactional ID %q: transactions are not supported by this listener", *r.TransactionID)
	}
	ctx := req.ctx
	if r.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}
	failed := false
	later := laterMentions(r)
	for _, t := range r.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = tp.Partition, -1, -1, -1
			err := failure
			if key := (eventlog.TopicPartition{Topic: t.Topic, Partition: tp.Partition}); err == nil && later[key] > 0 {
				later[key]--
				err = fmt.Errorf("%w: topic %q partition %d is named again later in the request, whose batch for it is the one stored", errNamedAgain, t.Topic, tp.Partition)
			}
			if err == nil && r.Version < 7 && isZstd(tp.Records) {
				err = errZstdBeforeV7
			}
			if err == nil {
				rp.BaseOffset, rp.LogStartOffset, err = c.appendBatch(ctx, t.Topic, tp.Partition, tp.Records, durability)
			}
			if err != nil {
				failed = true
				rp.ErrorCode, rp.ErrorMessage = fail, errorMessage(err)
				if fail == 0 {
					rp.ErrorCode = errorCode(err)
				}
				if rp.ErrorCode == kerr.UnknownServerError.Code {
					c.s.opts.Logger.Warn("kafkaserver: produce failed", "topic", t.Topic, "partition", tp.Partition, "err", err)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if r.Acks == 0 {
		c.closeAfter = failed
		return nil, nil
	}
	return resp, nil
}

// errNamedAgain refuses the batch of a partition that the Produce request
// names again later.
var errNamedAgain = errors.New("partition named more than once")

// laterMentions counts, for each partition r names more than once, the
// mentions before its last. Kafka's broker takes a request's partitions
// into a map, so that the last batch for a partition is the one it
// stores, and answers the partition once; here the earlier mentions are
// answered too, with INVALID_REQUEST, so that a batch not stored is not
// taken for one that was. Clients name a partition once: nil then.
func laterMentions(r *kmsg.ProduceRequest) map[eventlog.TopicPartition]int {
	n := 0
	for _, t := range r.Topics {
		n += len(t.Partitions)
	}
	if n < 2 {
		return nil
	}
	var later map[eventlog.TopicPartition]int
	seen := make(map[eventlog.TopicPartition]struct{}, n)
	for _, t := range r.Topics {
		for _, tp := range t.Partitions {
			key := eventlog.TopicPartition{Topic: t.Topic, Partition: tp.Partition}
			if _, ok := seen[key]; !ok {
				seen[key] = struct{}{}
				continue
			}
			if later == nil {
				later = make(map[eventlog.TopicPartition]int)
			}
			later[key]++
		}
	}
	return later
}

// appendBatch stores one produced batch and returns its base offset and
// the partition's log start offset.
func (c *conn) appendBatch(ctx context.Context, topic string, partition int32, batch []byte, d eventlog.Durability) (int64, int64, error) {
	p, err := c.s.log.Partition(topic, partition)
	if err != nil {
		return -1, -1, err
	}
	base, err := p.AppendBatch(ctx, batch, eventlog.AppendOptions{Durability: d})
	return base, p.LogStartOffset(), err
}

func (c *conn) handleInitProducerID(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if (r.ProducerID == -1) != (r.ProducerEpoch == -1) {
		// A producer ID without an epoch (-1), or an epoch without
		// one (both are -1 before v3): Kafka's broker refuses the
		// request before it asks its transaction coordinator.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if r.TransactionalID != nil && *r.TransactionalID != "" {
		resp.ErrorCode = kerr.UnsupportedForMessageFormat.Code
		return resp, nil
	}
	// Without a transactional ID, Kafka's broker answers every request
	// with a new producer ID in epoch 0, whatever ID and epoch it names
	// (both or neither):
	// nothing proves the client owns them, and taking them would let it
	// fence another producer, or claim an ID not yet issued and fence the
	// producer it goes to. An idempotent producer bumps its epoch itself
	// (KIP-360) and asks here only when its epoch runs out.
	//
	// The Log's ids are durable and never handed out twice, so that its
	// partitions, which check every producer's sequences, never take a
	// new producer for an old one.
	id, err := c.s.log.NewProducerID(req.ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id.ID, id.Epoch
	return resp, nil
}
