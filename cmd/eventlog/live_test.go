package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// goneFixture makes a log whose topic t holds records 0 to 29 in segments
// of a few records each, and returns a read-only Log of it. Then a writing
// Log deletes the records below 20, and with them the files of the
// segments that hold them, which the read-only Log has listed but not
// opened: as retention or a compaction swap of a service does while a
// command reads.
func goneFixture(t *testing.T) *eventlog.Log {
	t.Helper()
	dir := t.TempDir()
	w, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, Durability: eventlog.DurabilityOS, SegmentBytes: 1024})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{}))
	p := partitionOf(t, w, "t", 0)
	for i := range 30 {
		_, err := p.Append(ctx, []eventlog.Record{{Value: append([]byte(fmt.Sprint(i)), bytes.Repeat([]byte{'x'}, 100)...), Timestamp: fixedTime}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	ro, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ro.Close()) })
	before := segments(t, dir, "t", 0)
	start, err := w.DeleteRecords(ctx, "t", 0, 20)
	require.NoError(t, err)
	require.Equal(t, int64(20), start)
	require.Less(t, len(segments(t, dir, "t", 0)), len(before), "segment files were deleted")
	return ro
}

// A dump that meets a segment file the writer deleted after the read-only
// Log listed it refreshes the log and goes on from the new log start.
func TestDumpSegmentDeletedByWriter(t *testing.T) {
	for _, batches := range []bool{false, true} {
		t.Run(fmt.Sprint("batches=", batches), func(t *testing.T) {
			ro := goneFixture(t)
			p := partitionOf(t, ro, "t", 0)
			require.Equal(t, int64(0), p.LogStartOffset(), "the read-only Log has not seen the deletion")
			var out bytes.Buffer
			printer, err := (&recordFlags{encoding: "utf8"}).printer(&out, true)
			require.NoError(t, err)
			d := dumper{ctx: ctx, log: ro, printer: printer, out: &out, asJSON: true, max: 1000}
			if batches {
				err = d.batches(p, 0, true)
			} else {
				err = d.records(p, 0)
			}
			require.NoError(t, err)
			assert.Contains(t, out.String(), `"offset":20,`)
			assert.Contains(t, out.String(), `"offset":29,`)
			assert.NotContains(t, out.String(), `"offset":19,`)
		})
	}
}

// tail -f, too, goes on after a segment file the writer deleted.
func TestTailFollowSegmentDeletedByWriter(t *testing.T) {
	ro := goneFixture(t)
	p := partitionOf(t, ro, "t", 0)
	var out bytes.Buffer
	w := &lineWriter{w: &out, lines: make(chan struct{}, 100)}
	printer, err := (&recordFlags{encoding: "utf8"}).printer(w, false)
	require.NoError(t, err)
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- (&app{}).follow(c, ro, map[eventlog.TopicPartition]int64{{Topic: "t"}: p.LogStartOffset()}, "t", printer, 10*time.Millisecond)
	}()
	select {
	case <-w.lines:
		cancel()
		require.NoError(t, <-done)
	case err := <-done:
		require.NoError(t, err, "tail -f ended")
	}
	assert.Contains(t, out.String(), "t/0 offset=20 ")
}

// lineWriter signals each write on lines.
type lineWriter struct {
	w     *bytes.Buffer
	lines chan struct{}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.lines <- struct{}{}
	return n, err
}

// tail's count of the last records, too, goes on after a segment file the
// writer deleted.
func TestTailStartSegmentDeletedByWriter(t *testing.T) {
	ro := goneFixture(t)
	p := partitionOf(t, ro, "t", 0)
	start, err := tailStart(ctx, ro, p, 15)
	require.NoError(t, err)
	assert.Equal(t, int64(20), start, "the log start: the writer deleted the records before it")
}

// The lookups by time of dump --from-time and of a dry-run reset-offsets
// --to-datetime go on after a segment file the writer deleted.
func TestLookupByTimeSegmentDeletedByWriter(t *testing.T) {
	t.Run("dump", func(t *testing.T) {
		ro := goneFixture(t)
		start, err := startOffset(ro, partitionOf(t, ro, "t", 0), false, 0, timeFlag{t: fixedTime, set: true})
		require.NoError(t, err)
		assert.Equal(t, int64(20), start)
	})
	t.Run("reset-offsets", func(t *testing.T) {
		ro := goneFixture(t)
		offsets, err := resetOffsets(ctx, ro, "g", eventlog.ResetOffsetsSpec{DryRun: true, To: eventlog.ResetToTime, Time: fixedTime, Topics: []string{"t"}})
		require.NoError(t, err)
		require.Len(t, offsets, 1)
		assert.Equal(t, int64(20), offsets[0].Committed)
	})
}
