package kafkabridge_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMirrorRemotePartitionsAdded adds a partition to a mirrored remote
// topic between two Runs: the package documentation promises that the next
// Run mirrors it, as MirrorMaker 2 adds the partitions a source topic gains
// to its target: the local topic, which the first Run mirrored into, grows
// to match.
func TestMirrorRemotePartitionsAdded(t *testing.T) {
	c, l, opts, first := mirroredEvents(t, 2, 40)

	resp, err := kadm.NewClient(newClient(t, c)).CreatePartitions(testContext(t), 1, "events")
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	// Records for the new partition and the old ones.
	cl := newClient(t, c, kgo.DefaultProduceTopic("events"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var second []eventlog.Record
	for i, r := range sampleRecords("events", 30, time.UnixMilli(9_000)) {
		kr := &kgo.Record{Partition: int32(i % 3), Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		require.NoError(t, cl.ProduceSync(testContext(t), kr).FirstErr())
		r.Partition, r.Offset = kr.Partition, kr.Offset
		second = append(second, r)
	}

	all := append(first, second...)
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	runUntilCommitted(t, m, "events", countByPartition(all))
	got := readLocal(t, l, "events", countByPartition(all))
	cfg, err := l.TopicConfig("events")
	require.NoError(t, err)
	require.Equal(t, 3, cfg.Partitions, "the local topic grows with the remote one")
	for p, recs := range byPartition(all) {
		require.Len(t, got[p], len(recs), "partition %d", p)
		for i, r := range recs {
			assertSameLocal(t, r, got[p][i], "partition %d record %d", p, i)
		}
	}
}

// runUntilCommitted runs m until it has committed, for each partition of
// the local topic, the local offset counts gives it, and stops it; a Run
// that stops by itself first fails the test with its error.
func runUntilCommitted(t *testing.T, m *kafkabridge.Mirror, topic string, counts map[int32]int) {
	t.Helper()
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 1000)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := startRun(ctx, m.Run)
	missing := make(map[int32]bool, len(counts))
	for p := range counts {
		missing[p] = true
	}
	for len(missing) > 0 {
		select {
		case o := <-commits:
			for tp, c := range o {
				if tp.Topic == topic && c.Offset >= int64(counts[tp.Partition]) {
					delete(missing, tp.Partition)
				}
			}
		case err := <-done:
			require.NoError(t, err, "Run stopped before mirroring every record")
			require.Fail(t, "Run stopped before mirroring every record")
		}
	}
	cancel()
	require.NoError(t, <-done)
}

// TestMirrorStartAtEndResumes runs a StartAtEnd Mirror of a quiet remote
// partition, stops it, and produces while it is stopped: the next Run
// mirrors those records. The first Run started at the remote end; a Kafka
// consumer with auto.offset.reset=latest commits that position and resumes
// there, where a Mirror that stored no progress of the quiet partition
// would start at the end again and lose what was produced in between.
func TestMirrorStartAtEndResumes(t *testing.T) {
	c := newCluster(t, 2, "events")
	produceRemote(t, c, "events", sampleRecords("events", 20, time.UnixMilli(1_000))) // before: not mirrored
	l := newLog(t)
	opts := &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}, StartAtEnd: true}

	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	stop := runBridge(t, m.Run)
	// A record to partition 0 only: partition 1 stays quiet during the Run.
	cl := newClient(t, c, kgo.DefaultProduceTopic("events"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var p0 int64 = -1
	for p0 < 0 {
		require.NoError(t, cl.ProduceSync(testContext(t), &kgo.Record{Partition: 0, Value: []byte("during")}).FirstErr())
		// Wait for its commit, or find that the Mirror started after it.
		o := <-commits
		if c, ok := o[eventlog.TopicPartition{Topic: "events", Partition: 0}]; ok && c.Offset > 0 {
			p0 = c.Offset
		}
	}
	require.NoError(t, stop())

	var while []eventlog.Record
	for i, r := range sampleRecords("events", 6, time.UnixMilli(9_000)) {
		r.Value = []byte(fmt.Sprintf("while stopped %d", i))
		kr := &kgo.Record{Partition: int32(i % 2), Value: r.Value, Timestamp: r.Timestamp}
		require.NoError(t, cl.ProduceSync(testContext(t), kr).FirstErr())
		r.Partition = kr.Partition
		while = append(while, r)
	}
	m, err = kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	commits = make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	stop = runBridge(t, m.Run)
	// Send a marker to each partition until partition 1 moves: partition
	// 0's are mirrored from its stored progress, so a commit follows each
	// round; partition 1's once its start is settled.
	for moved := false; !moved; {
		for p := range int32(2) {
			require.NoError(t, cl.ProduceSync(testContext(t), &kgo.Record{Partition: p, Value: []byte("marker")}).FirstErr())
		}
		o := <-commits
		_, moved = o[eventlog.TopicPartition{Topic: "events", Partition: 1}]
	}
	require.NoError(t, stop())
	part, err := l.Partition("events", 1)
	require.NoError(t, err)
	got, err := part.Read(0, 1<<20)
	require.NoError(t, err)
	var values []string
	for _, r := range got {
		values = append(values, string(r.Value))
	}
	for i, r := range byPartition(while)[1] {
		require.Greater(t, len(values), i, "partition 1: %q", values)
		require.Equal(t, string(r.Value), values[i], "partition 1 record %d, produced while the Mirror was stopped: %q", i, values)
	}
}

// bufferedHook signals each record kgo buffers for the application.
type bufferedHook chan *kgo.Record

func (h bufferedHook) OnFetchRecordBuffered(r *kgo.Record) { h <- r }

// recreateRemoteTopic deletes topic on c and creates it again, with one
// partition and no record.
func recreateRemoteTopic(t *testing.T, c *kfake.Cluster, topic string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, c))
	deleted, err := adm.DeleteTopics(testContext(t), topic)
	require.NoError(t, err)
	require.NoError(t, deleted.Error())
	created, err := adm.CreateTopic(testContext(t), 1, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, created.Err)
}

// TestMirrorRemoteTopicRecreated deletes a mirrored remote topic and creates
// it again between two Runs: its offsets start over, below the stored
// progress, and kgo resets to the start of the new topic. Its records are
// new, and the Mirror must mirror them, not skip those below the old
// progress as if it had mirrored them already.
func TestMirrorRemoteTopicRecreated(t *testing.T) {
	c, l, opts, first := mirroredEvents(t, 1, 10)

	recreateRemoteTopic(t, c, "events")
	before := produceRemote(t, c, "events", sampleRecords("events", 5, time.UnixMilli(9_000)))

	buffered := make(bufferedHook, 1000)
	runOpts := *opts
	runOpts.ClientOptions = []kgo.Opt{kgo.WithHooks(buffered)}
	m, err := kafkabridge.NewMirror(l, &runOpts)
	require.NoError(t, err)
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	stop := runBridge(t, m.Run)
	// Past the reset: kgo handed the new topic's records to the Mirror.
	for r := <-buffered; r.Offset < int64(len(before))-1; r = <-buffered {
	}
	after := produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(19_000)))
	end := after[len(after)-1].Offset + 1
	for done := false; !done; {
		o := <-commits
		_, remoteNext, _, err := kafkabridge.ParseProgressMetadata(o[eventlog.TopicPartition{Topic: "events"}].Metadata)
		require.NoError(t, err)
		done = remoteNext == end
	}
	require.NoError(t, stop())

	want := append(append(first, before...), after...)
	part, err := l.Partition("events", 0)
	require.NoError(t, err)
	got, err := part.Read(0, 1<<20)
	require.NoError(t, err)
	values := func(recs []eventlog.Record) (out []string) {
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
		return out
	}
	require.Equal(t, values(want), values(got), "the old topic's records, then every record of the new one")
}

// recreateHolding deletes topic on c and creates it again, with one
// partition holding recs, through the cluster itself rather than a
// client, as the tests that hold its requests back do.
func recreateHolding(t *testing.T, c *kfake.Cluster, topic string, recs []eventlog.Record) {
	t.Helper()
	require.NoError(t, c.DeleteTopic(topic))
	require.NoError(t, c.CreateTopic(topic, 1, nil))
	produceRemote(t, c, topic, recs)
}

// assertMirrorsBothTopics runs a Mirror of "events" with opts to the end
// and checks that l then holds every record of the deleted topic, first,
// and of the one created again, recreated, once each and in that order.
func assertMirrorsBothTopics(t *testing.T, l *eventlog.Log, opts *kafkabridge.MirrorOptions, first, recreated []eventlog.Record) {
	t.Helper()
	got := mirrorOnce(t, l, opts, "events", map[int32]int{0: len(first) + len(recreated)})
	want := append(append([]eventlog.Record(nil), first...), recreated...)
	require.Len(t, got[0], len(want), "every record of both topics, once")
	for i, r := range want {
		assertSameLocal(t, r, got[0][i], "record %d", i)
	}
}

// syncBuffer is a bytes.Buffer that a Logger may write from several
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMirrorLogsRecordsDeletedWhileStopped deletes remote records the
// Mirror has not mirrored yet while it is stopped: they are lost to it, and
// the package documentation says that the Mirror logs the loss, whether it
// happens while it runs or between two Runs.
func TestMirrorLogsRecordsDeletedWhileStopped(t *testing.T) {
	c, l, opts, _ := mirroredEvents(t, 1, 10)
	produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(9_000))) // offsets 10 to 19
	deleteFrom := kadm.Offsets{}
	deleteFrom.AddOffset("events", 0, 15, -1)
	deleted, err := kadm.NewClient(newClient(t, c)).DeleteRecords(testContext(t), deleteFrom)
	require.NoError(t, err)
	require.NoError(t, deleted.Error())

	var logs syncBuffer
	runOpts := *opts
	runOpts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := kafkabridge.NewMirror(l, &runOpts)
	require.NoError(t, err)
	fetches := runMirrorTo(t, m, "events", 15)
	require.Positive(t, fetches)

	var warned []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "bridge=mirror") {
			warned = append(warned, line)
		}
	}
	require.Len(t, warned, 1, "the Mirror's warnings:\n%s", logs.String())
	assert.Contains(t, warned[0], "remote records were lost before they were mirrored")
	assert.Contains(t, warned[0], "topic=events partition=0")
	assert.Contains(t, warned[0], "from=10 to=15")
}

// TestMirrorStartAtEndMirrorsAddedPartitions adds a partition to a remote
// topic that a StartAtEnd Mirror mirrors, and produces to it while the
// Mirror is stopped: the next Run mirrors the new partition from its start,
// since every record of it was produced after the mirroring began, rather
// than from its end as a partition never mirrored, which loses them.
func TestMirrorStartAtEndMirrorsAddedPartitions(t *testing.T) {
	c, l, opts, _ := mirroredEvents(t, 2, 40)
	opts.StartAtEnd = true

	resp, err := kadm.NewClient(newClient(t, c)).CreatePartitions(testContext(t), 1, "events")
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	cl := newClient(t, c, kgo.DefaultProduceTopic("events"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		require.NoError(t, cl.ProduceSync(testContext(t), &kgo.Record{Partition: 2, Value: []byte(fmt.Sprint("new ", i))}).FirstErr())
	}

	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	stop := runBridge(t, m.Run)
	var first eventlog.OffsetAndMetadata
	for ok := false; !ok; {
		first, ok = (<-commits)[eventlog.TopicPartition{Topic: "events", Partition: 2}]
	}
	require.NoError(t, stop())
	_, remoteNext, _, err := kafkabridge.ParseProgressMetadata(first.Metadata)
	require.NoError(t, err)
	assert.Equal(t, int64(10), first.Offset, "the first progress of the new partition is past its 10 records, mirrored")
	assert.Equal(t, int64(10), remoteNext)
}

// TestMirrorRemoteTopicRecreatedPastProgress deletes a mirrored remote
// topic and creates it again between two Runs, the new topic already
// holding more records than the stored progress: its offsets do not go
// back below the progress, so no reset tells. The Mirror must tell by the
// topic's ID, and mirror the new topic from its start.
func TestMirrorRemoteTopicRecreatedPastProgress(t *testing.T) {
	c, l, opts, first := mirroredEvents(t, 1, 10)

	recreateRemoteTopic(t, c, "events")
	recreated := produceRemote(t, c, "events", sampleRecords("events", 15, time.UnixMilli(9_000)))

	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	caughtUp := make(chan struct{})
	var once sync.Once
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		_, remoteNext, _, err := kafkabridge.ParseProgressMetadata(o[eventlog.TopicPartition{Topic: "events"}].Metadata)
		if err == nil && remoteNext == int64(len(recreated)) {
			once.Do(func() { close(caughtUp) })
		}
	})
	stop := runBridge(t, m.Run)
	select {
	case <-caughtUp:
	case <-testContext(t).Done():
		t.Fatal("the Mirror did not reach the end of the new topic")
	}
	require.NoError(t, stop())

	part, err := l.Partition("events", 0)
	require.NoError(t, err)
	got, err := part.Read(0, 1<<20)
	require.NoError(t, err)
	values := func(recs []eventlog.Record) (out []string) {
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
		return out
	}
	require.Equal(t, values(append(first, recreated...)), values(got), "the old topic's records, then every record of the new one")
}

// mirrorProgress returns a channel that receives the offset of partition 0
// of topic at each commit of m.
func mirrorProgress(m *kafkabridge.Mirror, topic string) <-chan int64 {
	progress := make(chan int64, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		progress <- o[eventlog.TopicPartition{Topic: topic}].Offset
	})
	return progress
}

// awaitMirrored waits for the progress to reach n, failing if ctx ends
// first; what names what is mirrored.
func awaitMirrored(t *testing.T, ctx context.Context, progress <-chan int64, n int64, what string) {
	t.Helper()
	for local := int64(0); local < n; {
		select {
		case local = <-progress:
		case <-ctx.Done():
			t.Fatalf("the Mirror did not mirror %s", what)
		}
	}
}

// TestMirrorRemoteTopicRecreatedWhileRunning deletes a mirrored remote
// topic and creates it again while the Mirror runs, the new topic already
// holding more records than the Mirror's position when the Mirror next
// fetches: the fetch of the topic that is gone fails, which stops the Run
// with the cluster's error, and the next Run tells the new topic by its ID
// and mirrors every record of it, those below the old position included.
func TestMirrorRemoteTopicRecreatedWhileRunning(t *testing.T) {
	c := newCluster(t, 1, "events")
	first := produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(1_000)))
	l := newLog(t)
	opts := &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}}
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	progress := mirrorProgress(m, "events")
	ctx := testContext(t)
	done := startRun(ctx, m.Run)
	awaitMirrored(t, ctx, progress, int64(len(first)), "the first topic")

	// Created again with more records than the Mirror mirrored, while its
	// fetches wait, so that no fetch sees the new topic shorter.
	recreated := sampleRecords("events", 15, time.UnixMilli(9_000))
	gate := make(chan struct{})
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-gate })
		return nil, nil, false
	})
	recreateHolding(t, c, "events", recreated)
	close(gate)
	select {
	case err := <-done:
		require.ErrorContains(t, err, "UNKNOWN_TOPIC_ID")
		require.ErrorContains(t, err, `remote topic "events" was deleted and created again`)
	case <-ctx.Done():
		t.Fatal("the Mirror did not stop")
	}

	assertMirrorsBothTopics(t, l, opts, first, recreated)
}

// TestMirrorStopsWhenRemoteTopicDeleted deletes the remote topic of a
// Mirror that has caught up and fetches: Run must stop with an error that
// names the topic, says it was deleted and wraps ErrRemoteTopicMissing,
// as a Mirror that finds it missing when it starts does, rather than
// retry for about 13 s and end with the cluster's UNKNOWN_TOPIC_ID.
func TestMirrorStopsWhenRemoteTopicDeleted(t *testing.T) {
	c := newCluster(t, 1, "events")
	sent := produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(1_000)))
	l := newLog(t)
	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}})
	require.NoError(t, err)
	progress := mirrorProgress(m, "events")
	ctx := testContext(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := startRun(runCtx, m.Run)
	awaitMirrored(t, ctx, progress, int64(len(sent)), "the topic")

	deleteRemoteTopic(t, c, "events")
	deletedAt := time.Now()
	err = awaitRun(t, ctx, done, "after its remote topic was deleted")
	t.Logf("Run stopped %v after the deletion: %v", time.Since(deletedAt), err)
	assertRemoteTopicDeleted(t, err, "events")
	assert.Equal(t, int64(len(sent)), onlyGroupOffset(t, l, kafkabridge.DefaultMirrorGroupID).Committed)
}

// TestMirrorRemoteTopicRecreatedBeforeFirstFetch deletes a mirrored remote
// topic and creates it again, with more records than the stored progress,
// after a Run read the topic's ID and before its Kafka client loads the
// topic: the client then fetches the new topic, under its new ID, from the
// stored offset, and no fetch fails. The records of the new topic below
// that offset must not be lost: the Run stops, as when a fetch of the old
// topic fails, and the next Run mirrors the new topic from its start.
func TestMirrorRemoteTopicRecreatedBeforeFirstFetch(t *testing.T) {
	c, l, opts, first := mirroredEvents(t, 1, 10)

	// The Run's first question about the topic reads its ID; the second
	// is its client's, which the topic is created again under.
	var asked atomic.Int32
	reached, gate := make(chan struct{}), make(chan struct{})
	c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, rt := range req.(*kmsg.MetadataRequest).Topics {
			if rt.Topic != nil && *rt.Topic == "events" && asked.Add(1) == 2 {
				c.DropControl()
				c.SleepControl(func() {
					close(reached)
					<-gate
				})
				break
			}
		}
		return nil, nil, false
	})
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	caughtUp := make(chan struct{})
	var once sync.Once
	recreated := sampleRecords("events", 15, time.UnixMilli(9_000))
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		_, remoteNext, _, err := kafkabridge.ParseProgressMetadata(o[eventlog.TopicPartition{Topic: "events"}].Metadata)
		if err == nil && remoteNext == int64(len(recreated)) {
			once.Do(func() { close(caughtUp) })
		}
	})
	ctx := testContext(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := startRun(runCtx, m.Run)
	awaitWhileRunning(t, ctx, reached, done, "its client loading the topic")
	recreateHolding(t, c, "events", recreated)
	close(gate)
	select {
	case err := <-done:
		require.ErrorContains(t, err, `remote topic "events" was deleted and created again`)
	case <-caughtUp:
		cancel()
		require.NoError(t, <-done)
	case <-ctx.Done():
		t.Fatal("the Mirror neither stopped nor mirrored the new topic")
	}
	part, err := l.Partition("events", 0)
	require.NoError(t, err)
	require.Equal(t, int64(len(first)), part.HighWatermark(),
		"records of the new topic mirrored from the old topic's progress on, those below it skipped")

	assertMirrorsBothTopics(t, l, opts, first, recreated)
}
