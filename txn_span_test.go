package eventlog_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestTransactionSpanningTopicsChanging: a transaction over partitions of
// several topics, one of which is deleted while it is open, and a
// partition created while it is open and sent to. Committed, it is read
// whole, in the partition created too; left open by a crash, the next
// Open aborts it everywhere. Either way no partition's last stable offset
// is held back, before or after a reopen.
func TestTransactionSpanningTopicsChanging(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			dir := t.TempDir()
			l, err := eventlog.Open(dir, nil)
			require.NoError(t, err)
			topics := []string{"t0", "t1", "t2", "doomed"}
			for _, name := range topics {
				require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 3}))
			}
			p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
			require.NoError(t, err)
			require.NoError(t, p.BeginTransaction())
			for _, name := range topics {
				for part := range int32(3) {
					send(t, p, name, part, fmt.Sprint(name, "-", part))
				}
			}
			require.NoError(t, l.DeleteTopic(ctx, "doomed"))
			require.NoError(t, l.CreatePartitions(ctx, "t1", 4))
			send(t, p, "t1", 3, "t1-3")
			send(t, p, "t2", 0, "t2-0b")

			want := map[string][]string{"t0": {"t0-0", "t0-1", "t0-2"}, "t1": {"t1-0", "t1-1", "t1-2", "t1-3"}, "t2": {"t2-0", "t2-0b", "t2-1", "t2-2"}}
			if crash {
				require.NoError(t, eventlog.Abandon(l))
				_ = p.Close()
				want = map[string][]string{"t0": nil, "t1": nil, "t2": nil}
			} else {
				require.NoError(t, p.CommitTransaction(ctx))
				require.NoError(t, p.Close())
				checkSpan(t, l, want)
				require.NoError(t, l.Close())
			}
			l = openLog(t, dir, nil)
			checkSpan(t, l, want)

			next := txnProducer(t, l, "tx")
			require.NoError(t, next.BeginTransaction())
			send(t, next, "t1", 3, "next")
			require.NoError(t, next.CommitTransaction(ctx))
			assert.Contains(t, consume(t, l, eventlog.ReadCommitted, "t1"), "next")
		})
	}
}

func checkSpan(t *testing.T, l *eventlog.Log, want map[string][]string) {
	t.Helper()
	for name, values := range want {
		assert.Equal(t, values, consume(t, l, eventlog.ReadCommitted, name), name)
		cfg, err := l.TopicConfig(name)
		require.NoError(t, err)
		for part := range int32(cfg.Partitions) {
			p := partition(t, l, name, part)
			assert.Equal(t, p.HighWatermark(), p.LastStableOffset(), "%s/%d", name, part)
		}
	}
	_, err := l.TopicConfig("doomed")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
}
