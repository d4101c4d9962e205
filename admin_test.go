package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// commitFor commits offsets for group as a consumer outside the group
// (allowed while the group has no members).
func commitFor(t *testing.T, l *eventlog.Log, group string, offsets map[eventlog.TopicPartition]int64) {
	t.Helper()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: group})
	require.NoError(t, err)
	defer c.Close()
	om := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, len(offsets))
	for tp, o := range offsets {
		om[tp] = eventlog.OffsetAndMetadata{Offset: o}
	}
	require.NoError(t, c.CommitOffsets(ctx, om))
}

func TestDeleteTopic(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("gone", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("kept", eventlog.TopicConfig{}))
	p := partition(t, l, "gone", 0)
	appendN(t, p, 100, eventlog.AppendOptions{})
	appendN(t, partition(t, l, "kept", 0), 3, eventlog.AppendOptions{})
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("gone", 0): 50, tp("gone", 1): 0, tp("kept", 0): 2})
	prod, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer prod.Close()
	_, err = prod.Send(ctx, eventlog.Record{Topic: "gone", Value: []byte("x")})
	require.NoError(t, err)

	require.NoError(t, l.DeleteTopic(ctx, "gone"))
	assert.Equal(t, []string{"kept"}, l.Topics())

	// Live handles fail clearly.
	_, err = p.Read(0, 1<<20)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	_, err = p.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	_, _, err = p.OffsetForTime(time.Unix(0, 0))
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.ErrorIs(t, p.Wait(ctx, p.HighWatermark()), eventlog.ErrTopicNotFound)
	_, err = prod.Send(ctx, eventlog.Record{Topic: "gone", Value: []byte("x")})
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	_, err = l.Partition("gone", 0)
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)

	// Its committed offsets went, the others stayed.
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, tp("kept", 0), offsets[0].TopicPartition)

	// The same name can be used again, from scratch; the producer follows.
	require.NoError(t, l.CreateTopic("gone", eventlog.TopicConfig{Partitions: 3}))
	md, err := prod.Send(ctx, eventlog.Record{Topic: "gone", Key: []byte("a"), Value: []byte("new")})
	require.NoError(t, err)
	assert.Equal(t, int64(0), md.Offset)
	assert.Equal(t, eventlog.KeyPartition([]byte("a"), 3), md.Partition)

	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	assert.Equal(t, []string{"gone", "kept"}, l.Topics())
	cfg, err := l.TopicConfig("gone")
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Partitions)
	offsets, err = l.GroupOffsets("g")
	require.NoError(t, err)
	assert.Len(t, offsets, 1)
}

func TestDeleteTopicWhileReading(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 200, eventlog.AppendOptions{})
	done := make(chan error)
	go func() {
		for {
			_, err := p.Read(0, 1<<20)
			if err != nil {
				done <- err
				return
			}
		}
	}()
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	assert.ErrorIs(t, <-done, eventlog.ErrTopicNotFound)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	assert.Zero(t, partition(t, l, "t", 0).LogEndOffset())
}

func TestDeleteTopicGroupRebalances(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("b", eventlog.TopicConfig{Partitions: 2}))
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("a", "b"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 4 }, nil, c)
	require.NoError(t, l.DeleteTopic(ctx, "a"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	assert.ElementsMatch(t, []eventlog.TopicPartition{tp("b", 0), tp("b", 1)}, c.Assignment())
	// Created again, it is assigned again, from its new partitions.
	require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{Partitions: 1}))
	fill(t, l, "a", 1, 2)
	var got []string
	pollUntil(t, func() bool { return len(got) == 2 }, func(_ *eventlog.Consumer, r eventlog.Record) {
		got = append(got, string(r.Value))
	}, c)
	assert.Equal(t, []string{"p0-0", "p0-1"}, got)
}

// partitionsOf is seq with each record replaced by its partition.
func partitionsOf[R any](seq iter.Seq2[R, error], partition func(R) eventlog.TopicPartition) iter.Seq2[eventlog.TopicPartition, error] {
	return func(yield func(eventlog.TopicPartition, error) bool) {
		for r, err := range seq {
			if err != nil {
				yield(eventlog.TopicPartition{}, err)
				return
			}
			if !yield(partition(r), nil) {
				return
			}
		}
	}
}

// A topic deleted while a subscribed consumer reads it does not fail the
// read, as with Kafka: the consumer skips its partitions, goes on with the
// others, and its group takes them away.
func TestDeleteTopicUnderSubscribedConsumer(t *testing.T) {
	iterators := map[string]func(*eventlog.Consumer) iter.Seq2[eventlog.TopicPartition, error]{
		"Views": func(c *eventlog.Consumer) iter.Seq2[eventlog.TopicPartition, error] {
			return partitionsOf(c.Views(ctx), func(v *eventlog.RecordView) eventlog.TopicPartition { return tp(v.Topic, v.Partition) })
		},
		"Records": func(c *eventlog.Consumer) iter.Seq2[eventlog.TopicPartition, error] {
			return partitionsOf(c.Records(ctx), func(r eventlog.Record) eventlog.TopicPartition { return tp(r.Topic, r.Partition) })
		},
	}
	for name, records := range iterators {
		t.Run(name, func(t *testing.T) {
			// Small segments: the read of "a" has to move on to a segment
			// that is gone.
			l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
			require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{}))
			require.NoError(t, l.CreateTopic("b", eventlog.TopicConfig{}))
			c := groupConsumer(t, l, "g", nil)
			require.NoError(t, c.Subscribe("a", "b"))
			pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
			appendN(t, partition(t, l, "a", 0), 200, eventlog.AppendOptions{})
			fill(t, l, "b", 1, 5)

			got := map[string]int{}
			for tp, err := range records(c) {
				require.NoError(t, err)
				if got[tp.Topic]++; tp.Topic == "a" && got["a"] == 1 {
					require.NoError(t, l.DeleteTopic(ctx, "a"))
				}
				if got["b"] == 5 {
					break
				}
			}
			assert.Less(t, got["a"], 200, "the read of the deleted topic stopped")
			pollUntil(t, func() bool { return len(c.Assignment()) == 1 }, nil, c)
			assert.Equal(t, []eventlog.TopicPartition{tp("b", 0)}, c.Assignment())
		})
	}
	t.Run("assigned", func(t *testing.T) {
		// A consumer that assigned itself the partition is told.
		l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
		require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{}))
		appendN(t, partition(t, l, "a", 0), 200, eventlog.AppendOptions{})
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: -1})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Assign(tp("a", 0)))
		read := 0
		for _, err := range c.Views(ctx) {
			if err != nil {
				assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
				break
			}
			if read++; read == 1 {
				require.NoError(t, l.DeleteTopic(ctx, "a"))
			}
		}
		assert.Less(t, read, 200)
	})
}

// The automatic commit before the rebalance that a topic's deletion brings
// leaves the deleted topic out, so the other partitions' positions are
// committed and nothing is read twice.
func TestDeleteTopicCommitsTheOtherPositions(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("b", eventlog.TopicConfig{}))
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("a", "b"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	fill(t, l, "a", 1, 5)
	fill(t, l, "b", 1, 5)
	read := map[string]int{}
	count := func(_ *eventlog.Consumer, r eventlog.Record) { read[r.Topic]++ }
	pollUntil(t, func() bool { return read["a"] == 5 && read["b"] == 5 }, count, c)

	require.NoError(t, l.DeleteTopic(ctx, "a"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 1 }, count, c)
	committed, err := c.Committed(ctx, tp("b", 0))
	require.NoError(t, err)
	assert.Equal(t, int64(5), committed[tp("b", 0)].Offset)
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.Equal(t, 5, read["b"], "no record of b read twice")
}

// Polls racing a topic's deletion never fail for a subscribed consumer.
func TestDeleteTopicWhileSubscribedConsumerPolls(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("a", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("b", eventlog.TopicConfig{}))
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.MaxPollRecords = 7 })
	require.NoError(t, c.Subscribe("a", "b"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 3 }, nil, c)
	for id := range int32(2) {
		appendN(t, partition(t, l, "a", id), 300, eventlog.AppendOptions{})
	}
	fill(t, l, "b", 1, 50)
	deleted := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		<-started
		deleted <- l.DeleteTopic(ctx, "a")
	}()
	fromB := 0
	for first := true; fromB < 50 || len(c.Assignment()) != 1; first = false {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Topic == "b" {
				fromB++
			}
		}
		if first {
			close(started)
		}
	}
	require.NoError(t, <-deleted)
	assert.Equal(t, 50, fromB)
}

func TestCreatePartitions(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	prod, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer prod.Close()
	send := func(key string) int32 {
		md, err := prod.Send(ctx, eventlog.Record{Topic: "t", Key: []byte(key), Value: []byte("v")})
		require.NoError(t, err)
		return md.Partition
	}
	assert.Equal(t, eventlog.KeyPartition([]byte("k7"), 2), send("k7"))

	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)

	require.NoError(t, l.CreatePartitions(ctx, "t", 5))
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, 5, cfg.Partitions)
	for i := range 20 {
		key := fmt.Sprintf("k%d", i)
		assert.Equal(t, eventlog.KeyPartition([]byte(key), 5), send(key), key)
	}
	pollUntil(t, func() bool { return len(c.Assignment()) == 5 }, nil, c)

	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	cfg, err = l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, 5, cfg.Partitions)
	var total int64
	for id := range int32(5) {
		total += partition(t, l, "t", id).LogEndOffset()
	}
	assert.Equal(t, int64(21), total)
}

func TestAlterTopicConfig(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 100, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Zero(t, p.LogStartOffset(), "retention is off by default")

	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	cfg.Retention = time.Hour
	cfg.Durability = eventlog.DurabilityOS
	require.NoError(t, l.AlterTopicConfig(ctx, "t", cfg))
	clk.Advance(2 * time.Hour)
	appendN(t, p, 1, eventlog.AppendOptions{})
	require.NoError(t, eventlog.EnforceRetention(l))
	assert.Positive(t, p.LogStartOffset(), "the new retention applies at the next check")

	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	got, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, cfg, got)
}

func TestAlterTopicConfigToCompact(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("keyed", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("mixed", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "keyed", 0), 5, eventlog.AppendOptions{})
	mixed := partition(t, l, "mixed", 0)
	appendN(t, mixed, 2, eventlog.AppendOptions{})
	_, err := mixed.Append(ctx, []eventlog.Record{{Value: []byte("no key")}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	compact := eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}
	err = l.AlterTopicConfig(ctx, "mixed", compact)
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "offset 2 has a null key")
	got, err := l.TopicConfig("mixed")
	require.NoError(t, err)
	assert.Equal(t, eventlog.CleanupDelete, got.CleanupPolicy, "nothing changed")
	_, err = mixed.Append(ctx, []eventlog.Record{{Value: []byte("still fine")}}, eventlog.AppendOptions{})
	assert.NoError(t, err)

	require.NoError(t, l.AlterTopicConfig(ctx, "keyed", compact))
	_, err = partition(t, l, "keyed", 0).Append(ctx, []eventlog.Record{{Value: []byte("no key")}}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrInvalidRecord)
	require.NoError(t, l.Compact(ctx, "keyed"))
}

func TestDeleteRecords(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 100, eventlog.AppendOptions{})

	start, err := l.DeleteRecords(ctx, "t", 0, 42)
	require.NoError(t, err)
	assert.Equal(t, int64(42), start)
	assert.Equal(t, int64(42), p.LogStartOffset())
	_, err = p.Read(41, 1<<20)
	assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	recs := readAll(t, p, 42)
	require.Len(t, recs, 58)
	assert.Equal(t, "v42", string(recs[0].Value))

	start, err = l.DeleteRecords(ctx, "t", 0, 10)
	require.NoError(t, err)
	assert.Equal(t, int64(42), start, "the log start offset never goes back")

	// A consumer below the log start offset follows auto.offset.reset.
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(tp("t", 0)))
	require.NoError(t, c.Seek(tp("t", 0), 5))
	polled, err := c.Poll(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, polled)
	assert.Equal(t, int64(42), polled[0].Offset)

	require.NoError(t, l.Close())
	l = openLog(t, dir, nil)
	p = partition(t, l, "t", 0)
	assert.Equal(t, int64(42), p.LogStartOffset(), "the log start offset survives reopen")
	assert.Len(t, readAll(t, p, 42), 58)

	start, err = l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
	assert.Equal(t, int64(100), start)
	assert.Empty(t, readAll(t, p, 100))
	off, err := p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(100), off)
}

func TestDeleteRecordsRemovesSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 200, eventlog.AppendOptions{})
	before := segmentFiles(t, dir)
	require.Greater(t, len(before), 3)
	_, err := l.DeleteRecords(ctx, "t", 0, 150)
	require.NoError(t, err)
	after := segmentFiles(t, dir)
	assert.Less(t, len(after), len(before))
	assert.Equal(t, before[len(before)-len(after):], after, "only the oldest segments went")
	assert.LessOrEqual(t, parseBase(t, after[0]), int64(150))
}

// A switch to cleanup.policy=compact that AlterTopicConfig completes while
// DeleteRecords is on its way to the partition's locks is seen by
// DeleteRecords, which refuses, as on any compact-only topic.
func TestDeleteRecordsRefusedAfterConcurrentSwitchToCompact(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 10, eventlog.AppendOptions{})

	var altered error
	eventlog.SetDeleteRecordsHook(l, func() {
		altered = l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact})
	})
	_, err := l.DeleteRecords(ctx, "t", 0, 5)
	eventlog.SetDeleteRecordsHook(l, nil)
	require.NoError(t, altered)
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	assert.Zero(t, p.LogStartOffset(), "nothing deleted")
	assert.Len(t, readAll(t, p, 0), 10)
}

// parseBase returns the base offset in a segment file name.
func parseBase(t *testing.T, name string) int64 {
	t.Helper()
	var base int64
	_, err := fmt.Sscanf(name, "%020d.log", &base)
	require.NoError(t, err)
	return base
}

func TestTopicAdminRefusesBadInput(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	appendN(t, partition(t, l, "t", 0), 10, eventlog.AppendOptions{})
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 1})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	deleteRecords := func(topic string, id int32, offset int64) func() error {
		return func() error { _, err := l.DeleteRecords(ctx, topic, id, offset); return err }
	}
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"delete missing topic", func() error { return l.DeleteTopic(ctx, "nope") }, eventlog.ErrTopicNotFound},
		{"delete bad name", func() error { return l.DeleteTopic(ctx, "a/b") }, eventlog.ErrInvalidTopic},
		{"delete internal topic", func() error { return l.DeleteTopic(ctx, "__consumer_offsets") }, eventlog.ErrInvalidTopic},
		{"delete canceled", func() error { return l.DeleteTopic(canceled, "t") }, context.Canceled},
		{"shrink partitions", func() error { return l.CreatePartitions(ctx, "t", 1) }, eventlog.ErrInvalidConfig},
		{"same partitions", func() error { return l.CreatePartitions(ctx, "t", 2) }, eventlog.ErrInvalidConfig},
		{"too many partitions", func() error { return l.CreatePartitions(ctx, "t", 1<<20) }, eventlog.ErrInvalidConfig},
		{"partitions of missing topic", func() error { return l.CreatePartitions(ctx, "nope", 3) }, eventlog.ErrTopicNotFound},
		{"partitions of internal topic", func() error { return l.CreatePartitions(ctx, "__consumer_offsets", 3) }, eventlog.ErrInvalidTopic},
		{"alter negative retention", func() error {
			return l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Retention: -5 * time.Second})
		}, eventlog.ErrInvalidConfig},
		{"alter partitions", func() error { return l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Partitions: 3}) }, eventlog.ErrInvalidConfig},
		{"alter max batch", func() error { return l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{MaxBatchBytes: 4096}) }, eventlog.ErrInvalidConfig},
		{"alter missing topic", func() error { return l.AlterTopicConfig(ctx, "nope", eventlog.TopicConfig{}) }, eventlog.ErrTopicNotFound},
		{"delete records negative", deleteRecords("t", 0, -2), eventlog.ErrOffsetOutOfRange},
		{"delete records past high watermark", deleteRecords("t", 0, 11), eventlog.ErrOffsetOutOfRange},
		{"delete records missing partition", deleteRecords("t", 7, 1), eventlog.ErrPartitionNotFound},
		{"delete records missing topic", deleteRecords("nope", 0, 1), eventlog.ErrTopicNotFound},
		{"delete records compacted", deleteRecords("c", 0, 0), eventlog.ErrInvalidConfig},
		{"delete records internal", deleteRecords("__consumer_offsets", 0, 0), eventlog.ErrInvalidTopic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, tc.call(), tc.want)
		})
	}
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, 2, cfg.Partitions, "nothing changed")
	assert.Zero(t, partition(t, l, "t", 0).LogStartOffset())

	require.NoError(t, l.Close())
	for name, call := range map[string]func() error{
		"DeleteTopic":      func() error { return l.DeleteTopic(ctx, "t") },
		"CreatePartitions": func() error { return l.CreatePartitions(ctx, "t", 4) },
		"AlterTopicConfig": func() error { return l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{}) },
		"DeleteRecords":    deleteRecords("t", 0, 1),
	} {
		assert.True(t, errors.Is(call(), eventlog.ErrClosed), name)
	}
}

// TestDeleteTopicFailureLeavesTopic: a DeleteTopic that fails leaves the
// topic, which works as before once its directory's name is durable again.
// When the fsync that would make the rename back durable fails too, the
// disk may hold either name: the topic stays listed and readable but
// refuses appends until the Log is reopened.
func TestDeleteTopicFailureLeavesTopic(t *testing.T) {
	for name, fault := range map[string]eventlog.Fault{
		"rename":        eventlog.FailAfter(0, eventlog.OpRename, nil),
		"first syncdir": failNth(1, func(op eventlog.Op, _ string) bool { return op == eventlog.OpSyncDir }),
		"every syncdir": eventlog.FailAfter(0, eventlog.OpSyncDir, nil),
	} {
		t.Run(name, func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			opts := &eventlog.Options{FS: fsys}
			l := openLog(t, "/d", opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 3, eventlog.AppendOptions{})
			fsys.SetFault(fault)
			err := l.DeleteTopic(ctx, "t")
			fsys.SetFault(nil)
			require.ErrorIs(t, err, eventlog.ErrInjected)
			assert.Equal(t, []string{"t"}, l.Topics())
			if name == "every syncdir" {
				_, err := p.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
				require.ErrorIs(t, err, eventlog.ErrInjected, "nothing is acknowledged in a topic the next Open may find deleted")
				assert.Len(t, readAll(t, p, 0), 3, "reads go on")
				require.ErrorIs(t, l.Close(), eventlog.ErrInjected, "Close reports the failed partition")
				l = openLog(t, "/d", opts)
				p = partition(t, l, "t", 0)
			}
			appendN(t, p, 1, eventlog.AppendOptions{})
			assert.Len(t, readAll(t, p, 0), 4, "the topic works as before")
			require.NoError(t, l.DeleteTopic(ctx, "t"))
			assert.Empty(t, l.Topics())
		})
	}
}

func TestOpenFinishesDeletionAfterRecreate(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l, err := eventlog.Open("/d", &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 5)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 5})
	// The files of the deleted topic stay behind, as after a crash.
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpRemove && strings.Contains(name, "~deleted-") {
			return eventlog.ErrInjected
		}
		return nil
	})
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	fsys.SetFault(nil)
	names, err := fsys.ReadDir("/d/topics")
	require.NoError(t, err)
	require.Len(t, names, 2, "__consumer_offsets and t~deleted-...: %v", names)
	require.Contains(t, names[1], "~deleted-")

	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 2)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 1})
	require.NoError(t, eventlog.Abandon(l))

	l = openLog(t, "/d", &eventlog.Options{FS: fsys})
	names, err = fsys.ReadDir("/d/topics")
	require.NoError(t, err)
	assert.Equal(t, []string{"__consumer_offsets", "t"}, names)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 1}, committed(t, l, "g"), "the new topic's offsets stay")
	assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 2)
}

func TestDeleteTopicFailsPendingSends(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	prod, err := l.NewProducer(&eventlog.ProducerOptions{Linger: time.Hour})
	require.NoError(t, err)
	defer prod.Close()
	results := make(chan error, 100)
	for i := range 100 {
		prod.SendAsync(ctx, eventlog.Record{Topic: "t", Value: fmt.Appendf(nil, "%d", i)}, func(_ eventlog.RecordMetadata, err error) {
			results <- err
		})
	}
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	require.NoError(t, prod.Flush(ctx))
	for range 100 {
		assert.ErrorIs(t, <-results, eventlog.ErrTopicNotFound)
	}
}

func TestDeleteTopicWakesConsumer(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: time.Hour})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(tp("t", 0)))
	polled := make(chan error)
	go func() {
		_, err := c.Poll(ctx)
		polled <- err
	}()
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	assert.ErrorIs(t, <-polled, eventlog.ErrTopicNotFound)
}

func TestDeleteCompactedTopicWhileCompacting(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	p := partition(t, l, "c", 0)
	for range 5 {
		appendN(t, p, 50, eventlog.AppendOptions{})
	}
	compacted := make(chan error)
	go func() { compacted <- l.Compact(ctx, "c") }()
	require.NoError(t, l.DeleteTopic(ctx, "c"))
	if err := <-compacted; err != nil {
		assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	}
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	assert.Zero(t, partition(t, l, "c", 0).LogEndOffset())
}

func TestAlterTopicConfigWhileAppending(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	prod, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer prod.Close()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			_, err := prod.Send(ctx, eventlog.Record{Topic: "t", Key: fmt.Appendf(nil, "k%d", n), Value: []byte("v")})
			assert.NoError(t, err)
			n++
		}
	}()
	for i := range 20 {
		cfg := eventlog.TopicConfig{Durability: eventlog.DurabilityOS, SegmentBytes: 4096}
		if i%2 == 1 {
			cfg = eventlog.TopicConfig{Durability: eventlog.DurabilityFsync, Retention: time.Hour}
		}
		require.NoError(t, l.AlterTopicConfig(ctx, "t", cfg))
	}
	require.NoError(t, l.CreatePartitions(ctx, "t", 4))
	close(stop)
	n := <-done
	var total int64
	for id := range int32(4) {
		p := partition(t, l, "t", id)
		assert.Equal(t, p.LogEndOffset(), p.HighWatermark(), "every acknowledged record is visible")
		total += p.HighWatermark()
	}
	assert.Equal(t, int64(n), total)
}

// A switch to compaction that AlterTopicConfig refuses, because a record
// has no key, changes nothing, even when retention runs while it reads the
// partition: the retention it asked for never applies.
func TestAlterTopicConfigRefusedAppliesNoRetention(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 60, eventlog.AppendOptions{}) // several closed segments
	clk.Advance(2 * time.Hour)
	young := p.LogEndOffset()
	appendN(t, p, 60, eventlog.AppendOptions{})
	_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("no key")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	total := p.LogEndOffset()
	require.NoError(t, l.Close())

	// The second segment holding only young records: retention reads the
	// segments up to the first one holding a young record, not past it.
	names, err := fsys.ReadDir("/d/topics/t/0")
	require.NoError(t, err)
	youngSegment := ""
	for _, name := range names {
		if strings.HasSuffix(name, ".log") && parseBase(t, name) > young && youngSegment == "" {
			youngSegment = name
		}
	}
	require.NotEmpty(t, youngSegment)

	// Reopened, nothing is mapped: the check maps each segment as it reads
	// it, and stops at that one until retention has run.
	reached, resume := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if (op == eventlog.OpMmap || op == eventlog.OpRead) && strings.HasSuffix(name, youngSegment) && once.CompareAndSwap(false, true) {
			close(reached)
			<-resume
		}
		return nil
	})
	l = openLog(t, "/d", opts)
	p = partition(t, l, "t", 0)
	altered := make(chan error)
	go func() {
		altered <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompactDelete, Retention: time.Hour})
	}()
	<-reached
	require.NoError(t, eventlog.EnforceRetention(l))
	close(resume)
	require.ErrorIs(t, <-altered, eventlog.ErrInvalidConfig)
	fsys.SetFault(nil)

	assert.Zero(t, p.LogStartOffset(), "nothing deleted")
	assert.Len(t, readAll(t, p, 0), int(total))
}

// Records that DeleteRecords deletes while AlterTopicConfig checks their
// keys need none: the check goes on from the new log start offset instead
// of failing to read below it.
func TestAlterTopicConfigToCompactWhileRecordsAreDeleted(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{}) // several closed segments
	require.NoError(t, l.Close())

	// Reopened, no index is loaded: the check's first read loads the first
	// segment's, and stops there until the records are deleted. (Stopping
	// in its mmap instead would hold the segment, which DeleteRecords
	// drops.)
	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	reached, resume := pauseFSAt(fsys, eventlog.OpOpen, fmt.Sprintf("%020d.index", 0))
	altered := make(chan error)
	go func() {
		altered <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact})
	}()
	<-reached
	// The read ends at the high watermark it started with, which the log
	// start offset then lies past.
	_, err := p.Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	start, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
	require.Equal(t, int64(31), start)
	close(resume)
	assert.NoError(t, <-altered)
	fsys.SetFault(nil)

	got, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.CleanupCompact, got.CleanupPolicy)
}

// The administration calls give up waiting for another one, or for a
// cleaning of their topic, when their ctx ends, and change nothing.
func TestAdminCallsHeedContextWhileWaiting(t *testing.T) {
	calls := map[string]struct {
		call     func(context.Context, *eventlog.Log) error
		cleaning bool // waits for a cleaning of the topic too
	}{
		"DeleteTopic": {func(ctx context.Context, l *eventlog.Log) error { return l.DeleteTopic(ctx, "t") }, true},
		"AlterTopicConfig": {func(ctx context.Context, l *eventlog.Log) error {
			return l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, Retention: time.Hour})
		}, true},
		"CreatePartitions": {func(ctx context.Context, l *eventlog.Log) error { return l.CreatePartitions(ctx, "t", 2) }, false},
	}
	for name, c := range calls {
		t.Run(name+" behind a key check", func(t *testing.T) {
			// Reopened, the key check of a switch to compaction loads the
			// first segment's index, and stops there holding the
			// administration lock.
			fsys, l := reopenedSegmentedLog(t)
			reached, resume := pauseFSAt(fsys, eventlog.OpOpen, fmt.Sprintf("%020d.index", 0))
			altered := make(chan error)
			go func() {
				altered <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact})
			}()
			<-reached
			callCtx, cancel := context.WithCancel(ctx)
			called := make(chan error)
			go func() { called <- c.call(callCtx, l) }()
			cancel()
			err := <-called // before the key check goes on
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorContains(t, err, `topic "t": waiting for another topic administration call`)
			close(resume)
			require.NoError(t, <-altered)
			fsys.SetFault(nil)

			assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 30)
			cfg, err := l.TopicConfig("t")
			require.NoError(t, err)
			assert.Equal(t, eventlog.TopicConfig{Partitions: 1, CleanupPolicy: eventlog.CleanupCompact}, cfg, "as the key check's call left it")
			assertTopicKept(t, l)
		})
		if !c.cleaning {
			continue
		}
		t.Run(name+" behind a cleaning", func(t *testing.T) {
			l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
			p := partition(t, l, "t", 0)
			appendKeyed(t, p, 60)
			compacted, resume := pauseCompact(t, l, "t")

			// ctx ends right after the call, holding the administration
			// lock, checked it: it then waits for the cleaning.
			callCtx, cancel := context.WithCancel(ctx)
			err := c.call(cancelAfterCheck{callCtx, cancel}, l)
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorContains(t, err, `topic "t" partition 0`)
			assert.ErrorContains(t, err, "waiting for the cleaning in progress")
			close(resume)
			require.NoError(t, <-compacted)
			eventlog.SetCleanerFailpoint(l, nil)

			recs := readAll(t, p, 0)
			require.NotEmpty(t, recs)
			assert.Equal(t, "v59", string(recs[len(recs)-1].Value))
			cfg, err := l.TopicConfig("t")
			require.NoError(t, err)
			assert.Equal(t, eventlog.TopicConfig{Partitions: 1, CleanupPolicy: eventlog.CleanupCompact}, cfg)
			assertTopicKept(t, l)
		})
	}
}

// cancelAfterCheck is a context that its first Err call cancels, after
// reporting it live: a deadline that passes right after a check.
type cancelAfterCheck struct {
	context.Context
	cancel context.CancelFunc
}

func (c cancelAfterCheck) Err() error {
	err := c.Context.Err()
	c.cancel()
	return err
}

// assertTopicKept checks that topic "t", which a DeleteTopic gave up on,
// still works: it takes appends, and can be deleted then.
func assertTopicKept(t *testing.T, l *eventlog.Log) {
	t.Helper()
	_, err := partition(t, l, "t", 0).Append(ctx, []eventlog.Record{rec("k", "after")}, eventlog.AppendOptions{})
	assert.NoError(t, err)
	assert.NoError(t, l.DeleteTopic(ctx, "t"), "no lock is left held")
}

// pauseFSAt makes the first op of fsys on a file whose name ends with suffix
// close reached, then wait until resume is closed.
func pauseFSAt(fsys *eventlog.MemFS, op eventlog.Op, suffix string) (reached, resume chan struct{}) {
	reached, resume = make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	fsys.SetFault(func(o eventlog.Op, name string) error {
		if o == op && strings.HasSuffix(name, suffix) && once.CompareAndSwap(false, true) {
			close(reached)
			<-resume
		}
		return nil
	})
	return reached, resume
}

// A Compact, which may run long, holds no other call back: while it
// cleans, a DeleteTopic of another topic completes, and appends and reads
// go on. Close stops it.
func TestCompactHoldsNoCallBack(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("compacted", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	require.NoError(t, l.CreateTopic("doomed", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("busy", eventlog.TopicConfig{}))
	p := partition(t, l, "compacted", 0)
	appendKeyed(t, p, 60)
	compacted, resume := pauseCompact(t, l, "compacted")

	require.NoError(t, l.DeleteTopic(ctx, "doomed"))
	busy := partition(t, l, "busy", 0)
	appendN(t, busy, 3, eventlog.AppendOptions{})
	assert.Len(t, readAll(t, busy, 0), 3)
	assert.Equal(t, []string{"busy", "compacted"}, l.Topics())

	close(resume)
	require.NoError(t, <-compacted)
	recs := readAll(t, p, 0)
	require.NotEmpty(t, recs)
	assert.Equal(t, "v59", string(recs[len(recs)-1].Value))
}

// A DeleteTopic of the topic a Compact is cleaning waits for the cleaning
// in progress, and the Compact stops at the next partition it reaches after
// the deletion: a topic of the same name made afterwards starts empty,
// untouched by it.
func TestDeleteTopicDuringItsCompact(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2, CleanupPolicy: eventlog.CleanupCompact}))
	for id := range int32(2) {
		appendKeyed(t, partition(t, l, "t", id), 60)
	}
	compacted, resume := pauseCompact(t, l, "t")
	deleted := make(chan error)
	go func() { deleted <- l.DeleteTopic(ctx, "t") }()
	close(resume)
	require.NoError(t, <-deleted)
	// The Compact finished the partitions it reached before the deletion.
	if err := <-compacted; err != nil {
		assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	}

	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2, CleanupPolicy: eventlog.CleanupCompact}))
	for id := range int32(2) {
		p := partition(t, l, "t", id)
		assert.Empty(t, readAll(t, p, 0))
		_, err := p.Append(ctx, []eventlog.Record{rec("k", "new")}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(ctx, "t"))
}

// An administration call given an ended ctx says which topic it was for,
// and changes nothing.
func TestAdminCallsWithEndedContextNameTheirTopic(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 3, eventlog.AppendOptions{})
	ended, cancel := context.WithCancel(ctx)
	cancel()
	_, deleteRecordsErr := l.DeleteRecords(ended, "t", 0, 2)
	for name, err := range map[string]error{
		"DeleteTopic":      l.DeleteTopic(ended, "t"),
		"CreatePartitions": l.CreatePartitions(ended, "t", 2),
		"AlterTopicConfig": l.AlterTopicConfig(ended, "t", eventlog.TopicConfig{Retention: time.Hour}),
		"DeleteRecords":    deleteRecordsErr,
	} {
		assert.ErrorIs(t, err, context.Canceled, name)
		assert.ErrorContains(t, err, `topic "t"`, name)
	}
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 1}, cfg)
	assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 3)
}

// appendKeyed appends n records, one a batch, with keys k0, k1, k2 in turn
// and values v0, v1, ...: several segments of 1 KiB for a cleaning.
func appendKeyed(t *testing.T, p *eventlog.Partition, n int) {
	t.Helper()
	for i := range n {
		_, err := p.Append(ctx, []eventlog.Record{rec(fmt.Sprintf("k%d", i%3), fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
}

// pauseCompact starts a Compact of topic and returns once its cleaning is
// paused, holding the partition's cleaning lock, with the channel its
// result comes on and the one to close to let it go on.
func pauseCompact(t *testing.T, l *eventlog.Log, topic string) (compacted <-chan error, resume chan struct{}) {
	t.Helper()
	reached, resume := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	eventlog.SetCleanerFailpoint(l, func(string) error {
		if once.CompareAndSwap(false, true) {
			close(reached)
			<-resume
		}
		return nil
	})
	result := make(chan error)
	go func() { result <- l.Compact(ctx, topic) }()
	<-reached
	return result, resume
}
