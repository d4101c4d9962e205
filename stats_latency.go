package eventlog

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// LatencyHistogram is a distribution of durations — how long appends or
// fsyncs took — in fixed buckets whose upper bounds LatencyBucketBounds
// returns: 1µs doubling up to about 16.8s, and one more bucket for what
// took longer. The buckets are exponential so that one histogram serves a
// write to the OS (microseconds) as well as an fsync (milliseconds), and
// fixed so that the append path only counts.
type LatencyHistogram struct {
	// Counts has one count per bucket: Counts[i] counts the durations d
	// with bounds[i-1] < d <= bounds[i], where bounds is
	// LatencyBucketBounds(); the last element counts those above the
	// largest bound. Prometheus' le buckets are the running sums.
	Counts []int64
	// Sum is the total of the durations counted.
	Sum time.Duration
}

// Count returns how many durations h counts.
func (h LatencyHistogram) Count() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// latencyBounds is the number of bucket bounds: 1µs·2^i for i below it.
const latencyBounds = 25

// LatencyBucketBounds returns the upper bounds of the buckets of a
// LatencyHistogram, inclusive and ascending: 1µs, 2µs, 4µs, … 2^24µs
// (16.777216s). A LatencyHistogram has one bucket more, for longer
// durations. The slice is the caller's.
func LatencyBucketBounds() []time.Duration {
	b := make([]time.Duration, latencyBounds)
	for i := range b {
		b[i] = time.Microsecond << i
	}
	return b
}

// latencyHistogram is the side of a LatencyHistogram that the append and
// fsync paths write to: one atomic add for the bucket, one for the sum.
type latencyHistogram struct {
	counts [latencyBounds + 1]atomic.Int64
	sum    atomic.Int64 // nanoseconds
}

// latencyBucket returns the index of the bucket that counts d: the
// smallest i with d <= 1µs·2^i, or latencyBounds when d is larger than
// every bound. Since 1µs·2^i is a multiple of 1µs, d <= 1µs·2^i exactly
// when (d-1ns)/1µs, rounded down, is below 2^i: the bit length of that
// quotient.
func latencyBucket(d time.Duration) int {
	if d <= time.Microsecond {
		return 0
	}
	return min(bits.Len64(uint64(d-1)/uint64(time.Microsecond)), latencyBounds)
}

func (h *latencyHistogram) observe(d time.Duration) {
	d = max(d, 0)
	h.counts[latencyBucket(d)].Add(1)
	h.sum.Add(int64(d))
}

// since counts the time elapsed since start, a reading of monotonicNow.
func (h *latencyHistogram) since(start time.Duration) {
	h.observe(monotonicNow() - start)
}

// snapshot copies the histogram. Each count is exact; a duration observed
// while the copy is made may be in the counts and not yet in the sum.
func (h *latencyHistogram) snapshot() LatencyHistogram {
	s := LatencyHistogram{Counts: make([]int64, len(h.counts)), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

// monotonicEpoch anchors the readings of monotonicNow. It is set once, when
// the package is initialized, and never changes.
var monotonicEpoch = time.Now()

// monotonicNow reads the monotonic clock, for measuring how long something
// took: time.Since of a time with a monotonic reading reads that clock
// alone, half the cost of time.Now, which also reads the wall clock.
// Latencies use it rather than Options.Now, which tells the time of day and
// may be a test's fake clock.
func monotonicNow() time.Duration { return time.Since(monotonicEpoch) }
