package eventlog_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Idempotent appends across crashes: a writer with a fixed producer id
// appends numbered batches one at a time and, after every crash, appends
// again the last batches it saw acknowledged and the one it did not. Each
// must come back with the offsets it got (or, for one the crash took, be
// stored now), and no record may ever be stored twice.

const idemProducer = 77

// idemBatch is the batch with the given batch number: two records whose
// values name it, sequences 2n and 2n+1.
func idemBatch(n int) []eventlog.Record {
	return []eventlog.Record{rec("k", fmt.Sprintf("b%d-0", n)), rec("k", fmt.Sprintf("b%d-1", n))}
}

// idemWriter is the writer's memory, which survives its crashes.
type idemWriter struct {
	acked map[int]int64 // batch number → base offset
	next  int           // the first batch not acknowledged
}

// resume appends again the last acknowledged batches and the pending one,
// checking the answers, then new batches until an append fails or limit
// batches were acknowledged in this session. It returns the error that
// stopped it, nil at the limit.
func (w *idemWriter) resume(t *testing.T, p *eventlog.Partition, limit int) error {
	id := eventlog.ProducerID{ID: idemProducer}
	for n := max(w.next-3, 0); n < w.next; n++ {
		off, err := p.Append(ctx, idemBatch(n), eventlog.AppendOptions{Producer: id, Sequence: int32(2 * n)})
		if err != nil {
			return err
		}
		require.Equal(t, w.acked[n], off, "batch %d appended again after a crash answers with its offset", n)
	}
	for range limit {
		off, err := p.Append(ctx, idemBatch(w.next), eventlog.AppendOptions{Producer: id, Sequence: int32(2 * w.next)})
		if err != nil {
			return err
		}
		w.acked[w.next] = off
		w.next++
	}
	return nil
}

// check verifies the partition against what the writer knows.
func (w *idemWriter) check(t *testing.T, p *eventlog.Partition) {
	all := readAll(t, p, 0)
	seen := map[string]int64{}
	for i, r := range all {
		require.Equal(t, int64(i), r.Offset)
		v := string(r.Value)
		prev, dup := seen[v]
		require.False(t, dup, "%s stored twice, at %d and %d", v, prev, r.Offset)
		seen[v] = r.Offset
	}
	for n, off := range w.acked {
		require.Equal(t, off, seen[fmt.Sprintf("b%d-0", n)], "acknowledged batch %d moved or was lost", n)
	}
}

// EVENTLOG_IDEM_POWERLOSS_ITERATIONS sets the seeds per crash mode, each
// losing power six times (default 6).
func TestIdempotentRetryPowerLoss(t *testing.T) {
	iterations := envInt(t, "EVENTLOG_IDEM_POWERLOSS_ITERATIONS", 6)
	for _, mode := range txnPowerLossModes {
		t.Run(mode.String(), func(t *testing.T) {
			for seed := range uint64(iterations) {
				r := newPowerLossRun(t, mode, eventlog.DurabilityFsync, seed)
				r.opts.RecoveryPointInterval = 2e6 // 2ms: snapshots are written between crashes
				w := &idemWriter{acked: map[int]int64{}}
				for round := range 6 {
					r.sw.arm(1 + r.rng.IntN(300))
					l, err := eventlog.Open(powerLossDir, r.opts)
					if err != nil {
						require.True(t, r.sw.isDead(), "Open failed with the power on: %v", err)
						continue
					}
					if _, err := l.TopicConfig(powerLossTopic); errors.Is(err, eventlog.ErrTopicNotFound) {
						if err := l.CreateTopic(powerLossTopic, eventlog.TopicConfig{}); err != nil {
							require.True(t, r.sw.isDead(), "CreateTopic failed with the power on: %v", err)
						}
					}
					if p, err := l.Partition(powerLossTopic, 0); err == nil {
						err := w.resume(t, p, 20)
						require.True(t, err == nil || r.sw.isDead() && isPowerLoss(err), "round %d: append failed with the power on: %v", round, err)
					}
					_ = eventlog.Abandon(l)
					r.sw.cut()
					r.sw.arm(0)
					l, err = eventlog.Open(powerLossDir, r.opts)
					require.NoError(t, err, "reopen after power loss")
					if p, err := l.Partition(powerLossTopic, 0); err == nil {
						w.check(t, p)
					}
					require.NoError(t, eventlog.Abandon(l))
				}
				if t.Failed() {
					t.Fatalf("seed %d", seed)
				}
			}
		})
	}
}

// The SIGKILL variant: the child resumes the writer from what the parent
// tells it and prints each acknowledgement.

const idemChildEnv = "EVENTLOG_IDEM_CHILD"

func TestIdempotentCrashChild(t *testing.T) {
	env := os.Getenv(idemChildEnv)
	if env == "" {
		t.Skip("run by TestIdempotentCrashKill")
	}
	dir, state, _ := strings.Cut(env, ";")
	w := &idemWriter{acked: map[int]int64{}}
	for _, f := range strings.Fields(state) {
		n, off, _ := strings.Cut(f, ":")
		ni, _ := strconv.Atoi(n)
		o, _ := strconv.ParseInt(off, 10, 64)
		w.acked[ni] = o
		w.next = max(w.next, ni+1)
	}
	p := crashChildPartition(dir, "idem")
	id := eventlog.ProducerID{ID: idemProducer}
	for n := max(w.next-3, 0); n < w.next; n++ {
		off, err := p.Append(ctx, idemBatch(n), eventlog.AppendOptions{Producer: id, Sequence: int32(2 * n)})
		if err != nil || off != w.acked[n] {
			fmt.Fprintf(os.Stderr, "append: batch %d again: offset %d, want %d: %v\n", n, off, w.acked[n], err)
			os.Exit(4)
		}
	}
	for n := w.next; ; n++ {
		off, err := p.Append(ctx, idemBatch(n), eventlog.AppendOptions{Producer: id, Sequence: int32(2 * n)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(4)
		}
		fmt.Printf("%d:%d\n", n, off)
	}
}

// EVENTLOG_TXN_CRASH_KILLS sets how many times the child is killed
// (default 10).
func TestIdempotentCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	kills := envInt(t, "EVENTLOG_TXN_CRASH_KILLS", 10)
	dir := t.TempDir()
	w := &idemWriter{acked: map[int]int64{}}
	for iter := range kills {
		var state strings.Builder
		for n := max(w.next-3, 0); n < w.next; n++ {
			fmt.Fprintf(&state, "%d:%d ", n, w.acked[n])
		}
		stderr := killChildDrained(t, "TestIdempotentCrashChild", idemChildEnv+"="+dir+";"+state.String(), 1+iter%15, func(line string) {
			n, off, ok := strings.Cut(line, ":")
			require.True(t, ok, "child output %q", line)
			ni, err := strconv.Atoi(n)
			require.NoError(t, err)
			o, err := strconv.ParseInt(off, 10, 64)
			require.NoError(t, err)
			w.acked[ni] = o
			w.next = max(w.next, ni+1)
		})
		require.NotContains(t, stderr, "append:", "iteration %d", iter)
		require.NotContains(t, stderr, "open:", "iteration %d", iter)
		l, err := eventlog.Open(dir, crashOptions)
		require.NoError(t, err)
		if p, err := l.Partition("idem", 0); err == nil {
			w.check(t, p)
		}
		require.NoError(t, l.Close())
	}
	assert.NotEmpty(t, w.acked)
	t.Logf("%d kills, %d batches acknowledged", kills, len(w.acked))
}

// killChildDrained is killChild that, after the kill, still reads what the
// child printed before it died: a writer that acknowledged more than the
// parent had read must not look as if it forgot.
func killChildDrained(t *testing.T, child, env string, lines int, onLine func(string)) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// A child that hangs before printing enough fails the test rather
	// than blocking it forever.
	var hung atomic.Bool
	watchdog := time.AfterFunc(5*time.Minute, func() {
		hung.Store(true)
		_ = cmd.Process.Kill()
	})
	defer func() {
		watchdog.Stop()
		require.False(t, hung.Load(), "the child printed fewer than %d lines in 5 minutes", lines)
	}()
	scanner := bufio.NewScanner(stdout)
	killed := false
	for n := 0; scanner.Scan(); n++ {
		if n >= lines && !killed {
			require.NoError(t, cmd.Process.Kill())
			killed = true
		}
		onLine(scanner.Text())
	}
	if !killed {
		_ = cmd.Process.Kill()
	}
	_ = cmd.Wait()
	return stderr.String()
}
