package eventlog

import (
	"time"
)

// Positions: where each assigned partition reads next, and pausing.

// moveLocked sets where the partition reads next and forgets what was read
// ahead.
func (c *Consumer) moveLocked(st *fetchState, t target, offset int64) {
	st.target, st.position = t, offset
	st.movedAt = c.seq.Add(1)
	st.dropReadAhead()
	c.pendingErr = nil
	if c.reading == st {
		c.reading = nil // the position is the one set, not the chunk's
	}
}

// dropReadAhead forgets the records read ahead of the position.
func (st *fetchState) dropReadAhead() {
	clear(st.buf) // let go of the records' bytes
	st.buf = nil
}

// Seek sets the offset of the next record Poll returns from tp. An offset
// outside the log is not an error here: the next Poll applies
// AutoOffsetReset to it, as Kafka does. A negative offset is an error
// wrapping ErrOffsetOutOfRange.
func (c *Consumer) Seek(tp TopicPartition, offset int64) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	st, err := c.stateLocked(tp)
	if err != nil {
		return err
	}
	if offset < 0 {
		return errorf("eventlog: topic %q partition %d: seek to %d: %w: offsets are never negative", tp.Topic, tp.Partition, offset, ErrOffsetOutOfRange)
	}
	c.moveLocked(st, atPosition, offset)
	return nil
}

// SeekToBeginning makes tps — all assigned partitions if none are given —
// read from their log start offset. The offset is looked up when next
// needed (by Poll or Position), as in Kafka, so a retention run in between
// does not make the position fall off the log.
//
// A consumer that Subscribes has no partitions until a Poll (or a loop
// over Records or Views) joins its group, so a SeekToBeginning, SeekToEnd
// or SeekToTime before then moves nothing, as in Kafka. To read a
// group's partitions from the start, seek in
// RebalanceListener.OnPartitionsAssigned, or rely on AutoOffsetReset
// OffsetResetEarliest where the group has no committed offset.
func (c *Consumer) SeekToBeginning(tps ...TopicPartition) error {
	return c.seekTo(atBeginning, tps)
}

// SeekToEnd makes tps — all assigned partitions if none are given — read
// from their end, skipping every record stored so far: the high watermark,
// or the last stable offset for a ReadCommitted consumer. The offset
// is looked up when next needed (by Poll or Position), as in Kafka.
func (c *Consumer) SeekToEnd(tps ...TopicPartition) error {
	return c.seekTo(atEnd, tps)
}

func (c *Consumer) seekTo(t target, tps []TopicPartition) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	states, err := c.statesLocked(tps)
	if err != nil {
		return err
	}
	for _, st := range states {
		c.moveLocked(st, t, 0)
	}
	return nil
}

// SeekToTime makes tps — all assigned partitions if none are given — read
// from the first record whose timestamp is at or after t, or from the end
// where every record is older: the high watermark, or the last stable
// offset for a ReadCommitted consumer, as SeekToEnd. It is
// OffsetsForTimes followed by Seek.
func (c *Consumer) SeekToTime(t time.Time, tps ...TopicPartition) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	states, err := c.statesLocked(tps)
	if err != nil {
		return err
	}
	offsets := make([]int64, len(states))
	for i, st := range states {
		offset, found, err := st.p.OffsetForTime(t)
		if err != nil {
			return err
		}
		if !found {
			offset = st.p.endOffset(c.opts.IsolationLevel)
		}
		offsets[i] = offset
	}
	for i, st := range states {
		c.moveLocked(st, atPosition, offsets[i])
	}
	return nil
}

// OffsetsForTimes looks up, for each partition, the offset of the first
// record whose timestamp is at or after the given time (Kafka's
// offsetsForTimes). A partition where every record is older is absent from
// the result, where Kafka returns null. The partitions need not be
// assigned.
func (c *Consumer) OffsetsForTimes(times map[TopicPartition]time.Time) (map[TopicPartition]int64, error) {
	if err := c.acquireOpen(); err != nil {
		return nil, err
	}
	defer c.release()
	out := make(map[TopicPartition]int64, len(times))
	for tp, t := range times {
		p, err := c.log.Partition(tp.Topic, tp.Partition)
		if err != nil {
			return nil, err
		}
		offset, found, err := p.OffsetForTime(t)
		if err != nil {
			return nil, err
		}
		if found {
			out[tp] = offset
		}
	}
	return out, nil
}

// Position returns the offset of the next record Poll will return from tp.
// A partition without a position gets one first, by AutoOffsetReset, as
// Kafka's position does; with OffsetResetNone that fails with ErrNoOffset.
// A partition whose topic was deleted has no position: that fails with
// ErrTopicNotFound, while it stays assigned (see Poll).
func (c *Consumer) Position(tp TopicPartition) (int64, error) {
	if err := c.acquireOpen(); err != nil {
		return -1, err
	}
	defer c.release()
	st, err := c.stateLocked(tp)
	if err != nil {
		return -1, err
	}
	if st.p.deleted.Load() {
		return -1, st.p.deletedErr()
	}
	if err := c.resolveLocked(st); err != nil {
		return -1, err
	}
	return st.position, nil
}

// resolveLocked gives a partition a concrete position.
func (c *Consumer) resolveLocked(st *fetchState) error {
	t := st.target
	if t == atReset {
		if err := c.stableLocked(st.tp); err != nil {
			return err
		}
		if offset, ok := c.committedPositionLocked(st.tp); ok {
			st.position, st.target = offset, atPosition
			return nil
		}
		switch c.opts.AutoOffsetReset {
		case OffsetResetEarliest:
			t = atBeginning
		case OffsetResetLatest:
			t = atEnd
		default:
			return errorf("eventlog: topic %q partition %d: %w", st.tp.Topic, st.tp.Partition, ErrNoOffset)
		}
	}
	switch t {
	case atBeginning:
		st.position = st.p.LogStartOffset()
	case atEnd:
		st.position = st.p.endOffset(c.opts.IsolationLevel)
	}
	st.target = atPosition
	return nil
}

// Pause stops Poll from returning records of tps until Resume; their
// positions stay where they are. Pausing a paused partition does nothing.
// A partition that is not assigned is an error wrapping ErrNotAssigned, and
// then nothing is paused.
func (c *Consumer) Pause(tps ...TopicPartition) error {
	return c.setPaused(tps, true)
}

// Resume lets Poll return records of tps again.
func (c *Consumer) Resume(tps ...TopicPartition) error {
	return c.setPaused(tps, false)
}

func (c *Consumer) setPaused(tps []TopicPartition, paused bool) error {
	if err := c.acquireOpen(); err != nil {
		return err
	}
	defer c.release()
	states := make([]*fetchState, len(tps))
	for i, tp := range tps {
		st, err := c.stateLocked(tp)
		if err != nil {
			return err
		}
		states[i] = st
	}
	for _, st := range states {
		if st.paused == paused {
			continue
		}
		st.paused = paused
		if paused {
			// A paused partition's appends need not wake Poll.
			st.stopWatching()
		} else {
			st.unwatch = st.p.watch(c.notify)
		}
	}
	c.seq.Add(1)
	c.pendingErr = nil
	c.publishViewLocked()
	return nil
}
