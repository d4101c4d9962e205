package eventlogprom_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	eventlogprom "github.com/eventlog/eventlog/metrics/prometheus"
)

var ctx = context.Background()

// scrape serves reg over HTTP, fetches it as Prometheus would and parses
// the exposition.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// series finds the series of family name whose labels include want; ok is
// false if there is none.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) (m *dto.Metric, ok bool) {
	f := families[name]
	if f == nil {
		return nil, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if match {
			return m, true
		}
	}
	return nil, false
}

// value returns the value of a counter or gauge series, failing the test
// when it is missing.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	m, ok := series(families, name, want)
	require.True(t, ok, "no series %s%v", name, want)
	switch families[name].GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s is a %s", name, families[name].GetType())
	return 0
}

func part(topic string, id int32) []string {
	return []string{"topic", topic, "partition", strconv.Itoa(int(id))}
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

// testLog is a log with known contents: topic orders (3 partitions,
// fsync) with 5 appends of 2 records to partition 0 and one of 7 to
// partition 1; topic cache (compacted) with 200 records of 10 keys,
// compacted once; group billing, one member of orders, committed 4 and 7;
// group audit, no members, committed 1 on orders/0.
func testLog(t *testing.T) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(t.TempDir(), &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 3}))
	require.NoError(t, l.CreateTopic("cache", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, Durability: eventlog.DurabilityOS}))
	o0, err := l.Partition("orders", 0)
	require.NoError(t, err)
	o1, err := l.Partition("orders", 1)
	require.NoError(t, err)
	for range 5 {
		appendN(t, o0, 2)
	}
	appendN(t, o1, 7)
	cache, err := l.Partition("cache", 0)
	require.NoError(t, err)
	for i := range 200 {
		_, err := cache.Append(ctx, []eventlog.Record{{Key: fmt.Appendf(nil, "key%d", i%10), Value: fmt.Appendf(nil, "v%d", i)}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(ctx, "cache"))

	member, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "billing", FetchMaxWait: time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = member.Close() })
	require.NoError(t, member.Subscribe("orders"))
	for i := 0; len(member.Assignment()) < 3; i++ {
		require.Less(t, i, 100, "the member never got its partitions")
		_, err := member.Poll(ctx)
		require.NoError(t, err)
	}
	require.NoError(t, member.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		{Topic: "orders", Partition: 0}: {Offset: 4}, {Topic: "orders", Partition: 1}: {Offset: 7},
	}))
	audit, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "audit"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = audit.Close() })
	require.NoError(t, audit.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "orders", Partition: 0}: {Offset: 1}}))
	return l
}

func TestScrapeMatchesLog(t *testing.T) {
	l := testLog(t)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(eventlogprom.NewCollector(l, nil)))
	families := scrape(t, reg)
	st := l.Stats() // nothing runs meanwhile: it is the state scraped

	// Every partition's offsets and sizes, against the Partition API.
	require.Len(t, families["eventlog_partition_high_watermark"].GetMetric(), len(st.Partitions))
	for _, s := range st.Partitions {
		p, err := l.Partition(s.Topic, s.Partition)
		require.NoError(t, err)
		lv := part(s.Topic, s.Partition)
		assert.Equal(t, float64(p.HighWatermark()), value(t, families, "eventlog_partition_high_watermark", lv...), "%v", lv)
		assert.Equal(t, float64(p.LogStartOffset()), value(t, families, "eventlog_partition_log_start_offset", lv...), "%v", lv)
		assert.Equal(t, float64(p.LogEndOffset()), value(t, families, "eventlog_partition_log_end_offset", lv...), "%v", lv)
		assert.Equal(t, float64(s.Segments), value(t, families, "eventlog_partition_segments", lv...), "%v", lv)
		assert.Equal(t, float64(s.Bytes), value(t, families, "eventlog_partition_size_bytes", lv...), "%v", lv)
		assert.Equal(t, float64(s.AppendedRecords), value(t, families, "eventlog_partition_appended_records_total", lv...), "%v", lv)
	}
	for id, n := range []float64{10, 7, 0} {
		lv := part("orders", int32(id))
		assert.Equal(t, n, value(t, families, "eventlog_partition_appended_records_total", lv...))
		assert.Equal(t, n, value(t, families, "eventlog_partition_high_watermark", lv...))
		assert.Equal(t, value(t, families, "eventlog_partition_size_bytes", lv...), value(t, families, "eventlog_partition_appended_bytes_total", lv...),
			"nothing was removed from orders: every byte was appended since Open")
		_, ok := series(families, "eventlog_partition_cleaner_runs_total", map[string]string{"topic": "orders"})
		assert.False(t, ok, "no cleaner series for a topic that is not compacted")
	}
	assert.Equal(t, 200.0, value(t, families, "eventlog_partition_appended_records_total", part("cache", 0)...))
	assert.Greater(t, value(t, families, "eventlog_partition_appended_bytes_total", part("cache", 0)...), value(t, families, "eventlog_partition_size_bytes", part("cache", 0)...),
		"compaction removed bytes")

	// Latency histograms: one observation per append, one fsync per
	// append to the fsync topic, buckets as Stats counts them.
	bounds := eventlog.LatencyBucketBounds()
	o0 := st.Partitions[slicesIndex(st.Partitions, "orders", 0)]
	for name, want := range map[string]eventlog.LatencyHistogram{
		"eventlog_partition_append_duration_seconds": o0.AppendLatency,
		"eventlog_partition_fsync_duration_seconds":  o0.FsyncLatency,
	} {
		require.Equal(t, dto.MetricType_HISTOGRAM, families[name].GetType(), name)
		m, ok := series(families, name, map[string]string{"topic": "orders", "partition": "0"})
		require.True(t, ok, name)
		h := m.GetHistogram()
		assert.Equal(t, uint64(5), h.GetSampleCount(), name)
		assert.InDelta(t, want.Sum.Seconds(), h.GetSampleSum(), 1e-9, name)
		assert.Positive(t, h.GetSampleSum(), name)
		require.Len(t, h.GetBucket(), len(bounds)+1, name)
		var cumulative uint64
		for i, b := range h.GetBucket() {
			cumulative += uint64(want.Counts[i])
			if i < len(bounds) {
				assert.Equal(t, bounds[i].Seconds(), b.GetUpperBound(), name)
			} else {
				assert.True(t, math.IsInf(b.GetUpperBound(), 1), name)
			}
			assert.Equal(t, cumulative, b.GetCumulativeCount(), "%s le=%g", name, b.GetUpperBound())
		}
		assert.Equal(t, uint64(5), cumulative, name)
	}
	m, ok := series(families, "eventlog_partition_fsync_duration_seconds", map[string]string{"topic": "cache", "partition": "0"})
	require.True(t, ok)
	assert.Equal(t, uint64(st.Partitions[slicesIndex(st.Partitions, "cache", 0)].FsyncLatency.Count()), m.GetHistogram().GetSampleCount())
	assert.Positive(t, m.GetHistogram().GetSampleCount(), "a DurabilityOS topic fsyncs the segments it closes")

	// Compaction.
	cache, err := l.Partition("cache", 0)
	require.NoError(t, err)
	var kept float64
	for _, err := range cache.Views(0) {
		require.NoError(t, err)
		kept++
	}
	cl := part("cache", 0)
	assert.Equal(t, 1.0, value(t, families, "eventlog_partition_cleaner_runs_total", cl...))
	assert.Equal(t, 200-kept, value(t, families, "eventlog_partition_cleaner_removed_records_total", cl...))
	assert.Positive(t, value(t, families, "eventlog_partition_cleaner_read_bytes_total", cl...))
	assert.Positive(t, value(t, families, "eventlog_partition_cleaner_written_bytes_total", cl...))
	assert.Equal(t, st.Partitions[slicesIndex(st.Partitions, "cache", 0)].DirtyRatio, value(t, families, "eventlog_partition_dirty_ratio", cl...))
	assert.Equal(t, float64(st.Cleaner.MapBytes), value(t, families, "eventlog_cleaner_map_max_bytes"))
	assert.Positive(t, value(t, families, "eventlog_cleaner_map_max_bytes"))

	// Consumer groups.
	d, err := l.DescribeGroup("billing")
	require.NoError(t, err)
	assert.Equal(t, 1.0, value(t, families, "eventlog_group_members", "group", "billing"))
	assert.Equal(t, float64(d.Generation), value(t, families, "eventlog_group_generation", "group", "billing"))
	assert.Equal(t, 1.0, value(t, families, "eventlog_group_rebalances_total", "group", "billing"))
	for _, s := range []string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable"} {
		want := 0.0
		if s == string(d.State) {
			want = 1
		}
		assert.Equal(t, want, value(t, families, "eventlog_group_state", "group", "billing", "state", s), s)
	}
	assert.Equal(t, 4.0, value(t, families, "eventlog_group_committed_offset", "group", "billing", "topic", "orders", "partition", "0"))
	assert.Equal(t, 6.0, value(t, families, "eventlog_group_lag", "group", "billing", "topic", "orders", "partition", "0"))
	assert.Equal(t, 7.0, value(t, families, "eventlog_group_committed_offset", "group", "billing", "topic", "orders", "partition", "1"))
	assert.Equal(t, 0.0, value(t, families, "eventlog_group_lag", "group", "billing", "topic", "orders", "partition", "1"))
	assert.Equal(t, 0.0, value(t, families, "eventlog_group_members", "group", "audit"))
	assert.Equal(t, 1.0, value(t, families, "eventlog_group_state", "group", "audit", "state", "Empty"))
	assert.Equal(t, 9.0, value(t, families, "eventlog_group_lag", "group", "audit", "topic", "orders", "partition", "0"))

	// Recovery of a new directory: nothing to recover, as after a clean
	// shutdown.
	assert.Equal(t, 1.0, value(t, families, "eventlog_recovery_clean_shutdown"))
	assert.Equal(t, float64(st.Recovery.SegmentsScanned), value(t, families, "eventlog_recovery_scanned_segments_total"))
	assert.Equal(t, float64(st.Recovery.BytesTruncated), value(t, families, "eventlog_recovery_truncated_bytes_total"))
	assert.Equal(t, st.Recovery.Duration.Seconds(), value(t, families, "eventlog_recovery_duration_seconds"))

	// More appends and commits show in the next scrape.
	o2, err := l.Partition("orders", 2)
	require.NoError(t, err)
	appendN(t, o2, 3)
	families = scrape(t, reg)
	assert.Equal(t, 3.0, value(t, families, "eventlog_partition_appended_records_total", part("orders", 2)...))
	assert.Equal(t, 3.0, value(t, families, "eventlog_partition_high_watermark", part("orders", 2)...))
	m, ok = series(families, "eventlog_partition_append_duration_seconds", map[string]string{"topic": "orders", "partition": "2"})
	require.True(t, ok)
	assert.Equal(t, uint64(1), m.GetHistogram().GetSampleCount())
}

func slicesIndex(parts []eventlog.PartitionStats, topic string, id int32) int {
	for i, p := range parts {
		if p.Topic == topic && p.Partition == id {
			return i
		}
	}
	return -1
}

func TestCollectorLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(eventlogprom.NewCollector(testLog(t), nil))
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// Two Logs in one registry, told apart by a constant label.
func TestCollectorConstLabels(t *testing.T) {
	a, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer a.Close()
	b, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer b.Close()
	for i, l := range []*eventlog.Log{a, b} {
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		p, err := l.Partition("t", 0)
		require.NoError(t, err)
		appendN(t, p, i+1)
	}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(eventlogprom.NewCollector(a, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "a"}})))
	require.NoError(t, reg.Register(eventlogprom.NewCollector(b, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "b"}})))
	families := scrape(t, reg)
	assert.Equal(t, 1.0, value(t, families, "eventlog_partition_high_watermark", "log", "a", "topic", "t"))
	assert.Equal(t, 2.0, value(t, families, "eventlog_partition_high_watermark", "log", "b", "topic", "t"))
	assert.Len(t, families["eventlog_recovery_duration_seconds"].GetMetric(), 2)
}

// Group IDs that are not UTF-8 do not break the scrape.
func TestCollectorInvalidUTF8GroupIDs(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	appendN(t, p, 5)
	for i, id := range []string{"g\xff", "g\xfe", "ok"} {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: id})
		require.NoError(t, err)
		require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {Offset: int64(i + 1)}}))
		require.NoError(t, c.Close())
	}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(eventlogprom.NewCollector(l, nil)))
	families := scrape(t, reg)
	assert.Len(t, families["eventlog_group_members"].GetMetric(), 2, "g\\xfe and g\\xff look the same: only the first is kept")
	assert.Equal(t, 3.0, value(t, families, "eventlog_group_lag", "group", "g\uFFFD"), "the first, sorted: g\\xfe, committed 2")
	assert.Equal(t, 2.0, value(t, families, "eventlog_group_lag", "group", "ok"))
}

// A Collector of a closed Log still answers, with what Stats reports of it:
// no partitions and no committed offsets, and the Log's own counters.
func TestCollectAfterClose(t *testing.T) {
	l := testLog(t)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(eventlogprom.NewCollector(l, nil)))
	require.NoError(t, l.Close())
	families := scrape(t, reg)
	st := l.Stats()
	assert.Empty(t, st.Partitions)
	assert.NotContains(t, families, "eventlog_partition_high_watermark")
	assert.NotContains(t, families, "eventlog_group_committed_offset")
	assert.Len(t, families["eventlog_group_members"].GetMetric(), len(st.Groups))
	assert.Equal(t, st.Recovery.Duration.Seconds(), value(t, families, "eventlog_recovery_duration_seconds"))
	assert.Equal(t, float64(st.Cleaner.MapBytes), value(t, families, "eventlog_cleaner_map_max_bytes"))
	assert.Positive(t, value(t, families, "eventlog_cleaner_map_max_bytes"))
}

// A Collector made without a Log is refused by the registry, and a scrape
// of one used unregistered reports why, rather than a nil dereference.
func TestCollectorWithoutLog(t *testing.T) {
	c := eventlogprom.NewCollector(nil, nil)
	err := prometheus.NewPedanticRegistry().Register(c)
	assert.ErrorContains(t, err, "eventlogprom: NewCollector was given a nil *eventlog.Log")

	ch := make(chan prometheus.Metric, 10)
	c.Collect(ch)
	close(ch)
	require.Len(t, ch, 1)
	var m dto.Metric
	assert.ErrorContains(t, (<-ch).Write(&m), "nil *eventlog.Log")
}

// A constant label "le" would sit beside the bucket label of the latency
// histograms, making every scrape an exposition with a label twice, which
// Prometheus rejects whole: registering such a Collector fails instead,
// as it does for any other constant label that clashes with the metrics'
// own.
func TestCollectorConstLabelLe(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	for _, name := range []string{"le", "topic"} {
		err := prometheus.NewPedanticRegistry().Register(eventlogprom.NewCollector(l, &eventlogprom.Options{ConstLabels: prometheus.Labels{name: "x"}}))
		assert.ErrorContains(t, err, name, "constant label %q", name)
	}
	require.NoError(t, prometheus.NewPedanticRegistry().Register(eventlogprom.NewCollector(l, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "x"}})))
}

// A log that Open created had nothing to recover: its recovery is as
// clean as after a clean shutdown, not that of a crash, which an alert on
// eventlog_recovery_clean_shutdown == 0 would take it for.
func TestNewLogRecoveredCleanly(t *testing.T) {
	l, err := eventlog.Open(filepath.Join(t.TempDir(), "new"), nil)
	require.NoError(t, err)
	defer l.Close()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(eventlogprom.NewCollector(l, nil)))
	families := scrape(t, reg)
	assert.Equal(t, 1.0, value(t, families, "eventlog_recovery_clean_shutdown"))
	assert.Equal(t, 0.0, value(t, families, "eventlog_recovery_scanned_segments_total"))
}

// A partition whose segment files were lost, which Options.Repair made go
// on past them, shows in eventlog_recovery_lost_segments_total: the
// records in those files are gone.
func TestLostSegmentsMetric(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	for range 20 {
		appendN(t, p, 5)
	}
	require.NoError(t, l.Close())
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 1)
	for _, path := range logs {
		require.NoError(t, os.Remove(path))
	}

	repair := *opts
	repair.Repair = true
	l, err = eventlog.Open(dir, &repair)
	require.NoError(t, err)
	defer l.Close()
	require.Len(t, l.Recovery().LostSegments, 1)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(eventlogprom.NewCollector(l, nil)))
	families := scrape(t, reg)
	assert.Equal(t, 1.0, value(t, families, "eventlog_recovery_lost_segments_total"))
}
