package eventlog

import (
	"context"
	"fmt"
	"math"
	"unsafe"
)

// Replay calls fn with every record of topic, as a view (see RecordView
// for its lifetime), partition after partition, each from its log start
// offset to its high watermark as of the call: what an event-sourced
// service does at startup to rebuild its state. It reads committed records
// only, as a ReadCommitted consumer does: up to each partition's last
// stable offset, without the records of aborted transactions. It returns
// fn's first error, ctx's error if ctx ends, or the first read error
// (ErrClosed, *CorruptError).
//
// Replay reads through views, allocating nothing per record. It checks
// ctx between batches, not between records.
func (l *Log) Replay(ctx context.Context, topic string, fn func(*RecordView) error) error {
	t, err := l.topic(topic)
	if err != nil {
		return fmt.Errorf("eventlog: replay: %w", err)
	}
	ends := make([]int64, len(t.partitions))
	for i, p := range t.partitions {
		ends[i] = p.LastStableOffset()
	}
	var vc viewCursor
	for i, p := range t.partitions {
		if err := p.replay(ctx, &vc, ends[i], fn); err != nil {
			return err
		}
	}
	return nil
}

// replay is Replay of one partition through vc, up to end.
func (p *Partition) replay(ctx context.Context, vc *viewCursor, end int64, fn func(*RecordView) error) error {
	if !p.log.enter() {
		return ErrClosed
	}
	err := vc.start(p, p.LogStartOffset())
	if err == nil {
		vc.batches.readCommitted()
	}
	p.log.exit()
	if err != nil {
		return err
	}
	defer vc.close()
	batch := -1
	for {
		v, err := vc.next()
		if err != nil || v == nil || v.Offset >= end {
			return err
		}
		if vc.batchesRead != batch {
			batch = vc.batchesRead
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(v); err != nil {
			return err
		}
	}
}

// ReplayLatest reads topic as Replay does and returns the newest value of
// each key: the state a compacted topic (cleanup.policy=compact) stands
// for, and what a cache rebuilt after a crash holds. A key whose newest
// record is a tombstone (null value) is absent; records with a null key
// have no key to be the newest of and are skipped. The map's keys and
// values are copies the caller owns, carved from shared 8 KiB blocks: a
// block is freed once nothing refers to it.
//
// The map is made with room for the records of the topic's cleaned
// sections, where a key appears once at most, counted from the batch
// headers, so that for a compacted topic it hardly grows while it is
// filled; the records after them may be many per key, and room for each
// would stay, unused, as long as the map.
func (l *Log) ReplayLatest(ctx context.Context, topic string) (map[string][]byte, error) {
	t, err := l.topic(topic)
	if err != nil {
		return nil, fmt.Errorf("eventlog: replay: %w", err)
	}
	clean, dirty := 0, 0
	for _, p := range t.partitions {
		c, d, err := p.recordsEstimate()
		if err != nil {
			return nil, err
		}
		clean, dirty = clean+c, dirty+d
	}
	latest := make(map[string][]byte, clean+min(dirty, replayLatestDirtyRoom))
	var copies slab
	err = l.Replay(ctx, topic, func(v *RecordView) error {
		switch {
		case v.Key == nil:
		case v.Value == nil:
			delete(latest, string(v.Key))
		default:
			key, value := copies.keyValue(v.Key, v.Value)
			latest[key] = value
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return latest, nil
}

// slab hands out copies of keys and values carved from shared blocks, so
// that a replay allocates once per block rather than once per record. A
// block stays alive while any copy carved from it does: at most
// slabBlockSize bytes are kept for a value that outlives its neighbours.
type slab struct{ block []byte }

// slabBlockSize is small enough that a replaced value pins little, and
// large enough to hold dozens of typical records.
const slabBlockSize = 8 << 10

// keyValue copies a key and a value: the key as a string and the value
// capped, so that appending to it cannot overwrite its neighbours.
func (s *slab) keyValue(key, value []byte) (string, []byte) {
	n := len(key) + len(value)
	if n > slabBlockSize/4 {
		buf := append(key[:len(key):len(key)], value...) // no zeroing, unlike make and copy
		return unsafe.String(unsafe.SliceData(buf), len(key)), buf[len(key):len(buf):len(buf)]
	}
	if len(s.block)+n > cap(s.block) {
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
			return clean, dirty, p.segmentErr(err)
		}
	}
	// A damaged header may claim any count; the offsets bound the records.
	bound := max(p.HighWatermark()-p.LogStartOffset(), 0)
	return int(min(int64(clean), bound)), int(min(int64(dirty), bound)), nil
}
