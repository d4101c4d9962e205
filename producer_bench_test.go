package eventlog_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Producer benchmarks: records of 16-byte keys and 100-byte values, each
// measured against the storage core in the same run.

// prodBenchRecords returns n records with distinct 16-byte keys and
// 100-byte values.
func prodBenchRecords(n int) []eventlog.Record {
	recs := make([]eventlog.Record, n)
	ts := time.UnixMilli(1_700_000_000_000)
	for i := range recs {
		val := make([]byte, 100)
		for j := range val {
			val[j] = byte('a' + (i+j)%26)
		}
		recs[i] = eventlog.Record{Topic: "bench", Key: fmt.Appendf(nil, "key-%012d", i), Value: val, Timestamp: ts}
	}
	return recs
}

func prodBenchLog(b *testing.B, cfg eventlog.TopicConfig) *eventlog.Log {
	b.Helper()
	l, err := eventlog.Open(b.TempDir(), nil)
	require.NoError(b, err)
	require.NoError(b, l.CreateTopic("bench", cfg))
	return l
}

// BenchmarkProducerAsync sends 1 million records per op with SendAsync,
// acks=1, to one partition of a DurabilityOS topic, and waits for them with
// Flush. Each op also appends the same records with Partition.Append in
// batches of 1000, the storage core's own batched rate, to a second log; the
// two alternate in going first, so that both see the same machine, page
// cache and writeback. It reports both rates and "x-append", the producer's
// rate over the core's (the target is at least 0.8).
//
// The producer runs with Kafka's default batch.size of 16 KiB (about 130 of
// these records) and with 128 KiB (about the core's 1000): the second shows
// the cost of the client layer alone. "append-batch=16KiB" is the core's
// rate with 16 KiB batches, against the same baseline.
func BenchmarkProducerAsync(b *testing.B) {
	const n, batch = 1_000_000, 1000
	recs := prodBenchRecords(batch)
	cfg := eventlog.TopicConfig{Durability: eventlog.DurabilityOS}
	bg := context.Background()
	appendAll := func(b *testing.B, p *eventlog.Partition, size int) {
		for i := 0; i < n; i += size {
			if _, err := p.Append(bg, recs[:min(size, n-i)], eventlog.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, mode := range []struct {
		name       string
		batchBytes int  // 0: default
		callback   bool // or fire and forget
		core       bool // Partition.Append in 16 KiB batches instead of a producer
	}{
		{name: "producer-callback", callback: true},
		{name: "producer-fire-and-forget"},
		{name: "producer-callback-batch=128KiB", batchBytes: 128 << 10, callback: true},
		{name: "append-batch=16KiB", core: true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			baseLog := prodBenchLog(b, cfg)
			defer baseLog.Close()
			base, err := baseLog.Partition("bench", 0)
			require.NoError(b, err)
			l := prodBenchLog(b, cfg)
			defer l.Close()
			part, err := l.Partition("bench", 0)
			require.NoError(b, err)
			p, err := l.NewProducer(&eventlog.ProducerOptions{Acks: eventlog.AcksLeader, BatchBytes: mode.batchBytes})
			require.NoError(b, err)
			defer p.Close()
			var failed atomic.Int64
			fn := func(_ eventlog.RecordMetadata, err error) {
				if err != nil {
					failed.Add(1)
				}
			}
			if !mode.callback {
				fn = nil
			}
			measured := func() {
				if mode.core {
					appendAll(b, part, 16384/125)
					return
				}
				for i := range n {
					p.SendAsync(bg, recs[i%batch], fn)
				}
				if err := p.Flush(bg); err != nil {
					b.Fatal(err)
				}
			}
			var baseTime, time_ time.Duration
			timed := func(f func()) time.Duration {
				start := time.Now()
				f()
				return time.Since(start)
			}
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					baseTime += timed(func() { appendAll(b, base, batch) })
					time_ += timed(measured)
				} else {
					time_ += timed(measured)
					baseTime += timed(func() { appendAll(b, base, batch) })
				}
			}
			require.Zero(b, failed.Load())
			records := float64(b.N * n)
			b.ReportMetric(records/time_.Seconds(), "records/s")
			b.ReportMetric(records/baseTime.Seconds(), "append-records/s")
			b.ReportMetric(baseTime.Seconds()/time_.Seconds(), "x-append")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkProducerSyncAcksAll sends one record at a time with Send and
// acks=all to an fsync topic, from 1 and from 8 goroutines sharing one
// Producer: the records/s of 8 against 1 shows whether group commit reaches
// the client. The "append" runs do the same with Partition.Append, for the
// storage core's own ratio.
func BenchmarkProducerSyncAcksAll(b *testing.B) {
	recs := prodBenchRecords(1000)
	for _, client := range []string{"producer", "append"} {
		for _, senders := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s-senders=%d", client, senders), func(b *testing.B) {
				l := prodBenchLog(b, eventlog.TopicConfig{})
				defer l.Close()
				p, err := l.NewProducer(nil)
				require.NoError(b, err)
				defer p.Close()
				part, err := l.Partition("bench", 0)
				require.NoError(b, err)
				send := func(i int64) error {
					_, err := p.Send(context.Background(), recs[i])
					return err
				}
				if client == "append" {
					send = func(i int64) error {
						_, err := part.Append(context.Background(), recs[i:i+1], eventlog.AppendOptions{})
						return err
					}
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if err := send(i % int64(len(recs))); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
