package eventlog_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Segment files lost from a partition whose other files show that they
// held records: Open refuses, and Options.Repair restarts the partition
// past every offset the files show was handed out.

// partitionDir is the directory of partition 0 of topic "t" in dir.
func partitionDir(dir string) string { return filepath.Join(dir, "topics", "t", "0") }

// globPartition lists the files of partition 0 of topic "t" whose names
// end with ext, in offset order.
func globPartition(t *testing.T, dir, ext string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(partitionDir(dir), "*"+ext))
	require.NoError(t, err)
	return paths
}

// removeSegments removes the .log files of the given segments, leaving
// everything else of the partition in place.
func removeSegments(t *testing.T, logs ...string) {
	t.Helper()
	for _, path := range logs {
		require.NoError(t, os.Remove(path))
	}
}

// baseOf is the base offset in the name of a segment file.
func baseOf(t *testing.T, path string) int64 {
	t.Helper()
	name := filepath.Base(path)
	base, err := strconv.ParseInt(name[:strings.IndexByte(name, '.')], 10, 64)
	require.NoError(t, err)
	return base
}

// requireLostRefused checks that Open fails with a *CorruptError naming
// path and pointing at Options.Repair, and changes nothing of the
// partition, twice.
func requireLostRefused(t *testing.T, dir string, opts *eventlog.Options, path string) {
	t.Helper()
	before := dirState(t, partitionDir(dir))
	for range 2 {
		_, err := eventlog.Open(dir, opts)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, path, ce.Path)
		assert.Contains(t, ce.Reason, "Options.Repair")
		assert.Equal(t, before, dirState(t, partitionDir(dir)), "a refused Open changes nothing")
	}
}

// requireRefusedThenRepaired checks that Open refuses dir over path
// (requireLostRefused), then opens it with Options.Repair, checks that the
// repair set leftovers aside and reported the lost segments, and closes it.
func requireRefusedThenRepaired(t *testing.T, dir string, opts *eventlog.Options, path string, leftovers []string) {
	t.Helper()
	requireLostRefused(t, dir, opts, path)
	repair := *opts
	repair.Repair = true
	l := openLog(t, dir, &repair)
	requireSetAside(t, l.Recovery(), leftovers)
	requireLostReported(t, l.Recovery(), dir)
	require.NoError(t, l.Close())
}

// requireRestarted opens dir with Options.Repair and checks that partition
// 0 of "t" holds exactly the records before kept (values v0 on, dense)
// and then goes on at an offset not below floor; that appends get offsets
// from there; and that the next Open, without Repair, finds it all again.
// It returns the offset the partition restarted at.
func requireRestarted(t *testing.T, dir string, opts *eventlog.Options, kept int, floor int64) int64 {
	t.Helper()
	repair := *opts
	repair.Repair = true
	l, err := eventlog.Open(dir, &repair)
	require.NoError(t, err)
	p := partition(t, l, "t", 0)
	restart := p.LogEndOffset()
	assert.GreaterOrEqual(t, restart, floor, "no offset handed out before is handed out again")
	recs := readAll(t, p, p.LogStartOffset())
	require.Len(t, recs, kept)
	for i, r := range recs {
		assert.Equal(t, int64(i), r.Offset)
	}
	off, err := p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, restart, off)
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.Empty(t, l.Recovery().Repaired)
	assert.Empty(t, l.Recovery().LostSegments)
	p = partition(t, l, "t", 0)
	recs = readAll(t, p, p.LogStartOffset())
	require.Len(t, recs, kept+1)
	assert.Equal(t, restart, recs[kept].Offset)
	assert.Equal(t, "after", string(recs[kept].Value))
	off, err = p.Append(ctx, []eventlog.Record{rec("k", "later")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, restart+1, off)
	return restart
}

// requireLostReported checks that Repair reported one partition of dir
// restarted past lost segments.
func requireLostReported(t *testing.T, rs eventlog.RecoveryStats, dir string) {
	t.Helper()
	require.Len(t, rs.LostSegments, 1)
	assert.Contains(t, rs.LostSegments[0], partitionDir(dir))
	assert.Contains(t, rs.LostSegments[0], ": going on at offset ")
}

// requireSetAside checks that Repair set aside exactly the files at paths,
// which are gone from their places.
func requireSetAside(t *testing.T, rs eventlog.RecoveryStats, paths []string) {
	t.Helper()
	require.Len(t, rs.Repaired, len(paths))
	for i, path := range paths {
		assert.True(t, strings.HasPrefix(rs.Repaired[i], path+".broken-"), rs.Repaired[i])
		assert.NoFileExists(t, path)
	}
}

// A partition whose only segment file is gone, with the other files that
// show it held records: recovery.meta, index files, log-start-offset,
// producer snapshots, or only the clean-shutdown marker.
func TestOpenRefusesLostOnlySegment(t *testing.T) {
	seg0 := func(dir string) string { return filepath.Join(partitionDir(dir), "00000000000000000000.log") }
	cases := map[string]struct {
		// damage makes the log and removes its segment; it returns the path
		// the error names and the lowest offset the restart may have.
		damage func(t *testing.T, dir string, opts *eventlog.Options) (string, int64)
	}{
		"crashed after a checkpoint": {func(t *testing.T, dir string, opts *eventlog.Options) (string, int64) {
			crashedLog(t, dir, opts, 50)
			removeSegments(t, seg0(dir))
			require.FileExists(t, filepath.Join(partitionDir(dir), "recovery.meta"))
			return seg0(dir), 50
		}},
		"index files left": {func(t *testing.T, dir string, opts *eventlog.Options) (string, int64) {
			closedLog(t, dir, opts, 50)
			removeSegments(t, seg0(dir))
			require.NoError(t, os.Remove(filepath.Join(dir, "CLEAN_SHUTDOWN")))
			require.NoFileExists(t, filepath.Join(partitionDir(dir), "recovery.meta"))
			require.FileExists(t, filepath.Join(partitionDir(dir), "00000000000000000000.index"))
			// The last index entry is at most an interval of 100 bytes,
			// two batches, before the end.
			return seg0(dir), 47
		}},
		"closed cleanly, nothing else left": {func(t *testing.T, dir string, opts *eventlog.Options) (string, int64) {
			closedLog(t, dir, opts, 1)
			removeSegments(t, seg0(dir))
			entries, err := os.ReadDir(partitionDir(dir))
			require.NoError(t, err)
			require.Empty(t, entries)
			return partitionDir(dir), 0
		}},
		"after DeleteRecords": {func(t *testing.T, dir string, opts *eventlog.Options) (string, int64) {
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{})
			_, err := l.DeleteRecords(ctx, "t", 0, 20)
			require.NoError(t, err)
			require.NoError(t, eventlog.Abandon(l))
			removeSegments(t, seg0(dir))
			for _, ext := range []string{".index", ".timeindex"} {
				require.NoError(t, os.RemoveAll(filepath.Join(partitionDir(dir), "00000000000000000000"+ext)))
			}
			return partitionDir(dir), 20
		}},
		"producer snapshots left": {func(t *testing.T, dir string, opts *eventlog.Options) (string, int64) {
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 10, eventlog.AppendOptions{})
			id, err := l.NewProducerID(ctx)
			require.NoError(t, err)
			for i := range 5 {
				_, err := p.Append(ctx, []eventlog.Record{rec("k", "idempotent")}, eventlog.AppendOptions{Producer: id, Sequence: int32(i)})
				require.NoError(t, err)
			}
			require.NoError(t, eventlog.Abandon(l))
			removeSegments(t, seg0(dir))
			require.NotEmpty(t, globPartition(t, dir, ".snapshot"))
			for _, ext := range []string{".index", ".timeindex"} {
				require.NoError(t, os.RemoveAll(filepath.Join(partitionDir(dir), "00000000000000000000"+ext)))
			}
			return partitionDir(dir), 10
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{IndexIntervalBytes: 100, RecoveryPointInterval: time.Hour}
			path, floor := c.damage(t, dir, opts)
			leftovers := append(globPartition(t, dir, ".index"), globPartition(t, dir, ".timeindex")...)
			requireRefusedThenRepaired(t, dir, opts, path, leftovers)
			requireRestarted(t, dir, opts, 0, floor)
		})
	}
}

// A partition with several segments that lost all of them, or only the
// last one: the records of the others stay readable.
func TestOpenRefusesLostSegments(t *testing.T) {
	cases := map[string]struct {
		// crashed leaves the log as a crash after a checkpoint would;
		// otherwise it is closed cleanly, in a session too short for a
		// checkpoint, so that only index files remain of what is lost.
		crashed  bool
		lastOnly bool
	}{
		"every segment, crashed":           {crashed: true},
		"every segment, closed cleanly":    {},
		"the last segment, crashed":        {crashed: true, lastOnly: true},
		"the last segment, closed cleanly": {lastOnly: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 100, RecoveryPointInterval: time.Hour}
			if c.crashed {
				crashedLog(t, dir, opts, 200)
			} else {
				closedLog(t, dir, opts, 200)
				require.NoFileExists(t, filepath.Join(partitionDir(dir), "recovery.meta"))
			}
			logs := globPartition(t, dir, ".log")
			require.Greater(t, len(logs), 2)
			lost := logs
			if c.lastOnly {
				lost = logs[len(logs)-1:]
			}
			// The last segment must hold more than an index interval, so
			// that something of it is left.
			info, err := os.Stat(lost[len(lost)-1])
			require.NoError(t, err)
			require.Greater(t, info.Size(), int64(200))
			kept := 0
			if c.lastOnly {
				kept = int(baseOf(t, lost[0]))
			}
			removeSegments(t, lost...)
			var leftovers []string
			for _, path := range lost {
				for _, ext := range []string{".index", ".timeindex"} {
					if leftover := strings.TrimSuffix(path, ".log") + ext; fileExists(leftover) {
						leftovers = append(leftovers, leftover)
					}
				}
			}
			require.NotEmpty(t, leftovers)

			requireRefusedThenRepaired(t, dir, opts, lost[0], leftovers)
			// The last index entry of the last segment is at most an
			// interval of 100 bytes, two batches, before its end.
			requireRestarted(t, dir, opts, kept, 197)
		})
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Partitions with no record in any segment, and partitions that lost a
// segment file that held none, open as they are: nothing shows a record
// lost.
func TestOpenEmptyPartitions(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string, opts *eventlog.Options) (next int64){
		"new, closed cleanly": func(t *testing.T, dir string, opts *eventlog.Options) int64 {
			closedLog(t, dir, opts, 0)
			return 0
		},
		"new, crashed": func(t *testing.T, dir string, opts *eventlog.Options) int64 {
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			require.NoError(t, eventlog.Abandon(l))
			return 0
		},
		// A crash during CreateTopic that kept topic.meta but not the
		// first segment's name: no append can have been acknowledged.
		"new, crashed before its segment was durable": func(t *testing.T, dir string, opts *eventlog.Options) int64 {
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			require.NoError(t, eventlog.Abandon(l))
			removeSegments(t, globPartition(t, dir, ".log")...)
			return 0
		},
		"every segment removed by retention": func(t *testing.T, dir string, opts *eventlog.Options) int64 {
			clk := newClock()
			o := *opts
			o.Now = clk.Now
			l := openLog(t, dir, &o)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 100, eventlog.AppendOptions{})
			require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
			clk.Advance(8 * 24 * time.Hour) // past Retention and the default SegmentAge
			require.NoError(t, eventlog.EnforceRetention(l))
			require.Equal(t, int64(100), p.LogStartOffset())
			require.Len(t, globPartition(t, dir, ".log"), 1)
			require.NoError(t, l.Close())
			return 100
		},
		"emptied by DeleteRecords": func(t *testing.T, dir string, opts *eventlog.Options) int64 {
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
			require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
			_, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			return 100
		},
	}
	for name, setUp := range cases {
		for _, crashed := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "", true: ", reopened after a crash"}[crashed], func(t *testing.T) {
				dir := t.TempDir()
				opts := &eventlog.Options{SegmentBytes: 2048}
				next := setUp(t, dir, opts)
				if crashed {
					require.NoError(t, os.RemoveAll(filepath.Join(dir, "CLEAN_SHUTDOWN")))
				}
				assert.Empty(t, verify(t, dir).Problems, "Verify agrees with Open")
				r, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
				require.NoError(t, err, "a read-only Log agrees with Open")
				assert.Equal(t, next, partition(t, r, "t", 0).HighWatermark())
				require.NoError(t, r.Close())

				l := openLog(t, dir, opts)
				assert.Empty(t, l.Recovery().Repaired)
				p := partition(t, l, "t", 0)
				assert.Equal(t, next, p.LogStartOffset())
				assert.Equal(t, next, p.LogEndOffset())
				off, err := p.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
				require.NoError(t, err)
				assert.Equal(t, next, off)
				require.Len(t, readAll(t, p, next), 1)
			})
		}
	}
}

// Verify and a read-only Log judge lost segment files as Open does: Verify
// reports the *CorruptError Open fails with, and a read-only Log fails with
// it, where a partition without its .log files would otherwise look empty
// or shorter. Neither changes anything.
func TestVerifyAndReadOnlySeeLostSegments(t *testing.T) {
	seg0 := func(dir string) string { return filepath.Join(partitionDir(dir), "00000000000000000000.log") }
	cases := map[string]func(t *testing.T, dir string) (path string){
		"only segment, after a crash": func(t *testing.T, dir string) string {
			crashedLog(t, dir, nil, 50)
			removeSegments(t, seg0(dir))
			return seg0(dir)
		},
		"only segment, after a clean close": func(t *testing.T, dir string) string {
			closedLog(t, dir, &eventlog.Options{IndexIntervalBytes: 100}, 50)
			removeSegments(t, seg0(dir))
			require.NotEmpty(t, globPartition(t, dir, ".index"))
			return seg0(dir)
		},
		"only segment, after a clean close, nothing else left": func(t *testing.T, dir string) string {
			closedLog(t, dir, nil, 1)
			removeSegments(t, seg0(dir))
			for _, ext := range []string{".index", ".timeindex"} {
				require.NoError(t, os.RemoveAll(filepath.Join(partitionDir(dir), "00000000000000000000"+ext)))
			}
			return partitionDir(dir)
		},
		"last of several segments, after a clean close": func(t *testing.T, dir string) string {
			logs := closedLog(t, dir, &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 100}, 200)
			require.Greater(t, len(logs), 2)
			last := logs[len(logs)-1]
			removeSegments(t, last)
			require.FileExists(t, strings.TrimSuffix(last, ".log")+".index")
			return last
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := damage(t, dir)
			state := dirState(t, dir)

			_, err := eventlog.Open(dir, nil)
			var want *eventlog.CorruptError
			require.ErrorAs(t, err, &want)
			require.Equal(t, path, want.Path)

			r := verify(t, dir)
			assert.True(t, r.Corrupt())
			if assert.Len(t, r.Problems, 1, "%v", r.Problems) {
				assert.Equal(t, eventlog.Problem{Kind: eventlog.ProblemCorrupt, Path: path, Offset: want.Offset, Reason: want.Reason}, r.Problems[0])
			}

			_, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
			var got *eventlog.CorruptError
			require.ErrorAs(t, err, &got)
			assert.Equal(t, want, got)
			assert.Equal(t, state, dirState(t, dir), "Verify and a read-only Log change nothing")
		})
	}
}

// After a clean Close every partition has a segment file, so a partition
// directory that is gone lost its records: Open refuses, and Repair
// creates it again, empty, as nothing says how far its offsets went.
func TestOpenRefusesLostPartitionDirectory(t *testing.T) {
	dir := closedLogOf(t, 3)
	require.NoError(t, os.RemoveAll(partitionDir(dir)))
	for range 2 {
		_, err := eventlog.Open(dir, nil)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, partitionDir(dir), ce.Path)
		assert.Contains(t, ce.Reason, "Options.Repair")
		assert.NoDirExists(t, partitionDir(dir), "a refused Open changes nothing")
	}
	l, err := eventlog.Open(dir, &eventlog.Options{Repair: true})
	require.NoError(t, err)
	requireLostReported(t, l.Recovery(), dir)
	require.NoError(t, l.Close())
	requireRestarted(t, dir, &eventlog.Options{}, 0, 0)
}

// Every segment's name is durable from its creation, on DurabilityOS
// topics too: a power loss that kept a later file of the partition and
// lost the name would otherwise look like a segment lost, and Open would
// refuse the log.
func TestSegmentNamesDurableFromCreation(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	appendN(t, partition(t, l, "t", 0), 50, eventlog.AppendOptions{})
	segments := func() []string { return memNamesEnding(t, fsys, partitionDir("/data"), ".log") }
	before := segments()
	require.Greater(t, len(before), 2)
	require.NoError(t, eventlog.Abandon(l))

	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	assert.Equal(t, before, segments())
	l = openLog(t, "/data", opts)
	assert.Positive(t, partition(t, l, "t", 0).LogEndOffset())
}
