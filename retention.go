package eventlog

import (
	"errors"
	"time"
)

// Retention (cleanup.policy=delete) removes whole closed segments from the
// front of a partition: those whose newest record is older than Retention,
// and the oldest ones while the partition is larger than RetentionBytes. The
// active segment is never deleted, so the same check also closes an active
// segment older than SegmentAge: otherwise a quiet topic would never age out.
// On a compact,delete topic retention applies too; on a compact-only topic
// the check only closes aged active segments, so that they can be cleaned.
//
// Deleting a segment first advances the log start offset, then unlists the
// segment, and leaves the unmapping and file removal to its last reader, so
// a read in progress finishes on intact bytes and a later one gets
// ErrOffsetOutOfRange.

// enforceRetention applies retention to every partition.
func (l *Log) enforceRetention() error {
	var errs []error
	l.forEachPartition(func(p *Partition) {
		errs = append(errs, p.enforceRetention(l.opts.Now()))
	})
	return errors.Join(errs...)
}

// enforceRetention rolls an aged active segment and deletes the closed
// segments that retention no longer keeps.
func (p *Partition) enforceRetention(now time.Time) error {
	p.cleaning.swap.Lock() // not while a cleaning swaps segments
	defer p.cleaning.swap.Unlock()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.err() != nil {
		return nil // a failed partition changes nothing until reopened
	}
	if active := p.active(); active.size.Load() > 0 && p.agedLocked(active, now) {
		if _, err := p.rollLocked(); err != nil {
			return p.fail(err)
		}
	}
	if !p.config().cleanup.deletes() {
		return nil
	}
	segs := *p.segments.Load()
	closed := segs[:len(segs)-1]
	var total int64
	for _, seg := range segs {
		total += seg.size.Load()
	}
	drop := 0
	for _, seg := range closed {
		tooOld, err := p.olderThanRetention(seg, now)
		if err != nil {
			return err
		}
		tooBig := p.config().retentionBytes >= 0 && total-seg.size.Load() >= p.config().retentionBytes
		if !tooOld && !tooBig {
			break
		}
		total -= seg.size.Load()
		drop++
	}
	if drop == 0 {
		return nil
	}
	if start := segs[drop].base; start > p.logStart.Load() {
		if err := p.persistLogStart(start); err != nil {
			return p.errorf("retention: %w", err)
		}
	}
	p.log.opts.Logger.Info("eventlog: retention deleting segments", "topic", p.topic, "partition", p.id, "segments", drop, "log_start_offset", p.logStart.Load())
	return p.dropSegmentsLocked(drop)
}

// dropSegmentsLocked unlists the first drop segments, which the log start
// offset has passed, and leaves their unmapping and removal to their last
// reader.
func (p *Partition) dropSegmentsLocked(drop int) error {
	if drop == 0 {
		return nil
	}
	segs := *p.segments.Load()
	kept := append([]*segment(nil), segs[drop:]...)
	p.segments.Store(&kept)
	var errs []error
	for _, seg := range segs[:drop] {
		seg.mu.Lock()
		seg.mu.removeOnRelease = true
		seg.mu.Unlock()
		errs = append(errs, seg.release())
	}
	if err := errors.Join(errs...); err != nil {
		return p.errorf("delete segments: %w", err)
	}
	return nil
}

// olderThanRetention tells whether every record of a closed segment is past
// the partition's time retention.
func (p *Partition) olderThanRetention(seg *segment, now time.Time) (bool, error) {
	if p.config().retention < 0 {
		return false, nil
	}
	if _, _, err := seg.loadIndex(p.config().indexInterval); err != nil {
		return false, p.errorf("retention: %w", err)
	}
	newest := seg.maxTimestamp.Load()
	return newest < now.Add(-p.config().retention).UnixMilli(), nil
}
