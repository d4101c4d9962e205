package kafkaserver

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTopicSettingsMatchKafkaNames checks topicSettings, what
// DescribeConfigs says of each topic setting, against the names
// eventlog's mapping takes: a name the mapping gains without an entry
// here would be taken by CreateTopics but never described, and refused by
// every alteration; a name only here would be described but refused. A
// setting meant to be the listener's own would be listed in this test
// with the reason; there is none.
func TestTopicSettingsMatchKafkaNames(t *testing.T) {
	assert.ElementsMatch(t, eventlog.KafkaTopicConfigNames(), slices.Collect(maps.Keys(topicSettings)))
	for name, s := range topicSettings {
		assert.NotEmpty(t, s.broker, "%s: the broker setting it defaults to", name)
		assert.NotEmpty(t, s.doc, name)
	}
}

// TestLogDefaultsTaken checks the Log's fixed defaults as the listener
// writes them: each is a topic setting it describes (the broker's
// settings list them under topicSettings' broker names), and each is a
// value eventlog.TopicConfigFromKafka takes, as APPEND and SUBTRACT start
// from it.
func TestLogDefaultsTaken(t *testing.T) {
	defaults := logDefaults()
	for name := range defaults {
		assert.Contains(t, topicSettings, name)
	}
	cfg, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, defaults)
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{
		DeleteRetention:        eventlog.DefaultDeleteRetention,
		MinCleanableDirtyRatio: eventlog.DefaultMinCleanableDirtyRatio,
	}, cfg, "the defaults, written out")
}

// TestOwnTopicConfigsRoundTrip checks that a topic's own settings, as
// DescribeConfigs lists them and a change edits them, read back to the
// TopicConfig they came from (but for Partitions, which is no topic
// config): an alteration keeps the settings it does not name.
func TestOwnTopicConfigsRoundTrip(t *testing.T) {
	for _, cfg := range []eventlog.TopicConfig{
		{},
		{CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: math.SmallestNonzeroFloat64, Durability: eventlog.DurabilityFsync},
		{Retention: eventlog.RetainForever, RetentionBytes: -1, SegmentBytes: 1 << 20, SegmentAge: time.Hour, MaxBatchBytes: 4096},
		{CleanupPolicy: eventlog.CleanupCompactDelete, DeleteRetention: time.Millisecond, MinCompactionLag: time.Minute, MaxCompactionLag: time.Hour, MinCleanableDirtyRatio: 0.25},
	} {
		got, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, ownTopicConfigs(cfg))
		if assert.NoError(t, err, "%+v", cfg) {
			assert.Equal(t, cfg, got)
		}
	}
	assert.Equal(t, map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0"},
		ownTopicConfigs(eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: math.SmallestNonzeroFloat64}),
		"Kafka's 0, which cleans at any dirt, as it was set")
	assert.Empty(t, ownTopicConfigs(eventlog.TopicConfig{Partitions: 3}), "delete is the default policy")
}
