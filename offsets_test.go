package eventlog

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The __consumer_offsets record format: pinned by golden files (under
// testdata/golden/offsets, apart from the batch files), and checked
// against franz-go's kmsg, an independent implementation of Kafka's
// OffsetCommitKey and OffsetCommitValue.

var goldenOffsetValue = offsetValue{offset: 1234567, epoch: noLeaderEpoch, metadata: "checkpoint-7", commitTime: 1_700_000_000_123}

func TestOffsetRecordGolden(t *testing.T) {
	key := encodeOffsetKey(nil, "billing", TopicPartition{"orders", 17})
	assert.Equal(t, golden(t, "offsets/offset_commit_key", key), key)
	value := encodeOffsetValue(nil, goldenOffsetValue)
	assert.Equal(t, golden(t, "offsets/offset_commit_value", value), value)

	// The layout, spelled out.
	assert.Equal(t, []byte{0, 1, 0, 7, 'b', 'i', 'l', 'l', 'i', 'n', 'g', 0, 6, 'o', 'r', 'd', 'e', 'r', 's', 0, 0, 0, 17}, key)
	assert.Equal(t, []byte{0, 3}, value[:2], "value version 3")
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, value[10:14], "leader epoch -1")
}

func TestOffsetRecordMatchesKmsg(t *testing.T) {
	key := encodeOffsetKey(nil, "billing", TopicPartition{"orders", 17})
	var k kmsg.OffsetCommitKey
	require.NoError(t, k.ReadFrom(key))
	assert.Equal(t, kmsg.OffsetCommitKey{Version: 1, Group: "billing", Topic: "orders", Partition: 17}, k)
	assert.Equal(t, key, k.AppendTo(nil))

	value := encodeOffsetValue(nil, goldenOffsetValue)
	var v kmsg.OffsetCommitValue
	require.NoError(t, v.ReadFrom(value))
	assert.Equal(t, int16(3), v.Version)
	assert.Equal(t, goldenOffsetValue.offset, v.Offset)
	assert.Equal(t, int32(-1), v.LeaderEpoch)
	assert.Equal(t, goldenOffsetValue.metadata, v.Metadata)
	assert.Equal(t, goldenOffsetValue.commitTime, v.CommitTimestamp)
	assert.Equal(t, value, v.AppendTo(nil))

	// Every non-flexible version kmsg writes, we read.
	for version := int16(0); version <= 3; version++ {
		v := kmsg.OffsetCommitValue{Version: version, Offset: 42, LeaderEpoch: 5, Metadata: "m", CommitTimestamp: 99, ExpireTimestamp: 1000}
		got, err := decodeOffsetValue(v.AppendTo(nil))
		require.NoError(t, err, "version %d", version)
		want := offsetValue{offset: 42, epoch: -1, metadata: "m", commitTime: 99}
		if version == 3 {
			want.epoch = 5
		}
		assert.Equal(t, want, got, "version %d", version)
	}
	for version := int16(0); version <= 1; version++ {
		k := kmsg.OffsetCommitKey{Version: version, Group: "g", Topic: "t", Partition: 3}
		group, tp, ok, err := decodeOffsetKey(k.AppendTo(nil))
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, "g", group)
		assert.Equal(t, TopicPartition{"t", 3}, tp)
	}
	// A group metadata record (key type 2) is not an offset commit.
	gm := kmsg.GroupMetadataKey{Version: 2, Group: "g"}
	_, _, ok, err := decodeOffsetKey(gm.AppendTo(nil))
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestOffsetRecordDecodeErrors(t *testing.T) {
	key := encodeOffsetKey(nil, "g", TopicPartition{"t", 1})
	value := encodeOffsetValue(nil, goldenOffsetValue)
	for name, b := range map[string][]byte{
		"empty":     {},
		"one byte":  {0},
		"truncated": key[:len(key)-1],
		"trailing":  append(bytes.Clone(key), 0),
		"null":      {0, 1, 0xff, 0xff},
	} {
		_, _, _, err := decodeOffsetKey(b)
		assert.Error(t, err, "key %s", name)
	}
	unknown := bytes.Clone(value)
	unknown[1] = 4 // version 4 is flexible; we do not read it
	for name, b := range map[string][]byte{
		"empty":     {},
		"truncated": value[:len(value)-1],
		"trailing":  append(bytes.Clone(value), 0),
		"version 4": unknown,
		"negative":  {0x80, 0},
	} {
		_, err := decodeOffsetValue(b)
		assert.Error(t, err, "value %s", name)
	}
}

func FuzzDecodeOffsetRecord(f *testing.F) {
	f.Add(encodeOffsetKey(nil, "g", TopicPartition{"t", 1}), encodeOffsetValue(nil, goldenOffsetValue))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if group, tp, ok, err := decodeOffsetKey(key); err == nil && ok {
			assert.Equal(t, key[2:], encodeOffsetKey(nil, group, tp)[2:], "a key decodes to what encodes to it")
		}
		if v, err := decodeOffsetValue(value); err == nil && value[1] == 3 && value[0] == 0 {
			assert.Equal(t, value, encodeOffsetValue(nil, v))
		}
	})
}

func TestJavaStringHash(t *testing.T) {
	// Values of Java's String.hashCode.
	for s, want := range map[string]int32{
		"":                   0,
		"a":                  97,
		"abc":                96354,
		"Aa":                 2112,
		"BB":                 2112,
		"hello":              99162322,
		"😀":                  1772899, // a surrogate pair: 0xD83D, 0xDE00
		"polygenelubricants": -2147483648,
	} {
		assert.Equal(t, want, javaStringHash(s), "%q", s)
	}
}

func TestOffsetsReplayAppliesTombstones(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{Durability: DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", TopicConfig{Partitions: 2}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	_, err = p.Append(context.Background(), make([]Record, 10), AppendOptions{})
	require.NoError(t, err)
	s, err := l.offsetStore(true)
	require.NoError(t, err)
	write := func(group string, partition int32, offset int64) {
		_, err := s.write(context.Background(), group, []offsetUpdate{{tp: TopicPartition{"t", partition}, v: offsetValue{offset: offset, epoch: -1}}}, DurabilityDefault)
		require.NoError(t, err)
	}
	write("g", 0, 3)
	write("g", 1, 0)
	write("g", 0, 7)
	write("h", 0, 1)
	tomb := Record{Key: encodeOffsetKey(nil, "g", TopicPartition{"t", 1})}
	_, err = s.parts[0].appendUnchecked(context.Background(), []Record{tomb}, AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	l, err = Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 1, "the tombstone deleted t-1")
	assert.Equal(t, int64(7), offsets[0].Committed, "the last commit wins")
	assert.Equal(t, int64(3), offsets[0].Lag)
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g", "h"}, groups)
}
