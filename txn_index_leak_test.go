package eventlog_test

import (
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// abortIn aborts a transaction that wrote to partition 0 of "out", so that
// the partition appends to its active segment's .txnindex.
func abortIn(t *testing.T, l *eventlog.Log) {
	t.Helper()
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "aborted")
	require.NoError(t, p.AbortTransaction(ctx))
	require.NoError(t, p.Close())
}

// The .txnindex a partition appends to is closed with its topic: DeleteTopic
// leaves no file of it open.
func TestDeleteTopicClosesTxnIndex(t *testing.T) {
	dir := t.TempDir()
	l := txnLog(t, dir, nil)
	defer func() { require.NoError(t, l.Close()) }()
	abortIn(t, l)
	require.NoError(t, l.DeleteTopic(ctx, "out"))
	assert.Empty(t, openUnder(t, dir, "/topics/out"), "files of the deleted topic left open")
}

// openUnder lists the open files under dir (openFilesUnder) whose path
// holds sub.
func openUnder(t *testing.T, dir, sub string) []string {
	t.Helper()
	var out []string
	for _, f := range openFilesUnder(t, dir) {
		if strings.Contains(f, sub) {
			out = append(out, f)
		}
	}
	return out
}

// failSyncFS is the OS filesystem whose fsyncs of .log files fail once
// failing is set.
type failSyncFS struct {
	eventlog.OSFS
	failing atomic.Bool
}

func (f *failSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &failSyncFile{File: file, fs: f}, nil
}

type failSyncFile struct {
	eventlog.File
	fs *failSyncFS
}

func (f *failSyncFile) Sync() error {
	if f.fs.failing.Load() && strings.HasSuffix(f.Name(), ".log") {
		return eventlog.ErrInjected
	}
	return f.File.Sync()
}

// The Close of a Log whose partition failed closes that partition's
// .txnindex too.
func TestCloseOfFailedPartitionClosesTxnIndex(t *testing.T) {
	dir := t.TempDir()
	fsys := &failSyncFS{}
	l := txnLog(t, dir, &eventlog.Options{FS: fsys})
	abortIn(t, l)
	fsys.failing.Store(true)
	_, err := partition(t, l, "out", 0).Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
	require.ErrorIs(t, err, eventlog.ErrInjected)
	require.ErrorIs(t, l.Close(), eventlog.ErrInjected)
	assert.Empty(t, openUnder(t, dir, ".txnindex"), "files left open after Close")
}
