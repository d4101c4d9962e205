package eventlogotel_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/eventlog/eventlog"
	eventlogotel "github.com/eventlog/eventlog/metrics/otel"
)

// The package documentation's snippets, with a ManualReader where they
// have a PeriodicReader and an exporter, so that the example reads what
// an exporter would be given: Register's instruments, the
// HistogramProducer's histograms, and a second Log told apart by its
// attributes.
func ExampleRegister() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eventlogotel-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := eventlog.Open(filepath.Join(dir, "payments"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	orders, err := eventlog.Open(filepath.Join(dir, "orders"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()
	if err := l.CreateTopic("payments", eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	if err := orders.CreateTopic("orders", eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}

	opts := &eventlogotel.Options{Attributes: []attribute.KeyValue{attribute.String("log", "orders")}}
	reader := sdkmetric.NewManualReader(
		sdkmetric.WithProducer(eventlogotel.NewHistogramProducer(l, nil)),
		sdkmetric.WithProducer(eventlogotel.NewHistogramProducer(orders, opts)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	reg, err := eventlogotel.Register(l, mp, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()
	regOrders, err := eventlogotel.Register(orders, mp, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer regOrders.Unregister()
	// Without attributes, orders's series would be the same as l's.
	_, err = eventlogotel.Register(orders, mp, nil)
	fmt.Println("a second Log without attributes:", errors.Is(err, eventlogotel.ErrAlreadyRegistered))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	// Which series an exporter gets, of a gauge and of a histogram.
	var series []string
	describe := func(name string, attrs attribute.Set) {
		topic, _ := attrs.Value("messaging.destination.name")
		logName, ok := attrs.Value("log")
		if !ok {
			logName = attribute.StringValue("-")
		}
		series = append(series, fmt.Sprintf("%s topic=%s log=%s", name, topic.Emit(), logName.Emit()))
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				if m.Name == "eventlog.partition.high_watermark" {
					for _, p := range d.DataPoints {
						describe(m.Name, p.Attributes)
					}
				}
			case metricdata.Histogram[float64]:
				if m.Name == "eventlog.partition.append.duration" {
					for _, p := range d.DataPoints {
						describe(m.Name, p.Attributes)
					}
				}
			}
		}
	}
	slices.Sort(series)
	for _, s := range series {
		fmt.Println(s)
	}
	// Output:
	// a second Log without attributes: true
	// eventlog.partition.append.duration topic=orders log=orders
	// eventlog.partition.append.duration topic=payments log=-
	// eventlog.partition.high_watermark topic=orders log=orders
	// eventlog.partition.high_watermark topic=payments log=-
}
