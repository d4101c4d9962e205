package eventlog

import (
	"bytes"
	"context"
	"errors"
	"math"
	"unsafe"
)

// Replay calls fn with every record of topic, as a view (see RecordView
// for its lifetime), partition after partition, each from its log start
// offset to its end as of the call: what an event-sourced service does at
// startup to rebuild its state. It reads committed records only, as a
// ReadCommitted consumer does: without the records of aborted
// transactions, and up to each partition's last stable offset, which a
// transaction still open at the call holds at its first record there.
// Replay does not wait for that transaction: the records from its first
// on, other producers' committed ones included, are left to a later read.
// It returns fn's first error, ctx's error if ctx ends, or the first read
// error (ErrClosed, *CorruptError, or ErrTopicNotFound once the topic is
// deleted); partitions added meanwhile are not read.
//
// Replay reads through views, allocating nothing per record. It checks
// ctx between batches, not between records: fn may be called for the rest
// of a batch after ctx ends. Retention or DeleteRecords that overtakes it
// does not fail it: it finishes the segment it reads and goes on from the
// partition's new log start, as Partition.Views does.
func (l *Log) Replay(ctx context.Context, topic string, fn func(*RecordView) error) error {
	r, err := l.newTopicReplay(ctx, topic)
	if err != nil {
		return err
	}
	defer r.close()
	for r.next() {
		if err := fn(r.c.View()); err != nil {
			return err
		}
	}
	return r.err
}

// topicReplay is the read that Replay and ReplayLatest share: the
// committed records of a topic's partitions, one partition after the
// other, each from its log start (as retention leaves it) up to its last
// stable offset as of the start, with ctx checked between batches. next
// moves to the next record, which the Cursor c reads: ReplayLatest takes
// its key and value from the batch's table through c.Key and c.Value,
// without making its view, and Replay its view through c.View.
type topicReplay struct {
	ctx   context.Context
	parts []*Partition
	ends  []int64 // of parts, as of the start
	i     int     // index in parts of the partition read, -1 before the first
	end   int64   // ends[i]
	batch int     // vc.batchesRead when ctx was last checked
	c     Cursor  // over vc while a partition is read; c.vc nil between them
	vc    viewCursor
	err   error
}

// newTopicReplay starts a replay of topic; close it once done.
func (l *Log) newTopicReplay(ctx context.Context, topic string) (*topicReplay, error) {
	t, err := l.topic(topic)
	if err != nil {
		return nil, errorf("eventlog: replay: %w", err)
	}
	r := &topicReplay{ctx: ctx, parts: t.partitions, ends: make([]int64, len(t.partitions)), i: -1}
	for i, p := range t.partitions {
		r.ends[i] = p.LastStableOffset()
	}
	return r, nil
}

// next moves to the next record and reports whether there is one; false
// once the replay is done, or failed (see err).
func (r *topicReplay) next() bool {
	// Most records: the next entry of the current batch's table, whose
	// ctx check is done, and cut at end (see nextSlow).
	if c := &r.c; c.at < c.n {
		c.at++
		return true
	}
	return r.nextSlow()
}

// nextSlow is next for the first record of a batch, the records read
// without a table, and the moves from one partition to the next.
func (r *topicReplay) nextSlow() bool {
	for r.err == nil {
		if c := &r.c; c.vc != nil {
			if c.Next() && c.Offset() < r.end {
				// Cut the rest of the table, which the Cursor took, at
				// end, so that next need not check each record: a Next
				// at the cut moves to the next table or batch, whose
				// first record, from end on, ends the partition.
				for c.n > c.at && c.base+int64(c.meta[c.n-1].offsetDelta) >= r.end {
					c.n--
				}
				if r.vc.batchesRead != r.batch {
					r.batch = r.vc.batchesRead
					r.err = r.ctx.Err()
				}
				return r.err == nil
			}
			r.err = c.err // nil at the partition's end
			r.close()
			continue
		}
		if r.i+1 == len(r.parts) {
			return false
		}
		r.i++
		r.err = r.start(r.parts[r.i], r.ends[r.i])
	}
	return false
}

// start begins the read of p's committed records, up to end.
func (r *topicReplay) start(p *Partition, end int64) error {
	if !p.log.enter() {
		return ErrClosed
	}
	vc := &r.vc
	start := p.LogStartOffset()
	if hook := p.log.replayHook.Load(); hook != nil {
		(*hook)(TopicPartition{Topic: p.topic, Partition: p.id})
	}
	err := vc.start(p, start)
	for errors.Is(err, ErrOffsetOutOfRange) && p.LogStartOffset() > start {
		// Retention or DeleteRecords moved the log start since it was
		// loaded: the records below it are gone, not out of range.
		start = p.LogStartOffset()
		err = vc.start(p, start)
	}
	if err == nil {
		if err = vc.batches.readCommitted(); err != nil {
			vc.close()
		}
	}
	p.log.exit()
	if err != nil {
		return err
	}
	r.c, r.end, r.batch = Cursor{vc: vc}, end, -1
	return nil
}

// close lets go of what the replay holds: the partition it reads.
func (r *topicReplay) close() {
	if r.c.vc != nil {
		r.vc.close()
		r.c = Cursor{}
	}
}

// ReplayLatest reads topic as Replay does and returns the newest value of
// each key: the state a compacted topic (cleanup.policy=compact) stands
// for, and what a cache rebuilt after a crash holds. A key whose newest
// record is a tombstone (null value) is absent; records with a null key
// have no key to be the newest of and are skipped. On a compacted topic
// the cleaner drops a tombstone once the topic's DeleteRetention has
// passed since it first saw it: a replay that reads the deleted value
// before a cleaning and comes to the tombstone more than DeleteRetention
// later may find it gone and keep the value, as a Kafka consumer may.
//
// Partitions are read in turn, so a key found in several partitions gets
// the value of the last partition (by number) that holds it, whatever the
// order the records were appended in, and a tombstone there deletes it.
// The default partitioner keeps a key in one partition, but
// Log.CreatePartitions may move it to a partition numbered below its old
// one: the old partition's value, older, then wins, since compaction (as
// Kafka's) keeps the newest record of a key per partition. Before adding
// partitions to a topic rebuilt so, plan to write a tombstone for each
// moved key on its old partition, or to rebuild from a new topic.
//
// The map's keys and values are copies the caller owns (an empty value is
// an empty slice, not nil), carved from shared 8 KiB blocks: a block is
// freed once nothing refers to it. A value of the size of the one it
// replaces is copied over it. Where keys were updated many times with
// values of other sizes, the blocks would mostly hold replaced values that
// a newer one beside them keeps alive: once they hold half as much again
// as the map refers to, the replay copies the map's keys and values anew
// and lets them go.
//
// ReplayLatest reads each record's key and value where they lie, as
// Cursor.Key and Cursor.Value do, without making its view. The map is
// made with room for the records of the topic's cleaned sections, where a
// key appears once at most, counted from the batch headers, so that for a
// compacted topic it hardly grows while it is filled; the records after
// them may be many per key, and room for each would stay, unused, as long
// as the map.
func (l *Log) ReplayLatest(ctx context.Context, topic string) (map[string][]byte, error) {
	r, err := l.newTopicReplay(ctx, topic)
	if err != nil {
		return nil, err
	}
	defer r.close()
	clean, dirty := 0, 0
	for _, p := range r.parts {
		c, d, err := p.recordsEstimate()
		if err != nil {
			return nil, err
		}
		clean, dirty = clean+c, dirty+d
	}
	latest := make(map[string][]byte, clean+min(dirty, replayLatestDirtyRoom))
	var copies slab
	check := slabShedFloor
	stale := false // a value was replaced or deleted: the blocks may hold it
	for r.next() {
		// The key and value from the batch's table: no view is made.
		k, v := r.c.Key(), r.c.Value()
		n := len(latest)
		switch {
		case k == nil:
		case v == nil:
			delete(latest, string(k))
			stale = stale || len(latest) < n
		default:
			if old, ok := latest[string(k)]; ok && len(old) == len(v) {
				// The map's copy of the value replaced, which nothing
				// else refers to (keyValue gives each its own bytes):
				// written over, it leaves no stale copy in the blocks.
				// The lookup cost nothing measurable where it misses:
				// ReplayLatest of 1 M new keys ran faster with it
				// (BENCHMARKS.md), as if the assignment that follows
				// found the key's place in the cache.
				copy(old, v)
				break
			}
			key, value := copies.keyValue(k, v)
			latest[key] = value
			stale = stale || len(latest) == n
			if stale && copies.carved >= check {
				latest = copies.shed(latest)
				check = max(2*copies.carved, slabShedFloor)
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if stale {
		latest = copies.shed(latest)
	}
	return latest, nil
}

// slab hands out copies of keys and values carved from shared blocks, so
// that a replay allocates once per block rather than once per record. A
// block stays alive while any copy carved from it does: at most
// slabBlockSize bytes are kept for a value that outlives its neighbours,
// until shed copies the values that stay anew.
type slab struct {
	block  []byte
	carved int // bytes of the copies carved from blocks since the slab began
}

// slabShedFloor is the fewest bytes carved before shed is worth its pass
// over the map.
const slabShedFloor = 1 << 20

// shed returns latest, or, when the slab's blocks hold more than half as
// much again as the keys and values of latest they hold, a copy of latest
// whose keys and values are carved anew, from a slab that replaces s, so
// that the old blocks, and the replaced values in them, are let go. It
// costs a pass over latest, and the copy what the copies hold: checked
// each time the slab doubles, it keeps a replay linear in what it reads.
func (s *slab) shed(latest map[string][]byte) map[string][]byte {
	inBlocks := 0
	for k, v := range latest {
		if carvable(k, v) {
			inBlocks += len(k) + len(v)
		}
	}
	if s.carved <= inBlocks+inBlocks/2 {
		return latest
	}
	fresh := make(map[string][]byte, len(latest))
	*s = slab{}
	for k, v := range latest {
		if carvable(k, v) {
			k, v = s.keyValue(unsafe.Slice(unsafe.StringData(k), len(k)), v)
		}
		fresh[k] = v
	}
	return fresh
}

// carvable reports whether keyValue carves a copy of key and value from a
// block, rather than allocating it alone.
func carvable[K string | []byte](key K, value []byte) bool {
	return len(key)+len(value) <= slabBlockSize/4
}

// slabBlockSize is small enough that a replaced value pins little, and
// large enough to hold dozens of typical records.
const slabBlockSize = 8 << 10

// keyValue copies a key and a value: the key as a string and the value
// capped, so that appending to it cannot overwrite its neighbours.
func (s *slab) keyValue(key, value []byte) (string, []byte) {
	n := len(key) + len(value)
	if !carvable(key, value) {
		// Appending to key capped reallocates, without zeroing, unlike
		// make and copy; but appending nothing would return key itself,
		// the view's bytes.
		buf := append(key[:len(key):len(key)], value...)
		if len(value) == 0 {
			buf = bytes.Clone(key)
		}
		return unsafe.String(unsafe.SliceData(buf), len(key)), buf[len(key):len(buf):len(buf)]
	}
	s.carved += n
	if s.block == nil || len(s.block)+n > cap(s.block) {
		// A copy of an empty key and value from no block at all would be
		// nil, a null value.
		s.block = make([]byte, 0, slabBlockSize)
	}
	start := len(s.block)
	s.block = append(append(s.block, key...), value...)
	buf := s.block[start:len(s.block):len(s.block)]
	return unsafe.String(unsafe.SliceData(buf), len(key)), buf[len(key):len(buf):len(buf)]
}

// replayLatestDirtyRoom is the most room ReplayLatest makes in advance for
// the records after the cleaned sections.
const replayLatestDirtyRoom = 4096

// recordsEstimate counts the records of the partition from its batch
// headers, without decoding or checking the batches: an estimate, for
// sizing. clean counts those of the segments below the first dirty offset,
// where a cleaning left one record per key at most, dirty the others.
// Damage it cannot read past ends the count of its segment there.
func (p *Partition) recordsEstimate() (clean, dirty int, err error) {
	if !p.log.enter() {
		return 0, 0, ErrClosed
	}
	defer p.log.exit()
	segs := *p.segments.Load()
	firstDirty := p.cleaning.firstDirty.Load()
	for i, seg := range segs {
		if !seg.acquire() {
			continue // dropped since: its records are counted elsewhere, or gone
		}
		size := seg.size.Load()
		m, err := seg.viewFor(size)
		if err == nil {
			n := countRecords(m.data[:size], 0, 0, math.MaxInt64)
			if i+1 < len(segs) && segs[i+1].base <= firstDirty {
				clean += n
			} else {
				dirty += n
			}
			m.release()
		}
		_ = seg.release()
		if err != nil {
			if again, err := p.relistGone(seg, err); !again {
				return clean, dirty, err
			}
			// Listed again (see relistGone): an estimate may miss the
			// records of a replacement.
		}
	}
	// A damaged header may claim any count; the offsets bound the records.
	bound := max(p.HighWatermark()-p.LogStartOffset(), 0)
	return int(min(int64(clean), bound)), int(min(int64(dirty), bound)), nil
}
