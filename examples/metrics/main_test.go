package main

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// sum adds up the values of a counter or gauge family whose series have
// the label name=value.
func sum(t *testing.T, families map[string]*dto.MetricFamily, family, name, value string) float64 {
	t.Helper()
	f, ok := families[family]
	require.True(t, ok, "no %s", family)
	total := 0.0
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == name && lp.GetValue() == value {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return total
}

// -once end to end: the service produces and consumes in the background,
// serves /metrics over HTTP and prints a scrape that tells what it did.
func TestOnce(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), config{dir: dir, addr: "127.0.0.1:0", once: true, records: 500}, &out))

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(&out)
	require.NoError(t, err)
	assert.Equal(t, 500.0, sum(t, families, "eventlog_partition_appended_records_total", "topic", topic))
	assert.Equal(t, 500.0, sum(t, families, "eventlog_partition_high_watermark", "topic", topic))
	assert.Equal(t, 500.0, sum(t, families, "eventlog_group_committed_offset", "group", group), "everything consumed was committed")
	assert.Zero(t, sum(t, families, "eventlog_group_lag", "group", group))
	assert.Contains(t, families, "go_goroutines", "the service's other collectors are served too")

	// The log it left behind holds what the scrape said.
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	offsets, err := l.GroupOffsets(group)
	require.NoError(t, err)
	require.Len(t, offsets, 3)
	var committed int64
	for _, o := range offsets {
		committed += o.Committed
		assert.Zero(t, o.Lag)
	}
	assert.Equal(t, int64(500), committed)
}

// Serving: /metrics answers while the producer and consumer run, and the
// service stops cleanly when its context ends.
func TestServeUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{addr: "127.0.0.1:0", interval: 1, listening: func(a string) { addr <- a }}, nil)
	}()
	url := "http://" + <-addr + "/metrics"
	var out bytes.Buffer
	require.NoError(t, scrape(ctx, url, &out))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(&out)
	require.NoError(t, err)
	assert.Contains(t, families, "eventlog_partition_high_watermark")
	assert.Contains(t, families, "eventlog_recovery_clean_shutdown")
	cancel()
	require.NoError(t, <-done)
	assert.Error(t, scrape(context.Background(), url, &out), "nothing serves after the stop")
}

// A record the service sent before it was stopped is stored: the stop
// ends the producing, not the records sent. Here the third record still
// waits in its batch (the producer's 5ms linger) when the stop comes.
func TestStopStoresWhatWasSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := eventlog.Open("/log", &eventlog.Options{FS: eventlog.NewMemFS()})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic(topic, eventlog.TopicConfig{Partitions: 3}))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		produced := make(chan error, 1)
		go func() { produced <- produce(ctx, l, -1, time.Second) }()
		time.Sleep(3*time.Second + time.Millisecond) // three ticks, three records sent
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-produced, context.Canceled, "the stop, which work does not report")
		var stored int64
		for i := range int32(3) {
			p, err := l.Partition(topic, i)
			require.NoError(t, err)
			stored += p.HighWatermark()
		}
		assert.Equal(t, int64(3), stored, "every record sent before the stop is stored")
	})
}
