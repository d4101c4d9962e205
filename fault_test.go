package eventlog_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The fault tests inject I/O errors through MemFS.SetFault and
// MemFS.SetCapacity: a failed fsync, a short write, a full disk, and errors
// during topic creation, Close and Open. Whatever fails, an append that
// returned an error must not be mistaken for durable, nothing acknowledged
// may be lost, the error must say what happened, and reopening the log must
// bring it back.

const faultDir = "/data"

// faultLog opens a Log on a fresh MemFS with small segments and one topic
// "t" of the given partitions, and returns both.
func faultLog(t *testing.T, partitions int) (*eventlog.MemFS, *eventlog.Log, *eventlog.Options) {
	t.Helper()
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 4096, IndexIntervalBytes: 256}
	l := openLog(t, faultDir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: partitions}))
	return fsys, l, opts
}

// failNth returns a Fault that fails only the n-th operation (counting
// from 1) for which match is true, with ErrInjected.
func failNth(n int, match func(op eventlog.Op, name string) bool) eventlog.Fault {
	var mu sync.Mutex
	seen := 0
	return func(op eventlog.Op, name string) error {
		if match != nil && !match(op, name) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen == n {
			return eventlog.ErrInjected
		}
		return nil
	}
}

// onLog matches operations of kind op on segment .log files.
func onLog(op eventlog.Op) func(eventlog.Op, string) bool {
	return func(o eventlog.Op, name string) bool { return o == op && strings.HasSuffix(name, ".log") }
}

// fsOp is an operation seen by recordOps.
type fsOp struct {
	op   eventlog.Op
	name string
}

func (o fsOp) String() string { return o.op.String() + " " + path.Base(o.name) }

// recordOps runs fn with a fault hook that records every operation.
func recordOps(fsys *eventlog.MemFS, fn func()) []fsOp {
	var mu sync.Mutex
	var ops []fsOp
	fsys.SetFault(func(op eventlog.Op, name string) error {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, fsOp{op, name})
		return nil
	})
	fn()
	fsys.SetFault(nil)
	return ops
}

// appendValues appends one record per value and returns the offsets.
func appendValues(t *testing.T, p *eventlog.Partition, values ...string) []int64 {
	t.Helper()
	var offsets []int64
	for _, v := range values {
		off, err := p.Append(ctx, []eventlog.Record{rec("k", v)}, eventlog.AppendOptions{})
		require.NoError(t, err)
		offsets = append(offsets, off)
	}
	return offsets
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d-%s", prefix, i, strings.Repeat("x", i%7*20))
	}
	return out
}

// requireValues checks that the partition starts with exactly want at
// offsets 0, 1, ... and returns everything it holds.
func requireValues(t *testing.T, p *eventlog.Partition, want []string) []eventlog.Record {
	t.Helper()
	all := readAll(t, p, 0)
	require.GreaterOrEqual(t, len(all), len(want), "acknowledged records were lost")
	for i, r := range all {
		require.Equal(t, int64(i), r.Offset, "offsets are dense")
		if i < len(want) {
			require.Equal(t, want[i], string(r.Value), "offset %d", i)
		}
	}
	return all
}

// requireFailed checks that a partition failed by an injected fault keeps
// failing appends with an error wrapping cause, and still serves reads up
// to its high watermark.
func requireFailed(t *testing.T, p *eventlog.Partition, cause error, acked []string) {
	t.Helper()
	for range 3 {
		_, err := p.Append(ctx, []eventlog.Record{rec("k", "after the failure")}, eventlog.AppendOptions{})
		require.ErrorIs(t, err, cause, "the failure is sticky and wraps its cause")
	}
	_, err := p.Append(ctx, []eventlog.Record{rec("k", "os")}, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	require.ErrorIs(t, err, cause, "whatever the durability asked for")
	assert.Equal(t, int64(len(acked)), p.HighWatermark(), "the high watermark stays at the last durable record")
	recs := requireValues(t, p, acked)
	assert.Len(t, recs, len(acked), "nothing past the high watermark is readable")
	got, err := p.Read(p.HighWatermark(), 1<<20)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// reopenAndAppend reopens the log on fsys, checks that the acknowledged
// records are there, and that appends work again.
func reopenAndAppend(t *testing.T, opts *eventlog.Options, partition int32, acked []string) *eventlog.Log {
	t.Helper()
	l := openLog(t, faultDir, opts)
	p := partition_(t, l, partition)
	all := requireValues(t, p, acked)
	off, err := p.Append(ctx, []eventlog.Record{rec("k", "after reopen")}, eventlog.AppendOptions{})
	require.NoError(t, err, "appends work again after reopen")
	assert.Equal(t, int64(len(all)), off)
	got, err := p.Read(off, 1<<20)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Equal(t, "after reopen", string(got[0].Value))
	return l
}

func partition_(t *testing.T, l *eventlog.Log, id int32) *eventlog.Partition {
	t.Helper()
	return partition(t, l, "t", id)
}

// TestFaultFailedFsync: a failed fsync fails that append and every later
// one with an error wrapping the original, reads stay served up to the high
// watermark, and a reopened log appends again with nothing acknowledged
// lost — whether or not the machine then loses power.
func TestFaultFailedFsync(t *testing.T) {
	for _, powerLoss := range []bool{false, true} {
		t.Run(fmt.Sprintf("power loss %v", powerLoss), func(t *testing.T) {
			fsys, l, opts := faultLog(t, 1)
			p := partition_(t, l, 0)
			acked := values("v", 50) // several segments
			appendValues(t, p, acked...)

			fsys.SetFault(failNth(1, onLog(eventlog.OpSync)))
			_, err := p.Append(ctx, []eventlog.Record{rec("k", "not durable")}, eventlog.AppendOptions{})
			require.ErrorIs(t, err, eventlog.ErrInjected)
			assert.Contains(t, err.Error(), `topic "t" partition 0`, "the error names the partition")
			fsys.SetFault(nil) // the disk recovers; the partition does not
			requireFailed(t, p, eventlog.ErrInjected, acked)

			assert.ErrorIs(t, l.Close(), eventlog.ErrInjected, "Close reports the failure")
			if powerLoss {
				fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
			}
			l = reopenAndAppend(t, opts, 0, acked)
			assert.False(t, l.Recovery().CleanShutdown, "a failed partition is not a clean shutdown")
		})
	}
}

// TestFaultFsyncFailsDuringRoll: the fsync that closes a segment fails.
func TestFaultFsyncFailsDuringRoll(t *testing.T) {
	fsys, l, opts := faultLog(t, 1)
	p := partition_(t, l, 0)
	acked := []string{strings.Repeat("a", 1000), strings.Repeat("b", 1000), strings.Repeat("c", 1000)}
	appendValues(t, p, acked...)
	// The next append no longer fits the 4 KiB segment: the roll fsyncs the
	// old one before starting a new one, and that fsync fails.
	fsys.SetFault(failNth(1, onLog(eventlog.OpSync)))
	_, err := p.Append(ctx, []eventlog.Record{rec("k", strings.Repeat("d", 1000))}, eventlog.AppendOptions{})
	require.ErrorIs(t, err, eventlog.ErrInjected)
	fsys.SetFault(nil)
	requireFailed(t, p, eventlog.ErrInjected, acked)
	require.Error(t, l.Close())
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	reopenAndAppend(t, opts, 0, acked)
}

// TestFaultShortWrite: a write that stores only part of a batch fails the
// append and the partition; reopening cuts the torn batch.
func TestFaultShortWrite(t *testing.T) {
	for _, n := range []int{0, 1, 12, 60, 61, 100, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			fsys, l, opts := faultLog(t, 1)
			p := partition_(t, l, 0)
			acked := values("v", 20)
			appendValues(t, p, acked...)

			short := &eventlog.ShortWriteError{N: n}
			fsys.SetFault(func(op eventlog.Op, name string) error {
				if op == eventlog.OpWrite && strings.HasSuffix(name, ".log") {
					return short
				}
				return nil
			})
			value := strings.Repeat("s", 200)
			_, err := p.Append(ctx, []eventlog.Record{rec("k", value)}, eventlog.AppendOptions{})
			require.ErrorIs(t, err, io.ErrShortWrite)
			fsys.SetFault(nil)
			requireFailed(t, p, io.ErrShortWrite, acked)
			require.Error(t, l.Close())

			l = reopenAndAppend(t, opts, 0, acked)
			recs := readAll(t, partition_(t, l, 0), 0)
			if n < 1<<20 {
				// Part of the batch reached the file: recovery cut it.
				assert.Equal(t, int64(n), l.Recovery().BytesTruncated, "the torn batch is cut")
				assert.Len(t, recs, len(acked)+1)
			} else {
				// The whole batch reached the file although the write
				// failed: recovery keeps it, and that is allowed, since the
				// append reported an unknown outcome, not a refusal.
				assert.Zero(t, l.Recovery().BytesTruncated)
				require.Len(t, recs, len(acked)+2)
				assert.Equal(t, value, string(recs[len(acked)].Value))
			}
		})
	}
}

// lastLog returns the path of the last segment's .log file in dir.
func lastLog(t *testing.T, fsys *eventlog.MemFS, dir string) string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	for i := len(names) - 1; i >= 0; i-- {
		if strings.HasSuffix(names[i], ".log") {
			return dir + "/" + names[i]
		}
	}
	require.FailNow(t, "no segment", "in %s: %v", dir, names)
	return ""
}

// memUsed sums the bytes of every file in fsys.
func memUsed(t *testing.T, fsys *eventlog.MemFS) int64 {
	t.Helper()
	var used int64
	walkMemFiles(t, fsys, "/", func(_ string, info fs.FileInfo) { used += info.Size() })
	return used
}

// walkMemFiles calls fn for every file under dir in fsys.
func walkMemFiles(t *testing.T, fsys *eventlog.MemFS, dir string, fn func(path string, info fs.FileInfo)) {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	for _, name := range names {
		p := path.Join(dir, name)
		info, err := fsys.Stat(p)
		require.NoError(t, err)
		if info.IsDir() {
			walkMemFiles(t, fsys, p, fn)
		} else {
			fn(p, info)
		}
	}
}

// TestFaultDiskFull fills the disk with appends until one fails with
// ENOSPC — mid-batch, or while a segment rolls — and checks that the error
// says so, that nothing acknowledged is lost, that the log reopens while
// the disk is still full, and that appends work once there is room again.
func TestFaultDiskFull(t *testing.T) {
	for _, room := range []int64{1, 50, 700, 3000, 5000, 9000} {
		for _, powerLoss := range []bool{false, true} {
			t.Run(fmt.Sprintf("room %d power loss %v", room, powerLoss), func(t *testing.T) {
				fsys, l, opts := faultLog(t, 1)
				p := partition_(t, l, 0)
				fsys.SetCapacity(memUsed(t, fsys) + room)
				var acked []string
				var err error
				for i := 0; err == nil; i++ {
					require.Less(t, i, 1000, "the disk never filled up")
					v := fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 150))
					if _, err = p.Append(ctx, []eventlog.Record{rec("k", v)}, eventlog.AppendOptions{}); err == nil {
						acked = append(acked, v)
					}
				}
				require.ErrorIs(t, err, syscall.ENOSPC)
				requireFailed(t, p, syscall.ENOSPC, acked)
				require.Error(t, l.Close())
				if powerLoss {
					fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
				}

				// The disk is still full: Open only cuts, so it succeeds.
				l, err = eventlog.Open(faultDir, opts)
				require.NoError(t, err, "open on a full disk")
				p = partition_(t, l, 0)
				requireValues(t, p, acked)
				_, err = p.Append(ctx, []eventlog.Record{rec("k", strings.Repeat("y", 4000))}, eventlog.AppendOptions{})
				require.ErrorIs(t, err, syscall.ENOSPC)
				require.Error(t, l.Close())

				fsys.SetCapacity(0)
				reopenAndAppend(t, opts, 0, acked)
			})
		}
	}
}

// TestFaultOpenOnFullDiskWithMissingIndex: indexes carry no authority, so
// not being able to rewrite a missing one must not keep the log closed.
func TestFaultOpenOnFullDiskWithMissingIndex(t *testing.T) {
	fsys, l, opts := faultLog(t, 1)
	acked := values("v", 150)
	appendValues(t, partition_(t, l, 0), acked...)
	require.NoError(t, l.Close())
	names, err := fsys.ReadDir(faultDir + "/topics/t/0")
	require.NoError(t, err)
	require.Greater(t, len(names), 6, "several segments")
	for _, name := range names[:2] { // the first segment's .index and .log
		if strings.HasSuffix(name, ".index") {
			require.NoError(t, fsys.Remove(faultDir+"/topics/t/0/"+name))
		}
	}
	fsys.SetCapacity(memUsed(t, fsys))

	l, err = eventlog.Open(faultDir, opts)
	require.NoError(t, err, "open on a full disk with a missing index")
	p := partition_(t, l, 0)
	requireValues(t, p, acked)
	for _, off := range []int64{0, 1, 17, 29} {
		recs, err := p.Read(off, 1)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Equal(t, acked[off], string(recs[0].Value))
	}
	if err := l.Close(); err != nil {
		require.ErrorIs(t, err, syscall.ENOSPC, "only the clean-shutdown marker may fail")
	}
	fsys.SetCapacity(0)
	reopenAndAppend(t, opts, 0, acked)
}

// TestFaultCreateTopic fails each operation of CreateTopic in turn: the
// call returns an error saying what failed, no half topic is left behind,
// before or after a reopen (and a power loss), and the name can be used
// again.
func TestFaultCreateTopic(t *testing.T) {
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		cfg := eventlog.TopicConfig{Partitions: 3, Durability: durability}
		fsys := eventlog.NewMemFS()
		l := openLog(t, faultDir, &eventlog.Options{FS: fsys})
		ops := recordOps(fsys, func() { require.NoError(t, l.CreateTopic("c", cfg)) })
		require.NotEmpty(t, ops)

		for k := range ops {
			t.Run(fmt.Sprintf("%v/%d %v", durability, k+1, ops[k]), func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				opts := &eventlog.Options{FS: fsys}
				l, err := eventlog.Open(faultDir, opts)
				require.NoError(t, err)
				fsys.SetFault(failNth(k+1, nil))
				err = l.CreateTopic("c", cfg)
				fsys.SetFault(nil)
				if err == nil {
					// The failed operation did not matter.
					requireTopic(t, l, cfg)
					require.NoError(t, l.Close())
					return
				}
				require.ErrorIs(t, err, eventlog.ErrInjected)
				assert.Contains(t, err.Error(), `create topic "c"`)
				assert.Empty(t, l.Topics())
				_, err = l.Partition("c", 0)
				require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
				names, err := fsys.ReadDir(faultDir + "/topics")
				require.NoError(t, err)
				assert.Empty(t, names, "no half topic left on disk")
				require.NoError(t, l.Close())

				fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashRandom})
				l = openLog(t, faultDir, opts)
				assert.Empty(t, l.Topics(), "no half topic after a reopen")
				require.NoError(t, l.CreateTopic("c", cfg), "the name is free")
				requireTopic(t, l, cfg)
			})
		}
	}
}

// requireTopic checks that topic "c" is complete: its configuration, and
// every partition empty and appendable.
func requireTopic(t *testing.T, l *eventlog.Log, cfg eventlog.TopicConfig) {
	t.Helper()
	requireTopicConfig(t, l, cfg)
	for id := range int32(cfg.Partitions) {
		p := partition(t, l, "c", id)
		off, err := p.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{})
		require.NoError(t, err)
		assert.Zero(t, off)
		require.Len(t, readAll(t, p, 0), 1)
	}
}

// TestFaultClose fails each operation of Close in turn: Close returns the
// error (joined with any others), still releases the directory, and the
// next Open recovers everything — scanning unless the clean-shutdown marker
// was written.
func TestFaultClose(t *testing.T) {
	setup := func(t *testing.T) (*eventlog.MemFS, *eventlog.Log, *eventlog.Options, [][]string) {
		fsys, l, opts := faultLog(t, 2)
		acked := [][]string{values("a", 40), values("b", 5)}
		for id, vs := range acked {
			appendValues(t, partition_(t, l, int32(id)), vs...)
		}
		return fsys, l, opts, acked
	}
	fsys, l, _, _ := setup(t)
	ops := recordOps(fsys, func() { require.NoError(t, l.Close()) })
	marker := slices.IndexFunc(ops, func(o fsOp) bool {
		return o.op == eventlog.OpRename && strings.Contains(o.name, "CLEAN_SHUTDOWN")
	})
	require.Positive(t, marker, "Close writes the marker: %v", ops)

	for k := range ops {
		t.Run(fmt.Sprintf("%d %v", k+1, ops[k]), func(t *testing.T) {
			fsys, l, opts, acked := setup(t)
			fsys.SetFault(failNth(k+1, nil))
			err := l.Close()
			fsys.SetFault(nil)
			require.ErrorIs(t, err, eventlog.ErrInjected, "Close reports the failure")
			assert.Equal(t, err, l.Close(), "Close is idempotent")
			_, err = l.Partition("t", 0)
			require.ErrorIs(t, err, eventlog.ErrClosed)

			l2, err := eventlog.Open(faultDir, opts)
			require.NoError(t, err, "Close released the lock")
			assert.Equal(t, k > marker, l2.Recovery().CleanShutdown, "clean only once the marker is in place")
			for id, vs := range acked {
				requireValues(t, partition_(t, l2, int32(id)), vs)
			}
			require.NoError(t, l2.Close())
			reopenAndAppend(t, opts, 0, acked[0])
		})
	}
}

// TestFaultCloseJoinsErrors: when several partitions fail to close, Close
// returns all their errors, joined, and still releases the directory.
func TestFaultCloseJoinsErrors(t *testing.T) {
	fsys, l, opts := faultLog(t, 3)
	for id := range int32(3) {
		appendValues(t, partition_(t, l, id), values("v", 5)...)
	}
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpWrite && strings.HasSuffix(name, ".index") {
			return eventlog.ErrInjected
		}
		return nil
	})
	err := l.Close()
	fsys.SetFault(nil)
	require.ErrorIs(t, err, eventlog.ErrInjected)
	var joined interface{ Unwrap() []error }
	require.ErrorAs(t, err, &joined)
	failed := 0
	for _, e := range joined.Unwrap() {
		if errors.Is(e, eventlog.ErrInjected) {
			failed++
		}
	}
	assert.Equal(t, 3, failed, "one error per partition: %v", err)
	for id := range int32(3) {
		assert.Contains(t, err.Error(), fmt.Sprintf("/topics/t/%d/", id), "the error names the partition's file")
	}
	l = openLog(t, faultDir, opts)
	assert.False(t, l.Recovery().CleanShutdown)
	for id := range int32(3) {
		requireValues(t, partition_(t, l, id), values("v", 5))
	}
}

// TestFaultOpen fails each operation of an Open that recovers a crashed
// log in turn: Open fails cleanly — the lock released, nothing lost — or
// the failed operation did not matter.
func TestFaultOpen(t *testing.T) {
	fsys, l, opts := faultLog(t, 2)
	acked := values("v", 40)
	appendValues(t, partition_(t, l, 0), acked...)
	require.NoError(t, eventlog.Abandon(l))
	// A torn tail for recovery to cut.
	last := lastLog(t, fsys, faultDir+"/topics/t/0")
	data, err := fsys.ReadFile(last)
	require.NoError(t, err)
	require.NoError(t, fsys.WriteFile(last, append(data, data[:100]...), 0o644))
	crashed := cloneMemFS(t, fsys)

	ops := recordOps(crashed, func() {
		l, err := eventlog.Open(faultDir, &eventlog.Options{FS: crashed, SegmentBytes: opts.SegmentBytes, IndexIntervalBytes: opts.IndexIntervalBytes})
		require.NoError(t, err)
		require.NoError(t, eventlog.Abandon(l))
	})
	for k := range ops {
		t.Run(fmt.Sprintf("%d %v", k+1, ops[k]), func(t *testing.T) {
			fsys := cloneMemFS(t, crashed)
			opts := &eventlog.Options{FS: fsys, SegmentBytes: opts.SegmentBytes, IndexIntervalBytes: opts.IndexIntervalBytes}
			fsys.SetFault(failNth(k+1, nil))
			l, err := eventlog.Open(faultDir, opts)
			fsys.SetFault(nil)
			if err != nil {
				require.ErrorIs(t, err, eventlog.ErrInjected)
				assert.NotErrorIs(t, err, eventlog.ErrLocked)
			} else {
				requireValues(t, partition_(t, l, 0), acked)
				require.NoError(t, eventlog.Abandon(l))
			}
			reopenAndAppend(t, opts, 0, acked)
		})
	}
}

// TestFaultLock: a directory lock that cannot be taken fails Open cleanly.
func TestFaultLock(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	fsys.SetFault(eventlog.FailAfter(0, eventlog.OpLock, nil))
	_, err := eventlog.Open(faultDir, opts)
	require.ErrorIs(t, err, eventlog.ErrInjected)
	assert.NotErrorIs(t, err, eventlog.ErrLocked)
	fsys.SetFault(nil)

	l := openLog(t, faultDir, opts)
	_, err = eventlog.Open(faultDir, opts)
	require.ErrorIs(t, err, eventlog.ErrLocked, "the lock is held")
	require.NoError(t, l.Close())
	openLog(t, faultDir, opts)
}

// TestFaultGroupCommit fails one fsync while eight goroutines append with
// fsync durability and share fsyncs: every appender whose record that fsync
// was to cover gets an error, none is told a record is durable that is not
// (a power loss right after keeps every acknowledged record), and every
// append after the failure fails too.
func TestFaultGroupCommit(t *testing.T) {
	const writers, perWriter = 8, 25
	for failing := 1; failing <= 12; failing++ {
		t.Run(fmt.Sprint(failing), func(t *testing.T) {
			fsys, l, opts := faultLog(t, 1)
			p := partition_(t, l, 0)
			fsys.SetFault(failNth(failing, onLog(eventlog.OpSync)))

			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				acked   = map[int64]string{}
				errs    []error
				badErrs []error
			)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					failed := false
					for i := range perWriter {
						v := fmt.Sprintf("w%d-%d", w, i)
						off, err := p.Append(ctx, []eventlog.Record{rec("k", v)}, eventlog.AppendOptions{})
						mu.Lock()
						switch {
						case err == nil && failed:
							badErrs = append(badErrs, fmt.Errorf("%s acknowledged after an earlier append of the same writer failed", v))
						case err == nil:
							acked[off] = v
						case !errors.Is(err, eventlog.ErrInjected):
							badErrs = append(badErrs, fmt.Errorf("%s: %w", v, err))
						default:
							errs = append(errs, err)
							failed = true
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			require.Empty(t, badErrs)
			require.NotEmpty(t, errs, "the failed fsync was reported")
			fsys.SetFault(nil)
			for id, v := range acked {
				assert.Less(t, id, p.HighWatermark(), "acknowledged %q lies past the high watermark", v)
			}
			_ = l.Close()

			// Only what an fsync covered survives this crash.
			fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
			l = openLog(t, faultDir, opts)
			all := readAll(t, partition_(t, l, 0), 0)
			for off, v := range acked {
				require.Less(t, off, int64(len(all)), "acknowledged %q at offset %d is not durable", v, off)
				require.Equal(t, v, string(all[off].Value))
			}
			t.Logf("%d acknowledged, %d failed, %d durable", len(acked), len(errs), len(all))
		})
	}
}

// A failed mmap of a segment is reported naming the operation and the file
// once, not once by the file system and again by the segment.
func TestFaultMmapNamesTheFileOnce(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{}) // a closed segment first
	require.NoError(t, l.Close())

	// Reopened, the closed segment is mapped at its first read.
	l = openLog(t, "/d", opts)
	fsys.SetFault(failNth(1, onLog(eventlog.OpMmap)))
	_, err := partition(t, l, "t", 0).Read(0, 1<<20)
	fsys.SetFault(nil)
	require.ErrorIs(t, err, eventlog.ErrInjected)
	assert.Equal(t, 1, strings.Count(err.Error(), "mmap"), err.Error())
	assert.Contains(t, err.Error(), `topic "t" partition 0`)
	assert.Contains(t, err.Error(), "00000000000000000000.log")
	assert.Len(t, readAll(t, partition(t, l, "t", 0), 0), 30, "the next read maps the segment")
}
