package eventlogotel_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/eventlog/eventlog"
	eventlogotel "github.com/eventlog/eventlog/metrics/otel"
)

var ctx = context.Background()

// setup registers l's instruments and histogram producer with a meter
// provider read by a manual reader, the SDK's in-memory reader.
func setup(t *testing.T, l *eventlog.Log) (*sdkmetric.ManualReader, func()) {
	t.Helper()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(eventlogotel.NewHistogramProducer(l, nil)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	reg, err := eventlogotel.Register(l, mp, nil)
	require.NoError(t, err)
	return reader, func() { require.NoError(t, reg.Unregister()) }
}

// collect reads every metric, by name.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, eventlogotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			_, dup := out[m.Name]
			require.False(t, dup, "%s reported twice", m.Name)
			out[m.Name] = m
		}
	}
	return out
}

// attrs builds an attribute set from key, value pairs.
func attrs(kv ...string) attribute.Set {
	var list []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		list = append(list, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(list...)
}

func part(topic string, id int) attribute.Set {
	return attrs("messaging.destination.name", topic, "messaging.destination.partition.id", fmt.Sprint(id))
}

// point returns the value of the data point of a sum or gauge with the
// given attributes, checking the metric's kind and unit.
func point(t *testing.T, ms map[string]metricdata.Metrics, name, kind, unit string, set attribute.Set) float64 {
	t.Helper()
	m, ok := ms[name]
	require.True(t, ok, "no metric %s", name)
	assert.Equal(t, unit, m.Unit, name)
	find := func(n int, at func(int) (attribute.Set, float64)) float64 {
		for i := range n {
			if s, v := at(i); s.Equals(&set) {
				return v
			}
		}
		t.Fatalf("%s has no point %v", name, set.ToSlice())
		return 0
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		require.Equal(t, kind, map[bool]string{true: "counter", false: "updowncounter"}[d.IsMonotonic], name)
		assert.Equal(t, metricdata.CumulativeTemporality, d.Temporality, name)
		return find(len(d.DataPoints), func(i int) (attribute.Set, float64) {
			return d.DataPoints[i].Attributes, float64(d.DataPoints[i].Value)
		})
	case metricdata.Gauge[int64]:
		require.Equal(t, kind, "gauge", name)
		return find(len(d.DataPoints), func(i int) (attribute.Set, float64) {
			return d.DataPoints[i].Attributes, float64(d.DataPoints[i].Value)
		})
	case metricdata.Gauge[float64]:
		require.Equal(t, kind, "gauge", name)
		return find(len(d.DataPoints), func(i int) (attribute.Set, float64) { return d.DataPoints[i].Attributes, d.DataPoints[i].Value })
	}
	t.Fatalf("%s is a %T", name, m.Data)
	return 0
}

// histogram returns the data point of a latency histogram.
func histogram(t *testing.T, ms map[string]metricdata.Metrics, name string, set attribute.Set) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m, ok := ms[name]
	require.True(t, ok, "no metric %s", name)
	assert.Equal(t, "s", m.Unit)
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	assert.Equal(t, metricdata.CumulativeTemporality, h.Temporality)
	for _, p := range h.DataPoints {
		if p.Attributes.Equals(&set) {
			return p
		}
	}
	t.Fatalf("%s has no point %v", name, set.ToSlice())
	return metricdata.HistogramDataPoint[float64]{}
}

func appendN(t *testing.T, p *eventlog.Partition, n int) {
	t.Helper()
	recs := make([]eventlog.Record, n)
	for i := range recs {
		recs[i] = eventlog.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("value")}
	}
	_, err := p.Append(ctx, recs, eventlog.AppendOptions{})
	require.NoError(t, err)
}

func partition(t *testing.T, l *eventlog.Log, topic string, id int32) *eventlog.Partition {
	t.Helper()
	p, err := l.Partition(topic, id)
	require.NoError(t, err)
	return p
}

func TestMetricsMatchLog(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, err)
	defer l.Close()
	reader, unregister := setup(t, l)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("cache", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, Durability: eventlog.DurabilityOS}))
	for range 4 {
		appendN(t, partition(t, l, "orders", 0), 3)
	}
	cache := partition(t, l, "cache", 0)
	for i := range 150 {
		_, err := cache.Append(ctx, []eventlog.Record{{Key: fmt.Appendf(nil, "key%d", i%5), Value: []byte("v")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(ctx, "cache"))
	member, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "billing", FetchMaxWait: time.Millisecond})
	require.NoError(t, err)
	defer member.Close()
	require.NoError(t, member.Subscribe("orders"))
	for i := 0; len(member.Assignment()) < 2; i++ {
		require.Less(t, i, 100, "the member never got its partitions")
		_, err := member.Poll(ctx)
		require.NoError(t, err)
	}
	require.NoError(t, member.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "orders", Partition: 0}: {Offset: 5}}))

	ms := collect(t, reader)
	st := l.Stats()
	for _, s := range st.Partitions {
		p := partition(t, l, s.Topic, s.Partition)
		set := part(s.Topic, int(s.Partition))
		assert.Equal(t, float64(p.HighWatermark()), point(t, ms, "eventlog.partition.high_watermark", "gauge", "{offset}", set))
		assert.Equal(t, float64(p.LogStartOffset()), point(t, ms, "eventlog.partition.log_start_offset", "gauge", "{offset}", set))
		assert.Equal(t, float64(p.LogEndOffset()), point(t, ms, "eventlog.partition.log_end_offset", "gauge", "{offset}", set))
		assert.Equal(t, float64(s.Segments), point(t, ms, "eventlog.partition.segments", "updowncounter", "{segment}", set))
		assert.Equal(t, float64(s.Bytes), point(t, ms, "eventlog.partition.size", "updowncounter", "By", set))
		assert.Equal(t, float64(s.AppendedRecords), point(t, ms, "eventlog.partition.appended.records", "counter", "{record}", set))
		assert.Equal(t, float64(s.AppendedBytes), point(t, ms, "eventlog.partition.appended.size", "counter", "By", set))
		for name, want := range map[string]eventlog.LatencyHistogram{
			"eventlog.partition.append.duration": s.AppendLatency,
			"eventlog.partition.fsync.duration":  s.FsyncLatency,
		} {
			h := histogram(t, ms, name, set)
			assert.Equal(t, uint64(want.Count()), h.Count, "%s %v", name, set.ToSlice())
			assert.InDelta(t, want.Sum.Seconds(), h.Sum, 1e-9)
			require.Len(t, h.BucketCounts, len(want.Counts))
			for i, c := range want.Counts {
				assert.Equal(t, uint64(c), h.BucketCounts[i])
			}
		}
	}
	o0 := part("orders", 0)
	assert.Equal(t, 12.0, point(t, ms, "eventlog.partition.appended.records", "counter", "{record}", o0))
	assert.Equal(t, 12.0, point(t, ms, "eventlog.partition.high_watermark", "gauge", "{offset}", o0))
	assert.Equal(t, point(t, ms, "eventlog.partition.size", "updowncounter", "By", o0), point(t, ms, "eventlog.partition.appended.size", "counter", "By", o0))
	h := histogram(t, ms, "eventlog.partition.append.duration", o0)
	assert.Equal(t, uint64(4), h.Count)
	assert.Positive(t, h.Sum)
	assert.Equal(t, uint64(4), histogram(t, ms, "eventlog.partition.fsync.duration", o0).Count, "one fsync per append")
	assert.Zero(t, histogram(t, ms, "eventlog.partition.append.duration", part("orders", 1)).Count)

	// Compaction: series for the compacted topic only.
	var kept float64
	for _, err := range cache.Views(0) {
		require.NoError(t, err)
		kept++
	}
	c0 := part("cache", 0)
	assert.Equal(t, 1.0, point(t, ms, "eventlog.partition.cleaner.runs", "counter", "{run}", c0))
	assert.Equal(t, 150-kept, point(t, ms, "eventlog.partition.cleaner.removed", "counter", "{record}", c0))
	var cacheStats eventlog.PartitionStats
	for _, s := range st.Partitions {
		if s.Topic == "cache" {
			cacheStats = s
		}
	}
	cs := cacheStats.Cleaner
	readSet := attrs("messaging.destination.name", "cache", "messaging.destination.partition.id", "0", "disk.io.direction", "read")
	writeSet := attrs("messaging.destination.name", "cache", "messaging.destination.partition.id", "0", "disk.io.direction", "write")
	assert.Equal(t, float64(cs.BytesRead), point(t, ms, "eventlog.partition.cleaner.io", "counter", "By", readSet))
	assert.Equal(t, float64(cs.BytesWritten), point(t, ms, "eventlog.partition.cleaner.io", "counter", "By", writeSet))
	assert.Positive(t, cs.BytesWritten)
	assert.Equal(t, cacheStats.DirtyRatio, point(t, ms, "eventlog.partition.dirty_ratio", "gauge", "1", c0))
	assert.Equal(t, float64(st.Cleaner.MapBytes), point(t, ms, "eventlog.cleaner.map.max_size", "gauge", "By", attribute.NewSet()))
	for _, p := range ms["eventlog.partition.cleaner.runs"].Data.(metricdata.Sum[int64]).DataPoints {
		topic, _ := p.Attributes.Value("messaging.destination.name")
		assert.NotEqual(t, "orders", topic.AsString(), "no cleaner series for a topic that is not compacted")
	}

	// Groups.
	g := attrs("messaging.consumer.group.name", "billing")
	d, err := l.DescribeGroup("billing")
	require.NoError(t, err)
	assert.Equal(t, 1.0, point(t, ms, "eventlog.group.members", "updowncounter", "{member}", g))
	assert.Equal(t, float64(d.Generation), point(t, ms, "eventlog.group.generation", "gauge", "{generation}", g))
	assert.Equal(t, 1.0, point(t, ms, "eventlog.group.rebalances", "counter", "{rebalance}", g))
	for _, s := range []string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable"} {
		want := 0.0
		if s == string(d.State) {
			want = 1
		}
		assert.Equal(t, want, point(t, ms, "eventlog.group.state", "gauge", "1", attrs("messaging.consumer.group.name", "billing", "eventlog.group.state", s)), s)
	}
	go0 := attrs("messaging.consumer.group.name", "billing", "messaging.destination.name", "orders", "messaging.destination.partition.id", "0")
	assert.Equal(t, 5.0, point(t, ms, "eventlog.group.committed_offset", "gauge", "{offset}", go0))
	assert.Equal(t, 7.0, point(t, ms, "eventlog.group.lag", "gauge", "{record}", go0))

	// Recovery of a new directory: nothing to recover, as after a clean
	// shutdown.
	none := attribute.NewSet()
	assert.Equal(t, 1.0, point(t, ms, "eventlog.recovery.clean_shutdown", "gauge", "1", none))
	assert.Equal(t, float64(st.Recovery.SegmentsScanned), point(t, ms, "eventlog.recovery.scanned_segments", "counter", "{segment}", none))
	assert.Equal(t, float64(st.Recovery.BytesTruncated), point(t, ms, "eventlog.recovery.truncated_size", "counter", "By", none))
	assert.Equal(t, float64(st.Recovery.IndexesRebuilt), point(t, ms, "eventlog.recovery.rebuilt_indexes", "counter", "{index}", none))
	assert.Equal(t, st.Recovery.Duration.Seconds(), point(t, ms, "eventlog.recovery.duration", "gauge", "s", none))

	// After Unregister, only the producer's histograms remain.
	unregister()
	ms = collect(t, reader)
	assert.NotContains(t, ms, "eventlog.partition.high_watermark")
	assert.NotContains(t, ms, "eventlog.group.lag")
	assert.Len(t, ms["eventlog.partition.append.duration"].Data.(metricdata.Histogram[float64]).DataPoints, len(st.Partitions))
}

// Latencies of known length, from fsyncs of MemFS that take exact
// durations of a synctest bubble's fake clock, land in the buckets and sum
// that Log.Stats reports, with the producer's start time.
func TestHistogramProducerExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		delay := time.Duration(0)
		fsys := eventlog.NewMemFS()
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSync && strings.HasSuffix(name, ".log") {
				mu.Lock()
				d := delay
				mu.Unlock()
				time.Sleep(d)
			}
			return nil
		})
		l, err := eventlog.Open("/log", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		start := time.Now()
		reader, unregister := setup(t, l)
		defer unregister()
		p := partition(t, l, "t", 0)
		for _, d := range []time.Duration{3 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 20 * time.Second} {
			mu.Lock()
			delay = d
			mu.Unlock()
			appendN(t, p, 1)
		}

		ms := collect(t, reader)
		bounds := eventlog.LatencyBucketBounds()
		want := make([]uint64, len(bounds)+1)
		want[12], want[13], want[25] = 2, 1, 1 // ≤4.096ms, ≤8.192ms, above 16.78s
		for _, name := range []string{"eventlog.partition.append.duration", "eventlog.partition.fsync.duration"} {
			h := histogram(t, ms, name, part("t", 0))
			assert.Equal(t, uint64(4), h.Count, name)
			assert.InDelta(t, 20.011, h.Sum, 1e-9, name)
			assert.Equal(t, want, h.BucketCounts, name)
			require.Len(t, h.Bounds, len(bounds))
			for i, b := range bounds {
				assert.Equal(t, b.Seconds(), h.Bounds[i])
			}
			assert.Equal(t, start, h.StartTime, "the producer's creation")
			assert.Equal(t, 20011*time.Millisecond, h.Time.Sub(h.StartTime), "the collection, after the fsyncs")
		}
	})
}

func TestRegisterRefusesNil(t *testing.T) {
	_, err := eventlogotel.Register(nil, sdkmetric.NewMeterProvider(), nil)
	assert.ErrorContains(t, err, "needs a Log")
}

// TestTwoLogsOneMeterProvider exports two Logs with a topic of the same
// name through one MeterProvider: Options.Attributes keep their series
// apart, and a registration whose series would merge with another's is
// refused until that one is unregistered.
func TestTwoLogsOneMeterProvider(t *testing.T) {
	var logs []*eventlog.Log
	for i := range 2 {
		l, err := eventlog.Open(t.TempDir(), nil)
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		appendN(t, partition(t, l, "t", 0), i+1)
		logs = append(logs, l)
	}
	names := []string{"a", "b"}
	var producers []sdkmetric.ManualReaderOption
	for i, l := range logs {
		producers = append(producers, sdkmetric.WithProducer(eventlogotel.NewHistogramProducer(l, &eventlogotel.Options{
			Attributes: []attribute.KeyValue{attribute.String("log", names[i])},
		})))
	}
	reader := sdkmetric.NewManualReader(producers...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	for i, l := range logs {
		reg, err := eventlogotel.Register(l, mp, &eventlogotel.Options{Attributes: []attribute.KeyValue{attribute.String("log", names[i])}})
		require.NoError(t, err)
		defer func() { assert.NoError(t, reg.Unregister()) }()
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	ms := map[string]metricdata.Metrics{}
	var appends []metricdata.HistogramDataPoint[float64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			ms[m.Name] = m
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "eventlog.partition.append.duration" {
				appends = append(appends, h.DataPoints...)
			}
		}
	}
	for i, name := range names {
		set := attrs("log", name, "messaging.destination.name", "t", "messaging.destination.partition.id", "0")
		assert.Equal(t, float64(i+1), point(t, ms, "eventlog.partition.appended.records", "counter", "{record}", set), "log %s", name)
		assert.Equal(t, float64(i+1), point(t, ms, "eventlog.partition.high_watermark", "gauge", "{offset}", set), "log %s", name)
		assert.Positive(t, point(t, ms, "eventlog.recovery.duration", "gauge", "s", attrs("log", name)), "log %s", name)
		found := false
		for _, p := range appends {
			found = found || p.Attributes.Equals(&set)
		}
		assert.True(t, found, "log %s has its append latency histogram", name)
	}

	_, err := eventlogotel.Register(logs[0], mp, &eventlogotel.Options{Attributes: []attribute.KeyValue{attribute.String("log", "b")}})
	require.ErrorIs(t, err, eventlogotel.ErrAlreadyRegistered, "its series would be log b's")
	assert.ErrorContains(t, err, `give each Log distinct Options.Attributes`)

	other := sdkmetric.NewMeterProvider()
	first, err := eventlogotel.Register(logs[0], other, nil)
	require.NoError(t, err)
	_, err = eventlogotel.Register(logs[1], other, nil)
	require.ErrorIs(t, err, eventlogotel.ErrAlreadyRegistered, "two Logs without Attributes")
	require.NoError(t, first.Unregister())
	second, err := eventlogotel.Register(logs[1], other, nil)
	require.NoError(t, err, "free again once the first is unregistered")
	require.NoError(t, second.Unregister())
}

// TestOptionsErrors checks that Attributes that would clash with the
// metrics' own are refused, by Register and by the histogram producer.
func TestOptionsErrors(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	for _, tc := range []struct {
		attrs []attribute.KeyValue
		want  string
	}{
		{[]attribute.KeyValue{attribute.String("messaging.destination.name", "x")}, `key "messaging.destination.name", an attribute of the metrics themselves`},
		{[]attribute.KeyValue{attribute.String("", "x")}, "invalid attribute"},
		{[]attribute.KeyValue{attribute.String("log", "x"), attribute.String("log", "y")}, `key "log" twice`},
	} {
		opts := &eventlogotel.Options{Attributes: tc.attrs}
		_, err := eventlogotel.Register(l, sdkmetric.NewMeterProvider(), opts)
		assert.ErrorContains(t, err, tc.want)
		_, err = eventlogotel.NewHistogramProducer(l, opts).Produce(ctx)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err = eventlogotel.NewHistogramProducer(nil, nil).Produce(ctx)
	assert.ErrorContains(t, err, "needs a Log", "an error, not a panic")
}
