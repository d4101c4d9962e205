package eventlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Every replay API reads committed: the records of an aborted transaction
// and of one still open never appear, nor do markers, and the replay ends
// at the open transaction's first record without waiting for it.
func TestReplayOfTransactionalTopicReadsCommitted(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS}))
	plain, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer plain.Close()
	put := func(p *eventlog.Producer, part int32, key, value string) {
		t.Helper()
		r := eventlog.Record{Topic: "t", Partition: part, Key: []byte(key)}
		if value != "" {
			r.Value = []byte(value)
		}
		_, err := p.Send(ctx, r)
		require.NoError(t, err)
	}
	put(plain, 0, "a", "a0")
	put(plain, 1, "b", "b0")

	aborted := txnProducer(t, l, "aborted")
	require.NoError(t, aborted.BeginTransaction())
	put(aborted, 0, "a", "a-aborted")
	put(aborted, 1, "b", "") // a tombstone that never was
	put(aborted, 0, "x", "x-aborted")
	require.NoError(t, aborted.AbortTransaction(ctx))

	committed := txnProducer(t, l, "committed")
	require.NoError(t, committed.BeginTransaction())
	put(committed, 0, "a", "a1")
	put(committed, 1, "c", "c1")
	require.NoError(t, committed.CommitTransaction(ctx))

	open := txnProducer(t, l, "open")
	require.NoError(t, open.BeginTransaction())
	put(open, 0, "a", "a-open")
	put(open, 1, "d", "d-open")
	put(plain, 0, "e", "e-after-open") // past the last stable offset
	for id := range int32(2) {
		p := partition(t, l, "t", id)
		require.NoError(t, p.Wait(ctx, p.LogEndOffset()-1))
		require.Less(t, p.LastStableOffset(), p.HighWatermark())
	}

	var replayed []string
	require.NoError(t, l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
		replayed = append(replayed, fmt.Sprintf("%d:%s=%s", v.Partition, v.Key, v.Value))
		return nil
	}))
	assert.Equal(t, []string{"0:a=a0", "0:a=a1", "1:b=b0", "1:c=c1"}, replayed, "Replay")

	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"a": []byte("a1"), "b": []byte("b0"), "c": []byte("c1")}, latest, "ReplayLatest")

	c, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(tpPart("t", 0), tpPart("t", 1)))
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard: the loop must not wait
	defer cancel()
	var viewed []string
	for v, err := range c.ViewsToEnd(wctx) {
		require.NoError(t, err)
		viewed = append(viewed, fmt.Sprintf("%d:%s=%s", v.Partition, v.Key, v.Value))
	}
	assert.ElementsMatch(t, replayed, viewed, "ViewsToEnd")
	for id := range int32(2) {
		pos, err := c.Position(tpPart("t", id))
		require.NoError(t, err)
		assert.Equal(t, partition(t, l, "t", id).LastStableOffset(), pos, "partition %d: the position stops at the last stable offset", id)
	}

	require.NoError(t, open.CommitTransaction(ctx))
	latest, err = l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"a": []byte("a-open"), "b": []byte("b0"), "c": []byte("c1"), "d": []byte("d-open"), "e": []byte("e-after-open")}, latest, "after the commit")
}

func tpPart(topic string, id int32) eventlog.TopicPartition {
	return eventlog.TopicPartition{Topic: topic, Partition: id}
}

// ViewsToEnd and ReadToEnd end at the ends as of the start of the loop,
// however many records keep arriving, the default FetchMaxWait (a wait)
// notwithstanding, and leave positions at those ends.
func TestViewsToEndEndsWhileRecordsArrive(t *testing.T) {
	l := consumerLog(t, 2, nil)
	produce(t, l, 0, 5, "a")
	produce(t, l, 1, 5, "b")
	for _, cloned := range []bool{false, true} {
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0), tpart(1))
		require.NoError(t, c.SeekToBeginning())
		ends := []int64{partition(t, l, "t", 0).HighWatermark(), partition(t, l, "t", 1).HighWatermark()}
		wctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard: the loop must end by itself
		n := 0
		body := func(part int32, off int64) {
			n++
			assert.Less(t, off, ends[part], "a record appended after the loop began")
			produce(t, l, part, 2, "late") // more arrive with each record read
		}
		if cloned {
			for r, err := range c.ReadToEnd(wctx) {
				require.NoError(t, err)
				body(r.Partition, r.Offset)
			}
		} else {
			for v, err := range c.ViewsToEnd(wctx) {
				require.NoError(t, err)
				body(v.Partition, v.Offset)
			}
		}
		cancel()
		assert.Equal(t, int(ends[0]+ends[1]), n)
		for id := range int32(2) {
			pos, err := c.Position(tpart(id))
			require.NoError(t, err)
			assert.Equal(t, ends[id], pos, "partition %d: the position at its end as of the start", id)
		}
	}
}

// A ViewsToEnd loop whose position DeleteRecords (or retention) overtakes
// between two of its chunks resets it as AutoOffsetReset says, as a Kafka
// consumer does at OFFSET_OUT_OF_RANGE: with the default, to the end,
// which ends the loop with the records from the new log start unread;
// with OffsetResetEarliest, to the log start, reading them.
func TestViewsToEndOvertakenResetsAsAutoOffsetResetSays(t *testing.T) {
	for reset, want := range map[eventlog.OffsetReset]int{eventlog.OffsetResetLatest: 5, eventlog.OffsetResetEarliest: 5 + 80} {
		l := replayLog(t, 1, 20, eventlog.TopicConfig{})
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 5, AutoOffsetReset: reset}, tpart(0))
		require.NoError(t, c.SeekToBeginning())
		n := 0
		for _, err := range c.ViewsToEnd(ctx) {
			require.NoError(t, err)
			if n++; n == 1 {
				_, err := l.DeleteRecords(ctx, "t", 0, 120)
				require.NoError(t, err)
			}
		}
		assert.Equal(t, want, n, "%v: records read", reset)
		pos, err := c.Position(tpart(0))
		require.NoError(t, err)
		assert.Equal(t, int64(200), pos, "%v", reset)
	}
}
