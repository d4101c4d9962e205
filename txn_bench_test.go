package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Benchmarks of issue 12: conditional appends and transactions against
// their plain counterparts, measured in the same run, and the scans of a
// partition without transactions at both isolation levels. BENCHMARKS.md
// compares them.

// BenchmarkConditionalAppend appends one record at a time, written to the
// OS (durability os) or fsynced (durability fsync), plainly and with an
// IfEndOffset condition that holds; run with -count, the two alternate.
func BenchmarkConditionalAppend(b *testing.B) {
	recs := benchRecords(1)
	for _, d := range []eventlog.Durability{eventlog.DurabilityOS, eventlog.DurabilityFsync} {
		for _, conditional := range []bool{false, true} {
			name := "durability=" + d.String() + "/plain"
			if conditional {
				name = "durability=" + d.String() + "/conditional"
			}
			b.Run(name, func(b *testing.B) {
				l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: d})
				defer l.Close()
				end := p.LogEndOffset()
				for b.Loop() {
					var opts eventlog.AppendOptions
					if conditional {
						opts.Condition = eventlog.IfEndOffset(end)
					}
					off, err := p.Append(ctx, recs, opts)
					if err != nil {
						b.Fatal(err)
					}
					end = off + 1
				}
				reportRecords(b, b.N)
			})
		}
	}
}

// BenchmarkTransactionalProduce sends 1000 records per operation through a
// Producer to one partition of an fsync topic: without transactions (each
// operation ends with a Flush, so that every record is acknowledged, acks
// all), and as one transaction committed per operation.
func BenchmarkTransactionalProduce(b *testing.B) {
	const n = 1000
	recs := benchRecords(n)
	for _, txn := range []bool{false, true} {
		name := "plain"
		if txn {
			name = "transactional"
		}
		b.Run(name, func(b *testing.B) {
			l, _ := benchLog(b, b.TempDir(), eventlog.TopicConfig{})
			defer l.Close()
			opts := &eventlog.ProducerOptions{}
			if txn {
				opts.TransactionalID = "bench"
			}
			prod, err := l.NewProducer(opts)
			require.NoError(b, err)
			defer prod.Close()
			for b.Loop() {
				if txn {
					if err := prod.BeginTransaction(); err != nil {
						b.Fatal(err)
					}
				}
				for i := range recs {
					r := recs[i]
					r.Topic = "bench"
					prod.SendAsync(ctx, r, func(_ eventlog.RecordMetadata, err error) {
						if err != nil {
							b.Error(err)
						}
					})
				}
				var err error
				if txn {
					err = prod.CommitTransaction(ctx)
				} else {
					err = prod.Flush(ctx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, b.N*n)
		})
	}
}

// BenchmarkIsolatedScan reads 1 million records of a partition that never
// had a transaction with a consumer at each isolation level, through Poll
// and through views: read_committed must cost what read_uncommitted does.
// (BenchmarkConsumerRead, whose consumers read committed by default,
// compares with the code before transactions.)
func BenchmarkIsolatedScan(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	fillPartition(b, dir, n, 1000)
	l, _ := benchLog(b, dir, eventlog.TopicConfig{})
	defer l.Close()
	bench := eventlog.TopicPartition{Topic: "bench", Partition: 0}
	for _, level := range []eventlog.IsolationLevel{eventlog.ReadUncommitted, eventlog.ReadCommitted} {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{IsolationLevel: level, MaxPollRecords: 10_000})
		require.NoError(b, err)
		defer c.Close()
		require.NoError(b, c.Assign(bench))
		b.Run(level.String()+"/poll", func(b *testing.B) {
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
			}
			reportRecords(b, b.N*n)
		})
		b.Run(level.String()+"/views-to-end", func(b *testing.B) {
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
				if got != n {
					b.Fatalf("read %d records, want %d", got, n)
				}
			}
			reportRecords(b, b.N*n)
		})
	}
}
