package eventlog

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"math"
	"time"
)

// How a consumer iterates
//
// The iterators — Views and ViewsToEnd, and Records and ReadToEnd, which
// clone the views — read in chunks. A chunk is planned under the use lock,
// as a poll is: the group has its say (rebalances, auto-commit,
// max.poll.interval), the next unpaused partition with records past its
// position is picked in turn, and where none has any the plan waits as Poll
// waits. The chunk is then read with the lock released, so that the loop
// body may call the consumer, through a partition cursor: at most
// MaxPollRecords records or MaxPartitionFetchBytes of batches. The
// position moves to the end of each batch as the chunk enters it, and to
// just after the last record yielded when the chunk ends, so that what is
// committed between two chunks covers exactly the records handed out, and
// what is committed from the loop body covers the batch being yielded, as
// Kafka's commits cover the whole last poll.

// viewChunk is a part of one partition that an iteration reads between
// two plans.
type viewChunk struct {
	st     *fetchState
	from   int64
	stopAt int64  // records at or after it are not read (ReadToEnd)
	mark   uint64 // c.seq when planned: a change means the loop body moved something
}

// Views returns an iterator over the records of the assigned, unpaused
// partitions as views read in place (see RecordView for their lifetime):
// Records without the copies. It takes the partitions in turn, at most
// MaxPollRecords records from one before the next, and otherwise behaves
// as Records does: it waits for records until ctx ends or a wait fails,
// yields that error once and stops, and it stops without an error at the
// first wait with a negative FetchMaxWait. Breaking out of the loop leaves
// positions right after the last record yielded, and so does a panic in
// the loop body: a program that recovers and reads on gets the records
// after the one the body was given. The loop body may call the consumer
// (Seek, Pause, CommitSync, ...). A Log closed in the middle of the loop
// ends it with an error wrapping ErrClosed, and a topic deleted in the
// middle of it is met as Poll meets it; either way the records of the
// segment being read may still be yielded first (at most MaxPollRecords),
// as Partition.Views yields them.
//
// While the body runs, the position of the partition being read is at the
// end of the batch being yielded, so a commit in the body covers that whole
// batch, as Kafka's commitSync covers everything the last poll returned.
// For a commit that covers exactly what was processed, break out of the
// loop first, or commit after it; automatic commits only ever cover whole
// batches already yielded. So does the one of a Close (or Unsubscribe) in
// the middle of the loop, from its body or from another goroutine: it
// commits the partition's position from before the loop took its last
// run of records from it (at most MaxPollRecords), which a restart reads
// again, rather than skip those the loop did not yield. A Close deferred
// by a caller whose loop body panicked commits that position too, until
// the next Poll or iteration.
func (c *Consumer) Views(ctx context.Context) iter.Seq2[*RecordView, error] {
	return func(yield func(*RecordView, error) bool) {
		c.eachView(ctx, false, func(v *RecordView, err error) (bool, bool) { return yield(v, err), true })
	}
}

// ViewsToEnd is ReadToEnd with views: it yields every record below each
// partition's end (see ReadToEnd) as of the start of the loop, then stops, with
// positions at those ends. It is the fast way to rebuild state before
// serving, with a consumer made with OffsetResetEarliest (see ReadToEnd
// for why):
//
//	c.SeekToBeginning() // the partitions it Assigned (see SeekToBeginning)
//	for v, err := range c.ViewsToEnd(ctx) {
//		if err != nil {
//			return err
//		}
//		cache[string(v.Key)] = bytes.Clone(v.Value)
//	}
func (c *Consumer) ViewsToEnd(ctx context.Context) iter.Seq2[*RecordView, error] {
	return func(yield func(*RecordView, error) bool) {
		c.eachView(ctx, true, func(v *RecordView, err error) (bool, bool) { return yield(v, err), true })
	}
}

// each implements Records and ReadToEnd: eachView with the views cloned.
// A record with more headers than a copying read makes of one record
// (maxReadHeaders) ends the loop with an error, before it: the position
// stays there, for views to read it.
func (c *Consumer) each(ctx context.Context, toEnd bool, fn func(Record, error) (more, consumed bool)) {
	c.eachView(ctx, toEnd, func(v *RecordView, err error) (bool, bool) {
		if err != nil {
			return fn(Record{}, err)
		}
		if v.headerCount > maxReadHeaders {
			fn(Record{}, errorf("eventlog: topic %q partition %d: %w: %v", v.Topic, v.Partition, ErrRecordTooLarge,
				&headersError{offset: v.Offset, headers: v.headerCount, batch: v.headerCount, limit: maxReadHeaders}))
			return false, false
		}
		return fn(v.Clone(), nil)
	})
}

// eachView runs the iterators: it calls fn with every record, or with the
// error that ends the loop. fn reports whether to go on, and whether it
// consumed the record; the position stays at one it did not consume.
func (c *Consumer) eachView(ctx context.Context, toEnd bool, fn func(*RecordView, error) (more, consumed bool)) {
	if toEnd {
		if err := c.setBounded(true); err != nil {
			fn(nil, err)
			return
		}
		defer func() { _ = c.setBounded(false) }()
	}
	var vc viewCursor
	defer vc.close()
	for {
		chunk, err := c.planChunk(ctx, toEnd, &vc)
		if err != nil {
			fn(nil, err)
			return
		}
		if chunk.st == nil {
			return
		}
		if !c.readChunk(&vc, chunk, fn) {
			return
		}
	}
}

// planChunk picks the partition to read next, waiting for records as Poll
// does unless toEnd or FetchMaxWait is negative; then it returns an empty
// chunk when there is nothing to read. Before it waits it closes vc, the
// cursor of the last chunk: a wait may last long, and the read-ahead
// verifier vc kept holds its segment, which retention, compaction or
// DeleteTopic may have dropped meanwhile, mapped and open, and vc keeps
// the decompressed records of the batch it stopped in.
func (c *Consumer) planChunk(ctx context.Context, toEnd bool, vc *viewCursor) (viewChunk, error) {
	if err := c.acquire(); err != nil {
		return viewChunk{}, err
	}
	defer c.release()
	timing := false
	defer func() {
		if timing {
			c.timer.Stop()
		}
	}()
	for {
		select {
		case <-c.wakeup:
			return viewChunk{}, ErrWakeup
		default:
		}
		if err := c.pendingErr; err != nil {
			c.pendingErr = nil
			return viewChunk{}, err
		}
		if err := ctx.Err(); err != nil {
			return viewChunk{}, err
		}
		chunk, unstable, err := c.pickChunkLocked(ctx)
		if err != nil || chunk.st != nil {
			return chunk, err
		}
		switch {
		case toEnd && unstable != nil && c.opts.FetchMaxWait < 0:
			// A partition's records are still to be read, from an offset
			// a transaction decides: reported, since no wait is allowed.
			return viewChunk{}, unstable
		case toEnd && unstable == nil || c.opts.FetchMaxWait < 0:
			return viewChunk{}, nil
		}
		vc.close()
		if !timing {
			timing = true
			if c.timer == nil {
				c.timer = time.NewTimer(c.opts.FetchMaxWait)
			} else {
				c.timer.Reset(c.opts.FetchMaxWait)
			}
		}
		select {
		case <-c.notify:
			c.wakeups.Add(1)
		case <-c.timer.C:
			timing = false // the next pass runs the group's clock again
		case <-c.group.wake: // nil unless subscribed
		case <-ctx.Done():
			return viewChunk{}, ctx.Err()
		case <-c.wakeup:
			return viewChunk{}, ErrWakeup
		case <-c.closing:
			return viewChunk{}, errConsumerClosed
		case <-c.log.stop:
			return viewChunk{}, ErrClosed
		}
	}
}

// pickChunkLocked makes one pass over the partitions, as a poll does, and
// returns a chunk of the first, from where the last chunk ended, that has
// records past its position. With no chunk, unstable is the error of a
// partition passed over because its committed offset, where it starts, is
// pending in an open transaction.
func (c *Consumer) pickChunkLocked(ctx context.Context) (_ viewChunk, unstable, _ error) {
	c.reading = nil // the last chunk is over, even if its end was not seen (a panic)
	defer c.groupPollDone()
	if err := c.groupPollLocked(ctx); err != nil {
		return viewChunk{}, nil, err
	}
	if len(c.assigned) == 0 && !c.group.subscribed {
		return viewChunk{}, nil, errorf("eventlog: poll: no partitions assigned: %w", ErrNotAssigned)
	}
	// Drain first: an append after this point sends again, so a wait
	// cannot miss it, and one before it is seen by the pass.
	select {
	case <-c.notify:
	default:
	}
	if !c.log.enter() {
		return viewChunk{}, nil, ErrClosed
	}
	defer c.log.exit()
	n := len(c.assigned)
	for i := range n {
		idx := (c.next + i) % n
		st := c.assigned[idx]
		if st.paused || c.leaving(st) {
			continue
		}
		if err := c.positionLocked(st); errors.Is(err, ErrUnstableOffsetCommit) {
			unstable = cmp.Or(unstable, err)
			continue // nothing from it until the transaction ends
		} else if err != nil && c.leaving(st) {
			continue // deleted since the check above, as Poll skips it
		} else if err != nil {
			return viewChunk{}, nil, err
		}
		if c.bounded && st.stopAt == math.MaxInt64 {
			// Assigned while ViewsToEnd runs: its end is as of now.
			st.stopAt = st.p.endOffset(c.opts.IsolationLevel)
		}
		if st.position < min(st.stopAt, st.p.endOffset(c.opts.IsolationLevel)) {
			st.dropReadAhead() // the chunk reads the log from the position
			c.next = (idx + 1) % n
			c.reading, c.readingFrom = st, st.position
			return viewChunk{st: st, from: st.position, stopAt: st.stopAt, mark: c.seq.Load()}, nil, nil
		}
	}
	return viewChunk{}, unstable, nil
}

// positionLocked gives st a position inside the log: the one it has, or
// where AutoOffsetReset says when it has none or it fell outside the log.
func (c *Consumer) positionLocked(st *fetchState) error {
	if hook := c.log.positionHook.Load(); hook != nil {
		(*hook)(st.tp)
	}
	if st.target != atPosition {
		st.poll.resolvedFrom = st.target
		defer func() { st.poll.resolvedFrom = atPosition }()
		if err := c.resolveLocked(st); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		err := st.p.checkReadable(st.position)
		if err == nil || attempt == 3 {
			return err
		}
		if err := c.resetLocked(st, err); err != nil {
			return err
		}
	}
}

// readChunk yields the records of chunk through vc and reports whether
// the iteration goes on.
func (c *Consumer) readChunk(vc *viewCursor, chunk viewChunk, fn func(*RecordView, error) (more, consumed bool)) bool {
	st := chunk.st
	p := st.p
	if !p.log.enter() {
		fn(nil, ErrClosed)
		return false
	}
	err := vc.start(p, chunk.from)
	if err == nil && c.opts.IsolationLevel == ReadCommitted {
		err = vc.batches.readCommitted()
	}
	p.log.exit()
	defer vc.pause() // eachView closes it
	if errors.Is(err, ErrOffsetOutOfRange) || err != nil && c.leaving(st) {
		// Retention overtook the position, and the next plan resets it; or
		// the topic is gone, and the next plan skips it.
		return true
	}
	if err != nil {
		fn(nil, err)
		return false
	}
	var yielding *RecordView // the record last given to the loop body
	ended := false
	defer func() {
		if !ended && yielding != nil {
			// The loop body panicked: the loop ends as a break ends it,
			// right after the record, rather than at the end of its batch,
			// so that a program that recovers and reads on skips none.
			// The chunk is not over for the commits (see reading): a Close
			// deferred by the caller commits the position before the chunk.
			c.movePosition(chunk, yielding.Offset+1, false)
		}
	}()
	more := c.yieldChunk(vc, chunk, fn, &yielding)
	ended = true
	return more
}

// yieldChunk is readChunk's loop over the records of the chunk. It notes
// in yielding the record it gives to fn.
func (c *Consumer) yieldChunk(vc *viewCursor, chunk viewChunk, fn func(*RecordView, error) (more, consumed bool), yielding **RecordView) bool {
	st := chunk.st
	records, bytes, batch := 0, int64(0), -1
	next := chunk.from // the offset after the last record yielded
	for {
		v, err := vc.next()
		if err != nil && c.leaving(st) {
			return true // the topic is gone: the next plan skips it
		}
		if err != nil {
			// The position stays before the damage, as with Poll.
			c.movePosition(chunk, next, true)
			fn(nil, err)
			return false
		}
		switch {
		case v == nil:
			// At the high watermark: past every batch read, gaps a
			// cleaning left after the last record included.
			c.movePosition(chunk, max(next, min(vc.batches.offset, chunk.stopAt)), true)
			return true
		case v.Offset >= chunk.stopAt:
			c.movePosition(chunk, chunk.stopAt, true)
			return true
		case records == c.opts.MaxPollRecords:
			c.movePosition(chunk, next, true)
			return true
		}
		if vc.batchesRead != batch {
			// A new batch: the chunk may end here, else the position moves
			// past the batch before its records are handed out.
			if bytes >= int64(c.opts.MaxPartitionFetchBytes) {
				c.movePosition(chunk, next, true)
				return true
			}
			batch = vc.batchesRead
			bytes += vc.batches.h.size()
			if !c.movePosition(chunk, min(vc.batches.offset, chunk.stopAt), false) {
				return true
			}
		}
		*yielding = v
		more, consumed := fn(v, nil)
		if !consumed {
			c.movePosition(chunk, v.Offset, true)
			return false
		}
		records++
		next = v.Offset + 1
		if !more {
			c.movePosition(chunk, next, true)
			return false
		}
		if c.seq.Load() != chunk.mark {
			// The loop body moved something: plan anew, after putting the
			// position right after this record unless the body moved it.
			c.movePosition(chunk, next, true)
			return true
		}
	}
}

// movePosition sets the chunk's partition's position to offset, unless the
// loop body moved it or changed the assignment since the chunk was planned.
// It reports false when the chunk is to end. done tells that the chunk
// ends here: the loop body no longer runs on its records (see reading).
func (c *Consumer) movePosition(chunk viewChunk, offset int64, done bool) bool {
	if c.acquire() != nil {
		return false
	}
	defer c.release()
	st := chunk.st
	if done && c.reading == st {
		c.reading = nil
	}
	if c.byTP[st.tp] != st || st.target != atPosition || st.movedAt > chunk.mark {
		return false
	}
	st.position = offset
	return true
}
