package kafkabridge_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestForwardEndToEnd forwards a topic to a renamed remote topic and checks
// that every record arrives on its partition number, in order, with its
// key, value, headers and timestamp, that a clean shutdown commits
// everything, and that no goroutine of the bridge is left.
func TestForwardEndToEnd(t *testing.T) {
	const n = 400
	c := newCluster(t, 3, "remote.orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 3}))
	sent := produceLocal(t, l, sampleRecords("orders", n, time.UnixMilli(1_700_000_000_000)))

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:     c.ListenAddrs(),
		Topics:      []string{"orders"},
		RemoteTopic: func(local string) string { return "remote." + local },
	})
	require.NoError(t, err)
	stop := runBridge(t, f.Run)

	got := consumeRemote(t, c, "remote.orders", 3, n)
	require.NoError(t, stop())
	want := byPartition(sent)
	for p, recs := range want {
		require.Len(t, got[p], len(recs), "partition %d", p)
		for i, r := range recs {
			assert.Equal(t, r.Offset, got[p][i].Offset, "an empty remote topic gets the local offsets")
			assertSameRecord(t, r, got[p][i], "partition %d record %d", p, i)
		}
	}

	offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 3)
	for _, o := range offsets {
		assert.Equal(t, o.HighWatermark, o.Committed, "%s committed at shutdown", o.TopicPartition)
	}
	assert.Empty(t, bridgeGoroutines(), "goroutines left after Run returned")

	require.ErrorIs(t, f.Run(context.Background()), kafkabridge.ErrAlreadyRun)
}

// TestForwardResumes runs a Forward twice: the second forwards only what
// was appended in between, since the first committed its progress.
func TestForwardResumes(t *testing.T) {
	c := newCluster(t, 2, "events")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2}))
	first := produceLocal(t, l, sampleRecords("events", 100, time.UnixMilli(1_000)))
	opts := &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}}

	f, err := kafkabridge.NewForward(l, opts)
	require.NoError(t, err)
	stop := runBridge(t, f.Run)
	consumeRemote(t, c, "events", 2, len(first))
	require.NoError(t, stop())

	second := produceLocal(t, l, sampleRecords("events", 50, time.UnixMilli(5_000)))
	f, err = kafkabridge.NewForward(l, opts)
	require.NoError(t, err)
	stop = runBridge(t, f.Run)
	got := consumeRemote(t, c, "events", 2, len(first)+len(second))
	require.NoError(t, stop())

	ends := remoteEnds(t, c, "events", 2)
	want := byPartition(append(first, second...))
	for p, recs := range want {
		assert.Equal(t, int64(len(recs)), ends[p], "partition %d holds no duplicate", p)
		for i, r := range recs {
			assertSameRecord(t, r, got[p][i], "partition %d record %d", p, i)
		}
	}
}

// TestForwardPatternCreatesTopics forwards every topic matching a pattern,
// including one created while the Forward runs, creating the remote topics
// with the local partition counts.
func TestForwardPatternCreatesTopics(t *testing.T) {
	c := newCluster(t, 1)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("outbox.a", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("other", eventlog.TopicConfig{Partitions: 1}))
	a := produceLocal(t, l, sampleRecords("outbox.a", 20, time.UnixMilli(1_000)))
	produceLocal(t, l, sampleRecords("other", 5, time.UnixMilli(1_000)))

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:      c.ListenAddrs(),
		TopicPattern: regexp.MustCompile(`^outbox\.`),
		CreateTopics: true,
	})
	require.NoError(t, err)
	stop := runBridge(t, f.Run)
	consumeRemote(t, c, "outbox.a", 2, len(a))

	require.NoError(t, l.CreateTopic("outbox.b", eventlog.TopicConfig{Partitions: 4}))
	b := produceLocal(t, l, sampleRecords("outbox.b", 30, time.UnixMilli(1_000)))
	got := consumeRemote(t, c, "outbox.b", 4, len(b))
	require.NoError(t, stop())
	for p, recs := range byPartition(b) {
		require.Len(t, got[p], len(recs))
	}
	assert.Len(t, remoteEnds(t, c, "outbox.b", 4), 4, "created with the local partition count")

	offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
	require.NoError(t, err)
	for _, o := range offsets {
		assert.NotEqual(t, "other", o.Topic, "a topic outside the pattern is not forwarded")
	}
}

// TestForwardRefusesFewerRemotePartitions stops with ErrPartitionMismatch
// naming both topics and counts, forwarding nothing.
func TestForwardRefusesFewerRemotePartitions(t *testing.T) {
	c := newCluster(t, 2, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 3}))
	produceLocal(t, l, sampleRecords("orders", 10, time.UnixMilli(1_000)))

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	err = f.Run(testContext(t))
	require.ErrorIs(t, err, kafkabridge.ErrPartitionMismatch)
	assert.Contains(t, err.Error(), `local topic "orders" has 3 partitions and remote topic "orders" only 2`)
	assert.Equal(t, map[int32]int64{0: 0, 1: 0}, remoteEnds(t, c, "orders", 2), "nothing sent")
}

// TestForwardMissingRemoteTopic stops with ErrRemoteTopicMissing when the
// remote topic does not exist and CreateTopics is off.
func TestForwardMissingRemoteTopic(t *testing.T) {
	c := newCluster(t, 1)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	produceLocal(t, l, sampleRecords("orders", 3, time.UnixMilli(1_000)))
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	err = f.Run(testContext(t))
	require.ErrorIs(t, err, kafkabridge.ErrRemoteTopicMissing)
	assert.Contains(t, err.Error(), `"orders"`)
}

// TestForwardKeyPlacementMatchesKafka sends keyed records through the
// library's default partitioner and the bridge, and the same keys with
// kgo's default partitioner straight into another topic of the same
// partition count: each key lands on the same partition number.
func TestForwardKeyPlacementMatchesKafka(t *testing.T) {
	const partitions, keys = 7, 200
	c := newCluster(t, partitions, "via-bridge", "direct")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("via-bridge", eventlog.TopicConfig{Partitions: partitions}))
	recs := make([]eventlog.Record, keys)
	for i := range recs {
		recs[i] = eventlog.Record{Topic: "via-bridge", Key: []byte(fmt.Sprintf("customer-%d", i)), Value: []byte("v")}
	}
	produceLocal(t, l, recs)

	direct := newClient(t, c, kgo.DefaultProduceTopic("direct")) // kgo's default partitioner: Kafka's
	for _, r := range recs {
		require.NoError(t, direct.ProduceSync(testContext(t), &kgo.Record{Key: r.Key, Value: r.Value}).FirstErr())
	}

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"via-bridge"}})
	require.NoError(t, err)
	stop := runBridge(t, f.Run)
	viaBridge := consumeRemote(t, c, "via-bridge", partitions, keys)
	require.NoError(t, stop())
	viaKgo := consumeRemote(t, c, "direct", partitions, keys)

	placement := func(m map[int32][]*kgo.Record) map[string]int32 {
		out := make(map[string]int32)
		for p, rs := range m {
			for _, r := range rs {
				out[string(r.Key)] = p
			}
		}
		return out
	}
	want := placement(viaKgo)
	require.Len(t, want, keys)
	assert.Equal(t, want, placement(viaBridge))
	used := make(map[int32]bool)
	for _, p := range want {
		used[p] = true
	}
	assert.Len(t, used, partitions, "the keys spread over every partition")
}

// TestForwardRecordRefused stops with the cluster's error when a record is
// larger than the remote topic accepts, after committing what came before.
func TestForwardRecordRefused(t *testing.T) {
	c := newCluster(t, 1, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	p, err := l.Partition("orders", 0)
	require.NoError(t, err)
	ctx := testContext(t)
	_, err = p.Append(ctx, []eventlog.Record{{Value: []byte("small")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	_, err = p.Append(ctx, []eventlog.Record{{Value: make([]byte, 600<<10)}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:    c.ListenAddrs(),
		Topics:     []string{"orders"},
		BatchBytes: 512 << 10, // the producer refuses records larger than a batch
	})
	require.NoError(t, err)
	err = f.Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `topic "orders" partition 0 offset 1`)
	offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(1), offsets[0].Committed, "the record before the refused one is committed, not the refused one")
}

// TestForwardOptionsErrors checks that bad options are refused with errors
// naming what is wrong.
func TestForwardOptionsErrors(t *testing.T) {
	l := newLog(t)
	for _, tc := range []struct {
		opts kafkabridge.ForwardOptions
		want string
	}{
		{kafkabridge.ForwardOptions{Topics: []string{"a"}}, "Brokers is empty"},
		{kafkabridge.ForwardOptions{Brokers: []string{"x:1"}}, "needs Topics or TopicPattern"},
		{kafkabridge.ForwardOptions{Brokers: []string{"x:1"}, Topics: []string{"a"}, TopicPattern: regexp.MustCompile("a")}, "both Topics and TopicPattern"},
		{kafkabridge.ForwardOptions{Brokers: []string{"x:1"}, Topics: []string{""}}, "empty name"},
		{kafkabridge.ForwardOptions{Brokers: []string{"x:1"}, Topics: []string{"a"}, MaxUncommitted: -1}, "negative"},
		{kafkabridge.ForwardOptions{Brokers: []string{"x:1"}, Topics: []string{"a"}, Compression: 9}, "compression 9"},
	} {
		_, err := kafkabridge.NewForward(l, &tc.opts)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.True(t, errors.Is(err, eventlog.ErrInvalidConfig) || errors.Is(err, eventlog.ErrInvalidTopic) ||
			errors.Is(err, eventlog.ErrUnsupportedCompression), err.Error())
	}
	_, err := kafkabridge.NewForward(nil, &kafkabridge.ForwardOptions{})
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers: []string{"127.0.0.1:1"}, Topics: []string{"a"}, ClientOptions: []kgo.Opt{kgo.DisableIdempotentWrite()},
	})
	require.NoError(t, err)
	require.ErrorIs(t, f.Run(testContext(t)), eventlog.ErrInvalidConfig, "idempotent writes are what keeps order across retries")
}

// TestForwardTopicDeleted deletes a forwarded topic while the Forward runs:
// the group gives its partitions up, and the other topics go on.
func TestForwardTopicDeleted(t *testing.T) {
	c := newCluster(t, 1)
	l := newLog(t)
	for _, name := range []string{"outbox.a", "outbox.b"} {
		require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 1}))
	}
	a := produceLocal(t, l, sampleRecords("outbox.a", 20, time.UnixMilli(1_000)))
	produceLocal(t, l, sampleRecords("outbox.b", 20, time.UnixMilli(1_000)))
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers: c.ListenAddrs(), TopicPattern: regexp.MustCompile(`^outbox\.`), CreateTopics: true,
	})
	require.NoError(t, err)
	stop := runBridge(t, f.Run)
	consumeRemote(t, c, "outbox.b", 1, 20)

	require.NoError(t, l.DeleteTopic(testContext(t), "outbox.b"))
	more := produceLocal(t, l, sampleRecords("outbox.a", 10, time.UnixMilli(9_000)))
	got := consumeRemote(t, c, "outbox.a", 1, len(a)+len(more))
	require.NoError(t, stop(), "a deleted topic does not stop the Forward")
	assert.Len(t, got[0], len(a)+len(more))
}

// TestForwardTopicRecreated deletes a forwarded topic and creates it again
// under the same name between the cluster's acknowledgement of its records
// and their commit. The progress acknowledged belongs to the topic that is
// gone: committed to the new topic, it would make the Forward skip the new
// topic's first records. Every record of both topics must arrive.
func TestForwardTopicRecreated(t *testing.T) {
	c := newCluster(t, 1, "events")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 1}))
	old := produceLocal(t, l, sampleRecords("events", 5, time.UnixMilli(1_000)))
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}})
	require.NoError(t, err)
	var recreated []eventlog.Record
	kafkabridge.SetForwardBeforeCommitHook(f, func() {
		if recreated != nil {
			return
		}
		require.NoError(t, l.DeleteTopic(testContext(t), "events"))
		require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 1}))
		recreated = produceLocal(t, l, sampleRecords("events", 10, time.UnixMilli(9_000)))
	})
	stop := runBridge(t, f.Run)
	got := consumeRemote(t, c, "events", 1, len(old)+10)
	require.NoError(t, stop())
	require.Len(t, got[0], len(old)+len(recreated))
	for i, r := range append(old, recreated...) {
		assert.Equal(t, string(r.Value), string(got[0][i].Value), "remote record %d", i)
	}
	offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(len(recreated)), offsets[0].Committed, "the new topic's progress, committed at shutdown")
}

// TestForwardToRemotePartitionsAddedMeanwhile forwards a local topic to a
// remote topic that has more partitions than the local topic had when the
// Forward started sending to it, then adds them to the local topic: the
// records of the local partitions added must reach the remote ones, which
// the Kafka client learns of only at its next metadata refresh (5 minutes)
// unless asked.
func TestForwardToRemotePartitionsAddedMeanwhile(t *testing.T) {
	c := newCluster(t, 2, "orders")
	forwardsToAddedPartition(t, c, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}}, func(ctx context.Context) {
		_, err := kadm.NewClient(newClient(t, c)).UpdatePartitions(ctx, 4, "orders")
		require.NoError(t, err)
	})
}

// forwardsToAddedPartition runs a Forward with opts of local topic
// "orders", of 2 partitions and 20 records, to c; once they reached the
// remote topic, it calls grow (if any), adds 2 partitions to the local
// topic and appends a record to the last, and checks that the record
// reaches the remote topic's partition 3.
func forwardsToAddedPartition(t *testing.T, c *kfake.Cluster, opts *kafkabridge.ForwardOptions, grow func(context.Context)) {
	t.Helper()
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
	before := produceLocal(t, l, sampleRecords("orders", 20, time.UnixMilli(1_000)))
	f, err := kafkabridge.NewForward(l, opts)
	require.NoError(t, err)
	forwarded := make(chan struct{})
	var once sync.Once
	kafkabridge.SetForwardCommitHook(f, func(offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		if offsets[eventlog.TopicPartition{Topic: "orders", Partition: 3}].Offset == 1 {
			once.Do(func() { close(forwarded) })
		}
	})
	ctx := testContext(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := startRun(runCtx, f.Run)
	consumeRemote(t, c, "orders", 2, len(before)) // the client knows the remote topic's 2 partitions

	if grow != nil {
		grow(ctx)
	}
	require.NoError(t, l.CreatePartitions(ctx, "orders", 4))
	added, err := l.Partition("orders", 3)
	require.NoError(t, err)
	_, err = added.Append(ctx, []eventlog.Record{{Value: []byte("on an added partition")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	awaitWhileRunning(t, ctx, forwarded, done, "forwarding the record on the added partition")
	cancel()
	require.NoError(t, <-done)
	got := consumeRemote(t, c, "orders", 4, len(before)+1)
	require.Len(t, got[3], 1)
	assert.Equal(t, "on an added partition", string(got[3][0].Value))
}
