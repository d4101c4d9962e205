package kafkabridge

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/eventlog/eventlog"
)

// Topic settings across the bridge: the Kafka topic configs that a topic
// the bridge creates on the other side is given, from eventlog's
// TopicConfig (Forward) and to it (Mirror).

// remoteTopicConfigs returns the configs a Forward creates the remote topic
// of a local topic with: its cleanup.policy; the max.message.bytes in
// effect for it (maxBatchBytes, its own or the Log's), so that every record
// it took fits the remote topic; and the retention and compaction settings
// it sets itself. What it inherits from the Log's Options is left to the
// cluster's defaults, as MirrorMaker 2 leaves defaults to its target.
// Segment sizes and durability describe the local disk, not the data, and
// are not carried.
func remoteTopicConfigs(cfg eventlog.TopicConfig, maxBatchBytes int) map[string]string {
	ms := func(d time.Duration) string {
		if d < 0 {
			return "-1" // RetainForever
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	configs := map[string]string{
		"cleanup.policy":    "delete",
		"max.message.bytes": strconv.Itoa(maxBatchBytes),
	}
	switch cfg.CleanupPolicy {
	case eventlog.CleanupCompact:
		configs["cleanup.policy"] = "compact"
	case eventlog.CleanupCompactDelete:
		configs["cleanup.policy"] = "compact,delete"
	}
	if cfg.Retention != 0 {
		configs["retention.ms"] = ms(cfg.Retention)
	}
	if cfg.RetentionBytes != 0 {
		configs["retention.bytes"] = strconv.FormatInt(cfg.RetentionBytes, 10)
	}
	if cfg.DeleteRetention != 0 {
		configs["delete.retention.ms"] = ms(cfg.DeleteRetention)
	}
	if cfg.MinCompactionLag != 0 {
		configs["min.compaction.lag.ms"] = ms(cfg.MinCompactionLag)
	}
	if cfg.MaxCompactionLag != 0 {
		configs["max.compaction.lag.ms"] = ms(cfg.MaxCompactionLag)
	}
	if cfg.MinCleanableDirtyRatio != 0 {
		configs["min.cleanable.dirty.ratio"] = strconv.FormatFloat(cfg.MinCleanableDirtyRatio, 'g', -1, 64)
	}
	return configs
}

// setTopicConfig sets the field of cfg that the Kafka topic config name
// stands for to value, as eventlog's Kafka listener maps them, or leaves cfg
// as it is and returns why not. Configs without a local counterpart are
// ignored.
func setTopicConfig(cfg *eventlog.TopicConfig, name, value string) error {
	const longestMs = math.MaxInt64 / int64(time.Millisecond)
	integer := func(least int64) (int64, error) {
		n, err := strconv.ParseInt(value, 10, 64)
		if err == nil && n < least {
			err = fmt.Errorf("below %d", least)
		}
		return n, err
	}
	ms := func(least int64) (time.Duration, error) {
		n, err := integer(least)
		return time.Duration(min(n, longestMs)) * time.Millisecond, err
	}
	c := *cfg
	var err error
	switch name {
	case "cleanup.policy":
		switch strings.ReplaceAll(value, " ", "") {
		case "delete":
			c.CleanupPolicy = eventlog.CleanupDelete
		case "compact":
			c.CleanupPolicy = eventlog.CleanupCompact
		case "compact,delete", "delete,compact":
			c.CleanupPolicy = eventlog.CleanupCompactDelete
		default:
			err = errors.New("not delete, compact or compact,delete")
		}
	case "max.message.bytes":
		var n int64
		if n, err = integer(0); err == nil {
			c.MaxBatchBytes = int(min(max(n, batchHeaderBytes+16), math.MaxInt32/2)) // the range the Log takes
		}
	case "retention.ms":
		var n int64
		if n, err = integer(-1); err == nil {
			switch {
			case n == -1 || n >= longestMs:
				c.Retention = eventlog.RetainForever
			case n == 0:
				c.Retention = time.Millisecond // no closed segment is kept
			default:
				c.Retention = time.Duration(n) * time.Millisecond
			}
		}
	case "retention.bytes":
		var n int64
		if n, err = integer(math.MinInt64); err == nil {
			c.RetentionBytes = max(n, -1) // any negative value is no cap
			if n == 0 {
				c.RetentionBytes = 1 // no closed segment is kept
			}
		}
	case "delete.retention.ms":
		if c.DeleteRetention, err = ms(0); c.DeleteRetention == 0 {
			c.DeleteRetention = time.Millisecond // tombstones go at the next cleaning
		}
	case "min.compaction.lag.ms":
		c.MinCompactionLag, err = ms(0)
	case "max.compaction.lag.ms":
		var n int64
		if n, err = integer(1); err == nil {
			c.MaxCompactionLag = 0 // no limit, Kafka's default Long.MAX_VALUE
			if n < longestMs {
				c.MaxCompactionLag = time.Duration(n) * time.Millisecond
			}
		}
	case "min.cleanable.dirty.ratio":
		var f float64
		if f, err = strconv.ParseFloat(value, 64); err == nil && !(f >= 0 && f <= 1) {
			err = errors.New("outside [0, 1]")
		}
		if f == 0 {
			// Kafka cleans a partition at any dirt; the Log's 0 is its
			// default ratio.
			f = math.SmallestNonzeroFloat64
		}
		c.MinCleanableDirtyRatio = f
	}
	if err != nil {
		return err
	}
	*cfg = c
	return nil
}
