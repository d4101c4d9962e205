package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// On a DurabilityOS topic, DeleteRecords can move the log start offset
// past records a power loss then takes away. The offsets go to new
// appends; the checkpoint left past the log end must not, at a later
// Open, delete those new records, which nobody deleted.
func TestLogStartPastLostRecordsDeletesNoNewRecords(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 10, eventlog.AppendOptions{})
	start, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
	require.Equal(t, int64(10), start)
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = l.Close()

	l, err = eventlog.Open("/d", opts)
	require.NoError(t, err)
	p = partition(t, l, "t", 0)
	require.Equal(t, int64(0), p.LogEndOffset(), "the unsynced records are lost")
	assert.Equal(t, int64(0), p.LogStartOffset())
	appendN(t, p, 20, eventlog.AppendOptions{})
	require.NoError(t, l.Close())

	l = openLog(t, "/d", opts)
	p = partition(t, l, "t", 0)
	assert.Equal(t, int64(0), p.LogStartOffset(), "no record appended after the loss was deleted")
	assert.Len(t, readAll(t, p, p.LogStartOffset()), 20)
}
