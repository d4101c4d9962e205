package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Committed offsets live in the internal topic __consumer_offsets, one
// record per commit of one partition, in Kafka's own layout
// (GroupCoordinatorRecordSerde), so that Kafka tools can read the topic:
//
//	key:   +---------+--------------+--------------+-----------+
//	       | type    | group        | topic        | partition |
//	       | int16=1 | string       | string       | int32     |
//	       +---------+--------------+--------------+-----------+
//
//	value: +-----------+--------+--------------+----------+--------------+
//	       | version   | offset | leader epoch | metadata | commit time  |
//	       | int16=3   | int64  | int32 = -1   | string   | int64 unix ms|
//	       +-----------+--------+--------------+----------+--------------+
//
// Integers are big-endian; a string is an int16 byte length followed by
// that many bytes of UTF-8. Key types 0 and 1 are offset commits; type 2
// is a group's metadata (group_metadata_codec.go), and other types are
// skipped. Values of versions 0 to 3 are read. A null value (tombstone)
// deletes the offset. These constants are part of the format.
const (
	offsetsTopicName = "__consumer_offsets"

	offsetCommitKeyType       = 1 // written; 0 is read too
	offsetCommitValueV3       = 3 // written; 0 to 3 are read
	maxKafkaStringLen         = math.MaxInt16
	noLeaderEpoch       int32 = -1

	// MaxOffsetMetadataBytes bounds OffsetAndMetadata.Metadata (Kafka's
	// offset.metadata.max.bytes).
	MaxOffsetMetadataBytes = 4096
)

// offsetsTopicPartitions is the partition count of a new __consumer_offsets
// (Kafka's offsets.topic.num.partitions is 50). One: every commit of every
// group then joins the same group commit, so commits from many members
// share fsyncs; Open replays one partition; and a Log holds one more
// file and mapping, not fifty. Kafka spreads the topic to spread
// coordinators over brokers, which a single process does not have. A topic
// created with more partitions is used as it is, each group on partition
// javaStringHash(group) mod N as in Kafka.
const offsetsTopicPartitions = 1

// offsetsSegmentBytes is the segment size of __consumer_offsets (Kafka's
// offsets.topic.segment.bytes). The topic is compacted (cleanup.policy
// compact), so it holds about one record per committed offset plus what
// was written since the last cleaning, and Open replays no more.
const offsetsSegmentBytes = 100 << 20

// OffsetAndMetadata is a committed offset: the offset of the next record to
// consume from a partition, and an optional application string stored with
// it (Kafka's OffsetAndMetadata).
type OffsetAndMetadata struct {
	Offset   int64
	Metadata string
}

// GroupPartitionOffset is a consumer group's committed offset of one
// partition, with the partition's high watermark and the lag between them.
type GroupPartitionOffset struct {
	TopicPartition
	// Committed is the group's committed offset: the next record the group
	// will consume.
	Committed int64
	// Metadata is the string committed with the offset.
	Metadata string
	// CommitTime is when the offset was committed.
	CommitTime time.Time
	// HighWatermark is the partition's high watermark now, or -1 if the
	// topic no longer exists.
	HighWatermark int64
	// Lag is HighWatermark minus Committed: the records the group has not
	// consumed yet (Kafka's consumer lag). Zero when the topic is gone.
	Lag int64
}

// offsetValue is a decoded OffsetCommitValue.
type offsetValue struct {
	offset     int64
	epoch      int32
	metadata   string
	commitTime int64 // unix milliseconds
}

func appendKafkaString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// encodeOffsetKey appends an OffsetCommitKey.
func encodeOffsetKey(dst []byte, group string, tp TopicPartition) []byte {
	dst = binary.BigEndian.AppendUint16(dst, offsetCommitKeyType)
	return appendOffsetID(dst, group, tp)
}

// encodeOffsetValue appends an OffsetCommitValue of version 3.
func encodeOffsetValue(dst []byte, v offsetValue) []byte {
	dst = binary.BigEndian.AppendUint16(dst, offsetCommitValueV3)
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.epoch))
	dst = appendKafkaString(dst, v.metadata)
	return binary.BigEndian.AppendUint64(dst, uint64(v.commitTime))
}

// kafkaReader reads Kafka's fixed-width encodings; the first short read
// sets err and makes every later read return zero.
type kafkaReader struct {
	b   []byte
	err error
}

func (r *kafkaReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		if r.err == nil {
			r.err = errors.New("truncated")
		}
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *kafkaReader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *kafkaReader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *kafkaReader) int64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// stringLike reads a string, returning last if it is the same.
func (r *kafkaReader) stringLike(last string) string {
	n := r.int16()
	if n < 0 && r.err == nil {
		r.err = errors.New("null string")
	}
	if b := r.take(int(n)); string(b) != last {
		return string(b)
	}
	return last
}

// done reports the first error, or trailing bytes.
func (r *kafkaReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// decodeOffsetKey decodes a __consumer_offsets key. ok is false, without an
// error, for key types that are not offset commits.
func decodeOffsetKey(b []byte) (group string, tp TopicPartition, ok bool, err error) {
	return decodeOffsetKeyLike(b, "", "")
}

// decodeOffsetKeyLike is decodeOffsetKey returning lastGroup and lastTopic
// rather than new strings when the names are the same: replaying many
// commits of one group in a row then allocates no names.
func decodeOffsetKeyLike(b []byte, lastGroup, lastTopic string) (group string, tp TopicPartition, ok bool, err error) {
	r := kafkaReader{b: b}
	switch typ := r.int16(); {
	case r.err != nil:
		return "", tp, false, fmt.Errorf("offset commit key: %w", r.err)
	case typ != 0 && typ != 1:
		return "", tp, false, nil
	}
	group = r.stringLike(lastGroup)
	tp.Topic = r.stringLike(lastTopic)
	tp.Partition = r.int32()
	if err := r.done(); err != nil {
		return "", tp, false, fmt.Errorf("offset commit key: %w", err)
	}
	return group, tp, true, nil
}

// decodeOffsetValue decodes an OffsetCommitValue of version 0 to 3.
func decodeOffsetValue(b []byte) (offsetValue, error) {
	return decodeOffsetValueLike(b, "")
}

// decodeOffsetValueLike is decodeOffsetValue returning lastMetadata rather
// than a new string when the metadata is the same.
func decodeOffsetValueLike(b []byte, lastMetadata string) (offsetValue, error) {
	r := kafkaReader{b: b}
	v := offsetValue{epoch: noLeaderEpoch}
	version := r.int16()
	if r.err == nil && (version < 0 || version > offsetCommitValueV3) {
		return v, fmt.Errorf("offset commit value: unsupported version %d", version)
	}
	v.offset = r.int64()
	if version >= 3 {
		v.epoch = r.int32()
	}
	v.metadata = r.stringLike(lastMetadata)
	v.commitTime = r.int64()
	if version == 1 {
		r.int64() // expire timestamp, no longer used by Kafka either
	}
	if err := r.done(); err != nil {
		return v, fmt.Errorf("offset commit value: %w", err)
	}
	return v, nil
}

// javaStringHash is Java's String.hashCode over the UTF-16 code units of s,
// which Kafka uses to place a group on a __consumer_offsets partition.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// validGroupID checks a group ID for use as a key.
func validGroupID(group string) error {
	if group == "" || len(group) > maxKafkaStringLen {
		return fmt.Errorf("%w: group ID of %d bytes is outside [1, %d]", ErrInvalidConfig, len(group), maxKafkaStringLen)
	}
	return nil
}

// GroupOffsets returns the committed offsets of a consumer group, sorted by
// topic and partition, each with its partition's high watermark and the
// group's lag there. A group that never committed has none; this is not an
// error.
func (l *Log) GroupOffsets(group string) ([]GroupPartitionOffset, error) {
	if err := validGroupID(group); err != nil {
		return nil, err
	}
	s, err := l.offsetStore(false)
	if err != nil || s == nil {
		return nil, err
	}
	committed := s.groupOffsets(group)
	out := make([]GroupPartitionOffset, 0, len(committed))
	for tp, c := range committed {
		o := GroupPartitionOffset{
			TopicPartition: tp,
			Committed:      c.offset,
			Metadata:       c.metadata,
			CommitTime:     time.UnixMilli(c.commitTime),
			HighWatermark:  -1,
		}
		if p, err := l.Partition(tp.Topic, tp.Partition); err == nil {
			o.HighWatermark = p.HighWatermark()
			o.Lag = max(o.HighWatermark-o.Committed, 0)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b GroupPartitionOffset) int { return compareTopicPartitions(a.TopicPartition, b.TopicPartition) })
	return out, nil
}

// offsetStore returns the Log's offset store. Unless create is set, it
// returns nil when __consumer_offsets does not exist yet; with create, it
// creates the topic.
func (l *Log) offsetStore(create bool) (*offsetStore, error) {
	l.groups.mu.Lock()
	defer l.groups.mu.Unlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if l.groups.offsets != nil || !create {
		return l.groups.offsets, nil
	}
	// Kafka's settings for the topic: compacted, so that it keeps about one
	// record per committed offset, in 100 MiB segments.
	cfg := TopicConfig{Partitions: offsetsTopicPartitions, SegmentBytes: offsetsSegmentBytes, CleanupPolicy: CleanupCompact}
	if err := l.createTopic(offsetsTopicName, cfg, true); err != nil && !errors.Is(err, ErrTopicExists) {
		return nil, errorf("eventlog: create %s: %w", offsetsTopicName, err)
	}
	t, err := l.topic(offsetsTopicName)
	if err != nil {
		return nil, err
	}
	l.groups.offsets = newOffsetStore(l, t, 0)
	return l.groups.offsets, nil
}

// loadOffsets replays __consumer_offsets at Open, if it exists, reading
// only. The replayer it returns (nil if there is nothing to replay) has the
// corrections to write once Open may append: see lowerPastLogEnd.
func (l *Log) loadOffsets() (*replayer, error) {
	t := l.mu.topics[offsetsTopicName]
	if t == nil {
		return nil, nil
	}
	s, r, err := openOffsetStore(l, t)
	if err != nil {
		return nil, err
	}
	l.groups.offsets = s
	return r, nil
}
