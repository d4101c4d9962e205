package eventlog

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
)

// The aborted-transaction index. Each segment may have a "<base>.txnindex"
// file, Kafka's transaction index byte for byte: one 34-byte entry per
// transaction aborted by a marker in that segment, in marker order:
//
//	+-------------+----------------+-----------------+----------------+------------------+
//	| version i16 | producerId i64 | firstOffset i64 | lastOffset i64 | lastStableOffset |
//	| = 0         |                |                 | (the marker)   | i64              |
//	+-------------+----------------+-----------------+----------------+------------------+
//
// big-endian. A transactional batch of producerId in [firstOffset,
// lastOffset] belongs to an aborted transaction: read_committed readers
// skip it. lastStableOffset is the partition's last stable offset once the
// abort completed. These constants are part of the format.
//
// The active segment's file is appended to as markers are written, and
// fsynced before a producer-state snapshot that counts its entries is
// written (producer_state_snapshot.go); a closed segment's was fsynced
// when the segment rolled. A failed fsync of it fails the partition, as
// one of the .log does. Open reads every file, each entry checked; the
// active segment's entries past the snapshot are derived again from the
// log, and a file that does not check out makes Open rebuild the
// partition's producer state and indexes from the log.
//
// Kafka creates the file of a segment at its first abort. Here every
// closed segment of a partition with producer history (a snapshot) has
// one, empty when no transaction was aborted in it: a roll creates it
// where the segment had none, and the partition's first batch with a
// producer id creates one for each closed segment it has then (none of
// them holds such a batch), before the snapshot that starts the history
// is written. So a closed segment's file that is missing at Open was lost
// — deleted by hand, or by a restore — and Open rebuilds the producer
// state and indexes from the log, as for a file that does not check out,
// rather than let read_committed readers and the cleaner take that
// segment's aborted records for committed ones. (A log written before
// this rule has them rebuilt so once.) A file emptied or cut short at an
// entry boundary cannot be told at Open from one with fewer aborts without
// reading the segment: the first read that needs the segment's aborts
// checks them against its batches and mends the file
// (txn_index_check.go); Verify reports it (verify_txn.go).
const (
	txnIndexExt       = ".txnindex"
	txnIndexEntrySize = 34
	txnIndexVersion   = 0
)

// abortedTxn is an aborted transaction of a partition.
type abortedTxn struct {
	producerID  int64
	first, last int64 // the transaction's first offset and its marker's
	lastStable  int64
}

func appendTxnIndexEntry(dst []byte, a abortedTxn) []byte {
	be := binary.BigEndian
	dst = be.AppendUint16(dst, txnIndexVersion)
	dst = be.AppendUint64(dst, uint64(a.producerID))
	dst = be.AppendUint64(dst, uint64(a.first))
	dst = be.AppendUint64(dst, uint64(a.last))
	return be.AppendUint64(dst, uint64(a.lastStable))
}

// txnIndexLimit is the most bytes the .txnindex of a segment of offsets
// [base, end) holds: an entry an abort marker, each at an offset of its own.
func txnIndexLimit(base, end int64) int64 {
	return min(max(end-base, 0), math.MaxInt64/txnIndexEntrySize) * txnIndexEntrySize
}

// decodeTxnIndex decodes the entries of a .txnindex file of the segment
// covering offsets [base, end), checking each: a size that is not a whole
// number of entries, an unknown version, offsets outside the segment or out
// of order fail with a reason.
func decodeTxnIndex(b []byte, base, end int64) ([]abortedTxn, error) {
	if len(b)%txnIndexEntrySize != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %d-byte entries", len(b), txnIndexEntrySize)
	}
	be := binary.BigEndian
	out := make([]abortedTxn, 0, len(b)/txnIndexEntrySize)
	prev := int64(-1)
	for i := 0; i < len(b); i += txnIndexEntrySize {
		e := b[i : i+txnIndexEntrySize]
		if v := int16(be.Uint16(e)); v != txnIndexVersion {
			return nil, fmt.Errorf("entry %d: unknown version %d", i/txnIndexEntrySize, v)
		}
		a := abortedTxn{
			producerID: int64(be.Uint64(e[2:])),
			first:      int64(be.Uint64(e[10:])),
			last:       int64(be.Uint64(e[18:])),
			lastStable: int64(be.Uint64(e[26:])),
		}
		if a.producerID < 0 || a.first < 0 || a.first > a.last || a.last < base || a.last >= end || a.last <= prev {
			return nil, fmt.Errorf("entry %d: producer %d offsets [%d, %d] do not fit the segment [%d, %d) after offset %d", i/txnIndexEntrySize, a.producerID, a.first, a.last, base, end, prev)
		}
		prev = a.last
		out = append(out, a)
	}
	return out, nil
}

// txnIndexWriter appends to the active segment's .txnindex. Its fields are
// guarded by the partition's appendMu.
type txnIndexWriter struct {
	base    int64 // of the segment entries counts for
	entries int   // of that segment's file, as Open found it or appends made it
	f       File  // the file, opened at the first append
	dirty   bool  // written since the last fsync
}

// appendTxnIndexLocked records an aborted transaction whose marker was just
// written to the active segment. The entry reaches the disk with the next
// snapshot or roll, which fsync it; a crash before that derives it again
// from the log.
func (p *Partition) appendTxnIndexLocked(a abortedTxn) error {
	w := &p.txnIndex
	seg := p.active()
	if w.base != seg.base {
		if err := p.closeTxnIndexLocked(); err != nil {
			return err
		}
		w.base, w.entries = seg.base, 0
	}
	if w.f == nil {
		f, err := p.log.opts.FS.OpenFile(seg.path(txnIndexExt), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return fmt.Errorf("open %s: %w", seg.path(txnIndexExt), err)
		}
		w.f = f
	}
	if _, err := w.f.WriteAt(appendTxnIndexEntry(nil, a), int64(w.entries)*txnIndexEntrySize); err != nil {
		return fmt.Errorf("write %s: %w", seg.path(txnIndexExt), err)
	}
	w.entries++
	w.dirty = true
	return nil
}

// syncTxnIndexLocked fsyncs the active segment's .txnindex if it was
// written since its last fsync. A failure fails the partition, as one of
// its .log does (syncSegment): Linux reports a writeback error to one
// fsync only, so the next fsync would succeed, and the snapshot written
// after it would count as durable entries the disk may not hold, which
// Open trusts.
func (p *Partition) syncTxnIndexLocked() error {
	w := &p.txnIndex
	if w.f == nil || !w.dirty {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		err = fmt.Errorf("fsync %s: %w", w.f.Name(), err)
		p.fail(err)
		return err
	}
	w.dirty = false
	return nil
}

// closeTxnIndexLocked fsyncs and closes the .txnindex being appended to:
// the active segment rolls, or the partition closes.
func (p *Partition) closeTxnIndexLocked() error {
	w := &p.txnIndex
	if w.f == nil {
		return nil
	}
	err := p.syncTxnIndexLocked()
	return errors.Join(err, p.releaseTxnIndexLocked())
}

// releaseTxnIndexLocked closes the .txnindex being appended to, if open,
// without fsyncing it.
func (p *Partition) releaseTxnIndexLocked() error {
	w := &p.txnIndex
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// activeTxnIndexEntries returns how many entries the active segment's
// .txnindex holds, for a snapshot to count.
func (p *Partition) activeTxnIndexEntriesLocked() int {
	if w := &p.txnIndex; w.base == p.active().base {
		return w.entries
	}
	return 0
}

// readTxnIndex reads the entries of a segment's .txnindex; a missing file
// fails with an error wrapping fs.ErrNotExist.
func readTxnIndex(fsys FS, seg *segment, end int64) ([]abortedTxn, error) {
	b, err := readWholeFile(fsys, seg.path(txnIndexExt), txnIndexLimit(seg.base, end))
	if err != nil {
		return nil, err
	}
	return decodeTxnIndex(b, seg.base, end)
}

// writeTxnIndex replaces a closed segment's .txnindex durably with entries,
// empty when there are none.
func writeTxnIndex(fsys FS, seg *segment, entries []abortedTxn) error {
	path := seg.path(txnIndexExt)
	var b []byte
	for _, a := range entries {
		b = appendTxnIndexEntry(b, a)
	}
	tmp := path + tempSuffix
	if err := writeWholeFile(fsys, tmp, b, true); err != nil {
		return err
	}
	return fsys.Rename(tmp, path)
}

// createTxnIndex creates the empty .txnindex of a closed segment of a
// partition with producer history, unless it has one. Its name becomes
// durable with the next fsync of the directory.
func createTxnIndex(fsys FS, seg *segment) error {
	f, err := fsys.OpenFile(seg.path(txnIndexExt), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// sortAborted sorts aborted transactions by marker offset.
func sortAborted(a []abortedTxn) {
	slices.SortFunc(a, func(x, y abortedTxn) int { return cmp.Compare(x.last, y.last) })
}
