package eventlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// markerCount counts the control batches of p, and those of them that
// still hold their control record.
func markerCount(t *testing.T, p *eventlog.Partition) (markers, withRecord int) {
	t.Helper()
	for _, b := range eventlog.BatchProducerFields(t, p) {
		if b.Control {
			markers++
			if b.Records > 0 {
				withRecord++
			}
		}
	}
	return markers, withRecord
}

// TestCompactRemovesTransactionMarkers: as Kafka 3.x's cleaner (KIP-534),
// a marker whose transaction has no batch left gets a delete horizon in
// one cleaning and goes in a cleaning past it, but for what a producer's
// epoch needs, which stays emptied; readers of either isolation level see
// what they saw, Verify is clean, and a reopen keeps it so.
func TestCompactRemovesTransactionMarkers(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := &eventlog.Options{SegmentBytes: 1024, Now: clk.Now, RecoveryPointInterval: time.Hour, CleanerCheckInterval: time.Hour}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: time.Hour}))
	p := partition(t, l, "t", 0)
	prod, other := txnProducer(t, l, "tx"), txnProducer(t, l, "ty")
	const txns = 40
	for i := range txns {
		writeTxn(t, prod, i%3 != 2, fmt.Sprintf("v%02d-xxxxxxxxxxxxxxxxxxxx", i), fmt.Sprint("k", i%4))
		if i%4 == 0 { // the records of "ty" all go: its last marker stays, emptied
			writeTxn(t, other, i%8 == 0, fmt.Sprintf("y%02d-xxxxxxxxxxxxxxxxxxxx", i), "y")
		}
	}
	putKV(t, p, "y", []byte("plain y"))
	for i := range 60 { // the markers in closed segments
		putKV(t, p, fmt.Sprint("filler", i%5), []byte(fmt.Sprintf("filler%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)))
	}
	tp := eventlog.TopicPartition{Topic: "t", Partition: 0}

	require.NoError(t, l.Compact(ctx, "t")) // the aborted records go
	markers, _ := markerCount(t, p)
	require.Equal(t, txns+txns/4, markers, "no marker goes before its delete horizon")
	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems, "markers with a delete horizon")
	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	committed, uncommitted := readCommitted(t, l, tp), valueStrings(readAll(t, p, 0))
	for range 2 {
		clk.Advance(2 * time.Hour)
		require.NoError(t, l.Compact(ctx, "t"))
	}
	markers, withRecord := markerCount(t, p)
	t.Logf("markers %d, with their record %d", markers, withRecord)
	// Each key's newest committed record keeps its transaction's COMMIT
	// marker; the last marker of "ty" stays, emptied, for its epoch.
	assert.LessOrEqual(t, withRecord, 4, "markers of transactions with records left")
	assert.Equal(t, 1, markers-withRecord, "emptied markers")
	emptied := 0
	for b, err := range p.Batches(0) {
		require.NoError(t, err)
		if b.Control && b.ControlRecord == nil {
			emptied++
		}
	}
	assert.Equal(t, 1, emptied, "Batches lists the emptied marker, without a control record")
	assert.Equal(t, committed, readCommitted(t, l, tp), "read_committed")
	assert.Equal(t, uncommitted, valueStrings(readAll(t, p, 0)), "read_uncommitted")

	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems)
	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	assert.Equal(t, committed, readCommitted(t, l, tp), "read_committed after a reopen")
	assert.Equal(t, uncommitted, valueStrings(readAll(t, p, 0)), "read_uncommitted after a reopen")
	assert.Equal(t, p.LogEndOffset(), p.LastStableOffset(), "no transaction left open by a removed marker")
	m2, _ := markerCount(t, p)
	assert.Equal(t, markers, m2)
	// The producers go on.
	prod, other = txnProducer(t, l, "tx"), txnProducer(t, l, "ty")
	writeTxn(t, prod, true, "after", "k0")
	writeTxn(t, other, true, "y after", "y")
	assert.True(t, readCommitted(t, l, tp)["after"])
	assert.True(t, readCommitted(t, l, tp)["y after"])
	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems)
}

// markerLog writes, on fsys, a compacted partition of committed and
// aborted transactions of two producers, then cleans it twice, an hour and
// a half apart: its next cleaning, past every delete horizon, removes the
// ABORT markers, rewriting .txnindex files, and empties the last marker
// of "ty". The same calls give the same log.
func markerLog(t *testing.T, fsys *eventlog.MemFS) (*eventlog.Log, *eventlog.Options, *clock) {
	t.Helper()
	l, opts, clk, p := openCleaningLog(t, fsys, time.Hour)
	prod, other := txnProducer(t, l, "tx"), txnProducer(t, l, "ty")
	for i := range 24 {
		writeTxn(t, prod, i%3 != 2, fmt.Sprintf("v%02d-xxxxxxxxxxxxxxxxxxxx", i), fmt.Sprint("k", i%4))
		if i%4 == 0 {
			writeTxn(t, other, i%8 == 0, fmt.Sprintf("y%02d-xxxxxxxxxxxxxxxxxxxx", i), "y")
		}
	}
	putKV(t, p, "y", []byte("plain y"))
	for i := range 60 {
		putKV(t, p, fmt.Sprint("filler", i%5), []byte(fmt.Sprintf("filler%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)))
	}
	require.NoError(t, l.Compact(ctx, "t"))
	clk.Advance(90 * time.Minute)
	require.NoError(t, l.Compact(ctx, "t"))
	clk.Advance(90 * time.Minute)
	require.Equal(t, int64(markerLogEnd), p.LogEndOffset())
	settleTransactionState(t, l)
	return l, opts, clk
}

// settleTransactionState waits until all that the transaction coordinator
// wrote to __transaction_state is durable. The coordinator writes the end
// of a transaction (CompleteCommit, CompleteAbort), after its markers,
// without waiting for the fsync, which the Log's background worker does
// when the scheduler runs it. A crash before that fsync may lose the
// record, and Open then finishes the transaction again, as Kafka's
// coordinator does one it loads in PrepareCommit or PrepareAbort: it
// writes the markers again, after the log end, and the coordinator's
// segment has a torn tail until then. A crash test that counts markers or
// runs Verify before Open settles first, so that what the crash leaves
// does not hang on goroutine scheduling;
// TestCompactOffsetsTopicMarkersCrashLosesTransactionEnd crashes before
// the fsync on purpose.
func settleTransactionState(t *testing.T, l *eventlog.Log) {
	t.Helper()
	p := partition(t, l, "__transaction_state", 0)
	if end := p.LogEndOffset(); p.HighWatermark() < end {
		waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, p.Wait(waitCtx, end-1), "the background fsync of __transaction_state")
	}
}

// markerState is what readers see of the crash test's log.
type markerState struct {
	uncommitted []string
	committed   map[string]bool
	markers     int // below markerLogEnd
}

// markerLogEnd is the log end offset markerLog leaves. A power cut may
// take the coordinator's last records of a transaction's end, and Open
// then writes the transaction's markers again, after it.
const markerLogEnd = 121

func readMarkerState(t *testing.T, l *eventlog.Log) markerState {
	t.Helper()
	p := partition(t, l, "t", 0)
	require.Equal(t, p.HighWatermark(), p.LastStableOffset(), "no transaction left open")
	m := 0
	for _, b := range eventlog.BatchProducerFields(t, p) {
		if b.Control && b.BaseOffset < markerLogEnd {
			m++
		}
	}
	return markerState{
		uncommitted: valueStrings(readAll(t, p, 0)),
		committed:   readCommitted(t, l, eventlog.TopicPartition{Topic: "t", Partition: 0}),
		markers:     m,
	}
}

// A crash at each step of the swap of a cleaning that removes markers
// leaves the markers and their .txnindex entries, or neither: readers see
// the same records, no transaction is left open, and Verify is clean.
func TestCompactMarkersCrashAtEverySwapStep(t *testing.T) {
	var before, after markerState
	{
		fsys := eventlog.NewMemFS()
		l, _, _ := markerLog(t, fsys)
		before = readMarkerState(t, l)
		require.NoError(t, l.Compact(ctx, "t"))
		after = readMarkerState(t, l)
		require.NoError(t, l.Close())
		require.Less(t, after.markers, before.markers, "the cleaning removes markers")
		require.Equal(t, before.uncommitted, after.uncommitted)
		require.Equal(t, before.committed, after.committed)
	}
	commit := swapCommitIndex(t)
	for i, step := range eventlog.CleanerSwapSteps {
		for name, mode := range crashModes() {
			t.Run(step+"/"+name, func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				l, opts, _ := markerLog(t, fsys)
				crashAtSwapStep(l, fsys, step, mode, rand.New(rand.NewPCG(uint64(i), 2)))
				require.ErrorIs(t, l.Compact(ctx, "t"), eventlog.ErrInjected)
				_ = eventlog.Abandon(l)
				r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
				require.NoError(t, err)
				assert.Empty(t, r.Problems, "Verify before Open finishes the swap")

				l, err = eventlog.Open("/data", opts)
				require.NoError(t, err)
				checkSegmentFiles(t, fsys)
				want := before
				if i >= commit {
					want = after
				}
				assert.Equal(t, want, readMarkerState(t, l))
				require.NoError(t, l.Compact(ctx, "t"))
				assert.Equal(t, after, readMarkerState(t, l), "a cleaning after recovery finishes the job")
				require.NoError(t, l.Close())
				r, err = eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
				require.NoError(t, err)
				assert.Empty(t, r.Problems)
			})
		}
	}
}

// The markers a cleaning removes take no producer state with them: after a
// crash, Open replays the log from the snapshot written before the first
// producer batch, and still knows a transactional producer's epoch, which
// only its emptied last marker carries, and an idempotent producer's last
// sequence, so that its retry is recognised.
func TestCompactMarkersKeepProducerState(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, opts, clk, p := openCleaningLog(t, fsys, time.Hour)
	idem, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	appendIdem := func(seq int32, value string) (int64, error) {
		return p.Append(ctx, []eventlog.Record{{Key: []byte("i"), Value: []byte(value)}}, eventlog.AppendOptions{Producer: idem, Sequence: seq})
	}
	prod := txnProducer(t, l, "tx")
	for i := range 10 {
		writeTxn(t, prod, i%2 == 0, fmt.Sprintf("v%02d", i), "k")
		_, err := appendIdem(int32(i), fmt.Sprintf("i%02d", i))
		require.NoError(t, err)
	}
	lastIdem, err := appendIdem(10, "i10")
	require.NoError(t, err)
	require.NoError(t, prod.Close())
	prod = txnProducer(t, l, "tx") // a new epoch, whose only transaction aborts
	writeTxn(t, prod, false, "aborted", "k")
	id := eventlog.ProducerIDOf(prod)
	for i := range 60 { // supersede every record, and roll segments past them
		putKV(t, p, fmt.Sprint("k", i%3), []byte(fmt.Sprintf("filler%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)))
	}
	putKV(t, p, "k", []byte("plain k"))
	putKV(t, p, "i", []byte("plain i"))
	for i := range 60 {
		putKV(t, p, fmt.Sprint("k", i%3), []byte(fmt.Sprintf("filler%02d-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", i)))
	}
	for range 3 {
		require.NoError(t, l.Compact(ctx, "t"))
		clk.Advance(90 * time.Minute)
	}
	markers, withRecord := markerCount(t, p)
	assert.Equal(t, 1, markers, "the last marker of the producer stays, for its epoch")
	assert.Zero(t, withRecord)
	epoch, _, ok := eventlog.ProducerEpoch(p, id.ID)
	require.True(t, ok)
	require.Equal(t, id.Epoch, epoch)
	_, idemSeq, ok := eventlog.ProducerEpoch(p, idem.ID)
	require.True(t, ok)
	end := p.LogEndOffset()

	l, p = killAndReopen(t, fsys, l, opts)
	defer func() { assert.NoError(t, l.Close()) }()
	got, _, ok := eventlog.ProducerEpoch(p, id.ID)
	require.True(t, ok, "the transactional producer is remembered")
	assert.Equal(t, id.Epoch, got, "its epoch")
	_, gotSeq, ok := eventlog.ProducerEpoch(p, idem.ID)
	require.True(t, ok)
	assert.Equal(t, idemSeq, gotSeq)
	off, err := appendIdem(10, "i10")
	require.NoError(t, err)
	assert.Equal(t, lastIdem, off, "the retry is recognised")
	assert.Equal(t, end, p.LogEndOffset(), "and not stored twice")
	assert.Equal(t, p.HighWatermark(), p.LastStableOffset())
}

// A marker stays while a producer-state snapshot holds its transaction
// open: Open, replaying from that snapshot, would leave the transaction
// open for good without it, and the last stable offset stuck. Once the
// snapshot is pruned, the marker goes.
func TestCompactKeepsMarkersSnapshotsHoldOpen(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, opts, clk, p := openCleaningLog(t, fsys, time.Hour)
	prod := txnProducer(t, l, "tx")
	require.NoError(t, prod.BeginTransaction())
	sendKeyed(t, prod, "a", "in the transaction")
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l)) // a snapshot with the transaction open
	require.NoError(t, prod.CommitTransaction(ctx))
	writeTxn(t, prod, true, "b stays", "b") // the producer's last batch, and its marker, stay
	putKV(t, p, "a", []byte("plain a"))
	fill := func(tag string) {
		for i := range 60 {
			putKV(t, p, fmt.Sprint("k", i%3), []byte(fmt.Sprintf("%s%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tag, i)))
		}
	}
	fill("x")
	clean := func() {
		for range 3 {
			require.NoError(t, l.Compact(ctx, "t"))
			clk.Advance(90 * time.Minute)
		}
	}
	crash := func() {
		l, p = killAndReopen(t, fsys, l, opts)
		assert.Equal(t, p.HighWatermark(), p.LastStableOffset(), "no transaction left open")
	}
	clean()
	markers, withRecord := markerCount(t, p)
	assert.Equal(t, 2, withRecord, "the marker of the transaction the snapshot holds open stays")
	assert.Equal(t, 2, markers)
	crash()

	// Newer snapshots, below the durable end, prune the old one.
	fill("y")
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	fill("z")
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	clean()
	markers, _ = markerCount(t, p)
	assert.Equal(t, 1, markers, "the marker goes once no snapshot holds its transaction open")
	crash()
	require.NoError(t, l.Close())
	r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, r.Problems)
}

// A power cut at a random filesystem operation of a cleaning that removes
// markers leaves the old state or the new one, each consistent.
func TestCompactMarkersRandomCrashes(t *testing.T) {
	var before, after markerState
	var ops int
	{
		fsys := eventlog.NewMemFS()
		l, _, _ := markerLog(t, fsys)
		before = readMarkerState(t, l)
		ops = countFSOps(fsys, func() { require.NoError(t, l.Compact(ctx, "t")) })
		after = readMarkerState(t, l)
		require.NoError(t, l.Close())
	}
	iterations := 40
	if testing.Short() {
		iterations = 10
	}
	for iter := range iterations {
		rng := rand.New(rand.NewPCG(uint64(iter), 3))
		at := 1 + rng.IntN(ops)
		fsys := eventlog.NewMemFS()
		l, opts, _ := markerLog(t, fsys)
		l, err := cleanThroughPowerCut(fsys, l, opts, at, rng)
		require.NoError(t, err, "iteration %d: crash at operation %d of %d", iter, at, ops)
		checkSegmentFiles(t, fsys)
		got := readMarkerState(t, l)
		if !assert.ObjectsAreEqual(got, before) {
			require.Equal(t, after, got, "iteration %d: crash at operation %d of %d", iter, at, ops)
		}
		require.NoError(t, l.Compact(ctx, "t"))
		require.Equal(t, after, readMarkerState(t, l), "iteration %d: a cleaning after recovery finishes the job", iter)
		require.NoError(t, l.Close())
		r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
		require.NoError(t, err)
		require.Empty(t, r.Problems, "iteration %d", iter)
	}
}

// Once a cleaning's new segments are listed, the partition lists no
// aborted transaction whose ABORT marker they removed: a Kafka client
// given one skips its producer's batches until it meets an ABORT marker
// of that producer.
func TestCompactForgetsAbortsBeforePublishing(t *testing.T) {
	l, _, _ := markerLog(t, eventlog.NewMemFS())
	defer func() { assert.NoError(t, l.Close()) }()
	p := partition(t, l, "t", 0)
	checked := false
	eventlog.SetCleanerFailpoint(l, func(step string) error {
		if step != eventlog.CleanerSwapPublishedStep {
			return nil
		}
		checked = true
		markers := map[int64]bool{}
		for _, b := range eventlog.BatchProducerFields(t, p) {
			if b.Control && b.Records > 0 {
				markers[b.BaseOffset] = true
			}
		}
		for _, a := range p.AbortedTransactions(0, p.HighWatermark()) {
			assert.True(t, markers[a.MarkerOffset], "aborted transaction %+v listed without its marker", a)
		}
		return nil
	})
	require.NoError(t, l.Compact(ctx, "t"))
	require.True(t, checked)
}

// A cleaning removes the records of an aborted transaction from the
// segments it cleans, and leaves those in the active segment: the ABORT
// marker's .txnindex entry keeps the offset where the transaction began,
// before the first batch of it left. Verify takes that for no problem.
func TestVerifyAbortPartlyCleaned(t *testing.T) {
	dir := t.TempDir()
	l, p := openCompactTopic(t, dir)
	prod := txnProducer(t, l, "tx")
	writeTxn(t, prod, true, "committed", "a") // the producer's marker before
	require.NoError(t, prod.BeginTransaction())
	sendKeyed(t, prod, "b", "aborted in a closed segment")
	for i := range 60 { // closed segments
		putKV(t, p, fmt.Sprint("filler", i%5), []byte(fmt.Sprintf("filler%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)))
	}
	sendKeyed(t, prod, "b", "aborted in the active segment")
	require.NoError(t, prod.AbortTransaction(ctx))
	require.NoError(t, l.Compact(ctx, "t"))
	committed := readCommitted(t, l, eventlog.TopicPartition{Topic: "t", Partition: 0})
	assert.True(t, committed["committed"])
	assert.False(t, committed["aborted in the active segment"])
	uncommitted := valueStrings(readAll(t, p, 0))
	require.NotContains(t, uncommitted, "aborted in a closed segment", "the cleaning removed it")
	require.Contains(t, uncommitted, "aborted in the active segment")
	require.NoError(t, prod.Close())
	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems)
}
