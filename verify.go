package eventlog

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// VerifyOptions configure Verify. A nil *VerifyOptions means defaults.
type VerifyOptions struct {
	// FS is the filesystem the log is on. Default: OSFS{}. Verify only
	// reads through it.
	FS FS
	// Progress, when set, is called as the check goes on, with the bytes
	// of segment files checked so far and their total, and once at the
	// end with done equal to total. It runs on Verify's goroutine.
	Progress func(done, total int64)
}

// ProblemKind says what a problem Verify found means for the log.
type ProblemKind int8

const (
	// ProblemCorrupt is damage that no crash explains: a batch that fails
	// its checksum, does not parse, or is out of sequence in a closed
	// segment, before the active segment's recovery point, or anywhere in
	// the active segment of a log closed cleanly; offsets
	// missing or repeated between segments; segment files missing; a
	// damaged metadata file. Open refuses it, or reads return a
	// *CorruptError when they reach it.
	ProblemCorrupt ProblemKind = iota + 1
	// ProblemTornTail is an incomplete or damaged end of the active
	// segment after its recovery point, in a log not closed cleanly
	// since: what a crash leaves, which the
	// next Open that may write cuts (no acknowledged record is lost), or a
	// batch that a live writer is writing while Verify reads.
	ProblemTornTail
	// ProblemIndex is an index file, or the recovery point checkpoint,
	// that does not match the log. They carry no authority: an index is
	// rebuilt when next loaded if its end does not match the log, and
	// every lookup checks the entry it relies on, goes by the log if it
	// does not match, and rebuilds the index (but an active one of a
	// read-only Log, which another process writes); the checkpoint is
	// ignored
	// where it does not match. The exception
	// is a .txnindex of a closed segment (or of the active segment of a
	// cleanly closed log) that is there and well formed but lacks an
	// aborted transaction of the segment, or lists one the segment does
	// not hold: Open reads it as it is, so read_committed
	// readers see aborted records or miss committed ones, until the file
	// is deleted and Open rebuilds it.
	ProblemIndex
)

// String names the kind: "corrupt", "torn-tail" or "index".
func (k ProblemKind) String() string {
	switch k {
	case ProblemCorrupt:
		return "corrupt"
	case ProblemTornTail:
		return "torn-tail"
	case ProblemIndex:
		return "index"
	}
	return fmt.Sprintf("ProblemKind(%d)", int8(k))
}

// Problem is one thing Verify found wrong, with the file and the byte
// position where it starts.
type Problem struct {
	Kind   ProblemKind
	Path   string // the damaged file
	Pos    int64  // byte position in Path where the problem starts
	Offset int64  // the log offset expected at Pos, -1 when unknown
	Reason string // what is wrong, e.g. "crc mismatch"
}

// String describes the problem on one line.
func (p Problem) String() string {
	if p.Offset >= 0 {
		return fmt.Sprintf("%s: %s at byte %d (offset %d): %s", p.Kind, p.Path, p.Pos, p.Offset, p.Reason)
	}
	return fmt.Sprintf("%s: %s at byte %d: %s", p.Kind, p.Path, p.Pos, p.Reason)
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	Topics     int   // topics with readable metadata
	Partitions int   // partitions with a directory: of those topics, and of topics whose metadata is damaged
	Segments   int   // segment files checked
	Batches    int64 // batches checked, up to the first problem of each segment
	Records    int64 // records in those batches, by their headers
	Bytes      int64 // bytes of the segment files
	// Problems are in the order found: by topic, partition and position.
	Problems []Problem
}

// Corrupt reports whether a problem of kind ProblemCorrupt was found.
func (r *VerifyReport) Corrupt() bool {
	return slices.ContainsFunc(r.Problems, func(p Problem) bool { return p.Kind == ProblemCorrupt })
}

// Verify checks the log in dir without opening it, so that it works on a
// log that Open refuses and on one that another process has open: every
// topic's metadata; every batch of every segment (a topic whose metadata
// is damaged too, in the partition directories it has) — it parses, its
// CRC-32C matches, its offsets follow the batch before (densely, unless the
// partition was ever compacted) and the segments follow one another; the
// active segment against its recovery point, as Open judges it;
// producer-ids.meta, which Open does not read; the files that show
// segment files missing, which Open refuses (see Options.Repair); every
// offset and time index entry of the closed segments against the batch it
// names; and the .txnindex of each closed segment against the transaction
// markers in it (an active segment's indexes are rewritten in place while
// a Log writes it, and lag its log by design, so they are not checked,
// but for its .txnindex when the log was closed cleanly, which Open then
// trusts as it is). It changes nothing. The error is for what kept it
// from checking (ctx ended, an I/O error); what it found wrong is in the
// report.
//
// A batch that fails a check ends the check of its segment: what follows
// cannot be trusted to start where the damaged batch says it ends.
func Verify(ctx context.Context, dir string, opts *VerifyOptions) (*VerifyReport, error) {
	v := verifyRun{ctx: ctx, dir: dir, fsys: OSFS{}, report: &VerifyReport{}}
	if opts != nil {
		if opts.FS != nil {
			v.fsys = opts.FS
		}
		v.progress = opts.Progress
	}
	v.fsys = readOnlyFS{fs: v.fsys}
	names, err := v.fsys.ReadDir(filepath.Join(dir, topicsDirName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, errorf("eventlog: verify %s: not a log directory: %w", dir, err)
		}
		return nil, errorf("eventlog: verify %s: %w", dir, err)
	}
	var parts []verifyPartition
	for _, name := range names {
		if _, ok := isDeletedTopicDir(name); ok {
			continue // Open finishes deleting it
		}
		found, err := v.topic(filepath.Join(dir, topicsDirName, name))
		if err != nil {
			return nil, err
		}
		parts = append(parts, found...)
	}
	for _, p := range parts {
		if err := v.partition(p); err != nil {
			return nil, err
		}
	}
	// Open does not read producer-ids.meta: damage there fails every
	// producer id allocation instead.
	_, err = readProducerIDs(v.fsys, filepath.Join(dir, producerIDsName))
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		v.problem(ProblemCorrupt, ce.Path, ce.Pos, -1, "%s; every producer id allocation fails until Open with Options.Repair sets the file aside", ce.Reason)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, errorf("eventlog: verify %s: %w", dir, err)
	}
	v.report.Partitions = len(parts)
	if v.progress != nil {
		v.progress(v.total, v.total) // a live log's files may have changed size since they were summed
	}
	return v.report, nil
}

// verifyRun is the state of one Verify.
type verifyRun struct {
	ctx      context.Context
	dir      string // the log's
	fsys     FS
	report   *VerifyReport
	progress func(done, total int64)
	done     int64 // bytes of segment files checked
	total    int64
	reported int64  // done at the last progress call
	buf      []byte // the window of segmentReader, reused
}

// verifyPartition is a partition to check.
type verifyPartition struct {
	dir          string
	segmentBytes int64 // the most a segment can hold
	compacts     bool  // its topic's cleanup policy compacts
}

func (v *verifyRun) problem(kind ProblemKind, path string, pos, offset int64, format string, args ...any) {
	v.report.Problems = append(v.report.Problems, Problem{Kind: kind, Path: path, Pos: pos, Offset: offset, Reason: fmt.Sprintf(format, args...)})
}

// topic checks a topic's metadata and returns its partitions, adding the
// sizes of their segment files to the total.
func (v *verifyRun) topic(dir string) ([]verifyPartition, error) {
	metaPath := filepath.Join(dir, topicMetaName)
	version, payload, err := readMetaFile(v.fsys, metaPath)
	var cfg TopicConfig
	if err == nil {
		var stored string
		if stored, cfg, err = decodeTopicMeta(metaPath, version, payload); err == nil && stored != filepath.Base(dir) {
			err = &CorruptError{Path: metaPath, Offset: -1, Reason: fmt.Sprintf("metadata names topic %q", stored)}
		}
	}
	var ce *CorruptError
	switch {
	case err != nil && isStrayFile(v.fsys, dir):
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		// A creation that crashed, which Open removes, unless it holds
		// records: then the metadata was lost.
		if path, ok := firstRecordFile(v.fsys, dir); ok {
			v.problem(ProblemCorrupt, metaPath, 0, -1, "topic.meta is missing but %s holds records", path)
		}
		return nil, nil
	case errors.As(err, &ce):
		v.problem(ProblemCorrupt, ce.Path, ce.Pos, -1, "%s", ce.Reason)
		// Its records are checked all the same, in the partition
		// directories there are, as a topic of default settings that
		// may compact: offsets with gaps are no damage.
		return v.partitionsOnDisk(dir)
	case err != nil:
		return nil, errorf("eventlog: verify %s: %w", dir, err)
	}
	v.report.Topics++
	var ids []int32
	for id := range int32(cfg.Partitions) {
		ids = append(ids, id)
	}
	return v.partitions(dir, cfg, ids)
}

// partitions returns the partitions ids of the topic in dir, of
// configuration cfg, that have a directory, adding the sizes of their
// segment files to the total.
func (v *verifyRun) partitions(dir string, cfg TopicConfig, ids []int32) ([]verifyPartition, error) {
	// Verify has no Options: a topic's settings that it does not override
	// are the defaults, as the segment size only bounds what is read of
	// the index files of a lost segment.
	defaults, _ := (&Options{}).withDefaults()
	pc := cfg.resolve(&defaults)
	var parts []verifyPartition
	for _, id := range ids {
		pdir := filepath.Join(dir, partitionDirName(id))
		names, err := v.fsys.ReadDir(pdir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // lost in a crash before any append; Open recreates it
		}
		if err != nil {
			return nil, errorf("eventlog: verify %s: %w", pdir, err)
		}
		for _, name := range names {
			if _, ok := parseSegmentName(name, logExt); ok || isCleanedOutput(name) {
				if info, err := v.fsys.Stat(filepath.Join(pdir, name)); err == nil {
					v.total += info.Size()
				}
			}
		}
		parts = append(parts, verifyPartition{dir: pdir, segmentBytes: pc.segmentBytes + int64(pc.maxBatchBytes), compacts: pc.cleanup.compacts()})
	}
	return parts, nil
}

// partitionsOnDisk returns the partitions of the topic in dir whose
// metadata cannot be read: those whose directory is there, as a topic of
// default settings that compacts, whose offsets may have gaps.
func (v *verifyRun) partitionsOnDisk(dir string) ([]verifyPartition, error) {
	names, err := v.fsys.ReadDir(dir)
	if err != nil {
		return nil, errorf("eventlog: verify %s: %w", dir, err)
	}
	var ids []int32
	for _, name := range names {
		id, err := strconv.ParseInt(name, 10, 32)
		if err == nil && id >= 0 && partitionDirName(int32(id)) == name {
			ids = append(ids, int32(id))
		}
	}
	slices.Sort(ids)
	return v.partitions(dir, TopicConfig{Partitions: 1, CleanupPolicy: CleanupCompact}, ids)
}

func isCleanedOutput(name string) bool {
	name, ok := strings.CutSuffix(name, cleanedExt)
	if ok {
		_, ok = parseSegmentName(name, logExt)
	}
	return ok
}

// partition checks the metadata and segments of one partition.
func (v *verifyRun) partition(p verifyPartition) error {
	// The recovery point first, then the listing: a live writer may roll
	// its active segment meanwhile, and a point persisted after the
	// listing could lie in a segment the listing missed. A stable listing
	// shows a new segment's .log along with its index files, so that they
	// are not taken for those of a missing segment.
	rp := v.recoveryPoint(p.dir)
	names, err := listStable(v.fsys, p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted since the topic was listed
	}
	if err != nil {
		return errorf("eventlog: verify %s: %w", p.dir, err)
	}
	has := func(name string) bool { return slices.Contains(names, name) }
	var swap []swapGroup
	// By the file, not the policy, as Open: a topic switched to delete
	// after a swap failed past its commit still has it to finish.
	if has(cleanerMetaName) {
		meta, err := readCleanerMeta(v.fsys, p.dir)
		if err := v.metadata(p.dir, err); err != nil {
			return err
		}
		swap = meta.Swap
	}
	var logStart int64
	var hasStart bool
	if has(logStartName) {
		var err error
		logStart, hasStart, err = readLogStart(v.fsys, p.dir)
		if err := v.metadata(p.dir, err); err != nil {
			return err
		}
	}
	bases, paths := segmentFiles(p.dir, names, swap)
	// Segments missing at the end, or all of them, as Open finds them.
	clean := len(bases) == 0 && closedCleanly(v.fsys, v.dir)
	if lost := lostSegmentsIn(v.fsys, p.dir, p.segmentBytes, names, bases, rp, rp.base >= 0, clean); lost != nil {
		ce := lost.corrupt()
		v.problem(ProblemCorrupt, ce.Path, 0, ce.Offset, "%s", ce.Reason)
	}
	// Offsets may have gaps where the topic compacts, or where the
	// partition was ever compacted, which leaves a cleaner checkpoint (a
	// topic may stop compacting later), as Open judges (mayHaveGaps): the
	// checkpoint only saves the cleaner work, and may be lost.
	gaps := p.compacts || has(cleanerMetaName)
	txns := &verifyTxns{start: logStart}
	next := int64(-1) // offset after the last segment checked, -1 when unknown
	for i := 0; i < len(bases); i++ {
		base := bases[i]
		if hasStart && base <= logStart {
			// The segment before lies wholly below the log start offset:
			// Open drops it, and it need not meet this one (see
			// belowLogStart).
			next = -1
		}
		if next >= 0 && next < base && !gaps {
			// The listing of a live directory may miss a segment yet show
			// a later one (see listStable): the segment that starts where
			// the last one ended is there now.
			if missing := filepath.Join(p.dir, segmentFileName(next, logExt)); v.exists(missing) {
				bases = slices.Insert(bases, i, next)
				paths[next], base = missing, next
			}
		}
		seg := verifySegment{path: paths[base], base: base, active: i == len(bases)-1, gaps: gaps, rpPos: -1, txns: txns,
			cleanedTxnIndex: slices.ContainsFunc(swap, func(g swapGroup) bool { return g.Base == base && g.TxnIndex })}
		if i > 0 {
			seg.before = filepath.Base(paths[bases[i-1]])
		}
		if seg.active && rp.base == base {
			seg.rpPos = rp.pos
		}
		seg.closed = seg.active && closedCleanly(v.fsys, v.dir)
		var err error
		if next, err = v.segment(&seg, next); err != nil {
			return err
		}
		v.report.Segments++
	}
	return nil
}

// exists reports whether there is a file at path.
func (v *verifyRun) exists(path string) bool {
	_, err := v.fsys.Stat(path)
	return err == nil
}

// recoveryPoint reads the recovery point of the partition in dir; its
// base is -1 when there is none to use.
func (v *verifyRun) recoveryPoint(dir string) recoveryPoint {
	path := filepath.Join(dir, recoveryPointName)
	version, payload, err := readMetaFile(v.fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return recoveryPoint{base: -1}
	}
	rp := recoveryPoint{base: -1}
	if err == nil {
		rp, err = decodeRecoveryPoint(path, version, payload)
	}
	if err != nil {
		v.problem(ProblemIndex, path, 0, -1, "unreadable recovery point, which Open ignores (it then checks the whole active segment): %v", err)
		return recoveryPoint{base: -1}
	}
	return rp
}

// metadata reports err, from reading a metadata file of the partition in
// dir, as a problem if it is damage, and returns it if it kept the file
// from being read.
func (v *verifyRun) metadata(dir string, err error) error {
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		v.problem(ProblemCorrupt, ce.Path, ce.Pos, -1, "%s", ce.Reason)
	case err != nil:
		return errorf("eventlog: verify %s: %w", dir, err)
	}
	return nil
}

// verifySegment is a segment file to check.
type verifySegment struct {
	path   string
	base   int64
	before string // the name of the segment file before, "" for the first
	active bool
	gaps   bool  // offsets may have gaps (compaction)
	rpPos  int64 // the recovery point's position in the active segment, -1 for its start
	txns   *verifyTxns
	// closed is set for the active segment of a log closed cleanly as its
	// check began: its .txnindex is then complete, as Open trusts it.
	closed bool
	// cleanedTxnIndex is set for the first segment of a committed swap
	// whose .txnindex a cleaned one replaces: the journal says so.
	cleanedTxnIndex bool
}

// segment checks one segment file, which should start at offset next (-1:
// unknown), and returns the offset after its last batch (-1 if damage
// made it unknown).
func (v *verifyRun) segment(s *verifySegment, next int64) (int64, error) {
	f, err := v.fsys.OpenFile(s.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) && !s.active {
		s.txns.damaged() // its transactions are not followed
		return -1, nil   // retention or a cleaning removed it since the listing
	}
	if err != nil {
		return -1, errorf("eventlog: verify %s: %w", s.path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return -1, errorf("eventlog: verify %s: %w", s.path, err)
	}
	size := info.Size()
	v.report.Bytes += size
	switch {
	case next < 0:
	case next > s.base:
		v.problem(ProblemCorrupt, s.path, 0, next, "the segment starts at offset %d, inside %s before it, whose records run to offset %d: two segment files hold offsets %d to %d", s.base, s.before, next-1, s.base, next-1)
	case next < s.base && !s.gaps:
		v.problem(ProblemCorrupt, s.path, 0, next, "offsets %d to %d are missing between this segment and %s before it, which ends at offset %d", next, s.base-1, s.before, next)
	}
	next = s.base
	dense := !s.gaps || s.active // the active segment is never cleaned
	ix := v.loadIndexes(s, size)
	r := v.windowOver(f, size)
	start := v.done
	pos := int64(0)
	for pos < size {
		h, err := r.batch(pos)
		switch {
		case errors.Is(err, errVerifyIO):
			return -1, errorf("eventlog: verify %s: %w", s.path, err)
		case err != nil:
		case dense && h.BaseOffset != next:
			err = fmt.Errorf("batch base offset %d is not the expected %d", h.BaseOffset, next)
		case h.BaseOffset < next:
			err = fmt.Errorf("batch base offset %d is below the expected %d", h.BaseOffset, next)
		}
		if err != nil {
			s.txns.damaged()
			// After a clean Close the whole active segment was fsynced,
			// and Open takes damage anywhere in it for corruption;
			// unless a writer has opened the log since the check
			// began, and may be writing what was read.
			closed := s.closed && closedCleanly(v.fsys, v.dir)
			switch {
			case s.active && closed:
				v.problem(ProblemCorrupt, s.path, pos, next, "%v; the segment was fsynced whole by a clean Close, so no crash explains it; the rest of the segment is not checked", err)
				next = -1
			case s.active && pos >= max(s.rpPos, 0):
				v.problem(ProblemTornTail, s.path, pos, next, "%v, after the recovery point at byte %d: a crash left it (the next Open that may write cuts it), or a writer is writing it", err, max(s.rpPos, 0))
			default:
				v.problem(ProblemCorrupt, s.path, pos, next, "%v; the rest of the segment is not checked", err)
				next = -1
			}
			v.done = start + size
			return next, nil
		}
		ix.batch(v, s, pos, &h)
		s.txns.batch(&h, func() ([]byte, error) { return r.window(pos, h.size()) })
		v.report.Batches++
		v.report.Records += int64(h.RecordCount)
		next = h.lastOffset() + 1
		pos += h.size()
		if v.done = start + pos; v.done-v.reported >= 8<<20 {
			if err := v.tick(); err != nil {
				return -1, err
			}
		}
	}
	ix.finish(v, s, pos)
	s.txns.finish(v, s, next)
	if s.active && s.rpPos > pos {
		v.problem(ProblemCorrupt, s.path, pos, next, "the segment ends at byte %d, but its first %d bytes were fsynced (the recovery point)", pos, s.rpPos)
	}
	v.done = start + size
	return next, v.tick()
}

// errVerifyIO marks a read that failed, as opposed to bytes that are wrong.
var errVerifyIO = errors.New("read failed")

// segmentReader reads a segment file through a window that it moves
// forward: Verify reads each byte once, in order, and reading it into a
// buffer that stays in the CPU's cache is several times faster than
// mapping the file, whose first touch of each page costs a fault.
type segmentReader struct {
	f     File
	size  int64
	buf   []byte // the window's bytes
	start int64  // file position of buf[0]
	n     int    // valid bytes in buf
}

// windowOver returns a segmentReader over f, of size bytes, reusing the
// verifyRun's buffer.
func (v *verifyRun) windowOver(f File, size int64) *segmentReader {
	if v.buf == nil {
		v.buf = make([]byte, 4<<20)
	}
	return &segmentReader{f: f, size: size, buf: v.buf}
}

// window returns the bytes of [pos, pos+n) that are in the file, at most
// a buffer's worth, reading them if the window does not hold them.
func (r *segmentReader) window(pos, n int64) ([]byte, error) {
	n = min(n, r.size-pos, int64(len(r.buf)))
	if pos < r.start || pos+n > r.start+int64(r.n) {
		r.start = pos
		m, err := r.f.ReadAt(r.buf[:min(int64(len(r.buf)), r.size-pos)], pos)
		r.n = m
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %w", errVerifyIO, err)
		}
	}
	from := pos - r.start
	return r.buf[from : from+min(n, int64(r.n)-from)], nil
}

// batch reads the batch at pos: its header, and its CRC-32C checked over
// the bytes it covers, however many windows they span.
func (r *segmentReader) batch(pos int64) (batchHeader, error) {
	b, err := r.window(pos, batchHeaderSize)
	if err != nil {
		return batchHeader{}, err
	}
	h, err := parseBatchHeader(b)
	if err != nil {
		return h, err
	}
	end := pos + h.size()
	if end > r.size {
		return h, errShortBatch
	}
	crc := uint32(0)
	for at := pos + batchAttributesPos; at < end; {
		b, err := r.window(at, end-at)
		if err != nil {
			return h, err
		}
		crc = crc32.Update(crc, castagnoli, b)
		at += int64(len(b))
	}
	if crc != h.CRC {
		return h, errCRCMismatch
	}
	return h, nil
}

// tick reports progress and checks the context.
func (v *verifyRun) tick() error {
	v.reported = v.done
	if v.progress != nil {
		v.progress(v.done, v.total)
	}
	return v.ctx.Err()
}

// indexCheck walks a segment's index files along with its batches.
type indexCheck struct {
	offsets []offsetEntry
	times   []timeEntry
	nextOff int   // next offset entry to meet
	nextTs  int   // next time entry to meet
	maxTs   int64 // running largest timestamp
	lastRel uint32
	failed  bool // a problem was reported; the rest is not checked
}

// loadIndexes reads a closed segment's index files; a segment without
// them is fine (it is small, or its index is rebuilt on first read).
func (v *verifyRun) loadIndexes(s *verifySegment, size int64) *indexCheck {
	ix := &indexCheck{maxTs: -1, failed: true}
	stem, ok := strings.CutSuffix(s.path, logExt)
	if !ok || s.active {
		return ix // an unfinished swap's output has no index yet; see Verify for the active segment
	}
	offPath, timePath := stem+indexExt, stem+timeIndexExt
	offBytes, err1 := readWholeFile(v.fsys, offPath, indexFileLimit(size, offsetEntrySize))
	timeBytes, err2 := readWholeFile(v.fsys, timePath, indexFileLimit(size, timeEntrySize))
	if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
		return ix
	}
	switch {
	case err1 != nil:
		v.problem(ProblemIndex, offPath, 0, -1, "unreadable offset index: %v", err1)
	case err2 != nil:
		v.problem(ProblemIndex, timePath, 0, -1, "unreadable time index: %v", err2)
	default:
		if ix.offsets, ok = decodeOffsetIndex(offBytes, math.MaxInt64); !ok {
			v.problem(ProblemIndex, offPath, 0, -1, "malformed offset index: its %d bytes are not whole entries with increasing offsets and positions", len(offBytes))
		} else if ix.times, ok = decodeTimeIndex(timeBytes, math.MaxUint32); !ok {
			v.problem(ProblemIndex, timePath, 0, -1, "malformed time index: its %d bytes are not whole entries with increasing timestamps and offsets", len(timeBytes))
		} else {
			ix.failed = false
		}
	}
	return ix
}

// batch checks the index entries that name the batch h at pos.
func (ix *indexCheck) batch(v *verifyRun, s *verifySegment, pos int64, h *batchHeader) {
	if ix.failed {
		return
	}
	ix.maxTs = max(ix.maxTs, h.MaxTimestamp)
	ix.lastRel = uint32(h.BaseOffset - s.base)
	stem := strings.TrimSuffix(s.path, logExt)
	for ; ix.nextOff < len(ix.offsets) && int64(ix.offsets[ix.nextOff].pos) <= pos; ix.nextOff++ {
		e := ix.offsets[ix.nextOff]
		if int64(e.pos) < pos || s.base+int64(e.rel) != h.BaseOffset {
			ix.fail(v, stem+indexExt, int64(ix.nextOff)*offsetEntrySize, "entry %d names offset %d at byte %d of the log, which is not where a batch with that offset starts; a read that looks it up finds that out and rebuilds the index", ix.nextOff, s.base+int64(e.rel), e.pos)
			return
		}
	}
	for ; ix.nextTs < len(ix.times) && s.base+int64(ix.times[ix.nextTs].rel) <= h.BaseOffset; ix.nextTs++ {
		e := ix.times[ix.nextTs]
		if s.base+int64(e.rel) != h.BaseOffset || e.maxTimestamp != ix.maxTs {
			ix.fail(v, stem+timeIndexExt, int64(ix.nextTs)*timeEntrySize, "entry %d says the largest timestamp up to offset %d is %d, which does not match the log (%d at the batch at offset %d); a lookup by time that relies on it finds that out and rebuilds the index", ix.nextTs, s.base+int64(e.rel), e.maxTimestamp, ix.maxTs, h.BaseOffset)
			return
		}
	}
}

// finish checks, once the batches up to end are read, the entries past
// them and, for a closed segment, the time index's last entry.
func (ix *indexCheck) finish(v *verifyRun, s *verifySegment, end int64) {
	if ix.failed {
		return
	}
	base := strings.TrimSuffix(s.path, logExt)
	if ix.nextOff < len(ix.offsets) {
		e := ix.offsets[ix.nextOff]
		where := "inside the last batch"
		if int64(e.pos) >= end {
			where = fmt.Sprintf("past the last batch (the log ends at byte %d)", end)
		}
		ix.fail(v, base+indexExt, int64(ix.nextOff)*offsetEntrySize, "entry %d names offset %d at byte %d, %s; it is rebuilt when next loaded", ix.nextOff, s.base+int64(e.rel), e.pos, where)
		return
	}
	if ix.nextTs < len(ix.times) {
		ix.fail(v, base+timeIndexExt, int64(ix.nextTs)*timeEntrySize, "entry %d names offset %d, past the last batch; it is rebuilt when next loaded", ix.nextTs, s.base+int64(ix.times[ix.nextTs].rel))
		return
	}
	n := len(ix.times)
	switch {
	case end > 0 && ix.maxTs < 0 && n > 0:
		ix.fail(v, base+timeIndexExt, 0, "the segment's records have no timestamps, but the time index has %d entries; it is rebuilt when next loaded", n)
	case end > 0 && ix.maxTs >= 0 && (n == 0 || ix.times[n-1] != (timeEntry{maxTimestamp: ix.maxTs, rel: ix.lastRel})):
		ix.fail(v, base+timeIndexExt, int64(n)*timeEntrySize, "the last entry is not the segment's largest timestamp (%d) at its last batch (offset %d); it is rebuilt when next loaded", ix.maxTs, s.base+int64(ix.lastRel))
	}
}

func (ix *indexCheck) fail(v *verifyRun, path string, pos int64, format string, args ...any) {
	ix.failed = true
	v.problem(ProblemIndex, path, pos, -1, format, args...)
}
