package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// txnFixture makes a log whose topic t was written by three transactions
// of one record each: "a" committed, "b" aborted, "c" committed. Each
// transaction ends with a marker, which takes an offset but is no record:
// a is at 0, b at 2, c at 4, and the high watermark is 6.
func txnFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	prod, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	for _, v := range []string{"a", "b", "c"} {
		require.NoError(t, prod.BeginTransaction())
		_, err = prod.Send(ctx, eventlog.Record{Topic: "t", Value: []byte(v), Timestamp: fixedTime})
		require.NoError(t, err)
		if v == "b" {
			require.NoError(t, prod.AbortTransaction(ctx))
		} else {
			require.NoError(t, prod.CommitTransaction(ctx))
		}
	}
	require.NoError(t, prod.Close())
	require.Equal(t, int64(6), partitionOf(t, l, "t", 0).HighWatermark())
	require.NoError(t, l.Close())
	return dir
}

// tail -n N prints the last N records, where offsets without a record
// (transaction markers here, and records that compaction removed) lie
// between them: not the records of the last N offsets.
func TestTailLastRecordsNotOffsets(t *testing.T) {
	dir := txnFixture(t)
	for _, c := range []struct {
		n    string
		want string
	}{
		{"1", `t/0 offset=4 time=2024-01-02T03:04:05.000Z key=null value="c"` + "\n"},
		{"2", `t/0 offset=2 time=2024-01-02T03:04:05.000Z key=null value="b"` + "\n" +
			`t/0 offset=4 time=2024-01-02T03:04:05.000Z key=null value="c"` + "\n"},
		{"3", `t/0 offset=0 time=2024-01-02T03:04:05.000Z key=null value="a"` + "\n" +
			`t/0 offset=2 time=2024-01-02T03:04:05.000Z key=null value="b"` + "\n" +
			`t/0 offset=4 time=2024-01-02T03:04:05.000Z key=null value="c"` + "\n"},
		{"10", `t/0 offset=0 time=2024-01-02T03:04:05.000Z key=null value="a"` + "\n" +
			`t/0 offset=2 time=2024-01-02T03:04:05.000Z key=null value="b"` + "\n" +
			`t/0 offset=4 time=2024-01-02T03:04:05.000Z key=null value="c"` + "\n"},
		{"0", ""},
	} {
		r := runCLI(t, dir, "", "tail", "t", "-n", c.n)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, c.want, r.stdout, "tail -n %s", c.n)
	}
}

// tail -n N prints what dump prints last, for every N, on a compacted
// topic whose cleaned segments have gaps of several offsets.
func TestTailIsEndOfDumpCompacted(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, SegmentBytes: 1024}))
	p := partitionOf(t, l, "c", 0)
	// Every other record has the key "a", which the next one of them
	// supersedes: cleaned segments keep one offset in two.
	for i := range 100 {
		key := "a"
		if i%2 == 1 {
			key = strconv.Itoa(i)
		}
		_, err := p.Append(ctx, []eventlog.Record{{Key: []byte(key), Value: []byte(strconv.Itoa(i)), Timestamp: fixedTime}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(ctx, "c"))
	require.NoError(t, l.Close())

	dump := runCLI(t, dir, "", "dump", "c")
	require.Equal(t, exitOK, dump.code, dump.stderr)
	lines := strings.SplitAfter(dump.stdout, "\n")
	lines = lines[:len(lines)-1] // after the last newline
	require.Less(t, len(lines), 60, "compaction left gaps:\n%s", dump.stdout)
	for n := 0; n <= len(lines)+1; n++ {
		r := runCLI(t, dir, "", "tail", "c", "-n", strconv.Itoa(n))
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, strings.Join(lines[max(len(lines)-n, 0):], ""), r.stdout, "tail -n %d", n)
	}
}

// tail -f -n N starts with the last N records too.
func TestTailFollowLastRecordsNotOffsets(t *testing.T) {
	dir := txnFixture(t)
	assert.Equal(t, []string{`t/0 offset=4 time=2024-01-02T03:04:05.000Z key=null value="c"`}, followFirstLines(t, dir, 1, "t", "-n", "1"))
}

// followFirstLines runs tail -f with args in the test's process, and
// returns the first n lines it prints; then it interrupts it, and checks
// that it ended as it should.
func followFirstLines(t *testing.T, dir string, n int, args ...string) []string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	follow, stop := context.WithCancel(c)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		args := append([]string{"--dir", dir, "tail", "-f", "--interval", "10ms"}, args...)
		code <- run(follow, args, strings.NewReader(""), pw, &stderr)
		pw.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var got []string
	for len(got) < n {
		select {
		case l := <-lines:
			got = append(got, l)
		case <-c.Done():
			assert.Fail(t, "tail -f printed too few lines", "%q", got)
			n = 0
		}
	}
	stop()
	for range lines {
	}
	assert.Equal(t, exitOK, <-code)
	assert.Empty(t, stderr.String())
	return got
}

// tail -f prints the records tail prints: every record the log holds, those
// of aborted transactions included, as dump prints them.
func TestTailFollowPrintsWhatTailPrints(t *testing.T) {
	dir := txnFixture(t)
	r := runCLI(t, dir, "", "tail", "t", "-n", "3")
	require.Equal(t, exitOK, r.code, r.stderr)
	want := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, want, 3)
	assert.Contains(t, want[1], `value="b"`, "the record of the aborted transaction")
	assert.Equal(t, want, followFirstLines(t, dir, 3, "t", "-n", "3"))
}
