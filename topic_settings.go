package eventlog

import "fmt"

// SettingSource says where the value a topic runs with for one of its
// settings comes from, as Kafka's DescribeConfigs reports a config's
// source.
type SettingSource int8

const (
	// SourceDefault: neither the topic nor the Log's Options set it; the
	// value is the library's default (Kafka's DEFAULT_CONFIG).
	SourceDefault SettingSource = iota
	// SourceOptions: the topic does not set it and the Log's Options do,
	// to whatever value, the default's included (Kafka's
	// STATIC_BROKER_CONFIG, a broker's server.properties).
	SourceOptions
	// SourceTopic: the topic's own TopicConfig sets it (Kafka's
	// DYNAMIC_TOPIC_CONFIG).
	SourceTopic
)

// String names the source: "default", "options" or "topic".
func (s SettingSource) String() string {
	switch s {
	case SourceDefault:
		return "default"
	case SourceOptions:
		return "options"
	case SourceTopic:
		return "topic"
	}
	return fmt.Sprintf("SettingSource(%d)", int8(s))
}

// TopicSettings are the settings a topic runs with, as Log.TopicSettings
// reports them.
type TopicSettings struct {
	// Config is the topic's TopicConfig with every setting it inherits
	// filled in with the value in effect: the Log's Options where they
	// set one, else the library's default. No field but those whose zero
	// is itself a setting is zero: MinCompactionLag (none) and
	// MaxCompactionLag (no limit); the CleanupPolicy, whose zero is
	// CleanupDelete; and Retention and RetentionBytes say "no limit" as
	// RetainForever and -1. Passed to Log.AlterTopicConfig with the
	// topic's own MaxBatchBytes (which cannot be altered; zero unless
	// Sources.MaxBatchBytes is SourceTopic), it pins the values in effect
	// on the topic, so that a reopen with other Options no longer changes
	// them.
	//
	// SegmentAge is the setting, not the age at which segments close: a
	// compacted topic with a MaxCompactionLag below it closes its active
	// segment by then too (see TopicConfig.MaxCompactionLag).
	Config TopicConfig
	// Sources says, for each setting of Config, where its value comes
	// from.
	Sources TopicSettingSources
}

// TopicSettingSources holds where each of a topic's settings comes from,
// one field per field of TopicConfig (but Partitions, which is always the
// topic's own).
type TopicSettingSources struct {
	Durability             SettingSource
	SegmentBytes           SettingSource
	SegmentAge             SettingSource
	MaxBatchBytes          SettingSource
	Retention              SettingSource
	RetentionBytes         SettingSource
	CleanupPolicy          SettingSource
	DeleteRetention        SettingSource
	MinCleanableDirtyRatio SettingSource
	MinCompactionLag       SettingSource
	MaxCompactionLag       SettingSource
}

// TopicSettings returns the settings topic name runs with: its
// configuration, as Log.TopicConfig returns it, with every setting it
// inherits from the Log's Options, or from the library's defaults,
// filled in, and where each setting comes from. A reopen with other
// Options changes what a topic inherits.
func (l *Log) TopicSettings(name string) (TopicSettings, error) {
	t, err := l.topic(name)
	if err != nil {
		return TopicSettings{}, err
	}
	return t.config.settings(&l.opts, &l.given), nil
}

// DefaultTopicSettings returns the settings a topic that sets none of its
// own runs with, as TopicSettings reports them: the Log's Options, where
// they set one, else the library's defaults; Partitions is 1, as for a
// TopicConfig that leaves it zero. These are the broker-wide values of
// Kafka's log.segment.bytes, log.retention.ms and the like.
func (l *Log) DefaultTopicSettings() TopicSettings {
	return TopicConfig{Partitions: 1}.settings(&l.opts, &l.given)
}

// settings resolves c against the Log's options: opts, defaulted, give
// the values; given, the Options as passed to Open (nil: none), tell
// which of them the host set. resolve builds on it, so that the values
// reported are those the partitions run with.
func (c TopicConfig) settings(opts, given *Options) TopicSettings {
	if given == nil {
		given = &Options{}
	}
	s := TopicSettings{Config: c}
	cfg, src := &s.Config, &s.Sources
	inherit(&cfg.Durability, &src.Durability, opts.Durability, given.Durability)
	inherit(&cfg.SegmentBytes, &src.SegmentBytes, opts.SegmentBytes, given.SegmentBytes)
	inherit(&cfg.SegmentAge, &src.SegmentAge, opts.SegmentAge, given.SegmentAge)
	inherit(&cfg.MaxBatchBytes, &src.MaxBatchBytes, opts.MaxBatchBytes, given.MaxBatchBytes)
	inherit(&cfg.Retention, &src.Retention, opts.Retention, given.Retention)
	inherit(&cfg.RetentionBytes, &src.RetentionBytes, opts.RetentionBytes, given.RetentionBytes)
	// The Log's defaults, which no Option overrides.
	inherit(&cfg.CleanupPolicy, &src.CleanupPolicy, CleanupDelete, 0)
	inherit(&cfg.DeleteRetention, &src.DeleteRetention, DefaultDeleteRetention, 0)
	inherit(&cfg.MinCleanableDirtyRatio, &src.MinCleanableDirtyRatio, DefaultMinCleanableDirtyRatio, 0)
	inherit(&cfg.MinCompactionLag, &src.MinCompactionLag, 0, 0)
	inherit(&cfg.MaxCompactionLag, &src.MaxCompactionLag, 0, 0)
	return s
}

// inherit leaves a setting the topic sets (not zero) as it is and replaces
// one it does not with the Log's value, recording where the value comes
// from: the Options if the host gave one (given not zero), else the
// default.
func inherit[T comparable](setting *T, source *SettingSource, value, given T) {
	var zero T
	switch {
	case *setting != zero:
		*source = SourceTopic
		return
	case given != zero:
		*source = SourceOptions
	default:
		*source = SourceDefault
	}
	*setting = value
}
