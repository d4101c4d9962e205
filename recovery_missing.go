package eventlog

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// Missing segments. Open learns a partition's segments from the listing of
// its directory, so a .log file deleted by hand, by a tool or by a damaged
// filesystem would leave no trace there: a partition without its last
// segment would open at the end of the one before, one without any segment
// would open empty at offset 0, and either would give the lost records'
// offsets to new ones. Open therefore looks for what shows that records
// existed past the last .log file, in the listing it reads anyway and in
// files it reads anyway or only once something is amiss:
//
//   - the recovery point (recovery.meta) in a later segment: it is
//     recorded only in the active segment, after an fsync of it returned;
//   - index files (.index, .timeindex, .txnindex) of a later segment: they
//     are written only while the segment's .log exists and holds records
//     (a crash while retention removes a segment leaves them only for
//     segments before the first .log, and those do not count);
//   - with no .log file at all, any file a partition has only once it
//     held records: recovery.meta, log-start-offset, cleaner.meta, a
//     producer snapshot; or the clean-shutdown marker, since Close leaves
//     it only after fsyncing every partition's active segment.
//
// None of these can outlive the .log files in a power loss, whatever order
// the disk persists directory changes in: a segment's name is made durable
// when it is created, before any other file can name it or be created
// beside it (see createActiveSegment), and the active segment, which every
// partition has, is never removed.
//
// Any of these fails Open with a *CorruptError naming the first missing
// segment, or the partition's directory when nothing says which. A
// read-only Log fails with the same error, and Verify reports it as a
// ProblemCorrupt: they look with the same function. With
// Options.Repair, Open goes on without the lost records: it logs what shows
// them lost and restarts the partition, in a new empty segment, at the
// highest offset these files, the producer snapshots and log-start-offset
// show the log reached, so that no offset they show was handed out is
// handed out again. The lost segments' index files are set aside as
// "<name>.broken-<unix nanos>" and the producer snapshots past the last
// segment left are removed, as a cut of Repair removes them, so that the
// producer state is rebuilt from the records left. The restart offset is
// persisted first, as the recovery point, so that a crash during the
// repair repairs the same way.
//
// Not looked for, since finding them would mean reading segments at Open or
// would refuse sound logs: a lost segment between two others (compaction
// leaves gaps between segments too), one before the first (retention and
// DeleteRecords remove those), and a last segment lost before anything of
// the above was written for it, such as a segment rolled moments before the
// crash. Records lost past the last offset the files show are lost without
// a trace, and their offsets handed out again.

// segmentDerivedExts are the extensions of the files that belong to a
// segment besides its .log.
var segmentDerivedExts = []string{indexExt, timeIndexExt, txnIndexExt}

// lostSegments is what the files of a partition show of segments whose
// .log files are missing.
type lostSegments struct {
	// path is the first missing segment's .log, or the partition's
	// directory when nothing says which segment is missing; base is its
	// base offset, or -1.
	path string
	base int64
	// missing counts the segments known to be missing.
	missing int
	// evidence says what shows the loss, in words.
	evidence []string
	// leftovers are the names of the missing segments' other files.
	leftovers []string
	// restart is the offset the partition goes on at: the highest the
	// files show the log reached.
	restart int64
}

// findLostSegments looks for segments missing from the partition, as
// lostSegmentsIn does, with the partition's filesystem and settings.
func (p *Partition) findLostSegments(names []string, bases []int64, persisted recoveryPoint, hasPoint, closedCleanly bool) *lostSegments {
	cfg := p.config()
	return lostSegmentsIn(p.log.opts.FS, p.dir, cfg.segmentBytes+int64(cfg.maxBatchBytes), names, bases, persisted, hasPoint, closedCleanly)
}

// lostSegmentsIn looks for segments missing from the partition in dir,
// whose directory listing is names and whose .log files have the sorted
// base offsets bases; segmentBytes is the most a segment of the partition
// can hold, persisted is its recovery point if hasPoint, and closedCleanly
// says whether the Log was closed cleanly. It returns nil when nothing
// shows a record lost. It reads files only when something does, and
// changes nothing: Open, a read-only Log and Verify all judge with it.
func lostSegmentsIn(fsys FS, dir string, segmentBytes int64, names []string, bases []int64, persisted recoveryPoint, hasPoint, closedCleanly bool) *lostSegments {
	last := int64(-1) // base of the last .log
	if len(bases) > 0 {
		last = bases[len(bases)-1]
	}
	lost := &lostSegments{path: dir, base: -1}
	seen := make(map[int64]bool)
	missing := func(base int64) {
		if !seen[base] {
			seen[base] = true
			lost.missing++
		}
		if lost.base < 0 || base < lost.base {
			lost.base = base
			lost.path = filepath.Join(dir, segmentFileName(base, logExt))
		}
	}
	if hasPoint && persisted.base > last {
		missing(persisted.base)
		lost.evidence = append(lost.evidence, fmt.Sprintf("%s puts the recovery point in %s, at byte %d (offset %d)",
			recoveryPointName, segmentFileName(persisted.base, logExt), persisted.pos, persisted.offset))
	}
	for _, name := range names {
		for _, ext := range segmentDerivedExts {
			if base, ok := parseSegmentName(name, ext); ok && base > last {
				missing(base)
				lost.leftovers = append(lost.leftovers, name)
			}
		}
	}
	if len(lost.leftovers) > 0 {
		lost.evidence = append(lost.evidence, left(lost.leftovers))
	}
	if len(bases) == 0 {
		var held []string
		for _, name := range names {
			if _, ok := parseSegmentName(name, snapshotExt); ok || name == logStartName || name == cleanerMetaName || name == recoveryPointName && !hasPoint {
				held = append(held, name)
			}
		}
		if len(held) > 0 {
			lost.evidence = append(lost.evidence, left(held)+", which only a partition that held records has")
		}
		if closedCleanly {
			lost.evidence = append(lost.evidence, "the log was closed cleanly, which leaves a segment in every partition")
		}
	}
	if len(lost.evidence) == 0 {
		return nil
	}
	lost.restart = offsetReached(fsys, dir, segmentBytes, names, lost, persisted, hasPoint)
	return lost
}

// left says that the files named are left, naming the first few.
func left(names []string) string {
	const named = 4
	switch {
	case len(names) == 1:
		return names[0] + " is left"
	case len(names) > named+1:
		return fmt.Sprintf("%s and %d more files are left", strings.Join(names[:named], ", "), len(names)-named)
	}
	return strings.Join(names, ", ") + " are left"
}

// offsetReached returns the highest offset that the files of the partition
// in dir, which lost segments, show its log reached.
func offsetReached(fsys FS, dir string, segmentBytes int64, names []string, lost *lostSegments, persisted recoveryPoint, hasPoint bool) int64 {
	reached := int64(0)
	if hasPoint {
		reached = persisted.offset
	}
	// A segment's index entries name batches it held. Their size is not
	// known, so the file is read only up to what a segment of the
	// partition's size can have.
	for _, name := range lost.leftovers {
		base, ok := parseSegmentName(name, filepath.Ext(name))
		if !ok {
			continue
		}
		reached = max(reached, base+1) // only a segment with records has them
		path := filepath.Join(dir, name)
		switch filepath.Ext(name) {
		case indexExt:
			b, err := readWholeFile(fsys, path, indexFileLimit(segmentBytes, offsetEntrySize))
			if entries, ok := decodeOffsetIndex(b, segmentBytes); err == nil && ok && len(entries) > 0 {
				reached = max(reached, base+int64(entries[len(entries)-1].rel)+1)
			}
		case timeIndexExt:
			b, err := readWholeFile(fsys, path, indexFileLimit(segmentBytes, timeEntrySize))
			if entries, ok := decodeTimeIndex(b, math.MaxUint32); err == nil && ok && len(entries) > 0 {
				reached = max(reached, base+int64(entries[len(entries)-1].rel)+1)
			}
		}
	}
	// A producer snapshot is taken at the log end; log-start-offset and
	// the cleaner's first dirty offset are at most the log end.
	for _, name := range names {
		if off, ok := parseSegmentName(name, snapshotExt); ok {
			reached = max(reached, off)
		}
	}
	if start, ok, err := readLogStart(fsys, dir); err == nil && ok {
		reached = max(reached, start)
	}
	if meta, err := readCleanerMeta(fsys, dir); err == nil {
		reached = max(reached, meta.FirstDirty)
	}
	return reached
}

// corrupt is the error Open fails with, without Options.Repair.
func (lost *lostSegments) corrupt() *CorruptError {
	what := "the partition has no segment file"
	switch n := lost.missing; {
	case n == 1:
		what = "this segment is missing"
	case n > 1:
		what = fmt.Sprintf("this segment and %d later ones are missing", n-1)
	}
	return &CorruptError{Path: lost.path, Offset: lost.base,
		Reason: fmt.Sprintf("%s: %s; their records are lost (open with Options.Repair to go on without them, from offset %d)",
			what, strings.Join(lost.evidence, "; "), lost.restart)}
}

// restartAfterLostSegments, for Options.Repair, makes the partition go on
// without the records of its missing segments, as the comment at the top
// of this file says, and returns the base offsets of its segments then:
// bases, and last a new, empty one at the restart offset.
func (p *Partition) restartAfterLostSegments(lost *lostSegments, bases []int64) ([]int64, error) {
	fsys := p.log.opts.FS
	restart := lost.restart
	corrupt := lost.corrupt()
	p.log.opts.Logger.Warn("eventlog: segments missing: going on without their records", "dir", p.dir,
		"missing", lost.path, "evidence", strings.Join(lost.evidence, "; "), "restart_offset", restart)
	p.log.recovery.mu.Lock()
	p.log.recovery.lostSegments = append(p.log.recovery.lostSegments, fmt.Sprintf("%s: going on at offset %d", lost.path, restart))
	p.log.recovery.mu.Unlock()
	fail := func(err error) error { return p.errorf("repair %s: %w", lost.path, err) }

	point := recoveryPoint{base: restart, offset: restart}
	if err := writeMetaFile(fsys, filepath.Join(p.dir, recoveryPointName), recoveryPointVersion, encodeRecoveryPoint(point), true); err != nil {
		return nil, fail(fmt.Errorf("persist the restart offset: %w", err))
	}
	p.checkpoint.persisted = point
	after := append(slices.Clip(bases), restart)
	last := int64(-1) // keeps no snapshot when no segment is left
	if len(bases) > 0 {
		// Snapshots after the last segment's start may describe records
		// that are lost; the state is rebuilt from those left.
		last = bases[len(bases)-1]
	}
	if err := p.cutProducerState(after, 0, last, false); err != nil {
		return nil, fail(err)
	}
	for _, name := range lost.leftovers {
		if err := p.setAside(name, corrupt); err != nil {
			return nil, err
		}
	}
	if err := writeWholeFile(fsys, filepath.Join(p.dir, segmentFileName(restart, logExt)), nil, true); err != nil {
		return nil, fail(fmt.Errorf("create the segment to go on in: %w", err))
	}
	if err := fsys.SyncDir(p.dir); err != nil {
		return nil, fail(err)
	}
	return after, nil
}

// closedCleanly reports whether the log in dir has its clean-shutdown
// marker. A reader that holds no lock reads it after listing a partition
// without segments: a writer's Open removes it before it creates anything,
// so while it is there the listing was not of a partition being created.
func closedCleanly(fsys FS, dir string) bool {
	_, _, err := readMetaFile(fsys, filepath.Join(dir, cleanMarkerName))
	return err == nil
}
