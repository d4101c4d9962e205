package kafkaserver_test

import (
	"log/slog"
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

// joinGroup joins group as a new member subscribed to a topic that does
// not exist, with userData in its subscription, and returns its member ID.
func joinGroup(t *testing.T, r *rawConn, group string, instance *string, userData []byte) string {
	t.Helper()
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Topics, sub.UserData = []string{"absent"}, userData
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", sub.AppendTo(nil)
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(5)
	req.Group, req.InstanceID, req.ProtocolType = group, instance, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 10_000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	resp := r.roundTrip(req).(*kmsg.JoinGroupResponse)
	require.Zero(t, resp.ErrorCode)
	return resp.MemberID
}

// TestRemoteMembersForgottenOnceGone: members whose sessions time out,
// their connections closed, are forgotten by the server with their
// subscriptions, and a static member that takes another's place replaces
// it.
func TestRemoteMembersForgottenOnceGone(t *testing.T) {
	c := &clock{now: time.UnixMilli(1_700_000_000_000)}
	l := eventlogtest.New(t, &eventlog.Options{Now: c.Now})
	forgot := newSignal("kafkaserver: forgot group members gone from their groups")
	f := serve(t, l, &kafkaserver.Options{Logger: slog.New(forgot)})

	const n = 20
	userData := make([]byte, 64<<10)
	for range n {
		r := dialRaw(t, f.addr)
		joinGroup(t, r, "g", nil, userData)
		require.NoError(t, r.c.Close())
	}
	require.Equal(t, n, kafkaserver.RemoteMembers(f.srv))
	c.advance(time.Minute) // every session times out
	forgot.wait(t)
	assert.Zero(t, kafkaserver.RemoteMembers(f.srv))
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	assert.Empty(t, d.Members)

	instance := "billing-1"
	r := dialRaw(t, f.addr)
	first := joinGroup(t, r, "static", &instance, nil)
	second := joinGroup(t, r, "static", &instance, nil)
	require.NotEqual(t, first, second)
	assert.Equal(t, 1, kafkaserver.RemoteMembers(f.srv), "the fenced member is forgotten")
}

// TestFencedStaticMember checks the answers to a static member that
// another member with its group instance ID took the place of: Heartbeat,
// SyncGroup, OffsetCommit, LeaveGroup and JoinGroup naming its old member
// ID and its instance ID get FENCED_INSTANCE_ID, as Kafka's coordinator
// answers them, not UNKNOWN_MEMBER_ID. A client told it is unknown
// rejoins with its instance ID and fences the member that replaced it,
// which then does the same: the two take the group from each other in
// turn (kgo does not rejoin on FENCED_INSTANCE_ID for that reason). A
// dynamic member the group does not have still gets UNKNOWN_MEMBER_ID.
func TestFencedStaticMember(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	instance := "billing-1"
	r := dialRaw(t, f.addr)
	old := joinGroup(t, r, "static", &instance, nil)
	joinGroup(t, r, "static", &instance, nil)

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.SetVersion(4)
	hb.Group, hb.MemberID, hb.InstanceID, hb.Generation = "static", old, &instance, 1
	assert.Equal(t, kerr.FencedInstanceID.Code, r.roundTrip(hb).(*kmsg.HeartbeatResponse).ErrorCode, "Heartbeat")

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.SetVersion(5)
	sync.Group, sync.MemberID, sync.InstanceID, sync.Generation = "static", old, &instance, 1
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	assert.Equal(t, kerr.FencedInstanceID.Code, r.roundTrip(sync).(*kmsg.SyncGroupResponse).ErrorCode, "SyncGroup")

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.SetVersion(8)
	commit.Group, commit.MemberID, commit.InstanceID, commit.Generation = "static", old, &instance, 1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "t"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	committed := r.roundTrip(commit).(*kmsg.OffsetCommitResponse)
	assert.Equal(t, kerr.FencedInstanceID.Code, committed.Topics[0].Partitions[0].ErrorCode, "OffsetCommit")

	sub := kmsg.NewConsumerMemberMetadata()
	sub.Topics = []string{"t"}
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", sub.AppendTo(nil)
	join := kmsg.NewPtrJoinGroupRequest()
	join.SetVersion(5)
	join.Group, join.MemberID, join.InstanceID, join.ProtocolType = "static", old, &instance, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10_000, 10_000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	assert.Equal(t, kerr.FencedInstanceID.Code, r.roundTrip(join).(*kmsg.JoinGroupResponse).ErrorCode, "JoinGroup")

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(4)
	leave.Group = "static"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID, lm.InstanceID = old, &instance
	leave.Members = append(leave.Members, lm)
	left := r.roundTrip(leave).(*kmsg.LeaveGroupResponse)
	require.Len(t, left.Members, 1)
	assert.Equal(t, kerr.FencedInstanceID.Code, left.Members[0].ErrorCode, "LeaveGroup")
	d, err := f.log.DescribeGroup("static")
	require.NoError(t, err)
	assert.Len(t, d.Members, 1, "the member that took the place stays")

	hb.MemberID, hb.InstanceID = "nobody", nil
	assert.Equal(t, kerr.UnknownMemberID.Code, r.roundTrip(hb).(*kmsg.HeartbeatResponse).ErrorCode, "a dynamic member the group does not have")
}

// TestMemberAndInstanceIDMustMatch: a call naming a member ID and a group
// instance ID that is not that member's is refused, as Kafka's coordinator
// refuses it (its validateMember): FENCED_INSTANCE_ID when the instance ID
// is another member's, UNKNOWN_MEMBER_ID when it is nobody's. Nothing
// happens to either member: a LeaveGroup naming one member with the other's
// instance ID removes neither.
func TestMemberAndInstanceIDMustMatch(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ia, ib, nobody := "ia", "ib", "nobody"
	r := dialRaw(t, f.addr)
	a := joinGroup(t, r, "g", &ia, nil)
	joinGroup(t, r, "g", &ib, nil)

	for _, c := range []struct {
		instance *string
		want     int16
	}{
		{&ib, kerr.FencedInstanceID.Code},
		{&nobody, kerr.UnknownMemberID.Code},
	} {
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.SetVersion(4)
		hb.Group, hb.MemberID, hb.InstanceID, hb.Generation = "g", a, c.instance, 1
		assert.Equal(t, c.want, r.roundTrip(hb).(*kmsg.HeartbeatResponse).ErrorCode, "Heartbeat as %s", *c.instance)

		sync := kmsg.NewPtrSyncGroupRequest()
		sync.SetVersion(5)
		sync.Group, sync.MemberID, sync.InstanceID, sync.Generation = "g", a, c.instance, 1
		sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		assert.Equal(t, c.want, r.roundTrip(sync).(*kmsg.SyncGroupResponse).ErrorCode, "SyncGroup as %s", *c.instance)

		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.SetVersion(8)
		commit.Group, commit.MemberID, commit.InstanceID, commit.Generation = "g", a, c.instance, 1
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = "t"
		ct.Partitions = append(ct.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
		commit.Topics = append(commit.Topics, ct)
		committed := r.roundTrip(commit).(*kmsg.OffsetCommitResponse)
		assert.Equal(t, c.want, committed.Topics[0].Partitions[0].ErrorCode, "OffsetCommit as %s", *c.instance)

		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.SetVersion(4)
		leave.Group = "g"
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID, lm.InstanceID = a, c.instance
		leave.Members = append(leave.Members, lm)
		left := r.roundTrip(leave).(*kmsg.LeaveGroupResponse)
		require.Len(t, left.Members, 1)
		assert.Equal(t, c.want, left.Members[0].ErrorCode, "LeaveGroup as %s", *c.instance)
	}
	d, err := f.log.DescribeGroup("g")
	require.NoError(t, err)
	assert.Len(t, d.Members, 2, "both members stay")
}

// TestSyncGroupChecksProtocol: SyncGroup v5 must name the group's
// protocol type and protocol (KIP-559), as Kafka checks them: a request
// that leaves either out, or names others, is answered
// INCONSISTENT_GROUP_PROTOCOL without an assignment.
func TestSyncGroupChecksProtocol(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	member := joinGroup(t, r, "g", nil, nil)
	d, err := f.log.DescribeGroup("g")
	require.NoError(t, err)
	sync := func(protocolType, protocol *string) *kmsg.SyncGroupResponse {
		req := kmsg.NewPtrSyncGroupRequest()
		req.SetVersion(5)
		req.Group, req.MemberID, req.Generation = "g", member, d.Generation
		req.ProtocolType, req.Protocol = protocolType, protocol
		return r.roundTrip(req).(*kmsg.SyncGroupResponse)
	}
	for name, c := range map[string][2]*string{
		"no protocol type":    {nil, kmsg.StringPtr("range")},
		"no protocol":         {kmsg.StringPtr("consumer"), nil},
		"other protocol type": {kmsg.StringPtr("connect"), kmsg.StringPtr("range")},
		"other protocol":      {kmsg.StringPtr("consumer"), kmsg.StringPtr("roundrobin")},
	} {
		resp := sync(c[0], c[1])
		assert.Equal(t, kerr.InconsistentGroupProtocol.Code, resp.ErrorCode, name)
		assert.Empty(t, resp.MemberAssignment, name)
	}
	assert.Zero(t, sync(kmsg.StringPtr("consumer"), kmsg.StringPtr("range")).ErrorCode, "the group's own")
}

// TestLeaveGroupEmptyInstanceID: a LeaveGroup v3+ member naming neither a
// member ID nor a non-empty instance ID names nobody, and is answered
// UNKNOWN_MEMBER_ID, as Kafka answers it; no dynamic member, whose
// instance ID is empty, leaves.
func TestLeaveGroupEmptyInstanceID(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f.addr)
	joinGroup(t, r, "g", nil, nil)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(4)
	leave.Group = "g"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.InstanceID = kmsg.StringPtr("")
	leave.Members = append(leave.Members, lm)
	left := r.roundTrip(leave).(*kmsg.LeaveGroupResponse)
	require.Len(t, left.Members, 1)
	assert.Equal(t, kerr.UnknownMemberID.Code, left.Members[0].ErrorCode)
	d, err := f.log.DescribeGroup("g")
	require.NoError(t, err)
	assert.Len(t, d.Members, 1, "the dynamic member stays")
}
