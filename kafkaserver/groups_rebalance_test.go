package kafkaserver_test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawMember is a member of group "g", subscribed to topic "t", that speaks
// the classic group protocol by hand over a connection of its own, so that
// the test decides when it rejoins, and whether.
type rawMember struct {
	t        *testing.T
	r        *rawConn
	protocol string // "range" or "cooperative-sticky"
	session  time.Duration
	// rebalance is the rebalance timeout it gives in JoinGroup (a
	// client's max.poll.interval.ms).
	rebalance time.Duration

	id         string // "" until its first JoinGroup is answered
	generation int32
	owned      []int32 // of "t", as its last SyncGroup told
}

func newRawMember(t *testing.T, addr, protocol string, session, rebalance time.Duration) *rawMember {
	return &rawMember{t: t, r: dialRaw(t, addr), protocol: protocol, session: session, rebalance: rebalance, generation: -1}
}

// sendJoin sends a JoinGroup without reading its answer: a new member's
// until the member has an ID, then a rejoin that gives up what the
// protocol gives up first (everything, eager).
func (m *rawMember) sendJoin() {
	m.t.Helper()
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Version, sub.Topics = 1, []string{"t"}
	if m.protocol == "cooperative-sticky" && len(m.owned) > 0 {
		owned := kmsg.NewConsumerMemberMetadataOwnedPartition()
		owned.Topic, owned.Partitions = "t", m.owned
		sub.OwnedPartitions = append(sub.OwnedPartitions, owned)
	}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = m.protocol, sub.AppendTo(nil)
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(5)
	req.Group, req.MemberID, req.ProtocolType = "g", m.id, "consumer"
	req.SessionTimeoutMillis = int32(m.session / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(m.rebalance / time.Millisecond)
	req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	m.r.send(req)
}

// joined reads the answer of the JoinGroup sent last.
func (m *rawMember) joined() int16 {
	m.t.Helper()
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(5)
	m.r.receive(resp)
	if resp.ErrorCode == 0 {
		m.id, m.generation = resp.MemberID, resp.Generation
	}
	return resp.ErrorCode
}

func (m *rawMember) join() int16 {
	m.t.Helper()
	m.sendJoin()
	return m.joined()
}

// sync sends SyncGroup and keeps the assignment it answers.
func (m *rawMember) sync() int16 {
	m.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.SetVersion(3)
	req.Group, req.MemberID, req.Generation = "g", m.id, m.generation
	resp := m.r.roundTrip(req).(*kmsg.SyncGroupResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	var a kmsg.ConsumerMemberAssignment
	require.NoError(m.t, a.ReadFrom(resp.MemberAssignment))
	m.owned = nil
	for _, t := range a.Topics {
		require.Equal(m.t, "t", t.Topic)
		m.owned = append(m.owned, t.Partitions...)
	}
	slices.Sort(m.owned)
	return 0
}

func (m *rawMember) heartbeat() int16 {
	m.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.SetVersion(3)
	req.Group, req.MemberID, req.Generation = "g", m.id, m.generation
	return m.r.roundTrip(req).(*kmsg.HeartbeatResponse).ErrorCode
}

// settle does what a client does after a JoinGroup: it syncs, and rejoins
// and syncs again while SyncGroup or Heartbeat tell it to, until a
// Heartbeat has nothing to tell.
func (m *rawMember) settle() {
	m.t.Helper()
	for {
		code := m.sync()
		if code == 0 {
			if code = m.heartbeat(); code == 0 {
				return
			}
		}
		require.Contains(m.t, []int16{kerr.RebalanceInProgress.Code, kerr.IllegalGeneration.Code}, code, "%v", kerr.ErrorForCode(code))
		require.Zero(m.t, m.join())
	}
}

// splitTopic joins a and b, then creates topic "t" with two partitions
// and settles them: a owns partition 0, b partition 1. They join before
// "t" exists, so that nobody holds a partition and the joins are answered
// at once (an eager join waits for partitions to come back).
func splitTopic(t *testing.T, l *eventlog.Log, a, b *rawMember) {
	t.Helper()
	require.Zero(t, a.join())
	require.Zero(t, b.join())
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	a.settle()
	b.settle()
	require.Equal(t, []int32{0}, a.owned)
	require.Equal(t, []int32{1}, b.owned)
}

// TestMemberThatDoesNotRejoinIsRemoved: a member that keeps heartbeating
// but does not rejoin a rebalance is removed once its rebalance timeout has
// passed since the rebalance began, as in Kafka, although its session
// lives on; the rebalance completes without it, and its calls answer
// UNKNOWN_MEMBER_ID. Before, the rebalance waited for it as long as it kept
// heartbeating: under the eager protocol every other member's JoinGroup
// waited for the partitions it held, and under the cooperative one the
// partitions it had to give up stayed with it.
func TestMemberThatDoesNotRejoinIsRemoved(t *testing.T) {
	for _, protocol := range []string{"range", "cooperative-sticky"} {
		t.Run(protocol, func(t *testing.T) {
			const (
				session   = 30 * time.Second
				rebalance = 10 * time.Second // B's
				step      = 6 * time.Second  // between B's heartbeats
			)
			clk := &clock{now: time.UnixMilli(1_700_000_000_000)}
			l := eventlogtest.New(t, &eventlog.Options{Now: clk.Now})
			f := serve(t, l, nil)
			ctx := testContext(t)

			// A's rebalance timeout bounds its JoinGroup's wait in real
			// time, and is the test's.
			a := newRawMember(t, f.addr, protocol, session, testTimeout)
			b := newRawMember(t, f.addr, protocol, session, rebalance)
			splitTopic(t, l, a, b)

			// "t" gains partitions. B's next heartbeat notices, which
			// begins the rebalance now; B ignores it.
			require.NoError(t, l.CreatePartitions(ctx, "t", 4))
			require.Equal(t, kerr.RebalanceInProgress.Code, b.heartbeat())
			require.Equal(t, kerr.RebalanceInProgress.Code, a.heartbeat())
			a.sendJoin() // eager: answered once B's partition comes back

			// B heartbeats within its session timeout, and stays until
			// its rebalance timeout has passed.
			clk.advance(step)
			require.Equal(t, kerr.RebalanceInProgress.Code, b.heartbeat())
			clk.advance(step)
			require.Equal(t, kerr.UnknownMemberID.Code, b.heartbeat(), "B did not rejoin within its rebalance timeout")
			assert.Equal(t, kerr.UnknownMemberID.Code, b.sync())

			// The rebalance completes without B: A has every partition.
			require.Zero(t, a.joined())
			a.settle()
			assert.Equal(t, []int32{0, 1, 2, 3}, a.owned)
			d, err := l.DescribeGroup("g")
			require.NoError(t, err)
			assert.Equal(t, eventlog.GroupStable, d.State)
			require.Len(t, d.Members, 1)
			assert.Equal(t, a.id, d.Members[0].MemberID)
		})
	}
}

// TestWaitingJoinGroupEndsWithItsConnection closes the connection of a new
// member whose JoinGroup waits for a rebalance, with a rebalance timeout of
// 24 days: the JoinGroup ends with it, and the member, which never learned
// its member ID, leaves the group at once rather than once its session
// times out. The group then rebalances without it.
func TestWaitingJoinGroupEndsWithItsConnection(t *testing.T) {
	const session = 10 * time.Second // B's
	clk := &clock{now: time.UnixMilli(1_700_000_000_000)}
	l := eventlogtest.New(t, &eventlog.Options{Now: clk.Now})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	gone := newSignal("kafkaserver: client went away during a request")
	f := serve(t, l, &kafkaserver.Options{Logger: slog.New(gone)})

	a := newRawMember(t, f.addr, "range", 3*session, testTimeout)
	require.Zero(t, a.join())
	a.settle()
	require.Equal(t, []int32{0, 1}, a.owned)

	// B's JoinGroup waits for A to give its partitions back.
	b := newRawMember(t, f.addr, "range", session, time.Duration(1<<31-1)*time.Millisecond)
	b.sendJoin()
	require.NoError(t, b.r.c.Close())
	gone.wait(t)

	require.Equal(t, kerr.RebalanceInProgress.Code, a.heartbeat())
	require.Zero(t, a.join())
	a.settle()
	assert.Equal(t, []int32{0, 1}, a.owned, "B left, and the rebalance completed without it")
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Len(t, d.Members, 1)
	assert.Equal(t, a.id, d.Members[0].MemberID)
	assert.Equal(t, eventlog.GroupStable, d.State)
}

// TestSyncGroupDuringEagerRebalance: the SyncGroup of a member that has
// not rejoined an eager rebalance under way is answered
// REBALANCE_IN_PROGRESS, as Kafka answers it, so that the member rejoins,
// and one naming a generation the member is not in ILLEGAL_GENERATION;
// not with an empty assignment.
func TestSyncGroupDuringEagerRebalance(t *testing.T) {
	l := eventlogtest.New(t, nil)
	f := serve(t, l, nil)
	ctx := testContext(t)
	a := newRawMember(t, f.addr, "range", 30*time.Second, testTimeout)
	b := newRawMember(t, f.addr, "range", 30*time.Second, testTimeout)
	splitTopic(t, l, a, b)

	// "t" gains partitions; B's heartbeat begins the rebalance, and B
	// syncs instead of rejoining.
	require.NoError(t, l.CreatePartitions(ctx, "t", 4))
	require.Equal(t, kerr.RebalanceInProgress.Code, b.heartbeat())
	code := b.sync()
	assert.Equal(t, kerr.RebalanceInProgress.Code, code, "%v; assignment %v", kerr.ErrorForCode(code), b.owned)
	b.generation--
	code = b.sync()
	assert.Equal(t, kerr.IllegalGeneration.Code, code, "%v", kerr.ErrorForCode(code))
	b.generation++

	// Both rejoin, and the rebalance completes.
	a.sendJoin()
	b.sendJoin()
	require.Zero(t, a.joined())
	require.Zero(t, b.joined())
	a.settle()
	b.settle()
	assert.Equal(t, []int32{0, 1}, a.owned)
	assert.Equal(t, []int32{2, 3}, b.owned)
}
