package eventlog_test

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// appendResult is what an Append running on its own goroutine returned.
type appendResult struct {
	offset int64
	err    error
}

func appendAsync(p *eventlog.Partition, value string) <-chan appendResult {
	ch := make(chan appendResult, 1)
	go func() {
		off, err := p.Append(ctx, []eventlog.Record{rec("k", value)}, eventlog.AppendOptions{})
		ch <- appendResult{off, err}
	}()
	return ch
}

// awaitAppendLockWait returns once a goroutine waits for a partition's
// append lock in Partition.write.
func awaitAppendLockWait(t *testing.T) {
	t.Helper()
	for range 1_000_000 {
		for _, g := range goroutineStacks() {
			if strings.Contains(g, "eventlog.(*Partition).write(") && strings.Contains(g, "sync.(*Mutex).Lock") {
				return
			}
		}
		runtime.Gosched()
	}
	require.FailNow(t, "no append waited for the append lock")
}

// TestFaultFsyncFailedByRollBeforeLeaderFsyncs: an appender waits, as the
// leader of the group commit, for a write under way before it fsyncs; that
// write rolls the segment, and the roll's fsync of the appender's batch
// fails. An fsync after a failed one proves nothing — Linux reports a
// writeback error once, and the next fsync of the file succeeds although
// the pages it lost are gone — so the appender's batch must not be
// acknowledged, and the high watermark must not pass it.
func TestFaultFsyncFailedByRollBeforeLeaderFsyncs(t *testing.T) {
	fsys, l, _ := faultLog(t, 1)
	defer func() { _ = eventlog.Abandon(l) }()
	p := partition_(t, l, 0)
	acked := []string{strings.Repeat("a", 1000), strings.Repeat("b", 1000), strings.Repeat("c", 1000)}
	appendValues(t, p, acked...)

	aWrites := make(chan struct{})
	releaseA := make(chan struct{})
	var writes, syncs atomic.Int32
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if !strings.HasSuffix(name, ".log") {
			return nil
		}
		switch {
		case op == eventlog.OpWrite && writes.Add(1) == 1:
			close(aWrites) // A holds the append lock
			<-releaseA
		case op == eventlog.OpSync && syncs.Add(1) == 1:
			return eventlog.ErrInjected // the roll's fsync, which B runs
		}
		return nil
	})
	a := appendAsync(p, "A") // fits in the segment
	<-aWrites
	b := appendAsync(p, strings.Repeat("d", 1000)) // does not: rolls
	awaitAppendLockWait(t)                         // B's write is under way
	close(releaseA)

	rb := <-b
	require.ErrorIs(t, rb.err, eventlog.ErrInjected, "B's roll fsync failed")
	ra := <-a
	assert.ErrorIs(t, ra.err, eventlog.ErrInjected, "A's batch was in the fsync that failed: it is not acknowledged (acknowledged at offset %d)", ra.offset)
	assert.Equal(t, int64(len(acked)), p.HighWatermark(), "the high watermark stays before A's batch")
	// A, the leader, fsyncs after the roll failed, or learns of the
	// failure first and does not: either way its batch is not
	// acknowledged. (The code before the fix fsynced and acknowledged.)
	assert.Contains(t, []int32{1, 2}, syncs.Load(), "the roll's fsync, and at most A's")
}

// TestFaultFsyncTxnIndexAtCheckpoint: a failed fsync of the active
// segment's .txnindex at a checkpoint fails the partition, as a failed
// fsync of its .log does. Linux reports a writeback error to one fsync
// only: were the partition to go on, the next checkpoint's fsync would
// succeed and its producer snapshot count, as durable, aborts the disk may
// not hold — Open trusts the entries a snapshot counts.
func TestFaultFsyncTxnIndexAtCheckpoint(t *testing.T) {
	fsys, l, _ := faultLog(t, 1)
	defer func() { _ = eventlog.Abandon(l) }()
	pr := txnProducer(t, l, "tx")
	require.NoError(t, pr.BeginTransaction())
	send(t, pr, "t", 0, "aborted")
	require.NoError(t, pr.AbortTransaction(ctx))

	snapshots := func() []string { return memNamesEnding(t, fsys, faultDir+"/topics/t/0", ".snapshot") }
	before := snapshots()
	fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool {
		return op == eventlog.OpSync && strings.HasSuffix(name, ".txnindex")
	}))
	require.ErrorIs(t, eventlog.CheckpointRecoveryPoints(l), eventlog.ErrInjected, "the checkpoint's fsync of the .txnindex failed")
	fsys.SetFault(nil)

	p := partition_(t, l, 0)
	_, err := p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrInjected, "the partition failed with the fsync")
	_ = eventlog.CheckpointRecoveryPoints(l)
	assert.Equal(t, before, snapshots(), "no snapshot counts the entries whose fsync failed")
}
