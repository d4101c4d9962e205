package eventlog_test

import (
	"testing"

	"github.com/eventlog/eventlog"
)

// BenchmarkAppendOverhead measures the append path's per-call cost where
// bookkeeping on it (the counters and latency histograms Log.Stats
// reports) would show most: one record per Append with DurabilityOS, so
// that no fsync hides it, and batches of 1000 records for comparison. It
// uses only the public API, so that the file runs unchanged against an
// older checkout for a before/after comparison (BENCHMARKS.md, issue 10).
func BenchmarkAppendOverhead(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		recs := benchRecords(batch)
		name := "records=1"
		if batch > 1 {
			name = "records=1000"
		}
		b.Run(name, func(b *testing.B) {
			l, p := benchLog(b, b.TempDir(), eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
			defer l.Close()
			b.SetBytes(int64(batch * (benchKeySize + benchValueSize)))
			for b.Loop() {
				if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, b.N*batch)
		})
	}
}
