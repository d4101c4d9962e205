package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Recovery. A partition rolls its active segment only after fsyncing it, so
// every segment but the last is durable, and only the last segment is ever
// scanned.
//
// After a clean shutdown (the CLEAN_SHUTDOWN marker exists) even that scan is
// skipped: the last segment's indexes are loaded and only the batches after
// the last index entry are checked; Close fsynced the whole segment, so
// damage there is corruption. Otherwise the last segment is checked against
// the partition's recovery point (see recovery_point.go): from the last
// index entry before it, the batches must be intact up to it — damage there
// is corruption, and Open fails with a *CorruptError unless Options.Repair
// is set, in which case the rest of the segment is copied to a
// ".broken-<nanos>" file and then cut — and after it the first batch that is
// incomplete, fails its checksum or is out of sequence ends the segment,
// which is cut there and reported, whatever follows.
//
// Closed segments, and the active segment's bytes before the last index
// entry before the recovery point, are not read at Open (with Repair, the
// active segment is read whole): their indexes are
// loaded, checked and if need be rebuilt on their first read, and their
// checksums are verified on every read, so damage there is returned to the
// reader as a *CorruptError. Cutting is the only change recovery makes, and
// it is idempotent: a crash during recovery recovers the same way. Before
// any of this, a compacted partition finishes or undoes a cleaning a crash
// interrupted (see compaction_swap.go), a partition whose files show
// segments missing is refused, or with Repair goes on without them (see
// recovery_missing.go), and one with a segment file that does not follow
// the one before it is refused, or with Repair goes on without that file
// (see recovery_stray.go).

// partitionOpening is what Open may assume of the files of a partition it
// opens.
type partitionOpening int

const (
	// newPartition: CreateTopic or CreatePartitions made its directory,
	// empty, just now.
	newPartition partitionOpening = iota
	// afterCrash: the Log was not closed cleanly.
	afterCrash
	// afterCleanShutdown: the Log was closed cleanly, and Close fsynced
	// every partition's active segment.
	afterCleanShutdown
)

// openPartition opens (or, in an empty directory, creates) a partition.
func (l *Log) openPartition(topicName string, id int32, cfg partitionConfig, how partitionOpening) (*Partition, error) {
	p := l.newPartition(topicName, id, cfg)
	empty := []*segment{}
	p.segments.Store(&empty)
	if err := p.openSegments(how); err != nil {
		return nil, errors.Join(err, p.release())
	}
	active := p.active()
	end := &position{offset: active.nextOffset, seg: active, pos: active.size.Load()}
	p.written.Store(end)
	p.durable.Store(end) // a clean Close or recovery fsynced it
	p.hw.Store(end)
	p.sync.offset = end.offset
	p.logEnd.Store(end.offset)
	p.logStart.Store((*p.segments.Load())[0].base)
	if err := p.lowerFirstDirty(); err != nil {
		return nil, errors.Join(err, p.release())
	}
	return p, nil
}

// newPartition returns a partition handle with no segments.
func (l *Log) newPartition(topicName string, id int32, cfg partitionConfig) *Partition {
	p := &Partition{
		log:   l,
		topic: topicName,
		id:    id,
		dir:   filepath.Join(l.topicDir(topicName), partitionDirName(id)),
	}
	p.settings.Store(&cfg)
	p.sync.done.L = &p.sync.Mutex
	return p
}

func (p *Partition) openSegments(how partitionOpening) error {
	fsys := p.log.opts.FS
	names, err := fsys.ReadDir(p.dir)
	dirMissing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !dirMissing {
		return p.errorf("list segments: %w", err)
	}
	if names, err = removeTempFiles(fsys, p.log.opts.Logger, p.dir, names, isPartitionDirTempFile); err != nil {
		return p.errorf("%w", err)
	}
	if names, err = p.finishCleaning(names); err != nil {
		return err
	}
	p.noteSnapshotFiles(names)
	var bases []int64
	for _, name := range names {
		if base, ok := parseSegmentName(name, logExt); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	persisted, hasPoint := p.readRecoveryPoint()
	lost := p.findLostSegments(names, bases, persisted, hasPoint, how == afterCleanShutdown)
	if lost != nil && !p.log.opts.Repair {
		return p.errorf("%w", lost.corrupt())
	}
	if dirMissing {
		// Lost in a crash during CreateTopic, before any append: recreate,
		// durably whatever the topic's durability, as the segment made in
		// it is (see createActiveSegment): the records an fsync covers
		// there, a clean Close's included, must not go with a name the
		// disk never got.
		if err := fsys.MkdirAll(p.dir, 0o755); err != nil {
			return p.errorf("create directory: %w", err)
		}
		if err := fsys.SyncDir(filepath.Dir(p.dir)); err != nil {
			return p.errorf("create directory: %w", err)
		}
	}
	if lost != nil {
		if bases, err = p.restartAfterLostSegments(lost, bases); err != nil {
			return err
		}
		persisted, hasPoint = p.checkpoint.persisted, true
	}
	if bases, err = p.checkStraySegments(names, bases, persisted, hasPoint); err != nil {
		return err
	}
	if p.repairsWhole() {
		if bases, err = p.repairClosedSegments(bases); err != nil {
			return err
		}
		persisted, hasPoint = p.readRecoveryPoint() // a cut lowers it
	}

	var segs []*segment
	for i, base := range bases {
		if i == len(bases)-1 {
			segs = append(segs, p.newActiveSegment(base))
			p.segments.Store(&segs)
			break
		}
		seg := newSegment(fsys, p.dir, base, &p.removals)
		segs = append(segs, seg)
		p.segments.Store(&segs)
		info, err := fsys.Stat(seg.path(logExt))
		if err != nil {
			return p.errorf("%w", err)
		}
		seg.size.Store(info.Size())
	}
	if len(segs) == 0 {
		seg, err := p.createActiveSegment(0)
		if err != nil {
			return p.errorf("create first segment: %w", err)
		}
		segs = []*segment{seg}
		p.segments.Store(&segs)
		return nil
	}
	return p.recoverActive(how == afterCleanShutdown, persisted, hasPoint)
}

// parseSegmentName returns the base offset of a file named
// "<20 digits><ext>".
func parseSegmentName(name, ext string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, ext)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// recoverActive opens the last segment for appending and finds its end;
// persisted is the partition's recovery point if hasPoint.
func (p *Partition) recoverActive(clean bool, persisted recoveryPoint, hasPoint bool) error {
	seg := p.active()
	f, err := seg.openWritable(false)
	if err != nil {
		return p.errorf("open active segment: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		return p.errorf("%w", err)
	}
	seg.size.Store(info.Size())
	m, err := seg.viewFor(info.Size())
	if err != nil {
		return p.errorf("%w", err)
	}
	data := m.data[:info.Size()]
	rp := recoveryPointOf(seg, persisted, hasPoint)

	if clean && rp.pos <= info.Size() {
		// Close fsynced the whole segment: all of it is below the
		// recovery point, wherever the persisted one lags, and damage
		// anywhere in it is corruption. Where its offsets end is what the
		// scan finds.
		rp = recoveryPoint{base: seg.base, pos: info.Size(), offset: -1}
		if p.log.opts.Repair {
			// Nothing vouches for bytes the indexes let Open skip; the
			// scan with Repair reads them all.
		} else if idx, b, next, ok := seg.readIndexFiles(data, p.config().indexInterval); ok {
			seg.mu.index = idx
			seg.builder = *b
			finishActive(seg, data, next)
			m.release()
			p.persistCleanRecoveryPoint(seg)
			return nil
		} else {
			p.log.opts.Logger.Warn("eventlog: indexes of active segment inconsistent after clean shutdown, scanning", "path", seg.path(logExt))
		}
	}
	p.log.recovery.segmentsScanned.Add(1)
	a, err := p.scanActive(seg, data, rp)
	var ce *CorruptError
	if errors.As(err, &ce) && p.log.opts.Repair {
		// Cut at the first damage, wherever it is, keeping a copy.
		a, _ = p.scanActive(seg, data, recoveryPoint{base: seg.base, offset: seg.base})
		err = p.keepBroken(seg, data, a.r, err)
	} else if err != nil {
		err = p.errorf("%w", err)
	} else if a.r.err != nil {
		p.log.opts.Logger.Warn("eventlog: cutting torn tail after the recovery point", "path", seg.path(logExt),
			"recovery_point", rp.pos, "pos", a.r.end, "bytes", int64(len(data))-a.r.end, "reason", a.r.err)
	}
	if err == nil {
		seg.mu.index, seg.builder = a.idx, *a.b
		finishActive(seg, data[:a.r.end], a.r.nextOffset)
		p.log.recovery.bytesScanned.Add(a.scanned)
		if !a.fromIndex {
			p.log.recovery.indexesRebuilt.Add(1)
		}
		err = p.rewriteUnsynced(f, seg, data, rp.pos, a.r.end)
	}
	// Unmap before truncating: Windows refuses to truncate a mapped file,
	// and no view may show bytes that appends will write over.
	m.release()
	if v := seg.view.Swap(nil); v != nil {
		v.release()
	}
	if err != nil {
		return err
	}
	if a.r.end < info.Size() {
		if err := f.Truncate(a.r.end); err != nil {
			return p.errorf("truncate %s: %w", seg.path(logExt), err)
		}
		seg.size.Store(a.r.end)
		p.log.recovery.bytesTruncated.Add(info.Size() - a.r.end)
	}
	if err := f.Sync(); err != nil { // what readers will see must be durable
		return p.errorf("fsync %s: %w", seg.path(logExt), err)
	}
	if clean && a.r.end == info.Size() {
		p.persistCleanRecoveryPoint(seg)
	}
	return nil
}

// rewriteUnsynced writes the active segment's bytes [from, to), which
// recovery keeps past the recovery point, again as they are, before the
// fsync that makes them durable. They were read from the page cache, not
// the disk: after a failed fsync Linux marks the pages it could not write
// clean, so they stay readable — to the next process too, once the one
// that wrote them died — but no fsync writes them, and a power loss later
// would take records that readers saw and retries were answered with.
// Written again they are dirty: the fsync writes them, or fails. The bytes
// below the recovery point need nothing: they were fsynced before it was
// persisted, and a partition fsyncs nothing after a failed fsync.
func (p *Partition) rewriteUnsynced(f File, seg *segment, data []byte, from, to int64) error {
	if from >= to {
		return nil
	}
	// Through a buffer: data is a mapping of the bytes written over.
	buf := make([]byte, min(to-from, 64<<10))
	for off := from; off < to; {
		n := copy(buf, data[off:to])
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return p.errorf("rewrite %s past the recovery point: %w", seg.path(logExt), err)
		}
		off += int64(n)
	}
	return nil
}

// persistCleanRecoveryPoint writes the recovery point a clean shutdown
// vouches for, the active segment's end, unless recovery.meta holds it
// already, as a Close leaves it. One that lags or does not match the
// segment (written by an older version, or over files since replaced)
// would make a crash later in this session treat fsynced bytes as a torn
// tail, or refuse them. Failing to write it (a full disk) only leaves the
// point lagging, as it was: Open goes on.
func (p *Partition) persistCleanRecoveryPoint(seg *segment) {
	end := recoveryPoint{base: seg.base, pos: seg.size.Load(), offset: seg.nextOffset}
	if end.pos == 0 || end == p.checkpoint.persisted {
		return
	}
	path := filepath.Join(p.dir, recoveryPointName)
	if err := writeMetaFile(p.log.opts.FS, path, recoveryPointVersion, encodeRecoveryPoint(end), true); err != nil {
		p.log.opts.Logger.Warn("eventlog: recovery point not written", "path", path, "err", err)
		return
	}
	p.checkpoint.persisted = end
}

// recoveryPointOf returns the recovery point within the active segment
// seg, given the persisted one, rp (ok is false when there is none): rp if
// it is in seg, else seg's start (a point in an earlier segment says
// nothing about seg, which was created after that segment was fsynced).
// One in a later segment never gets here: it shows that segment missing
// (see recovery_missing.go).
func recoveryPointOf(seg *segment, rp recoveryPoint, ok bool) recoveryPoint {
	if !ok || rp.base != seg.base {
		return recoveryPoint{base: seg.base, offset: seg.base}
	}
	return rp
}

// finishActive sets the appender state of a recovered active segment whose
// checked bytes are data and whose next offset is next. The segment's age is
// taken from its first batch's timestamp: at worst, records stamped in the
// past make it roll once on the next append.
func finishActive(seg *segment, data []byte, next int64) {
	seg.nextOffset = next
	seg.firstTimestamp = -1
	if h, err := parseBatchHeader(data); err == nil {
		seg.firstTimestamp = h.MaxTimestamp
	}
	seg.maxTimestamp.Store(seg.builder.maxTs)
}

// keepBroken, for Options.Repair, keeps a copy of the bytes of the active
// segment from the failed scan position r.end on, which Open is about to
// cut although they may be below the recovery point. It first lowers the
// persisted recovery point to the segment's start, so that a crash after
// the cut does not find the segment shorter than its recovery point; the
// checkpointer writes a new one once Open is done. corrupt is the damage
// found.
func (p *Partition) keepBroken(seg *segment, data []byte, r scanResult, corrupt error) error {
	path := seg.path(logExt)
	fsys := p.log.opts.FS
	lowered := recoveryPoint{base: seg.base, offset: seg.base}
	if err := writeMetaFile(fsys, filepath.Join(p.dir, recoveryPointName), recoveryPointVersion, encodeRecoveryPoint(lowered), true); err != nil {
		return p.errorf("repair %s: lower the recovery point: %w", path, err)
	}
	p.checkpoint.persisted = lowered
	if r.end == int64(len(data)) {
		p.log.opts.Logger.Warn("eventlog: repaired a segment shorter than its recovery point", "path", path, "err", corrupt)
		return nil
	}
	broken := fmt.Sprintf("%s.broken-%d", path, time.Now().UnixNano())
	if err := writeWholeFile(fsys, broken, data[r.end:], true); err != nil {
		return p.errorf("repair %s: keep a copy: %w", path, err)
	}
	if err := fsys.SyncDir(p.dir); err != nil {
		return p.errorf("repair %s: %w", path, err)
	}
	p.log.recovery.mu.Lock()
	p.log.recovery.repaired = append(p.log.recovery.repaired, broken)
	p.log.recovery.mu.Unlock()
	p.log.opts.Logger.Warn("eventlog: cutting corrupt data", "path", path, "pos", r.end, "bytes", int64(len(data))-r.end, "copy", broken, "err", corrupt)
	return nil
}
