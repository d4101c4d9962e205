package kafkaserver_test

import (
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeleteRecordsPolicy checks DeleteRecords' answers as Kafka gives
// them: POLICY_VIOLATION for a topic whose cleanup.policy does not delete
// (compact alone), whose records go only by compaction; the new log start
// offset for one that does, and for -1 the high watermark.
func TestDeleteRecordsPolicy(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{
		"compacted": {Partitions: 1, CleanupPolicy: eventlog.CleanupCompact},
		"both":      {Partitions: 1, CleanupPolicy: eventlog.CleanupCompactDelete},
	})
	ctx := testContext(t)
	cl := f.client(t)
	for _, topic := range []string{"compacted", "both"} {
		require.NoError(t, cl.ProduceSync(ctx,
			&kgo.Record{Topic: topic, Key: []byte("a"), Value: []byte("1")},
			&kgo.Record{Topic: topic, Key: []byte("b"), Value: []byte("2")}).FirstErr())
	}
	adm := kadm.NewClient(cl)
	del := func(topic string, at int64) kadm.DeleteRecordsResponse {
		var o kadm.Offsets
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: at})
		resp, err := adm.DeleteRecords(ctx, o)
		require.NoError(t, err)
		r, ok := resp.Lookup(topic, 0)
		require.True(t, ok)
		return r
	}
	assert.ErrorIs(t, del("compacted", 1).Err, kerr.PolicyViolation)
	r := del("both", -1)
	require.NoError(t, r.Err)
	assert.EqualValues(t, 2, r.LowWatermark)
}

// gatedFS holds up the creation of the first directory of topic "gated"
// until release is closed, and closes entered once it is held.
type gatedFS struct {
	eventlog.FS
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gatedFS) MkdirAll(name string, perm fs.FileMode) error {
	if filepath.Base(filepath.Dir(name)) == "gated" {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	return g.FS.MkdirAll(name, perm)
}

// TestMetadataAutoCreateConcurrent checks the answers to Metadata for a
// topic that another request is creating, with auto-creation on: not
// TOPIC_ALREADY_EXISTS, which Kafka never answers a Metadata with and
// which clients take as a fatal error of the topic, but
// LEADER_NOT_AVAILABLE, which they retry, as Kafka answers a topic it is
// creating; and the topic once it is created. A name that differs from an
// existing topic's only in case, which the Log refuses, is answered
// INVALID_TOPIC_EXCEPTION.
func TestMetadataAutoCreateConcurrent(t *testing.T) {
	gate := &gatedFS{FS: eventlog.OSFS{}, entered: make(chan struct{}), release: make(chan struct{})}
	l := eventlogtest.New(t, &eventlog.Options{FS: gate})
	require.NoError(t, l.CreateTopic("Orders", eventlog.TopicConfig{Partitions: 1}))
	f := serve(t, l, &kafkaserver.Options{AutoCreateTopics: true})
	ctx := testContext(t)
	metadata := func(cl *kgo.Client, topic string) kmsg.MetadataResponseTopic {
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Len(t, resp.Topics, 1)
		return resp.Topics[0]
	}

	first := make(chan kmsg.MetadataResponseTopic, 1)
	creator := f.client(t)
	go func() { first <- metadata(creator, "gated") }()
	select {
	case <-gate.entered:
	case <-ctx.Done():
		t.Fatal("the first Metadata did not begin creating the topic")
	}
	second := metadata(f.client(t), "gated")
	close(gate.release)
	assert.Equal(t, kerr.LeaderNotAvailable.Code, second.ErrorCode, "a topic being created: %v", kerr.ErrorForCode(second.ErrorCode))
	select {
	case got := <-first:
		assert.Zero(t, got.ErrorCode)
		assert.Len(t, got.Partitions, 1)
	case <-ctx.Done():
		t.Fatal("the creating Metadata was not answered")
	}
	again := metadata(f.client(t), "gated")
	assert.Zero(t, again.ErrorCode)
	assert.Len(t, again.Partitions, 1)

	collides := metadata(f.client(t), "orders")
	assert.Equal(t, kerr.InvalidTopicException.Code, collides.ErrorCode, "%v", kerr.ErrorForCode(collides.ErrorCode))
	assert.Equal(t, []string{"Orders", "gated"}, l.Topics())
}

// TestCreateTopicsValidateOnly checks that CreateTopics with validate-only
// answers each topic as the same request without it does — a topic that
// exists, a name Kafka or the Log refuses, settings the Log refuses — and
// creates nothing, as Kafka's validate-only does (kadm's
// ValidateCreateTopics, kafka-topics.sh --validate-only).
func TestCreateTopicsValidateOnly(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"taken": {Partitions: 1}})
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	for i, tc := range []struct {
		topic      string
		partitions int32
		configs    map[string]*string
		want       error
	}{
		{"taken", 1, nil, kerr.TopicAlreadyExists},
		{"Taken", 1, nil, kerr.TopicAlreadyExists}, // differs only in case
		{"a b", 1, nil, kerr.InvalidTopicException},
		{"__internal", 1, nil, kerr.InvalidTopicException},
		{"small-segments", 1, map[string]*string{"segment.bytes": ptr("100")}, kerr.InvalidConfig},
		{"dirty", 1, map[string]*string{"min.cleanable.dirty.ratio": ptr("2")}, kerr.InvalidConfig},
		{"lags", 1, map[string]*string{"min.compaction.lag.ms": ptr("60000"), "max.compaction.lag.ms": ptr("1000")}, kerr.InvalidConfig},
		{"fine", 3, map[string]*string{"cleanup.policy": ptr("compact")}, nil},
	} {
		what := fmt.Sprintf("case %d: topic %q", i, tc.topic)
		validated, err := adm.ValidateCreateTopics(ctx, tc.partitions, 1, tc.configs, tc.topic)
		require.NoError(t, err, what)
		v, ok := validated[tc.topic]
		require.True(t, ok, what)
		if tc.want == nil {
			require.NoError(t, v.Err, what)
			assert.Equal(t, tc.partitions, v.NumPartitions, what)
			_, err := f.log.TopicConfig(tc.topic)
			assert.ErrorIs(t, err, eventlog.ErrTopicNotFound, "%s: validate-only created it", what)
		} else {
			assert.ErrorIs(t, v.Err, tc.want, "validate-only: %s", what)
		}
		created, err := adm.CreateTopics(ctx, tc.partitions, 1, tc.configs, tc.topic)
		require.NoError(t, err, what)
		if tc.want == nil {
			assert.NoError(t, created[tc.topic].Err, what)
		} else {
			assert.ErrorIs(t, created[tc.topic].Err, tc.want, "create: %s", what)
		}
	}
}

// TestCreatePartitionsValidateOnly checks that CreatePartitions with
// validate-only answers each topic as the same request without it does — a
// count that adds nothing, one past the limit of 65,536, an unknown or
// internal topic — and grows nothing, as Kafka's validate-only does.
func TestCreatePartitionsValidateOnly(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
	ctx := testContext(t)
	cl := f.client(t)
	for i, tc := range []struct {
		topic string
		count int32
		want  error
	}{
		{"t", 2, kerr.InvalidPartitions},
		{"t", 1 << 17, kerr.InvalidPartitions},
		{"missing", 3, kerr.UnknownTopicOrPartition},
		{"__consumer_offsets", 100, kerr.InvalidTopicException},
		{"t", 3, nil},
	} {
		what := fmt.Sprintf("case %d: topic %q to %d", i, tc.topic, tc.count)
		for _, validateOnly := range []bool{true, false} {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.ValidateOnly = validateOnly
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = tc.topic, tc.count
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			require.NoError(t, err, what)
			require.Len(t, resp.Topics, 1, what)
			got := kerr.ErrorForCode(resp.Topics[0].ErrorCode)
			if tc.want == nil {
				assert.NoError(t, got, "%s, validate-only %v", what, validateOnly)
			} else {
				assert.ErrorIs(t, got, tc.want, "%s, validate-only %v", what, validateOnly)
			}
			cfg, err := f.log.TopicConfig("t")
			require.NoError(t, err)
			if validateOnly || tc.want != nil {
				assert.Equal(t, 2, cfg.Partitions, "%s, validate-only %v: grown", what, validateOnly)
			}
		}
	}
}

// TestCreateTopicsAndPartitionsNameATopicTwice checks that a topic named
// twice in one CreateTopics or CreatePartitions request gets one answer,
// INVALID_REQUEST, and is neither created nor grown, as Kafka answers; the
// request's other topics are acted on.
func TestCreateTopicsAndPartitionsNameATopicTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"grow": {Partitions: 1}, "other": {Partitions: 1}})
	ctx := testContext(t)
	cl := f.client(t)

	create := kmsg.NewPtrCreateTopicsRequest()
	for _, name := range []string{"twice", "once", "twice"} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		create.Topics = append(create.Topics, rt)
	}
	created, err := create.RequestWith(ctx, cl)
	require.NoError(t, err)
	codes := map[string][]int16{}
	for _, rt := range created.Topics {
		codes[rt.Topic] = append(codes[rt.Topic], rt.ErrorCode)
	}
	assert.Equal(t, map[string][]int16{"twice": {kerr.InvalidRequest.Code}, "once": {0}}, codes)
	_, err = f.log.TopicConfig("twice")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound, "a topic named twice was created")

	grow := kmsg.NewPtrCreatePartitionsRequest()
	for _, name := range []string{"grow", "other", "grow"} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, 3
		grow.Topics = append(grow.Topics, rt)
	}
	grown, err := grow.RequestWith(ctx, cl)
	require.NoError(t, err)
	codes = map[string][]int16{}
	for _, rt := range grown.Topics {
		codes[rt.Topic] = append(codes[rt.Topic], rt.ErrorCode)
	}
	assert.Equal(t, map[string][]int16{"grow": {kerr.InvalidRequest.Code}, "other": {0}}, codes)
	cfg, err := f.log.TopicConfig("grow")
	require.NoError(t, err)
	assert.Equal(t, 1, cfg.Partitions, "a topic named twice was grown")
	cfg, err = f.log.TopicConfig("other")
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Partitions)
}

// TestMetadataAutoCreateBeforeV4: Metadata v1 to v3 have no
// allow_auto_topic_creation field, and Kafka creates the topics they name
// (the field's default is true); from v4 on the field decides.
func TestMetadataAutoCreateBeforeV4(t *testing.T) {
	l := eventlogtest.New(t, nil)
	f := serve(t, l, &kafkaserver.Options{AutoCreateTopics: true})
	r := dialRaw(t, f.addr)
	metadata := func(version int16, topic string, allow bool) kmsg.MetadataResponseTopic {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(version)
		req.AllowAutoTopicCreation = allow
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp := r.roundTrip(req).(*kmsg.MetadataResponse)
		require.Len(t, resp.Topics, 1)
		return resp.Topics[0]
	}
	for _, version := range []int16{1, 2, 3} {
		topic := fmt.Sprintf("v%d", version)
		got := metadata(version, topic, false) // not sent before v4
		assert.Zero(t, got.ErrorCode, "Metadata v%d: %v", version, kerr.ErrorForCode(got.ErrorCode))
		assert.Len(t, got.Partitions, 1, "Metadata v%d", version)
	}
	got := metadata(4, "v4", false)
	assert.Equal(t, kerr.UnknownTopicOrPartition.Code, got.ErrorCode, "Metadata v4 that does not allow creation")
	assert.Equal(t, []string{"v1", "v2", "v3"}, l.Topics())
}

// TestCreateTopicsDefaultPartitionsChecksTheRest: a CreateTopics topic
// asking for the default partition count (-1) is checked like any other:
// a replication factor above 1 is refused with INVALID_REPLICATION_FACTOR
// and replica assignments with INVALID_REPLICA_ASSIGNMENT, and the topic
// is not created.
func TestCreateTopicsDefaultPartitionsChecksTheRest(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f.addr)
	create := func(name string, replication int16, assignment bool) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.SetVersion(5)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, replication
		if assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = 0, []int32{0}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp := r.roundTrip(req).(*kmsg.CreateTopicsResponse)
		require.Len(t, resp.Topics, 1)
		return resp.Topics[0].ErrorCode
	}
	assert.Equal(t, kerr.InvalidReplicationFactor.Code, create("three", 3, false), "replication factor 3")
	assert.Equal(t, kerr.InvalidReplicaAssignment.Code, create("assigned", -1, true), "a replica assignment")
	assert.Empty(t, f.log.Topics())
	assert.Zero(t, create("defaults", -1, false), "the defaults")
	assert.Equal(t, []string{"defaults"}, f.log.Topics())
}

// TestMetadataInternalTopic: __consumer_offsets, left out of a Metadata of
// every topic, is described when named, as Kafka describes it: marked
// internal, so that clients that leave internal topics out (the Java
// consumer's exclude.internal.topics, kadm's topic listings) do.
func TestMetadataInternalTopic(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	require.NoError(t, f.log.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t", Partition: 0}: {Offset: 0}}))
	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	for _, name := range []string{"__consumer_offsets", "t"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp := r.roundTrip(req).(*kmsg.MetadataResponse)
	require.Len(t, resp.Topics, 2)
	for _, rt := range resp.Topics {
		require.Zero(t, rt.ErrorCode, *rt.Topic)
		assert.Equal(t, *rt.Topic == "__consumer_offsets", rt.IsInternal, *rt.Topic)
	}
}

// TestDeleteTopicsNameATopicTwice checks that a topic named twice in one
// DeleteTopics request gets one answer, INVALID_REQUEST, and is not
// deleted, as Kafka's controller answers ("Duplicate topic name."); the
// request's other topics are deleted.
func TestDeleteTopicsNameATopicTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"twice": {Partitions: 1}, "once": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.SetVersion(5)
	del.TimeoutMillis = 10_000
	del.TopicNames = []string{"twice", "once", "twice"}
	resp := r.roundTrip(del).(*kmsg.DeleteTopicsResponse)
	codes := map[string][]int16{}
	for _, rt := range resp.Topics {
		require.NotNil(t, rt.Topic)
		codes[*rt.Topic] = append(codes[*rt.Topic], rt.ErrorCode)
	}
	assert.Equal(t, map[string][]int16{"twice": {kerr.InvalidRequest.Code}, "once": {0}}, codes)
	_, err := f.log.TopicConfig("twice")
	assert.NoError(t, err, "a topic named twice was deleted")
	_, err = f.log.TopicConfig("once")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
}

// TestMetadataNameATopicTwice checks that a topic named twice in one
// Metadata request is described once, as Kafka describes the set of
// topics a request names.
func TestMetadataNameATopicTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"a": {Partitions: 2}, "b": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	for _, v := range []int16{1, 12} {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		for _, name := range []string{"a", "b", "a", "missing", "missing"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp := r.roundTrip(req).(*kmsg.MetadataResponse)
		var names []string
		for _, rt := range resp.Topics {
			require.NotNil(t, rt.Topic)
			names = append(names, *rt.Topic)
		}
		assert.ElementsMatch(t, []string{"a", "b", "missing"}, names, "v%d", v)
	}
}

// TestMetadataTopicIDs checks Metadata requests that name topics by ID,
// which the Log's topics do not have (their IDs are zero), as Kafka's
// broker answers them: from v12 each ID named is answered
// UNKNOWN_TOPIC_ID, and names beside IDs are not looked up; before v12
// (v10 and v11 have the field) a topic ID, or a topic without a name, is
// an invalid request, every topic answered INVALID_REQUEST.
func TestMetadataTopicIDs(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"a": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	id := [16]byte{1, 2, 3}
	metadata := func(version int16, topics ...kmsg.MetadataRequestTopic) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(version)
		req.Topics = topics
		return r.roundTrip(req).(*kmsg.MetadataResponse)
	}
	byName := kmsg.NewMetadataRequestTopic()
	byName.Topic = kmsg.StringPtr("a")
	byID := kmsg.NewMetadataRequestTopic()
	byID.TopicID = id
	noName := kmsg.NewMetadataRequestTopic()

	resp := metadata(12, byID, byName, byID)
	require.Len(t, resp.Topics, 1, "v12: the ID once, the name not looked up")
	assert.Nil(t, resp.Topics[0].Topic)
	assert.Equal(t, id, resp.Topics[0].TopicID)
	assert.Equal(t, kerr.UnknownTopicID.Code, resp.Topics[0].ErrorCode, "%v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))

	for _, v := range []int16{10, 11} {
		for _, bad := range []kmsg.MetadataRequestTopic{byID, noName} {
			resp := metadata(v, byName, bad)
			require.Len(t, resp.Topics, 2, "v%d", v)
			for _, rt := range resp.Topics {
				assert.Equal(t, kerr.InvalidRequest.Code, rt.ErrorCode, "v%d %v: %v", v, rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
				assert.Empty(t, rt.Partitions, "v%d", v)
			}
		}
	}
	// Names alone are answered as ever.
	resp = metadata(12, byName)
	require.Len(t, resp.Topics, 1)
	assert.Zero(t, resp.Topics[0].ErrorCode)
}

// TestDeleteRecordsNameAPartitionTwice checks that a partition named
// twice in one DeleteRecords request is acted on and answered once, with
// the offset of its last mention, as Kafka's broker takes the request's
// partitions into a map.
func TestDeleteRecordsNameAPartitionTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
	ctx := testContext(t)
	prod := f.client(t, kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(2) {
		require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("a")}, &kgo.Record{Partition: p, Value: []byte("b")}, &kgo.Record{Partition: p, Value: []byte("c")}).FirstErr())
	}
	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.SetVersion(2)
	req.TimeoutMillis = 10_000
	for _, m := range []struct {
		partition int32
		offset    int64
	}{{0, 2}, {1, 1}, {0, 1}} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = m.partition, m.offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := r.roundTrip(req).(*kmsg.DeleteRecordsResponse)
	low := map[int32][]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			require.Zero(t, rp.ErrorCode, "partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			low[rp.Partition] = append(low[rp.Partition], rp.LowWatermark)
		}
	}
	assert.Equal(t, map[int32][]int64{0: {1}, 1: {1}}, low)
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	assert.EqualValues(t, 1, p.LogStartOffset(), "the last mention's offset")
}

// createTopicV5 creates, with a CreateTopics v5 request on r, the topic
// name of the given partitions and configs (name, value, name, value...),
// or, with validateOnly, only asks what it would be; it returns the
// answer's topic.
func createTopicV5(t *testing.T, r *rawConn, name string, partitions int32, validateOnly bool, configs ...string) kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis, req.ValidateOnly = 10_000, validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp := r.roundTrip(req).(*kmsg.CreateTopicsResponse)
	require.Len(t, resp.Topics, 1)
	return resp.Topics[0]
}

// createdConfig is a config a CreateTopics answer lists: its value and
// where it comes from.
type createdConfig struct {
	value  string
	source kmsg.ConfigSource
}

// createdConfigs returns the configs of a CreateTopics answer's topic, by
// name, checking that each has a value and none is sensitive.
func createdConfigs(t *testing.T, got kmsg.CreateTopicsResponseTopic) map[string]createdConfig {
	t.Helper()
	configs := map[string]createdConfig{}
	for _, c := range got.Configs {
		require.NotNil(t, c.Value, c.Name)
		assert.False(t, c.IsSensitive, c.Name)
		configs[c.Name] = createdConfig{*c.Value, kmsg.ConfigSource(c.Source)}
	}
	return configs
}

// TestCreateTopicsReturnsConfigs checks that CreateTopics from v5 answers,
// as Kafka does, with the topic's partitions, replication factor and
// configs: those the request set as the topic's own
// (DYNAMIC_TOPIC_CONFIG), and those it takes from defaults the listener
// knows (DEFAULT_CONFIG); a validate-only request with what the topic
// would have.
func TestCreateTopicsReturnsConfigs(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f.addr)
	for _, validateOnly := range []bool{false, true} {
		got := createTopicV5(t, r, fmt.Sprintf("t-%v", validateOnly), 3, validateOnly,
			"cleanup.policy", "compact", "retention.ms", "3600000", "flush.messages", "1")
		require.Zero(t, got.ErrorCode, "validate only %v: %v", validateOnly, kerr.ErrorForCode(got.ErrorCode))
		assert.EqualValues(t, 3, got.NumPartitions, "validate only %v", validateOnly)
		assert.EqualValues(t, 1, got.ReplicationFactor, "validate only %v", validateOnly)
		assert.Zero(t, got.ConfigErrorCode)
		configs := createdConfigs(t, got)
		for name, want := range map[string]createdConfig{
			"cleanup.policy":            {"compact", kmsg.ConfigSourceDynamicTopicConfig},
			"retention.ms":              {"3600000", kmsg.ConfigSourceDynamicTopicConfig},
			"flush.messages":            {"1", kmsg.ConfigSourceDynamicTopicConfig},
			"delete.retention.ms":       {"86400000", kmsg.ConfigSourceDefaultConfig},
			"min.cleanable.dirty.ratio": {"0.5", kmsg.ConfigSourceDefaultConfig},
			"min.compaction.lag.ms":     {"0", kmsg.ConfigSourceDefaultConfig},
			"max.compaction.lag.ms":     {"9223372036854775807", kmsg.ConfigSourceDefaultConfig},
			"message.timestamp.type":    {"CreateTime", kmsg.ConfigSourceDefaultConfig},
			"compression.type":          {"producer", kmsg.ConfigSourceDefaultConfig},
			"min.insync.replicas":       {"1", kmsg.ConfigSourceDefaultConfig},
		} {
			assert.Equal(t, want, configs[name], "validate only %v: %s", validateOnly, name)
		}
	}
}

// TestAuthorizedOperations checks the operations answered to a client
// that asks for them (KIP-430): Kafka's broker without an authorizer
// allows, and answers, every operation of the resource's type: READ,
// DESCRIBE and DELETE on a group; READ, WRITE, CREATE, DELETE, ALTER,
// DESCRIBE, DESCRIBE_CONFIGS and ALTER_CONFIGS on a topic; CREATE, ALTER,
// DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS and
// IDEMPOTENT_WRITE on the cluster (Metadata v8 to v10). A client that does
// not ask is answered INT32_MIN, as in Kafka.
func TestAuthorizedOperations(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	ops := func(codes ...int) int32 {
		var bits int32
		for _, c := range codes {
			bits |= 1 << c
		}
		return bits
	}
	// Kafka's AclOperation codes.
	const read, write, create, del, alter, describe, clusterAction, describeConfigs, alterConfigs, idempotentWrite = 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
	groupOps := ops(read, describe, del)
	topicOps := ops(read, write, create, del, alter, describe, describeConfigs, alterConfigs)
	clusterOps := ops(create, alter, describe, clusterAction, describeConfigs, alterConfigs, idempotentWrite)
	const notAsked = math.MinInt32

	for _, include := range []bool{false, true} {
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.SetVersion(5)
		dg.Groups, dg.IncludeAuthorizedOperations = []string{"g"}, include
		got := r.roundTrip(dg).(*kmsg.DescribeGroupsResponse)
		require.Len(t, got.Groups, 1)
		assert.Equal(t, "Dead", got.Groups[0].State)
		want := int32(notAsked)
		if include {
			want = groupOps
		}
		assert.Equal(t, want, got.Groups[0].AuthorizedOperations, "DescribeGroups, asked: %v", include)

		for _, version := range []int16{8, 12} {
			md := kmsg.NewPtrMetadataRequest()
			md.SetVersion(version)
			md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}, {Topic: kmsg.StringPtr("missing")}}
			md.IncludeTopicAuthorizedOperations, md.IncludeClusterAuthorizedOperations = include, include
			resp := r.roundTrip(md).(*kmsg.MetadataResponse)
			require.Len(t, resp.Topics, 2)
			want := int32(notAsked)
			if include {
				want = topicOps
			}
			for _, topic := range resp.Topics {
				assert.Equal(t, want, topic.AuthorizedOperations, "Metadata v%d, topic %s, asked: %v", version, *topic.Topic, include)
			}
			if version <= 10 {
				want := int32(notAsked)
				if include {
					want = clusterOps
				}
				assert.Equal(t, want, resp.AuthorizedOperations, "Metadata v%d, cluster, asked: %v", version, include)
			}
		}
	}
}
