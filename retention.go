package eventlog

import (
	"errors"
	"slices"
	"time"
)

// Retention (cleanup.policy=delete) removes whole closed segments from the
// front of a partition: those whose newest record is older than Retention,
// the oldest ones while the partition is larger than RetentionBytes, and
// those wholly below the log start offset (DeleteRecords deletes those at
// once, but for the active segment, which it leaves to a roll). The
// active segment is never deleted, so the same check also closes an active
// segment older than SegmentAge: otherwise a quiet topic would never age out.
// On a compact,delete topic retention applies too; on a compact-only topic
// the check only closes aged active segments, so that they can be cleaned.
//
// Deleting a segment first advances the log start offset, then unlists the
// segment, and leaves the unmapping and file removal to its last reader, so
// a read in progress finishes on intact bytes (or, if it had yet to reach
// the segment, goes on from the new log start) and a later one gets
// ErrOffsetOutOfRange. The partition's own reference is dropped after its
// locks are let go, so that a slow removal holds up no append.

// enforceRetention applies retention to every partition. Not under the
// topic registry's lock, which CreateTopic and DeleteTopic take to change
// it: retention loads indexes, fsyncs and removes files, and a topic lookup
// queued behind them would wait for all of that. Each partition's retention
// is a call in flight on the Log instead, which DeleteTopic waits for
// before the topic's name can be used again (retention writes the index
// files it rebuilds by name) and Close before it closes the files.
func (l *Log) enforceRetention() error {
	var parts []*Partition
	l.forEachPartition(func(p *Partition) { parts = append(parts, p) })
	var errs []error
	for _, p := range parts {
		if !l.enter() {
			break
		}
		errs = append(errs, p.enforceRetention(l.opts.Now()))
		l.exit()
	}
	return errors.Join(errs...)
}

// enforceRetention rolls an aged active segment and deletes the closed
// segments that retention no longer keeps.
//
// Whether a closed segment is past the time retention depends on its newest
// timestamp, which its index holds; a segment not read since Open has its
// index loaded first, from its files or rebuilt by scanning the segment. That
// I/O runs before the partition's locks are taken, so no append waits for it.
// Under the locks the segments are examined again: one whose index is still
// not loaded, listed meanwhile, sends retention back to load it. A load
// that meets damage in the segment's log has retention look at the bytes
// past the damage for the newest timestamp they may hold (judgeDamage); if
// they can hold any, or the load fails otherwise, nothing is deleted by age
// from that segment on, and every check returns the error, but the size
// retention, which needs no index, deletes what it would, and an aged
// active segment is rolled all the same.
func (p *Partition) enforceRetention(now time.Time) error {
	for {
		loadErr := p.loadRetentionIndexes(now)
		unloaded, err := p.applyRetention(now)
		if unloaded == nil || err != nil {
			return err
		}
		if loadErr != nil {
			return loadErr
		}
	}
}

// loadRetentionIndexes loads, holding none of the partition's locks, the
// indexes of the closed segments whose newest timestamp retention needs to
// look at. A segment dropped meanwhile is skipped: applyRetention will not
// find it listed.
func (p *Partition) loadRetentionIndexes(now time.Time) error {
	if p.err() != nil || !p.config().cleanup.deletes() {
		return nil
	}
	segs := *p.segments.Load()
	for {
		_, seg, _ := p.retentionDrops(segs, now)
		if seg == nil || !seg.acquire() {
			return nil
		}
		_, _, err := seg.loadIndex(p.config().indexInterval)
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			// The segment is listed before another: retentionDrops
			// never returns the last.
			next := segs[slices.Index(segs, seg)+1].base
			err = seg.judgeDamage(next, maxReadDecompressedBytes(p.config().maxBatchBytes))
			if newest, judged, hidden := seg.newestForRetention(); judged && hidden == nil {
				p.log.opts.Logger.Warn("eventlog: retention judges a damaged segment by the timestamps it holds past the damage too", "path", seg.path(logExt), "newest", newest, "damage", ce)
			}
		}
		err = errors.Join(err, seg.release())
		if err != nil {
			return p.errorf("retention: %w", err)
		}
	}
}

// applyRetention is enforceRetention under the partition's locks, but for
// the release of the segments it drops, which may remove their files and
// runs once the locks are let go. It returns a listed segment whose index
// retention needs and finds not loaded, having deleted nothing; the caller
// loads it and calls again.
func (p *Partition) applyRetention(now time.Time) (unloaded *segment, err error) {
	unloaded, dropped, err := p.unlistRetired(now)
	return unloaded, errors.Join(err, p.releaseDropped(dropped))
}

// unlistRetired rolls an aged active segment and unlists the closed
// segments that retention no longer keeps, and returns them for
// releaseDropped. It holds the partition's cleaning swap lock throughout,
// and its append lock only to roll and to unlist: the log start offset is
// made durable in between, and appends and reads must not wait for that
// fsync (see persistLogStart).
func (p *Partition) unlistRetired(now time.Time) (unloaded *segment, dropped []*segment, err error) {
	p.cleaning.swap.Lock() // not while a cleaning swaps segments
	defer p.cleaning.swap.Unlock()
	if failed, err := p.rollAged(now); failed || err != nil {
		return nil, nil, err // a failed partition changes nothing until reopened
	}
	if !p.config().cleanup.deletes() {
		return nil, nil, nil
	}
	// The segments can change only by a roll, which appends one, while
	// the swap lock is held: those counted here stay the first listed.
	segs := *p.segments.Load()
	drop, unloaded, hidden := p.retentionDrops(segs, now)
	if hidden != nil {
		err = p.errorf("retention: the newest timestamp of a damaged segment is unknown, so it and the segments after it are kept (open with Options.Repair to cut the damage): %w", hidden)
	}
	if unloaded != nil || drop == 0 {
		return unloaded, nil, err
	}
	if start := segs[drop].base; start > p.logStart.Load() {
		if err := p.persistLogStart(start); err != nil {
			return nil, nil, p.errorf("retention: %w", err)
		}
	}
	p.log.opts.Logger.Info("eventlog: retention deleting segments", "topic", p.topic, "partition", p.id, "segments", drop, "log_start_offset", p.logStart.Load())
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return nil, p.dropSegmentsLocked(drop), err
}

// rollAged rolls the active segment if it is older than SegmentAge at now,
// under the append lock: an append at now would roll it too, and waits for
// the roll either way. failed reports a partition that failed, before or
// in the roll. The caller holds the cleaning swap lock.
func (p *Partition) rollAged(now time.Time) (failed bool, err error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.err() != nil {
		return true, nil
	}
	if active := p.active(); active.size.Load() > 0 && p.agedLocked(active, now) {
		if _, err := p.rollLocked(); err != nil {
			return true, p.fail(err)
		}
	}
	return false, nil
}

// retentionDrops counts the closed segments at the front of segs that
// retention deletes at now: those wholly below the log start offset, those
// past the time retention, and the oldest while the partition is larger
// than the size retention. It stops at the
// first segment whose index it needs — to judge its age, which a segment
// below the log start offset or over the size cap does not need — and
// finds not loaded, and returns it; and at the first whose age it cannot
// judge, as damage hides its newest timestamp, and returns the damage.
func (p *Partition) retentionDrops(segs []*segment, now time.Time) (drop int, unloaded *segment, hidden error) {
	cfg := p.config()
	var total int64
	for _, seg := range segs {
		total += seg.size.Load()
	}
	start := p.logStart.Load()
	for i, seg := range segs[:len(segs)-1] {
		// A segment the log start offset passed, which DeleteRecords
		// left while it was active, goes whatever its age and size, as
		// in Kafka. Then the size cap: neither needs an index, so a
		// segment they delete is not read, and one whose index cannot be
		// loaded (damaged bytes) holds up neither its own deletion nor
		// the later ones'.
		passed := segs[i+1].base <= start
		tooBig := cfg.retentionBytes >= 0 && total-seg.size.Load() >= cfg.retentionBytes
		tooOld := false
		if !passed && !tooBig && cfg.retention >= 0 {
			newest, judged, hidden := seg.newestForRetention()
			if !judged {
				return drop, seg, nil
			}
			if hidden != nil {
				return drop, nil, hidden
			}
			tooOld = newest < now.Add(-cfg.retention).UnixMilli()
		}
		if !passed && !tooBig && !tooOld {
			break
		}
		total -= seg.size.Load()
		drop++
	}
	return drop, nil, nil
}

// newestForRetention returns the newest record timestamp of the segment,
// by which time retention judges it. judged is false when retention must
// load the index first (loadIndex, and judgeDamage if that meets damage),
// and hidden is the damage of a segment whose newest timestamp it could
// not find.
func (s *segment) newestForRetention() (newest int64, judged bool, hidden error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := &s.mu.damage
	switch {
	case s.mu.index == nil:
		return -1, false, nil
	case s.mu.indexErr == nil:
		return s.maxTimestamp.Load(), true, nil
	case !d.judged:
		return -1, false, nil
	case !d.bounded:
		return -1, true, s.mu.indexErr
	}
	return d.newest, true, nil
}

// judgeDamage looks, for time retention, at the bytes of a closed segment
// from the damage its index rebuild met on, for the newest timestamp they
// may hold (see newestPastDamage). nextBase is the base offset of the
// segment after it. Nothing is done for a segment with no damage or one
// judged already.
func (s *segment) judgeDamage(nextBase int64, maxDecompressed int) error {
	s.mu.RLock()
	damaged, d := s.mu.indexErr != nil, s.mu.damage
	s.mu.RUnlock()
	if !damaged || d.judged {
		return nil
	}
	size := s.size.Load()
	m, err := s.viewFor(size)
	if err != nil {
		return err
	}
	newest, bounded := newestPastDamage(m.data[:size], d.pos, d.newest, nextBase, maxDecompressed)
	m.release()
	s.mu.Lock()
	s.mu.damage.newest, s.mu.damage.bounded, s.mu.damage.judged = newest, bounded, true
	s.mu.Unlock()
	return nil
}

// newestPastDamage returns the newest timestamp that data, the log of a
// closed segment, may hold, given newest, that of its batches before pos,
// where a scan met damage; bounded is false when some bytes from pos on
// could hold records of any time. Readers cannot get the records from pos
// on, but they are data, which time retention deletes only once they are
// past retention; so it walks the rest of the file by the batch headers:
//
//   - A batch whose checksum matches counts by its header's MaxTimestamp.
//   - A damaged batch counts by the largest of its header's timestamps
//     and those of its records, where they decode: one damaged field (a
//     bit flip) leaves either the header's timestamps or the records
//     whole, and the larger of both is then at least the batch's newest.
//     (Under LogAppendTime a damaged MaxTimestamp leaves the records'
//     creation times, which precede the append time by the producer's
//     delay.)
//   - A batch cut short by the end of the file counts by its header, if
//     it is the segment's last (it ends where the next segment starts):
//     its lost bytes hold nothing to keep; else a damaged length may hide
//     more batches after it, and the rest is unknown.
//   - What is left when no header parses, if it is shorter than a header
//     or all zeros, holds no batch; anything else is unknown.
func newestPastDamage(data []byte, pos, newest, nextBase int64, maxDecompressed int) (_ int64, bounded bool) {
	var d batchDecoder
	for pos < int64(len(data)) {
		rest := data[pos:]
		h, err := parseBatchHeader(rest)
		switch {
		case err != nil && (len(rest) < batchHeaderSize || !slices.ContainsFunc(rest, func(b byte) bool { return b != 0 })):
			return newest, true
		case err != nil:
			return newest, false
		case h.size() > int64(len(rest)):
			if h.lastOffset()+1 != nextBase {
				return newest, false
			}
			return max(newest, h.MaxTimestamp, h.BaseTimestamp), true
		}
		batch := rest[:h.size()]
		newest = max(newest, h.MaxTimestamp)
		if verifyBatchCRC(batch) != nil {
			newest = max(newest, h.BaseTimestamp)
			if recs, err := d.decode(nil, &h, batch, 0, maxDecompressed); err == nil {
				for _, r := range recs {
					newest = max(newest, r.Timestamp.UnixMilli())
				}
			}
		}
		pos += h.size()
	}
	return newest, true
}

// dropSegmentsLocked unlists the first drop segments, which the log start
// offset has passed, marks them to be removed by their last release, and
// returns them. The caller passes them to releaseDropped once it has let go
// of the partition's locks: the partition's release may be their last,
// which closes and removes their files, and appends must not wait for that.
func (p *Partition) dropSegmentsLocked(drop int) []*segment {
	if drop == 0 {
		return nil
	}
	segs := *p.segments.Load()
	kept := append([]*segment(nil), segs[drop:]...)
	p.segments.Store(&kept)
	for _, seg := range segs[:drop] {
		seg.mu.Lock()
		seg.mu.removeOnRelease, seg.mu.removal = true, &p.removals
		seg.mu.Unlock()
	}
	return segs[:drop:drop]
}

// releaseDropped drops the partition's references to the segments that
// dropSegmentsLocked returned; the last reader of each, this call unless a
// reader holds on, closes and removes its files. The partition's locks
// must not be held.
func (p *Partition) releaseDropped(dropped []*segment) error {
	var errs []error
	for _, seg := range dropped {
		errs = append(errs, seg.release())
	}
	if err := errors.Join(errs...); err != nil {
		return p.errorf("delete segments: %w", err)
	}
	return nil
}
