package eventlog_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A Poll that waits for FetchMinBytes can return a partition's records in
// two runs, with another partition's between them. A record of the first
// run that fails to deserialize must still hold the position, not be
// skipped because the second run put the position back only to itself.
func TestTypedConsumerPollKeepsPositionAcrossPasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 2, nil)
		int32Value := []byte{0, 0, 0, 7}
		_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Key: []byte("bad"), Value: []byte("x")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		_, err = partition(t, l, "t", 1).Append(ctx, []eventlog.Record{{Key: []byte("b"), Value: int32Value}}, eventlog.AppendOptions{})
		require.NoError(t, err)

		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{
			AutoOffsetReset: eventlog.OffsetResetEarliest,
			FetchMinBytes:   1 << 20, // never reached: the poll ends on MaxPollRecords
			FetchMaxWait:    time.Hour,
			MaxPollRecords:  3,
		}, tpart(0), tpart(1))
		tc := eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.Int32Serde{})

		done := make(chan error, 1)
		go func() {
			_, err := tc.Poll(ctx)
			done <- err
		}()
		synctest.Wait() // the first pass took 0/0 and 1/0 and waits for more
		_, err = partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Key: []byte("a"), Value: int32Value}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		err = <-done // 0/0, 1/0, 0/1: partition 0 in two runs

		var de *eventlog.DeserializationError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, tpart(0), de.TopicPartition)
		assert.Equal(t, int64(0), de.Offset)
		for _, tp := range []eventlog.TopicPartition{tpart(0), tpart(1)} {
			pos, err := c.Position(tp)
			require.NoError(t, err)
			assert.Equal(t, int64(0), pos, "%v: no position moves past the record that failed", tp)
		}

		// The next polls may return 1/0 first; none returns a record of
		// partition 0 before the error.
		for range 2 {
			var recs []eventlog.TypedRecord[string, int32]
			recs, err = tc.Poll(ctx)
			for _, r := range recs {
				assert.NotEqual(t, int32(0), r.Partition, "%s polled before the record that failed", r.Key)
			}
			if err != nil {
				break
			}
		}
		require.ErrorAs(t, err, &de, "a later poll reports the record again")
		assert.Equal(t, int64(0), de.Offset)
	})
}

// closingDeserializer decodes values of four bytes; on any other value it
// closes the consumer from another goroutine, waits until that Close has
// begun, and fails.
type closingDeserializer struct {
	c      *eventlog.Consumer
	closed chan error // Close's result
}

func (d closingDeserializer) Deserialize(_ string, data []byte) (int32, error) {
	if len(data) == 4 {
		return int32(data[3]), nil
	}
	go func() { d.closed <- d.c.Close() }()
	<-eventlog.ConsumerClosing(d.c)
	return 0, fmt.Errorf("value of %d bytes", len(data))
}

// A Close from another goroutine while a typed Poll decodes waits for the
// Poll, which gives back the record that failed before the Close commits:
// the group's committed offset stays at that record, so a restart reports
// it again instead of skipping it. Before, Poll released the consumer
// between polling and giving records back, and the Close committed the
// position past them.
func TestTypedConsumerCloseDuringDecode(t *testing.T) {
	l := consumerLog(t, 1, nil)
	_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{
		{Value: []byte{0, 0, 0, 1}}, {Value: []byte("bad")}, {Value: []byte{0, 0, 0, 3}},
	}, eventlog.AppendOptions{})
	require.NoError(t, err)
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	d := closingDeserializer{c: c, closed: make(chan error, 1)}
	tc := eventlog.NewTypedConsumer(c, eventlog.BytesSerde{}, eventlog.Deserializer[int32](d))

	recs, err := tc.Poll(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 1, "the records before the one that failed")
	assert.Equal(t, int32(1), recs[0].Value)
	require.NoError(t, <-d.closed)

	assert.Equal(t, int64(1), committedOnly(t, l, "g"), "Close committed the position at the record that failed")
}

// A Deserializer that closes its consumer itself, inside the Poll, gets an
// error instead of waiting for the Poll around it for ever.
func TestTypedConsumerCloseFromDeserializer(t *testing.T) {
	l := consumerLog(t, 1, nil)
	_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, c.Assign(eventlog.TopicPartition{Topic: "t"}))
	var closeErr error
	tc := eventlog.NewTypedConsumer(c, eventlog.BytesSerde{}, deserializerFunc(func([]byte) ([]byte, error) {
		closeErr = c.Close()
		return nil, nil
	}))
	recs, err := tc.Poll(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	require.ErrorIs(t, closeErr, eventlog.ErrConcurrentUse)
	assert.ErrorContains(t, closeErr, "Close from a Deserializer")
	require.NoError(t, c.Close(), "the consumer was not closed, and closes now")
}

// deserializerFunc is a Deserializer of []byte from a function.
type deserializerFunc func([]byte) ([]byte, error)

func (f deserializerFunc) Deserialize(_ string, data []byte) ([]byte, error) { return f(data) }
