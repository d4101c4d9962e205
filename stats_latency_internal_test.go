package eventlog

import "testing"

// BenchmarkAppendBookkeeping measures, alone, what the statistics add to
// an append that is timed: two readings of the monotonic clock, the
// appended counters and the latency histogram. An append acknowledged on
// the write to the OS is timed only one time in eight; the others pay the
// counters alone. BENCHMARKS.md (issue 10) sets this against the cost of
// an append.
func BenchmarkAppendBookkeeping(b *testing.B) {
	var m partitionMetrics
	for b.Loop() {
		start := monotonicNow()
		m.appended(1, 120)
		m.appendLatency.since(start)
	}
	if m.appendedRecords.Load() != int64(b.N) {
		b.Fatalf("counted %d appends of %d", m.appendedRecords.Load(), b.N)
	}
}
