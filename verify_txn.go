package eventlog

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
)

// Verify's check of the closed segments' .txnindex files. It follows the
// transactions through the batches it reads anyway, as the partition's
// replay does (applyProducerLocked): a producer's transaction begins at its
// first transactional batch after its last marker, and an ABORT marker
// that ends one is an aborted transaction the marker's segment must list.
// Open reads the files, not the log, and notices neither a file that lacks
// an abort nor one that lists an abort the log does not hold when the file
// is there and well formed; the partition's first read that needs the
// segment's aborts does, and mends it (txn_index_check.go).
//
// What cannot be told is not reported: an ABORT marker with no
// transactional batch of its producer since that producer's marker before
// it — the records were removed by a cleaning, or lay before the first
// segment, or below the log start offset, where Open's replay starts when
// it rebuilds the files — is not expected to be listed, and a
// transaction's first offset is checked only when the producer's marker
// before it was seen at or above the log start (one that began before the
// first segment, which retention or DeleteRecords removed, began where
// Verify cannot see): it must lie after that marker and at or before the
// first batch of the transaction seen, not on it: a cleaning removes an
// aborted transaction's records from the segments it cleans, not from the
// active segment, and leaves its entry as it was.
// The active segment's file lags its log by design and is checked only
// when the log was closed cleanly: Close completes it, and Open trusts it
// then as it trusts a closed segment's. Should a Log open the directory
// meanwhile (Open removes the clean-shutdown marker before any append),
// the check is dropped.

// verifyTxns follows the transactions of one partition through its
// batches, in offset order. Verify uses it, and so does the check of the
// .txnindex files that a partition makes on its first read_committed read
// of a closed segment (txn_index_check.go).
type verifyTxns struct {
	// open maps a producer to the first offset seen of its open
	// transaction.
	open map[int64]int64
	// known maps the producers whose markers were seen to the offset of
	// the last one: their next transaction begins after it.
	known map[int64]int64
	// aborted are the aborts that the segment being read must list; markers
	// are all of its ABORT markers, listed or not.
	aborted []verifyAbort
	markers []verifyAbort
	// broken is set once a batch could not be read: what follows cannot
	// be attributed. why says why, when a control batch did not decode.
	broken bool
	why    error
	// start is the partition's log start offset, where Open's replay
	// begins when it rebuilds .txnindex files: the batches below it are
	// followed only for the ABORT markers a file may list.
	start int64
}

// verifyAbort is an ABORT marker of a producer.
type verifyAbort struct {
	producerID, first, marker int64
	// begun is set when the producer's marker before the transaction was
	// seen, at offset after: the transaction began after it, at first or,
	// if a cleaning removed its first batches, before. Otherwise first is
	// the first batch of the transaction that was seen, -1 if none.
	begun bool
	after int64
	// lastStable is the partition's last stable offset once the abort
	// completed, as far as the batches seen tell: the marker's offset + 1,
	// or the first offset seen of an older transaction still open.
	lastStable int64
}

// batch follows the batch h. control returns its bytes; it is called only
// for a control batch of a producer.
func (t *verifyTxns) batch(h *batchHeader, control func() ([]byte, error)) {
	if h.ProducerID < 0 || t.broken {
		return
	}
	if t.open == nil {
		t.open, t.known = make(map[int64]int64), make(map[int64]int64)
	}
	below := h.lastOffset() < t.start
	if !h.isControl() {
		if _, ok := t.open[h.ProducerID]; !ok && !below && h.Attributes&attrTransactional != 0 {
			t.open[h.ProducerID] = h.BaseOffset
		}
		return
	}
	b, err := control()
	var m controlMarker
	ok := false
	if err == nil {
		m, ok, err = parseControlBatch(h, b)
	}
	if err != nil {
		t.broken, t.why = true, err // a control record Open's replay refuses too
		return
	}
	if !ok {
		return
	}
	if below {
		if !m.commit {
			t.markers = append(t.markers, verifyAbort{producerID: h.ProducerID, first: -1, marker: h.BaseOffset, lastStable: h.BaseOffset + 1})
		}
		return
	}
	first, open := t.open[h.ProducerID]
	after, begun := t.known[h.ProducerID]
	delete(t.open, h.ProducerID)
	t.known[h.ProducerID] = h.BaseOffset
	if m.commit {
		return
	}
	a := verifyAbort{producerID: h.ProducerID, first: -1, marker: h.BaseOffset, lastStable: h.BaseOffset + 1}
	for _, f := range t.open {
		a.lastStable = min(a.lastStable, f)
	}
	if open {
		a.first, a.begun, a.after = first, begun, after
	}
	t.markers = append(t.markers, a)
	if open {
		t.aborted = append(t.aborted, a)
	}
}

// damaged notes that the rest of a segment was not read.
func (t *verifyTxns) damaged() { t.broken = true }

// finish checks the .txnindex of the closed segment s, whose batches end
// at offset end, against the aborts read from it, and starts the next
// segment.
func (t *verifyTxns) finish(v *verifyRun, s *verifySegment, end int64) {
	aborted, markers := t.aborted, t.markers
	t.aborted, t.markers = nil, nil
	if t.broken || s.active && !s.closed {
		return
	}
	stem, ok := strings.CutSuffix(s.path, logExt)
	if !ok {
		return // an unfinished swap's output, whose file is the old segment's
	}
	path := stem + txnIndexExt
	if s.cleanedTxnIndex && v.exists(path+cleanedExt) {
		// The segment was renamed, its .txnindex not yet: Open renames it.
		path += cleanedExt
	}
	b, err := readWholeFile(v.fsys, path, txnIndexLimit(s.base, end))
	var entries []abortedTxn
	if err == nil {
		entries, err = decodeTxnIndex(b, s.base, end)
	}
	if s.active && !closedCleanly(v.fsys, v.dir) {
		return // a Log opened the directory since the check began
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A live log's retention or cleaning removes a segment's .log
		// before its .txnindex: a segment gone since it was read is no
		// problem.
		if len(aborted) > 0 && v.exists(s.path) {
			a := aborted[0]
			v.problem(ProblemIndex, path, 0, -1, "missing, but the segment ends %d aborted transactions (the first by producer %d, with the marker at offset %d): read_committed readers would see their records; Open rebuilds the file where the partition's snapshots or other .txnindex files show it has producers",
				len(aborted), a.producerID, a.marker)
		}
		return
	case err != nil:
		v.problem(ProblemIndex, path, 0, -1, "malformed: %v; Open rebuilds it", err)
		return
	}
	const remedy = "; Open reads the file as it is, and the first read that needs the segment's aborted transactions mends it from the log; or delete it, and Open rebuilds it from the log"
	listed := func(a verifyAbort) int {
		return slices.IndexFunc(entries, func(e abortedTxn) bool { return e.producerID == a.producerID && e.last == a.marker })
	}
	var lacking []verifyAbort
	for _, a := range aborted {
		i := listed(a)
		if i < 0 {
			lacking = append(lacking, a)
			continue
		}
		e := entries[i]
		switch {
		case a.begun && e.first > a.first:
			v.problem(ProblemIndex, path, int64(i)*txnIndexEntrySize, -1, "entry %d says the transaction of producer %d aborted at offset %d began at offset %d, but it began at offset %d: read_committed readers get the wrong records"+remedy,
				i, e.producerID, e.last, e.first, a.first)
			return
		case a.begun && e.first <= a.after:
			v.problem(ProblemIndex, path, int64(i)*txnIndexEntrySize, -1, "entry %d says the transaction of producer %d aborted at offset %d began at offset %d, but it began after the producer's marker at offset %d: read_committed readers get the wrong records"+remedy,
				i, e.producerID, e.last, e.first, a.after)
			return
		}
	}
	if len(lacking) > 0 {
		a := lacking[0]
		at := 0 // where its entry belongs
		for at < len(entries) && entries[at].last < a.marker {
			at++
		}
		v.problem(ProblemIndex, path, int64(at)*txnIndexEntrySize, -1, "%d aborted transactions of the segment are not listed (the first by producer %d, with the marker at offset %d): read_committed readers see their records"+remedy,
			len(lacking), a.producerID, a.marker)
		return
	}
	for i, e := range entries {
		if !slices.ContainsFunc(markers, func(a verifyAbort) bool { return a.producerID == e.producerID && a.marker == e.last }) {
			v.problem(ProblemIndex, path, int64(i)*txnIndexEntrySize, -1, "entry %d lists an abort by producer %d at offset %d, where the segment holds no ABORT marker of that producer: read_committed readers skip the records it covers"+remedy,
				i, e.producerID, e.last)
			return
		}
	}
}
