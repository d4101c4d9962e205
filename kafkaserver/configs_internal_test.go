package kafkaserver

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
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

// TestSettingValuesTaken checks the broker-wide settings as the listener
// writes them: each is a topic setting it describes, and together they
// are values eventlog.TopicConfigFromKafka takes, as APPEND and SUBTRACT
// start from them, and reads back to what they came from.
func TestSettingValuesTaken(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1 << 20, Durability: eventlog.DurabilityOS})
	broker := l.DefaultTopicSettings()
	values := settingValues(broker.Config)
	assert.ElementsMatch(t, slices.Collect(maps.Keys(topicSettings)), slices.Collect(maps.Keys(values)))
	cfg, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{Partitions: 1}, values)
	require.NoError(t, err)
	assert.Equal(t, broker.Config, cfg, "the settings, written out")
}

// TestTopicSettingEntriesMatchTopicSettings checks that what the listener
// makes of a topic's own settings over the broker-wide ones, as it
// answers CreateTopics and DescribeConfigs, is what Log.TopicSettings
// reports the topic runs with.
func TestTopicSettingEntriesMatchTopicSettings(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1 << 20, Retention: time.Hour})
	for i, cfg := range []eventlog.TopicConfig{
		{},
		{CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: math.SmallestNonzeroFloat64, Durability: eventlog.DurabilityOS},
		{Retention: eventlog.RetainForever, RetentionBytes: -1, SegmentBytes: 1 << 20, SegmentAge: time.Hour, MaxBatchBytes: 4096},
		{CleanupPolicy: eventlog.CleanupCompactDelete, DeleteRetention: time.Millisecond, MinCompactionLag: time.Minute, MaxCompactionLag: time.Hour},
	} {
		name := fmt.Sprintf("t%d", i)
		require.NoError(t, l.CreateTopic(name, cfg))
		want, err := l.TopicSettings(name)
		require.NoError(t, err)
		values, sources := settingValues(want.Config), settingSources(want.Sources)
		for _, e := range topicSettingEntries(cfg, l.DefaultTopicSettings()) {
			assert.Equal(t, values[e.name], e.value, "%+v: %s", cfg, e.name)
			assert.Equal(t, sources[e.name], e.source, "%+v: %s", cfg, e.name)
		}
	}
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
