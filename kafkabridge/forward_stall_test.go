package kafkabridge_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stallProduce makes the brokers for which stalled returns true take
// produce requests and never answer them, as brokers that went away do; the
// others answer once release is closed.
func stallProduce(c *kfake.Cluster, stalled func(node int32) bool, release <-chan struct{}) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if stalled(c.CurrentNode()) {
			return nil, nil, true // taken, never answered
		}
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
}

// waitHook returns a channel closed when f first waits for the cluster at
// MaxUncommitted.
func waitHook(f *kafkabridge.Forward) <-chan struct{} {
	waiting := make(chan struct{})
	var once sync.Once
	kafkabridge.SetForwardWaitHook(f, func() { once.Do(func() { close(waiting) }) })
	return waiting
}

// takeProduce makes c take every produce request and never answer it, as a
// cluster that went away does; the channel it returns is closed at the
// first.
func takeProduce(c *kfake.Cluster) <-chan struct{} {
	taken := make(chan struct{})
	var once sync.Once
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		once.Do(func() { close(taken) })
		return nil, nil, true // taken, never answered
	})
	return taken
}

// holdTopicQuestions makes c hold the metadata requests that ask about
// topic until release is closed, or never answer them if release is nil;
// the channel it returns is closed at the first.
func holdTopicQuestions(c *kfake.Cluster, topic string, release <-chan struct{}) <-chan struct{} {
	asked := make(chan struct{})
	var once sync.Once
	c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, rt := range req.(*kmsg.MetadataRequest).Topics {
			if rt.Topic != nil && *rt.Topic == topic {
				once.Do(func() { close(asked) })
				if release == nil {
					return nil, nil, true // taken, never answered
				}
				c.SleepControl(func() { <-release })
				break
			}
		}
		return nil, nil, false
	})
	return asked
}

// stalledOrdersForward returns a cluster and a Log with a one-partition
// topic "orders" holding maxUncommitted records, and a Forward between them
// allowed maxUncommitted records out. It has the default ShutdownTimeout,
// 30s: with the Log closed, nothing acknowledged could be committed, and
// Run must not wait for it.
func stalledOrdersForward(t *testing.T, maxUncommitted int) (*kfake.Cluster, *eventlog.Log, *kafkabridge.Forward) {
	t.Helper()
	c := newCluster(t, 1, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	produceLocal(t, l, sampleRecords("orders", maxUncommitted, time.UnixMilli(1_000)))
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:        c.ListenAddrs(),
		Topics:         []string{"orders"},
		MaxUncommitted: maxUncommitted,
		CommitInterval: 10 * time.Millisecond,
	})
	require.NoError(t, err)
	return c, l, f
}

// runEndsWithin waits at most d for Run to return and returns its error;
// after says since what it should, as "after its Log closed".
func runEndsWithin(t *testing.T, done <-chan error, d time.Duration, after string) error {
	t.Helper()
	bound := time.NewTimer(d)
	defer bound.Stop()
	select {
	case err := <-done:
		return err
	case <-bound.C:
		t.Fatalf("Run still runs %v %s", d, after)
		return nil
	}
}

// TestForwardNoticesLogClosedWhileClusterStalls fills a Forward's
// MaxUncommitted with records that a cluster which stopped answering never
// acknowledges, then closes the Log: Run must end with ErrClosed rather
// than wait for its context, since nothing can be committed any more.
func TestForwardNoticesLogClosedWhileClusterStalls(t *testing.T) {
	c, l, f := stalledOrdersForward(t, 8)
	stallProduce(c, func(int32) bool { return true }, nil)
	sent := waitHook(f)
	ctx := testContext(t)
	done := startRun(ctx, f.Run)
	awaitWhileRunning(t, ctx, sent, done, "sending its records")
	// The Forward has MaxUncommitted records out and waits for the cluster.
	require.NoError(t, l.Close())
	err := runEndsWithin(t, done, 10*time.Second, "for a stalled cluster after its Log closed")
	require.ErrorIs(t, err, eventlog.ErrClosed)
}

// TestForwardCommitsAckedRecordsWhileOthersStall sends MaxUncommitted
// records, one to a partition whose broker answers and the others to a
// partition whose broker does not: the acknowledged record must be
// committed within CommitInterval, as ForwardOptions.CommitInterval says,
// rather than wait for the stalled partition's acknowledgements.
func TestForwardCommitsAckedRecordsWhileOthersStall(t *testing.T) {
	const maxUncommitted = 8 // a read takes 2 records: one acknowledged is not a read's worth
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(2, "orders"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, c.MoveTopicPartition("orders", 0, 0))
	require.NoError(t, c.MoveTopicPartition("orders", 1, 1))
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
	ctx := testContext(t)
	p0, err := l.Partition("orders", 0)
	require.NoError(t, err)
	p1, err := l.Partition("orders", 1)
	require.NoError(t, err)
	_, err = p1.Append(ctx, make([]eventlog.Record, maxUncommitted-1), eventlog.AppendOptions{})
	require.NoError(t, err)
	// The last record MaxUncommitted allows, to the broker that answers,
	// once the Forward waits.
	_, err = p0.Append(ctx, []eventlog.Record{{Value: []byte("answered")}}, eventlog.AppendOptions{})
	require.NoError(t, err)

	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:         c.ListenAddrs(),
		Topics:          []string{"orders"},
		MaxUncommitted:  maxUncommitted,
		CommitInterval:  3 * time.Second, // longer than it takes to get there
		ShutdownTimeout: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	stallProduce(c, func(node int32) bool { return node == 1 }, waitHook(f))
	committed := make(chan int64, 16)
	kafkabridge.SetForwardCommitHook(f, func(offsets map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		if o, ok := offsets[eventlog.TopicPartition{Topic: "orders", Partition: 0}]; ok {
			committed <- o.Offset
		}
	})
	stop := runBridge(t, f.Run)
	bound := time.NewTimer(30 * time.Second) // ten CommitIntervals
	defer bound.Stop()
	select {
	case off := <-committed:
		assert.Equal(t, int64(1), off)
	case <-bound.C:
		t.Fatal("the acknowledged record of partition 0 was not committed in 10 CommitIntervals")
	}
	_ = stop() // partition 1's records are never acknowledged: shutdown times out
}

// TestForwardStopsWhileCheckingTopics cancels a Forward's context while it
// asks a cluster that does not answer about the remote topics of the
// partitions it was just given: Run must return promptly, and nil, as
// after any shutdown that its context started, not once ShutdownTimeout
// (30s by default) ends the question.
func TestForwardStopsWhileCheckingTopics(t *testing.T) {
	c := newCluster(t, 1, "orders")
	asked := holdTopicQuestions(c, "orders", nil)
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 1}))
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := startRun(ctx, f.Run)
	awaitWhileRunning(t, ctx, asked, done, "checking the remote topic")
	cancel()
	require.NoError(t, runEndsWithin(t, done, 10*time.Second, "checking the remote topics after its context ended"))
}

// TestForwardShutdownDuringRebalanceWaitsOnce cancels a Forward's context
// while a rebalance waits for a cluster that does not answer: Run waits
// for the cluster at most ShutdownTimeout once its context ended, as
// ForwardOptions.ShutdownTimeout says, not the rebalance's ShutdownTimeout
// and then its shutdown's.
func TestForwardShutdownDuringRebalanceWaitsOnce(t *testing.T) {
	const shutdownTimeout = 3 * time.Second
	c := newCluster(t, 2, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
	produceLocal(t, l, sampleRecords("orders", 10, time.UnixMilli(1_000)))
	sent := takeProduce(c)
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:         c.ListenAddrs(),
		Topics:          []string{"orders"},
		ShutdownTimeout: shutdownTimeout,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	var cancelled time.Time
	var revokeOnce sync.Once
	kafkabridge.SetForwardRevokeHook(f, func() {
		revokeOnce.Do(func() {
			cancelled = time.Now()
			cancel()
		})
	})
	done := startRun(ctx, f.Run)
	<-sent

	// A second member of the group takes partitions away from the Forward.
	other, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: kafkabridge.DefaultForwardGroupID})
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Subscribe("orders"))
	pollCtx, stopPoll := context.WithCancel(testContext(t))
	polled := make(chan struct{})
	defer func() { stopPoll(); <-polled }() // before other.Close
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			_, _ = other.Poll(pollCtx)
		}
	}()

	err = <-done
	waited := time.Since(cancelled)
	require.Error(t, err, "the cluster acknowledged nothing")
	assert.Less(t, waited, shutdownTimeout+shutdownTimeout*2/3, "Run waited %v after its context ended", waited)
}

// TestForwardNoticesLogClosedWhileAskingAboutTopics holds the question a
// Forward asks the cluster about its remote topics when the cluster has
// not answered its records for a second, and closes the Log meanwhile: Run
// must still end with ErrClosed, neither held up by the question nor
// leaving it out when it returns.
func TestForwardNoticesLogClosedWhileAskingAboutTopics(t *testing.T) {
	c, l, f := stalledOrdersForward(t, 8)
	// Produce requests are taken and never answered; the first tells that
	// the Kafka client loaded the topic, so that the next question about
	// it is the Forward's.
	produced := takeProduce(c)
	ctx := testContext(t)
	done := startRun(ctx, f.Run)
	awaitWhileRunning(t, ctx, produced, done, "sending its records")
	release := make(chan struct{})
	defer close(release)
	asked := holdTopicQuestions(c, "orders", release)
	awaitWhileRunning(t, ctx, asked, done, "asking about its remote topic")
	require.NoError(t, l.Close())
	err := runEndsWithin(t, done, 10*time.Second, "after its Log closed")
	require.ErrorIs(t, err, eventlog.ErrClosed)
	assert.Empty(t, bridgeGoroutines(), "goroutines left by Run")
}
