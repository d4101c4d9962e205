package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// midBatchFixture makes a log whose topic t holds two batches of five
// records, offsets 0 to 9, and whose log start DeleteRecords moved to 2,
// inside the first batch.
func midBatchFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime }, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partitionOf(t, l, "t", 0)
	for b := range 2 {
		var recs []eventlog.Record
		for i := range 5 {
			recs = append(recs, eventlog.Record{Value: []byte(fmt.Sprint(5*b + i)), Timestamp: fixedTime})
		}
		_, err = p.Append(ctx, recs, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	start, err := l.DeleteRecords(ctx, "t", 0, 2)
	require.NoError(t, err)
	require.Equal(t, int64(2), start)
	require.NoError(t, l.Close())
	return dir
}

// dump --batches --records prints the batch that holds the log start with
// the records from the log start on, where DeleteRecords moved the log
// start inside a batch.
func TestDumpBatchRecordsLogStartInsideBatch(t *testing.T) {
	dir := midBatchFixture(t)
	r := runCLI(t, dir, "", "dump", "t", "--batches", "--records")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "baseOffset: 0 lastOffset: 4 count: 5 ")
	assert.Contains(t, r.stdout, "baseOffset: 5 lastOffset: 9 count: 5 ")
	for offset := range 10 {
		line := fmt.Sprintf("| offset: %d CreateTime:", offset)
		if offset < 2 {
			assert.NotContains(t, r.stdout, line, "below the log start")
		} else {
			assert.Contains(t, r.stdout, line)
		}
	}

	r = runCLI(t, dir, "", "dump", "t", "--batches", "--records", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"base_offset":0,"last_offset":4,`)
	assert.Contains(t, r.stdout, `"records":[{"topic":"t","partition":0,"offset":2,`)
}
