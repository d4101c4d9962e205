package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Repair of the internal topics. Open replays __consumer_offsets and
// __transaction_state whole, so damage anywhere in them — in a closed
// segment, or in the active one below the last index entry, which
// recovery reads only with Repair — fails Open, where in a user topic it would only
// fail the reads of those bytes. With Options.Repair, Open therefore
// checks every batch of every segment of an internal topic before
// replaying it (the replay reads them all anyway) and cuts the partition
// at the first damaged batch: the commits and transaction states after it
// are lost, those before it kept, as a cut anywhere else keeps what comes
// before the damage.
//
// Damage in the active segment is cut as recoverActive cuts it: with
// Repair, scanActive reads it whole (see keepBroken). Damage in a closed segment S is cut by cutClosed, which
// keeps a copy of everything it takes away and orders its steps so that a
// crash at any point leaves either the damage, which the next Open with
// Repair cuts again, or the finished cut:
//
//  1. the recovery point goes to the start of the segment that will be
//     the active one, C: S after S itself when the damage is not at S's
//     first byte, else S;
//  2. producer-state snapshots past the last batch kept go, and S's
//     .txnindex loses the aborts whose markers are cut;
//  3. the segments after C are set aside, renamed to
//     "<segment>.log.broken-<nanos>", the last first;
//  4. C is copied to a .broken file and emptied: it is the active segment,
//     empty, its base offset the next offset to append. A closed segment
//     is never made the active one, since a cleaned segment has gaps
//     between its batches, which the scan of an active segment refuses;
//  5. S is cut after its last good batch, after a copy of what follows.
//
// Until step 5, S still holds the damage; after it, nothing follows S but
// the empty C.

// repairsWhole reports whether Open checks every batch of the partition:
// with Options.Repair, in an internal topic, which Open replays whole.
func (p *Partition) repairsWhole() bool {
	return p.log.opts.Repair && isInternalTopic(p.topic)
}

// repairClosedSegments checks every batch of the closed segments among
// bases, the sorted base offsets of the partition's segments, and cuts
// the partition at the first damaged one. It returns the base offsets of
// the segments left.
func (p *Partition) repairClosedSegments(bases []int64) ([]int64, error) {
	for i := 0; i+1 < len(bases); i++ {
		path := filepath.Join(p.dir, segmentFileName(bases[i], logExt))
		data, err := readWholeFile(p.log.opts.FS, path, math.MaxInt64)
		if err != nil {
			return nil, p.errorf("repair: %w", err)
		}
		p.log.recovery.segmentsScanned.Add(1)
		p.log.recovery.bytesScanned.Add(int64(len(data)))
		r := scan(data, 0, bases[i], &indexBuilder{base: bases[i], interval: math.MaxInt64, maxTs: -1}, &segmentIndex{})
		if r.err == nil {
			continue
		}
		corrupt := &CorruptError{Path: path, Pos: r.end, Offset: r.nextOffset, Reason: r.err.Error()}
		if err := p.cutClosed(bases, i, data, r, corrupt); err != nil {
			return nil, err
		}
		if r.end == 0 {
			return bases[:i+1], nil
		}
		return bases[:i+2], nil
	}
	return bases, nil
}

// cutClosed cuts the partition at r.end of the closed segment bases[i],
// whose bytes are data, as the comment at the top of this file says.
func (p *Partition) cutClosed(bases []int64, i int, data []byte, r scanResult, corrupt error) error {
	fsys := p.log.opts.FS
	path := filepath.Join(p.dir, segmentFileName(bases[i], logExt))
	c := i + 1
	if r.end == 0 {
		c = i
	}
	p.log.opts.Logger.Warn("eventlog: cutting corrupt data in a closed segment", "path", path, "pos", r.end, "err", corrupt)
	fail := func(err error) error { return p.errorf("repair %s: %w", path, err) }
	nanos := time.Now().UnixNano()
	brokenName := func(base int64) string {
		return fmt.Sprintf("%s.broken-%d", filepath.Join(p.dir, segmentFileName(base, logExt)), nanos)
	}

	lowered := recoveryPoint{base: bases[c], offset: bases[c]}
	if err := writeMetaFile(fsys, filepath.Join(p.dir, recoveryPointName), recoveryPointVersion, encodeRecoveryPoint(lowered), true); err != nil {
		return fail(fmt.Errorf("lower the recovery point: %w", err))
	}
	p.checkpoint.persisted = lowered
	if err := p.cutProducerState(bases, i, r.nextOffset, c == i+1); err != nil {
		return fail(err)
	}

	var kept []string
	if c == i+1 {
		// Kept first, so that the copies are listed in offset order.
		kept = append(kept, brokenName(bases[i]))
	}
	kept = append(kept, brokenName(bases[c]))
	for j := c + 1; j < len(bases); j++ {
		kept = append(kept, brokenName(bases[j]))
	}
	for j := len(bases) - 1; j > c; j-- {
		// Its other files go first, durably: left behind without their
		// .log, they would show the segment lost (see recovery_missing.go).
		seg := newSegment(fsys, p.dir, bases[j], &p.removals)
		if err := removeDerivedFiles(seg, true); err != nil {
			return fail(err)
		}
		if err := fsys.SyncDir(p.dir); err != nil {
			return fail(err)
		}
		if err := fsys.Rename(seg.path(logExt), brokenName(bases[j])); err != nil {
			return fail(err)
		}
	}
	active := newSegment(fsys, p.dir, bases[c], &p.removals)
	activeData := data
	if c != i {
		var err error
		if activeData, err = readWholeFile(fsys, active.path(logExt), math.MaxInt64); err != nil {
			return fail(err)
		}
	}
	if err := cutSegmentFile(active, activeData, 0, brokenName(bases[c])); err != nil {
		return fail(err)
	}
	truncated := int64(len(activeData))
	if err := removeDerivedFiles(active, true); err != nil {
		return fail(err)
	}
	if c == i+1 {
		seg := newSegment(fsys, p.dir, bases[i], &p.removals)
		if err := cutSegmentFile(seg, data, r.end, brokenName(bases[i])); err != nil {
			return fail(err)
		}
		truncated += int64(len(data)) - r.end
		if err := removeDerivedFiles(seg, false); err != nil {
			return fail(err)
		}
	}
	if err := fsys.SyncDir(p.dir); err != nil {
		return fail(err)
	}
	p.log.recovery.mu.Lock()
	p.log.recovery.repaired = append(p.log.recovery.repaired, kept...)
	p.log.recovery.mu.Unlock()
	p.log.recovery.bytesTruncated.Add(truncated)
	return nil
}

// cutSegmentFile copies the bytes of seg's .log from pos on, data[pos:], to
// broken and then cuts the file at pos, durably.
func cutSegmentFile(seg *segment, data []byte, pos int64, broken string) error {
	fsys := seg.fsys
	if err := writeWholeFile(fsys, broken, data[pos:], true); err != nil {
		return fmt.Errorf("keep a copy: %w", err)
	}
	if err := fsys.SyncDir(seg.dir); err != nil {
		return err
	}
	f, err := fsys.OpenFile(seg.path(logExt), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(pos); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Sync(); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

// removeDerivedFiles removes a cut segment's indexes, which Open rebuilds
// from what is left, and with txnIndex its .txnindex.
func removeDerivedFiles(seg *segment, txnIndex bool) error {
	exts := []string{indexExt, timeIndexExt}
	if txnIndex {
		exts = append(exts, txnIndexExt)
	}
	for _, ext := range exts {
		if err := seg.fsys.Remove(seg.path(ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// cutProducerState removes the producer-state snapshots past end, the
// offset after the last batch the cut keeps, and with keepSegment the
// aborts whose markers are cut from the .txnindex of the segment
// bases[i]. A partition with producers whose every snapshot goes gets an
// empty one at its first offset, so that Open rebuilds its producers from
// the log rather than take it for a partition that never had any.
func (p *Partition) cutProducerState(bases []int64, i int, end int64, keepSegment bool) error {
	fsys := p.log.opts.FS
	offsets := p.producers.files.offsets
	if len(offsets) == 0 {
		return nil
	}
	if keepSegment {
		seg := newSegment(fsys, p.dir, bases[i], &p.removals)
		entries, err := readTxnIndex(fsys, seg, bases[i+1])
		if errors.Is(err, fs.ErrNotExist) {
			err = nil // Open rebuilds it (see txn_index.go)
		} else if err == nil {
			n := 0
			for n < len(entries) && entries[n].last < end {
				n++
			}
			if n < len(entries) {
				err = writeTxnIndex(fsys, seg, entries[:n])
			}
		}
		if err != nil {
			// Left as it is: Open finds it does not check out, and
			// rebuilds the producer state from the log.
			p.log.opts.Logger.Warn("eventlog: repair: .txnindex not cut", "path", seg.path(txnIndexExt), "err", err)
		}
	}
	n := 0
	for n < len(offsets) && offsets[n] <= end {
		n++
	}
	if n == 0 {
		snap := &producerSnapshot{offset: bases[0], txnSegment: bases[0]}
		if err := replaceFile(fsys, p.snapshotPath(bases[0]), encodeProducerSnapshot(snap), true); err != nil {
			return err
		}
	}
	for _, off := range offsets[n:] {
		if err := fsys.Remove(p.snapshotPath(off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if n == 0 {
		offsets = append(offsets[:0], bases[0])
	} else {
		offsets = offsets[:n]
	}
	p.producers.files.offsets = offsets
	return fsys.SyncDir(p.dir)
}

// setAside, for Options.Repair, renames the damaged file name of the
// partition's directory to "<name>.broken-<unix nanos>", durably, and
// reports the copy. why is the damage found.
func (p *Partition) setAside(name string, why error) error {
	if err := p.log.setAside(p.dir, name, why); err != nil {
		return p.errorf("%w", err)
	}
	return nil
}

// setAside renames the damaged file name of dir, the Log's directory or
// one under it, as Partition.setAside does.
func (l *Log) setAside(dir, name string, why error) error {
	fsys := l.opts.FS
	path := filepath.Join(dir, name)
	broken := fmt.Sprintf("%s.broken-%d", path, time.Now().UnixNano())
	if err := fsys.Rename(path, broken); err != nil {
		return fmt.Errorf("repair %s: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("repair %s: %w", path, err)
	}
	l.recovery.mu.Lock()
	l.recovery.repaired = append(l.recovery.repaired, broken)
	l.recovery.mu.Unlock()
	l.opts.Logger.Warn("eventlog: setting a damaged file aside", "path", path, "copy", broken, "err", why)
	return nil
}
