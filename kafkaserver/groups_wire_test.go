package kafkaserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// wireGroup is a group of kgo consumers of topic "t" that record what
// each consumed and which partitions each owns.
type wireGroup struct {
	t        *testing.T
	addr     string
	balancer kgo.GroupBalancer

	mu       sync.Mutex
	seen     map[string]string // "p/offset" -> consumer that consumed it
	dups     []string
	owner    map[int32]map[string]bool
	changed  chan struct{}
	received int
	events   map[string]int // assignments and revocations by consumer
}

func newWireGroup(t *testing.T, addr string, b kgo.GroupBalancer) *wireGroup {
	return &wireGroup{t: t, addr: addr, balancer: b, seen: map[string]string{}, owner: map[int32]map[string]bool{}, events: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (g *wireGroup) poke() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

func (g *wireGroup) own(name string, m map[string][]int32, owned bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events[name]++
	for _, ps := range m {
		for _, p := range ps {
			if g.owner[p] == nil {
				g.owner[p] = map[string]bool{}
			}
			if owned {
				g.owner[p][name] = true
			} else {
				delete(g.owner[p], name)
			}
		}
	}
	g.poke()
}

// start starts a consumer named name that commits what it polled when
// its partitions are revoked, and polls until the returned stop.
func (g *wireGroup) start(ctx context.Context, name string, opts ...kgo.Opt) (stop func()) {
	g.t.Helper()
	var cl *kgo.Client
	commit := func(ctx context.Context, c *kgo.Client, m map[string][]int32) {
		if err := c.CommitUncommittedOffsets(ctx); err != nil {
			g.t.Errorf("%s: commit on revoke: %v", name, err)
		}
		g.own(name, m, false)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.Balancers(g.balancer), kgo.HeartbeatInterval(50 * time.Millisecond), kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(), kgo.FetchMaxPartitionBytes(200), kgo.MaxConcurrentFetches(1),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.own(name, m, true) }),
		kgo.OnPartitionsRevoked(commit),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.own(name, m, false) }),
	}, opts...)...)
	require.NoError(g.t, err)
	pollCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pollCtx.Err() == nil {
			fs := cl.PollRecords(pollCtx, 5)
			g.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
				if prev, ok := g.seen[k]; ok {
					g.dups = append(g.dups, k+" by "+prev+" and "+name)
				}
				g.seen[k] = name
				g.received++
			})
			g.poke()
			g.mu.Unlock()
			cl.AllowRebalance()
		}
	}()
	return func() {
		cancel()
		<-done
		cl.Close()
	}
}

// waitOwned waits until every one of n partitions is owned by exactly one
// of members, each owning at least one.
func (g *wireGroup) waitOwned(ctx context.Context, n int, members ...string) {
	g.t.Helper()
	for {
		g.mu.Lock()
		ok := true
		per := map[string]int{}
		for p := int32(0); p < int32(n); p++ {
			if len(g.owner[p]) != 1 {
				ok = false
			}
			for m := range g.owner[p] {
				per[m]++
			}
		}
		for _, m := range members {
			ok = ok && per[m] > 0
		}
		ok = ok && len(per) == len(members)
		state := fmt.Sprint(g.owner)
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-g.changed:
		case <-ctx.Done():
			g.t.Fatalf("want partitions owned once by %v, have %s", members, state)
		}
	}
}

// waitEvents waits until consumer name saw n assignments and revocations.
func (g *wireGroup) waitEvents(ctx context.Context, name string, n int) {
	g.t.Helper()
	for {
		g.mu.Lock()
		have := g.events[name]
		g.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-g.changed:
		case <-ctx.Done():
			g.t.Fatalf("%s saw %d of %d assignments and revocations", name, have, n)
		}
	}
}

// waitReceived waits until n distinct records were consumed.
func (g *wireGroup) waitReceived(ctx context.Context, n int) {
	g.t.Helper()
	for {
		g.mu.Lock()
		have := len(g.seen)
		g.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-g.changed:
		case <-ctx.Done():
			g.t.Fatalf("consumed %d of %d records", have, n)
		}
	}
}

// wireMember is a member of a wireGroup test: its name, and how to start
// it, which returns how to stop it.
type wireMember struct {
	name  string
	start func() (stop func())
}

// inTurns starts the three members one after another and stops them in the
// same order. After each change every one of the partitions must have one
// owner among the members running and the records must keep coming; at the
// end each of the total records must have been received exactly once.
func (g *wireGroup) inTurns(t *testing.T, ctx context.Context, partitions, total int, first, second, third wireMember) {
	t.Helper()
	stopFirst := first.start()
	g.waitOwned(ctx, partitions, first.name)
	g.waitReceived(ctx, total/24)
	stopSecond := second.start()
	g.waitOwned(ctx, partitions, first.name, second.name)
	g.waitReceived(ctx, total/6)
	stopThird := third.start()
	g.waitOwned(ctx, partitions, first.name, second.name, third.name)
	g.waitReceived(ctx, total/3)
	stopFirst()
	g.waitOwned(ctx, partitions, second.name, third.name)
	g.waitReceived(ctx, total/2)
	stopSecond()
	g.waitOwned(ctx, partitions, third.name)
	g.waitReceived(ctx, total)
	stopThird()

	g.mu.Lock()
	defer g.mu.Unlock()
	assert.Empty(t, g.dups)
	assert.Len(t, g.seen, total)
}

func produceN(t *testing.T, ctx context.Context, cl *kgo.Client, partitions, perPartition int) {
	t.Helper()
	for i := 0; i < perPartition; i++ {
		for p := 0; p < partitions; p++ {
			cl.Produce(ctx, &kgo.Record{Topic: "t", Partition: int32(p), Value: []byte(fmt.Sprintf("%d-%d", p, i))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	require.NoError(t, cl.Flush(ctx))
}

func TestWireGroupMembersJoinAndLeaveInTurns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"sticky", kgo.StickyBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const partitions, per = 6, 200
			f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: partitions}})
			ctx := testContext(t)
			produceN(t, ctx, f.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), partitions, per)
			g := newWireGroup(t, f.addr, tc.balancer)

			remote := func(name string) wireMember {
				return wireMember{name, func() func() { return g.start(ctx, name) }}
			}
			g.inTurns(t, ctx, partitions, partitions*per, remote("a"), remote("b"), remote("c"))
		})
	}
}

func TestWireGroupDeleteActiveGroup(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
	ctx := testContext(t)
	g := newWireGroup(t, f.addr, kgo.CooperativeStickyBalancer())
	stop := g.start(ctx, "a")
	defer stop()
	g.waitOwned(ctx, 2, "a")
	adm := kadm.NewClient(f.client(t))
	res, err := adm.DeleteGroups(ctx, "g")
	require.NoError(t, err)
	assert.ErrorIs(t, res["g"].Err, kerr.NonEmptyGroup)
	listed, err := adm.ListGroups(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Stable", listed["g"].State)
	described, err := adm.DescribeGroups(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, "Stable", described["g"].State)
	assert.Len(t, described["g"].Members, 1)
}

func TestWireGroupStaticMemberRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 4}})
			ctx := testContext(t)
			g := newWireGroup(t, f.addr, tc.balancer)
			stopA := g.start(ctx, "a", kgo.InstanceID("ia"))
			g.waitOwned(ctx, 4, "a")
			stopB := g.start(ctx, "b", kgo.InstanceID("ib"))
			defer stopB()
			g.waitOwned(ctx, 4, "a", "b")
			g.mu.Lock()
			before, bEvents := fmt.Sprint(g.owner), g.events["b"]
			g.mu.Unlock()
			adm := kadm.NewClient(f.client(t))
			d1, err := adm.DescribeGroups(ctx, "g")
			require.NoError(t, err)

			stopA() // a static member does not leave
			g.mu.Lock()
			for p := range g.owner { // a's revocation on close
				if len(g.owner[p]) == 0 {
					g.owner[p] = map[string]bool{"a": true}
				}
			}
			g.mu.Unlock()
			stopA = g.start(ctx, "a", kgo.InstanceID("ia"))
			defer stopA()
			g.waitOwned(ctx, 4, "a", "b")
			g.mu.Lock()
			after, bEventsAfter := fmt.Sprint(g.owner), g.events["b"]
			g.mu.Unlock()
			assert.Equal(t, before, after)
			assert.Equal(t, bEvents, bEventsAfter, "b saw a rebalance")
			d2, err := adm.DescribeGroups(ctx, "g")
			require.NoError(t, err)
			require.Len(t, d2["g"].Members, 2)
			for _, m := range d1["g"].Members {
				if *m.InstanceID == "ib" {
					var still bool
					for _, m2 := range d2["g"].Members {
						still = still || m2.MemberID == m.MemberID
					}
					assert.True(t, still, "b kept its member ID")
				}
			}
		})
	}
}

// cuttableDialer dials until cut, which closes what it dialed: a client
// killed without a word to the server.
type cuttableDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cuttableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cuttableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

func TestWireGroupKilledMemberEvicted(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 4}))
	f := serve(t, l, &kafkaserver.Options{GroupMinSessionTimeout: 100 * time.Millisecond})
	ctx := testContext(t)
	g := newWireGroup(t, f.addr, kgo.CooperativeStickyBalancer())
	var d cuttableDialer
	stopA := g.start(ctx, "a", kgo.Dialer(d.dial), kgo.SessionTimeout(time.Second), kgo.RetryTimeout(time.Second))
	g.waitOwned(ctx, 4, "a")
	stopB := g.start(ctx, "b", kgo.SessionTimeout(time.Second))
	defer stopB()
	g.waitOwned(ctx, 4, "a", "b")
	d.kill()
	stopA()
	g.mu.Lock()
	for p := range g.owner {
		delete(g.owner[p], "a")
	}
	g.mu.Unlock()
	g.waitOwned(ctx, 4, "b")
}

func TestWireGroupAdminRemovesStaticMember(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 4}})
	ctx := testContext(t)
	g := newWireGroup(t, f.addr, kgo.RangeBalancer())
	stopA := g.start(ctx, "a", kgo.InstanceID("ia"), kgo.SessionTimeout(time.Minute))
	g.waitOwned(ctx, 4, "a")
	stopB := g.start(ctx, "b", kgo.InstanceID("ib"), kgo.SessionTimeout(time.Minute))
	defer stopB()
	g.waitOwned(ctx, 4, "a", "b")
	stopA() // static: no LeaveGroup; the group keeps its place
	adm := kadm.NewClient(f.client(t))
	d, err := adm.DescribeGroups(ctx, "g")
	require.NoError(t, err)
	require.Len(t, d["g"].Members, 2)
	res, err := adm.LeaveGroup(ctx, kadm.LeaveGroup("g").InstanceIDs("ia", "nobody"))
	require.NoError(t, err)
	assert.NoError(t, res["ia"].Err)
	assert.ErrorIs(t, res["nobody"].Err, kerr.UnknownMemberID)
	g.mu.Lock()
	for p := range g.owner {
		delete(g.owner[p], "a")
	}
	g.mu.Unlock()
	g.waitOwned(ctx, 4, "b")
}

// startLocal starts an in-process Consumer of the group, recorded as name.
func (g *wireGroup) startLocal(ctx context.Context, l *eventlog.Log, name string, a eventlog.Assignor) (stop func()) {
	g.t.Helper()
	// Earliest, as kgo's default: a partition nobody committed yet is
	// read from its start, not (Kafka's default) its end.
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: a, FetchMaxWait: 20 * time.Millisecond, MaxPollRecords: 5,
		AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(g.t, err)
	require.NoError(g.t, c.Subscribe("t"))
	pollCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var owned []eventlog.TopicPartition
	setOwned := func(tps []eventlog.TopicPartition) {
		var was, now []int32
		for _, tp := range owned {
			was = append(was, tp.Partition)
		}
		for _, tp := range tps {
			now = append(now, tp.Partition)
		}
		g.own(name, map[string][]int32{"t": was}, false)
		g.own(name, map[string][]int32{"t": now}, true)
		owned = tps
	}
	go func() {
		for pollCtx.Err() == nil {
			recs, err := c.Poll(pollCtx)
			if err != nil && pollCtx.Err() == nil {
				done <- err
				return
			}
			g.mu.Lock()
			for _, r := range recs {
				k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
				if prev, ok := g.seen[k]; ok {
					g.dups = append(g.dups, k+" by "+prev+" and "+name)
				}
				g.seen[k] = name
			}
			g.poke()
			g.mu.Unlock()
			setOwned(c.Assignment())
		}
		done <- nil
	}()
	return func() {
		cancel()
		require.NoError(g.t, <-done)
		require.NoError(g.t, c.Close())
		setOwned(nil)
	}
}

func TestWireGroupMixedMembersJoinAndLeaveInTurns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		assignor eventlog.Assignor
		balancer kgo.GroupBalancer
	}{
		{"range", eventlog.RangeAssignor{}, kgo.RangeBalancer()},
		{"cooperative-sticky", eventlog.CooperativeStickyAssignor{}, kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const partitions, per = 6, 200
			f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: partitions}})
			ctx := testContext(t)
			produceN(t, ctx, f.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), partitions, per)
			g := newWireGroup(t, f.addr, tc.balancer)

			remote := func(name string) wireMember {
				return wireMember{name, func() func() { return g.start(ctx, name) }}
			}
			local := wireMember{"local", func() func() { return g.startLocal(ctx, f.log, "local", tc.assignor) }}
			g.inTurns(t, ctx, partitions, partitions*per, remote("a"), local, remote("b"))
		})
	}
}

// joinWritten is a kgo hook that tells when a JoinGroup was written.
type joinWritten chan struct{}

func (j joinWritten) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 11 && err == nil {
		select {
		case j <- struct{}{}:
		default:
		}
	}
}

// A new member whose client dies while its JoinGroup waits never
// learned its member ID: it cannot leave, and must not stay in the group,
// owning partitions nobody consumes until its session times out.
func TestWireGroupJoinAbandonedByNewMember(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 4}})
	ctx := testContext(t)
	produceN(t, ctx, f.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), 4, 10)
	g := newWireGroup(t, f.addr, kgo.RangeBalancer())

	// a owns everything, and holds on to it: it polled, and does not
	// allow a rebalance, so that b's JoinGroup waits.
	a, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(50*time.Millisecond),
		kgo.BlockRebalanceOnPoll(), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.own("a", m, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.own("a", m, false) }),
	)
	require.NoError(t, err)
	defer a.Close()
	g.waitOwned(ctx, 4, "a")
	require.NotEmpty(t, a.PollFetches(ctx).Records())

	written := make(joinWritten, 1)
	var dialer cuttableDialer
	b, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(time.Minute), kgo.WithHooks(written), kgo.Dialer(dialer.dial))
	require.NoError(t, err)
	select {
	case <-written:
	case <-ctx.Done():
		t.Fatal("b sent no JoinGroup")
	}
	dialer.kill() // b dies while its JoinGroup waits for a
	b.Close()

	// a gives its partitions up and rejoins: b is gone, a gets all.
	pollCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pollCtx.Err() == nil {
			a.AllowRebalance()
			a.PollFetches(pollCtx)
		}
	}()
	defer func() { stop(); <-done; a.AllowRebalance() }()
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	g.waitEvents(waitCtx, "a", 3) // assigned, revoked, assigned again
	g.waitOwned(waitCtx, 4, "a")
	d, err := f.log.DescribeGroup("g")
	require.NoError(t, err)
	assert.Len(t, d.Members, 1)
}

func TestWireGroupTopicsCreatedAndDeleted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
			ctx := testContext(t)
			owners := map[string]map[string]bool{} // "topic/p" -> members
			var mu sync.Mutex
			changed := make(chan struct{}, 1)
			track := func(name string, owned bool) func(context.Context, *kgo.Client, map[string][]int32) {
				return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
					mu.Lock()
					defer mu.Unlock()
					for topic, ps := range m {
						for _, p := range ps {
							k := fmt.Sprintf("%s/%d", topic, p)
							if owners[k] == nil {
								owners[k] = map[string]bool{}
							}
							if owned {
								owners[k][name] = true
							} else {
								delete(owners[k], name)
							}
						}
					}
					select {
					case changed <- struct{}{}:
					default:
					}
				}
			}
			wait := func(want ...string) {
				t.Helper()
				for {
					mu.Lock()
					ok := true
					var have []string
					for k, m := range owners {
						if len(m) > 0 {
							have = append(have, k)
						}
						if len(m) > 1 {
							ok = false
						}
					}
					for _, k := range want {
						ok = ok && len(owners[k]) == 1
					}
					ok = ok && len(have) == len(want)
					state := fmt.Sprint(owners)
					mu.Unlock()
					if ok {
						return
					}
					select {
					case <-changed:
					case <-ctx.Done():
						t.Fatalf("want %v owned once, have %s", want, state)
					}
				}
			}
			for _, name := range []string{"a", "b"} {
				f.client(t, kgo.ConsumerGroup("g"), kgo.ConsumeRegex(), kgo.ConsumeTopics("^t.*"),
					kgo.Balancers(tc.balancer), kgo.HeartbeatInterval(50*time.Millisecond),
					kgo.MetadataMaxAge(100*time.Millisecond), kgo.MetadataMinAge(10*time.Millisecond),
					kgo.OnPartitionsAssigned(track(name, true)), kgo.OnPartitionsRevoked(track(name, false)),
					kgo.OnPartitionsLost(track(name, false)))
			}
			wait("t/0", "t/1")
			adm := kadm.NewClient(f.client(t))
			_, err := adm.CreateTopic(ctx, 2, 1, nil, "t2")
			require.NoError(t, err)
			wait("t/0", "t/1", "t2/0", "t2/1")
			_, err = adm.DeleteTopics(ctx, "t")
			require.NoError(t, err)
			wait("t2/0", "t2/1")
		})
	}
}
