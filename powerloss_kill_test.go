package eventlog_test

import (
	"fmt"
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
