package eventlog

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TopicConfig's settings under Kafka's topic config names, both ways, for
// the code that speaks Kafka to a TopicConfig: a Kafka listener's
// CreateTopics, a bridge creating topics on either side, a tool printing a
// topic's settings.

// Kafka's topic config names for TopicConfig's settings.
const (
	kafkaCleanupPolicy          = "cleanup.policy"
	kafkaRetentionMs            = "retention.ms"
	kafkaRetentionBytes         = "retention.bytes"
	kafkaSegmentBytes           = "segment.bytes"
	kafkaSegmentMs              = "segment.ms"
	kafkaMaxMessageBytes        = "max.message.bytes"
	kafkaDeleteRetentionMs      = "delete.retention.ms"
	kafkaMinCompactionLagMs     = "min.compaction.lag.ms"
	kafkaMaxCompactionLagMs     = "max.compaction.lag.ms"
	kafkaMinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
	kafkaFlushMessages          = "flush.messages"
	kafkaTimestampType          = "message.timestamp.type"
	kafkaCompressionType        = "compression.type"
	kafkaMinInsyncReplicas      = "min.insync.replicas"
)

// kafkaTopicConfigNames lists the names TopicConfigFromKafka takes: the
// settings TopicConfig holds, then three that the Log honours at one value
// only.
var kafkaTopicConfigNames = []string{
	kafkaCleanupPolicy, kafkaRetentionMs, kafkaRetentionBytes, kafkaSegmentBytes,
	kafkaSegmentMs, kafkaMaxMessageBytes, kafkaDeleteRetentionMs, kafkaMinCompactionLagMs,
	kafkaMaxCompactionLagMs, kafkaMinCleanableDirtyRatio, kafkaFlushMessages,
	kafkaTimestampType, kafkaCompressionType, kafkaMinInsyncReplicas,
}

// KafkaTopicConfigNames returns the Kafka topic config names that
// TopicConfigFromKafka takes: cleanup.policy, retention.ms,
// retention.bytes, segment.bytes, segment.ms, max.message.bytes,
// delete.retention.ms, min.compaction.lag.ms, max.compaction.lag.ms,
// min.cleanable.dirty.ratio and flush.messages, which TopicConfig holds;
// and message.timestamp.type, compression.type and min.insync.replicas,
// taken at the one value the Log honours (CreateTime, producer and 1),
// so that tools that send them when they create a topic (Kafka Streams,
// Terraform providers) can create it. The slice is the caller's.
func KafkaTopicConfigNames() []string { return slices.Clone(kafkaTopicConfigNames) }

// kafkaLongMax is Kafka's Long.MAX_VALUE, its "never" for flush.messages.
const kafkaLongMax = "9223372036854775807"

// KafkaConfigs returns c's settings as Kafka topic configs, the values
// written as Kafka writes them: cleanup.policy always; every other
// setting only if c sets it (a zero field, which inherits the Log's
// Options, is left out, as is Partitions, which is no topic config).
// Durations are whole milliseconds, rounded up as the Log stores them;
// RetainForever and a RetentionBytes of -1 are "-1", Kafka's "no limit";
// Durability is flush.messages, 1 for DurabilityFsync (an fsync per
// append) and Long.MAX_VALUE, Kafka's default, for DurabilityOS.
// TopicConfigFromKafka reads the map back to c, for a c the Log takes.
func (c TopicConfig) KafkaConfigs() map[string]string {
	m := map[string]string{kafkaCleanupPolicy: c.CleanupPolicy.String()}
	ms := func(name string, d time.Duration) {
		switch {
		case d < 0:
			m[name] = "-1"
		case d > 0:
			m[name] = strconv.FormatInt(ceilMillisecond(d).Milliseconds(), 10)
		}
	}
	bytes := func(name string, n int64) {
		if n != 0 {
			m[name] = strconv.FormatInt(n, 10)
		}
	}
	ms(kafkaRetentionMs, c.Retention)
	bytes(kafkaRetentionBytes, c.RetentionBytes)
	bytes(kafkaSegmentBytes, c.SegmentBytes)
	ms(kafkaSegmentMs, c.SegmentAge)
	bytes(kafkaMaxMessageBytes, int64(c.MaxBatchBytes))
	ms(kafkaDeleteRetentionMs, c.DeleteRetention)
	ms(kafkaMinCompactionLagMs, c.MinCompactionLag)
	ms(kafkaMaxCompactionLagMs, c.MaxCompactionLag)
	switch c.MinCleanableDirtyRatio {
	case 0: // the Log's default
	case math.SmallestNonzeroFloat64:
		// What TopicConfigFromKafka makes of Kafka's 0 (clean at any
		// dirt), written back as Kafka's 0 so that a tool that set 0
		// reads back what it set.
		m[kafkaMinCleanableDirtyRatio] = "0"
	default:
		m[kafkaMinCleanableDirtyRatio] = strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64)
	}
	switch c.Durability {
	case DurabilityFsync:
		m[kafkaFlushMessages] = "1"
	case DurabilityOS:
		m[kafkaFlushMessages] = kafkaLongMax
	}
	return m
}

// KafkaConfigError reports a Kafka topic config that TopicConfigFromKafka
// cannot take: a name it does not know, or a value that is not a number,
// is out of Kafka's range or the Log's, or is not the one value the Log
// honours. errors.Is(err, ErrInvalidConfig) is true of it.
type KafkaConfigError struct {
	Name   string // the config's name, e.g. "retention.ms"
	Value  string // its value as given
	Reason string // what is wrong, e.g. "below -1"
}

// Error names the config, its value and what is wrong with it.
func (e *KafkaConfigError) Error() string {
	return fmt.Sprintf("eventlog: invalid configuration: Kafka topic config %s=%q: %s", e.Name, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *KafkaConfigError) Unwrap() error { return ErrInvalidConfig }

// TopicConfigFromKafka returns base with the Kafka topic configs applied,
// each with Kafka's meaning, or base and a *KafkaConfigError naming one it
// cannot take: a name missing from KafkaTopicConfigNames (the first in
// sorted order), or else the first bad value in that list's order. Kafka's bounds apply (a LONG or INT of at
// least Kafka's minimum), and the Log's where they are narrower
// (segment.bytes of at least 1 KiB, max.message.bytes of at least a batch
// header and 16 bytes). Milliseconds beyond what a time.Duration holds
// (292 years; Kafka takes up to Long.MAX_VALUE) mean as long as can be,
// and no limit for retention.ms and max.compaction.lag.ms; -1 is no limit
// for retention.ms, and any negative retention.bytes too, as in Kafka.
// Where a zero field means the Log's default, Kafka's 0 becomes the
// nearest value that does not and keeps as little, or cleans as eagerly:
// 1 ms for retention.ms and delete.retention.ms, 1 byte for
// retention.bytes, the smallest positive ratio for
// min.cleanable.dirty.ratio. flush.messages=1 is DurabilityFsync, more is
// DurabilityOS. The result is checked as CreateTopic checks it: an error
// that is not a *KafkaConfigError comes from settings that do not go
// together, such as a min.compaction.lag.ms above max.compaction.lag.ms.
func TopicConfigFromKafka(base TopicConfig, configs map[string]string) (TopicConfig, error) {
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		if !slices.Contains(kafkaTopicConfigNames, name) {
			return base, &KafkaConfigError{Name: name, Value: configs[name],
				Reason: "not a topic config the Log takes (it takes " + strings.Join(kafkaTopicConfigNames, ", ") + ")"}
		}
	}
	cfg := base
	for _, name := range kafkaTopicConfigNames {
		value, ok := configs[name]
		if !ok {
			continue
		}
		if reason := setKafkaConfig(&cfg, name, value); reason != "" {
			return base, &KafkaConfigError{Name: name, Value: value, Reason: reason}
		}
	}
	if err := cfg.validate(); err != nil {
		return base, errorf("Kafka topic configs: %w", err)
	}
	return cfg, nil
}

// longestMs is the most milliseconds a time.Duration holds.
const longestMs = math.MaxInt64 / int64(time.Millisecond)

// setKafkaConfig applies one Kafka topic config to cfg, or returns what is
// wrong with its value.
func setKafkaConfig(cfg *TopicConfig, name, value string) (reason string) {
	// integer parses a Kafka LONG (bits 64) or INT (bits 32) in [least, most].
	integer := func(bits int, least, most int64) (int64, string) {
		n, err := strconv.ParseInt(value, 10, bits)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return 0, fmt.Sprintf("does not fit a %d-bit integer", bits)
		case err != nil:
			return 0, "not an integer"
		case n < least:
			return 0, fmt.Sprintf("below %d", least)
		case n > most:
			return 0, fmt.Sprintf("above %d", most)
		}
		return n, ""
	}
	// duration parses milliseconds of at least least into a Duration,
	// the longest one for more than it holds.
	duration := func(least int64) (time.Duration, string) {
		n, reason := integer(64, least, math.MaxInt64)
		return time.Duration(min(n, longestMs)) * time.Millisecond, reason
	}
	switch name {
	case kafkaCleanupPolicy:
		switch strings.ReplaceAll(value, " ", "") {
		case "delete":
			cfg.CleanupPolicy = CleanupDelete
		case "compact":
			cfg.CleanupPolicy = CleanupCompact
		case "compact,delete", "delete,compact":
			cfg.CleanupPolicy = CleanupCompactDelete
		default:
			return "not delete, compact or compact,delete"
		}
	case kafkaRetentionMs:
		n, reason := integer(64, -1, math.MaxInt64)
		switch {
		case reason != "":
			return reason
		case n == -1 || n > longestMs:
			cfg.Retention = RetainForever
		case n == 0:
			cfg.Retention = time.Millisecond // no closed segment is kept
		default:
			cfg.Retention = time.Duration(n) * time.Millisecond
		}
	case kafkaRetentionBytes:
		n, reason := integer(64, math.MinInt64, math.MaxInt64)
		switch {
		case reason != "":
			return reason
		case n < 0:
			cfg.RetentionBytes = -1 // any negative value is no cap, as in Kafka
		case n == 0:
			cfg.RetentionBytes = 1 // no closed segment is kept
		default:
			cfg.RetentionBytes = n
		}
	case kafkaSegmentBytes:
		cfg.SegmentBytes, reason = integer(32, 1024, math.MaxInt32) // Kafka's least is 14, the Log's 1 KiB
	case kafkaSegmentMs:
		cfg.SegmentAge, reason = duration(1)
	case kafkaMaxMessageBytes:
		// Kafka's least is 0, which no batch fits.
		var n int64
		n, reason = integer(32, batchHeaderSize+16, math.MaxInt32/2)
		cfg.MaxBatchBytes = int(n)
	case kafkaDeleteRetentionMs:
		cfg.DeleteRetention, reason = duration(0)
		if cfg.DeleteRetention == 0 {
			cfg.DeleteRetention = time.Millisecond // tombstones go at the next cleaning
		}
	case kafkaMinCompactionLagMs:
		cfg.MinCompactionLag, reason = duration(0)
	case kafkaMaxCompactionLagMs:
		n, reason := integer(64, 1, math.MaxInt64)
		switch {
		case reason != "":
			return reason
		case n > longestMs:
			cfg.MaxCompactionLag = 0 // no limit, Kafka's default Long.MAX_VALUE
		default:
			cfg.MaxCompactionLag = time.Duration(n) * time.Millisecond
		}
	case kafkaMinCleanableDirtyRatio:
		f, err := strconv.ParseFloat(value, 64)
		switch {
		case err != nil:
			return "not a number"
		case !(f >= 0 && f <= 1):
			return "outside [0, 1]"
		case f == 0:
			// Kafka cleans a partition with any dirty bytes; a zero
			// MinCleanableDirtyRatio would be the Log's default.
			f = math.SmallestNonzeroFloat64
		}
		cfg.MinCleanableDirtyRatio = f
	case kafkaFlushMessages:
		// Kafka fsyncs every flush.messages records; 1 is an fsync per
		// append, DurabilityFsync.
		var n int64
		if n, reason = integer(64, 1, math.MaxInt64); reason == "" {
			cfg.Durability = DurabilityOS
			if n == 1 {
				cfg.Durability = DurabilityFsync
			}
		}
	case kafkaTimestampType:
		if value != "CreateTime" {
			return "only CreateTime: the log keeps the timestamps producers give"
		}
	case kafkaCompressionType:
		if value != "producer" {
			return "only producer: the log stores batches as the producer compressed them"
		}
	case kafkaMinInsyncReplicas:
		var n int64
		if n, reason = integer(32, 1, math.MaxInt32); reason == "" && n != 1 {
			return "above 1: a partition has one replica"
		}
	}
	return reason
}
