package kafkaserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Consumer groups
//
// Remote members join the Log's in-process group coordinator as
// eventlog.ExternalMembers, so that they share groups with in-process
// Consumers. The coordinator computes every assignment itself, with the
// library's assignor named by the group's protocol, and is the group
// leader: JoinGroup names a leader ID no member has (leaderID), so every
// remote member is a follower and receives its assignment in SyncGroup.
//
//   - Protocols: "range", "roundrobin", "sticky" and "cooperative-sticky"
//     map to RangeAssignor, RoundRobinAssignor, StickyAssignor and
//     CooperativeStickyAssignor. A member lists protocols in order of
//     preference: an empty group takes the first the library knows; a
//     group with members keeps its assignor, and a member none of whose
//     protocols is that one gets INCONSISTENT_GROUP_PROTOCOL. The group's
//     protocol type must be "consumer".
//   - JoinGroup of a new member answers at once with its member ID (no
//     MEMBER_ID_REQUIRED round trip). Under an eager protocol it waits,
//     up to the rebalance timeout, until every member gave its partitions
//     back and the assignor ran. A member rejoining releases what its
//     subscription metadata no longer claims as owned (everything, for an
//     eager client). A new dynamic member whose client goes away before
//     its JoinGroup is answered leaves: it never learned its member ID
//     (Kafka's MEMBER_ID_REQUIRED round trip, KIP-394, avoids such
//     members).
//   - SyncGroup returns the partitions of the member's assignment it has
//     been granted (v5 must name the group's protocol type and protocol,
//     else INCONSISTENT_GROUP_PROTOCOL, as in Kafka); under the cooperative protocol, partitions another
//     member still holds come later: Heartbeat answers
//     REBALANCE_IN_PROGRESS once they are granted, when a rebalance the
//     member has not rejoined is under way (even an eager one that waits
//     for others' partitions, to a member with none), or when it holds
//     partitions it must give up, and the member rejoins. While an eager
//     rebalance is under way, which has no assignment yet, SyncGroup
//     answers REBALANCE_IN_PROGRESS (a generation the member is not in,
//     ILLEGAL_GENERATION), as Kafka's does, and the member rejoins.
//   - A member that sends nothing for its session timeout is evicted
//     (except while it waits in JoinGroup). Once a rebalance begins, a
//     member that does not send JoinGroup within its rebalance timeout
//     (the one its first JoinGroup gave) is removed, however often it
//     heartbeats, and the rebalance completes without it, as in Kafka; so
//     is a member that does not rejoin in the second phase of a
//     cooperative rebalance, once SyncGroup told it to give partitions up
//     or Heartbeat that it was granted some, and one that does not send
//     SyncGroup within it once its JoinGroup was answered (Kafka's
//     pending-sync timeout).
//     Kafka gives every member the group's largest rebalance timeout, and
//     keeps a late static member; here a static member is removed too,
//     since it would hold its partitions, and an eager rebalance wait for
//     them, for as long as it heartbeats. JoinGroup takes session
//     timeouts between Options.GroupMinSessionTimeout and
//     GroupMaxSessionTimeout (Kafka's defaults, 6 s and 30 min) and
//     answers others with INVALID_SESSION_TIMEOUT, as Kafka does. Calls naming a member the
//     group no longer has get UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID
//     when they name a group instance ID another member now has; so do
//     calls naming a member with an instance ID that is not its own; a
//     generation it is not in, ILLEGAL_GENERATION. Commits need no
//     particular generation, but only of partitions the member holds.
//   - The empty group ID: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
//     answer INVALID_GROUP_ID, as Kafka does. Kafka also serves the
//     other group calls for it, for backwards compatibility; the Log
//     takes no commits for it, so OffsetCommit answers INVALID_GROUP_ID,
//     and DescribeGroups, DeleteGroups and OffsetFetch answer as for a
//     group nobody uses (Dead, GROUP_ID_NOT_FOUND, no offsets).
//   - Close and Shutdown of the server make its remote members leave.

// leaderID is the group leader every JoinGroup names: the coordinator.
const leaderID = "eventlog-coordinator"

// consumerProtocolType is the only group protocol type served.
const consumerProtocolType = "consumer"

// assignorFor maps a Kafka assignment protocol name to the library's
// assignor.
func assignorFor(name string) (eventlog.Assignor, bool) {
	switch name {
	case "range":
		return eventlog.RangeAssignor{}, true
	case "roundrobin":
		return eventlog.RoundRobinAssignor{}, true
	case "sticky":
		return eventlog.StickyAssignor{}, true
	case "cooperative-sticky":
		return eventlog.CooperativeStickyAssignor{}, true
	}
	return nil, false
}

// memberGone is the error of a call naming a member the server does not
// have: ErrFencedInstanceID if the call names a group instance ID that
// another member of the group now has, as Kafka's coordinator answers a
// static member another took the place of, and ErrUnknownMember
// otherwise. A client told it is unknown rejoins with its instance ID and
// fences the member that replaced it, which then does the same in turn;
// one told it is fenced stops.
func (c *conn) memberGone(group, memberID string, instance *string) error {
	if instance != nil && *instance != "" {
		if d, err := c.s.log.DescribeGroup(group); err == nil {
			for _, md := range d.Members {
				if md.GroupInstanceID == *instance && md.MemberID != memberID {
					return fmt.Errorf("group %q member %q: instance %q is member %q: %w", group, memberID, *instance, md.MemberID, eventlog.ErrFencedInstanceID)
				}
			}
		}
	}
	return fmt.Errorf("group %q member %q: %w", group, memberID, eventlog.ErrUnknownMember)
}

// member returns the remote member a call names by member ID, checking
// the group instance ID the call gives as Kafka's coordinator checks it
// (its validateMember): an instance ID that is not the member's is
// refused with FENCED_INSTANCE_ID when another member has it and with
// UNKNOWN_MEMBER_ID when nobody does, and the call does nothing.
func (c *conn) member(group, id string, instance *string) (*remoteMember, error) {
	m := c.s.members.get(group, id)
	if m == nil || instance != nil && *instance != "" && *instance != m.instanceID {
		return nil, c.memberGone(group, id, instance)
	}
	return m, nil
}

// forgetIfGone drops a member the coordinator no longer has.
func (c *conn) forgetIfGone(group, id string, err error) {
	if errors.Is(err, eventlog.ErrUnknownMember) {
		c.s.members.remove(group, id)
	}
}

func ms(n int32) time.Duration { return time.Duration(n) * time.Millisecond }

func (c *conn) handleJoinGroup(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.JoinGroupRequest)
	resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation, resp.LeaderID, resp.MemberID = -1, leaderID, r.MemberID
	fail := func(code int16, err error) (kmsg.Response, error) {
		resp.ErrorCode = code
		if err != nil && code == kerr.UnknownServerError.Code {
			c.s.opts.Logger.Warn("kafkaserver: join group failed", "group", r.Group, "err", err)
		}
		return resp, nil
	}
	if r.Group == "" {
		return fail(kerr.InvalidGroupID.Code, nil)
	}
	if r.ProtocolType != consumerProtocolType || len(r.Protocols) == 0 {
		return fail(kerr.InconsistentGroupProtocol.Code, nil)
	}
	if session := ms(r.SessionTimeoutMillis); session < c.s.opts.GroupMinSessionTimeout || session > c.s.opts.GroupMaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code, nil)
	}
	rebalance := ms(r.RebalanceTimeoutMillis)
	if r.Version == 0 || rebalance <= 0 {
		rebalance = ms(r.SessionTimeoutMillis)
	}
	var (
		assignors []eventlog.Assignor
		metadata  = map[string][]byte{}
	)
	for _, p := range r.Protocols {
		if a, ok := assignorFor(p.Name); ok {
			assignors = append(assignors, a)
			metadata[p.Name] = slices.Clone(p.Metadata)
		}
	}
	if len(assignors) == 0 {
		return fail(kerr.InconsistentGroupProtocol.Code, nil)
	}
	// The subscription is the same in every protocol's metadata; the
	// owned partitions are read from the protocol chosen below.
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(metadata[assignors[0].Name()]); err != nil {
		return fail(kerr.InconsistentGroupProtocol.Code, nil)
	}
	var instance string
	if r.InstanceID != nil {
		instance = *r.InstanceID
	}
	var m *remoteMember
	if r.MemberID == "" {
		host, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
		x, err := c.s.log.JoinGroupExternal(r.Group, eventlog.ExternalMemberConfig{
			InstanceID:       instance,
			Topics:           sub.Topics,
			Assignors:        assignors,
			SessionTimeout:   ms(r.SessionTimeoutMillis),
			RebalanceTimeout: rebalance,
			ClientID:         req.clientID,
			ClientHost:       "/" + host,
		})
		if errors.Is(err, eventlog.ErrInvalidConfig) {
			return fail(kerr.InconsistentGroupProtocol.Code, err)
		} else if err != nil {
			return fail(errorCode(err), err)
		}
		m = &remoteMember{x: x, clientID: req.clientID, clientHost: "/" + host, instanceID: instance}
		c.s.members.put(r.Group, m)
		c.s.sweepMembers()
	} else {
		var err error
		if m, err = c.member(r.Group, r.MemberID, r.InstanceID); err != nil {
			return fail(errorCode(err), nil)
		}
		chosen := m.x.Assignor().Name()
		if _, ok := metadata[chosen]; !ok {
			return fail(kerr.InconsistentGroupProtocol.Code, nil)
		}
		if err := sub.ReadFrom(metadata[chosen]); err != nil {
			return fail(kerr.InconsistentGroupProtocol.Code, nil)
		}
		var owned []eventlog.TopicPartition
		for _, t := range sub.OwnedPartitions {
			for _, p := range t.Partitions {
				owned = append(owned, eventlog.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		if err := m.x.Rejoin(sub.Topics, owned); err != nil {
			c.forgetIfGone(r.Group, r.MemberID, err)
			return fail(errorCode(err), err)
		}
	}
	c.s.members.setSubscription(m, metadata[m.x.Assignor().Name()])
	ctx, cancel := context.WithTimeout(req.ctx, rebalance)
	c.watchClient()
	generation, err := m.x.AwaitRebalance(ctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		c.forgetIfGone(r.Group, m.x.ID(), err)
		return fail(errorCode(err), err)
	}
	if r.MemberID == "" && instance == "" && req.ctx.Err() != nil {
		// The client went away (or the server is closing) before it
		// learned its member ID: nobody can heartbeat, sync or leave as
		// this member, which would otherwise own partitions nobody
		// consumes until its session timed out. Kafka avoids such
		// members by answering a new member MEMBER_ID_REQUIRED first
		// (KIP-394). A static member stays: its client comes back with
		// its instance ID.
		m.x.Leave()
		c.s.members.remove(r.Group, m.x.ID())
		return fail(kerr.UnknownMemberID.Code, nil)
	}
	// A rebalance that did not finish in time leaves the member in the
	// generation it has: its SyncGroup is answered REBALANCE_IN_PROGRESS
	// while the rebalance lasts, and Heartbeat calls it back once there is
	// news.
	protocol, protocolType := m.x.Assignor().Name(), consumerProtocolType
	resp.Generation, resp.MemberID = generation, m.x.ID()
	resp.Protocol, resp.ProtocolType = &protocol, &protocolType
	return resp, nil
}

func (c *conn) handleSyncGroup(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.SyncGroupRequest)
	resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	if r.Version >= 5 && (r.ProtocolType == nil || r.Protocol == nil) {
		// Mandatory from v5 on (KIP-559), as Kafka checks first.
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp, nil
	}
	if r.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	m, err := c.member(r.Group, r.MemberID, r.InstanceID)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	if r.ProtocolType != nil && *r.ProtocolType != consumerProtocolType || r.Protocol != nil && *r.Protocol != m.x.Assignor().Name() {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp, nil
	}
	tps, err := m.x.Sync(r.Generation)
	if err != nil {
		c.forgetIfGone(r.Group, r.MemberID, err)
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	protocol, protocolType := m.x.Assignor().Name(), consumerProtocolType
	resp.Protocol, resp.ProtocolType = &protocol, &protocolType
	resp.MemberAssignment = encodeAssignment(tps)
	return resp, nil
}

// encodeAssignment encodes partitions as Kafka's consumer protocol
// assignment (version 0, which every client reads).
func encodeAssignment(tps []eventlog.TopicPartition) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	for _, tp := range tps {
		if n := len(a.Topics); n == 0 || a.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewConsumerMemberAssignmentTopic()
			t.Topic = tp.Topic
			a.Topics = append(a.Topics, t)
		}
		t := &a.Topics[len(a.Topics)-1]
		t.Partitions = append(t.Partitions, tp.Partition)
	}
	return a.AppendTo(nil)
}

func (c *conn) handleHeartbeat(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.HeartbeatRequest)
	resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
	if r.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	m, err := c.member(r.Group, r.MemberID, r.InstanceID)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	rejoin, err := m.x.Heartbeat(r.Generation)
	switch {
	case err != nil:
		c.forgetIfGone(r.Group, r.MemberID, err)
		resp.ErrorCode = errorCode(err)
	case rejoin:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp, nil
}

func (c *conn) handleLeaveGroup(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.LeaveGroupRequest)
	resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
	if r.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	leave := func(id string, instance *string) int16 {
		var m *remoteMember
		switch {
		case id != "":
			var err error
			if m, err = c.member(r.Group, id, instance); err != nil {
				return errorCode(err)
			}
		case instance != nil && *instance != "": // a dynamic member's is ""
			m = c.s.members.byInstance(r.Group, *instance)
		}
		if m == nil {
			return kerr.UnknownMemberID.Code
		}
		m.x.Leave()
		c.s.members.remove(r.Group, m.x.ID())
		return 0
	}
	if r.Version < 3 {
		resp.ErrorCode = leave(r.MemberID, nil)
		return resp, nil
	}
	for _, lm := range r.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = leave(lm.MemberID, lm.InstanceID)
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

// describeMember returns what DescribeGroups says of a member: the client
// of a remote one, with the subscription it sent; the client the Log
// describes ("in-process" for a Consumer of the host) for others.
func (c *conn) describeMember(group string, md eventlog.GroupMemberDescription) kmsg.DescribeGroupsResponseGroupMember {
	dm := kmsg.NewDescribeGroupsResponseGroupMember()
	dm.MemberID = md.MemberID
	if md.GroupInstanceID != "" {
		dm.InstanceID = &md.GroupInstanceID
	}
	if m := c.s.members.get(group, md.MemberID); m != nil {
		dm.ClientID, dm.ClientHost, dm.ProtocolMetadata = m.clientID, m.clientHost, c.s.members.subscription(m)
	} else {
		dm.ClientID, dm.ClientHost = md.ClientID, md.ClientHost
		sub := kmsg.NewConsumerMemberMetadata()
		sub.Topics = md.Topics
		dm.ProtocolMetadata = sub.AppendTo(nil)
	}
	dm.MemberAssignment = encodeAssignment(md.Assignment)
	return dm
}

func (c *conn) handleDescribeGroups(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.DescribeGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range r.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = id
		d, err := c.s.log.DescribeGroup(id)
		switch {
		case id == "", errors.Is(err, eventlog.ErrGroupNotFound):
			g.State = "Dead" // as Kafka describes a group it does not know
		case err != nil:
			g.ErrorCode, g.ErrorMessage = errorCode(err), errorMessage(err)
		default:
			g.State, g.ProtocolType, g.Protocol = string(d.State), consumerProtocolType, d.Assignor
			for _, md := range d.Members {
				g.Members = append(g.Members, c.describeMember(id, md))
			}
		}
		if r.IncludeAuthorizedOperations && g.ErrorCode == 0 {
			g.AuthorizedOperations = groupOperations // Dead ones too, as in Kafka
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func (c *conn) handleListGroups(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.ListGroupsRequest)
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	names, err := c.s.log.Groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	for _, name := range names {
		d, err := c.s.log.DescribeGroup(name)
		if err != nil {
			continue // gone meanwhile
		}
		if len(r.StatesFilter) > 0 && !slices.ContainsFunc(r.StatesFilter, func(s string) bool { return strings.EqualFold(s, string(d.State)) }) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = name, consumerProtocolType, string(d.State), "classic"
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func (c *conn) handleDeleteGroups(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.DeleteGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	// Kafka's broker deletes, and answers, the distinct groups named: a
	// group named twice once, not a second time as not found.
	answered := make(map[string]bool, len(r.Groups))
	for _, id := range r.Groups {
		if answered[id] {
			continue
		}
		answered[id] = true
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		if id == "" {
			// Never committed to: see "The empty group ID" above.
			g.ErrorCode = kerr.GroupIDNotFound.Code
		} else if err := c.s.log.DeleteGroup(req.ctx, id); err != nil {
			g.ErrorCode, g.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func (c *conn) handleOffsetCommit(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.OffsetCommitRequest)
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	offsets := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	codes := make(map[eventlog.TopicPartition]int16)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			tp := eventlog.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			part, err := c.s.log.Partition(t.Topic, p.Partition)
			if err != nil {
				codes[tp] = errorCode(err)
				continue
			}
			if p.Offset < 0 || p.Offset > part.HighWatermark() {
				// The Log takes offsets in [0, high watermark] only,
				// and would refuse the whole commit: this partition
				// alone is refused, as Kafka answers each partition
				// of a commit on its own. (Kafka takes such offsets.)
				// The high watermark only grows: the check holds.
				codes[tp] = kerr.OffsetOutOfRange.Code
				continue
			}
			if p.Metadata != nil && len(*p.Metadata) > eventlog.MaxOffsetMetadataBytes {
				// As Kafka answers it (offset.metadata.max.bytes), for
				// this partition alone: the Log would refuse the
				// whole commit.
				codes[tp] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			om := eventlog.OffsetAndMetadata{Offset: p.Offset}
			if p.Metadata != nil {
				om.Metadata = *p.Metadata
			}
			offsets[tp] = om
		}
	}
	var err error
	switch {
	case r.Group == "":
		err = fmt.Errorf("%w: empty group ID", eventlog.ErrInvalidConfig)
	case r.Generation < 0:
		// Kafka's coordinator takes a commit of generation -1 while
		// the group has no members, whatever member it names (a
		// client whose generation was reset may keep its member ID).
		err = c.s.log.CommitGroupOffsets(req.ctx, r.Group, offsets)
		if !errors.Is(err, eventlog.ErrCommitFailed) {
			break
		}
		// The group has members: the call must be one's, and of its
		// generation, which -1 is not.
		switch _, gone := c.member(r.Group, r.MemberID, r.InstanceID); {
		case gone != nil:
			err = gone // UNKNOWN_MEMBER_ID, as Kafka answers one from outside
		default:
			err = fmt.Errorf("group %q member %q: generation %d: %w", r.Group, r.MemberID, r.Generation, eventlog.ErrIllegalGeneration)
		}
	default:
		if m, gone := c.member(r.Group, r.MemberID, r.InstanceID); gone != nil {
			err = gone
		} else {
			err = m.x.Commit(req.ctx, r.Generation, offsets)
			c.forgetIfGone(r.Group, r.MemberID, err)
		}
	}
	code := errorCode(err)
	if r.Group == "" {
		code = kerr.InvalidGroupID.Code
	}
	if code == kerr.UnknownServerError.Code {
		c.s.opts.Logger.Warn("kafkaserver: offset commit failed", "group", r.Group, "err", err)
	}
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			if own, ok := codes[eventlog.TopicPartition{Topic: t.Topic, Partition: p.Partition}]; ok {
				rp.ErrorCode = own
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// committedOffset is one answer of OffsetFetch.
type committedOffset struct {
	tp        eventlog.TopicPartition
	offset    int64 // -1: none
	metadata  string
	errorCode int16
}

// fetchCommitted returns a group's committed offsets of the topics'
// partitions, or of every partition it has one for when topics is nil.
// With requireStable, a partition with an offset commit in a transaction
// still open is answered UNSTABLE_OFFSET_COMMIT, without an offset, as
// Kafka answers it: the client asks again once the transaction is
// decided.
func (c *conn) fetchCommitted(group string, topics map[string][]int32, all, requireStable bool) ([]committedOffset, error) {
	var out []committedOffset
	stable := func(co *committedOffset) {
		if requireStable && c.s.log.OffsetCommitPending(group, co.tp) {
			co.offset, co.metadata, co.errorCode = -1, "", kerr.UnstableOffsetCommit.Code
		}
	}
	if all {
		if group == "" {
			return nil, nil // never committed to: see "The empty group ID" above
		}
		offsets, err := c.s.log.GroupOffsets(group)
		for _, o := range offsets {
			co := committedOffset{tp: o.TopicPartition, offset: o.Committed, metadata: o.Metadata}
			stable(&co)
			out = append(out, co)
		}
		return out, err
	}
	var tps []eventlog.TopicPartition
	for topic, ps := range topics {
		for _, p := range ps {
			tps = append(tps, eventlog.TopicPartition{Topic: topic, Partition: p})
		}
	}
	committed := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{}
	if group != "" {
		var err error
		if committed, err = c.s.log.CommittedOffsets(group, tps); err != nil {
			return nil, err
		}
	}
	for _, tp := range tps {
		co := committedOffset{tp: tp, offset: -1}
		if om, ok := committed[tp]; ok {
			co.offset, co.metadata = om.Offset, om.Metadata
		}
		stable(&co)
		out = append(out, co)
	}
	slices.SortFunc(out, func(a, b committedOffset) int {
		if a.tp.Topic != b.tp.Topic {
			if a.tp.Topic < b.tp.Topic {
				return -1
			}
			return 1
		}
		return int(a.tp.Partition) - int(b.tp.Partition)
	})
	return out, nil
}

// eachTopic walks offsets, sorted by topic, calling topic at the first of
// each topic and partition for every one.
func eachTopic(offsets []committedOffset, topic func(string), partition func(committedOffset)) {
	for i, o := range offsets {
		if i == 0 || offsets[i-1].tp.Topic != o.tp.Topic {
			topic(o.tp.Topic)
		}
		partition(o)
	}
}

// requestedTopics collects the partitions an OffsetFetch asks for.
func requestedTopics[T any](topics []T, of func(T) (string, []int32)) map[string][]int32 {
	out := make(map[string][]int32)
	for _, t := range topics {
		name, ps := of(t)
		out[name] = append(out[name], ps...)
	}
	return out
}

func (c *conn) handleOffsetFetch(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.OffsetFetchRequest)
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.Version < 8 {
		topics := requestedTopics(r.Topics, func(t kmsg.OffsetFetchRequestTopic) (string, []int32) { return t.Topic, t.Partitions })
		offsets, err := c.fetchCommitted(r.Group, topics, r.Topics == nil, r.RequireStable)
		resp.ErrorCode = errorCode(err)
		if err != nil && r.Version < 2 {
			// No top-level error code before v2: Kafka's broker
			// answers every partition asked for with the error.
			for _, t := range r.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, id := range t.Partitions {
					p := kmsg.NewOffsetFetchResponseTopicPartition()
					p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = id, -1, -1, kmsg.StringPtr("")
					p.ErrorCode = resp.ErrorCode
					rt.Partitions = append(rt.Partitions, p)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		eachTopic(offsets, func(name string) {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = name
			resp.Topics = append(resp.Topics, t)
		}, func(o committedOffset) {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = o.tp.Partition, o.offset, -1, &o.metadata
			p.ErrorCode = o.errorCode
			t := &resp.Topics[len(resp.Topics)-1]
			t.Partitions = append(t.Partitions, p)
		})
		return resp, nil
	}
	for _, g := range r.Groups {
		topics := requestedTopics(g.Topics, func(t kmsg.OffsetFetchRequestGroupTopic) (string, []int32) { return t.Topic, t.Partitions })
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group = g.Group
		offsets, err := c.fetchCommitted(g.Group, topics, g.Topics == nil, r.RequireStable)
		rg.ErrorCode = errorCode(err)
		eachTopic(offsets, func(name string) {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.Topic = name
			rg.Topics = append(rg.Topics, t)
		}, func(o committedOffset) {
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = o.tp.Partition, o.offset, -1, &o.metadata
			p.ErrorCode = o.errorCode
			t := &rg.Topics[len(rg.Topics)-1]
			t.Partitions = append(t.Partitions, p)
		})
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
