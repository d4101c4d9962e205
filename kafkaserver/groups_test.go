package kafkaserver_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
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
	"github.com/twmb/franz-go/pkg/kmsg"
)

// assignments tracks what each side of a mixed group owns, and wakes the
// test whenever that changes.
type assignments struct {
	mu      sync.Mutex
	local   []eventlog.TopicPartition
	remote  map[int32]bool
	changed chan struct{}
}

func newAssignments() *assignments {
	return &assignments{remote: map[int32]bool{}, changed: make(chan struct{}, 1)}
}

func (a *assignments) poke() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

func (a *assignments) setLocal(tps []eventlog.TopicPartition) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Equal(a.local, tps) {
		a.local = slices.Clone(tps)
		a.poke()
	}
}

func (a *assignments) setRemote(m map[string][]int32, owned bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ps := range m {
		for _, p := range ps {
			a.remote[p] = owned
		}
	}
	a.poke()
}

// waitFor waits until the local side owns local partitions and the remote
// side remote ones, of the topic's n, each owned once.
func (a *assignments) waitFor(t *testing.T, ctx context.Context, local, remote int) {
	t.Helper()
	for {
		a.mu.Lock()
		owner := map[int32]int{}
		for _, tp := range a.local {
			owner[tp.Partition]++
		}
		var r int
		for p, owned := range a.remote {
			if owned {
				owner[p]++
				r++
			}
		}
		once := true
		for _, n := range owner {
			once = once && n == 1
		}
		ok := len(a.local) == local && r == remote && once
		state := []any{a.local, a.remote}
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-a.changed:
		case <-ctx.Done():
			t.Fatalf("want %d local and %d remote partitions, have %v", local, remote, state)
		}
	}
}

// pollLocal polls c until ctx ends, reporting its assignment.
func pollLocal(ctx context.Context, c *eventlog.Consumer, a *assignments, errs chan<- error) {
	for ctx.Err() == nil {
		if _, err := c.Poll(ctx); err != nil && ctx.Err() == nil {
			errs <- err
			return
		}
		a.setLocal(c.Assignment())
	}
	errs <- nil
}

func TestGroupSharedWithInProcessConsumer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		assignor eventlog.Assignor
		balancer kgo.GroupBalancer
	}{
		{"cooperative-sticky", eventlog.CooperativeStickyAssignor{}, kgo.CooperativeStickyBalancer()},
		{"range", eventlog.RangeAssignor{}, kgo.RangeBalancer()},
		{"roundrobin", eventlog.RoundRobinAssignor{}, kgo.RoundRobinBalancer()},
		{"sticky", eventlog.StickyAssignor{}, kgo.StickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]eventlog.TopicConfig{"events": {Partitions: 4}})
			ctx := testContext(t)
			a := newAssignments()

			local, err := f.log.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: tc.assignor, FetchMaxWait: 20 * time.Millisecond})
			require.NoError(t, err)
			require.NoError(t, local.Subscribe("events"))
			pollCtx, stopPolling := context.WithCancel(ctx)
			errs := make(chan error, 1)
			go pollLocal(pollCtx, local, a, errs)
			var stopped bool
			stopLocal := func() {
				if !stopped {
					stopped = true
					stopPolling()
					require.NoError(t, <-errs)
					require.NoError(t, local.Close())
				}
			}
			defer stopLocal()
			a.waitFor(t, ctx, 4, 0)

			newRemote := func() *kgo.Client {
				remote, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("events"),
					kgo.Balancers(tc.balancer), kgo.HeartbeatInterval(50*time.Millisecond),
					kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { a.setRemote(m, true) }),
					kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { a.setRemote(m, false) }),
					kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { a.setRemote(m, false) }),
				)
				require.NoError(t, err)
				return remote
			}
			remote := newRemote()
			// The two members split the four partitions.
			a.waitFor(t, ctx, 2, 2)

			// Both see one group with two members.
			d, err := f.log.DescribeGroup("g")
			require.NoError(t, err)
			assert.Len(t, d.Members, 2)
			assert.Equal(t, tc.assignor.Name(), d.Assignor)
			adm := kadm.NewClient(f.client(t))
			described, err := adm.DescribeGroups(ctx, "g")
			require.NoError(t, err)
			assert.Len(t, described["g"].Members, 2)
			assert.Equal(t, tc.assignor.Name(), described["g"].Protocol)

			// The remote member leaves: the in-process one takes all.
			remote.Close()
			a.setRemote(map[string][]int32{"events": {0, 1, 2, 3}}, false)
			a.waitFor(t, ctx, 4, 0)

			// A remote member again, and then the in-process one leaves:
			// the remote one takes all.
			remote = newRemote()
			defer remote.Close()
			a.waitFor(t, ctx, 2, 2)
			stopLocal()
			a.setLocal(nil)
			a.waitFor(t, ctx, 0, 4)
		})
	}
}

func TestGroupCommitsAndOffsetFetch(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"events": {Partitions: 2}})
	ctx := testContext(t)
	prod := f.client(t, kgo.DefaultProduceTopic("events"))
	require.NoError(t, prod.ProduceSync(ctx, testRecords("events", 20)...).FirstErr())

	cons := f.client(t, kgo.ConsumerGroup("committers"), kgo.ConsumeTopics("events"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(50*time.Millisecond))
	got := consume(t, ctx, cons, 20)
	require.Len(t, got, 20)
	require.NoError(t, cons.CommitRecords(ctx, got...))

	offsets, err := f.log.GroupOffsets("committers")
	require.NoError(t, err)
	var total int64
	for _, o := range offsets {
		total += o.Committed
		assert.Zero(t, o.Lag)
	}
	assert.EqualValues(t, 20, total)

	adm := kadm.NewClient(f.client(t))
	fetched, err := adm.FetchOffsets(ctx, "committers")
	require.NoError(t, err)
	require.NoError(t, fetched.Error())
	var fetchedTotal int64
	fetched.Each(func(o kadm.OffsetResponse) { fetchedTotal += o.At })
	assert.EqualValues(t, 20, fetchedTotal)

	groups, err := adm.ListGroups(ctx)
	require.NoError(t, err)
	assert.Contains(t, groups.Groups(), "committers")

	// An admin commit is refused while the group has members, and taken
	// once it has none.
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: "events", Partition: 0, At: 1})
	resp, err := adm.CommitOffsets(ctx, "committers", commit)
	require.NoError(t, err)
	require.ErrorIs(t, resp.Error(), kerr.UnknownMemberID)
	cons.Close()
	resp, err = adm.CommitOffsets(ctx, "committers", commit)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	committed, err := f.log.CommittedOffsets("committers", []eventlog.TopicPartition{{Topic: "events", Partition: 0}})
	require.NoError(t, err)
	assert.EqualValues(t, 1, committed[eventlog.TopicPartition{Topic: "events", Partition: 0}].Offset)

	deleted, err := adm.DeleteGroups(ctx, "committers")
	require.NoError(t, err)
	require.NoError(t, deleted.Error())
	_, err = f.log.DescribeGroup("committers")
	require.True(t, errors.Is(err, eventlog.ErrGroupNotFound), "%v", err)
}

// TestJoinGroupSessionTimeoutBounds checks that JoinGroup refuses session
// timeouts outside the server's bounds with INVALID_SESSION_TIMEOUT, as
// Kafka does with group.min.session.timeout.ms and
// group.max.session.timeout.ms (6 s and 30 min by default): a member that
// died with a session timeout of weeks would hold its partitions as long.
func TestJoinGroupSessionTimeoutBounds(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	groups := 0
	// join joins a group of its own as a new member and returns the
	// answer's error code.
	join := func(t *testing.T, addr string, sessionMs int32) int16 {
		groups++
		req := kmsg.NewPtrJoinGroupRequest()
		req.SetVersion(5)
		req.Group, req.ProtocolType = fmt.Sprintf("g%d", groups), "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMs, int32(testTimeout/time.Millisecond)
		sub := kmsg.NewConsumerMemberMetadata()
		sub.Topics = []string{"t"}
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", sub.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		return dialRaw(t, addr).roundTrip(req).(*kmsg.JoinGroupResponse).ErrorCode
	}
	t.Run("defaults", func(t *testing.T) {
		f := serve(t, l, nil)
		for _, ms := range []int32{math.MinInt32, -1, 0, 5999, 1_800_001, math.MaxInt32} {
			assert.Equal(t, kerr.InvalidSessionTimeout.Code, join(t, f.addr, ms), "session timeout %d ms", ms)
		}
		for _, ms := range []int32{6000, 45_000, 1_800_000} {
			assert.Zero(t, join(t, f.addr, ms), "session timeout %d ms", ms)
		}
	})
	t.Run("options", func(t *testing.T) {
		f := serve(t, l, &kafkaserver.Options{GroupMinSessionTimeout: 100 * time.Millisecond, GroupMaxSessionTimeout: 2 * time.Second})
		for _, ms := range []int32{99, 2001} {
			assert.Equal(t, kerr.InvalidSessionTimeout.Code, join(t, f.addr, ms), "session timeout %d ms", ms)
		}
		for _, ms := range []int32{100, 2000} {
			assert.Zero(t, join(t, f.addr, ms), "session timeout %d ms", ms)
		}
		for _, bad := range []kafkaserver.Options{
			{GroupMinSessionTimeout: -time.Second},
			{GroupMaxSessionTimeout: -time.Second},
			{GroupMinSessionTimeout: time.Hour}, // above the default max
			{GroupMinSessionTimeout: 2 * time.Second, GroupMaxSessionTimeout: time.Second},
		} {
			_, err := kafkaserver.New(l, &bad)
			assert.Error(t, err, "%+v", bad)
		}
	})
}

// TestEmptyGroupID checks the answers to calls naming the empty group ID,
// as Kafka's coordinator gives them: the membership calls get
// INVALID_GROUP_ID; DescribeGroups, DeleteGroups and OffsetFetch, which
// Kafka serves for the empty group ID "for backwards compatibility",
// answer as for a group nobody uses (Dead, GROUP_ID_NOT_FOUND, no
// offsets), since nothing can be committed for it here. None answers
// INVALID_CONFIG, which no client expects of a group call.
func TestEmptyGroupID(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	r := dialRaw(t, f.addr)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.SetVersion(5)
	sync.MemberID, sync.ProtocolType, sync.Protocol = "m", kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	assert.Equal(t, kerr.InvalidGroupID.Code, r.roundTrip(sync).(*kmsg.SyncGroupResponse).ErrorCode, "SyncGroup")

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.SetVersion(4)
	hb.MemberID = "m"
	assert.Equal(t, kerr.InvalidGroupID.Code, r.roundTrip(hb).(*kmsg.HeartbeatResponse).ErrorCode, "Heartbeat")

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(4)
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "m"
	leave.Members = append(leave.Members, lm)
	assert.Equal(t, kerr.InvalidGroupID.Code, r.roundTrip(leave).(*kmsg.LeaveGroupResponse).ErrorCode, "LeaveGroup")

	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.SetVersion(5)
	describe.Groups = []string{""}
	described := r.roundTrip(describe).(*kmsg.DescribeGroupsResponse)
	require.Len(t, described.Groups, 1)
	assert.Zero(t, described.Groups[0].ErrorCode, "DescribeGroups")
	assert.Equal(t, "Dead", described.Groups[0].State, "DescribeGroups")

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.SetVersion(2)
	del.Groups = []string{""}
	deleted := r.roundTrip(del).(*kmsg.DeleteGroupsResponse)
	require.Len(t, deleted.Groups, 1)
	assert.Equal(t, kerr.GroupIDNotFound.Code, deleted.Groups[0].ErrorCode, "DeleteGroups")

	for _, version := range []int16{7, 8} {
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.SetVersion(version)
		if version < 8 {
			ft := kmsg.NewOffsetFetchRequestTopic()
			ft.Topic, ft.Partitions = "t", []int32{0}
			fetch.Topics = append(fetch.Topics, ft)
		} else {
			g := kmsg.NewOffsetFetchRequestGroup()
			ft := kmsg.NewOffsetFetchRequestGroupTopic()
			ft.Topic, ft.Partitions = "t", []int32{0}
			g.Topics = append(g.Topics, ft)
			fetch.Groups = append(fetch.Groups, g)
		}
		fetched := r.roundTrip(fetch).(*kmsg.OffsetFetchResponse)
		if version < 8 {
			assert.Zero(t, fetched.ErrorCode, "OffsetFetch v%d", version)
			require.Len(t, fetched.Topics, 1)
			require.Len(t, fetched.Topics[0].Partitions, 1)
			assert.EqualValues(t, -1, fetched.Topics[0].Partitions[0].Offset)
		} else {
			require.Len(t, fetched.Groups, 1)
			assert.Zero(t, fetched.Groups[0].ErrorCode, "OffsetFetch v%d", version)
			require.Len(t, fetched.Groups[0].Topics, 1)
			require.Len(t, fetched.Groups[0].Topics[0].Partitions, 1)
			assert.EqualValues(t, -1, fetched.Groups[0].Topics[0].Partitions[0].Offset)
		}
	}

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.SetVersion(8)
	commit.Generation = -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "t"
	ct.Partitions = append(ct.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
	commit.Topics = append(commit.Topics, ct)
	committed := r.roundTrip(commit).(*kmsg.OffsetCommitResponse)
	assert.Equal(t, kerr.InvalidGroupID.Code, committed.Topics[0].Partitions[0].ErrorCode, "OffsetCommit")
}

// commitToOneRecordEach makes topic "t" of as many partitions as parts,
// one record in each, and sends group "g" an OffsetCommit v8 of
// generation -1 with parts; it returns the fixture and the answers of
// topic "t"'s partitions.
func commitToOneRecordEach(t *testing.T, parts []kmsg.OffsetCommitRequestTopicPartition) (*fixture, []kmsg.OffsetCommitResponseTopicPartition) {
	t.Helper()
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: len(parts)}})
	ctx := testContext(t)
	prod := f.client(t, kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(len(parts)) {
		require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr())
	}
	r := dialRaw(t, f.addr)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.SetVersion(8)
	commit.Group, commit.Generation = "g", -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic, ct.Partitions = "t", parts
	commit.Topics = append(commit.Topics, ct)
	resp := r.roundTrip(commit).(*kmsg.OffsetCommitResponse)
	require.Len(t, resp.Topics, 1)
	require.Len(t, resp.Topics[0].Partitions, len(parts))
	return f, resp.Topics[0].Partitions
}

// TestOffsetCommitMetadataTooLarge: a partition whose commit metadata is
// longer than offset.metadata.max.bytes (4096) is answered
// OFFSET_METADATA_TOO_LARGE, and the other partitions of the request are
// committed, as Kafka answers it.
func TestOffsetCommitMetadataTooLarge(t *testing.T) {
	var parts []kmsg.OffsetCommitRequestTopicPartition
	for p, metadata := range []string{strings.Repeat("m", eventlog.MaxOffsetMetadataBytes+1), "ok"} {
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.Metadata = int32(p), 1, kmsg.StringPtr(metadata)
		parts = append(parts, cp)
	}
	f, answers := commitToOneRecordEach(t, parts)
	assert.Equal(t, kerr.OffsetMetadataTooLarge.Code, answers[0].ErrorCode, "%v", kerr.ErrorForCode(answers[0].ErrorCode))
	assert.Zero(t, answers[1].ErrorCode, "%v", kerr.ErrorForCode(answers[1].ErrorCode))
	committed, err := f.log.CommittedOffsets("g", []eventlog.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}})
	require.NoError(t, err)
	assert.Equal(t, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t", Partition: 1}: {Offset: 1, Metadata: "ok"}}, committed)
}

// TestOffsetCommitOutOfRangeAnsweredAlone: an offset outside [0, high
// watermark], which the Log does not take, fails the commit of its own
// partition only; the other partitions of the request are committed, as
// Kafka answers every partition of a commit on its own.
func TestOffsetCommitOutOfRangeAnsweredAlone(t *testing.T) {
	var parts []kmsg.OffsetCommitRequestTopicPartition
	for p, offset := range []int64{5, 1, -7} { // past the high watermark (1), at it, negative
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = int32(p), offset
		parts = append(parts, cp)
	}
	f, answers := commitToOneRecordEach(t, parts)
	codes := map[int32]int16{}
	for _, p := range answers {
		codes[p.Partition] = p.ErrorCode
	}
	assert.Equal(t, map[int32]int16{0: kerr.OffsetOutOfRange.Code, 1: 0, 2: kerr.OffsetOutOfRange.Code}, codes)
	committed, err := f.log.CommittedOffsets("g", []eventlog.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}})
	require.NoError(t, err)
	assert.Equal(t, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t", Partition: 1}: {Offset: 1}}, committed)
}

// TestOffsetFetchV1GroupError checks that an OffsetFetch below v2, whose
// response has no top-level error code, carries the error of the whole
// request in every partition, as Kafka's broker answers it, rather than
// answering "no offset" without an error. The error here is the Log's,
// closed under the server.
func TestOffsetFetchV1GroupError(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	f := serve(t, l, nil)
	require.NoError(t, l.Close())
	r := dialRaw(t, f.addr)
	fetch := func(version int16) *kmsg.OffsetFetchResponse {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(version)
		req.Group = "g"
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "t", []int32{0, 1}
		req.Topics = append(req.Topics, rt)
		return r.roundTrip(req).(*kmsg.OffsetFetchResponse)
	}
	v2 := fetch(2)
	require.NotZero(t, v2.ErrorCode, "v2 answers the closed Log's error")
	v1 := fetch(1)
	require.Len(t, v1.Topics, 1)
	require.Len(t, v1.Topics[0].Partitions, 2)
	for _, p := range v1.Topics[0].Partitions {
		assert.Equal(t, v2.ErrorCode, p.ErrorCode, "partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		assert.Equal(t, int64(-1), p.Offset, "partition %d", p.Partition)
	}
}

// TestOffsetCommitGenerationMinusOneEmptyGroup checks that a commit of
// generation -1 to a group without members is taken whatever member ID
// and instance ID it names, as Kafka's coordinator takes it: a client
// whose generation was reset but kept its member ID (as the Java client
// does on some errors) commits as a consumer outside the group.
func TestOffsetCommitGenerationMinusOneEmptyGroup(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	prod := f.client(t, kgo.DefaultProduceTopic("t"))
	require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr())
	r := dialRaw(t, f.addr)
	for i, tc := range []struct {
		member   string
		instance *string
	}{
		{"gone-member", nil},
		{"gone-member", kmsg.StringPtr("instance")},
		{"", kmsg.StringPtr("instance")},
	} {
		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.SetVersion(8)
		commit.Group, commit.Generation, commit.MemberID, commit.InstanceID = "g", -1, tc.member, tc.instance
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = "t"
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = 0, int64(i%2+1)
		ct.Partitions = append(ct.Partitions, cp)
		commit.Topics = append(commit.Topics, ct)
		resp := r.roundTrip(commit).(*kmsg.OffsetCommitResponse)
		code := resp.Topics[0].Partitions[0].ErrorCode
		assert.Zero(t, code, "member %q instance %v: %v", tc.member, tc.instance, kerr.ErrorForCode(code))
		committed, err := f.log.CommittedOffsets("g", []eventlog.TopicPartition{{Topic: "t", Partition: 0}})
		require.NoError(t, err)
		assert.Equal(t, int64(i%2+1), committed[eventlog.TopicPartition{Topic: "t", Partition: 0}].Offset, "member %q instance %v", tc.member, tc.instance)
	}
}

// TestDeleteGroupsNameAGroupTwice checks that a group named twice in one
// DeleteGroups request is deleted and answered once, as Kafka's broker
// takes the distinct names of the request: not answered a second time
// with GROUP_ID_NOT_FOUND, which a client keying the answers by group
// would take for the group's.
func TestDeleteGroupsNameAGroupTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	for _, g := range []string{"a", "b"} {
		require.NoError(t, f.log.CommitGroupOffsets(ctx, g, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {Offset: 0}}))
	}
	r := dialRaw(t, f.addr)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.SetVersion(2)
	del.Groups = []string{"a", "b", "a", "missing", "missing"}
	resp := r.roundTrip(del).(*kmsg.DeleteGroupsResponse)
	got := map[string][]int16{}
	var order []string
	for _, g := range resp.Groups {
		got[g.Group] = append(got[g.Group], g.ErrorCode)
		order = append(order, g.Group)
	}
	assert.Equal(t, map[string][]int16{"a": {0}, "b": {0}, "missing": {kerr.GroupIDNotFound.Code}}, got)
	assert.Equal(t, []string{"a", "b", "missing"}, order, "in the order of first mentions")
	for _, g := range []string{"a", "b"} {
		_, err := f.log.DescribeGroup(g)
		assert.ErrorIs(t, err, eventlog.ErrGroupNotFound, g)
	}
}
