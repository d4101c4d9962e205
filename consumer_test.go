package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// consumerLog opens a log in a temporary directory with topic "t" of n
// partitions, acknowledged once written to the OS (so that appends inside a
// synctest bubble never wait for an fsync).
func consumerLog(t *testing.T, partitions int, opts *eventlog.Options) *eventlog.Log {
	t.Helper()
	l := openLog(t, t.TempDir(), opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: partitions, Durability: eventlog.DurabilityOS}))
	return l
}

func newTestConsumer(t *testing.T, l *eventlog.Log, opts *eventlog.ConsumerOptions, tps ...eventlog.TopicPartition) *eventlog.Consumer {
	t.Helper()
	c, err := l.NewConsumer(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	if len(tps) > 0 {
		require.NoError(t, c.Assign(tps...))
	}
	return c
}

func tpart(partition int32) eventlog.TopicPartition {
	return eventlog.TopicPartition{Topic: "t", Partition: partition}
}

// produce appends one batch of records with values prefix0, prefix1, ...
func produce(t *testing.T, l *eventlog.Log, id int32, n int, prefix string) {
	t.Helper()
	recs := make([]eventlog.Record, n)
	for i := range recs {
		recs[i] = rec(fmt.Sprintf("k%d", i), fmt.Sprintf("%s%d", prefix, i))
	}
	_, err := partition(t, l, "t", id).Append(ctx, recs, eventlog.AppendOptions{})
	require.NoError(t, err)
}

func polled(recs []eventlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%d/%d:%s", r.Partition, r.Offset, r.Value)
	}
	return out
}

// noWait returns at once from Poll with what is there.
var noWait = &eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}

func TestConsumerOptionsValidated(t *testing.T) {
	l := consumerLog(t, 1, nil)
	for name, o := range map[string]eventlog.ConsumerOptions{
		"reset":       {AutoOffsetReset: 7},
		"min bytes":   {FetchMinBytes: -1},
		"max records": {MaxPollRecords: -1},
		"fetch bytes": {MaxPartitionFetchBytes: -1},
	} {
		_, err := l.NewConsumer(&o)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, name)
	}
	opts := &eventlog.ConsumerOptions{MaxPollRecords: 2}
	c := newTestConsumer(t, l, opts, tpart(0))
	opts.MaxPollRecords = 100 // copied: no effect
	produce(t, l, 0, 5, "v")
	require.NoError(t, c.SeekToBeginning())
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 2)
}

func TestConsumerAssign(t *testing.T) {
	l := consumerLog(t, 3, nil)
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	c := newTestConsumer(t, l, nil)
	assert.Empty(t, c.Assignment())

	u0 := eventlog.TopicPartition{Topic: "u", Partition: 0}
	require.NoError(t, c.Assign(u0, tpart(2), tpart(0), tpart(2)))
	assert.Equal(t, []eventlog.TopicPartition{tpart(0), tpart(2), u0}, c.Assignment(), "sorted, duplicates once")

	err := c.Assign(tpart(1), eventlog.TopicPartition{Topic: "nope"})
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.ErrorContains(t, err, "nope")
	err = c.Assign(tpart(1), tpart(3))
	assert.ErrorIs(t, err, eventlog.ErrPartitionNotFound)
	assert.ErrorIs(t, c.Assign(tpart(-1)), eventlog.ErrPartitionNotFound)
	assert.Equal(t, []eventlog.TopicPartition{tpart(0), tpart(2), u0}, c.Assignment(), "a failed Assign changes nothing")

	// A partition that stays assigned keeps its position and pause; a new
	// one has no position.
	require.NoError(t, c.Seek(tpart(0), 7))
	require.NoError(t, c.Pause(tpart(0)))
	require.NoError(t, c.Assign(tpart(0), tpart(1)))
	pos, err := c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(7), pos)
	assert.Equal(t, []eventlog.TopicPartition{tpart(0)}, c.Paused())
	_, err = c.Position(tpart(2))
	assert.ErrorIs(t, err, eventlog.ErrNotAssigned)

	require.NoError(t, c.Assign())
	assert.Empty(t, c.Assignment())
	assert.Empty(t, c.Paused())
	_, err = c.Poll(ctx)
	assert.ErrorIs(t, err, eventlog.ErrNotAssigned, "polling nothing is a mistake")
}

func TestConsumerSeekAndPosition(t *testing.T) {
	clk := newClock()
	l := consumerLog(t, 2, &eventlog.Options{Now: clk.Now})
	for i := range 10 {
		produce(t, l, 0, 1, fmt.Sprintf("at%d-", i))
		clk.Advance(time.Second)
	}
	c := newTestConsumer(t, l, nil, tpart(0), tpart(1))

	pos, err := c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(10), pos, "no position: latest by default")

	require.NoError(t, c.Seek(tpart(0), 3))
	pos, err = c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(3), pos)

	err = c.Seek(tpart(0), -1)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	assert.ErrorContains(t, err, "negative")
	err = c.Seek(eventlog.TopicPartition{Topic: "t", Partition: 5}, 0)
	assert.ErrorIs(t, err, eventlog.ErrNotAssigned)
	assert.ErrorContains(t, err, `"t" partition 5`)
	assert.ErrorIs(t, c.SeekToEnd(tpart(9)), eventlog.ErrNotAssigned)

	require.NoError(t, c.SeekToBeginning())
	pos, err = c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(0), pos)

	// SeekToEnd is looked up when needed: records appended in between are
	// skipped too.
	require.NoError(t, c.SeekToEnd(tpart(0)))
	produce(t, l, 0, 2, "late")
	pos, err = c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(12), pos)

	start := time.UnixMilli(1_700_000_000_000)
	offsets, err := c.OffsetsForTimes(map[eventlog.TopicPartition]time.Time{
		tpart(0): start.Add(4500 * time.Millisecond),
		tpart(1): start, // empty partition
	})
	require.NoError(t, err)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tpart(0): 5}, offsets, "none found is absent")
	_, err = c.OffsetsForTimes(map[eventlog.TopicPartition]time.Time{{Topic: "x"}: start})
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)

	require.NoError(t, c.SeekToTime(start.Add(2*time.Second), tpart(0)))
	pos, err = c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(2), pos)
	require.NoError(t, c.SeekToTime(start.Add(time.Hour)))
	pos, err = c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(12), pos, "nothing that new: the end")
}

func TestConsumerPollReturnsRecords(t *testing.T) {
	l := consumerLog(t, 1, nil)
	ts := time.UnixMilli(1_700_000_123_456)
	in := []eventlog.Record{
		{Key: []byte("k"), Value: []byte("v"), Timestamp: ts, Headers: []eventlog.Header{{Key: "h", Value: []byte("x")}, {Key: "n"}}},
		{Key: nil, Value: nil, Timestamp: ts.Add(time.Millisecond)},
		{Key: []byte{}, Value: []byte{}, Timestamp: ts},
	}
	_, err := partition(t, l, "t", 0).Append(ctx, in, eventlog.AppendOptions{})
	require.NoError(t, err)

	c := newTestConsumer(t, l, noWait, tpart(0))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for i, r := range recs {
		assert.Equal(t, "t", r.Topic)
		assert.Equal(t, int32(0), r.Partition)
		assert.Equal(t, int64(i), r.Offset)
		assert.Equal(t, in[i].Key, r.Key)
		assert.Equal(t, in[i].Value, r.Value)
		assert.Equal(t, in[i].Headers, r.Headers)
		assert.True(t, in[i].Timestamp.Equal(r.Timestamp))
	}
	assert.Nil(t, recs[1].Key, "null key stays null")
	assert.NotNil(t, recs[2].Key, "empty key stays empty")
	pos, err := c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(3), pos)

	recs, err = c.Poll(ctx)
	require.NoError(t, err)
	assert.Empty(t, recs)
}

func TestConsumerMaxPollRecordsAndFairness(t *testing.T) {
	l := consumerLog(t, 3, nil)
	for p := range int32(3) {
		produce(t, l, p, 10, "v")
	}
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 4, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0), tpart(1), tpart(2))
	var got []eventlog.Record
	var polls [][]int32
	for {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		require.LessOrEqual(t, len(recs), 4)
		var parts []int32
		for _, r := range recs {
			parts = append(parts, r.Partition)
		}
		polls = append(polls, slices.Compact(parts))
		got = append(got, recs...)
	}
	require.Len(t, got, 30)
	next := map[int32]int64{}
	for _, r := range got {
		assert.Equal(t, next[r.Partition], r.Offset, "dense and in order per partition")
		next[r.Partition]++
	}
	// Each poll starts after the partition the previous one ended on.
	assert.Equal(t, []int32{0}, polls[0])
	assert.Equal(t, []int32{1}, polls[1])
	assert.Equal(t, []int32{2}, polls[2])
	assert.Equal(t, []int32{0}, polls[3])
}

func TestConsumerMaxPartitionFetchBytes(t *testing.T) {
	l := consumerLog(t, 2, nil)
	big := make([]byte, 1000)
	for range 5 {
		for p := range int32(2) {
			_, err := partition(t, l, "t", p).Append(ctx, []eventlog.Record{{Value: big}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPartitionFetchBytes: 2500, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0), tpart(1))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	count := map[int32]int{}
	for _, r := range recs {
		count[r.Partition]++
	}
	assert.Equal(t, map[int32]int{0: 3, 1: 3}, count, "about 2500 bytes, whole batches, from each")

	c2 := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPartitionFetchBytes: 10, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	recs, err = c2.Poll(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 1, "a batch larger than the limit still comes, alone")
}

func TestConsumerPauseResume(t *testing.T) {
	l := consumerLog(t, 2, nil)
	produce(t, l, 0, 3, "a")
	produce(t, l, 1, 3, "b")
	c := newTestConsumer(t, l, noWait, tpart(0), tpart(1))
	require.NoError(t, c.Pause(tpart(0)))
	require.NoError(t, c.Pause(tpart(0)), "pausing twice is fine")
	assert.Equal(t, []eventlog.TopicPartition{tpart(0)}, c.Paused())
	assert.ErrorIs(t, c.Pause(tpart(1), tpart(7)), eventlog.ErrNotAssigned)
	assert.Equal(t, []eventlog.TopicPartition{tpart(0)}, c.Paused(), "a failed Pause pauses nothing")

	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"1/0:b0", "1/1:b1", "1/2:b2"}, polled(recs))

	require.NoError(t, c.Resume(tpart(0)))
	assert.Empty(t, c.Paused())
	recs, err = c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"0/0:a0", "0/1:a1", "0/2:a2"}, polled(recs), "the position stayed")
}

func TestConsumerReadAheadIsKeptAcrossPause(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 10, "v")
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 3, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	recs, err := c.Poll(ctx) // reads the batch of 10, returns 3
	require.NoError(t, err)
	assert.Equal(t, []string{"0/0:v0", "0/1:v1", "0/2:v2"}, polled(recs))
	require.NoError(t, c.Pause(tpart(0)))
	recs, err = c.Poll(ctx)
	require.NoError(t, err)
	assert.Empty(t, recs)
	require.NoError(t, c.Resume(tpart(0)))
	recs, err = c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"0/3:v3", "0/4:v4", "0/5:v5"}, polled(recs))

	// Seeking drops what was read ahead.
	require.NoError(t, c.Seek(tpart(0), 1))
	recs, err = c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"0/1:v1", "0/2:v2", "0/3:v3"}, polled(recs))
}

func TestConsumerAutoOffsetReset(t *testing.T) {
	for _, tc := range []struct {
		reset eventlog.OffsetReset
		want  int64 // first offset polled; -1 for an error
	}{
		{eventlog.OffsetResetEarliest, 0},
		{eventlog.OffsetResetLatest, 5},
		{eventlog.OffsetResetNone, -1},
	} {
		t.Run(tc.reset.String(), func(t *testing.T) {
			l := consumerLog(t, 1, nil)
			produce(t, l, 0, 5, "old")
			c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: tc.reset, FetchMaxWait: -1}, tpart(0))

			// No position.
			pos, err := c.Position(tpart(0))
			if tc.want < 0 {
				assert.ErrorIs(t, err, eventlog.ErrNoOffset)
				assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
				_, err = c.Poll(ctx)
				assert.ErrorIs(t, err, eventlog.ErrNoOffset)
				require.NoError(t, c.Seek(tpart(0), 0))
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.want, pos)
			}
			produce(t, l, 0, 1, "new")
			recs, err := c.Poll(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, recs)
			assert.Equal(t, max(tc.want, 0), recs[0].Offset)

			// A position past the end is out of range, as in Kafka.
			require.NoError(t, c.Seek(tpart(0), 100))
			pos, err = c.Position(tpart(0))
			require.NoError(t, err)
			assert.Equal(t, int64(100), pos, "Seek does not validate")
			recs, err = c.Poll(ctx)
			switch tc.reset {
			case eventlog.OffsetResetEarliest:
				require.NoError(t, err)
				assert.Equal(t, "0/0:old0", polled(recs)[0])
			case eventlog.OffsetResetLatest:
				require.NoError(t, err)
				assert.Empty(t, recs)
				pos, err = c.Position(tpart(0))
				require.NoError(t, err)
				assert.Equal(t, int64(6), pos)
			case eventlog.OffsetResetNone:
				assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
				assert.NotErrorIs(t, err, eventlog.ErrNoOffset)
				assert.ErrorContains(t, err, "auto.offset.reset is none")
				pos, err = c.Position(tpart(0))
				require.NoError(t, err)
				assert.Equal(t, int64(100), pos, "the position stays for the application to fix")
			}
		})
	}
}

// TestConsumerSeekToLargestOffset seeks to math.MaxInt64, a position past
// the end like any other: Poll, as the iterators, applies AutoOffsetReset to
// it rather than waiting for a record at that offset.
func TestConsumerSeekToLargestOffset(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 3, "v")
	c := newTestConsumer(t, l, noWait, tpart(0))
	require.NoError(t, c.Seek(tpart(0), math.MaxInt64))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"0/0:v0", "0/1:v1", "0/2:v2"}, polled(recs), "reset to the earliest offset")

	require.NoError(t, c.Seek(tpart(0), math.MaxInt64))
	var got []eventlog.Record
	for r, err := range c.Records(ctx) {
		require.NoError(t, err)
		got = append(got, r)
	}
	assert.Equal(t, []string{"0/0:v0", "0/1:v1", "0/2:v2"}, polled(got), "reset to the earliest offset")
}

// TestConsumerResetAfterRetention positions consumers on records that
// retention then deletes.
func TestConsumerResetAfterRetention(t *testing.T) {
	for _, reset := range []eventlog.OffsetReset{eventlog.OffsetResetEarliest, eventlog.OffsetResetLatest, eventlog.OffsetResetNone} {
		t.Run(reset.String(), func(t *testing.T) {
			clk := newClock()
			l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 2048})
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Hour, Durability: eventlog.DurabilityOS}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 100, eventlog.AppendOptions{})
			c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: reset, FetchMaxWait: -1, MaxPollRecords: 5}, tpart(0))
			require.NoError(t, c.Seek(tpart(0), 5))

			clk.Advance(2 * time.Hour)
			appendN(t, p, 10, eventlog.AppendOptions{})
			require.NoError(t, eventlog.EnforceRetention(l))
			start := p.LogStartOffset()
			require.Greater(t, start, int64(5), "retention deleted the consumer's position")

			recs, err := c.Poll(ctx)
			switch reset {
			case eventlog.OffsetResetEarliest:
				require.NoError(t, err)
				require.NotEmpty(t, recs)
				assert.Equal(t, start, recs[0].Offset)
			case eventlog.OffsetResetLatest:
				require.NoError(t, err)
				assert.Empty(t, recs)
				pos, err := c.Position(tpart(0))
				require.NoError(t, err)
				assert.Equal(t, p.HighWatermark(), pos)
			case eventlog.OffsetResetNone:
				assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
				assert.ErrorContains(t, err, `"t" partition 0`)
			}
		})
	}
}

func TestConsumerCorruptDataSurfaces(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 4096}
	logs := corruptSecondSegment(t, dir, opts)

	l := openLog(t, dir, opts)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, MaxPollRecords: 1000}, tpart(0))
	recs, err := c.Poll(ctx)
	require.NoError(t, err, "the good records before the damage come first")
	require.NotEmpty(t, recs)
	good := recs[len(recs)-1].Offset + 1
	assert.Less(t, good, int64(200))
	for range 2 {
		_, err = c.Poll(ctx)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce, "not skipped, every time")
		assert.Equal(t, logs[1], ce.Path)
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, good, pos)
	}
}

func TestConsumerBadCalls(t *testing.T) {
	l := consumerLog(t, 1, nil)
	c := newTestConsumer(t, l, nil, tpart(0))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	closed := func(err error) {
		t.Helper()
		assert.ErrorIs(t, err, eventlog.ErrClosed)
		assert.ErrorContains(t, err, "consumer is closed")
	}
	_, err := c.Poll(ctx)
	closed(err)
	closed(c.Assign(tpart(0)))
	closed(c.Seek(tpart(0), 0))
	closed(c.SeekToBeginning())
	closed(c.SeekToEnd())
	closed(c.SeekToTime(time.Now()))
	closed(c.Pause(tpart(0)))
	closed(c.Resume(tpart(0)))
	_, err = c.Position(tpart(0))
	closed(err)
	_, err = c.OffsetsForTimes(nil)
	closed(err)
	for _, err := range c.Records(ctx) {
		closed(err)
	}
	assert.Empty(t, c.Assignment())
	c.Wakeup() // harmless

	require.NoError(t, l.Close())
	_, err = l.NewConsumer(nil)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
}

func TestConsumerAfterLogClose(t *testing.T) {
	l := consumerLog(t, 2, nil)
	c := newTestConsumer(t, l, noWait, tpart(0))
	unassigned := newTestConsumer(t, l, nil)
	grouped := newTestConsumer(t, l, &eventlog.ConsumerOptions{GroupID: "g"}, tpart(0))
	require.NoError(t, l.Close())
	_, err := c.Poll(ctx)
	assert.ErrorIs(t, err, eventlog.ErrClosed)
	assert.ErrorIs(t, c.Assign(tpart(0), tpart(1)), eventlog.ErrClosed)
	// Every call that answers from the Log fails, as errors.go promises
	// of every call on a handle of a closed Log.
	_, err = unassigned.Poll(ctx)
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Poll without partitions")
	assert.ErrorIs(t, c.Seek(tpart(0), 0), eventlog.ErrClosed, "Seek")
	assert.ErrorIs(t, c.SeekToBeginning(), eventlog.ErrClosed, "SeekToBeginning")
	assert.ErrorIs(t, c.SeekToEnd(), eventlog.ErrClosed, "SeekToEnd")
	_, err = c.Position(tpart(0))
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Position")
	assert.ErrorIs(t, c.Pause(tpart(0)), eventlog.ErrClosed, "Pause")
	assert.ErrorIs(t, c.Resume(tpart(0)), eventlog.ErrClosed, "Resume")
	assert.ErrorIs(t, grouped.Unsubscribe(), eventlog.ErrClosed, "Unsubscribe")
	_, err = grouped.GroupMetadata()
	assert.ErrorIs(t, err, eventlog.ErrClosed, "GroupMetadata")
	assert.Equal(t, []eventlog.TopicPartition{tpart(0)}, c.Assignment(), "safe from any goroutine, and unchanged")
	assert.NoError(t, c.Close())
}

// TestConsumerAssignAfterLogClose: the calls that fail with ErrClosed
// after Log.Close do so whatever their arguments, rather than only when
// they need the Log: an Assign that keeps or drops partitions changed the
// assignment of a closed Log's consumer, an OffsetsForTimes or SeekToTime
// of no partitions answered, and a Subscribe to none unsubscribed.
func TestConsumerAssignAfterLogClose(t *testing.T) {
	l := consumerLog(t, 2, nil)
	c := newTestConsumer(t, l, noWait, tpart(0), tpart(1))
	subscribed := newTestConsumer(t, l, &eventlog.ConsumerOptions{GroupID: "g"})
	require.NoError(t, subscribed.Subscribe("t"))
	require.NoError(t, l.Close())
	assert.ErrorIs(t, c.Assign(tpart(0)), eventlog.ErrClosed, "Assign of a partition already assigned")
	assert.ErrorIs(t, c.Assign(), eventlog.ErrClosed, "Assign of none")
	_, err := c.OffsetsForTimes(nil)
	assert.ErrorIs(t, err, eventlog.ErrClosed, "OffsetsForTimes of none")
	assert.ErrorIs(t, subscribed.Subscribe(), eventlog.ErrClosed, "Subscribe to none, which unsubscribes")
	assert.Equal(t, []eventlog.TopicPartition{tpart(0), tpart(1)}, c.Assignment(), "unchanged")
}

func TestConsumerConcurrentPollIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 1, nil)
		c := newTestConsumer(t, l, nil, tpart(0))
		done := make(chan error)
		go func() {
			_, err := c.Poll(ctx)
			done <- err
		}()
		synctest.Wait() // the first Poll is blocked waiting for records
		_, err := c.Poll(ctx)
		assert.ErrorIs(t, err, eventlog.ErrConcurrentUse)
		assert.ErrorIs(t, c.Seek(tpart(0), 0), eventlog.ErrConcurrentUse)
		assert.Equal(t, []eventlog.TopicPartition{tpart(0)}, c.Assignment(), "Assignment is safe from any goroutine")
		c.Wakeup()
		assert.ErrorIs(t, <-done, eventlog.ErrWakeup)
		_, err = c.Poll(ctx)
		assert.NoError(t, err, "the first Poll was not disturbed")
	})
}

func TestConsumerRecordsIterator(t *testing.T) {
	l := consumerLog(t, 2, nil)
	produce(t, l, 0, 5, "a")
	produce(t, l, 1, 5, "b")
	opts := &eventlog.ConsumerOptions{MaxPollRecords: 3, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}
	checkAll := func(t *testing.T, got []eventlog.Record) {
		t.Helper()
		next := map[int32]int64{}
		for _, r := range got {
			require.Equal(t, next[r.Partition], r.Offset, "once each, in order")
			next[r.Partition]++
		}
		assert.Equal(t, map[int32]int64{0: 5, 1: 5}, next)
	}

	t.Run("all", func(t *testing.T) {
		c := newTestConsumer(t, l, opts, tpart(0), tpart(1))
		var got []eventlog.Record
		for r, err := range c.Records(ctx) {
			require.NoError(t, err)
			got = append(got, r)
		}
		// With a negative FetchMaxWait the loop ends once caught up.
		checkAll(t, got)
		assert.Equal(t, []string{"0/0:a0", "0/1:a1", "0/2:a2", "1/0:b0", "1/1:b1", "1/2:b2"}, polled(got[:6]), "polls in turn")
	})

	t.Run("break", func(t *testing.T) {
		c := newTestConsumer(t, l, opts, tpart(0), tpart(1))
		var got []eventlog.Record
		for r, err := range c.Records(ctx) {
			require.NoError(t, err)
			if got = append(got, r); len(got) == 4 {
				break // in the middle of a poll's records
			}
		}
		pos, err := c.Position(tpart(1))
		require.NoError(t, err)
		assert.Equal(t, int64(1), pos, "right after the last record yielded")
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		got = append(got, recs...)
		for r, err := range c.Records(ctx) {
			require.NoError(t, err)
			got = append(got, r)
		}
		checkAll(t, got)
	})

	t.Run("seek in the body", func(t *testing.T) {
		c := newTestConsumer(t, l, opts, tpart(0))
		var got []eventlog.Record
		for r, err := range c.Records(ctx) {
			require.NoError(t, err)
			got = append(got, r)
			if len(got) == 1 {
				require.NoError(t, c.Seek(tpart(0), 3))
			}
			if len(got) == 3 {
				require.NoError(t, c.Pause(tpart(0)))
			}
		}
		assert.Equal(t, []string{"0/0:a0", "0/3:a3", "0/4:a4"}, polled(got))
		require.NoError(t, c.Resume(tpart(0)))
		require.NoError(t, c.Seek(tpart(0), 1))
		got = got[:0]
		for r, err := range c.Records(ctx) {
			require.NoError(t, err)
			got = append(got, r)
			require.NoError(t, c.Pause(tpart(0)))
		}
		assert.Equal(t, []string{"0/1:a1"}, polled(got), "nothing of a paused partition")
		require.NoError(t, c.Resume(tpart(0)))
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, int64(2), pos)
	})

	t.Run("error", func(t *testing.T) {
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 3, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var errs []error
		n := 0
		for r, err := range c.Records(cctx) {
			if err != nil {
				assert.Equal(t, eventlog.Record{}, r)
				errs = append(errs, err)
				continue
			}
			n++
			cancel()
		}
		assert.Equal(t, 3, n, "the records of the poll under way, then the error")
		require.Len(t, errs, 1, "once")
		assert.ErrorIs(t, errs[0], context.Canceled)
	})
}

func TestConsumerRecordsWakeup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := consumerLog(t, 1, nil)
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: time.Hour}, tpart(0))
		done := make(chan []error)
		go func() {
			var errs []error
			for _, err := range c.Records(ctx) {
				if err != nil {
					errs = append(errs, err)
				}
			}
			done <- errs
		}()
		synctest.Wait()
		c.Wakeup()
		errs := <-done
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], eventlog.ErrWakeup)
	})
}

func TestConsumerReadToEnd(t *testing.T) {
	l := consumerLog(t, 3, nil)
	produce(t, l, 0, 7, "a")
	produce(t, l, 1, 2, "b")
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 2}, tpart(0), tpart(1), tpart(2))
	require.NoError(t, c.SeekToBeginning())
	var got []eventlog.Record
	for r, err := range c.ReadToEnd(ctx) {
		require.NoError(t, err)
		got = append(got, r)
		if len(got) == 1 {
			// Appended after the start: not part of this read.
			produce(t, l, 0, 3, "late")
			produce(t, l, 2, 1, "late")
		}
	}
	assert.Len(t, got, 9)
	for _, r := range got {
		assert.NotContains(t, string(r.Value), "late")
	}
	// Positions are at the ends the loop saw; Poll goes on from there.
	for part, want := range map[int32]int64{0: 7, 1: 2, 2: 0} {
		pos, err := c.Position(tpart(part))
		require.NoError(t, err)
		assert.Equal(t, want, pos, "partition %d", part)
	}
	var late []eventlog.Record
	for len(late) < 4 {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		late = append(late, recs...)
	}
	slices.SortFunc(late, func(a, b eventlog.Record) int { return int(a.Partition-b.Partition)*100 + int(a.Offset-b.Offset) })
	assert.Equal(t, []string{"0/7:late0", "0/8:late1", "0/9:late2", "2/0:late0"}, polled(late))

	// At the end already: nothing, at once.
	for range c.ReadToEnd(ctx) {
		t.Fatal("nothing to read")
	}
}

// TestConsumerTailsConcurrentAppends checks, under -race, that a consumer
// tailing several partitions while producers append sees every record once,
// in order per partition.
func TestConsumerTailsConcurrentAppends(t *testing.T) {
	const partitions, perPartition = 3, 2000
	l := consumerLog(t, partitions, nil)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, MaxPollRecords: 100}, tpart(0), tpart(1), tpart(2))
	var wg sync.WaitGroup
	for part := range int32(partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := partition(t, l, "t", part)
			for i := 0; i < perPartition; {
				n := 1 + i%7
				n = min(n, perPartition-i)
				recs := make([]eventlog.Record, n)
				for j := range recs {
					recs[j] = rec("k", fmt.Sprint(i+j))
				}
				if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
				i += n
			}
		}()
	}
	next := make(map[int32]int64)
	total := 0
	for r, err := range c.Records(ctx) {
		require.NoError(t, err)
		require.Equal(t, next[r.Partition], r.Offset)
		require.Equal(t, fmt.Sprint(r.Offset), string(r.Value))
		next[r.Partition]++
		if total++; total == partitions*perPartition {
			break
		}
	}
	wg.Wait()
	for part := range int32(partitions) {
		pos, err := c.Position(tpart(part))
		require.NoError(t, err)
		assert.Equal(t, int64(perPartition), pos)
	}
}

// TestConsumerWhileRetentionDeletes tails a partition while retention
// deletes the segments under it: the consumer never fails and never returns
// garbage; where retention overtook it, it resets to the log start.
func TestConsumerWhileRetentionDeletes(t *testing.T) {
	const n = 3000
	clk := newClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: time.Minute, Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, MaxPollRecords: 7}, tpart(0))
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := p.Append(ctx, []eventlog.Record{rec("k", fmt.Sprint(i))}, eventlog.AppendOptions{}); err != nil {
				done <- err
				return
			}
			clk.Advance(time.Second)
			if i%10 == 0 {
				if err := eventlog.EnforceRetention(l); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	last, resets := int64(-1), 0
	for last < n-1 {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			require.Greater(t, r.Offset, last)
			require.Equal(t, fmt.Sprint(r.Offset), string(r.Value))
			if r.Offset != last+1 {
				resets++
			}
			last = r.Offset
		}
	}
	require.NoError(t, <-done)
	assert.Positive(t, p.LogStartOffset(), "retention ran")
	t.Logf("%d resets to the log start", resets)
}

func TestConsumerSentinels(t *testing.T) {
	assert.ErrorIs(t, eventlog.ErrNoOffset, eventlog.ErrOffsetOutOfRange)
	assert.False(t, errors.Is(eventlog.ErrOffsetOutOfRange, eventlog.ErrNoOffset))
	assert.Equal(t, "t-3", tpart(3).String())
	assert.Equal(t, "earliest", eventlog.OffsetResetEarliest.String())
}

type order struct {
	ID    int    `json:"id"`
	Item  string `json:"item"`
	Price int    `json:"price"`
}

func TestTypedConsumer(t *testing.T) {
	l := consumerLog(t, 2, nil)
	p0, p1 := partition(t, l, "t", 0), partition(t, l, "t", 1)
	ts := time.UnixMilli(1_700_000_000_123)
	_, err := p0.Append(ctx, []eventlog.Record{
		{Key: []byte("a"), Value: []byte(`{"id":1,"item":"tea","price":3}`), Timestamp: ts, Headers: []eventlog.Header{{Key: "h", Value: []byte("1")}}},
		{Key: []byte("b"), Value: nil, Timestamp: ts},               // tombstone
		{Key: []byte("c"), Value: []byte(`{"id":3`), Timestamp: ts}, // damaged
		{Key: []byte("d"), Value: []byte(`{"id":4}`), Timestamp: ts},
	}, eventlog.AppendOptions{})
	require.NoError(t, err)
	_, err = p1.Append(ctx, []eventlog.Record{{Key: []byte("e"), Value: []byte(`{"id":5}`), Timestamp: ts}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0), tpart(1))
	orders := eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.JSONSerde[*order]{})

	recs, err := orders.Poll(ctx)
	require.NoError(t, err, "the records before the damaged one come first")
	require.Len(t, recs, 2)
	assert.Equal(t, eventlog.TypedRecord[string, *order]{
		Topic: "t", Partition: 0, Offset: 0, Timestamp: recs[0].Timestamp, Key: "a",
		Value: &order{ID: 1, Item: "tea", Price: 3}, Headers: []eventlog.Header{{Key: "h", Value: []byte("1")}},
	}, recs[0])
	assert.True(t, ts.Equal(recs[0].Timestamp))
	assert.Equal(t, "b", recs[1].Key)
	assert.Nil(t, recs[1].Value, "a tombstone is the zero value")

	for range 2 {
		_, err = orders.Poll(ctx)
		var de *eventlog.DeserializationError
		require.ErrorAs(t, err, &de, "reported at every poll")
		assert.Equal(t, eventlog.TopicPartition{Topic: "t", Partition: 0}, de.TopicPartition)
		assert.Equal(t, int64(2), de.Offset)
		assert.False(t, de.Key)
		assert.ErrorIs(t, err, eventlog.ErrSerialization)
		assert.ErrorContains(t, err, `topic "t" partition 0 offset 2: deserialize value`)
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, int64(2), pos, "the position stays at the damaged record")
	}
	pos, err := c.Position(tpart(1))
	require.NoError(t, err)
	assert.Equal(t, int64(0), pos, "partition 1 was not polled past either")

	// The iterator stops at the same record; skipping it goes on.
	var keys []string
	var errs []error
	for r, err := range orders.Records(ctx) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, r.Key)
	}
	require.Len(t, errs, 1)
	var de *eventlog.DeserializationError
	require.ErrorAs(t, errs[0], &de)
	require.NoError(t, c.Seek(de.TopicPartition, de.Offset+1))
	for r, err := range orders.ReadToEnd(ctx) {
		require.NoError(t, err)
		keys = append(keys, r.Key)
	}
	slices.Sort(keys)
	assert.Equal(t, []string{"d", "e"}, keys)

	bad := eventlog.NewTypedConsumer(c, eventlog.Int32Serde{}, eventlog.BytesSerde{})
	require.NoError(t, c.SeekToBeginning())
	_, err = bad.Poll(ctx)
	require.ErrorAs(t, err, &de)
	assert.True(t, de.Key)
	assert.ErrorContains(t, err, "deserialize key")

	assert.Panics(t, func() { eventlog.NewTypedConsumer[string, string](c, nil, eventlog.StringSerde{}) })
}
