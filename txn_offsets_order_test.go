package eventlog_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// orderSteps are the steps of a TestTransactionalOffsetsOrder case: a
// transaction of producer p that commits offsets of in-0 for group g,
// and what else happens to those offsets meanwhile.
type orderSteps struct {
	t *testing.T
	l *eventlog.Log
	p *eventlog.Producer
}

// send adds offset o of in-0 to the transaction.
func (s orderSteps) send(o int64) {
	s.t.Helper()
	require.NoError(s.t, s.p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("in", 0): {Offset: o}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
}

// commit commits offset o of in-0 outside the transaction, from outside
// the group.
func (s orderSteps) commit(o int64) {
	s.t.Helper()
	require.NoError(s.t, s.l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("in", 0): {Offset: o}}))
}

// deleteGroup deletes group g.
func (s orderSteps) deleteGroup() {
	s.t.Helper()
	require.NoError(s.t, s.l.DeleteGroup(ctx, "g"))
}

// TestTransactionalOffsetsOrder: a transaction's offset commit is ordered
// against the group's other commits of the partition by the offset of its
// own record in __consumer_offsets, not by its marker's, as Kafka's group
// coordinator orders them: a commit written after it, while the
// transaction is open, stays the committed offset when the transaction
// commits. That is what the log cleaner keeps too, so the committed
// offset is the same in memory, in a read-only Log, after a reopen, and
// after compacting __consumer_offsets and reopening.
func TestTransactionalOffsetsOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(s orderSteps)
		abort bool
		want  int64 // -1: none
	}{
		{"a commit while the transaction is open wins", func(s orderSteps) { s.send(4); s.commit(6) },
			false, 6},
		{"a consumer's commit while the transaction is open wins", func(s orderSteps) {
			s.send(4)
			commitFor(s.t, s.l, "g", map[eventlog.TopicPartition]int64{tp("in", 0): 6})
		}, false, 6},
		{"a commit before the transaction's loses", func(s orderSteps) { s.commit(6); s.send(4) },
			false, 4},
		{"offsets sent again after a commit win", func(s orderSteps) { s.send(3); s.commit(6); s.send(5) },
			false, 5},
		{"an abort keeps a commit made while it was open", func(s orderSteps) { s.send(4); s.commit(6) },
			true, 6},
		{"an abort keeps a commit made before", func(s orderSteps) { s.commit(2); s.send(4) },
			true, 2},
		{"DeleteGroup drops the transaction's offsets", func(s orderSteps) { s.commit(2); s.send(4); s.deleteGroup() },
			false, -1},
		{"a commit after DeleteGroup wins", func(s orderSteps) { s.commit(2); s.send(4); s.deleteGroup(); s.commit(6) },
			false, 6},
		{"DeleteGroup after a commit deletes both", func(s orderSteps) { s.send(4); s.commit(6); s.deleteGroup() },
			false, -1},
		{"DeleteTopic after a commit deletes both", func(s orderSteps) {
			s.send(4)
			s.commit(6)
			require.NoError(s.t, s.l.DeleteTopic(ctx, "in"))
			require.NoError(s.t, s.l.CreateTopic("in", eventlog.TopicConfig{}))
			fill(s.t, s.l, "in", 1, 10)
		}, false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := newFakeClock()
			opts := &eventlog.Options{Now: clk.Now, SegmentAge: time.Hour}
			l, err := eventlog.Open(dir, opts)
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("in", eventlog.TopicConfig{}))
			fill(t, l, "in", 1, 10)
			p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
			require.NoError(t, err)
			require.NoError(t, p.BeginTransaction())
			tc.steps(orderSteps{t, l, p})
			r := openReadOnly(t, dir) // replays the open transaction, and again at Refresh
			if tc.abort {
				require.NoError(t, p.AbortTransaction(ctx))
			} else {
				require.NoError(t, p.CommitTransaction(ctx))
			}
			require.NoError(t, p.Close())
			assert.Equal(t, tc.want, committedOffset(t, l, tp("in", 0)), "in memory")
			require.NoError(t, r.Refresh())
			assert.Equal(t, tc.want, committedOffset(t, r, tp("in", 0)), "read-only, refreshed")

			require.NoError(t, l.Close())
			l, err = eventlog.Open(dir, opts)
			require.NoError(t, err)
			assert.Equal(t, tc.want, committedOffset(t, l, tp("in", 0)), "after reopening")

			clk.Advance(2 * time.Hour)
			commitFor(t, l, "h", map[eventlog.TopicPartition]int64{tp("in", 0): 0}) // rolls the segment
			require.NoError(t, l.Compact(ctx, "__consumer_offsets"))
			assert.LessOrEqual(t, offsetRecords(t, l, "g", tp("in", 0)), 1, "compaction kept the last record of the offset")
			require.NoError(t, l.Close())
			l, err = eventlog.Open(dir, opts)
			require.NoError(t, err)
			defer l.Close()
			assert.Equal(t, tc.want, committedOffset(t, l, tp("in", 0)), "after compacting and reopening")
		})
	}
}

// offsetRecords counts the records of group's offset of tp in
// __consumer_offsets, tombstones included.
func offsetRecords(t *testing.T, l *eventlog.Log, group string, of eventlog.TopicPartition) int {
	t.Helper()
	// The key without its version: group, topic and partition, each
	// string after its int16 length.
	id := append([]byte{0, byte(len(group))}, group...)
	id = append(append(id, 0, byte(len(of.Topic))), of.Topic...)
	id = append(id, 0, 0, 0, byte(of.Partition))
	n := 0
	for _, r := range readAll(t, partition(t, l, "__consumer_offsets", 0), 0) {
		if len(r.Key) > 2 && bytes.Equal(r.Key[2:], id) {
			n++
		}
	}
	return n
}

// TestTransactionalOffsetsOrderAtOpen: a transaction whose marker
// __consumer_offsets refused gets it at the next Open, which completes the
// commits the replay found pending; those are ordered by their records
// too, behind a commit written after them.
func TestTransactionalOffsetsOrderAtOpen(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := completeLog(t, fsys)
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{completeIn: {Offset: 4}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
	require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{completeIn: {Offset: 5}}))
	fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool {
		return op == eventlog.OpWrite && strings.Contains(name, "/__consumer_offsets/") && strings.HasSuffix(name, ".log")
	}))
	err = p.CommitTransaction(ctx)
	fsys.SetFault(nil)
	require.ErrorIs(t, err, eventlog.ErrTransactionIncomplete)
	assert.Equal(t, int64(5), committedOffset(t, l, completeIn), "the transaction's offsets wait for their marker")
	require.NoError(t, p.Close())
	require.Error(t, l.Close(), "__consumer_offsets failed")

	l = completeLog(t, fsys)
	assert.Zero(t, partition(t, l, "__consumer_offsets", 0).HighWatermark()-partition(t, l, "__consumer_offsets", 0).LastStableOffset(),
		"Open wrote the marker")
	assert.Equal(t, int64(5), committedOffset(t, l, completeIn), "completed at Open")
	require.NoError(t, l.Close())
	l = completeLog(t, fsys)
	defer l.Close()
	assert.Equal(t, int64(5), committedOffset(t, l, completeIn), "replayed with its marker")
}
