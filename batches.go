package eventlog

import (
	"iter"
	"sort"
	"time"
)

// BatchInfo describes one RecordBatch as it is stored: where it lies and
// the fields of its header, as Kafka's kafka-dump-log prints them.
type BatchInfo struct {
	Path string // the segment's .log file
	Pos  int64  // byte position of the batch in Path
	Size int64  // bytes of the batch, header included

	BaseOffset int64 // offset of the first record
	LastOffset int64 // offset of the last record (a cleaning may leave gaps)
	Records    int   // the record count of the header
	// FirstTimestamp is the batch's base timestamp, zero when the field
	// holds DeleteHorizon instead, and for a batch a cleaning emptied of
	// its records, whose field holds Kafka's -1 (no timestamp).
	FirstTimestamp time.Time
	MaxTimestamp   time.Time // the largest timestamp of its records
	// DeleteHorizon is when the cleaner may drop the batch's tombstones,
	// once a compaction set it; zero otherwise.
	DeleteHorizon time.Time
	// LogAppendTime is set when the timestamps are the log's append time
	// rather than the producer's create time.
	LogAppendTime bool

	Compression   Compression // the codec of its records
	CRC           uint32      // CRC-32C of the batch, verified when read
	LeaderEpoch   int32       // Kafka's partition leader epoch, 0 here
	ProducerID    int64       // -1 without an idempotent or transactional producer
	ProducerEpoch int16       // -1 without one
	BaseSequence  int32       // the producer's sequence number of the first record, -1 without one
	Transactional bool        // written in a transaction
	Control       bool        // a control batch (transaction marker)
	// ControlRecord is the one record of a control batch, decoded (a
	// transaction marker: COMMIT or ABORT, and the coordinator epoch);
	// nil for other batches, and for a marker the cleaner emptied, which
	// it keeps, without its record, for its producer's epoch.
	ControlRecord *ControlRecord
}

func newBatchInfo(path string, pos int64, h *batchHeader) BatchInfo {
	b := BatchInfo{
		Path: path, Pos: pos, Size: h.size(),
		BaseOffset: h.BaseOffset, LastOffset: h.lastOffset(), Records: int(h.RecordCount),
		MaxTimestamp:  time.UnixMilli(h.MaxTimestamp),
		LogAppendTime: h.Attributes&attrLogAppendTime != 0,
		Compression:   h.compression(), CRC: h.CRC, LeaderEpoch: h.LeaderEpoch,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Transactional: h.Attributes&attrTransactional != 0,
		Control:       h.isControl(),
	}
	switch {
	case h.Attributes&attrDeleteHorizon != 0:
		b.DeleteHorizon = time.UnixMilli(h.BaseTimestamp)
	case h.RecordCount == 0 && h.BaseTimestamp == noTimestamp:
	default:
		b.FirstTimestamp = time.UnixMilli(h.BaseTimestamp)
	}
	return b
}

// Batches returns an iterator over the partition's batches from the one
// holding offset on, up to the high watermark, control batches included:
// what a tool needs to show how records are stored. Each batch's CRC is
// checked when the loop reaches it, and a control batch's record decoded
// (BatchInfo.ControlRecord). Like Views, the loop yields an error,
// once, and ends when offset lies outside the log (ErrOffsetOutOfRange),
// when the Log closes (ErrClosed), or at damaged data (*CorruptError). To
// read the records of a batch, range over Views(info.BaseOffset) up to
// info.LastOffset.
func (p *Partition) Batches(offset int64) iter.Seq2[BatchInfo, error] {
	return func(yield func(BatchInfo, error) bool) {
		first := true
		for {
			b := batchWalk{p: p, offset: offset}
			err := b.enter(first)
			first = false
			if err != nil {
				yield(BatchInfo{}, err)
				return
			}
			if b.seg == nil {
				if b.done {
					return
				}
				offset = b.offset
				continue // the segment went meanwhile: look again
			}
			more, next := b.walk(yield)
			if !more {
				return
			}
			offset = next
		}
	}
}

// batchWalk is one pass of Batches over one segment.
type batchWalk struct {
	p      *Partition
	offset int64
	hw     *position
	seg    *segment // acquired by enter
	m      *mapping
	data   []byte
	pos    int64
	done   bool // nothing is left below the high watermark
}

// enter finds and acquires the segment holding b.offset; first checks that
// the offset is inside the log.
func (b *batchWalk) enter(first bool) error {
	p := b.p
	if !p.log.enter() {
		return ErrClosed
	}
	defer p.log.exit()
	b.hw = p.hw.Load()
	if first {
		if err := p.checkReadable(b.offset); err != nil {
			return err
		}
	}
	if b.offset >= b.hw.offset {
		b.done = true
		return nil
	}
	seg := p.segmentFor(b.offset)
	if seg == nil {
		if p.deleted.Load() {
			return p.deletedErr()
		}
		return nil
	}
	limit := seg.size.Load()
	if seg == b.hw.seg {
		limit = b.hw.pos
	}
	idx, rebuilt, err := seg.readIndex(p.config().indexInterval)
	if err == nil {
		if rebuilt {
			p.log.recovery.indexesRebuilt.Add(1)
		}
		b.m, err = seg.viewFor(limit)
	}
	if err != nil {
		_ = seg.release()
		again, err := p.relistGone(seg, err)
		if again { // listed again (see relistGone): look again
			b.offset = max(b.offset, p.logStart.Load())
			return nil
		}
		return err
	}
	b.seg, b.data = seg, b.m.data[:limit]
	b.pos = skipBatchesBelow(b.data, p.readStart(seg, idx, b.data, b.offset), b.offset)
	return nil
}

// walk yields the segment's batches from b.pos and lets go of it. more is
// false when the loop is to end; next is the offset to go on from.
func (b *batchWalk) walk(yield func(BatchInfo, error) bool) (more bool, next int64) {
	p, seg := b.p, b.seg
	defer func() {
		b.m.release()
		_ = seg.release()
	}()
	start := b.offset
	for b.pos < int64(len(b.data)) {
		h, batch, err := batchAt(b.data, b.pos)
		if err != nil {
			yield(BatchInfo{}, p.corrupt(seg, b.pos, b.offset, err.Error()))
			return false, 0
		}
		if h.BaseOffset >= b.hw.offset {
			break // moved here by a cleaning after the walk began
		}
		if h.lastOffset() >= b.offset {
			info := newBatchInfo(seg.path(logExt), b.pos, &h)
			if info.Control && h.RecordCount > 0 { // an emptied marker has none
				c, err := decodeControlBatch(&h, batch)
				if err != nil {
					yield(BatchInfo{}, p.corrupt(seg, b.pos, h.BaseOffset, err.Error()))
					return false, 0
				}
				info.ControlRecord = &c
			}
			if !yield(info, nil) {
				return false, 0
			}
			b.offset = h.lastOffset() + 1
		}
		b.pos += h.size()
	}
	if b.offset >= b.hw.offset {
		return false, 0
	}
	// Go on in the next segment, across a gap left by a cleaning; a pass
	// that got nowhere with no segment after it is the end.
	segs := *p.segments.Load()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > seg.base })
	if i < len(segs) {
		return true, max(b.offset, segs[i].base)
	}
	return b.offset > start || !p.listed(seg), b.offset
}
