package eventlog_test

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	kafkaLongMax = "9223372036854775807" // Kafka's Long.MAX_VALUE
	wrapsMs      = "18446744073710"      // times 1e6 ns wraps to 448µs
	fitsMs       = 9223372036854         // the most milliseconds a time.Duration holds
)

// TestTopicConfigFromKafkaValues checks what each Kafka topic config
// becomes: Kafka's meaning, -1 and values too large for a Duration as "no
// limit" or "as long as can be" (never a wrap-around to a short time), 0
// as what it means to Kafka rather than the Log's default, and values
// Kafka or the Log refuses refused with a *KafkaConfigError naming them.
func TestTopicConfigFromKafkaValues(t *testing.T) {
	longest := time.Duration(fitsMs) * time.Millisecond
	for _, tc := range []struct {
		name, value string
		want        eventlog.TopicConfig
		refused     string // part of the reason, "" if taken
	}{
		{"cleanup.policy", "delete", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupDelete}, ""},
		{"cleanup.policy", "compact", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}, ""},
		{"cleanup.policy", "compact,delete", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompactDelete}, ""},
		{"cleanup.policy", "delete, compact", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompactDelete}, ""},
		{"cleanup.policy", "keep", eventlog.TopicConfig{}, "not delete, compact or compact,delete"},
		{"cleanup.policy", "", eventlog.TopicConfig{}, "not delete, compact or compact,delete"},

		{"retention.ms", "604800000", eventlog.TopicConfig{Retention: 7 * 24 * time.Hour}, ""},
		{"retention.ms", "-1", eventlog.TopicConfig{Retention: eventlog.RetainForever}, ""},
		{"retention.ms", wrapsMs, eventlog.TopicConfig{Retention: eventlog.RetainForever}, ""},
		{"retention.ms", kafkaLongMax, eventlog.TopicConfig{Retention: eventlog.RetainForever}, ""},
		{"retention.ms", strconv.FormatInt(fitsMs, 10), eventlog.TopicConfig{Retention: longest}, ""},
		{"retention.ms", "0", eventlog.TopicConfig{Retention: time.Millisecond}, ""},
		{"retention.ms", "-2", eventlog.TopicConfig{}, "below -1"},
		{"retention.ms", "9223372036854775808", eventlog.TopicConfig{}, "does not fit a 64-bit integer"},
		{"retention.ms", "1h", eventlog.TopicConfig{}, "not an integer"},

		{"retention.bytes", "1073741824", eventlog.TopicConfig{RetentionBytes: 1 << 30}, ""},
		{"retention.bytes", "-1", eventlog.TopicConfig{RetentionBytes: -1}, ""},
		{"retention.bytes", "-5", eventlog.TopicConfig{RetentionBytes: -1}, ""},
		{"retention.bytes", kafkaLongMax, eventlog.TopicConfig{RetentionBytes: math.MaxInt64}, ""},
		{"retention.bytes", "0", eventlog.TopicConfig{RetentionBytes: 1}, ""},
		{"retention.bytes", "1.5", eventlog.TopicConfig{}, "not an integer"},

		{"segment.bytes", "1048576", eventlog.TopicConfig{SegmentBytes: 1 << 20}, ""},
		{"segment.bytes", "2147483647", eventlog.TopicConfig{SegmentBytes: math.MaxInt32}, ""},
		{"segment.bytes", "4294968320", eventlog.TopicConfig{}, "does not fit a 32-bit integer"}, // 2^32 + 1024
		{"segment.bytes", "1023", eventlog.TopicConfig{}, "below 1024"},
		{"segment.bytes", "0", eventlog.TopicConfig{}, "below 1024"},

		{"segment.ms", "3600000", eventlog.TopicConfig{SegmentAge: time.Hour}, ""},
		{"segment.ms", wrapsMs, eventlog.TopicConfig{SegmentAge: longest}, ""},
		{"segment.ms", kafkaLongMax, eventlog.TopicConfig{SegmentAge: longest}, ""},
		{"segment.ms", "0", eventlog.TopicConfig{}, "below 1"},
		{"segment.ms", "-1", eventlog.TopicConfig{}, "below 1"},

		{"max.message.bytes", "1048588", eventlog.TopicConfig{MaxBatchBytes: 1048588}, ""},
		{"max.message.bytes", "77", eventlog.TopicConfig{MaxBatchBytes: 77}, ""},
		{"max.message.bytes", "76", eventlog.TopicConfig{}, "below 77"},
		{"max.message.bytes", "0", eventlog.TopicConfig{}, "below 77"},
		{"max.message.bytes", "1073741824", eventlog.TopicConfig{}, "above 1073741823"},
		{"max.message.bytes", "4294968320", eventlog.TopicConfig{}, "does not fit a 32-bit integer"},

		{"delete.retention.ms", "3600000", eventlog.TopicConfig{DeleteRetention: time.Hour}, ""},
		{"delete.retention.ms", wrapsMs, eventlog.TopicConfig{DeleteRetention: longest}, ""},
		{"delete.retention.ms", "0", eventlog.TopicConfig{DeleteRetention: time.Millisecond}, ""},
		{"delete.retention.ms", "-1", eventlog.TopicConfig{}, "below 0"},

		{"min.compaction.lag.ms", "60000", eventlog.TopicConfig{MinCompactionLag: time.Minute}, ""},
		{"min.compaction.lag.ms", "0", eventlog.TopicConfig{}, ""}, // Kafka's default, and the Log's
		{"min.compaction.lag.ms", kafkaLongMax, eventlog.TopicConfig{MinCompactionLag: longest}, ""},
		{"min.compaction.lag.ms", "-1", eventlog.TopicConfig{}, "below 0"},

		{"max.compaction.lag.ms", "60000", eventlog.TopicConfig{MaxCompactionLag: time.Minute}, ""},
		{"max.compaction.lag.ms", kafkaLongMax, eventlog.TopicConfig{}, ""}, // Kafka's default: no limit
		{"max.compaction.lag.ms", wrapsMs, eventlog.TopicConfig{}, ""},
		{"max.compaction.lag.ms", strconv.FormatInt(fitsMs, 10), eventlog.TopicConfig{MaxCompactionLag: longest}, ""},
		{"max.compaction.lag.ms", "0", eventlog.TopicConfig{}, "below 1"},

		{"min.cleanable.dirty.ratio", "0.25", eventlog.TopicConfig{MinCleanableDirtyRatio: 0.25}, ""},
		{"min.cleanable.dirty.ratio", "1", eventlog.TopicConfig{MinCleanableDirtyRatio: 1}, ""},
		// Kafka's 0 cleans at any dirt, not at the Log's default ratio.
		{"min.cleanable.dirty.ratio", "0", eventlog.TopicConfig{MinCleanableDirtyRatio: math.SmallestNonzeroFloat64}, ""},
		{"min.cleanable.dirty.ratio", "1.5", eventlog.TopicConfig{}, "outside [0, 1]"},
		{"min.cleanable.dirty.ratio", "-0.1", eventlog.TopicConfig{}, "outside [0, 1]"},
		{"min.cleanable.dirty.ratio", "NaN", eventlog.TopicConfig{}, "outside [0, 1]"},
		{"min.cleanable.dirty.ratio", "half", eventlog.TopicConfig{}, "not a number"},

		{"flush.messages", "1", eventlog.TopicConfig{Durability: eventlog.DurabilityFsync}, ""},
		{"flush.messages", "2", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}, ""},
		{"flush.messages", kafkaLongMax, eventlog.TopicConfig{Durability: eventlog.DurabilityOS}, ""},
		{"flush.messages", "0", eventlog.TopicConfig{}, "below 1"}, // Kafka's least is 1
		{"flush.messages", "-1", eventlog.TopicConfig{}, "below 1"},

		{"message.timestamp.type", "CreateTime", eventlog.TopicConfig{}, ""},
		{"message.timestamp.type", "LogAppendTime", eventlog.TopicConfig{}, "only CreateTime"},
		{"compression.type", "producer", eventlog.TopicConfig{}, ""},
		{"compression.type", "zstd", eventlog.TopicConfig{}, "only producer"},
		{"min.insync.replicas", "1", eventlog.TopicConfig{}, ""},
		{"min.insync.replicas", "2", eventlog.TopicConfig{}, "above 1"},
		{"min.insync.replicas", "0", eventlog.TopicConfig{}, "below 1"},

		{"unclean.leader.election.enable", "true", eventlog.TopicConfig{}, "not a topic config the Log takes"},
	} {
		what := tc.name + "=" + tc.value
		base := eventlog.TopicConfig{Partitions: 3}
		got, err := eventlog.TopicConfigFromKafka(base, map[string]string{tc.name: tc.value})
		if tc.refused != "" {
			var kerr *eventlog.KafkaConfigError
			if assert.ErrorAs(t, err, &kerr, what) {
				assert.Equal(t, eventlog.KafkaConfigError{Name: tc.name, Value: tc.value, Reason: kerr.Reason}, *kerr, what)
				assert.Contains(t, kerr.Reason, tc.refused, what)
			}
			assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, what)
			assert.Equal(t, base, got, "%s: refused, the base is returned as it was", what)
			continue
		}
		if !assert.NoError(t, err, what) {
			continue
		}
		tc.want.Partitions = 3
		assert.Equal(t, tc.want, got, what)
	}
}

// TestTopicConfigFromKafkaErrors checks the error's text, that a base's
// settings the configs do not name are kept, and that settings which do
// not go together are refused as CreateTopic refuses them.
func TestTopicConfigFromKafkaErrors(t *testing.T) {
	_, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, map[string]string{"retention.ms": "-2"})
	assert.EqualError(t, err, `eventlog: invalid configuration: Kafka topic config retention.ms="-2": below -1`)

	// Of two bad ones, the first in KafkaTopicConfigNames' order, every
	// time.
	for range 5 {
		_, err = eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, map[string]string{"segment.ms": "0", "cleanup.policy": "x", "retention.ms": "x"})
		var kerr *eventlog.KafkaConfigError
		require.ErrorAs(t, err, &kerr)
		assert.Equal(t, "cleanup.policy", kerr.Name)
		_, err = eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, map[string]string{"segment.ms": "0", "z.unknown": "1", "a.unknown": "1"})
		require.ErrorAs(t, err, &kerr)
		assert.Equal(t, "a.unknown", kerr.Name, "an unknown name first, the first sorted")
	}

	base := eventlog.TopicConfig{Partitions: 2, SegmentBytes: 1 << 20, Retention: time.Hour}
	got, err := eventlog.TopicConfigFromKafka(base, map[string]string{"retention.ms": "60000"})
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 2, SegmentBytes: 1 << 20, Retention: time.Minute}, got)
	got, err = eventlog.TopicConfigFromKafka(base, nil)
	require.NoError(t, err)
	assert.Equal(t, base, got)

	got, err = eventlog.TopicConfigFromKafka(base, map[string]string{"min.compaction.lag.ms": "60000", "max.compaction.lag.ms": "1000"})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	var kerr *eventlog.KafkaConfigError
	assert.False(t, errors.As(err, &kerr), "no one setting is wrong: %v", err)
	assert.Equal(t, base, got)
}

// TestTopicConfigKafkaRoundTrip writes TopicConfigs as Kafka configs and
// reads them back: every setting survives, and each is written as Kafka
// writes it.
func TestTopicConfigKafkaRoundTrip(t *testing.T) {
	full := eventlog.TopicConfig{
		Durability:             eventlog.DurabilityFsync,
		SegmentBytes:           64 << 20,
		SegmentAge:             time.Hour,
		MaxBatchBytes:          262144,
		Retention:              2 * time.Hour,
		RetentionBytes:         1 << 30,
		CleanupPolicy:          eventlog.CleanupCompactDelete,
		DeleteRetention:        30 * time.Minute,
		MinCleanableDirtyRatio: 0.25,
		MinCompactionLag:       time.Minute,
		MaxCompactionLag:       3 * time.Hour,
	}
	assert.Equal(t, map[string]string{
		"cleanup.policy":            "compact,delete",
		"flush.messages":            "1",
		"segment.bytes":             "67108864",
		"segment.ms":                "3600000",
		"max.message.bytes":         "262144",
		"retention.ms":              "7200000",
		"retention.bytes":           "1073741824",
		"delete.retention.ms":       "1800000",
		"min.cleanable.dirty.ratio": "0.25",
		"min.compaction.lag.ms":     "60000",
		"max.compaction.lag.ms":     "10800000",
	}, full.KafkaConfigs())
	assert.Equal(t, map[string]string{"cleanup.policy": "delete"}, eventlog.TopicConfig{Partitions: 4}.KafkaConfigs(),
		"zero fields inherit the Log's Options, and Partitions is no topic config")
	assert.Equal(t, map[string]string{"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1", "flush.messages": kafkaLongMax},
		eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, Retention: eventlog.RetainForever, RetentionBytes: -1, Durability: eventlog.DurabilityOS}.KafkaConfigs())
	assert.Equal(t, map[string]string{"cleanup.policy": "delete", "segment.ms": "2", "retention.ms": "1"},
		eventlog.TopicConfig{SegmentAge: 1500 * time.Microsecond, Retention: time.Nanosecond}.KafkaConfigs(),
		"a fraction of a millisecond rounds up, as the Log stores it, never down to Kafka's 0")

	for _, cfg := range []eventlog.TopicConfig{
		full,
		{},
		{Partitions: 7, CleanupPolicy: eventlog.CleanupCompact, Retention: eventlog.RetainForever, RetentionBytes: -1, Durability: eventlog.DurabilityOS},
		{Retention: time.Millisecond, RetentionBytes: 1, DeleteRetention: time.Millisecond, MinCleanableDirtyRatio: math.SmallestNonzeroFloat64},
		{SegmentAge: time.Duration(fitsMs) * time.Millisecond, MinCompactionLag: time.Duration(fitsMs) * time.Millisecond, Retention: time.Duration(fitsMs) * time.Millisecond},
		{SegmentBytes: math.MaxInt32, MaxBatchBytes: math.MaxInt32 / 2, RetentionBytes: math.MaxInt64, MinCleanableDirtyRatio: 1},
	} {
		got, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{Partitions: cfg.Partitions}, cfg.KafkaConfigs())
		if assert.NoError(t, err, "%+v", cfg) {
			assert.Equal(t, cfg, got)
		}
	}
}

// TestTopicConfigFromKafkaCreates creates a topic with every config
// KafkaTopicConfigNames lists, at a value the Log takes, and checks that
// the Log keeps what TopicConfigFromKafka made of them.
func TestTopicConfigFromKafkaCreates(t *testing.T) {
	values := map[string]string{
		"cleanup.policy": "compact", "retention.ms": "7200000", "retention.bytes": "0",
		"segment.bytes": "1048576", "segment.ms": "3600000", "max.message.bytes": "4096",
		"delete.retention.ms": "0", "min.compaction.lag.ms": "1000", "max.compaction.lag.ms": kafkaLongMax,
		"min.cleanable.dirty.ratio": "0", "flush.messages": "5", "message.timestamp.type": "CreateTime",
		"compression.type": "producer", "min.insync.replicas": "1",
	}
	names := eventlog.KafkaTopicConfigNames()
	assert.ElementsMatch(t, names, slices.Collect(maps.Keys(values)), "every name listed is tried")
	names[0] = "changed"
	assert.Equal(t, "cleanup.policy", eventlog.KafkaTopicConfigNames()[0], "the slice is the caller's")

	cfg, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{Partitions: 2}, values)
	require.NoError(t, err)
	l, err := eventlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("kafka-configs", cfg))
	got, err := l.TopicConfig("kafka-configs")
	require.NoError(t, err)
	assert.Equal(t, cfg, got)
	assert.Equal(t, map[string]string{
		"cleanup.policy": "compact", "retention.ms": "7200000", "retention.bytes": "1",
		"segment.bytes": "1048576", "segment.ms": "3600000", "max.message.bytes": "4096",
		"delete.retention.ms": "1", "min.compaction.lag.ms": "1000",
		"min.cleanable.dirty.ratio": "0", "flush.messages": kafkaLongMax,
	}, got.KafkaConfigs())
}

// ExampleTopicConfigFromKafka creates a topic with the settings a Kafka
// client would create it with, and prints them back as Kafka names them.
func ExampleTopicConfigFromKafka() {
	cfg, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{Partitions: 3}, map[string]string{
		"cleanup.policy":      "compact",
		"delete.retention.ms": "3600000",
		"retention.bytes":     "-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Partitions, cfg.CleanupPolicy, cfg.DeleteRetention, cfg.RetentionBytes)

	configs := cfg.KafkaConfigs()
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		fmt.Printf("%s=%s\n", name, configs[name])
	}

	_, err = eventlog.TopicConfigFromKafka(cfg, map[string]string{"retention.ms": "a week"})
	fmt.Println(err)
	// Output:
	// 3 compact 1h0m0s -1
	// cleanup.policy=compact
	// delete.retention.ms=3600000
	// retention.bytes=-1
	// eventlog: invalid configuration: Kafka topic config retention.ms="a week": not an integer
}
