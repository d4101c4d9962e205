package eventlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// File name extensions of a segment, as Kafka names them.
const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"
)

// segmentFileName is Kafka's name for a segment file: the base offset as 20
// decimal digits followed by the extension.
func segmentFileName(base int64, ext string) string {
	return fmt.Sprintf("%020d%s", base, ext)
}

// refCount counts the holders of a shared object; once it drops to zero it
// can never be acquired again.
type refCount struct{ n atomic.Int32 }

// tryAcquire adds a holder unless the object is already freed.
func (r *refCount) tryAcquire() bool {
	for {
		n := r.n.Load()
		if n <= 0 {
			return false
		}
		if r.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// drop removes a holder and reports whether it was the last.
func (r *refCount) drop() bool { return r.n.Add(-1) == 0 }

// mapping is a read-only view of a segment's bytes: a memory mapping, or a
// heap copy where the file cannot be mapped. It is reference counted so that
// it is unmapped only after the last reader let go of it.
type mapping struct {
	data  []byte
	refs  refCount
	unmap func() error
}

func (m *mapping) release() {
	if m.refs.drop() && m.unmap != nil {
		_ = m.unmap() // nothing useful to do with a failed munmap
	}
}

// segment is one .log file with its two indexes.
//
// Lifetime: the partition holds one reference while the segment is listed;
// each reader holds one while it touches the segment's bytes. The last
// release unmaps, closes and, if the segment was dropped, removes its files,
// so a mapping is never unmapped or deleted under a reader.
type segment struct {
	base int64
	dir  string
	fsys FS
	// guard is the partition's guard of dir (see dirRemovals), which a
	// rebuilt index's files are written under, so that none is written
	// into the directory of a topic created since under the same name;
	// nil for a segment read before its partition exists.
	guard *dirRemovals

	refs         refCount
	view         atomic.Pointer[mapping]
	size         atomic.Int64 // bytes of complete batches in the .log file
	maxTimestamp atomic.Int64 // largest record timestamp known, -1 if none

	w File // the active segment's writable file; nil for segments opened read-only
	// writtenBack is where the write-out the Log last asked for of w
	// ends (see Partition.startWriteback); the Log's background worker's
	// own.
	writtenBack int64

	// logPath, when set, is the .log file's path in place of the usual
	// one: a read-only Log reads the output of a compaction swap that is
	// not finished under its temporary name (see readonly.go).
	logPath string

	// listed is, for a closed segment of a read-only Log, its .log file
	// as the listing saw it, which file checks the file it opens against
	// (see checkListed); nil otherwise.
	listed fs.FileInfo

	// mapCapacity is how far past EOF a segment made active in this
	// process may be mapped; 0 for one opened closed. newActiveSegment
	// sets it before the segment is published and nothing changes it, so
	// remap reads it with no lock.
	mapCapacity int64

	mu struct {
		sync.RWMutex
		file  File          // nil until first needed
		index *segmentIndex // nil until loaded
		// indexErr, for a closed segment whose log is damaged, is the
		// *CorruptError the rebuild of its index met; index then covers
		// the batches before the damage (see readIndex), and damage says
		// what retention may go by (see judgeDamage).
		indexErr error
		// rebuildErr, for the active segment, is what the rebuild of its
		// index met (see Partition.rebuildIndex): damage in the log, which
		// appends do not change, or a log that ends elsewhere than the
		// appender's; lookups then do not try again.
		rebuildErr error
		damage     struct {
			pos    int64 // where the scan met the damage
			newest int64 // the newest timestamp of the batches before pos, -1 if none
			judged bool  // retention looked past pos
			// bounded is set when newest bounds every timestamp of the
			// file, as judgeDamage found: time retention may go by it.
			bounded bool
		}
		removeOnRelease bool
		// removal, with removeOnRelease, is the partition's guard of the
		// directory the files are removed from (see dirRemovals).
		removal *dirRemovals
		onFree  func() // called by the last release, after the file is closed
	}

	// remapping serializes remap, so that readers that need more of the
	// segment at once open and map it once. It is held across the open
	// and the mmap, which can be slow; mu is not, as appends, rolls,
	// retention and DeleteRecords take mu while holding the partition's
	// locks. Nothing takes remapping while holding mu.
	remapping sync.Mutex

	// indexFiles serializes the writes of the active segment's index files
	// by its seal and by recovery point checkpoints (recovery_point.go);
	// sealed is set once the seal wrote them whole. A roll takes it holding
	// the partition's append lock, so nothing holds it across an fsync.
	indexFiles struct {
		sync.Mutex
		sealed bool
	}

	// Appender state, guarded by the owning partition's append lock. Only the
	// active segment uses it.
	builder        indexBuilder
	nextOffset     int64 // offset the next appended record gets
	firstTimestamp int64 // when the first batch was appended (ms), -1 if empty; SegmentAge counts from it
}

func newSegment(fsys FS, dir string, base int64, guard *dirRemovals) *segment {
	s := &segment{base: base, dir: dir, fsys: fsys, guard: guard, nextOffset: base, firstTimestamp: -1}
	s.refs.n.Store(1)
	s.maxTimestamp.Store(-1)
	return s
}

func (s *segment) path(ext string) string {
	if ext == logExt && s.logPath != "" {
		return s.logPath
	}
	return filepath.Join(s.dir, segmentFileName(s.base, ext))
}

// acquire takes a reader's reference; it fails once the segment is gone.
func (s *segment) acquire() bool { return s.refs.tryAcquire() }

// release drops a reference; the last one frees the segment: it closes the
// file and, if the segment was dropped, removes its files, then calls
// onFree. What to close and whether to remove is taken under mu, the I/O
// done after: mu is taken under the partition's locks, and a slow close or
// removal must hold up nothing. As the last holder runs it once, the files
// go once, and no one touches the file it closes.
func (s *segment) release() error {
	if !s.refs.drop() {
		return nil
	}
	if m := s.view.Swap(nil); m != nil {
		m.release()
	}
	s.mu.Lock()
	f, remove, removal, onFree := s.mu.file, s.mu.removeOnRelease, s.mu.removal, s.mu.onFree
	s.mu.file = nil
	s.mu.Unlock()
	var err error
	if f != nil {
		err = f.Close()
	}
	if remove {
		err = errors.Join(err, s.removeFiles(removal))
	}
	if onFree != nil {
		onFree()
	}
	return err
}

// removeFiles removes the segment's files, unless removal (nil for none)
// says their directory was moved away: the names are then another's.
func (s *segment) removeFiles(removal *dirRemovals) error {
	if removal != nil {
		removal.mu.RLock()
		defer removal.mu.RUnlock()
		if removal.mu.moved {
			return nil
		}
	}
	var err error
	for _, ext := range []string{logExt, indexExt, timeIndexExt, txnIndexExt} {
		if rerr := s.fsys.Remove(s.path(ext)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// dirRemovals guards a partition's directory, in which the last release of
// a segment that retention or DeleteRecords dropped removes its files by
// name, and the checkpointer, and a reader or retention that rebuilt a
// segment's index, write and remove files by name (inPlace),
// against DeleteTopic, which renames the directory away: a removal or a
// write after that would change, under the same names, the files of a
// topic created since under the old name. A removal or a checkpoint holds
// mu shared; DeleteTopic sets moved holding it, so that they either end
// before the rename or change nothing (the files go with the renamed
// directory).
type dirRemovals struct {
	mu struct {
		sync.RWMutex
		moved bool
	}
}

// setMoved records whether the directory is moved away, once the
// removals in progress are done.
func (d *dirRemovals) setMoved(moved bool) {
	d.mu.Lock()
	d.mu.moved = moved
	d.mu.Unlock()
}

// inPlace runs fn, which writes or removes files of the directory by
// name, unless the directory was moved away; a move waits for fn. fn must
// not release a segment: the last release of a dropped one takes mu too.
func (d *dirRemovals) inPlace(fn func() error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.mu.moved {
		return nil
	}
	return fn()
}

// inPlace runs fn, which writes files of the segment by name, in place
// (see dirRemovals.inPlace): not at all once DeleteTopic moved the
// directory away.
func (s *segment) inPlace(fn func() error) error {
	if s.guard == nil {
		return fn()
	}
	return s.guard.inPlace(fn)
}

// file returns the .log file, opening it on first use. Closed segments are
// opened read-only; the active one has the file openWritable opened, for
// appends and reads. The open runs without mu held, as it may be slow and mu is
// taken under the partition's locks; if another caller installed a file
// meanwhile, the one opened here is closed and that one returned. The
// caller holds a segment reference or has not published the segment, so
// the file installed stays open until the last release.
func (s *segment) file() (File, error) {
	s.mu.RLock()
	f := s.mu.file
	s.mu.RUnlock()
	if f != nil {
		return f, nil
	}
	f, err := s.fsys.OpenFile(s.path(logExt), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	if s.listed != nil {
		if err := s.checkListed(f); err != nil {
			return nil, errors.Join(err, f.Close())
		}
	}
	s.mu.Lock()
	installed := s.mu.file
	if installed == nil {
		s.mu.file = f
	}
	s.mu.Unlock()
	if installed != nil {
		_ = f.Close() // read-only and never read: nothing to report
		return installed, nil
	}
	return f, nil
}

// openWritable opens the .log file for appending, creating it if create is
// set.
func (s *segment) openWritable(create bool) (File, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := s.fsys.OpenFile(s.path(logExt), flag, 0o644)
	if err != nil {
		return nil, err
	}
	s.w = f
	s.mu.Lock()
	s.mu.file = f
	s.mu.Unlock()
	return f, nil
}

// viewFor returns an acquired mapping covering at least the first need bytes
// of the segment. The caller must hold a segment reference and release the
// mapping when done.
func (s *segment) viewFor(need int64) (*mapping, error) {
	for {
		m := s.view.Load()
		if m == nil || int64(len(m.data)) < need {
			break
		}
		if m.refs.tryAcquire() {
			return m, nil
		}
	}
	return s.remap(need)
}

// remap maps the segment anew, at least its first need bytes, and
// installs the mapping in place of the old one, which its last reader
// unmaps. The caller holds a segment reference, so the file that file
// returns stays open while it is mapped without mu held.
func (s *segment) remap(need int64) (*mapping, error) {
	s.remapping.Lock()
	defer s.remapping.Unlock()
	if m := s.view.Load(); m != nil && int64(len(m.data)) >= need && m.refs.tryAcquire() {
		return m, nil // another reader mapped it meanwhile
	}
	f, err := s.file()
	if err != nil {
		return nil, err
	}
	size := s.size.Load()
	if need > size {
		return nil, errorf("eventlog: read of %d bytes past the end (%d) of %s", need, size, s.path(logExt))
	}
	m := &mapping{}
	if mm, ok := f.(mmapper); ok {
		// Map ahead of the file where the platform allows it, so that a
		// growing active segment is mapped once.
		if s.mapCapacity > size {
			m.data, m.unmap, err = mm.Mmap(int(s.mapCapacity))
		}
		if m.data == nil || err != nil {
			m.data, m.unmap, err = mm.Mmap(int(size))
		}
		if err != nil {
			return nil, mmapError(s.path(logExt), err)
		}
	} else {
		m.data = make([]byte, size)
		if _, err := f.ReadAt(m.data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, errorf("eventlog: read %s: %w", s.path(logExt), err)
		}
	}
	m.refs.n.Store(2) // the segment's and the caller's
	if old := s.view.Swap(m); old != nil {
		old.release()
	}
	return m, nil
}

// mmapError is the error of a failed mmap of path: err as it is when it
// names the operation and the file already, as the FS's own files' errors
// do (*fs.PathError), and wrapped with them otherwise.
func mmapError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "mmap" {
		return errorf("eventlog: %w", err)
	}
	return errorf("eventlog: mmap %s: %w", path, err)
}

// batchAt returns the complete, checksum-verified batch starting at pos in
// data. A batch that runs past the end of data yields errShortBatch.
func batchAt(data []byte, pos int64) (batchHeader, []byte, error) {
	h, err := batchHeaderAt(data, pos)
	if err != nil {
		return h, nil, err
	}
	// The CRC check may prefetch the bytes that follow the batch.
	if err := verifyBatchCRC(data[pos:]); err != nil {
		return h, nil, err
	}
	return h, data[pos : pos+h.size()], nil
}

// batchHeaderAt is batchAt without the CRC check: it parses the header of
// the batch at pos and checks that the batch fits in data.
func batchHeaderAt(data []byte, pos int64) (batchHeader, error) {
	if pos+batchHeaderSize > int64(len(data)) {
		return batchHeader{}, errShortBatch
	}
	h, err := parseBatchHeader(data[pos:])
	if err == nil && pos+h.size() > int64(len(data)) {
		err = errShortBatch
	}
	return h, err
}

// indexBuilder grows a segment's indexes as batches are appended or
// scanned, so that appending and rebuilding produce the same entries.
type indexBuilder struct {
	base       int64
	interval   int64
	bytesSince int64 // log bytes since the last offset index entry
	maxTs      int64 // largest timestamp so far, -1 if none
	lastRel    uint32
}

func (b *indexBuilder) needsEntry() bool { return b.bytesSince >= b.interval }

// add records the batch h at pos, appending index entries to x when an index
// point is reached.
func (b *indexBuilder) add(x *segmentIndex, h *batchHeader, pos int64) {
	rel := uint32(h.BaseOffset - b.base)
	b.maxTs = max(b.maxTs, h.MaxTimestamp)
	if b.needsEntry() {
		x.offsets = append(x.offsets, offsetEntry{rel: rel, pos: uint32(pos)})
		x.addTime(b.maxTs, rel)
		b.bytesSince = 0
	}
	b.bytesSince += h.size()
	b.lastRel = rel
}

// seal appends the closing time index entry, so that the time index ends
// with the segment's largest timestamp at its last batch.
func (b *indexBuilder) seal(x *segmentIndex) {
	if b.maxTs < 0 {
		return
	}
	last := timeEntry{maxTimestamp: b.maxTs, rel: b.lastRel}
	if n := len(x.times); n == 0 || x.times[n-1] != last {
		x.times = append(x.times, last)
	}
}

// scanResult is what a scan of a segment's bytes found.
type scanResult struct {
	end        int64 // position after the last good batch
	nextOffset int64 // offset after the last good batch
	firstTs    int64 // max timestamp of the first batch scanned, -1 if none
	firstBase  int64 // base offset of the first batch scanned
	lastPos    int64 // position of the last good batch
	batches    int
	err        error // why the scan stopped before len(data), nil at a clean end
}

// scan walks the batches of data from pos, checking each one and feeding
// the builder. expected is the lowest base offset the first batch may have.
func scan(data []byte, pos, expected int64, b *indexBuilder, x *segmentIndex) scanResult {
	r := scanResult{end: pos, nextOffset: expected, firstTs: -1}
	for r.end < int64(len(data)) {
		h, _, err := batchAt(data, r.end)
		if err == nil && h.BaseOffset < r.nextOffset {
			err = fmt.Errorf("batch base offset %d is below the expected %d", h.BaseOffset, r.nextOffset)
		}
		if err != nil {
			r.err = err
			return r
		}
		b.add(x, &h, r.end)
		if r.batches == 0 {
			r.firstTs, r.firstBase = h.MaxTimestamp, h.BaseOffset
		}
		r.lastPos = r.end
		r.batches++
		r.end += h.size()
		r.nextOffset = h.lastOffset() + 1
	}
	return r
}

// loadIndex returns the segment's indexes, reading them from their files on
// first use and rebuilding them from the log when they are missing, short or
// inconsistent. rebuilt reports whether it had to rebuild.
func (s *segment) loadIndex(interval int64) (idx *segmentIndex, rebuilt bool, err error) {
	s.mu.RLock()
	idx, err = s.mu.index, s.mu.indexErr
	s.mu.RUnlock()
	if idx != nil {
		return idx, false, err
	}
	return s.indexFromLog(interval, true)
}

// readIndex is loadIndex for a read, which may go as far as damage in a
// closed segment's log: for such a segment it returns, with no error, the
// index of the batches before the damage, and the read fails where it
// meets the damage, as it does when the segment's index files are there.
// A read of the records before the damage succeeds.
func (s *segment) readIndex(interval int64) (idx *segmentIndex, rebuilt bool, err error) {
	idx, rebuilt, err = s.loadIndex(interval)
	if idx != nil {
		err = nil
	}
	return idx, rebuilt, err
}

// rebuildIndex replaces the loaded index of a closed segment, which a
// lookup found not matching the log, with one rebuilt from the log, and
// writes its files anew. Readers holding the old one may go on with it:
// indexes carry no authority, and every use of an entry checks it. Where
// the log is damaged, the index it installs and returns is that of the
// batches before the damage, with the *CorruptError, as a load that finds
// no index files leaves it (see rebuildFailed).
func (s *segment) rebuildIndex(interval int64) (*segmentIndex, error) {
	idx, _, err := s.indexFromLog(interval, false)
	return idx, err
}

// rebuildFailed returns what an earlier rebuild of the segment's index
// (or, for a closed segment, its load) met, so that a lookup does not
// scan the log again to meet it: for a closed segment whose log is
// damaged, the index of the batches before the damage and the damage;
// for the active segment, the error its rebuild met, with no index (its
// appender's stays). The error is nil where none failed.
func (s *segment) rebuildFailed(active bool) (*segmentIndex, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if active {
		return nil, s.mu.rebuildErr
	}
	if s.mu.indexErr != nil {
		return s.mu.index, s.mu.indexErr
	}
	return nil, nil
}

// indexFromLog loads the segment's indexes from its files, if fromFiles is
// set and they match the log, or else rebuilds them by scanning the log,
// and installs them: only where none is loaded, unless fromFiles is unset
// (a rebuild replaces the loaded index).
func (s *segment) indexFromLog(interval int64, fromFiles bool) (idx *segmentIndex, rebuilt bool, err error) {
	size := s.size.Load()
	m, err := s.viewFor(size)
	if err != nil {
		return nil, false, err
	}
	defer m.release()
	data := m.data[:size]
	var b *indexBuilder
	ok := false
	if fromFiles {
		idx, b, _, ok = s.readIndexFiles(data, interval)
	}
	if !ok {
		idx = &segmentIndex{}
		b = &indexBuilder{base: s.base, interval: interval, maxTs: -1}
		r := scan(data, 0, s.base, b, idx)
		if r.err != nil {
			err := &CorruptError{Path: s.path(logExt), Pos: r.end, Offset: r.nextOffset, Reason: r.err.Error()}
			// Keep what the scan indexed, for reads before the damage,
			// and the damage, so that lookups do not scan again to meet
			// it: a rebuild replaces the index loaded from the files.
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.mu.index == nil || !fromFiles && s.mu.indexErr == nil {
				s.mu.index, s.mu.indexErr = idx, err
				s.mu.damage.pos, s.mu.damage.newest = r.end, b.maxTs
			}
			return s.mu.index, true, s.mu.indexErr
		}
		b.seal(idx)
		rebuilt = true
		// Keep the rebuilt index for the next Open; failing to is harmless.
		_ = s.inPlace(func() error { return s.writeIndexFiles(idx) })
	}
	s.maxTimestamp.Store(b.maxTs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.index == nil || !fromFiles {
		s.mu.index = idx
	}
	return s.mu.index, rebuilt, nil
}

// indexLoaded reports whether the segment's indexes are in memory, so that
// loadIndex returns them, and maxTimestamp is known, with no I/O. For a
// segment whose log is damaged it is false: loadIndex fails.
func (s *segment) indexLoaded() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.index != nil && s.mu.indexErr == nil
}

// readIndexFiles reads a segment's index files and checks them against the
// log: the last offset entry must point at a batch with its offset, no batch
// may start more than one index interval after it (else the index is short),
// and the time index must end with the segment's largest timestamp at its
// last batch. It reports false when the indexes must be rebuilt.
func (s *segment) readIndexFiles(data []byte, interval int64) (idx *segmentIndex, b *indexBuilder, next int64, ok bool) {
	size := int64(len(data))
	offBytes, err1 := readWholeFile(s.fsys, s.path(indexExt), indexFileLimit(size, offsetEntrySize))
	timeBytes, err2 := readWholeFile(s.fsys, s.path(timeIndexExt), indexFileLimit(size, timeEntrySize))
	// A segment with no index entries has no index files (see sealLocked);
	// the checks below confirm it is that small.
	noFiles := errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist)
	if !noFiles && (err1 != nil || err2 != nil) {
		return nil, nil, 0, false
	}
	offsets, ok := decodeOffsetIndex(offBytes, int64(len(data)))
	if !ok {
		return nil, nil, 0, false
	}
	var tail offsetEntry
	if n := len(offsets); n > 0 {
		tail = offsets[n-1]
	}
	// Re-scan the batches after the last entry. The builder must add no
	// entries there, so it starts far below the interval.
	b = &indexBuilder{base: s.base, interval: interval, maxTs: -1, bytesSince: -1 << 62}
	expected := s.base + int64(tail.rel)
	r := scan(data, int64(tail.pos), expected, b, &segmentIndex{})
	switch {
	case r.err != nil, r.batches == 0 && len(data) > 0:
		return nil, nil, 0, false
	case len(offsets) > 0 && r.firstBase != expected:
		return nil, nil, 0, false
	case r.lastPos-int64(tail.pos) >= interval:
		return nil, nil, 0, false
	}
	times, ok := decodeTimeIndex(timeBytes, b.lastRel)
	if !ok {
		return nil, nil, 0, false
	}
	idx = &segmentIndex{offsets: offsets, times: times}
	if noFiles {
		b.seal(idx)
	}
	b.maxTs = max(b.maxTs, idx.maxTimestamp())
	if len(data) > 0 {
		// The last entry is the segment's newest timestamp, by which
		// retention deletes it: it must match the batches, not only
		// those after the last offset entry, which the scan read. A
		// segment with no timestamps has no entry (see addTime).
		n := len(idx.times)
		switch {
		case b.maxTs < 0 && n > 0:
			return nil, nil, 0, false
		case b.maxTs < 0:
		case n == 0 || idx.times[n-1] != (timeEntry{maxTimestamp: b.maxTs, rel: b.lastRel}) || !idx.lastTimeEntriesHold(n, data, s.base):
			return nil, nil, 0, false
		}
	}
	b.bytesSince = r.end - int64(tail.pos)
	return idx, b, r.nextOffset, true
}

// writeIndexFiles writes both index files from idx. They are rewritten
// whole and not fsynced: indexes carry no authority, and one that a crash
// left short or torn fails the checks in readIndexFiles and is rebuilt.
//
// A segment smaller than one index interval has no offset entries; it gets
// no index files, which saves two file creations per small topic (file
// creation is the dominant cost of a short-lived log), and readIndexFiles
// accepts their absence after checking the segment is that small.
func (s *segment) writeIndexFiles(idx *segmentIndex) error {
	if len(idx.offsets) == 0 {
		var err error
		for _, ext := range []string{indexExt, timeIndexExt} {
			if rerr := s.fsys.Remove(s.path(ext)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		return err
	}
	for _, f := range []struct {
		ext  string
		data []byte
	}{
		{indexExt, encodeOffsetIndex(idx.offsets)},
		{timeIndexExt, encodeTimeIndex(idx.times)},
	} {
		if err := writeWholeFile(s.fsys, s.path(f.ext), f.data, false); err != nil {
			return err
		}
	}
	return nil
}

// readWholeFile reads the file at path, which holds at most limit bytes
// when it is sound. A larger one is not read past limit, and fails: a
// damaged file cannot exhaust memory.
func readWholeFile(fsys FS, path string, limit int64) ([]byte, error) {
	b, err := readFilePrefix(fsys, path, min(limit, math.MaxInt64-1)+1)
	if err == nil && int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes a sound one holds", path, limit)
	}
	return b, err
}

// readFilePrefix reads the first n bytes of the file at path, or all of a
// shorter one.
func readFilePrefix(fsys FS, path string, n int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// indexFileLimit is the most bytes an index file of entrySize-byte entries
// holds for a segment of segmentBytes: at most an entry a batch, and a
// closing one.
func indexFileLimit(segmentBytes int64, entrySize int) int64 {
	return (segmentBytes/batchHeaderSize + 1) * int64(entrySize)
}

// writer returns the file appends go to. Only a segment that was active in
// this process has one; it is set before the segment is published.
func (s *segment) writer() File { return s.w }

// sealLocked appends the closing time index entry and writes both index
// files. The partition's append lock must be held.
func (s *segment) sealLocked() error {
	s.mu.Lock()
	s.builder.seal(s.mu.index)
	idx := *s.mu.index
	s.mu.Unlock()
	s.indexFiles.Lock()
	defer s.indexFiles.Unlock()
	s.indexFiles.sealed = true
	return s.writeIndexFiles(&idx)
}

// startPosition is where a read of offset starts: the indexed batch at or
// before it, or the segment start when there is no entry or the entry does
// not point at the batch it names (indexes carry no authority), which held
// reports false for.
func (s *segment) startPosition(idx *segmentIndex, data []byte, offset int64) (pos int64, held bool) {
	if offset <= s.base {
		return 0, true
	}
	s.mu.RLock()
	entry, ok := idx.lookup(uint32(offset - s.base))
	s.mu.RUnlock()
	if !ok {
		return 0, true
	}
	if h, err := parseBatchHeader(data[min(int64(entry.pos), int64(len(data))):]); err != nil || h.BaseOffset != s.base+int64(entry.rel) {
		return 0, false
	}
	return int64(entry.pos), true
}
