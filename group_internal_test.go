package eventlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// White-box tests of the coordinator, for interleavings the public API
// cannot pin down.

func testGroup(t *testing.T, partitions int, assignor Assignor) (*Log, *group) {
	t.Helper()
	l, err := Open(t.TempDir(), &Options{Durability: DurabilityOS})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	require.NoError(t, l.CreateTopic("t", TopicConfig{Partitions: partitions}))
	c, err := l.coordinator()
	require.NoError(t, err)
	return l, c.holdGroup("g")
}

func testMember(t *testing.T, g *group, assignor Assignor) *member {
	t.Helper()
	m, err := g.join(memberConfig{topics: []string{"t"}, assignor: assignor, maxPollInterval: time.Hour, sessionTimeout: time.Hour})
	require.NoError(t, err)
	return m
}

// settle syncs and releases as a consumer would, until nothing changes.
func settle(g *group, members ...*member) {
	for range 10 {
		for _, m := range members {
			if res, ok, err := g.sync(m); err == nil && ok {
				g.release(m, res.revoke)
			}
			g.pollDone(m)
		}
	}
}

func TestEvictedMembersCommitInFlightHoldsItsPartitions(t *testing.T) {
	_, g := testGroup(t, 1, RangeAssignor{})
	a := testMember(t, g, RangeAssignor{})
	settle(g, a)
	p := TopicPartition{"t", 0}
	require.True(t, a.held[p])

	require.NoError(t, g.beginCommit(a, []TopicPartition{p}))
	g.mu.Lock()
	g.removeLocked(a, errEvicted) // the timer evicts a mid-commit
	g.rebalanceLocked()
	g.mu.Unlock()
	b := testMember(t, g, RangeAssignor{})
	settle(g, b)
	assert.False(t, b.held[p], "granted while the evicted holder's commit is still being written")
	g.endCommit(a, []TopicPartition{p})
	settle(g, b)
	assert.True(t, b.held[p], "granted once the commit ended")
	require.ErrorIs(t, g.beginCommit(a, []TopicPartition{p}), ErrCommitFailed)
}

func TestEagerRebalanceWaitsForEveryRevocation(t *testing.T) {
	_, g := testGroup(t, 4, RangeAssignor{})
	a := testMember(t, g, RangeAssignor{})
	settle(g, a)
	gen := g.snapshot().generation
	b := testMember(t, g, RangeAssignor{})
	settle(g, b) // a has not polled: it still holds everything
	assert.Empty(t, b.held)
	assert.Len(t, a.held, 4)
	assert.Equal(t, gen, g.snapshot().generation, "no new generation before a revoked")
	res, ok, err := g.sync(a)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Empty(t, res.assignment, "eager: a gives up everything")
	assert.Len(t, res.revoke, 4)
	g.release(a, res.revoke)
	assert.Equal(t, gen+1, g.snapshot().generation)
	settle(g, a, b)
	assert.Len(t, a.held, 2)
	assert.Len(t, b.held, 2)
}

func TestCooperativeRebalanceRevokesOnlyWhatMoves(t *testing.T) {
	_, g := testGroup(t, 4, CooperativeStickyAssignor{})
	a := testMember(t, g, CooperativeStickyAssignor{})
	settle(g, a)
	b := testMember(t, g, CooperativeStickyAssignor{})
	res, ok, err := g.sync(a)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Len(t, res.assignment, 2, "a keeps two")
	assert.Len(t, res.revoke, 2, "and gives up two")
	gen := res.generation
	settle(g, b)
	assert.Empty(t, b.held, "not before a released them")
	g.release(a, res.revoke)
	settle(g, b)
	assert.Len(t, b.held, 2)
	assert.Equal(t, gen, b.generation, "in the same generation")
}

func TestBorrowedGroupStaysWhileAnyoneHoldsIt(t *testing.T) {
	l, _ := testGroup(t, 1, RangeAssignor{})
	c, err := l.coordinator()
	require.NoError(t, err)
	has := func(id string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.groups[id] != nil
	}

	// Two administrative calls share a group; it goes when both are done.
	a, b := c.borrowGroup("x"), c.borrowGroup("x")
	require.Same(t, a, b)
	c.returnGroup(a)
	assert.True(t, has("x"), "gone while a call still uses it")
	c.returnGroup(b)
	assert.False(t, has("x"))

	// A consumer takes the group, not having joined yet, while a reset
	// holds it locked: the reset gives it back, and the group stays, so
	// the consumer joins the group that later members and calls find.
	r := c.borrowGroup("y")
	r.mu.Lock()
	k := c.holdGroup("y")
	require.Same(t, r, k)
	r.unlock()
	c.returnGroup(r)
	require.True(t, has("y"), "a consumer holds the group")
	m := testMember(t, k, RangeAssignor{})
	settle(k, m)
	assert.Same(t, k, c.holdGroup("y"))
	d := c.borrowGroup("y")
	assert.Same(t, k, d)
	c.returnGroup(d)
	assert.True(t, has("y"))
}

// A member evicted while it commits is out of the group, but its commit is
// still to be written: ResetGroupOffsets and DeleteGroup, which the group
// being empty lets through, refuse until the commit is written, rather
// than have it land after them and undo them.
func TestEvictedMembersCommitInFlightHoldsOffAdministration(t *testing.T) {
	l, g := testGroup(t, 1, RangeAssignor{})
	a := testMember(t, g, RangeAssignor{})
	settle(g, a)
	p := TopicPartition{"t", 0}
	require.True(t, a.held[p])
	_, err := g.coord.offsets.write(t.Context(), "g", []offsetUpdate{{tp: p, v: offsetValue{epoch: noLeaderEpoch}}}, DurabilityFsync)
	require.NoError(t, err)

	require.NoError(t, g.beginCommit(a, []TopicPartition{p}))
	g.mu.Lock()
	g.removeLocked(a, errEvicted) // the timer evicts a mid-commit
	g.rebalanceLocked()
	g.mu.Unlock()
	_, err = l.ResetGroupOffsets(t.Context(), "g", ResetOffsetsSpec{To: ResetToLatest, Partitions: []TopicPartition{p}})
	assert.ErrorIs(t, err, ErrGroupNotEmpty, "a reset the commit in flight would undo")
	assert.ErrorIs(t, l.DeleteGroup(t.Context(), "g"), ErrGroupNotEmpty, "a deletion the commit in flight would undo")
	g.endCommit(a, []TopicPartition{p})
	_, err = l.ResetGroupOffsets(t.Context(), "g", ResetOffsetsSpec{To: ResetToLatest, Partitions: []TopicPartition{p}})
	assert.NoError(t, err)
	assert.NoError(t, l.DeleteGroup(t.Context(), "g"))
}
