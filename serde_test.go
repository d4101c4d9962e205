package eventlog_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

func TestIntSerdesUseKafkaLayout(t *testing.T) {
	for _, tc := range []struct {
		v    int32
		want []byte
	}{
		{0, []byte{0, 0, 0, 0}},
		{1, []byte{0, 0, 0, 1}},
		{-1, []byte{0xff, 0xff, 0xff, 0xff}},
		{0x01020304, []byte{1, 2, 3, 4}},
		{math.MinInt32, []byte{0x80, 0, 0, 0}},
	} {
		b, err := eventlog.Int32Serde{}.Serialize("t", tc.v)
		require.NoError(t, err)
		assert.Equal(t, tc.want, b, "IntegerSerializer writes 4 bytes, big endian")
		v, err := eventlog.Int32Serde{}.Deserialize("t", b)
		require.NoError(t, err)
		assert.Equal(t, tc.v, v)
	}
	for _, tc := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{1, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{-2, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}},
		{0x0102030405060708, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{math.MaxInt64, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		b, err := eventlog.Int64Serde{}.Serialize("t", tc.v)
		require.NoError(t, err)
		assert.Equal(t, tc.want, b, "LongSerializer writes 8 bytes, big endian")
		v, err := eventlog.Int64Serde{}.Deserialize("t", b)
		require.NoError(t, err)
		assert.Equal(t, tc.v, v)
	}
}

func TestIntDeserializersRejectWrongLengths(t *testing.T) {
	for _, n := range []int{0, 1, 3, 5, 8} {
		_, err := eventlog.Int32Serde{}.Deserialize("t", make([]byte, n))
		assert.ErrorIs(t, err, eventlog.ErrSerialization, "%d bytes", n)
		assert.ErrorContains(t, err, "4 bytes")
	}
	for _, n := range []int{0, 4, 7, 9} {
		_, err := eventlog.Int64Serde{}.Deserialize("t", make([]byte, n))
		assert.ErrorIs(t, err, eventlog.ErrSerialization, "%d bytes", n)
		assert.ErrorContains(t, err, "8 bytes")
	}
}

func TestSerdesNull(t *testing.T) {
	i32, err := eventlog.Int32Serde{}.Deserialize("t", nil)
	assert.NoError(t, err)
	assert.Zero(t, i32)
	i64, err := eventlog.Int64Serde{}.Deserialize("t", nil)
	assert.NoError(t, err)
	assert.Zero(t, i64)
	s, err := eventlog.StringSerde{}.Deserialize("t", nil)
	assert.NoError(t, err)
	assert.Empty(t, s)
	b, err := eventlog.BytesSerde{}.Deserialize("t", nil)
	assert.NoError(t, err)
	assert.Nil(t, b)
	b, err = eventlog.BytesSerde{}.Serialize("t", nil)
	assert.NoError(t, err)
	assert.Nil(t, b, "nil bytes are Kafka's null")

	b, err = eventlog.StringSerde{}.Serialize("t", "")
	assert.NoError(t, err)
	assert.NotNil(t, b, "the empty string is empty, not null")
	assert.Empty(t, b)
}

type serdeOrder struct {
	ID    string  `json:"id"`
	Items []int   `json:"items"`
	Total float64 `json:"total"`
}

func TestJSONSerde(t *testing.T) {
	o := serdeOrder{ID: "o-1", Items: []int{1, 2}, Total: 9.5}
	b, err := eventlog.JSONSerde[serdeOrder]{}.Serialize("t", o)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"o-1","items":[1,2],"total":9.5}`, string(b))
	got, err := eventlog.JSONSerde[serdeOrder]{}.Deserialize("t", b)
	require.NoError(t, err)
	assert.Equal(t, o, got)

	_, err = eventlog.JSONSerde[serdeOrder]{}.Deserialize("t", []byte("{not json"))
	assert.ErrorIs(t, err, eventlog.ErrSerialization)

	b, err = eventlog.JSONSerde[*serdeOrder]{}.Serialize("t", nil)
	require.NoError(t, err)
	assert.Nil(t, b, "a nil pointer is null: a tombstone as a value")
	ptr, err := eventlog.JSONSerde[*serdeOrder]{}.Deserialize("t", nil)
	require.NoError(t, err)
	assert.Nil(t, ptr)
	var nothing any
	b, err = eventlog.JSONSerde[any]{}.Serialize("t", nothing)
	require.NoError(t, err)
	assert.Nil(t, b)
	zero, err := eventlog.JSONSerde[serdeOrder]{}.Deserialize("t", nil)
	require.NoError(t, err)
	assert.Zero(t, zero)

	_, err = eventlog.JSONSerde[chan int]{}.Serialize("t", make(chan int))
	assert.Error(t, err)
}

func TestTypedProducer(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "orders", eventlog.TopicConfig{Partitions: 2})
	p := prodNew(t, l, nil)
	orders := eventlog.NewTypedProducer(p, eventlog.StringSerde{}, eventlog.JSONSerde[serdeOrder]{})

	ts := time.UnixMilli(1_700_000_000_000)
	o := serdeOrder{ID: "o-1", Items: []int{3}, Total: 1.25}
	md, err := orders.Send(ctx, eventlog.TypedRecord[string, serdeOrder]{
		Topic: "orders", Key: "o-1", Value: o, Timestamp: ts,
		Headers: []eventlog.Header{{Key: "source", Value: []byte("test")}},
	})
	require.NoError(t, err)
	assert.Equal(t, eventlog.KeyPartition([]byte("o-1"), 2), md.Partition)
	got := prodRead(t, l, "orders", md.Partition, md.Offset)
	assert.Equal(t, "o-1", string(got.Key))
	back, err := eventlog.JSONSerde[serdeOrder]{}.Deserialize("orders", got.Value)
	require.NoError(t, err)
	assert.Equal(t, o, back)
	assert.Equal(t, ts.UnixMilli(), got.Timestamp.UnixMilli())
	assert.Equal(t, []eventlog.Header{{Key: "source", Value: []byte("test")}}, got.Headers)

	counts := eventlog.NewTypedProducer(p, eventlog.Int64Serde{}, eventlog.Int32Serde{})
	var asyncMD eventlog.RecordMetadata
	counts.SendAsync(ctx, eventlog.TypedRecord[int64, int32]{Topic: "orders", Key: 7, Value: -1}, func(md eventlog.RecordMetadata, err error) {
		assert.NoError(t, err)
		asyncMD = md
	})
	require.NoError(t, p.Flush(ctx))
	got = prodRead(t, l, "orders", asyncMD.Partition, asyncMD.Offset)
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, got.Key)
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, got.Value)
}

type failingSerde struct{}

var errSerdeBoom = errors.New("boom")

func (failingSerde) Serialize(string, string) ([]byte, error) { return nil, errSerdeBoom }

func TestTypedProducerSerializationErrors(t *testing.T) {
	dir := t.TempDir()
	l := prodLog(t, dir, nil, "t", eventlog.TopicConfig{})
	p := prodNew(t, l, nil)

	badKeys := eventlog.NewTypedProducer[string, string](p, failingSerde{}, eventlog.StringSerde{})
	md, err := badKeys.Send(ctx, eventlog.TypedRecord[string, string]{Topic: "t", Key: "k", Value: "v"})
	assert.ErrorIs(t, err, eventlog.ErrSerialization)
	assert.ErrorIs(t, err, errSerdeBoom)
	assert.ErrorContains(t, err, "key")
	assert.Equal(t, int64(-1), md.Offset)

	badValues := eventlog.NewTypedProducer[string, string](p, eventlog.StringSerde{}, failingSerde{})
	calls := 0
	badValues.SendAsync(ctx, eventlog.TypedRecord[string, string]{Topic: "t", Key: "k", Value: "v"}, func(md eventlog.RecordMetadata, err error) {
		calls++
		assert.ErrorIs(t, err, eventlog.ErrSerialization)
		assert.ErrorContains(t, err, "value")
		assert.Equal(t, "t", md.Topic)
	})
	assert.Equal(t, 1, calls, "called before SendAsync returned")
	badValues.SendAsync(ctx, eventlog.TypedRecord[string, string]{Topic: "t"}, nil)

	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, int64(0), partition(t, l, "t", 0).LogEndOffset())
	assert.Panics(t, func() { eventlog.NewTypedProducer[string, string](p, nil, eventlog.StringSerde{}) })
}
