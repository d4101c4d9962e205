package eventlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
)

// The partitions of a read-only Log (see readonly.go). A partition's
// segments are reconciled with its directory at every refresh: closed
// segments are listed with their file sizes (a compaction replaces a file
// by a smaller one under the same name: the old file stays readable by
// whoever has it open, and the new one gets a new segment), the last one
// is the active segment, opened at once and read up to its last valid
// batch, and the high watermark is its end. The Log's own appender state
// of the active segment (index builder, next offset) is what a refresh
// scans from when the segment grows.

// openPartitionReadOnly opens a partition of a read-only Log. Until its
// directory holds a segment, it is empty, with a segment that has no file,
// unless its files show that it lost its segments: then, as Open, it fails
// with a *CorruptError.
func (l *Log) openPartitionReadOnly(topicName string, id int32, cfg partitionConfig, clean bool) (*Partition, error) {
	p := l.newPartition(topicName, id, cfg)
	refused := p.errorf("%w", ErrReadOnly)
	p.failure.Store(&refused)
	empty := newSegment(l.opts.FS, p.dir, 0, &p.removals)
	segs := []*segment{empty}
	p.segments.Store(&segs)
	p.publishEnd(&position{seg: empty})
	if err := p.refreshReadOnly(clean); err != nil {
		return nil, errors.Join(err, p.release())
	}
	return p, nil
}

// refreshReadOnly reconciles the partition with its directory. A file
// that goes between the listing and its opening (a retention or a
// compaction in another process), or that is cut short under a scan (see
// scanMapped), makes it list again. A partition whose
// topic a refresh dropped is left as it is.
func (p *Partition) refreshReadOnly(clean bool) error {
	p.refreshing.Lock()
	defer p.refreshing.Unlock()
	if p.deleted.Load() {
		return nil
	}
	var err error
	for range 3 {
		if err = p.refreshSegments(clean); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errFileCut) {
			return err
		}
	}
	return err
}

// segmentListing is a partition directory's segments by base offset, as
// Open would list them.
type segmentListing struct {
	names   []string
	bases   []int64
	paths   map[int64]string // .log file of each base
	cleaner cleanerMeta
	seen    dirListing
}

// listSegments lists the partition's segments. A compaction swap that is
// committed but not finished is read as Open would finish it (see
// compaction_swap.go): the output "<B>.log.cleaned", if it was not renamed
// yet, stands for "<B>.log", and the segments it replaces are left out.
// exists is false when the directory is not there.
func (p *Partition) listSegments() (l segmentListing, exists bool, err error) {
	fsys := p.log.opts.FS
	names, err := listStable(fsys, p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return l, false, nil
	}
	if err != nil {
		return l, false, p.errorf("list segments: %w", err)
	}
	l.names = names
	l.seen.names = strings.Join(names, "/")
	l.cleaner = cleanerMeta{Horizon: -1}
	// By the file, not the policy, as finishCleaning: a topic switched to
	// delete after a swap failed past its commit still has it to finish.
	if slices.Contains(names, cleanerMetaName) {
		if l.cleaner, err = readCleanerMeta(fsys, p.dir); err != nil {
			return l, true, p.errorf("%w", err)
		}
		l.seen.cleaner = fmt.Sprint(l.cleaner)
	}
	l.bases, l.paths = segmentFiles(p.dir, names, l.cleaner.Swap)
	return l, true, nil
}

// listStable lists dir until two listings agree, at most a few times. A
// directory a writer adds segments to may be listed without one it created
// meanwhile, yet with a later one (a listing's order is the file system's,
// not the names'), and a reader would skip the records of the one it
// missed. A second listing shows every file created during the first:
// when the two agree, the first missed none.
func listStable(fsys FS, dir string) ([]string, error) {
	names, err := fsys.ReadDir(dir)
	for i := 0; err == nil && i < 4; i++ {
		again, err := fsys.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		if slices.Equal(again, names) {
			break
		}
		names = again
	}
	return names, err
}

// segmentFiles returns the bases and .log paths of the segments among the
// names of a partition directory, with the committed swap groups applied.
func segmentFiles(dir string, names []string, swap []swapGroup) ([]int64, map[int64]string) {
	have := make(map[string]bool, len(names))
	for _, name := range names {
		have[name] = true
	}
	paths := make(map[int64]string)
	var bases []int64
	for _, name := range names {
		base, ok := parseSegmentName(name, logExt)
		if !ok {
			continue
		}
		path := filepath.Join(dir, name)
		replaced := false
		for _, g := range swap {
			switch {
			case base > g.Base && base < g.End:
				replaced = true
			case base == g.Base && have[name+cleanedExt]:
				path += cleanedExt
			}
		}
		if !replaced {
			bases = append(bases, base)
			paths[base] = path
		}
	}
	slices.Sort(bases)
	return bases, paths
}

// refreshSegments is one reconciliation of the segments with the
// directory. The caller holds p.refreshing.
func (p *Partition) refreshSegments(clean bool) error {
	ls, exists, err := p.listSegments()
	if err != nil || !exists {
		return err
	}
	if len(ls.bases) == 0 {
		return p.refuseLostSegments(clean) // a partition being created has no segment yet
	}
	active := p.active()
	last := ls.bases[len(ls.bases)-1]
	if active.opened() && last < active.base {
		// The active segment never goes while its partition lives, and
		// no later one came: this directory is another partition's.
		return errTopicReplaced
	}
	sameActive := active.opened() && last == active.base && active.path(logExt) == ls.paths[last]
	var rp recoveryPoint
	var haveRP bool
	if !sameActive {
		// A new active segment is checked against the recovery point,
		// which must be read before the directory is listed: a point
		// persisted after the listing may lie in a segment it missed.
		rp, haveRP = p.readRecoveryPoint()
		if ls, _, err = p.listSegments(); err != nil || len(ls.bases) == 0 {
			return err
		}
		if lost := p.findLostSegments(ls.names, ls.bases, rp, haveRP, false); lost != nil {
			return p.errorf("%w", lost.corrupt()) // as Open refuses it
		}
		pathOf := func(base int64) string { return ls.paths[base] }
		skip := belowLogStart(p.log.opts.FS, p.dir, ls.names, ls.bases) // reconcile drops them
		stray, _, err := findStraySegment(p.log.opts.FS, p.dir, ls.bases[skip:], pathOf, rp, haveRP, p.mayHaveGaps(ls.names), p.config().indexInterval)
		if err != nil {
			return p.errorf("%w", err) // a file gone since the listing: list again
		}
		if stray != nil {
			return p.errorf("%w", stray.corrupt()) // as Open refuses it
		}
		last = ls.bases[len(ls.bases)-1]
		sameActive = active.opened() && last == active.base && active.path(logExt) == ls.paths[last]
	}
	return p.reconcile(ls, sameActive, rp, haveRP, clean)
}

// refuseLostSegments returns the *CorruptError Open fails with if the
// files of the partition, which has no segment, show that it held records;
// nil if it is only being created. clean says that the Log was closed
// cleanly when it was opened.
func (p *Partition) refuseLostSegments(clean bool) error {
	// The recovery point before the listing, as for a new active segment:
	// one persisted after it lies in a segment the listing did not show.
	rp, haveRP := p.readRecoveryPoint()
	ls, exists, err := p.listSegments()
	if err != nil || !exists || len(ls.bases) > 0 {
		return err // the next refresh takes the new segment in
	}
	clean = clean && closedCleanly(p.log.opts.FS, p.log.dir)
	if lost := p.findLostSegments(ls.names, nil, rp, haveRP, clean); lost != nil {
		return p.errorf("%w", lost.corrupt())
	}
	return nil
}

// reconcile makes the segment list match ls, scans the active segment and
// publishes the partition's new end.
func (p *Partition) reconcile(ls segmentListing, sameActive bool, rp recoveryPoint, haveRP, clean bool) error {
	l := p.log
	fsys := l.opts.FS
	cur := *p.segments.Load()
	active := cur[len(cur)-1]
	var fresh []*segment // made here, released if this fails
	fail := func(err error) error {
		for _, s := range fresh {
			err = errors.Join(err, s.release())
		}
		return err
	}
	next := slices.Clone(cur)
	if !sameActive || p.refreshing.listing != ls.seen {
		byBase := make(map[int64]*segment, len(cur))
		for _, s := range cur[:len(cur)-1] {
			byBase[s.base] = s
		}
		next = next[:0]
		for i, base := range ls.bases {
			path := ls.paths[base]
			if i == len(ls.bases)-1 && sameActive {
				next = append(next, active)
				break
			}
			var info fs.FileInfo
			if i < len(ls.bases)-1 {
				var err error
				if info, err = fsys.Stat(path); err != nil {
					return fail(p.errorf("%w", err))
				}
				if old := byBase[base]; old != nil && old.path(logExt) == path && sameFile(old.listed, info) {
					next = append(next, old)
					continue
				}
			}
			seg := newSegment(fsys, p.dir, base, &p.removals)
			if path != seg.path(logExt) {
				seg.logPath = path
			}
			if info != nil {
				seg.listed = info
				seg.size.Store(info.Size())
			}
			fresh = append(fresh, seg)
			next = append(next, seg)
			if seg.logPath != "" && i < len(ls.bases)-1 {
				// Hold the unfinished swap's output open before the
				// writer renames it.
				if err := seg.openForReading(); err != nil {
					return fail(err)
				}
			}
		}
	}
	end := next[len(next)-1]
	var err error
	if sameActive {
		err = p.extendActive(end)
	} else {
		err = p.openActiveReadOnly(end, rp, haveRP, clean)
	}
	if err != nil {
		return fail(err)
	}
	start := max(next[0].base, p.logStart.Load())
	if checkpoint, ok, err := readLogStart(fsys, p.dir); err != nil {
		return fail(p.errorf("%w", err))
	} else if ok {
		start = max(start, min(checkpoint, end.nextOffset))
	}
	drop := 0
	for drop < len(next)-1 && next[drop+1].base <= start {
		drop++
	}
	next = next[drop:]
	if !slices.Equal(next, cur) {
		p.segments.Store(&next)
		for _, s := range append(cur, fresh...) {
			if !slices.Contains(next, s) {
				_ = s.release() // files of a read-only Log are only closed
			}
		}
	}
	if err := p.refreshProducersReadOnly(ls, end.nextOffset); err != nil {
		return err
	}
	p.refreshing.listing = ls.seen
	p.cleaning.firstDirty.Store(ls.cleaner.FirstDirty)
	p.cleaning.horizon.Store(ls.cleaner.Horizon)
	p.logStart.Store(start)
	p.publishEnd(&position{offset: end.nextOffset, seg: end, pos: end.size.Load()})
	return nil
}

// relistGone is what a read of a read-only Log does when it could not
// open, index or map seg, one of the segments it listed, with err (it has
// let go of seg). Another process may have removed the file since the
// listing — retention, DeleteRecords, DeleteTopic — or put another file
// in its place — a compaction swap (see checkListed) —, as a writable
// Log's reader finds a segment dropped under it. If err says so
// (fs.ErrNotExist), it lists the partition's directory again, as a
// Refresh does, and reports again when seg is no longer listed: the read
// then looks for its offset in the new listing, or goes on from the new
// log start if the records are gone. Otherwise it returns the error the
// read fails with: the topic's, when its directory went with a
// DeleteTopic, and err's else.
//
// It takes no lock of the Log, only the partition's refreshing lock, so
// that a read by a Refresh (of __consumer_offsets) may call it too.
func (p *Partition) relistGone(seg *segment, err error) (again bool, _ error) {
	if !p.log.opts.ReadOnly || !errors.Is(err, fs.ErrNotExist) {
		return false, p.segmentErr(err)
	}
	if p.listed(seg) {
		rerr := p.refreshReadOnly(false)
		if _, serr := p.log.opts.FS.Stat(p.dir); errors.Is(rerr, errTopicReplaced) || errors.Is(serr, fs.ErrNotExist) {
			return false, p.deletedErr()
		}
		if rerr != nil {
			return false, errors.Join(p.segmentErr(err), rerr)
		}
	}
	if p.deleted.Load() {
		return false, p.deletedErr()
	}
	if p.listed(seg) {
		return false, p.segmentErr(err) // not what the listing shows
	}
	return true, nil
}

// sameFile tells whether two infos of a closed segment's file describe
// the same file. A closed segment's file never changes; another by its
// name, which a compaction swap renames over it, is told by its size or
// its modification time.
func sameFile(a, b fs.FileInfo) bool {
	return a != nil && b != nil && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// checkListed checks that f, just opened by the name of a closed segment
// of a read-only Log, is the file that was listed: a compaction swap may
// have renamed another over it since, which holds other batches at other
// positions. It fails with an error wrapping fs.ErrNotExist otherwise, as
// the listed file is gone, so that the read lists the directory again.
func (s *segment) checkListed(f File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !sameFile(s.listed, info) {
		return &fs.PathError{Op: "open", Path: s.path(logExt), Err: errReplacedSinceListed}
	}
	return nil
}

// errReplacedSinceListed is checkListed's error.
var errReplacedSinceListed = fmt.Errorf("%w: replaced by another file since the directory was listed", fs.ErrNotExist)

// publishEnd makes end the partition's log end and high watermark, waking
// the readers waiting for records when it moved forward.
func (p *Partition) publishEnd(end *position) {
	p.written.Store(end)
	p.durable.Store(end)
	p.logEnd.Store(end.offset)
	prev := p.hw.Swap(end)
	if prev != nil && end.offset > prev.offset {
		p.hwMoved.broadcast()
	}
}

// opened tells whether the segment's .log file is open.
func (s *segment) opened() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.file != nil
}

// openForReading opens the segment's .log file now rather than at its
// first read.
func (s *segment) openForReading() error {
	_, err := s.file()
	return err
}

// openActiveReadOnly opens the active segment of a read-only partition and
// reads it as Open recovers it, up to its last valid batch, without
// cutting what follows. rp is the persisted recovery point (haveRP false
// when there is none), and clean says that the log was closed cleanly.
func (p *Partition) openActiveReadOnly(seg *segment, rp recoveryPoint, haveRP, clean bool) error {
	rp = recoveryPointOf(seg, rp, haveRP)
	if err := seg.openForReading(); err != nil {
		return p.errorf("open active segment: %w", err)
	}
	seg.mu.RLock()
	f := seg.mu.file
	seg.mu.RUnlock()
	info, err := f.Stat()
	if err != nil {
		return p.errorf("%w", err)
	}
	data, unmap, err := mapForScan(f, info.Size())
	if err != nil {
		return p.errorf("%w", err)
	}
	defer unmap()
	interval := p.config().indexInterval
	var (
		a         activeRecovery
		fromFiles bool
		scanErr   error
	)
	err = scanMapped(seg.path(logExt), func() {
		if clean && rp.pos <= int64(len(data)) {
			var next int64
			if a.idx, a.b, next, fromFiles = seg.readIndexFiles(data, interval); fromFiles {
				a.r = scanResult{end: int64(len(data)), nextOffset: next}
				return
			}
			// As for Open: Close fsynced the whole segment, so damage
			// anywhere in it is corruption, not a torn tail — unless a
			// writer opened the log since, which removes the marker
			// before it writes anything.
			whole := recoveryPoint{base: seg.base, pos: int64(len(data)), offset: -1}
			var ce *CorruptError
			if a, scanErr = p.scanActive(seg, data, whole); !errors.As(scanErr, &ce) || closedCleanly(p.log.opts.FS, p.log.dir) {
				return
			}
		}
		a, scanErr = p.scanActive(seg, data, rp)
	})
	if err = errors.Join(err, scanErr); err != nil {
		return p.errorf("%w", err)
	}
	if fromFiles {
		p.setActiveState(seg, a.idx, a.b, data, a.r.nextOffset)
		return nil
	}
	p.log.recovery.segmentsScanned.Add(1)
	p.log.recovery.bytesScanned.Add(a.scanned)
	if !a.fromIndex {
		p.log.recovery.indexesRebuilt.Add(1)
	}
	if a.r.err != nil {
		p.log.opts.Logger.Debug("eventlog: active segment readable up to its last valid batch", "path", seg.path(logExt),
			"pos", a.r.end, "bytes_after", int64(len(data))-a.r.end, "reason", a.r.err)
	}
	p.setActiveState(seg, a.idx, a.b, data[:a.r.end], a.r.nextOffset)
	return nil
}

// setActiveState sets what a read-only Log knows of its active segment:
// the indexes and builder state of its valid bytes, data, after which the
// next offset is next.
func (p *Partition) setActiveState(seg *segment, idx *segmentIndex, b *indexBuilder, data []byte, next int64) {
	seg.mu.Lock()
	seg.mu.index = idx
	seg.mu.Unlock()
	seg.builder = *b
	finishActive(seg, data, next)
	seg.size.Store(int64(len(data)))
}

// extendActive takes in the batches appended to the active segment since
// the last refresh, up to the last valid one.
func (p *Partition) extendActive(seg *segment) error {
	seg.mu.RLock()
	f := seg.mu.file
	seg.mu.RUnlock()
	for attempt := 0; ; attempt++ {
		// The name first, then the open file: if they are one file, the
		// second is at least as large, however fast the writer appends.
		named, err := p.log.opts.FS.Stat(seg.path(logExt))
		if err != nil {
			return p.errorf("%w", err)
		}
		info, err := f.Stat()
		if err != nil {
			return p.errorf("%w", err)
		}
		from := seg.size.Load()
		if otherFile(named, info) || info.Size() < named.Size() || named.Size() < from {
			// Another file by that name, or this one cut below what was
			// read: the partition is not the one the Log has open.
			return errTopicReplaced
		}
		if info.Size() == from {
			return nil
		}
		data, unmap, err := mapForScan(f, info.Size())
		if err != nil {
			return p.errorf("%w", err)
		}
		var r scanResult
		seg.mu.Lock()
		idx, builder := seg.mu.index, seg.builder
		offsets, times := len(idx.offsets), len(idx.times)
		err = scanMapped(seg.path(logExt), func() { r = scanDense(data, from, seg.nextOffset, &seg.builder, idx) })
		if err != nil { // nothing of this scan is kept
			seg.builder = builder
			idx.offsets, idx.times = idx.offsets[:offsets], idx.times[:times]
		}
		seg.mu.Unlock()
		unmap()
		if err != nil {
			return p.errorf("%w", err)
		}
		seg.nextOffset = r.nextOffset
		seg.maxTimestamp.Store(seg.builder.maxTs)
		seg.size.Store(r.end)
		if r.err == nil {
			return nil
		}
		// The batch at r.end is incomplete or damaged: being written, torn
		// by a crash, or corrupt if an fsync covered it, which only the
		// recovery point, read after the scan, can tell.
		rp, ok := p.readRecoveryPoint()
		if !ok || rp.base != seg.base || rp.pos <= r.end {
			return nil
		}
		if attempt > 0 {
			return p.errorf("%w", &CorruptError{Path: seg.path(logExt), Pos: r.end, Offset: r.nextOffset,
				Reason: fmt.Sprintf("%v; this is before the recovery point at byte %d, which was fsynced, so no crash explains it", r.err, rp.pos)})
		}
		// The writer finished that batch before it fsynced it: scan again.
	}
}

// errFileCut is the error of a scan of a mapped file that another process
// cut short under it (see scanMapped).
var errFileCut = errors.New("file cut short while it was read")

// scanMapped runs scan, which reads the mapping of a file that another
// process may cut short meanwhile: the writer's Open cuts a torn tail off
// the active segment, which a read-only Log's scan reads to find where
// its valid batches end. Reading a mapped page wholly past the end of its
// file raises SIGBUS, which would kill the process; scanMapped turns that
// fault into an error wrapping errFileCut, after which the refresh lists
// again. (The bytes of the valid batches, which readers are handed, are
// never cut; only Options.Repair cuts below them.)
func scanMapped(path string, scan func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			err = &fs.PathError{Op: "read", Path: path, Err: errFileCut}
		}
	}()
	scan()
	return nil
}

// otherFile tells whether named, a file's info by its name, and open, the
// info of an open file, are known to be two files: by their identity
// (device and inode, or Windows' file index) where os.SameFile can compare
// them, as OSFS's. A topic deleted and created again holds, under the same
// name, another active segment, which may have grown to just the size of
// the one the read-only Log holds open. Infos os.SameFile cannot compare
// (MemFS's, another FS's), which it finds unlike even themselves, tell
// nothing, and the sizes are left to tell.
func otherFile(named, open fs.FileInfo) bool {
	return os.SameFile(named, named) && os.SameFile(open, open) && !os.SameFile(named, open)
}

// mapForScan returns the first size bytes of f, mapped if f can be, and a
// function that releases them.
func mapForScan(f File, size int64) ([]byte, func(), error) {
	if m, ok := f.(mmapper); ok {
		data, unmap, err := m.Mmap(int(size))
		if err != nil {
			return nil, nil, err
		}
		return data, func() { _ = unmap() }, nil
	}
	data := make([]byte, size)
	n, err := f.ReadAt(data, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	return data[:n], func() {}, nil
}

// refreshProducersReadOnly applies the batches with a producer id below
// offset end that the last refresh had not, so that the transactions are
// known (the last stable offset, the aborted ones) before end is
// published. A partition without producer history (no snapshot file in its
// listing, nor a .txnindex one, which a writer's Open rebuilds snapshots
// from, nor in a listing made after the scan that found end) is skipped. The read-only Log reads no snapshot: it would have
// to repair the active segment's .txnindex, which only the writer may, and
// the headers of the batches say all it needs. What retention or
// compaction removes later leaves nothing wrong behind: transactions below
// the log start hold nothing back, and a cleaned segment keeps the markers
// of the aborted records it still holds.
func (p *Partition) refreshProducersReadOnly(ls segmentListing, end int64) error {
	s := &p.producers
	if !s.history.Load() {
		if !producerHistoryListed(ls.seen.names) {
			if end <= p.logEnd.Load() {
				return nil // no offset past the last refresh, which found none
			}
			// The listing may be older than the writer's first snapshot,
			// which it creates before the partition's first batch with a
			// producer id, and the scan that found end newer than that
			// batch: list again, after the scan, to know.
			names, err := p.log.opts.FS.ReadDir(p.dir)
			if err != nil {
				return p.errorf("list segments: %w", err)
			}
			if !producerHistoryListed(strings.Join(names, "/")) {
				return nil
			}
		}
		s.history.Store(true)
		s.replayedTo = p.logStart.Load()
	}
	from := max(s.replayedTo, p.logStart.Load())
	if from >= end {
		return nil
	}
	if err := p.replayProducers(from, end); err != nil {
		return err
	}
	s.replayedTo = end
	return nil
}

// producerHistoryListed reports whether a partition directory's names,
// joined by "/", show that the partition has producer history: a snapshot
// file, or a .txnindex one, which a writer's Open rebuilds snapshots from.
func producerHistoryListed(names string) bool {
	return strings.Contains(names, snapshotExt) || strings.Contains(names, txnIndexExt)
}
