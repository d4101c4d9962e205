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
// every segment but the last is durable: the last segment's start is the
// partition's last durable point, and only the last segment is ever scanned.
//
// After a clean shutdown (the CLEAN_SHUTDOWN marker exists) even that scan is
// skipped: the last segment's indexes are loaded and only the batches after
// the last index entry are checked. Otherwise the last segment is read batch
// by batch, its indexes rebuilt, and the first batch that is incomplete or
// fails its checksum ends it:
//
//   - a torn tail — a partial batch, zeros, or garbage not followed by a good
//     batch — is what a crash leaves behind: it is cut and reported;
//   - a complete batch that fails its checksum but is followed by a good
//     batch cannot come from a crash: Open fails with a *CorruptError unless
//     Options.Repair is set, in which case the rest of the segment is copied
//     to a ".broken-<nanos>" file and then cut.
//
// Closed segments are not read at Open: their indexes are loaded, checked and
// if need be rebuilt on their first read, and their checksums are verified on
// every read, so damage there is returned to the reader as a *CorruptError.
// Cutting is the only change recovery makes, and it is idempotent: a crash
// during recovery recovers the same way. Before any of this, a compacted
// partition finishes or undoes a cleaning a crash interrupted (see
// compaction_swap.go).

// openPartition opens (or, in an empty directory, creates) a partition.
func (l *Log) openPartition(topicName string, id int32, cfg partitionConfig, clean bool) (*Partition, error) {
	p := &Partition{
		log:   l,
		topic: topicName,
		id:    id,
		dir:   filepath.Join(l.topicDir(topicName), partitionDirName(id)),
	}
	p.settings.Store(&cfg)
	p.sync.done.L = &p.sync.Mutex
	empty := []*segment{}
	p.segments.Store(&empty)
	if err := p.openSegments(clean); err != nil {
		return nil, errors.Join(err, p.release())
	}
	active := p.active()
	end := &position{offset: active.nextOffset, seg: active, pos: active.size.Load()}
	p.written.Store(end)
	p.hw.Store(end)
	p.sync.offset = end.offset
	p.logEnd.Store(end.offset)
	p.logStart.Store((*p.segments.Load())[0].base)
	return p, nil
}

func (p *Partition) openSegments(clean bool) error {
	fsys := p.log.opts.FS
	names, err := fsys.ReadDir(p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Lost in a crash during CreateTopic, before any append: recreate.
		if err := fsys.MkdirAll(p.dir, 0o755); err != nil {
			return p.errorf("create directory: %w", err)
		}
		if err := p.syncDirIfDurable(filepath.Dir(p.dir)); err != nil {
			return p.errorf("create directory: %w", err)
		}
	} else if err != nil {
		return p.errorf("list segments: %w", err)
	}
	if names, err = p.finishCleaning(names); err != nil {
		return err
	}
	var bases []int64
	for _, name := range names {
		if base, ok := parseSegmentName(name, logExt); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	var segs []*segment
	for i, base := range bases {
		if i == len(bases)-1 {
			segs = append(segs, p.newActiveSegment(base))
			p.segments.Store(&segs)
			break
		}
		seg := newSegment(fsys, p.dir, base)
		segs = append(segs, seg)
		p.segments.Store(&segs)
		info, err := fsys.Stat(seg.path(logExt))
		if err != nil {
			return p.errorf("%w", err)
		}
		seg.size.Store(info.Size())
	}
	if len(segs) == 0 {
		seg := p.newActiveSegment(0)
		if _, err := seg.openWritable(true); err != nil {
			return p.errorf("create first segment: %w", err)
		}
		if err := p.syncDirIfDurable(p.dir); err != nil {
			return p.errorf("create first segment: %w", err)
		}
		segs = []*segment{seg}
		p.segments.Store(&segs)
		return nil
	}
	return p.recoverActive(clean)
}

// syncDirIfDurable makes new directory entries durable on topics that
// promise to survive power loss; on DurabilityOS topics the OS keeps them.
func (p *Partition) syncDirIfDurable(dir string) error {
	if p.config().durability != DurabilityFsync {
		return nil
	}
	return p.log.opts.FS.SyncDir(dir)
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

// recoverActive opens the last segment for appending and finds its end.
func (p *Partition) recoverActive(clean bool) error {
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

	if clean {
		if idx, b, next, ok := seg.readIndexFiles(data, p.config().indexInterval); ok {
			seg.mu.index = idx
			seg.builder = *b
			finishActive(seg, data, next)
			m.release()
			return nil
		}
		p.log.opts.Logger.Warn("eventlog: indexes of active segment inconsistent after clean shutdown, scanning", "path", seg.path(logExt))
	}
	p.log.recovery.segmentsScanned.Add(1)
	p.log.recovery.indexesRebuilt.Add(1)
	r := scan(data, 0, seg.base, &seg.builder, seg.mu.index)
	finishActive(seg, data[:r.end], r.nextOffset)
	if r.err != nil {
		err = p.judgeTail(seg, data, r)
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
	if r.err != nil {
		if err := f.Truncate(r.end); err != nil {
			return p.errorf("truncate %s: %w", seg.path(logExt), err)
		}
		seg.size.Store(r.end)
		p.log.recovery.bytesTruncated.Add(info.Size() - r.end)
	}
	if err := f.Sync(); err != nil { // what readers will see must be durable
		return p.errorf("fsync %s: %w", seg.path(logExt), err)
	}
	return nil
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

// judgeTail decides whether the active segment may be cut at a failed scan
// position: always for a torn tail; for corruption only with
// Options.Repair, after keeping a copy of what will be cut.
func (p *Partition) judgeTail(seg *segment, data []byte, r scanResult) error {
	path := seg.path(logExt)
	cut := int64(len(data)) - r.end
	if isTornTail(data, r.end, r.err) {
		p.log.opts.Logger.Warn("eventlog: cutting torn tail", "path", path, "pos", r.end, "bytes", cut, "reason", r.err)
		return nil
	}
	if !p.log.opts.Repair {
		return p.errorf("%w", &CorruptError{Path: path, Pos: r.end, Offset: r.nextOffset, Reason: r.err.Error() + "; a good batch follows, so this is not a torn write (open with Options.Repair to cut it)"})
	}
	broken := fmt.Sprintf("%s.broken-%d", path, time.Now().UnixNano())
	if err := writeWholeFile(p.log.opts.FS, broken, data[r.end:], true); err != nil {
		return p.errorf("repair %s: keep a copy: %w", path, err)
	}
	if err := p.log.opts.FS.SyncDir(p.dir); err != nil {
		return p.errorf("repair %s: %w", path, err)
	}
	p.log.recovery.mu.Lock()
	p.log.recovery.repaired = append(p.log.recovery.repaired, broken)
	p.log.recovery.mu.Unlock()
	p.log.opts.Logger.Warn("eventlog: cutting corrupt data", "path", path, "pos", r.end, "bytes", cut, "copy", broken, "reason", r.err)
	return nil
}
