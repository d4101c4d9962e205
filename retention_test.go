package eventlog_test

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	for i := range logs {
		logs[i] = filepath.Base(logs[i])
	}
	return logs
}

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 2048})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour, Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 100, eventlog.AppendOptions{}) // stamped at the clock's now
	clk.Advance(30 * time.Minute)
	appendN(t, p, 10, eventlog.AppendOptions{})
	before := segmentFiles(t, dir)
	require.Greater(t, len(before), 3)

	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset(), "nothing is an hour old yet")

	clk.Advance(45 * time.Minute) // the first 100 records are 75 minutes old
	require.NoError(t, eventlog.EnforceRetention(l))
	start := p.LogStartOffset()
	assert.Greater(t, start, int64(50), "old segments are gone")
	assert.LessOrEqual(t, start, int64(100), "no segment with a younger record is deleted")
	assert.Less(t, len(segmentFiles(t, dir)), len(before), "files are removed")

	_, err := p.Read(start-1, 100)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	recs := readAll(t, p, start)
	require.NotEmpty(t, recs)
	assert.Equal(t, start, recs[0].Offset)
	assert.Equal(t, int64(109), recs[len(recs)-1].Offset)

	require.NoError(t, l.Close())
	l = openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 2048})
	assert.Equal(t, start, partition(t, l, "t", 0).LogStartOffset(), "the log start offset survives reopen")
}

func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 2048})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 5000, Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 300, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(l))

	var total int64
	for _, name := range segmentFiles(t, dir) {
		info, err := os.Stat(filepath.Join(dir, "topics", "t", "0", name))
		require.NoError(t, err)
		total += info.Size()
	}
	assert.LessOrEqual(t, total, int64(5000+2048), "at most one segment over the cap")
	assert.Greater(t, total, int64(5000-2048), "no more than needed is deleted")
	assert.Positive(t, p.LogStartOffset())
	assert.Equal(t, int64(300), p.LogEndOffset())
}

func TestRetentionNeverDeletesActiveButRollsQuietTopics(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := &eventlog.Options{Now: clk.Now, SegmentAge: time.Hour}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Minute}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 5, eventlog.AppendOptions{})

	clk.Advance(10 * time.Minute)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset(), "the active segment is never deleted")

	clk.Advance(time.Hour) // older than SegmentAge: rolled, then deleted
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, int64(5), p.LogStartOffset())
	assert.Equal(t, []string{"00000000000000000005.log"}, segmentFiles(t, dir))
	recs, err := p.Read(5, 100)
	require.NoError(t, err)
	assert.Empty(t, recs)

	off, err := p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(5), off)
}

func TestRetentionForeverByDefault(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 100, eventlog.AppendOptions{})
	clk.Advance(100 * 365 * 24 * time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset())
	assert.Len(t, readAll(t, p, 0), 100)
}

func TestRetentionInvalidConfig(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	assert.ErrorIs(t, l.CreateTopic("a", eventlog.TopicConfig{Retention: -2}), eventlog.ErrInvalidConfig)
	assert.ErrorIs(t, l.CreateTopic("b", eventlog.TopicConfig{RetentionBytes: -2}), eventlog.ErrInvalidConfig)
	_, err := eventlog.Open(t.TempDir(), &eventlog.Options{Retention: -5})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
}

// Readers racing retention either read intact records or learn that their
// offset is gone; they never crash or see garbage.
func TestRetentionWhileReading(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 3000, Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := p.LogStartOffset()
				recs, err := p.Read(from, 4096)
				if errors.Is(err, eventlog.ErrOffsetOutOfRange) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				for _, r := range recs {
					if !assert.Equal(t, fmt.Sprintf("v%d", r.Offset), string(r.Value)) {
						return
					}
				}
			}
		}()
	}
	for i := range 3000 {
		_, err := p.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
		if i%20 == 0 {
			require.NoError(t, eventlog.EnforceRetention(l))
		}
	}
	close(stop)
	wg.Wait()
	assert.Greater(t, p.LogStartOffset(), int64(2000))
}

// The Log's own goroutine applies retention on its ticker.
func TestRetentionRunsInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l, err := eventlog.Open(dir, &eventlog.Options{RetentionCheckInterval: time.Minute, SegmentAge: time.Hour})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
		p := partition(t, l, "t", 0)
		appendN(t, p, 3, eventlog.AppendOptions{})

		time.Sleep(3 * time.Hour) // fake time: the ticker fires, the segment ages out
		synctest.Wait()
		assert.Equal(t, int64(3), p.LogStartOffset())
	})
}

// Records that retention deleted stay deleted after a power loss, even if
// the removal of their files did not reach the disk, or a reader still held
// their segment when the power went: the log start offset is durable
// before the segments go, and Open drops what lies below it.
func TestRetentionSurvivesPowerLoss(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 2000}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 60, eventlog.AppendOptions{})
	// A reader holds the first segment while retention drops it.
	next, stop := iter.Pull2(p.Views(0))
	v, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)
	require.Zero(t, v.Offset)
	require.NoError(t, eventlog.EnforceRetention(l))
	start := p.LogStartOffset()
	require.Greater(t, start, int64(14), "more than the held segment went")
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	// The process before the power loss is gone: what it held it never
	// lets go of, until the test ends.
	defer func(old *eventlog.Log) { stop(); _ = old.Close() }(l)

	l = openLog(t, "/d", opts)
	p = partition(t, l, "t", 0)
	assert.Equal(t, start, p.LogStartOffset())
	assert.Empty(t, l.Recovery().LostSegments)
	_, err = p.Read(0, 1<<20)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	recs := readAll(t, p, start)
	require.NotEmpty(t, recs)
	assert.Equal(t, start, recs[0].Offset)
	assert.Equal(t, int64(59), recs[len(recs)-1].Offset)
}

// Options.SegmentAge and Options.Retention are kept in whole milliseconds,
// a fraction rounding up, as TopicConfig's durations are: a topic that
// inherits them ages as one that sets the same values, under a clock
// between two milliseconds too.
func TestOptionsDurationsInMilliseconds(t *testing.T) {
	clk := newClock()
	clk.Advance(500 * time.Microsecond)
	l := openLog(t, "/d", &eventlog.Options{FS: eventlog.NewMemFS(), Now: clk.Now, Durability: eventlog.DurabilityOS,
		SegmentAge: 900 * time.Microsecond, Retention: 1500 * time.Microsecond})
	topics := []string{"inherits", "sets"}
	require.NoError(t, l.CreateTopic("inherits", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("sets", eventlog.TopicConfig{SegmentAge: 900 * time.Microsecond, Retention: 1500 * time.Microsecond}))
	appendToEach := func() {
		for _, topic := range topics {
			appendN(t, partition(t, l, topic, 0), 1, eventlog.AppendOptions{})
		}
	}
	check := func(when string, segments int, logStart int64) {
		t.Helper()
		for _, topic := range topics {
			s := partitionStats(t, l, topic)
			assert.Equal(t, segments, s.Segments, "%s, %s: segments", topic, when)
			assert.Equal(t, logStart, s.LogStartOffset, "%s, %s: log start offset", topic, when)
		}
	}

	appendToEach()
	appendToEach()
	check("two appends at once", 1, 0) // a segment.ms of 1, not 0
	clk.Advance(2 * time.Millisecond)
	appendToEach()
	check("2 ms later", 2, 0)
	require.NoError(t, eventlog.EnforceRetention(l))
	check("retention 2 ms after the first records", 2, 0) // a retention.ms of 2, not 1.5
	clk.Advance(2 * time.Millisecond)
	require.NoError(t, eventlog.EnforceRetention(l))
	check("retention 4 ms after the first records", 2, 2)
}

// A segment rolls by age once it is older than SegmentAge, not as soon as
// it is that old, as in Kafka (LogSegment.shouldRoll: the time waited
// exceeds segment.ms): at the next append, and at a retention check.
func TestSegmentRollsPastSegmentAge(t *testing.T) {
	clk := newClock()
	l := openLog(t, "/d", &eventlog.Options{FS: eventlog.NewMemFS(), Now: clk.Now, SegmentAge: time.Hour, Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("appended", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("quiet", eventlog.TopicConfig{}))
	appended, quiet := partition(t, l, "appended", 0), partition(t, l, "quiet", 0)
	appendN(t, appended, 1, eventlog.AppendOptions{})
	appendN(t, quiet, 1, eventlog.AppendOptions{})

	clk.Advance(time.Hour)
	appendN(t, appended, 1, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, 1, partitionStats(t, l, "appended").Segments, "an append to a segment exactly SegmentAge old")
	assert.Equal(t, 1, partitionStats(t, l, "quiet").Segments, "a retention check of a segment exactly SegmentAge old")

	clk.Advance(time.Millisecond)
	appendN(t, appended, 1, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, 2, partitionStats(t, l, "appended").Segments, "an append to a segment older than SegmentAge")
	assert.Equal(t, 2, partitionStats(t, l, "quiet").Segments, "a retention check of a segment older than SegmentAge")
}

// Retention's load of a closed segment's indexes, however slow, holds up no
// append: it runs before retention takes the partition's locks, which
// appends and DeleteRecords take too. Retention then deletes what it would
// have, from the segments listed once it has the locks: here
// DeleteRecords dropped the segment it was loading meanwhile.
func TestSlowRetentionIndexLoadHoldsUpNoAppend(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024, IndexIntervalBytes: 256}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	l = openLog(t, "/d", opts) // no closed segment's index is loaded yet
	p := partition(t, l, "t", 0)
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 2)
	active := bases[len(bases)-1]
	clk.Advance(2 * time.Hour) // every record so far is past retention

	first := fmt.Sprintf("/d/topics/t/0/%020d.index", 0)
	reached, resume := pauseFSAt(fsys, eventlog.OpOpen, first)
	var once sync.Once
	release := func() { once.Do(func() { close(resume) }) }
	t.Cleanup(release) // before the Log's Close, which waits for retention
	retained := make(chan error, 1)
	go func() { retained <- eventlog.EnforceRetention(l) }()
	<-reached
	require.True(t, eventlog.AppendLockFree(p), "the append lock is held while retention loads an index")

	// Appends go on, and DeleteRecords drops the segment being loaded.
	appendN(t, p, 5, eventlog.AppendOptions{})
	start, err := l.DeleteRecords(ctx, "t", 0, bases[1])
	require.NoError(t, err)
	require.Equal(t, bases[1], start)

	release()
	require.NoError(t, <-retained)
	assert.Equal(t, active, p.LogStartOffset(), "every closed segment is deleted, the active one kept")
	assert.Equal(t, int64(35), p.HighWatermark())
	fsys.SetFault(nil)
	assert.Equal(t, []int64{active}, segmentBases(t, fsys, "/d/topics/t/0"), "the deleted segments' files are gone")
	recs := readAll(t, p, active)
	require.NotEmpty(t, recs)
	assert.Equal(t, active, recs[0].Offset)
	assert.Equal(t, int64(34), recs[len(recs)-1].Offset)
}

// segmentBases lists the base offsets of the .log files in dir of fsys.
func segmentBases(t *testing.T, fsys *eventlog.MemFS, dir string) []int64 {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	var bases []int64
	for _, name := range names {
		var base int64
		if n, _ := fmt.Sscanf(name, "%020d.log", &base); n == 1 && strings.HasSuffix(name, ".log") {
			bases = append(bases, base)
		}
	}
	return bases
}

// A closed segment whose bytes are damaged, so that its index cannot be
// rebuilt, holds up no size retention: retention.bytes needs no timestamp,
// and deletes the segment, damage and all, as it deletes any that the cap
// leaves no room for, and the ones after it too. (Time retention, which
// cannot know how new the damaged segment's records are, would keep it.)
func TestRetentionBySizePastDamagedSegment(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: 24 * time.Hour, RetentionBytes: 2048}))
	appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 4)

	// The first segment's last bytes are garbled and its index files gone.
	first := fmt.Sprintf("/d/topics/t/0/%020d", bases[0])
	for _, ext := range []string{".index", ".timeindex"} {
		if err := fsys.Remove(first + ext); err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
	}
	data, err := fsys.ReadFile(first + ".log")
	require.NoError(t, err)
	data[len(data)-3] ^= 0xff
	require.NoError(t, fsys.WriteFile(first+".log", data, 0o644))

	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.NotContains(t, segmentBases(t, fsys, "/d/topics/t/0"), bases[0], "the damaged segment is deleted")
	assert.Greater(t, p.LogStartOffset(), bases[1], "the segments beyond the cap are deleted, the damaged one first")
	assert.LessOrEqual(t, partitionStats(t, l, "t").Bytes, int64(2048+1024), "at most one segment over the cap")
}

// A closed segment whose records all lie below the log start offset is
// deleted by the next retention check, as Kafka's retention deletes the
// segments the log start offset passed, whatever retention.ms and
// retention.bytes say: here DeleteRecords moved the log start offset past
// the active segment's records, which a roll then closed.
func TestRetentionDeletesSegmentsBelowLogStart(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 5, eventlog.AppendOptions{})
	start, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
	require.Equal(t, int64(5), start)
	_, err = p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: make([]byte, 1000)}}, eventlog.AppendOptions{}) // rolls
	require.NoError(t, err)
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Equal(t, []int64{0, start}, bases, "the first segment holds no record at or past the log start offset")

	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Equal(t, []int64{start}, segmentBases(t, fsys, "/d/topics/t/0"), "the segment below the log start offset is deleted")
	assert.Equal(t, start, p.LogStartOffset())
	assert.Len(t, readAll(t, p, start), 1)
}

// Retention holds no lock of the topic registry while it works on a
// partition: a slow index load (or fsync, or file removal) of retention
// holds up no CreateTopic, and no topic lookup queued behind one.
func TestSlowRetentionHoldsUpNoTopicAdministration(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024, IndexIntervalBytes: 256}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	l = openLog(t, "/d", opts) // no closed segment's index is loaded yet
	clk.Advance(2 * time.Hour)

	reached, resume := pauseFSAt(fsys, eventlog.OpOpen, fmt.Sprintf("%020d.index", 0))
	var once sync.Once
	release := func() { once.Do(func() { close(resume) }) }
	t.Cleanup(release) // before the Log's Close, which waits for retention
	retained := make(chan error, 1)
	go func() { retained <- eventlog.EnforceRetention(l) }()
	<-reached
	require.True(t, eventlog.TopicRegistryFree(l), "the topic registry is locked while retention loads an index")
	require.NoError(t, l.CreateTopic("other", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "other", 0), 1, eventlog.AppendOptions{})

	release()
	require.NoError(t, <-retained)
	assert.Positive(t, partition(t, l, "t", 0).LogStartOffset(), "retention went on")
}
