package kafkaserver_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestExpiredGroupOffsets: once the Log expires the committed offsets of
// a group that has had no member for OffsetsRetention (Kafka's
// offsets.retention.minutes), Kafka clients see what a Kafka broker shows
// them: OffsetFetch answers -1, ListGroups omits the dead group, and a
// consumer of the group starts from its reset offset.
func TestExpiredGroupOffsets(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opts := &eventlog.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }}
	open := func() *eventlog.Log {
		l, err := eventlog.Open(dir, opts)
		require.NoError(t, err)
		return l
	}

	l := open()
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2}))
	func() {
		f := serve(t, l, nil)
		ctx := testContext(t)
		prod := f.client(t, kgo.DefaultProduceTopic("events"))
		require.NoError(t, prod.ProduceSync(ctx, testRecords("events", 10)...).FirstErr())
		cons := f.client(t, kgo.ConsumerGroup("old"), kgo.ConsumeTopics("events"), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := consume(t, ctx, cons, 10)
		require.NoError(t, cons.CommitRecords(ctx, got...))
		cons.Close() // leaves the group
		require.NoError(t, f.srv.Close())
	}()
	require.NoError(t, l.Close())

	// A week later the Log's 10-minute check expires the offsets; the
	// bubble's clock runs the check at once.
	now.Add(int64(eventlog.DefaultOffsetsRetention))
	synctest.Test(t, func(t *testing.T) {
		l := open()
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		require.NoError(t, l.Close())
	})

	l = open()
	defer l.Close()
	f := serve(t, l, nil)
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	fetched, err := adm.FetchOffsetsForTopics(ctx, "old", "events")
	require.NoError(t, err)
	require.NoError(t, fetched.Error())
	for p := range int32(2) {
		o, ok := fetched.Lookup("events", p)
		require.True(t, ok, "partition %d", p)
		assert.EqualValues(t, -1, o.At, "partition %d has no committed offset", p)
	}
	groups, err := adm.ListGroups(ctx)
	require.NoError(t, err)
	assert.NotContains(t, groups.Groups(), "old")
	described, err := adm.DescribeGroups(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, "Dead", described["old"].State)

	prod := f.client(t, kgo.DefaultProduceTopic("events"))
	require.NoError(t, prod.ProduceSync(ctx, testRecords("events", 1)...).FirstErr())
	cons := f.client(t, kgo.ConsumerGroup("old"), kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	assert.Len(t, consume(t, ctx, cons, 11), 11, "from the start again, its reset offset")
}
