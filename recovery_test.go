package eventlog_test

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// crashedLog writes n records to a one-partition topic with small segments
// and abandons the Log as a crash would, after the background checkpointer
// persisted the recovery point: every record is below it. It returns the
// directory of the partition.
func crashedLog(t *testing.T, dir string, opts *eventlog.Options, n int) string {
	t.Helper()
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), n, eventlog.AppendOptions{})
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	require.NoError(t, eventlog.Abandon(l))
	return filepath.Join(dir, "topics", "t", "0")
}

func lastSegment(t *testing.T, partDir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	return logs[len(logs)-1]
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func checkDense(t *testing.T, p *eventlog.Partition, n int) {
	t.Helper()
	all := readAll(t, p, 0)
	require.Equal(t, n, len(all))
	for i, r := range all {
		require.Equal(t, int64(i), r.Offset)
		require.Equal(t, fmt.Sprintf("v%d", i), string(r.Value))
	}
}

func TestRecoveryCutsTornTails(t *testing.T) {
	opts := &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 200}
	tails := map[string]func(last []byte) []byte{
		"zeros":         func([]byte) []byte { return make([]byte, 1000) },
		"partial batch": func(last []byte) []byte { return last[:len(last)/2] },
		"header only":   func(last []byte) []byte { return last[:61] },
		"few bytes":     func([]byte) []byte { return []byte{0, 0, 1} },
		"garbage":       func([]byte) []byte { b := make([]byte, 300); _, _ = rand.NewChaCha8([32]byte{1}).Read(b); return b },
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			partDir := crashedLog(t, dir, opts, 100)
			seg := lastSegment(t, partDir)
			data, err := os.ReadFile(seg)
			require.NoError(t, err)
			// A copy of the segment's first batch stands in for a real one.
			firstBatch := data[:12+int(uint32(data[8])<<24|uint32(data[9])<<16|uint32(data[10])<<8|uint32(data[11]))]
			junk := tail(firstBatch)
			appendBytes(t, seg, junk)

			l := openLog(t, dir, opts)
			assert.Equal(t, int64(len(junk)), l.Recovery().BytesTruncated)
			p := partition(t, l, "t", 0)
			checkDense(t, p, 100)
			off, err := p.Append(ctx, []eventlog.Record{rec("k", "v100")}, eventlog.AppendOptions{})
			require.NoError(t, err)
			assert.Equal(t, int64(100), off)
			require.NoError(t, eventlog.Abandon(l))

			l = openLog(t, dir, opts)
			assert.Zero(t, l.Recovery().BytesTruncated, "recovery is idempotent")
			checkDense(t, partition(t, l, "t", 0), 101)
		})
	}
}

func TestRecoveryRefusesMidLogCorruption(t *testing.T) {
	opts := &eventlog.Options{SegmentBytes: 1 << 20}
	dir := t.TempDir()
	partDir := crashedLog(t, dir, opts, 50)
	seg := lastSegment(t, partDir)
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	data[200] ^= 0xff // inside an early batch, below the recovery point; good batches follow
	require.NoError(t, os.WriteFile(seg, data, 0o644))
	// Without indexes Open scans the segment from its start up to the
	// recovery point, rather than from the last index entry before it.
	for _, ext := range []string{".index", ".timeindex"} {
		if err := os.Remove(strings.TrimSuffix(seg, ".log") + ext); !errors.Is(err, fs.ErrNotExist) {
			require.NoError(t, err)
		}
	}

	_, err = eventlog.Open(dir, opts)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, seg, ce.Path)
	assert.ErrorIs(t, err, eventlog.ErrCorrupt)
	after, err := os.ReadFile(seg)
	require.NoError(t, err)
	assert.Equal(t, data, after, "a refused Open changes nothing")

	repairOpts := *opts
	repairOpts.Repair = true
	l := openLog(t, dir, &repairOpts)
	rs := l.Recovery()
	require.Len(t, rs.Repaired, 1)
	assert.Positive(t, rs.BytesTruncated)
	kept, err := os.ReadFile(rs.Repaired[0])
	require.NoError(t, err)
	assert.Equal(t, data[ce.Pos:], kept, "the copy holds exactly what was cut")
	p := partition(t, l, "t", 0)
	recs := readAll(t, p, 0)
	assert.Equal(t, p.LogEndOffset(), int64(len(recs)))
	assert.Less(t, len(recs), 50)
}

func TestCorruptClosedSegmentIsReportedOnRead(t *testing.T) {
	opts := &eventlog.Options{SegmentBytes: 4096}
	dir := t.TempDir()
	partDir := crashedLog(t, dir, opts, 200)
	logs, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 2)
	data, err := os.ReadFile(logs[0])
	require.NoError(t, err)
	data[100] ^= 0x01
	require.NoError(t, os.WriteFile(logs[0], data, 0o644))

	l := openLog(t, dir, opts)
	p := partition(t, l, "t", 0)
	_, err = p.Read(0, 1<<20)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, logs[0], ce.Path)
}

func TestIndexesRebuilt(t *testing.T) {
	opts := &eventlog.Options{SegmentBytes: 8192, IndexIntervalBytes: 100}
	damage := map[string]func(path string){
		"deleted":   func(p string) { require.NoError(t, os.Remove(p)) },
		"truncated": func(p string) { require.NoError(t, os.Truncate(p, 8)) },
		"odd size":  func(p string) { appendBytes(t, p, []byte{1, 2, 3}) },
		// Sparse, so it takes no disk; read whole, it would take more
		// memory than the machine has.
		"huge": func(p string) { require.NoError(t, os.Truncate(p, 64<<30)) },
		"scrambled": func(p string) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
			require.NoError(t, os.WriteFile(p, b, 0o644))
		},
		"zeroed": func(p string) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, make([]byte, len(b)), 0o644))
		},
	}
	for name, hurt := range damage {
		for _, ext := range []string{".index", ".timeindex"} {
			t.Run(name+ext, func(t *testing.T) {
				dir := t.TempDir()
				l, err := eventlog.Open(dir, opts)
				require.NoError(t, err)
				require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
				appendN(t, partition(t, l, "t", 0), 400, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
				require.NoError(t, l.Close())
				partDir := filepath.Join(dir, "topics", "t", "0")
				idx, err := filepath.Glob(filepath.Join(partDir, "*"+ext))
				require.NoError(t, err)
				require.Greater(t, len(idx), 2)
				for _, p := range idx {
					hurt(p)
				}

				l = openLog(t, dir, opts)
				p := partition(t, l, "t", 0)
				for _, from := range []int64{0, 1, 99, 200, 313, 399} {
					recs, err := p.Read(from, 1)
					require.NoError(t, err)
					require.NotEmpty(t, recs)
					assert.Equal(t, from, recs[0].Offset)
				}
				checkDense(t, p, 400)
				assert.Positive(t, l.Recovery().IndexesRebuilt)
			})
		}
	}
}

// A segment smaller than one index interval has no index files; a clean
// reopen takes that as it is instead of rebuilding (and writing) indexes.
func TestSmallSegmentWithoutIndexFilesIsNotRebuilt(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 3, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.Close())
	idx, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.index"))
	require.NoError(t, err)
	require.Empty(t, idx, "no index files for a segment under one interval")

	l = openLog(t, dir, nil)
	checkDense(t, partition(t, l, "t", 0), 3)
	assert.Zero(t, l.Recovery().IndexesRebuilt)
}

// A topic directory that lost its topic.meta but holds records is reported,
// not removed as the remains of an interrupted CreateTopic.
func TestMissingTopicMetaWithRecordsIsNotDeleted(t *testing.T) {
	dir := closedLogOf(t, 3)
	meta := filepath.Join(dir, "topics", "t", "topic.meta")
	require.NoError(t, os.Remove(meta))

	_, err := eventlog.Open(dir, nil)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, meta, ce.Path)
	_, err = os.Stat(filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log"))
	assert.NoError(t, err, "the records are still there")
}

// flipBit flips bit 7 of the byte at pos of a file (pos < 0 counts from the
// end) and returns the file's contents after the flip.
func flipBit(t *testing.T, path string, pos int) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	if pos < 0 {
		pos += len(data)
	}
	require.True(t, pos >= 0 && pos < len(data))
	data[pos] ^= 0x80
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return data
}

// Close fsyncs every byte of an active segment, so after a clean shutdown
// damage anywhere in it is corruption, not a torn tail, even where the
// index files cannot vouch for it.
func TestCleanShutdownDamageIsCorruption(t *testing.T) {
	dir := closedLogOf(t, 60)
	seg := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
	data := flipBit(t, seg, -20) // in the last batch, after the last index entry

	_, err := eventlog.Open(dir, nil)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, seg, ce.Path)
	after, err := os.ReadFile(seg)
	require.NoError(t, err)
	assert.Equal(t, data, after, "a refused Open changes nothing")

	l := repairKeepingCopy(t, dir, data[ce.Pos:])
	assert.Equal(t, int64(len(data)-int(ce.Pos)), l.Recovery().BytesTruncated)
	checkDense(t, partition(t, l, "t", 0), 59)
}

// repairKeepingCopy opens dir with Options.Repair and checks that it cut
// one segment, keeping a copy of exactly the bytes cut.
func repairKeepingCopy(t *testing.T, dir string, cut []byte) *eventlog.Log {
	t.Helper()
	l := openLog(t, dir, &eventlog.Options{Repair: true})
	rs := l.Recovery()
	require.Len(t, rs.Repaired, 1)
	kept, err := os.ReadFile(rs.Repaired[0])
	require.NoError(t, err)
	assert.Equal(t, cut, kept, "the copy holds exactly what was cut")
	return l
}

// A clean Open writes the recovery point the shutdown vouched for, when the
// persisted one lags (Close leaves it to the checkpointer, which a short
// session never runs): a crash later in the session then finds damage in
// the bytes the last Close fsynced as corruption, instead of cutting them
// as a torn tail without a copy.
func TestCleanOpenPersistsTheRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{RecoveryPointInterval: time.Hour}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 60, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	rp := filepath.Join(dir, "topics", "t", "0", "recovery.meta")
	_, err = os.Stat(rp)
	require.ErrorIs(t, err, os.ErrNotExist, "the session was too short for a checkpoint")

	l, err = eventlog.Open(dir, opts)
	require.NoError(t, err)
	_, err = os.Stat(rp)
	require.NoError(t, err, "the clean Open wrote it")
	require.NoError(t, eventlog.Abandon(l)) // a crash before any checkpoint
	seg := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
	data := flipBit(t, seg, -20) // in the last batch, which the crashed Open scans

	_, err = eventlog.Open(dir, opts)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce, "fsynced bytes are not a torn tail")
	after, err := os.ReadFile(seg)
	require.NoError(t, err)
	assert.Equal(t, data, after, "a refused Open changes nothing")

	l = openLog(t, dir, &eventlog.Options{Repair: true, RecoveryPointInterval: time.Hour})
	checkDense(t, partition(t, l, "t", 0), int(ce.Offset))
	require.NoError(t, l.Close())

	// Once written, the point is current: the next clean Open writes
	// nothing.
	require.NoError(t, openLog(t, dir, opts).Close())
	written, err := os.Stat(rp)
	require.NoError(t, err)
	l = openLog(t, dir, opts)
	again, err := os.Stat(rp)
	require.NoError(t, err)
	assert.Equal(t, written.ModTime(), again.ModTime())
}

// An Open that fails leaves the clean-shutdown marker where it was, so
// that the next Open finds the same damage rather than cutting it as a
// torn tail; only Repair cuts it, keeping a copy.
func TestFailedOpenKeepsCleanShutdownMarker(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
	tp := eventlog.TopicPartition{Topic: "t", Partition: 0}
	for i := range 100 {
		require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: int64(i + 1)}}))
	}
	require.NoError(t, l.Close())
	seg := filepath.Join(dir, "topics", "__consumer_offsets", "0", "00000000000000000000.log")
	info, err := os.Stat(seg)
	require.NoError(t, err)
	data := flipBit(t, seg, int(info.Size()/2))

	var first *eventlog.CorruptError
	for i := range 2 {
		_, err = eventlog.Open(dir, nil)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce, "Open %d", i+1)
		if first == nil {
			first = ce
		}
		assert.Equal(t, *first, *ce, "Open %d", i+1)
		assert.FileExists(t, filepath.Join(dir, "CLEAN_SHUTDOWN"))
		after, err := os.ReadFile(seg)
		require.NoError(t, err)
		assert.Equal(t, data, after, "a refused Open changes nothing")
	}

	l = repairKeepingCopy(t, dir, data[first.Pos:])
	committed, err := l.CommittedOffsets("g", []eventlog.TopicPartition{tp})
	require.NoError(t, err)
	assert.Less(t, committed[tp].Offset, int64(100), "the commits in the cut part are gone")
	assert.Positive(t, committed[tp].Offset, "the commits before the damage are kept")
}

// Entries of topics/ that are not directories, such as the .DS_Store a
// file manager leaves, are not topics: every way of opening a log, and
// Verify, ignores them and leaves them alone.
func TestStrayFileInTopicsIsIgnored(t *testing.T) {
	dir := closedLogOf(t, 3)
	stray := filepath.Join(dir, "topics", ".DS_Store")
	require.NoError(t, os.WriteFile(stray, []byte("not a topic"), 0o644))

	for _, c := range []struct {
		name    string
		opts    *eventlog.Options
		crashed bool // open without the clean-shutdown marker
	}{
		{"clean", nil, false},
		{"crashed", nil, true},
		{"Repair", &eventlog.Options{Repair: true}, true},
		{"ReadOnly", &eventlog.Options{ReadOnly: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.crashed {
				require.NoError(t, os.Remove(filepath.Join(dir, "CLEAN_SHUTDOWN")))
			}
			l, err := eventlog.Open(dir, c.opts)
			require.NoError(t, err)
			assert.Equal(t, []string{"t"}, l.Topics())
			checkDense(t, partition(t, l, "t", 0), 3)
			if c.opts != nil && c.opts.ReadOnly {
				require.NoError(t, l.Refresh())
				assert.Equal(t, []string{"t"}, l.Topics())
			}
			require.NoError(t, l.Close())
			assert.FileExists(t, stray)
		})
	}
	report, err := eventlog.Verify(ctx, dir, nil)
	require.NoError(t, err)
	assert.Empty(t, report.Problems)
	assert.Equal(t, 1, report.Topics)
}

// Damage in one segment fails only the time searches that need it: an
// answer that lies before it is found.
func TestOffsetForTimeBeforeDamage(t *testing.T) {
	opts := &eventlog.Options{SegmentBytes: 1024}
	dir := t.TempDir()
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	base := time.UnixMilli(1_700_000_000_000)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for i := range 100 {
		r := rec("k", fmt.Sprint(i))
		r.Timestamp = at(i)
		_, err := p.Append(ctx, []eventlog.Record{r}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 3)
	appendBytes(t, logs[1], []byte{0, 0, 1})
	first, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(logs[2]), ".log"), 10, 64)
	require.NoError(t, err)

	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	for _, i := range []int{0, 1, 5} {
		off, found, err := p.OffsetForTime(at(i))
		require.NoError(t, err, "record %d", i)
		assert.True(t, found)
		assert.Equal(t, int64(i), off)
	}
	_, _, err = p.OffsetForTime(at(int(first)))
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce, "the search for a record after the damage needs the damaged segment")
	assert.Equal(t, logs[1], ce.Path)
}

// An index file that cannot be written (a directory took its name) fails
// Close, which still releases everything; each Open rebuilds the index
// from the log, which is scanned because no clean-shutdown marker vouches
// for it.
func TestCloseWithUnwritableIndex(t *testing.T) {
	dir := closedLogOf(t, 200)
	index := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.index")
	require.NoError(t, os.Remove(index))
	require.NoError(t, os.MkdirAll(filepath.Join(index, "x"), 0o755))

	openFiles := func() int {
		if runtime.GOOS != "linux" {
			return 0
		}
		fds, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(fds)
	}
	before := openFiles()
	for range 2 {
		l, err := eventlog.Open(dir, nil)
		require.NoError(t, err, "the lock is released and the index is not needed")
		assert.Equal(t, 1, l.Recovery().IndexesRebuilt)
		checkDense(t, partition(t, l, "t", 0), 200)
		err = l.Close()
		require.Error(t, err)
		assert.ErrorContains(t, err, index)
		assert.Equal(t, err, l.Close(), "later calls return the first one's result")
		assert.Equal(t, before, openFiles(), "file descriptors after Close")
		assert.NoFileExists(t, filepath.Join(dir, "CLEAN_SHUTDOWN"))
	}
}

// closedLogOf returns the directory of a log closed cleanly with n records
// in partition 0 of topic "t".
func closedLogOf(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), n, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	return dir
}
