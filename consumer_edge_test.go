package eventlog_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Edge cases of the Consumer and its typed wrapper: bad options, panics,
// calls on partitions and handles that are gone.

// A nil pointer to one of the library's assignors satisfies Assignor, but
// its methods dereference it: NewConsumer and JoinGroupExternal refuse it
// with an error rather than panic.
func TestNilPointerAssignorIsAnError(t *testing.T) {
	l := consumerLog(t, 1, nil)
	for _, a := range []eventlog.Assignor{
		(*eventlog.RangeAssignor)(nil),
		(*eventlog.RoundRobinAssignor)(nil),
		(*eventlog.StickyAssignor)(nil),
		(*eventlog.CooperativeStickyAssignor)(nil),
	} {
		var err error
		require.NotPanics(t, func() {
			_, err = l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: a})
		}, "%T", a)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%T", a)
		assert.ErrorContains(t, err, "nil", "%T", a)
		require.NotPanics(t, func() {
			_, err = l.JoinGroupExternal("g", eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{a}})
		}, "%T", a)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%T", a)
	}
	// A pointer that is not nil works as the value does.
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: &eventlog.StickyAssignor{}})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// panicDeserializer decodes values of four bytes and panics on any other.
type panicDeserializer struct{}

func (panicDeserializer) Deserialize(_ string, data []byte) (int32, error) {
	if len(data) != 4 {
		panic("bad value")
	}
	return int32(data[3]), nil
}

// A Deserializer that panics inside a typed Poll: the panic reaches the
// caller, as Go code lets panics through, but no position moves past a
// record the caller never got, so that a Close deferred by the caller —
// which commits — or a later Poll, once the caller recovered, does not
// skip them.
func TestTypedConsumerDeserializerPanicKeepsPositions(t *testing.T) {
	l := consumerLog(t, 1, nil)
	_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{
		{Value: []byte{0, 0, 0, 1}}, {Value: []byte("bad")}, {Value: []byte{0, 0, 0, 3}},
	}, eventlog.AppendOptions{})
	require.NoError(t, err)
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	tc := eventlog.NewTypedConsumer(c, eventlog.BytesSerde{}, eventlog.Deserializer[int32](panicDeserializer{}))

	assert.PanicsWithValue(t, "bad value", func() { _, _ = tc.Poll(ctx) })
	pos, err := c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(0), pos, "the position moved past records the Poll never returned")

	// The iterators keep the position at the record that panicked.
	require.NoError(t, c.Seek(tpart(0), 0))
	var got []int32
	assert.PanicsWithValue(t, "bad value", func() {
		for r, err := range tc.Records(ctx) {
			require.NoError(t, err)
			got = append(got, r.Value)
		}
	})
	assert.Equal(t, []int32{1}, got)
	pos, err = c.Position(tpart(0))
	require.NoError(t, err)
	assert.Equal(t, int64(1), pos, "the iterator moved past the record that panicked")

	require.NoError(t, c.Close())
	assert.Equal(t, int64(1), committedOnly(t, l, "g"), "Close committed past records never delivered")
}

// The built-in deserializers' errors, which a DeserializationError wraps
// with the topic, partition and offset, do not name the topic again.
func TestDeserializationErrorNamesTheTopicOnce(t *testing.T) {
	l := consumerLog(t, 1, nil)
	_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: []byte("{")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	for _, poll := range []func() error{
		func() error {
			_, err := eventlog.NewTypedConsumer(c, eventlog.Int32Serde{}, eventlog.BytesSerde{}).Poll(ctx)
			return err
		},
		func() error {
			_, err := eventlog.NewTypedConsumer(c, eventlog.Int64Serde{}, eventlog.BytesSerde{}).Poll(ctx)
			return err
		},
		func() error {
			_, err := eventlog.NewTypedConsumer(c, eventlog.BytesSerde{}, eventlog.JSONSerde[int]{}).Poll(ctx)
			return err
		},
	} {
		err := poll()
		require.ErrorIs(t, err, eventlog.ErrSerialization)
		assert.Equal(t, 1, strings.Count(err.Error(), `"t"`), "%v", err)
		assert.Equal(t, 1, strings.Count(err.Error(), "eventlog:"), "%v", err)
	}
}

// Position of a partition whose topic was deleted fails as every other
// read of it does, rather than answer the position the consumer had.
func TestConsumerPositionOfDeletedTopic(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 3, "v")
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	_, err = c.Poll(ctx)
	require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	_, err = c.Position(tpart(0))
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)

	// A subscribed consumer skips the partition until its group takes it
	// away; it has no position either.
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	g := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, g.Subscribe("u"))
	u := eventlog.TopicPartition{Topic: "u"}
	pollUntil(t, func() bool { return slices.Contains(g.Assignment(), u) }, nil, g)
	_, err = g.Position(u)
	require.NoError(t, err)
	require.NoError(t, l.DeleteTopic(ctx, "u"))
	_, err = g.Position(u)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
}

// Close from the body of a Records loop — a shutdown in the middle of a
// batch — commits automatically, and such a commit covers no record the
// loop has not yielded: Close stops the loop, and records it did not yield
// are read again after a restart, not skipped. Before, the position, at
// the end of the batch being yielded, was committed.
func TestCloseInRecordsLoopCommitsNoUnyieldedRecord(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 5, "v") // one batch
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.Subscribe("t"))
	var yielded []int64
	for r, err := range c.Records(ctx) {
		if err != nil {
			require.ErrorIs(t, err, eventlog.ErrClosed)
			continue
		}
		yielded = append(yielded, r.Offset)
		if r.Offset == 1 {
			require.NoError(t, c.Close())
		}
	}
	assert.Equal(t, []int64{0, 1}, yielded, "Close ends the loop")
	assert.LessOrEqual(t, committedOnly(t, l, "g"), int64(1), "Close committed past records the loop never yielded")
}

// A CommitSync in the body of a Records loop covers the batch being
// yielded, as documented; a Close after it then commits nothing lower.
func TestCloseInRecordsLoopAfterCommitSyncKeepsTheCommit(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 5, "v") // one batch
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.Subscribe("t"))
	for r, err := range c.Records(ctx) {
		if err != nil {
			require.ErrorIs(t, err, eventlog.ErrClosed)
			continue
		}
		if r.Offset == 1 {
			require.NoError(t, c.CommitSync(ctx))
			require.NoError(t, c.Close())
		}
	}
	assert.Equal(t, int64(5), committedOnly(t, l, "g"), "the committed offset went back")
}

// A Records loop whose body panics leaves the consumer noting the chunk it
// was reading, so that a Close deferred by the caller commits no record
// the loop did not yield; a Poll after a recover ends that, and its
// automatic commits cover what it returns, not the position before the
// chunk.
func TestPollAfterPanicInRecordsLoopCommitsWhatItReturns(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 5, "v") // one batch
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.Subscribe("t"))
	assert.PanicsWithValue(t, "body", func() {
		for range c.Records(ctx) {
			panic("body")
		}
	})
	produce(t, l, 0, 5, "w")
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	last := recs[len(recs)-1].Offset
	require.NoError(t, c.Close())
	assert.Equal(t, last+1, committedOnly(t, l, "g"), "Close after the Poll committed")
}

// constructionPanic returns the value fn panicked with, or nil.
func constructionPanic(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return nil
}

// A nil pointer to one of the library's serdes satisfies Serializer and
// Deserializer, but its methods dereference it: NewTypedConsumer and
// NewTypedProducer refuse it at once, as they refuse a nil serde, with an
// error naming the argument, rather than panic at the first record.
func TestNilPointerSerdeFailsAtConstruction(t *testing.T) {
	l := consumerLog(t, 1, nil)
	c := newTestConsumer(t, l, nil, tpart(0))
	p, err := l.NewProducer(nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	for name, tc := range map[string]struct {
		fn   func()
		want string
	}{
		"consumer keys":         {func() { eventlog.NewTypedConsumer(c, (*eventlog.StringSerde)(nil), eventlog.BytesSerde{}) }, "key Deserializer is a nil *eventlog.StringSerde"},
		"consumer values":       {func() { eventlog.NewTypedConsumer(c, eventlog.BytesSerde{}, (*eventlog.Int32Serde)(nil)) }, "value Deserializer is a nil *eventlog.Int32Serde"},
		"consumer JSON values":  {func() { eventlog.NewTypedConsumer(c, eventlog.BytesSerde{}, (*eventlog.JSONSerde[int])(nil)) }, "value Deserializer is a nil *eventlog.JSONSerde[int]"},
		"consumer nil values":   {func() { eventlog.NewTypedConsumer[[]byte, int](c, eventlog.BytesSerde{}, nil) }, "value Deserializer is nil"},
		"consumer nil consumer": {func() { eventlog.NewTypedConsumer(nil, eventlog.BytesSerde{}, eventlog.BytesSerde{}) }, "Consumer is nil"},
		"producer keys":         {func() { eventlog.NewTypedProducer(p, (*eventlog.Int64Serde)(nil), eventlog.BytesSerde{}) }, "key Serializer is a nil *eventlog.Int64Serde"},
		"producer values":       {func() { eventlog.NewTypedProducer(p, eventlog.BytesSerde{}, (*eventlog.BytesSerde)(nil)) }, "value Serializer is a nil *eventlog.BytesSerde"},
		"producer JSON keys":    {func() { eventlog.NewTypedProducer(p, (*eventlog.JSONSerde[string])(nil), eventlog.BytesSerde{}) }, "key Serializer is a nil *eventlog.JSONSerde[string]"},
		"producer nil keys":     {func() { eventlog.NewTypedProducer[string, []byte](p, nil, eventlog.BytesSerde{}) }, "key Serializer is nil"},
		"producer nil producer": {func() { eventlog.NewTypedProducer(nil, eventlog.BytesSerde{}, eventlog.BytesSerde{}) }, "Producer is nil"},
	} {
		v := constructionPanic(tc.fn)
		require.NotNil(t, v, "%s: no panic at construction", name)
		err, ok := v.(error)
		require.True(t, ok, "%s: panicked with %v, not an error", name, v)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, name)
		assert.ErrorContains(t, err, tc.want, name)
	}
	// Pointers that are not nil work as the values do.
	require.NotPanics(t, func() {
		eventlog.NewTypedConsumer(c, &eventlog.StringSerde{}, &eventlog.JSONSerde[int]{})
		eventlog.NewTypedProducer(p, &eventlog.StringSerde{}, &eventlog.JSONSerde[int]{})
	})
}

// A panic in the body of an iterator's loop ends the loop as a break does:
// a program that recovers and goes on reading — with the iterator again,
// the other one, or Poll — gets the rest of the batch being yielded, from
// the record after the one whose body panicked, none skipped and none
// twice. A Close after the panic commits no record after that one.
func TestIterationAfterPanicInLoopBodySkipsNothing(t *testing.T) {
	l := consumerLog(t, 1, nil)
	produce(t, l, 0, 5, "v") // one batch
	iterators := map[string]func(*eventlog.Consumer, func(int64)){
		"Records": func(c *eventlog.Consumer, body func(int64)) {
			for r, err := range c.Records(ctx) {
				require.NoError(t, err)
				body(r.Offset)
			}
		},
		"Views": func(c *eventlog.Consumer, body func(int64)) {
			for v, err := range c.Views(ctx) {
				require.NoError(t, err)
				body(v.Offset)
			}
		},
		"ReadToEnd": func(c *eventlog.Consumer, body func(int64)) {
			for r, err := range c.ReadToEnd(ctx) {
				require.NoError(t, err)
				body(r.Offset)
			}
		},
		"typed Records": func(c *eventlog.Consumer, body func(int64)) {
			for r, err := range eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.StringSerde{}).Records(ctx) {
				require.NoError(t, err)
				body(r.Offset)
			}
		},
		"Poll": func(c *eventlog.Consumer, body func(int64)) {
			recs, err := c.Poll(ctx)
			require.NoError(t, err)
			for _, r := range recs {
				body(r.Offset)
			}
		},
	}
	for first, panicking := range iterators {
		if first == "Poll" {
			continue
		}
		for then, resume := range iterators {
			group := first + " then " + then
			c := groupConsumer(t, l, group, func(o *eventlog.ConsumerOptions) {
				o.FetchMaxWait = -1
				o.AutoOffsetReset = eventlog.OffsetResetEarliest
			})
			require.NoError(t, c.Subscribe("t"))
			var got []int64
			assert.PanicsWithValue(t, "body", func() {
				panicking(c, func(offset int64) {
					got = append(got, offset)
					if offset == 1 {
						panic("body")
					}
				})
			}, group)
			resume(c, func(offset int64) { got = append(got, offset) })
			assert.Equal(t, []int64{0, 1, 2, 3, 4}, got, group)
			require.NoError(t, c.Close())
			assert.Equal(t, int64(5), committedOnly(t, l, group), group)
		}
		// A Close deferred by the caller, which runs while the panic goes
		// on, commits no record from the one whose body panicked on.
		group := first + " then Close"
		c := groupConsumer(t, l, group, func(o *eventlog.ConsumerOptions) {
			o.FetchMaxWait = -1
			o.AutoOffsetReset = eventlog.OffsetResetEarliest
		})
		require.NoError(t, c.Subscribe("t"))
		assert.PanicsWithValue(t, "body", func() {
			defer func() { require.NoError(t, c.Close()) }()
			panicking(c, func(offset int64) {
				if offset == 1 {
					panic("body")
				}
			})
		}, group)
		assert.LessOrEqual(t, committedOnly(t, l, group), int64(1), group)
	}
}
