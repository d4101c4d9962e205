package eventlog_test

// Poll's waiting: for appends, FetchMaxWait, FetchMinBytes, wake-ups,
// interruptions and Close, and no CPU while idle.

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// pollAsync starts a Poll and returns the channel its result arrives on.
type pollResult struct {
	recs []eventlog.Record
	err  error
	at   time.Time
}

func pollAsync(ctx context.Context, c *eventlog.Consumer) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		recs, err := c.Poll(ctx)
		ch <- pollResult{recs, err, time.Now()}
	}()
	return ch
}

func requireBlocked(t *testing.T, ch <-chan pollResult) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		require.Failf(t, "Poll returned early", "%v %v", polled(r.recs), r.err)
	default:
	}
}

func TestConsumerPollBlocksUntilAppend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 3, nil)
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: time.Hour}, tpart(0), tpart(1), tpart(2))
		start := time.Now()
		res := pollAsync(ctx, c)
		requireBlocked(t, res)
		produce(t, l, 2, 2, "x")
		r := <-res
		require.NoError(t, r.err)
		assert.Equal(t, []string{"2/0:x0", "2/1:x1"}, polled(r.recs))
		assert.Equal(t, start, r.at, "woken by the append, no time passed")
	})
}

func TestConsumerPollReturnsAfterFetchMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 1, nil)
		c := newTestConsumer(t, l, nil, tpart(0))
		start := time.Now()
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		assert.Empty(t, recs)
		assert.Equal(t, eventlog.DefaultFetchMaxWait, time.Since(start))

		// Twice: the timer is reused.
		start = time.Now()
		res := pollAsync(ctx, c)
		time.Sleep(100 * time.Millisecond) // fake time: lets the poll wait a while
		produce(t, l, 0, 1, "v")
		r := <-res
		require.NoError(t, r.err)
		assert.Len(t, r.recs, 1)
		assert.Equal(t, 100*time.Millisecond, r.at.Sub(start))
	})
}

func TestConsumerFetchMinBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 2, nil)
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMinBytes: 300, FetchMaxWait: time.Second}, tpart(0), tpart(1))
		require.NoError(t, c.SeekToEnd())
		start := time.Now()
		res := pollAsync(ctx, c)
		requireBlocked(t, res)
		value := make([]byte, 100)
		_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Value: value}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		requireBlocked(t, res) // 100 bytes are not enough
		_, err = partition(t, l, "t", 1).Append(ctx, []eventlog.Record{{Value: value}, {Value: value}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		r := <-res
		require.NoError(t, r.err)
		assert.Len(t, r.recs, 3, "records from both partitions count")
		assert.Equal(t, start, r.at)

		// Not enough before FetchMaxWait: what is there.
		res = pollAsync(ctx, c)
		requireBlocked(t, res)
		_, err = partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Value: value}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		r = <-res
		require.NoError(t, r.err)
		assert.Len(t, r.recs, 1)
		assert.Equal(t, time.Second, r.at.Sub(start))
	})
}

// TestConsumerFetchMinBytesUnreachable: when every partition gave the most
// bytes it may, waiting for more cannot help, so Poll returns.
func TestConsumerFetchMinBytesUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 1, nil)
		big := make([]byte, 1000)
		for range 10 {
			_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Value: big}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{
			FetchMinBytes: 1 << 20, MaxPartitionFetchBytes: 2500, FetchMaxWait: time.Hour, AutoOffsetReset: eventlog.OffsetResetEarliest,
		}, tpart(0))
		start := time.Now()
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		assert.Len(t, recs, 3)
		assert.Equal(t, start, time.Now(), "no wait")
	})
}

func TestConsumerPollInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 1, nil)
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: time.Hour, FetchMinBytes: 1000}, tpart(0))
		require.NoError(t, c.SeekToBeginning())

		// Context cancelled: records gathered so far are not lost.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		res := pollAsync(cctx, c)
		requireBlocked(t, res)
		produce(t, l, 0, 2, "v") // below FetchMinBytes
		requireBlocked(t, res)
		cancel()
		r := <-res
		assert.ErrorIs(t, r.err, context.Canceled)
		assert.Nil(t, r.recs)
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, int64(0), pos, "an interrupted poll moves nothing")
		_, err = c.Poll(cctx)
		assert.ErrorIs(t, err, context.Canceled, "a done context fails at once")

		// Wakeup while blocked.
		res = pollAsync(ctx, c)
		requireBlocked(t, res)
		c.Wakeup()
		r = <-res
		assert.ErrorIs(t, r.err, eventlog.ErrWakeup)
		assert.NotErrorIs(t, r.err, context.Canceled)

		// Wakeup before Poll: the next Poll, once.
		c.Wakeup()
		c.Wakeup()
		_, err = c.Poll(ctx)
		assert.ErrorIs(t, err, eventlog.ErrWakeup)
		res = pollAsync(ctx, c)
		requireBlocked(t, res)

		// Close from another goroutine ends the Poll.
		require.NoError(t, c.Close())
		r = <-res
		assert.ErrorIs(t, r.err, eventlog.ErrClosed)
	})
}

func TestConsumerLogCloseEndsPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := eventlog.Open(t.TempDir(), nil)
		require.NoError(t, err)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: time.Hour}, tpart(0))
		unassigned := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: time.Hour}, tpart(0))
		require.NoError(t, unassigned.Pause(tpart(0))) // watches no partition
		res, res2 := pollAsync(ctx, c), pollAsync(ctx, unassigned)
		requireBlocked(t, res)
		requireBlocked(t, res2)
		start := time.Now()
		require.NoError(t, l.Close())
		for _, ch := range []<-chan pollResult{res, res2} {
			r := <-ch
			assert.ErrorIs(t, r.err, eventlog.ErrClosed)
			assert.Equal(t, start, r.at, "promptly")
		}
	})
}

// TestConsumerIdleUsesNoCPU counts the times a blocked Poll wakes up: none
// while nothing is appended to its partitions, one per append otherwise.
func TestConsumerIdleUsesNoCPU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 3, nil)
		require.NoError(t, l.CreateTopic("other", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: 24 * time.Hour, FetchMinBytes: 1 << 20}, tpart(0), tpart(1), tpart(2))
		require.NoError(t, c.Pause(tpart(2)))
		start := time.Now()
		res := pollAsync(ctx, c)
		requireBlocked(t, res)
		time.Sleep(23 * time.Hour) // a quiet day, in fake time
		synctest.Wait()
		assert.Zero(t, eventlog.ConsumerWakeups(c), "idle: never woken")

		_, err := partition(t, l, "other", 0).Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
		require.NoError(t, err)
		produce(t, l, 2, 1, "paused")
		synctest.Wait()
		assert.Zero(t, eventlog.ConsumerWakeups(c), "appends elsewhere or to a paused partition do not wake it")

		for i := range 3 {
			produce(t, l, int32(i%2), 1, "v")
			synctest.Wait()
			assert.Equal(t, int64(i+1), eventlog.ConsumerWakeups(c), "one wake-up per append")
		}
		r := <-res
		require.NoError(t, r.err)
		assert.Len(t, r.recs, 3)
		assert.Equal(t, 24*time.Hour, r.at.Sub(start), "then FetchMaxWait ended it")
	})
}
