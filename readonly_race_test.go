package eventlog_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// metaLateFS answers the first open of a topic.meta whose path ends with
// suffix as if the file were not there yet: what a read-only Open sees
// when it reads the topic's directory just before the writer's CreateTopic
// renames topic.meta into place.
type metaLateFS struct {
	eventlog.FS
	suffix string
	missed atomic.Bool
}

func (f *metaLateFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	if strings.HasSuffix(name, f.suffix) && f.missed.CompareAndSwap(false, true) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f.FS.OpenFile(name, flag, perm)
}

// A read-only Open that reads a topic's directory while the writer creates
// the topic and appends to it — topic.meta not there yet when it looked,
// records there by the time it looked for them — opens the topic, as a
// Refresh would pick it up: it is a topic being created, not one that lost
// its metadata.
func TestReadOnlyOpenDuringCreateTopic(t *testing.T) {
	dir := t.TempDir()
	w, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.CreateTopic("orders", eventlog.TopicConfig{}))
	p, err := w.Partition("orders", 0)
	require.NoError(t, err)
	_, err = p.Append(context.Background(), []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	fsys := &metaLateFS{FS: eventlog.OSFS{}, suffix: filepath.Join("orders", "topic.meta")}
	ro, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
	require.NoError(t, err)
	defer ro.Close()
	require.True(t, fsys.missed.Load(), "the test's FS hid topic.meta once")
	rp, err := ro.Partition("orders", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rp.HighWatermark())
}

// replacedAfterStatFS answers the first Stat of path with the description
// of a larger, older file: what a read-only Log sees when it looks at a
// closed segment just before the writer's compaction renames the cleaned,
// smaller segment over it.
type replacedAfterStatFS struct {
	eventlog.FS
	path string
	lied atomic.Bool
}

type olderLargerInfo struct{ fs.FileInfo }

func (i olderLargerInfo) Size() int64        { return i.FileInfo.Size() + 1000 }
func (i olderLargerInfo) ModTime() time.Time { return i.FileInfo.ModTime().Add(-time.Hour) }

func (f *replacedAfterStatFS) Stat(name string) (fs.FileInfo, error) {
	info, err := f.FS.Stat(name)
	if err == nil && name == f.path && f.lied.CompareAndSwap(false, true) {
		return olderLargerInfo{info}, nil
	}
	return info, err
}

// A read-only Log that checks where a closed segment ends (to find a
// segment that does not follow it) while the writer's compaction replaces
// that segment with its cleaned copy lists the directory again, as it
// does when a file it listed is gone, rather than fail to map the smaller
// file at the size it saw.
func TestReadOnlyOpenDuringCompactionSwap(t *testing.T) {
	dir := t.TempDir()
	// No recovery point yet: a read-only Open checks that the last segment
	// follows the one before it.
	w, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS, SegmentBytes: 1024, RecoveryPointInterval: time.Hour})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.CreateTopic("orders", eventlog.TopicConfig{}))
	p, err := w.Partition("orders", 0)
	require.NoError(t, err)
	for range 20 {
		_, err = p.Append(context.Background(), []eventlog.Record{{Value: make([]byte, 100)}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "orders", "0", "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 1, "a closed segment")

	slices.Sort(logs)
	fsys := &replacedAfterStatFS{FS: eventlog.OSFS{}, path: logs[len(logs)-2]}
	ro, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
	require.NoError(t, err)
	defer ro.Close()
	require.True(t, fsys.lied.Load(), "the test's FS described the segment as replaced once")
	rp, err := ro.Partition("orders", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(20), rp.HighWatermark())
}

// listedBeforeFS runs hook once, during the listing of dir that follows
// arm, and answers that listing with the names dir had before hook ran:
// what a read-only Log sees when it lists a partition's directory just
// before the writer starts the partition's producer history (its first
// snapshot) and writes transactions, and scans the active segment after
// they are there.
type listedBeforeFS struct {
	eventlog.FS
	dir   string
	hook  func()
	armed atomic.Bool
	calls atomic.Int32 // listings of dir since arm
	ran   atomic.Bool
}

func (f *listedBeforeFS) ReadDir(name string) ([]string, error) {
	names, err := f.FS.ReadDir(name)
	// At the second listing, which agrees with the first: both miss what
	// hook creates.
	if name == f.dir && f.armed.Load() && f.calls.Add(1) == 2 {
		f.hook()
		f.ran.Store(true)
	}
	return names, err
}

// A read-only Refresh whose listing of a partition missed the writer's
// first producer snapshot, yet whose scan of the active segment found the
// transactions written after it, knows those transactions all the same: a
// read_committed consumer of the read-only Log reads none of an aborted
// transaction's records.
func TestReadOnlyRefreshListingBeforeFirstTransaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{}))

	fsys := &listedBeforeFS{FS: eventlog.OSFS{}, dir: filepath.Join(dir, "topics", "t", "0")}
	ro, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
	require.NoError(t, err)
	defer ro.Close()

	fsys.hook = func() {
		prod, err := w.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
		require.NoError(t, err)
		defer func() { assert.NoError(t, prod.Close()) }()
		require.NoError(t, prod.BeginTransaction())
		for _, v := range []string{"a1", "a2"} {
			_, err := prod.Send(ctx, eventlog.Record{Topic: "t", Value: []byte(v)})
			require.NoError(t, err)
		}
		require.NoError(t, prod.AbortTransaction(ctx))
	}
	fsys.armed.Store(true)
	require.NoError(t, ro.Refresh())
	require.True(t, fsys.ran.Load(), "the test's FS ran the writer during a listing")

	rp, err := ro.Partition("t", 0)
	require.NoError(t, err)
	require.Equal(t, int64(3), rp.HighWatermark(), "two records and the abort marker")
	cons, err := ro.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, err)
	defer cons.Close()
	require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: "t", Partition: 0}))
	var read []string
	for r, err := range cons.ReadToEnd(ctx) {
		require.NoError(t, err)
		read = append(read, string(r.Value))
	}
	assert.Empty(t, read, "records of the aborted transaction")
}

// replacedAtOpenFS deletes and creates again a topic while a read-only
// Log reads one of its partitions, rounds times: once the partition's
// active segment is opened, it runs deleteTopic; the next listing of the
// partition's directory finds it gone, and the one after runs createTopic
// first. What a read-only Log sees when the writer deletes the topic and
// creates it again between its steps.
type replacedAtOpenFS struct {
	eventlog.FS
	active, dir              string
	deleteTopic, createTopic func()
	rounds                   int32
	stage                    atomic.Int32 // 0 armed, 1 deleted, 2 found gone
	replaced                 atomic.Int32 // rounds done
}

func (f *replacedAtOpenFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err == nil && name == f.active && f.replaced.Load() < f.rounds && f.stage.CompareAndSwap(0, 1) {
		f.deleteTopic()
	}
	return file, err
}

func (f *replacedAtOpenFS) ReadDir(name string) ([]string, error) {
	if name == f.dir && !f.stage.CompareAndSwap(1, 2) && f.stage.CompareAndSwap(2, 0) {
		f.createTopic()
		f.replaced.Add(1)
	}
	return f.FS.ReadDir(name)
}

// openReplaced opens dir read-only while a writer, w, deletes its topic
// "orders" and creates it again, rounds times, each time with two
// partitions and a record in partition 0.
func openReplaced(t *testing.T, dir string, w *eventlog.Log, rounds int32) (*eventlog.Log, *replacedAtOpenFS, error) {
	t.Helper()
	ctx := context.Background()
	partDir := filepath.Join(dir, "topics", "orders", "0")
	logs, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.Len(t, logs, 1)
	fsys := &replacedAtOpenFS{FS: eventlog.OSFS{}, active: logs[0], dir: partDir, rounds: rounds}
	fsys.deleteTopic = func() { require.NoError(t, w.DeleteTopic(ctx, "orders")) }
	fsys.createTopic = func() {
		require.NoError(t, w.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
		p, err := w.Partition("orders", 0)
		require.NoError(t, err)
		_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("new")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	ro, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, FS: fsys})
	return ro, fsys, err
}

// createOrders makes a writable Log in dir with a topic "orders" of one
// partition holding three records.
func createOrders(t *testing.T, dir string) *eventlog.Log {
	t.Helper()
	w, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	require.NoError(t, w.CreateTopic("orders", eventlog.TopicConfig{}))
	p, err := w.Partition("orders", 0)
	require.NoError(t, err)
	for range 3 {
		_, err = p.Append(context.Background(), []eventlog.Record{{Value: []byte("old")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	return w
}

// A read-only Open during which the writer deletes a topic and creates it
// again opens the topic as it stands then, as a Refresh does, rather than
// fail because the partition's files are no longer the ones it opened.
func TestReadOnlyOpenDuringTopicRecreation(t *testing.T) {
	dir := t.TempDir()
	w := createOrders(t, dir)
	ro, fsys, err := openReplaced(t, dir, w, 1)
	require.NoError(t, err)
	defer ro.Close()
	require.Equal(t, int32(1), fsys.replaced.Load(), "the test's FS deleted the topic and created it again during Open")

	rp, err := ro.Partition("orders", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rp.HighWatermark(), "the new topic's record")
	cfg, err := ro.TopicConfig("orders")
	require.NoError(t, err)
	assert.Equal(t, 2, cfg.Partitions, "the new topic's configuration")
}

// A topic deleted and created again each time a read-only Open opens it
// again makes the Open fail after a few attempts, with an error that
// says why, rather than try forever.
func TestReadOnlyOpenTopicRecreatedContinuously(t *testing.T) {
	dir := t.TempDir()
	w := createOrders(t, dir)
	const rounds = 100
	_, fsys, err := openReplaced(t, dir, w, rounds)
	require.Error(t, err)
	assert.ErrorContains(t, err, `topic "orders"`)
	assert.ErrorContains(t, err, "deleted and created again")
	assert.Less(t, fsys.replaced.Load(), int32(rounds), "attempts")
}
