package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestWriteCommandKeepsIdleProducers: a command that writes and runs past
// a checkpoint of the log it opened (here produce, reading standard input
// for two seconds) does not forget the idempotent producers that the
// service, with a longer ProducerIDExpiration than the library's default
// of 24 hours, still remembers: a retry of such a producer's last batch
// after the service reopens the log is recognised as a repeat, not stored
// twice. The tool cannot know the service's Options; keeping producers is
// the answer that is right for every service.
func TestWriteCommandKeepsIdleProducers(t *testing.T) {
	dir := t.TempDir()
	// A week before the clock of synctest's bubble starts (2000-01-01).
	written := time.Date(1999, 12, 25, 0, 0, 0, 0, time.UTC)
	serviceOpts := func(now time.Time) *eventlog.Options {
		return &eventlog.Options{Now: func() time.Time { return now }, ProducerIDExpiration: 30 * 24 * time.Hour}
	}
	l, err := eventlog.Open(dir, serviceOpts(written))
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	id, err := l.NewProducerID(ctx)
	require.NoError(t, err)
	batch := []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}}
	first, err := partitionOf(t, l, "t", 0).Append(ctx, batch, eventlog.AppendOptions{Producer: id})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	produceLineOverTwoSeconds(t, dir)

	l, err = eventlog.Open(dir, serviceOpts(written.Add(8*24*time.Hour)))
	require.NoError(t, err)
	defer l.Close()
	p := partitionOf(t, l, "t", 0)
	require.Equal(t, int64(2), p.LogEndOffset(), "the fixture's record and the line")
	again, err := p.Append(ctx, batch, eventlog.AppendOptions{Producer: id})
	require.NoError(t, err)
	assert.Equal(t, first, again, "the producer's retry is recognised as a repeat")
	assert.Equal(t, int64(2), p.LogEndOffset(), "and not stored twice")
}

// TestWriteCommandKeepsIdleTransactionalIDs: a command that writes and
// runs past the Log's per-second check of its transactional IDs does not
// expire an ID that the service, with a longer TransactionalIDExpiration
// than the library's default of 7 days, still keeps: the tool cannot
// know the service's Options, and the service expires its IDs on its own
// schedule once it reopens the log.
func TestWriteCommandKeepsIdleTransactionalIDs(t *testing.T) {
	dir := t.TempDir()
	// Twelve days before the clock of synctest's bubble starts (2000-01-01).
	written := time.Date(1999, 12, 20, 0, 0, 0, 0, time.UTC)
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return written }, TransactionalIDExpiration: 30 * 24 * time.Hour})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	prod, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	require.NoError(t, prod.BeginTransaction())
	_, err = prod.Send(ctx, eventlog.Record{Topic: "t", Key: []byte("k"), Value: []byte("v")})
	require.NoError(t, err)
	require.NoError(t, prod.CommitTransaction(ctx))
	require.NoError(t, prod.Close())
	require.NoError(t, l.Close())

	produceLineOverTwoSeconds(t, dir)

	l, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	state := partitionOf(t, l, "__transaction_state", 0)
	recs, err := state.Read(0, 1<<20)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	assert.NotNil(t, recs[len(recs)-1].Value, "the ID's last state is not a tombstone")
}

// produceLineOverTwoSeconds runs "produce t -p 0" on dir in a synctest
// bubble, writes a line to its standard input, and closes the input two
// seconds later by the bubble's clock: the command, with the log open,
// runs past the Log's checkpoints and per-second checks, at once.
func produceLineOverTwoSeconds(t *testing.T, dir string) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		var stdout, stderr bytes.Buffer
		code := make(chan int, 1)
		go func() {
			code <- run(context.Background(), []string{"--dir", dir, "produce", "t", "-p", "0"}, pr, &stdout, &stderr)
		}()
		// The write returns once produce, with the log open, reads it.
		_, err := io.WriteString(pw, "line\n")
		require.NoError(t, err)
		time.Sleep(2 * time.Second) // the bubble's clock: no real wait
		require.NoError(t, pw.Close())
		require.Equal(t, exitOK, <-code, stderr.String())
	})
}

// TestWriteCommandKeepsOldGroupOffsets: a command that writes and runs
// past the Log's 10-minute check of committed offsets does not expire the
// offsets of a group that the service, with a longer OffsetsRetention
// than the library's default of 7 days, still keeps: the tool cannot know
// the service's Options, and the service expires offsets on its own
// schedule once it reopens the log.
func TestWriteCommandKeepsOldGroupOffsets(t *testing.T) {
	dir := t.TempDir()
	// Twelve days before the clock of synctest's bubble starts (2000-01-01).
	written := time.Date(1999, 12, 20, 0, 0, 0, 0, time.UTC)
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return written }, OffsetsRetention: 30 * 24 * time.Hour})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	tp := eventlog.TopicPartition{Topic: "t", Partition: 0}
	require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: 0}}))
	require.NoError(t, l.Close())

	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		var stdout, stderr bytes.Buffer
		code := make(chan int, 1)
		go func() {
			code <- run(context.Background(), []string{"--dir", dir, "produce", "t", "-p", "0"}, pr, &stdout, &stderr)
		}()
		_, err := io.WriteString(pw, "line\n")
		require.NoError(t, err)
		time.Sleep(11 * time.Minute) // the bubble's clock: past the Log's check, at once
		require.NoError(t, pw.Close())
		require.Equal(t, exitOK, <-code, stderr.String())
	})

	l, err = eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	committed, err := l.CommittedOffsets("g", []eventlog.TopicPartition{tp})
	require.NoError(t, err)
	assert.Contains(t, committed, tp, "the group's offset is kept")
}
