package kafkaserver

import (
	"errors"
	"sync"
	"time"

	"github.com/eventlog/eventlog"
)

// Remote members
//
// The server keeps, for each group member joined through it, the
// eventlog.ExternalMember it acts through and what DescribeGroups tells of
// it that the Log does not keep: its client and the subscription it sent,
// user data included, which can be large. A member goes from the Log's
// group by LeaveGroup, by eviction when its session times out, by being
// fenced by a static member with its instance ID, or with the server; the
// server forgets it at LeaveGroup, at the first call that finds it gone,
// and otherwise at the next sweep: every memberSweepInterval, from the
// first JoinGroup on, the server describes the groups of its remote
// members and forgets the members these no longer have.

// memberSweepInterval is how often the server looks for remote members
// their groups no longer have.
const memberSweepInterval = time.Second

// remoteMember is a group member joined through this server.
type remoteMember struct {
	x          *eventlog.ExternalMember
	clientID   string
	clientHost string
	instanceID string
	metadata   []byte // the subscription of its protocol, as sent; under memberRegistry.mu
	added      uint64 // memberRegistry's count of puts when it was put
}

// memberRegistry finds the members joined through the server by group and
// member ID.
type memberRegistry struct {
	mu struct {
		sync.Mutex
		groups map[string]map[string]*remoteMember // by group, then member ID
		puts   uint64                              // members put so far
	}
}

func (r *memberRegistry) init() { r.mu.groups = make(map[string]map[string]*remoteMember) }

// subscription returns the subscription m sent in its last JoinGroup.
func (r *memberRegistry) subscription(m *remoteMember) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m.metadata
}

// setSubscription records the subscription m sent in a JoinGroup, which
// DescribeGroups, on another connection, reads.
func (r *memberRegistry) setSubscription(m *remoteMember, metadata []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.metadata = metadata
}

func (r *memberRegistry) get(group, id string) *remoteMember {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.groups[group][id]
}

// put adds a member that joined its group. A static member takes the
// place of the one with its instance ID, which the group fenced.
func (r *memberRegistry) put(group string, m *remoteMember) {
	r.mu.Lock()
	defer r.mu.Unlock()
	members := r.mu.groups[group]
	if members == nil {
		members = make(map[string]*remoteMember)
		r.mu.groups[group] = members
	}
	if m.instanceID != "" {
		for id, old := range members {
			if old.instanceID == m.instanceID {
				delete(members, id)
			}
		}
	}
	r.mu.puts++
	m.added = r.mu.puts
	members[m.x.ID()] = m
}

func (r *memberRegistry) remove(group, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(group, id)
}

func (r *memberRegistry) removeLocked(group, id string) {
	members := r.mu.groups[group]
	delete(members, id)
	if len(members) == 0 {
		delete(r.mu.groups, group)
	}
}

// byInstance finds a group's member by static instance ID.
func (r *memberRegistry) byInstance(group, instance string) *remoteMember {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.mu.groups[group] {
		if m.instanceID == instance {
			return m
		}
	}
	return nil
}

// len returns how many members the registry holds.
func (r *memberRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, members := range r.mu.groups {
		n += len(members)
	}
	return n
}

// leaveAll takes every member out of its group.
func (r *memberRegistry) leaveAll() {
	r.mu.Lock()
	groups := r.mu.groups
	r.mu.groups = make(map[string]map[string]*remoteMember)
	r.mu.Unlock()
	for _, members := range groups {
		for _, m := range members {
			m.x.Leave()
		}
	}
}

// sweep forgets the members their groups no longer have, and returns how
// many. Describing a group evicts its members whose session timed out.
func (r *memberRegistry) sweep(l *eventlog.Log) int {
	r.mu.Lock()
	// A member put after this was not yet in its group when the group
	// was described, and is kept.
	seen := r.mu.puts
	groups := make([]string, 0, len(r.mu.groups))
	for g := range r.mu.groups {
		groups = append(groups, g)
	}
	r.mu.Unlock()
	forgotten := 0
	for _, g := range groups {
		d, err := l.DescribeGroup(g)
		if err != nil && !errors.Is(err, eventlog.ErrGroupNotFound) {
			continue // the Log is closing, or the group cannot be read: next time
		}
		live := make(map[string]bool, len(d.Members))
		for _, md := range d.Members {
			live[md.MemberID] = true
		}
		r.mu.Lock()
		for id, m := range r.mu.groups[g] {
			if m.added <= seen && !live[id] {
				r.removeLocked(g, id)
				forgotten++
			}
		}
		r.mu.Unlock()
	}
	return forgotten
}

// sweepMembers starts the goroutine that sweeps the member registry until
// the server closes, unless it runs.
func (s *Server) sweepMembers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || s.mu.sweeping {
		return
	}
	s.mu.sweeping = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(memberSweepInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-s.ctx.Done():
				return
			}
			if n := s.members.sweep(s.log); n > 0 {
				s.opts.Logger.Debug("kafkaserver: forgot group members gone from their groups", "members", n)
			}
		}
	}()
}
