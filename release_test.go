package eventlog_test

import (
	"fmt"
	"io/fs"
	"iter"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The last reader of a dropped segment closes and removes its files
// without the segment's lock, which appends, rolls, retention and
// DeleteRecords take while holding the partition's locks: while the close
// or a removal is slow, the lock is free and appends that add index
// entries and roll go through. The files go once the release completes.
func TestSlowReleaseByLastReaderHoldsUpNoAppend(t *testing.T) {
	for _, op := range []eventlog.Op{eventlog.OpClose, eventlog.OpRemove} {
		t.Run(op.String(), func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024, IndexIntervalBytes: 128})
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 30, eventlog.AppendOptions{}) // several closed segments, none mapped yet
			lockFree := eventlog.SegmentLockCheck(p, 0)
			pauses := pauseFSOps(t, fsys, segmentFile(0, ".log"), eventlog.OpMmap, op)

			type result struct {
				recs []eventlog.Record
				err  error
			}
			read := make(chan result, 1)
			go func() {
				recs, err := p.Read(0, 1) // holds the first segment until it returns
				read <- result{recs, err}
			}()
			<-pauses[eventlog.OpMmap].reached
			start, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
			require.NoError(t, err)
			require.Equal(t, int64(30), start)
			pauses[eventlog.OpMmap].resume()
			<-pauses[op].reached // in the reader's release

			assert.True(t, lockFree(), "the dropped segment's lock is held during the %v of its file", op)
			assertAppendsRoll(t, fsys, p)

			pauses[op].resume()
			r := <-read
			require.NoError(t, r.err)
			require.Len(t, r.recs, 1)
			assert.Equal(t, "v0", string(r.recs[0].Value))
			assertSegmentGone(t, fsys, 0)
		})
	}
}

// Retention and DeleteRecords release the segments they drop once they
// have let go of the partition's locks: when no reader holds a segment,
// that release removes its files, and while the removal is slow appends
// that add index entries and roll go through. The call returns once the
// files are gone.
func TestSlowRemovalByDropHoldsUpNoAppend(t *testing.T) {
	drops := map[string]struct {
		config eventlog.TopicConfig
		drop   func(*eventlog.Log) error
	}{
		"DeleteRecords": {eventlog.TopicConfig{}, func(l *eventlog.Log) error {
			_, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
			return err
		}},
		"retention": {eventlog.TopicConfig{RetentionBytes: 1}, eventlog.EnforceRetention},
	}
	for name, tc := range drops {
		t.Run(name, func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024, IndexIntervalBytes: 128})
			require.NoError(t, l.CreateTopic("t", tc.config))
			p := partition(t, l, "t", 0)
			appendN(t, p, 30, eventlog.AppendOptions{})
			pauses := pauseFSOps(t, fsys, segmentFile(0, ".log"), eventlog.OpRemove)

			dropped := make(chan error, 1)
			go func() { dropped <- tc.drop(l) }()
			<-pauses[eventlog.OpRemove].reached

			require.True(t, eventlog.AppendLockFree(p), "the append lock is held during the removal of a dropped segment's files")
			assertAppendsRoll(t, fsys, p)

			pauses[eventlog.OpRemove].resume()
			require.NoError(t, <-dropped)
			assertSegmentGone(t, fsys, 0)
		})
	}
}

// assertAppendsRoll appends to p, on a MemFS at "/d" with segments of
// 1 KiB indexed every 128 bytes, enough records to add index entries and
// roll, and checks that a segment with an offset index was closed.
func assertAppendsRoll(t *testing.T, fsys *eventlog.MemFS, p *eventlog.Partition) {
	t.Helper()
	before := partitionFiles(t, fsys, ".index")
	end := p.HighWatermark()
	appendN(t, p, 30, eventlog.AppendOptions{})
	assert.Equal(t, end+30, p.HighWatermark())
	assert.Greater(t, len(partitionFiles(t, fsys, ".index")), len(before), "a segment rolled, its offset index written")
}

// partitionFiles lists the files of partition 0 of topic "t" on a MemFS
// at "/d" whose names end with ext.
func partitionFiles(t *testing.T, fsys *eventlog.MemFS, ext string) []string {
	t.Helper()
	return memNamesEnding(t, fsys, filepath.Dir(segmentFile(0, ext)), ext)
}

// memNamesEnding lists the names in dir on fsys that end with ext.
func memNamesEnding(t *testing.T, fsys *eventlog.MemFS, dir, ext string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, name := range names {
		if strings.HasSuffix(name, ext) {
			out = append(out, name)
		}
	}
	return out
}

// assertSegmentGone checks that the files of the segment at base of
// partition 0 of topic "t" on a MemFS at "/d" are removed.
func assertSegmentGone(t *testing.T, fsys *eventlog.MemFS, base int64) {
	t.Helper()
	fsys.SetFault(nil)
	for _, ext := range []string{".log", ".index", ".timeindex", ".txnindex"} {
		_, err := fsys.Stat(segmentFile(base, ext))
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s removed", ext)
	}
}

// segmentPath is the path of a file of the segment at base of partition 0
// of topic "t" on a MemFS at "/d".
func segmentFile(base int64, ext string) string {
	return fmt.Sprintf("/d/topics/t/0/%020d%s", base, ext)
}

// fsPause is a MemFS operation held up: reached is closed when it is, and
// resume lets it go on.
type fsPause struct {
	reached chan struct{}
	resumed chan struct{}
	resume  func()
}

// pauseFSOps installs a fault on fsys that holds up the first call of each
// of ops on the file at path until its pause is resumed. The pauses are
// resumed at the end of the test at the latest, before the Log's Close.
func pauseFSOps(t *testing.T, fsys *eventlog.MemFS, path string, ops ...eventlog.Op) map[eventlog.Op]*fsPause {
	t.Helper()
	pauses := make(map[eventlog.Op]*fsPause, len(ops))
	for _, op := range ops {
		resumed := make(chan struct{})
		p := &fsPause{reached: make(chan struct{}), resumed: resumed, resume: sync.OnceFunc(func() { close(resumed) })}
		pauses[op] = p
		t.Cleanup(p.resume)
	}
	var seen sync.Map // the ops held up once already
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if p, ok := pauses[op]; ok && name == path {
			if _, held := seen.LoadOrStore(op, true); !held {
				close(p.reached)
				<-p.resumed
			}
		}
		return nil
	})
	return pauses
}

// A segment that retention dropped while a view loop held it has its files
// removed when the loop lets go of it, by their names; if DeleteTopic took
// its topic away meanwhile and CreateTopic made a topic of the same name,
// those names are the new topic's files, which must not go.
func TestDroppedSegmentOfDeletedTopicSparesRecreatedTopic(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 2000}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 60, eventlog.AppendOptions{})
	// A view loop holds the first segment while retention drops it.
	next, stop := iter.Pull2(p.Views(0))
	v, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)
	require.Zero(t, v.Offset)
	require.NoError(t, eventlog.EnforceRetention(l))
	require.Positive(t, p.LogStartOffset())

	require.NoError(t, l.DeleteTopic(ctx, "t"))
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p = partition(t, l, "t", 0)
	appendN(t, p, 5, eventlog.AppendOptions{})
	stop() // the loop lets go of the dropped segment

	assert.Equal(t, []int64{0}, segmentBases(t, fsys, "/d/topics/t/0"), "the new topic's segment is there")
	require.NoError(t, l.Close())
	l = openLog(t, "/d", opts)
	assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 5, "the new topic's records survive reopening")
}
