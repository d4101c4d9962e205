package kafkabridge_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMirrorCreatesTopicsWithTheRemoteSettings lets a Mirror create its
// local topics: each gets the cleanup.policy, max.message.bytes, retention
// and compaction settings set on its remote topic, so that a compacted
// remote topic is compacted locally too. What the remote topic leaves to
// the cluster's defaults is left to the Log's.
func TestMirrorCreatesTopicsWithTheRemoteSettings(t *testing.T) {
	c := newCluster(t, 1)
	adm := kadm.NewClient(newClient(t, c))
	_, err := adm.CreateTopic(testContext(t), 2, 1, map[string]*string{
		"cleanup.policy":        kmsg.StringPtr("compact"),
		"retention.ms":          kmsg.StringPtr("7200000"),
		"retention.bytes":       kmsg.StringPtr("-1"),
		"delete.retention.ms":   kmsg.StringPtr("3600000"),
		"min.compaction.lag.ms": kmsg.StringPtr("60000"),
		"max.message.bytes":     kmsg.StringPtr("300000"),
		"segment.bytes":         kmsg.StringPtr("1073741824"), // the cluster's disk, not carried
	}, "prices")
	require.NoError(t, err)
	_, err = adm.CreateTopic(testContext(t), 1, 1, nil, "events")
	require.NoError(t, err)
	produceRemote(t, c, "prices", []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}})
	produceRemote(t, c, "events", []eventlog.Record{{Value: []byte("v")}})
	l := newLog(t)

	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"prices", "events"}})
	require.NoError(t, err)
	commits := make(chan struct{}, 100)
	kafkabridge.SetMirrorCommitHook(m, func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- struct{}{} })
	stop := runBridge(t, m.Run)
	select {
	case <-commits: // the local topics exist once something is committed
	case <-testContext(t).Done():
		t.Fatalf("nothing mirrored; Run: %v", stop())
	}
	require.NoError(t, stop())

	cfg, err := l.TopicConfig("prices")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{
		Partitions:       2,
		CleanupPolicy:    eventlog.CleanupCompact,
		Retention:        2 * time.Hour,
		RetentionBytes:   -1,
		DeleteRetention:  time.Hour,
		MinCompactionLag: time.Minute,
		MaxBatchBytes:    300000,
	}, cfg)
	cfg, err = l.TopicConfig("events")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1}, cfg, "the cluster's defaults are left to the Log's")
}

// TestMirrorStoppedWhileReadingRemoteSettings stops a Mirror while it
// reads the settings of a remote topic to create its local topic with:
// the local topic must not be created without them, for good.
func TestMirrorStoppedWhileReadingRemoteSettings(t *testing.T) {
	c := newCluster(t, 1)
	_, err := kadm.NewClient(newClient(t, c)).CreateTopic(testContext(t), 1, 1,
		map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "prices")
	require.NoError(t, err)
	l := newLog(t)
	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"prices"}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	c.ControlKey(int16(kmsg.DescribeConfigs), func(kmsg.Request) (kmsg.Response, error, bool) {
		cancel()
		return nil, nil, true // taken, never answered
	})
	require.NoError(t, m.Run(ctx), "stopped while starting: a clean shutdown")
	if cfg, err := l.TopicConfig("prices"); err == nil {
		assert.Equal(t, eventlog.CleanupCompact, cfg.CleanupPolicy, "a local topic created without the remote settings")
	} else {
		require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	}
}

// TestMirrorCarriesZeroDirtyRatio mirrors a remote topic whose
// min.cleanable.dirty.ratio is 0, which Kafka cleans at any dirt: the
// local topic must be cleaned so too, not at the Log's default ratio,
// which a zero MinCleanableDirtyRatio means.
func TestMirrorCarriesZeroDirtyRatio(t *testing.T) {
	c := newCluster(t, 1)
	_, err := kadm.NewClient(newClient(t, c)).CreateTopic(testContext(t), 1, 1, map[string]*string{
		"cleanup.policy":            kmsg.StringPtr("compact"),
		"min.cleanable.dirty.ratio": kmsg.StringPtr("0"),
	}, "prices")
	require.NoError(t, err)
	produceRemote(t, c, "prices", []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}})
	l := newLog(t)
	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"prices"}})
	require.NoError(t, err)
	commits := make(chan struct{}, 100)
	kafkabridge.SetMirrorCommitHook(m, func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- struct{}{} })
	stop := runBridge(t, m.Run)
	select {
	case <-commits:
	case <-testContext(t).Done():
		t.Fatalf("nothing mirrored; Run: %v", stop())
	}
	require.NoError(t, stop())

	cfg, err := l.TopicConfig("prices")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: math.SmallestNonzeroFloat64}, cfg)
}
