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
// sentinels they come wrapped with the topic, partition and producer.
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
	// INVALID_PRODUCER_EPOCH). The producer can do nothing more; make a new
	// one.
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
const (
	producerIDsName    = "producer-ids.meta"
	producerIDsVersion = 1
	producerIDBlock    = 1000
)

// producerIDs allocates producer ids durably.
type producerIDs struct {
	fsys FS
	path string

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
	if a.next == a.end {
		if a.end > math.MaxInt64-producerIDBlock {
			return 0, errors.New("eventlog: producer ids exhausted")
		}
		end := a.end + producerIDBlock
		payload := binary.BigEndian.AppendUint64(nil, uint64(end))
		if err := writeMetaFile(a.fsys, a.path, producerIDsVersion, payload, true); err != nil {
			return 0, fmt.Errorf("eventlog: reserve producer ids: %w", err)
		}
		a.end = end
	}
	id := a.next
	a.next++
	return id, nil
}

// loadLocked reads the next block start; ids start at 1 in a new directory.
func (a *producerIDs) loadLocked() error {
	version, payload, err := readMetaFile(a.fsys, a.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.next, a.end = 1, 1
	case err != nil:
		return fmt.Errorf("eventlog: producer ids: %w", err)
	default:
		next, err := decodeProducerIDs(a.path, version, payload)
		if err != nil {
			return fmt.Errorf("eventlog: producer ids: %w", err)
		}
		a.next, a.end = next, next
	}
	a.loaded = true
	return nil
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
func (a *producerIDs) init(fsys FS, dir string) {
	a.fsys, a.path = fsys, filepath.Join(dir, producerIDsName)
}
