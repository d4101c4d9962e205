// Command eventsourcing keeps bank accounts as streams of events: every
// deposit and withdrawal is appended to the "accounts" topic (keyed by
// account, so one account's events stay in order on one partition), and an
// account's balance is never stored — it is rebuilt by replaying the topic.
// The program writes some events, closes the log, reopens it as a restarted
// service would, and rebuilds every balance from the events.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"

	"github.com/eventlog/eventlog"
)

// Event is one fact about an account.
type Event struct {
	Kind   string `json:"kind"` // "deposit" or "withdrawal"
	Amount int64  `json:"amount"`
}

const topic = "accounts"

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run is the example; main reports its error once the deferred clean-up,
// the removal of the temporary directory, has run.
func run() error {
	dir, err := os.MkdirTemp("", "eventlog-eventsourcing-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	if err := record(ctx, dir); err != nil {
		return err
	}
	balances, err := rebuild(ctx, dir)
	if err != nil {
		return err
	}
	accounts := make([]string, 0, len(balances))
	for a := range balances {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		fmt.Printf("%-6s balance %5d\n", a, balances[a])
	}
	return nil
}

// record appends the events, each acknowledged once it is fsynced.
func record(ctx context.Context, dir string) error {
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.CreateTopic(topic, eventlog.TopicConfig{Partitions: 4}); err != nil {
		return err
	}
	p, err := l.NewProducer(nil)
	if err != nil {
		return err
	}
	events := eventlog.NewTypedProducer(p, eventlog.StringSerde{}, eventlog.JSONSerde[Event]{})
	for _, e := range []struct {
		account string
		Event
	}{
		{"alice", Event{"deposit", 100}},
		{"bob", Event{"deposit", 50}},
		{"alice", Event{"withdrawal", 30}},
		{"carol", Event{"deposit", 500}},
		{"bob", Event{"deposit", 25}},
		{"carol", Event{"withdrawal", 120}},
		{"alice", Event{"deposit", 5}},
	} {
		md, err := events.Send(ctx, eventlog.TypedRecord[string, Event]{Topic: topic, Key: e.account, Value: e.Event})
		if err != nil {
			return err
		}
		fmt.Printf("%-6s %-10s %4d  -> %s/%d@%d\n", e.account, e.Kind, e.Amount, md.Topic, md.Partition, md.Offset)
	}
	return p.Close()
}

// rebuild reopens the log and folds every event into a balance per account.
func rebuild(ctx context.Context, dir string) (map[string]int64, error) {
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	cfg, err := l.TopicConfig(topic)
	if err != nil {
		return nil, err
	}
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var parts []eventlog.TopicPartition
	for i := range int32(cfg.Partitions) {
		parts = append(parts, eventlog.TopicPartition{Topic: topic, Partition: i})
	}
	if err := c.Assign(parts...); err != nil {
		return nil, err
	}
	events := eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.JSONSerde[Event]{})
	balances := map[string]int64{}
	replayed := 0
	for r, err := range events.ReadToEnd(ctx) {
		if err != nil {
			return nil, err
		}
		switch r.Value.Kind {
		case "deposit":
			balances[r.Key] += r.Value.Amount
		case "withdrawal":
			balances[r.Key] -= r.Value.Amount
		default:
			return nil, fmt.Errorf("%s/%d@%d: unknown event kind %q", r.Topic, r.Partition, r.Offset, r.Value.Kind)
		}
		replayed++
	}
	fmt.Printf("replayed %d events after reopening (clean shutdown: %v)\n", replayed, l.Recovery().CleanShutdown)
	return balances, nil
}
