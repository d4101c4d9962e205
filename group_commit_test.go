package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// Commits of positions: what a position that cannot be committed does to
// the others.

// A Seek past the high watermark leaves a position that is not committed
// (a committed offset lies within [0, high watermark]); the other
// partitions' positions are, by CommitSync, CommitAsync and the automatic
// commit at Close, and the error names the partition left out.
func TestCommitPositionPastHighWatermark(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2})
	fill(t, l, "t", 2, 5)
	committed := func() map[int32]int64 {
		offsets, err := l.GroupOffsets("g")
		require.NoError(t, err)
		out := map[int32]int64{}
		for _, o := range offsets {
			out[o.Partition] = o.Committed
		}
		return out
	}
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.Subscribe("t"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
	require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 1}, tp("t", 1): {Offset: 1}}))

	require.NoError(t, c.Seek(tp("t", 0), 3))
	require.NoError(t, c.Seek(tp("t", 1), 1000))
	err := c.CommitSync(ctx)
	require.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	assert.ErrorContains(t, err, "t-1")
	assert.NotContains(t, err.Error(), "t-0")
	assert.Equal(t, map[int32]int64{0: 3, 1: 1}, committed(), "the other partition's commit failed with it")

	require.NoError(t, c.Seek(tp("t", 0), 4))
	done := make(chan error, 1)
	c.CommitAsync(nil, func(offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
		assert.Equal(t, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 4}}, offsets)
		done <- err
	})
	assert.ErrorIs(t, c.CommitSync(ctx), eventlog.ErrOffsetOutOfRange, "runs the callback, and fails again for t-1")
	require.ErrorIs(t, <-done, eventlog.ErrOffsetOutOfRange)
	assert.Equal(t, map[int32]int64{0: 4, 1: 1}, committed())

	require.NoError(t, c.Seek(tp("t", 0), 5))
	require.NoError(t, c.Close())
	assert.Equal(t, map[int32]int64{0: 5, 1: 1}, committed(), "the automatic commit at Close")
}

// Commits after Log.Close fail with ErrClosed, as every call on a handle
// of a closed Log does, even with nothing to commit. Before, a commit of
// no offsets returned nil.
func TestCommitOfNothingAfterLogClose(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{})
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.FetchMaxWait = -1 })
	require.NoError(t, c.CommitOffsets(ctx, nil), "creates the group's coordinator")
	require.NoError(t, c.CommitSync(ctx))
	require.NoError(t, l.Close())
	assert.ErrorIs(t, c.CommitOffsets(ctx, nil), eventlog.ErrClosed, "CommitOffsets")
	assert.ErrorIs(t, c.CommitSync(ctx), eventlog.ErrClosed, "CommitSync")
	var asyncErr error
	c.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) { asyncErr = err })
	assert.ErrorIs(t, asyncErr, eventlog.ErrClosed, "CommitAsync")
}

// appendToIn0 appends n records to partition 0 of topic "in".
func appendToIn0(t *testing.T, l *eventlog.Log, n int) {
	t.Helper()
	for range n {
		_, err := partition(t, l, "in", 0).Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
}

// in0Poller polls a group member and keeps the offsets of partition 0 it
// polled.
type in0Poller struct {
	t   *testing.T
	c   *eventlog.Consumer
	got []int64
}

func (p *in0Poller) poll() {
	p.t.Helper()
	recs, err := p.c.Poll(ctx)
	require.NoError(p.t, err)
	for _, r := range recs {
		if r.Partition == 0 {
			p.got = append(p.got, r.Offset)
		}
	}
}

// pollUntil polls, at most 100 times, until the last offset polled is
// offset.
func (p *in0Poller) pollUntil(offset int64) {
	p.t.Helper()
	for range 100 {
		if len(p.got) > 0 && p.got[len(p.got)-1] == offset {
			return
		}
		p.poll()
	}
}

// A commit from outside the group — CommitGroupOffsets, the commit of a
// consumer that assigns partitions by hand, offsets sent to a transaction
// with generation -1 — is accepted only while the group has no members.
// A member that joins while one is being written is not granted its
// partitions until it is: it starts from the offset committed, rather than
// from the one before, and reads again nothing the committer consumed.
// Before, it was granted them at once, and read from the old offset.
func TestOutsideCommitInFlightHoldsItsPartitions(t *testing.T) {
	in := eventlog.TopicPartition{Topic: "in", Partition: 0}
	commit10 := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 10}}
	for name, commit := range map[string]func(*testing.T, *eventlog.Log, func()){
		"CommitGroupOffsets": func(t *testing.T, l *eventlog.Log, meanwhile func()) {
			eventlog.SetCommitCheckedHook(l, meanwhile)
			require.NoError(t, l.CommitGroupOffsets(ctx, "g", commit10))
		},
		"hand-assigned consumer": func(t *testing.T, l *eventlog.Log, meanwhile func()) {
			c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
			require.NoError(t, c.Assign(in))
			eventlog.SetCommitCheckedHook(l, meanwhile)
			require.NoError(t, c.CommitOffsets(ctx, commit10))
		},
		"transaction": func(t *testing.T, l *eventlog.Log, meanwhile func()) {
			p := txnProducer(t, l, "tx")
			require.NoError(t, p.BeginTransaction())
			eventlog.SetTxnOffsetsCheckedHook(l, meanwhile)
			require.NoError(t, p.SendOffsetsToTransaction(ctx, commit10, eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
			require.NoError(t, p.CommitTransaction(ctx))
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := txnLog(t, t.TempDir(), nil)
			appendToIn0(t, l, 10)
			require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in: {Offset: 5}}))
			b := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit, o.FetchMaxWait = true, -1 })
			polled := &in0Poller{t: t, c: b}
			commit(t, l, func() {
				eventlog.SetCommitCheckedHook(l, nil)
				eventlog.SetTxnOffsetsCheckedHook(l, nil)
				require.NoError(t, b.Subscribe("in")) // b joins
				for range 10 {
					polled.poll()
				}
			})
			appendToIn0(t, l, 1)
			polled.pollUntil(10)
			assert.Equal(t, []int64{10}, polled.got, "offsets of %v the new member polled: it starts where the commit left it", in)
		})
	}
}
