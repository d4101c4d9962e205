package eventlog_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Crash tests of compaction: a crash at any step of a cleaning — a failpoint
// at each step of the swap, a power cut at a random filesystem operation, or
// a SIGKILL of a process that appends and compacts — leaves either the old
// segments or the new ones after Open, never both or neither.

const crashPartDir = "/data/topics/t/0"

// buildCrashLog makes a compacted partition on fsys whose next cleaning has
// a clean section, a dirty one, tombstones to keep and tombstones to drop,
// and segments to merge. The same calls give the same log.
func buildCrashLog(t *testing.T, fsys *eventlog.MemFS) (*eventlog.Log, *eventlog.Options) {
	t.Helper()
	require.NoError(t, fsys.MkdirAll("/data", 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 2048, IndexIntervalBytes: 256, CleanerCheckInterval: time.Hour}
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: time.Minute}))
	p := partition(t, l, "t", 0)
	rng := rand.New(rand.NewPCG(5, 6))
	codecs := eventlog.Codecs
	write := func(n int) {
		for i := range n {
			batch := make([]eventlog.Record, 1+rng.IntN(4))
			for j := range batch {
				batch[j].Key = []byte(fmt.Sprintf("k%d", rng.IntN(40)))
				if rng.IntN(6) > 0 {
					batch[j].Value = []byte(fmt.Sprintf("v%d-%d-%s", i, j, strings.Repeat("x", rng.IntN(40))))
				}
			}
			_, err := p.Append(ctx, batch, eventlog.AppendOptions{Compression: codecs[i%len(codecs)]})
			require.NoError(t, err)
		}
	}
	write(150)
	require.NoError(t, l.Compact(ctx, "t"))
	clk.Advance(2 * time.Minute)
	write(150)
	return l, opts
}

// checkSegmentFiles checks the partition's files after a crash: no output of
// a cleaning is left, and no two segments hold the same offsets.
func checkSegmentFiles(t *testing.T, fsys *eventlog.MemFS) {
	t.Helper()
	checkSegmentFilesIn(t, fsys, crashPartDir)
}

// checkSegmentFilesIn is checkSegmentFiles for the partition directory dir.
func checkSegmentFilesIn(t *testing.T, fsys *eventlog.MemFS, dir string) {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	type span struct{ base, first, last int64 }
	var spans []span
	for _, name := range names {
		require.False(t, strings.HasSuffix(name, ".cleaned"), "leftover %s", name)
		digits, ok := strings.CutSuffix(name, ".log")
		if !ok {
			continue
		}
		base, err := strconv.ParseInt(digits, 10, 64)
		require.NoError(t, err)
		data, err := fsys.ReadFile(path.Join(dir, name))
		require.NoError(t, err)
		s := span{base: base, first: -1, last: -1}
		for len(data) >= 61 {
			b := int64(binary.BigEndian.Uint64(data))
			if s.first < 0 {
				s.first = b
			}
			s.last = b + int64(binary.BigEndian.Uint32(data[23:]))
			data = data[12+binary.BigEndian.Uint32(data[8:]):]
		}
		require.True(t, s.first < 0 || s.first >= base, "%s starts below its base offset", name)
		spans = append(spans, s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].base < spans[j].base })
	for i := 1; i < len(spans); i++ {
		require.Less(t, spans[i-1].last, spans[i].base, "segments %d and %d overlap: old and new both listed", spans[i-1].base, spans[i].base)
	}
}

// referenceClean returns the partition before and after an uninterrupted
// cleaning, and how many filesystem operations that cleaning did.
func referenceClean(t *testing.T) (before, after []eventlog.Record, ops int) {
	fsys := eventlog.NewMemFS()
	l, _ := buildCrashLog(t, fsys)
	defer l.Close()
	p := partition(t, l, "t", 0)
	before = readAll(t, p, 0)
	ops = countFSOps(fsys, func() { require.NoError(t, l.Compact(ctx, "t")) })
	after = readAll(t, p, 0)
	require.Less(t, len(after), len(before))
	return before, after, ops
}

// countFSOps returns how many filesystem operations fn does on fsys.
func countFSOps(fsys *eventlog.MemFS, fn func()) int {
	var n atomic.Int64
	fsys.SetFault(func(eventlog.Op, string) error { n.Add(1); return nil })
	defer fsys.SetFault(nil)
	fn()
	return int(n.Load())
}

// powerCutAt makes the at-th filesystem operation on fsys, counting from 1,
// cut the power (CrashRandom with rng) and fail, and every operation after
// it fail: the machine is down. fsys.SetFault(nil) brings it back.
func powerCutAt(fsys *eventlog.MemFS, at int, rng *rand.Rand) {
	var n atomic.Int64
	var crashed atomic.Bool
	fsys.SetFault(func(eventlog.Op, string) error {
		if crashed.Load() {
			return eventlog.ErrInjected // the machine is down
		}
		if n.Add(1) == int64(at) {
			crashed.Store(true)
			fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashRandom, Rand: rng})
			return eventlog.ErrInjected
		}
		return nil
	})
}

// cleanThroughPowerCut runs a cleaning of "t" on l with the power cut at
// its at-th filesystem operation (powerCutAt), abandons l as the crashed
// process would, and, with the power back, opens the log again.
func cleanThroughPowerCut(fsys *eventlog.MemFS, l *eventlog.Log, opts *eventlog.Options, at int, rng *rand.Rand) (*eventlog.Log, error) {
	powerCutAt(fsys, at, rng)
	_ = l.Compact(ctx, "t")
	_ = eventlog.Abandon(l)
	fsys.SetFault(nil)
	return eventlog.Open("/data", opts)
}

// crashAtSwapStep makes l's cleaner crash fsys (mode, with rng) and fail
// after the swap step named step.
func crashAtSwapStep(l *eventlog.Log, fsys *eventlog.MemFS, step string, mode eventlog.CrashMode, rng *rand.Rand) {
	eventlog.SetCleanerFailpoint(l, func(s string) error {
		if s != step {
			return nil
		}
		fsys.Crash(eventlog.CrashOptions{Mode: mode, Rand: rng})
		return eventlog.ErrInjected
	})
}

// swapCommitIndex returns the index in CleanerSwapSteps of the step that
// commits a swap: a crash at it or after leaves the new segments.
func swapCommitIndex(t *testing.T) int {
	t.Helper()
	commit := slices.Index(eventlog.CleanerSwapSteps, eventlog.CleanerSwapCommitStep)
	require.Positive(t, commit)
	return commit
}

// reopenAndCheck opens the crashed log and checks that it holds want, and
// that a cleaning afterwards reaches the uninterrupted result.
func reopenAndCheck(t *testing.T, fsys *eventlog.MemFS, opts *eventlog.Options, want, final []eventlog.Record) {
	t.Helper()
	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	checkSegmentFiles(t, fsys)
	p := partition(t, l, "t", 0)
	require.Equal(t, want, readAll(t, p, 0))
	require.NoError(t, l.Compact(ctx, "t"))
	require.Equal(t, final, readAll(t, p, 0), "a cleaning after recovery finishes the job")
	checkSegmentFiles(t, fsys)
}

func crashModes() map[string]eventlog.CrashMode {
	return map[string]eventlog.CrashMode{
		"kill":      eventlog.CrashKeepAll, // the process dies: SIGKILL
		"powerloss": eventlog.CrashDropUnsynced,
		"random":    eventlog.CrashRandom,
		"reorder":   eventlog.CrashReorder, // pages and directory changes out of order
	}
}

// A crash after each step of the swap leaves the old segments before the
// commit and the new ones from it on.
func TestCompactCrashAtEverySwapStep(t *testing.T) {
	before, after, _ := referenceClean(t)
	commit := swapCommitIndex(t)
	for i, step := range eventlog.CleanerSwapSteps {
		for name, mode := range crashModes() {
			t.Run(step+"/"+name, func(t *testing.T) {
				fsys := eventlog.NewMemFS()
				l, opts := buildCrashLog(t, fsys)
				require.Equal(t, before, readAll(t, partition(t, l, "t", 0), 0))
				crashAtSwapStep(l, fsys, step, mode, rand.New(rand.NewPCG(uint64(i), 1)))
				require.ErrorIs(t, l.Compact(ctx, "t"), eventlog.ErrInjected)
				_ = eventlog.Abandon(l)
				want := before
				if i >= commit {
					want = after
				}
				reopenAndCheck(t, fsys, opts, want, after)
			})
		}
	}
}

// A power cut at a random filesystem operation of a cleaning leaves the old
// segments or the new ones.
func TestCompactRandomCrashes(t *testing.T) {
	before, after, ops := referenceClean(t)
	iterations := 60
	if testing.Short() {
		iterations = 15
	}
	var sawOld, sawNew int
	for iter := range iterations {
		rng := rand.New(rand.NewPCG(uint64(iter), 2))
		at := 1 + rng.IntN(ops)
		fsys := eventlog.NewMemFS()
		l, opts := buildCrashLog(t, fsys)
		l, err := cleanThroughPowerCut(fsys, l, opts, at, rng)
		require.NoError(t, err, "iteration %d: crash at operation %d of %d", iter, at, ops)
		got := readAll(t, partition(t, l, "t", 0), 0)
		require.NoError(t, l.Close())
		switch {
		case equalRecords(got, before):
			sawOld++
		case equalRecords(got, after):
			sawNew++
		default:
			t.Fatalf("iteration %d: crash at operation %d of %d left neither the old segments nor the new ones", iter, at, ops)
		}
		reopenAndCheck(t, fsys, opts, got, after)
	}
	t.Logf("%d crashes: %d left the old segments, %d the new", iterations, sawOld, sawNew)
	assert.Positive(t, sawOld)
	assert.Positive(t, sawNew)
}

func equalRecords(a, b []eventlog.Record) bool {
	return assert.ObjectsAreEqual(a, b)
}

// The SIGKILL test runs this test binary as a child that appends to a
// compacted topic and cleans it over and over, printing every acknowledged
// record, and kills it at random moments; after each kill the parent reopens
// the log and checks that every key's newest acknowledged record (or a newer
// one) is there and that nothing was invented.

const compactChildEnv = "EVENTLOG_COMPACT_CHILD_DIR"

var compactChildOptions = &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 512, CleanerBufferBytes: 8 << 10}

func compactChildValue(key string, seq int) string {
	body := fmt.Sprintf("%s/%d", key, seq)
	return fmt.Sprintf("%s|%08x", body, crc32.ChecksumIEEE([]byte(body)))
}

func validCompactChildValue(key, v string) bool {
	body, sum, ok := strings.Cut(v, "|")
	k, _, _ := strings.Cut(body, "/")
	return ok && k == key && sum == fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body)))
}

func TestCompactChild(t *testing.T) {
	dir := os.Getenv(compactChildEnv)
	if dir == "" {
		t.Skip("run by TestCompactKill")
	}
	l, err := eventlog.Open(dir, compactChildOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	if _, err := l.TopicConfig("t"); err != nil {
		if err := l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}); err != nil {
			fmt.Fprintln(os.Stderr, "create:", err)
			os.Exit(3)
		}
	}
	p, err := l.Partition("t", 0)
	if err != nil {
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for seq := 0; ; seq++ {
		batch := make([]eventlog.Record, 1+rng.IntN(5))
		for i := range batch {
			k := fmt.Sprintf("k%d", rng.IntN(200))
			batch[i] = eventlog.Record{Key: []byte(k), Value: []byte(compactChildValue(k, seq*10+i))}
		}
		base, err := p.Append(ctx, batch, eventlog.AppendOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(4)
		}
		for i, r := range batch {
			fmt.Fprintf(out, "%d %s %s\n", base+int64(i), r.Key, r.Value)
		}
		out.Flush()
		if seq%25 == 24 {
			if err := l.Compact(ctx, "t"); err != nil {
				fmt.Fprintln(os.Stderr, "compact:", err)
				os.Exit(5)
			}
		}
	}
}

func TestCompactKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	kills := 12
	if s := os.Getenv("EVENTLOG_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		kills = max(n/10, 1)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 8))
	newest := map[string]int64{} // key → offset of its newest acknowledged record
	for iter := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCompactChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), compactChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(stdout)
		for n := 200 + rng.IntN(1500); n > 0 && lines.Scan(); n-- {
			f := strings.Fields(lines.Text())
			require.Len(t, f, 3, "child output %q", lines.Text())
			off, err := strconv.ParseInt(f[0], 10, 64)
			require.NoError(t, err)
			if cur, ok := newest[f[1]]; !ok || off > cur {
				newest[f[1]] = off
			}
		}
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		if s := stderr.String(); strings.Contains(s, "open:") || strings.Contains(s, "append:") || strings.Contains(s, "compact:") {
			t.Fatalf("iteration %d: child failed: %s", iter, s)
		}

		l, err := eventlog.Open(dir, compactChildOptions)
		require.NoError(t, err, "reopen after kill %d", iter)
		p := partition(t, l, "t", 0)
		recs := readAll(t, p, 0)
		last := map[string]int64{}
		prev := int64(-1)
		for _, r := range recs {
			require.Greater(t, r.Offset, prev)
			prev = r.Offset
			require.True(t, validCompactChildValue(string(r.Key), string(r.Value)), "offset %d holds a record never written: %q=%q", r.Offset, r.Key, r.Value)
			last[string(r.Key)] = r.Offset
		}
		for k, off := range newest {
			got, ok := last[k]
			require.True(t, ok && got >= off, "key %q lost its newest acknowledged record (offset %d)", k, off)
		}
		require.NoError(t, l.Close())
	}
	t.Logf("%d kills, %d keys verified", kills, len(newest))
}

// A swap that failed after its commit is finished by the next Open even
// when the topic was switched to cleanup.policy=delete in between: the
// merged segments' files are gone by then, and only the outputs hold their
// records.
func TestCompactFailedSwapFinishedAfterPolicyChange(t *testing.T) {
	before, after, _ := referenceClean(t)
	fsys := eventlog.NewMemFS()
	l, opts := buildCrashLog(t, fsys)
	eventlog.SetCleanerFailpoint(l, func(s string) error {
		if s == "removed" {
			return eventlog.ErrInjected
		}
		return nil
	})
	require.ErrorIs(t, l.Compact(ctx, "t"), eventlog.ErrInjected)
	eventlog.SetCleanerFailpoint(l, nil)
	require.NoError(t, l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupDelete}))
	_ = l.Close()

	l, err := eventlog.Open("/data", opts)
	require.NoError(t, err)
	defer func() { assert.NoError(t, l.Close()) }()
	got := readAll(t, partition(t, l, "t", 0), 0)
	assert.True(t, equalRecords(after, got), "%d records, want the %d the cleaning kept (%d before it)", len(got), len(after), len(before))
	checkSegmentFiles(t, fsys)
}

// A process killed at each step of a swap, then a power loss after the
// next Open finished or undid the swap and acknowledged an append: the
// records that Open showed, and the append, survive.
func TestCompactKilledThenPowerLoss(t *testing.T) {
	for _, step := range eventlog.CleanerSwapSteps {
		t.Run(step, func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			l, opts := buildCrashLog(t, fsys)
			eventlog.SetCleanerFailpoint(l, func(s string) error {
				if s != step {
					return nil
				}
				fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashKeepAll})
				return eventlog.ErrInjected
			})
			require.ErrorIs(t, l.Compact(ctx, "t"), eventlog.ErrInjected)
			_ = eventlog.Abandon(l)

			l, err := eventlog.Open("/data", opts)
			require.NoError(t, err)
			p := partition(t, l, "t", 0)
			_, err = p.Append(ctx, []eventlog.Record{rec("k", "acknowledged")}, eventlog.AppendOptions{})
			require.NoError(t, err)
			want := readAll(t, p, 0)
			require.NoError(t, eventlog.Abandon(l))
			fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})

			l, err = eventlog.Open("/data", opts)
			require.NoError(t, err)
			defer func() { require.NoError(t, l.Close()) }()
			checkSegmentFiles(t, fsys)
			require.Equal(t, want, readAll(t, partition(t, l, "t", 0), 0))
		})
	}
}
