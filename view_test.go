package eventlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// randomBytes returns nil, empty or random bytes.
func randomBytes(rng *rand.Rand, max int) []byte {
	switch rng.IntN(6) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, rng.IntN(max)+1)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// randomRecords appends n records in batches of random sizes and codecs,
// with null and empty keys, values and header values, to p.
func randomRecords(t *testing.T, rng *rand.Rand, p *eventlog.Partition, n int, keyed bool) {
	t.Helper()
	codecs := eventlog.Codecs
	ts := time.UnixMilli(1_700_000_000_000)
	for n > 0 {
		batch := make([]eventlog.Record, min(n, 1+rng.IntN(40)))
		for i := range batch {
			r := eventlog.Record{Key: randomBytes(rng, 24), Value: randomBytes(rng, 300), Timestamp: ts.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)}
			if keyed {
				r.Key = fmt.Appendf(nil, "key-%d", rng.IntN(50))
			}
			for range rng.IntN(4) {
				r.Headers = append(r.Headers, eventlog.Header{Key: fmt.Sprintf("h%d", rng.IntN(9)), Value: randomBytes(rng, 20)})
			}
			batch[i] = r
		}
		_, err := p.Append(ctx, batch, eventlog.AppendOptions{Compression: codecs[rng.IntN(len(codecs))]})
		require.NoError(t, err)
		n -= len(batch)
	}
}

// viewsFrom clones every view of p from offset.
func viewsFrom(t *testing.T, p *eventlog.Partition, from int64) []eventlog.Record {
	t.Helper()
	var out []eventlog.Record
	for v, err := range p.Views(from) {
		require.NoError(t, err)
		out = append(out, v.Clone())
	}
	return out
}

// requireSameRecords compares records field by field, telling null from
// empty.
func requireSameRecords(t *testing.T, want, got []eventlog.Record) {
	t.Helper()
	require.Equal(t, len(want), len(got), "record count")
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.Offset, g.Offset, "record %d", i)
		require.Equal(t, w.Topic, g.Topic)
		require.Equal(t, w.Partition, g.Partition)
		require.True(t, w.Timestamp.Equal(g.Timestamp), "timestamp of offset %d", w.Offset)
		require.Equal(t, w.Key == nil, g.Key == nil, "null key of offset %d", w.Offset)
		require.Equal(t, w.Value == nil, g.Value == nil, "null value of offset %d", w.Offset)
		require.True(t, bytes.Equal(w.Key, g.Key) && bytes.Equal(w.Value, g.Value), "offset %d", w.Offset)
		require.Equal(t, len(w.Headers), len(g.Headers), "headers of offset %d", w.Offset)
		for j := range w.Headers {
			require.Equal(t, w.Headers[j].Key, g.Headers[j].Key)
			require.Equal(t, w.Headers[j].Value == nil, g.Headers[j].Value == nil)
			require.True(t, bytes.Equal(w.Headers[j].Value, g.Headers[j].Value))
		}
	}
}

// forRandomLogs calls check with partition 0 of random logs — every codec,
// null and empty keys, values and headers, many segments, deleting and
// compacted with tombstones and a dirty tail — made from seeds, and all
// its records as the copying Read returns them.
func forRandomLogs(t *testing.T, seeds uint64, check func(t *testing.T, rng *rand.Rand, p *eventlog.Partition, all []eventlog.Record)) {
	for _, tc := range []struct {
		name string
		cfg  eventlog.TopicConfig
	}{
		{"delete", eventlog.TopicConfig{Durability: eventlog.DurabilityOS, SegmentBytes: 16 << 10}},
		{"compacted", eventlog.TopicConfig{Durability: eventlog.DurabilityOS, SegmentBytes: 16 << 10, CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range seeds {
				rng := rand.New(rand.NewPCG(seed, 8))
				l := openLog(t, t.TempDir(), nil)
				require.NoError(t, l.CreateTopic("t", tc.cfg))
				p := partition(t, l, "t", 0)
				keyed := tc.cfg.CleanupPolicy != eventlog.CleanupDelete
				randomRecords(t, rng, p, 1500, keyed)
				if keyed {
					require.NoError(t, l.Compact(ctx, "t"))
					randomRecords(t, rng, p, 200, keyed) // and a dirty tail
				}
				all := readAll(t, p, 0)
				require.NotEmpty(t, all)
				check(t, rng, p, all)
			}
		})
	}
}

// TestViewsEqualCopies reads random logs through views and through the
// copying Read, from random offsets, and requires the same records byte
// for byte.
func TestViewsEqualCopies(t *testing.T) {
	forRandomLogs(t, 4, func(t *testing.T, rng *rand.Rand, p *eventlog.Partition, all []eventlog.Record) {
		requireSameRecords(t, all, viewsFrom(t, p, 0))
		for range 20 {
			from := rng.Int64N(p.HighWatermark() + 1)
			requireSameRecords(t, readAll(t, p, from), viewsFrom(t, p, from))
		}
		// The header iterator agrees with the copy's headers.
		i := 0
		for v, err := range p.Views(0) {
			require.NoError(t, err)
			var hs []eventlog.Header
			for k, val := range v.Headers() {
				hs = append(hs, eventlog.Header{Key: k, Value: val})
			}
			require.Equal(t, len(all[i].Headers), v.HeaderCount())
			require.Equal(t, len(all[i].Headers), len(hs))
			i++
		}
	})
}

// TestViewsAllocateNothingPerRecord scans logs of two sizes, through
// Views and through a Cursor: the allocations of a whole scan do not grow
// with the records scanned.
func TestViewsAllocateNothingPerRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop the pooled decompressors")
	}
	scans := map[string]func(p *eventlog.Partition, n int){
		"views": func(p *eventlog.Partition, n int) {
			got := 0
			for _, err := range p.Views(0) {
				if err != nil || got == n {
					break
				}
				got++
			}
		},
		"cursor": func(p *eventlog.Partition, n int) {
			c := p.Cursor(0)
			for got := 0; got < n && c.Next(); got++ {
				if c.View() == nil || len(c.Key())+len(c.Value()) == 0 {
					panic("no record")
				}
			}
			c.Close()
		},
	}
	for _, c := range []eventlog.Compression{eventlog.CompressionNone, eventlog.CompressionZstd} {
		l := openLog(t, t.TempDir(), nil)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		p := partition(t, l, "t", 0)
		recs := benchRecords(100)
		for range 100 {
			_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: c})
			require.NoError(t, err)
		}
		for name, scan := range scans {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				of := func(n int) func() { return func() { scan(p, n) } }
				testing.AllocsPerRun(2, of(10_000)) // warm the decompression buffers up
				small := testing.AllocsPerRun(20, of(100))
				large := testing.AllocsPerRun(20, of(10_000))
				assert.LessOrEqual(t, large, small+1, "allocations per scan: %v for 100 records, %v for 10,000", small, large)
				most := 8.0 // the iterator, the verifier and their closures
				if name == "cursor" {
					most += 2 // the Cursor apart from its view cursor, and its cleanup
				}
				assert.LessOrEqual(t, large, most, "a scan allocates its iterator or cursor and little else")
			})
		}
	}
}

// TestPoisonViewsCatchesKeptViews keeps a view's value past its step: with
// Options.PoisonViews it reads as 0xDB bytes, not as a plausible record.
func TestPoisonViewsCatchesKeptViews(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	_, err := p.Append(ctx, []eventlog.Record{rec("k0", "v0"), rec("k1", "v1")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	var kept []byte
	var clone eventlog.Record
	for v, err := range p.Views(0) {
		require.NoError(t, err)
		if kept == nil {
			kept, clone = v.Value, v.Clone() // the mistake, and the right way
			assert.Equal(t, "v0", string(kept), "valid during its step")
		}
	}
	assert.Equal(t, []byte{0xDB, 0xDB}, kept, "poisoned once the view expired")
	assert.Equal(t, "v0", string(clone.Value), "a clone owns its bytes")
}

func TestViewsBadInput(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 3, eventlog.AppendOptions{})
	for _, from := range []int64{-1, 4, 1 << 40} {
		var errs []error
		for v, err := range p.Views(from) {
			assert.Nil(t, v)
			errs = append(errs, err)
		}
		require.Len(t, errs, 1, "from %d", from)
		assert.ErrorIs(t, errs[0], eventlog.ErrOffsetOutOfRange)
	}
	for range p.Views(3) {
		t.Fatal("nothing at the high watermark")
	}
	require.NoError(t, l.Close())
	for _, err := range p.Views(0) {
		assert.ErrorIs(t, err, eventlog.ErrClosed)
	}
}

// TestViewsReportCorruption flips a bit inside a closed segment, where
// Open does not look: the scan yields the records before it, then a
// *CorruptError naming the file, and stops.
func TestViewsReportCorruption(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 4096}
	logs := corruptSecondSegment(t, dir, opts)

	p := partition(t, openLog(t, dir, opts), "t", 0)
	next := int64(0)
	var errs []error
	for v, err := range p.Views(0) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		require.Equal(t, next, v.Offset)
		require.Equal(t, fmt.Sprintf("v%d", next), string(v.Value))
		next++
	}
	require.Len(t, errs, 1)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, errs[0], &ce)
	assert.Equal(t, logs[1], ce.Path)
	assert.Less(t, next, int64(200))
}

// openFileCount counts the process's open file descriptors, or returns -1
// where it cannot.
func openFileCount(t *testing.T) int {
	if runtime.GOOS != "linux" {
		return -1
	}
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(fds)
}

// checkViewScan scans p from its start and checks each record against the
// value it was written with: "<offset>". It returns how many it saw.
func checkViewScan(p *eventlog.Partition) (int, error) {
	n, last := 0, int64(-1)
	for v, err := range p.Views(p.LogStartOffset()) {
		if err != nil {
			return n, err
		}
		if v.Offset <= last || string(v.Value) != fmt.Sprint(v.Offset) {
			return n, fmt.Errorf("offset %d after %d has value %q", v.Offset, last, v.Value)
		}
		last = v.Offset
		n++
	}
	return n, nil
}

// checkCursorScan is checkViewScan through a Cursor, taking every other
// record through Offset and Value rather than its view.
func checkCursorScan(p *eventlog.Partition) (int, error) {
	c := p.Cursor(p.LogStartOffset())
	defer c.Close()
	n, last := 0, int64(-1)
	for c.Next() {
		offset, value := c.Offset(), c.Value()
		if n%2 == 0 {
			v := c.View()
			offset, value = v.Offset, v.Value
		}
		if offset <= last || string(value) != fmt.Sprint(offset) {
			return n, fmt.Errorf("cursor: offset %d after %d has value %q", offset, last, value)
		}
		last = offset
		n++
	}
	return n, c.Err()
}

// TestViewsDuringRetentionCompactionAndClose scans, from several
// goroutines at once, while retention deletes segments and compaction swaps
// them: no scan, through Views or a Cursor, faults or sees a wrong byte.
// Close in the middle of scans ends them with ErrClosed, after which every
// file is closed.
func TestViewsDuringRetentionCompactionAndClose(t *testing.T) {
	for _, policy := range []eventlog.CleanupPolicy{eventlog.CleanupDelete, eventlog.CleanupCompact} {
		t.Run(policy.String(), func(t *testing.T) {
			clk := newClock()
			l, err := eventlog.Open(t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 2048})
			require.NoError(t, err)
			defer l.Close()
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{
				Durability: eventlog.DurabilityOS, Retention: time.Minute, CleanupPolicy: policy, MinCleanableDirtyRatio: 0.01,
			}))
			p := partition(t, l, "t", 0)
			var scanners sync.WaitGroup
			stop := make(chan struct{})
			failures := make(chan error, 4)
			for i := range 3 {
				scan := checkViewScan
				if i == 2 {
					scan = checkCursorScan
				}
				scanners.Add(1)
				go func() {
					defer scanners.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := scan(p); err != nil && !errors.Is(err, eventlog.ErrOffsetOutOfRange) {
							failures <- err
							return
						}
					}
				}()
			}
			for i := range 2000 {
				_, err := p.Append(ctx, []eventlog.Record{{Key: fmt.Appendf(nil, "k%d", i%20), Value: fmt.Append(nil, p.LogEndOffset())}}, eventlog.AppendOptions{})
				require.NoError(t, err)
				clk.Advance(time.Second)
				if i%100 == 99 {
					if policy == eventlog.CleanupCompact {
						require.NoError(t, l.Compact(ctx, "t"))
					} else {
						require.NoError(t, eventlog.EnforceRetention(l))
					}
				}
			}
			close(stop)
			scanners.Wait()
			close(failures)
			for err := range failures {
				t.Error(err)
			}
			if policy == eventlog.CleanupDelete {
				assert.Positive(t, p.LogStartOffset(), "retention ran")
			}

			// Close while scans are in the middle of a batch: Close does
			// not wait for them, and they go on safely until their next
			// batch, where they end with ErrClosed; then every file the
			// Log opened is closed.
			before := openFileCount(t)
			closed := make(chan struct{})
			started := make(chan struct{}, 2)
			ended := make(chan error, 2)
			for range 2 {
				go func() {
					first := true
					for v, err := range p.Views(p.LogStartOffset()) {
						if err != nil {
							ended <- err
							return
						}
						if first {
							first = false
							started <- struct{}{}
							<-closed
						}
						if string(v.Value) != fmt.Sprint(v.Offset) {
							ended <- fmt.Errorf("offset %d: %q after Close", v.Offset, v.Value)
							return
						}
					}
					ended <- nil
				}()
			}
			<-started
			<-started
			require.NoError(t, l.Close())
			close(closed)
			for range 2 {
				err := <-ended
				if err != nil {
					assert.ErrorIs(t, err, eventlog.ErrClosed)
				}
			}
			if before >= 0 {
				assert.Less(t, openFileCount(t), before, "the scans' segments are closed once they end")
			}
		})
	}
}

// corruptSecondSegment writes 200 single-record batches with values v<i> to
// topic "t" of a log in dir with 4 KiB segments, closes it, and flips a bit
// in the middle of the second segment, where Open does not look. It
// returns the segment files.
func corruptSecondSegment(t *testing.T, dir string, opts *eventlog.Options) []string {
	t.Helper()
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	appendN(t, partition(t, l, "t", 0), 200, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 2)
	data, err := os.ReadFile(logs[1])
	require.NoError(t, err)
	data[len(data)/2] ^= 0x01 // inside a batch in the middle of the second segment
	require.NoError(t, os.WriteFile(logs[1], data, 0o644))
	return logs
}

// renameHookFS calls hook after each successful Rename.
type renameHookFS struct {
	eventlog.FS
	hook func(oldname, newname string)
}

func (f renameHookFS) Rename(oldname, newname string) error {
	err := f.FS.Rename(oldname, newname)
	if err == nil {
		f.hook(oldname, newname)
	}
	return err
}

// TestViewsIntoASegmentOfADeletedTopic: DeleteTopic renames the topic's
// directory before it drops the partitions' segments. A scan that moves
// on, in between, to a segment whose file it has not opened yet (closed
// segments are opened on their first read) must end with
// ErrTopicNotFound, as every read of a deleted topic does, not with the
// error of opening a file that is no longer there.
func TestViewsIntoASegmentOfADeletedTopic(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
	require.NoError(t, l.Close())

	renamed, proceed := make(chan struct{}), make(chan struct{})
	fsys := renameHookFS{FS: eventlog.OSFS{}, hook: func(_, newname string) {
		if strings.Contains(newname, "~deleted-") {
			close(renamed)
			<-proceed
		}
	}}
	l = openLog(t, dir, &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	p := partition(t, l, "t", 0)
	next, stop := iter.Pull2(p.Views(0))
	defer stop()
	v, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)
	require.Zero(t, v.Offset)
	deleted := make(chan error, 1)
	go func() { deleted <- l.DeleteTopic(ctx, "t") }()
	<-renamed // the directory is renamed; the segments are still listed
	for ok && err == nil {
		_, err, ok = next()
	}
	close(proceed)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound, "the scan ends with ErrTopicNotFound")
	require.NoError(t, <-deleted)
}
