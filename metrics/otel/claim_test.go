package eventlogotel_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/eventlog/eventlog"
	eventlogotel "github.com/eventlog/eventlog/metrics/otel"
)

// withMeterOptions is a MeterProvider decorator of the kind an application
// writes: it adds options to every meter of the provider it wraps. Its
// slice makes it a value that cannot be a map key.
type withMeterOptions struct {
	embedded.MeterProvider
	next metric.MeterProvider
	opts []metric.MeterOption
}

func (p withMeterOptions) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return p.next.Meter(name, append(p.opts, opts...)...)
}

// named wraps a MeterProvider to give it a name: a comparable type,
// holding here a provider that is not comparable.
type named struct {
	metric.MeterProvider
	name string
}

// TestRegisterWithDecoratedMeterProvider: Register takes a MeterProvider
// whose type is comparable but whose value is not — a decorator holding
// another by value — and observes the Log through it, where it panicked
// using the provider as a map key.
func TestRegisterWithDecoratedMeterProvider(t *testing.T) {
	l, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 2)
	reader := sdkmetric.NewManualReader()
	mp := named{withMeterOptions{next: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), opts: []metric.MeterOption{metric.WithInstrumentationVersion("v1")}}, "app"}

	var reg metric.Registration
	require.NotPanics(t, func() { reg, err = eventlogotel.Register(l, mp, nil) })
	require.NoError(t, err)
	defer func() { assert.NoError(t, reg.Unregister()) }()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	ms := map[string]metricdata.Metrics{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		ms[m.Name] = m
	}
	assert.Equal(t, 2.0, point(t, ms, "eventlog.partition.high_watermark", "gauge", "{offset}", part("t", 0)))
}
