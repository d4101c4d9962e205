package eventlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventlog/eventlog"
)

// The group stress test lets members join, poll, commit, close, come back
// (static members) and get evicted, in random order, on several topics
// while a producer appends, and checks the history they leave:
//
//   - one owner per partition per generation: no two members ever report
//     the same partition in the same generation, nor return its records;
//   - committed offsets never go backwards: read back from
//     __consumer_offsets in log order;
//   - at least once: every record below the final committed offset was
//     returned by some Poll, so no handoff skipped any.
//
// Evictions come from a fake clock (Options.Now) that workers push past
// MaxPollInterval at random: every member not inside Poll at that moment
// is evicted. EVENTLOG_GROUP_STRESS_STEPS scales the run (default 150
// steps per worker).

type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type ownership struct {
	member     string
	generation int32
	tp         eventlog.TopicPartition
}

type stressHistory struct {
	mu        sync.Mutex
	owners    map[[2]any]string // (generation, partition) -> member
	delivered map[eventlog.TopicPartition]map[int64]bool
	conflicts []string
	commits   int
	rejected  int
	evictions int
}

func (h *stressHistory) own(o ownership) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := [2]any{o.generation, o.tp}
	if prev, ok := h.owners[k]; ok && prev != o.member {
		h.conflicts = append(h.conflicts, fmt.Sprintf("%s owned by %s and %s in generation %d", o.tp, prev, o.member, o.generation))
	}
	h.owners[k] = o.member
}

func (h *stressHistory) deliver(r eventlog.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	tp := eventlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
	if h.delivered[tp] == nil {
		h.delivered[tp] = map[int64]bool{}
	}
	h.delivered[tp][r.Offset] = true
}

func TestGroupStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	steps := 150
	if s := envIntOr("EVENTLOG_GROUP_STRESS_STEPS", 0); s > 0 {
		steps = s
	}
	for _, assignor := range []eventlog.Assignor{eventlog.RangeAssignor{}, eventlog.RoundRobinAssignor{}, eventlog.StickyAssignor{}, eventlog.CooperativeStickyAssignor{}} {
		t.Run(assignor.Name(), func(t *testing.T) {
			runGroupStress(t, assignor, steps, uint64(len(assignor.Name())))
		})
	}
}

func envIntOr(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil {
		return def
	}
	return n
}

func runGroupStress(t *testing.T, assignor eventlog.Assignor, steps int, seed uint64) {
	const maxPoll = time.Minute
	clock := newFakeClock()
	l, err := eventlog.Open(t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS, Now: clock.Now})
	require.NoError(t, err)
	defer l.Close()
	topics := map[string]int{"a": 3, "b": 4, "c": 5}
	for name, n := range topics {
		require.NoError(t, l.CreateTopic(name, eventlog.TopicConfig{Partitions: n}))
		fill(t, l, name, n, 50)
	}
	stop := make(chan struct{})
	var producer sync.WaitGroup
	producer.Add(1)
	go func() {
		defer producer.Done()
		rng := rand.New(rand.NewPCG(seed, 99))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := []string{"a", "b", "c"}[rng.IntN(3)]
			p, err := l.Partition(name, int32(rng.IntN(topics[name])))
			if !assert.NoError(t, err) {
				return
			}
			_, err = p.Append(ctx, []eventlog.Record{{Value: fmt.Appendf(nil, "%d", i)}}, eventlog.AppendOptions{})
			assert.NoError(t, err)
		}
	}()

	h := &stressHistory{owners: map[[2]any]string{}, delivered: map[eventlog.TopicPartition]map[int64]bool{}}
	// Workers report failures with assert, not require: they are not the
	// test's goroutine.
	newMember := func(rng *rand.Rand, worker int) *eventlog.Consumer {
		o := &eventlog.ConsumerOptions{
			GroupID:           "g",
			AutoOffsetReset:   eventlog.OffsetResetEarliest,
			FetchMaxWait:      time.Millisecond,
			MaxPollRecords:    1 + rng.IntN(40),
			MaxPollInterval:   maxPoll,
			SessionTimeout:    maxPoll / 2,
			Assignor:          assignor,
			DisableAutoCommit: rng.IntN(2) == 0,
		}
		if rng.IntN(3) == 0 {
			o.GroupInstanceID = fmt.Sprintf("static-%d", worker)
		}
		c, err := l.NewConsumer(o)
		if assert.NoError(t, err) {
			assert.NoError(t, c.Subscribe("a", "b", "c"))
		}
		return c
	}
	record := func(c *eventlog.Consumer, recs []eventlog.Record) {
		md, err := c.GroupMetadata()
		assert.NoError(t, err)
		if md.GenerationID < 0 {
			assert.Empty(t, recs)
			return
		}
		// A static member is its instance: one that comes back takes its
		// place, and its partitions, in the same generation.
		owner := md.MemberID
		if md.GroupInstanceID != "" {
			owner = md.GroupInstanceID
		}
		assigned := c.Assignment()
		for _, tp := range assigned {
			h.own(ownership{owner, md.GenerationID, tp})
		}
		for _, r := range recs {
			tp := eventlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
			assert.Contains(t, assigned, tp, "a poll returned a record of a partition not assigned at its end")
			h.deliver(r)
		}
	}

	var workers sync.WaitGroup
	for w := range 6 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			c := newMember(rng, w)
			defer func() { _ = c.Close() }()
			for range steps {
				switch x := rng.IntN(100); {
				case x < 70:
					recs, err := c.Poll(ctx)
					if !assert.NoError(t, err) {
						return
					}
					record(c, recs)
				case x < 85:
					err := c.CommitSync(ctx)
					h.mu.Lock()
					if err == nil {
						h.commits++
					} else {
						h.rejected++
					}
					h.mu.Unlock()
					if err != nil {
						assert.ErrorIs(t, err, eventlog.ErrCommitFailed)
					}
				case x < 88:
					// Everyone not inside Poll now is silent too long.
					clock.Advance(maxPoll + time.Second)
					h.mu.Lock()
					h.evictions++
					h.mu.Unlock()
				case x < 95:
					assert.NoError(t, c.Close())
					c = newMember(rng, w)
				default:
					c.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
						if err != nil {
							assert.ErrorIs(t, err, eventlog.ErrCommitFailed)
						}
					})
				}
			}
		}()
	}
	workers.Wait()
	close(stop)
	producer.Wait()
	h.mu.Lock()
	assert.Empty(t, h.conflicts)
	t.Logf("%d commits, %d rejected, %d clock jumps, %d (generation, partition) owners", h.commits, h.rejected, h.evictions, len(h.owners))
	h.mu.Unlock()

	// Committed offsets never went backwards, and the group metadata
	// written at each completed generation has generations that never go
	// backwards and no partition owned twice: read the records back in log
	// order, with an independent decoder.
	p, err := l.Partition("__consumer_offsets", 0)
	require.NoError(t, err)
	last := map[eventlog.TopicPartition]int64{}
	var generation int32
	for _, r := range readAll(t, p, 0) {
		if r.Key[1] == 2 {
			checkGroupMetadataRecord(t, r, &generation)
			continue
		}
		var k kmsg.OffsetCommitKey
		require.NoError(t, k.ReadFrom(r.Key))
		var v kmsg.OffsetCommitValue
		require.NoError(t, v.ReadFrom(r.Value))
		tp := eventlog.TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if prev, ok := last[tp]; ok {
			require.GreaterOrEqual(t, v.Offset, prev, "committed offset of %s went backwards at offset %d", tp, r.Offset)
		}
		last[tp] = v.Offset
	}

	// At least once: a final member resumes every partition at its
	// committed offset and reads to the end; together with what the
	// workers polled, every record below the end was delivered.
	resumed := map[eventlog.TopicPartition]int64{}
	positions := &recorder{onAssigned: func(_ context.Context, c *eventlog.Consumer, tps []eventlog.TopicPartition) {
		for _, tp := range tps {
			pos, err := c.Position(tp)
			require.NoError(t, err)
			resumed[tp] = pos
		}
	}}
	final, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: assignor, AutoOffsetReset: eventlog.OffsetResetEarliest,
		FetchMaxWait: time.Millisecond, RebalanceListener: positions})
	require.NoError(t, err)
	defer final.Close()
	require.NoError(t, final.Subscribe("a", "b", "c"))
	total := 0
	for _, n := range topics {
		total += n
	}
	clock.Advance(maxPoll + time.Second) // evicts what the workers left behind (static members)
	for idle := 0; idle < 2; {
		recs, err := final.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			h.deliver(r)
		}
		if len(recs) == 0 && len(final.Assignment()) == total {
			idle++
		}
		clock.Advance(time.Second)
	}
	require.Len(t, resumed, total)
	for tp, pos := range resumed {
		assert.Equal(t, last[tp], pos, "%s resumes at its committed offset (0 if none)", tp)
	}
	for name, n := range topics {
		for id := range n {
			tp := eventlog.TopicPartition{Topic: name, Partition: int32(id)}
			p, err := l.Partition(name, int32(id))
			require.NoError(t, err)
			hw := p.HighWatermark()
			var missing []int64
			for off := range hw {
				if !h.delivered[tp][off] {
					missing = append(missing, off)
				}
			}
			require.Empty(t, missing, "%s: records never delivered to any member", tp)
		}
	}
}

// checkGroupMetadataRecord checks a GroupMetadata record of the stress
// test's group with kmsg: its generation is not below the last one's, and
// no partition is assigned to two members.
func checkGroupMetadataRecord(t *testing.T, r eventlog.Record, generation *int32) {
	t.Helper()
	var k kmsg.GroupMetadataKey
	require.NoError(t, k.ReadFrom(r.Key))
	assert.Equal(t, "g", k.Group)
	var v kmsg.GroupMetadataValue
	require.NoError(t, v.ReadFrom(r.Value))
	require.GreaterOrEqual(t, v.Generation, *generation, "generation went backwards at offset %d", r.Offset)
	*generation = v.Generation
	owner := map[eventlog.TopicPartition]string{}
	for _, m := range v.Members {
		var a kmsg.ConsumerMemberAssignment
		require.NoError(t, a.ReadFrom(m.Assignment))
		for _, at := range a.Topics {
			for _, id := range at.Partitions {
				tp := eventlog.TopicPartition{Topic: at.Topic, Partition: id}
				require.NotContains(t, owner, tp, "generation %d assigns %s twice", v.Generation, tp)
				owner[tp] = m.MemberID
			}
		}
	}
}
