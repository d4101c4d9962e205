package kafkaserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: a topic's
// settings read and changed by their Kafka names. A topic's own settings
// are ownTopicConfigs of its TopicConfig, eventlog's
// TopicConfig.KafkaConfigs; a change edits that set of names and values
// and turns it back into a TopicConfig with eventlog.TopicConfigFromKafka,
// inside Log.UpdateTopicConfig, so that no other change of the topic comes
// between the read and the write. Every setting a topic does not set is
// the broker-wide one, Log.DefaultTopicSettings: STATIC_BROKER_CONFIG
// where the Log's Options set it, DEFAULT_CONFIG where they do not.
// CreateTopics answers with the same settings (topicSettingEntries).

// topicSetting is what DescribeConfigs says of a topic setting besides
// its value.
type topicSetting struct {
	typ      kmsg.ConfigType
	broker   string // the broker setting it defaults to, Kafka's synonym
	readOnly bool   // the Log cannot alter it
	doc      string
}

// topicSettings are the topic settings the listener knows: those
// eventlog.TopicConfigFromKafka takes.
var topicSettings = map[string]topicSetting{
	"cleanup.policy":            {kmsg.ConfigTypeList, "log.cleanup.policy", false, "How old records go: delete (whole segments by age and size), compact (all but the newest record of each key), or compact,delete."},
	"compression.type":          {kmsg.ConfigTypeString, "compression.type", false, "Only producer: batches are stored as the producer compressed them."},
	"delete.retention.ms":       {kmsg.ConfigTypeLong, "log.cleaner.delete.retention.ms", false, "How long a tombstone stays on a compacted topic after the cleaner first sees it."},
	"flush.messages":            {kmsg.ConfigTypeLong, "log.flush.interval.messages", false, "1: an append is acknowledged once fsynced; more: once written to the operating system."},
	"max.compaction.lag.ms":     {kmsg.ConfigTypeLong, "log.cleaner.max.compaction.lag.ms", false, "The most time a record stays uncompacted."},
	"max.message.bytes":         {kmsg.ConfigTypeInt, "message.max.bytes", true, "The largest record batch the topic takes. It cannot be altered: producers size their batches by it."},
	"message.timestamp.type":    {kmsg.ConfigTypeString, "log.message.timestamp.type", false, "Only CreateTime: records keep the timestamps producers give."},
	"min.cleanable.dirty.ratio": {kmsg.ConfigTypeDouble, "log.cleaner.min.cleanable.ratio", false, "The share of a compacted partition written since its last cleaning for the cleaner to clean it."},
	"min.compaction.lag.ms":     {kmsg.ConfigTypeLong, "log.cleaner.min.compaction.lag.ms", false, "The least time a record stays uncompacted."},
	"min.insync.replicas":       {kmsg.ConfigTypeInt, "min.insync.replicas", false, "Only 1: a partition has one replica."},
	"retention.bytes":           {kmsg.ConfigTypeLong, "log.retention.bytes", false, "The most bytes a partition keeps before its oldest segments go; -1: no cap."},
	"retention.ms":              {kmsg.ConfigTypeLong, "log.retention.ms", false, "How long a segment is kept after its last record; -1: forever."},
	"segment.bytes":             {kmsg.ConfigTypeInt, "log.segment.bytes", false, "The size at which a segment is closed and a new one started."},
	"segment.ms":                {kmsg.ConfigTypeLong, "log.roll.ms", false, "The age at which a segment is closed and a new one started."},
}

// configEntry is one setting as DescribeConfigs answers it.
type configEntry struct {
	name, value string
	source      kmsg.ConfigSource
	typ         kmsg.ConfigType
	readOnly    bool
	doc         string
	synonyms    []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

func synonym(name, value string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, kmsg.StringPtr(value), source
	return s
}

// ownTopicConfigs returns the settings cfg sets, by Kafka name: those
// TopicConfig.KafkaConfigs writes, but for cleanup.policy=delete, the zero
// policy, which is the Log's default, not the topic's own setting.
func ownTopicConfigs(cfg eventlog.TopicConfig) map[string]string {
	own := cfg.KafkaConfigs()
	if cfg.CleanupPolicy == eventlog.CleanupDelete {
		delete(own, "cleanup.policy")
	}
	return own
}

// kafkaLongMax is Kafka's Long.MAX_VALUE, its "no limit" for
// max.compaction.lag.ms.
const kafkaLongMax = "9223372036854775807"

// settingValues returns every topic setting of cfg, a TopicSettings'
// Config, whose every setting is resolved, by name, as Kafka writes them:
// TopicConfig.KafkaConfigs, with the zeros it leaves out written out, and
// the three settings the Log takes at one value only.
func settingValues(cfg eventlog.TopicConfig) map[string]string {
	values := cfg.KafkaConfigs()
	for name, value := range map[string]string{
		"compression.type":       "producer",
		"message.timestamp.type": "CreateTime",
		"min.insync.replicas":    "1",
		"min.compaction.lag.ms":  "0",
		"max.compaction.lag.ms":  kafkaLongMax, // zero: no limit
	} {
		if _, ok := values[name]; !ok {
			values[name] = value
		}
	}
	return values
}

// configSource is Kafka's name for where a setting comes from.
func configSource(s eventlog.SettingSource) kmsg.ConfigSource {
	switch s {
	case eventlog.SourceTopic:
		return kmsg.ConfigSourceDynamicTopicConfig
	case eventlog.SourceOptions:
		return kmsg.ConfigSourceStaticBrokerConfig // the host's configuration
	}
	return kmsg.ConfigSourceDefaultConfig
}

// settingSources returns where each topic setting of src comes from, by
// name; the three the Log takes at one value only are its defaults.
func settingSources(src eventlog.TopicSettingSources) map[string]kmsg.ConfigSource {
	sources := map[string]eventlog.SettingSource{
		"cleanup.policy":            src.CleanupPolicy,
		"delete.retention.ms":       src.DeleteRetention,
		"flush.messages":            src.Durability,
		"max.compaction.lag.ms":     src.MaxCompactionLag,
		"max.message.bytes":         src.MaxBatchBytes,
		"min.cleanable.dirty.ratio": src.MinCleanableDirtyRatio,
		"min.compaction.lag.ms":     src.MinCompactionLag,
		"retention.bytes":           src.RetentionBytes,
		"retention.ms":              src.Retention,
		"segment.bytes":             src.SegmentBytes,
		"segment.ms":                src.SegmentAge,
	}
	out := make(map[string]kmsg.ConfigSource, len(topicSettings))
	for name := range topicSettings {
		out[name] = configSource(sources[name]) // SourceDefault if not listed
	}
	return out
}

// topicSettingEntries returns every setting of a topic of cfg, by name:
// the topic's own (DYNAMIC_TOPIC_CONFIG, with the broker-wide value they
// override as a synonym) and the broker-wide ones of broker,
// Log.DefaultTopicSettings, for the others (STATIC_BROKER_CONFIG or
// DEFAULT_CONFIG, with themselves as the synonym under the broker's name).
func topicSettingEntries(cfg eventlog.TopicConfig, broker eventlog.TopicSettings) []configEntry {
	own := ownTopicConfigs(cfg)
	values, sources := settingValues(broker.Config), settingSources(broker.Sources)
	entries := make([]configEntry, 0, len(topicSettings))
	for _, name := range slices.Sorted(maps.Keys(topicSettings)) {
		s := topicSettings[name]
		ce := configEntry{name: name, value: values[name], source: sources[name], typ: s.typ, readOnly: s.readOnly, doc: s.doc}
		if value, ok := own[name]; ok {
			ce.value, ce.source = value, kmsg.ConfigSourceDynamicTopicConfig
			ce.synonyms = append(ce.synonyms, synonym(name, value, ce.source))
		}
		ce.synonyms = append(ce.synonyms, synonym(s.broker, values[name], sources[name]))
		entries = append(entries, ce)
	}
	return entries
}

// topicConfigs returns the settings of topic name in effect, by name.
func (c *conn) topicConfigs(name string) ([]configEntry, error) {
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	cfg, err := c.s.log.TopicConfig(name)
	if err != nil {
		return nil, err
	}
	return topicSettingEntries(cfg, c.s.log.DefaultTopicSettings()), nil
}

// brokerConfigs returns the broker settings the listener has: the
// Server's Options (STATIC_BROKER_CONFIG) and the broker-wide topic
// settings, Log.DefaultTopicSettings (STATIC_BROKER_CONFIG where the Log's
// Options set them, else DEFAULT_CONFIG), by name. None can be altered.
func (c *conn) brokerConfigs() []configEntry {
	o := &c.s.opts
	ms := func(d time.Duration) string {
		if d < 0 {
			return "-1"
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	static := func(name, value string, typ kmsg.ConfigType) configEntry {
		return configEntry{name: name, value: value, source: kmsg.ConfigSourceStaticBrokerConfig, typ: typ}
	}
	id := strconv.Itoa(int(o.NodeID))
	entries := []configEntry{
		static("auto.create.topics.enable", strconv.FormatBool(o.AutoCreateTopics), kmsg.ConfigTypeBoolean),
		static("broker.id", id, kmsg.ConfigTypeInt),
		static("connections.max.idle.ms", ms(o.IdleTimeout), kmsg.ConfigTypeLong),
		static("fetch.max.bytes", strconv.Itoa(o.FetchMaxBytes), kmsg.ConfigTypeInt),
		static("group.max.session.timeout.ms", ms(o.GroupMaxSessionTimeout), kmsg.ConfigTypeInt),
		static("group.min.session.timeout.ms", ms(o.GroupMinSessionTimeout), kmsg.ConfigTypeInt),
		static("node.id", id, kmsg.ConfigTypeInt),
		static("socket.request.max.bytes", strconv.Itoa(o.MaxRequestBytes), kmsg.ConfigTypeInt),
		{name: "default.replication.factor", value: "1", source: kmsg.ConfigSourceDefaultConfig, typ: kmsg.ConfigTypeInt},
		{name: "num.partitions", value: "1", source: kmsg.ConfigSourceDefaultConfig, typ: kmsg.ConfigTypeInt},
	}
	// What a topic that sets none of its own runs with.
	topic := c.s.log.DefaultTopicSettings()
	values, sources := settingValues(topic.Config), settingSources(topic.Sources)
	for name, s := range topicSettings {
		entries = append(entries, configEntry{name: s.broker, value: values[name], source: sources[name], typ: s.typ})
	}
	for i := range entries {
		e := &entries[i]
		e.readOnly = true
		e.synonyms = append(e.synonyms, synonym(e.name, e.value, e.source))
	}
	slices.SortFunc(entries, func(a, b configEntry) int { return strings.Compare(a.name, b.name) })
	return entries
}

// checkBrokerName checks the name of a BROKER resource, which is this
// broker's ID, or empty for the cluster's defaults, as Kafka checks it.
func (c *conn) checkBrokerName(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: broker id must be an integer, but it is: %q", errInvalidRequest, name)
	}
	if int32(id) != c.s.opts.NodeID {
		return fmt.Errorf("%w: unexpected broker id, expected %d or empty string, but received %s", errInvalidRequest, c.s.opts.NodeID, name)
	}
	return nil
}

// errInvalidRequest marks what is answered with INVALID_REQUEST.
var errInvalidRequest = errors.New("invalid request")

// configErrorCode is errorCode, with INVALID_REQUEST for
// errInvalidRequest.
func configErrorCode(err error) int16 {
	if errors.Is(err, errInvalidRequest) {
		return kerr.InvalidRequest.Code
	}
	return errorCode(err)
}

func errResourceType(t kmsg.ConfigResourceType) error {
	return fmt.Errorf("%w: resource type %v (%d) is not served: only TOPIC (2) and BROKER (4)", errInvalidRequest, t, int8(t))
}

func (c *conn) handleDescribeConfigs(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, res := range r.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var entries []configEntry
		var err error
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			entries, err = c.topicConfigs(res.ResourceName)
		case kmsg.ConfigResourceTypeBroker:
			// An empty name asks for the cluster's dynamic defaults, of
			// which there are none.
			if err = c.checkBrokerName(res.ResourceName); err == nil && res.ResourceName != "" {
				entries = c.brokerConfigs()
			}
		default:
			err = errResourceType(res.ResourceType)
		}
		if err != nil {
			rr.ErrorCode = configErrorCode(err)
			if !errors.Is(err, eventlog.ErrTopicNotFound) { // Kafka gives no message
				rr.ErrorMessage = errorMessage(err)
			}
		}
		for _, e := range entries {
			// Kafka answers every setting for no names or an empty list.
			if len(res.ConfigNames) > 0 && !slices.Contains(res.ConfigNames, e.name) {
				continue
			}
			ce := kmsg.NewDescribeConfigsResponseResourceConfig()
			ce.Name, ce.Value, ce.Source = e.name, kmsg.StringPtr(e.value), e.source
			ce.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig // v0
			ce.ReadOnly, ce.ConfigType = e.readOnly, e.typ
			if r.IncludeSynonyms {
				ce.ConfigSynonyms = e.synonyms
			}
			if r.IncludeDocumentation && e.doc != "" {
				ce.Documentation = kmsg.StringPtr(e.doc)
			}
			rr.Configs = append(rr.Configs, ce)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// alterConfig is one change of a setting: IncrementalAlterConfigs' op,
// or a SET of AlterConfigs.
type alterConfig struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

// resourceKey identifies a resource of a request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterResource applies the changes to one resource of an AlterConfigs
// (replace: settings not named go back to their defaults) or an
// IncrementalAlterConfigs, or checks them with validateOnly.
func (c *conn) alterResource(ctx context.Context, typ kmsg.ConfigResourceType, name string, changes []alterConfig, replace, validateOnly bool) error {
	seen := make(map[string]bool, len(changes))
	var nulls []string
	for _, ch := range changes {
		if seen[ch.name] {
			return fmt.Errorf("%w: config %s is named more than once", errInvalidRequest, ch.name)
		}
		seen[ch.name] = true
		if ch.value == nil && ch.op != kmsg.IncrementalAlterConfigOpDelete {
			nulls = append(nulls, ch.name)
		}
	}
	if len(nulls) > 0 {
		return fmt.Errorf("%w: null value not supported for: %s", errInvalidRequest, strings.Join(nulls, ", "))
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return c.alterTopicConfig(ctx, name, changes, replace, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if err := c.checkBrokerName(name); err != nil {
			return err
		}
		if len(changes) > 0 {
			names := make([]string, len(changes))
			for i, ch := range changes {
				names[i] = ch.name
			}
			return fmt.Errorf("%w: cannot update these configs dynamically: %s (broker settings are the host's Options)", errInvalidRequest, strings.Join(names, ", "))
		}
		return nil
	}
	return errResourceType(typ)
}

// alterTopicConfig changes topic name's own settings, with
// Log.UpdateTopicConfig, or checks the change with validateOnly.
func (c *conn) alterTopicConfig(ctx context.Context, name string, changes []alterConfig, replace, validateOnly bool) error {
	if err := checkTopicName(name); err != nil {
		return err
	}
	if alterConfigsHook != nil && !validateOnly {
		alterConfigsHook("start")
	}
	if validateOnly {
		cur, err := c.s.log.TopicConfig(name)
		if err != nil {
			return err
		}
		cfg, err := c.editTopicConfig(name, cur, changes, replace)
		if err != nil {
			return err
		}
		return c.s.log.ValidateAlterTopicConfig(name, cfg)
	}
	return c.s.log.UpdateTopicConfig(ctx, name, func(cfg *eventlog.TopicConfig) error {
		if alterConfigsHook != nil {
			alterConfigsHook("held")
		}
		edited, err := c.editTopicConfig(name, *cfg, changes, replace)
		*cfg = edited
		return err
	})
}

// editTopicConfig returns cur, topic name's configuration, with changes
// made to its own settings (replace: those not named go back to the
// broker-wide ones, but for max.message.bytes, which cannot be altered).
func (c *conn) editTopicConfig(name string, cur eventlog.TopicConfig, changes []alterConfig, replace bool) (eventlog.TopicConfig, error) {
	own := ownTopicConfigs(cur)
	if replace {
		kept, ok := own["max.message.bytes"]
		own = make(map[string]string)
		if ok {
			own["max.message.bytes"] = kept
		}
	}
	broker := c.s.log.DefaultTopicSettings()
	for _, ch := range changes {
		s, known := topicSettings[ch.name]
		if !known {
			// Its error names what is supported.
			_, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, map[string]string{ch.name: ""})
			return cur, fmt.Errorf("topic %q: %w", name, err)
		}
		switch ch.op {
		case kmsg.IncrementalAlterConfigOpSet:
			own[ch.name] = *ch.value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(own, ch.name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if s.typ != kmsg.ConfigTypeList {
				return cur, fmt.Errorf("topic %q: %w: config %s is not a list: %v applies to lists only (cleanup.policy)", name, eventlog.ErrInvalidConfig, ch.name, ch.op)
			}
			old, ok := own[ch.name]
			if !ok {
				old = settingValues(broker.Config)[ch.name]
			}
			own[ch.name] = editList(old, *ch.value, ch.op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return cur, fmt.Errorf("%w: config %s: unknown operation %d", errInvalidRequest, ch.name, int8(ch.op))
		}
	}
	cfg, err := eventlog.TopicConfigFromKafka(eventlog.TopicConfig{}, own)
	if err != nil {
		return cur, fmt.Errorf("topic %q: %w", name, err)
	}
	if cur.MaxBatchBytes == 0 && cfg.MaxBatchBytes == broker.Config.MaxBatchBytes {
		// The value in effect, as DescribeConfigs lists it, sent back
		// changes nothing.
		cfg.MaxBatchBytes = 0
	}
	return cfg, nil
}

// alterConfigsHook, if set (by tests), is called by every alteration of
// a topic's settings with "start" when it starts, before it waits for
// anything, and with "held" once it has read the settings it changes,
// while the Log holds off every other change of the topic. Set it before
// the Server's goroutines start, and remove it once they ended.
var alterConfigsHook func(event string)

// editList appends the items of the comma-separated list items to list,
// those it does not hold, or removes them from it, as Kafka's APPEND and
// SUBTRACT do.
func editList(list, items string, add bool) string {
	split := func(s string) []string {
		var out []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		return out
	}
	have := split(list)
	for _, item := range split(items) {
		switch i := slices.Index(have, item); {
		case add && i < 0:
			have = append(have, item)
		case !add && i >= 0:
			have = slices.Delete(have, i, i+1)
		}
	}
	return strings.Join(have, ",")
}

// resourceCounts counts the resources of a request by type and name:
// Kafka refuses every mention of one named more than once.
func resourceCounts[T any](resources []T, key func(T) resourceKey) map[resourceKey]int {
	n := make(map[resourceKey]int, len(resources))
	for _, r := range resources {
		n[key(r)]++
	}
	return n
}

var errResourceTwice = fmt.Errorf("%w: each resource must appear at most once", errInvalidRequest)

func (c *conn) handleIncrementalAlterConfigs(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	counts := resourceCounts(r.Resources, func(res kmsg.IncrementalAlterConfigsRequestResource) resourceKey {
		return resourceKey{res.ResourceType, res.ResourceName}
	})
	for _, res := range r.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := errResourceTwice
		if counts[resourceKey{res.ResourceType, res.ResourceName}] == 1 {
			changes := make([]alterConfig, len(res.Configs))
			for i, cfg := range res.Configs {
				changes[i] = alterConfig{cfg.Name, cfg.Op, cfg.Value}
			}
			err = c.alterResource(req.ctx, res.ResourceType, res.ResourceName, changes, false, r.ValidateOnly)
		}
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = configErrorCode(err), errorMessage(err)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func (c *conn) handleAlterConfigs(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.AlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	counts := resourceCounts(r.Resources, func(res kmsg.AlterConfigsRequestResource) resourceKey {
		return resourceKey{res.ResourceType, res.ResourceName}
	})
	for _, res := range r.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := errResourceTwice
		if counts[resourceKey{res.ResourceType, res.ResourceName}] == 1 {
			changes := make([]alterConfig, len(res.Configs))
			for i, cfg := range res.Configs {
				changes[i] = alterConfig{cfg.Name, kmsg.IncrementalAlterConfigOpSet, cfg.Value}
			}
			err = c.alterResource(req.ctx, res.ResourceType, res.ResourceName, changes, true, r.ValidateOnly)
		}
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = configErrorCode(err), errorMessage(err)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
