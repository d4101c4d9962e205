package eventlog_test

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// tempFileScenario writes most kinds of metadata file a Log replaces
// through a temporary file: producer-ids.meta, a producer snapshot,
// topic.meta, log-start-offset and the clean-shutdown marker. After a
// crash its calls fail; it does not check them.
func tempFileScenario(fsys *eventlog.MemFS) {
	l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys, SegmentBytes: 1 << 10})
	if err != nil {
		return
	}
	defer func() { _ = eventlog.Abandon(l) }()
	if l.CreateTopic("t", eventlog.TopicConfig{}) != nil {
		return
	}
	p, err := l.Partition("t", 0)
	if err != nil {
		return
	}
	id, _ := l.NewProducerID(ctx)
	_, _ = p.Append(ctx, []eventlog.Record{{Value: []byte("idempotent")}}, eventlog.AppendOptions{Producer: id})
	_ = l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Partitions: 1, RetentionBytes: 1 << 30})
	for range 8 { // roll a few segments
		_, _ = p.Append(ctx, []eventlog.Record{{Value: make([]byte, 300)}}, eventlog.AppendOptions{})
	}
	_, _ = l.DeleteRecords(ctx, "t", 0, 1)
	_ = l.Close()
}

// memFiles lists every file under dir.
func memFiles(t *testing.T, fsys *eventlog.MemFS, dir string) []string {
	t.Helper()
	var files []string
	walkMemFiles(t, fsys, dir, func(p string, _ fs.FileInfo) { files = append(files, p) })
	return files
}

// TestOpenRemovesTempFiles: a crash between the creation of a metadata
// file's temporary copy and its rename leaves "<name>.tmp" behind; Open
// removes those of every kind of file the Log writes so, and leaves files
// it did not write alone, whatever their names.
func TestOpenRemovesTempFiles(t *testing.T) {
	// Which temporary files the scenario renames into place, in order.
	fsys := eventlog.NewMemFS()
	require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
	var renamed []string
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpRename && strings.HasSuffix(name, ".tmp") {
			renamed = append(renamed, name)
		}
		return nil
	})
	tempFileScenario(fsys)
	var kinds []string
	for _, name := range renamed {
		kind := path.Base(name)
		if len(kind) > 20 && strings.Trim(kind[:20], "0123456789") == "" {
			kind = "<offset>" + kind[20:]
		}
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	require.Subset(t, kinds, []string{"producer-ids.meta.tmp", "<offset>.snapshot.tmp", "topic.meta.tmp",
		"log-start-offset.tmp", "CLEAN_SHUTDOWN.tmp"})

	// Those the scenario does not write so, left as a crash would leave
	// them.
	ours := []string{
		powerLossDir + "/topics/t/0/recovery.meta.tmp",
		powerLossDir + "/topics/t/0/cleaner.meta.tmp",
		powerLossDir + "/topics/t/0/00000000000000000002.txnindex.tmp",
	}

	users := []string{
		powerLossDir + "/notes.tmp",
		powerLossDir + "/producer-ids.meta.tmp.bak",
		powerLossDir + "/topics/t/mine.tmp",
		powerLossDir + "/topics/t/0/mine.tmp",
		powerLossDir + "/topics/t/0/1.snapshot.tmp",
		powerLossDir + "/topics/t/0/recovery.meta.old.tmp",
	}
	for k, name := range renamed {
		t.Run(path.Base(name), func(t *testing.T) {
			// A process crash just before the k-th rename: the temporary
			// file stays.
			fsys := eventlog.NewMemFS()
			require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
			var mu sync.Mutex
			renames, dead := 0, false
			fsys.SetFault(func(op eventlog.Op, name string) error {
				mu.Lock()
				defer mu.Unlock()
				if dead {
					return errPowerLost
				}
				if op == eventlog.OpRename && strings.HasSuffix(name, ".tmp") {
					if renames == k {
						dead = true
						fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashKeepAll})
						return errPowerLost
					}
					renames++
				}
				return nil
			})
			tempFileScenario(fsys)
			fsys.SetFault(nil)
			require.Contains(t, memFiles(t, fsys, powerLossDir), name, "the crash left the temporary file")
			for _, file := range append(slices.Clone(users), ours...) {
				if _, err := fsys.Stat(path.Dir(file)); err == nil {
					require.NoError(t, fsys.WriteFile(file, []byte("a user's"), 0o644))
				}
			}

			l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
			require.NoError(t, err)
			require.NoError(t, l.Close())
			for _, file := range memFiles(t, fsys, powerLossDir) {
				if slices.Contains(users, file) {
					continue
				}
				assert.False(t, strings.HasSuffix(file, ".tmp"), "%s left", file)
			}
			for _, user := range users {
				if _, err := fsys.Stat(path.Dir(user)); err == nil {
					data, err := fsys.ReadFile(user)
					if assert.NoError(t, err, "a user's file removed") {
						assert.Equal(t, "a user's", string(data))
					}
				}
			}
		})
	}
}
