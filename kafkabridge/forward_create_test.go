package kafkabridge_test

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestForwardCreatesTopicsWithTheLocalSettings lets a Forward create its
// remote topics: each gets the settings of its local topic that Kafka has
// (a compacted topic is compacted on the cluster too, with its retention
// and compaction settings), and the limit on batches in effect locally, so
// that every record the local topic took fits the remote one. What the
// local topic leaves to the Log's defaults is left to the cluster's.
func TestForwardCreatesTopicsWithTheLocalSettings(t *testing.T) {
	c := newCluster(t, 1)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("outbox.state", eventlog.TopicConfig{
		Partitions:             2,
		CleanupPolicy:          eventlog.CleanupCompactDelete,
		Retention:              2 * time.Hour,
		RetentionBytes:         64 << 20,
		DeleteRetention:        time.Hour,
		MinCompactionLag:       time.Minute,
		MaxCompactionLag:       3 * time.Hour,
		MinCleanableDirtyRatio: 0.25,
		MaxBatchBytes:          256 << 10,
		SegmentBytes:           1 << 20, // the local disk's business, not carried
	}))
	require.NoError(t, l.CreateTopic("outbox.events", eventlog.TopicConfig{Partitions: 1, Retention: eventlog.RetainForever}))
	require.NoError(t, l.CreateTopic("outbox.defaults", eventlog.TopicConfig{Partitions: 1}))
	for _, topic := range []string{"outbox.state", "outbox.events", "outbox.defaults"} {
		produceLocal(t, l, []eventlog.Record{{Topic: topic, Key: []byte("k"), Value: []byte("v")}})
	}

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:      c.ListenAddrs(),
		TopicPattern: regexp.MustCompile(`^outbox\.`),
		CreateTopics: true,
	})
	require.NoError(t, err)
	stop := runBridge(t, f.Run)
	consumeRemote(t, c, "outbox.state", 2, 1)
	consumeRemote(t, c, "outbox.events", 1, 1)
	consumeRemote(t, c, "outbox.defaults", 1, 1)
	require.NoError(t, stop())

	configs := func(topic string) map[string]string {
		info := c.TopicInfo(topic)
		require.NotNil(t, info, topic)
		out := make(map[string]string)
		for k, v := range info.Configs {
			if v != nil {
				out[k] = *v
			}
		}
		return out
	}
	assert.Equal(t, map[string]string{
		"cleanup.policy":            "compact,delete",
		"retention.ms":              "7200000",
		"retention.bytes":           "67108864",
		"delete.retention.ms":       "3600000",
		"min.compaction.lag.ms":     "60000",
		"max.compaction.lag.ms":     "10800000",
		"min.cleanable.dirty.ratio": "0.25",
		"max.message.bytes":         "262144",
	}, configs("outbox.state"))
	assert.Equal(t, map[string]string{
		"cleanup.policy":    "delete",
		"retention.ms":      "-1",
		"max.message.bytes": "1048588",
	}, configs("outbox.events"))
	assert.Equal(t, map[string]string{
		"cleanup.policy":    "delete",
		"max.message.bytes": "1048588",
	}, configs("outbox.defaults"))
}

// TestForwardAddsPartitionsToTopicsItCreates adds partitions to a local
// topic while a Forward with CreateTopics forwards it: as MirrorMaker 2
// does to its targets, and as a Mirror does to its local topics, the
// Forward adds them to the remote topic and forwards their records to
// them, rather than stop with ErrPartitionMismatch.
func TestForwardAddsPartitionsToTopicsItCreates(t *testing.T) {
	c := newCluster(t, 1)
	forwardsToAddedPartition(t, c, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}, CreateTopics: true}, nil)
}

// TestForwardTopicDeletedWhileChecked deletes a local topic while the
// Forward asks the cluster about its remote topic, after the group gave it
// the topic's partitions: as for a topic deleted while it is read, the
// Forward goes on with the other topics rather than stop.
func TestForwardTopicDeletedWhileChecked(t *testing.T) {
	c := newCluster(t, 1)
	l := newLog(t)
	for _, name := range []string{"outbox.a", "outbox.b"} {
		require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 1}))
	}
	a := produceLocal(t, l, sampleRecords("outbox.a", 10, time.UnixMilli(1_000)))
	produceLocal(t, l, sampleRecords("outbox.b", 10, time.UnixMilli(1_000)))
	var once sync.Once
	c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range req.(*kmsg.MetadataRequest).Topics {
			if rt.Topic != nil && *rt.Topic == "outbox.b" {
				once.Do(func() { assert.NoError(t, l.DeleteTopic(context.Background(), "outbox.b")) }) // on a goroutine of the cluster
			}
		}
		c.KeepControl()
		return nil, nil, false
	})
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers: c.ListenAddrs(), TopicPattern: regexp.MustCompile(`^outbox\.`), CreateTopics: true,
	})
	require.NoError(t, err)
	forwarded := make(chan struct{})
	var forwardedOnce sync.Once
	kafkabridge.SetForwardCommitHook(f, func(offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		if offsets[eventlog.TopicPartition{Topic: "outbox.a"}].Offset == int64(len(a)) {
			forwardedOnce.Do(func() { close(forwarded) })
		}
	})
	ctx := testContext(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := startRun(runCtx, f.Run)
	awaitWhileRunning(t, ctx, forwarded, done, "forwarding outbox.a")
	cancel()
	require.NoError(t, <-done, "a deleted topic does not stop the Forward")
	got := consumeRemote(t, c, "outbox.a", 1, len(a))
	assert.Len(t, got[0], len(a))
}
