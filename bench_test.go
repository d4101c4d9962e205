package eventlog_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// Benchmarks for the storage core. Records have 16-byte keys and 100-byte
// values. Each throughput benchmark has a "raw" baseline measured in the same
// run; BENCHMARKS.md compares them.

const (
	benchKeySize   = 16
	benchValueSize = 100
)

func benchRecords(n int) []eventlog.Record {
	recs := make([]eventlog.Record, n)
	ts := time.UnixMilli(1_700_000_000_000)
	for i := range recs {
		key := fmt.Appendf(nil, "key-%012d", i)
		val := make([]byte, benchValueSize)
		for j := range val {
			val[j] = byte('a' + (i+j)%26)
		}
		recs[i] = eventlog.Record{Key: key[:benchKeySize], Value: val, Timestamp: ts}
	}
	return recs
}

func benchLog(b *testing.B, dir string, cfg eventlog.TopicConfig) (*eventlog.Log, *eventlog.Partition) {
	b.Helper()
	l, err := eventlog.Open(dir, nil)
	require.NoError(b, err)
	if _, err := l.TopicConfig("bench"); err != nil {
		require.NoError(b, l.CreateTopic("bench", cfg))
	}
	p, err := l.Partition("bench", 0)
	require.NoError(b, err)
	return l, p
}

func reportRecords(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendBatched appends batches of 1000 records with OS durability,
// against a raw baseline that writes the same key and value bytes through a
// 1 MiB buffer with one fdatasync at the end.
func BenchmarkAppendBatched(b *testing.B) {
	const batch = 1000
	recs := benchRecords(batch)
	b.Run("raw", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		require.NoError(b, err)
		w := bufio.NewWriterSize(f, 1<<20)
		b.SetBytes(batch * (benchKeySize + benchValueSize))
		for b.Loop() {
			for _, r := range recs {
				_, _ = w.Write(r.Key)
				_, _ = w.Write(r.Value)
			}
		}
		require.NoError(b, w.Flush())
		require.NoError(b, f.Sync())
		reportRecords(b, b.N*batch)
		require.NoError(b, f.Close())
	})
	b.Run("eventlog", func(b *testing.B) {
		l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
		defer l.Close()
		b.SetBytes(batch * (benchKeySize + benchValueSize))
		for b.Loop() {
			if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, l.Close()) // the final fsync, as the baseline's
		reportRecords(b, b.N*batch)
	})
}

// BenchmarkAppendFsync appends one record at a time, each fsynced before the
// next, against a raw baseline of write plus fdatasync per record; and with
// 8 concurrent writers, whose fsyncs are shared.
func BenchmarkAppendFsync(b *testing.B) {
	recs := benchRecords(1)
	b.Run("raw", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		require.NoError(b, err)
		fs := eventlog.OSFS{}
		ff, err := fs.OpenFile(f.Name(), os.O_WRONLY, 0)
		require.NoError(b, err)
		buf := append(append([]byte(nil), recs[0].Key...), recs[0].Value...)
		for b.Loop() {
			if _, err := ff.Write(buf); err != nil {
				b.Fatal(err)
			}
			if err := ff.Sync(); err != nil { // fdatasync on Linux
				b.Fatal(err)
			}
		}
		reportRecords(b, b.N)
		require.NoError(b, ff.Close())
		require.NoError(b, f.Close())
	})
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("eventlog-writers=%d", writers), func(b *testing.B) {
			l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{})
			defer l.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			reportRecords(b, b.N)
		})
	}
}

// fillPartition writes n records in batches of batch records and closes the
// log.
func fillPartition(b *testing.B, dir string, n, batch int) {
	b.Helper()
	l, p := benchLog(b, dir, eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
	recs := benchRecords(batch)
	for i := 0; i < n; i += len(recs) {
		_, err := p.Append(ctx, recs[:min(len(recs), n-i)], eventlog.AppendOptions{})
		require.NoError(b, err)
	}
	require.NoError(b, l.Close())
}

// BenchmarkReadSequential reads 1 million records from offset 0 after a
// reopen, through views (warm) and with Read, against a raw baseline that
// sums every eighth byte of an mmap of the same segment file.
func BenchmarkReadSequential(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	fillPartition(b, dir, n, 1000)
	segs, err := filepath.Glob(filepath.Join(dir, "topics", "bench", "0", "*.log"))
	require.NoError(b, err)
	b.Run("raw-mmap-scan", func(b *testing.B) {
		data := mmapSegment(b, segs[0])
		b.SetBytes(int64(len(data)))
		var sum uint64
		for b.Loop() {
			for i := 0; i+8 <= len(data); i += 8 {
				sum += uint64(data[i])
			}
		}
		reportRecords(b, b.N*n)
		runtime.KeepAlive(sum)
	})
	b.Run("views", func(b *testing.B) {
		l, p := benchLog(b, dir, eventlog.TopicConfig{})
		defer l.Close()
		scanViews(b, p, n) // warm: map the segment, load its index
		b.ReportAllocs()
		for b.Loop() {
			scanViews(b, p, n)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("eventlog", func(b *testing.B) {
		l, p := benchLog(b, dir, eventlog.TopicConfig{})
		defer l.Close()
		for b.Loop() {
			var got int
			for off := int64(0); off < n; {
				recs, err := p.Read(off, 1<<20)
				if err != nil {
					b.Fatal(err)
				}
				got += len(recs)
				off = recs[len(recs)-1].Offset + 1
			}
			if got != n {
				b.Fatalf("read %d records, want %d", got, n)
			}
		}
		reportRecords(b, b.N*n)
	})
}

// BenchmarkReadRandom reads one record at a random offset, with Read and
// through views; p50-ns is the median latency. A read returns whole batches from the wanted offset on, so
// with batches of 1000 records it decodes (and checksums) up to a thousand
// records to return the one asked for; with one record per batch it decodes
// exactly one.
func BenchmarkReadRandom(b *testing.B) {
	const n = 1_000_000
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			dir := b.TempDir()
			fillPartition(b, dir, n, batch)
			l, p := benchLog(b, dir, eventlog.TopicConfig{})
			defer l.Close()
			for _, api := range []string{"read", "views"} {
				b.Run(api, func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, 2))
					lat := make([]time.Duration, 0, 1<<20)
					for b.Loop() {
						off := rng.Int64N(n)
						start := time.Now()
						got, err := readOne(p, off, api == "views")
						lat = append(lat, time.Since(start))
						if err != nil || got != off {
							b.Fatalf("read %d: got %d, %v", off, got, err)
						}
					}
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
					b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
				})
			}
		})
	}
}

// readOne reads the record at off, with Read or through a view, and returns
// its offset. Read returns the rest of the batch as well; a view loop stops
// after the record it wants, having checked the batch's CRC and decoded the
// records before it in the batch, but copied nothing.
func readOne(p *eventlog.Partition, off int64, views bool) (int64, error) {
	if !views {
		recs, err := p.Read(off, 1)
		if err != nil || len(recs) == 0 {
			return -1, err
		}
		return recs[0].Offset, nil
	}
	for v, err := range p.Views(off) {
		if err != nil {
			return -1, err
		}
		return v.Offset, nil
	}
	return -1, nil
}

// BenchmarkReopen reopens a partition of about 1 GB after a clean close.
func BenchmarkReopen(b *testing.B) {
	recordsPerGB := (1 << 30) / (benchKeySize + benchValueSize + 10)
	dir := b.TempDir()
	fillPartition(b, dir, recordsPerGB, 1000)
	for b.Loop() {
		l, err := eventlog.Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !l.Recovery().CleanShutdown {
			b.Fatal("not a clean reopen")
		}
		require.NoError(b, l.Close())
	}
}

// BenchmarkTempDirLifecycle opens a log in a fresh directory, creates a
// topic, appends and reads one record and closes: what a unit test pays.
// p50-ns is the median.
func BenchmarkTempDirLifecycle(b *testing.B) {
	recs := benchRecords(1)
	b.Run("raw", func(b *testing.B) {
		// The least a directory-backed log can do: a directory, one file
		// written, fsynced, read back and closed.
		root := b.TempDir()
		var lat []time.Duration
		i := 0
		for b.Loop() {
			i++
			start := time.Now()
			dir := filepath.Join(root, fmt.Sprint(i))
			require.NoError(b, os.Mkdir(dir, 0o755))
			f, err := os.Create(filepath.Join(dir, "log"))
			require.NoError(b, err)
			_, err = f.Write(append(recs[0].Key, recs[0].Value...))
			require.NoError(b, err)
			require.NoError(b, f.Sync())
			_, err = f.ReadAt(make([]byte, 16), 0)
			require.NoError(b, err)
			require.NoError(b, f.Close())
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	})
	cases := []struct {
		name string
		opts *eventlog.Options
	}{
		{"durability=fsync", &eventlog.Options{Durability: eventlog.DurabilityFsync}},
		{"durability=os", &eventlog.Options{Durability: eventlog.DurabilityOS}},
		// What eventlogtest.New opens: OS durability, no fsync at all.
		{"eventlogtest", &eventlog.Options{Durability: eventlog.DurabilityOS, FS: eventlogtest.NoSyncFS()}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			root := b.TempDir()
			opts := c.opts
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				l, err := eventlog.Open(filepath.Join(root, fmt.Sprint(i)), opts)
				if err != nil {
					b.Fatal(err)
				}
				require.NoError(b, l.CreateTopic("t", eventlog.TopicConfig{}))
				p, err := l.Partition("t", 0)
				require.NoError(b, err)
				_, err = p.Append(ctx, recs, eventlog.AppendOptions{})
				require.NoError(b, err)
				got, err := p.Read(0, 1024)
				if err != nil || len(got) != 1 {
					b.Fatal(err)
				}
				require.NoError(b, l.Close())
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		})
	}
}

// BenchmarkHeapWhileAppendingAndReading1GB appends about 1 GB and reads it
// back, sampling the Go heap; max-heap-MB is the largest sample.
func BenchmarkHeapWhileAppendingAndReading1GB(b *testing.B) {
	const batch = 1000
	batches := (1 << 30) / (batch * (benchKeySize + benchValueSize + 10))
	recs := benchRecords(batch)
	for b.Loop() {
		runtime.GC()
		var peak uint64
		var ms runtime.MemStats
		sample := func() {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
		for i := range batches {
			_, err := p.Append(ctx, recs, eventlog.AppendOptions{})
			require.NoError(b, err)
			if i%500 == 0 {
				sample()
			}
		}
		read := 0
		for off := int64(0); off < p.HighWatermark(); read++ {
			got, err := p.Read(off, 1<<20)
			require.NoError(b, err)
			off = got[len(got)-1].Offset + 1
			if read%100 == 0 {
				sample()
			}
		}
		require.NoError(b, l.Close())
		b.ReportMetric(float64(peak)/(1<<20), "max-heap-MB")
	}
}
