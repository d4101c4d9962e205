package kafkabridge_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testTimeout bounds every wait of a test, so that a bug fails it rather
// than hanging the suite.
const testTimeout = 60 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newCluster starts a kfake cluster holding the given topics, closed when
// the test ends.
func newCluster(t testing.TB, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// newClient returns a kgo client of the cluster, closed when the test ends.
func newClient(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// runBridge runs fn (a Forward's or Mirror's Run) on a goroutine and
// returns a function that stops it and returns its result.
func runBridge(t testing.TB, run func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stopped := false
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// consumeRemote reads topic from the start of each partition until it has
// n records in all, and returns them per partition, in offset order.
func consumeRemote(t testing.TB, c *kfake.Cluster, topic string, partitions int32, n int) map[int32][]*kgo.Record {
	t.Helper()
	starts := make(map[int32]kgo.Offset)
	for p := range partitions {
		starts[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))
	defer cl.Close()
	ctx := testContext(t)
	got := make(map[int32][]*kgo.Record)
	total := 0
	for total < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records of remote topic %q", total, n, topic)
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			total++
		})
	}
	return got
}

// remoteEnds returns the end offset (high watermark) of each partition of
// topic, as Kafka's ListOffsets reports it.
func remoteEnds(t testing.TB, c *kfake.Cluster, topic string, partitions int32) map[int32]int64 {
	t.Helper()
	cl := newClient(t, c)
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), cl)
	require.NoError(t, err)
	ends := make(map[int32]int64)
	for _, t2 := range resp.Topics {
		for _, p := range t2.Partitions {
			require.NoError(t, kerr.ErrorForCode(p.ErrorCode))
			ends[p.Partition] = p.Offset
		}
	}
	return ends
}

// sampleRecords makes n records that exercise what a bridge must carry:
// keys and values that are null or empty, headers with null and empty
// values, and distinct millisecond timestamps.
func sampleRecords(topic string, n int, base time.Time) []eventlog.Record {
	recs := make([]eventlog.Record, n)
	for i := range recs {
		r := eventlog.Record{
			Topic:     topic,
			Key:       []byte(fmt.Sprintf("key-%d", i%17)),
			Value:     []byte(fmt.Sprintf("value-%d", i)),
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
		switch i % 10 {
		case 3:
			r.Key = nil // keyless
		case 4:
			r.Key = []byte{} // empty key
		case 5:
			r.Value = nil // tombstone
		case 6:
			r.Value = []byte{}
		case 7:
			r.Headers = []eventlog.Header{{Key: "trace", Value: []byte(fmt.Sprint(i))}, {Key: "null", Value: nil}, {Key: "empty", Value: []byte{}}}
		}
		recs[i] = r
	}
	return recs
}

// produceLocal sends recs through a Producer of l with Kafka's default
// partitioning, and returns them as stored (partition and offset set).
func produceLocal(t testing.TB, l *eventlog.Log, recs []eventlog.Record) []eventlog.Record {
	t.Helper()
	p, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer p.Close()
	ctx := testContext(t)
	out := make([]eventlog.Record, len(recs))
	for i, r := range recs {
		md, err := p.Send(ctx, r)
		require.NoError(t, err)
		r.Partition, r.Offset = md.Partition, md.Offset
		out[i] = r
	}
	return out
}

// byPartition groups records by partition, keeping their order.
func byPartition(recs []eventlog.Record) map[int32][]eventlog.Record {
	m := make(map[int32][]eventlog.Record)
	for _, r := range recs {
		m[r.Partition] = append(m[r.Partition], r)
	}
	return m
}

// assertSameRecord checks that a remote record carries a local one.
func assertSameRecord(t testing.TB, want eventlog.Record, got *kgo.Record, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, want.Key == nil, got.Key == nil, msgAndArgs...)
	assert.Equal(t, string(want.Key), string(got.Key), msgAndArgs...)
	assert.Equal(t, want.Value == nil, got.Value == nil, msgAndArgs...)
	assert.Equal(t, string(want.Value), string(got.Value), msgAndArgs...)
	assert.Equal(t, want.Timestamp.UnixMilli(), got.Timestamp.UnixMilli(), msgAndArgs...)
	require.Len(t, got.Headers, len(want.Headers), msgAndArgs...)
	for i, h := range want.Headers {
		assert.Equal(t, h.Key, got.Headers[i].Key, msgAndArgs...)
		assert.Equal(t, h.Value == nil, got.Headers[i].Value == nil, msgAndArgs...)
		assert.Equal(t, string(h.Value), string(got.Headers[i].Value), msgAndArgs...)
	}
}

// newLog opens a throwaway Log.
func newLog(t testing.TB) *eventlog.Log {
	return eventlogtest.New(t, nil)
}

// bridgeGoroutines lists the goroutines waiting in code of the Kafka
// client or of this package.
func bridgeGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// Goroutines on their way out (runnable: the client's closing
		// context fired them) are not leaks; a leaked one waits forever.
		header, _, _ := strings.Cut(g, "\n")
		waiting := false
		for _, state := range []string{"[select", "[chan ", "[IO wait", "[sync.Cond.Wait", "[sleep"} {
			waiting = waiting || strings.Contains(header, state)
		}
		if waiting && (strings.Contains(g, "franz-go/pkg/kgo.") || strings.Contains(g, "eventlog/kafkabridge.(*")) {
			out = append(out, g)
		}
	}
	return out
}

// produceRemote sends recs to topic with kgo's default partitioner (Kafka's)
// and returns them with the partition and offset the cluster gave them.
func produceRemote(t testing.TB, c *kfake.Cluster, topic string, recs []eventlog.Record) []eventlog.Record {
	t.Helper()
	cl := newClient(t, c, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			krs[i].Headers = append(krs[i].Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	require.NoError(t, cl.ProduceSync(testContext(t), krs...).FirstErr())
	out := make([]eventlog.Record, len(recs))
	for i, r := range recs {
		r.Topic, r.Partition, r.Offset = topic, krs[i].Partition, krs[i].Offset
		out[i] = r
	}
	return out
}

// readLocal waits until every partition of topic holds the records counts
// asks for, and returns all records below the high watermarks.
func readLocal(t testing.TB, l *eventlog.Log, topic string, counts map[int32]int) map[int32][]eventlog.Record {
	t.Helper()
	ctx := testContext(t)
	got := make(map[int32][]eventlog.Record)
	for p, n := range counts {
		part, err := l.Partition(topic, p)
		require.NoError(t, err)
		for part.HighWatermark()-part.LogStartOffset() < int64(n) {
			require.NoError(t, part.Wait(ctx, part.HighWatermark()), "local %s/%d", topic, p)
		}
		for off := part.LogStartOffset(); off < part.HighWatermark(); {
			recs, err := part.Read(off, 1<<20)
			require.NoError(t, err)
			got[p] = append(got[p], recs...)
			off = recs[len(recs)-1].Offset + 1
		}
	}
	return got
}

// countByPartition counts records per partition.
func countByPartition(recs []eventlog.Record) map[int32]int {
	m := make(map[int32]int)
	for _, r := range recs {
		m[r.Partition]++
	}
	return m
}

// assertSameLocal checks that a local record carries what was sent.
func assertSameLocal(t testing.TB, want, got eventlog.Record, msgAndArgs ...any) {
	t.Helper()
	assertSameRecord(t, want, &kgo.Record{Key: got.Key, Value: got.Value, Timestamp: got.Timestamp, Headers: toKgoHeaders(got.Headers)}, msgAndArgs...)
}

func toKgoHeaders(hs []eventlog.Header) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range hs {
		out = append(out, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

func itoa(n int64) string { return fmt.Sprint(n) }

// deleteRemoteTopic deletes topic on c, as an operator would.
func deleteRemoteTopic(t *testing.T, c *kfake.Cluster, topic string) {
	t.Helper()
	deleted, err := kadm.NewClient(newClient(t, c)).DeleteTopics(testContext(t), topic)
	require.NoError(t, err)
	require.NoError(t, deleted.Error())
}

// assertRemoteTopicDeleted checks that err, a Run's, says that the remote
// topic was deleted, naming it, and wraps ErrRemoteTopicMissing.
func assertRemoteTopicDeleted(t *testing.T, err error, topic string) {
	t.Helper()
	require.ErrorIs(t, err, kafkabridge.ErrRemoteTopicMissing)
	assert.ErrorContains(t, err, fmt.Sprintf("remote topic %q", topic))
	assert.ErrorContains(t, err, "deleted")
}

// onlyGroupOffset returns the offsets of group, which must have committed
// for one partition.
func onlyGroupOffset(t *testing.T, l *eventlog.Log, group string) eventlog.GroupPartitionOffset {
	t.Helper()
	offsets, err := l.GroupOffsets(group)
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	return offsets[0]
}

// startRun runs run(ctx), a Forward's or a Mirror's Run, on a goroutine
// and returns the channel its error arrives on.
func startRun(ctx context.Context, run func(context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	return done
}

// awaitWhileRunning waits for reached to close, failing if Run returns
// first or ctx ends; what says what closes it, as "sending its records".
func awaitWhileRunning(t *testing.T, ctx context.Context, reached <-chan struct{}, done <-chan error, what string) {
	t.Helper()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("Run returned before %s: %v", what, err)
	case <-ctx.Done():
		t.Fatalf("Run never got to %s", what)
	}
}

// awaitRun waits for a Run started on a goroutine to return, and returns
// its error.
func awaitRun(t *testing.T, ctx context.Context, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		require.FailNow(t, "Run did not stop", what)
		return nil
	}
}
