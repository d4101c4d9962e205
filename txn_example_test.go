package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/eventlog/eventlog"
)

// Append to a stream only if nobody appended since it was read: optimistic
// concurrency for an event-sourced aggregate.
func ExampleIfEndOffset() {
	dir, cleanup := tempDir()
	defer cleanup()
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic("order-17", eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	stream, err := l.Partition("order-17", 0)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	version := stream.LogEndOffset() // 0: the stream is empty
	_, err = stream.Append(ctx, []eventlog.Record{{Value: []byte("created")}}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(version)})
	fmt.Println("created:", err)

	// A writer that loaded the stream before "created" loses the race.
	_, err = stream.Append(ctx, []eventlog.Record{{Value: []byte("cancelled")}}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(version)})
	var moved *eventlog.UnexpectedOffsetError
	if errors.As(err, &moved) {
		fmt.Println("conflict: the stream now ends at", moved.Actual)
	}
	// Output:
	// created: <nil>
	// conflict: the stream now ends at 1
}

// Send records to two topics and commit the consumed offset with them, all
// or nothing.
func ExampleProducer_BeginTransaction() {
	dir, cleanup := tempDir()
	defer cleanup()
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	for _, topic := range []string{"orders", "invoices", "shipments"} {
		if err := l.CreateTopic(topic, eventlog.TopicConfig{}); err != nil {
			log.Fatal(err)
		}
	}
	ctx := context.Background()
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "billing"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	orders := eventlog.TopicPartition{Topic: "orders", Partition: 0}
	if err := p.BeginTransaction(); err != nil {
		log.Fatal(err)
	}
	for _, topic := range []string{"invoices", "shipments"} {
		if _, err := p.Send(ctx, eventlog.Record{Topic: topic, Key: []byte("order-17"), Value: []byte("new")}); err != nil {
			log.Fatal(err)
		}
	}
	// The consumed position of "orders" moves with the output.
	group := eventlog.GroupMetadata{GroupID: "billing", GenerationID: -1}
	if err := p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{orders: {Offset: 0}}, group); err != nil {
		log.Fatal(err)
	}
	invoices, err := l.Partition("invoices", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("before the commit, last stable offset:", invoices.LastStableOffset())
	if err := p.CommitTransaction(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after the commit, last stable offset:", invoices.LastStableOffset())
	// Output:
	// before the commit, last stable offset: 0
	// after the commit, last stable offset: 2
}

// Retry an append whose outcome is unknown — after a timeout or a crash —
// without storing it twice.
func ExampleLog_NewProducerID() {
	dir, cleanup := tempDir()
	defer cleanup()
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic("events", eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	p, err := l.Partition("events", 0)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	id, err := l.NewProducerID(ctx) // keep it with the application's state
	if err != nil {
		log.Fatal(err)
	}
	batch := []eventlog.Record{{Value: []byte("a")}, {Value: []byte("b")}}
	opts := eventlog.AppendOptions{Producer: id, Sequence: 0}
	first, err := p.Append(ctx, batch, opts)
	if err != nil {
		log.Fatal(err)
	}
	retry, err := p.Append(ctx, batch, opts) // the same batch again
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first, retry, p.LogEndOffset())
	// Output:
	// 0 0 2
}
