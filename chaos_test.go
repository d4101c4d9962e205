package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// The chaos test runs random mixes of the whole API on one Log from
// several goroutines at once — producers (plain, idempotent,
// transactional), consumers (group members joining and leaving, a consumer
// that assigns itself partitions and seeks), administration (topics
// deleted and created again under the same name, partitions added, configs
// altered, records deleted, groups reset and deleted), forced retention and
// compaction, and a read-only Log on the same directory refreshing — then
// closes the Log while they are still at it, and checks the history they
// leave:
//
//   - every call succeeds or fails with an error the situation explains
//     (ErrClosed, ErrTopicNotFound, ...), and every call after Close
//     returned fails with ErrClosed;
//   - what consumers see of a partition has increasing offsets, dense
//     but where records were deleted, and the values that were
//     acknowledged at those offsets; read_committed readers never see an
//     aborted transaction's records;
//   - after reopening, every acknowledged record of the topics never
//     deleted is readable at its offset unless retention or DeleteRecords
//     removed it, every committed transaction's records are there, and the
//     compacted topic's newest value per key is the last one acknowledged;
//   - the group's committed offsets never went backwards;
//   - nothing leaks: no goroutine of the Log, no file open or mapped.
//
// EVENTLOG_CHAOS_SEED picks the seed (random otherwise, logged on failure);
// EVENTLOG_CHAOS_ITERATIONS the operations per worker (default 150).
// Goroutines interleave as the scheduler wants, so a seed replays the same
// operations, not the same interleaving.

const (
	chaosStable  = "stable"  // never deleted; retention, DeleteRecords, CreatePartitions
	chaosTxn     = "txn"     // transactions only
	chaosCompact = "compact" // compacted, one writer per key
)

var chaosChurn = []string{"churn0", "churn1"} // deleted and created again

type chaosLatest struct {
	offset int64
	value  []byte
	unsure bool // a send of this key failed: its outcome is unknown
}

type chaos struct {
	t    *testing.T
	dir  string
	l    *eventlog.Log
	ctx  context.Context
	seed uint64

	ro     *eventlog.Log // the reader's
	roSeen *consumed

	closed   atomic.Bool // Close has returned
	closing  chan struct{}
	closeOps atomic.Int64 // operations left before Close

	mu        sync.Mutex
	acked     map[eventlog.TopicPartition]map[int64]string // stable: offset -> value
	committed map[string]eventlog.TopicPartition           // txn values committed -> where
	aborted   map[string]bool
	latest    map[string]*chaosLatest // compact: key -> newest acknowledged write
	findings  []string
	ops       map[string]int
}

func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EVENTLOG_CHAOS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	if testing.Short() {
		t.Skip("stress test")
	}
	iterations := envIntOr("EVENTLOG_CHAOS_ITERATIONS", 150)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with EVENTLOG_CHAOS_SEED=%d EVENTLOG_CHAOS_ITERATIONS=%d", seed, iterations)
		}
	})
	runChaos(t, seed, iterations)
}

func runChaos(t *testing.T, seed uint64, iterations int) {
	before := goroutineIDs()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	opts := &eventlog.Options{
		FS:                     eventlogtest.NoSyncFS(),
		Durability:             eventlog.DurabilityOS,
		SegmentBytes:           4 << 10,
		RetentionCheckInterval: 5 * time.Millisecond,
		CleanerCheckInterval:   5 * time.Millisecond,
		RecoveryPointInterval:  5 * time.Millisecond,
		PoisonViews:            true,
	}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	c := &chaos{
		t: t, dir: dir, l: l, ctx: ctx, seed: seed,
		closing:   make(chan struct{}),
		acked:     map[eventlog.TopicPartition]map[int64]string{},
		committed: map[string]eventlog.TopicPartition{},
		aborted:   map[string]bool{},
		latest:    map[string]*chaosLatest{},
		ops:       map[string]int{},
	}
	require.NoError(t, l.CreateTopic(chaosStable, eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic(chaosTxn, eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic(chaosCompact, eventlog.TopicConfig{Partitions: 2, CleanupPolicy: eventlog.CleanupCompact,
		MinCleanableDirtyRatio: 0.01}))
	for _, name := range chaosChurn {
		require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: 2}))
	}

	workers := []func(rng *rand.Rand, id int){
		c.producer, c.producer, c.txnProducer, c.groupMember, c.groupMember, c.assignedConsumer, c.admin, c.reader,
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	// Close comes somewhere in the last two thirds of the run.
	c.closeOps.Store(int64(len(workers)*iterations/3 + rng.IntN(len(workers)*iterations*2/3)))
	var wg sync.WaitGroup
	for id, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(id+1)))
			for range iterations {
				if c.closed.Load() && rng.IntN(4) == 0 {
					break // a few calls after Close are enough
				}
				w(rng, id)
				if c.closeOps.Add(-1) == 0 {
					close(c.closing)
				}
			}
		}()
	}
	// A hang shows as the stacks of every goroutine, not as a test timeout.
	watchdog := time.AfterFunc(time.Minute+time.Duration(iterations)*100*time.Millisecond, func() {
		t.Errorf("seed %d: still running:\n%s", seed, strings.Join(goroutineStacks(), "\n\n"))
		cancel()
	})
	defer watchdog.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-c.closing:
	case <-done:
	}
	assert.NoError(t, l.Close())
	c.closed.Store(true)
	<-done
	if c.ro != nil {
		c.check("Close read-only", false, c.ro.Close())
	}

	c.mu.Lock()
	t.Logf("seed %d: %v", seed, c.ops)
	assert.Empty(t, c.findings, "unexpected outcomes")
	c.mu.Unlock()
	assertNoGoroutinesLeft(t, before)
	assert.Empty(t, openFilesUnder(t, dir), "files still open or mapped after Close")
	if t.Failed() {
		return
	}
	c.verifyReopened(opts)
}

// finding records an outcome that breaks an invariant.
func (c *chaos) finding(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.findings = append(c.findings, fmt.Sprintf(format, args...))
}

func (c *chaos) count(op string) {
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
}

// check accepts err if it is nil or one of allowed; ErrClosed is allowed
// once Close has started, and required once it has returned (after is
// whether it had when the call began).
func (c *chaos) check(op string, after bool, err error, allowed ...error) bool {
	c.count(op)
	if after {
		if !errors.Is(err, eventlog.ErrClosed) {
			c.finding("%s after Close: %v, want ErrClosed", op, err)
		}
		return false
	}
	if err == nil {
		return true
	}
	if errors.Is(err, eventlog.ErrClosed) {
		return false
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return false
		}
	}
	c.finding("%s: unexpected error: %v", op, err)
	return false
}

func (c *chaos) topic(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return chaosChurn[rng.IntN(len(chaosChurn))]
	}
	return chaosStable
}

// producer sends to the stable, compacted and churned topics, plainly or
// idempotently, synchronously or not.
func (c *chaos) producer(rng *rand.Rand, id int) {
	after := c.closed.Load()
	opts := &eventlog.ProducerOptions{Idempotent: rng.IntN(2) == 0, Linger: time.Duration(rng.IntN(2)) * time.Millisecond}
	p, err := c.l.NewProducer(opts)
	if !c.check("NewProducer", after, err) {
		return
	}
	for i := range 1 + rng.IntN(20) {
		var r eventlog.Record
		compact := rng.IntN(4) == 0
		if compact {
			r = eventlog.Record{Topic: chaosCompact, Key: fmt.Appendf(nil, "w%d-k%d", id, rng.IntN(8)), Value: fmt.Appendf(nil, "w%d-%d-%d", id, rng.Uint32(), i)}
			if rng.IntN(8) == 0 {
				r.Value = nil
			}
			// One writer per key, and its sends of a key one at a time, so
			// that the newest acknowledged is the last.
			md, err := p.Send(c.ctx, r)
			c.ackCompact(r, md, err, after)
			continue
		}
		r = eventlog.Record{Topic: c.topic(rng), Key: fmt.Appendf(nil, "k%d", rng.IntN(16)), Value: fmt.Appendf(nil, "w%d-%d-%d", id, rng.Uint32(), i)}
		if rng.IntN(2) == 0 {
			md, err := p.Send(c.ctx, r)
			c.ackPlain(r, md, err, after)
		} else {
			p.SendAsync(c.ctx, r, func(md eventlog.RecordMetadata, err error) { c.ackPlain(r, md, err, after) })
		}
	}
	if rng.IntN(2) == 0 {
		c.check("Flush", after, p.Flush(c.ctx), eventlog.ErrTopicNotFound, eventlog.ErrPartitionNotFound)
	}
	c.check("Producer.Close", after, p.Close(), eventlog.ErrTopicNotFound, eventlog.ErrPartitionNotFound)
}

func (c *chaos) ackPlain(r eventlog.Record, md eventlog.RecordMetadata, err error, after bool) {
	if !c.check("Send", after, err, eventlog.ErrTopicNotFound, eventlog.ErrPartitionNotFound) || r.Topic != chaosStable {
		return
	}
	tp := eventlog.TopicPartition{Topic: r.Topic, Partition: md.Partition}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acked[tp] == nil {
		c.acked[tp] = map[int64]string{}
	}
	if prev, ok := c.acked[tp][md.Offset]; ok {
		c.findings = append(c.findings, fmt.Sprintf("%s offset %d acknowledged twice: %q and %q", tp, md.Offset, prev, r.Value))
	}
	c.acked[tp][md.Offset] = string(r.Value)
}

func (c *chaos) ackCompact(r eventlog.Record, md eventlog.RecordMetadata, err error, after bool) {
	ok := c.check("Send compact", after, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	k := string(r.Key)
	prev := c.latest[k]
	if prev == nil {
		prev = &chaosLatest{offset: -1}
		c.latest[k] = prev
	}
	switch {
	case !ok:
		prev.unsure = true
	case md.Offset <= prev.offset && md.Partition >= 0:
		c.findings = append(c.findings, fmt.Sprintf("key %s acknowledged at %d after %d", k, md.Offset, prev.offset))
	default:
		prev.offset, prev.value = md.Offset, r.Value
	}
}

// txnProducer commits or aborts transactions on the txn topic, and now and
// then fences itself with a new Producer of the same TransactionalID.
func (c *chaos) txnProducer(rng *rand.Rand, id int) {
	after := c.closed.Load()
	p, err := c.l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "chaos-tx"})
	if !c.check("NewProducer txn", after, err) {
		return
	}
	defer func() { c.check("Producer.Close txn", after, p.Close(), eventlog.ErrProducerFenced) }()
	for range 1 + rng.IntN(3) {
		if !c.check("BeginTransaction", after, p.BeginTransaction(), eventlog.ErrProducerFenced) {
			return
		}
		abort := rng.IntN(3) == 0
		var values []string
		var where []eventlog.TopicPartition
		for i := range 1 + rng.IntN(5) {
			v := fmt.Sprintf("tx-%d-%d-C", rng.Uint32(), i)
			if abort {
				v = v[:len(v)-1] + "A"
			}
			md, err := p.Send(c.ctx, eventlog.Record{Topic: chaosTxn, Key: []byte("k"), Value: []byte(v)})
			if !c.check("Send txn", after, err, eventlog.ErrProducerFenced, eventlog.ErrTransactionAborted) {
				abort = true
				break
			}
			values = append(values, v)
			where = append(where, eventlog.TopicPartition{Topic: chaosTxn, Partition: md.Partition})
		}
		if abort {
			c.mu.Lock()
			for _, v := range values {
				c.aborted[v] = true
			}
			c.mu.Unlock()
			c.check("AbortTransaction", after, p.AbortTransaction(c.ctx), eventlog.ErrProducerFenced)
			continue
		}
		if c.check("CommitTransaction", after, p.CommitTransaction(c.ctx), eventlog.ErrProducerFenced, eventlog.ErrTransactionAborted) {
			c.mu.Lock()
			for i, v := range values {
				c.committed[v] = where[i]
			}
			c.mu.Unlock()
		}
	}
}

// consumed follows what one consumer saw of each partition, to check that
// offsets increase and skip only deleted records.
type consumed struct {
	name       string
	c          *chaos
	l          *eventlog.Log
	generation int32
	last       map[eventlog.TopicPartition]int64
}

func (c *chaos) newConsumed(name string, l *eventlog.Log) *consumed {
	return &consumed{name: name, c: c, l: l, last: map[eventlog.TopicPartition]int64{}}
}

// see checks a record a reader at ReadCommitted got; dense is whether the
// reader continues where it left off (no seek, no rebalance since).
func (s *consumed) see(topic string, partition int32, offset int64, value []byte) {
	tp := eventlog.TopicPartition{Topic: topic, Partition: partition}
	v := string(value)
	c := s.c
	switch topic {
	case chaosTxn:
		c.mu.Lock()
		bad := strings.HasSuffix(v, "-A") || c.aborted[v]
		c.mu.Unlock()
		if bad {
			c.finding("%s offset %d: read_committed read an aborted record %q", tp, offset, v)
		}
	case chaosStable:
		c.mu.Lock()
		want, ok := c.acked[tp][offset]
		c.mu.Unlock()
		if ok && want != v {
			c.finding("%s offset %d: read %q, acknowledged %q", tp, offset, v, want)
		}
	}
	if topic != chaosStable && topic != chaosTxn {
		return // deleted and created again: offsets start over
	}
	last, ok := s.last[tp]
	s.last[tp] = offset
	if !ok {
		return
	}
	if offset <= last {
		c.finding("%s: %s: offset %d read after %d", s.name, tp, offset, last)
		return
	}
	if topic != chaosStable || offset == last+1 {
		return
	}
	// A gap in the stable topic is records deleted: the log start is now
	// past them.
	p, err := s.l.Partition(topic, partition)
	if err == nil && p.LogStartOffset() < offset {
		c.finding("%s: %s: read %d after %d, but the log starts at %d: records skipped", s.name, tp, offset, last, p.LogStartOffset())
	}
}

func (s *consumed) reset() { clear(s.last) }

// generationOf forgets what a group member saw before a rebalance, after
// which it may read again from the committed offsets.
func (s *consumed) generationOf(cons *eventlog.Consumer) {
	md, err := cons.GroupMetadata()
	s.c.check("GroupMetadata", false, err)
	if md.GenerationID != s.generation {
		s.reset()
		s.generation = md.GenerationID
	}
}

// groupMember joins group g on the stable and churned topics, polls,
// commits, and leaves.
func (c *chaos) groupMember(rng *rand.Rand, id int) {
	after := c.closed.Load()
	// Views stops at its first wait only with a negative FetchMaxWait.
	wait := []time.Duration{-1, time.Millisecond}[rng.IntN(2)]
	cons, err := c.l.NewConsumer(&eventlog.ConsumerOptions{
		GroupID:            "g",
		AutoOffsetReset:    eventlog.OffsetResetEarliest,
		FetchMaxWait:       wait,
		MaxPollRecords:     1 + rng.IntN(50),
		DisableAutoCommit:  rng.IntN(2) == 0,
		AutoCommitInterval: time.Millisecond,
	})
	if !c.check("NewConsumer", after, err) {
		return
	}
	defer func() { c.check("Consumer.Close", after, cons.Close()) }()
	topics := append([]string{chaosStable}, chaosChurn...)
	if !c.check("Subscribe", after, cons.Subscribe(topics...)) {
		return
	}
	seen := c.newConsumed(fmt.Sprintf("member %d", id), c.l)
	for range 1 + rng.IntN(10) {
		switch rng.IntN(5) {
		case 0, 1:
			recs, err := cons.Poll(c.ctx)
			if !c.check("Poll", after, err) {
				return
			}
			seen.generationOf(cons)
			for _, r := range recs {
				seen.see(r.Topic, r.Partition, r.Offset, r.Value)
			}
		case 2:
			if wait > 0 {
				continue
			}
			n := 0
			for v, err := range cons.Views(c.ctx) {
				if err != nil {
					c.check("Views", after, err)
					return
				}
				seen.generationOf(cons)
				seen.see(v.Topic, v.Partition, v.Offset, v.Value)
				if n++; n > 20 {
					break
				}
			}
		case 3:
			c.check("CommitSync", after, cons.CommitSync(c.ctx), eventlog.ErrCommitFailed, eventlog.ErrRebalanceInProgress)
		case 4:
			// The callback runs inside a later call of this goroutine.
			cons.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
				c.check("CommitAsync", false, err, eventlog.ErrCommitFailed, eventlog.ErrRebalanceInProgress)
			})
		}
	}
}

// assignedConsumer assigns itself partitions of the stable and txn topics,
// seeks, reads in every way, and commits for group g2.
func (c *chaos) assignedConsumer(rng *rand.Rand, _ int) {
	after := c.closed.Load()
	cons, err := c.l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g2", AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: time.Millisecond})
	if !c.check("NewConsumer assigned", after, err) {
		return
	}
	defer func() { c.check("Consumer.Close assigned", after, cons.Close()) }()
	tps := []eventlog.TopicPartition{{Topic: chaosStable, Partition: 0}, {Topic: chaosStable, Partition: 1}, {Topic: chaosTxn, Partition: 0}, {Topic: chaosTxn, Partition: 1}}
	if rng.IntN(3) == 0 {
		tps = append(tps, eventlog.TopicPartition{Topic: chaosChurn[0], Partition: 0})
	}
	if !c.check("Assign", after, cons.Assign(tps...), eventlog.ErrTopicNotFound) {
		return
	}
	seen := c.newConsumed("assigned", c.l)
	for range 1 + rng.IntN(6) {
		switch rng.IntN(8) {
		case 0:
			recs, err := cons.Poll(c.ctx)
			if !c.check("Poll assigned", after, err, eventlog.ErrTopicNotFound) {
				return
			}
			for _, r := range recs {
				seen.see(r.Topic, r.Partition, r.Offset, r.Value)
			}
		case 1:
			for v, err := range cons.ViewsToEnd(c.ctx) {
				if err != nil {
					c.check("ViewsToEnd", after, err, eventlog.ErrTopicNotFound)
					return
				}
				seen.see(v.Topic, v.Partition, v.Offset, v.Value)
			}
		case 2:
			n := 0
			for r, err := range cons.ReadToEnd(c.ctx) {
				if err != nil {
					c.check("ReadToEnd", after, err, eventlog.ErrTopicNotFound)
					return
				}
				seen.see(r.Topic, r.Partition, r.Offset, r.Value)
				if n++; n > 50 {
					break
				}
			}
		case 3:
			tp := tps[rng.IntN(len(tps))]
			c.check("Seek", after, cons.Seek(tp, rng.Int64N(200)), eventlog.ErrTopicNotFound)
			seen.reset()
		case 4:
			c.check("SeekToBeginning", after, cons.SeekToBeginning(), eventlog.ErrTopicNotFound)
			seen.reset()
		case 5:
			// A Seek past the end leaves a position CommitSync refuses.
			c.check("CommitSync assigned", after, cons.CommitSync(c.ctx), eventlog.ErrTopicNotFound, eventlog.ErrOffsetOutOfRange)
		case 6:
			c.check("SeekToEnd", after, cons.SeekToEnd(), eventlog.ErrTopicNotFound)
			seen.reset()
		case 7:
			tp := tps[rng.IntN(len(tps))]
			if rng.IntN(2) == 0 {
				c.check("Pause", after, cons.Pause(tp), eventlog.ErrTopicNotFound)
			} else {
				c.check("Resume", after, cons.Resume(tp), eventlog.ErrTopicNotFound)
			}
		}
	}
}

// admin reshapes topics and groups, and forces retention and compaction.
func (c *chaos) admin(rng *rand.Rand, _ int) {
	after := c.closed.Load()
	churn := chaosChurn[rng.IntN(len(chaosChurn))]
	switch rng.IntN(12) {
	case 0:
		c.check("CreateTopic", after, c.l.CreateTopic(churn, eventlog.TopicConfig{Partitions: 1 + rng.IntN(3)}), eventlog.ErrTopicExists)
	case 1:
		c.check("DeleteTopic", after, c.l.DeleteTopic(c.ctx, churn), eventlog.ErrTopicNotFound)
	case 2:
		name := c.topic(rng)
		cfg, err := c.l.TopicConfig(name)
		if c.check("TopicConfig", after, err, eventlog.ErrTopicNotFound) && cfg.Partitions < 5 {
			c.check("CreatePartitions", after, c.l.CreatePartitions(c.ctx, name, cfg.Partitions+1), eventlog.ErrTopicNotFound, eventlog.ErrInvalidConfig)
		}
	case 3:
		name := c.topic(rng)
		cfg, err := c.l.TopicConfig(name)
		if c.check("TopicConfig", after, err, eventlog.ErrTopicNotFound) {
			cfg.RetentionBytes = []int64{-1, 2 << 10, 8 << 10}[rng.IntN(3)]
			cfg.Retention = []time.Duration{eventlog.RetainForever, time.Millisecond, time.Hour}[rng.IntN(3)]
			if name != chaosStable && rng.IntN(2) == 0 {
				cfg.CleanupPolicy = []eventlog.CleanupPolicy{eventlog.CleanupDelete, eventlog.CleanupCompact}[rng.IntN(2)]
			}
			c.check("AlterTopicConfig", after, c.l.AlterTopicConfig(c.ctx, name, cfg), eventlog.ErrTopicNotFound, eventlog.ErrPartitionNotFound)
		}
	case 4, 5:
		name := c.topic(rng)
		p, err := c.l.Partition(name, int32(rng.IntN(2)))
		if c.check("Partition", after, err, eventlog.ErrTopicNotFound, eventlog.ErrPartitionNotFound) {
			to := p.LogStartOffset() + rng.Int64N(p.HighWatermark()-p.LogStartOffset()+1)
			_, err := c.l.DeleteRecords(c.ctx, name, p.ID(), to)
			// ErrInvalidConfig: a churned topic may be compacted.
			c.check("DeleteRecords", after, err, eventlog.ErrTopicNotFound, eventlog.ErrOffsetOutOfRange, eventlog.ErrInvalidConfig)
		}
	case 6:
		// An internal hook, not an API call: after Close it has nothing to do.
		c.check("EnforceRetention", false, eventlog.EnforceRetention(c.l), eventlog.ErrTopicNotFound)
	case 7:
		name := []string{chaosCompact, churn}[rng.IntN(2)]
		c.check("Compact", after, c.l.Compact(c.ctx, name), eventlog.ErrTopicNotFound, eventlog.ErrInvalidConfig)
	case 8:
		_, err := c.l.ResetGroupOffsets(c.ctx, "g2", eventlog.ResetOffsetsSpec{To: eventlog.ResetTarget(1 + rng.IntN(4)), Offset: rng.Int64N(100), Time: time.Now().Add(-time.Duration(rng.IntN(1000)) * time.Millisecond)})
		c.check("ResetGroupOffsets", after, err, eventlog.ErrGroupNotEmpty, eventlog.ErrGroupNotFound, eventlog.ErrTopicNotFound)
	case 9:
		c.check("DeleteGroup", after, c.l.DeleteGroup(c.ctx, "g2"), eventlog.ErrGroupNotEmpty, eventlog.ErrGroupNotFound)
	case 10:
		_, err := c.l.DescribeGroup("g")
		c.check("DescribeGroup", after, err, eventlog.ErrGroupNotFound)
		_, err = c.l.GroupOffsets("g")
		c.check("GroupOffsets", after, err, eventlog.ErrGroupNotFound)
		_ = c.l.Stats()
	case 11:
		p, err := c.l.Partition(churn, 0)
		if c.check("Partition churn", after, err, eventlog.ErrTopicNotFound) {
			from := p.LogStartOffset()
			for _, err := range p.Views(from) {
				if errors.Is(err, eventlog.ErrOffsetOutOfRange) && p.LogStartOffset() > from {
					break // retention or DeleteRecords moved the log start since it was read
				}
				if err != nil {
					c.check("Partition.Views", after, err, eventlog.ErrTopicNotFound)
					break
				}
			}
		}
	}
}

// reader follows the directory with a read-only Log, opened again now
// and then; the last iteration closes it.
func (c *chaos) reader(rng *rand.Rand, _ int) {
	if c.ro != nil && rng.IntN(10) == 0 {
		c.check("Close read-only", false, c.ro.Close())
		c.ro = nil
	}
	if c.ro == nil {
		ro, err := eventlog.Open(c.dir, &eventlog.Options{ReadOnly: true, FS: eventlogtest.NoSyncFS()})
		if !c.check("Open read-only", false, err) {
			return
		}
		c.ro, c.roSeen = ro, c.newConsumed("read-only", ro)
	}
	if !c.check("Refresh", false, c.ro.Refresh()) {
		return
	}
	name := []string{chaosStable, chaosTxn, chaosCompact}[rng.IntN(3)]
	cons, err := c.ro.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	if !c.check("NewConsumer read-only", false, err) {
		return
	}
	defer func() { c.check("Consumer.Close read-only", false, cons.Close()) }()
	tps := []eventlog.TopicPartition{{Topic: name, Partition: 0}, {Topic: name, Partition: 1}}
	if !c.check("Assign read-only", false, cons.Assign(tps...)) {
		return
	}
	c.roSeen.reset()
	for v, err := range cons.ViewsToEnd(c.ctx) {
		if err != nil {
			c.check("ViewsToEnd read-only", false, err)
			return
		}
		if name != chaosCompact {
			c.roSeen.see(v.Topic, v.Partition, v.Offset, v.Value)
		}
	}
}

// verifyReopened opens the directory again and checks that what was
// acknowledged is there.
func (c *chaos) verifyReopened(opts *eventlog.Options) {
	t := c.t
	// Retention stays still while the checks read: on its ticker it would
	// delete segments ahead of a read from the log start taken before it,
	// which then moves on to the next segment listed, a gap of records
	// deleted, not lost.
	still := *opts
	still.RetentionCheckInterval = time.Hour
	l, err := eventlog.Open(c.dir, &still)
	require.NoError(t, err)
	defer func() { assert.NoError(t, l.Close()) }()

	// Acknowledged records of the stable topic, but those deleted, are there,
	// at dense offsets.
	for tp, want := range c.acked {
		p, err := l.Partition(tp.Topic, tp.Partition)
		require.NoError(t, err)
		start := p.LogStartOffset()
		got := map[int64]string{}
		next := start
		for v, err := range p.Views(start) {
			require.NoError(t, err)
			if v.Offset != next {
				acked := 0
				for off := next; off < v.Offset; off++ {
					if _, ok := want[off]; ok {
						acked++
					}
				}
				assert.Failf(t, "offsets not dense", "%s: offsets %d to %d missing (%d of them acknowledged), log start %d (%d now), segments %v",
					tp, next, v.Offset-1, acked, start, p.LogStartOffset(), segmentFilesOf(t, c.dir, tp))
			}
			next = v.Offset + 1
			got[v.Offset] = string(v.Value)
		}
		for off, value := range want {
			if off >= start {
				assert.Equal(t, value, got[off], "%s offset %d (log start %d)", tp, off, start)
			}
		}
	}

	// Committed transactions are there; aborted ones are not, for a
	// read_committed reader.
	cons, err := l.NewConsumer(&eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, err)
	defer cons.Close()
	require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: chaosTxn, Partition: 0}, eventlog.TopicPartition{Topic: chaosTxn, Partition: 1}))
	read := map[string]eventlog.TopicPartition{}
	seen := c.newConsumed("reopened", l)
	for r, err := range cons.ReadToEnd(c.ctx) {
		require.NoError(t, err)
		seen.see(r.Topic, r.Partition, r.Offset, r.Value)
		read[string(r.Value)] = eventlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
	}
	for v, tp := range c.committed {
		got, ok := read[v]
		if assert.True(t, ok, "committed %q missing", v) {
			assert.Equal(t, tp, got)
		}
	}

	// The compacted topic's newest value per key is the last acknowledged,
	// before and after compacting it again.
	for round := range 2 {
		latest, err := l.ReplayLatest(c.ctx, chaosCompact)
		require.NoError(t, err)
		for k, w := range c.latest {
			if w.unsure || w.offset < 0 {
				continue
			}
			got, ok := latest[k]
			if w.value == nil {
				assert.False(t, ok, "round %d: key %s deleted, has %q", round, k, got)
			} else {
				assert.Equal(t, string(w.value), string(got), "round %d: key %s", round, k)
			}
		}
		require.NoError(t, l.Compact(c.ctx, chaosCompact))
	}

	// Group g's committed offsets of the stable topic never went backwards.
	p, err := l.Partition("__consumer_offsets", 0)
	require.NoError(t, err)
	last := map[eventlog.TopicPartition]int64{}
	for v, err := range p.Views(p.LogStartOffset()) {
		require.NoError(t, err)
		if v.Value == nil || len(v.Key) < 2 || v.Key[1] == 2 {
			continue
		}
		var k kmsg.OffsetCommitKey
		require.NoError(t, k.ReadFrom(v.Key))
		if k.Group != "g" || k.Topic != chaosStable {
			continue
		}
		var val kmsg.OffsetCommitValue
		require.NoError(t, val.ReadFrom(v.Value))
		tp := eventlog.TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if prev, ok := last[tp]; ok {
			assert.GreaterOrEqual(t, val.Offset, prev, "group g's committed offset of %s went backwards at offset %d", tp, v.Offset)
		}
		last[tp] = val.Offset
	}
	c.mu.Lock()
	assert.Empty(t, c.findings, "unexpected outcomes after reopening")
	c.mu.Unlock()
}

// segmentFilesOf lists the files of a partition's directory, for failure
// messages.
func segmentFilesOf(t *testing.T, dir string, tp eventlog.TopicPartition) []string {
	entries, err := os.ReadDir(filepath.Join(dir, "topics", tp.Topic, strconv.Itoa(int(tp.Partition))))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		names = append(names, fmt.Sprintf("%s(%d)", e.Name(), info.Size()))
	}
	return names
}
