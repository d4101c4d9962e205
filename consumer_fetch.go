package eventlog

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"sort"
	"time"
)

// How a poll works
//
// A poll makes passes over the assigned, unpaused partitions, starting after
// the partition that last returned records. Each pass takes, per partition,
// the records an earlier poll read ahead (buf), then reads more from the log
// into the result. When the result holds MaxPollRecords records or
// FetchMinBytes bytes, the poll commits: positions move past what it returns
// and what was read beyond that becomes buf. Otherwise it waits on the
// consumer's notify channel, on which every watched partition sends when its
// high watermark moves, and makes another pass. A poll that fails or is
// interrupted moves nothing; whatever it read is read again next time.

// pollScratch is a partition's part in the poll under way.
type pollScratch struct {
	started      bool
	resolvedFrom target   // set when this poll gave the partition its position
	cursor       int64    // next offset to read from the log
	delivered    int64    // offset after the last record in the result
	taken        int      // records of buf in the result
	bytes        int      // bytes of the partition's records in the result
	refill       []Record // read beyond the result; replaces buf at commit
	refilled     bool
	spent        bool // gave all it may to this poll, with more left in the log
}

// recordFraming approximates what a record takes in a batch beyond its key,
// value and headers: length, attributes, deltas and field lengths.
const recordFraming = 8

// recordSize is the size of r as fetch.min.bytes and
// max.partition.fetch.bytes count it.
func recordSize(r *Record) int {
	n := len(r.Key) + len(r.Value) + recordFraming
	for i := range r.Headers {
		n += len(r.Headers[i].Key) + len(r.Headers[i].Value) + 2
	}
	return n
}

// pollLimits bound one poll.
type pollLimits struct {
	records        int           // most records returned: MaxPollRecords
	partitionBytes int           // most bytes taken from one partition
	wait           time.Duration // longest wait for FetchMinBytes; negative: none
}

// pollLimits returns the limits of Poll.
func (c *Consumer) pollLimits() pollLimits {
	return pollLimits{c.opts.MaxPollRecords, c.opts.MaxPartitionFetchBytes, c.opts.FetchMaxWait}
}

// pollLocked appends the next records to dst, waiting for FetchMinBytes as
// lim says, and commits the positions.
func (c *Consumer) pollLocked(ctx context.Context, dst []Record, lim pollLimits) ([]Record, error) {
	if err := c.notInListener("poll"); err != nil {
		return nil, err
	}
	select {
	case <-c.wakeup:
		return nil, ErrWakeup
	default:
	}
	if err := c.pendingErr; err != nil {
		c.pendingErr = nil
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.reading = nil // an iterator's chunk whose end was not seen (a panic) is over
	defer c.groupPollDone()
	if err := c.groupPollLocked(ctx); err != nil {
		return nil, err
	}
	if len(c.assigned) == 0 && !c.group.subscribed {
		return nil, errorf("eventlog: poll: no partitions assigned: %w", ErrNotAssigned)
	}
	c.lim = lim
	wait := lim.wait
	timing := false
	defer func() {
		if timing {
			c.timer.Stop()
		}
	}()
	bytes, last := 0, -1
	for {
		// Drain first: an append after this point sends again, so the wait
		// below cannot miss it, and one before it is seen by the pass.
		select {
		case <-c.notify:
		default:
		}
		var err error
		var full bool
		if dst, bytes, last, full, err = c.fetchLocked(dst, bytes, last); err != nil {
			c.abortPollLocked()
			return nil, err
		}
		if full || bytes >= c.opts.FetchMinBytes || wait < 0 || c.pendingErr != nil {
			return c.commitPollLocked(dst, last), nil
		}
		if !timing {
			timing = true
			if c.timer == nil {
				c.timer = time.NewTimer(wait)
			} else {
				c.timer.Reset(wait)
			}
		}
		select {
		case <-c.notify:
			c.wakeups.Add(1)
			continue
		case <-c.timer.C:
			timing = false
			return c.commitPollLocked(dst, last), nil
		case <-c.group.wake: // nil unless subscribed
			if len(dst) > 0 {
				return c.commitPollLocked(dst, last), nil
			}
			// Nothing in hand: the assignment may change within this poll.
			c.abortPollLocked()
			if err := c.groupPollLocked(ctx); err != nil {
				return nil, err
			}
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case <-c.wakeup:
			err = ErrWakeup
		case <-c.closing:
			err = errConsumerClosed
		case <-c.log.stop:
			err = ErrClosed
		}
		c.abortPollLocked()
		return nil, err
	}
}

// fetchLocked makes one pass over the partitions. last is the index of the
// last partition that put records in the result. full reports that the
// result can take no more: it holds the most records a poll returns, or
// every partition gave the most bytes it may.
func (c *Consumer) fetchLocked(dst []Record, bytes, last int) (_ []Record, _, _ int, full bool, _ error) {
	if !c.log.enter() {
		return dst, bytes, last, false, ErrClosed
	}
	defer c.log.exit()
	n := len(c.assigned)
	active, spent := 0, 0
	for i := 0; i < n && len(dst) < c.lim.records; i++ {
		idx := (c.next + i) % n
		st := c.assigned[idx]
		if st.paused || c.leaving(st) {
			continue
		}
		active++
		before := len(dst)
		var err error
		dst, bytes, err = c.fetchPartitionLocked(st, dst, bytes)
		if err != nil && c.leaving(st) {
			err = nil // deleted while read: what was read before stands
		}
		if len(dst) > before {
			last = idx
		}
		if err != nil {
			if len(dst) == 0 {
				return dst, bytes, last, false, err
			}
			// Return what was read before the error; the next poll
			// returns the error.
			c.pendingErr = err
			break
		}
		if st.poll.spent {
			spent++
		}
	}
	full = len(dst) >= c.lim.records || active > 0 && spent == active
	return dst, bytes, last, full, nil
}

// fetchPartitionLocked adds records of one partition to the result: first
// those read ahead, then more from the log.
func (c *Consumer) fetchPartitionLocked(st *fetchState, dst []Record, bytes int) ([]Record, int, error) {
	s := &st.poll
	if !s.started {
		if st.target != atPosition {
			s.resolvedFrom = st.target
			if err := c.resolveLocked(st); errors.Is(err, ErrUnstableOffsetCommit) {
				return dst, bytes, nil // nothing from it until the transaction ends
			} else if err != nil {
				return dst, bytes, err
			}
		}
		s.started = true
		s.delivered, s.cursor = st.position, st.position
		if len(st.buf) > 0 {
			s.cursor = st.buf[len(st.buf)-1].Offset + 1
		}
	}
	if c.bounded && st.stopAt == math.MaxInt64 {
		// Assigned while ReadToEnd runs: its end is as of now.
		st.stopAt = st.p.endOffset(c.opts.IsolationLevel)
	}
	room := c.lim.records - len(dst)

	if s.taken < len(st.buf) {
		rest := st.buf[s.taken:]
		k := st.below(rest[:min(room, len(rest))])
		for i := range rest[:k] {
			size := recordSize(&rest[i])
			s.bytes += size
			bytes += size
		}
		dst = append(dst, rest[:k]...)
		s.taken += k
		if k > 0 {
			s.delivered = rest[k-1].Offset + 1
		}
		if s.taken < len(st.buf) {
			return dst, bytes, nil // the poll is full, or the rest is past stopAt
		}
		room -= k
	}
	budget := c.lim.partitionBytes - s.bytes
	if budget <= 0 {
		s.spent = true
	}
	// A stopAt of math.MaxInt64 is no stop: a cursor there, after a Seek to
	// math.MaxInt64, is past the end like any other, and the read resets it.
	if room == 0 || s.spent || st.stopAt != math.MaxInt64 && s.cursor >= st.stopAt {
		return dst, bytes, nil
	}
	if st.avgBytes > 0 && room < budget/st.avgBytes {
		// Read about what fits, rather than a full fetch to keep for later.
		budget = max(room*st.avgBytes, 1)
	}

	before := len(dst)
	got, next, err := c.readLocked(st, dst, budget)
	read := got[before:]
	if len(read) == 0 {
		s.skipTo(next)
		return dst, bytes, err
	}
	// A failed read may still have returned the whole batches before the
	// failure: they are good, and are returned before the error.
	dst = got
	s.cursor = read[len(read)-1].Offset + 1
	// The read stopped at its budget rather than at the end of the log:
	// the partition has given this poll what it may.
	s.spent = s.cursor < st.p.endOffset(c.opts.IsolationLevel)
	keep := st.below(read[:min(room, len(read))])
	total := 0
	for i := range read {
		size := recordSize(&read[i])
		total += size
		if i < keep {
			s.bytes += size
			bytes += size
		}
	}
	st.avgBytes = max(total/len(read), 1)
	if keep > 0 {
		s.delivered = read[keep-1].Offset + 1
	}
	if keep < len(read) {
		over := read[keep:]
		if cap(st.spare) < len(over) {
			// Exactly: a read may leave a budget's worth (see
			// copy_budget.go), which append would grow by a quarter.
			st.spare = make([]Record, 0, len(over))
		}
		s.refill = append(st.spare[:0], over...)
		st.spare = s.refill[:0]
		s.refilled = true
		clear(over)
		dst = dst[:before+keep]
	}
	return dst, bytes, err
}

// readLocked reads the partition at the poll's cursor, appending to dst,
// and returns the offset the read reached. When the cursor is outside the
// log and nothing of the partition is in the result yet, it applies
// AutoOffsetReset and reads again.
func (c *Consumer) readLocked(st *fetchState, dst []Record, budget int) ([]Record, int64, error) {
	s := &st.poll
	for attempt := 0; ; attempt++ {
		got, next, err := st.p.readAt(dst, s.cursor, budget, c.opts.IsolationLevel)
		if err == nil || !errors.Is(err, ErrOffsetOutOfRange) {
			if got == nil {
				got = dst
			}
			return got, next, err
		}
		if len(got) > len(dst) {
			clear(got[len(dst):]) // records before the segment went away
		}
		if s.delivered != st.position {
			// Records of the partition are already in the result; the next
			// poll starts after them and deals with the gap then.
			return dst, s.cursor, nil
		}
		if attempt == 3 {
			return dst, s.cursor, err
		}
		if err := c.resetLocked(st, err); err != nil {
			return dst, s.cursor, err
		}
		s.delivered, s.cursor = st.position, st.position
	}
}

// below returns how many of recs lie below the partition's stopAt.
func (st *fetchState) below(recs []Record) int {
	if st.stopAt == math.MaxInt64 || len(recs) == 0 || recs[len(recs)-1].Offset < st.stopAt {
		return len(recs)
	}
	return sort.Search(len(recs), func(i int) bool { return recs[i].Offset >= st.stopAt })
}

// resetLocked applies AutoOffsetReset to a partition whose position is
// outside the log (Kafka's OFFSET_OUT_OF_RANGE). A position that the poll
// itself just looked up is looked up again the same way instead: retention
// overtook it.
func (c *Consumer) resetLocked(st *fetchState, cause error) error {
	t := st.poll.resolvedFrom
	if t != atBeginning && t != atEnd {
		switch c.opts.AutoOffsetReset {
		case OffsetResetEarliest:
			t = atBeginning
		case OffsetResetLatest:
			t = atEnd
		default:
			return fmt.Errorf("%w (auto.offset.reset is none)", cause)
		}
	}
	from := st.position
	st.target = t
	st.dropReadAhead()
	if err := c.resolveLocked(st); err != nil {
		return err
	}
	c.log.opts.Logger.Info("eventlog: consumer position reset", "topic", st.tp.Topic, "partition", st.tp.Partition,
		"from", from, "to", st.position, "auto_offset_reset", c.opts.AutoOffsetReset.String())
	return nil
}

// commitPollLocked moves the positions past the records of the result.
func (c *Consumer) commitPollLocked(dst []Record, last int) []Record {
	for _, st := range c.assigned {
		s := &st.poll
		if !s.started {
			continue
		}
		switch {
		case s.refilled:
			st.buf = s.refill
		case s.taken == len(st.buf):
			clear(st.buf) // let go of the records' bytes
			st.buf = nil
		default:
			clear(st.buf[:s.taken])
			st.buf = st.buf[s.taken:]
		}
		st.position = s.delivered
		st.poll = pollScratch{}
	}
	if last >= 0 {
		c.next = (last + 1) % len(c.assigned)
	}
	c.pollMark = c.seq.Load()
	return dst
}

// abortPollLocked forgets the poll under way: no position moves.
func (c *Consumer) abortPollLocked() {
	for _, st := range c.assigned {
		if st.poll.refilled {
			st.dropReadAhead() // its records follow ones that are not returned
		}
		st.poll = pollScratch{}
	}
}

// Records returns an iterator over the records of the assigned, unpaused
// partitions, in the order Poll would return them:
//
//	for r, err := range c.Records(ctx) {
//		if err != nil {
//			return err // ctx.Err() when ctx ends
//		}
//		...
//	}
//
// It polls, with FetchMaxWait, until ctx ends or a poll fails; it then
// yields the error (ctx.Err(), ErrWakeup, ...) with a zero Record, once, and
// stops. With a negative FetchMaxWait it stops instead, without an error,
// at the first poll that finds nothing. Breaking out of the loop is clean:
// positions stay after the last record yielded, as they do after a panic
// in the loop body; a commit in the loop body
// covers the batch being yielded (see Views, which Records clones). The loop body may Seek, Pause, Resume or Assign; the next
// record then comes from the consumer as changed. A record of more headers
// than a copying read makes (see Partition.Read) ends the loop with an
// error wrapping ErrRecordTooLarge, its position left at the record, which
// Views reads.
func (c *Consumer) Records(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		c.each(ctx, false, func(r Record, err error) (bool, bool) { return yield(r, err), true })
	}
}

// ReadToEnd returns an iterator like Records that stops, without an error,
// once it has yielded every record below each partition's end as of the
// start of the loop — its high watermark, or its last stable offset for a
// ReadCommitted consumer: it reads what is there and does not wait
// for more. Positions are then at those ends, so a loop over
// Records can tail from there. It is the way to rebuild state from a topic
// before serving:
//
//	c.SeekToBeginning() // the partitions it Assigned (see SeekToBeginning)
//	for r, err := range c.ReadToEnd(ctx) { ... }
//
// A partition without a position starts where AutoOffsetReset says; with
// the default, OffsetResetLatest, that is its end, so nothing is read. So
// does one whose position retention or DeleteRecords overtakes between two
// chunks of the loop (of at most MaxPollRecords records), as a Kafka
// consumer's does: with the default, the loop ends with the records from
// the new log start on unread. A rebuild wants OffsetResetEarliest, which
// goes on from the log start. One that starts at its group's committed
// offset while that offset is pending
// in an open transaction is waited for, as Poll waits for it; with a
// negative FetchMaxWait the loop ends instead with an error wrapping
// ErrUnstableOffsetCommit, once the other partitions are read.
func (c *Consumer) ReadToEnd(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		c.each(ctx, true, func(r Record, err error) (bool, bool) { return yield(r, err), true })
	}
}

// setBounded starts or ends ReadToEnd's bounded reading.
func (c *Consumer) setBounded(on bool) error {
	if err := c.acquire(); err != nil {
		return err
	}
	defer c.release()
	c.bounded = on
	for _, st := range c.assigned {
		st.stopAt = math.MaxInt64
		if on {
			st.stopAt = st.p.endOffset(c.opts.IsolationLevel)
		}
	}
	return nil
}

// unpollLocked gives back records that a poll returned but its caller did
// not take: a partition whose position is still where that poll left it goes
// back to its first such record. A poll that waited for FetchMinBytes can
// return a partition's records in several runs, with other partitions'
// between them, so the records are taken per partition, not per run.
func (c *Consumer) unpollLocked(rest []Record) {
	type span struct{ first, last int64 }
	spans := make(map[TopicPartition]span)
	for i := range rest {
		tp := TopicPartition{rest[i].Topic, rest[i].Partition}
		s, ok := spans[tp]
		if !ok {
			s.first = rest[i].Offset
		}
		s.last = rest[i].Offset
		spans[tp] = s
	}
	for tp, s := range spans {
		st := c.byTP[tp]
		if st != nil && st.target == atPosition && st.movedAt <= c.pollMark && st.position == s.last+1 {
			st.position = s.first
			st.dropReadAhead()
		}
	}
	clear(rest)
}
