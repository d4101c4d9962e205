package eventlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Log is an open log directory: the topics in it and the goroutines that
// maintain them. Open one with Open and release it with Close. A Log is safe
// for concurrent use.
type Log struct {
	dir  string
	opts Options
	// given is the Options as passed to Open, before defaults: which
	// settings the host set, for TopicSettings.
	given Options
	lock  io.Closer

	// ops is held for reading by every call in flight and for writing by
	// Close, so that Close waits for them and later calls see closed.
	ops    sync.RWMutex
	closed atomic.Bool

	mu struct {
		sync.RWMutex
		topics map[string]*topic
		// creating holds the names of the topics a CreateTopic is making
		// on disk, which it does without holding mu.
		creating map[string]bool
	}

	// admin serializes the operations of admin.go. It is taken before
	// ops, never while holding it. The calls that take it give up waiting
	// for it when their ctx ends (lockAdmin).
	admin ctxMutex
	// updatingConfigs counts the UpdateTopicConfig functions running, so
	// that lockAdmin looks for one on its caller's stack only then.
	updatingConfigs atomic.Int32
	// deleteRecordsHook, when set, is called by DeleteRecords before it
	// takes the partition's locks. Tests only.
	deleteRecordsHook atomic.Pointer[func()]
	// txnOffsetsHook, when set, is called by SendOffsetsToTransaction
	// once its batch is appended to __consumer_offsets. Tests only.
	txnOffsetsHook atomic.Pointer[func()]
	// txnOffsetsCheckedHook, when set, is called by
	// SendOffsetsToTransaction once it checked that the group member owns
	// the partitions, before it writes the offsets. Tests only.
	txnOffsetsCheckedHook atomic.Pointer[func()]
	// commitHook, when set, is called by a Consumer's commit once it took
	// the offsets to commit, before it checks them. Tests only.
	commitHook atomic.Pointer[func()]
	// commitCheckedHook, when set, is called by a plain offset commit
	// (a Consumer's, an ExternalMember's, CommitGroupOffsets) once its
	// check passed, before it writes the offsets. Tests only.
	commitCheckedHook atomic.Pointer[func()]
	// positionHook, when set, is called by a Consumer's reads with each
	// partition before they check its position. Tests only.
	positionHook atomic.Pointer[func(TopicPartition)]
	// segmentHook, when set, is called by a read's lookup of the segment
	// holding an offset, between loading the partition's segment list and
	// acquiring the segment found. Tests only.
	segmentHook atomic.Pointer[func(TopicPartition)]
	// replayHook, when set, is called by Replay with each partition once
	// it loaded the partition's log start offset, before it starts reading
	// there. Tests only.
	replayHook atomic.Pointer[func(TopicPartition)]
	// decompressHook, when set, is called each time a read, or a
	// read-ahead verifier, decompresses a batch. Tests only.
	decompressHook atomic.Pointer[func()]
	// topicsVersion counts the changes to the registry of topics, so that
	// the views producers and groups keep of it can tell they are stale.
	topicsVersion atomic.Int64

	recovery recoveryCounters
	cleaner  cleaner    // the log cleaner's hooks and counters; see compaction.go
	groups   groupState // consumer groups and committed offsets; see group.go
	txns     logTxns    // producer ids and transactions; see txn_coordinator.go

	readOnly readOnlyState // with Options.ReadOnly; see readonly.go

	verifiers        atomic.Int32    // read-ahead verifiers running; see readahead.go
	readAheadBatches atomic.Int64    // batches whose CRC a verifier checked for a reader
	readAheadParsed  atomic.Int64    // batches a reader read from its verifier's tables
	readerTabled     atomic.Int64    // batches a reader checked and tabled itself (tableOwn)
	rebuildScans     atomic.Int64    // scans of a segment's log by Partition.rebuildIndex
	parseTables      sync.Pool       // *parseTables of verifiers that ended; see readahead_parse.go
	readerTables     sync.Pool       // *readerTable of scans that ran without a verifier
	recordChunks     sync.Pool       // *recordChunk of view cursors that ended; see cursor.go
	syncRequests     chan *Partition // partitions that want a background fsync
	// writebackRequests: partitions whose active segment has a chunk more
	// to write out (see Partition.startWriteback).
	writebackRequests chan *Partition
	callbacks         atomic.Int32   // goroutines running Producers' SendAsync functions; see producer_callback.go
	stop              chan struct{}  // closed by Close to stop the goroutines
	wg                sync.WaitGroup // the Log's goroutines
	closeOnce         sync.Once
	closeErr          error
}

// Open opens the log in dir, creating the directory if needed, and recovers
// it after a crash. A nil opts means defaults. A second Open of the same
// directory, in this process or another, fails with ErrLocked until the first
// Log is closed. With Options.ReadOnly, Open takes no lock, creates and
// recovers nothing, and fails if dir holds no log; any number of read-only
// Logs may read a directory that one Log has open for writing.
//
// A directory that holds no log yet becomes one whatever else it holds:
// Open of the wrong directory (a log's parent, say) starts an empty log
// there rather than failing, so a service that must find its records
// should check that the topics it expects exist (Log.Topics), or open
// read-only first. The command-line tool makes a log only in a new or
// empty --dir.
func Open(dir string, opts *Options) (*Log, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: empty directory name", ErrInvalidConfig)
	}
	if o.ReadOnly {
		return openReadOnly(dir, o, givenOptions(opts))
	}
	// A directory without a topics directory holds no log: Open makes a
	// new one, which has nothing to recover.
	_, statErr := o.FS.Stat(filepath.Join(dir, topicsDirName))
	if err := o.FS.MkdirAll(filepath.Join(dir, topicsDirName), 0o755); err != nil {
		return nil, errorf("eventlog: open %s: %w", dir, err)
	}
	lock, err := o.FS.Lock(filepath.Join(dir, lockFileName))
	if errors.Is(err, ErrLocked) {
		// The FS's error names the lock file and wraps ErrLocked inside
		// its own text, which would name the package twice.
		return nil, errorf("eventlog: open %s: %w", dir, ErrLocked)
	}
	if err != nil {
		return nil, errorf("eventlog: open %s: %w", dir, err)
	}
	l := &Log{
		dir:               dir,
		opts:              o,
		given:             givenOptions(opts),
		lock:              lock,
		syncRequests:      make(chan *Partition, 64),
		writebackRequests: make(chan *Partition, 64),
		stop:              make(chan struct{}),
	}
	l.mu.topics = make(map[string]*topic)
	l.txns.ids.init(l)
	l.txns.ids.existed = !errors.Is(statErr, os.ErrNotExist)
	if err := l.recover(); err != nil {
		return nil, errors.Join(err, l.releaseTopics(), lock.Close())
	}
	if errors.Is(statErr, os.ErrNotExist) {
		l.recovery.clean = true
	}
	l.wg.Add(4)
	go l.background()
	go l.runRetention()
	go l.runCleaner()
	go l.checkpointRecoveryPoints(l.stop)
	if c := l.txns.coord; c != nil {
		l.goBackground(c.run) // transaction timeouts
	}
	if l.groups.offsets != nil && o.OffsetsRetention > 0 {
		// Its offsets expire whether or not a group is used again.
		if _, err := l.coordinator(); err != nil {
			return nil, errors.Join(err, l.Close())
		}
	}
	return l, nil
}

// givenOptions returns *opts, or zero Options for nil.
func givenOptions(opts *Options) Options {
	if opts == nil {
		return Options{}
	}
	return *opts
}

// syncLogDirChain makes durable the entries of the log's directory dir
// and of each of its ancestors: a directory whose entry is not durable
// vanishes in a power loss, with every topic in it. Open calls it after
// every unclean shutdown, a new log's first Open included, and not only
// for the directories it creates: an Open killed between making them and
// syncing their parents leaves directories that the next Open finds but
// that a power loss may still take. The walk stops at an ancestor above
// dir that this process may not open, or whose filesystem cannot fsync a
// directory: read-only, where no earlier Open made anything, or without
// directory fsync, where nothing can make an entry durable. Any other
// error fails Open.
func syncLogDirChain(fsys FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	for d := dir; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) ||
				errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
				return nil
			}
			return err
		}
	}
	return nil
}

// recover opens every topic. After a clean shutdown nothing is scanned;
// otherwise the last segment of each partition is.
func (l *Log) recover() error {
	start := time.Now()
	fsys := l.opts.FS
	markerPath := filepath.Join(l.dir, cleanMarkerName)
	_, _, markerErr := readMetaFile(fsys, markerPath)
	clean := markerErr == nil
	l.recovery.clean = clean
	if !clean {
		// See syncUncleanEntries below.
		if err := syncLogDirChain(fsys, l.dir); err != nil {
			return errorf("eventlog: open %s: %w", l.dir, err)
		}
	}
	names, err := fsys.ReadDir(l.dir)
	if err == nil {
		_, err = removeTempFiles(fsys, l.opts.Logger, l.dir, names, isLogDirTempFile)
	}
	if err != nil {
		return errorf("eventlog: open %s: %w", l.dir, err)
	}
	topicsDir := filepath.Join(l.dir, topicsDirName)
	names, err = fsys.ReadDir(topicsDir)
	if err != nil {
		return errorf("eventlog: open %s: %w", l.dir, err)
	}
	var deleted []string
	for _, name := range names {
		if _, ok := isDeletedTopicDir(name); ok {
			deleted = append(deleted, name)
			continue
		}
		t, err := l.openTopic(name, clean)
		if err != nil {
			return err
		}
		if t != nil {
			l.mu.topics[name] = t
		}
	}
	// syncUncleanEntries: after an unclean shutdown, the directories Open
	// relies on are fsynced — topics/ here, each topic's directory and
	// each partition's as openTopic opens them, the log's directory and
	// its ancestors above — before anything is acknowledged. A process
	// killed between a rename or creation and the directory fsync that
	// makes it durable (a CreateTopic, a CreatePartitions, a roll) leaves
	// a name that this Open finds and builds on, but that a power loss
	// may still take, with what was acknowledged in it since. After a
	// clean Close they are durable: the Open before it made them so, and
	// every change since was synced before it returned.
	if !clean {
		if err := fsys.SyncDir(topicsDir); err != nil {
			return errorf("eventlog: open %s: %w", l.dir, err)
		}
	}
	// The marker stays until Open has read everything it replays, and goes,
	// durably, before anything is appended. An Open that fails on damage
	// thus leaves it, and the next Open fails the same way, instead of
	// scanning from a recovery point that may lag and cutting the damage as
	// a torn tail. This is crash-safe: until here Open changed segment files
	// only by fsynced cuts and finished swaps, which are right with or
	// without the marker, so a crash leaves a directory that recovers the
	// same way; from the first append on a crash may tear bytes, so the
	// marker must be gone and the next Open scans. Removing the marker
	// first and putting it back when Open fails would not be: a crash in
	// between loses it.
	lowerOffsets, err := l.loadOffsets()
	if err != nil {
		return err
	}
	if err := l.loadTransactions(); err != nil {
		return err
	}
	if err := l.repairProducerIDs(); err != nil {
		return err
	}
	if !errors.Is(markerErr, os.ErrNotExist) {
		if err := fsys.Remove(markerPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return errorf("eventlog: remove clean-shutdown marker: %w", err)
		}
		if err := fsys.SyncDir(l.dir); err != nil {
			return errorf("eventlog: sync %s: %w", l.dir, err)
		}
	}
	if lowerOffsets != nil {
		lowerOffsets.notePendingPastLogEnd()
	}
	if err := l.finishTransactions(); err != nil {
		return err
	}
	if lowerOffsets != nil {
		if err := lowerOffsets.lowerPastLogEnd(); err != nil {
			return err
		}
	}
	if err := l.finishDeletedTopics(deleted); err != nil {
		return err
	}
	l.recovery.duration = time.Since(start)
	l.opts.Logger.Debug("eventlog: opened", "dir", l.dir, "recovery", l.Recovery())
	return nil
}

// openTopic opens one topic directory. A directory without topic.meta is
// the remains of a topic creation that crashed; it is removed.
func (l *Log) openTopic(name string, clean bool) (*topic, error) {
	dir := l.topicDir(name)
	metaPath := filepath.Join(dir, topicMetaName)
	version, payload, err := readMetaFile(l.opts.FS, metaPath)
	if err != nil && isStrayFile(l.opts.FS, dir) {
		return nil, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		// CreateTopic writes topic.meta before any append can happen, so an
		// incomplete topic holds no records; one that does lost its
		// metadata some other way, and its records are not ours to delete.
		if path, ok := firstRecordFile(l.opts.FS, dir); ok {
			return nil, errorf("eventlog: topic %q: %w", name, &CorruptError{Path: metaPath, Offset: -1, Reason: fmt.Sprintf("topic.meta is missing but %s holds records", path)})
		}
		l.opts.Logger.Warn("eventlog: removing incomplete topic directory", "dir", dir)
		if err := l.opts.FS.RemoveAll(dir); err != nil {
			return nil, errorf("eventlog: remove incomplete topic %s: %w", dir, err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, errorf("eventlog: topic %q: %w", name, err)
	}
	storedName, cfg, err := decodeTopicMeta(metaPath, version, payload)
	if err != nil {
		return nil, errorf("eventlog: topic %q: %w", name, err)
	}
	if storedName != name {
		return nil, errorf("eventlog: topic %q: %w", name, &CorruptError{Path: metaPath, Offset: -1, Reason: fmt.Sprintf("metadata names topic %q", storedName)})
	}
	names, err := l.opts.FS.ReadDir(dir)
	if err == nil {
		_, err = removeTempFiles(l.opts.FS, l.opts.Logger, dir, names, isTopicDirTempFile)
	}
	if err != nil {
		return nil, errorf("eventlog: topic %q: %w", name, err)
	}
	t := &topic{name: name, config: cfg}
	pc := cfg.resolve(&l.opts)
	how := afterCrash
	if clean {
		how = afterCleanShutdown
	}
	for id := range int32(cfg.Partitions) {
		p, err := l.openPartition(name, id, pc, how)
		if err == nil {
			if err = p.loadLogStart(); err == nil {
				err = p.loadProducerState()
			}
			if err == nil && !clean {
				if serr := l.opts.FS.SyncDir(p.dir); serr != nil { // see syncUncleanEntries
					err = p.errorf("sync %s: %w", p.dir, serr)
				}
			}
			if err != nil {
				err = errors.Join(err, p.release())
			}
		}
		if err != nil {
			return nil, errors.Join(err, t.release())
		}
		t.partitions = append(t.partitions, p)
	}
	if !clean {
		if err := l.opts.FS.SyncDir(dir); err != nil { // see syncUncleanEntries
			return nil, errors.Join(errorf("eventlog: topic %q: %w", name, err), t.release())
		}
	}
	return t, nil
}

// firstRecordFile returns a non-empty segment file under a topic directory,
// if there is one.
func firstRecordFile(fsys FS, dir string) (string, bool) {
	parts, _ := fsys.ReadDir(dir)
	for _, part := range parts {
		names, _ := fsys.ReadDir(filepath.Join(dir, part))
		for _, name := range names {
			if !strings.HasSuffix(name, logExt) {
				continue
			}
			path := filepath.Join(dir, part, name)
			if info, err := fsys.Stat(path); err == nil && info.Size() > 0 {
				return path, true
			}
		}
	}
	return "", false
}

// CreateTopic creates a topic with cfg.Partitions partitions (default 1).
// The topic exists durably when CreateTopic returns.
func (l *Log) CreateTopic(name string, cfg TopicConfig) error {
	return l.createTopic(name, cfg, false)
}

// ValidateCreateTopic returns the error CreateTopic would return for name
// and cfg — an invalid name or configuration, a topic of that name or of
// one that differs from it only in case — without creating anything, as
// Kafka's CreateTopics does with validate-only. A topic created meanwhile
// can still make CreateTopic fail with ErrTopicExists.
func (l *Log) ValidateCreateTopic(name string, cfg TopicConfig) error {
	if err := l.checkCreateTopic(name, cfg, false); err != nil {
		return err
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.topicNameTakenLocked(name)
}

// checkCreateTopic checks what a creation of topic name with cfg checks
// before it looks at the topics there are: the name, a read-only Log, and
// cfg.
func (l *Log) checkCreateTopic(name string, cfg TopicConfig, internal bool) error {
	if err := validateTopicName(name, internal); err != nil {
		return err
	}
	if err := l.refuseWrite("create topic %q", name); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return errorf("eventlog: topic %q: %w", name, err)
	}
	return nil
}

func (l *Log) createTopic(name string, cfg TopicConfig, internal bool) error {
	if err := l.checkCreateTopic(name, cfg, internal); err != nil {
		return err
	}
	cfg = cfg.inMilliseconds()
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	payload, err := encodeTopicMeta(name, cfg)
	if err != nil {
		return err
	}
	if err := l.reserveTopicName(name); err != nil {
		return err
	}
	t, err := l.makeTopic(name, cfg, payload)
	l.mu.Lock()
	delete(l.mu.creating, name)
	if err == nil {
		l.mu.topics[name] = t
		l.topicsVersion.Add(1)
	}
	l.mu.Unlock()
	return err
}

// reserveTopicName claims name for a topic that CreateTopic is about to
// make, so that the topic map's lock need not be held while it is made
// (its fsyncs would stall every topic lookup): it fails if a topic of that
// name, or of a name that differs from it only in case, exists or is being
// made.
func (l *Log) reserveTopicName(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.topicNameTakenLocked(name); err != nil {
		return err
	}
	if l.mu.creating == nil {
		l.mu.creating = make(map[string]bool)
	}
	l.mu.creating[name] = true
	return nil
}

// topicNameTakenLocked returns ErrTopicExists if a topic of name, or of a
// name that differs from it only in case, exists or is being created. l.mu
// is held, for reading at least.
func (l *Log) topicNameTakenLocked(name string) error {
	taken := func(existing string) error {
		if existing == name {
			return fmt.Errorf("%w: %q", ErrTopicExists, name)
		}
		return fmt.Errorf("%w: %q differs from existing topic %q only in case, which collides on case-insensitive filesystems", ErrTopicExists, name, existing)
	}
	for existing := range l.mu.topics {
		if strings.EqualFold(existing, name) {
			return taken(existing)
		}
	}
	for existing := range l.mu.creating {
		if strings.EqualFold(existing, name) {
			return taken(existing)
		}
	}
	return nil
}

// makeTopic makes the files of a new topic, durably, and returns it; on
// failure it leaves none of them.
func (l *Log) makeTopic(name string, cfg TopicConfig, payload []byte) (*topic, error) {
	// Partition directories and their first segments come first, topic.meta
	// last; one sync of the topic directory then makes the partition
	// directories and topic.meta durable together. A crash before topic.meta
	// exists leaves a directory that Open removes; one that kept topic.meta
	// but lost a partition directory gets it back empty at Open (no append
	// can have been acknowledged before CreateTopic returned).
	fsys := l.opts.FS
	dir := l.topicDir(name)
	pc := cfg.resolve(&l.opts)
	t := &topic{name: name, config: cfg}
	for id := range int32(cfg.Partitions) {
		err := fsys.MkdirAll(filepath.Join(dir, partitionDirName(id)), 0o755)
		var p *Partition
		if err == nil {
			p, err = l.openPartition(name, id, pc, newPartition)
		}
		if err != nil {
			return nil, errors.Join(errorf("eventlog: create topic %q: %w", name, err), t.release(), fsys.RemoveAll(dir))
		}
		t.partitions = append(t.partitions, p)
	}
	// topic.meta is written durably whatever the topic's durability: a
	// rename that reaches the disk before the file's bytes would leave a
	// damaged topic.meta, and Open refuses those.
	err := writeMetaFile(fsys, filepath.Join(dir, topicMetaName), topicMetaVersion, payload, true)
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(dir))
	}
	if err != nil {
		return nil, errors.Join(errorf("eventlog: create topic %q: %w", name, err), t.release(), fsys.RemoveAll(dir))
	}
	return t, nil
}

// Topics lists the user topics, sorted.
func (l *Log) Topics() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	names := make([]string, 0, len(l.mu.topics))
	for name := range l.mu.topics {
		if !strings.HasPrefix(name, internalTopicPrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// TopicConfig returns a topic's configuration: the one it was created with,
// as CreatePartitions and AlterTopicConfig changed it since. Its zero
// fields inherit the Log's Options; TopicSettings reports the values in
// effect.
func (l *Log) TopicConfig(name string) (TopicConfig, error) {
	t, err := l.topic(name)
	if err != nil {
		return TopicConfig{}, err
	}
	return t.config, nil
}

// Partition returns a handle on one partition of a topic.
func (l *Log) Partition(topicName string, id int32) (*Partition, error) {
	t, err := l.topic(topicName)
	if err != nil {
		return nil, err
	}
	if id < 0 || int(id) >= len(t.partitions) {
		return nil, errorf("eventlog: topic %q: %w: partition %d, topic has %d", topicName, ErrPartitionNotFound, id, len(t.partitions))
	}
	return t.partitions[id], nil
}

func (l *Log) topic(name string) (*topic, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	l.mu.RLock()
	t := l.mu.topics[name]
	l.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, quoteTopicName(name))
	}
	return t, nil
}

// enter registers a call in flight; it fails once the Log is closed.
func (l *Log) enter() bool {
	l.ops.RLock()
	if l.closed.Load() {
		l.ops.RUnlock()
		return false
	}
	return true
}

func (l *Log) exit() { l.ops.RUnlock() }

// ctxMutex is a mutex that a caller can give up waiting for when a context
// ends. Its zero value is unlocked.
type ctxMutex struct {
	once   sync.Once
	locked chan struct{} // holds a token while the mutex is locked
}

func (m *ctxMutex) tokens() chan struct{} {
	m.once.Do(func() { m.locked = make(chan struct{}, 1) })
	return m.locked
}

func (m *ctxMutex) Lock() { m.tokens() <- struct{}{} }

func (m *ctxMutex) Unlock() {
	select {
	case <-m.tokens():
	default:
		panic("eventlog: unlock of an unlocked ctxMutex")
	}
}

// lockCtx locks m, or returns ctx's error if ctx ends first.
func (m *ctxMutex) lockCtx(ctx context.Context) error {
	select {
	case m.tokens() <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Log) requestSync(p *Partition) {
	select {
	case l.syncRequests <- p:
	case <-l.stop:
	}
}

// goBackground runs fn on a goroutine the Log owns: stop is closed when
// Close begins, after the calls in flight, and Close waits for fn to return.
// fn may call the Log until then; its calls fail with ErrClosed once Close
// began. It reports false, without running fn, when the Log is closed.
func (l *Log) goBackground(fn func(stop <-chan struct{})) bool {
	if !l.enterLong() {
		return false
	}
	go func() {
		defer l.exitLong()
		fn(l.stop)
	}()
	return true
}

// enterLong registers a long call, such as a Compact, which must stop by
// itself once Close begins: Close waits for it as for the Log's goroutines,
// after the calls in flight. awaitCallsInFlight does not wait for it, so
// that a DeleteTopic does not hold back every new call on the Log until it
// ends. It fails once the Log is closed; exitLong ends the call.
func (l *Log) enterLong() bool {
	if !l.enter() {
		return false
	}
	defer l.exit()
	l.wg.Add(1)
	return true
}

func (l *Log) exitLong() { l.wg.Done() }

// background runs the background fsyncs that partitions request until
// Close. It does nothing else: appends wait on these fsyncs, to become
// visible, and must not wait behind other I/O.
func (l *Log) background() {
	defer l.wg.Done()
	for {
		select {
		case p := <-l.syncRequests:
			p.syncWritten()
		case p := <-l.writebackRequests:
			p.startWriteback()
		case <-l.stop:
			return
		}
	}
}

// runRetention runs the retention check every RetentionCheckInterval until
// Close. It has its own goroutine, as the checkpointer has, so that the
// index loads, fsyncs and file removals of retention never delay the
// background fsyncs.
func (l *Log) runRetention() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.RetentionCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := l.enforceRetention(); err != nil {
				l.opts.Logger.Warn("eventlog: retention failed", "err", err)
			}
		case <-l.stop:
			return
		}
	}
}

// Close flushes and closes every partition, stops the Log's goroutines and
// releases the directory. It waits for calls in flight. When every partition
// closed cleanly it leaves a marker so that the next Open skips recovery.
// Close is idempotent; later calls return the first call's result. Close
// from a Producer's SendAsync function, which may run on one of the Log's
// goroutines that Close waits for, returns an error wrapping
// ErrConcurrentUse and closes nothing.
func (l *Log) Close() error {
	if l.calledFromCallback() {
		return errFromCallback("Log.Close")
	}
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Log) close() error {
	if !l.opts.ReadOnly {
		l.flushGroupMetadata() // while appends still work
	}
	l.shutdown()
	defer l.ops.Unlock()
	if l.opts.ReadOnly {
		return l.releaseTopics() // nothing was written, nothing to flush
	}

	var errs []error
	l.forEachPartition(func(p *Partition) {
		if !p.deleted.Load() { // a DeleteTopic that Close interrupted; Open finishes it
			errs = append(errs, p.closeActive())
		}
	})
	// The marker vouches for data already fsynced above, so it needs no
	// fsync of its own: if a power loss takes it, the next Open scans.
	// Recovery points are not written here: they cost a file creation per
	// partition, which is most of what a short-lived log pays to close; the
	// next Open writes those that lag (persistCleanRecoveryPoint).
	if errors.Join(errs...) == nil {
		errs = append(errs, writeMetaFile(l.opts.FS, filepath.Join(l.dir, cleanMarkerName), 1, nil, false))
	}
	errs = append(errs, l.releaseTopics(), l.lock.Close())
	return errors.Join(errs...)
}

// shutdown marks the Log closed, wakes waiters, waits for calls in flight
// and stops the Log's goroutines. It returns holding ops.
func (l *Log) shutdown() {
	l.closed.Store(true)
	l.forEachPartition(func(p *Partition) { p.hwMoved.broadcast() })
	l.ops.Lock() // wait for calls in flight
	close(l.stop)
	l.ops.Unlock()
	// The Log's goroutines may still call in (a producer's appends) and get
	// ErrClosed; holding ops while waiting for them would deadlock.
	l.wg.Wait()
	l.ops.Lock()
}

func (l *Log) forEachPartition(fn func(*Partition)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, t := range l.mu.topics {
		for _, p := range t.partitions {
			fn(p)
		}
	}
}

func (l *Log) releaseTopics() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for _, t := range l.mu.topics {
		err = errors.Join(err, t.release())
	}
	l.mu.topics = nil
	return err
}

func (t *topic) release() error {
	var err error
	for _, p := range t.partitions {
		err = errors.Join(err, p.release())
	}
	return err
}

// RecoveryStats reports what Open did to bring the log back.
type RecoveryStats struct {
	// CleanShutdown is true when the previous Log closed cleanly, so no
	// segment was scanned, and for a log that Open created, which had
	// nothing to recover.
	CleanShutdown bool
	// SegmentsScanned counts segments read batch by batch to find their end.
	SegmentsScanned int
	// BytesScanned counts the bytes of those segments read batch by batch:
	// after a crash, those from the last index entry before the recovery
	// point to the end.
	BytesScanned int64
	// BytesTruncated counts bytes cut from segment tails after the
	// recovery point (and, with Options.Repair, from corrupt data before
	// it).
	BytesTruncated int64
	// IndexesRebuilt counts segments whose indexes were rebuilt from the log
	// because they were missing, short or inconsistent; this includes
	// rebuilds done lazily after Open, on a segment's first read, and
	// closed segments whose .txnindex a read_committed read found lacking
	// (or listing aborts the segment does not hold) and mended.
	IndexesRebuilt int
	// Repaired lists the copies kept of corrupt data cut with Options.Repair.
	Repaired []string
	// LostSegments describes each partition that Options.Repair restarted
	// because its files showed segment files missing (see Options.Repair):
	// the first missing file, or the partition's directory, and the offset
	// the partition went on at. The records below that offset that were in
	// the missing files are gone.
	LostSegments []string
	// Duration is how long Open took to recover.
	Duration time.Duration
}

// recoveryCounters accumulates RecoveryStats during Open and lazy rebuilds.
type recoveryCounters struct {
	clean           bool
	segmentsScanned atomic.Int64
	bytesScanned    atomic.Int64
	bytesTruncated  atomic.Int64
	indexesRebuilt  atomic.Int64
	duration        time.Duration
	mu              sync.Mutex
	repaired        []string
	lostSegments    []string
}

// Recovery reports what Open did.
func (l *Log) Recovery() RecoveryStats {
	r := &l.recovery
	r.mu.Lock()
	defer r.mu.Unlock()
	return RecoveryStats{
		CleanShutdown:   r.clean,
		SegmentsScanned: int(r.segmentsScanned.Load()),
		BytesScanned:    r.bytesScanned.Load(),
		BytesTruncated:  r.bytesTruncated.Load(),
		IndexesRebuilt:  int(r.indexesRebuilt.Load()),
		Repaired:        append([]string(nil), r.repaired...),
		LostSegments:    append([]string(nil), r.lostSegments...),
		Duration:        r.duration,
	}
}
