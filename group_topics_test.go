package eventlog_test

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Consumer groups while their topics are deleted and created again.

func TestDeleteTopicDeletesCommitsNotYetDurable(t *testing.T) {
	// An asynchronous commit is applied once a background fsync makes it
	// durable. One of a topic that is deleted before then must not come
	// back as the committed offset of the topic created next under the
	// same name: its consumers would skip that topic's first records.
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l, err := eventlog.Open("/data", &eventlog.Options{FS: fsys})
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		fill(t, l, "t", 1, 10)
		a := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
		require.NoError(t, a.Assign(tp("t", 0)))
		recs, err := a.Poll(ctx)
		require.NoError(t, err)
		require.Len(t, recs, 10)
		_, err = a.Committed(ctx) // creates __consumer_offsets
		require.NoError(t, err)

		gate := make(chan struct{})
		fsys.SetFault(func(op eventlog.Op, name string) error {
			if op == eventlog.OpSync && strings.Contains(name, "__consumer_offsets") {
				<-gate
			}
			return nil
		})
		a.CommitAsync(nil, nil)
		deleted := make(chan error, 1)
		go func() { deleted <- l.DeleteTopic(ctx, "t") }()
		synctest.Wait()
		close(gate)
		require.NoError(t, <-deleted)
		fsys.SetFault(nil)
		require.NoError(t, a.Close())

		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
		fill(t, l, "t", 1, 20)
		offsets, err := l.GroupOffsets("g")
		require.NoError(t, err)
		assert.Empty(t, offsets, "the deleted topic's commit is gone")
		b := groupConsumer(t, l, "g", nil)
		require.NoError(t, b.Assign(tp("t", 0)))
		recs, err = b.Poll(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Equal(t, int64(0), recs[0].Offset, "the new topic is read from its start")
	})
}
