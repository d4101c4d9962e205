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
// acks=all to an fsync topic, from 1 goroutine and from 8 sharing one
// Producer: the records/s of 8 against 1 shows whether group commit reaches
// the client (the target is at least 4). Each op runs both, 1 sender for
// 128 records and 8 senders for 1024, alternating which goes first, so that
// both see the same disk; it reports both rates and "x-1", their ratio.
// "append" does the same with Partition.Append, for the storage core's own
// ratio.
func BenchmarkProducerSyncAcksAll(b *testing.B) {
	const perSender = 128
	recs := prodBenchRecords(1000)
	for _, client := range []string{"producer", "append"} {
		b.Run(client, func(b *testing.B) {
			l := prodBenchLog(b, eventlog.TopicConfig{})
			defer l.Close()
			p, err := l.NewProducer(nil)
			require.NoError(b, err)
			defer p.Close()
			part, err := l.Partition("bench", 0)
			require.NoError(b, err)
			send := func(i int) error {
				_, err := p.Send(context.Background(), recs[i])
				return err
			}
			if client == "append" {
				send = func(i int) error {
					_, err := part.Append(context.Background(), recs[i:i+1], eventlog.AppendOptions{})
					return err
				}
			}
			run := func(senders int) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for g := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range perSender {
							if err := send((g*perSender + i) % len(recs)); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				return time.Since(start)
			}
			var one, eight time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					one += run(1)
					eight += run(8)
				} else {
					eight += run(8)
					one += run(1)
				}
			}
			rate1 := float64(b.N*perSender) / one.Seconds()
			rate8 := float64(b.N*8*perSender) / eight.Seconds()
			b.ReportMetric(rate1, "records/s-1")
			b.ReportMetric(rate8, "records/s-8")
			b.ReportMetric(rate8/rate1, "x-1")
			b.ReportMetric(0, "ns/op")
		})
	}
}
