package kafkabridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForwardStopsWhenRemoteTopicDeleted deletes the remote topic of a
// running Forward, and appends local records after it: Run must stop
// with an error that names the remote topic, says it was deleted and
// wraps ErrRemoteTopicMissing, as a Forward that finds it missing when it
// starts does, rather than retry for about 20 s and end with the
// cluster's UNKNOWN_TOPIC_OR_PARTITION. The progress stays at what the
// deleted topic acknowledged. With CreateTopics too: a running Forward
// does not re-create the topic behind the deletion (see the package
// documentation); the next Run does, and forwards from the progress.
func TestForwardStopsWhenRemoteTopicDeleted(t *testing.T) {
	for _, create := range []bool{false, true} {
		name := "existing topic"
		if create {
			name = "CreateTopics"
		}
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, 1, "orders")
			l := newLog(t)
			require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
			opts := &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}, CreateTopics: create}
			f, err := kafkabridge.NewForward(l, opts)
			require.NoError(t, err)
			w := watchCommits(f, eventlog.TopicPartition{Topic: "orders"})
			ctx := testContext(t)
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := startRun(runCtx, f.Run)
			produceLocal(t, l, sampleRecords("orders", 5, time.UnixMilli(1_000)))
			w.await(t, ctx, 5, "forwarded before the deletion")

			deleteRemoteTopic(t, c, "orders")
			deletedAt := time.Now()
			after := produceLocal(t, l, sampleRecords("orders", 3, time.UnixMilli(2_000)))
			err = awaitRun(t, ctx, done, "after its remote topic was deleted")
			t.Logf("Run stopped %v after the deletion: %v", time.Since(deletedAt), err)
			assertRemoteTopicDeleted(t, err, "orders")
			assert.Equal(t, int64(5), onlyGroupOffset(t, l, kafkabridge.DefaultForwardGroupID).Committed,
				"the progress stays at what the deleted topic acknowledged")

			if !create {
				return
			}
			f, err = kafkabridge.NewForward(l, opts)
			require.NoError(t, err)
			stop := runBridge(t, f.Run)
			got := consumeRemote(t, c, "orders", 1, len(after))
			require.NoError(t, stop())
			require.Len(t, got[0], len(after), "the re-created topic holds the records after the progress")
			for i, r := range after {
				assertSameRecord(t, r, got[0][i], "record %d", i)
			}
		})
	}
}
