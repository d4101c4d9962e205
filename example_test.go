package eventlog_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/eventlog/eventlog"
)

// tempDir makes a directory for an example and returns a function that
// removes it.
func tempDir() (string, func()) {
	dir, err := os.MkdirTemp("", "eventlog-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}

// Open a log, create a topic, append a batch and read it back.
func Example() {
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
	base, err := p.Append(context.Background(), []eventlog.Record{
		{Key: []byte("a"), Value: []byte("first")},
		{Key: []byte("b"), Value: []byte("second")},
	}, eventlog.AppendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	records, err := p.Read(base, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range records {
		fmt.Printf("%d %s=%s\n", r.Offset, r.Key, r.Value)
	}
	fmt.Println("high watermark:", p.HighWatermark())
	// Output:
	// 0 a=first
	// 1 b=second
	// high watermark: 2
}

// Send records with a Producer and read them with a Consumer.
func ExampleProducer() {
	dir, cleanup := tempDir()
	defer cleanup()
	ctx := context.Background()

	l, err := eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic("greetings", eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	producer, err := l.NewProducer(nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"hello", "world"} {
		if _, err := producer.Send(ctx, eventlog.Record{Topic: "greetings", Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}
	if err := producer.Close(); err != nil {
		log.Fatal(err)
	}

	consumer, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	if err := consumer.Assign(eventlog.TopicPartition{Topic: "greetings", Partition: 0}); err != nil {
		log.Fatal(err)
	}
	for r, err := range consumer.ReadToEnd(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Offset, string(r.Value))
	}
	// Output:
	// 0 hello
	// 1 world
}

// Typed producers and consumers turn Go values into record bytes.
func ExampleTypedProducer() {
	dir, cleanup := tempDir()
	defer cleanup()
	ctx := context.Background()

	type Reading struct {
		Celsius float64 `json:"celsius"`
	}
	l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic("temperatures", eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	p, err := l.NewProducer(nil)
	if err != nil {
		log.Fatal(err)
	}
	readings := eventlog.NewTypedProducer(p, eventlog.StringSerde{}, eventlog.JSONSerde[Reading]{})
	if _, err := readings.Send(ctx, eventlog.TypedRecord[string, Reading]{Topic: "temperatures", Key: "kitchen", Value: Reading{21.5}}); err != nil {
		log.Fatal(err)
	}
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}

	c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign(eventlog.TopicPartition{Topic: "temperatures"}); err != nil {
		log.Fatal(err)
	}
	for r, err := range eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.JSONSerde[Reading]{}).ReadToEnd(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %.1f°C\n", r.Key, r.Value.Celsius)
	}
	// Output:
	// kitchen: 21.5°C
}

// Merge two partitions in timestamp order with cursors, which a range
// loop over Views cannot do without a goroutine per partition.
func ExamplePartition_Cursor() {
	dir, cleanup := tempDir()
	defer cleanup()

	l, err := eventlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2}); err != nil {
		log.Fatal(err)
	}
	var cursors []*eventlog.Cursor
	for id, values := range [][]string{{"a@1", "c@3"}, {"b@2", "d@4"}} {
		p, err := l.Partition("events", int32(id))
		if err != nil {
			log.Fatal(err)
		}
		var records []eventlog.Record
		for _, v := range values {
			ms := int64(v[2] - '0')
			records = append(records, eventlog.Record{Value: []byte(v), Timestamp: time.UnixMilli(ms)})
		}
		if _, err := p.Append(context.Background(), records, eventlog.AppendOptions{}); err != nil {
			log.Fatal(err)
		}
		c := p.Cursor(p.LogStartOffset())
		defer c.Close()
		cursors = append(cursors, c)
	}

	// live holds the cursors that stand on a record.
	var live []*eventlog.Cursor
	for _, c := range cursors {
		if c.Next() {
			live = append(live, c)
		}
	}
	for len(live) > 0 {
		first := 0
		for i, c := range live {
			if c.View().Timestamp().Before(live[first].View().Timestamp()) {
				first = i
			}
		}
		c := live[first]
		fmt.Printf("%s ", c.View().Value)
		if !c.Next() {
			if err := c.Err(); err != nil {
				log.Fatal(err)
			}
			live = append(live[:first], live[first+1:]...)
		}
	}
	fmt.Println()
	// Output: a@1 b@2 c@3 d@4
}
