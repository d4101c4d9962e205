package eventlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Swapping cleaned segments in. A cleaning replaces a run of old segments
// [S1..Sn], covering offsets [B, E), by one output named like S1
// ("<B>.log"). No filesystem renames several files at once, so the swap is a
// protocol of temporary names with one commit point, the atomic replacement
// of the partition's cleaner.meta:
//
//  1. Each output is written to "<B>.log.cleaned" and fsynced; in a
//     partition with producer history, its .txnindex (the entries of the
//     ABORT markers it keeps) to "<B>.txnindex.cleaned" too.
//  2. The partition directory is fsynced: the outputs' names are durable.
//  3. Commit: cleaner.meta is replaced (write temp, fsync, rename, fsync
//     directory) by one that lists every output as {B, E}, with the first
//     dirty offset the cleaning reached.
//  4. The old files are removed: "<b>.log" for every b in (B, E), and the
//     indexes of every b in [B, E).
//  5. Each "<B>.log.cleaned" is renamed over "<B>.log", the old S1, and
//     each "<B>.txnindex.cleaned" over "<B>.txnindex".
//  6. The directory is fsynced.
//  7. The partition's copy-on-write segment list is swapped under its append
//     lock, and the old segments are released.
//  8. cleaner.meta is replaced by one that lists no swap.
//
// What Open does, for each place a crash can stop this:
//
//   - before 3 completes: cleaner.meta lists no swap; Open removes every
//     "*.cleaned" file and the old segments stand, untouched;
//   - from 3 on: cleaner.meta lists the swap, and the outputs are durable
//     under their ".cleaned" names (steps 1-2 came first), so Open redoes
//     4 and 5 — each is idempotent: a missing old file was already removed,
//     a missing "<B>.log.cleaned" was already renamed, in which case
//     "<B>.log" must exist, and so was a missing "<B>.txnindex.cleaned"
//     of an output the journal says has one — removes the indexes of [B, E) (rebuilt on first
//     read), fsyncs the directory and does step 8.
//
// Either the old segments or the new ones are listed, never both or
// neither. Out-of-order write-back cannot break this: everything the
// journal (cleaner.meta) or Open relies on is fsynced before the step that
// relies on it — outputs before the commit, cleaner.meta's temporary file
// before its rename — so a power loss only decides which of the
// directory's unsynced changes survive, and Open's redo is idempotent for
// any subset of them. A failure after the commit fails the partition
// (appends return the error until the Log is reopened) and Open finishes
// the swap; a failure before it removes the outputs and leaves the
// partition as it was.
//
// A damaged cleaner.meta, which was fsynced, is corruption: Open refuses
// it unless Options.Repair, which sets it aside, and any "*.cleaned" file
// with it, as "<name>.broken-<nanos>". Its checkpoint is only an
// optimisation: the next cleaning starts from the log start. Whether it
// listed a committed swap is unknown, so the segments are kept as they
// are, and the outputs as copies.
//
// Readers are not disturbed: the cleaning keeps every old segment mapped,
// with its index loaded, from before step 4, so a reader that took an old
// segment reads its bytes on; the files' names go away but their contents
// stay until the last reader releases them. Offsets do not change, so a
// reader that finishes an old segment goes on at the same offset in the new
// list. Removing or renaming an open file needs POSIX semantics: on Windows
// step 4 fails while a reader has an old segment open.

// cleanedExt marks the output of a cleaning until it is swapped in.
const cleanedExt = ".cleaned"

// cleanerMetaName is the partition's cleaner checkpoint and swap journal.
const (
	cleanerMetaName    = "cleaner.meta"
	cleanerMetaVersion = 1
)

// The steps of a swap, in order; a failpoint may stop a swap after each.
const (
	swapStepWritten   = "written"    // step 1
	swapStepSynced    = "synced"     // step 2
	swapStepCommitted = "committed"  // step 3
	swapStepRemoved   = "removed"    // step 4
	swapStepRenamed   = "renamed"    // step 5
	swapStepDirSynced = "dir-synced" // step 6
	swapStepPublished = "published"  // step 7
	swapStepDone      = "done"       // step 8
)

var swapSteps = []string{swapStepWritten, swapStepSynced, swapStepCommitted, swapStepRemoved,
	swapStepRenamed, swapStepDirSynced, swapStepPublished, swapStepDone}

// cleanerMeta is the JSON payload of cleaner.meta. Field names are part of
// the format.
type cleanerMeta struct {
	// FirstDirty is the first offset not yet cleaned.
	FirstDirty int64 `json:"first_dirty_offset"`
	// Horizon is the earliest delete horizon (ms) of a tombstone or a
	// transaction marker below FirstDirty, -1 if there is none: when it
	// passes, a cleaning is due.
	Horizon int64 `json:"tombstone_horizon_ms"`
	// Swap lists the outputs of a committed swap not yet finished.
	Swap []swapGroup `json:"swap,omitempty"`
}

// swapGroup is one output of a swap: "<Base>.log.cleaned" replaces the
// segments of [Base, End).
type swapGroup struct {
	Base int64 `json:"base"`
	End  int64 `json:"end"`
	// TxnIndex is set when "<Base>.txnindex.cleaned" replaces the
	// .txnindex of the first segment.
	TxnIndex bool `json:"txnindex,omitempty"`
}

func readCleanerMeta(fsys FS, dir string) (cleanerMeta, error) {
	path := filepath.Join(dir, cleanerMetaName)
	meta := cleanerMeta{Horizon: -1}
	version, payload, err := readMetaFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return meta, nil
	}
	if err != nil {
		return meta, err
	}
	if version != cleanerMetaVersion {
		return meta, &CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("unknown cleaner metadata version %d", version)}
	}
	if err := json.Unmarshal(payload, &meta); err != nil {
		return meta, &CorruptError{Path: path, Offset: -1, Reason: err.Error()}
	}
	return meta, nil
}

func writeCleanerMeta(fsys FS, dir string, meta cleanerMeta) error {
	payload, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return writeMetaFile(fsys, filepath.Join(dir, cleanerMetaName), cleanerMetaVersion, payload, true)
}

// failpoint runs the test hook for a swap step.
func (p *Partition) failpoint(step string) error {
	if fp := p.log.cleaner.failpoint.Load(); fp != nil {
		if err := (*fp)(step); err != nil {
			return fmt.Errorf("failpoint %s: %w", step, err)
		}
	}
	return nil
}

// errSegmentsChanged stops a cleaning whose segments retention deleted while
// it ran; the next pass plans again.
var errSegmentsChanged = errors.New("segments changed during cleaning")

// swapIn replaces the old segments of outs by the outputs and records meta
// as the partition's checkpoint. With no outputs only the checkpoint moves.
// removed are the markers the outputs no longer hold: the partition
// forgets their aborted transactions before it lists the outputs, so that
// no reader of the outputs is told of an abort whose marker it cannot meet
// (a Kafka client skips its producer's batches until it meets one); a
// reader of the old segments may meet a marker whose abort is no longer
// listed, which hides nothing, as its records are gone.
func (p *Partition) swapIn(outs []*cleanedSegment, meta cleanerMeta, removed map[markerKey]bool) error {
	fsys := p.log.opts.FS
	p.cleaning.swap.Lock()
	defer p.cleaning.swap.Unlock()
	abort := func(err error) error { return errors.Join(err, removeCleaned(fsys, p.dir, outs)) }
	if !p.oldListed(outs) {
		return abort(errSegmentsChanged)
	}
	if len(outs) > 0 {
		if err := p.failpoint(swapStepWritten); err != nil {
			return abort(err)
		}
		if err := fsys.SyncDir(p.dir); err != nil {
			return abort(p.errorf("cleaning: sync %s: %w", p.dir, err))
		}
		if err := p.failpoint(swapStepSynced); err != nil {
			return abort(err)
		}
		for _, o := range outs {
			meta.Swap = append(meta.Swap, swapGroup{Base: o.base, End: o.end, TxnIndex: o.txnIndex})
		}
		// A failed write may or may not have replaced cleaner.meta: from
		// here only Open can tell which segments won.
		if err := writeCleanerMeta(fsys, p.dir, meta); err != nil {
			return p.fail(fmt.Errorf("cleaning: commit swap: %w", err))
		}
		if err := p.failpoint(swapStepCommitted); err != nil {
			return p.fail(err)
		}
		names, err := fsys.ReadDir(p.dir)
		if err == nil {
			err = p.applySwap(meta.Swap, names, p.failpoint)
		}
		if err == nil {
			err = fsys.SyncDir(p.dir)
		}
		if err == nil {
			err = p.failpoint(swapStepDirSynced)
		}
		if err != nil {
			return p.fail(fmt.Errorf("cleaning: swap: %w", err))
		}
		if tx := p.txns.Load(); tx != nil && len(removed) > 0 {
			tx.forgetAborted(removed)
		}
		p.publish(outs)
		if err := p.failpoint(swapStepPublished); err != nil {
			return p.fail(err)
		}
		meta.Swap = nil
	}
	if err := writeCleanerMeta(fsys, p.dir, meta); err != nil {
		// A next swap must not find this one still listed: it could name
		// the same files.
		return p.fail(fmt.Errorf("cleaning: checkpoint: %w", err))
	}
	if len(outs) > 0 {
		if err := p.failpoint(swapStepDone); err != nil {
			return p.fail(err)
		}
	}
	p.cleaning.firstDirty.Store(meta.FirstDirty)
	p.cleaning.horizon.Store(meta.Horizon)
	return nil
}

// oldListed reports whether the old segments of every output are still listed,
// consecutively, as when the cleaning began.
func (p *Partition) oldListed(outs []*cleanedSegment) bool {
	segs := *p.segments.Load()
	for _, o := range outs {
		i := 0
		for i < len(segs) && segs[i] != o.old[0] {
			i++
		}
		if i+len(o.old) > len(segs) {
			return false
		}
		for j, s := range o.old {
			if segs[i+j] != s {
				return false
			}
		}
	}
	return true
}

// publish lists the new segments in place of the old ones (step 7), writes
// their indexes (which carry no authority, so unsynced) and releases the old
// segments: their mappings and open files live on until the last reader
// lets go.
func (p *Partition) publish(outs []*cleanedSegment) {
	fresh := make([]*segment, len(outs))
	for i, o := range outs {
		s := newSegment(p.log.opts.FS, p.dir, o.base, &p.removals)
		s.size.Store(o.size)
		s.maxTimestamp.Store(o.maxTs)
		s.mu.index = o.index
		fresh[i] = s
	}
	p.appendMu.Lock()
	cur := *p.segments.Load()
	next := make([]*segment, 0, len(cur))
	i := 0
	for k, o := range outs {
		for cur[i] != o.old[0] {
			next = append(next, cur[i])
			i++
		}
		next = append(next, fresh[k])
		i += len(o.old)
	}
	next = append(next, cur[i:]...)
	p.segments.Store(&next)
	p.appendMu.Unlock()

	for i, o := range outs {
		if err := fresh[i].writeIndexFiles(o.index); err != nil {
			p.log.opts.Logger.Warn("eventlog: writing segment indexes failed", "topic", p.topic, "partition", p.id, "err", err)
		}
		for _, s := range o.old {
			_ = s.release() // its files were removed or replaced by name in step 4-5
		}
	}
}

// applySwap does steps 4 and 5 of a committed swap, given the directory's
// names; both steps are idempotent. fp, if set, is called after each.
func (p *Partition) applySwap(groups []swapGroup, names []string, fp func(string) error) error {
	fsys := p.log.opts.FS
	for _, name := range names {
		for _, ext := range []string{logExt, indexExt, timeIndexExt, txnIndexExt} {
			base, ok := parseSegmentName(name, ext)
			if !ok {
				continue
			}
			for _, g := range groups {
				// The group's first segment keeps its name, and with it
				// its index of aborted transactions; the merged ones' go.
				// The offset and time indexes are rebuilt.
				kept := base == g.Base && (ext == logExt || ext == txnIndexExt)
				if base >= g.Base && base < g.End && !kept {
					if err := fsys.Remove(filepath.Join(p.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
			}
		}
	}
	if fp != nil {
		if err := fp(swapStepRemoved); err != nil {
			return err
		}
	}
	for _, g := range groups {
		final := filepath.Join(p.dir, segmentFileName(g.Base, logExt))
		err := fsys.Rename(final+cleanedExt, final)
		if errors.Is(err, fs.ErrNotExist) {
			// Renamed before a crash; the segment must be there.
			if _, serr := fsys.Stat(final); serr != nil {
				return &CorruptError{Path: final, Offset: g.Base, Reason: fmt.Sprintf("cleaned segment missing after a committed swap: %v", serr)}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	for _, g := range groups {
		if !g.TxnIndex {
			continue
		}
		final := filepath.Join(p.dir, segmentFileName(g.Base, txnIndexExt))
		// A missing output was renamed before a crash.
		if err := fsys.Rename(final+cleanedExt, final); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if fp != nil {
		return fp(swapStepRenamed)
	}
	return nil
}

// removeCleaned removes the outputs of a cleaning that did not commit.
func removeCleaned(fsys FS, dir string, outs []*cleanedSegment) error {
	var errs []error
	for _, o := range outs {
		if o == nil {
			continue
		}
		for _, path := range []string{o.path(dir), o.txnIndexPath(dir)} {
			if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// finishCleaning runs at Open, before the segments are listed: it finishes a
// committed swap, removes the outputs of a cleaning that did not commit, and
// loads the checkpoint. It returns the directory's names as they are then.
//
// It goes by the files, not by the topic's policy: a swap that failed after
// its commit leaves the topic open to AlterTopicConfig, and one switched to
// cleanup.policy=delete still needs its swap finished, or the merged
// segments, whose files are gone, lose their records.
func (p *Partition) finishCleaning(names []string) ([]string, error) {
	if !slices.ContainsFunc(names, func(name string) bool {
		return name == cleanerMetaName || strings.HasSuffix(name, cleanedExt)
	}) {
		return names, nil // never cleaned: nothing to read
	}
	fsys := p.log.opts.FS
	meta, err := readCleanerMeta(fsys, p.dir)
	damaged := err != nil
	if damaged {
		if !p.log.opts.Repair || !errors.Is(err, ErrCorrupt) {
			return nil, p.errorf("%w", err)
		}
		// Its checkpoint is an optimisation: without it the next
		// cleaning starts from the log start, and finds what it needs
		// again. The file goes, so that the next Open does not refuse it
		// again; its copy is kept.
		meta = cleanerMeta{Horizon: -1}
		if err := p.setAside(cleanerMetaName, err); err != nil {
			return nil, err
		}
	}
	changed := damaged
	if len(meta.Swap) > 0 {
		err := p.applySwap(meta.Swap, names, nil)
		if err == nil {
			err = fsys.SyncDir(p.dir)
		}
		if err == nil {
			meta.Swap = nil
			err = writeCleanerMeta(fsys, p.dir, meta)
		}
		if err != nil {
			return nil, p.errorf("finish cleaning: %w", err)
		}
		p.log.opts.Logger.Info("eventlog: finished an interrupted cleaning", "topic", p.topic, "partition", p.id)
		changed = true
	}
	for _, name := range names {
		if !strings.HasSuffix(name, cleanedExt) {
			continue
		}
		changed = true
		if damaged {
			// The swap the damaged file may have listed as committed
			// could have removed old segments already: keep its outputs.
			if err := p.setAside(name, errors.New("the output of a cleaning that a damaged cleaner.meta may have committed")); err != nil {
				return nil, err
			}
			continue
		}
		if err := fsys.Remove(filepath.Join(p.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, p.errorf("remove unfinished cleaning: %w", err)
		}
	}
	if changed {
		if names, err = fsys.ReadDir(p.dir); err != nil {
			return nil, p.errorf("list segments: %w", err)
		}
	}
	p.cleaning.firstDirty.Store(meta.FirstDirty)
	p.cleaning.horizon.Store(meta.Horizon)
	return names, nil
}

// lowerFirstDirty runs at Open once the log end is known. A cut of
// Options.Repair may have taken the log below the first dirty offset of
// cleaner.meta; the offsets from the log end on are handed out again, and
// the records they get must be dirty, or no cleaning would compare them with
// the older records of their keys: a tombstone among them would go at its
// delete horizon and leave its key's older value behind. The checkpoint is
// lowered to the log end, durably, before anything is appended.
func (p *Partition) lowerFirstDirty() error {
	end := p.logEnd.Load()
	if p.cleaning.firstDirty.Load() <= end {
		return nil
	}
	meta := cleanerMeta{FirstDirty: end, Horizon: p.cleaning.horizon.Load()}
	if err := writeCleanerMeta(p.log.opts.FS, p.dir, meta); err != nil {
		return p.errorf("lower the cleaner's first dirty offset to the log end %d: %w", end, err)
	}
	p.log.opts.Logger.Warn("eventlog: the log ends below the cleaner's first dirty offset: lowered to the log end",
		"topic", p.topic, "partition", p.id, "log_end_offset", end)
	p.cleaning.firstDirty.Store(end)
	return nil
}

// listed reports whether s is in the partition's segment list: a reader that
// finished a segment a cleaning has replaced goes on in the new list at the
// same offset.
func (p *Partition) listed(s *segment) bool {
	segs := *p.segments.Load()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > s.base })
	return i > 0 && segs[i-1] == s
}
