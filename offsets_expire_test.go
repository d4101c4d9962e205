package eventlog_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// offsetKey is the __consumer_offsets key of group's offset of tp.
func offsetKey(group string, tp eventlog.TopicPartition) []byte {
	key := []byte{0, 1, byte(len(group) >> 8), byte(len(group))}
	key = append(key, group...)
	key = append(key, byte(len(tp.Topic)>>8), byte(len(tp.Topic)))
	key = append(key, tp.Topic...)
	return append(key, byte(tp.Partition>>24), byte(tp.Partition>>16), byte(tp.Partition>>8), byte(tp.Partition))
}

// lastOffsetRecord returns the value of the last record of key in
// __consumer_offsets, and whether there is one.
func lastOffsetRecord(t *testing.T, l *eventlog.Log, key []byte) (value []byte, found bool) {
	t.Helper()
	p := partition(t, l, "__consumer_offsets", 0)
	for offset := p.LogStartOffset(); offset < p.HighWatermark(); {
		recs, err := p.Read(offset, 1<<20)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		for _, r := range recs {
			if bytes.Equal(r.Key, key) {
				value, found = r.Value, true
			}
		}
		offset = recs[len(recs)-1].Offset + 1
	}
	return value, found
}

// committedOf returns group's committed offsets of partitions 0 and 1 of
// "t".
func committedOf(t *testing.T, l *eventlog.Log, group string) map[eventlog.TopicPartition]int64 {
	t.Helper()
	got, err := l.CommittedOffsets(group, []eventlog.TopicPartition{tp("t", 0), tp("t", 1)})
	require.NoError(t, err)
	out := make(map[eventlog.TopicPartition]int64, len(got))
	for tp, om := range got {
		out[tp] = om.Offset
	}
	return out
}

// joinAndCommit makes a member of group, which consumes "t" and commits
// where it got to, then leaves.
func joinAndCommit(t *testing.T, l *eventlog.Log, group string) {
	t.Helper()
	c := groupConsumer(t, l, group, func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
	require.NoError(t, c.Subscribe("t"))
	n := 0
	pollUntil(t, func() bool { return n == 6 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
	require.NoError(t, c.CommitSync(ctx))
	require.NoError(t, c.Close())
}

// TestGroupOffsetsExpire: the Log's group coordinator expires committed
// offsets as Kafka does (offsets.retention.minutes, 7 days by default):
// those of a group that members joined once the group has been empty that
// long, all together; those of a group that only commits each that long
// after its commit. It writes tombstones, so that a reopened Log does not
// have them either, and the group that members joined dies: it is listed
// and described no more. The Log checks every 10 minutes, also after a
// reopen that no group was used since. Before, every offset was kept for
// ever, in memory and in __consumer_offsets.
func TestGroupOffsetsExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		dir := t.TempDir()
		opts := &eventlog.Options{Now: clock.Now}
		l := openLog(t, dir, opts)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		fill(t, l, "t", 2, 3)
		joinAndCommit(t, l, "members")
		commitFor(t, l, "simple", map[eventlog.TopicPartition]int64{tp("t", 0): 1})
		clock.Advance(24 * time.Hour)
		commitFor(t, l, "simple", map[eventlog.TopicPartition]int64{tp("t", 1): 2})
		require.NoError(t, l.Close())
		l = openLog(t, dir, opts)
		defer l.Close()

		clock.Advance(6*24*time.Hour - time.Millisecond)
		time.Sleep(10 * time.Minute) // the Log's check runs
		synctest.Wait()
		assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 3, tp("t", 1): 3}, committedOf(t, l, "members"), "empty for 7 days less 1 ms")
		assert.Len(t, committedOf(t, l, "simple"), 2)

		clock.Advance(time.Millisecond)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		assert.Empty(t, committedOf(t, l, "members"), "empty for 7 days")
		assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 1): 2}, committedOf(t, l, "simple"), "the first commit expired, not the second")
		groups, err := l.Groups()
		require.NoError(t, err)
		assert.Equal(t, []string{"simple"}, groups)
		_, err = l.DescribeGroup("members")
		assert.ErrorIs(t, err, eventlog.ErrGroupNotFound)
		value, found := lastOffsetRecord(t, l, offsetKey("members", tp("t", 0)))
		assert.True(t, found)
		assert.Nil(t, value, "the offset's last record is a tombstone")

		clock.Advance(24 * time.Hour)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		assert.Empty(t, committedOf(t, l, "simple"))
		groups, err = l.Groups()
		require.NoError(t, err)
		assert.Empty(t, groups)

		require.NoError(t, l.Close())
		l = openLog(t, dir, opts)
		assert.Empty(t, committedOf(t, l, "members"), "a reopened Log has no expired offset")
		assert.Empty(t, committedOf(t, l, "simple"))
		groups, err = l.Groups()
		require.NoError(t, err)
		assert.Empty(t, groups)
	})
}

// TestGroupOffsetsExpireOnlyWhenEmpty: nothing of a group expires while it
// has members, however old its commits; its offsets expire
// OffsetsRetention after its last member left, an offset committed while
// it was empty OffsetsRetention after that commit. The group then leaves
// memory, and a member joining it starts a new group, at generation 1,
// from its AutoOffsetReset.
func TestGroupOffsetsExpireOnlyWhenEmpty(t *testing.T) {
	clock := newFakeClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, OffsetsRetention: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true; o.MaxPollInterval = 24 * time.Hour })
	require.NoError(t, c.Subscribe("t"))
	n := 0
	pollUntil(t, func() bool { return n == 6 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
	require.NoError(t, c.CommitSync(ctx))
	clock.Advance(10 * time.Hour)
	eventlog.ExpireGroupOffsets(l)
	assert.Len(t, committedOf(t, l, "g"), 2, "the group has a member")

	require.NoError(t, c.Close())
	clock.Advance(30 * time.Minute)
	require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 1): {Offset: 1}}))
	clock.Advance(30*time.Minute - time.Millisecond)
	eventlog.ExpireGroupOffsets(l)
	assert.Len(t, committedOf(t, l, "g"), 2, "empty for an hour less 1 ms")
	clock.Advance(time.Millisecond)
	eventlog.ExpireGroupOffsets(l)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 1): 1}, committedOf(t, l, "g"), "the offset committed while the group was empty stays")
	assert.Contains(t, eventlog.CoordinatorGroups(l), "g")
	clock.Advance(30 * time.Minute)
	eventlog.ExpireGroupOffsets(l)
	assert.Empty(t, committedOf(t, l, "g"))
	assert.Empty(t, eventlog.CoordinatorGroups(l), "the dead group left memory")
	_, err := l.DescribeGroup("g")
	assert.ErrorIs(t, err, eventlog.ErrGroupNotFound)

	again := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.AutoOffsetReset = eventlog.OffsetResetLatest })
	require.NoError(t, again.Subscribe("t"))
	pollUntil(t, func() bool { return len(again.Assignment()) == 2 }, nil, again)
	md, err := again.GroupMetadata()
	require.NoError(t, err)
	assert.Equal(t, int32(1), md.GenerationID, "a new group")
	fill(t, l, "t", 2, 1)
	var got []string
	pollUntil(t, func() bool { return len(got) == 2 }, func(_ *eventlog.Consumer, r eventlog.Record) { got = append(got, string(r.Value)) }, again)
	assert.ElementsMatch(t, []string{"p0-0", "p1-0"}, got, "from the end, its AutoOffsetReset")
}

// TestGroupOffsetsExpiryKeepsPendingTransaction: an offset that a
// transaction still open commits is not expired, nor is the group's
// stored metadata while the offset is pending; the others are.
func TestGroupOffsetsExpiryKeepsPendingTransaction(t *testing.T) {
	clock := newFakeClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, OffsetsRetention: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	joinAndCommit(t, l, "g")
	clock.Advance(2 * time.Hour)
	p := txnProducer(t, l, "tx")
	require.NoError(t, p.BeginTransaction())
	send(t, p, "out", 0, "v")
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 2}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))

	eventlog.ExpireGroupOffsets(l)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 3}, committedOf(t, l, "g"), "the offset pending in the transaction stays")
	groups, err := l.Groups()
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, groups)

	require.NoError(t, p.CommitTransaction(ctx))
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 2}, committedOf(t, l, "g"))
	clock.Advance(time.Hour)
	eventlog.ExpireGroupOffsets(l)
	assert.Empty(t, committedOf(t, l, "g"))
	groups, err = l.Groups()
	require.NoError(t, err)
	assert.Empty(t, groups)
}

// TestGroupOffsetsExpiryReadOnly: a read-only Log expires nothing, however
// old the offsets: it writes nothing.
func TestGroupOffsetsExpiryReadOnly(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{Now: clock.Now})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	commitFor(t, l, "g", map[eventlog.TopicPartition]int64{tp("t", 0): 1})
	require.NoError(t, l.Close())
	clock.Advance(30 * 24 * time.Hour)
	ro := openLog(t, dir, &eventlog.Options{Now: clock.Now, ReadOnly: true, OffsetsRetention: time.Hour})
	eventlog.ExpireGroupOffsets(ro)
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 1}, committedOf(t, ro, "g"))
}

// TestGroupOffsetsExpiryWriteFails: when the tombstones cannot be written
// the offsets stay, in memory and after a reopen, and the next check
// expires them.
func TestGroupOffsetsExpiryWriteFails(t *testing.T) {
	clock := newFakeClock()
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, Now: clock.Now}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	joinAndCommit(t, l, "g")
	clock.Advance(eventlog.DefaultOffsetsRetention)
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpWrite && strings.Contains(name, "__consumer_offsets") {
			return errors.New("injected write failure")
		}
		return nil
	})
	eventlog.ExpireGroupOffsets(l)
	fsys.SetFault(nil)
	assert.Len(t, committedOf(t, l, "g"), 2, "the tombstones failed")
	require.NoError(t, eventlog.Abandon(l))
	l = openLog(t, "/d", opts)
	assert.Len(t, committedOf(t, l, "g"), 2)
	eventlog.ExpireGroupOffsets(l)
	assert.Empty(t, committedOf(t, l, "g"))
	require.NoError(t, l.Close())
}

// TestGroupOffsetsExpiryPowerLoss cuts the power at each operation of an
// expiry and reopens: the group's offsets and metadata are there, all of
// them, or gone, all of them — the tombstones are one batch — and the
// next check expires what is left. Once the expiry returned, a reopen
// never brings the offsets back.
func TestGroupOffsetsExpiryPowerLoss(t *testing.T) {
	for _, mode := range txnPowerLossModes {
		t.Run(mode.String(), func(t *testing.T) {
			eachPowerCut(t, "the expiry", func(at int) bool {
				clock := newFakeClock()
				fsys := eventlog.NewMemFS()
				opts := &eventlog.Options{FS: fsys, Now: clock.Now}
				l := openLog(t, "/data", opts)
				require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
				fill(t, l, "t", 2, 3)
				joinAndCommit(t, l, "g")
				require.NoError(t, l.Close()) // what the group wrote is durable
				l = openLog(t, "/data", opts)
				clock.Advance(eventlog.DefaultOffsetsRetention)

				done := cutPowerDuring(fsys, mode, at, l, func() { eventlog.ExpireGroupOffsets(l) })

				l = openLog(t, "/data", opts)
				defer l.Close()
				got := committedOf(t, l, "g")
				groups, err := l.Groups()
				require.NoError(t, err)
				if done {
					assert.Empty(t, got, "cut at %d, after the expiry", at)
				}
				if len(got) == 0 {
					assert.Empty(t, groups, "cut at %d: the offsets are gone, and so is the group", at)
				} else {
					assert.Len(t, got, 2, "cut at %d: all offsets or none", at)
					assert.Equal(t, []string{"g"}, groups, "cut at %d", at)
				}
				eventlog.ExpireGroupOffsets(l)
				assert.Empty(t, committedOf(t, l, "g"), "cut at %d", at)
				groups, err = l.Groups()
				require.NoError(t, err)
				assert.Empty(t, groups, "cut at %d", at)
				return done
			})
		})
	}
}

// TestGroupOffsetsExpiryRacesNewMember: a member that joins a group while
// the Log expires the group's offsets and lets it die commits into the
// group that the Log keeps, whichever comes first, and its commit stays.
func TestGroupOffsetsExpiryRacesNewMember(t *testing.T) {
	clock := newFakeClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, OffsetsRetention: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	// member returns a member of the group that owns both partitions; it
	// runs on other goroutines than the test's too.
	member := func() (*eventlog.Consumer, error) {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", DisableAutoCommit: true, FetchMaxWait: time.Millisecond})
		if err != nil {
			return nil, err
		}
		if err := c.Subscribe("t"); err != nil {
			return nil, errors.Join(err, c.Close())
		}
		for len(c.Assignment()) < 2 {
			if _, err := c.Poll(ctx); err != nil {
				return nil, errors.Join(err, c.Close())
			}
		}
		return c, nil
	}
	for i := range 20 {
		c, err := member()
		require.NoError(t, err)
		require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 1}, tp("t", 1): {Offset: 1}}))
		require.NoError(t, c.Close())
		clock.Advance(2 * time.Hour)

		joined := make(chan *eventlog.Consumer, 1)
		go func() {
			c, err := member()
			if assert.NoError(t, err) {
				assert.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 2}}))
			}
			joined <- c
		}()
		eventlog.ExpireGroupOffsets(l)
		c = <-joined
		require.NotNil(t, c, "round %d", i)
		got := committedOf(t, l, "g")
		assert.Equal(t, int64(2), got[tp("t", 0)], "round %d: the new member's commit", i)
		groups, err := l.Groups()
		require.NoError(t, err)
		assert.Equal(t, []string{"g"}, groups, "round %d", i)
		require.NoError(t, c.Close())
		clock.Advance(2 * time.Hour)
		eventlog.ExpireGroupOffsets(l)
		require.Empty(t, committedOf(t, l, "g"), "round %d", i)
	}
}

// TestGroupOffsetsExpiryKeepsAnAutoCommittingConsumers: a Consumer that
// assigned its partitions by hand and commits automatically keeps its
// group's offsets while it polls, however long its positions stay put, as
// Kafka's consumer does by committing every position at every interval:
// each expires OffsetsRetention after its commit, and the automatic
// commits write the positions again before then. Before, they skipped the
// positions that had not moved: the offsets expired under the open
// Consumer, and its Close, which skips them too, did not write them back.
func TestGroupOffsetsExpiryKeepsAnAutoCommittingConsumers(t *testing.T) {
	clock := newFakeClock()
	l := openLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, OffsetsRetention: 24 * time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fill(t, l, "t", 2, 3)
	c := groupConsumer(t, l, "hand", nil)
	require.NoError(t, c.Assign(tp("t", 0), tp("t", 1)))
	n := 0
	pollUntil(t, func() bool { return n == 6 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
	for i := range 10 { // polls with nothing new, for 5 times the retention
		clock.Advance(12 * time.Hour)
		_, err := c.Poll(ctx)
		require.NoError(t, err)
		eventlog.ExpireGroupOffsets(l)
		assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 3, tp("t", 1): 3}, committedOf(t, l, "hand"), "the consumer polls, %d hours on", (i+1)*12)
	}
	require.NoError(t, c.Close())
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("t", 0): 3, tp("t", 1): 3}, committedOf(t, l, "hand"), "after its Close")
}

// TestDeletedGroupLeavesNothingToExpire: a group that members joined and
// that DeleteGroup deleted is gone from memory too, as if it had expired:
// OffsetsRetention later the coordinator writes no tombstone for it again,
// and a member joining it afterwards starts a new group, at generation 1.
// Before, the deleted group stayed in memory as one members had joined,
// until its expiry wrote a second, redundant metadata tombstone.
func TestDeletedGroupLeavesNothingToExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		var logged bytes.Buffer
		l := openLog(t, t.TempDir(), &eventlog.Options{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		defer l.Close()
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
		fill(t, l, "t", 2, 3)
		joinAndCommit(t, l, "g")
		joinAndLeave := func() {
			c := groupConsumer(t, l, "g", func(o *eventlog.ConsumerOptions) { o.DisableAutoCommit = true })
			require.NoError(t, c.Subscribe("t"))
			pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, nil, c)
			require.NoError(t, c.Close())
		}
		joinAndLeave()
		d, err := l.DescribeGroup("g")
		require.NoError(t, err)
		require.Greater(t, d.Generation, int32(1), "members joined it twice")
		require.NoError(t, l.DeleteGroup(ctx, "g"))
		offsets := partition(t, l, "__consumer_offsets", 0)
		end := offsets.HighWatermark()

		clock.Advance(eventlog.DefaultOffsetsRetention)
		time.Sleep(10 * time.Minute) // the Log's check runs
		synctest.Wait()
		assert.Equal(t, end, offsets.HighWatermark(), "nothing written for the deleted group")
		assert.NotContains(t, logged.String(), "committed offsets expired")

		joinAndLeave()
		d, err = l.DescribeGroup("g")
		require.NoError(t, err)
		assert.Equal(t, int32(1), d.Generation, "a new group")
	})
}
