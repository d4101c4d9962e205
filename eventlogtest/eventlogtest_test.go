package eventlogtest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

func TestNewTopic(t *testing.T) {
	l := eventlogtest.NewTopic(t, "orders", eventlog.TopicConfig{Partitions: 2})
	p, err := l.Partition("orders", 1)
	require.NoError(t, err)
	off, err := p.Append(context.Background(), []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, off+1, p.HighWatermark(), "DurabilityOS makes appends visible at once")
	recs, err := p.Read(off, 1024)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "v", string(recs[0].Value))
}

func TestNewClosesAtCleanup(t *testing.T) {
	var l *eventlog.Log
	t.Run("inner", func(t *testing.T) {
		l = eventlogtest.New(t, &eventlog.Options{SegmentBytes: 4096})
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	})
	assert.ErrorIs(t, l.CreateTopic("u", eventlog.TopicConfig{}), eventlog.ErrClosed, "closed when the subtest ended")
}
