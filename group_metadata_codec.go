package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A group's membership lives in __consumer_offsets next to its committed
// offsets, one record per completed rebalance, in the layout of Kafka's
// GroupMetadataKey and GroupMetadataValue (GroupCoordinatorRecordSerde):
//
//	key:    +---------+--------+
//	        | type    | group  |
//	        | int16=2 | string |
//	        +---------+--------+
//
//	value:  +---------+---------------+------------+----------+---------+---------------+---------+
//	        | version | protocol type | generation | protocol | leader  | state time    | members |
//	        | int16=3 | string        | int32      | nstring  | nstring | int64 unix ms | array   |
//	        +---------+---------------+------------+----------+---------+---------------+---------+
//
//	member: +-----------+-------------+-----------+-------------+-------------------+-----------------+--------------+------------+
//	        | member id | instance id | client id | client host | rebalance timeout | session timeout | subscription | assignment |
//	        | string    | nstring     | string    | string      | int32 ms          | int32 ms        | bytes        | bytes      |
//	        +-----------+-------------+-----------+-------------+-------------------+-----------------+--------------+------------+
//
// Integers are big-endian; a string is an int16 byte length and that many
// bytes of UTF-8, an nstring the same with length -1 for null; an array is
// an int32 count and its elements; bytes are an int32 length and that many
// bytes, -1 for null. The protocol type is "consumer"; the protocol is the
// assignor's name and the leader a member ID, both null when the group has
// no members. Values of versions 0 to 3 are read: version 0 has no
// rebalance timeout, versions below 2 no state time, below 3 no instance
// ID. A null value (tombstone) deletes the group's metadata.
//
// A member's subscription and assignment are Kafka's consumer protocol
// encodings (ConsumerProtocolSubscription, ConsumerProtocolAssignment), of
// version 0, which every Kafka tool reads:
//
//	subscription: version int16=0, topics [string], user data bytes (null)
//	assignment:   version int16=0, topics [topic string, partitions [int32]],
//	              user data bytes (null)
//
// Later versions only add fields after the topics, which are read and the
// rest ignored. These constants are part of the format.
const (
	groupMetadataKeyType int16 = 2
	groupMetadataValueV3 int16 = 3 // written; 0 to 3 are read

	consumerProtocolType     = "consumer"
	consumerProtocolVersion0 = 0

	// A length of -1 marks a null string (int16) or null bytes (int32).
	nullLength       int32  = -1
	nullStringLength uint16 = 0xffff
	nullBytesLength  uint32 = 0xffffffff
)

// groupMetadata is a decoded GroupMetadataValue.
type groupMetadata struct {
	protocolType string
	generation   int32
	protocol     string // "" when null
	leader       string // "" when null
	stateTime    int64  // unix milliseconds; -1 when unknown (versions 0 and 1)
	members      []groupMetadataMember
}

// groupMetadataMember is a member of a GroupMetadataValue.
type groupMetadataMember struct {
	memberID         string
	instanceID       string // "" when null
	clientID         string
	clientHost       string
	rebalanceTimeout int32 // milliseconds
	sessionTimeout   int32 // milliseconds
	subscription     []byte
	assignment       []byte
}

// isGroupMetadataKey tells whether a __consumer_offsets key is a
// GroupMetadataKey.
func isGroupMetadataKey(key []byte) bool {
	return len(key) >= 2 && int16(binary.BigEndian.Uint16(key)) == groupMetadataKeyType
}

// encodeGroupMetadataKey appends a GroupMetadataKey.
func encodeGroupMetadataKey(dst []byte, group string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(groupMetadataKeyType))
	return appendKafkaString(dst, group)
}

// decodeGroupMetadataKey decodes a GroupMetadataKey.
func decodeGroupMetadataKey(b []byte) (string, error) {
	r := kafkaReader{b: b}
	if typ := r.int16(); r.err == nil && typ != groupMetadataKeyType {
		return "", fmt.Errorf("group metadata key: type %d", typ)
	}
	group := r.stringLike("")
	if err := r.done(); err != nil {
		return "", fmt.Errorf("group metadata key: %w", err)
	}
	return group, nil
}

func appendNullableKafkaString(dst []byte, s string) []byte {
	if s == "" {
		return binary.BigEndian.AppendUint16(dst, nullStringLength)
	}
	return appendKafkaString(dst, s)
}

func appendKafkaBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, nullBytesLength)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// encodeGroupMetadataValue appends a GroupMetadataValue of version 3.
func encodeGroupMetadataValue(dst []byte, md *groupMetadata) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(groupMetadataValueV3))
	dst = appendKafkaString(dst, md.protocolType)
	dst = binary.BigEndian.AppendUint32(dst, uint32(md.generation))
	dst = appendNullableKafkaString(dst, md.protocol)
	dst = appendNullableKafkaString(dst, md.leader)
	dst = binary.BigEndian.AppendUint64(dst, uint64(md.stateTime))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(md.members)))
	for i := range md.members {
		m := &md.members[i]
		dst = appendKafkaString(dst, m.memberID)
		dst = appendNullableKafkaString(dst, m.instanceID)
		dst = appendKafkaString(dst, m.clientID)
		dst = appendKafkaString(dst, m.clientHost)
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.rebalanceTimeout))
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.sessionTimeout))
		dst = appendKafkaBytes(dst, m.subscription)
		dst = appendKafkaBytes(dst, m.assignment)
	}
	return dst
}

// nullableString reads a string that may be null, as "".
func (r *kafkaReader) nullableString() string {
	n := r.int16()
	if n == int16(nullLength) {
		return ""
	}
	return string(r.take(int(n)))
}

// bytes reads bytes that may be null, as nil.
func (r *kafkaReader) bytes() []byte {
	n := r.int32()
	if n == nullLength {
		return nil
	}
	return slices.Clone(r.take(int(n)))
}

// count reads an array's element count; each element takes at least
// minSize bytes, which bounds what a corrupt count can make the caller
// allocate.
func (r *kafkaReader) count(minSize int) int {
	n := r.int32()
	if r.err == nil && (n < 0 || int(n) > len(r.b)/minSize) {
		r.err = fmt.Errorf("array of %d elements in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

// decodeGroupMetadataValue decodes a GroupMetadataValue of version 0 to 3.
func decodeGroupMetadataValue(b []byte) (groupMetadata, error) {
	r := kafkaReader{b: b}
	md := groupMetadata{stateTime: -1}
	version := r.int16()
	if r.err == nil && (version < 0 || version > groupMetadataValueV3) {
		return md, fmt.Errorf("group metadata value: unsupported version %d", version)
	}
	md.protocolType = r.stringLike("")
	md.generation = r.int32()
	md.protocol = r.nullableString()
	md.leader = r.nullableString()
	if version >= 2 {
		md.stateTime = r.int64()
	}
	// A member takes at least its strings' and byte arrays' lengths.
	n := r.count(2 + 2 + 2 + 4 + 4 + 4)
	md.members = make([]groupMetadataMember, n)
	for i := range md.members {
		m := &md.members[i]
		m.memberID = r.stringLike("")
		if version >= 3 {
			m.instanceID = r.nullableString()
		}
		m.clientID = r.stringLike("")
		m.clientHost = r.stringLike("")
		if version >= 1 {
			m.rebalanceTimeout = r.int32()
		}
		m.sessionTimeout = r.int32()
		m.subscription = r.bytes()
		m.assignment = r.bytes()
	}
	if err := r.done(); err != nil {
		return groupMetadata{}, fmt.Errorf("group metadata value: %w", err)
	}
	return md, nil
}

// encodeSubscription encodes topics as a ConsumerProtocolSubscription of
// version 0.
func encodeSubscription(topics []string) []byte {
	b := binary.BigEndian.AppendUint16(nil, consumerProtocolVersion0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(topics)))
	for _, t := range topics {
		b = appendKafkaString(b, t)
	}
	return binary.BigEndian.AppendUint32(b, nullBytesLength)
}

// encodeAssignment encodes partitions, sorted, as a
// ConsumerProtocolAssignment of version 0.
func encodeAssignment(tps []TopicPartition) []byte {
	b := binary.BigEndian.AppendUint16(nil, consumerProtocolVersion0)
	var topics uint32
	for i := range tps {
		if i == 0 || tps[i].Topic != tps[i-1].Topic {
			topics++
		}
	}
	b = binary.BigEndian.AppendUint32(b, topics)
	for i := 0; i < len(tps); {
		j := i
		for j < len(tps) && tps[j].Topic == tps[i].Topic {
			j++
		}
		b = appendKafkaString(b, tps[i].Topic)
		b = binary.BigEndian.AppendUint32(b, uint32(j-i))
		for _, tp := range tps[i:j] {
			b = binary.BigEndian.AppendUint32(b, uint32(tp.Partition))
		}
		i = j
	}
	return binary.BigEndian.AppendUint32(b, nullBytesLength)
}

// errConsumerProtocolVersion reports a consumer protocol encoding of a
// negative version.
var errConsumerProtocolVersion = errors.New("negative version")

// decodeSubscription reads the topics of a ConsumerProtocolSubscription of
// any version, ignoring the fields that follow them.
func decodeSubscription(b []byte) ([]string, error) {
	r := kafkaReader{b: b}
	if v := r.int16(); v < 0 {
		return nil, fmt.Errorf("consumer protocol subscription: %w %d", errConsumerProtocolVersion, v)
	}
	topics := make([]string, r.count(2))
	for i := range topics {
		topics[i] = r.stringLike("")
	}
	if r.err != nil {
		return nil, fmt.Errorf("consumer protocol subscription: %w", r.err)
	}
	return topics, nil
}

// decodeAssignment reads the partitions of a ConsumerProtocolAssignment of
// any version, ignoring the fields that follow them.
func decodeAssignment(b []byte) ([]TopicPartition, error) {
	r := kafkaReader{b: b}
	if v := r.int16(); v < 0 {
		return nil, fmt.Errorf("consumer protocol assignment: %w %d", errConsumerProtocolVersion, v)
	}
	var tps []TopicPartition
	for range r.count(2 + 4) {
		topic := r.stringLike("")
		for range r.count(4) {
			tps = append(tps, TopicPartition{Topic: topic, Partition: r.int32()})
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("consumer protocol assignment: %w", r.err)
	}
	return tps, nil
}
