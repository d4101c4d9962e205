package eventlog

import (
	"encoding/binary"
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

// lookupTime returns the relative offset from which to scan for the first
// record with a timestamp at or after ts: the batch of the last entry whose
// running maximum is still below ts (every earlier batch is older than ts).
func (x *segmentIndex) lookupTime(ts int64) (rel uint32, ok bool) {
	i := sort.Search(len(x.times), func(i int) bool { return x.times[i].maxTimestamp >= ts })
	if i == 0 {
		return 0, false
	}
	return x.times[i-1].rel, true
}

// maxTimestamp is the largest timestamp recorded by the time index, or -1.
func (x *segmentIndex) maxTimestamp() int64 {
	if len(x.times) == 0 {
		return -1
	}
	return x.times[len(x.times)-1].maxTimestamp
}

// addTime appends a time entry if ts raises the running maximum.
func (x *segmentIndex) addTime(ts int64, rel uint32) {
	if n := len(x.times); n > 0 && x.times[n-1].maxTimestamp >= ts {
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
