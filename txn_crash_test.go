package eventlog_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Crashing transactions. A consume-transform-produce worker reads input
// records, and for each writes 1 to 3 output records, over two output
// partitions, and commits the input offset after them, in one transaction
// per few inputs. Crashes — SIGKILL of a child process, and MemFS power
// losses at every operation of a transaction, during recovery too — must
// leave the output exactly once: the group's committed offset C, and for
// every input below C all its outputs, once each, read_committed, and
// none for the inputs from C on. Every commit the worker saw succeed is
// below C.

const (
	eoInputs = 60
	eoGroup  = "eo"
)

var eoIn = eventlog.TopicPartition{Topic: "in", Partition: 0}

// eoFanout is how many outputs input i has.
func eoFanout(i int64) int { return 1 + int(i%3) }

func eoOutput(i int64, j int) string { return fmt.Sprintf("o-%d-%d", i, j) }

// eoSetup creates the topics and the input records, or what a crash left
// of them missing.
func eoSetup(l *eventlog.Log) error {
	for _, name := range []string{"out", "in"} {
		if _, err := l.TopicConfig(name); errors.Is(err, eventlog.ErrTopicNotFound) {
			cfg := eventlog.TopicConfig{Partitions: 2, SegmentBytes: 4096}
			if name == "in" {
				cfg = eventlog.TopicConfig{}
			}
			if err := l.CreateTopic(name, cfg); err != nil {
				return err
			}
		}
	}
	p, err := l.Partition("in", 0)
	if err != nil {
		return err
	}
	for i := p.LogEndOffset(); i < eoInputs; i++ {
		if _, err := p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: fmt.Appendf(nil, "in-%d", i)}}, eventlog.AppendOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// eoWork runs the worker until the input is consumed, maxTxns
// transactions committed (0: no limit) or a call fails; it calls committed
// with the input offset of each commit that succeeded.
func eoWork(l *eventlog.Log, perTxn, maxTxns int, committed func(int64)) error {
	prod, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "worker", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	if err != nil {
		return err
	}
	defer prod.Close()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: eoGroup, DisableAutoCommit: true, FetchMaxWait: -1,
		MaxPollRecords: perTxn, AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Assign(eoIn); err != nil {
		return err
	}
	md, err := c.GroupMetadata()
	if err != nil {
		return err
	}
	for txns := 0; maxTxns == 0 || txns < maxTxns; txns++ {
		recs, err := c.Poll(ctx)
		if err != nil || len(recs) == 0 {
			return err
		}
		if err := prod.BeginTransaction(); err != nil {
			return err
		}
		for _, r := range recs {
			for j := range eoFanout(r.Offset) {
				out := eventlog.Record{Topic: "out", Partition: int32((int(r.Offset) + j) % 2), Key: []byte("k"), Value: []byte(eoOutput(r.Offset, j))}
				if _, err := prod.Send(ctx, out); err != nil {
					return err
				}
			}
		}
		next := recs[len(recs)-1].Offset + 1
		if err := prod.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{eoIn: {Offset: next}}, md); err != nil {
			return err
		}
		if err := prod.CommitTransaction(ctx); err != nil {
			return err
		}
		committed(next)
	}
	return nil
}

// eoCheck checks the exactly-once invariant of a recovered log and returns
// the committed input offset.
func eoCheck(t *testing.T, l *eventlog.Log, acked int64) int64 {
	t.Helper()
	var committed int64
	offsets, err := l.GroupOffsets(eoGroup)
	require.NoError(t, err)
	for _, o := range offsets {
		if o.TopicPartition == eoIn {
			committed = o.Committed
		}
	}
	require.GreaterOrEqual(t, committed, acked, "a commit the worker saw succeed was lost")
	seen := map[string]int{}
	for part := range int32(2) {
		p, err := l.Partition("out", part)
		if errors.Is(err, eventlog.ErrTopicNotFound) {
			require.Zero(t, committed)
			return 0
		}
		require.NoError(t, err)
		require.Equal(t, p.HighWatermark(), p.LastStableOffset(), "no transaction is left open")
		for v := range readCommitted(t, l, eventlog.TopicPartition{Topic: "out", Partition: part}) {
			seen[v]++
		}
	}
	want := 0
	for i := range committed {
		for j := range eoFanout(i) {
			v := eoOutput(i, j)
			require.Equal(t, 1, seen[v], "output %s of committed input %d, read_committed", v, i)
			want++
		}
	}
	require.Len(t, seen, want, "outputs of inputs at or after the committed offset %d are visible", committed)
	return committed
}

// readCommitted returns the values a read_committed consumer reads from tp.
func readCommitted(t *testing.T, l *eventlog.Log, tp eventlog.TopicPartition) map[string]bool {
	t.Helper()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(tp))
	require.NoError(t, c.SeekToBeginning())
	out := map[string]bool{}
	for r, err := range c.ReadToEnd(ctx) {
		require.NoError(t, err)
		require.False(t, out[string(r.Value)], "%s read twice", r.Value)
		out[string(r.Value)] = true
	}
	return out
}

// TestTransactionPowerLoss cuts the power at every operation of a
// transaction's life, in every crash mode, and then at random ones, during
// recovery too.
//
// EVENTLOG_TXN_POWERLOSS_ITERATIONS sets the runs from scratch per crash
// mode, each cut about ten times (default 20, some 15 seconds under -race
// on two cores); the sweep over every operation always runs. The long run:
//
//	EVENTLOG_TXN_POWERLOSS_ITERATIONS=2000 go test -run '^TestTransactionPowerLoss$' -timeout 0 .
func TestTransactionPowerLoss(t *testing.T) {
	rounds := envInt(t, "EVENTLOG_TXN_POWERLOSS_ITERATIONS", 20)
	for _, mode := range txnPowerLossModes {
		t.Run(mode.String(), func(t *testing.T) {
			// A log whose first transaction is done, and the operations a
			// session with one more takes: Open, the Producer's init, the
			// transaction, its commit.
			r := newPowerLossRun(t, mode, eventlog.DurabilityFsync, 1)
			eoOptions(r)
			var acked int64
			eoSession(t, r, 0, 1, &acked)
			require.Equal(t, int64(2), acked)
			start := cloneMemFS(t, r.fsys)
			r.sw = newPowerSwitch(cloneMemFS(t, start), mode, 1)
			r.fsys, r.opts.FS = r.sw.fsys, r.sw.fsys
			eoSession(t, r, 0, 1, &acked)
			ops := r.sw.opsSeen()
			require.Equal(t, int64(4), acked)
			require.Positive(t, ops)

			// The sweep: a crash at each of those operations. The
			// transaction is then either committed, or not at all.
			outcomes := map[int64]int{}
			for at := 1; at <= ops+5; at++ {
				r.sw = newPowerSwitch(cloneMemFS(t, start), mode, uint64(at))
				r.fsys, r.opts.FS = r.sw.fsys, r.sw.fsys
				acked = 2
				eoSession(t, r, at, 1, &acked)
				outcomes[eoReopen(t, r, acked)]++
			}
			t.Logf("%d operations per session; committed offsets after a crash at each: %v", ops, outcomes)
			assert.Equal(t, ops+5, outcomes[2]+outcomes[4], "every crash leaves the transaction all or nothing")
			assert.Positive(t, outcomes[2])
			assert.Positive(t, outcomes[4])
			// Random rounds from the start, until the input is consumed.
			sessions, finished := 0, 0
			for seed := range uint64(rounds) {
				r := newPowerLossRun(t, mode, eventlog.DurabilityFsync, 100+seed)
				eoOptions(r)
				acked = 0
				for round := 0; round < 40 && acked < eoInputs; round++ {
					eoSession(t, r, 1+r.rng.IntN(3*ops), 0, &acked)
					acked = eoReopen(t, r, acked)
					sessions++
				}
				if acked == eoInputs {
					finished++
				}
			}
			t.Logf("%d random power cuts; %d of %d runs consumed all their input", sessions, finished, rounds)
		})
	}
}

// txnPowerLossModes are the crash modes of the transaction and
// idempotence power-loss tests: every mode, out-of-order write-back
// included.
var txnPowerLossModes = append(slices.Clone(powerLossModes), eventlog.CrashReorder)

// eoOptions makes a run's log roll often and leave the timing of
// checkpoints to the test.
func eoOptions(r *powerLossRun) {
	r.opts.SegmentBytes = 4096
	r.opts.RecoveryPointInterval = time.Hour
}

// eoSession opens the log and runs the worker until the power goes at the
// crashAt-th operation (0: never) or maxTxns transactions committed.
func eoSession(t *testing.T, r *powerLossRun, crashAt, maxTxns int, acked *int64) {
	r.sw.arm(crashAt)
	r.sw.setFailSyncs(r.failSyncs)
	if crashAt > 0 {
		defer r.sw.cut()
	}
	expected := func(err error) bool {
		return r.sw.isDead() || r.failSyncs > 0 && errors.Is(err, eventlog.ErrInjected)
	}
	l, err := eventlog.Open(powerLossDir, r.opts)
	if err != nil {
		require.True(t, expected(err), "Open failed with the power on: %v", err)
		return
	}
	defer func() { _ = eventlog.Abandon(l) }()
	if err := eoSetup(l); err != nil {
		require.True(t, expected(err), "setup failed with the power on: %v", err)
		return
	}
	perTxn := 2
	if maxTxns == 0 {
		perTxn = 1 + r.rng.IntN(3)
	}
	err = eoWork(l, perTxn, maxTxns, func(next int64) { *acked = max(*acked, next) })
	require.True(t, err == nil || expected(err), "the worker failed with the power on: %v", err)
}

// eoReopen recovers the log, maybe losing power during recovery first,
// checks it and returns the committed offset.
func eoReopen(t *testing.T, r *powerLossRun, acked int64) int64 {
	r.sw.setFailSyncs(0)
	if r.rng.IntN(3) == 0 {
		r.sw.arm(1 + r.rng.IntN(200))
		if l, err := eventlog.Open(powerLossDir, r.opts); err == nil {
			_ = eventlog.Abandon(l)
		} else {
			require.True(t, r.sw.isDead(), "Open failed with the power on: %v", err)
		}
		r.sw.cut()
	}
	r.sw.arm(0)
	l, err := eventlog.Open(powerLossDir, r.opts)
	require.NoError(t, err, "reopen after power loss")
	defer func() { require.NoError(t, eventlog.Abandon(l)) }()
	if _, err := l.TopicConfig("in"); err != nil {
		return acked
	}
	return eoCheck(t, l, acked)
}

// The SIGKILL variant: the child runs the worker on a real directory and
// prints each commit; the parent kills it at random moments.

const eoChildEnv = "EVENTLOG_TXN_CHILD_DIR"

func TestTransactionCrashChild(t *testing.T) {
	dir := os.Getenv(eoChildEnv)
	if dir == "" {
		t.Skip("run by TestTransactionCrashKill")
	}
	l, err := eventlog.Open(dir, crashOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	if err := eoSetup(l); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(3)
	}
	err = eoWork(l, 2, 0, func(next int64) { fmt.Println(next) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "work:", err)
		os.Exit(4)
	}
	fmt.Println("done")
	os.Exit(0)
}

// EVENTLOG_TXN_CRASH_KILLS sets how many times the child is killed
// (default 10).
func TestTransactionCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	kills := envInt(t, "EVENTLOG_TXN_CRASH_KILLS", 10)
	dir := t.TempDir()
	var acked int64
	for iter := 0; iter < kills; iter++ {
		done := false
		stderr := killChildDrained(t, "TestTransactionCrashChild", eoChildEnv+"="+dir, iter%7, func(line string) {
			if line == "done" {
				done = true
				return
			}
			n, err := strconv.ParseInt(line, 10, 64)
			require.NoError(t, err, "child output %q", line)
			acked = max(acked, n)
		})
		require.False(t, strings.Contains(stderr, "open:") || strings.Contains(stderr, "work:") || strings.Contains(stderr, "setup:"), "iteration %d: %s", iter, stderr)
		l, err := eventlog.Open(dir, crashOptions)
		require.NoError(t, err)
		committed := eoCheck(t, l, acked)
		require.NoError(t, l.Close())
		if done {
			assert.Equal(t, int64(eoInputs), committed)
			// Start over with a fresh directory: more transactions to kill.
			dir, acked = t.TempDir(), 0
		}
	}
}
