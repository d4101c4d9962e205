package kafkabridge

import (
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/eventlog/eventlog"
)

// Topic settings across the bridge: the Kafka topic configs that a topic
// the bridge creates on the other side is given, from eventlog's
// TopicConfig (Forward) and to it (Mirror), as eventlog maps them
// (TopicConfig.KafkaConfigs, eventlog.TopicConfigFromKafka).

// carriedConfigs are the Kafka topic configs the bridge carries: those
// that describe the data. Segment sizes and durability (segment.bytes,
// segment.ms, flush.messages) describe the disk that holds it, and are
// not carried.
var carriedConfigs = []string{
	"cleanup.policy", "max.message.bytes", "retention.ms", "retention.bytes",
	"delete.retention.ms", "min.compaction.lag.ms", "max.compaction.lag.ms",
	"min.cleanable.dirty.ratio",
}

// remoteTopicConfigs returns the configs a Forward creates the remote topic
// of a local topic with: its cleanup.policy; the max.message.bytes in
// effect for it (maxBatchBytes, its own or the Log's), so that every record
// it took fits the remote topic; and the retention and compaction settings
// it sets itself. What it inherits from the Log's Options is left to the
// cluster's defaults, as MirrorMaker 2 leaves defaults to its target.
func remoteTopicConfigs(cfg eventlog.TopicConfig, maxBatchBytes int) map[string]string {
	cfg.MaxBatchBytes = maxBatchBytes
	configs := cfg.KafkaConfigs()
	maps.DeleteFunc(configs, func(name, _ string) bool { return !slices.Contains(carriedConfigs, name) })
	return configs
}

// setTopicConfig sets the field of cfg that the Kafka topic config name
// stands for to value, as eventlog maps them, or leaves cfg as it is and
// returns why not. Configs the bridge does not carry are ignored. A
// max.message.bytes outside the range the Log takes becomes the nearest
// value in it, rather than leave the local topic at the Log's default: no
// batch of the remote topic is larger than that.
func setTopicConfig(cfg *eventlog.TopicConfig, name, value string) error {
	if !slices.Contains(carriedConfigs, name) {
		return nil
	}
	if n, err := strconv.ParseInt(value, 10, 64); name == "max.message.bytes" && err == nil && n >= 0 {
		value = strconv.FormatInt(min(max(n, batchHeaderBytes+16), math.MaxInt32/2), 10)
	}
	c, err := eventlog.TopicConfigFromKafka(*cfg, map[string]string{name: value})
	if err != nil {
		return err
	}
	*cfg = c
	return nil
}
