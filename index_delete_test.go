package eventlog_test

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A lookup that finds a closed segment's index not matching its log
// rebuilds the index and writes its files by name. A reader holding the
// segment of a deleted topic keeps it, and a lookup on the deleted
// topic's Partition can still reach it; the names are by then a topic's
// created since under the same name: the rebuild must not write there.
func TestIndexRebuildSparesRecreatedTopic(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 4096, IndexIntervalBytes: 100}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	for i := range 80 {
		clk.Advance(time.Second)
		_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{rec("k", string(rune('a'+i%26)))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	// Damage the maximum of segment 0's second time entry: the load of
	// the index checks the last entries only, a lookup at the third finds
	// it.
	const seg0 = "/d/topics/t/0/00000000000000000000"
	times, err := fsys.ReadFile(seg0 + ".timeindex")
	require.NoError(t, err)
	require.Greater(t, len(times), 5*12, "segment 0 is closed, with time entries")
	binary.BigEndian.PutUint64(times[12:], binary.BigEndian.Uint64(times[12:])+1)
	require.NoError(t, fsys.WriteFile(seg0+".timeindex", times, 0o644))
	ts := int64(binary.BigEndian.Uint64(times[2*12:])) + 1

	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	// A reader holds segment 0, its index loaded.
	entered, done := make(chan struct{}), make(chan struct{})
	read := make(chan error, 1)
	go func() {
		var err error
		for _, err = range p.Views(0) {
			close(entered)
			<-done
			break
		}
		read <- err
	}()
	<-entered
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))

	_, _, _ = p.OffsetForTime(time.UnixMilli(ts)) // the deleted topic's: may fail, must write nothing
	close(done)
	require.NoError(t, <-read)
	for _, ext := range []string{".index", ".timeindex"} {
		_, err := fsys.Stat(seg0 + ext)
		assert.True(t, errors.Is(err, fs.ErrNotExist), "the recreated topic's directory holds the deleted one's %s (Stat: %v)", ext, err)
	}
}
