// Command quickstart opens a log in a temporary directory, appends a few
// records to a topic, reads them back and prints what happened.
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
	dir, err := os.MkdirTemp("", "eventlog-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}); err != nil {
		log.Fatal(err)
	}
	p, err := l.Partition("orders", 0)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	base, err := p.Append(ctx, []eventlog.Record{
		{Key: []byte("order-1"), Value: []byte(`{"item":"book","qty":1}`)},
		{Key: []byte("order-2"), Value: []byte(`{"item":"pen","qty":3}`),
			Headers: []eventlog.Header{{Key: "source", Value: []byte("web")}}},
		{Key: []byte("order-1"), Value: nil}, // a tombstone: order-1 cancelled
	}, eventlog.AppendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("appended 3 records to orders/0 at offsets %d..%d (fsynced)\n", base, base+2)

	records, err := p.Read(0, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range records {
		value := string(r.Value)
		if r.Value == nil {
			value = "<tombstone>"
		}
		fmt.Printf("  %s/%d offset %d  key=%s value=%s headers=%d\n", r.Topic, r.Partition, r.Offset, r.Key, value, len(r.Headers))
	}

	off, found, err := p.OffsetForTime(time.Now().Add(-time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("first record of the last minute: offset %d (found=%v)\n", off, found)

	if err := l.Close(); err != nil {
		log.Fatal(err)
	}
	l, err = eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	p, _ = l.Partition("orders", 0)
	fmt.Printf("reopened: clean shutdown=%v, high watermark %d, topics %v\n", l.Recovery().CleanShutdown, p.HighWatermark(), l.Topics())
}
