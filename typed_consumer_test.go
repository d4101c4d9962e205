package eventlog_test

import (
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
