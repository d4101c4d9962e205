package eventlog_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestCloseLeavesNothingBehind uses most of the library — producers
// (plain and transactional), a consumer group, long view scans that start
// read-ahead verifiers, Replay, compaction, retention, a read-only Log
// following the writer — then closes everything and checks that no
// goroutine the log started is still running, and (on Linux) that no file
// under its directory is still open or mapped: what a unit test opening a
// log in t.TempDir() needs.
func TestCloseLeavesNothingBehind(t *testing.T) {
	before := goroutineIDs()
	dir := t.TempDir()
	useLog(t, dir)

	assertNoGoroutinesLeft(t, before)
	assert.Empty(t, openFilesUnder(t, dir), "files still open or mapped after Close")
}

// assertNoGoroutinesLeft checks that no goroutine of the library started
// since before is still running.
func assertNoGoroutinesLeft(t *testing.T, before map[string]bool) {
	t.Helper()
	var leaked []string
	for range 10_000 { // goroutines that called wg.Done may still be returning
		if leaked = newGoroutines(before); len(leaked) == 0 {
			return
		}
		runtime.Gosched()
	}
	assert.Empty(t, leaked, "goroutines still running after Close")
}

// useLog exercises a log in dir and closes it.
func useLog(t *testing.T, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS}))
	require.NoError(t, l.CreateTopic("cache", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))

	producer, err := l.NewProducer(nil)
	require.NoError(t, err)
	value := bytes.Repeat([]byte("v"), 100)
	for i := range 40_000 { // ~5 MB: several segments, long enough for read-ahead
		producer.SendAsync(ctx, eventlog.Record{Topic: "events", Key: fmt.Appendf(nil, "k%d", i%100), Value: value}, nil)
	}
	for i := range 1000 {
		producer.SendAsync(ctx, eventlog.Record{Topic: "cache", Key: fmt.Appendf(nil, "k%d", i%10), Value: value}, nil)
	}
	require.NoError(t, producer.Flush(ctx))
	require.NoError(t, producer.Close())

	txn, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	require.NoError(t, txn.BeginTransaction())
	_, err = txn.Send(ctx, eventlog.Record{Topic: "events", Key: []byte("t"), Value: value})
	require.NoError(t, err)
	require.NoError(t, txn.CommitTransaction(ctx))
	require.NoError(t, txn.Close())

	p, err := l.Partition("events", 0)
	require.NoError(t, err)
	n := 0
	for _, err := range p.Views(0) {
		require.NoError(t, err)
		n++
	}
	require.Positive(t, n)
	require.NoError(t, l.Replay(ctx, "events", func(*eventlog.RecordView) error { return nil }))
	latest, err := l.ReplayLatest(ctx, "cache")
	require.NoError(t, err)
	assert.Len(t, latest, 10)
	require.NoError(t, l.Compact(ctx, "cache"))
	_, err = l.DeleteRecords(ctx, "events", 0, 1000)
	require.NoError(t, err)

	reader, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, reader.Refresh())
	rp, err := reader.Partition("events", 1)
	require.NoError(t, err)
	for _, err := range rp.Views(rp.LogStartOffset()) {
		require.NoError(t, err)
	}

	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, err)
	require.NoError(t, c.Subscribe("events"))
	got := 0
	for _, err := range c.ViewsToEnd(ctx) {
		require.NoError(t, err)
		got++
	}
	require.Positive(t, got)
	require.NoError(t, c.CommitSync(ctx))
	// Leave one consumer and a scan open: Close must end them too.
	open, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g2"})
	require.NoError(t, err)
	require.NoError(t, open.Subscribe("events"))
	_, err = open.Poll(ctx)
	require.NoError(t, err)
	next, stop := iter.Pull2(p.Views(p.LogStartOffset()))
	_, _, _ = next()
	require.NoError(t, c.Close())

	require.NoError(t, reader.Close())
	require.NoError(t, l.Close())
	stop()
}

// goroutineIDs returns the IDs of the running goroutines.
func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for _, g := range goroutineStacks() {
		ids[strings.Fields(g)[1]] = true
	}
	return ids
}

// newGoroutines returns the stacks of goroutines not in before, but the
// test's own and the runtime's.
func newGoroutines(before map[string]bool) []string {
	var fresh []string
	for _, g := range goroutineStacks() {
		if !before[strings.Fields(g)[1]] && strings.Contains(g, "eventlog") && !strings.Contains(g, "TestCloseLeavesNothingBehind") {
			fresh = append(fresh, g)
		}
	}
	return fresh
}

func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// openFilesUnder lists the process's open descriptors and mappings of
// files under dir; nil where /proc does not tell.
func openFilesUnder(t *testing.T, dir string) []string {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Log("no /proc/self/fd: open files not checked")
		return nil
	}
	dir, err = filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	var open []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir) {
			open = append(open, "fd "+target)
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	mapped := regexp.MustCompile(`\s(/\S+)`)
	for _, line := range strings.Split(string(maps), "\n") {
		if m := mapped.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], dir) {
			open = append(open, "mapped "+m[1])
		}
	}
	slices.Sort(open)
	return slices.Compact(open)
}
