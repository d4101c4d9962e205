package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ProducerID identifies an idempotent producer to the partitions it writes:
// Kafka's producer id and epoch, stored in the header of every batch it
// appends. The zero value is no producer (ID 0 is never handed out).
//
// A partition remembers, for each producer, the sequence numbers of its
// last five batches (Kafka's max.in.flight.requests.per.connection), so
// that a batch appended again with the same producer and base sequence is
// recognised and answered with the offsets it got the first time instead
// of being stored twice, and a batch whose sequence does not follow the
// last one is refused with ErrOutOfOrderSequence. A batch of an epoch
// older than the partition has seen is refused with ErrProducerFenced.
type ProducerID struct {
	ID    int64 // Kafka's producerId; 0 is none
	Epoch int16 // Kafka's producerEpoch: a newer one fences the older
}

// String formats the id as "id/epoch".
func (id ProducerID) String() string { return fmt.Sprintf("%d/%d", id.ID, id.Epoch) }

// Errors of idempotent and transactional producers. Like the other
// sentinels they come wrapped with the topic, partition and producer, and
// the transactional ID where the writer of the batch knows it (a
// Producer's batches and the transaction coordinator's; not
// Partition.Append's).
var (
	// ErrOutOfOrderSequence is returned for a batch whose base sequence
	// does not follow the last one its producer appended to the partition
	// (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER), or repeats one older than
	// the five batches the partition remembers.
	ErrOutOfOrderSequence = errors.New("eventlog: out of order sequence number")

	// ErrProducerFenced is returned to a producer whose epoch is older than
	// the one the partition or the transaction coordinator knows: another
	// producer with the same transactional ID started since, or its
	// transaction timed out (Kafka's PRODUCER_FENCED and
	// INVALID_PRODUCER_EPOCH); the error says which, as long as the Log
	// that fenced it is open. It is returned too to a transactional
	// Producer whose ID the Log forgot, idle for
	// Options.TransactionalIDExpiration (Kafka's
	// INVALID_PRODUCER_ID_MAPPING). The producer can do nothing more; make
	// a new one.
	ErrProducerFenced = errors.New("eventlog: producer fenced by a newer epoch")

	// ErrTransactionState is returned for a transactional call made in the
	// wrong state — BeginTransaction while a transaction is open, a commit
	// or a send outside one, a batch outside a transaction while its
	// producer's transaction is open (Kafka's IllegalStateException and
	// INVALID_TXN_STATE).
	ErrTransactionState = errors.New("eventlog: invalid transaction state")
)

// Producer ids are handed out in blocks, as Kafka's controller does: the
// first unallocated id of the next block is stored in "producer-ids.meta"
// in the Log's directory (a metadata file, see metafile.go) before any id
// of the block is used, so that no id is ever handed out twice, whatever
// the crashes. Its payload is
//
//	+-------------------------+
//	| next block start int64  |
//	+-------------------------+
//
// big-endian. These constants are part of the format.
//
// A directory that lost the file (deleted by hand, or, with
// Options.Repair, set aside because it was damaged), or whose file lags
// behind the ids in use (restored from an old copy), must not hand ids
// out again: the partitions remember the sequences and epochs of the
// producers that wrote to them, and would take a new producer given an old
// id for the old one, refusing its batches as out of order or, worse,
// answering them as duplicates without storing them. So the allocator
// starts above every id the Log knows of: those in the producer state of
// its partitions, which Open loads for all of them, internal topics
// included, and those in __transaction_state, which Open replays. That
// costs a look at what is in memory, once, not a read of the logs. An id
// it did not hand out that a partition first sees later — a producer that
// kept its id across the restart and appends again only now, its earlier
// appends lost in the crash or never made — moves the allocator above it
// too (noteAppended), so that no new producer gets the id of one that
// writes.
//
// What the Log cannot know are ids handed out and kept but not appended
// with yet (an idempotent Producer that has not sent, a Kafka client that
// keeps its id across a restart of the kafkaserver listener), and ids of
// producers every partition has forgotten (ProducerIDExpiration). For
// those the allocator, whenever the file is missing in a Log that an
// earlier Open created, was set aside as damaged, or shows itself behind
// the ids in use, also starts at a floor read off the clock
// (Options.Now): producerIDsPerMilli ids for every millisecond since the
// Unix epoch. Ids handed out before were below the floor of their own
// time (a directory starts at 1, and a block is 1000 ids), so the floor
// of a later time lies above them, unless more than producerIDsPerMilli
// ids a millisecond were handed out on average since the directory began
// or since the floor was last applied, or the clock went back past that
// time. The file's value and the ids in use win over a lower floor, so a
// clock that went back does not matter while they are there. The ids get
// large (about 1.8e17 in 2026) but stay far below maxProducerID, the cap
// of appends; the floor stops at clockFloorLimit, which the clock reaches
// in the year 2700. A directory that keeps its file never applies the
// floor, and a new one starts at 1: ids stay small unless the file is
// lost, or was never written by a Log that allocated none before it was
// reopened.
const (
	producerIDsName    = "producer-ids.meta"
	producerIDsVersion = 1
	producerIDBlock    = 1000

	// producerIDsPerMilli and clockFloorLimit define the clock's floor:
	// ids from milliseconds since the Unix epoch times
	// producerIDsPerMilli, at most clockFloorLimit, which leaves 2^61
	// ids below maxProducerID to hand out.
	producerIDsPerMilli = 100_000
	clockFloorLimit     = 1 << 61
)

var errProducerIDsExhausted = errors.New("eventlog: producer ids exhausted")

// maxProducerID is the highest producer id an append takes. The allocator
// starts above every id a partition takes a batch of (noteAppended), so
// an id near the int64 maximum, which it never hands out, would leave it
// none to hand out: refused, ids from 2^62 on leave it 2^62 above any.
const maxProducerID = 1<<62 - 1

// producerIDs allocates producer ids durably.
type producerIDs struct {
	log  *Log // to find the ids in use when the file is lost
	path string

	// inTxnState is the highest producer id of __transaction_state as
	// Open replayed it, set before any allocation. Later ids there come
	// from this allocator.
	inTxnState int64

	// appended is the highest producer id a partition took a first batch
	// of since Open (noteAppended), for allocate to skip.
	appended atomic.Int64

	// existed is whether the Log's directory held a log before Open: a
	// new one has no ids to lose, and starts at 1 without the file.
	existed bool

	mu        sync.Mutex
	next, end int64 // ids in [next, end) are reserved and unused; guarded by mu
	loaded    bool  // guarded by mu
}

// NewProducerID allocates a producer id that no producer of this log
// directory has had or will have, with epoch 0, for appends with
// AppendOptions.Producer. It is durable when it returns: ids are reserved
// on disk, a block at a time, before they are handed out. Keep it (it is
// two numbers) to retry appends after a crash: a partition recognises a
// batch appended again with the same producer and sequence.
func (l *Log) NewProducerID(ctx context.Context) (ProducerID, error) {
	if err := ctx.Err(); err != nil {
		return ProducerID{}, err
	}
	if err := l.refuseWrite("allocate a producer id"); err != nil {
		return ProducerID{}, err
	}
	if !l.enter() {
		return ProducerID{}, ErrClosed
	}
	defer l.exit()
	id, err := l.txns.ids.allocate()
	if err != nil {
		return ProducerID{}, err
	}
	return ProducerID{ID: id}, nil
}

// allocate returns the next producer id, reserving a new block on disk when
// the current one is used up.
func (a *producerIDs) allocate() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded {
		if err := a.loadLocked(); err != nil {
			return 0, err
		}
	}
	if seen := a.appended.Load(); seen >= a.next {
		// Not one of ours: a producer from before Open, which the file
		// does not cover (see above), wrote since the ids were loaded.
		// The file lags, so ids nothing shows may have been handed out
		// past it too.
		if seen == math.MaxInt64 {
			return 0, errProducerIDsExhausted
		}
		a.next = max(seen+1, a.clockFloorLocked())
		a.log.opts.Logger.Warn("eventlog: producer id in use above the ids reserved: starting above it and the clock's floor", "path", a.path, "id", seen, "next", a.next)
	}
	if a.next >= a.end {
		if a.next > math.MaxInt64-producerIDBlock {
			return 0, errProducerIDsExhausted
		}
		end := a.next + producerIDBlock
		payload := binary.BigEndian.AppendUint64(nil, uint64(end))
		if err := writeMetaFile(a.log.opts.FS, a.path, producerIDsVersion, payload, true); err != nil {
			return 0, errorf("eventlog: reserve producer ids: %w", err)
		}
		a.end = end
	}
	id := a.next
	a.next++
	return id, nil
}

// loadLocked reads the next block start; ids start at 1 in a new
// directory, and above the ids in use and at the clock's floor in one that
// lost the file or whose file lags behind them (restored from an old copy,
// say).
func (a *producerIDs) loadLocked() error {
	next, err := readProducerIDs(a.log.opts.FS, a.path)
	missing := errors.Is(err, fs.ErrNotExist)
	switch {
	case missing:
		next = 1
	case err != nil:
		return errorf("eventlog: producer ids: %w", err)
	}
	inUse := a.log.highestProducerIDInUse()
	behind := inUse >= next
	if behind {
		if inUse == math.MaxInt64 {
			return errProducerIDsExhausted
		}
		next = inUse + 1
	}
	if behind || missing && a.existed {
		next = max(next, a.clockFloorLocked())
		switch {
		case behind && missing:
			a.log.opts.Logger.Warn("eventlog: producer ids file missing while producer ids are in use: starting above them and the clock's floor", "path", a.path, "next", next)
		case behind:
			a.log.opts.Logger.Warn("eventlog: producer ids file behind the producer ids in use: starting above them and the clock's floor", "path", a.path, "next", next)
		default:
			// A Log reopened before its first allocation has no file
			// either: nothing says one was lost.
			a.log.opts.Logger.Info("eventlog: producer ids file missing: starting at the clock's floor, above any id handed out before", "path", a.path, "next", next)
		}
	}
	a.next, a.end = next, next
	a.loaded = true
	return nil
}

// clockFloorLocked returns the clock's floor (see above) by the Log's
// clock.
func (a *producerIDs) clockFloorLocked() int64 {
	return producerIDClockFloor(a.log.opts.Now())
}

// producerIDClockFloor returns the lowest id the allocator starts at, at
// time now, when ids may have been handed out that nothing shows.
func producerIDClockFloor(now time.Time) int64 {
	const limitMilli = clockFloorLimit / producerIDsPerMilli
	if now.Unix() >= limitMilli/1000 { // UnixMilli would overflow far enough out
		return clockFloorLimit
	}
	ms := now.UnixMilli()
	switch {
	case ms <= 0:
		return 0
	case ms >= limitMilli:
		return clockFloorLimit
	}
	return ms * producerIDsPerMilli
}

// noteAppended tells the allocator that a partition took the first batch
// of producer id, one it did not know, so that allocate never hands the id
// out. Called once per producer a partition learns of, under its append
// lock, it costs an atomic load, and a swap for a new highest id.
func (a *producerIDs) noteAppended(id int64) {
	for {
		seen := a.appended.Load()
		if id <= seen || a.appended.CompareAndSwap(seen, id) {
			return
		}
	}
}

// highestProducerIDInUse returns the highest producer id that the
// partitions' producer state or __transaction_state holds, or 0. Every
// partition of the Log is open, with its producer state loaded, from Open
// on; a topic created later starts without producers.
func (l *Log) highestProducerIDInUse() int64 {
	var parts []*Partition
	l.forEachPartition(func(p *Partition) {
		if p.producers.history.Load() { // else it never had a producer
			parts = append(parts, p)
		}
	})
	highest := l.txns.ids.inTxnState
	for _, p := range parts {
		p.appendMu.Lock()
		for id := range p.producers.producers {
			highest = max(highest, id)
		}
		p.appendMu.Unlock()
	}
	return highest
}

// readProducerIDs reads the next block start from the file at path.
func readProducerIDs(fsys FS, path string) (int64, error) {
	version, payload, err := readMetaFile(fsys, path)
	if err != nil {
		return 0, err
	}
	return decodeProducerIDs(path, version, payload)
}

// repairProducerIDs, with Options.Repair, sets a damaged producer-ids.meta
// aside at Open: the ids then start above those in use, as when the file
// is lost. Without Repair the first allocation fails with the
// *CorruptError.
func (l *Log) repairProducerIDs() error {
	if !l.opts.Repair {
		return nil
	}
	_, err := readProducerIDs(l.opts.FS, l.txns.ids.path)
	if !errors.Is(err, ErrCorrupt) {
		return nil // sound, missing, or unreadable, which the first allocation reports
	}
	return l.setAside(l.dir, producerIDsName, err)
}

// decodeProducerIDs decodes the payload of producer-ids.meta.
func decodeProducerIDs(path string, version uint16, payload []byte) (int64, error) {
	if version != producerIDsVersion || len(payload) != 8 {
		return 0, &CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("producer ids file of version %d with %d bytes", version, len(payload))}
	}
	next := int64(binary.BigEndian.Uint64(payload))
	if next < 1 {
		return 0, &CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("impossible next producer id %d", next)}
	}
	return next, nil
}

// init points the allocator at the Log's directory; the file is read on
// the first allocation.
func (a *producerIDs) init(l *Log) {
	a.log, a.path = l, filepath.Join(l.dir, producerIDsName)
}
