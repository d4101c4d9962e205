package eventlog_test

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The crash test runs this test binary as a child that appends with fsync
// durability and prints every acknowledged offset, and kills it with SIGKILL
// at random moments — during Open and recovery too. After each kill the
// parent reopens the log and checks that every acknowledged record is there,
// byte for byte, that offsets are dense, and that nothing was invented.

const crashChildEnv = "EVENTLOG_CRASH_CHILD_DIR"

var crashOptions = &eventlog.Options{SegmentBytes: 32 << 10, IndexIntervalBytes: 512}

// crashValue is what the child writes: it names its writer and sequence
// number and ends with a checksum, so an invented record cannot pass.
func crashValue(writer, seq int, pad int) []byte {
	body := fmt.Sprintf("w%d-s%d-%s", writer, seq, strings.Repeat("x", pad))
	return fmt.Appendf(nil, "%s|%08x", body, crc32.ChecksumIEEE([]byte(body)))
}

func validCrashValue(v []byte) bool {
	i := strings.LastIndexByte(string(v), '|')
	if i < 0 {
		return false
	}
	sum, err := strconv.ParseUint(string(v[i+1:]), 16, 32)
	return err == nil && uint32(sum) == crc32.ChecksumIEEE(v[:i])
}

// crashChildPartition opens the log in dir with crashOptions, as a crash
// test's child does, and returns partition 0 of topic, created if need
// be; it exits with status 3 on failure.
func crashChildPartition(dir, topic string) *eventlog.Partition {
	l, err := eventlog.Open(dir, crashOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	if _, err := l.TopicConfig(topic); err != nil {
		if err := l.CreateTopic(topic, eventlog.TopicConfig{}); err != nil {
			fmt.Fprintln(os.Stderr, "create:", err)
			os.Exit(3)
		}
	}
	p, err := l.Partition(topic, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "partition:", err)
		os.Exit(3)
	}
	return p
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestCrashKill")
	}
	p := crashChildPartition(dir, "crash")
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	seed := uint64(os.Getpid())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for seq := 0; ; seq++ {
				n := 1 + rng.IntN(4)
				recs := make([]eventlog.Record, n)
				for i := range recs {
					recs[i] = eventlog.Record{Key: []byte(fmt.Sprintf("w%d", w)), Value: crashValue(w, seq*10+i, rng.IntN(300))}
				}
				base, err := p.Append(ctx, recs, eventlog.AppendOptions{})
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(4)
				}
				mu.Lock()
				for i, r := range recs {
					fmt.Fprintf(out, "%d %s\n", base+int64(i), r.Value)
				}
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	kills := envInt(t, "EVENTLOG_CRASH_KILLS", 20)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	acked := map[int64]string{}
	for iter := range kills {
		// Kill at once (during Open or recovery) a quarter of the time,
		// otherwise after a random number of acknowledgements.
		waitFor := 0
		if rng.IntN(4) != 0 {
			waitFor = 1 + rng.IntN(150)
		}
		stderr := killChild(t, "TestCrashChild", crashChildEnv+"="+dir, waitFor, func(line string) {
			off, value, ok := strings.Cut(line, " ")
			require.True(t, ok, "child output %q", line)
			o, err := strconv.ParseInt(off, 10, 64)
			require.NoError(t, err)
			if prev, dup := acked[o]; dup {
				require.Equal(t, prev, value, "offset %d acknowledged twice with different values", o)
			}
			acked[o] = value
		})
		if strings.Contains(stderr, "open:") || strings.Contains(stderr, "append:") {
			t.Fatalf("iteration %d: child failed: %s", iter, stderr)
		}
		verifyCrashLog(t, dir, acked)
	}
	t.Logf("%d kills, %d acknowledged records verified", kills, len(acked))
}

// killChild runs this test binary's test named child with env added to its
// environment, passes each line it prints to onLine until lines lines were
// read (0: none at all), then kills it with SIGKILL and returns what it
// wrote to stderr.
func killChild(t *testing.T, child, env string, lines int, onLine func(string)) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	scanner := bufio.NewScanner(stdout)
	for n := 0; n < lines && scanner.Scan(); n++ {
		onLine(scanner.Text())
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	return stderr.String()
}

func verifyCrashLog(t *testing.T, dir string, acked map[int64]string) {
	t.Helper()
	l, err := eventlog.Open(dir, crashOptions)
	require.NoError(t, err, "reopen after kill")
	defer func() { require.NoError(t, l.Close()) }()
	if len(acked) == 0 {
		if _, err := l.TopicConfig("crash"); err != nil {
			return // killed before the topic existed
		}
	}
	p, err := l.Partition("crash", 0)
	require.NoError(t, err)
	all := readAll(t, p, 0)
	assert.Equal(t, p.HighWatermark(), int64(len(all)), "records are dense from 0 to the high watermark")
	for i, r := range all {
		require.Equal(t, int64(i), r.Offset, "offsets are dense")
		require.True(t, validCrashValue(r.Value), "offset %d holds a record the child never wrote: %q", r.Offset, r.Value)
	}
	for off, value := range acked {
		require.Less(t, off, int64(len(all)), "acknowledged offset %d was lost", off)
		require.Equal(t, value, string(all[off].Value), "acknowledged offset %d changed", off)
	}
}
