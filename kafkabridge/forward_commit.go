package kafkabridge

import (
	"context"
	"fmt"
	"time"

	"github.com/eventlog/eventlog"
)

// maybeCommit commits acknowledged records when CommitInterval passed since
// the last commit, when a read's worth (maxPoll) is acknowledged and
// waiting, or when nothing sent awaits the cluster any more; and, with
// nothing sent awaiting the cluster, every CommitInterval, for the
// positions the consumer moved past records it does not return (see
// addPositions).
func (r *forwardRun) maybeCommit(ctx context.Context) error {
	r.mu.Lock()
	waiting := r.mu.ackedUncommitted
	r.mu.Unlock()
	drained := r.inFlight.Load() == 0
	due := time.Since(r.lastCommit) >= r.f.opts.CommitInterval
	switch {
	case waiting == 0 && !(drained && due):
		return nil
	case waiting > 0 && !drained && waiting < r.maxPoll && !due:
		return nil
	}
	return r.commit(ctx)
}

// commit commits what the cluster acknowledged of the partitions the
// consumer owns, and, when the cluster acknowledged everything sent, the
// positions the consumer moved past records it never returns.
// Acknowledgements of partitions it no longer owns, or whose topic was
// deleted (even if a topic of the same name was created since), are
// dropped: their new owner starts from their last commit.
func (r *forwardRun) commit(ctx context.Context) error {
	if r.f.beforeCommit != nil {
		r.mu.Lock()
		waiting := r.mu.ackedUncommitted
		r.mu.Unlock()
		if waiting > 0 {
			r.f.beforeCommit()
		}
	}
	owned := make(map[partitionIncarnation]bool)
	for _, tp := range r.consumer.Assignment() {
		// A topic deleted meanwhile has nothing left to commit to, and one
		// created again under its name is another partition.
		if part, err := r.f.log.Partition(tp.Topic, tp.Partition); err == nil {
			owned[partitionIncarnation{tp, part}] = true
		}
	}
	offsets := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	counts := make(map[partitionIncarnation]int)
	dropped := 0
	r.mu.Lock()
	for from, p := range r.mu.parts {
		if p.uncommitted == 0 {
			continue
		}
		if !owned[from] {
			dropped += p.uncommitted
			r.mu.ackedUncommitted -= p.uncommitted
			p.uncommitted = 0
			continue
		}
		offsets[from.tp] = eventlog.OffsetAndMetadata{Offset: p.next}
		counts[from] = p.uncommitted
	}
	r.mu.Unlock()
	r.uncommitted -= dropped
	r.lastCommit = time.Now()
	for from := range counts {
		offsets[from.tp] = eventlog.OffsetAndMetadata{Offset: pastUnread(from.part, offsets[from.tp].Offset)}
	}
	// Read in this order: an acknowledgement marks a failure before it
	// counts the record as no longer in flight.
	if r.inFlight.Load() == 0 && !r.failed.Load() {
		r.addPositions(ctx, owned, offsets)
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := r.consumer.CommitOffsets(ctx, offsets); err != nil {
		return fmt.Errorf("kafkabridge: forward: committing progress to local group %q: %w", r.f.opts.GroupID, err)
	}
	committed := 0
	r.mu.Lock()
	for from, n := range counts {
		r.mu.parts[from].uncommitted -= n
		committed += n
	}
	r.mu.ackedUncommitted -= committed
	r.mu.Unlock()
	r.uncommitted -= committed
	r.logger.Debug("committed", "partitions", len(offsets), "records", committed)
	if r.f.onCommit != nil {
		r.f.onCommit(offsets)
	}
	return nil
}

// addPositions adds to offsets the consumer's positions in the owned
// partitions that are past both what offsets holds for them and their
// committed progress (or, without any, their log start). It is called
// only when the cluster acknowledged every record sent, so that the
// records below a position were either acknowledged or never returned:
// the transaction markers and the records of aborted transactions that
// the consumer, reading committed records only, moves its position past,
// as a Kafka consumer in read_committed does. Committing the position, as
// such a consumer does, is what makes a partition whose tail is an aborted
// transaction show no lag, where pastUnread finds no acknowledgement to
// start from.
func (r *forwardRun) addPositions(ctx context.Context, owned map[partitionIncarnation]bool, offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
	var tps []eventlog.TopicPartition
	for from := range owned {
		// The consumer's position is in the partition it was assigned,
		// which, if its topic was deleted and created again since, is not
		// the one owned now.
		if r.assigned[from.tp] == from.part {
			tps = append(tps, from.tp)
		}
	}
	if len(tps) == 0 {
		return
	}
	committed, err := r.consumer.Committed(ctx, tps...)
	if err != nil {
		// The Log closed, or ctx ended: the commit of what offsets holds,
		// if anything, tells.
		r.logger.Debug("cannot read the committed progress: positions not committed", "error", err)
		return
	}
	for _, tp := range tps {
		position, err := r.consumer.Position(tp)
		if err != nil {
			// Deleted meanwhile, or starting where an open transaction
			// decides: there is nothing the consumer moved past.
			continue
		}
		floor := r.assigned[tp].LogStartOffset()
		if om, ok := committed[tp]; ok {
			floor = om.Offset
		}
		if om, ok := offsets[tp]; ok {
			floor = max(floor, om.Offset)
		}
		if position > floor {
			offsets[tp] = eventlog.OffsetAndMetadata{Offset: position}
		}
	}
}

// pastUnread returns the offset after the transaction markers (control
// batches) and the batches of aborted transactions that follow offset in
// part, below its last stable offset: records that the Forward's consumer,
// which reads committed records only, never returns. Progress up to offset
// is then progress past them, as a Kafka consumer's position, and so its
// commit, moves past them; committed at offset, a transactional topic
// would show a lag of at least one, its last marker, once everything is
// forwarded. It stops at the first batch of records the Forward reads, so
// that it looks at one batch more than the commit covers, and only when
// the Forward is behind the last stable offset; and at any error, leaving
// the offset where the acknowledgements put it.
func pastUnread(part *eventlog.Partition, offset int64) int64 {
	stable := part.LastStableOffset()
	if offset >= stable {
		return offset
	}
	var aborted []eventlog.AbortedTransaction
	looked := false
	for b, err := range part.Batches(offset) {
		if err != nil || b.BaseOffset >= stable {
			break
		}
		if b.LastOffset < offset {
			continue
		}
		skip := b.Control
		if !skip && b.Transactional {
			if !looked {
				aborted, looked = part.AbortedTransactions(offset, stable), true
			}
			for _, a := range aborted {
				if a.ProducerID == b.ProducerID && a.FirstOffset <= b.BaseOffset && b.BaseOffset < a.MarkerOffset {
					skip = true
					break
				}
			}
		}
		if !skip {
			break
		}
		offset = b.LastOffset + 1
	}
	return offset
}
