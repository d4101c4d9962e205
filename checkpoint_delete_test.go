package eventlog_test

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The background checkpointer writes a partition's files by name: its
// index files, recovery.meta, producer snapshots. When the partition's
// topic is deleted while it works, and a topic of the same name created,
// those names are the new topic's: the checkpointer must not write there.
// Before, it wrote the deleted partition's recovery point into the new
// partition's directory, which then had a recovery point past the end of
// its segment, and Open refused the healthy log.
func TestCheckpointDuringDeleteTopicSparesRecreatedTopic(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, IndexIntervalBytes: 256, RecoveryPointInterval: time.Millisecond}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))

	// The first time the checkpointer opens the index of t's active
	// segment, it waits until t is deleted and created again.
	caught, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpOpen && strings.HasSuffix(name, "topics/t/0/00000000000000000000.index") {
			once.Do(func() {
				close(caught)
				<-resume
			})
		}
		return nil
	})
	appendN(t, partition(t, l, "t", 0), 20, eventlog.AppendOptions{}) // fsynced: the recovery point moves
	<-caught
	recreated := make(chan error, 1)
	go func() {
		err := l.DeleteTopic(ctx, "t")
		if err == nil {
			err = l.CreateTopic("t", eventlog.TopicConfig{})
		}
		if err == nil {
			_, err = partition(t, l, "t", 0).Append(ctx, []eventlog.Record{rec("k", "new")}, eventlog.AppendOptions{})
		}
		if err == nil {
			err = eventlog.CheckpointRecoveryPoints(l) // the new partition's point
		}
		recreated <- err
	}()
	// The checkpointer goes on once t is created again, or once
	// DeleteTopic waits for it to let go of t's directory.
	select {
	case err := <-recreated:
		recreated <- err
	case <-awaitStack(t, "(*dirRemovals).setMoved", "sync.(*RWMutex).Lock"):
	}
	close(resume)
	require.NoError(t, <-recreated)
	require.NoError(t, l.Close()) // waits for the checkpointer
	fsys.SetFault(nil)

	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err, "the recreated topic's directory holds files of the deleted one")
	defer func() { assert.NoError(t, l.Close()) }()
	assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 1)
}

// awaitStack returns a channel closed once a goroutine's stack shows
// every one of fns; it gives up, without closing it, when the test ends.
func awaitStack(t *testing.T, fns ...string) <-chan struct{} {
	found, stop := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			for _, g := range goroutineStacks() {
				if !slices.ContainsFunc(fns, func(fn string) bool { return !strings.Contains(g, fn) }) {
					close(found)
					return
				}
			}
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	return found
}
