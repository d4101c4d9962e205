package eventlog

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Checking the closed segments' .txnindex files against the log, on first
// need.
//
// Open takes the aborted transactions of the closed segments from their
// .txnindex files and checks each entry (txn_index.go), but a file cut
// short at an entry boundary — a tail lost to a power cut, a truncated
// copy, a dropped block — reads as one that lists fewer aborts, and
// read_committed readers would take the records of the lost ones for
// committed. Reading every closed segment at Open would make Open cost the
// size of the log. So a partition checks them when first needed: before a
// read_committed read (a cursor, AbortedTransactions, a cleaning) uses the
// aborted transactions of closed segments that Open took from the files,
// it walks those segments' batch headers, and the records of their control
// batches, once per process; derives their aborts as Open's replay does,
// with the code Verify uses (verifyTxns); mends the list in memory; and
// rewrites the .txnindex of a segment that disagrees (temp file, fsync,
// rename, under the cleaning swap lock, which retention and compaction
// take to change segment files). Each segment mended counts in
// RecoveryStats.IndexesRebuilt.
//
// A read from offset o needs the aborts whose markers lie at o or after:
// in the segment holding o and those after it. A check covers all of
// those, so the segments checked are always those from some base offset up
// (txnIndexCheck.from), and a read from there or later costs one atomic
// load and nothing per batch. A partition without producer history, one
// whose aborts Open derived from the log (a rebuild), the segments Open
// replayed after the producer snapshot, those rolled in this process and
// every segment of a read-only Log (which derives its aborts from the log)
// need no check. The price: the first read_committed read from an offset
// in an unchecked closed segment reads the batch headers of every closed
// segment from there up before it returns, once per process. A partition
// whose producers were only idempotent pays it too: nothing durable and
// cheap says it never held a transactional batch (producer state forgets
// expired producers, and an empty .txnindex is what a cut leaves).
//
// Deriving follows Kafka's producer state, as Open's replay does: a
// producer's transaction begins at its first transactional batch after the
// producer's marker before it, and an ABORT marker that ends one makes an
// entry in the .txnindex of the segment holding the marker, wherever the
// transaction began. An entry the file lacks whose transaction began before
// the segments walked has its beginning looked for in the segments below,
// down to the first listed one, read whole (a rebuild at Open starts at the
// log start offset instead; the offsets below it are not read). An entry
// the file lists is kept as it is when the segment holds that ABORT marker
// of its producer — a cleaning removes the records of an aborted
// transaction first, and its marker, with the entry, only in a later
// cleaning past the marker's delete horizon (compaction_markers.go), so the
// first offset of a listed entry cannot always be derived again — and
// dropped when it does not: it would hide committed records of its
// producer.
//
// A segment whose batches do not parse keeps the aborts its file lists,
// and the walk goes on after it (as after a segment retention dropped
// meanwhile, with what was open unknown): the damage is logged, and
// reading the segment's records reports it, as it did before. A failure to
// map a segment fails the read; AbortedTransactions, which returns no
// error, logs it and answers from the list as it stands.

// txnIndexCheck is a partition's progress in checking its closed segments'
// .txnindex files.
type txnIndexCheck struct {
	// from is a base offset at and above which every closed segment's
	// aborted transactions, as the partition holds them, agree with its
	// log. Zero unless Open loaded them from .txnindex files;
	// math.MinInt64 once every listed segment is checked.
	from atomic.Int64
	// mu serializes checks.
	mu sync.Mutex
}

// checkTxnIndexes makes sure that the aborted transactions the partition
// holds for the closed segments a read from offset from needs agree with
// the log. It costs an atomic load once they do.
func (p *Partition) checkTxnIndexes(from int64) error {
	if from >= p.txnCheck.from.Load() {
		return nil
	}
	return p.checkTxnIndexesFrom(from)
}

// walkedSegment is what the walk of a closed segment found.
type walkedSegment struct {
	seg      *segment
	end      int64         // the next segment's base offset
	run      int           // index of the first segment walked in a row up to it
	aborted  []verifyAbort // aborts its .txnindex must list
	markers  []verifyAbort // all its ABORT markers
	drop     []abortedTxn  // entries held that name no ABORT marker of the segment
	add      []abortedTxn  // entries lacking
	complete []abortedTxn  // its entries, mended
}

// checkTxnIndexesFrom checks, once, the closed segments from the one
// holding offset from up to those checked already.
func (p *Partition) checkTxnIndexesFrom(from int64) error {
	c := &p.txnCheck
	c.mu.Lock()
	defer c.mu.Unlock()
	checked := c.from.Load()
	if from >= checked {
		return nil // checked while this one waited
	}
	segs := *p.segments.Load()
	hi := sort.Search(len(segs), func(i int) bool { return segs[i].base >= checked })
	lo := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > from })-1, 0)
	if hi == 0 {
		c.from.Store(math.MinInt64)
		return nil
	}
	if lo >= hi {
		return nil
	}
	walked, err := p.walkClosedSegments(segs, lo, hi)
	if err != nil {
		return err
	}
	p.mendAborted(walked)
	c.from.Store(segs[lo].base)
	return nil
}

// walkClosedSegments derives the aborts of the closed segments
// segs[lo:hi] from their batches and compares them with those the
// partition holds. A segment that does not parse is left as it is, and
// logged: reading its records reports the damage.
func (p *Partition) walkClosedSegments(segs []*segment, lo, hi int) ([]*walkedSegment, error) {
	t := &verifyTxns{}
	var walked []*walkedSegment
	run := lo // the first segment of the run of segments walked in a row
	for i := lo; i < hi; i++ {
		seg := segs[i]
		if !seg.acquire() {
			// Retention dropped it, and those before it.
			t, run = &verifyTxns{}, i+1
			continue
		}
		err := p.walkTxns(seg, t)
		seg.release()
		var ce *CorruptError
		if errors.As(err, &ce) {
			p.log.opts.Logger.Error("eventlog: a closed segment's aborted transactions could not be checked against its log", "path", seg.path(txnIndexExt), "err", err)
			t, run = &verifyTxns{}, i+1
			continue
		}
		if err != nil {
			return nil, err
		}
		walked = append(walked, &walkedSegment{seg: seg, end: segs[i+1].base, run: run, aborted: t.aborted, markers: t.markers})
		t.aborted, t.markers = nil, nil
	}
	held := p.heldAborted()
	// Aborts not held whose transactions began before the run of segments
	// walked that found them: where they began is looked for below it.
	// unknown maps the index of a run's first segment to the producers of
	// such aborts, and those to the first offset seen of the transaction.
	unknown := map[int]map[int64]int64{}
	for _, w := range walked {
		for _, a := range w.aborted {
			if !a.begun && !slices.ContainsFunc(held, func(e abortedTxn) bool { return sameAbort(e, a) }) {
				if unknown[w.run] == nil {
					unknown[w.run] = map[int64]int64{}
				}
				unknown[w.run][a.producerID] = a.first
			}
		}
	}
	for run, firsts := range unknown {
		if err := p.txnBeginnings(segs[:run], firsts); err != nil {
			return nil, err
		}
	}
	for _, w := range walked {
		i := sort.Search(len(held), func(i int) bool { return held[i].last >= w.seg.base })
		j := sort.Search(len(held), func(i int) bool { return held[i].last >= w.end })
		for _, e := range held[i:j] {
			if slices.ContainsFunc(w.markers, func(a verifyAbort) bool { return sameAbort(e, a) }) {
				w.complete = append(w.complete, e)
			} else {
				w.drop = append(w.drop, e)
			}
		}
		for _, a := range w.aborted {
			if slices.ContainsFunc(held[i:j], func(e abortedTxn) bool { return sameAbort(e, a) }) {
				continue
			}
			first := a.first
			if !a.begun {
				first = unknown[w.run][a.producerID]
			}
			e := abortedTxn{producerID: a.producerID, first: first, last: a.marker, lastStable: a.lastStable}
			w.add = append(w.add, e)
			w.complete = append(w.complete, e)
		}
		sortAborted(w.complete)
	}
	return walked, nil
}

// sameAbort reports whether e is the entry of the abort a.
func sameAbort(e abortedTxn, a verifyAbort) bool {
	return e.producerID == a.producerID && e.last == a.marker
}

// heldAborted returns a copy of the aborted transactions the partition
// holds, by marker offset.
func (p *Partition) heldAborted() []abortedTxn {
	tx := p.txns.Load()
	if tx == nil {
		return nil
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return slices.Clone(tx.mu.aborted)
}

// walkTxns follows the batches of the closed segment seg through t.
func (p *Partition) walkTxns(seg *segment, t *verifyTxns) error {
	size := seg.size.Load()
	m, err := seg.viewFor(size)
	if err != nil {
		return p.errorf("check %s: %w", seg.path(txnIndexExt), err)
	}
	defer m.release()
	data := m.data[:size]
	for pos := int64(0); pos < size; {
		h, err := parseBatchHeader(data[pos:])
		if err == nil && pos+h.size() > size {
			err = errShortBatch
		}
		if err != nil {
			return p.corrupt(seg, pos, -1, "transaction index check: "+err.Error())
		}
		t.batch(&h, func() ([]byte, error) {
			b := data[pos : pos+h.size()]
			return b, verifyBatchCRC(b)
		})
		if t.broken {
			return p.corrupt(seg, pos, h.BaseOffset, "transaction index check: control batch: "+t.why.Error())
		}
		pos += h.size()
	}
	return nil
}

// txnBeginnings looks, in segs from the last one down, for where the
// transactions of the producers of unknown began: it maps each to the
// first offset seen of its transaction, which it lowers to that of an
// earlier batch of the same transaction, down to the producer's marker
// before it or the first segment.
func (p *Partition) txnBeginnings(segs []*segment, unknown map[int64]int64) error {
	pending := make(map[int64]bool, len(unknown))
	for id := range unknown {
		pending[id] = true
	}
	for i := len(segs) - 1; i >= 0 && len(pending) > 0; i-- {
		seg := segs[i]
		if !seg.acquire() {
			break // dropped, with those before it
		}
		t := &verifyTxns{}
		err := p.walkTxns(seg, t)
		seg.release()
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			break // reading its records reports the damage
		}
		if err != nil {
			return err
		}
		for id := range pending {
			if first, open := t.open[id]; open {
				unknown[id] = first // open to the segment's end
			}
			if _, ok := t.known[id]; ok {
				delete(pending, id) // the marker before it is here
			}
		}
	}
	return nil
}

// mendAborted puts the mended aborts of the walked segments in the
// partition's list and rewrites the .txnindex of each segment whose list
// changed. A file that cannot be rewritten is logged: the list in memory
// is mended, and the next process checks the file again.
func (p *Partition) mendAborted(walked []*walkedSegment) {
	var changed []*walkedSegment
	for _, w := range walked {
		if len(w.add) > 0 || len(w.drop) > 0 {
			changed = append(changed, w)
		}
	}
	if len(changed) == 0 {
		return
	}
	tx := p.txns.Load()
	if tx == nil {
		p.appendMu.Lock()
		tx = p.txnsLocked()
		p.appendMu.Unlock()
	}
	tx.mu.Lock()
	for _, w := range changed {
		tx.mu.aborted = slices.DeleteFunc(tx.mu.aborted, func(e abortedTxn) bool { return slices.Contains(w.drop, e) })
		tx.mu.aborted = append(tx.mu.aborted, w.add...)
	}
	tx.mu.aborted = dedupAborted(tx.mu.aborted)
	tx.mu.Unlock()

	fsys := p.log.opts.FS
	var errs []error
	p.cleaning.swap.Lock()
	defer p.cleaning.swap.Unlock()
	write := p.err() == nil && !p.deleted.Load()
	for _, w := range changed {
		path := w.seg.path(txnIndexExt)
		p.log.recovery.indexesRebuilt.Add(1)
		p.log.opts.Logger.Warn("eventlog: a closed segment's .txnindex disagrees with its log; mended from the log",
			"path", path, "aborted_transactions_lacking", len(w.add), "entries_without_marker", len(w.drop))
		if !write || !p.listed(w.seg) {
			continue
		}
		var b []byte
		for _, e := range w.complete {
			b = appendTxnIndexEntry(b, e)
		}
		err := p.removals.inPlace(func() error { return replaceFile(fsys, path, b, true) })
		if err != nil {
			errs = append(errs, fmt.Errorf("rewrite %s: %w", path, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		p.log.opts.Logger.Warn("eventlog: rewriting a mended .txnindex failed", "topic", p.topic, "partition", p.id, "err", err)
	}
}
