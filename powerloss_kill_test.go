package eventlog_test

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Power losses after a process crash. A killed process leaves its
// unsynced writes and directory changes in the page cache, where the next
// process finds them, but they are no more durable for it (MemFS models
// this: CrashKeepAll makes nothing durable). Whatever the next Open relies
// on from there, and whatever it acknowledges on top of it, must survive a
// power loss that follows.

// killAtEachOp kills the process (CrashKeepAll) at each operation of run
// in turn, starting from a fresh MemFS made by setup each time; then it
// calls after, which reopens and acknowledges what it likes, cuts the
// power (CrashDropUnsynced), and calls check with the log reopened. It
// stops after the first run that the kill did not reach.
func killAtEachOp(t *testing.T, dir string, setup func(t *testing.T) *eventlog.MemFS, run func(fsys *eventlog.MemFS) error,
	after func(t *testing.T, l *eventlog.Log), check func(t *testing.T, l *eventlog.Log)) {
	t.Helper()
	for k := 1; k < 5000; k++ {
		done := false
		ok := t.Run(fmt.Sprintf("killed at operation %d", k), func(t *testing.T) {
			fsys := setup(t)
			sw := newPowerSwitch(fsys, eventlog.CrashKeepAll, uint64(k))
			sw.arm(k)
			err := run(fsys)
			done = !sw.isDead()
			if done {
				require.NoError(t, err)
			}
			sw.cut()

			sw.arm(0)
			l, err := eventlog.Open(dir, &eventlog.Options{FS: fsys})
			require.NoError(t, err)
			after(t, l)
			require.NoError(t, eventlog.Abandon(l))
			sw.setMode(eventlog.CrashDropUnsynced)
			sw.cut()

			sw.arm(0)
			l, err = eventlog.Open(dir, &eventlog.Options{FS: fsys})
			require.NoError(t, err, "after the power loss")
			defer func() { require.NoError(t, l.Close()) }()
			check(t, l)
		})
		if !ok || done {
			return
		}
	}
	t.Fatal("run never ended")
}

// createAndAppend creates topic "c" with one partition and appends "v"
// to it: both acknowledged.
func createAndAppend(t *testing.T, l *eventlog.Log) {
	t.Helper()
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 1}))
	appendValues(t, partition(t, l, "c", 0), "v")
}

// requireAppended checks that topic "c" holds the record createAndAppend
// appended.
func requireAppended(t *testing.T, l *eventlog.Log) {
	t.Helper()
	require.Contains(t, l.Topics(), "c", "an acknowledged topic is lost")
	got := readAll(t, partition(t, l, "c", 0), 0)
	require.Len(t, got, 1, "an acknowledged record is lost")
	assert.Equal(t, "v", string(got[0].Value))
}

// TestOpenKilledWhileMakingTheLogDirectory: the first Open of a log is
// killed at each operation in turn, among them between making the log's
// directories and syncing their parents. The next Open, finding the
// directories, must still make them durable before it acknowledges
// anything in them.
func TestOpenKilledWhileMakingTheLogDirectory(t *testing.T) {
	const dir = "/a/b/log"
	killAtEachOp(t, dir,
		func(t *testing.T) *eventlog.MemFS { return eventlog.NewMemFS() },
		func(fsys *eventlog.MemFS) error {
			l, err := eventlog.Open(dir, &eventlog.Options{FS: fsys})
			if err == nil {
				err = eventlog.Abandon(l)
			}
			return err
		},
		createAndAppend, requireAppended)
}

// killedAdmin runs killAtEachOp on a log made by prepare in a durable
// directory: run is killed at each of its operations, the next Open's
// after acknowledges what it can, and check checks it after a power loss.
func killedAdmin(t *testing.T, prepare func(t *testing.T, l *eventlog.Log), run func(l *eventlog.Log) error,
	after func(t *testing.T, l *eventlog.Log), check func(t *testing.T, l *eventlog.Log)) {
	t.Helper()
	var l *eventlog.Log
	killAtEachOp(t, powerLossDir,
		func(t *testing.T) *eventlog.MemFS {
			fsys := newCrashFS(t)
			var err error
			l, err = eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
			require.NoError(t, err)
			prepare(t, l)
			return fsys
		},
		func(*eventlog.MemFS) error {
			err := run(l)
			return errors.Join(err, eventlog.Abandon(l))
		},
		after, check)
}

// TestCreateTopicKilledThenPowerLoss: a CreateTopic killed after its
// topic became whole in the page cache, but before its directory entry
// was synced, leaves a topic that the next Open lists. What is
// acknowledged in it must survive a power loss.
func TestCreateTopicKilledThenPowerLoss(t *testing.T) {
	var acked bool
	killedAdmin(t,
		func(t *testing.T, l *eventlog.Log) { acked = false },
		func(l *eventlog.Log) error {
			return l.CreateTopic("c", eventlog.TopicConfig{Partitions: 1})
		},
		func(t *testing.T, l *eventlog.Log) {
			if slices.Contains(l.Topics(), "c") {
				appendValues(t, partition(t, l, "c", 0), "v")
				acked = true
			}
		},
		func(t *testing.T, l *eventlog.Log) {
			if acked {
				requireAppended(t, l)
			}
		})
}

// TestCreatePartitionsKilledThenPowerLoss: likewise for the partitions a
// killed CreatePartitions made, which the next Open lists once the new
// topic.meta is in place.
func TestCreatePartitionsKilledThenPowerLoss(t *testing.T) {
	var acked bool
	killedAdmin(t,
		func(t *testing.T, l *eventlog.Log) {
			acked = false
			require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 1}))
		},
		func(l *eventlog.Log) error { return l.CreatePartitions(ctx, "c", 3) },
		func(t *testing.T, l *eventlog.Log) {
			cfg, err := l.TopicConfig("c")
			require.NoError(t, err)
			if cfg.Partitions == 3 {
				appendValues(t, partition(t, l, "c", 2), "v")
				acked = true
			}
		},
		func(t *testing.T, l *eventlog.Log) {
			if !acked {
				return
			}
			cfg, err := l.TopicConfig("c")
			require.NoError(t, err)
			require.Equal(t, 3, cfg.Partitions, "the partitions an acknowledged record went to are lost")
			got := readAll(t, partition(t, l, "c", 2), 0)
			require.Len(t, got, 1, "an acknowledged record is lost")
		})
}

// TestRollKilledThenPowerLoss: an append that rolls the segment is killed
// at each operation, among them between creating the new segment and
// syncing the partition's directory. Records the next process
// acknowledges, in the segment it finds, must survive a power loss.
func TestRollKilledThenPowerLoss(t *testing.T) {
	cfg := eventlog.TopicConfig{Partitions: 1, SegmentBytes: 1024}
	var before int
	killedAdmin(t,
		func(t *testing.T, l *eventlog.Log) {
			require.NoError(t, l.CreateTopic("c", cfg))
			p := partition(t, l, "c", 0)
			appendValues(t, p, strings.Repeat("a", 400), strings.Repeat("b", 400))
			before = 2
		},
		func(l *eventlog.Log) error {
			p, err := l.Partition("c", 0)
			if err == nil {
				_, err = p.Append(ctx, []eventlog.Record{rec("k", strings.Repeat("c", 400))}, eventlog.AppendOptions{})
			}
			return err
		},
		func(t *testing.T, l *eventlog.Log) {
			p := partition(t, l, "c", 0)
			before = len(readAll(t, p, 0))
			appendValues(t, p, "after", "after-2")
			before += 2
		},
		func(t *testing.T, l *eventlog.Log) {
			got := readAll(t, partition(t, l, "c", 0), 0)
			require.Equal(t, before, len(got), "acknowledged records are lost")
		})
}

// TestDeleteRecordsKilledThenPowerLoss: the log start offset the Open
// after a killed DeleteRecords reports (and that readers and retention go
// by) must not go back in a power loss: the records it deleted stay
// deleted.
func TestDeleteRecordsKilledThenPowerLoss(t *testing.T) {
	cfg := eventlog.TopicConfig{Partitions: 1, SegmentBytes: 1024}
	var start int64
	killedAdmin(t,
		func(t *testing.T, l *eventlog.Log) {
			require.NoError(t, l.CreateTopic("c", cfg))
			p := partition(t, l, "c", 0)
			for i := range 6 {
				appendValues(t, p, strings.Repeat(string(rune('a'+i)), 400))
			}
		},
		func(l *eventlog.Log) error {
			_, err := l.DeleteRecords(ctx, "c", 0, 4)
			return err
		},
		func(t *testing.T, l *eventlog.Log) {
			start = partition(t, l, "c", 0).LogStartOffset()
		},
		func(t *testing.T, l *eventlog.Log) {
			assert.GreaterOrEqual(t, partition(t, l, "c", 0).LogStartOffset(), start, "deleted records came back")
		})
}

// TestDeleteTopicKilledThenPowerLoss: once the Open after a killed
// DeleteTopic no longer lists the topic, a topic made again under its name,
// and what is acknowledged in it, must survive a power loss.
func TestDeleteTopicKilledThenPowerLoss(t *testing.T) {
	var acked bool
	killedAdmin(t,
		func(t *testing.T, l *eventlog.Log) {
			acked = false
			require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 2}))
			appendValues(t, partition(t, l, "c", 0), "old")
		},
		func(l *eventlog.Log) error { return l.DeleteTopic(ctx, "c") },
		func(t *testing.T, l *eventlog.Log) {
			if !slices.Contains(l.Topics(), "c") {
				createAndAppend(t, l)
				acked = true
			}
		},
		func(t *testing.T, l *eventlog.Log) {
			if acked {
				requireAppended(t, l)
			}
		})
}

// TestAlterTopicConfigKilledThenPowerLoss: the configuration the Open
// after a killed AlterTopicConfig reports must survive a power loss.
func TestAlterTopicConfigKilledThenPowerLoss(t *testing.T) {
	var seen eventlog.TopicConfig
	killedAdmin(t,
		func(t *testing.T, l *eventlog.Log) {
			require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 1}))
		},
		func(l *eventlog.Log) error {
			return l.AlterTopicConfig(ctx, "c", eventlog.TopicConfig{Partitions: 1, RetentionBytes: 1 << 20})
		},
		func(t *testing.T, l *eventlog.Log) {
			var err error
			seen, err = l.TopicConfig("c")
			require.NoError(t, err)
		},
		func(t *testing.T, l *eventlog.Log) {
			cfg, err := l.TopicConfig("c")
			require.NoError(t, err)
			assert.Equal(t, seen, cfg, "the configuration went back")
		})
}

// TestPowerLossAfterKills is TestPowerLoss with the process killed
// (CrashKeepAll) in some rounds and the power lost in the others, so that
// power losses come after kills: what the Open after a kill recovers must
// stay, as after a power loss, and so must every append acknowledged on
// top of it.
func TestPowerLossAfterKills(t *testing.T) {
	iterations := envIterations(t, "EVENTLOG_POWERLOSS_ITERATIONS", 12, 2)
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		t.Run(durability.String(), func(t *testing.T) {
			var records int
			for seed := range iterations {
				run := newPowerLossRun(t, eventlog.CrashKeepAll, durability, uint64(seed))
				modes := rand.New(rand.NewPCG(uint64(seed), 3))
				for round := range 4 {
					mode := eventlog.CrashKeepAll
					if round%2 == 1 {
						mode = powerLossModes[modes.IntN(len(powerLossModes))]
					}
					run.sw.setMode(mode)
					run.session(round)
					records = max(records, len(run.reopen()))
					if t.Failed() {
						t.Fatalf("seed %d round %d (%v)", seed, round, mode)
					}
				}
			}
			t.Logf("%d seeds, up to %d records recovered", iterations, records)
		})
	}
}

// TestOpenFailsOnDirectorySyncAfterCrash: the directory fsyncs of an Open
// after a crash fail it like any other fsync, naming what they were for
// and the package once.
func TestOpenFailsOnDirectorySyncAfterCrash(t *testing.T) {
	fsys, l, opts := faultLog(t, 1)
	require.NoError(t, eventlog.Abandon(l))
	for dir, want := range map[string]string{
		faultDir + "/topics/t/0": `eventlog: topic "t" partition 0: sync `,
		faultDir + "/topics/t":   `eventlog: topic "t": `,
		faultDir + "/topics":     `eventlog: open ` + faultDir + `: `,
		faultDir:                 `eventlog: open ` + faultDir + `: `,
	} {
		fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool { return op == eventlog.OpSyncDir && name == dir }))
		_, err := eventlog.Open(faultDir, opts)
		fsys.SetFault(nil)
		require.ErrorIs(t, err, eventlog.ErrInjected, dir)
		assert.True(t, strings.HasPrefix(err.Error(), want), "%s: %v", dir, err)
		own := strings.TrimSuffix(err.Error(), eventlog.ErrInjected.Error())
		assert.Equal(t, 1, strings.Count(own, "eventlog:"), "%s: %v", dir, err)
	}
	l = openLog(t, faultDir, opts)
	require.NoError(t, l.Close())
}

// TestOpenAfterCrashSyncsAncestorsItCan: the log directory's ancestors
// are fsynced after a crash as far as they can be: one that may not be
// opened, or whose filesystem is read-only or cannot fsync a directory,
// ends the walk without failing Open; another error fails it.
func TestOpenAfterCrashSyncsAncestorsItCan(t *testing.T) {
	for _, tt := range []struct {
		err  error
		fail bool
	}{
		{fs.ErrPermission, false},
		{syscall.EROFS, false},
		{syscall.EINVAL, false},
		{errors.ErrUnsupported, false},
		{syscall.EIO, true},
	} {
		t.Run(tt.err.Error(), func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			opts := &eventlog.Options{FS: fsys}
			l, err := eventlog.Open("/mnt/log", opts)
			require.NoError(t, err)
			require.NoError(t, eventlog.Abandon(l))
			var synced []string
			fsys.SetFault(func(op eventlog.Op, name string) error {
				if op != eventlog.OpSyncDir {
					return nil
				}
				synced = append(synced, name)
				if name == "/" {
					return tt.err
				}
				return nil
			})
			l, err = eventlog.Open("/mnt/log", opts)
			fsys.SetFault(nil)
			assert.Subset(t, synced, []string{"/mnt/log", "/mnt", "/"})
			if tt.fail {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, l.Close())
		})
	}
}
