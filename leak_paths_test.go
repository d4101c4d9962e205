package eventlog_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// TestCloseLeavesNothingBehindInUse closes a Log while its handles are in
// use, as a test that ends early does: a cursor and a batch walk left
// open, ReadBatches not released, a producer with callbacks and an open
// transaction, group members of two consumers and an external member, a
// typed consumer, and a Poll and a Wait blocked in other goroutines. Once
// the handles are closed too, no goroutine of the library is left, and
// no file under the directory is open or mapped.
func TestCloseLeavesNothingBehindInUse(t *testing.T) {
	before := goroutineIDs()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	l, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 64 << 10, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("idle", eventlog.TopicConfig{}))

	producer, err := l.NewProducer(&eventlog.ProducerOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	acked := make(chan error, 2000)
	for i := range 2000 {
		producer.SendAsync(ctx, eventlog.Record{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: make([]byte, 100)},
			func(_ eventlog.RecordMetadata, err error) { acked <- err })
	}
	require.NoError(t, producer.Flush(ctx))
	for range 2000 {
		require.NoError(t, <-acked)
	}

	txn, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	require.NoError(t, txn.BeginTransaction())
	_, err = txn.Send(ctx, eventlog.Record{Topic: "t", Key: []byte("x")})
	require.NoError(t, err)

	p := partition(t, l, "t", 0)
	cursor := p.Cursor(0)
	require.True(t, cursor.Next())
	closedCursor := p.Cursor(0)
	require.True(t, closedCursor.Next())
	closedCursor.Close()
	next, stop := iter.Pull2(p.Batches(0))
	_, _, ok := next()
	require.True(t, ok)
	_, release, err := p.ReadBatches(0, 1<<20)
	require.NoError(t, err)

	members := make([]*eventlog.Consumer, 2)
	for i := range members {
		members[i], err = l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g",
			Assignor: eventlog.CooperativeStickyAssignor{}, AutoOffsetReset: eventlog.OffsetResetEarliest})
		require.NoError(t, err)
		require.NoError(t, members[i].Subscribe("t"))
		_, err = members[i].Poll(ctx)
		require.NoError(t, err)
	}
	typed := eventlog.NewTypedConsumer(members[0], eventlog.StringSerde{}, eventlog.BytesSerde{})
	_, err = typed.Poll(ctx)
	require.NoError(t, err)
	external, err := l.JoinGroupExternal("ext", eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{eventlog.RangeAssignor{}}})
	require.NoError(t, err)

	// A Poll and a Wait blocked when Close comes.
	blocked, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: time.Hour})
	require.NoError(t, err)
	require.NoError(t, blocked.Assign(eventlog.TopicPartition{Topic: "idle", Partition: 0}))
	idle := partition(t, l, "idle", 0)
	polled, waited := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := blocked.Poll(ctx)
		polled <- err
	}()
	go func() { waited <- idle.Wait(ctx, 0) }()

	require.NoError(t, l.Close())
	assert.ErrorIs(t, <-polled, eventlog.ErrClosed)
	assert.ErrorIs(t, <-waited, eventlog.ErrClosed)
	for cursor.Next() {
	}
	assert.ErrorIs(t, cursor.Err(), eventlog.ErrClosed)
	cursor.Close()
	stop()
	release()
	require.NoError(t, producer.Close())
	_ = txn.Close()
	for _, c := range append(members, blocked) {
		require.NoError(t, c.Close())
	}
	external.Leave()

	assertNoGoroutinesLeft(t, before)
	assert.Empty(t, openFilesUnder(t, dir), "files still open or mapped after Close")
}

// TestEventlogtestLeavesNothingBehind: the Logs of eventlogtest.New and
// NewTopic are closed when their test ends, their goroutines gone and
// their files closed and unmapped.
func TestEventlogtestLeavesNothingBehind(t *testing.T) {
	before := goroutineIDs()
	t.Run("use", func(t *testing.T) {
		for _, l := range []*eventlog.Log{
			eventlogtest.New(t, nil),
			eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 2}),
		} {
			require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
			p := partition(t, l, "u", 0)
			_, err := p.Append(t.Context(), []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
			require.NoError(t, err)
			for _, err := range p.Views(0) {
				require.NoError(t, err)
			}
		}
	})
	assertNoGoroutinesLeft(t, before)
	// The logs' directories, removed with the subtest, are named after it.
	assert.Empty(t, openFilesNamed(t, "TestEventlogtestLeavesNothingBehind"), "files still open or mapped after the test")
}

// openFilesNamed lists the process's open descriptors and mappings of
// files whose path holds name, removed ones included; nil where /proc
// does not tell.
func openFilesNamed(t *testing.T, name string) []string {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Log("no /proc/self/fd: open files not checked")
		return nil
	}
	var open []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.Contains(target, name) {
			open = append(open, "fd "+target)
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.Contains(line, name) {
			open = append(open, "mapped "+line)
		}
	}
	return open
}
