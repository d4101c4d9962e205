package eventlog_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The errors a new user meets first name what was wrong, and the package
// once.

// assertOnePrefix checks that err's message starts with "eventlog: " and
// holds it once.
func assertOnePrefix(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "eventlog: "), msg)
	assert.Equal(t, 1, strings.Count(msg, "eventlog:"), msg)
}

// TestOpenLockedNamesDirectory: opening a directory another Log holds
// names the directory and the lock, with one "eventlog:", on the OS's
// filesystem and on a MemFS alike.
func TestOpenLockedNamesDirectory(t *testing.T) {
	for _, fsys := range []eventlog.FS{eventlog.OSFS{}, eventlog.NewMemFS()} {
		dir := filepath.Join(t.TempDir(), "log")
		opts := &eventlog.Options{FS: fsys}
		openLog(t, dir, opts)
		_, err := eventlog.Open(dir, opts)
		require.ErrorIs(t, err, eventlog.ErrLocked)
		assertOnePrefix(t, err)
		assert.Contains(t, err.Error(), dir)
		assert.Contains(t, err.Error(), "locked by another Log")
	}
}

// deniedFS refuses to look into one directory, as the OS does for a
// directory without read or search permission, which a test running as
// root cannot make.
type deniedFS struct {
	eventlog.FS
	dir string
}

func (f deniedFS) denied(op, name string) error {
	if strings.HasPrefix(name, f.dir) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	return nil
}

func (f deniedFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.denied("stat", name); err != nil {
		return nil, err
	}
	return f.FS.Stat(name)
}

func (f deniedFS) ReadDir(name string) ([]string, error) {
	if err := f.denied("open", name); err != nil {
		return nil, err
	}
	return f.FS.ReadDir(name)
}

// TestOpenReadOnlyPermissionDenied: a read-only Open, and Verify, of a log
// the user may not read say so, rather than that the directory holds no
// log.
func TestOpenReadOnlyPermissionDenied(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	fsys := deniedFS{FS: eventlog.OSFS{}, dir: dir}

	_, err = eventlog.Open(dir, &eventlog.Options{FS: fsys, ReadOnly: true})
	require.ErrorIs(t, err, fs.ErrPermission)
	assertOnePrefix(t, err)
	assert.Contains(t, err.Error(), dir)
	assert.NotContains(t, err.Error(), "not a log directory")

	_, err = eventlog.Verify(t.Context(), dir, &eventlog.VerifyOptions{FS: fsys})
	require.ErrorIs(t, err, fs.ErrPermission)
	assertOnePrefix(t, err)
	assert.NotContains(t, err.Error(), "not a log directory")

	// A directory without a log still says that it has none.
	empty := t.TempDir()
	_, err = eventlog.Open(empty, &eventlog.Options{ReadOnly: true})
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "not a log directory")
	_, err = eventlog.Verify(t.Context(), empty, nil)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "not a log directory")
}

// TestDeleteRecordsNegativeOffset: a negative offset other than
// DeleteToHighWatermark is refused for being negative, not for the high
// watermark, which it is below.
func TestDeleteRecordsNegativeOffset(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	_, err := partition(t, l, "t", 0).Append(t.Context(), []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	_, err = l.DeleteRecords(t.Context(), "t", 0, -2)
	require.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	assertOnePrefix(t, err)
	assert.Contains(t, err.Error(), "offset -2, which is negative")
	assert.NotContains(t, err.Error(), "high watermark is")

	_, err = l.DeleteRecords(t.Context(), "t", 0, 5)
	require.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	assert.Contains(t, err.Error(), "the high watermark is 1")
}

// TestRefreshAfterClose: Refresh, like every call on a closed Log, fails
// with ErrClosed, on a Log opened for writing (where it otherwise does
// nothing) as on a read-only one.
func TestRefreshAfterClose(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.Refresh())
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Refresh(), eventlog.ErrClosed, "writable")

	r, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, r.Refresh())
	require.NoError(t, r.Close())
	assert.ErrorIs(t, r.Refresh(), eventlog.ErrClosed, "read-only")
}

// TestSendWithoutTopic: a record sent without a Topic, which
// Partition.Append does not need, is refused for that, not for a topic
// named "" that does not exist.
func TestSendWithoutTopic(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer p.Close()

	_, err = p.Send(t.Context(), eventlog.Record{Value: []byte("v")})
	require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assertOnePrefix(t, err)
	assert.Contains(t, err.Error(), "no Topic")

	done := make(chan error, 1)
	p.SendAsync(t.Context(), eventlog.Record{Value: []byte("v")}, func(_ eventlog.RecordMetadata, err error) { done <- err })
	err = <-done
	require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.Contains(t, err.Error(), "no Topic")
}
