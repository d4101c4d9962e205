package eventlog_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// offsetsMarkers counts the transaction markers of __consumer_offsets/0:
// COMMIT and ABORT markers that hold their control record, and emptied
// ones.
type offsetsMarkers struct{ commits, aborts, emptied int }

func countOffsetsMarkers(t *testing.T, l *eventlog.Log) offsetsMarkers {
	t.Helper()
	return countOffsetsMarkersIn(t, l, 0, math.MaxInt64)
}

// countOffsetsMarkersIn is countOffsetsMarkers for the markers at offsets
// [from, to).
func countOffsetsMarkersIn(t *testing.T, l *eventlog.Log, from, to int64) offsetsMarkers {
	t.Helper()
	var m offsetsMarkers
	for b, err := range partition(t, l, "__consumer_offsets", 0).Batches(from) {
		require.NoError(t, err)
		switch {
		case b.BaseOffset < from || b.BaseOffset >= to:
		case !b.Control:
		case b.ControlRecord == nil:
			m.emptied++
		case b.ControlRecord.Type == eventlog.ControlCommit:
			m.commits++
		case b.ControlRecord.Type == eventlog.ControlAbort:
			m.aborts++
		}
	}
	return m
}

// offsetsMarkerModel is what the test's groups must have committed.
type offsetsMarkerModel struct {
	t    *testing.T
	clk  *clock
	tps  []eventlog.TopicPartition
	want map[eventlog.TopicPartition]eventlog.OffsetAndMetadata
}

// write runs n transactions of prod from number first on, each sending
// an offset of group "g" (and, when it aborts, of group "h"), a third of
// them aborted, and a plain commit of "g" every fifth (of the same
// partition inside every seventh transaction), then plain commits
// of group "filler". The clock passes the Log's SegmentAge every third
// transaction and before the fillers, so that __consumer_offsets rolls
// its segment there, and its markers are in closed segments, which the
// cleaner cleans.
func (m *offsetsMarkerModel) write(l *eventlog.Log, prod *eventlog.Producer, first, n int) {
	t := m.t
	for j := first; j < first+n; j++ {
		if j%3 == 0 {
			m.clk.Advance(offsetsSegmentAge + time.Millisecond)
		}
		commit := j%3 != 2
		tp := m.tps[j%len(m.tps)]
		kind := "aborted"
		if commit {
			kind = "committed"
		}
		o := eventlog.OffsetAndMetadata{Offset: int64(j%100 + 1), Metadata: fmt.Sprint(kind, " txn ", j)}
		require.NoError(t, prod.BeginTransaction())
		require.NoError(t, prod.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: o},
			eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
		inside := j%7 == 3
		if inside {
			// A plain commit of the same offset while the transaction
			// is open: its record comes after the transaction's, and
			// stays the committed offset whatever the outcome.
			plain := eventlog.OffsetAndMetadata{Offset: int64(j%100 + 1), Metadata: fmt.Sprint("plain inside ", j)}
			require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: plain}))
			m.want[tp] = plain
		}
		if commit {
			require.NoError(t, prod.CommitTransaction(ctx))
			if !inside {
				m.want[tp] = o
			}
		} else {
			require.NoError(t, prod.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: o},
				eventlog.GroupMetadata{GroupID: "h", GenerationID: -1}))
			require.NoError(t, prod.AbortTransaction(ctx))
		}
		if j%5 == 0 {
			tp := m.tps[(j+1)%len(m.tps)]
			o := eventlog.OffsetAndMetadata{Offset: int64(j%100 + 1), Metadata: fmt.Sprint("plain ", j)}
			require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: o}))
			m.want[tp] = o
		}
	}
	m.clk.Advance(offsetsSegmentAge + time.Millisecond)
	for i := range 4 {
		o := eventlog.OffsetAndMetadata{Offset: int64(i + 1), Metadata: "filler"}
		require.NoError(t, l.CommitGroupOffsets(ctx, "filler", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{m.tps[i%len(m.tps)]: o}))
	}
}

// check checks the committed offsets of l against the model: those of
// committed transactions and plain commits, none of aborted ones.
func (m *offsetsMarkerModel) check(l *eventlog.Log, stage string) {
	t := m.t
	got, err := l.CommittedOffsets("g", m.tps)
	require.NoError(t, err)
	assert.Equal(t, m.want, got, "%s: the committed offsets of g", stage)
	h, err := l.CommittedOffsets("h", m.tps)
	require.NoError(t, err)
	assert.Empty(t, h, "%s: offsets of aborted transactions only", stage)
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	fromGroupOffsets := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{}
	for _, o := range offsets {
		fromGroupOffsets[o.TopicPartition] = eventlog.OffsetAndMetadata{Offset: o.Committed, Metadata: o.Metadata}
	}
	assert.Equal(t, m.want, fromGroupOffsets, "%s: GroupOffsets of g", stage)
	for _, tp := range m.tps {
		assert.False(t, l.OffsetCommitPending("g", tp), "%s: %v pending", stage, tp)
	}
}

// offsetsSegmentAge is the SegmentAge of offsetsMarkerLog's Log. An
// internal topic's config cannot be altered, and __consumer_offsets has
// 100 MiB segments, but it takes SegmentAge from the Options: with the
// injected clock, the tests roll its segments by age.
const offsetsSegmentAge = time.Hour

// offsetsMarkerLog opens a log at /data on fsys whose __consumer_offsets
// rolls its segment by age, writes 60 transactions of group offsets and plain
// commits to it (offsetsMarkerModel.write), and cleans it twice, a day
// apart, giving its ABORT markers a delete horizon, which the clock then
// passes: its next cleaning removes them.
func offsetsMarkerLog(t *testing.T, fsys *eventlog.MemFS) (*eventlog.Log, *eventlog.Options, *clock, *offsetsMarkerModel) {
	t.Helper()
	require.NoError(t, fsys.MkdirAll("/data", 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentAge: offsetsSegmentAge,
		RecoveryPointInterval: time.Hour, CleanerCheckInterval: time.Hour, RetentionCheckInterval: time.Hour}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("in", eventlog.TopicConfig{Partitions: 4}))
	m := &offsetsMarkerModel{t: t, clk: clk, want: map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{}}
	for i := range int32(4) {
		p := partition(t, l, "in", i)
		for range 100 {
			_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
		m.tps = append(m.tps, eventlog.TopicPartition{Topic: "in", Partition: i})
	}
	prod := txnProducer(t, l, "tx")
	m.write(l, prod, 0, 60)
	require.NoError(t, prod.Close())
	m.check(l, "written")
	names, err := fsys.ReadDir("/data/topics/__consumer_offsets/0")
	require.NoError(t, err)
	logs := 0
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			logs++
		}
	}
	require.Greater(t, logs, 10, "__consumer_offsets rolled its segments: %q", names)

	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	require.Equal(t, offsetsMarkers{commits: 40, aborts: 20}, countOffsetsMarkers(t, l), "no marker goes before its delete horizon")
	m.check(l, "first cleaning")
	// The first cleaning removed the records of the aborted transactions
	// and the superseded ones of the committed transactions, and gave the
	// COMMIT markers of transactions left without records a delete
	// horizon, which this cleaning is past; the ABORT markers stay while
	// a cleaning removes their records, and get it now.
	clk.Advance(eventlog.DefaultDeleteRetention + time.Hour)
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	second := countOffsetsMarkers(t, l)
	require.Equal(t, 20, second.aborts, "ABORT markers before their delete horizon")
	require.LessOrEqual(t, second.commits, len(m.tps), "COMMIT markers past their delete horizon")
	m.check(l, "second cleaning")
	clk.Advance(eventlog.DefaultDeleteRetention + time.Hour)
	settleTransactionState(t, l)
	return l, opts, clk, m
}

// TestCompactOffsetsTopicRemovesTransactionMarkers: the cleaner removes
// the transaction markers of __consumer_offsets past their delete horizon
// (the topic where transactions of SendOffsetsToTransaction leave most
// of them), and the groups' committed offsets stay those of the committed
// transactions and plain commits, never an aborted transaction's, in the
// Log that cleaned, in a read-only Log refreshed meanwhile, after a clean
// reopen, and after a power loss.
func TestCompactOffsetsTopicRemovesTransactionMarkers(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, opts, clk, m := offsetsMarkerLog(t, fsys)
	ro, err := eventlog.Open("/data", &eventlog.Options{FS: fsys, ReadOnly: true})
	require.NoError(t, err)
	m.check(ro, "read-only")
	before := countOffsetsMarkers(t, l)
	require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
	clk.Advance(eventlog.DefaultDeleteRetention + time.Hour)
	after := countOffsetsMarkers(t, l)
	t.Logf("markers before %+v, after %+v", before, after)
	require.NoError(t, ro.Refresh())
	m.check(ro, "read-only, refreshed after the cleaning")
	// Each partition's newest committed offset of a transaction keeps its
	// COMMIT marker; the producer's last marker stays, emptied, for its
	// epoch; the markers of the active segment stay too, but it holds
	// only the filler commits.
	assert.Zero(t, after.aborts, "ABORT markers removed")
	assert.LessOrEqual(t, after.commits, len(m.tps), "COMMIT markers removed")
	assert.Equal(t, 1, after.emptied, "the producer's last marker, emptied")
	m.check(l, "cleanings past the horizon")

	require.NoError(t, l.Close())
	r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, r.Problems)
	l, err = eventlog.Open("/data", opts)
	require.NoError(t, err)
	m.check(l, "clean reopen")
	assert.Equal(t, after, countOffsetsMarkers(t, l), "clean reopen")

	// More transactions of the producer, cleaned past their horizon, then
	// a power loss.
	prod := txnProducer(t, l, "tx")
	m.write(l, prod, 60, 30)
	m.check(l, "written after the reopen")
	for range 3 {
		require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
		clk.Advance(eventlog.DefaultDeleteRetention + time.Hour)
	}
	m.check(l, "second cleanings")
	require.NoError(t, ro.Refresh())
	m.check(ro, "read-only, refreshed after the second cleanings")
	require.NoError(t, ro.Close())
	cleaned := countOffsetsMarkers(t, l)
	t.Logf("markers after the second cleanings %+v", cleaned)
	assert.Zero(t, cleaned.aborts, "ABORT markers removed")
	assert.LessOrEqual(t, cleaned.commits, len(m.tps), "COMMIT markers removed")
	settleTransactionState(t, l) // or Open may write the last abort's marker again
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = eventlog.Abandon(l)
	l, err = eventlog.Open("/data", opts)
	require.NoError(t, err)
	m.check(l, "after a power loss")
	assert.Equal(t, cleaned, countOffsetsMarkers(t, l), "after a power loss")
	// The producer goes on, and its offsets commit.
	prod = txnProducer(t, l, "tx")
	m.write(l, prod, 90, 3)
	m.check(l, "written after the power loss")
	require.NoError(t, prod.Close())
	require.NoError(t, l.Close())
	r, err = eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, r.Problems)
}

// A crash at each step of the swap of a cleaning that removes markers of
// __consumer_offsets leaves the groups' committed offsets as they were,
// at Open, and a cleaning afterwards removes the markers.
func TestCompactOffsetsTopicMarkersCrashAtEverySwapStep(t *testing.T) {
	var before, after offsetsMarkers
	{
		l, _, _, _ := offsetsMarkerLog(t, eventlog.NewMemFS())
		before = countOffsetsMarkers(t, l)
		require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
		after = countOffsetsMarkers(t, l)
		require.NoError(t, l.Close())
		require.Zero(t, after.aborts, "the cleaning removes the ABORT markers")
	}
	commit := swapCommitIndex(t)
	for i, step := range eventlog.CleanerSwapSteps {
		for name, mode := range crashModes() {
			t.Run(step+"/"+name, func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				l, opts, _, m := offsetsMarkerLog(t, fsys)
				crashAtSwapStep(l, fsys, step, mode, rand.New(rand.NewPCG(uint64(i), 3)))
				require.ErrorIs(t, l.Compact(ctx, "__consumer_offsets"), eventlog.ErrInjected)
				_ = eventlog.Abandon(l)

				l, err := eventlog.Open("/data", opts)
				require.NoError(t, err)
				checkSegmentFilesIn(t, fsys, "/data/topics/__consumer_offsets/0")
				m.check(l, "reopened")
				want := before
				if i >= commit {
					want = after
				}
				assert.Equal(t, want, countOffsetsMarkers(t, l))
				require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
				assert.Equal(t, after, countOffsetsMarkers(t, l), "a cleaning after recovery finishes the job")
				m.check(l, "cleaned after recovery")
				require.NoError(t, l.Close())
				r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
				require.NoError(t, err)
				assert.Empty(t, r.Problems)
			})
		}
	}
}

// abortWithEndHeld runs one more transaction of producer "tx" on
// offsetsMarkerLog's l, which sends an offset of group "g" and aborts. With
// hold, the Log's background fsync of the transaction's end (its
// CompleteAbort, which the coordinator writes after the markers without
// waiting for the fsync) waits for release, and then fails: a crash
// meanwhile finds the record unsynced. Without, release does nothing.
func abortWithEndHeld(t *testing.T, l *eventlog.Log, fsys *eventlog.MemFS, m *offsetsMarkerModel, hold bool) (release func()) {
	t.Helper()
	prod := txnProducer(t, l, "tx")
	require.NoError(t, prod.BeginTransaction())
	o := eventlog.OffsetAndMetadata{Offset: 99, Metadata: "aborted, its end held"}
	require.NoError(t, prod.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{m.tps[0]: o},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
	settleTransactionState(t, l)
	held := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	if hold {
		// Nothing else writes __transaction_state meanwhile: its first
		// fsync is AbortTransaction's of PrepareAbort, the next the
		// background one of CompleteAbort.
		var syncs atomic.Int32
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op != eventlog.OpSync || !strings.HasPrefix(name, "/data/topics/__transaction_state/") || syncs.Add(1) == 1 {
				return nil
			}
			<-held
			return eventlog.ErrInjected
		})
		t.Cleanup(release)
	}
	require.NoError(t, prod.AbortTransaction(ctx))
	if !hold {
		settleTransactionState(t, l)
	}
	return release
}

// cleanOffsetsPastHorizons rolls the active segment of __consumer_offsets
// and cleans it three times, each past the delete horizons of the one
// before, which removes every ABORT marker that was in it.
func cleanOffsetsPastHorizons(t *testing.T, l *eventlog.Log, clk *clock, m *offsetsMarkerModel) {
	t.Helper()
	clk.Advance(offsetsSegmentAge + time.Millisecond)
	require.NoError(t, l.CommitGroupOffsets(ctx, "filler", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{m.tps[0]: {Offset: 7, Metadata: "filler"}}))
	for range 3 {
		require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
		clk.Advance(eventlog.DefaultDeleteRetention + time.Hour)
	}
}

// TestCompactOffsetsTopicMarkersCrashLosesTransactionEnd: a crash at each
// step of the swap of a cleaning of __consumer_offsets, before the Log's
// background fsync of the end of the last transaction (an abort of
// offsets). A crash that loses that record, as a power loss does, leaves
// the transaction prepared to abort: Open finishes it again, writing its
// ABORT marker again, after the log end, as Kafka's coordinator does for a
// transaction it loads in PrepareAbort. That is no fault of the swap,
// which Open finishes as ever: the markers below the log end are those
// the crash at that step leaves without the second marker, and the
// cleaning after recovery finishes the job. The second marker hides
// nothing, as its transaction's records are aborted anyway, and goes as
// any other: once its segment rolls, the cleanings past its delete horizon
// remove it. Before, TestCompactOffsetsTopicMarkersCrashAtEverySwapStep met
// this case when its crash came before the background fsync of its last
// abort's end (3.5% of runs of renamed/reorder), and failed: it did not
// allow for the second marker.
func TestCompactOffsetsTopicMarkersCrashLosesTransactionEnd(t *testing.T) {
	var before, after, final offsetsMarkers
	var end int64
	{
		fsys := eventlog.NewMemFS()
		l, _, clk, m := offsetsMarkerLog(t, fsys)
		abortWithEndHeld(t, l, fsys, m, false)
		end = partition(t, l, "__consumer_offsets", 0).LogEndOffset()
		before = countOffsetsMarkers(t, l)
		require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
		after = countOffsetsMarkers(t, l)
		cleanOffsetsPastHorizons(t, l, clk, m)
		final = countOffsetsMarkers(t, l)
		m.check(l, "cleaned past the horizons")
		require.NoError(t, l.Close())
		require.Equal(t, 1, after.aborts, "the cleaning leaves the ABORT marker of the active segment")
		require.Zero(t, final.aborts, "the cleanings past the horizons remove every ABORT marker")
	}
	commit := swapCommitIndex(t)
	for i, step := range eventlog.CleanerSwapSteps {
		for name, mode := range crashModes() {
			t.Run(step+"/"+name, func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				l, opts, clk, m := offsetsMarkerLog(t, fsys)
				release := abortWithEndHeld(t, l, fsys, m, true)
				require.Equal(t, end, partition(t, l, "__consumer_offsets", 0).LogEndOffset())
				crashAtSwapStep(l, fsys, step, mode, rand.New(rand.NewPCG(uint64(i), 4)))
				require.ErrorIs(t, l.Compact(ctx, "__consumer_offsets"), eventlog.ErrInjected)
				release()
				_ = eventlog.Abandon(l)
				fsys.SetFault(nil)

				l, err := eventlog.Open("/data", opts)
				require.NoError(t, err)
				checkSegmentFilesIn(t, fsys, "/data/topics/__consumer_offsets/0")
				m.check(l, "reopened")
				p := partition(t, l, "__consumer_offsets", 0)
				assert.Equal(t, p.HighWatermark(), p.LastStableOffset(), "no transaction left open")
				want := before
				if i >= commit {
					want = after
				}
				assert.Equal(t, want, countOffsetsMarkersIn(t, l, 0, end), "the markers the swap leaves")
				again := countOffsetsMarkersIn(t, l, end, math.MaxInt64)
				switch mode {
				case eventlog.CrashKeepAll: // the process died: the record is in the page cache
					assert.Equal(t, offsetsMarkers{}, again, "the transaction's end survived")
				case eventlog.CrashDropUnsynced:
					assert.Equal(t, offsetsMarkers{aborts: 1}, again, "the transaction's end was lost")
				default: // the record may be lost or not
					assert.Contains(t, []offsetsMarkers{{}, {aborts: 1}}, again)
				}
				require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
				assert.Equal(t, after, countOffsetsMarkersIn(t, l, 0, end), "a cleaning after recovery finishes the job")
				m.check(l, "cleaned after recovery")
				cleanOffsetsPastHorizons(t, l, clk, m)
				assert.Equal(t, final, countOffsetsMarkers(t, l), "the cleanings past the horizons")
				m.check(l, "cleaned past the horizons")
				require.NoError(t, l.Close())
				r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: fsys})
				require.NoError(t, err)
				assert.Empty(t, r.Problems)
			})
		}
	}
}

// TestBackgroundCleanerRemovesAbortMarkers: the background cleaner
// removes, in time, the ABORT markers whose records its own cleaning
// dropped, on __consumer_offsets and on a user topic, though nothing more
// is written. That cleaning keeps them as they are, to be given a delete
// horizon by a later one, and before, noting no horizon for them, it left
// no later cleaning due: they stayed for good. Time is synctest's.
func TestBackgroundCleanerRemovesAbortMarkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, SegmentAge: time.Hour, CleanerCheckInterval: time.Hour})
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("in", eventlog.TopicConfig{}))
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
		p := partition(t, l, "in", 0)
		for range 100 {
			_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
		tp := eventlog.TopicPartition{Topic: "in", Partition: 0}
		prod := txnProducer(t, l, "tx")
		for j := range 10 {
			require.NoError(t, prod.BeginTransaction())
			require.NoError(t, prod.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: int64(j)}},
				eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
			require.NoError(t, prod.AbortTransaction(ctx))
			writeTxn(t, prod, false, fmt.Sprint("v", j), "k")
		}
		require.NoError(t, prod.Close())
		// Past SegmentAge: the next append to each topic rolls its
		// segment, and the cleaner takes the closed one.
		time.Sleep(2 * time.Hour)
		putKV(t, partition(t, l, "t", 0), "z", []byte("z"))
		require.NoError(t, l.CommitGroupOffsets(ctx, "f", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: 1}}))
		// Three delete retentions, a cleaner check every hour.
		time.Sleep(3 * eventlog.DefaultDeleteRetention)
		synctest.Wait()
		markers := 0
		for b, err := range partition(t, l, "t", 0).Batches(0) {
			require.NoError(t, err)
			if b.Control {
				markers++
			}
		}
		// The producer's last marker may stay, emptied, for its epoch.
		m := countOffsetsMarkers(t, l)
		assert.Zero(t, m.aborts+m.commits, "markers of __consumer_offsets: %+v", m)
		assert.LessOrEqual(t, m.emptied, 1, "markers of __consumer_offsets: %+v", m)
		assert.LessOrEqual(t, markers, 1, "markers of t")
		committed, err := l.CommittedOffsets("g", []eventlog.TopicPartition{tp})
		require.NoError(t, err)
		assert.Empty(t, committed, "offsets of aborted transactions")
		require.NoError(t, l.Close())
	})
}
