package eventlog

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
)

// Stray segment files. Open learns a partition's segments from the listing
// of its directory and takes the last .log file for the active segment, so
// a .log file that the partition did not write — copied in by hand or by a
// tool, or brought back by a restore from an older backup — changes the
// log it opens: one whose base offset lies inside the active segment's
// offsets becomes the active segment, hiding the records of the real one
// from that offset on and giving their offsets to new appends; one whose
// base offset lies past the log end moves the log end there, or past its
// records, which readers are then served as the partition's.
//
// A partition creates a segment only at the end of the one before (a roll
// fsyncs the old segment, then creates the new one at its next offset), or,
// when Options.Repair restarts a partition that lost segments, past it,
// after persisting the recovery point in the new one. So each segment
// created since the one the recovery point lies in must start where the one
// before it ends. Open checks this: it reads the end of each of those
// segments but the last — from its last index entry, so at most an index
// interval and a batch of each, or whole when its index does not check out
// — and compares it with the next base offset. Usually the recovery point
// is in the last segment and nothing is read; it lags after a roll, until
// the next checkpoint, and after a session that ended before its first.
//
// A segment that starts below the end of the one before overlaps it: two
// files hold the same offsets. One that starts past it leaves offsets that
// were never written, unless the partition may have gaps between segments:
// when its topic compacts, or it ever was compacted (it has a cleaner
// checkpoint), since the cleaner drops whole batches, a segment's last ones
// included. Either fails Open with a *CorruptError naming both files and
// the offsets, as Kafka refuses a log with overlapping segments: which
// file holds the true records is for a person to judge. With
// Options.Repair, Open sets the later file aside, with its index files, as
// "<name>.broken-<unix nanos>", and goes on with the segments before it:
// the recovery point vouches for the earlier one or one before it, and a
// stray's base offset lies inside the segment it overlaps, or past the
// log end. A read-only Log refuses the same way, and Verify, which reads
// every segment, reports both wherever they are (gaps outside compacted
// topics only).
//
// Not looked for, since finding them would mean reading closed segments at
// Open: a stray file inside or between the closed segments before the one
// the recovery point is in; nor a gap in a partition that may have gaps,
// or after a segment damaged before its end, whose end is then not known
// (reads report the damage). Nor after a segment wholly below the log
// start offset, which Open drops: a power loss can bring one back with a
// gap after it (see belowLogStart).

// straySegment is a segment file that does not follow the one before it.
type straySegment struct {
	path       string // the .log file
	base       int64
	before     string // the .log file before it
	beforeBase int64
	end        int64 // the offset after the last batch of before
	damaged    error // why the scan of before stopped short of its end, or nil
}

// corrupt is the error Open fails with, without Options.Repair.
func (s *straySegment) corrupt() *CorruptError {
	runs := fmt.Sprintf("whose records run to offset %d", s.end-1)
	if s.damaged != nil {
		runs += fmt.Sprintf(" (then its bytes do not parse: %v)", s.damaged)
	}
	what := fmt.Sprintf("the segment starts at offset %d, inside %s before it, %s: two segment files hold offsets %d to %d",
		s.base, filepath.Base(s.before), runs, s.base, s.end-1)
	if s.base > s.end {
		if s.end == s.beforeBase {
			runs = "which holds no record"
		}
		what = fmt.Sprintf("the segment starts at offset %d, past the end of %s before it, %s: offsets %d to %d were never written, as a segment starts where the one before it ends",
			s.base, filepath.Base(s.before), runs, s.end, s.base-1)
	}
	return &CorruptError{Path: s.path, Offset: s.end,
		Reason: what + "; one of the two files does not belong to the log (copied in by hand or by a tool, or restored from an older backup?): move it out of the directory, or open with Options.Repair to set this one aside and go on with the records before it"}
}

// findStraySegment looks, among the segments of a partition with the sorted
// base offsets bases, whose .log files pathOf names, for the first one that
// does not follow the segment before it, from the segment that persisted
// (the recovery point, if hasPoint) lies in on. gaps says that the
// partition may have offsets missing between segments (see mayHaveGaps),
// interval is its index interval. It returns the stray segment and its index
// in bases, or nil; an error is what kept it from reading a segment. It
// changes nothing: Open and a read-only Log judge with it.
func findStraySegment(fsys FS, dir string, bases []int64, pathOf func(int64) string, persisted recoveryPoint, hasPoint, gaps bool, interval int64) (*straySegment, int, error) {
	from := len(bases) - 2
	if i, ok := slices.BinarySearch(bases, persisted.base); ok && hasPoint {
		from = i
	}
	for i := max(from, 0); i+1 < len(bases); i++ {
		before, next := pathOf(bases[i]), bases[i+1]
		end, damaged, err := segmentEnd(fsys, dir, bases[i], before, interval)
		if err != nil {
			return nil, 0, err
		}
		// A damaged segment's end is not known: only an overlap of what
		// comes before the damage tells.
		if end > next || end < next && !gaps && damaged == nil {
			return &straySegment{path: pathOf(next), base: next, before: before, beforeBase: bases[i], end: end, damaged: damaged}, i + 1, nil
		}
	}
	return nil, 0, nil
}

// segmentEnd returns the offset after the last batch of the closed segment
// at base, whose .log file is path, reading it from its last index entry
// when its index checks out and whole otherwise, each batch checked as
// recovery checks it. damaged is why a whole read stopped before the end
// of the file: the end is then the offset after the last batch before
// that, and the segment may hold more.
func segmentEnd(fsys FS, dir string, base int64, path string, interval int64) (end int64, damaged, err error) {
	info, err := fsys.Stat(path)
	if err != nil {
		return 0, nil, err
	}
	if info.Size() == 0 {
		return base, nil, nil
	}
	seg := newSegment(fsys, dir, base, nil)
	if path != seg.path(logExt) {
		seg.logPath = path
	}
	seg.size.Store(info.Size())
	// The file opened must be the one described: for a read-only Log, a
	// compaction swap may rename a smaller file over it meanwhile, which
	// fails the open with an error wrapping fs.ErrNotExist, as if the file
	// were gone, so that the caller lists the directory again.
	seg.listed = info
	defer seg.release()
	m, err := seg.viewFor(info.Size())
	if err != nil {
		return 0, nil, err
	}
	defer m.release()
	data := m.data[:info.Size()]
	if _, _, next, ok := seg.readIndexFiles(data, interval); ok {
		return next, nil, nil
	}
	r := scan(data, 0, base, &indexBuilder{base: base, interval: math.MaxInt64, maxTs: -1}, &segmentIndex{})
	return r.nextOffset, r.err, nil
}

// belowLogStart returns how many of the segments with the sorted base
// offsets bases, of the partition in dir, lie wholly below its log start
// offset checkpoint: all but the last whose next segment starts at or
// below it. Open drops those (see loadLogStart), so they are not checked
// for strays: retention and DeleteRecords remove the files of the segments
// they drop without syncing the directory, and a power loss may keep the
// removal of a later one and lose that of an earlier, which then seems to
// be followed by a gap. names is the listing of dir: it reads the
// checkpoint only when there is one and more than one segment. It returns
// 0 when there is no checkpoint to read; loadLogStart reports a damaged one.
func belowLogStart(fsys FS, dir string, names []string, bases []int64) int {
	if len(bases) < 2 || !slices.Contains(names, logStartName) {
		return 0
	}
	start, ok, err := readLogStart(fsys, dir)
	if err != nil || !ok {
		return 0
	}
	n := 0
	for n < len(bases)-1 && bases[n+1] <= start {
		n++
	}
	return n
}

// mayHaveGaps reports whether a partition whose directory lists names may
// have offsets missing between its segments: its topic compacts, or it
// was ever compacted (it has a cleaner checkpoint).
func (p *Partition) mayHaveGaps(names []string) bool {
	return p.config().cleanup.compacts() || slices.Contains(names, cleanerMetaName)
}

// checkStraySegments refuses, at Open, a segment file of the partition that
// does not follow the one before it (see the top of this file), or with
// Options.Repair sets each such file aside. names is the listing of the
// partition's directory, bases the sorted base offsets of its segments,
// persisted its recovery point if hasPoint. It returns the base offsets of
// the segments left.
func (p *Partition) checkStraySegments(names []string, bases []int64, persisted recoveryPoint, hasPoint bool) ([]int64, error) {
	pathOf := func(base int64) string { return filepath.Join(p.dir, segmentFileName(base, logExt)) }
	skip := belowLogStart(p.log.opts.FS, p.dir, names, bases)
	for {
		stray, at, err := findStraySegment(p.log.opts.FS, p.dir, bases[skip:], pathOf, persisted, hasPoint, p.mayHaveGaps(names), p.config().indexInterval)
		at += skip
		if err != nil {
			return nil, p.errorf("%w", err)
		}
		if stray == nil {
			return bases, nil
		}
		corrupt := stray.corrupt()
		if !p.log.opts.Repair {
			return nil, p.errorf("%w", corrupt)
		}
		// Its index files first: left without their .log, past the last
		// one, they would show a segment lost (see recovery_missing.go).
		for _, ext := range append(slices.Clone(segmentDerivedExts), logExt) {
			if name := segmentFileName(stray.base, ext); slices.Contains(names, name) {
				if err := p.setAside(name, corrupt); err != nil {
					return nil, err
				}
			}
		}
		bases = slices.Delete(slices.Clone(bases), at, at+1)
	}
}
