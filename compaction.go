package eventlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Compaction (cleanup.policy=compact) keeps, for every key, at least the
// newest record, as Kafka's log cleaner does. A partition's closed segments
// below the high watermark form its cleanable log: a clean section, where
// each key appears at most once, followed by a dirty section appended since
// the last cleaning. The boundary, the first dirty offset, is kept in the
// partition's cleaner.meta. A cleaning (one pass):
//
//  1. builds a key→offset map of the dirty section (compaction_map.go), up
//     to the memory budget; where the budget runs out the pass ends, and
//     the rest stays dirty for the next pass;
//  2. rewrites the cleanable log from its start up to where the map reached,
//     keeping a record unless a newer one of its key is in the map, or it is
//     a tombstone whose delete horizon has passed. Offsets never change, so
//     gaps appear; batches keep their base and last offsets, as in Kafka;
//  3. merges consecutive small segments into one output whose size fits
//     segment.bytes and whose offsets fit the index's 32-bit relative
//     offsets, named by the first one's base offset;
//  4. swaps the outputs in, crash-safely (compaction_swap.go).
//
// Tombstones follow KIP-534: when a cleaning first keeps a batch holding a
// tombstone, it rewrites the batch with attribute bit 6 set and its base
// timestamp set to the delete horizon, now + delete.retention.ms (record
// timestamp deltas are re-encoded against it, so record timestamps do not
// change). A later cleaning at or after the horizon drops the tombstones.
//
// Transactions: the records of aborted transactions are dropped and never
// enter the key map. Transaction markers follow KIP-534 too: one whose
// transaction has no batch left gets a delete horizon, and a cleaning past
// it removes it (compaction_markers.go).
//
// Producer state: a batch none of whose records stay still stays, as
// Kafka's empty batch (header only), when it is the last batch with a
// sequence of a producer the partition remembers, unless it belongs to an
// aborted transaction: Open rebuilds producer state from the batches after
// its newest snapshot, which may predate the cleaning, or from the whole
// log when the snapshots are unreadable, and the header holds the
// producer's epoch and last sequence.
//
// What never gets cleaned: the active segment, anything at or above the
// high watermark or the last stable offset (an undecided transaction), and (min.compaction.lag.ms) segments holding records
// younger than the lag, together with everything after them.

// CleanupPolicy says what happens to a topic's old records (Kafka's
// cleanup.policy). The zero value is CleanupDelete.
type CleanupPolicy int8

const (
	// CleanupDelete deletes whole old segments by age and size (Retention,
	// RetentionBytes): Kafka's "delete", the default.
	CleanupDelete CleanupPolicy = iota
	// CleanupCompact keeps at least the newest record of every key and
	// never deletes by age or size: Kafka's "compact". Every record needs a
	// key.
	CleanupCompact
	// CleanupCompactDelete compacts and also applies retention: Kafka's
	// "compact,delete".
	CleanupCompactDelete
)

// String returns Kafka's name for the policy: "delete", "compact" or
// "compact,delete".
func (c CleanupPolicy) String() string {
	switch c {
	case CleanupDelete:
		return "delete"
	case CleanupCompact:
		return "compact"
	case CleanupCompactDelete:
		return "compact,delete"
	}
	return fmt.Sprintf("CleanupPolicy(%d)", int8(c))
}

func (c CleanupPolicy) valid() bool { return c >= CleanupDelete && c <= CleanupCompactDelete }

// compacts reports whether the cleaner compacts the topic.
func (c CleanupPolicy) compacts() bool { return c == CleanupCompact || c == CleanupCompactDelete }

// deletes reports whether retention deletes the topic's old segments.
func (c CleanupPolicy) deletes() bool { return c == CleanupDelete || c == CleanupCompactDelete }

// parseCleanupPolicy reads a policy as String writes it.
func parseCleanupPolicy(s string) (CleanupPolicy, bool) {
	for c := CleanupDelete; c <= CleanupCompactDelete; c++ {
		if c.String() == s {
			return c, true
		}
	}
	return 0, false
}

// Defaults of the compaction settings of TopicConfig, Kafka's.
const (
	DefaultDeleteRetention        = 24 * time.Hour // delete.retention.ms
	DefaultMinCleanableDirtyRatio = 0.5            // min.cleanable.dirty.ratio
)

// compactionSupported is false where open files cannot be removed or
// renamed, which swapping cleaned segments in needs (compaction_swap.go).
const compactionSupported = runtime.GOOS != "windows"

// minCleanerBufferBytes is the smallest Options.CleanerBufferBytes.
const minCleanerBufferBytes = 4 << 10

// cleaner is the Log's log cleaner: test hooks and counters. The background
// goroutine is runCleaner.
type cleaner struct {
	// hash hashes keys for the offset map; nil means xxhash. Tests set it
	// to force collisions.
	hash atomic.Pointer[func([]byte) uint64]
	// failpoint, when set, is called at each step of a swap (swapSteps);
	// an error stops the swap there, as a crash would. Tests only.
	failpoint atomic.Pointer[func(step string) error]

	bucket tokenBucket // Options.CleanerMaxBytesPerSecond, for all partitions

	cleanerCounters // of every partition, for Stats.Cleaner
}

// partitionCleaning is a partition's compaction state.
type partitionCleaning struct {
	// run is held for a whole cleaning: one at a time per partition,
	// whether Compact or the background cleaner started it. DeleteTopic
	// and AlterTopicConfig give up waiting for it when their ctx ends
	// (topic.lockCleanings).
	run ctxMutex
	// swap is held while a cleaning replaces segments and while retention
	// deletes them, so that the two never change the same files at once.
	// It is taken before appendMu.
	swap sync.Mutex

	firstDirty atomic.Int64 // offsets below it are clean: one record per key at most
	horizon    atomic.Int64 // earliest delete horizon (ms) of a tombstone or marker in the clean section, -1 if none
}

// Compact runs a cleaning of every partition of a compacted topic now,
// whatever its dirty ratio and max.compaction.lag.ms, and returns when it is
// done: tombstones and transaction markers past their delete horizon are
// dropped too. It honours
// min.compaction.lag.ms and never touches the active segment. It is meant for
// tests and tools; the Log's background cleaner does the same on its own.
// A topic that is not compacted yields an error wrapping ErrInvalidConfig.
// When ctx ends or the Log closes, the cleaning in progress stops and leaves
// the partition as it was.
func (l *Log) Compact(ctx context.Context, topic string) error {
	if err := l.refuseWrite("compact topic %q", topic); err != nil {
		return err
	}
	// A cleaning can take long, and stops once Close begins. A DeleteTopic
	// of this topic waits for it by its cleaning locks.
	if !l.enterLong() {
		return ErrClosed
	}
	defer l.exitLong()
	t, err := l.topic(topic)
	if err != nil {
		return err
	}
	if !t.config.CleanupPolicy.compacts() {
		return errorf("eventlog: topic %q: %w: cleanup.policy is %s, not compact", topic, ErrInvalidConfig, t.config.CleanupPolicy)
	}
	if !compactionSupported {
		return errorf("eventlog: topic %q: compaction on %s: %w", topic, runtime.GOOS, errors.ErrUnsupported)
	}
	var m *offsetMap
	for _, p := range t.partitions {
		if err := p.clean(ctx, true, &m); err != nil {
			return err
		}
	}
	return nil
}

// runCleaner is the background cleaner: every CleanerCheckInterval it cleans
// the compacted partitions that are due, until Close.
func (l *Log) runCleaner() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.CleanerCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			l.cleanDue()
		case <-l.stop:
			return
		}
	}
}

// cleanDue cleans every compacted partition whose dirty ratio, max lag or
// tombstone horizon says it is due.
func (l *Log) cleanDue() {
	if !compactionSupported {
		return
	}
	var due []*Partition
	l.forEachPartition(func(p *Partition) {
		if p.config().cleanup.compacts() {
			due = append(due, p)
		}
	})
	var m *offsetMap
	for _, p := range due {
		if l.closed.Load() {
			return
		}
		if p.err() != nil {
			continue
		}
		if err := p.clean(context.Background(), false, &m); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInvalidConfig) {
			l.opts.Logger.Warn("eventlog: cleaning failed", "topic", p.topic, "partition", p.id, "err", err)
		}
	}
}

// clean runs passes until the dirty section is clean. With force unset the
// first pass runs only if the partition is due. *m is the key map to reuse,
// if any, and the one used on return.
func (p *Partition) clean(ctx context.Context, force bool, m **offsetMap) error {
	p.cleaning.run.Lock()
	defer p.cleaning.run.Unlock()
	// The caller saw a compacted topic before it took the lock; since
	// then AlterTopicConfig may have switched it to delete, or refused
	// a switch to compact whose settings it tried while it checked.
	if c := p.config().cleanup; !c.compacts() {
		return p.errorf("%w: cleanup.policy is %s, not compact", ErrInvalidConfig, c)
	}
	for {
		if err := p.err(); err != nil {
			return err
		}
		more, err := p.cleanPass(ctx, force, m)
		if err != nil || !more {
			return err
		}
		force = true // finish what was started
	}
}

// cleanPlan is what a pass may clean: a prefix of the partition's segments,
// each acquired.
type cleanPlan struct {
	segs       []*segment
	ends       []int64 // ends[i]: the base offset of the segment listed after segs[i]
	cleanEnd   int64   // offset after the cleanable log
	firstDirty int64
	dirtyAt    int // index in segs of the segment holding firstDirty; len(segs) if none
	cleanBytes int64
	dirtyBytes int64
	maxLagDue  bool // a dirty record is older than max.compaction.lag.ms
	horizonDue bool // a tombstone in the clean section has passed its horizon
}

func (c *cleanPlan) release() {
	for _, s := range c.segs {
		_ = s.release()
	}
}

func (c *cleanPlan) dirty() bool { return c.firstDirty < c.cleanEnd }

// dirtyRatio is Kafka's: dirty bytes over all bytes of the cleanable log,
// counting the segment that holds the first dirty offset as dirty.
func dirtyRatio(clean, dirty int64) float64 {
	if clean+dirty == 0 {
		return 0
	}
	return float64(dirty) / float64(clean+dirty)
}

// due tells whether a pass should run.
func (c *cleanPlan) due(force bool, minRatio float64) bool {
	if c.horizonDue {
		return true
	}
	if !c.dirty() {
		return false
	}
	return force || c.maxLagDue || dirtyRatio(c.cleanBytes, c.dirtyBytes) >= minRatio
}

// planCleaning finds the cleanable log at time now (ms). It returns nil when
// a segment went away meanwhile (retention), so that the caller tries later.
func (p *Partition) planCleaning(now int64) (*cleanPlan, error) {
	segs := *p.segments.Load()
	hw := p.LastStableOffset() // never past an undecided transaction, as Kafka's cleaner
	c := &cleanPlan{firstDirty: max(p.cleaning.firstDirty.Load(), p.logStart.Load())}
	for i := 0; i+1 < len(segs) && segs[i+1].base <= hw; i++ {
		if !segs[i].acquire() {
			c.release()
			return nil, nil
		}
		c.segs = append(c.segs, segs[i])
		c.ends = append(c.ends, segs[i+1].base)
	}
	if lag := p.config().minCompactionLag.Milliseconds(); lag > 0 {
		for i, s := range c.segs {
			if c.ends[i] <= c.firstDirty {
				continue // clean: the lag concerns dirty records only
			}
			if _, _, err := s.loadIndex(p.config().indexInterval); err != nil {
				c.release()
				return nil, p.errorf("cleaning: %w", err)
			}
			if s.maxTimestamp.Load() > now-lag {
				for _, t := range c.segs[i:] {
					_ = t.release()
				}
				c.segs, c.ends = c.segs[:i], c.ends[:i]
				break
			}
		}
	}
	c.cleanEnd = c.firstDirty
	if n := len(c.segs); n > 0 {
		c.cleanEnd = max(c.firstDirty, c.ends[n-1])
	}
	c.dirtyAt = sort.Search(len(c.segs), func(i int) bool { return c.ends[i] > c.firstDirty })
	for i, s := range c.segs {
		if i < c.dirtyAt {
			c.cleanBytes += s.size.Load()
		} else {
			c.dirtyBytes += s.size.Load()
		}
	}
	if h := p.cleaning.horizon.Load(); h >= 0 && now >= h && len(c.segs) > 0 {
		c.horizonDue = true
	}
	if lag := p.config().maxCompactionLag.Milliseconds(); lag > 0 && c.dirty() {
		if ts, err := firstBatchTimestamp(c.segs[c.dirtyAt]); err == nil && ts >= 0 && ts < now-lag {
			c.maxLagDue = true
		}
	}
	return c, nil
}

// lastProducerBatches returns, for each producer the partition remembers,
// its epoch and the last offset of its last batch with a sequence. A
// producer that appends meanwhile only makes a later batch its last, or
// its epoch newer: the batch or marker kept for it may then stay for
// nothing, never go when needed.
func (p *Partition) lastProducerBatches() map[int64]producerLast {
	if !p.producers.history.Load() {
		return nil // no batch with a producer id
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	last := make(map[int64]producerLast, len(p.producers.producers))
	for id, e := range p.producers.producers {
		l := producerLast{lastData: -1, epoch: e.epoch}
		if n := len(e.batches); n > 0 {
			l.lastData = e.batches[n-1].lastOffset
		}
		last[id] = l
	}
	return last
}

// firstBatchTimestamp returns the largest timestamp of a segment's first
// batch, or -1 for an empty segment.
func firstBatchTimestamp(s *segment) (int64, error) {
	size := s.size.Load()
	if size < batchHeaderSize {
		return -1, nil
	}
	m, err := s.viewFor(batchHeaderSize)
	if err != nil {
		return -1, err
	}
	defer m.release()
	h, err := parseBatchHeader(m.data)
	return h.MaxTimestamp, err
}

// cleanRun is one pass over one partition.
type cleanRun struct {
	p     *Partition
	ctx   context.Context
	now   int64 // ms, from Options.Now
	views map[*segment]*mapping
	// verified holds, for segments whose checksums buildMap checked to
	// the end, the position it started at.
	verified map[*segment]int64
	horizon  int64 // earliest delete horizon of a tombstone or marker kept, -1 if none
	// aborted are the partition's aborted transactions: their records go,
	// and never count as a key's newest.
	aborted []abortedTxn
	// producers maps the id of each producer the partition remembers to
	// its epoch and the last offset of its last batch with a sequence:
	// that batch stays, if only as an empty batch (cleanRun.dropBatch),
	// and so do its markers after it that carry the epoch
	// (compaction_markers.go).
	producers map[int64]producerLast
	// txns follows the transactions, to decide on their markers.
	txns cleanedTxns

	bytesRead, bytesWritten, removed int64

	// Scratch, reused across batches.
	raw    []byte      // decompressed records
	parsed []rawRecord // records of the current batch
	hashes []uint64    // hashes of the keys looked up in the current batch
	kept   []rawRecord // records of the current batch that stay
	sink   uint32      // keeps the loads of offsetMap.touch
	recs   []byte      // records area of a rebuilt batch
	out    []byte      // a rebuilt batch
}

// cleanedSegment is the output of one group of segments, written to
// "<base>.log.cleaned".
type cleanedSegment struct {
	base, end int64 // offsets it stands for: [base, end)
	old       []*segment
	size      int64
	index     *segmentIndex
	maxTs     int64
	txnIndex  bool // its .txnindex was written to "<base>.txnindex.cleaned"
}

func (o *cleanedSegment) path(dir string) string {
	return filepath.Join(dir, segmentFileName(o.base, logExt)+cleanedExt)
}

func (o *cleanedSegment) txnIndexPath(dir string) string {
	return filepath.Join(dir, segmentFileName(o.base, txnIndexExt)+cleanedExt)
}

// cleanPass runs one cleaning and reports whether dirty records remain that
// the map could not hold.
func (p *Partition) cleanPass(ctx context.Context, force bool, mp **offsetMap) (more bool, err error) {
	l := p.log
	start := time.Now()
	// The snapshots are read before the plan: one pruned meanwhile only
	// keeps a marker one more cleaning, and the swap's directory fsync
	// makes the pruning durable; one written meanwhile lies past the
	// segments planned.
	r := &cleanRun{p: p, ctx: ctx, now: l.opts.Now().UnixMilli(), horizon: -1,
		views: map[*segment]*mapping{}, verified: map[*segment]int64{}, txns: p.newCleanedTxns()}
	if err := r.check(); err != nil {
		return false, err
	}
	// The aborted records go: those of the closed segments' .txnindex
	// files too, which a cut may have shortened (txn_index_check.go).
	if err := p.checkTxnIndexes(0); err != nil {
		return false, err
	}
	plan, err := p.planCleaning(r.now)
	if plan == nil || err != nil {
		return false, err
	}
	if tx := p.txns.Load(); tx != nil {
		r.aborted = tx.abortedIn(0, plan.cleanEnd)
	}
	r.producers = p.lastProducerBatches()
	defer plan.release()
	defer r.releaseViews()
	if !plan.due(force, p.config().minDirtyRatio) {
		return false, nil
	}
	m, mapEnd, err := r.buildMap(plan, *mp)
	if err != nil {
		return false, err
	}
	*mp = m

	// Rewrite from the start through the segment holding mapEnd-1.
	n := sort.Search(len(plan.segs), func(i int) bool { return plan.segs[i].base >= mapEnd })
	if err := r.findLastControls(plan.segs[:n]); err != nil {
		return false, err
	}
	outs, err := r.cleanSegments(plan.segs[:n], plan.ends[:n], m, mapEnd)
	if err != nil {
		return false, err
	}
	meta := cleanerMeta{FirstDirty: mapEnd, Horizon: r.horizon}
	if err := p.swapIn(outs, meta, r.txns.removed); errors.Is(err, errSegmentsChanged) {
		return true, nil // retention deleted some of them: plan again
	} else if err != nil {
		return false, err
	}
	l.cleaner.cleaned(r.bytesRead, r.bytesWritten, r.removed, int64(m.peak))
	p.metrics.cleaner.cleaned(r.bytesRead, r.bytesWritten, r.removed, int64(m.peak))
	l.opts.Logger.Info("eventlog: cleaned partition", "topic", p.topic, "partition", p.id,
		"segments", n, "outputs", len(outs), "first_dirty_offset", mapEnd, "records_removed", r.removed,
		"bytes_read", r.bytesRead, "bytes_written", r.bytesWritten, "map_bytes", m.peak, "duration", time.Since(start))
	return mapEnd < plan.cleanEnd, nil
}

// check returns why the pass must stop: the context ended or the Log is
// closing.
func (r *cleanRun) check() error {
	if r.p.log.closed.Load() {
		return ErrClosed
	}
	if r.ctx != nil {
		return r.ctx.Err()
	}
	return nil
}

// data returns a closed segment's bytes, keeping them mapped, and its index
// loaded, until the pass ends: a segment about to be swapped out must not
// open its files by name again.
func (r *cleanRun) data(s *segment) ([]byte, error) {
	if m, ok := r.views[s]; ok {
		return m.data[:s.size.Load()], nil
	}
	if _, rebuilt, err := s.loadIndex(r.p.config().indexInterval); err != nil {
		return nil, r.p.errorf("cleaning: %w", err)
	} else if rebuilt {
		r.p.log.recovery.indexesRebuilt.Add(1)
	}
	m, err := s.viewFor(s.size.Load())
	if err != nil {
		return nil, r.p.errorf("cleaning: %w", err)
	}
	r.views[s] = m
	return m.data[:s.size.Load()], nil
}

func (r *cleanRun) releaseViews() {
	for _, m := range r.views {
		m.release()
	}
}

// throttle accounts n bytes of cleaner I/O and waits as
// Options.CleanerMaxBytesPerSecond asks. The wait ends early when the context
// ends or the Log closes: Close wakes the partition's waiters (hwMoved)
// before it waits for calls in flight such as Compact.
func (r *cleanRun) throttle(n int64) error {
	rate := r.p.log.opts.CleanerMaxBytesPerSecond
	if rate <= 0 {
		return nil
	}
	var done <-chan struct{}
	if r.ctx != nil {
		done = r.ctx.Done()
	}
	deadline := time.Now().Add(r.p.log.cleaner.bucket.take(n, rate, time.Now()))
	for {
		if err := r.check(); err != nil {
			return err
		}
		d := time.Until(deadline)
		if d <= 0 {
			return nil
		}
		moved := r.p.hwMoved.wait()
		if r.p.log.closed.Load() {
			return ErrClosed
		}
		t := time.NewTimer(min(d, 100*time.Millisecond))
		select {
		case <-t.C:
		case <-done:
		case <-moved:
		case <-r.p.log.stop:
		}
		t.Stop()
	}
}

// tokenBucket paces the cleaner's I/O: tokens are bytes, refilled at the
// configured rate, with a tenth of a second's worth of burst. A take may
// overdraw; the debt is paid by waiting.
type tokenBucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func (b *tokenBucket) take(n, rate int64, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	burst := max(float64(rate)/10, 1)
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+float64(rate)*now.Sub(b.last).Seconds())
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / float64(rate) * float64(time.Second))
}

// corrupt wraps a problem found at pos of a segment.
func (r *cleanRun) corrupt(s *segment, pos, offset int64, err error) error {
	return r.p.errorf("cleaning: %w", &CorruptError{Path: s.path(logExt), Pos: pos, Offset: offset, Reason: err.Error()})
}

// buildMap maps every key of the dirty section to its newest offset, until
// the budget is spent. mapEnd is the offset of the first dirty record the map
// does not cover: the end of the cleanable log when it covers everything.
func (r *cleanRun) buildMap(c *cleanPlan, old *offsetMap) (m *offsetMap, mapEnd int64, err error) {
	l := r.p.log
	hash := defaultKeyHash
	if h := l.cleaner.hash.Load(); h != nil {
		hash = *h
	}
	avgKey := 16
	if c.dirtyAt < len(c.segs) {
		if n, err := r.sampleKeyLen(c.segs[c.dirtyAt]); err == nil && n > 0 {
			avgKey = n
		}
	}
	m = newOffsetMap(old, l.opts.CleanerBufferBytes, int(min(c.dirtyBytes/8+64, math.MaxInt32)), avgKey, hash)
	for _, s := range c.segs[c.dirtyAt:] {
		data, err := r.data(s)
		if err != nil {
			return nil, 0, err
		}
		pos := int64(0)
		if s.base < c.firstDirty {
			s.mu.RLock()
			idx := s.mu.index
			s.mu.RUnlock()
			pos, _ = s.startPosition(idx, data, c.firstDirty)
		}
		from := pos
		for pos < int64(len(data)) {
			if err := r.check(); err != nil {
				return nil, 0, err
			}
			h, b, err := batchAt(data, pos)
			if err != nil {
				return nil, 0, r.corrupt(s, pos, -1, err)
			}
			if err := r.throttle(h.size()); err != nil {
				return nil, 0, err
			}
			r.bytesRead += h.size()
			if h.lastOffset() >= c.firstDirty && !h.isControl() && !abortedBatch(r.aborted, &h) {
				area, err := r.records(&h, b)
				if err != nil {
					return nil, 0, r.corrupt(s, pos, h.BaseOffset, err)
				}
				if err := r.parseBatch(&h, area); err != nil {
					return nil, 0, r.corrupt(s, pos, h.BaseOffset, err)
				}
				for w := 0; w < len(r.parsed); w += lookupWindow {
					recs := r.parsed[w:min(w+lookupWindow, len(r.parsed))]
					r.hashKeys(m, recs, h.BaseOffset, c.firstDirty, math.MaxInt64)
					for _, rec := range recs {
						off := h.BaseOffset + rec.offDelta
						if off < c.firstDirty || rec.key == nil {
							continue
						}
						if !m.put(rec.key, rec.hash, off) {
							return m, off, nil
						}
					}
				}
			}
			pos += h.size()
		}
		r.verified[s] = from
	}
	return m, c.cleanEnd, nil
}

// sampleKeyLen returns the average key length of a segment's first batch,
// to size the map.
func (r *cleanRun) sampleKeyLen(s *segment) (int, error) {
	data, err := r.data(s)
	if err != nil || len(data) == 0 {
		return 0, err
	}
	h, b, err := batchAt(data, 0)
	if err != nil || h.isControl() {
		return 0, err
	}
	area, err := r.records(&h, b)
	if err != nil {
		return 0, err
	}
	if err := r.parseBatch(&h, area); err != nil || len(r.parsed) == 0 {
		return 0, err
	}
	total := 0
	for _, rec := range r.parsed {
		total += len(rec.key)
	}
	return total / len(r.parsed), nil
}
