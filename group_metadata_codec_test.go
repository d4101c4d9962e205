package eventlog

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group metadata record format: pinned by golden files (under
// testdata/golden/offsets), and checked against franz-go's kmsg, an
// independent implementation of Kafka's GroupMetadataKey and
// GroupMetadataValue and of the consumer protocol.

func goldenGroupMetadata() *groupMetadata {
	return &groupMetadata{
		protocolType: consumerProtocolType,
		generation:   7,
		protocol:     "range",
		leader:       "consumer-000001",
		stateTime:    1_700_000_000_123,
		members: []groupMetadataMember{
			{memberID: "consumer-000001", clientID: inProcessClient, clientHost: inProcessClient,
				rebalanceTimeout: 300_000, sessionTimeout: 45_000,
				subscription: encodeSubscription([]string{"orders", "users"}),
				assignment:   encodeAssignment([]TopicPartition{{"orders", 0}, {"orders", 1}, {"users", 0}})},
			{memberID: "billing-1-000002", instanceID: "billing-1", clientID: "kgo", clientHost: "/10.0.0.7",
				rebalanceTimeout: 60_000, sessionTimeout: 10_000,
				subscription: encodeSubscription([]string{"orders"}),
				assignment:   encodeAssignment([]TopicPartition{{"orders", 2}})},
		},
	}
}

func TestGroupMetadataRecordGolden(t *testing.T) {
	key := encodeGroupMetadataKey(nil, "billing")
	assert.Equal(t, golden(t, "offsets/group_metadata_key", key), key)
	value := encodeGroupMetadataValue(nil, goldenGroupMetadata())
	assert.Equal(t, golden(t, "offsets/group_metadata_value", value), value)

	// The layout, spelled out.
	assert.Equal(t, []byte{0, 2, 0, 7, 'b', 'i', 'l', 'l', 'i', 'n', 'g'}, key)
	assert.Equal(t, []byte{0, 3, 0, 8, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', 0, 0, 0, 7}, value[:16], "version 3, protocol type, generation")
	empty := encodeGroupMetadataValue(nil, &groupMetadata{protocolType: consumerProtocolType, generation: 8, stateTime: 5})
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0}, empty[16:], "null protocol and leader, state time, no members")
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff}, encodeSubscription([]string{"t"}))
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff},
		encodeAssignment([]TopicPartition{{"t", 0}, {"t", 3}}))
}

// kmsg decodes what we write, and writes the same bytes back.
func TestGroupMetadataRecordMatchesKmsg(t *testing.T) {
	key := encodeGroupMetadataKey(nil, "billing")
	var k kmsg.GroupMetadataKey
	require.NoError(t, k.ReadFrom(key))
	assert.Equal(t, kmsg.GroupMetadataKey{Version: 2, Group: "billing"}, k)
	assert.Equal(t, key, k.AppendTo(nil))

	md := goldenGroupMetadata()
	value := encodeGroupMetadataValue(nil, md)
	var v kmsg.GroupMetadataValue
	require.NoError(t, v.ReadFrom(value))
	assert.Equal(t, int16(3), v.Version)
	assert.Equal(t, "consumer", v.ProtocolType)
	assert.Equal(t, int32(7), v.Generation)
	require.NotNil(t, v.Protocol)
	assert.Equal(t, "range", *v.Protocol)
	require.NotNil(t, v.Leader)
	assert.Equal(t, "consumer-000001", *v.Leader)
	assert.Equal(t, int64(1_700_000_000_123), v.CurrentStateTimestamp)
	require.Len(t, v.Members, 2)
	m := v.Members[1]
	assert.Equal(t, "billing-1-000002", m.MemberID)
	require.NotNil(t, m.InstanceID)
	assert.Equal(t, "billing-1", *m.InstanceID)
	assert.Nil(t, v.Members[0].InstanceID, "a dynamic member's instance ID is null")
	assert.Equal(t, "kgo", m.ClientID)
	assert.Equal(t, "/10.0.0.7", m.ClientHost)
	assert.Equal(t, int32(60_000), m.RebalanceTimeoutMillis)
	assert.Equal(t, int32(10_000), m.SessionTimeoutMillis)
	assert.Equal(t, value, v.AppendTo(nil))

	var sub kmsg.ConsumerMemberMetadata
	require.NoError(t, sub.ReadFrom(v.Members[0].Subscription))
	assert.Equal(t, []string{"orders", "users"}, sub.Topics)
	assert.Nil(t, sub.UserData)
	var a kmsg.ConsumerMemberAssignment
	require.NoError(t, a.ReadFrom(v.Members[0].Assignment))
	require.Len(t, a.Topics, 2)
	assert.Equal(t, "orders", a.Topics[0].Topic)
	assert.Equal(t, []int32{0, 1}, a.Topics[0].Partitions)
	assert.Equal(t, "users", a.Topics[1].Topic)
	assert.Equal(t, []int32{0}, a.Topics[1].Partitions)
	assert.Equal(t, v.Members[0].Assignment, a.AppendTo(nil))

	empty := encodeGroupMetadataValue(nil, &groupMetadata{protocolType: consumerProtocolType, generation: 8, stateTime: 5})
	require.NoError(t, v.ReadFrom(empty))
	assert.Nil(t, v.Protocol, "an empty group has no protocol")
	assert.Nil(t, v.Leader)
	assert.Empty(t, v.Members)
}

// We decode every non-flexible version kmsg writes.
func TestGroupMetadataRecordDecodesKmsg(t *testing.T) {
	k := kmsg.GroupMetadataKey{Version: 2, Group: "g"}
	group, err := decodeGroupMetadataKey(k.AppendTo(nil))
	require.NoError(t, err)
	assert.Equal(t, "g", group)
	assert.True(t, isGroupMetadataKey(k.AppendTo(nil)))
	assert.False(t, isGroupMetadataKey(encodeOffsetKey(nil, "g", TopicPartition{"t", 0})))

	sub := kmsg.NewConsumerMemberMetadata()
	sub.Version, sub.Topics, sub.UserData = 3, []string{"a", "b"}, []byte("sticky")
	sub.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "a", Partitions: []int32{1}}}
	rack := "r1"
	sub.Rack = &rack
	asg := kmsg.NewConsumerMemberAssignment()
	asg.Version = 1
	asg.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "a", Partitions: []int32{1, 4}}, {Topic: "b", Partitions: []int32{0}}}
	asg.UserData = []byte("u")
	protocol, leader, instance := "roundrobin", "m-1", "i-1"
	for version := int16(0); version <= 3; version++ {
		v := kmsg.GroupMetadataValue{Version: version, ProtocolType: "consumer", Generation: 9, Protocol: &protocol, Leader: &leader,
			CurrentStateTimestamp: 1234, Members: []kmsg.GroupMetadataValueMember{{
				MemberID: "m-1", InstanceID: &instance, ClientID: "c", ClientHost: "/h", RebalanceTimeoutMillis: 100,
				SessionTimeoutMillis: 200, Subscription: sub.AppendTo(nil), Assignment: asg.AppendTo(nil),
			}}}
		got, err := decodeGroupMetadataValue(v.AppendTo(nil))
		require.NoError(t, err, "version %d", version)
		want := groupMetadata{protocolType: "consumer", generation: 9, protocol: protocol, leader: leader, stateTime: -1,
			members: []groupMetadataMember{{memberID: "m-1", clientID: "c", clientHost: "/h", sessionTimeout: 200,
				subscription: sub.AppendTo(nil), assignment: asg.AppendTo(nil)}}}
		if version >= 1 {
			want.members[0].rebalanceTimeout = 100
		}
		if version >= 2 {
			want.stateTime = 1234
		}
		if version >= 3 {
			want.members[0].instanceID = instance
		}
		assert.Equal(t, want, got, "version %d", version)
	}
	topics, err := decodeSubscription(sub.AppendTo(nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, topics)
	tps, err := decodeAssignment(asg.AppendTo(nil))
	require.NoError(t, err)
	assert.Equal(t, []TopicPartition{{"a", 1}, {"a", 4}, {"b", 0}}, tps)
}

func TestGroupMetadataRecordDecodeErrors(t *testing.T) {
	key := encodeGroupMetadataKey(nil, "g")
	for name, b := range map[string][]byte{
		"empty":       {},
		"offset key":  encodeOffsetKey(nil, "g", TopicPartition{"t", 0}),
		"truncated":   key[:len(key)-1],
		"trailing":    append(bytes.Clone(key), 0),
		"null string": {0, 2, 0xff, 0xff},
	} {
		_, err := decodeGroupMetadataKey(b)
		assert.Error(t, err, "key %s", name)
	}
	value := encodeGroupMetadataValue(nil, goldenGroupMetadata())
	flexible := bytes.Clone(value)
	flexible[1] = 4 // version 4 is flexible; we do not read it
	huge := encodeGroupMetadataValue(nil, &groupMetadata{protocolType: consumerProtocolType, stateTime: 1})
	huge[len(huge)-4] = 0x7f // a member count no value can hold
	for name, b := range map[string][]byte{
		"empty":         {},
		"truncated":     value[:len(value)-1],
		"trailing":      append(bytes.Clone(value), 0),
		"version 4":     flexible,
		"negative":      {0x80, 0},
		"members count": huge,
	} {
		_, err := decodeGroupMetadataValue(b)
		assert.Error(t, err, "value %s", name)
	}
	for name, b := range map[string][]byte{
		"empty":             {},
		"negative version":  {0xff, 0xff, 0, 0, 0, 0},
		"truncated topic":   {0, 0, 0, 0, 0, 1, 0, 5, 'a'},
		"huge topics count": {0, 0, 0x7f, 0, 0, 0},
	} {
		_, err := decodeSubscription(b)
		assert.Error(t, err, "subscription %s", name)
		_, err = decodeAssignment(b)
		assert.Error(t, err, "assignment %s", name)
	}
}

func FuzzDecodeGroupMetadata(f *testing.F) {
	f.Add(encodeGroupMetadataValue(nil, goldenGroupMetadata()), encodeAssignment([]TopicPartition{{"t", 1}}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, value, assignment []byte) {
		if md, err := decodeGroupMetadataValue(value); err == nil && value[0] == 0 && value[1] == 3 {
			// Null and empty strings both read as "", so compare the
			// decoded forms.
			again, err := decodeGroupMetadataValue(encodeGroupMetadataValue(nil, &md))
			require.NoError(t, err)
			assert.Equal(t, md, again)
		}
		if tps, err := decodeAssignment(assignment); err == nil {
			again, err := decodeAssignment(encodeAssignment(tps))
			require.NoError(t, err)
			assert.Equal(t, tps, again)
		}
		if topics, err := decodeSubscription(assignment); err == nil {
			again, err := decodeSubscription(encodeSubscription(topics))
			require.NoError(t, err)
			assert.Equal(t, topics, again)
		}
	})
}
