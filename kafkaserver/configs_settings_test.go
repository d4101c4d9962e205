package kafkaserver_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeConfigsInheritedSettings checks that DescribeConfigs lists
// every setting of a topic, as Kafka does, with its source: the topic's
// own as DYNAMIC_TOPIC_CONFIG, with the broker-wide value it overrides as
// a synonym; one the topic takes from the Log's Options as
// STATIC_BROKER_CONFIG (Kafka's server.properties); one neither sets as
// DEFAULT_CONFIG.
func TestDescribeConfigsInheritedSettings(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{FS: eventlog.NewMemFS(), SegmentBytes: 64 << 10, Retention: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 1 << 20, SegmentAge: time.Minute}))
	f := serve(t, l, nil)
	adm := kadm.NewClient(f.client(t))
	configs := topicConfigsOf(t, adm, "t")

	assert.Len(t, configs, len(eventlog.KafkaTopicConfigNames()), "every setting")
	static, dflt, dynamic := kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceDynamicTopicConfig
	assertConfig(t, configs, "segment.bytes", "65536", static)
	assert.Equal(t, []kadm.ConfigSynonym{{Key: "log.segment.bytes", Value: kmsg.StringPtr("65536"), Source: static}}, configs["segment.bytes"].Synonyms)
	assertConfig(t, configs, "retention.ms", "3600000", static)
	assertConfig(t, configs, "retention.bytes", "1048576", dynamic)
	assert.Equal(t, []kadm.ConfigSynonym{
		{Key: "retention.bytes", Value: kmsg.StringPtr("1048576"), Source: dynamic},
		{Key: "log.retention.bytes", Value: kmsg.StringPtr("-1"), Source: dflt},
	}, configs["retention.bytes"].Synonyms)
	assertConfig(t, configs, "segment.ms", "60000", dynamic)
	assert.Equal(t, []kadm.ConfigSynonym{
		{Key: "segment.ms", Value: kmsg.StringPtr("60000"), Source: dynamic},
		{Key: "log.roll.ms", Value: kmsg.StringPtr("604800000"), Source: dflt},
	}, configs["segment.ms"].Synonyms)
	assertConfig(t, configs, "flush.messages", "1", dflt, "the Log fsyncs every append by default")
	assertConfig(t, configs, "max.message.bytes", "1048588", dflt)
	assertConfig(t, configs, "cleanup.policy", "delete", dflt)
	assertConfig(t, configs, "min.compaction.lag.ms", "0", dflt)

	// The broker describes the same broker-wide values.
	rcs, err := adm.DescribeBrokerConfigs(testContext(t), 0)
	require.NoError(t, err)
	require.Len(t, rcs, 1)
	broker := make(map[string]kadm.Config)
	for _, c := range rcs[0].Configs {
		broker[c.Key] = c
	}
	assertConfig(t, broker, "log.segment.bytes", "65536", static)
	assertConfig(t, broker, "log.retention.ms", "3600000", static)
	assertConfig(t, broker, "log.retention.bytes", "-1", dflt)
	assertConfig(t, broker, "log.roll.ms", "604800000", dflt)
	assertConfig(t, broker, "log.flush.interval.messages", "1", dflt)
	assertConfig(t, broker, "message.max.bytes", "1048588", dflt)
}

// TestCreateTopicsReturnsInheritedConfigs checks that CreateTopics from
// v5 answers with every setting of the topic, as DescribeConfigs lists
// them: those the Log's Options give as STATIC_BROKER_CONFIG, the
// library's defaults as DEFAULT_CONFIG, also for a validate-only request.
func TestCreateTopicsReturnsInheritedConfigs(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{FS: eventlog.NewMemFS(), SegmentBytes: 64 << 10, Durability: eventlog.DurabilityOS})
	f := serve(t, l, nil)
	r := dialRaw(t, f.addr)
	for _, validateOnly := range []bool{false, true} {
		got := createTopicV5(t, r, fmt.Sprintf("t-%v", validateOnly), 1, validateOnly, "retention.ms", "60000")
		require.Zero(t, got.ErrorCode, "validate only %v: %v", validateOnly, kerr.ErrorForCode(got.ErrorCode))
		configs := createdConfigs(t, got)
		assert.Len(t, configs, len(eventlog.KafkaTopicConfigNames()), "validate only %v", validateOnly)
		for name, want := range map[string]createdConfig{
			"retention.ms":      {"60000", kmsg.ConfigSourceDynamicTopicConfig},
			"segment.bytes":     {"65536", kmsg.ConfigSourceStaticBrokerConfig},
			"flush.messages":    {"9223372036854775807", kmsg.ConfigSourceStaticBrokerConfig},
			"segment.ms":        {"604800000", kmsg.ConfigSourceDefaultConfig},
			"retention.bytes":   {"-1", kmsg.ConfigSourceDefaultConfig},
			"max.message.bytes": {"1048588", kmsg.ConfigSourceDefaultConfig},
		} {
			assert.Equal(t, want, configs[name], "validate only %v: %s", validateOnly, name)
		}
	}
}

// TestIncrementalAlterConfigsKeepsInProcessChange checks that a change of
// a topic's settings made in process with Log.AlterTopicConfig while a
// client's IncrementalAlterConfigs is under way is kept: the client's
// change is made to the settings the in-process one left, not to those it
// read before. The in-process change is held in the middle of writing
// topic.meta until the listener has begun its alteration (and, if it
// reads the settings outside the Log's administration lock, has read
// them).
func TestIncrementalAlterConfigsKeepsInProcessChange(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, err := eventlog.Open("/d", &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))

	begun := make(chan struct{})
	var once sync.Once
	kafkaserver.SetAlterConfigsHook(func(event string) {
		if event == "start" || event == "held" {
			once.Do(func() { close(begun) })
		}
	})
	t.Cleanup(func() { kafkaserver.SetAlterConfigsHook(nil) }) // after the Server closes
	f := serve(t, l, nil)
	adm := kadm.NewClient(f.client(t))
	ctx := testContext(t)

	entered, release := make(chan struct{}), make(chan struct{})
	var hold sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpRename && strings.HasPrefix(name, "/d/topics/t/topic.meta") {
			hold.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	})
	inProcess := make(chan error, 1)
	go func() { inProcess <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Retention: time.Hour}) }()
	<-entered

	client := make(chan error, 1)
	go func() {
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kmsg.StringPtr("60000")}}, "t")
		if err == nil {
			err = resps[0].Err
		}
		client <- err
	}()
	<-begun
	close(release)
	require.NoError(t, <-inProcess)
	require.NoError(t, <-client)
	fsys.SetFault(nil)

	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Hour, SegmentAge: time.Minute}, cfg, "both changes")
}
