package kafkaserver_test

import (
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicConfigsOf describes topic with kadm (DescribeConfigs with
// synonyms) and returns its settings by name.
func topicConfigsOf(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t), topic)
	require.NoError(t, err)
	rc, err := rcs.On(topic, nil)
	require.NoError(t, err)
	require.NoError(t, rc.Err)
	configs := make(map[string]kadm.Config, len(rc.Configs))
	for _, c := range rc.Configs {
		configs[c.Key] = c
	}
	return configs
}

// value returns a setting's value and source, "" if it is not listed.
func value(configs map[string]kadm.Config, name string) (string, kmsg.ConfigSource) {
	c, ok := configs[name]
	if !ok {
		return "", 0
	}
	return c.MaybeValue(), c.Source
}

// assertConfig checks a setting's value and source in configs.
func assertConfig(t *testing.T, configs map[string]kadm.Config, name, want string, source kmsg.ConfigSource, msgAndArgs ...any) {
	t.Helper()
	v, src := value(configs, name)
	assert.Equal(t, want, v, msgAndArgs...)
	assert.Equal(t, source, src, "the source of %s", name)
}

// TestDescribeConfigsTopic checks DescribeConfigs of a topic as kadm (and
// kafka-configs.sh --describe) asks for it: the topic's own settings as
// DYNAMIC_TOPIC_CONFIG with the broker default they override as a
// synonym, the defaults the Log fixes as DEFAULT_CONFIG under their
// broker names, max.message.bytes in effect (read-only: the Log cannot
// alter it), and UNKNOWN_TOPIC_OR_PARTITION, with no configs, for a topic
// that is not there.
func TestDescribeConfigsTopic(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{
		"own": {Partitions: 2, Retention: time.Hour, CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: time.Minute},
	})
	adm := kadm.NewClient(f.client(t))
	configs := topicConfigsOf(t, adm, "own")

	assertConfig(t, configs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	assertConfig(t, configs, "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	assert.Equal(t, []kadm.ConfigSynonym{
		{Key: "cleanup.policy", Value: kmsg.StringPtr("compact"), Source: kmsg.ConfigSourceDynamicTopicConfig},
		{Key: "log.cleanup.policy", Value: kmsg.StringPtr("delete"), Source: kmsg.ConfigSourceDefaultConfig},
	}, configs["cleanup.policy"].Synonyms)

	assertConfig(t, configs, "min.cleanable.dirty.ratio", "0.5", kmsg.ConfigSourceDefaultConfig)
	assert.Equal(t, []kadm.ConfigSynonym{
		{Key: "log.cleaner.min.cleanable.ratio", Value: kmsg.StringPtr("0.5"), Source: kmsg.ConfigSourceDefaultConfig},
	}, configs["min.cleanable.dirty.ratio"].Synonyms)
	v, _ := value(configs, "compression.type")
	assert.Equal(t, "producer", v)
	assertConfig(t, configs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig, "the Log's default")

	rcs, err := adm.DescribeTopicConfigs(testContext(t), "missing")
	require.NoError(t, err)
	rc, err := rcs.On("missing", nil)
	require.NoError(t, err)
	assert.ErrorIs(t, rc.Err, kerr.UnknownTopicOrPartition)
	assert.Empty(t, rc.Configs)
}

// TestDescribeConfigsRequest checks what kadm does not ask for: the
// ConfigNames filter (no names or an empty list: all), a topic named
// twice (described twice, as Kafka answers), read-only flags, types and
// documentation (v3+), no synonyms unless asked, IsDefault in v0, and a
// resource type not served (INVALID_REQUEST).
func TestDescribeConfigsRequest(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Retention: eventlog.RetainForever, MaxBatchBytes: 4096}})
	r := dialRaw(t, f.addr)
	describe := func(version int16, docs bool, resources ...kmsg.DescribeConfigsRequestResource) *kmsg.DescribeConfigsResponse {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.SetVersion(version)
		req.Resources, req.IncludeDocumentation = resources, docs
		return r.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	}
	resource := func(typ kmsg.ConfigResourceType, name string, names []string) kmsg.DescribeConfigsRequestResource {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName, res.ConfigNames = typ, name, names
		return res
	}
	topic := kmsg.ConfigResourceTypeTopic

	resp := describe(4, true,
		resource(topic, "t", []string{"retention.ms", "max.message.bytes", "no.such.setting"}),
		resource(topic, "t", []string{}),
		resource(kmsg.ConfigResourceTypeBrokerLogger, "0", nil))
	require.Len(t, resp.Resources, 3)
	filtered := resp.Resources[0]
	require.Zero(t, filtered.ErrorCode)
	require.Len(t, filtered.Configs, 2)
	mmb, rms := filtered.Configs[0], filtered.Configs[1]
	assert.Equal(t, "max.message.bytes", mmb.Name)
	assert.Equal(t, "4096", *mmb.Value)
	assert.True(t, mmb.ReadOnly, "max.message.bytes cannot be altered")
	assert.Equal(t, kmsg.ConfigTypeInt, mmb.ConfigType)
	assert.Equal(t, "retention.ms", rms.Name)
	assert.Equal(t, "-1", *rms.Value)
	assert.False(t, rms.ReadOnly)
	assert.Equal(t, kmsg.ConfigTypeLong, rms.ConfigType)
	assert.NotEmpty(t, rms.Documentation)
	assert.Empty(t, rms.ConfigSynonyms, "not asked for")
	all := resp.Resources[1]
	require.Zero(t, all.ErrorCode)
	assert.Len(t, all.Configs, len(eventlog.KafkaTopicConfigNames()), "an empty list of names asks for all")
	assert.Equal(t, kerr.InvalidRequest.Code, resp.Resources[2].ErrorCode)
	assert.Empty(t, resp.Resources[2].Configs)

	v0 := describe(0, false, resource(topic, "t", []string{"retention.ms", "compression.type"}))
	require.Len(t, v0.Resources, 1)
	require.Len(t, v0.Resources[0].Configs, 2)
	assert.False(t, v0.Resources[0].Configs[1].IsDefault, "retention.ms is the topic's")
	assert.True(t, v0.Resources[0].Configs[0].IsDefault, "compression.type is the default")
	assert.Nil(t, v0.Resources[0].Configs[0].Documentation)

	bad := describe(4, false, resource(topic, "a/b", nil))
	assert.Equal(t, kerr.InvalidTopicException.Code, bad.Resources[0].ErrorCode)
}

// TestDescribeConfigsBroker checks DescribeConfigs of the broker: its
// settings, read-only, for its own ID; none for the empty name (the
// cluster's dynamic defaults); and INVALID_REQUEST for another broker's
// ID or a name that is not one, as Kafka answers them.
func TestDescribeConfigsBroker(t *testing.T) {
	f := newFixture(t, nil)
	adm := kadm.NewClient(f.client(t))
	rcs, err := adm.DescribeBrokerConfigs(testContext(t), 0)
	require.NoError(t, err)
	require.Len(t, rcs, 1)
	require.NoError(t, rcs[0].Err)
	configs := make(map[string]kadm.Config)
	for _, c := range rcs[0].Configs {
		configs[c.Key] = c
	}
	assertConfig(t, configs, "fetch.max.bytes", "57671680", kmsg.ConfigSourceStaticBrokerConfig)
	assertConfig(t, configs, "log.cleaner.delete.retention.ms", "86400000", kmsg.ConfigSourceDefaultConfig)
	v, _ := value(configs, "auto.create.topics.enable")
	assert.Equal(t, "false", v)

	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"", "7", "zero"} {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, name
		req.Resources = append(req.Resources, res)
	}
	resp := r.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	require.Len(t, resp.Resources, 3)
	assert.Zero(t, resp.Resources[0].ErrorCode)
	assert.Empty(t, resp.Resources[0].Configs)
	assert.Equal(t, kerr.InvalidRequest.Code, resp.Resources[1].ErrorCode)
	assert.Equal(t, kerr.InvalidRequest.Code, resp.Resources[2].ErrorCode)
}

// TestIncrementalAlterConfigs checks IncrementalAlterConfigs as kadm's
// AlterTopicConfigs (kafka-configs.sh --alter) sends it: SET, DELETE back
// to the default, APPEND and SUBTRACT on cleanup.policy, validate-only
// that changes nothing, and INVALID_CONFIG naming the setting for an
// unknown setting, a bad value, APPEND to a setting that is not a list,
// and max.message.bytes, which the Log cannot alter.
func TestIncrementalAlterConfigs(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {SegmentAge: time.Hour}})
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	alter := func(validate bool, configs ...kadm.AlterConfig) kadm.AlterConfigsResponse {
		t.Helper()
		do := adm.AlterTopicConfigs
		if validate {
			do = adm.ValidateAlterTopicConfigs
		}
		resps, err := do(ctx, configs, "t")
		require.NoError(t, err)
		resp, err := resps.On("t", nil)
		require.NoError(t, err)
		return resp
	}
	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: &value}
	}

	require.NoError(t, alter(false, set("retention.ms", "60000"), kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "segment.ms"}).Err)
	cfg, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Minute}, cfg)
	assertConfig(t, topicConfigsOf(t, adm, "t"), "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)

	// APPEND to the default, delete: both; SUBTRACT delete: compact.
	require.NoError(t, alter(false, kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}).Err)
	cfg, err = f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.CleanupCompactDelete, cfg.CleanupPolicy)
	require.NoError(t, alter(false, kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("delete")}).Err)
	cfg, err = f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Minute, CleanupPolicy: eventlog.CleanupCompact}, cfg)

	// Validate-only: answered as the change would be, nothing changes.
	require.NoError(t, alter(true, set("retention.ms", "1000")).Err)
	resp := alter(true, set("segment.bytes", "100"))
	assert.ErrorIs(t, resp.Err, kerr.InvalidConfig, "the Log's least is 1 KiB")
	after, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, cfg, after)

	for name, c := range map[string]kadm.AlterConfig{
		"no.such.setting":   set("no.such.setting", "1"),
		"retention.bytes":   set("retention.bytes", "lots"),
		"retention.ms":      {Op: kadm.AppendConfig, Name: "retention.ms", Value: kmsg.StringPtr("1")},
		"max.message.bytes": set("max.message.bytes", "4096"),
	} {
		resp := alter(false, c)
		assert.ErrorIs(t, resp.Err, kerr.InvalidConfig, name)
		assert.Contains(t, resp.ErrMessage, name)
	}
	after, err = f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, cfg, after)
}

// TestIncrementalAlterConfigsRequest checks the per-resource answers kadm
// does not produce: UNKNOWN_TOPIC_OR_PARTITION for a topic not there,
// INVALID_REQUEST for every mention of a resource named twice, a setting
// named twice in a resource, a SET without a value, a broker setting (the
// host's Options) and another broker's ID, as Kafka answers them; the
// other resources are altered.
func TestIncrementalAlterConfigsRequest(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {}, "u": {}, "twice": {}})
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	add := func(typ kmsg.ConfigResourceType, name string, configs ...kmsg.IncrementalAlterConfigsRequestResourceConfig) {
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName, res.Configs = typ, name, configs
		req.Resources = append(req.Resources, res)
	}
	set := func(name string, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = name, value
		return c
	}
	retention := set("retention.ms", kmsg.StringPtr("60000"))
	topic, broker := kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker
	add(topic, "missing", retention)
	add(topic, "twice", retention)
	add(topic, "twice", retention)
	add(topic, "u", retention, retention)
	add(topic, "u2", set("retention.ms", nil))
	add(broker, "0", set("log.retention.ms", kmsg.StringPtr("1")))
	add(broker, "3")
	add(topic, "t", retention)
	// Raw: kgo sends a broker's resources to that broker.
	resp := dialRaw(t, f.addr).roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse)
	codes := make([]int16, len(resp.Resources))
	for i, r := range resp.Resources {
		codes[i] = r.ErrorCode
	}
	assert.Equal(t, []int16{
		kerr.UnknownTopicOrPartition.Code,
		kerr.InvalidRequest.Code, kerr.InvalidRequest.Code,
		kerr.InvalidRequest.Code,
		kerr.InvalidRequest.Code,
		kerr.InvalidRequest.Code,
		kerr.InvalidRequest.Code,
		0,
	}, codes)
	for name, want := range map[string]time.Duration{"t": time.Minute, "u": 0, "twice": 0} {
		cfg, err := f.log.TopicConfig(name)
		require.NoError(t, err)
		assert.Equal(t, want, cfg.Retention, name)
	}
}

// TestAlterConfigsReplaces checks the legacy AlterConfigs, as kadm's
// AlterTopicConfigsState sends it: the settings named become the topic's
// whole set, and those not named go back to their defaults, but for
// max.message.bytes, which the Log cannot alter; validate-only changes
// nothing.
func TestAlterConfigsReplaces(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Retention: time.Hour, SegmentAge: time.Hour, MaxBatchBytes: 4096}})
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	configs := []kadm.AlterConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("65536")}}

	resps, err := adm.ValidateAlterTopicConfigsState(ctx, configs, "t")
	require.NoError(t, err)
	require.NoError(t, resps[0].Err)
	cfg, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Hour, SegmentAge: time.Hour, MaxBatchBytes: 4096}, cfg)

	resps, err = adm.AlterTopicConfigsState(ctx, configs, "t")
	require.NoError(t, err)
	require.NoError(t, resps[0].Err)
	cfg, err = f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, SegmentBytes: 65536, MaxBatchBytes: 4096}, cfg)

	resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kmsg.StringPtr("sometimes")}}, "t")
	require.NoError(t, err)
	assert.ErrorIs(t, resps[0].Err, kerr.InvalidConfig)
	assert.Contains(t, resps[0].ErrMessage, "cleanup.policy")
}

// TestIncrementalAlterConfigsConcurrent checks that two clients altering
// different settings of a topic at once both get their change, as
// Kafka's controller applies both: the second, started while the first
// holds the settings it read, waits for the first, rather than writing
// back the settings it read before the first changed them.
func TestIncrementalAlterConfigsConcurrent(t *testing.T) {
	held, release, started := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var helds, starts atomic.Int32
	kafkaserver.SetAlterConfigsHook(func(event string) {
		switch event {
		case "held":
			if helds.Add(1) == 1 { // the first holds on
				close(held)
				<-release
			}
		case "start":
			if starts.Add(1) == 2 {
				close(started)
			}
		}
	})
	t.Cleanup(func() { kafkaserver.SetAlterConfigsHook(nil) }) // after the Server closes
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {}})
	ctx := testContext(t)
	alter := func(name, value string) <-chan error {
		cl := f.client(t) // a connection of its own
		done := make(chan error, 1)
		go func() {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			res := kmsg.NewIncrementalAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = name, &value
			res.Configs = append(res.Configs, c)
			req.Resources = append(req.Resources, res)
			resp, err := req.RequestWith(ctx, cl)
			if err == nil {
				err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
			}
			done <- err
		}()
		return done
	}
	a := alter("retention.ms", "60000")
	<-held
	b := alter("segment.ms", "3600000")
	<-started // b cannot read the settings before a has written them
	close(release)
	require.NoError(t, <-a)
	require.NoError(t, <-b)
	cfg, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Minute, SegmentAge: time.Hour}, cfg, "both changes")
}

// TestIncrementalAlterConfigsKeepsTheRest checks that a change of one
// setting leaves every other setting of the topic as it was, whatever the
// host set in process: the settings are read back by their Kafka names
// and written whole.
func TestIncrementalAlterConfigsKeepsTheRest(t *testing.T) {
	cfg := eventlog.TopicConfig{
		Partitions:             3,
		Durability:             eventlog.DurabilityOS,
		SegmentBytes:           1 << 20,
		SegmentAge:             90 * time.Minute,
		MaxBatchBytes:          1 << 16,
		Retention:              1500 * time.Millisecond,
		RetentionBytes:         -1,
		CleanupPolicy:          eventlog.CleanupCompactDelete,
		DeleteRetention:        time.Second,
		MinCleanableDirtyRatio: 0.3,
		MinCompactionLag:       time.Minute,
		MaxCompactionLag:       time.Hour,
	}
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": cfg})
	before, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	adm := kadm.NewClient(f.client(t))
	resps, err := adm.AlterTopicConfigs(testContext(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kmsg.StringPtr("1")}}, "t")
	require.NoError(t, err)
	require.NoError(t, resps[0].Err)
	after, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, before, after)

	resps, err = adm.AlterTopicConfigs(testContext(t), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "flush.messages"}}, "t")
	require.NoError(t, err)
	require.NoError(t, resps[0].Err)
	after, err = f.log.TopicConfig("t")
	require.NoError(t, err)
	before.Durability = eventlog.DurabilityDefault
	assert.Equal(t, before, after)
}

// TestConfigAPIVersions checks the versions ApiVersions advertises for
// the config APIs: all that franz-go's kmsg knows, as Kafka 3.x serves
// them (DescribeConfigs flexible from v4, the others from v1 and v2).
func TestConfigAPIVersions(t *testing.T) {
	f := newFixture(t, nil)
	versions := map[int16][2]int16{}
	for _, k := range apiVersions(t, f.addr).ApiKeys {
		versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	assert.Equal(t, [2]int16{0, 4}, versions[32], "DescribeConfigs")
	assert.Equal(t, [2]int16{0, 2}, versions[33], "AlterConfigs")
	assert.Equal(t, [2]int16{0, 1}, versions[44], "IncrementalAlterConfigs")
}

// TestAlterConfigsDescribedValues checks that the settings DescribeConfigs
// lists, sent back whole with AlterConfigs (read, modify, write), are
// taken: max.message.bytes at the value in effect changes nothing, where
// another value is refused, as the Log cannot alter it.
func TestAlterConfigsDescribedValues(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Retention: time.Hour}})
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	var configs []kadm.AlterConfig
	for name, c := range topicConfigsOf(t, adm, "t") {
		value := c.MaybeValue()
		if name == "retention.ms" {
			value = "60000"
		}
		configs = append(configs, kadm.AlterConfig{Name: name, Value: &value})
	}
	resps, err := adm.AlterTopicConfigsState(ctx, configs, "t")
	require.NoError(t, err)
	require.NoError(t, resps[0].Err)
	cfg, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.Retention)
	assert.Zero(t, cfg.MaxBatchBytes, "still the Log's")

	resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("4096")}}, "t")
	require.NoError(t, err)
	assert.ErrorIs(t, resps[0].Err, kerr.InvalidConfig)
}

// TestDescribeConfigsZeroDirtyRatio checks a topic created with
// min.cleanable.dirty.ratio=0, which the Log keeps as the smallest
// positive ratio (its 0 is the default 0.5): DescribeConfigs and
// CreateTopics answer 0, as it was set, as the topic's own; and an
// alteration of another setting keeps it.
func TestDescribeConfigsZeroDirtyRatio(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	created, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{
		"cleanup.policy": kmsg.StringPtr("compact"), "min.cleanable.dirty.ratio": kmsg.StringPtr("0"),
	}, "t")
	require.NoError(t, err)
	require.NoError(t, created.Err)
	cfg, err := f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, math.SmallestNonzeroFloat64, cfg.MinCleanableDirtyRatio, "cleans at any dirt")

	assertConfig(t, topicConfigsOf(t, adm, "t"), "min.cleanable.dirty.ratio", "0", kmsg.ConfigSourceDynamicTopicConfig)

	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("60000")}}, "t")
	require.NoError(t, err)
	require.NoError(t, resps[0].Err)
	cfg, err = f.log.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, CleanupPolicy: eventlog.CleanupCompact, Retention: time.Minute, MinCleanableDirtyRatio: math.SmallestNonzeroFloat64}, cfg)
	v, _ := value(topicConfigsOf(t, adm, "t"), "min.cleanable.dirty.ratio")
	assert.Equal(t, "0", v)
}
