package kafkabridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventlog/eventlog"
)

// OnPartitionsAssigned checks that the cluster can take the topics of the
// partitions assigned; it implements eventlog.RebalanceListener and is no
// part of the API.
func (r *forwardRun) OnPartitionsAssigned(_ context.Context, _ *eventlog.Consumer, partitions []eventlog.TopicPartition) {
	for _, tp := range partitions {
		if part, err := r.f.log.Partition(tp.Topic, tp.Partition); err == nil {
			r.assigned[tp] = part
		}
	}
	// Cut short by Run's context ending, not by the read's deadline: the
	// records of these partitions are sent only once their topics are
	// checked.
	cctx, cancel := context.WithTimeout(r.runCtx, r.f.opts.ShutdownTimeout)
	defer cancel()
	err := r.checkTopics(cctx, partitions)
	if err == nil && r.f.opts.StartAtEnd {
		err = r.settleEnds(cctx, partitions)
	}
	switch {
	case err == nil:
	case r.runCtx.Err() != nil:
		r.failed.Store(true) // Run is stopping: send nothing unchecked
	default:
		r.fail(err)
	}
}

// settleEnds commits, as their progress, the positions that partitions
// without committed progress start at, their high watermarks
// (StartAtEnd), as a Kafka consumer with auto.offset.reset=latest commits
// the position it reset to, or their log start for partitions added to a
// topic already forwarded. Without it, a partition that stays quiet
// during a Run would start at its end again on the next Run, and the
// records appended to it in between would never be forwarded.
func (r *forwardRun) settleEnds(ctx context.Context, partitions []eventlog.TopicPartition) error {
	committed, err := r.consumer.Committed(ctx, partitions...)
	if err != nil {
		return fmt.Errorf("kafkabridge: forward: progress in local group %q: %w", r.f.opts.GroupID, err)
	}
	// A partition without progress in a topic with some was added to the
	// topic after the forwarding began (by this member or another): every
	// record of it was appended since, and it starts at its beginning.
	forwarded := make(map[string]bool)
	for tp := range committed {
		forwarded[tp.Topic] = true
	}
	for _, tp := range partitions {
		if _, ok := forwarded[tp.Topic]; ok {
			continue
		}
		cfg, err := r.f.log.TopicConfig(tp.Topic)
		if err != nil {
			continue // deleted meanwhile: the group takes it away
		}
		all := make([]eventlog.TopicPartition, cfg.Partitions)
		for p := range all {
			all[p] = eventlog.TopicPartition{Topic: tp.Topic, Partition: int32(p)}
		}
		c, err := r.consumer.Committed(ctx, all...)
		if err != nil {
			return fmt.Errorf("kafkabridge: forward: progress of local topic %q in local group %q: %w", tp.Topic, r.f.opts.GroupID, err)
		}
		forwarded[tp.Topic] = len(c) > 0
	}
	offsets := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	for _, tp := range partitions {
		if _, ok := committed[tp]; ok {
			continue
		}
		if forwarded[tp.Topic] {
			if err := r.consumer.SeekToBeginning(tp); err != nil {
				if errors.Is(err, eventlog.ErrTopicNotFound) {
					continue
				}
				return fmt.Errorf("kafkabridge: forward: local topic %q partition %d, added since the forwarding began: %w", tp.Topic, tp.Partition, err)
			}
		}
		position, err := r.consumer.Position(tp)
		switch {
		case errors.Is(err, eventlog.ErrTopicNotFound):
			continue // deleted meanwhile: the group takes it away
		case err != nil:
			return fmt.Errorf("kafkabridge: forward: position of local topic %q partition %d: %w", tp.Topic, tp.Partition, err)
		}
		offsets[tp] = eventlog.OffsetAndMetadata{Offset: position}
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := r.consumer.CommitOffsets(ctx, offsets); err != nil {
		return fmt.Errorf("kafkabridge: forward: committing where partitions start to local group %q: %w", r.f.opts.GroupID, err)
	}
	if r.f.onCommit != nil {
		r.f.onCommit(offsets)
	}
	return nil
}

// OnPartitionsRevoked waits for the cluster to acknowledge what was sent
// and commits it, so that the partitions' next owner does not send it
// again; it implements eventlog.RebalanceListener.
func (r *forwardRun) OnPartitionsRevoked(ctx context.Context, _ *eventlog.Consumer, partitions []eventlog.TopicPartition) {
	if r.closing || len(partitions) == 0 {
		return
	}
	defer r.unassign(partitions)
	if r.f.onRevoke != nil {
		r.f.onRevoke()
	}
	// The wait ends with Run's context too: the shutdown that follows
	// waits for the cluster itself, so that Run waits ShutdownTimeout
	// once its context ended, not twice.
	fctx, cancel := context.WithTimeout(r.runCtx, r.f.opts.ShutdownTimeout)
	defer cancel()
	if err := r.client.Flush(fctx); err != nil && r.runCtx.Err() == nil {
		r.fail(fmt.Errorf("kafkabridge: forward: the cluster did not acknowledge every record within %v before a rebalance: %w", r.f.opts.ShutdownTimeout, err))
	}
	// What was acknowledged is committed all the same: the shutdown
	// commits only the partitions the Forward still owns.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), r.f.opts.ShutdownTimeout)
	defer ccancel()
	if err := r.commit(cctx); err != nil {
		r.fail(err)
	}
}

// OnPartitionsLost logs partitions taken away without a chance to commit;
// it implements eventlog.RebalanceListener.
func (r *forwardRun) OnPartitionsLost(_ context.Context, _ *eventlog.Consumer, partitions []eventlog.TopicPartition) {
	r.logger.Warn("partitions lost: their records since the last commit will be sent again", "partitions", partitions)
	r.unassign(partitions)
}

// unassign forgets partitions the consumer no longer owns.
func (r *forwardRun) unassign(partitions []eventlog.TopicPartition) {
	for _, tp := range partitions {
		delete(r.assigned, tp)
	}
}
