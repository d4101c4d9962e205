// Package unittest shows how to unit-test code built on eventlog: Inventory
// records stock movements in a topic and answers queries by replaying it,
// and inventory_test.go tests it against a throwaway Log from eventlogtest.
// Run it with: go test ./examples/unittest
package unittest

import (
	"context"
	"fmt"

	"github.com/eventlog/eventlog"
)

// Topic holds one record per stock movement, keyed by item.
const Topic = "stock"

// Inventory records stock movements and counts what is in stock.
type Inventory struct {
	log      *eventlog.Log
	producer *eventlog.TypedProducer[string, int64]
}

// NewInventory uses l, which must hold Topic.
func NewInventory(l *eventlog.Log, p *eventlog.Producer) *Inventory {
	return &Inventory{log: l, producer: eventlog.NewTypedProducer(p, eventlog.StringSerde{}, eventlog.Int64Serde{})}
}

// Move records delta units of item arriving (positive) or leaving.
func (inv *Inventory) Move(ctx context.Context, item string, delta int64) error {
	_, err := inv.producer.Send(ctx, eventlog.TypedRecord[string, int64]{Topic: Topic, Key: item, Value: delta})
	return err
}

// Stock replays the topic and returns the units in stock per item.
func (inv *Inventory) Stock(ctx context.Context) (map[string]int64, error) {
	cfg, err := inv.log.TopicConfig(Topic)
	if err != nil {
		return nil, err
	}
	c, err := inv.log.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var parts []eventlog.TopicPartition
	for i := range int32(cfg.Partitions) {
		parts = append(parts, eventlog.TopicPartition{Topic: Topic, Partition: i})
	}
	if err := c.Assign(parts...); err != nil {
		return nil, err
	}
	stock := map[string]int64{}
	for r, err := range eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.Int64Serde{}).ReadToEnd(ctx) {
		if err != nil {
			return nil, err
		}
		stock[r.Key] += r.Value
		if stock[r.Key] < 0 {
			return nil, fmt.Errorf("item %q: stock went negative at offset %d", r.Key, r.Offset)
		}
	}
	return stock, nil
}
