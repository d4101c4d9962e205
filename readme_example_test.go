package eventlog_test

import (
	"context"
	"fmt"
	"log"

	"github.com/eventlog/eventlog"
)

// The snippet at the top of README.md, with every error checked, so that
// go test keeps it compiling and doing what its comments say: append,
// read copies, replay in place, rebuild the newest value per key (a
// tombstone deleting its key) and wait for the next append.
func Example_readme() {
	dir, cleanup := tempDir()
	defer cleanup()
	ctx := context.Background()

	l, err := eventlog.Open(dir, nil) // nil options: defaults (fsync durability)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 4}); err != nil {
		log.Fatal(err)
	}
	p, err := l.Partition("orders", 0)
	if err != nil {
		log.Fatal(err)
	}
	off, err := p.Append(ctx, []eventlog.Record{
		{Key: []byte("alice"), Value: []byte("book")},
		{Key: []byte("bob"), Value: []byte("lamp")},
		{Key: []byte("alice"), Value: []byte("pen")},
		{Key: []byte("bob"), Value: nil}, // a tombstone
	}, eventlog.AppendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	records, err := p.Read(off, 1<<20) // copies, yours to keep
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read", len(records), "records from offset", off)
	for v, err := range p.Views(0) { // in place, no allocation per record
		if err != nil {
			log.Fatal(err)
		}
		if v.Value == nil {
			fmt.Printf("view %d %s deleted\n", v.Offset, v.Key)
			continue
		}
		fmt.Printf("view %d %s=%s\n", v.Offset, v.Key, v.Value)
	}
	cache, err := l.ReplayLatest(ctx, "orders") // newest value per key, tombstones deleting
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("latest: %d key(s), alice=%s\n", len(cache), cache["alice"])

	hw := p.HighWatermark()
	appended := make(chan error, 1)
	go func() {
		_, err := p.Append(ctx, []eventlog.Record{{Key: []byte("carol"), Value: []byte("desk")}}, eventlog.AppendOptions{})
		appended <- err
	}()
	if err := p.Wait(ctx, hw); err != nil { // block until something new arrives
		log.Fatal(err)
	}
	if err := <-appended; err != nil {
		log.Fatal(err)
	}
	fmt.Println("high watermark after the wait:", p.HighWatermark())
	// Output:
	// read 4 records from offset 0
	// view 0 alice=book
	// view 1 bob=lamp
	// view 2 alice=pen
	// view 3 bob deleted
	// latest: 1 key(s), alice=pen
	// high watermark after the wait: 5
}
