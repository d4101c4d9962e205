// Command quickstart opens a log in a temporary directory, produces a few
// records, consumes them back, reopens the log and prints what happened.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/eventlog/eventlog"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run is the example; main reports its error once the deferred clean-up,
// the removal of the temporary directory, has run.
func run() error {
	dir, err := os.MkdirTemp("", "eventlog-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	l, err := eventlog.Open(dir, nil) // nil options: defaults, fsync durability
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }() // whichever Log is open last, on an early return too
	if err := l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 3}); err != nil {
		return err
	}

	// Produce: keyed records land on Kafka's murmur2 partition for the key.
	producer, err := l.NewProducer(nil)
	if err != nil {
		return err
	}
	for i, item := range []string{"book", "pen", "lamp", "desk"} {
		r := eventlog.Record{
			Topic:   "orders",
			Key:     fmt.Appendf(nil, "customer-%d", i%2),
			Value:   fmt.Appendf(nil, `{"item":%q}`, item),
			Headers: []eventlog.Header{{Key: "source", Value: []byte("quickstart")}},
		}
		md, err := producer.Send(ctx, r) // returns once the record is fsynced
		if err != nil {
			return err
		}
		fmt.Printf("produced %-16s to %s/%d at offset %d\n", r.Value, md.Topic, md.Partition, md.Offset)
	}
	if err := producer.Close(); err != nil {
		return err
	}

	// Consume: read every partition from the beginning to its end.
	consumer, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		return err
	}
	var all []eventlog.TopicPartition
	for p := range int32(3) {
		all = append(all, eventlog.TopicPartition{Topic: "orders", Partition: p})
	}
	if err := consumer.Assign(all...); err != nil {
		return err
	}
	for r, err := range consumer.ReadToEnd(ctx) {
		if err != nil {
			return err
		}
		fmt.Printf("consumed %s/%d offset %d: key=%s value=%s\n", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
	}
	if err := consumer.Close(); err != nil {
		return err
	}

	p0, err := l.Partition("orders", 0)
	if err != nil {
		return err
	}
	off, found, err := p0.OffsetForTime(time.Now().Add(-time.Minute))
	if err != nil {
		return err
	}
	fmt.Printf("orders/0: first record of the last minute is at offset %d (found=%v)\n", off, found)

	// Close and reopen: a clean close means nothing is scanned on open.
	if err := l.Close(); err != nil {
		return err
	}
	l, err = eventlog.Open(dir, nil)
	if err != nil {
		return err
	}
	total := int64(0)
	for p := range int32(3) {
		part, err := l.Partition("orders", p)
		if err != nil {
			return err
		}
		total += part.HighWatermark() - part.LogStartOffset()
	}
	fmt.Printf("reopened: clean shutdown=%v, %d records in %v\n", l.Recovery().CleanShutdown, total, l.Topics())
	return nil
}
