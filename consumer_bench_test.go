package eventlog_test

import (
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// BenchmarkConsumerRead reads 1 million records (16-byte keys, 100-byte
// values, appended in batches of 1000 and reopened) from offset 0: with
// Poll, with the Records iterator and with ReadToEnd, against the
// Partition.Read loop as the baseline; and through views, the consumer's
// ViewsToEnd against Partition.Views, which it is built on.
func BenchmarkConsumerRead(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	l, p := benchLog(b, dir, eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
	batch := benchRecords(1000)
	for i := 0; i < n; i += len(batch) {
		_, err := p.Append(ctx, batch, eventlog.AppendOptions{})
		require.NoError(b, err)
	}
	require.NoError(b, l.Close())
	l, p = benchLog(b, dir, eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
	defer l.Close()
	bench := eventlog.TopicPartition{Topic: "bench", Partition: 0}
	newConsumer := func(b *testing.B) *eventlog.Consumer {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{MaxPollRecords: 10_000, AutoOffsetReset: eventlog.OffsetResetEarliest})
		require.NoError(b, err)
		require.NoError(b, c.Assign(bench))
		return c
	}
	check := func(b *testing.B, got int) {
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}

	b.Run("partition-read", func(b *testing.B) {
		for b.Loop() {
			got := 0
			for off := int64(0); off < n; {
				recs, err := p.Read(off, 1<<20)
				if err != nil {
					b.Fatal(err)
				}
				got += len(recs)
				off = recs[len(recs)-1].Offset + 1
			}
			check(b, got)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("poll", func(b *testing.B) {
		c := newConsumer(b)
		defer c.Close()
		for b.Loop() {
			require.NoError(b, c.SeekToBeginning())
			got := 0
			for got < n {
				recs, err := c.Poll(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got += len(recs)
			}
			check(b, got)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("records-iterator", func(b *testing.B) {
		c := newConsumer(b)
		defer c.Close()
		for b.Loop() {
			require.NoError(b, c.SeekToBeginning())
			got := 0
			for _, err := range c.Records(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				if got++; got == n {
					break
				}
			}
			check(b, got)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("read-to-end", func(b *testing.B) {
		c := newConsumer(b)
		defer c.Close()
		for b.Loop() {
			require.NoError(b, c.SeekToBeginning())
			got := 0
			for _, err := range c.ReadToEnd(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				got++
			}
			check(b, got)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("partition-views", func(b *testing.B) {
		for b.Loop() {
			got := 0
			for _, err := range p.Views(0) {
				if err != nil {
					b.Fatal(err)
				}
				got++
			}
			check(b, got)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("consumer-views-to-end", func(b *testing.B) {
		c := newConsumer(b)
		defer c.Close()
		b.ReportAllocs()
		for b.Loop() {
			require.NoError(b, c.SeekToBeginning())
			got := 0
			for _, err := range c.ViewsToEnd(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				got++
			}
			check(b, got)
		}
		reportRecords(b, b.N*n)
	})
}

// BenchmarkConsumerLatency measures end-to-end latency: a producer appends
// one record at a time, 10,000 a second, to a DurabilityOS topic (Kafka's
// acks=1), and a consumer tails the partition with Poll. Each value carries
// its send time in nanoseconds (record timestamps have only milliseconds);
// a record's latency is from just before its Append to just after the Poll
// that returns it. p50-µs and p99-µs are over all records of the run, and
// records/s is the rate achieved.
//
// The producer keeps to a schedule of one record every 100µs, in one of two
// ways. A time.Ticker cannot do it: an idle Go program's timers fire with
// about a millisecond's resolution (the runtime sleeps in epoll_wait, which
// counts milliseconds), so the ticker drops most ticks.
//
//   - sleep: sleep until the next record is due. The rate holds, but in
//     bursts of about ten records each millisecond, and between bursts the
//     consumer's CPU goes idle, so a burst first pays for waking it.
//   - spin: spin until the next record is due, yielding the processor
//     (runtime.Gosched) meanwhile. Records are evenly spaced; the producer
//     keeps one CPU busy, as a loaded service would.
func BenchmarkConsumerLatency(b *testing.B) {
	b.Run("sleep", func(b *testing.B) {
		benchmarkConsumerLatency(b, func(due time.Time) {
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
		})
	})
	b.Run("spin", func(b *testing.B) {
		benchmarkConsumerLatency(b, func(due time.Time) {
			for time.Now().Before(due) {
				runtime.Gosched()
			}
		})
	})
}

func benchmarkConsumerLatency(b *testing.B, waitUntil func(time.Time)) {
	const rate = 10_000
	l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
	defer l.Close()
	c, err := l.NewConsumer(nil)
	require.NoError(b, err)
	defer c.Close()
	require.NoError(b, c.Assign(eventlog.TopicPartition{Topic: "bench", Partition: 0}))
	_, err = c.Position(eventlog.TopicPartition{Topic: "bench", Partition: 0}) // at the end, before the first send
	require.NoError(b, err)

	epoch := time.Now()
	produced := make(chan error, 1)
	b.ResetTimer()
	go func() {
		rec := benchRecords(1)[0]
		start := time.Now()
		for i := range b.N {
			waitUntil(start.Add(time.Duration(i) * time.Second / rate))
			value := slices.Clone(rec.Value)
			binary.BigEndian.PutUint64(value, uint64(time.Since(epoch)))
			if _, err := p.Append(ctx, []eventlog.Record{{Key: rec.Key, Value: value}}, eventlog.AppendOptions{}); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	lat := make([]time.Duration, 0, b.N)
	for len(lat) < b.N {
		recs, err := c.Poll(ctx)
		now := time.Since(epoch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			lat = append(lat, now-time.Duration(binary.BigEndian.Uint64(r.Value)))
		}
	}
	require.NoError(b, <-produced)
	b.StopTimer()
	reportRecords(b, b.N)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
