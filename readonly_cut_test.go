//go:build unix

package eventlog_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// cutOnMmapFS cuts the file at path to cut bytes right after a read-only
// Log maps more than that of it: the writer's Open cutting a torn tail
// while the read-only Log scans the active segment.
type cutOnMmapFS struct {
	eventlog.FS
	path string
	cut  int64
	done *atomic.Bool
}

func (f cutOnMmapFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || name != f.path {
		return file, err
	}
	return cutOnMmapFile{File: file, fs: f}, nil
}

type cutOnMmapFile struct {
	eventlog.File
	fs cutOnMmapFS
}

func (f cutOnMmapFile) Mmap(size int) ([]byte, func() error, error) {
	data, unmap, err := f.File.(interface {
		Mmap(int) ([]byte, func() error, error)
	}).Mmap(size)
	if err == nil && int64(size) > f.fs.cut && !f.fs.done.Swap(true) {
		err = os.Truncate(f.fs.path, f.fs.cut)
	}
	return data, unmap, err
}

// TestReadOnlyScanOfATailCutUnderIt: the active segment ends with a torn
// batch right at a page boundary, as a crash can leave it; the writer's
// Open cuts it while a read-only Log scans it through its mapping, at its
// own Open or at a Refresh. Reading a mapped page wholly past the end of
// its file raises SIGBUS, which kills the process; the read-only Log must
// instead read the records before the cut.
func TestReadOnlyScanOfATailCutUnderIt(t *testing.T) {
	for _, at := range []string{"Open", "Refresh"} {
		t.Run(at, func(t *testing.T) { testScanOfATailCut(t, at == "Refresh") })
	}
}

func testScanOfATailCut(t *testing.T, refresh bool) {
	dir := t.TempDir()
	w, err := eventlog.Open(dir, &eventlog.Options{RecoveryPointInterval: time.Hour})
	require.NoError(t, err)
	for _, name := range []string{"t", "probe"} {
		require.NoError(t, w.CreateTopic(name, eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	}
	path := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
	logSize := func(path string) int64 {
		info, err := os.Stat(path)
		require.NoError(t, err)
		return info.Size()
	}
	value := func(n int) []eventlog.Record {
		return []eventlog.Record{{Key: []byte("k"), Value: bytes.Repeat([]byte("x"), n)}}
	}
	// The batches before the torn one end at 4096 bytes, a page boundary.
	wp := partition(t, w, "t", 0)
	_, err = wp.Append(ctx, value(100), eventlog.AppendOptions{})
	require.NoError(t, err)
	_, err = partition(t, w, "probe", 0).Append(ctx, value(1000), eventlog.AppendOptions{})
	require.NoError(t, err)
	probe := logSize(filepath.Join(dir, "topics", "probe", "0", "00000000000000000000.log"))
	_, err = wp.Append(ctx, value(1000+int(4096-logSize(path)-probe)), eventlog.AppendOptions{})
	require.NoError(t, err)
	cut := logSize(path)
	require.Equal(t, int64(4096), cut)
	fsys := cutOnMmapFS{FS: eventlog.OSFS{}, path: path, cut: cut, done: new(atomic.Bool)}
	var r *eventlog.Log
	if refresh {
		fsys.done.Store(true) // not yet
		r, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
		require.NoError(t, err)
		defer func() { assert.NoError(t, r.Close()) }()
	}
	_, err = wp.Append(ctx, value(64<<10), eventlog.AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, eventlog.Abandon(w))
	// Damage the end of the big batch: a crash tore it.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, int64(len(data)), cut+16<<10)
	data[len(data)-10] ^= 0xff
	require.NoError(t, os.WriteFile(path, data, 0o644))

	fsys.done.Store(false)
	if refresh {
		require.NoError(t, r.Refresh())
	} else {
		r, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
		require.NoError(t, err)
		defer func() { assert.NoError(t, r.Close()) }()
	}
	require.True(t, fsys.done.Load(), "the file was cut under the mapping")
	rp := partition(t, r, "t", 0)
	assert.Equal(t, int64(2), rp.HighWatermark())
	assert.Len(t, partitionValues(t, rp), 2)
}
