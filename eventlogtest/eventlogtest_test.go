package eventlogtest_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

func TestNewTopic(t *testing.T) {
	l := eventlogtest.NewTopic(t, "orders", eventlog.TopicConfig{Partitions: 2})
	p, err := l.Partition("orders", 1)
	require.NoError(t, err)
	off, err := p.Append(context.Background(), []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, off+1, p.HighWatermark(), "DurabilityOS makes appends visible at once")
	recs, err := p.Read(off, 1024)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "v", string(recs[0].Value))
}

func TestNewClosesAtCleanup(t *testing.T) {
	var l *eventlog.Log
	t.Run("inner", func(t *testing.T) {
		l = eventlogtest.New(t, &eventlog.Options{SegmentBytes: 4096})
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	})
	assert.ErrorIs(t, l.CreateTopic("u", eventlog.TopicConfig{}), eventlog.ErrClosed, "closed when the subtest ended")
}

// TestNoSyncFS checks that a Log on NoSyncFS keeps what it was given across
// a reopen, on NoSyncFS and on the OS's own filesystem, and that its
// segment files are still mapped for reads.
func TestNoSyncFS(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := eventlog.Open(dir, &eventlog.Options{FS: eventlogtest.NoSyncFS()})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	_, err = p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: []byte("v1")}, {Value: []byte("v2")}}, eventlog.AppendOptions{})
	require.NoError(t, err, "DurabilityFsync appends are acknowledged without fsync")
	require.NoError(t, l.Close())

	for _, fsys := range []eventlog.FS{eventlogtest.NoSyncFS(), eventlog.OSFS{}} {
		l, err := eventlog.Open(dir, &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		p, err := l.Partition("t", 0)
		require.NoError(t, err)
		var values []string
		for v, err := range p.Views(0) {
			require.NoError(t, err)
			values = append(values, string(v.Value))
		}
		assert.Equal(t, []string{"v1", "v2"}, values)
		require.NoError(t, l.Close())
	}
}

// TestNoSyncFSSkipsSync checks that Sync and SyncDir do not reach the OS:
// the OS would fail SyncDir on a directory that does not exist.
func TestNoSyncFSSkipsSync(t *testing.T) {
	fsys := eventlogtest.NoSyncFS()
	assert.NoError(t, fsys.SyncDir(filepath.Join(t.TempDir(), "missing")))
	assert.Error(t, eventlog.OSFS{}.SyncDir(filepath.Join(t.TempDir(), "missing")), "the OS's SyncDir fails there")
	f, err := fsys.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte("data"))
	require.NoError(t, err)
	assert.NoError(t, f.Sync())
	type mapped interface {
		Mmap(int) ([]byte, func() error, error)
	}
	osFile, err := eventlog.OSFS{}.OpenFile(f.Name(), os.O_RDONLY, 0)
	require.NoError(t, err)
	_, osMapped := osFile.(mapped)
	_, isMapped := f.(mapped)
	assert.Equal(t, osMapped, isMapped, "a wrapped file maps as the OS's does")
	require.NoError(t, osFile.Close())
	require.NoError(t, f.Close())
}

// TestNewWithFSKeepsTheLogsDurability: New turns fsyncs off only where it
// picks the FS itself. A Log given an FS — OSFS "for a Log that fsyncs as
// in production", or a MemFS to crash-test code — keeps the Log's default
// durability, so that an append is acknowledged once fsynced, as in
// production.
func TestNewWithFSKeepsTheLogsDurability(t *testing.T) {
	var syncs atomic.Int64
	l := eventlogtest.New(t, &eventlog.Options{FS: syncCountingFS{eventlog.OSFS{}, &syncs}})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	before := syncs.Load()
	_, err = p.Append(context.Background(), []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Greater(t, syncs.Load(), before, "the append was acknowledged once fsynced")
}

// syncCountingFS counts the fsyncs of the files it opens.
type syncCountingFS struct {
	eventlog.FS
	syncs *atomic.Int64
}

func (f syncCountingFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return syncCountingFile{file, f.syncs}, nil
}

type syncCountingFile struct {
	eventlog.File
	syncs *atomic.Int64
}

func (f syncCountingFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}
