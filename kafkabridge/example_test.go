package kafkabridge_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
)

// The package documentation's Forward snippet, with its errors checked:
// publish the local topic "orders" to the cluster's "shop.orders" until
// Ctrl-C, then flush, commit and close. (The example is compiled, not
// run: it needs a Kafka cluster.)
func ExampleNewForward() {
	l, err := eventlog.Open(os.Getenv("EVENTLOG_DIR"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:     []string{"kafka-1:9092"},
		Topics:      []string{"orders"}, // or TopicPattern: regexp.MustCompile(`^outbox\.`)
		RemoteTopic: func(local string) string { return "shop." + local },
		Logger:      slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := f.Run(ctx); err != nil { // until ctx ends: then flush, commit, close
		log.Print(err)
	}
}

// The package documentation's Mirror snippet, with its errors checked:
// copy the cluster's topic "prices" into the local one of that name until
// Ctrl-C. (The example is compiled, not run: it needs a Kafka cluster.)
func ExampleNewMirror() {
	l, err := eventlog.Open(os.Getenv("EVENTLOG_DIR"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{
		Brokers: []string{"kafka-1:9092"},
		Topics:  []string{"prices"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := m.Run(ctx); err != nil {
		log.Print(err)
	}
}
