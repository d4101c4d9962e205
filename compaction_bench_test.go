package eventlog_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Benchmarks of compaction. Records have 16-byte keys and 100-byte values,
// as in bench_test.go, in batches of 1000.

// compactBenchOptions: 64 MiB segments, default cleaner settings.
var compactBenchOptions = eventlog.Options{SegmentBytes: 64 << 20, Durability: eventlog.DurabilityOS}

// fillCompactBench writes a compacted topic "bench" of about size bytes in
// which every key is written once in order and then updated at random, with
// updates making up a share 1-live of the records. It closes the log and
// returns the size of its segment files and the number of records.
func fillCompactBench(b *testing.B, dir string, size int64, live float64) (int64, int) {
	b.Helper()
	opts := compactBenchOptions
	l, err := eventlog.Open(dir, &opts)
	require.NoError(b, err)
	require.NoError(b, l.CreateTopic("bench", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	p, err := l.Partition("bench", 0)
	require.NoError(b, err)
	const perRecord = 16 + 100 + 20 // key, value, record and batch overhead
	n := int(size / perRecord)
	keys := int(float64(n) * live)
	recs := benchRecords(1000)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < n; i += len(recs) {
		batch := recs[:min(len(recs), n-i)]
		for j := range batch {
			k := i + j
			if k >= keys {
				k = rng.IntN(keys)
			}
			batch[j].Key = fmt.Appendf(batch[j].Key[:0], "key-%012d", k)
		}
		_, err := p.Append(ctx, batch, eventlog.AppendOptions{})
		require.NoError(b, err)
	}
	require.NoError(b, l.Close())
	return logBytes(b, dir), n
}

func logBytes(b *testing.B, dir string) int64 {
	segs, err := filepath.Glob(filepath.Join(dir, "topics", "bench", "0", "*.log"))
	require.NoError(b, err)
	var total int64
	for _, s := range segs {
		info, err := os.Stat(s)
		require.NoError(b, err)
		total += info.Size()
	}
	return total
}

// cloneLog copies a closed log directory: segment files as hard links
// (cleaning never writes them in place), other files as copies.
func cloneLog(b *testing.B, from, to string) {
	b.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(dst, 0o755)
		case strings.HasSuffix(path, ".log"):
			return os.Link(path, dst)
		case info.Name() == "LOCK":
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	require.NoError(b, err)
}

func compactBenchSize(b *testing.B) int64 {
	size := int64(1 << 30)
	if s := os.Getenv("EVENTLOG_BENCH_COMPACT_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(b, err)
		size = n
	}
	return size
}

// heapPeak samples the heap until stop is called and returns the largest
// value above the heap at the start. It reads runtime/metrics, which does not
// stop the world.
func heapPeak() (stop func() int64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	base := read()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak - base
	}
}

// BenchmarkCompaction cleans a partition of about 1 GiB (override with
// EVENTLOG_BENCH_COMPACT_BYTES) in which one record in ten is the newest of
// its key, with the default 32 MiB map budget. MB/s is segment bytes over
// the cleaning's time; the cleaner reads the dirty bytes twice (to map the
// keys, then to copy what stays). The baseline reads the same files
// sequentially through the page cache.
func BenchmarkCompaction(b *testing.B) {
	master := b.TempDir()
	size, records := fillCompactBench(b, master, compactBenchSize(b), 0.1)
	b.Run("raw-read", func(b *testing.B) {
		segs, err := filepath.Glob(filepath.Join(master, "topics", "bench", "0", "*.log"))
		require.NoError(b, err)
		buf := make([]byte, 1<<20)
		b.SetBytes(size)
		for b.Loop() {
			for _, s := range segs {
				f, err := os.Open(s)
				require.NoError(b, err)
				_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
				require.NoError(b, err)
				require.NoError(b, f.Close())
			}
		}
	})
	b.Run("eventlog", func(b *testing.B) {
		b.SetBytes(size)
		var peak, mapBytes, read, left int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := filepath.Join(b.TempDir(), "log")
			cloneLog(b, master, dir)
			opts := compactBenchOptions
			l, err := eventlog.Open(dir, &opts)
			require.NoError(b, err)
			stop := heapPeak()
			b.StartTimer()
			require.NoError(b, l.Compact(ctx, "bench"))
			b.StopTimer()
			peak = max(peak, stop())
			st := l.Stats()
			mapBytes, read = st.Cleaner.MapBytes, st.Cleaner.BytesRead
			left = st.Cleaner.BytesWritten
			require.NoError(b, l.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(read)*float64(b.N)/b.Elapsed().Seconds()/1e6, "read-MB/s")
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(left)/float64(size), "kept-ratio")
		b.ReportMetric(float64(mapBytes)/(1<<20), "map-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	})
}

// BenchmarkCompactedCacheRebuild reads a compacted topic of 1 million live
// keys from the start into a map[string][]byte, as a service rebuilding its
// cache at startup does. The topic held each key once and then 2 million
// random updates before it was cleaned, so the surviving records are spread
// over partly emptied batches. The maps are made with room for the keys.
// Baselines: "raw-map" fills the same map from records already in memory;
// "read-only" reads without filling a map. "eventlog" reads with Read into
// the map; "replay-latest" is Log.ReplayLatest, which reads each key and
// value in place, without making views, and copies each surviving one once.
func BenchmarkCompactedCacheRebuild(b *testing.B) {
	const keys = 1_000_000
	dir := b.TempDir()
	fillCompactBench(b, dir, 3*keys*(16+100+20), 1.0/3)
	opts := compactBenchOptions
	l, err := eventlog.Open(dir, &opts)
	require.NoError(b, err)
	require.NoError(b, l.Compact(ctx, "bench"))
	require.NoError(b, l.Close())

	readInto := func(b *testing.B, p *eventlog.Partition, fn func(eventlog.Record)) int {
		n := 0
		for off := int64(0); off < p.HighWatermark(); {
			recs, err := p.Read(off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range recs {
				fn(r)
			}
			n += len(recs)
			off = recs[len(recs)-1].Offset + 1
		}
		return n
	}
	open := func(b *testing.B) *eventlog.Partition {
		l, err := eventlog.Open(dir, &opts)
		require.NoError(b, err)
		b.Cleanup(func() { require.NoError(b, l.Close()) })
		p, err := l.Partition("bench", 0)
		require.NoError(b, err)
		return p
	}
	b.Run("raw-map", func(b *testing.B) {
		var all []eventlog.Record
		readInto(b, open(b), func(r eventlog.Record) { all = append(all, r) })
		for b.Loop() {
			cache := make(map[string][]byte, keys)
			for _, r := range all {
				cache[string(r.Key)] = r.Value
			}
			if len(cache) != keys {
				b.Fatal(len(cache))
			}
		}
		reportRecords(b, b.N*len(all))
	})
	runtime.GC()
	b.Run("read-only", func(b *testing.B) {
		p := open(b)
		n := 0
		for b.Loop() {
			n += readInto(b, p, func(eventlog.Record) {})
		}
		reportRecords(b, n)
	})
	b.Run("eventlog", func(b *testing.B) {
		p := open(b)
		n := 0
		for b.Loop() {
			cache := make(map[string][]byte, keys)
			n += readInto(b, p, func(r eventlog.Record) {
				if r.Value == nil {
					delete(cache, string(r.Key))
				} else {
					cache[string(r.Key)] = r.Value
				}
			})
			if len(cache) != keys {
				b.Fatal(len(cache))
			}
		}
		reportRecords(b, n)
	})
	runtime.GC()
	b.Run("replay-latest", func(b *testing.B) {
		l, err := eventlog.Open(dir, &opts)
		require.NoError(b, err)
		defer l.Close()
		records := 0 // the survivors and the active segment's updates
		require.NoError(b, l.Replay(ctx, "bench", func(*eventlog.RecordView) error { records++; return nil }))
		n := 0
		for b.Loop() {
			cache, err := l.ReplayLatest(ctx, "bench")
			if err != nil || len(cache) != keys {
				b.Fatal(len(cache), err)
			}
			n += records
		}
		reportRecords(b, n)
	})
}
