package unittest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/examples/unittest"
)

func TestInventoryCountsStock(t *testing.T) {
	ctx := context.Background()
	l := eventlogtest.NewTopic(t, unittest.Topic, eventlog.TopicConfig{Partitions: 2}) // closed by t.Cleanup
	p, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer p.Close()
	inv := unittest.NewInventory(l, p)

	require.NoError(t, inv.Move(ctx, "apple", 10))
	require.NoError(t, inv.Move(ctx, "pear", 4))
	require.NoError(t, inv.Move(ctx, "apple", -3))

	stock, err := inv.Stock(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"apple": 7, "pear": 4}, stock)
}

func TestInventoryRefusesNegativeStock(t *testing.T) {
	ctx := context.Background()
	l := eventlogtest.NewTopic(t, unittest.Topic, eventlog.TopicConfig{})
	p, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer p.Close()
	inv := unittest.NewInventory(l, p)

	require.NoError(t, inv.Move(ctx, "apple", -1))
	_, err = inv.Stock(ctx)
	assert.ErrorContains(t, err, "went negative")
}
