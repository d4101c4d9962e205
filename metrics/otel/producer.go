package eventlogotel

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/eventlog/eventlog"
)

// HistogramProducer is an sdkmetric.Producer of a Log's latency
// histograms: eventlog.partition.append.duration and
// eventlog.partition.fsync.duration, in seconds, with cumulative
// temporality and the fixed buckets of eventlog.LatencyBucketBounds. Pass
// it to each reader that should export them, with sdkmetric.WithProducer.
//
// The OpenTelemetry API has no asynchronous histogram, and the Log keeps
// its latencies as bucket counts that the append path adds to. Recording
// them into a synchronous histogram would mean inventing one value per
// counted append (each bucket's midpoint, say), which distorts the sum and
// costs a Record per append; exposing the buckets as counters would lose
// the histogram's meaning for every backend. A Producer is how the SDK
// takes metrics that are aggregated elsewhere (the OpenCensus and
// Prometheus bridges use it): the counts and sums exported are exactly
// those of Log.Stats. Views do not apply to produced metrics.
//
// The start time of the cumulative series is when the producer was made,
// as the SDK takes the creation of an observable counter as its start;
// make it right after Open so that it matches the counts, which start
// there.
type HistogramProducer struct {
	log    *eventlog.Log
	start  time.Time
	bounds []float64
	extra  []attribute.KeyValue // Options.Attributes
	err    error                // why the producer cannot produce
}

var _ sdkmetric.Producer = (*HistogramProducer)(nil)

// NewHistogramProducer returns a producer of l's latency histograms, with
// opts' Attributes on every data point, as Register adds them. Give each
// Log's producer the Attributes given to Register for that Log.
//
// A nil Log or invalid Options make every Produce return the error.
func NewHistogramProducer(l *eventlog.Log, opts *Options) *HistogramProducer {
	extra, err := extraAttributes(opts)
	if err == nil && l == nil {
		err = errors.New("eventlogotel: NewHistogramProducer needs a Log")
	}
	p := &HistogramProducer{log: l, start: time.Now(), extra: extra, err: err}
	for _, b := range eventlog.LatencyBucketBounds() {
		p.bounds = append(p.bounds, b.Seconds())
	}
	return p
}

// Produce returns the histograms of a Log.Stats snapshot, one data point
// per partition of each. It is safe for concurrent use.
func (p *HistogramProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	if p.err != nil {
		return nil, p.err
	}
	st := p.log.Stats()
	now := time.Now()
	appends := make([]metricdata.HistogramDataPoint[float64], 0, len(st.Partitions))
	fsyncs := make([]metricdata.HistogramDataPoint[float64], 0, len(st.Partitions))
	for i := range st.Partitions {
		s := &st.Partitions[i]
		attrs := withExtra(p.extra, topicKey.String(s.Topic), partitionKey.String(strconv.FormatInt(int64(s.Partition), 10)))
		appends = append(appends, p.point(attrs, now, &s.AppendLatency))
		fsyncs = append(fsyncs, p.point(attrs, now, &s.FsyncLatency))
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        "eventlog.partition.append.duration",
			Description: "Time from the partition getting an encoded batch to acknowledging it, fsync wait included; of the appends acknowledged on the write to the OS, one in 8.",
			Unit:        "s",
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: appends},
		}, {
			Name:        "eventlog.partition.fsync.duration",
			Description: "Time the fsyncs of the partition's segment files took.",
			Unit:        "s",
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: fsyncs},
		}},
	}}, nil
}

func (p *HistogramProducer) point(attrs attribute.Set, now time.Time, h *eventlog.LatencyHistogram) metricdata.HistogramDataPoint[float64] {
	counts := make([]uint64, len(h.Counts))
	var n uint64
	for i, c := range h.Counts {
		counts[i] = uint64(c)
		n += uint64(c)
	}
	return metricdata.HistogramDataPoint[float64]{
		Attributes:   attrs,
		StartTime:    p.start,
		Time:         now,
		Count:        n,
		Bounds:       p.bounds,
		BucketCounts: counts,
		Sum:          h.Sum.Seconds(),
	}
}
