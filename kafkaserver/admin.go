package kafkaserver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata, coordinators and topic administration.

func (c *conn) broker() kmsg.MetadataResponseBroker {
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = c.s.opts.NodeID
	b.Host, b.Port = c.s.advertised(c.nc.LocalAddr())
	return b
}

func (c *conn) handleMetadata(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.MetadataRequest)
	if resp := c.metadataByID(r); resp != nil {
		return resp, nil
	}
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{c.broker()}
	resp.ClusterID = &c.s.opts.ClusterID
	resp.ControllerID = c.s.opts.NodeID
	// Before v4 the request has no allow_auto_topic_creation, and Kafka
	// takes its default, true.
	allowCreation := r.AllowAutoTopicCreation || r.Version < 4
	var names []string
	if r.Topics == nil {
		names = c.s.log.Topics()
	} else {
		// Kafka describes the set of topics named: a topic named
		// twice, once.
		named := make(map[string]bool, len(r.Topics))
		for _, t := range r.Topics {
			if t.Topic != nil && !named[*t.Topic] {
				named[*t.Topic] = true
				names = append(names, *t.Topic)
			}
		}
	}
	if r.IncludeClusterAuthorizedOperations && r.Version <= 10 {
		resp.AuthorizedOperations = clusterOperations
	}
	for _, name := range names {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = &name
		if r.IncludeTopicAuthorizedOperations {
			t.AuthorizedOperations = topicOperations
		}
		cfg, err := c.s.log.TopicConfig(name)
		if errors.Is(err, eventlog.ErrTopicNotFound) {
			if nameErr := checkTopicName(name); nameErr != nil {
				err = nameErr
			} else if allowCreation && c.s.opts.AutoCreateTopics && r.Topics != nil {
				cfg, err = c.autoCreateTopic(name)
			}
		}
		if err != nil {
			t.ErrorCode = errorCode(err)
			resp.Topics = append(resp.Topics, t)
			continue
		}
		// The Log keeps the "__" prefix for its internal topics
		// (__consumer_offsets, __transaction_state), as Kafka marks them.
		t.IsInternal = strings.HasPrefix(name, "__")
		for id := range int32(cfg.Partitions) {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition, p.Leader, p.LeaderEpoch = id, c.s.opts.NodeID, 0
			p.Replicas = []int32{c.s.opts.NodeID}
			p.ISR = []int32{c.s.opts.NodeID}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}

// Kafka's ACL operation codes (AclOperation), bits of the authorized
// operations that Metadata and DescribeGroups answer a client that asks
// for them (KIP-430).
const (
	aclRead            = 3
	aclWrite           = 4
	aclCreate          = 5
	aclDelete          = 6
	aclAlter           = 7
	aclDescribe        = 8
	aclClusterAction   = 9
	aclDescribeConfigs = 10
	aclAlterConfigs    = 11
	aclIdempotentWrite = 12
)

// The authorized operations of each kind of resource: all its type has,
// as Kafka's broker without an authorizer answers them. A client here
// may do anything (see "Differences from a Kafka broker").
const (
	topicOperations   int32 = 1<<aclRead | 1<<aclWrite | 1<<aclCreate | 1<<aclDelete | 1<<aclAlter | 1<<aclDescribe | 1<<aclDescribeConfigs | 1<<aclAlterConfigs
	groupOperations   int32 = 1<<aclRead | 1<<aclDescribe | 1<<aclDelete
	clusterOperations int32 = 1<<aclCreate | 1<<aclAlter | 1<<aclDescribe | 1<<aclClusterAction | 1<<aclDescribeConfigs | 1<<aclAlterConfigs | 1<<aclIdempotentWrite
)

// metadataByID answers a Metadata request that names topics by ID, as
// Kafka's broker does, or returns nil for one that names them by name.
// The Log's topics have no IDs (Metadata answers them zero): from v12,
// each ID named is unknown, and names beside IDs are not looked up;
// v10 and v11 have the field but may not use it, nor leave a name out,
// and such a request is invalid, answered with INVALID_REQUEST for every
// topic and nothing else (Kafka's error response).
func (c *conn) metadataByID(r *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	if r.Topics == nil || r.Version < 10 {
		return nil
	}
	var ids [][16]byte
	named := make(map[[16]byte]bool)
	invalid := false
	for _, t := range r.Topics {
		if t.TopicID != [16]byte{} && !named[t.TopicID] {
			named[t.TopicID] = true
			ids = append(ids, t.TopicID)
		}
		invalid = invalid || r.Version < 12 && (t.Topic == nil || t.TopicID != [16]byte{})
	}
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	switch {
	case invalid:
		for _, t := range r.Topics {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = kmsg.StringPtr(""), t.TopicID, kerr.InvalidRequest.Code
			if t.Topic != nil {
				rt.Topic = kmsg.StringPtr(*t.Topic)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	case len(ids) > 0:
		resp.Brokers = []kmsg.MetadataResponseBroker{c.broker()}
		resp.ClusterID, resp.ControllerID = &c.s.opts.ClusterID, c.s.opts.NodeID
		for _, id := range ids {
			rt := kmsg.NewMetadataResponseTopic()
			rt.TopicID, rt.ErrorCode = id, kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, rt)
		}
	default:
		return nil
	}
	return resp
}

// errTopicBeingCreated answers Metadata for a topic that another request
// is creating: LEADER_NOT_AVAILABLE, which clients retry, as Kafka answers
// a topic it is creating.
var errTopicBeingCreated = errors.New("the topic is being created")

// autoCreateTopic creates a topic that a Metadata request names, with the
// Log's defaults, and returns its config. A topic that another request
// created first is answered as it is, and one it is still creating with
// errTopicBeingCreated: Kafka never answers a Metadata with
// TOPIC_ALREADY_EXISTS, which clients take as the topic's failure. A name
// that differs from an existing topic's only in case, which the Log
// refuses, is an invalid one.
func (c *conn) autoCreateTopic(name string) (eventlog.TopicConfig, error) {
	err := c.s.log.CreateTopic(name, eventlog.TopicConfig{})
	if err != nil && !errors.Is(err, eventlog.ErrTopicExists) {
		return eventlog.TopicConfig{}, err
	}
	cfg, cerr := c.s.log.TopicConfig(name)
	if err == nil || !errors.Is(cerr, eventlog.ErrTopicNotFound) {
		return cfg, cerr
	}
	for _, existing := range c.s.log.Topics() {
		if strings.EqualFold(existing, name) {
			return cfg, fmt.Errorf("%w: %w", eventlog.ErrInvalidTopic, err)
		}
	}
	return cfg, fmt.Errorf("topic %q: %w", name, errTopicBeingCreated)
}

// checkTopicName applies Kafka's rules for topic names (its
// Topic.validate): 1 to 249 characters of [a-zA-Z0-9._-], not "." or "..".
// A name no topic can have is answered with INVALID_TOPIC_EXCEPTION, as
// Kafka answers it, not as a topic that does not exist.
func checkTopicName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", eventlog.ErrInvalidTopic, name, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > eventlog.MaxTopicNameLength:
		return bad(fmt.Sprintf("longer than %d characters", eventlog.MaxTopicNameLength))
	case name == "." || name == "..":
		return bad(`"." and ".." are not topic names`)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad(fmt.Sprintf("character %q is not one of [a-zA-Z0-9._-]", c))
		}
	}
	return nil
}

// Coordinator types of FindCoordinator.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func (c *conn) handleFindCoordinator(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := c.s.advertised(c.nc.LocalAddr())
	find := func(key string) (int16, *string) {
		switch r.CoordinatorType {
		case coordinatorGroup:
			return 0, nil
		case coordinatorTransaction:
			return kerr.UnsupportedForMessageFormat.Code, errorMessage(fmt.Errorf("transactional ID %q: transactions are not supported by this listener", key))
		}
		return kerr.InvalidRequest.Code, errorMessage(fmt.Errorf("coordinator type %d is not a group (0) or transaction (1) coordinator", r.CoordinatorType))
	}
	if r.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = find(r.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port = c.s.opts.NodeID, host, port
		return resp, nil
	}
	for _, key := range r.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		co.ErrorCode, co.ErrorMessage = find(key)
		co.NodeID, co.Host, co.Port = c.s.opts.NodeID, host, port
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp, nil
}

func (c *conn) handleCreateTopics(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.CreateTopicsRequest)
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	dups := duplicates(r.Topics, func(t kmsg.CreateTopicsRequestTopic) string { return t.Topic })
	for _, t := range r.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		cfg, code, err := topicConfig(&t)
		switch {
		case dups[t.Topic] > 1:
			dups[t.Topic] = -1
			code, err = kerr.InvalidRequest.Code, errDuplicateTopic(t.Topic)
		case dups[t.Topic] < 0:
			continue // answered once
		case err != nil:
		case r.ValidateOnly:
			// Answered as the creation would be, as Kafka answers it.
			err = c.s.log.ValidateCreateTopic(t.Topic, cfg)
			code = errorCode(err)
		default:
			err = c.s.log.CreateTopic(t.Topic, cfg)
			code = errorCode(err)
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = code, errorMessage(err)
		} else {
			rt.NumPartitions, rt.ReplicationFactor = int32(cfg.Partitions), 1
			if r.Version >= 5 {
				rt.Configs = topicConfigEntries(cfg, c.s.log.DefaultTopicSettings())
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// duplicates counts the topics of a request by name. Kafka refuses every
// topic named more than once in a CreateTopics, CreatePartitions or
// DeleteTopics request, with one answer for it, and acts on none of them.
func duplicates[T any](topics []T, name func(T) string) map[string]int {
	n := make(map[string]int, len(topics))
	for _, t := range topics {
		n[name(t)]++
	}
	return n
}

func errDuplicateTopic(name string) error {
	return fmt.Errorf("topic %q is named more than once in the request", name)
}

// topicConfig turns a CreateTopics topic into a TopicConfig, or names what
// is wrong with it.
func topicConfig(t *kmsg.CreateTopicsRequestTopic) (eventlog.TopicConfig, int16, error) {
	cfg := eventlog.TopicConfig{Partitions: int(t.NumPartitions)}
	if t.NumPartitions == -1 {
		cfg.Partitions = 1 // Kafka's num.partitions default
	}
	switch {
	case t.NumPartitions <= 0 && t.NumPartitions != -1:
		return cfg, kerr.InvalidPartitions.Code, fmt.Errorf("topic %q: %d partitions", t.Topic, t.NumPartitions)
	case t.ReplicationFactor != -1 && t.ReplicationFactor != 1:
		return cfg, kerr.InvalidReplicationFactor.Code, fmt.Errorf("topic %q: replication factor %d: this listener has one broker", t.Topic, t.ReplicationFactor)
	case len(t.ReplicaAssignment) > 0:
		return cfg, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("topic %q: replica assignments are not supported", t.Topic)
	}
	configs := make(map[string]string, len(t.Configs))
	for _, kv := range t.Configs {
		if kv.Value != nil { // nil: the default
			configs[kv.Name] = *kv.Value
		}
	}
	cfg, err := eventlog.TopicConfigFromKafka(cfg, configs)
	if err != nil {
		return cfg, kerr.InvalidConfig.Code, fmt.Errorf("topic %q: %w", t.Topic, err)
	}
	return cfg, 0, nil
}

// topicConfigEntries returns the configs of a topic of cfg, as
// CreateTopics answers them from v5 (Kafka's DescribeConfigs of the
// topic): every setting, those cfg sets as the topic's own
// (DYNAMIC_TOPIC_CONFIG) and the others as the broker-wide ones of broker,
// Log.DefaultTopicSettings (STATIC_BROKER_CONFIG where the Log's Options
// set them, DEFAULT_CONFIG where they do not).
func topicConfigEntries(cfg eventlog.TopicConfig, broker eventlog.TopicSettings) []kmsg.CreateTopicsResponseTopicConfig {
	var entries []kmsg.CreateTopicsResponseTopicConfig
	for _, ce := range topicSettingEntries(cfg, broker) {
		e := kmsg.NewCreateTopicsResponseTopicConfig()
		e.Name, e.Value, e.Source = ce.name, kmsg.StringPtr(ce.value), int8(ce.source)
		entries = append(entries, e)
	}
	return entries
}

func (c *conn) handleDeleteTopics(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	dups := duplicates(r.TopicNames, func(name string) string { return name })
	for _, name := range r.TopicNames {
		t := kmsg.NewDeleteTopicsResponseTopic()
		t.Topic = &name
		switch {
		case dups[name] > 1:
			// As Kafka's controller answers it, once, and deletes
			// nothing of it.
			dups[name] = -1
			t.ErrorCode, t.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(errDuplicateTopic(name))
		case dups[name] < 0:
			continue // answered once
		default:
			if err := c.s.log.DeleteTopic(req.ctx, name); err != nil {
				t.ErrorCode, t.ErrorMessage = errorCode(err), errorMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}

func (c *conn) handleCreatePartitions(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.CreatePartitionsRequest)
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	dups := duplicates(r.Topics, func(t kmsg.CreatePartitionsRequestTopic) string { return t.Topic })
	for _, t := range r.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		code := int16(0)
		switch {
		case dups[t.Topic] > 1:
			dups[t.Topic] = -1
			code, err = kerr.InvalidRequest.Code, errDuplicateTopic(t.Topic)
		case dups[t.Topic] < 0:
			continue // answered once
		case len(t.Assignment) > 0:
			err, code = fmt.Errorf("topic %q: replica assignments are not supported", t.Topic), kerr.InvalidReplicaAssignment.Code
		case r.ValidateOnly:
			err = c.s.log.ValidateCreatePartitions(t.Topic, int(t.Count))
			code = createPartitionsErrorCode(err)
		default:
			err = c.s.log.CreatePartitions(req.ctx, t.Topic, int(t.Count))
			code = createPartitionsErrorCode(err)
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = code, errorMessage(err)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// createPartitionsErrorCode is errorCode, but with INVALID_PARTITIONS for
// a count the Log refuses (one that adds none, or too many), as Kafka
// answers.
func createPartitionsErrorCode(err error) int16 {
	if errors.Is(err, eventlog.ErrInvalidConfig) {
		return kerr.InvalidPartitions.Code
	}
	return errorCode(err)
}

func (c *conn) handleDeleteRecords(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	// Kafka's broker takes the partitions into a map: one named more
	// than once is acted on, and answered, once, with the offset of its
	// last mention.
	offsets := make(map[eventlog.TopicPartition]int64)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			offsets[eventlog.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.Offset
		}
	}
	for _, t := range r.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			key := eventlog.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			offset, first := offsets[key]
			if !first {
				continue // answered once
			}
			delete(offsets, key)
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition = p.Partition
			start, err := c.s.log.DeleteRecords(req.ctx, t.Topic, p.Partition, offset)
			rp.LowWatermark, rp.ErrorCode = start, errorCode(err)
			if errors.Is(err, eventlog.ErrInvalidConfig) {
				// The Log refuses a topic whose cleanup.policy is compact
				// alone, which Kafka answers with POLICY_VIOLATION.
				rp.ErrorCode = kerr.PolicyViolation.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 || len(t.Partitions) == 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp, nil
}
