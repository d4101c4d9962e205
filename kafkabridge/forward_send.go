package kafkabridge

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// outgoing is a record handed to the Kafka client, with the local record it
// stands for.
type outgoing struct {
	record kgo.Record
	from   partitionIncarnation
	offset int64
}

// send copies a record and hands it to the Kafka client.
func (r *forwardRun) send(v *eventlog.RecordView) {
	remote, ok := r.remoteNames[v.Topic]
	if !ok {
		remote = r.f.opts.RemoteTopic(v.Topic)
		r.remoteNames[v.Topic] = remote
	}
	if len(r.slab) == 0 {
		r.slab = make([]outgoing, 256)
	}
	out := &r.slab[0]
	r.slab = r.slab[1:]
	tp := eventlog.TopicPartition{Topic: v.Topic, Partition: v.Partition}
	out.from = partitionIncarnation{tp, r.assigned[tp]} // nil if unknown: its progress is never committed
	out.offset = v.Offset
	out.record = kgo.Record{Topic: remote, Partition: v.Partition}
	r.uncommitted++
	r.inFlight.Add(1)
	largest, ok := r.largest[remote]
	if !ok {
		largest = int(r.batchBytes(remote)) - batchPrefixBytes
		r.largest[remote] = largest
	}
	// Sized before it is copied: a record of a million empty headers, 2
	// bytes each, would make a 40-byte RecordHeader of each only to be
	// refused.
	if size := batchHeaderBytes + viewRecordBytes(v); size > largest {
		// The client would refuse it too, but only once the records after
		// it are on their way: they would be written after a gap. Refused
		// here, it stops the reading before them.
		r.acknowledge(out, fmt.Errorf("%w: a batch of it alone takes %d bytes, more than the %d a batch to the remote topic may (its max.message.bytes, or BatchBytes): %w",
			errTooLargeAlone, size, largest, kerr.MessageTooLarge))
		return
	}
	out.record.Key, out.record.Value = r.copyBytes(v.Key), r.copyBytes(v.Value)
	out.record.Timestamp = v.Timestamp()
	if n := v.HeaderCount(); n > 0 {
		out.record.Headers = make([]kgo.RecordHeader, 0, n)
		for k, hv := range v.Headers() {
			out.record.Headers = append(out.record.Headers, kgo.RecordHeader{Key: strings.Clone(k), Value: r.copyBytes(hv)})
		}
	}
	r.client.Produce(r.produceCtx, &out.record, func(_ *kgo.Record, err error) { r.acknowledge(out, err) })
}

// baseBatchBytes returns the batch cap of the Forward's client before any
// remote topic's limit: BatchBytes if set, otherwise what ClientOptions
// set (kgo.ProducerBatchMaxBytes or ProducerBatchMaxBytesFn), read from a
// client made of them alone, or franz-go's default.
func baseBatchBytes(o *ForwardOptions) (func(string) int32, error) {
	if o.BatchBytes > 0 {
		b := int32(min(o.BatchBytes, 1<<30))
		return func(string) int32 { return b }, nil
	}
	if len(o.ClientOptions) == 0 {
		return func(string) int32 { return defaultBatchBytes }, nil
	}
	probe, err := kgo.NewClient(append(slices.Clone(o.ClientOptions), kgo.SeedBrokers(o.Brokers...))...)
	if err != nil {
		return nil, fmt.Errorf("kafkabridge: forward: Kafka client: %w", err)
	}
	defer probe.Close()
	if fn, ok := probe.OptValue(kgo.ProducerBatchMaxBytesFn).(func(string) int32); ok && fn != nil {
		return fn, nil
	}
	return func(string) int32 { return defaultBatchBytes }, nil
}

// errTooLargeAlone is the error of a record refused before it is sent.
var errTooLargeAlone = errors.New("record too large for the remote topic")

// batchPrefixBytes is what the Kafka client counts in a batch's size
// besides the batch itself: the length of the records field of the produce
// request.
const batchPrefixBytes = 4

// batchCap is the batch size the Kafka client is given for a remote topic:
// batchBytes, or less where the topic's max.message.bytes (limit, if known)
// is lower, so that no batch the client builds exceeds it.
func batchCap(batchBytes int32, limit any, known bool) int32 {
	if !known {
		return batchBytes
	}
	return max(512, min(batchBytes, limit.(int32)+batchPrefixBytes))
}

// viewRecordBytes is the size of v as the first record of a batch, in
// Kafka's record format (v2), as recordBytes sizes a local record.
func viewRecordBytes(v *eventlog.RecordView) int {
	n := 1 + 1 + 1 + // attributes, timestamp and offset deltas of 0
		bytesFieldBytes(v.Key) + bytesFieldBytes(v.Value) +
		varintBytes(int64(v.HeaderCount()))
	for k, hv := range v.Headers() {
		n += varintBytes(int64(len(k))) + len(k) + bytesFieldBytes(hv)
	}
	return varintBytes(int64(n)) + n
}

// copyBytes copies b into the current block of copies, keeping nil nil and
// empty empty. A block is freed once no record refers to it.
func (r *forwardRun) copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(r.block)-len(r.block) {
		r.block = make([]byte, 0, max(64<<10, len(b)))
	}
	start := len(r.block)
	r.block = append(r.block, b...)
	return r.block[start:len(r.block):len(r.block)]
}

// acknowledge records the cluster's answer for a record sent. The Kafka
// client calls it on its own goroutine, in the order the records of a
// partition were sent.
func (r *forwardRun) acknowledge(out *outgoing, err error) {
	tp, offset := out.from.tp, out.offset
	wake := false
	r.mu.Lock()
	p := r.mu.parts[out.from]
	if p == nil {
		p = &forwardProgress{}
		r.mu.parts[out.from] = p
	}
	switch {
	case err != nil:
		if !p.failed || offset < p.failedAt {
			p.failed, p.failedAt = true, offset
			r.failed.Store(true)
			if r.mu.err == nil {
				if limit, ok := r.limits.Load(out.record.Topic); ok && errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, errTooLargeAlone) {
					err = fmt.Errorf("%w; the remote topic's max.message.bytes is %d", err, limit)
				}
				r.mu.err = fmt.Errorf("kafkabridge: forward: topic %q partition %d offset %d to remote topic %q: %w",
					tp.Topic, tp.Partition, offset, out.record.Topic, err)
			}
		}
	case !p.failed || offset < p.failedAt:
		p.next = offset + 1
		p.uncommitted++
		r.mu.ackedUncommitted++
		wake = r.mu.ackedUncommitted == 1
	}
	r.mu.Unlock()
	// The record leaves the pipeline last, so that a commit that finds the
	// pipeline empty sees the failure, if it failed (see commit). The
	// acknowledgement that empties the pipeline, and the first after a
	// commit, wake the loop up if it waits for records: a commit is due.
	r.answered.Add(1)
	if r.inFlight.Add(-1) == 0 {
		wake = true
	}
	if wake {
		r.consumer.Wakeup()
	}
	select {
	case r.acked <- struct{}{}:
	default:
	}
}

func (r *forwardRun) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.err
}

func (r *forwardRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed.Store(true)
	if r.mu.err == nil {
		r.mu.err = err
	}
}
