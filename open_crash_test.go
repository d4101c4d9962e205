package eventlog_test

import (
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Power cuts during an Open that has work to do: the power goes at each
// operation of that Open in turn, in several crash modes, and the next
// Opens (twice, the power going again in between) recover the same log as
// an Open that was not cut. What "the same" means is up to state.

var openCrashModes = []eventlog.CrashMode{eventlog.CrashDropUnsynced, eventlog.CrashKeepAll, eventlog.CrashRandom, eventlog.CrashReorder}

func sweepOpenPowerCuts(t *testing.T, crashed *eventlog.MemFS, opts func(*eventlog.MemFS) *eventlog.Options, state func(*testing.T, *eventlog.Log) string) {
	t.Helper()
	ref := cloneMemFS(t, crashed)
	l, err := eventlog.Open(powerLossDir, opts(ref))
	require.NoError(t, err)
	want := state(t, l)
	require.NoError(t, l.Close())

	for _, mode := range openCrashModes {
		for at := 1; ; at++ {
			require.Less(t, at, 2000, "Open never ended")
			fsys := cloneMemFS(t, crashed)
			sw := newPowerSwitch(fsys, mode, uint64(at))
			sw.arm(at)
			l, err := eventlog.Open(powerLossDir, opts(fsys))
			if err == nil {
				_ = eventlog.Abandon(l)
			} else {
				require.True(t, sw.isDead(), "Open failed with the power on: %v", err)
			}
			done := !sw.isDead()
			sw.cut()
			where := fmt.Sprintf("%v, cut at %d", mode, at)
			for range 2 {
				sw.arm(0)
				l, err = eventlog.Open(powerLossDir, opts(fsys))
				require.NoError(t, err, where)
				assert.Equal(t, want, state(t, l), where)
				require.NoError(t, eventlog.Abandon(l))
				sw.cut()
			}
			if t.Failed() || done {
				t.Logf("%v: %d cuts", mode, at-1)
				break
			}
		}
	}
}

// newCrashFS returns a MemFS holding the durable, empty directory of a log.
func newCrashFS(t *testing.T) *eventlog.MemFS {
	t.Helper()
	fsys := eventlog.NewMemFS()
	require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	return fsys
}

// TestOpenPowerCutsAfterDurabilityOSLoss: a power loss takes the unsynced
// end of DurabilityOS partitions, past a log start offset, producer
// snapshots and committed offsets that were made durable; the Open after
// it cuts and lowers them.
func TestOpenPowerCutsAfterDurabilityOSLoss(t *testing.T) {
	crashed := newCrashFS(t)
	opts := func(fsys *eventlog.MemFS) *eventlog.Options {
		return &eventlog.Options{FS: fsys, Now: newClock().Now, SegmentBytes: 1024}
	}
	l, err := eventlog.Open(powerLossDir, opts(crashed))
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("os", eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS}))
	require.NoError(t, l.CreateTopic("fs", eventlog.TopicConfig{}))
	for id := range int32(2) {
		appendN(t, partition(t, l, "os", id), 30, eventlog.AppendOptions{})
	}
	appendN(t, partition(t, l, "fs", 0), 10, eventlog.AppendOptions{})
	pid, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	p0 := partition(t, l, "os", 0)
	for i := range 10 {
		_, err := p0.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("idem%d", i))}, eventlog.AppendOptions{Producer: pid, Sequence: int32(i)})
		require.NoError(t, err)
	}
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	// Past the last fsync of "os", all made durable.
	_, err = l.DeleteRecords(ctx, "os", 1, 28)
	require.NoError(t, err)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("os", 0): 39, tp("os", 1): 29, tp("fs", 0): 10})
	for i := 10; i < 15; i++ {
		_, err := p0.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("idem%d", i))}, eventlog.AppendOptions{Producer: pid, Sequence: int32(i)})
		require.NoError(t, err)
	}
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	crashed.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = eventlog.Abandon(l)
	sweepOpenPowerCuts(t, crashed, opts, logState)
}

// TestOpenPowerCutsRebuildingProducerState: a partition with aborted
// transactions in closed segments lost its producer snapshots and a
// .txnindex; the Open that rebuilds them from the log is cut.
func TestOpenPowerCutsRebuildingProducerState(t *testing.T) {
	crashed := newCrashFS(t)
	opts := func(fsys *eventlog.MemFS) *eventlog.Options {
		return &eventlog.Options{FS: fsys, Now: newClock().Now}
	}
	l, err := eventlog.Open(powerLossDir, opts(crashed))
	require.NoError(t, err)
	committed := abortedTxnTopic(t, l)
	require.NoError(t, l.Close())
	const partDir = powerLossDir + "/topics/t/0"
	names, err := crashed.ReadDir(partDir)
	require.NoError(t, err)
	txnIndexes := 0
	for _, name := range names {
		if strings.HasSuffix(name, ".snapshot") || strings.HasSuffix(name, ".txnindex") && txnIndexes == 0 {
			if strings.HasSuffix(name, ".txnindex") {
				txnIndexes++
			}
			require.NoError(t, crashed.Remove(path.Join(partDir, name)))
		}
	}
	require.NoError(t, crashed.SyncDir(partDir))
	sweepOpenPowerCuts(t, crashed, opts, func(t *testing.T, l *eventlog.Log) string {
		got := consume(t, l, eventlog.ReadCommitted, "t")
		assert.Equal(t, committed, got, "read committed")
		return fmt.Sprint(got, consume(t, l, eventlog.ReadUncommitted, "t"))
	})
}
