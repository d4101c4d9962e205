package eventlog

import (
	"encoding/binary"
	"errors"
	"sort"
)

// A segment has two sparse indexes, both in Kafka's layout and both
// big-endian. They carry no authority: whenever one is missing, short or
// inconsistent it is rebuilt from the log.
//
// Offset index (<base>.index), one entry per IndexIntervalBytes of log:
//
//	+-----------------------+-----------------------+
//	| relative offset u32   | file position u32     |   8 bytes
//	+-----------------------+-----------------------+
//
// The relative offset is the base offset of a batch minus the segment's base
// offset; the position is where that batch starts in the .log file.
//
// Time index (<base>.timeindex), an entry whenever the largest timestamp seen
// so far grows at an index point, plus a last entry when the segment closes:
//
//	+-----------------------------+-----------------------+
//	| max timestamp so far i64 ms | relative offset u32   |   12 bytes
//	+-----------------------------+-----------------------+
//
// These constants are part of the format.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// offsetEntry maps a batch's base offset (relative to the segment) to its
// position in the log file.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry records that the batch at rel raised the segment's running
// maximum timestamp to maxTimestamp: no record in that batch or before it is
// newer.
type timeEntry struct {
	maxTimestamp int64
	rel          uint32
}

// segmentIndex holds both indexes of one segment in memory. A segment's index
// is only appended to by the partition's appender; readers see it through the
// segment's lock.
type segmentIndex struct {
	offsets []offsetEntry
	times   []timeEntry
}

// lookup returns the position of the last indexed batch whose base offset is
// at most rel, or 0 when no entry qualifies.
func (x *segmentIndex) lookup(rel uint32) (entry offsetEntry, ok bool) {
	i := sort.Search(len(x.offsets), func(i int) bool { return x.offsets[i].rel > rel })
	if i == 0 {
		return offsetEntry{}, false
	}
	return x.offsets[i-1], true
}

// lookupTime returns the time entry from whose batch to scan for the first
// record with a timestamp at or after ts: the last entry whose running
// maximum is still below ts (every batch up to its own is older than ts).
// The entry is only as good as the file it came from: see timeEntryTrusted.
func (x *segmentIndex) lookupTime(ts int64) (k int, ok bool) {
	i := sort.Search(len(x.times), func(i int) bool { return x.times[i].maxTimestamp >= ts })
	return i - 1, i > 0
}

// timeEntryHolds reports whether time entry k, whose offset is known to be
// right (the last entry's, at the segment's last batch, which the load of
// the index files checks), agrees with data, the log of the segment at
// base, as far as the batches since the offset entry before it tell. At
// each offset entry the builder adds a time entry unless the last one
// already holds the running maximum, so at the offset entry before entry
// k's batch (or the segment's start) the running maximum is at most entry
// k-1's (-1 before any), which is at most entry k's: entry k's must be
// entry k-1's raised by the batches from there to its own. That reads the
// headers of about an index interval of batches, which a load can afford,
// and catches a damaged maximum, too low or too high, if entry k-1's is
// right. It does not catch an entry whose offset is damaged too (see
// timeEntryTrusted).
func (x *segmentIndex) timeEntryHolds(k int, data []byte, base int64) bool {
	e := x.times[k]
	running := int64(-1)
	if k > 0 {
		running = x.times[k-1].maxTimestamp
	}
	i := sort.Search(len(x.offsets), func(i int) bool { return x.offsets[i].rel >= e.rel })
	pos, from := int64(0), base
	if i > 0 {
		pos, from = int64(x.offsets[i-1].pos), base+int64(x.offsets[i-1].rel)
	}
	to := base + int64(e.rel)
	for first := i > 0; ; first = false {
		h, err := batchHeaderAt(data, pos)
		if err != nil || first && h.BaseOffset != from || h.BaseOffset > to {
			return false
		}
		running = max(running, h.MaxTimestamp)
		if h.BaseOffset == to {
			return running == e.maxTimestamp
		}
		pos += h.size()
	}
}

// timeEntryTrusted reports whether a lookup may rely on time entry k, as
// data, the log of the segment at base, tells: entries k-1 and k must each
// name a batch, and hold the running maximum at that batch, which the
// scan of the batch headers from the one entry k-2 names (the segment's
// start for the first two) computes, starting from entry k-2's maximum.
// Entry k is then right if entry k-2 is: any two damaged entries, each
// damaged in any way (a stale entry that names a later batch and a lower
// maximum, as timeEntryHolds lets through, included), fail it rather than
// send a lookup past records it should find. It reads the headers of the
// batches between three entries, about two index intervals where the
// timestamps rise with the offsets, and at most those a read from the
// segment's start up to entry k would.
func (x *segmentIndex) timeEntryTrusted(k int, data []byte, base int64) bool {
	j := k - 2 // the entry the scan starts after, -1 for none
	if j < -1 {
		j = -1
	}
	running, after := int64(-1), base-1
	if j >= 0 {
		running, after = x.times[j].maxTimestamp, base+int64(x.times[j].rel)
	}
	// From the last offset entry at or before entry j's batch.
	i := sort.Search(len(x.offsets), func(i int) bool { return base+int64(x.offsets[i].rel) > after })
	pos, first := int64(0), int64(-1)
	if i > 0 {
		pos, first = int64(x.offsets[i-1].pos), base+int64(x.offsets[i-1].rel)
	}
	found := j < 0 // whether the scan met entry j's batch
	for next := j + 1; ; {
		h, err := batchHeaderAt(data, pos)
		if err != nil || first >= 0 && h.BaseOffset != first {
			return false
		}
		first = -1
		if h.BaseOffset == after {
			found = true
		} else if h.BaseOffset > after {
			if !found {
				return false // entry j names no batch
			}
			running = max(running, h.MaxTimestamp)
		}
		for ; next <= k && base+int64(x.times[next].rel) <= h.BaseOffset; next++ {
			if base+int64(x.times[next].rel) != h.BaseOffset || x.times[next].maxTimestamp != running {
				return false
			}
		}
		if next > k {
			return true
		}
		pos += h.size()
	}
}

// lastTimeEntriesHold reports whether the last of the first n time
// entries, the newest timestamp of the batches up to its own, by which
// retention deletes a segment, agrees with data, the log of the segment
// at base: it and the entry before must hold (timeEntryHolds), so that
// two damaged maximums, the last lowered to agree with the one before it,
// lowered too, fail it; the last entry alone would hold them.
func (x *segmentIndex) lastTimeEntriesHold(n int, data []byte, base int64) bool {
	return n == 0 || x.timeEntryHolds(n-1, data, base) && (n == 1 || x.timeEntryHolds(n-2, data, base))
}

// maxTimestamp is the largest timestamp recorded by the time index, or -1.
func (x *segmentIndex) maxTimestamp() int64 {
	if len(x.times) == 0 {
		return -1
	}
	return x.times[len(x.times)-1].maxTimestamp
}

// addTime appends a time entry if ts raises the running maximum, which
// starts at -1: batches with no timestamps (-1) add none, so that a
// segment of them has an empty time index, as seal leaves it.
func (x *segmentIndex) addTime(ts int64, rel uint32) {
	if n := len(x.times); ts < 0 || n > 0 && x.times[n-1].maxTimestamp >= ts {
		return
	}
	x.times = append(x.times, timeEntry{maxTimestamp: ts, rel: rel})
}

func encodeOffsetIndex(entries []offsetEntry) []byte {
	b := make([]byte, 0, len(entries)*offsetEntrySize)
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
	}
	return b
}

func encodeTimeIndex(entries []timeEntry) []byte {
	b := make([]byte, 0, len(entries)*timeEntrySize)
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.maxTimestamp))
		b = binary.BigEndian.AppendUint32(b, e.rel)
	}
	return b
}

// decodeOffsetIndex parses an offset index file and checks what can be
// checked without reading the log: whole entries, strictly increasing
// offsets and positions, positions inside the log. It reports false for an
// index that must be rebuilt.
func decodeOffsetIndex(b []byte, logSize int64) ([]offsetEntry, bool) {
	if len(b)%offsetEntrySize != 0 {
		return nil, false
	}
	entries := make([]offsetEntry, len(b)/offsetEntrySize)
	for i := range entries {
		e := offsetEntry{
			rel: binary.BigEndian.Uint32(b[i*offsetEntrySize:]),
			pos: binary.BigEndian.Uint32(b[i*offsetEntrySize+4:]),
		}
		if int64(e.pos)+batchHeaderSize > logSize {
			return nil, false
		}
		if i > 0 && (e.rel <= entries[i-1].rel || e.pos <= entries[i-1].pos) {
			return nil, false
		}
		entries[i] = e
	}
	return entries, true
}

// decodeTimeIndex parses a time index file: whole entries, non-decreasing
// timestamps and offsets, offsets not past lastRel.
func decodeTimeIndex(b []byte, lastRel uint32) ([]timeEntry, bool) {
	if len(b)%timeEntrySize != 0 {
		return nil, false
	}
	entries := make([]timeEntry, len(b)/timeEntrySize)
	for i := range entries {
		e := timeEntry{
			maxTimestamp: int64(binary.BigEndian.Uint64(b[i*timeEntrySize:])),
			rel:          binary.BigEndian.Uint32(b[i*timeEntrySize+8:]),
		}
		if e.rel > lastRel {
			return nil, false
		}
		if i > 0 && (e.maxTimestamp < entries[i-1].maxTimestamp || e.rel < entries[i-1].rel) {
			return nil, false
		}
		entries[i] = e
	}
	return entries, true
}

// startForTime returns the offset in the segment from which a read finds
// its first record stamped ts or later, as its index idx tells, or its base
// when no entry helps. The time entry it relies on is checked first (see
// timeEntryTrusted). One that does not hold has the index rebuilt by
// rebuild (see Partition.rebuildIndex), which rebuilt reports, and looked
// up again; where the rebuild fails, the lookup goes by the index of the
// batches before the damage that made it fail, for a closed segment, or
// else the read starts at the segment's base (and meets the damage, if it
// gets there).
func (s *segment) startForTime(idx *segmentIndex, ts int64, rebuild func() (*segmentIndex, error)) (from int64, rebuilt bool, err error) {
	for fromLog := false; ; {
		s.mu.RLock()
		x := segmentIndex{offsets: idx.offsets, times: idx.times}
		s.mu.RUnlock()
		k, ok := x.lookupTime(ts)
		if !ok {
			return s.base, rebuilt, nil
		}
		from = s.base + int64(x.times[k].rel)
		if fromLog {
			return from, rebuilt, nil // built from the log
		}
		size := s.size.Load()
		m, err := s.viewFor(size)
		if err != nil {
			return -1, false, err
		}
		holds := x.timeEntryTrusted(k, m.data[:size], s.base)
		m.release()
		if holds {
			return from, false, nil
		}
		if idx, err = rebuild(); idx == nil {
			return s.base, false, nil
		}
		fromLog, rebuilt = true, err == nil
	}
}

// readStart is where a read of offset in seg, whose bytes it reads are data
// and whose loaded index is idx, starts: see startPosition. An offset entry
// that does not name the batch at its position has the index rebuilt (see
// rebuildIndex), and looked up again, so that reads do not scan the
// segment from its start one after another; where the rebuild fails, the
// read starts from the index of the batches before the damage that made it
// fail, for a closed segment, or else at the segment's start (and meets
// the damage, if it gets there).
func (p *Partition) readStart(seg *segment, idx *segmentIndex, data []byte, offset int64) int64 {
	pos, held := seg.startPosition(idx, data, offset)
	if held {
		return pos
	}
	idx, err := p.rebuildIndex(seg)
	if idx == nil {
		return pos
	}
	if err == nil {
		p.log.recovery.indexesRebuilt.Add(1)
		p.log.opts.Logger.Warn("eventlog: an offset index did not match its log and was rebuilt", "path", seg.path(indexExt))
	}
	pos, _ = seg.startPosition(idx, data, offset)
	return pos
}

// errNotRebuilt is rebuildIndex's report that it left the index as it is.
var errNotRebuilt = errors.New("eventlog: index not rebuilt")

// rebuildIndex rebuilds the index of seg, which a lookup found not
// matching the log, and returns it. A closed segment's is rebuilt by
// segment.rebuildIndex. The active segment's index is its appender's: it
// is scanned from the log with no lock held, then brought up to the
// batches appended meanwhile and installed, with the appender's state,
// under the append lock; nothing is rebuilt for a read-only Log, whose
// active segment another process appends to, nor for a segment that
// rolled meanwhile (the next lookup rebuilds it as a closed one).
//
// A rebuild that fails is not tried again (see segment.rebuildFailed):
// the bytes it scanned do not change. A closed segment whose log is
// damaged keeps the index of the batches before the damage, which is
// returned with the *CorruptError; the active segment keeps its
// appender's index, and nil is returned with the error.
func (p *Partition) rebuildIndex(seg *segment) (*segmentIndex, error) {
	active := seg == p.active()
	if active && p.log.opts.ReadOnly {
		return nil, errNotRebuilt
	}
	if idx, err := seg.rebuildFailed(active); err != nil {
		return idx, err
	}
	p.log.rebuildScans.Add(1)
	if !active {
		return seg.rebuildIndex(p.config().indexInterval)
	}
	failed := func(err error) (*segmentIndex, error) {
		seg.mu.Lock()
		seg.mu.rebuildErr = err
		seg.mu.Unlock()
		return nil, err
	}
	idx := &segmentIndex{}
	b := &indexBuilder{base: seg.base, interval: p.config().indexInterval, maxTs: -1}
	var r scanResult
	scanTo := func(from, to int64) error {
		m, err := seg.viewFor(to)
		if err != nil {
			return err
		}
		defer m.release()
		if r = scanDense(m.data[:to], from, max(r.nextOffset, seg.base), b, idx); r.err != nil {
			return &CorruptError{Path: seg.path(logExt), Pos: r.end, Offset: r.nextOffset, Reason: r.err.Error()}
		}
		return nil
	}
	size := seg.size.Load()
	if err := scanTo(0, size); err != nil {
		return failed(err) // the bytes up to size do not change
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.err() != nil || seg != p.active() {
		return nil, errNotRebuilt
	}
	if end := seg.size.Load(); end > size {
		if err := scanTo(size, end); err != nil {
			return failed(err)
		}
	}
	if r.nextOffset != seg.nextOffset {
		return failed(errNotRebuilt) // not the bytes the appender wrote
	}
	seg.mu.Lock()
	seg.mu.index = idx
	seg.mu.Unlock()
	seg.builder = *b
	return idx, nil
}
