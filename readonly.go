package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Read-only mode (Options.ReadOnly). A read-only Log reads a directory that
// another process may have open for writing, and changes nothing in it:
//
//   - It takes no lock and writes no file. Its FS is wrapped in a
//     readOnlyFS, which refuses every change, so that a path that would
//     write by mistake fails instead; it starts no goroutine.
//   - It reads what Open would recover, without recovering it: an active
//     segment is read up to its last valid batch, and whatever follows
//     (a torn tail, or a batch the writer is writing right now) is not
//     readable yet, instead of cut. Damage before the recovery point is
//     corruption, as for Open. A compaction swap that a crash, or the live
//     writer, left unfinished is read as Open would finish it. Indexes
//     that must be rebuilt are rebuilt in memory.
//   - Every call that would write fails with ErrReadOnly; each partition's
//     sticky failure is set to it, so that an append cannot get through
//     by a path without its own check.
//   - It sees what other processes do to the directory since Open at each
//     Refresh, which re-lists the directory and scans what was appended:
//     new batches, new segments, segments deleted by retention or
//     DeleteRecords, compaction swaps, new and deleted topics, added
//     partitions, changed configurations and new committed offsets. A
//     Refresh moves high watermarks and so wakes Partition.Wait and
//     consumers blocked in Poll, which is how a tool follows a log.
//   - Closed segments are opened at their first read, not at the
//     listing. A read that finds a segment's file gone since (retention,
//     DeleteRecords, a compaction swap in the writer) lists that
//     partition again and goes on in the new listing (see relistGone),
//     as a writable Log's reader goes on when a segment is dropped under
//     it, rather than fail with the file's absence.
//
// Why an explicit Refresh rather than a watcher: a change notification
// (inotify and kin) needs a platform API outside the core's dependencies
// and would add a goroutine to every read-only Log; a tool following a
// log calls Refresh on its own schedule, and one that takes a snapshot
// never needs to.
//
// Damage a read-only Log cannot guard against: a mapped segment that
// another process truncates below what was read. Only Options.Repair of
// damage before a recovery point does that (recovery cuts only bytes past
// the last valid batch, which a read-only Log never hands out; a scan
// that is reading them to find that batch when they go lists again, see
// scanMapped), so do not
// repair a log that a read-only Log is reading.

// ErrReadOnly is returned by every call that would change a Log opened
// with Options.ReadOnly: creating topics, appending, producing,
// committing, compacting and administration.
var ErrReadOnly = errors.New("eventlog: log is opened read-only")

// readOnlyState is what a read-only Log keeps between refreshes.
type readOnlyState struct {
	// mu serializes refreshes and guards replayed. A read that finds a
	// segment file gone lists its partition again holding only the
	// partition's refreshing lock, as a refresh may be the reader.
	mu sync.Mutex
	// replayed is, for each __consumer_offsets partition, how far its
	// records were applied to the offset store (see refreshOffsets).
	replayed map[*Partition]offsetsReplay
}

// offsetsReplay is how far a refresh applied a __consumer_offsets
// partition to the offset store: up to offset to, from start, the log
// start offset then, with the log cleaner's first dirty offset then
// cleaned.
type offsetsReplay struct {
	to, start, cleaned int64
}

// dirListing is what a refresh saw of a partition's directory: when the
// names and the compaction checkpoint are the same at the next refresh,
// no closed segment changed.
type dirListing struct {
	names   string
	cleaner string
}

// refuseWrite returns, on a read-only Log, an error wrapping ErrReadOnly
// that says what was refused; nil otherwise.
func (l *Log) refuseWrite(format string, args ...any) error {
	if !l.opts.ReadOnly {
		return nil
	}
	return fmt.Errorf("%w: cannot "+format, append([]any{ErrReadOnly}, args...)...)
}

// openReadOnly is Open with Options.ReadOnly.
func openReadOnly(dir string, o, given Options) (*Log, error) {
	start := time.Now()
	o.FS = readOnlyFS{fs: o.FS}
	if _, err := o.FS.Stat(filepath.Join(dir, topicsDirName)); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, errorf("eventlog: open %s read-only: not a log directory: %w", dir, err)
		}
		return nil, errorf("eventlog: open %s read-only: %w", dir, err)
	}
	l := &Log{dir: dir, opts: o, given: given, stop: make(chan struct{})}
	l.mu.topics = make(map[string]*topic)
	l.readOnly.replayed = make(map[*Partition]offsetsReplay)
	_, _, markerErr := readMetaFile(o.FS, filepath.Join(dir, cleanMarkerName))
	l.recovery.clean = markerErr == nil
	if err := l.refresh(true); err != nil {
		return nil, errors.Join(err, l.releaseTopics())
	}
	l.recovery.duration = time.Since(start)
	l.opts.Logger.Debug("eventlog: opened read-only", "dir", l.dir, "recovery", l.Recovery())
	return l, nil
}

// Refresh brings a Log opened with Options.ReadOnly up to date with what
// other processes did to its directory since Open or the last Refresh: it
// takes in the batches appended (up to the last complete one), new and
// deleted segments, topics and partitions, configuration changes and
// committed offsets. High watermarks that move wake Partition.Wait and
// Consumer.Poll. It costs a directory listing and a file size per
// partition, plus the scan of what was appended. On a Log that is not
// read-only it does nothing, but fail with ErrClosed after Close: such a
// Log sees its own changes.
//
// An error for one topic does not keep the others from refreshing; the
// errors are joined.
func (l *Log) Refresh() error {
	if !l.opts.ReadOnly {
		if l.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	return l.refresh(false)
}

// refresh lists the topics and refreshes each; atOpen fails at the first
// error, as Open does.
func (l *Log) refresh(atOpen bool) error {
	l.readOnly.mu.Lock()
	defer l.readOnly.mu.Unlock()
	names, err := l.opts.FS.ReadDir(filepath.Join(l.dir, topicsDirName))
	if err != nil {
		return errorf("eventlog: refresh %s: %w", l.dir, err)
	}
	present := make(map[string]bool, len(names))
	var errs []error
	for _, name := range names {
		if _, ok := isDeletedTopicDir(name); ok {
			continue // a deletion in progress: the topic is gone
		}
		present[name] = true
		if err := l.refreshTopic(name, atOpen); err != nil {
			if atOpen {
				return err
			}
			errs = append(errs, err)
		}
	}
	l.mu.RLock()
	var gone []string
	for name := range l.mu.topics {
		if !present[name] {
			gone = append(gone, name)
		}
	}
	l.mu.RUnlock()
	for _, name := range gone {
		l.dropTopicReadOnly(name)
	}
	return errors.Join(append(errs, l.refreshOffsets())...)
}

// errTopicReplaced reports that a partition's files are not the ones the
// Log has open: its topic was deleted and created again.
var errTopicReplaced = errors.New("topic was deleted and created again")

// topicReopenAttempts bounds how many times refreshTopic opens a topic
// again that was deleted and created again while it read it.
const topicReopenAttempts = 3

// refreshTopic opens a topic that appeared, or refreshes a known one. A
// partition whose files turn out to be another topic's (errTopicReplaced:
// the writer deleted the topic and created it again, before or during
// this refresh) makes it forget the topic and open it again as it stands
// now, its metadata read again: at Open as at a Refresh. It gives up with
// an error after topicReopenAttempts, as a topic replaced that often
// while it is read cannot be read whole.
func (l *Log) refreshTopic(name string, atOpen bool) error {
	for range topicReopenAttempts {
		err := l.refreshTopicOnce(name, atOpen)
		if !errors.Is(err, errTopicReplaced) {
			return err
		}
		l.dropTopicReadOnly(name)
		// The topic now is one created while the Log was open: none of
		// what was closed cleanly before Open.
		atOpen = false
	}
	return errorf("eventlog: topic %q: %w %d times while it was read", name, errTopicReplaced, topicReopenAttempts)
}

// refreshTopicOnce is one attempt of refreshTopic.
func (l *Log) refreshTopicOnce(name string, atOpen bool) error {
	l.mu.RLock()
	t := l.mu.topics[name]
	l.mu.RUnlock()
	dir := l.topicDir(name)
	metaPath := filepath.Join(dir, topicMetaName)
	version, payload, err := readMetaFile(l.opts.FS, metaPath)
	if err != nil && isStrayFile(l.opts.FS, dir) {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if t != nil { // deleted, and a topic of its name is being created
			l.dropTopicReadOnly(name)
		}
		// A topic being created, or the remains of a creation that
		// crashed, which Open removes unless it holds records.
		if path, ok := firstRecordFile(l.opts.FS, dir); ok && atOpen {
			// The writer's CreateTopic renames topic.meta into place
			// before any append: if it is there now, the topic was
			// created since it was read, and is opened as it stands
			// (not atOpen: a topic created meanwhile is not one Open
			// found closed cleanly, and this reads it once more at most).
			if _, err := l.opts.FS.Stat(metaPath); err == nil {
				return l.refreshTopicOnce(name, false)
			}
			return errorf("eventlog: topic %q: %w", name, &CorruptError{Path: metaPath, Offset: -1, Reason: fmt.Sprintf("topic.meta is missing but %s holds records", path)})
		}
		return nil
	}
	if err != nil {
		return errorf("eventlog: topic %q: %w", name, err)
	}
	storedName, cfg, err := decodeTopicMeta(metaPath, version, payload)
	if err != nil {
		return errorf("eventlog: topic %q: %w", name, err)
	}
	if storedName != name {
		return errorf("eventlog: topic %q: %w", name, &CorruptError{Path: metaPath, Offset: -1, Reason: fmt.Sprintf("metadata names topic %q", storedName)})
	}
	if t == nil {
		return l.openTopicReadOnly(name, cfg, atOpen && l.recovery.clean)
	}
	if cfg != t.config {
		if t, err = l.reconfigureReadOnly(t, cfg); err != nil {
			return err
		}
	}
	var errs []error
	for _, p := range t.partitions {
		err := p.refreshReadOnly(false)
		if errors.Is(err, errTopicReplaced) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openTopicReadOnly opens a topic and registers it.
func (l *Log) openTopicReadOnly(name string, cfg TopicConfig, clean bool) error {
	t := &topic{name: name, config: cfg}
	pc := cfg.resolve(&l.opts)
	for id := range int32(cfg.Partitions) {
		p, err := l.openPartitionReadOnly(name, id, pc, clean)
		if err != nil {
			return errors.Join(err, t.release())
		}
		t.partitions = append(t.partitions, p)
	}
	l.mu.Lock()
	l.mu.topics[name] = t
	l.mu.Unlock()
	l.topicsVersion.Add(1)
	return nil
}

// reconfigureReadOnly applies a topic configuration that another process
// changed (AlterTopicConfig), opening the partitions it added
// (CreatePartitions), and returns the topic as registered now.
func (l *Log) reconfigureReadOnly(t *topic, cfg TopicConfig) (*topic, error) {
	pc := cfg.resolve(&l.opts)
	for _, p := range t.partitions {
		c := pc
		p.settings.Store(&c)
	}
	grown := &topic{name: t.name, config: cfg, partitions: slices.Clip(t.partitions)}
	for id := int32(len(t.partitions)); id < int32(cfg.Partitions); id++ {
		p, err := l.openPartitionReadOnly(t.name, id, pc, false)
		if err != nil {
			for _, added := range grown.partitions[len(t.partitions):] {
				err = errors.Join(err, added.release())
			}
			return nil, err
		}
		grown.partitions = append(grown.partitions, p)
	}
	l.mu.Lock()
	l.mu.topics[t.name] = grown
	l.mu.Unlock()
	l.topicsVersion.Add(1)
	return grown, nil
}

// dropTopicReadOnly forgets a topic that another process deleted: calls
// on its partitions fail with ErrTopicNotFound, and its files are released
// once the readers inside them are done.
func (l *Log) dropTopicReadOnly(name string) {
	l.mu.Lock()
	t := l.mu.topics[name]
	delete(l.mu.topics, name)
	l.mu.Unlock()
	if t == nil {
		return
	}
	l.topicsVersion.Add(1)
	for _, p := range t.partitions {
		// Under the partition's refreshing lock, so that no read lists
		// it again once its segments are released.
		p.refreshing.Lock()
		p.deleted.Store(true)
		p.refreshing.Unlock()
		p.hwMoved.broadcast()
		delete(l.readOnly.replayed, p)
		if err := p.release(); err != nil {
			l.opts.Logger.Warn("eventlog: releasing a deleted topic's files failed", "topic", name, "err", err)
		}
	}
}

// refreshOffsets applies the records appended to __consumer_offsets since
// the last refresh to the offset store, making the store when the topic
// appears, so that the store is what a fresh Open would replay.
//
// A partition is replayed from where the last refresh ended unless that
// could leave in the store an offset that a fresh Open would not have: its
// entries are then dropped and it is replayed whole, as Open replays it.
// That is so when the writer's log cleaner cleaned records appended since
// the last refresh (its first dirty offset moved): it may have removed a
// tombstone, past its delete retention, that this Log never saw, together
// with the record it deleted. It is so too when the log start offset
// moved, and for a partition with transactional commits, which is
// replayed whole whenever it has new records anyway (a transaction's
// records wait for its marker).
func (l *Log) refreshOffsets() error {
	t, err := l.topic(offsetsTopicName)
	if err != nil {
		return nil // no group has committed yet
	}
	l.groups.mu.Lock()
	s := l.groups.offsets
	l.groups.mu.Unlock()
	fresh := s == nil || !slices.Equal(s.parts, t.partitions)
	if fresh {
		s = newOffsetStore(l, t, 0)
	}
	r := replayer{s: s, ends: make(map[string][]int64), past: make(map[string]bool)}
	s.mu.Lock()
	var err2 error
	for _, p := range s.parts {
		last := l.readOnly.replayed[p]
		start, to, cleaned := p.LogStartOffset(), p.HighWatermark(), p.cleaning.firstDirty.Load()
		from := max(last.to, start)
		if !fresh && (start != last.start || from < to && (cleaned != last.cleaned || p.producers.history.Load())) {
			s.forgetPartitionLocked(p)
			from = start
		}
		if fresh {
			from = start
		}
		if err2 = r.replay(p, from, to); err2 != nil {
			break
		}
		l.readOnly.replayed[p] = offsetsReplay{to: to, start: start, cleaned: cleaned}
	}
	s.mu.Unlock()
	if err2 != nil {
		return err2
	}
	if fresh {
		l.groups.mu.Lock()
		l.groups.offsets = s
		l.groups.mu.Unlock()
	}
	return nil
}

// forgetPartitionLocked drops from a read-only Log's store the committed
// offsets and group metadata that partition p of __consumer_offsets holds,
// those of the groups that partitionFor maps to p, for p to be replayed
// whole. A read-only Log keeps no pending commits.
func (s *offsetStore) forgetPartitionLocked(p *Partition) {
	inP := make(map[string]bool) // by group
	for id := range s.mu.committed {
		group, _ := parseOffsetID(id)
		in, ok := inP[group]
		if !ok {
			in = s.partitionFor(group) == p
			inP[group] = in
		}
		if in {
			delete(s.mu.committed, id)
		}
	}
	for group := range s.mu.groupMetadata {
		if s.partitionFor(group) == p {
			delete(s.mu.groupMetadata, group)
		}
	}
}
