package kafkabridge_test

import (
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// progress tracks a bridge's commits for a test waiting on them: the hook
// records them on the bridge's goroutine, the test waits on the signal.
type progress struct {
	signal chan struct{}
	mu     struct {
		sync.Mutex
		next map[eventlog.TopicPartition]int64 // per partition, where the bridge has committed
	}
}

func newProgress() *progress {
	p := &progress{signal: make(chan struct{}, 1)}
	p.mu.next = make(map[eventlog.TopicPartition]int64)
	return p
}

func (p *progress) record(tp eventlog.TopicPartition, next int64) {
	p.mu.Lock()
	p.mu.next[tp] = max(p.mu.next[tp], next)
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// waitFor waits until every record of recs is committed by the bridge.
func (p *progress) waitFor(t *testing.T, recs []eventlog.Record) {
	t.Helper()
	want := make(map[eventlog.TopicPartition]int64)
	for _, r := range recs {
		tp := tp(r.Topic, r.Partition)
		want[tp] = max(want[tp], r.Offset+1)
	}
	ctx := testContext(t)
	for {
		p.mu.Lock()
		done := true
		for tp, n := range want {
			done = done && p.mu.next[tp] >= n
		}
		p.mu.Unlock()
		if done {
			return
		}
		select {
		case <-p.signal:
		case <-ctx.Done():
			t.Fatalf("the bridge did not commit %v", want)
		}
	}
}

// embeddedSystem produces and consumes on one Log.
type embeddedSystem struct {
	dir string
	l   *eventlog.Log
}

func openLog(t *testing.T, dir string) *eventlog.Log {
	l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS, PoisonViews: true})
	require.NoError(t, err)
	return l
}

func newEmbeddedSystem(t *testing.T) system {
	s := &embeddedSystem{dir: t.TempDir()}
	s.l = openLog(t, s.dir)
	t.Cleanup(func() { require.NoError(t, s.l.Close()) })
	return s
}

func (s *embeddedSystem) createTopic(t *testing.T, name string, partitions int) {
	require.NoError(t, s.l.CreateTopic(name, eventlog.TopicConfig{Partitions: partitions}))
}

func (s *embeddedSystem) produce(t *testing.T, topic string, recs []eventlog.Record) []eventlog.Record {
	return produceLocal(t, s.l, withTopic(topic, recs))
}

func (s *embeddedSystem) newConsumer(t *testing.T, group string) consumer {
	return newLocalConsumer(t, s.l, group)
}

// restart closes the Log and opens it again.
func (s *embeddedSystem) restart(t *testing.T) {
	require.NoError(t, s.l.Close())
	s.l = openLog(t, s.dir)
}

func withTopic(topic string, recs []eventlog.Record) []eventlog.Record {
	out := make([]eventlog.Record, len(recs))
	for i, r := range recs {
		r.Topic = topic
		out[i] = r
	}
	return out
}

// forwardSystem produces on a Log, forwards to kfake, and consumes there
// with kgo.
type forwardSystem struct {
	c        *kfake.Cluster
	l        *eventlog.Log
	progress *progress
	stop     func() error
}

func newForwardSystem(t *testing.T) system {
	s := &forwardSystem{c: newCluster(t, 1), l: newLog(t), progress: newProgress()}
	s.start(t)
	return s
}

func (s *forwardSystem) start(t *testing.T) {
	f, err := kafkabridge.NewForward(s.l, &kafkabridge.ForwardOptions{
		Brokers:        s.c.ListenAddrs(),
		TopicPattern:   regexp.MustCompile(".*"),
		CreateTopics:   true,
		CommitInterval: time.Millisecond,
		Linger:         time.Millisecond,
	})
	require.NoError(t, err)
	kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		for tp, om := range o {
			s.progress.record(tp, om.Offset)
		}
	})
	s.stop = runBridge(t, f.Run)
}

func (s *forwardSystem) createTopic(t *testing.T, name string, partitions int) {
	require.NoError(t, s.l.CreateTopic(name, eventlog.TopicConfig{Partitions: partitions}))
}

func (s *forwardSystem) produce(t *testing.T, topic string, recs []eventlog.Record) []eventlog.Record {
	sent := produceLocal(t, s.l, withTopic(topic, recs))
	s.progress.waitFor(t, sent)
	return sent
}

func (s *forwardSystem) newConsumer(t *testing.T, group string) consumer {
	return newKafkaConsumer(t, s.c, group)
}

func (s *forwardSystem) restart(t *testing.T) {
	require.NoError(t, s.stop())
	s.start(t)
}

// mirrorSystem produces on kfake with kgo, mirrors into a Log, and consumes
// there.
type mirrorSystem struct {
	c        *kfake.Cluster
	l        *eventlog.Log
	producer *kgo.Client
	topics   []string
	progress *progress
	stop     func() error
}

func newMirrorSystem(t *testing.T) system {
	s := &mirrorSystem{c: newCluster(t, 1), l: newLog(t), progress: newProgress()}
	s.producer = newClient(t, s.c) // kgo's default partitioner: Kafka's for keys
	return s
}

func (s *mirrorSystem) start(t *testing.T) {
	m, err := kafkabridge.NewMirror(s.l, &kafkabridge.MirrorOptions{Brokers: s.c.ListenAddrs(), Topics: s.topics})
	require.NoError(t, err)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		for tp, om := range o {
			_, next, _, err := kafkabridge.ParseProgressMetadata(om.Metadata)
			if err == nil {
				s.progress.record(tp, next)
			}
		}
	})
	s.stop = runBridge(t, m.Run)
}

// createTopic creates the remote topic, and the local one so that it can
// be assigned at once, and restarts the Mirror to take it in.
func (s *mirrorSystem) createTopic(t *testing.T, name string, partitions int) {
	_, err := kadm.NewClient(s.producer).CreateTopic(testContext(t), int32(partitions), 1, nil, name)
	require.NoError(t, err)
	require.NoError(t, s.l.CreateTopic(name, eventlog.TopicConfig{Partitions: partitions}))
	s.topics = append(s.topics, name)
	if s.stop != nil {
		require.NoError(t, s.stop())
	}
	s.start(t)
}

func (s *mirrorSystem) produce(t *testing.T, topic string, recs []eventlog.Record) []eventlog.Record {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: toKgoHeaders(r.Headers)}
	}
	require.NoError(t, s.producer.ProduceSync(testContext(t), krs...).FirstErr())
	sent := make([]eventlog.Record, len(recs))
	for i, r := range recs {
		r.Topic, r.Partition, r.Offset, r.Timestamp = topic, krs[i].Partition, krs[i].Offset, krs[i].Timestamp
		sent[i] = r
	}
	s.progress.waitFor(t, sent)
	return sent
}

func (s *mirrorSystem) newConsumer(t *testing.T, group string) consumer {
	return newLocalConsumer(t, s.l, group)
}

func (s *mirrorSystem) restart(t *testing.T) {
	require.NoError(t, s.stop())
	s.start(t)
}

// localConsumer is an eventlog Consumer.
type localConsumer struct {
	c        *eventlog.Consumer
	buffered []eventlog.Record
}

func newLocalConsumer(t *testing.T, l *eventlog.Log, group string) *localConsumer {
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: group, DisableAutoCommit: true, AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, err)
	return &localConsumer{c: c}
}

func (c *localConsumer) assign(t *testing.T, tps ...eventlog.TopicPartition) {
	require.NoError(t, c.c.Assign(append(c.c.Assignment(), tps...)...))
}

func (c *localConsumer) seekToBeginning(t *testing.T, tp eventlog.TopicPartition) {
	c.buffered = nil
	require.NoError(t, c.c.SeekToBeginning(tp))
}

func (c *localConsumer) seekToEnd(t *testing.T, tp eventlog.TopicPartition) {
	c.buffered = nil
	require.NoError(t, c.c.SeekToEnd(tp))
}

func (c *localConsumer) seek(t *testing.T, tp eventlog.TopicPartition, offset int64) {
	c.buffered = nil
	require.NoError(t, c.c.Seek(tp, offset))
}

func (c *localConsumer) seekToTime(t *testing.T, tp eventlog.TopicPartition, ts time.Time) {
	c.buffered = nil
	require.NoError(t, c.c.SeekToTime(ts, tp))
}

func (c *localConsumer) position(t *testing.T, tp eventlog.TopicPartition) int64 {
	off, err := c.c.Position(tp)
	require.NoError(t, err)
	return off
}

func (c *localConsumer) poll(t *testing.T, n int) []eventlog.Record {
	ctx := testContext(t)
	for len(c.buffered) < n {
		recs, err := c.c.Poll(ctx)
		require.NoError(t, err, "polled %d of %d records", len(c.buffered), n)
		c.buffered = append(c.buffered, recs...)
	}
	out := c.buffered[:n]
	c.buffered = c.buffered[n:]
	return out
}

func (c *localConsumer) commit(t *testing.T, offsets map[eventlog.TopicPartition]int64) {
	om := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	for tp, o := range offsets {
		om[tp] = eventlog.OffsetAndMetadata{Offset: o}
	}
	require.NoError(t, c.c.CommitOffsets(testContext(t), om))
}

func (c *localConsumer) committed(t *testing.T, tps ...eventlog.TopicPartition) map[eventlog.TopicPartition]int64 {
	got, err := c.c.Committed(testContext(t), tps...)
	require.NoError(t, err)
	out := make(map[eventlog.TopicPartition]int64)
	for tp, om := range got {
		out[tp] = om.Offset
	}
	return out
}

func (c *localConsumer) close(t *testing.T) { require.NoError(t, c.c.Close()) }

// kafkaConsumer consumes from kfake with kgo, keeping positions itself as
// an assigning Kafka consumer does, and committing to a Kafka group through
// the admin API.
type kafkaConsumer struct {
	c        *kfake.Cluster
	group    string
	admin    *kadm.Client
	fetcher  *kgo.Client // consumes from the positions; made again after a seek
	pos      map[eventlog.TopicPartition]int64
	buffered []eventlog.Record
}

func newKafkaConsumer(t *testing.T, c *kfake.Cluster, group string) *kafkaConsumer {
	return &kafkaConsumer{c: c, group: group, admin: kadm.NewClient(newClient(t, c)), pos: make(map[eventlog.TopicPartition]int64)}
}

// setPosition moves a partition's position and drops what was fetched.
func (c *kafkaConsumer) setPosition(tp eventlog.TopicPartition, offset int64) {
	c.pos[tp] = offset
	c.buffered = nil
	if c.fetcher != nil {
		c.fetcher.Close()
		c.fetcher = nil
	}
}

func (c *kafkaConsumer) assign(t *testing.T, tps ...eventlog.TopicPartition) {
	committed := c.committed(t, tps...)
	for _, tp := range tps {
		if off, ok := committed[tp]; ok {
			c.setPosition(tp, off)
		} else {
			c.seekToBeginning(t, tp)
		}
	}
}

func (c *kafkaConsumer) listed(t *testing.T, tp eventlog.TopicPartition, offsets kadm.ListedOffsets, err error) int64 {
	require.NoError(t, err)
	o, ok := offsets.Lookup(tp.Topic, tp.Partition)
	require.True(t, ok, "%s listed", tp)
	require.NoError(t, o.Err)
	return o.Offset
}

func (c *kafkaConsumer) seekToBeginning(t *testing.T, tp eventlog.TopicPartition) {
	offsets, err := c.admin.ListStartOffsets(testContext(t), tp.Topic)
	c.setPosition(tp, c.listed(t, tp, offsets, err))
}

func (c *kafkaConsumer) seekToEnd(t *testing.T, tp eventlog.TopicPartition) {
	offsets, err := c.admin.ListEndOffsets(testContext(t), tp.Topic)
	c.setPosition(tp, c.listed(t, tp, offsets, err))
}

func (c *kafkaConsumer) seek(_ *testing.T, tp eventlog.TopicPartition, offset int64) {
	c.setPosition(tp, offset)
}

func (c *kafkaConsumer) seekToTime(t *testing.T, tp eventlog.TopicPartition, ts time.Time) {
	offsets, err := c.admin.ListOffsetsAfterMilli(testContext(t), ts.UnixMilli(), tp.Topic)
	c.setPosition(tp, c.listed(t, tp, offsets, err))
}

func (c *kafkaConsumer) position(_ *testing.T, tp eventlog.TopicPartition) int64 {
	return c.pos[tp]
}

func (c *kafkaConsumer) poll(t *testing.T, n int) []eventlog.Record {
	if c.fetcher == nil {
		starts := make(map[string]map[int32]kgo.Offset)
		for tp, off := range c.pos {
			if starts[tp.Topic] == nil {
				starts[tp.Topic] = make(map[int32]kgo.Offset)
			}
			starts[tp.Topic][tp.Partition] = kgo.NewOffset().At(off)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.c.ListenAddrs()...), kgo.ConsumePartitions(starts))
		require.NoError(t, err)
		c.fetcher = cl
	}
	ctx := testContext(t)
	for len(c.buffered) < n {
		fs := c.fetcher.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "polled %d of %d records", len(c.buffered), n)
		fs.EachRecord(func(r *kgo.Record) {
			c.buffered = append(c.buffered, eventlog.Record{
				Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
				Key: r.Key, Value: r.Value, Headers: fromKgoHeaders(r.Headers),
			})
		})
	}
	out := c.buffered[:n]
	c.buffered = c.buffered[n:]
	for _, r := range out {
		c.pos[tp(r.Topic, r.Partition)] = r.Offset + 1
	}
	return out
}

func (c *kafkaConsumer) commit(t *testing.T, offsets map[eventlog.TopicPartition]int64) {
	var os kadm.Offsets
	for tp, o := range offsets {
		os.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: o, LeaderEpoch: -1})
	}
	resp, err := c.admin.CommitOffsets(testContext(t), c.group, os)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
}

func (c *kafkaConsumer) committed(t *testing.T, tps ...eventlog.TopicPartition) map[eventlog.TopicPartition]int64 {
	resp, err := c.admin.FetchOffsets(testContext(t), c.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[eventlog.TopicPartition]int64{} // kfake's answer for a group that never committed
	}
	require.NoError(t, err)
	out := make(map[eventlog.TopicPartition]int64)
	for _, tp := range tps {
		if o, ok := resp.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At >= 0 {
			out[tp] = o.At
		}
	}
	return out
}

func (c *kafkaConsumer) close(*testing.T) {
	if c.fetcher != nil {
		c.fetcher.Close()
	}
}

func fromKgoHeaders(hs []kgo.RecordHeader) []eventlog.Header {
	var out []eventlog.Header
	for _, h := range hs {
		out = append(out, eventlog.Header{Key: h.Key, Value: h.Value})
	}
	return out
}
