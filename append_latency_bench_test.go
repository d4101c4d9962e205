package eventlog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
)

// BenchmarkAppendFsyncLatency appends one record at a time, each fsynced
// before the next, and reports the throughput with the median and 99th
// percentile latency of an append. It uses only the public API, so that it
// runs unchanged against an older checkout for a before/after comparison.
func BenchmarkAppendFsyncLatency(b *testing.B) {
	recs := benchRecords(1)
	l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{})
	defer l.Close()
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		start := time.Now()
		if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportRecords(b, b.N)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAppendRollLatency appends batches of 100 records of about 1 KB
// to a DurabilityOS topic with 64 MiB segments, which rolls every 640
// appends or so, and reports the median, the 99.9th percentile and the
// slowest append: the append that rolls waits for the fsync of the old
// segment, so the slowest shows how much of it the OS had left unwritten.
func BenchmarkAppendRollLatency(b *testing.B) {
	recs := make([]eventlog.Record, 100)
	for i := range recs {
		recs[i] = eventlog.Record{Value: make([]byte, 1000)}
	}
	l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: eventlog.DurabilityOS, SegmentBytes: 64 << 20})
	defer l.Close()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportRecords(b, b.N*len(recs))
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}
