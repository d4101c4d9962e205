package kafkabridge_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestForwardRecordTooLargeForRemoteTopic forwards records to a remote topic
// whose max.message.bytes is below one of them, the batches of the Forward
// taking several records: the error names the record too large, and the
// records before it are committed, as the package documentation says.
func TestForwardRecordTooLargeForRemoteTopic(t *testing.T) {
	const large = 10 // the offset of the record too large
	c := newCluster(t, 1)
	_, err := kadm.NewClient(newClient(t, c)).CreateTopic(testContext(t), 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("4000")}, "orders")
	require.NoError(t, err)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.Partition("orders", 0)
	require.NoError(t, err)
	recs := make([]eventlog.Record, large+1+5)
	for i := range recs {
		recs[i] = eventlog.Record{Value: bytes.Repeat([]byte{'a'}, 100)}
	}
	recs[large].Value = bytes.Repeat([]byte{'x'}, 5000)
	_, err = p.Append(testContext(t), recs, eventlog.AppendOptions{})
	require.NoError(t, err)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers: c.ListenAddrs(),
		Topics:  []string{"orders"},
		Linger:  time.Second, // the records go in one batch
	})
	require.NoError(t, err)
	err = f.Run(testContext(t))
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), `topic "orders" partition 0 offset 10`)
	offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(large), offsets[0].Committed, "the records before the refused one are committed")
}

// TestForwardBatchesFitTheRemoteTopic forwards small records to a remote
// topic whose max.message.bytes is below the Forward's batch size: each
// record fits, so every one must arrive, in batches the topic takes.
func TestForwardBatchesFitTheRemoteTopic(t *testing.T) {
	const n = 200
	c := newCluster(t, 1)
	_, err := kadm.NewClient(newClient(t, c)).CreateTopic(testContext(t), 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("4000")}, "orders")
	require.NoError(t, err)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.Partition("orders", 0)
	require.NoError(t, err)
	recs := make([]eventlog.Record, n)
	for i := range recs {
		recs[i] = eventlog.Record{Value: bytes.Repeat([]byte{'a'}, 100)}
	}
	_, err = p.Append(testContext(t), recs, eventlog.AppendOptions{})
	require.NoError(t, err)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers: c.ListenAddrs(),
		Topics:  []string{"orders"},
		Linger:  time.Second, // the records would go in one batch of 20 KB
	})
	require.NoError(t, err)
	committed := make(chan int64, 100)
	kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		committed <- o[eventlog.TopicPartition{Topic: "orders"}].Offset
	})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	for offset := int64(0); offset < n; {
		select {
		case offset = <-committed:
		case err := <-done:
			require.NoError(t, err, "Run stopped before forwarding every record")
			require.Fail(t, "Run stopped before forwarding every record")
		}
	}
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, map[int32]int64{0: n}, remoteEnds(t, c, "orders", 1))
}
