package eventlog_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// BenchmarkConsumerReadCompressed reads 1 million records appended in
// compressed batches of 1000 with a Consumer at its default MaxPollRecords
// (500), against Partition.Views of the same data. decompressions/batch
// counts the decompressions of a read and its read-ahead verifier, which
// sometimes both decompress a batch: a chunk that goes on inside the batch
// the last one stopped in should not decompress it again.
func BenchmarkConsumerReadCompressed(b *testing.B) {
	const n, batchRecords = 1_000_000, 1000
	for _, codec := range []eventlog.Compression{eventlog.CompressionZstd, eventlog.CompressionLZ4} {
		b.Run(codec.String(), func(b *testing.B) {
			dir := b.TempDir()
			l, p := benchLog(b, dir, eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
			batch := benchRecords(batchRecords)
			for i := 0; i < n; i += len(batch) {
				_, err := p.Append(ctx, batch, eventlog.AppendOptions{Compression: codec})
				require.NoError(b, err)
			}
			require.NoError(b, l.Close())
			l, p = benchLog(b, dir, eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
			defer l.Close()
			var decompressions atomic.Int64
			eventlog.SetDecompressHook(l, func() { decompressions.Add(1) })
			bench := eventlog.TopicPartition{Topic: "bench", Partition: 0}
			newConsumer := func(b *testing.B) *eventlog.Consumer {
				c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: -1})
				require.NoError(b, err)
				require.NoError(b, c.Assign(bench))
				return c
			}
			run := func(name string, read func(b *testing.B, c *eventlog.Consumer) int) {
				b.Run(name, func(b *testing.B) {
					var c *eventlog.Consumer
					if name != "partition-views" {
						c = newConsumer(b)
						defer c.Close()
					}
					decompressions.Store(0)
					for b.Loop() {
						if c != nil {
							require.NoError(b, c.SeekToBeginning())
						}
						if got := read(b, c); got != n {
							b.Fatalf("read %d records, want %d", got, n)
						}
					}
					reportRecords(b, b.N*n)
					b.ReportMetric(float64(decompressions.Load())/float64(b.N*n/batchRecords), "decompressions/batch")
				})
			}
			run("partition-views", func(b *testing.B, _ *eventlog.Consumer) (got int) {
				for _, err := range p.Views(0) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				return got
			})
			run("views-to-end", func(b *testing.B, c *eventlog.Consumer) (got int) {
				for _, err := range c.ViewsToEnd(ctx) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				return got
			})
			run("read-to-end", func(b *testing.B, c *eventlog.Consumer) (got int) {
				for _, err := range c.ReadToEnd(ctx) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				return got
			})
			run("records", func(b *testing.B, c *eventlog.Consumer) (got int) {
				for _, err := range c.Records(ctx) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				return got
			})
			run("poll", func(b *testing.B, c *eventlog.Consumer) (got int) {
				for got < n {
					recs, err := c.Poll(ctx)
					if err != nil {
						b.Fatal(err)
					}
					got += len(recs)
				}
				return got
			})
		})
	}
}
