package eventlog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Consumer groups under injected I/O faults.

// TestAssignmentNotLostWhenPreviousOwnersCommitsCannotBeFlushed: a member
// granted partitions first makes their previous owners' commits durable,
// to start where those left off; when that fails, its Poll fails, and so
// does every Poll after until it succeeds: the member never reads from
// partitions it has not taken up, nor stops taking them up. Before, the
// first Poll failed and the news of the assignment was gone with it: the
// later Polls returned nothing and no error, while the group counted the
// partitions as the member's, so nobody consumed them.
func TestAssignmentNotLostWhenPreviousOwnersCommitsCannotBeFlushed(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	a := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, a.Subscribe("t"))
	pollUntil(t, owning(a, 2), nil, a)

	// What __consumer_offsets holds is durable; from now on it fails its
	// fsyncs: a's asynchronous commit is written, and never durable.
	require.NoError(t, a.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 0}}))
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "__consumer_offsets") {
			return errors.New("injected fsync failure")
		}
		return nil
	})
	a.CommitAsync(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 1}, tp("t", 1): {Offset: 1}}, nil)

	b := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, b.Subscribe("t"))
	var failed error
	for range 10 {
		_, errA := a.Poll(ctx)
		_, errB := b.Poll(ctx)
		failed = errors.Join(failed, errA, errB)
	}
	require.Error(t, failed, "a member was granted a partition, and could not flush the commits before it")
	for _, c := range []*eventlog.Consumer{a, b} {
		_, err := c.Poll(ctx)
		if err == nil {
			assert.NotEmpty(t, c.Assignment(), "a Poll succeeds with nothing assigned, the group having given the member a partition")
		}
	}
}
