package eventlog_test

import (
	"iter"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The iterators — Views, ViewsToEnd and the typed ones over Records and
// ReadToEnd — when the Log closes, a topic is deleted or a topic gains
// partitions in the middle of a loop.

// iterateOffsets runs one of the iterators over c, calling body with the
// offset of each record until it returns false, and returns the records'
// offsets, per partition, and the errors yielded.
type iterateOffsets func(c *eventlog.Consumer, body func(eventlog.TopicPartition, int64) bool) (map[int32][]int64, []error)

func iterators() map[string]iterateOffsets {
	views := func(toEnd bool) iterateOffsets {
		return func(c *eventlog.Consumer, body func(eventlog.TopicPartition, int64) bool) (map[int32][]int64, []error) {
			it := c.Views(ctx)
			if toEnd {
				it = c.ViewsToEnd(ctx)
			}
			return offsetsOf(it, func(v *eventlog.RecordView) (eventlog.TopicPartition, int64) {
				return eventlog.TopicPartition{Topic: v.Topic, Partition: v.Partition}, v.Offset
			}, body)
		}
	}
	typed := func(toEnd bool) iterateOffsets {
		return func(c *eventlog.Consumer, body func(eventlog.TopicPartition, int64) bool) (map[int32][]int64, []error) {
			tc := eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.StringSerde{})
			it := tc.Records(ctx)
			if toEnd {
				it = tc.ReadToEnd(ctx)
			}
			return offsetsOf(it, func(r eventlog.TypedRecord[string, string]) (eventlog.TopicPartition, int64) {
				return eventlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.Offset
			}, body)
		}
	}
	return map[string]iterateOffsets{
		"Views": views(false), "ViewsToEnd": views(true),
		"typed Records": typed(false), "typed ReadToEnd": typed(true),
	}
}

// offsetsOf runs it, calling body with the partition and offset of each
// element, which at reads, until body returns false; it returns the
// offsets, per partition, and the errors yielded.
func offsetsOf[T any](it iter.Seq2[T, error], at func(T) (eventlog.TopicPartition, int64), body func(eventlog.TopicPartition, int64) bool) (map[int32][]int64, []error) {
	got, errs := map[int32][]int64{}, []error(nil)
	for e, err := range it {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tp, offset := at(e)
		got[tp.Partition] = append(got[tp.Partition], offset)
		if !body(tp, offset) {
			break
		}
	}
	return got, errs
}

// memberFromStart returns a member of group "g" subscribed to topic "t",
// once it owns the topic's partitions, so many, at their start.
func memberFromStart(t *testing.T, l *eventlog.Log, partitions int) *eventlog.Consumer {
	t.Helper()
	g := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, g.Subscribe("t"))
	pollUntil(t, owning(g, partitions), nil, g)
	require.NoError(t, g.SeekToBeginning())
	return g
}

// assertDense checks that each partition's offsets go up one by one from
// 0: none skipped, none twice.
func assertDense(t *testing.T, got map[int32][]int64, msg string) {
	t.Helper()
	for p, offsets := range got {
		for i, o := range offsets {
			if !assert.Equal(t, int64(i), o, "%s: partition %d: %v", msg, p, offsets) {
				break
			}
		}
	}
}

// Log.Close in the middle of a loop ends it with one error wrapping
// ErrClosed. The batch being yielded may still be yielded to its end, from
// the segment the loop holds, as Partition.Views yields it; no later
// batch is, and nothing comes twice.
func TestIteratorsEndWhenTheLogCloses(t *testing.T) {
	for name, iterate := range iterators() {
		l := consumerLog(t, 2, nil)
		produce(t, l, 0, 5, "v")
		produce(t, l, 0, 5, "w")
		produce(t, l, 1, 5, "v")
		c := newTestConsumer(t, l, noWait, tpart(0), tpart(1))
		got, errs := iterate(c, func(_ eventlog.TopicPartition, offset int64) bool {
			if offset == 2 {
				require.NoError(t, l.Close())
			}
			return true
		})
		require.Len(t, errs, 1, name)
		assert.ErrorIs(t, errs[0], eventlog.ErrClosed, name)
		assertDense(t, got, name)
		n := 0
		for _, offsets := range got {
			n += len(offsets)
		}
		assert.LessOrEqual(t, n, 5, "%s: a batch read after Log.Close: %v", name, got)
	}
}

// A topic deleted in the middle of a loop: a consumer that assigned
// itself its partitions ends the loop with one error wrapping
// ErrTopicNotFound, as its Poll fails; a subscribed one goes on without
// an error, and reads the topic created again under the same name from
// its start once its group assigns it.
func TestIteratorsWhenTheTopicIsDeleted(t *testing.T) {
	for name, iterate := range iterators() {
		t.Run(name, func(t *testing.T) {
			l := consumerLog(t, 2, nil)
			produce(t, l, 0, 5, "v")
			produce(t, l, 1, 5, "v")
			c := newTestConsumer(t, l, noWait, tpart(0), tpart(1))
			_, errs := iterate(c, func(_ eventlog.TopicPartition, offset int64) bool {
				if offset == 2 {
					require.NoError(t, l.DeleteTopic(ctx, "t"))
				}
				return true
			})
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], eventlog.ErrTopicNotFound)

			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
			produce(t, l, 0, 5, "v")
			produce(t, l, 1, 5, "v")
			g := memberFromStart(t, l, 2)
			deleted := false
			got, errs := iterate(g, func(_ eventlog.TopicPartition, offset int64) bool {
				if offset == 2 && !deleted {
					deleted = true
					require.NoError(t, l.DeleteTopic(ctx, "t"))
					require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
					produce(t, l, 0, 3, "n")
				}
				return true
			})
			assert.Empty(t, errs)
			assert.Equal(t, []eventlog.TopicPartition{tpart(0)}, g.Assignment())
			// The records of the new topic's partition come last, from 0.
			offsets := got[0]
			require.GreaterOrEqual(t, len(offsets), 3, "%v", got)
			assert.Equal(t, []int64{0, 1, 2}, offsets[len(offsets)-3:], "the topic created again, from its start: %v", got)
		})
	}
}

// Partitions added to a subscribed topic in the middle of a loop are
// assigned at the group's next rebalance, within the loop, and read from
// their start (AutoOffsetReset earliest); ViewsToEnd and ReadToEnd read
// them to their end as of their assignment.
func TestIteratorsReadPartitionsAddedMeanwhile(t *testing.T) {
	for name, iterate := range iterators() {
		t.Run(name, func(t *testing.T) {
			l := consumerLog(t, 1, nil)
			produce(t, l, 0, 5, "v")
			g := memberFromStart(t, l, 1)
			added := false
			got, errs := iterate(g, func(_ eventlog.TopicPartition, offset int64) bool {
				if !added {
					added = true
					require.NoError(t, l.CreatePartitions(ctx, "t", 2))
					produce(t, l, 1, 3, "x")
				}
				return true
			})
			assert.Empty(t, errs)
			assert.Equal(t, map[int32][]int64{0: {0, 1, 2, 3, 4}, 1: {0, 1, 2}}, got)
			assert.Equal(t, []eventlog.TopicPartition{tpart(0), tpart(1)}, g.Assignment())
		})
	}
}
