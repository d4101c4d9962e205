package eventlog_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

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
