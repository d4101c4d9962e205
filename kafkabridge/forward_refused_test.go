package kafkabridge_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestForwardRecordTooLargeForRemoteTopic forwards records to a remote topic
// whose max.message.bytes is below one of them, the batches of the Forward
// taking several records: the error names the record too large, and the
// records before it are committed, as the package documentation says.
func TestForwardRecordTooLargeForRemoteTopic(t *testing.T) {
	const large = 10 // the offset of the record too large
	c, l, p := ordersLimitedTo4000(t)
	var err error
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
	assert.Equal(t, map[int32]int64{0: large}, remoteEnds(t, c, "orders", 1),
		"the remote partition holds the records before the refused one, and none after it: they would follow a gap")
}

// TestForwardSizesAManyHeadersRecordBeforeCopyingIt: a record too large
// for the remote topic by 1.6 million empty headers, 2 bytes each, was
// refused only after the Forward made a 40-byte kgo.RecordHeader of each:
// 64 MB for a record of 3 MB. It is sized in place now.
func TestForwardSizesAManyHeadersRecordBeforeCopyingIt(t *testing.T) {
	c, l, p := ordersLimitedTo4000(t)
	var err error
	_, err = p.Append(testContext(t), []eventlog.Record{{Value: []byte("v"), Headers: make([]eventlog.Header, 1_600_000)}}, eventlog.AppendOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = f.Run(testContext(t))
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `topic "orders" partition 0 offset 0`)
	assert.ErrorIs(t, err, kerr.MessageTooLarge)
	t.Logf("Run allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32<<20), "bytes allocated")
}

// TestForwardBatchesFitTheRemoteTopic forwards small records to a remote
// topic whose max.message.bytes is below the Forward's batch size: each
// record fits, so every one must arrive, in batches the topic takes.
func TestForwardBatchesFitTheRemoteTopic(t *testing.T) {
	const n = 200
	c, l, p := ordersLimitedTo4000(t)
	var err error
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
	done := startRun(ctx, f.Run)
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

// TestForwardStartAtEndResumes runs a StartAtEnd Forward while one local
// partition stays quiet, stops it, and appends to that partition while it
// is stopped: the next Run forwards those records. A Kafka consumer with
// auto.offset.reset=latest commits the position it reset to; a Forward
// that commits only acknowledged records left the quiet partition without
// progress, to start at its end again and skip what came in between.
func TestForwardStartAtEndResumes(t *testing.T) {
	c := newCluster(t, 2, "events")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2}))
	parts := make([]*eventlog.Partition, 2)
	for i := range parts {
		p, err := l.Partition("events", int32(i))
		require.NoError(t, err)
		parts[i] = p
		_, err = p.Append(testContext(t), []eventlog.Record{{Value: []byte("before")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	appendTo := func(p int, value string) {
		_, err := parts[p].Append(testContext(t), []eventlog.Record{{Value: []byte(value)}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	opts := &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}, StartAtEnd: true}
	// runUntil runs a Forward, appending markers to each of markTo, until
	// it commits partition until at offset at least. A marker appended
	// before the Forward settled its start is not forwarded, so markers go
	// on until such a commit comes.
	runUntil := func(until int32, least int64, markTo ...int) {
		f, err := kafkabridge.NewForward(l, opts)
		require.NoError(t, err)
		commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
		kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
		stop := runBridge(t, f.Run)
		for moved := false; !moved; {
			for _, p := range markTo {
				appendTo(p, "marker")
			}
			select {
			case o := <-commits:
				c, ok := o[eventlog.TopicPartition{Topic: "events", Partition: until}]
				moved = ok && c.Offset >= least
			default:
				runtime.Gosched()
			}
		}
		require.NoError(t, stop())
	}
	runUntil(0, 2, 0) // a marker of partition 0 forwarded; partition 1 stays quiet

	for i := range 3 {
		appendTo(1, fmt.Sprintf("while stopped %d", i))
	}
	runUntil(1, 5, 0, 1) // "before", the three, and a marker

	ends := remoteEnds(t, c, "events", 2)
	got := consumeRemote(t, c, "events", 2, int(ends[0]+ends[1]))
	var values []string
	for _, r := range got[1] {
		values = append(values, string(r.Value))
	}
	require.GreaterOrEqual(t, len(values), 3, "remote partition 1: %q", values)
	assert.Equal(t, []string{"while stopped 0", "while stopped 1", "while stopped 2"}, values[:3], "remote partition 1 starts with %q", values[:min(5, len(values))])
}

// TestForwardRecordAtTheRemoteLimit forwards a record whose batch is exactly
// as large as the remote topic's max.message.bytes, then one a byte larger:
// the first is sent, the second refused, naming its offset.
func TestForwardRecordAtTheRemoteLimit(t *testing.T) {
	c, l, p := ordersLimitedTo4000(t)
	var err error
	// A record without key and headers and with a value of 3930 bytes
	// takes 3939 bytes (2 for its length, 3937 for attributes, deltas, the
	// null key, the value's 2-byte length and the value, and the header
	// count): 4000 with the 61-byte batch header.
	for _, n := range []int{3930, 3931} {
		_, err = p.Append(testContext(t), []eventlog.Record{{Value: bytes.Repeat([]byte{'v'}, n)}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	err = f.Run(testContext(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `topic "orders" partition 0 offset 1 to remote topic "orders": record too large for the remote topic: a batch of it alone takes 4001 bytes`)
	assert.Equal(t, map[int32]int64{0: 1}, remoteEnds(t, c, "orders", 1), "the record at the limit is sent")
}

// TestForwardStartAtEndForwardsAddedPartitions adds a partition to a local
// topic that a StartAtEnd Forward forwards, and appends to it while the
// Forward is stopped: the next Run forwards the new partition from its
// start, since every record of it was appended after the forwarding began.
func TestForwardStartAtEndForwardsAddedPartitions(t *testing.T) {
	c := newCluster(t, 3, "events")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2}))
	opts := &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}, StartAtEnd: true}
	// runUntil runs a Forward until it commits partition p at offset at
	// least.
	runUntil := func(p int32, least int64) {
		f, err := kafkabridge.NewForward(l, opts)
		require.NoError(t, err)
		commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
		kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
		stop := runBridge(t, f.Run)
		for done := false; !done; {
			c, ok := (<-commits)[eventlog.TopicPartition{Topic: "events", Partition: p}]
			done = ok && c.Offset >= least
		}
		require.NoError(t, stop())
	}
	runUntil(0, 0) // where the partitions start is stored

	require.NoError(t, l.CreatePartitions(testContext(t), "events", 3))
	p2, err := l.Partition("events", 2)
	require.NoError(t, err)
	for i := range 3 {
		_, err := p2.Append(testContext(t), []eventlog.Record{{Value: []byte(fmt.Sprint("new ", i))}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	runUntil(2, 3)
	assert.Equal(t, int64(3), remoteEnds(t, c, "events", 3)[2], "the records of the new partition are forwarded")
}

// TestForwardKeepsTheClientBatchSize forwards a record larger than
// franz-go's default batch size with the batch size raised through
// ClientOptions, as kgo lets a client do, to a remote topic that takes it:
// the Forward's own sizing by the remote topic's limit keeps the client's.
func TestForwardKeepsTheClientBatchSize(t *testing.T) {
	c := newCluster(t, 1)
	_, err := kadm.NewClient(newClient(t, c)).CreateTopic(testContext(t), 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("3000000")}, "orders")
	require.NoError(t, err)
	l := eventlogtest.New(t, &eventlog.Options{MaxBatchBytes: 4 << 20})
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.Partition("orders", 0)
	require.NoError(t, err)
	_, err = p.Append(testContext(t), []eventlog.Record{{Value: bytes.Repeat([]byte{'v'}, 1500000)}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers: c.ListenAddrs(), Topics: []string{"orders"},
		ClientOptions: []kgo.Opt{kgo.ProducerBatchMaxBytes(2 << 20), kgo.BrokerMaxWriteBytes(8 << 20)},
	})
	require.NoError(t, err)
	committed := make(chan int64, 10)
	kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		committed <- o[eventlog.TopicPartition{Topic: "orders"}].Offset
	})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := startRun(ctx, f.Run)
	select {
	case <-committed:
	case err := <-done:
		require.NoError(t, err, "Run stopped before forwarding the record")
		require.Fail(t, "Run stopped before forwarding the record")
	}
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, map[int32]int64{0: 1}, remoteEnds(t, c, "orders", 1))
}

// ordersLimitedTo4000 makes a cluster with topic "orders" whose
// max.message.bytes is 4000, and a Log with a local topic "orders" of one
// partition, returned with the partition.
func ordersLimitedTo4000(t *testing.T) (*kfake.Cluster, *eventlog.Log, *eventlog.Partition) {
	t.Helper()
	c := newCluster(t, 1)
	_, err := kadm.NewClient(newClient(t, c)).CreateTopic(testContext(t), 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("4000")}, "orders")
	require.NoError(t, err)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.Partition("orders", 0)
	require.NoError(t, err)
	return c, l, p
}
