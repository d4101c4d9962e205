package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Benchmarks of issue 12: conditional appends and transactions against
// their plain counterparts, and the scans of a partition without
// transactions at both isolation levels. The machine they run on is shared
// and noisy, so each benchmark interleaves subject and baseline operation
// by operation — every iteration does one of each — and reports both
// rates and their ratio; BENCHMARKS.md quotes medians over several runs.

// interleaved accumulates the time of a baseline and a subject measured in
// turns.
type interleaved struct {
	base, subject time.Duration
	turn          int
}

// run runs base and subject once each, timing each, in an order that
// alternates from one call to the next, so that neither always runs in the
// other's wake.
func (iv *interleaved) run(base, subject func()) {
	iv.turn++
	if iv.turn%2 == 0 {
		iv.time(&iv.base, base)
		iv.time(&iv.subject, subject)
	} else {
		iv.time(&iv.subject, subject)
		iv.time(&iv.base, base)
	}
}

// time runs fn and adds its duration to d.
func (*interleaved) time(d *time.Duration, fn func()) {
	start := time.Now()
	fn()
	*d += time.Since(start)
}

// report reports both rates, for units things per operation, and the
// subject's rate over the baseline's.
func (iv *interleaved) report(b *testing.B, units int, base, subject string) {
	n := float64(b.N * units)
	b.ReportMetric(n/iv.base.Seconds(), base+"-records/s")
	b.ReportMetric(n/iv.subject.Seconds(), subject+"-records/s")
	b.ReportMetric(iv.base.Seconds()/iv.subject.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkConditionalAppend appends one record at a time, written to the
// OS (durability=os) or fsynced (durability=fsync), alternately plainly
// and with an IfEndOffset condition that holds. ratio is the conditional
// rate over the plain one.
func BenchmarkConditionalAppend(b *testing.B) {
	recs := benchRecords(1)
	for _, d := range []eventlog.Durability{eventlog.DurabilityOS, eventlog.DurabilityFsync} {
		b.Run("durability="+d.String(), func(b *testing.B) {
			l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: d})
			defer l.Close()
			var iv interleaved
			end := p.LogEndOffset()
			for b.Loop() {
				iv.run(func() {
					off, err := p.Append(ctx, recs, eventlog.AppendOptions{})
					if err != nil {
						b.Fatal(err)
					}
					end = off + 1
				}, func() {
					off, err := p.Append(ctx, recs, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(end)})
					if err != nil {
						b.Fatal(err)
					}
					end = off + 1
				})
			}
			iv.report(b, 1, "plain", "conditional")
		})
	}
}

// BenchmarkTransactionalProduce sends 1000 records through a Producer to
// one partition of an fsync topic, alternately without a transaction
// (ended by a Flush, so that every record is acknowledged, acks all) and
// as one transaction, committed. ratio is the transactional rate over the
// plain one.
func BenchmarkTransactionalProduce(b *testing.B) {
	const n = 1000
	recs := benchRecords(n)
	l, err := eventlog.Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer l.Close()
	for _, topic := range []string{"plain", "txn"} {
		require.NoError(b, l.CreateTopic(topic, eventlog.TopicConfig{}))
	}
	plain, err := l.NewProducer(nil)
	require.NoError(b, err)
	defer plain.Close()
	txn, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "bench"})
	require.NoError(b, err)
	defer txn.Close()
	sendAll := func(p *eventlog.Producer, topic string) {
		for i := range recs {
			r := recs[i]
			r.Topic = topic
			p.SendAsync(ctx, r, func(_ eventlog.RecordMetadata, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
	}
	var iv interleaved
	for b.Loop() {
		iv.run(func() {
			sendAll(plain, "plain")
			if err := plain.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}, func() {
			if err := txn.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
			sendAll(txn, "txn")
			if err := txn.CommitTransaction(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
	iv.report(b, n, "plain", "transactional")
}

// BenchmarkIsolatedScan reads 1 million records of a partition that never
// had a transaction, alternately with a read_uncommitted and a
// read_committed consumer, through Poll and through ViewsToEnd. ratio is
// the read_committed rate over the read_uncommitted one. (Comparing with
// the code before transactions takes two test binaries: BenchmarkConsumerRead,
// whose consumers now read committed by default, run from each.)
func BenchmarkIsolatedScan(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	fillPartition(b, dir, n, 1000)
	l, _ := benchLog(b, dir, eventlog.TopicConfig{})
	defer l.Close()
	bench := eventlog.TopicPartition{Topic: "bench", Partition: 0}
	consumer := func(level eventlog.IsolationLevel) *eventlog.Consumer {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{IsolationLevel: level, MaxPollRecords: 10_000})
		require.NoError(b, err)
		require.NoError(b, c.Assign(bench))
		return c
	}
	uncommitted, committed := consumer(eventlog.ReadUncommitted), consumer(eventlog.ReadCommitted)
	defer uncommitted.Close()
	defer committed.Close()
	poll := func(c *eventlog.Consumer) {
		require.NoError(b, c.SeekToBeginning())
		for got := 0; got < n; {
			recs, err := c.Poll(ctx)
			if err != nil {
				b.Fatal(err)
			}
			got += len(recs)
		}
	}
	views := func(c *eventlog.Consumer) {
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
	for name, scan := range map[string]func(*eventlog.Consumer){"poll": poll, "views-to-end": views} {
		b.Run(name, func(b *testing.B) {
			scan(uncommitted) // warm: map the segments, load their indexes
			var iv interleaved
			for b.Loop() {
				iv.run(func() { scan(uncommitted) }, func() { scan(committed) })
			}
			iv.report(b, n, "read_uncommitted", "read_committed")
		})
	}
}
