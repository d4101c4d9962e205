package eventlog_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The group crash test runs this test binary as a child that consumes a
// topic in a consumer group, commits after every poll (synchronously, and
// now and then asynchronously), and prints every commit once it is
// acknowledged; a producer goroutine keeps appending. The parent kills the
// child with SIGKILL at random moments, reopens the log, and checks that
// every acknowledged commit is there — the committed offset of each
// partition is at least the last one acknowledged, never lower than after
// the previous kill, and never past the log end — and that a new member of
// the group resumes each partition exactly at its committed offset.

const groupCrashChildEnv = "EVENTLOG_GROUP_CRASH_CHILD_DIR"

const (
	groupCrashTopic      = "gc"
	groupCrashPartitions = 3
	groupCrashGroup      = "crash-group"
)

func TestGroupCrashChild(t *testing.T) {
	dir := os.Getenv(groupCrashChildEnv)
	if dir == "" {
		t.Skip("run by TestGroupCrashKill")
	}
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, "group crash child failed:", what, err)
		os.Exit(3)
	}
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		fail("open", err)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	print := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format, args...)
		out.Flush()
	}
	go func() {
		rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
		for i := 0; ; i++ {
			p, err := l.Partition(groupCrashTopic, int32(rng.IntN(groupCrashPartitions)))
			if err != nil {
				fail("partition", err)
			}
			if _, err := p.Append(ctx, []eventlog.Record{{Value: fmt.Appendf(nil, "v%d", i)}}, eventlog.AppendOptions{}); err != nil {
				fail("append", err)
			}
		}
	}()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{
		GroupID:           groupCrashGroup,
		AutoOffsetReset:   eventlog.OffsetResetEarliest,
		DisableAutoCommit: true,
		MaxPollRecords:    13,
		FetchMaxWait:      time.Millisecond,
	})
	if err != nil {
		fail("consumer", err)
	}
	if err := c.Subscribe(groupCrashTopic); err != nil {
		fail("subscribe", err)
	}
	for n := 0; ; n++ {
		if _, err := c.Poll(ctx); err != nil {
			fail("poll", err)
		}
		positions := map[int32]int64{}
		for _, tp := range c.Assignment() {
			pos, err := c.Position(tp)
			if err != nil {
				fail("position", err)
			}
			positions[tp.Partition] = pos
		}
		ack := func() {
			for id, pos := range positions {
				print("%d %d\n", id, pos)
			}
		}
		if n%4 == 3 {
			c.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
				if err != nil {
					fail("commit async", err)
				}
				ack()
			})
			continue
		}
		if err := c.CommitSync(ctx); err != nil {
			fail("commit", err)
		}
		ack()
	}
}

func TestGroupCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	kills := envInt(t, "EVENTLOG_GROUP_CRASH_KILLS", 15)
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic(groupCrashTopic, eventlog.TopicConfig{Partitions: groupCrashPartitions}))
	fill(t, l, groupCrashTopic, groupCrashPartitions, 200)
	require.NoError(t, l.Close())

	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 11))
	acked := map[int32]int64{}    // highest acknowledged commit per partition
	previous := map[int32]int64{} // committed offsets found after the previous kill
	commits := 0
	for iter := range kills {
		// Kill at once (during Open or the join) now and then, otherwise
		// after a random number of acknowledged commits.
		waitFor := 0
		if rng.IntN(5) != 0 {
			waitFor = 1 + rng.IntN(120)
		}
		stderr := killChild(t, "TestGroupCrashChild", groupCrashChildEnv+"="+dir, waitFor, func(line string) {
			var id int32
			var off int64
			_, err := fmt.Sscanf(line, "%d %d", &id, &off)
			require.NoError(t, err, "child output %q", line)
			acked[id] = max(acked[id], off)
			commits++
		})
		require.NotContains(t, stderr, "group crash child failed", "iteration %d", iter)
		previous = verifyGroupCrash(t, dir, acked, previous)
	}
	t.Logf("%d kills, %d acknowledged commits, committed %v", kills, commits, previous)
}

// verifyGroupCrash reopens the log after a kill and checks the committed
// offsets; it returns them.
func verifyGroupCrash(t *testing.T, dir string, acked, previous map[int32]int64) map[int32]int64 {
	t.Helper()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err, "reopen after kill")
	defer func() { require.NoError(t, l.Close()) }()
	offsets, err := l.GroupOffsets(groupCrashGroup)
	require.NoError(t, err)
	committed := map[int32]int64{}
	for _, o := range offsets {
		committed[o.Partition] = o.Committed
		assert.LessOrEqual(t, o.Committed, o.HighWatermark, "partition %d: committed past the log end", o.Partition)
	}
	for id, off := range acked {
		require.GreaterOrEqual(t, committed[id], off, "partition %d: acknowledged commit lost", id)
	}
	for id, off := range previous {
		require.GreaterOrEqual(t, committed[id], off, "partition %d: committed offset went backwards across a crash", id)
	}

	// A new member resumes exactly at the committed offsets. It commits
	// nothing, so the next child carries on from the same place. One more
	// record per partition makes sure each has one to resume at.
	fill(t, l, groupCrashTopic, groupCrashPartitions, 1)
	first := map[int32]int64{}
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: groupCrashGroup, AutoOffsetReset: eventlog.OffsetResetEarliest,
		DisableAutoCommit: true, FetchMaxWait: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Subscribe(groupCrashTopic))
	for range 100 {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
		}
		if len(first) == groupCrashPartitions {
			break
		}
	}
	require.Len(t, first, groupCrashPartitions, "every partition has records past its committed offset")
	for id := range int32(groupCrashPartitions) {
		want, ok := committed[id]
		if !ok {
			want = 0
		}
		assert.Equal(t, want, first[id], "partition %d: a new member resumes at the committed offset", id)
	}
	return committed
}

// TestGroupCommitsSurvivePowerLoss is the crash test through MemFS, whose
// crash also drops what was written but not fsynced: an acknowledged
// commit must have been fsynced, an asynchronous one once its callback ran.
func TestGroupCommitsSurvivePowerLoss(t *testing.T) {
	for _, mode := range []eventlog.CrashMode{eventlog.CrashDropUnsynced, eventlog.CrashKeepPrefix, eventlog.CrashZeroFill, eventlog.CrashRandom, eventlog.CrashReorder} {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			// Recovery points move often, so that crashes land on both
			// sides of them.
			opts := &eventlog.Options{FS: fsys, RecoveryPointInterval: time.Millisecond}
			l, err := eventlog.Open("/data", opts)
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
			fill(t, l, "t", 2, 300)
			rng := rand.New(rand.NewPCG(uint64(mode), 3))
			acked := map[int32]int64{}
			for crash := range 8 {
				c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest,
					DisableAutoCommit: true, MaxPollRecords: 1 + rng.IntN(20), FetchMaxWait: time.Millisecond})
				require.NoError(t, err)
				require.NoError(t, c.Subscribe("t"))
				for range rng.IntN(30) {
					_, err := c.Poll(ctx)
					require.NoError(t, err)
					positions := map[int32]int64{}
					for _, tp := range c.Assignment() {
						pos, err := c.Position(tp)
						require.NoError(t, err)
						positions[tp.Partition] = pos
					}
					ack := func() {
						for id, pos := range positions {
							acked[id] = max(acked[id], pos)
						}
					}
					if rng.IntN(3) == 0 {
						c.CommitAsync(nil, func(_ map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, err error) {
							require.NoError(t, err)
							ack()
						})
					} else {
						require.NoError(t, c.CommitSync(ctx))
						ack()
					}
				}
				// Power loss: the consumer is never closed.
				fsys.Crash(eventlog.CrashOptions{Mode: mode, Rand: rng})
				_ = eventlog.Abandon(l)
				l, err = eventlog.Open("/data", opts)
				require.NoError(t, err, "reopen after crash %d", crash)
				offsets, err := l.GroupOffsets("g")
				require.NoError(t, err)
				committed := map[int32]int64{}
				for _, o := range offsets {
					committed[o.Partition] = o.Committed
				}
				for id, off := range acked {
					require.GreaterOrEqual(t, committed[id], off, "crash %d: partition %d lost an acknowledged commit", crash, id)
				}
			}
			require.NoError(t, l.Close())
		})
	}
}

// On a Log whose Durability is DurabilityOS, __consumer_offsets takes
// commits without an fsync too. A power loss that takes a topic's unsynced
// records but keeps the group's commit of them — a disk persists files in
// any order — leaves the committed offset past the log end, and Open lowers
// it to the log end. The lowering must be durable before anything is
// appended: records appended after the crash and fsynced, never consumed,
// must not be skipped when a later power loss takes an unsynced lowering
// and keeps them.
func TestCommittedOffsetLoweredDurablyOnOSLog(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, Durability: eventlog.DurabilityOS}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	fill(t, l, "t", 1, 10)
	c := groupConsumer(t, l, "g", nil)
	require.NoError(t, c.Subscribe("t"))
	n := 0
	pollUntil(t, func() bool { return n == 10 }, func(*eventlog.Consumer, eventlog.Record) { n++ }, c)
	require.NoError(t, c.CommitSync(ctx))
	// The disk persisted the commit, not the records.
	dir := "/data/topics/__consumer_offsets/0"
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	for _, name := range names {
		f, err := fsys.OpenFile(dir+"/"+name, os.O_RDWR, 0)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = eventlog.Abandon(l)

	assertOffsetLoweredDurably(t, fsys, opts, "t")
}

// assertOffsetLoweredDurably opens the Log on fsys after a power loss took
// the records of topic's partition 0 that group g had consumed, and checks
// that g's committed offset there was lowered to the log end, 0, and stays
// there once 15 records appended and fsynced since survive another power
// loss: a lowering that was lost would make g skip them.
func assertOffsetLoweredDurably(t *testing.T, fsys *eventlog.MemFS, opts *eventlog.Options, topic string) {
	t.Helper()
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	p := partition(t, l, topic, 0)
	require.Equal(t, int64(0), p.LogEndOffset(), "the records were lost")
	offsets, err := l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(0), offsets[0].Committed, "lowered to the log end")
	for i := range 15 {
		_, err := p.Append(ctx, []eventlog.Record{{Value: fmt.Appendf(nil, "new-%d", i)}}, eventlog.AppendOptions{Durability: eventlog.DurabilityFsync})
		require.NoError(t, err)
	}
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = eventlog.Abandon(l)

	l, err = eventlog.Open("/data", opts)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, int64(15), partition(t, l, topic, 0).LogEndOffset(), "the fsynced records survived")
	offsets, err = l.GroupOffsets("g")
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	assert.Equal(t, int64(0), offsets[0].Committed, "the lowering was durable: the records appended since are not skipped")
}

// Offsets committed in a transaction become the group's committed offsets
// when Open finishes the transaction, if a crash came after its decision:
// past the log end of a partition whose records a power loss took (a
// DurabilityOS topic), they must be lowered to it as every committed offset
// is, durably, or the records appended after the crash would be skipped.
func TestTransactionCommittedOffsetPastLogEndLowered(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("in", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	fill(t, l, "in", 1, 10)
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	require.NoError(t, p.BeginTransaction())
	require.NoError(t, p.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("in", 0): {Offset: 10}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))
	// The power goes once the decision is durable, before the markers.
	decided, dead := false, false
	fsys.SetFault(func(op eventlog.Op, name string) error {
		switch {
		case dead:
			return eventlog.ErrInjected
		case op == eventlog.OpSync && strings.Contains(name, "__transaction_state"):
			decided = true
		case op == eventlog.OpWrite && decided && strings.Contains(name, "__consumer_offsets"):
			fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
			dead = true
			return eventlog.ErrInjected
		}
		return nil
	})
	require.Error(t, p.CommitTransaction(ctx))
	_ = eventlog.Abandon(l)
	fsys.SetFault(nil)
	require.True(t, dead, "the power went before the marker")

	assertOffsetLoweredDurably(t, fsys, opts, "in")
}
