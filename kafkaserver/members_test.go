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
