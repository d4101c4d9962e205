package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Crash tests of the administration operations: the power goes at each
// filesystem operation of one in turn, in several crash modes; after
// reopening (twice, losing power again in between) the log is in the state
// from before the operation or the one after it, the latter whenever the
// operation returned before the power went, and no half-done work is left
// on disk.

// adminCrashCase is one operation to crash: setup builds the state before
// it, the same on every call; state summarizes what the operation changes,
// without writing.
type adminCrashCase struct {
	setup func(t *testing.T, l *eventlog.Log)
	op    func(l *eventlog.Log) error
	state func(t *testing.T, l *eventlog.Log) string
}

var adminCrashModes = []eventlog.CrashMode{eventlog.CrashDropUnsynced, eventlog.CrashKeepAll, eventlog.CrashRandom, eventlog.CrashReorder}

func (c adminCrashCase) open(t *testing.T, fsys *eventlog.MemFS) *eventlog.Log {
	t.Helper()
	clk := newClock() // the same names and timestamps on every run
	l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, err)
	return l
}

// fresh returns a MemFS holding the log after setup, and the log open.
func (c adminCrashCase) fresh(t *testing.T) (*eventlog.MemFS, *eventlog.Log) {
	t.Helper()
	fsys := eventlog.NewMemFS()
	require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	l := c.open(t, fsys)
	c.setup(t, l)
	return fsys, l
}

// reopenedState reopens the log on fsys and returns its state, after
// checking that Open left no marked directory behind.
func (c adminCrashCase) reopenedState(t *testing.T, fsys *eventlog.MemFS) string {
	t.Helper()
	l := c.open(t, fsys)
	defer func() { require.NoError(t, eventlog.Abandon(l)) }()
	names, err := fsys.ReadDir(powerLossDir + "/topics")
	require.NoError(t, err)
	for _, name := range names {
		assert.NotContains(t, name, "~", "Open left a half-deleted topic")
	}
	return c.state(t, l)
}

func runAdminCrash(t *testing.T, c adminCrashCase) {
	fsys, l := c.fresh(t)
	require.NoError(t, eventlog.Abandon(l))
	before := c.reopenedState(t, fsys)

	fsys, l = c.fresh(t)
	ops := recordOps(fsys, func() { require.NoError(t, c.op(l)) })
	require.NoError(t, l.Close())
	after := c.reopenedState(t, fsys)
	require.NotEqual(t, before, after, "the operation changes nothing the state shows")

	for k := 1; k <= len(ops)+1; k++ {
		name := "after it returned"
		if k <= len(ops) {
			name = fmt.Sprintf("at %d %v", k, ops[k-1])
		}
		t.Run(name, func(t *testing.T) {
			for _, mode := range adminCrashModes {
				fsys, l := c.fresh(t)
				sw := newPowerSwitch(fsys, mode, uint64(k))
				sw.arm(k)
				err := c.op(l)
				returned := err == nil && !sw.isDead()
				if err != nil {
					require.True(t, sw.isDead(), "%v: %v", mode, err)
				}
				_ = eventlog.Abandon(l)
				sw.cut()
				var verdict string
				for reopen := range 2 {
					sw.arm(0)
					got := c.reopenedState(t, fsys)
					if reopen == 0 {
						verdict = got
						assert.Contains(t, []string{before, after}, got, "%v: neither the old state nor the new", mode)
						if returned {
							assert.Equal(t, after, got, "%v: the operation returned, so its change is durable", mode)
						}
					} else {
						assert.Equal(t, verdict, got, "%v: the verdict changed on the second reopen", mode)
					}
					sw.cut()
				}
				if t.Failed() {
					t.FailNow()
				}
			}
		})
	}
}

// crashSetup makes topic "t" with 2 partitions of several segments, topic
// "u", and committed offsets of group "g" on both.
func crashSetup(t *testing.T, l *eventlog.Log) {
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	for id := range int32(2) {
		appendN(t, partition(t, l, "t", id), 60, eventlog.AppendOptions{})
	}
	appendN(t, partition(t, l, "u", 0), 5, eventlog.AppendOptions{})
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 30, tp("t", 1): 7, tp("u", 0): 4})
}

// logState lists topics, configurations, log start and end offsets,
// records and group g's committed offsets.
func logState(t *testing.T, l *eventlog.Log) string {
	t.Helper()
	var b strings.Builder
	for _, name := range l.Topics() {
		cfg, err := l.TopicConfig(name)
		require.NoError(t, err)
		fmt.Fprintf(&b, "topic %s %+v\n", name, cfg)
		for id := range int32(cfg.Partitions) {
			p := partition(t, l, name, id)
			recs := readAll(t, p, p.LogStartOffset())
			fmt.Fprintf(&b, "  %d: [%d, %d) %v\n", id, p.LogStartOffset(), p.LogEndOffset(), summarize(recs))
		}
	}
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	for _, o := range offsets {
		fmt.Fprintf(&b, "g %s %d\n", o.TopicPartition, o.Committed)
	}
	return b.String()
}

func TestCrashDuringDeleteTopic(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: crashSetup,
		op:    func(l *eventlog.Log) error { return l.DeleteTopic(ctx, "t") },
		state: logState,
	})
}

func TestCrashDuringCreatePartitions(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: crashSetup,
		op:    func(l *eventlog.Log) error { return l.CreatePartitions(ctx, "t", 4) },
		state: logState,
	})
}

func TestCrashDuringAlterTopicConfig(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: crashSetup,
		op: func(l *eventlog.Log) error {
			cfg, err := l.TopicConfig("t")
			if err != nil {
				return err
			}
			cfg.Retention, cfg.SegmentBytes, cfg.CleanupPolicy = time.Hour, 4096, eventlog.CleanupCompactDelete
			return l.AlterTopicConfig(ctx, "t", cfg)
		},
		state: logState,
	})
}

func TestCrashDuringDeleteRecords(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: crashSetup,
		op: func(l *eventlog.Log) error {
			_, err := l.DeleteRecords(ctx, "t", 1, 45)
			return err
		},
		state: logState,
	})
}

// A power loss during CreateTopic, with the disk persisting directory
// changes out of order, can keep topic.meta and lose a partition's
// directory; Open makes it again, empty. On a DurabilityOS topic too, its
// name must then be durable: the records a clean Close fsynced there must
// survive a power loss, as every partition's do.
func TestPartitionDirectoryRemadeAtOpenIsDurable(t *testing.T) {
	const topicDir = "/d/topics/t"
	cfg := eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS}
	found := false
	for seed := uint64(0); seed < 64 && !found; seed++ {
		fsys := eventlog.NewMemFS()
		require.NoError(t, fsys.MkdirAll("/d", 0o755))
		require.NoError(t, fsys.SyncDir("/"))
		l, err := eventlog.Open("/d", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		// Power is lost as CreateTopic syncs the topic's directory.
		rng := rand.New(rand.NewPCG(seed, 3))
		dead := false
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if !dead && op == eventlog.OpSyncDir && strings.HasSuffix(name, "topics/t") {
				fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashReorder, Rand: rng})
				dead = true
			}
			if dead {
				return eventlog.ErrInjected // the machine is down
			}
			return nil
		})
		require.Error(t, l.CreateTopic("t", cfg))
		fsys.SetFault(nil)
		_ = eventlog.Abandon(l)
		names, _ := fsys.ReadDir(topicDir)
		if !slices.Contains(names, "topic.meta") || slices.Contains(names, "0") {
			continue // not the outcome this test is about
		}
		found = true

		l, err = eventlog.Open("/d", &eventlog.Options{FS: fsys})
		require.NoError(t, err, "seed %d", seed)
		p := partition(t, l, "t", 0)
		appendValues(t, p, "a", "b", "c")
		require.NoError(t, l.Close(), "seed %d", seed)
		fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})

		l, err = eventlog.Open("/d", &eventlog.Options{FS: fsys})
		require.NoError(t, err, "seed %d: a clean Close made every partition durable", seed)
		recs := readAll(t, partition(t, l, "t", 0), 0)
		require.NoError(t, l.Close())
		require.Len(t, recs, 3, "seed %d: the records a clean Close made durable survive", seed)
	}
	require.True(t, found, "no seed lost the partition directory and kept topic.meta")
}

// crashLogWithTopicC opens a log at powerLossDir on a new MemFS
// (newCrashFS) and creates in it topic "c" of one partition.
func crashLogWithTopicC(t *testing.T) (*eventlog.MemFS, *eventlog.Log) {
	t.Helper()
	fsys := newCrashFS(t)
	l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 1}))
	return fsys, l
}

// powerLossReopen abandons l, crashes fsys (mode, with rng), and opens the
// log at powerLossDir again.
func powerLossReopen(t *testing.T, fsys *eventlog.MemFS, l *eventlog.Log, mode eventlog.CrashMode, rng *rand.Rand) *eventlog.Log {
	t.Helper()
	require.NoError(t, eventlog.Abandon(l))
	fsys.Crash(eventlog.CrashOptions{Mode: mode, Rand: rng})
	l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	return l
}

// TestDeleteTopicUndoneAfterFailedSyncIsDurable: a DeleteTopic whose
// directory fsync fails renames the topic's directory back and fails; the
// topic stays, and what is acknowledged in it afterwards must survive a
// power loss, whichever of the two unsynced renames the disk kept.
func TestDeleteTopicUndoneAfterFailedSyncIsDurable(t *testing.T) {
	for seed := range uint64(32) {
		fsys, l := crashLogWithTopicC(t)
		fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool {
			return op == eventlog.OpSyncDir && name == powerLossDir+"/topics"
		}))
		err := l.DeleteTopic(ctx, "c")
		fsys.SetFault(nil)
		require.ErrorIs(t, err, eventlog.ErrInjected)
		require.Equal(t, []string{"c"}, l.Topics(), "the failed DeleteTopic left the topic")
		appendValues(t, partition(t, l, "c", 0), "v")

		l = powerLossReopen(t, fsys, l, eventlog.CrashReorder, rand.New(rand.NewPCG(seed, 9)))
		assert.Equal(t, []string{"c"}, l.Topics(), "seed %d: the topic a failed DeleteTopic left is gone", seed)
		if slices.Contains(l.Topics(), "c") {
			assert.Len(t, readAll(t, partition(t, l, "c", 0), 0), 1, "seed %d", seed)
		}
		require.NoError(t, l.Close())
	}
}

// TestDeleteTopicUndoUnsureRefusesAppends: when the fsync that would make
// the rename back durable fails too, the disk may hold either name, so the
// topic, still listed, acknowledges nothing more; after a power loss Open
// finds it whole or deleted.
func TestDeleteTopicUndoUnsureRefusesAppends(t *testing.T) {
	for seed := range uint64(16) {
		fsys, l := crashLogWithTopicC(t)
		p := partition(t, l, "c", 0)
		appendValues(t, p, "before")
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSyncDir && name == powerLossDir+"/topics" {
				return eventlog.ErrInjected
			}
			return nil
		})
		err := l.DeleteTopic(ctx, "c")
		fsys.SetFault(nil)
		require.ErrorIs(t, err, eventlog.ErrInjected)
		require.Equal(t, []string{"c"}, l.Topics())
		_, err = p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
		require.ErrorIs(t, err, eventlog.ErrInjected, "an append to a topic whose directory's name is not durable")
		require.Len(t, readAll(t, p, 0), 1, "reads go on")

		l = powerLossReopen(t, fsys, l, eventlog.CrashReorder, rand.New(rand.NewPCG(seed, 10)))
		if slices.Contains(l.Topics(), "c") {
			got := readAll(t, partition(t, l, "c", 0), 0)
			require.Len(t, got, 1, "seed %d", seed)
			assert.Equal(t, "before", string(got[0].Value))
		}
		require.NoError(t, l.Close())
	}
}

// TestFailedTopicMetaChangeChangesNothing: an AlterTopicConfig or a
// CreatePartitions whose topic.meta replacement fails after its rename
// (the topic directory's fsync fails) returns an error and changes
// nothing, also at the next Open: the topic.meta it left in place must not
// apply there, in the page cache or after a power loss.
func TestFailedTopicMetaChangeChangesNothing(t *testing.T) {
	calls := map[string]func(l *eventlog.Log) error{
		"AlterTopicConfig": func(l *eventlog.Log) error {
			return l.AlterTopicConfig(ctx, "c", eventlog.TopicConfig{Partitions: 1, RetentionBytes: 1 << 20})
		},
		"CreatePartitions": func(l *eventlog.Log) error { return l.CreatePartitions(ctx, "c", 3) },
	}
	for name, call := range calls {
		for _, mode := range []eventlog.CrashMode{eventlog.CrashKeepAll, eventlog.CrashReorder} {
			t.Run(fmt.Sprintf("%s/%v", name, mode), func(t *testing.T) {
				for seed := range uint64(8) {
					fsys, l := crashLogWithTopicC(t)
					want, err := l.TopicConfig("c")
					require.NoError(t, err)
					fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool {
						return op == eventlog.OpSyncDir && name == powerLossDir+"/topics/c"
					}))
					err = call(l)
					fsys.SetFault(nil)
					require.ErrorIs(t, err, eventlog.ErrInjected)
					got, err := l.TopicConfig("c")
					require.NoError(t, err)
					require.Equal(t, want, got, "the failed call changed the configuration")

					l = powerLossReopen(t, fsys, l, mode, rand.New(rand.NewPCG(seed, 11)))
					got, err = l.TopicConfig("c")
					require.NoError(t, err)
					assert.Equal(t, want, got, "seed %d: the failed call changed the configuration at the next Open", seed)
					require.NoError(t, l.Close())
				}
			})
		}
	}
}
