package eventlog

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TopicConfig configures a topic. Zero fields inherit the Log's Options.
// The configuration is stored in the topic's directory and survives reopen;
// Log.AlterTopicConfig and Log.CreatePartitions change it. Durations are
// kept in whole milliseconds, as Kafka's settings are: a fraction of a
// millisecond rounds up.
type TopicConfig struct {
	// Partitions is the number of partitions (Kafka's num.partitions).
	// Default 1.
	Partitions int
	// Durability overrides Options.Durability for this topic.
	Durability Durability
	// SegmentBytes overrides Options.SegmentBytes (Kafka's segment.bytes).
	SegmentBytes int64
	// SegmentAge overrides Options.SegmentAge (Kafka's segment.ms).
	SegmentAge time.Duration
	// MaxBatchBytes overrides Options.MaxBatchBytes (Kafka's
	// max.message.bytes). Partition.MaxBatchBytes reports the value in
	// effect, this one or the Log's.
	MaxBatchBytes int
	// Retention overrides Options.Retention (Kafka's retention.ms);
	// RetainForever keeps everything.
	Retention time.Duration
	// RetentionBytes overrides Options.RetentionBytes (Kafka's
	// retention.bytes); -1 means no cap.
	RetentionBytes int64
	// CleanupPolicy chooses how old records go (Kafka's cleanup.policy):
	// whole segments by age and size (CleanupDelete, the default), all but
	// the newest record of each key (CleanupCompact), or both
	// (CleanupCompactDelete). A compacted topic refuses records without a
	// key.
	CleanupPolicy CleanupPolicy
	// DeleteRetention is how long a tombstone (a record with a nil Value)
	// stays on a compacted topic after the cleaner first sees it, so that
	// a consumer reading from the start within that time sees the delete
	// (Kafka's delete.retention.ms); so does a transaction marker whose
	// transaction has no records left. Default 24 hours.
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio is the share of a compacted partition's
	// cleanable bytes that must have been written since its last cleaning
	// for the background cleaner to clean it (Kafka's
	// min.cleanable.dirty.ratio), in (0, 1]. Default 0.5.
	MinCleanableDirtyRatio float64
	// MinCompactionLag is the least time a record stays uncompacted:
	// segments holding younger records are not cleaned (Kafka's
	// min.compaction.lag.ms). Default 0.
	MinCompactionLag time.Duration
	// MaxCompactionLag is the most time a record stays uncompacted: a
	// partition whose oldest uncleaned record is older is cleaned whatever
	// its dirty ratio, and its active segment closes once past that age,
	// as past SegmentAge (Kafka's max.compaction.lag.ms). Zero means no
	// limit, the default.
	MaxCompactionLag time.Duration
}

// inMilliseconds returns c with its positive durations rounded up to whole
// milliseconds, which is what the topic's metadata file keeps: a value
// under a millisecond would otherwise be stored as 0 and come back from a
// reopen as "inherit".
func (c TopicConfig) inMilliseconds() TopicConfig {
	for _, d := range []*time.Duration{&c.SegmentAge, &c.Retention, &c.DeleteRetention, &c.MinCompactionLag, &c.MaxCompactionLag} {
		*d = ceilMillisecond(*d)
	}
	return c
}

// ceilMillisecond rounds a positive d up to whole milliseconds, Kafka's
// unit for its durations; a negative one, such as RetainForever, and one
// too close to the largest Duration are left as they are.
func ceilMillisecond(d time.Duration) time.Duration {
	if d > 0 && d%time.Millisecond != 0 && d < math.MaxInt64-time.Millisecond {
		return d - d%time.Millisecond + time.Millisecond
	}
	return d
}

// MaxTopicNameLength is Kafka's limit on topic names.
const MaxTopicNameLength = 249

// maxPartitions bounds TopicConfig.Partitions; each partition holds at least
// one open file.
const maxPartitions = 1 << 16

// internalTopicPrefix marks topics the library owns, such as
// __consumer_offsets.
const internalTopicPrefix = "__"

// validateTopicName applies Kafka's rules: 1 to 249 characters of
// [a-zA-Z0-9._-], not "." or "..". User topics may not start with "__".
func validateTopicName(name string, internal bool) error {
	bad := func(why string) error { return fmt.Errorf("%w %s: %s", ErrInvalidTopic, quoteTopicName(name), why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxTopicNameLength:
		return bad(fmt.Sprintf("longer than %d characters", MaxTopicNameLength))
	case name == "." || name == "..":
		return bad(`"." and ".." are not topic names`)
	case !internal && strings.HasPrefix(name, internalTopicPrefix):
		return bad(`the "__" prefix is reserved for internal topics`)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad(fmt.Sprintf("character %q is not one of [a-zA-Z0-9._-]", c))
		}
	}
	return nil
}

// quotedNameBytes is how much of a name longer than any topic's an error
// quotes.
const quotedNameBytes = 64

// quoteTopicName quotes name for an error message, as %q does. A name
// longer than MaxTopicNameLength, which no topic has, is quoted only up
// to its first quotedNameBytes bytes, cut between characters, and its
// length follows: a name is input, and a megabyte of it must not make a
// megabyte of message.
func quoteTopicName(name string) string {
	if len(name) <= MaxTopicNameLength {
		return strconv.Quote(name)
	}
	cut := quotedNameBytes
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…(%d bytes)", name[:cut], len(name))
}

func (c TopicConfig) validate() error {
	switch {
	case c.Partitions < 0 || c.Partitions > maxPartitions:
		return fmt.Errorf("%w: Partitions %d is outside [1, %d]", ErrInvalidConfig, c.Partitions, maxPartitions)
	case !c.Durability.valid():
		return fmt.Errorf("%w: Durability %d", ErrInvalidConfig, c.Durability)
	case c.SegmentBytes != 0 && (c.SegmentBytes < 1024 || c.SegmentBytes > math.MaxInt32):
		return fmt.Errorf("%w: SegmentBytes %d is outside [1024, %d]", ErrInvalidConfig, c.SegmentBytes, math.MaxInt32)
	case c.SegmentAge < 0:
		return fmt.Errorf("%w: SegmentAge %v is negative", ErrInvalidConfig, c.SegmentAge)
	case c.MaxBatchBytes != 0 && (c.MaxBatchBytes < batchHeaderSize+16 || c.MaxBatchBytes > math.MaxInt32/2):
		return fmt.Errorf("%w: MaxBatchBytes %d is outside [%d, %d]", ErrInvalidConfig, c.MaxBatchBytes, batchHeaderSize+16, math.MaxInt32/2)
	case c.Retention < RetainForever:
		return fmt.Errorf("%w: Retention %v is negative (use RetainForever)", ErrInvalidConfig, c.Retention)
	case c.RetentionBytes < -1:
		return fmt.Errorf("%w: RetentionBytes %d is below -1", ErrInvalidConfig, c.RetentionBytes)
	case !c.CleanupPolicy.valid():
		return fmt.Errorf("%w: CleanupPolicy %d is not CleanupDelete, CleanupCompact or CleanupCompactDelete", ErrInvalidConfig, c.CleanupPolicy)
	case c.DeleteRetention < 0:
		return fmt.Errorf("%w: DeleteRetention %v is negative", ErrInvalidConfig, c.DeleteRetention)
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return fmt.Errorf("%w: MinCleanableDirtyRatio %v is outside (0, 1]", ErrInvalidConfig, c.MinCleanableDirtyRatio)
	case c.MinCompactionLag < 0:
		return fmt.Errorf("%w: MinCompactionLag %v is negative", ErrInvalidConfig, c.MinCompactionLag)
	case c.MaxCompactionLag < 0:
		return fmt.Errorf("%w: MaxCompactionLag %v is negative (zero means no limit)", ErrInvalidConfig, c.MaxCompactionLag)
	case c.MaxCompactionLag > 0 && c.MaxCompactionLag < c.MinCompactionLag:
		return fmt.Errorf("%w: MaxCompactionLag %v is below MinCompactionLag %v", ErrInvalidConfig, c.MaxCompactionLag, c.MinCompactionLag)
	}
	return nil
}

// resolve fills the partition settings from the topic's overrides and the
// Log's options, as TopicSettings reports them.
func (c TopicConfig) resolve(o *Options) partitionConfig {
	s := c.settings(o, nil).Config
	pc := partitionConfig{
		durability:     s.Durability,
		segmentBytes:   s.SegmentBytes,
		segmentAge:     s.SegmentAge,
		maxBatchBytes:  s.MaxBatchBytes,
		retention:      s.Retention,
		retentionBytes: s.RetentionBytes,
		indexInterval:  int64(o.IndexIntervalBytes),
		maxIndexOffset: o.SegmentIndexBytes / offsetEntrySize,

		cleanup:          s.CleanupPolicy,
		deleteRetention:  s.DeleteRetention,
		minDirtyRatio:    s.MinCleanableDirtyRatio,
		minCompactionLag: s.MinCompactionLag,
		maxCompactionLag: s.MaxCompactionLag,
	}
	if pc.cleanup.compacts() && pc.maxCompactionLag > 0 {
		// As in Kafka: the active segment is never cleaned, so it must
		// close in time for its records to be.
		pc.segmentAge = min(pc.segmentAge, pc.maxCompactionLag)
	}
	return pc
}

// topicMetaVersion is the version of the topic.meta payload.
const topicMetaVersion = 1

// topicMeta is the JSON payload of a topic's topic.meta file. Field names
// are part of the format.
type topicMeta struct {
	Name          string `json:"name"`
	Partitions    int    `json:"partitions"`
	Durability    int8   `json:"durability,omitempty"`
	SegmentBytes  int64  `json:"segment_bytes,omitempty"`
	SegmentAgeMs  int64  `json:"segment_ms,omitempty"`
	MaxBatchBytes int    `json:"max_message_bytes,omitempty"`
	RetentionMs   int64  `json:"retention_ms,omitempty"`
	RetentionSize int64  `json:"retention_bytes,omitempty"`

	CleanupPolicy          string  `json:"cleanup_policy,omitempty"` // absent: delete
	DeleteRetentionMs      int64   `json:"delete_retention_ms,omitempty"`
	MinCleanableDirtyRatio float64 `json:"min_cleanable_dirty_ratio,omitempty"`
	MinCompactionLagMs     int64   `json:"min_compaction_lag_ms,omitempty"`
	MaxCompactionLagMs     int64   `json:"max_compaction_lag_ms,omitempty"`
}

func encodeTopicMeta(name string, c TopicConfig) ([]byte, error) {
	m := topicMeta{
		Name:          name,
		Partitions:    c.Partitions,
		Durability:    int8(c.Durability),
		SegmentBytes:  c.SegmentBytes,
		SegmentAgeMs:  c.SegmentAge.Milliseconds(),
		MaxBatchBytes: c.MaxBatchBytes,
		RetentionMs:   durationMs(c.Retention),
		RetentionSize: c.RetentionBytes,

		DeleteRetentionMs:      c.DeleteRetention.Milliseconds(),
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
		MinCompactionLagMs:     c.MinCompactionLag.Milliseconds(),
		MaxCompactionLagMs:     c.MaxCompactionLag.Milliseconds(),
	}
	if c.CleanupPolicy != CleanupDelete {
		m.CleanupPolicy = c.CleanupPolicy.String()
	}
	return json.Marshal(m)
}

// durationMs converts to Kafka's milliseconds, keeping -1 for RetainForever.
func durationMs(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// msDuration converts Kafka's milliseconds back, -1 to RetainForever and
// a count too large for a Duration to the largest one.
func msDuration(ms int64) time.Duration {
	switch {
	case ms < 0:
		return RetainForever
	case ms > math.MaxInt64/int64(time.Millisecond):
		return math.MaxInt64 / time.Millisecond * time.Millisecond
	}
	return time.Duration(ms) * time.Millisecond
}

func decodeTopicMeta(path string, version uint16, payload []byte) (string, TopicConfig, error) {
	corrupt := func(reason string) error {
		return &CorruptError{Path: path, Offset: -1, Reason: reason}
	}
	if version != topicMetaVersion {
		return "", TopicConfig{}, corrupt(fmt.Sprintf("unknown topic metadata version %d", version))
	}
	var m topicMeta
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", TopicConfig{}, corrupt(err.Error())
	}
	c := TopicConfig{
		Partitions:     m.Partitions,
		Durability:     Durability(m.Durability),
		SegmentBytes:   m.SegmentBytes,
		SegmentAge:     msDuration(max(m.SegmentAgeMs, 0)),
		MaxBatchBytes:  m.MaxBatchBytes,
		Retention:      msDuration(m.RetentionMs),
		RetentionBytes: m.RetentionSize,

		DeleteRetention:        msDuration(max(m.DeleteRetentionMs, 0)),
		MinCleanableDirtyRatio: m.MinCleanableDirtyRatio,
		MinCompactionLag:       msDuration(max(m.MinCompactionLagMs, 0)),
		MaxCompactionLag:       msDuration(max(m.MaxCompactionLagMs, 0)),
	}
	if m.CleanupPolicy != "" {
		var ok bool
		if c.CleanupPolicy, ok = parseCleanupPolicy(m.CleanupPolicy); !ok {
			return "", TopicConfig{}, corrupt(fmt.Sprintf("unknown cleanup policy %q", m.CleanupPolicy))
		}
	}
	if err := c.validate(); err != nil || c.Partitions < 1 {
		return "", TopicConfig{}, corrupt(fmt.Sprintf("invalid topic configuration: %v", err))
	}
	return m.Name, c, nil
}

// topic is an open topic: its configuration and partitions.
type topic struct {
	name       string
	config     TopicConfig
	partitions []*Partition
}

// Directory layout under the Log's directory.
const (
	topicsDirName   = "topics"
	topicMetaName   = "topic.meta"
	lockFileName    = "LOCK"
	cleanMarkerName = "CLEAN_SHUTDOWN"
)

func partitionDirName(id int32) string { return strconv.Itoa(int(id)) }

func (l *Log) topicDir(name string) string { return filepath.Join(l.dir, topicsDirName, name) }

// isStrayFile reports whether the entry of topics/ at path is there but is
// not a directory, such as the .DS_Store a file manager leaves: not a topic,
// so it is ignored, as Kafka ignores stray files in its log directories.
// Callers ask only when the entry's topic.meta cannot be read, so that a
// sound log pays nothing for it.
func isStrayFile(fsys FS, path string) bool {
	info, err := fsys.Stat(path)
	return err == nil && !info.IsDir()
}
