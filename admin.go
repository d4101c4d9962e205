package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
)

// Topic administration: the operations of Kafka's Admin API that remove or
// reshape what exists. Each is crash-safe: after a crash at any point, Open
// finds either the state before the operation or the state after it.
//
//   - DeleteTopic renames the topic's directory to "<topic>~deleted-<n>"
//     (a name no topic can have), fsyncs topics/, then writes tombstones
//     for the topic's committed offsets and removes the directory. The
//     rename is the commit point: Open removes a marked directory it finds,
//     after deleting the committed offsets of its topic unless a topic of
//     that name was created since.
//   - CreatePartitions creates the new partition directories, then
//     replaces topic.meta. The replacement is the commit point: a crash
//     before it leaves empty directories that Open ignores and the next
//     CreatePartitions replaces.
//   - AlterTopicConfig and UpdateTopicConfig replace topic.meta; the
//     partitions take the new settings after it is durable.
//   - DeleteRecords replaces the partition's log-start-offset checkpoint,
//     then unlists the segments wholly below it, whose files go once their
//     last reader is done. Open moves the log start offset to the
//     checkpoint and removes the segments wholly below it.

// deletedTopicMark separates a topic's name from a number in the name of
// its directory while DeleteTopic removes it. "~" is not allowed in topic
// names, so such a directory is never a topic's.
const deletedTopicMark = "~deleted-"

// logStartName is a partition's log start offset checkpoint, written by
// DeleteRecords and retention (Kafka's log-start-offset-checkpoint). Its payload is the
// offset, an int64 big-endian; the format is version 1.
const (
	logStartName    = "log-start-offset"
	logStartVersion = 1
)

// DeleteToHighWatermark, passed to DeleteRecords as the offset, deletes
// every record below the high watermark (Kafka's -1 in DeleteRecords).
const DeleteToHighWatermark int64 = -1

// deletedErr is the error of every call on a partition of a deleted topic.
func (p *Partition) deletedErr() error {
	return p.errorf("%w: the topic was deleted", ErrTopicNotFound)
}

// deleted tells whether DeleteTopic is taking the topic away.
func (t *topic) deleted() bool { return t.partitions[0].deleted.Load() }

// adminTopic checks a user topic's name and returns the topic; internal
// topics are the library's to change.
func (l *Log) adminTopic(name string) (*topic, error) {
	if err := validateTopicName(name, false); err != nil {
		return nil, err
	}
	return l.topic(name)
}

// DeleteTopic deletes a topic with its records and the committed offsets of
// every consumer group on it, as Kafka's DeleteTopics does; offsets of it
// sent to a transaction still open go too, and the transaction commits
// without them. A transaction with records in the topic that ends while
// the deletion is under way may end with ErrTransactionIncomplete: the
// topic's partitions refuse their markers, and the transaction completes
// once the topic is gone (or back, if the deletion fails). Calls on
// Partitions of the topic, and sends of Producers
// to it, then fail with ErrTopicNotFound; consumer groups subscribed to it
// rebalance without it. A topic of the same name can be created
// afterwards; it starts empty, with no committed offset for any group.
//
// DeleteTopic returns once the deletion is durable. ctx bounds the wait
// before the deletion starts: for another topic administration call in
// progress, such as an AlterTopicConfig reading the topic's records, and
// for a cleaning of the topic in progress. When ctx ends first,
// DeleteTopic returns an error wrapping ctx's and the topic is as it was.
// Once started, the deletion finishes: it waits for the calls in flight on
// the Log, such as reads and appends, so that no reader is left inside the
// topic's files; a Compact of another topic, which may run long, goes on
// meanwhile, and holds no other call back. Internal topics cannot be
// deleted (ErrInvalidTopic). On Windows, which cannot rename directories
// holding open files, DeleteTopic returns an error wrapping
// errors.ErrUnsupported.
func (l *Log) DeleteTopic(ctx context.Context, name string) error {
	if err := l.refuseWrite("delete topic %q", name); err != nil {
		return err
	}
	if !compactionSupported { // the same limitation: open files cannot be renamed
		return errorf("eventlog: delete topic %q on %s: %w", name, runtime.GOOS, errors.ErrUnsupported)
	}
	// admin is taken before ops (enter), never while holding it: the grace
	// period below waits for every holder of ops.
	if err := l.lockAdmin(ctx, "delete", name); err != nil {
		return err
	}
	defer l.admin.Unlock()
	if !l.enter() {
		return ErrClosed
	}
	t, err := l.adminTopic(name)
	if err == nil && ctx.Err() != nil {
		err = errorf("eventlog: delete topic %q: %w", name, ctx.Err())
	}
	if err != nil {
		l.exit()
		return err
	}
	marked, err := l.markTopicDeleted(ctx, t)
	if marked == "" {
		l.exit()
		return err
	}
	// From here on the deletion is committed: Open finishes it. The
	// tombstones are appended outside ops, as appends enter it.
	l.exit()
	err = errors.Join(err, l.deleteTopicOffsets(name))
	// Every call that started before the partitions were marked deleted
	// ends before the topic leaves the registry: no reader of its files
	// is left when a topic of the same name can be created. (Cleanings,
	// which are not waited for here, took the cleaning locks
	// markTopicDeleted waited for, and find the partitions failed.)
	l.awaitCallsInFlight()
	if !l.enter() {
		return err // Close released the partitions; Open removes the directory
	}
	defer l.exit()
	l.mu.Lock()
	delete(l.mu.topics, name)
	l.topicsVersion.Add(1)
	l.mu.Unlock()
	l.releaseDeletedTopic(t, marked)
	if err != nil {
		return errorf("eventlog: delete topic %q: the topic is gone, but not all of its deletion is durable; the next Open finishes it: %w", name, err)
	}
	l.opts.Logger.Info("eventlog: topic deleted", "topic", name)
	return nil
}

// lockAdmin takes l.admin for a call on topic, or returns an error wrapping
// ctx's, naming the call, if ctx ends while it waits for another
// administration call.
func (l *Log) lockAdmin(ctx context.Context, call, topic string) error {
	if l.updatingConfigs.Load() != 0 && onStack(runConfigUpdateEntry) {
		return errorf("eventlog: %s topic %q from an UpdateTopicConfig function, which holds up topic administration: %w", call, topic, ErrConcurrentUse)
	}
	if err := l.admin.lockCtx(ctx); err != nil {
		return errorf("eventlog: %s topic %q: waiting for another topic administration call: %w", call, topic, err)
	}
	return nil
}

// lockCleanings takes the cleaning lock of each of t's partitions, so that
// no cleaning runs, or, if ctx ends while it waits for a cleaning in
// progress, releases those it took and returns an error wrapping ctx's,
// naming the partition and call.
func (t *topic) lockCleanings(ctx context.Context, call string) error {
	for i, p := range t.partitions {
		if err := p.cleaning.run.lockCtx(ctx); err != nil {
			for _, locked := range t.partitions[:i] {
				locked.cleaning.run.Unlock()
			}
			return p.errorf("%s: waiting for the cleaning in progress: %w", call, err)
		}
	}
	return nil
}

// markTopicDeleted stops every writer of t and renames its directory to a
// marked name, durably, which commits the deletion, and returns that name.
// On failure, ctx ending while it waits for a cleaning included, it
// returns "" and t is as it was, unless the rename could be neither made
// durable nor undone: it then returns the name and the error.
func (l *Log) markTopicDeleted(ctx context.Context, t *topic) (string, error) {
	fsys := l.opts.FS
	// Every cleaning lock first, so that giving up on one marks nothing.
	if err := t.lockCleanings(ctx, "delete topic"); err != nil {
		return "", err
	}
	prev := make([]*error, len(t.partitions))
	for i, p := range t.partitions {
		// The cleaner, retention and appends stop: the sticky failure
		// makes each of them return at once from now on.
		p.cleaning.swap.Lock()
		p.appendMu.Lock()
		prev[i] = p.failure.Load()
		failure := p.deletedErr()
		p.failure.Store(&failure)
		p.deleted.Store(true)
		p.appendMu.Unlock()
		p.cleaning.swap.Unlock()
		p.cleaning.run.Unlock()
		p.hwMoved.broadcast() // wake Waits, which now fail
	}
	l.topicsVersion.Add(1) // groups rebalance without the topic
	// The files of segments dropped earlier, which a reader may still
	// hold, are no longer removed by name: after the rename the names
	// may be a new topic's. They go with the renamed directory.
	for _, p := range t.partitions {
		p.removals.setMoved(true)
	}
	undo := func(err error) (string, error) {
		for i, p := range t.partitions {
			p.failure.Store(prev[i])
			p.deleted.Store(false)
			p.removals.setMoved(false) // those skipped meanwhile Open drops
		}
		l.topicsVersion.Add(1)
		return "", errorf("eventlog: delete topic %q: %w", t.name, err)
	}
	// undoUnsure is undo when the disk may hold either name: the topic
	// stays, but its partitions stay failed, so that nothing more is
	// acknowledged in a topic that the next Open may find deleted.
	undoUnsure := func(err error) (string, error) {
		for _, p := range t.partitions {
			failure := p.errorf("a failed DeleteTopic left the topic's directory under a name that may not survive a power loss; reopen the Log: %w", err)
			p.failure.Store(&failure)
			p.deleted.Store(false)
			p.removals.setMoved(false)
		}
		l.topicsVersion.Add(1)
		return "", errorf("eventlog: delete topic %q: the topic may or may not be deleted at the next Open: %w", t.name, err)
	}
	dir := l.topicDir(t.name)
	var marked string
	for n := l.opts.Now().UnixNano(); ; n++ {
		marked = fmt.Sprintf("%s%s%d", dir, deletedTopicMark, n)
		if _, err := fsys.Stat(marked); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return undo(err)
		}
	}
	if err := fsys.Rename(dir, marked); err != nil {
		return undo(err)
	}
	if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
		// The rename stands but may not survive a power loss; put it
		// back so that memory and disk agree, durably: a power loss
		// may keep the first rename and not the second, and the next
		// Open would then delete a topic that took appends since.
		if rerr := fsys.Rename(marked, dir); rerr != nil {
			l.opts.Logger.Error("eventlog: delete topic: cannot undo the rename after a failed directory sync; the topic is deleted at the next Open", "topic", t.name, "err", rerr)
			return marked, err
		}
		if serr := fsys.SyncDir(filepath.Dir(dir)); serr != nil {
			return undoUnsure(errors.Join(err, serr))
		}
		return undo(err)
	}
	return marked, nil
}

// releaseDeletedTopic drops the partitions' references to their segments;
// the last release, this one unless a reader holds on, removes the marked
// directory.
func (l *Log) releaseDeletedTopic(t *topic, marked string) {
	var segs []*segment
	for _, p := range t.partitions {
		segs = append(segs, *p.segments.Load()...)
	}
	var remaining atomic.Int64
	remaining.Store(int64(len(segs)))
	free := func() {
		if remaining.Add(-1) == 0 {
			l.removeDeletedTopic(marked)
		}
	}
	for _, seg := range segs {
		seg.mu.Lock()
		seg.mu.onFree = free
		seg.mu.Unlock()
	}
	for _, p := range t.partitions {
		if err := p.release(); err != nil {
			l.opts.Logger.Warn("eventlog: delete topic: closing segment files failed", "topic", t.name, "partition", p.id, "err", err)
		}
	}
}

// awaitCallsInFlight returns once every call on the Log that is in flight
// now has returned. The caller must not be in one.
func (l *Log) awaitCallsInFlight() {
	l.ops.Lock()
	_ = l.closed.Load() // the lock itself is the point: it waits for every holder
	l.ops.Unlock()
}

// removeDeletedTopic removes the directory of a deleted topic once no
// segment of it is in use.
func (l *Log) removeDeletedTopic(marked string) {
	fsys := l.opts.FS
	if err := fsys.RemoveAll(marked); err != nil {
		l.opts.Logger.Warn("eventlog: removing a deleted topic's files failed; Open retries", "dir", marked, "err", err)
		return
	}
	// Not fsynced: a directory that comes back after a power loss is
	// removed by Open.
}

// deleteTopicOffsets deletes, durably, every committed offset of a topic.
func (l *Log) deleteTopicOffsets(topic string) error {
	s, err := l.offsetStore(false)
	if err != nil || s == nil {
		return err
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	byGroup := s.offsetsOfTopic(topic)
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		updates := make([]offsetUpdate, len(byGroup[g]))
		for i, tp := range byGroup[g] {
			updates[i] = offsetUpdate{tp: tp, delete: true}
		}
		if _, err := s.writeLocked(context.Background(), g, updates, DurabilityFsync); err != nil {
			return errorf("eventlog: delete committed offsets of group %q on topic %q: %w", g, topic, err)
		}
	}
	return nil
}

// isDeletedTopicDir tells whether a name in topics/ is a topic being
// deleted, and returns the topic's name.
func isDeletedTopicDir(dir string) (string, bool) {
	name, _, ok := strings.Cut(dir, deletedTopicMark)
	return name, ok
}

// finishDeletedTopics completes, at Open, the deletions a crash
// interrupted: the committed offsets of a deleted topic go, unless a topic
// of its name was created since (its deletion then completed them), and
// the marked directory is removed.
func (l *Log) finishDeletedTopics(dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	for _, dir := range dirs {
		name, _ := isDeletedTopicDir(dir)
		if l.mu.topics[name] == nil {
			if err := l.deleteTopicOffsets(name); err != nil {
				return err
			}
		}
		l.opts.Logger.Info("eventlog: finishing an interrupted topic deletion", "topic", name, "dir", dir)
		if err := l.opts.FS.RemoveAll(filepath.Join(l.dir, topicsDirName, dir)); err != nil {
			return errorf("eventlog: finish deletion of topic %q: %w", name, err)
		}
	}
	if err := l.opts.FS.SyncDir(filepath.Join(l.dir, topicsDirName)); err != nil {
		return errorf("eventlog: sync %s: %w", topicsDirName, err)
	}
	return nil
}

// CreatePartitions grows a topic to total partitions, as Kafka's
// CreatePartitions does: partitions are only ever added (ErrInvalidConfig
// otherwise), and the new ones start empty. Keyed records then go to
// murmur2(key) % total, as in Kafka, so a key may land on another partition
// than before: its older records stay on the old one, which compaction
// keeps too, and ReplayLatest, which reads partitions in turn, returns the
// value of the higher-numbered of the two (see ReplayLatest). Producers use the new partitions from their next send, and
// consumer groups subscribed to the topic rebalance to include them.
// CreatePartitions returns once the change is durable. ctx bounds its wait
// for another topic administration call in progress, such as an
// AlterTopicConfig reading a topic's records: when ctx ends first, it
// returns an error wrapping ctx's and changes nothing.
func (l *Log) CreatePartitions(ctx context.Context, name string, total int) error {
	if err := l.refuseWrite("create partitions of topic %q", name); err != nil {
		return err
	}
	if err := l.lockAdmin(ctx, "create partitions of", name); err != nil {
		return err
	}
	defer l.admin.Unlock()
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	t, err := l.adminTopic(name)
	if err != nil {
		return err
	}
	if err := checkPartitionCount(t, total); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return errorf("eventlog: create partitions of topic %q: %w", name, err)
	}
	cfg := t.config
	cfg.Partitions = total
	payload, err := encodeTopicMeta(name, cfg)
	if err != nil {
		return err
	}
	fsys := l.opts.FS
	dir := l.topicDir(name)
	pc := cfg.resolve(&l.opts)
	var added []*Partition
	fail := func(err error) error {
		for _, p := range added {
			err = errors.Join(err, p.release(), fsys.RemoveAll(p.dir))
		}
		return errorf("eventlog: topic %q: create partitions: %w", name, err)
	}
	for id := int32(len(t.partitions)); id < int32(total); id++ {
		// A directory left by an interrupted CreatePartitions holds no
		// record: none could be appended before topic.meta listed it.
		pdir := filepath.Join(dir, partitionDirName(id))
		err := fsys.RemoveAll(pdir)
		if err == nil {
			err = fsys.MkdirAll(pdir, 0o755)
		}
		var p *Partition
		if err == nil {
			p, err = l.openPartition(name, id, pc, newPartition)
		}
		if err != nil {
			return fail(err)
		}
		added = append(added, p)
	}
	// One sync of the topic directory, in writeMetaFile, makes the new
	// partition directories and topic.meta durable together.
	if err := l.replaceTopicMeta(t, payload); err != nil {
		return fail(err)
	}
	grown := &topic{name: name, config: cfg, partitions: append(slices.Clip(t.partitions), added...)}
	l.mu.Lock()
	l.mu.topics[name] = grown
	l.topicsVersion.Add(1)
	l.mu.Unlock()
	l.opts.Logger.Info("eventlog: partitions created", "topic", name, "partitions", total)
	return nil
}

// replaceTopicMeta replaces t's topic.meta with payload, durably. When
// that fails, the new file may be in place already (the rename came before
// a failed directory fsync), and the next Open would apply a change whose
// call failed: the file of t's configuration goes back, durably. If that
// fails too, the error says the next Open may apply the change.
func (l *Log) replaceTopicMeta(t *topic, payload []byte) error {
	path := filepath.Join(l.topicDir(t.name), topicMetaName)
	err := writeMetaFile(l.opts.FS, path, topicMetaVersion, payload, true)
	if err == nil {
		return nil
	}
	prev, perr := encodeTopicMeta(t.name, t.config)
	if perr == nil {
		perr = writeMetaFile(l.opts.FS, path, topicMetaVersion, prev, true)
	}
	if perr != nil {
		return fmt.Errorf("%w (putting the previous topic.meta back failed too, so the next Open may apply the change: %w)", err, perr)
	}
	return err
}

// ValidateCreatePartitions returns the error CreatePartitions would return
// for name and total — a read-only Log, no such topic, an internal topic, a
// total that adds no partition or passes the limit of 65,536 — without
// changing anything, as Kafka's CreatePartitions does with validate-only.
// Another call can still change the topic before a CreatePartitions.
func (l *Log) ValidateCreatePartitions(name string, total int) error {
	return l.validateAdmin("create partitions of topic %q", name, func(t *topic) error {
		return checkPartitionCount(t, total)
	})
}

// validateAdmin runs check on the topic name, as the admin call that
// would do (what, with name's %q) runs it before it changes anything.
func (l *Log) validateAdmin(what, name string, check func(*topic) error) error {
	if err := l.refuseWrite(what, name); err != nil {
		return err
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	t, err := l.adminTopic(name)
	if err != nil {
		return err
	}
	return check(t)
}

// checkPartitionCount checks that total partitions of t adds some and
// stays within the limit.
func checkPartitionCount(t *topic, total int) error {
	switch have := len(t.partitions); {
	case total <= have:
		return errorf("eventlog: topic %q: %w: it has %d partitions, and CreatePartitions only adds (asked for %d in all)", t.name, ErrInvalidConfig, have, total)
	case total > maxPartitions:
		return errorf("eventlog: topic %q: %w: %d partitions is more than %d", t.name, ErrInvalidConfig, total, maxPartitions)
	}
	return nil
}

// AlterTopicConfig replaces a topic's configuration with cfg, as Kafka's
// AlterConfigs does for a topic's retention.ms, retention.bytes,
// segment.bytes, segment.ms, cleanup.policy, delete.retention.ms,
// min.cleanable.dirty.ratio, min/max.compaction.lag.ms and the durability:
// zero fields inherit the Log's Options, as in CreateTopic. To change some
// settings and keep the others, use UpdateTopicConfig: a TopicConfig read
// with Log.TopicConfig, changed and passed back here would undo a change
// made in between.
//
// cfg is validated as by CreateTopic. Its Partitions must be zero or the
// current count (CreatePartitions adds partitions), and its MaxBatchBytes
// (max.message.bytes) the current value: producers size their batches by
// it. The change is durable when AlterTopicConfig returns and applies to
// the next append, roll, retention check and cleaning; records already
// stored stay as they are. Once durable it applies to every partition,
// one that failed on a write or fsync included; an error after that (a
// switch to DurabilityOS whose fsync of the records written before it
// fails) says that the configuration is altered.
//
// Switching a topic to cleanup.policy=compact (CleanupCompact or
// CleanupCompactDelete) reads every partition, because the cleaner drops
// records without a key, as Kafka's does: when one is found the switch is
// refused with an error wrapping ErrInvalidConfig, and nothing changes.
// A record that DeleteRecords or retention deletes while the check runs,
// even one it has read, refuses nothing.
//
// ctx bounds the waits for another topic administration call in progress
// and for a cleaning of the topic in progress, and the key check: when it
// ends first, AlterTopicConfig returns an error wrapping ctx's and nothing
// changes.
func (l *Log) AlterTopicConfig(ctx context.Context, name string, cfg TopicConfig) error {
	if err := l.refuseWrite("alter the configuration of topic %q", name); err != nil {
		return err
	}
	if err := l.lockAdmin(ctx, "alter the configuration of", name); err != nil {
		return err
	}
	defer l.admin.Unlock()
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	t, err := l.adminTopic(name)
	if err != nil {
		return err
	}
	return l.alterTopicConfigLocked(ctx, t, cfg)
}

// UpdateTopicConfig changes a topic's configuration by a read, modify and
// write that no other change of the topic comes between: update gets the
// configuration Log.TopicConfig would return, changes it, and what it
// leaves is stored as by AlterTopicConfig, with the same checks, the same
// durability and the same errors. An error of update's is returned as it
// is, and nothing changes. Kafka's IncrementalAlterConfigs is this, where
// TopicConfig then AlterTopicConfig would lose a change that another
// goroutine made between the two.
//
// update runs while every other topic administration call of the Log
// (AlterTopicConfig, UpdateTopicConfig, CreatePartitions, DeleteTopic)
// waits, so it should be quick; such a call made from update fails with
// an error wrapping ErrConcurrentUse rather than waiting for itself. ctx
// bounds the waits as in AlterTopicConfig.
func (l *Log) UpdateTopicConfig(ctx context.Context, name string, update func(*TopicConfig) error) error {
	if err := l.refuseWrite("alter the configuration of topic %q", name); err != nil {
		return err
	}
	if err := l.lockAdmin(ctx, "alter the configuration of", name); err != nil {
		return err
	}
	defer l.admin.Unlock()
	// update runs outside ops, so that a Close it makes does not wait for
	// it; the admin lock keeps the topic as it is meanwhile.
	t, err := l.adminTopic(name)
	if err != nil {
		return err
	}
	cfg := t.config
	l.updatingConfigs.Add(1)
	err = runConfigUpdate(update, &cfg)
	l.updatingConfigs.Add(-1)
	if err != nil {
		return err
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	return l.alterTopicConfigLocked(ctx, t, cfg)
}

// runConfigUpdate calls an UpdateTopicConfig function. It is never
// inlined, so that its frame is on the stack of the goroutine while update
// runs, where lockAdmin looks for it.
//
//go:noinline
func runConfigUpdate(update func(*TopicConfig) error, cfg *TopicConfig) error {
	return update(cfg)
}

var runConfigUpdateEntry = funcEntry(runConfigUpdate)

// alterTopicConfigLocked is AlterTopicConfig of t once the admin lock is
// taken and the call entered.
func (l *Log) alterTopicConfigLocked(ctx context.Context, t *topic, cfg TopicConfig) error {
	name := t.name
	var err error
	if cfg, err = checkAlterTopicConfig(t, cfg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return errorf("eventlog: alter the configuration of topic %q: %w", name, err)
	}
	payload, err := encodeTopicMeta(name, cfg)
	if err != nil {
		return err
	}
	// No cleaning runs during the change: it would read settings that
	// may yet be undone.
	if err := t.lockCleanings(ctx, "alter configuration"); err != nil {
		return err
	}
	defer func() {
		for _, p := range t.partitions {
			p.cleaning.run.Unlock()
		}
	}()
	old := make([]*partitionConfig, len(t.partitions))
	for i, p := range t.partitions {
		old[i] = p.config()
	}
	next := cfg.resolve(&l.opts)
	restore := func(err error) error {
		for i, p := range t.partitions {
			p.setConfig(old[i])
		}
		return errorf("eventlog: topic %q: alter configuration: %w", name, err)
	}
	if next.cleanup.compacts() && !t.config.CleanupPolicy.compacts() {
		// Appends without a key are refused from now on; then every
		// record already there must have one. Meanwhile the partitions
		// keep their settings, retention included, but for the policy:
		// what the check may yet refuse must not apply.
		for i, p := range t.partitions {
			checking := *old[i]
			checking.cleanup = CleanupCompactDelete // the old policy deletes
			p.setConfig(&checking)
		}
		for _, p := range t.partitions {
			if err := p.requireKeys(ctx); err != nil {
				return restore(err)
			}
		}
	}
	if err := l.replaceTopicMeta(t, payload); err != nil {
		return restore(err)
	}
	// From here on the change stands, as topic.meta holds it: every
	// partition and the registry take it, whatever fails after.
	for _, p := range t.partitions {
		p.setConfig(&next)
	}
	altered := &topic{name: name, config: cfg, partitions: t.partitions}
	l.mu.Lock()
	l.mu.topics[name] = altered
	l.topicsVersion.Add(1)
	l.mu.Unlock()
	l.opts.Logger.Info("eventlog: topic configuration altered", "topic", name)
	var errs []error
	for _, p := range t.partitions {
		// What was written waits for an fsync to become visible; OS
		// durability needs none, and no more are requested. A partition
		// that failed shows it at the next Open, as it would have.
		if next.durability == DurabilityOS && p.HighWatermark() < p.LogEndOffset() && p.err() == nil {
			if err := p.syncTo(p.written.Load()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return errorf("eventlog: topic %q: the configuration is altered, but records written before it could not be made visible: %w", name, err)
	}
	return nil
}

// ValidateAlterTopicConfig returns the error AlterTopicConfig would return
// for name and cfg before it reads the topic's records — a read-only Log,
// no such topic, an internal topic, an invalid cfg, a change of
// Partitions or MaxBatchBytes — without changing anything, as Kafka's
// AlterConfigs and IncrementalAlterConfigs do with validate-only. It does
// not read the records: a switch to compaction that AlterTopicConfig
// refuses for a record without a key passes it. Another call can still
// change the topic before an AlterTopicConfig.
func (l *Log) ValidateAlterTopicConfig(name string, cfg TopicConfig) error {
	return l.validateAdmin("alter the configuration of topic %q", name, func(t *topic) error {
		_, err := checkAlterTopicConfig(t, cfg)
		return err
	})
}

// checkAlterTopicConfig checks cfg as the new configuration of t and
// returns it as AlterTopicConfig stores it: in whole milliseconds, with
// t's partition count.
func checkAlterTopicConfig(t *topic, cfg TopicConfig) (TopicConfig, error) {
	if err := cfg.validate(); err != nil {
		return cfg, errorf("eventlog: topic %q: %w", t.name, err)
	}
	cfg = cfg.inMilliseconds()
	switch {
	case cfg.Partitions == 0:
		cfg.Partitions = len(t.partitions)
	case cfg.Partitions != len(t.partitions):
		return cfg, errorf("eventlog: topic %q: %w: Partitions %d differs from the %d the topic has (add partitions with CreatePartitions)", t.name, ErrInvalidConfig, cfg.Partitions, len(t.partitions))
	}
	if cfg.MaxBatchBytes != t.config.MaxBatchBytes {
		return cfg, errorf("eventlog: topic %q: %w: MaxBatchBytes (max.message.bytes) cannot be altered", t.name, ErrInvalidConfig)
	}
	return cfg, nil
}

// setConfig replaces the partition's settings between appends and
// retention checks, so that each sees one set.
func (p *Partition) setConfig(c *partitionConfig) {
	p.cleaning.swap.Lock()
	defer p.cleaning.swap.Unlock()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.settings.Store(c)
}

// requireKeys fails with ErrInvalidConfig when a record of the partition
// has a null key. Records that DeleteRecords or retention delete while it
// reads need no key, those it has read already included.
func (p *Partition) requireKeys(ctx context.Context) error {
	if p.HighWatermark() < p.LogEndOffset() {
		if err := p.syncTo(p.written.Load()); err != nil {
			return err
		}
	}
	var recs []Record
	for offset := p.LogStartOffset(); offset < p.HighWatermark(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		recs, err = p.readPastDeleted(recs[:0], offset, replayChunk)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			// A record that DeleteRecords or retention deleted since it
			// was read needs no key; the next read goes on from the new
			// log start (readPastDeleted).
			if recs[i].Key == nil && recs[i].Offset >= p.LogStartOffset() {
				return p.errorf("%w: the record at offset %d has a null key, which compaction would delete (delete the records before it with DeleteRecords, or keep cleanup.policy=delete)", ErrInvalidConfig, recs[i].Offset)
			}
		}
		offset = recs[len(recs)-1].Offset + 1
		clear(recs)
	}
	return nil
}

// DeleteRecords deletes the records of a partition below offset, as Kafka's
// DeleteRecords does: the log start offset moves to offset, reads below it
// fail with ErrOffsetOutOfRange, and consumers positioned below it follow
// their AutoOffsetReset. DeleteToHighWatermark deletes everything below the
// high watermark. It returns the new log start offset, once durable; an
// offset at or below the current log start offset changes nothing.
//
// Whole segments below the new log start offset are deleted, once their
// last reader is done; the rest stays on disk, unreadable, in the segment
// the offset falls in, which the retention check deletes once it is closed
// and wholly below the log start offset, as Kafka's does, or sooner as
// retention.ms and retention.bytes say. An offset past the high watermark,
// or negative but for DeleteToHighWatermark, fails with
// ErrOffsetOutOfRange; a topic whose cleanup.policy is compact
// alone refuses DeleteRecords, as Kafka's does (ErrInvalidConfig).
func (l *Log) DeleteRecords(ctx context.Context, topic string, partition int32, offset int64) (int64, error) {
	if err := l.refuseWrite("delete records of topic %q partition %d", topic, partition); err != nil {
		return -1, err
	}
	if !l.enter() {
		return -1, ErrClosed
	}
	defer l.exit()
	if _, err := l.adminTopic(topic); err != nil {
		return -1, err
	}
	p, err := l.Partition(topic, partition)
	if err != nil {
		return -1, err
	}
	if err := ctx.Err(); err != nil {
		return -1, p.errorf("delete records: %w", err)
	}
	if hook := l.deleteRecordsHook.Load(); hook != nil {
		(*hook)()
	}
	start, dropped, err := p.deleteRecords(offset)
	if rerr := p.releaseDropped(dropped); rerr != nil {
		return start, rerr
	}
	if err != nil {
		return start, err
	}
	l.opts.Logger.Info("eventlog: records deleted", "topic", topic, "partition", partition, "log_start_offset", start)
	return start, nil
}

// deleteRecords is DeleteRecords under the partition's cleaning swap lock:
// it moves the log start offset to offset and unlists the segments below
// it, which it returns for releaseDropped. It takes the append lock only to
// unlist them: appends and reads must not wait for the fsync that makes the
// new log start offset durable (see persistLogStart).
func (p *Partition) deleteRecords(offset int64) (start int64, dropped []*segment, err error) {
	p.cleaning.swap.Lock()
	defer p.cleaning.swap.Unlock()
	if err := p.err(); err != nil {
		return -1, nil, err
	}
	// Checked under the lock that setConfig holds, so that AlterTopicConfig
	// cannot switch the topic to compact alone before the records go.
	if c := p.config().cleanup; c == CleanupCompact {
		return -1, nil, p.errorf("%w: cleanup.policy is %s: records of a compacted topic cannot be deleted by offset", ErrInvalidConfig, c)
	}
	hw := p.HighWatermark()
	if offset == DeleteToHighWatermark {
		offset = hw
	}
	if offset < 0 {
		return -1, nil, p.errorf("%w: DeleteRecords before offset %d, which is negative (DeleteToHighWatermark, -1, deletes up to the high watermark)", ErrOffsetOutOfRange, offset)
	}
	if offset > hw {
		return -1, nil, p.errorf("%w: DeleteRecords before offset %d: the high watermark is %d", ErrOffsetOutOfRange, offset, hw)
	}
	if start := p.logStart.Load(); offset <= start {
		return start, nil, nil
	}
	if err := p.persistLogStart(offset); err != nil {
		return -1, nil, p.errorf("delete records: %w", err)
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return offset, p.dropBelowLogStartLocked(), nil
}

// persistLogStart makes offset the partition's log start offset, durably
// first: Open applies the checkpoint, so that segments below it that a
// power loss brings back, or that a reader still held when a crash came,
// are dropped again rather than read. Readers see the new offset only once
// it is durable, and the segments below it are unlisted (and their files
// removed) only after that.
//
// The caller holds the partition's cleaning swap lock, which serializes
// the writers of the checkpoint (retention and DeleteRecords; Open's
// loadLogStart runs before either can), so that it never goes back, and
// not its append lock: appends and reads never wait for these fsyncs.
func (p *Partition) persistLogStart(offset int64) error {
	payload := binary.BigEndian.AppendUint64(nil, uint64(offset))
	if err := writeMetaFile(p.log.opts.FS, filepath.Join(p.dir, logStartName), logStartVersion, payload, true); err != nil {
		return fmt.Errorf("write %s: %w", logStartName, err)
	}
	p.logStart.Store(offset)
	return nil
}

// dropBelowLogStartLocked unlists the closed segments that hold only
// offsets below the log start offset and returns them for releaseDropped.
func (p *Partition) dropBelowLogStartLocked() []*segment {
	segs := *p.segments.Load()
	start := p.logStart.Load()
	drop := 0
	for drop < len(segs)-1 && segs[drop+1].base <= start {
		drop++
	}
	return p.dropSegmentsLocked(drop)
}

// loadLogStart applies the partition's log start offset checkpoint at Open.
// A checkpoint past the log end — records that DeleteRecords deleted and
// a power loss then took away on a DurabilityOS topic — moves the log
// start offset to the log end, and is lowered there, durably, before any
// append can reuse the offsets lost.
func (p *Partition) loadLogStart() error {
	start, ok, err := readLogStart(p.log.opts.FS, p.dir)
	if err != nil && p.log.opts.Repair && errors.Is(err, ErrCorrupt) {
		// The offset is lost. DeleteRecords and retention removed every
		// segment wholly below it, so it lay in the first segment left: the log starts
		// at that segment's base again, as in Kafka without its
		// checkpoint, and the records of that segment that DeleteRecords
		// had removed are readable again. Guessing a later start instead
		// would remove records nobody deleted, which no repair may do;
		// DeleteRecords can remove them again. The file goes, with a copy.
		segs := *p.segments.Load()
		upTo := p.logEnd.Load()
		if len(segs) > 1 {
			upTo = segs[1].base
		}
		p.log.opts.Logger.Warn("eventlog: log start offset lost: records that DeleteRecords removed may be readable again",
			"dir", p.dir, "log_start", segs[0].base, "below", upTo, "err", err)
		return p.setAside(logStartName, err)
	}
	if err != nil {
		return p.errorf("%w", err)
	}
	if !ok {
		return nil
	}
	if end := p.logEnd.Load(); start > end {
		// The records up to the checkpoint are gone and their offsets go
		// to the next appends; a checkpoint left past them would delete
		// those appends at the next Open. It is lowered before any.
		p.log.opts.Logger.Warn("eventlog: log start offset past the log end: records below it were lost", "dir", p.dir, "log_start", start, "log_end", end)
		start = end
		if err := p.persistLogStart(start); err != nil {
			return p.errorf("lower the log start offset to the log end: %w", err)
		}
	}
	if start <= p.logStart.Load() {
		return nil
	}
	p.logStart.Store(start)
	p.appendMu.Lock()
	dropped := p.dropBelowLogStartLocked()
	p.appendMu.Unlock()
	return p.releaseDropped(dropped)
}

// readLogStart reads the log start offset checkpoint of the partition in
// dir; ok is false when there is none.
func readLogStart(fsys FS, dir string) (start int64, ok bool, err error) {
	path := filepath.Join(dir, logStartName)
	version, payload, err := readMetaFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err == nil && (version != logStartVersion || len(payload) != 8) {
		err = &CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("log start offset checkpoint of version %d with %d bytes", version, len(payload))}
	}
	if err != nil {
		return 0, false, err
	}
	return int64(binary.BigEndian.Uint64(payload)), true, nil
}
