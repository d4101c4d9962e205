package eventlog

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The group coordinator: the Log's registry of consumer groups, and the
// goroutine that evicts members past their deadlines and writes groups'
// metadata (see group.go for how a group works).

// groupState is the Log's consumer-group state: the committed offsets and
// the coordinator, each made on first use (the offsets at Open when
// __consumer_offsets exists).
type groupState struct {
	mu      sync.Mutex // guards offsets and coord
	offsets *offsetStore
	coord   *coordinator
}

// coordinator runs the consumer groups of one Log.
type coordinator struct {
	log     *Log
	offsets *offsetStore
	poke    chan struct{} // buffer 1: a deadline may have moved earlier
	// metaPoke (buffer 1) tells that a group has a metadata snapshot to
	// write.
	metaPoke chan struct{}
	armed    atomic.Int64 // unix nanos the timer fires at; 0: not armed
	// incarnation ends the IDs of the members it names, so that no Log
	// opened on the directory later, in this process or another, gives
	// an ID again: the time it started, in nanoseconds, base 36. Kafka's
	// end in a UUID for the same reason: a client that held an ID before
	// a restart and rejoins with it must not be taken for another member.
	incarnation string
	// nextMember numbers the members of every group, so that a group
	// that left memory (see dropLocked) and starts again gives no ID
	// twice either.
	nextMember atomic.Int64
	// started is when the coordinator started: at Open when
	// __consumer_offsets exists. The members that a group's stored
	// metadata lists, and no member in this process replaced, ran in a
	// process before it (see emptySinceLocked).
	started time.Time

	mu     sync.Mutex // guards groups, and holders and borrowed of each group
	groups map[string]*group
}

// coordinator returns the Log's group coordinator, starting it on first use.
func (l *Log) coordinator() (*coordinator, error) {
	if err := l.refuseWrite("run consumer groups, which commit offsets"); err != nil {
		return nil, err
	}
	s, err := l.offsetStore(true)
	if err != nil {
		return nil, err
	}
	l.groups.mu.Lock()
	defer l.groups.mu.Unlock()
	if c := l.groups.coord; c != nil {
		return c, nil
	}
	now := l.opts.Now()
	c := &coordinator{log: l, offsets: s, poke: make(chan struct{}, 1), metaPoke: make(chan struct{}, 1), groups: make(map[string]*group),
		incarnation: strconv.FormatInt(now.UnixNano(), 36), started: now}
	if !l.goBackground(c.run) {
		return nil, ErrClosed
	}
	l.groups.coord = c
	return c, nil
}

// holdGroup returns the group named id, creating it, for a Consumer,
// which may join it at any time until it gives it back with releaseGroup
// at its Close. The group stays in memory meanwhile, so that a name never
// has two groups.
func (c *coordinator) holdGroup(id string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(id)
	g.holders++
	return g
}

// releaseGroup gives back a group that holdGroup returned.
func (c *coordinator) releaseGroup(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g.holders--
	c.dropLocked(g)
}

// borrowGroup returns the group named id, creating it, for a call that
// gives it back with returnGroup after it unlocked the group: until then
// the group's mu keeps members out, which a new group of the same name
// would not. A group that only such calls used leaves memory when the
// last one gives it back, so that naming groups that do not exist leaves
// nothing behind.
func (c *coordinator) borrowGroup(id string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(id)
	g.borrowed++
	return g
}

// returnGroup gives back a group that borrowGroup returned.
func (c *coordinator) returnGroup(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g.borrowed--
	c.dropLocked(g)
}

// dropLocked takes the group out of memory when nobody uses it and it has
// nothing to remember: no member, no commit in flight, no metadata
// waiting to be written, and no member ever joined it in this process, or
// it died since (expireOffsetsLocked): its committed offsets and stored
// metadata live in the offset store, its generation goes on from the
// stored one. A group whose members left stays until its offsets expire:
// it remembers when it became empty. c.mu is held.
func (c *coordinator) dropLocked(g *group) {
	if g.borrowed > 0 || g.holders > 0 || c.groups[g.id] != g {
		return
	}
	g.mu.Lock()
	idle := !g.mu.joined && len(g.mu.members) == 0 && len(g.mu.holder) == 0 && len(g.mu.outside) == 0 && g.mu.metadata == nil
	g.mu.Unlock()
	if idle {
		delete(c.groups, g.id)
	}
}

// groupLocked returns the group named id, creating it; c.mu is held.
func (c *coordinator) groupLocked(id string) *group {
	g := c.groups[id]
	if g == nil {
		g = &group{id: id, coord: c}
		g.mu.members = make(map[string]*member)
		g.mu.instances = make(map[string]*member)
		g.mu.holder = make(map[TopicPartition]*member)
		g.mu.generation = c.offsets.storedGeneration(id)
		c.groups[id] = g
	}
	return g
}

// wakeTimerFor pokes the timer when deadline is before the one it is armed
// for: the deadline of a member that polls moves later, and needs none.
func (c *coordinator) wakeTimerFor(deadline time.Time) {
	if at := c.armed.Load(); at == 0 || deadline.UnixNano() < at {
		c.wakeTimer()
	}
}

func (c *coordinator) wakeTimer() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// metadataLinger is how long the coordinator's goroutine waits before it
// writes the groups' metadata snapshots (group_metadata.go): the write does
// not compete with the end of the rebalance that took the snapshot, and
// the snapshots of rebalances in quick succession are written once, the
// last.
const metadataLinger = 20 * time.Millisecond

// run evicts members past their deadlines, writes the groups' metadata
// snapshots and expires committed offsets (offsets_expire.go), until the
// Log closes. Members calling the coordinator evict
// too, so a clock injected through Options.Now takes effect at the next
// call even if no timer fires.
func (c *coordinator) run(stop <-chan struct{}) {
	var timer, linger *time.Timer
	defer func() {
		for _, t := range []*time.Timer{timer, linger} {
			if t != nil {
				t.Stop()
			}
		}
	}()
	var fire, lingering <-chan time.Time // set while the timer, the linger run
	var retention <-chan time.Time       // the expiry of committed offsets, unless they are kept for ever
	if c.log.opts.OffsetsRetention > 0 {
		tick := time.NewTicker(offsetsRetentionCheckInterval)
		defer tick.Stop()
		retention = tick.C
	}
	lingerFor := func() {
		if lingering != nil {
			return
		}
		if linger == nil {
			linger = time.NewTimer(metadataLinger)
		} else {
			linger.Reset(metadataLinger)
		}
		lingering = linger.C
	}
	for expire := true; ; expire = true {
		if expire {
			next, ok, pending := c.expire()
			fire = nil
			c.armed.Store(0)
			if ok {
				c.armed.Store(next.UnixNano())
				d := max(next.Sub(c.log.opts.Now()), 0)
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				fire = timer.C
			}
			if pending {
				lingerFor()
			}
		}
		select {
		case <-fire:
		case <-c.poke:
		case <-c.metaPoke:
			// Only a snapshot to write: the deadlines are as they were.
			expire = false
			lingerFor()
		case <-lingering:
			expire, lingering = false, nil
			c.writeMetadata()
		case <-retention:
			c.expireOffsets()
		case <-stop:
			return
		}
	}
}

// expire evicts the expired members of every group and returns the next
// deadline, and whether a group has a metadata snapshot to write.
func (c *coordinator) expire() (next time.Time, ok, pending bool) {
	now := c.log.opts.Now()
	for _, g := range c.groupList() {
		g.mu.Lock()
		g.expireLocked(now)
		for _, m := range g.mu.members {
			if d, has := m.deadline(); has && (!ok || d.Before(next)) {
				next, ok = d, true
			}
		}
		g.mu.Unlock()
		pending = pending || g.metaPending.Load()
	}
	return next, ok, pending
}

// groupList returns the groups.
func (c *coordinator) groupList() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	return groups
}

// groupNames lists the groups with members.
func (c *coordinator) groupNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for id, g := range c.groups {
		g.mu.Lock()
		if len(g.mu.members) > 0 {
			names = append(names, id)
		}
		g.mu.Unlock()
	}
	return names
}

// Groups lists the consumer groups that have committed offsets, members,
// or stored metadata (see GroupDescription), sorted. A group emptied by
// its last member leaving is listed until DeleteGroup, or until its
// offsets expire (Options.OffsetsRetention) — one without offsets goes
// at the Log's next check — as in Kafka.
func (l *Log) Groups() ([]string, error) {
	var names []string
	s, err := l.offsetStore(false)
	if err != nil {
		return nil, err
	}
	if s != nil {
		names = s.groupNames()
	}
	l.groups.mu.Lock()
	c := l.groups.coord
	l.groups.mu.Unlock()
	if c != nil {
		names = append(names, c.groupNames()...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
