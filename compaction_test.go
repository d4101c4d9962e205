package eventlog_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
)

var compactTopic = eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, Durability: eventlog.DurabilityOS}

// putKV appends one record and returns its offset; a nil value is a
// tombstone.
func putKV(t testing.TB, p *eventlog.Partition, key string, value []byte) int64 {
	t.Helper()
	off, err := p.Append(ctx, []eventlog.Record{{Key: []byte(key), Value: value}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	return off
}

// activeBase is the base offset of partition 0's last segment file of topic
// t under dir, read from fsys.
func activeBase(t *testing.T, fsys eventlog.FS, dir string) int64 {
	t.Helper()
	names, err := fsys.ReadDir(filepath.Join(dir, "topics", "t", "0"))
	require.NoError(t, err)
	base := int64(-1)
	for _, n := range names {
		if digits, ok := strings.CutSuffix(n, ".log"); ok {
			b, err := strconv.ParseInt(digits, 10, 64)
			require.NoError(t, err)
			base = max(base, b)
		}
	}
	return base
}

// assertNewestPerKey checks recs against everything written (offset → record)
// and the newest offset of each key: offsets strictly increase, every record
// is the one written at its offset, every key's newest record is there, and
// below uniqueBelow no key appears twice.
func assertNewestPerKey(t *testing.T, recs []eventlog.Record, written map[int64]eventlog.Record, newest map[string]int64, uniqueBelow int64) {
	t.Helper()
	prev := int64(-1)
	seen := map[string]bool{}
	have := map[int64]bool{}
	for _, r := range recs {
		require.Greater(t, r.Offset, prev, "offsets strictly increase")
		prev = r.Offset
		w, ok := written[r.Offset]
		require.True(t, ok, "offset %d was never written", r.Offset)
		require.Equal(t, string(w.Key), string(r.Key), "key at %d", r.Offset)
		require.Equal(t, w.Value == nil, r.Value == nil, "tombstone at %d", r.Offset)
		require.Equal(t, string(w.Value), string(r.Value), "value at %d", r.Offset)
		if r.Offset < uniqueBelow {
			require.False(t, seen[string(r.Key)], "key %q appears twice in the cleaned log", r.Key)
			seen[string(r.Key)] = true
		}
		have[r.Offset] = true
	}
	for k, off := range newest {
		require.True(t, have[off], "newest record of %q (offset %d) is gone", k, off)
	}
}

func TestCompactKeepsNewestRecordPerKey(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	written := map[int64]eventlog.Record{}
	newest := map[string]int64{}
	for i := range 600 {
		k, v := fmt.Sprintf("k%d", i%20), fmt.Sprintf("v%d", i)
		off := putKV(t, p, k, []byte(v))
		written[off] = rec(k, v)
		newest[k] = off
	}
	segsBefore := len(segmentFiles(t, dir))
	require.NoError(t, l.Compact(ctx, "t"))

	recs := readAll(t, p, 0)
	assertNewestPerKey(t, recs, written, newest, activeBase(t, eventlog.OSFS{}, dir))
	assert.Less(t, len(recs), 100, "superseded records are gone")
	assert.Less(t, len(segmentFiles(t, dir)), segsBefore/4, "small cleaned segments are merged")
	assert.Equal(t, "00000000000000000000.log", segmentFiles(t, dir)[0], "the first segment keeps its base offset")
	assert.Zero(t, p.LogStartOffset())
	assert.Equal(t, int64(600), p.LogEndOffset())

	// Reading from an offset that was cleaned away starts at the next record.
	require.Greater(t, recs[0].Offset, int64(100))
	got, err := p.Read(100, 1<<20)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Equal(t, recs[0].Offset, got[0].Offset)

	require.NoError(t, l.Close())
	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	assert.Equal(t, recs, readAll(t, p, 0), "the cleaned log survives reopen")
	require.NoError(t, l.Compact(ctx, "t"))
	assert.Equal(t, recs, readAll(t, p, 0), "a second cleaning with nothing dirty changes nothing")
	off := putKV(t, p, "k0", []byte("after"))
	assert.Equal(t, int64(600), off, "appends go on at the log end")
}

// OffsetForTime finds the first record at or after a time across the gaps
// a cleaning leaves.
func TestCompactOffsetForTime(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	start := clk.Now()
	for i := range 300 {
		putKV(t, p, fmt.Sprintf("k%d", i%7), []byte("v"))
		clk.Advance(time.Second)
	}
	require.NoError(t, l.Compact(ctx, "t"))
	recs := readAll(t, p, 0)
	require.Less(t, len(recs), 100)
	for _, sec := range []int{0, 5, 150, 290, 299} {
		want := int64(-1)
		for _, r := range recs {
			if r.Offset >= int64(sec) {
				want = r.Offset
				break
			}
		}
		off, found, err := p.OffsetForTime(start.Add(time.Duration(sec) * time.Second))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, want, off, "second %d", sec)
	}
}

func TestCompactTombstonesOutliveDeleteRetention(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := &eventlog.Options{Now: clk.Now, SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	cfg := compactTopic
	cfg.DeleteRetention = 10 * time.Minute
	require.NoError(t, l.CreateTopic("t", cfg))
	p := partition(t, l, "t", 0)

	putKV(t, p, "a", []byte("1"))
	putKV(t, p, "b", []byte("1"))
	clk.Advance(time.Second)
	del := putKV(t, p, "a", nil)
	for i := range 60 {
		putKV(t, p, fmt.Sprintf("f%d", i), []byte("filler"))
	}
	before := map[int64]int64{}
	for _, r := range readAll(t, p, 0) {
		before[r.Offset] = r.Timestamp.UnixMilli()
	}
	keys := func() map[string][]int64 {
		m := map[string][]int64{}
		for _, r := range readAll(t, p, 0) {
			m[string(r.Key)] = append(m[string(r.Key)], r.Offset)
			assert.Equal(t, before[r.Offset], r.Timestamp.UnixMilli(), "timestamp of offset %d", r.Offset)
		}
		return m
	}

	require.NoError(t, l.Compact(ctx, "t"))
	assert.Equal(t, []int64{del}, keys()["a"], "the tombstone replaced the value and stays")
	clk.Advance(10*time.Minute - time.Millisecond)
	require.NoError(t, l.Compact(ctx, "t"))
	assert.Equal(t, []int64{del}, keys()["a"], "still within delete.retention.ms")

	require.NoError(t, l.Close())
	l = openLog(t, dir, opts)
	p = partition(t, l, "t", 0)
	clk.Advance(time.Millisecond)
	require.NoError(t, l.Compact(ctx, "t"), "the delete horizon is due after reopen too")
	k := keys()
	assert.NotContains(t, k, "a", "past its horizon the tombstone goes, with the key")
	assert.Len(t, k["b"], 1)
	assert.Len(t, k, 61)
}

func TestCompactRejectsRecordsWithoutKey(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("orders", compactTopic))
	p := partition(t, l, "orders", 0)
	_, err := p.Append(ctx, []eventlog.Record{rec("k", "v"), {Value: []byte("no key")}}, eventlog.AppendOptions{})
	require.ErrorIs(t, err, eventlog.ErrInvalidRecord)
	assert.Contains(t, err.Error(), `"orders"`)
	assert.Contains(t, err.Error(), "cleanup.policy=compact")
	assert.Zero(t, p.LogEndOffset(), "nothing of the batch was stored")

	_, err = p.Append(ctx, []eventlog.Record{{Key: []byte{}, Value: []byte("empty key")}}, eventlog.AppendOptions{})
	assert.NoError(t, err, "an empty key is a key")

	require.NoError(t, l.CreateTopic("plain", eventlog.TopicConfig{}))
	_, err = partition(t, l, "plain", 0).Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
	assert.NoError(t, err, "delete topics take keyless records")
	assert.ErrorIs(t, l.Compact(ctx, "plain"), eventlog.ErrInvalidConfig, "only compacted topics are compacted")
	assert.ErrorIs(t, l.Compact(ctx, "nope"), eventlog.ErrTopicNotFound)
}

func TestCompactTopicConfig(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	for name, cfg := range map[string]eventlog.TopicConfig{
		"policy":        {CleanupPolicy: 7},
		"retention":     {CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: -time.Second},
		"ratio-high":    {MinCleanableDirtyRatio: 1.5},
		"ratio-low":     {MinCleanableDirtyRatio: -0.1},
		"ratio-nan":     {MinCleanableDirtyRatio: math.NaN()},
		"min-lag":       {MinCompactionLag: -1},
		"max-lag":       {MaxCompactionLag: -1},
		"max-below-min": {MinCompactionLag: time.Hour, MaxCompactionLag: time.Minute},
	} {
		assert.ErrorIs(t, l.CreateTopic(name, cfg), eventlog.ErrInvalidConfig, name)
	}
	for _, o := range []eventlog.Options{{CleanerBufferBytes: 100}, {CleanerMaxBytesPerSecond: -1}, {CleanerCheckInterval: -time.Second}} {
		_, err := eventlog.Open(t.TempDir(), &o)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	}

	want := map[string]eventlog.TopicConfig{
		"c":  {Partitions: 1, CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: time.Hour, MinCleanableDirtyRatio: 0.25, MinCompactionLag: time.Minute, MaxCompactionLag: 2 * time.Hour},
		"cd": {Partitions: 2, CleanupPolicy: eventlog.CleanupCompactDelete, Retention: time.Hour},
		"d":  {Partitions: 1},
	}
	for name, cfg := range want {
		require.NoError(t, l.CreateTopic(name, cfg))
	}
	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	for name, cfg := range want {
		got, err := l.TopicConfig(name)
		require.NoError(t, err)
		assert.Equal(t, cfg, got, name)
	}
	assert.Equal(t, "compact,delete", eventlog.CleanupCompactDelete.String())
}

func TestCompactRetentionDependsOnPolicy(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	for name, policy := range map[string]eventlog.CleanupPolicy{"c": eventlog.CleanupCompact, "cd": eventlog.CleanupCompactDelete} {
		require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{CleanupPolicy: policy, Retention: time.Hour, RetentionBytes: 2000, Durability: eventlog.DurabilityOS}))
		p := partition(t, l, name, 0)
		for i := range 200 {
			putKV(t, p, fmt.Sprintf("k%d", i), []byte("v"))
		}
	}
	clk.Advance(2 * time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	c, cd := partition(t, l, "c", 0), partition(t, l, "cd", 0)
	assert.Zero(t, c.LogStartOffset(), "compact alone never deletes by age or size")
	assert.Len(t, readAll(t, c, 0), 200)
	assert.Greater(t, cd.LogStartOffset(), int64(150), "compact,delete applies retention")
}

func TestCompactMinCompactionLag(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 1024, SegmentAge: time.Hour})
	cfg := compactTopic
	cfg.MinCompactionLag = time.Hour
	require.NoError(t, l.CreateTopic("t", cfg))
	p := partition(t, l, "t", 0)
	for i := range 100 {
		putKV(t, p, fmt.Sprintf("k%d", i%5), []byte("old"))
	}
	require.NoError(t, l.Compact(ctx, "t"))
	assert.Len(t, readAll(t, p, 0), 100, "records younger than the lag are not compacted")

	clk.Advance(2 * time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l)) // closes the aged active segment
	for i := range 100 {
		putKV(t, p, fmt.Sprintf("k%d", i%5), []byte("new"))
	}
	require.NoError(t, l.Compact(ctx, "t"))
	recs := readAll(t, p, 0)
	var old int
	for _, r := range recs {
		if r.Offset < 100 {
			old++
		}
	}
	assert.Equal(t, 5, old, "older than the lag: compacted among themselves")
	assert.Len(t, recs, 105, "younger than the lag: untouched, though they supersede the old ones")
}

// The background cleaner cleans a partition once its dirty ratio reaches
// min.cleanable.dirty.ratio, or once a dirty record is older than
// max.compaction.lag.ms.
func TestCompactBackgroundDirtyRatioAndMaxLag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := eventlog.Open(t.TempDir(), &eventlog.Options{CleanerCheckInterval: time.Minute, SegmentBytes: 1024})
		require.NoError(t, err)
		defer func() { require.NoError(t, l.Close()) }()
		lagged := compactTopic
		lagged.MinCleanableDirtyRatio = 0.9
		lagged.MaxCompactionLag = time.Hour
		require.NoError(t, l.CreateTopic("ratio", compactTopic))
		require.NoError(t, l.CreateTopic("lag", lagged))
		ratio, lag := partition(t, l, "ratio", 0), partition(t, l, "lag", 0)
		for i := range 300 {
			putKV(t, ratio, fmt.Sprintf("k%d", i%20), []byte("v"))
			putKV(t, lag, fmt.Sprintf("k%d", i), []byte("v")) // distinct keys: nothing to remove
		}
		time.Sleep(90 * time.Second)
		synctest.Wait()
		assert.Less(t, len(readAll(t, ratio, 0)), 60, "a fully dirty partition is cleaned")
		stats := partitionStats(t, l, "lag")
		assert.Zero(t, stats.DirtyRatio, "cleaned: all of it was dirty")

		for i := range 30 {
			putKV(t, lag, fmt.Sprintf("k%d", i), []byte("update"))
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		assert.Len(t, readAll(t, lag, 0), 330, "a small dirty share waits")

		time.Sleep(2 * time.Hour) // the active segment closes at the max lag; then the lag forces a cleaning
		synctest.Wait()
		assert.Len(t, readAll(t, lag, 0), 300, "past max.compaction.lag.ms it is cleaned whatever its ratio")
	})
}

func partitionStats(t *testing.T, l *eventlog.Log, topic string) eventlog.PartitionStats {
	t.Helper()
	for _, s := range l.Stats().Partitions {
		if s.Topic == topic && s.Partition == 0 {
			return s
		}
	}
	t.Fatalf("no stats for %q", topic)
	return eventlog.PartitionStats{}
}

func TestCompactStats(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 1024, SegmentAge: time.Hour, CleanerBufferBytes: 64 << 10})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{Partitions: 2}))
	p := partition(t, l, "t", 0)
	for i := range 300 {
		putKV(t, p, fmt.Sprintf("k%d", i%10), []byte("value"))
	}
	s := partitionStats(t, l, "t")
	assert.Equal(t, 1.0, s.DirtyRatio)
	assert.Equal(t, eventlog.CleanupCompact, s.CleanupPolicy)
	assert.Greater(t, s.Segments, 5)

	require.NoError(t, l.Compact(ctx, "t"))
	st := l.Stats()
	c := st.Cleaner
	assert.Equal(t, int64(1), c.Runs)
	assert.Greater(t, c.BytesRead, c.BytesWritten)
	assert.Positive(t, c.BytesWritten)
	assert.Equal(t, int64(300-len(readAll(t, p, 0))), c.RecordsRemoved)
	assert.Positive(t, c.MapBytes)
	assert.LessOrEqual(t, c.MapBytes, int64(64<<10))

	require.Len(t, st.Partitions, 3)
	assert.Equal(t, []string{"a", "a", "t"}, []string{st.Partitions[0].Topic, st.Partitions[1].Topic, st.Partitions[2].Topic})
	assert.Equal(t, int32(1), st.Partitions[1].Partition)
	s = st.Partitions[2]
	assert.Zero(t, s.DirtyRatio)
	assert.Equal(t, int64(300), s.LogEndOffset)
	assert.Equal(t, int64(300), s.HighWatermark)
	assert.Zero(t, s.LogStartOffset)
	assert.Positive(t, s.Bytes)

	for i := range 10 {
		putKV(t, p, fmt.Sprintf("k%d", i), []byte("again"))
	}
	clk.Advance(2 * time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	s = partitionStats(t, l, "t")
	assert.Greater(t, s.DirtyRatio, 0.0)
	assert.Less(t, s.DirtyRatio, 1.0)
}

// A long-lived compacted topic does not pile up small segments.
func TestCompactMergesSmallSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 4096})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	for round := range 40 {
		for i := range 100 {
			putKV(t, p, fmt.Sprintf("k%d", i%30), []byte(fmt.Sprintf("round %d", round)))
		}
		require.NoError(t, l.Compact(ctx, "t"))
		assert.LessOrEqual(t, len(segmentFiles(t, dir)), 4, "round %d", round)
	}
	for _, name := range segmentFiles(t, dir) {
		info, err := os.Stat(filepath.Join(dir, "topics", "t", "0", name))
		require.NoError(t, err)
		assert.LessOrEqual(t, info.Size(), int64(4096), name)
	}
	assert.Len(t, readAll(t, p, 0), 30+int(p.LogEndOffset()-activeBase(t, eventlog.OSFS{}, dir)))
}

// Keys whose hashes collide are told apart: no newest record is lost, with
// one pass or many.
func TestCompactHashCollisions(t *testing.T) {
	hashes := map[string]func([]byte) uint64{
		"all equal": func([]byte) uint64 { return 42 },
		"4 bits":    func(k []byte) uint64 { return uint64(crc32.ChecksumIEEE(k) & 0xf) },
	}
	for name, h := range hashes {
		for _, buffer := range []int{4 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%s/buffer=%d", name, buffer), func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				l := openLog(t, "/data", &eventlog.Options{FS: fsys, SegmentBytes: 2048, CleanerBufferBytes: buffer})
				eventlog.SetCleanerHash(l, h)
				require.NoError(t, l.CreateTopic("t", compactTopic))
				p := partition(t, l, "t", 0)
				rng := rand.New(rand.NewPCG(1, 2))
				written := map[int64]eventlog.Record{}
				newest := map[string]int64{}
				for i := range 1500 {
					k := fmt.Sprintf("key-%d", rng.IntN(300))
					var v []byte
					if rng.IntN(10) > 0 {
						v = []byte(fmt.Sprintf("v%d", i))
					}
					off := putKV(t, p, k, v)
					written[off] = eventlog.Record{Key: []byte(k), Value: v}
					newest[k] = off
				}
				require.NoError(t, l.Compact(ctx, "t"))
				assertNewestPerKey(t, readAll(t, p, 0), written, newest, activeBase(t, fsys, "/data"))
				if buffer == 4<<10 {
					assert.Greater(t, l.Stats().Cleaner.Runs, int64(1), "a small map takes several passes")
				}
			})
		}
	}
}

// A partition with more keys than the map holds is cleaned in several passes
// within the budget.
func TestCompactManyKeysSmallBuffer(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/data", &eventlog.Options{FS: fsys, SegmentBytes: 16 << 10, CleanerBufferBytes: 8 << 10})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	written := map[int64]eventlog.Record{}
	newest := map[string]int64{}
	for v := range 3 {
		recs := make([]eventlog.Record, 0, 100)
		for i := range 2000 {
			recs = append(recs, rec(fmt.Sprintf("key-%05d", i), fmt.Sprintf("v%d", v)))
			if len(recs) == cap(recs) {
				base, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: eventlog.CompressionSnappy})
				require.NoError(t, err)
				for j, r := range recs {
					written[base+int64(j)] = r
					newest[string(r.Key)] = base + int64(j)
				}
				recs = recs[:0]
			}
		}
	}
	require.NoError(t, l.Compact(ctx, "t"))
	c := l.Stats().Cleaner
	assert.Greater(t, c.Runs, int64(3))
	assert.LessOrEqual(t, c.MapBytes, int64(8<<10), "the map stays within its budget")
	assertNewestPerKey(t, readAll(t, p, 0), written, newest, activeBase(t, fsys, "/data"))
}

// Readers that hold or step through segments while cleanings replace them
// read on, at the same offsets, valid records only.
func TestCompactReadersDuringSwap(t *testing.T) {
	const keys = 37
	n := 6000
	if testing.Short() {
		n = 1500
	}
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 2048, IndexIntervalBytes: 256})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	check := func(r eventlog.Record) bool {
		return string(r.Key) == fmt.Sprintf("k%d", r.Offset%keys) && string(r.Value) == fmt.Sprintf("v%d", r.Offset)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var scans, readErrs sync.Map
	for id := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pass := 0; ; pass++ {
				select {
				case <-done:
					return
				default:
				}
				// Small reads cross many segments and swaps; a few keep
				// going from where a previous read stopped.
				prev, from := int64(-1), int64(0)
				for {
					recs, err := p.Read(from, 100+id*300)
					if err != nil {
						readErrs.Store(err.Error(), true)
						return
					}
					if len(recs) == 0 {
						break
					}
					for _, r := range recs {
						if r.Offset <= prev || !check(r) {
							readErrs.Store(fmt.Sprintf("reader %d: bad record at %d after %d: %q=%q", id, r.Offset, prev, r.Key, r.Value), true)
							return
						}
						prev = r.Offset
					}
					from = prev + 1
				}
				scans.Store(id, pass)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := l.Compact(ctx, "t"); err != nil {
				readErrs.Store("compact: "+err.Error(), true)
				return
			}
		}
	}()
	for i := range n {
		off, err := p.Append(ctx, []eventlog.Record{rec(fmt.Sprintf("k%d", i%keys), fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(i), off)
	}
	close(done)
	wg.Wait()
	readErrs.Range(func(k, _ any) bool {
		t.Error(k)
		return true
	})
	require.NoError(t, l.Compact(ctx, "t"))
	recs := readAll(t, p, 0)
	for _, r := range recs {
		require.True(t, check(r))
	}
	assert.Less(t, len(recs), n/10)
	assert.Positive(t, l.Stats().Cleaner.Runs)
}

// A reader in the middle of a segment when a cleaning replaces it goes on at
// the same offset in the cleaned log.
func TestCompactReaderResumesAfterSwap(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	for i := range 300 {
		putKV(t, p, fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i)))
	}
	first, err := p.Read(0, 1) // one batch
	require.NoError(t, err)
	require.Len(t, first, 1)
	require.NoError(t, l.Compact(ctx, "t"))
	rest := readAll(t, p, first[0].Offset+1)
	require.NotEmpty(t, rest)
	keys := map[string]bool{}
	for _, r := range rest {
		keys[string(r.Key)] = true
	}
	assert.Len(t, keys, 10, "every key's newest record is still ahead of the reader")
}

// Close during a long, throttled cleaning stops it promptly and leaves the
// partition as it was.
func TestCompactCloseDuringLongClean(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts := &eventlog.Options{SegmentBytes: 4096, CleanerMaxBytesPerSecond: 20 << 10}
		l, err := eventlog.Open(dir, opts)
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", compactTopic))
		p := partition(t, l, "t", 0)
		for i := range 3000 {
			putKV(t, p, fmt.Sprintf("k%d", i%50), []byte(strings.Repeat("x", 50)))
		}
		before := readAll(t, p, 0)

		errc := make(chan error)
		go func() { errc <- l.Compact(ctx, "t") }()
		time.Sleep(3 * time.Second) // a few seconds into a clean of ~10
		synctest.Wait()
		start := time.Now()
		require.NoError(t, l.Close())
		assert.Less(t, time.Since(start), 100*time.Millisecond, "Close stops the cleaning promptly")
		assert.ErrorIs(t, <-errc, eventlog.ErrClosed)

		l, err = eventlog.Open(dir, opts)
		require.NoError(t, err)
		assert.Equal(t, before, readAll(t, partition(t, l, "t", 0), 0), "the interrupted cleaning changed nothing")
		leftovers, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.cleaned"))
		require.NoError(t, err)
		assert.Empty(t, leftovers)
		require.NoError(t, l.Close())
	})
}

func TestCompactHonoursContextAndThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 100 << 10
		l, err := eventlog.Open(t.TempDir(), &eventlog.Options{SegmentBytes: 8192, CleanerMaxBytesPerSecond: rate})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", compactTopic))
		p := partition(t, l, "t", 0)
		for i := range 3000 {
			putKV(t, p, fmt.Sprintf("k%d", i%50), []byte(strings.Repeat("x", 80)))
		}
		before := readAll(t, p, 0)
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		assert.ErrorIs(t, l.Compact(short, "t"), context.DeadlineExceeded)
		assert.Equal(t, before, readAll(t, p, 0))

		start := time.Now()
		require.NoError(t, l.Compact(ctx, "t"))
		c := l.Stats().Cleaner
		want := time.Duration(float64(c.BytesRead+c.BytesWritten) / rate * float64(time.Second))
		assert.InDelta(t, want.Seconds(), time.Since(start).Seconds(), 0.2+want.Seconds()/10, "throttled to the configured rate")
	})
}

// Cleaned segments, with delete horizons and every codec, are still Kafka's
// format: an independent codec reads the same records we do.
func TestCompactedSegmentsDecodeWithKmsg(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 4096})
	cfg := compactTopic
	cfg.DeleteRetention = time.Hour
	require.NoError(t, l.CreateTopic("t", cfg))
	p := partition(t, l, "t", 0)
	codecs := eventlog.Codecs
	rng := rand.New(rand.NewPCG(3, 4))
	written := map[int64]eventlog.Record{}
	for b := range 120 {
		batch := make([]eventlog.Record, 1+rng.IntN(6))
		for i := range batch {
			r := eventlog.Record{
				Key:       []byte(fmt.Sprintf("k%d", rng.IntN(40))),
				Timestamp: clk.Now().Add(time.Duration(rng.IntN(5000)-2500) * time.Millisecond),
				Headers:   []eventlog.Header{{Key: "h", Value: []byte{byte(b)}}},
			}
			if rng.IntN(5) > 0 {
				r.Value = []byte(fmt.Sprintf("value %d/%d", b, i))
			}
			batch[i] = r
		}
		base, err := p.Append(ctx, batch, eventlog.AppendOptions{Compression: codecs[b%len(codecs)]})
		require.NoError(t, err)
		for i, r := range batch {
			written[base+int64(i)] = r
		}
		clk.Advance(time.Second)
	}
	require.NoError(t, l.Compact(ctx, "t"))
	horizon := clk.Now().Add(time.Hour).UnixMilli()
	ours := readAll(t, p, 0)
	for _, r := range ours {
		w := written[r.Offset]
		require.Equal(t, w.Timestamp.UnixMilli(), r.Timestamp.UnixMilli(), "timestamp of %d survives cleaning", r.Offset)
		require.Equal(t, w.Headers, r.Headers)
	}

	var theirs []eventlog.Record
	horizons := 0
	for _, rb := range diskBatches(t, dir) {
		if rb.Attributes&0x40 != 0 {
			horizons++
			assert.Equal(t, horizon, rb.FirstTimestamp, "a horizon batch's base timestamp is its delete horizon")
		}
		area := eventlog.DecompressIndependently(t, eventlog.Compression(rb.Attributes&7), rb.Records)
		for i := 0; i < int(rb.NumRecords); i++ {
			n, w := binary.Varint(area)
			var kr kmsg.Record
			require.NoError(t, kr.ReadFrom(area[:w+int(n)]))
			area = area[w+int(n):]
			r := eventlog.Record{Topic: "t", Offset: rb.FirstOffset + int64(kr.OffsetDelta),
				Timestamp: time.UnixMilli(rb.FirstTimestamp + kr.TimestampDelta64), Key: kr.Key, Value: kr.Value}
			for _, h := range kr.Headers {
				r.Headers = append(r.Headers, eventlog.Header{Key: h.Key, Value: h.Value})
			}
			theirs = append(theirs, r)
		}
		require.Empty(t, area)
	}
	assert.Positive(t, horizons, "tombstones got a delete horizon")
	require.Equal(t, len(ours), len(theirs))
	for i := range ours {
		require.Equal(t, ours[i].Offset, theirs[i].Offset)
		require.Equal(t, ours[i].Timestamp.UnixMilli(), theirs[i].Timestamp.UnixMilli())
		require.Equal(t, ours[i].Key, theirs[i].Key)
		require.Equal(t, ours[i].Value == nil, theirs[i].Value == nil)
		require.Equal(t, string(ours[i].Value), string(theirs[i].Value))
		require.Equal(t, ours[i].Headers, theirs[i].Headers)
	}
}

// diskBatches decodes, with kmsg, every batch in the segment files of
// partition t/0 under dir, in order, checking each one's CRC-32C.
func diskBatches(t *testing.T, dir string) []kmsg.RecordBatch {
	t.Helper()
	var out []kmsg.RecordBatch
	for _, name := range segmentFiles(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, "topics", "t", "0", name))
		require.NoError(t, err)
		for len(data) > 0 {
			size := 12 + int(binary.BigEndian.Uint32(data[8:]))
			var rb kmsg.RecordBatch
			require.NoError(t, rb.ReadFrom(data[:size]))
			require.Equal(t, crc32.Checksum(data[21:size], crc32.MakeTable(crc32.Castagnoli)), uint32(rb.CRC), "crc of the batch at %d in %s", rb.FirstOffset, name)
			out = append(out, rb)
			data = data[size:]
		}
	}
	return out
}

// compactModel is what a compacted partition must hold: every record ever
// written, the newest of each key, and when a tombstone could first have been
// seen by a cleaning.
type compactModel struct {
	written   map[int64]eventlog.Record
	newest    map[string]int64
	firstSeen map[int64]int64 // tombstone offset → time (ms) of the first Compact after it
	retention time.Duration
}

// check compares what the partition returns with the model at time now.
func (m *compactModel) check(t *testing.T, recs []eventlog.Record, now int64) {
	t.Helper()
	prev := int64(-1)
	byKey := map[string][]int64{}
	for _, r := range recs {
		require.Greater(t, r.Offset, prev, "offsets strictly increase")
		prev = r.Offset
		w, ok := m.written[r.Offset]
		require.True(t, ok, "offset %d was never written", r.Offset)
		require.Equal(t, string(w.Key), string(r.Key), "key at %d", r.Offset)
		require.Equal(t, w.Value == nil, r.Value == nil, "tombstone at %d", r.Offset)
		require.Equal(t, string(w.Value), string(r.Value), "value at %d", r.Offset)
		require.Equal(t, w.Timestamp.UnixMilli(), r.Timestamp.UnixMilli(), "timestamp at %d", r.Offset)
		byKey[string(r.Key)] = append(byKey[string(r.Key)], r.Offset)
	}
	for k, off := range m.newest {
		if got := byKey[k]; len(got) > 0 {
			require.Equal(t, off, got[len(got)-1], "the last record of %q is its newest", k)
			continue
		}
		require.Nil(t, m.written[off].Value, "key %q lost its newest value (offset %d)", k, off)
		seen, ok := m.firstSeen[off]
		require.True(t, ok && now >= seen+m.retention.Milliseconds(), "tombstone of %q (offset %d) removed before delete.retention.ms", k, off)
	}
}

// TestCompactModel runs random puts, deletes, cleanings, clock moves and
// reopens (clean, process crash, power loss) against a model; after each
// step the partition must agree with it.
func TestCompactModel(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 2
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runCompactModel(t, seed) })
	}
}

func runCompactModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fsys := eventlog.NewMemFS()
	require.NoError(t, fsys.MkdirAll("/data", 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024 + int64(rng.IntN(3000)), SegmentAge: time.Hour,
		IndexIntervalBytes: 128, CleanerCheckInterval: time.Hour}
	if rng.IntN(2) == 0 {
		opts.CleanerBufferBytes = 4 << 10 // several passes
	}
	cfg := eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: 10 * time.Minute}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", cfg))
	defer func() { _ = l.Close() }()
	m := &compactModel{written: map[int64]eventlog.Record{}, newest: map[string]int64{}, firstSeen: map[int64]int64{}, retention: cfg.DeleteRetention}
	codecs := eventlog.Codecs
	keys := 5 + rng.IntN(40)

	compact := func() {
		p := partition(t, l, "t", 0)
		now := clk.Now().UnixMilli()
		for off, r := range m.written {
			if _, ok := m.firstSeen[off]; r.Value == nil && !ok {
				m.firstSeen[off] = now
			}
		}
		require.NoError(t, l.Compact(ctx, "t"))
		recs := readAll(t, p, 0)
		m.check(t, recs, now)
		active := activeBase(t, fsys, "/data")
		seen := map[string]bool{}
		for _, r := range recs {
			if r.Offset < active {
				require.False(t, seen[string(r.Key)], "key %q twice below the active segment after a cleaning", r.Key)
				seen[string(r.Key)] = true
			}
		}
	}
	for step := range 300 {
		switch op := rng.IntN(100); {
		case op < 60:
			batch := make([]eventlog.Record, 1+rng.IntN(5))
			for i := range batch {
				batch[i] = eventlog.Record{Key: []byte(fmt.Sprintf("key-%d", rng.IntN(keys)))}
				if rng.IntN(5) > 0 {
					batch[i].Value = []byte(fmt.Sprintf("s%d-%d-%s", step, i, strings.Repeat("v", rng.IntN(60))))
				}
			}
			p := partition(t, l, "t", 0)
			base, err := p.Append(ctx, batch, eventlog.AppendOptions{Compression: codecs[rng.IntN(len(codecs))]})
			require.NoError(t, err)
			for i, r := range batch {
				r.Timestamp = clk.Now()
				m.written[base+int64(i)] = r
				m.newest[string(r.Key)] = base + int64(i)
			}
		case op < 75:
			clk.Advance(time.Duration(rng.IntN(240)) * time.Second)
		case op < 90:
			compact()
		default:
			switch rng.IntN(3) {
			case 0:
				require.NoError(t, l.Close())
			case 1:
				_ = eventlog.Abandon(l) // the process dies; the files keep every write
			case 2:
				fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
				_ = eventlog.Abandon(l) // power loss: fsynced appends survive
			}
			l, err = eventlog.Open("/data", opts)
			require.NoError(t, err)
			m.check(t, readAll(t, partition(t, l, "t", 0), 0), clk.Now().UnixMilli())
		}
	}

	// In the end, with every segment closed and every horizon past, exactly
	// the newest value of each live key remains.
	clk.Advance(2 * time.Hour)
	require.NoError(t, eventlog.EnforceRetention(l))
	compact()
	clk.Advance(cfg.DeleteRetention)
	compact()
	var want []int64
	for _, off := range m.newest {
		if m.written[off].Value != nil {
			want = append(want, off)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	var got []int64
	for _, r := range readAll(t, partition(t, l, "t", 0), 0) {
		got = append(got, r.Offset)
	}
	require.Equal(t, want, got)
}
