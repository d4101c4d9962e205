package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// tail -f follows the partitions that a writer adds to the topic after it
// started, from their first record, as a consumer subscribed to the topic
// does.
func TestTailFollowPartitionsAddedAfterStart(t *testing.T) {
	dir, w, c := followFixture(t)
	// A bound on the wait for lines that never come, not a wait for
	// something to happen.
	c, cancel := context.WithTimeout(c, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(c, cliBinary, "--dir", dir, "tail", "orders", "-f", "-n", "1", "--interval", "10ms", "--json")
	cmd.Env = withoutEnv("EVENTLOG_DIR")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := followLines(stdout)

	// The last record of each partition shows that tail follows them
	// before the partitions are added.
	first := []string{nextRecord(t, c, lines), nextRecord(t, c, lines)}
	assert.ElementsMatch(t, []string{`0 {"amount":290}`, "1 3"}, first)

	require.NoError(t, w.CreatePartitions(ctx, "orders", 4))
	for _, id := range []int32{2, 3} {
		_, err = partitionOf(t, w, "orders", id).Append(ctx, []eventlog.Record{{Value: []byte("new"), Timestamp: fixedTime}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	got := []string{nextRecord(t, c, lines), nextRecord(t, c, lines)}
	assert.ElementsMatch(t, []string{"2 new", "3 new"}, got)
}

// followLines sends the lines read from out until it ends.
func followLines(out io.Reader) <-chan string {
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// nextRecord returns the partition and value of the next JSON record
// line, failing the test if none comes before c ends.
func nextRecord(t *testing.T, c context.Context, lines <-chan string) string {
	t.Helper()
	select {
	case line, ok := <-lines:
		require.True(t, ok, "tail -f ended early")
		var r struct {
			Partition int32  `json:"partition"`
			Value     string `json:"value"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		return fmt.Sprintf("%d %s", r.Partition, r.Value)
	case <-c.Done():
		require.FailNow(t, "no line from tail -f before the deadline")
	}
	return ""
}
