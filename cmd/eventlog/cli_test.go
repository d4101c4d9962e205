package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The tests build the real binary once and run it against real log
// directories made with the library, comparing its stdout, stderr and exit
// code with golden files in testdata/; go test -update rewrites them.

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// cliBinary is the eventlog command built for the tests.
var cliBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "eventlog-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cliBinary = filepath.Join(tmp, "eventlog")
	if runtime.GOOS == "windows" {
		cliBinary += ".exe"
	}
	// Without -race even when the tests have it: a race-enabled binary
	// starts ten times slower, and the tests run it some eighty times.
	// TestTailFollowInProcess runs the one command with goroutines of its
	// own under the detector.
	if out, err := exec.Command("go", "build", "-o", cliBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(tmp)
	os.Exit(code)
}

// fixedTime is when every fixture record was written.
var fixedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture makes a log in a fresh directory and returns the directory:
//
//   - orders, 2 partitions in 1 KiB segments: partition 0 holds 30 keyed
//     records over several segments, one a minute from fixedTime, a gzip
//     batch, a header, a null key and a value that is not UTF-8;
//     partition 1 holds 3 records.
//   - users, compacted, in 1 KiB segments: 3 keys written 10 times, and a
//     tombstone.
//   - consumer group billing, with offsets committed for orders.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// No recovery point is persisted: the checkpointer would write one
	// when a second passed, making what verify reports depend on time.
	// Nor are appends fsynced: the fixtures need to be quick, not to
	// survive a power loss.
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, SegmentBytes: 1024,
		RecoveryPointInterval: time.Hour, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("users", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, SegmentBytes: 1024}))
	p0 := partitionOf(t, l, "orders", 0)
	for i := range 30 {
		r := eventlog.Record{Key: []byte(fmt.Sprintf("order-%02d", i)), Value: []byte(fmt.Sprintf(`{"amount":%d}`, i*10)),
			Timestamp: fixedTime.Add(time.Duration(i) * time.Minute)}
		switch i {
		case 1:
			r.Headers = []eventlog.Header{{Key: "trace", Value: []byte("t-1")}, {Key: "empty", Value: nil}}
		case 2:
			r.Key = nil
		case 3:
			r.Value = []byte{0xff, 0x00, '\n', 'x'}
		}
		opts := eventlog.AppendOptions{}
		if i == 4 {
			opts.Compression = eventlog.CompressionGzip
		}
		_, err := p0.Append(ctx, []eventlog.Record{r}, opts)
		require.NoError(t, err)
	}
	p1 := partitionOf(t, l, "orders", 1)
	_, err = p1.Append(ctx, []eventlog.Record{
		{Key: []byte("a"), Value: []byte("1"), Timestamp: fixedTime},
		{Key: []byte("b"), Value: []byte("2"), Timestamp: fixedTime.Add(time.Hour)},
		{Key: []byte("c"), Value: []byte("3"), Timestamp: fixedTime.Add(2 * time.Hour)},
	}, eventlog.AppendOptions{})
	require.NoError(t, err)
	users := partitionOf(t, l, "users", 0)
	for round := range 10 {
		for _, k := range []string{"ann", "bob", "cid"} {
			_, err := users.Append(ctx, []eventlog.Record{{Key: []byte(k), Value: []byte(fmt.Sprintf("%s-v%d", k, round)), Timestamp: fixedTime}}, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	_, err = users.Append(ctx, []eventlog.Record{{Key: []byte("bob"), Timestamp: fixedTime}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "billing"})
	require.NoError(t, err)
	require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		{Topic: "orders", Partition: 0}: {Offset: 25},
		{Topic: "orders", Partition: 1}: {Offset: 1, Metadata: "note"},
	}))
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())
	return dir
}

var ctx = context.Background()

func partitionOf(t *testing.T, l *eventlog.Log, topic string, id int32) *eventlog.Partition {
	t.Helper()
	p, err := l.Partition(topic, id)
	require.NoError(t, err)
	return p
}

// segments returns the .log files of a partition of the fixture.
func segments(t *testing.T, dir, topic string, partition int) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "topics", topic, fmt.Sprint(partition), "*.log"))
	require.NoError(t, err)
	return logs
}

// result is what a run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args on dir, feeding it stdin.
func runCLI(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if dir != "" {
		args = append([]string{"--dir", dir}, args...)
	}
	cmd := exec.CommandContext(c, cliBinary, args...)
	cmd.Env = withoutEnv("EVENTLOG_DIR")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

func withoutEnv(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// golden compares r with testdata/<name>.golden, in which dir reads $DIR;
// with -update it writes the file instead.
func golden(t *testing.T, name, dir string, args []string, r result) {
	t.Helper()
	got := fmt.Sprintf("$ eventlog %s\nexit code %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	if dir != "" {
		got = strings.ReplaceAll(got, dir, "$DIR")
	}
	got = brokenSuffix.ReplaceAllString(got, ".broken-NANOS")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create the golden file")
	assert.Equal(t, string(want), got)
}

// brokenSuffix is the time in the name of a copy that repair keeps.
var brokenSuffix = regexp.MustCompile(`\.broken-\d+`)

// A golden case: the arguments after --dir, and standard input.
type goldenCase struct {
	args  []string
	stdin string
}

// runGolden runs the cases, in parallel, and returns when all are done.
func runGolden(t *testing.T, dir string, cases map[string]goldenCase) {
	t.Helper()
	t.Run("golden", func(t *testing.T) {
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, dir, c.stdin, c.args...)
				golden(t, name, dir, c.args, r)
			})
		}
	})
}

// Commands that read, on a healthy log.
func TestReadCommands(t *testing.T) {
	dir := fixture(t)
	before := dirState(t, dir)
	runGolden(t, dir, map[string]goldenCase{
		"topics":                  {args: []string{"topics"}},
		"topics-internal-json":    {args: []string{"topics", "--internal", "--json"}},
		"topics-describe":         {args: []string{"topics", "describe"}},
		"groups":                  {args: []string{"groups"}},
		"groups-describe":         {args: []string{"groups", "describe", "billing"}},
		"groups-describe-json":    {args: []string{"groups", "describe", "--json"}},
		"dump":                    {args: []string{"dump", "orders"}},
		"dump-partition-offset":   {args: []string{"dump", "orders", "-p", "0", "--offset", "27", "--json"}},
		"dump-from-time-max":      {args: []string{"dump", "orders", "--from-time", "2024-01-02T03:30:00Z", "--max", "2"}},
		"dump-hex-base64":         {args: []string{"dump", "orders", "-p", "0", "--max", "5", "--key-encoding", "hex", "--value-encoding", "base64"}},
		"dump-batches":            {args: []string{"dump", "orders", "-p", "0", "--batches", "--max", "6"}},
		"dump-batches-records":    {args: []string{"dump", "users", "--batches", "--records"}},
		"dump-batches-json":       {args: []string{"dump", "orders", "-p", "1", "--batches", "--records", "--json"}},
		"tail":                    {args: []string{"tail", "orders", "-n", "2"}},
		"verify":                  {args: []string{"verify"}},
		"verify-json":             {args: []string{"verify", "--json"}},
		"stats":                   {args: []string{"stats"}},
		"stats-json":              {args: []string{"stats", "--json"}},
		"reset-offsets-dry-run":   {args: []string{"reset-offsets", "--group", "billing", "--to-datetime", "2024-01-02T03:10:00Z"}},
		"reset-offsets-partition": {args: []string{"reset-offsets", "-g", "billing", "-t", "orders:1", "--to-offset", "99", "--json"}},
		"reset-offsets-negative":  {args: []string{"reset-offsets", "-g", "billing", "-t", "orders:1", "--to-offset", "-5"}},
		"error-no-topic":          {args: []string{"dump", "nosuch"}},
		"error-offset-range":      {args: []string{"dump", "orders", "--offset", "1000"}},
		"error-no-group":          {args: []string{"groups", "describe", "nosuch"}},
	})
	assert.Equal(t, before, dirState(t, dir), "commands that read change nothing")
}

// Mistakes in the command line exit with 2 and say what was wrong.
func TestUsageErrors(t *testing.T) {
	dir := fixture(t)
	runGolden(t, dir, map[string]goldenCase{
		"usage-unknown-command":  {args: []string{"frobnicate"}},
		"usage-unknown-flag":     {args: []string{"topics", "--frob"}},
		"usage-missing-topic":    {args: []string{"dump"}},
		"usage-offset-and-time":  {args: []string{"dump", "orders", "--offset", "1", "--from-time", "0"}},
		"usage-bad-encoding":     {args: []string{"dump", "orders", "--encoding", "rot13"}},
		"usage-reset-no-target":  {args: []string{"reset-offsets", "--group", "billing"}},
		"usage-reset-two-target": {args: []string{"reset-offsets", "--group", "billing", "--to-earliest", "--to-latest"}},
		"usage-bad-header":       {args: []string{"produce", "orders", "-H", "novalue"}},
		"usage-bad-compression":  {args: []string{"produce", "orders", "--compression", "brotli"}},
		// Values that were once taken for "all" or the default.
		"usage-dump-partition":       {args: []string{"dump", "orders", "-p", "-2"}},
		"usage-tail-partition":       {args: []string{"tail", "orders", "-p", "-5"}},
		"usage-dump-max":             {args: []string{"dump", "orders", "-n", "-5"}},
		"usage-dump-offset":          {args: []string{"dump", "orders", "--offset", "-5"}},
		"usage-create-no-partitions": {args: []string{"topics", "create", "t1", "-p", "0"}},
		"usage-tail-interval":        {args: []string{"tail", "orders", "-f", "--interval", "1ns"}},
	})
	r := runCLI(t, "", "", "topics")
	golden(t, "usage-no-dir", "", []string{"topics"}, r)
	assert.Equal(t, exitUsage, r.code)
}

// Settings and names that the library refuses are mistakes on the command
// line too: exit code 2, with the library's reason. The cases run one
// after the other: each takes the log's lock.
func TestUsageErrorsLibraryRefuses(t *testing.T) {
	dir := fixture(t)
	topics := runCLI(t, dir, "", "topics")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"usage-create-partitions", []string{"topics", "create", "t2", "-p", "-1"}},
		{"usage-create-segment-bytes", []string{"topics", "create", "t2", "--segment-bytes", "1"}},
		{"usage-create-retention", []string{"topics", "create", "t2", "--retention", "-1s"}},
		{"usage-create-retention-bytes", []string{"topics", "create", "t2", "--retention-bytes", "-5"}},
		{"usage-create-topic-name", []string{"topics", "create", "a/b"}},
	} {
		r := runCLI(t, dir, "", c.args...)
		golden(t, c.name, dir, c.args, r)
		assert.Equal(t, exitUsage, r.code, c.name)
	}
	assert.Equal(t, topics, runCLI(t, dir, "", "topics"), "no topic was created")
}

// Commands that write, on a log nobody else holds.
func TestWriteCommands(t *testing.T) {
	t.Run("produce", func(t *testing.T) {
		dir := fixture(t)
		args := []string{"produce", "orders", "-K", "=", "-H", "src=cli", "--timestamp", "2024-02-03T04:05:06Z"}
		// Keyed lines only: keyless ones go to a sticky partition picked
		// at random (the produce-partition case has them).
		r := runCLI(t, dir, "x=1\ny=2\nz=\n=empty key\nlast=4=four", args...)
		golden(t, "produce", dir, args, r)
		dump := []string{"dump", "orders", "--from-time", "2024-02-01T00:00:00Z"}
		golden(t, "produce-dump", dir, dump, runCLI(t, dir, "", dump...))
	})
	t.Run("produce to a partition, compressed", func(t *testing.T) {
		dir := fixture(t)
		args := []string{"produce", "orders", "-p", "1", "--compression", "zstd", "--timestamp", "1700000000000", "--json"}
		golden(t, "produce-partition", dir, args, runCLI(t, dir, "one\ntwo\n", args...))
		batches := []string{"dump", "orders", "-p", "1", "--batches", "--offset", "3"}
		golden(t, "produce-partition-batches", dir, batches, runCLI(t, dir, "", batches...))
	})
	t.Run("produce lz4", func(t *testing.T) {
		dir := fixture(t)
		r := runCLI(t, dir, "one\ntwo\n", "produce", "orders", "-p", "1", "--compression", "lz4")
		require.Equal(t, exitOK, r.code, r.stderr)
		r = runCLI(t, dir, "", "dump", "orders", "-p", "1", "--batches", "--records", "--offset", "3", "--json")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"compression":"lz4"`)
		assert.Contains(t, r.stdout, `"value":"one"},{"topic":"orders","partition":1,"offset":4,`)
		assert.Contains(t, r.stdout, `"value":"two"}`)
	})
	t.Run("reset offsets", func(t *testing.T) {
		dir := fixture(t)
		args := []string{"reset-offsets", "--group", "billing", "--topic", "orders", "--to-earliest", "--execute"}
		golden(t, "reset-offsets-execute", dir, args, runCLI(t, dir, "", args...))
		r := runCLI(t, dir, "", "groups")
		golden(t, "reset-offsets-execute-groups", dir, []string{"groups"}, r)
	})
	t.Run("topics create", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		args := []string{"topics", "create", "events", "-p", "3", "--cleanup-policy", "compact,delete", "--retention", "48h", "--durability", "os"}
		golden(t, "topics-create", dir, args, runCLI(t, dir, "", args...))
		r := runCLI(t, dir, "", "topics", "create", "events")
		golden(t, "topics-create-exists", dir, []string{"topics", "create", "events"}, r)
	})
	t.Run("compact", func(t *testing.T) {
		dir := fixture(t)
		args := []string{"compact"}
		golden(t, "compact", dir, args, runCLI(t, dir, "", args...))
		dump := []string{"dump", "users"}
		golden(t, "compact-dump", dir, dump, runCLI(t, dir, "", dump...))
		notCompacted := []string{"compact", "orders"}
		golden(t, "compact-not-compacted", dir, notCompacted, runCLI(t, dir, "", notCompacted...))
	})
	t.Run("write command on a missing log", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "typo")
		args := []string{"produce", "orders"}
		golden(t, "error-missing-log", dir, args, runCLI(t, dir, "x\n", args...))
		_, err := os.Stat(dir)
		assert.ErrorIs(t, err, fs.ErrNotExist, "no log is created by mistake")
	})
}

// Output that cannot be written fails every command with exit code 1 and
// the reason, even where all of it would fit in a buffer.
func TestOutputWriteError(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer full.Close()
	dir := fixture(t)
	// One after the other: some take the log's lock.
	for _, c := range []struct {
		args  []string
		stdin string
	}{
		{args: []string{"topics"}},
		{args: []string{"topics", "describe", "orders"}},
		{args: []string{"topics", "create", "t9"}},
		{args: []string{"groups"}},
		{args: []string{"groups", "describe", "billing"}},
		{args: []string{"dump", "orders"}},
		{args: []string{"dump", "orders", "--batches"}},
		{args: []string{"tail", "orders"}},
		{args: []string{"produce", "orders"}, stdin: "x\n"},
		{args: []string{"produce", "orders", "--json"}, stdin: "x\n"},
		{args: []string{"verify"}},
		{args: []string{"verify", "--json"}},
		{args: []string{"stats"}},
		{args: []string{"reset-offsets", "-g", "billing", "--to-latest"}},
		{args: []string{"repair", "--yes"}},
		{args: []string{"compact"}},
		{args: []string{"compact", "--json"}},
	} {
		name := strings.Join(c.args, " ")
		cmd := exec.Command(cliBinary, append([]string{"--dir", dir}, c.args...)...)
		cmd.Env = withoutEnv("EVENTLOG_DIR")
		cmd.Stdin = strings.NewReader(c.stdin)
		cmd.Stdout = full
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, name)
		}
		assert.Equal(t, exitError, cmd.ProcessState.ExitCode(), "%s: %s", name, stderr.String())
		assert.Contains(t, stderr.String(), "no space left on device", name)
	}
}

// While a process holds the log open for writing, commands that read work
// and commands that write refuse with exit code 4.
func TestLogHeldByAnotherProcess(t *testing.T) {
	dir := fixture(t)
	w, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }})
	require.NoError(t, err)
	defer w.Close()
	_, err = partitionOf(t, w, "orders", 1).Append(ctx, []eventlog.Record{{Key: []byte("d"), Value: []byte("4"), Timestamp: fixedTime}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	runGolden(t, dir, map[string]goldenCase{
		"held-dump":             {args: []string{"dump", "orders", "-p", "1"}},
		"held-verify":           {args: []string{"verify"}},
		"held-stats":            {args: []string{"stats"}},
		"held-produce":          {args: []string{"produce", "orders"}, stdin: "x\n"},
		"held-compact":          {args: []string{"compact"}},
		"held-repair":           {args: []string{"repair", "--yes"}},
		"held-reset-offsets":    {args: []string{"reset-offsets", "-g", "billing", "--to-latest", "--execute"}},
		"held-reset-offsets-dr": {args: []string{"reset-offsets", "-g", "billing", "--to-latest"}},
	})
}

// repair finds the log held before it asks to repair it.
func TestRepairHeldByAnotherProcess(t *testing.T) {
	dir := fixture(t)
	w, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }})
	require.NoError(t, err)
	defer w.Close()
	// Something to repair: what a writer is writing looks like a torn tail.
	logs := segments(t, dir, "orders", 1)
	appendTo(t, logs[len(logs)-1], bytes.Repeat([]byte{0x5a}, 100))
	r := runCLI(t, dir, "y\n", "repair")
	golden(t, "held-repair-prompt", dir, []string{"repair"}, r)
	assert.Equal(t, exitLocked, r.code)
	assert.NotContains(t, r.stderr, "[y/N]")
}

// groups describe shows the members of a group that another process runs,
// and what each is assigned, as that process last stored them: after each
// rebalance, and once the group is empty.
func TestGroupMembersOfAnotherProcess(t *testing.T) {
	dir := fixture(t)
	w, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, SegmentBytes: 1024,
		RecoveryPointInterval: time.Hour, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	defer w.Close()
	member := func() *eventlog.Consumer {
		c, err := w.NewConsumer(&eventlog.ConsumerOptions{GroupID: "shipping", DisableAutoCommit: true, FetchMaxWait: time.Millisecond})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		require.NoError(t, c.Subscribe("orders"))
		return c
	}
	// A commit writes the group's metadata before its offsets: once it
	// returns, the rebalance before it is stored.
	commit := func(c *eventlog.Consumer) {
		require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
			{Topic: "orders", Partition: 0}: {Offset: 2},
		}))
	}
	a, b := member(), member()
	pollUntil(t, func() bool { return len(a.Assignment()) == 1 && len(b.Assignment()) == 1 }, a, b)
	require.Equal(t, []eventlog.TopicPartition{{Topic: "orders", Partition: 0}}, a.Assignment())
	commit(a)
	runGolden(t, dir, map[string]goldenCase{
		"members-groups":        {args: []string{"groups"}},
		"members-describe":      {args: []string{"groups", "describe", "shipping"}},
		"members-describe-json": {args: []string{"groups", "describe", "shipping", "--json"}},
	})

	require.NoError(t, b.Close())
	pollUntil(t, func() bool { return len(a.Assignment()) == 2 }, a)
	commit(a)
	args := []string{"groups", "describe", "shipping"}
	golden(t, "members-describe-rebalanced", dir, args, runCLI(t, dir, "", args...))
	require.NoError(t, a.Close()) // writes the group's metadata: it is empty
	golden(t, "members-describe-empty", dir, args, runCLI(t, dir, "", args...))
}

// reset-offsets --execute commits while groups describe lists members
// that a process stored before it crashed: only the members of a running
// process count, and the lock keeps any other process out.
func TestResetOffsetsAfterCrash(t *testing.T) {
	dir := fixture(t)
	w, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, SegmentBytes: 1024,
		RecoveryPointInterval: time.Hour, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	defer w.Close()
	c, err := w.NewConsumer(&eventlog.ConsumerOptions{GroupID: "shipping", DisableAutoCommit: true, FetchMaxWait: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Subscribe("orders"))
	pollUntil(t, func() bool { return len(c.Assignment()) == 2 }, c)
	// A commit stores the rebalance before it.
	require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		{Topic: "orders", Partition: 0}: {Offset: 20},
	}))
	// A copy of the directory now is what a crash would leave.
	crashed := t.TempDir()
	copyDir(t, dir, crashed)

	r := runCLI(t, crashed, "", "groups", "describe", "shipping")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 member", "the member the crashed process stored is listed")
	r = runCLI(t, crashed, "", "reset-offsets", "-g", "shipping", "--to-earliest", "--execute")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `shipping +orders +0 +0 `, r.stdout)
	r = runCLI(t, crashed, "", "groups", "describe", "shipping", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"committed": 0,`)
}

// copyDir copies the regular files of the tree src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	}))
}

// pollUntil polls each consumer in turn until cond holds.
func pollUntil(t *testing.T, cond func() bool, consumers ...*eventlog.Consumer) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		for _, c := range consumers {
			_, err := c.Poll(ctx)
			require.NoError(t, err)
		}
	}
	require.FailNow(t, "the group did not settle")
}

// Damaged logs: verify names the file and byte and exits with 3; reads stop
// at damage; repair cuts what Options.Repair cuts.
func TestDamagedLogs(t *testing.T) {
	t.Run("flipped byte in a closed segment", func(t *testing.T) {
		dir := fixture(t)
		logs := segments(t, dir, "orders", 0)
		require.Greater(t, len(logs), 2)
		flipByte(t, logs[1], 100)
		before := dirState(t, dir)
		runGolden(t, dir, map[string]goldenCase{
			"closed-corrupt-verify":      {args: []string{"verify"}},
			"closed-corrupt-verify-json": {args: []string{"verify", "--json"}},
			"closed-corrupt-dump":        {args: []string{"dump", "orders", "-p", "0", "--offset", "8"}},
		})
		assert.Equal(t, before, dirState(t, dir))
		r := runCLI(t, dir, "n\n", "repair")
		golden(t, "closed-corrupt-repair-declined", dir, []string{"repair"}, r)
		assert.Equal(t, before, dirState(t, dir), "a declined repair changes nothing")
		r = runCLI(t, dir, "y\n", "repair")
		golden(t, "closed-corrupt-repair", dir, []string{"repair"}, r)
		assert.Equal(t, exitCorrupt, r.code, "damage in closed segments stays")
	})
	t.Run("torn tail", func(t *testing.T) {
		dir := fixture(t)
		logs := segments(t, dir, "orders", 1)
		appendTo(t, logs[len(logs)-1], bytes.Repeat([]byte{0x5a}, 100))
		// After a clean Close the same bytes are damage no crash
		// explains, which Open refuses (Options.Repair cuts it).
		clean := dirState(t, dir)
		runGolden(t, dir, map[string]goldenCase{
			"clean-tail-verify": {args: []string{"verify"}},
		})
		assert.Equal(t, clean, dirState(t, dir))
		// A crash, rather, leaves a torn tail.
		require.NoError(t, os.Remove(filepath.Join(dir, "CLEAN_SHUTDOWN")))
		before := dirState(t, dir)
		runGolden(t, dir, map[string]goldenCase{
			"torn-tail-verify": {args: []string{"verify"}},
			"torn-tail-dump":   {args: []string{"dump", "orders", "-p", "1"}},
		})
		assert.Equal(t, before, dirState(t, dir))
		args := []string{"repair", "--yes"}
		golden(t, "torn-tail-repair", dir, args, runCLI(t, dir, "", args...))
	})
	t.Run("lost segment", func(t *testing.T) {
		dir := fixture(t)
		for _, path := range segments(t, dir, "orders", 0) {
			require.NoError(t, os.Remove(path))
		}
		before := dirState(t, dir)
		runGolden(t, dir, map[string]goldenCase{
			"lost-segment-verify": {args: []string{"verify"}},
		})
		assert.Equal(t, before, dirState(t, dir))
		args := []string{"repair", "--yes"}
		r := runCLI(t, dir, "", args...)
		golden(t, "lost-segment-repair", dir, args, r)
		assert.Equal(t, 0, r.code, "nothing is left to repair")
	})
	t.Run("damage before the recovery point", func(t *testing.T) {
		dir := crashedFixture(t)
		logs := segments(t, dir, "orders", 0)
		flipByte(t, logs[len(logs)-1], 100)
		runGolden(t, dir, map[string]goldenCase{
			"rp-corrupt-verify": {args: []string{"verify"}},
			"rp-corrupt-topics": {args: []string{"topics"}},
		})
		args := []string{"repair", "--yes"}
		r := runCLI(t, dir, "", args...)
		golden(t, "rp-corrupt-repair", dir, args, r)
		assert.Equal(t, exitOK, r.code)
		copies, err := filepath.Glob(filepath.Join(dir, "topics", "orders", "0", "*.broken-*"))
		require.NoError(t, err)
		assert.Len(t, copies, 1, "repair kept a copy of what it cut")
		golden(t, "rp-corrupt-after-repair", dir, []string{"verify"}, runCLI(t, dir, "", "verify"))
	})
}

// crashedFixture writes records to orders/0 and leaves the log as a crash
// would after its recovery point was persisted past every record: no
// clean-shutdown marker, and a recovery.meta covering the whole segment.
func crashedFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{}))
	p := partitionOf(t, l, "orders", 0)
	for i := range 10 {
		_, err := p.Append(ctx, []eventlog.Record{{Key: []byte(fmt.Sprint(i)), Value: []byte("v"), Timestamp: fixedTime}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, "CLEAN_SHUTDOWN")))
	seg := segments(t, dir, "orders", 0)[0]
	info, err := os.Stat(seg)
	require.NoError(t, err)
	writeRecoveryPoint(t, filepath.Dir(seg), 0, info.Size(), 10)
	return dir
}

// writeRecoveryPoint writes a partition's recovery.meta as the library's
// checkpointer does: the metadata envelope ("EVLM", version 1, length,
// payload, CRC-32C) around the segment base, position and next offset.
func writeRecoveryPoint(t *testing.T, partDir string, base, pos, next int64) {
	t.Helper()
	b := []byte("EVLM")
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 24)
	for _, v := range []int64{base, pos, next} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	require.NoError(t, os.WriteFile(filepath.Join(partDir, "recovery.meta"), b, 0o644))
}

func flipByte(t *testing.T, path string, pos int) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[pos] ^= 0x01
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

func appendTo(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, errors.Join(err, f.Close()))
}

// tail -f prints what a writer appends, and stops cleanly on an interrupt.
func TestTailFollow(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sends os.Interrupt")
	}
	dir, w, c := followFixture(t)
	cmd := exec.CommandContext(c, cliBinary, append([]string{"--dir", dir}, followArgs...)...)
	cmd.Env = withoutEnv("EVENTLOG_DIR")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	errOut := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(stderr)
		errOut <- b
	}()
	rest := followAppends(t, c, w, stdout)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	for range rest { // the pipe is read to its end before Wait
	}
	assert.Empty(t, string(<-errOut))
	require.NoError(t, cmd.Wait(), "exit code 0 on an interrupt")
}

// TestTailFollowInProcess is TestTailFollow with the command run in the
// test's process, so that under -race the detector watches its goroutines.
func TestTailFollowInProcess(t *testing.T) {
	dir, w, c := followFixture(t)
	follow, stop := context.WithCancel(c)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(follow, append([]string{"--dir", dir}, followArgs...), strings.NewReader(""), pw, &stderr)
		pw.Close()
	}()
	rest := followAppends(t, c, w, pr)
	stop() // as an interrupt does
	for range rest {
	}
	assert.Equal(t, exitOK, <-code)
	assert.Empty(t, stderr.String())
}

// followArgs follow the fixture's orders, looking for appends every 10ms.
var followArgs = []string{"tail", "orders", "-f", "-n", "1", "--interval", "10ms", "--json"}

// followFixture returns a fixture, a Log writing it, and a context that
// ends the test after a minute.
func followFixture(t *testing.T) (string, *eventlog.Log, context.Context) {
	t.Helper()
	dir := fixture(t)
	w, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	c, cancel := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancel)
	return dir, w, c
}

// followAppends reads what tail -f -n 1 --json prints on out while it
// appends to the fixture through w. It returns the lines still to come,
// closed once out ends.
func followAppends(t *testing.T, c context.Context, w *eventlog.Log, out io.Reader) <-chan string {
	t.Helper()
	// Buffered beyond what tail prints here, so that reading out never
	// waits for the test.
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			require.True(t, ok, "tail -f ended early")
			return l
		case <-c.Done():
			require.FailNow(t, "no line from tail -f")
		}
		return ""
	}
	// The last record of each partition, in either order.
	first := []string{next(), next()}
	assert.ElementsMatch(t, []string{
		`{"topic":"orders","partition":0,"offset":29,"timestamp":"2024-01-02T03:33:05.000Z","key":"order-29","value":"{\"amount\":290}"}`,
		`{"topic":"orders","partition":1,"offset":2,"timestamp":"2024-01-02T05:04:05.000Z","key":"c","value":"3"}`,
	}, first)
	// Appends, including across segment rolls, show in order.
	p0 := partitionOf(t, w, "orders", 0)
	for i := range 20 {
		_, err := p0.Append(ctx, []eventlog.Record{{Key: []byte("new"), Value: bytes.Repeat([]byte{'x'}, 100), Timestamp: fixedTime}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		assert.Contains(t, next(), fmt.Sprintf(`"offset":%d,`, 30+i))
	}
	return lines
}

// dirState is everything in a directory tree: paths, sizes, contents and
// modification times.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	state := make(map[string]string)
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		entry := fmt.Sprintf("%v %d %v", info.Mode(), info.Size(), info.ModTime())
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			entry += " " + string(data)
		}
		state[path] = entry
		return nil
	}))
	return state
}
