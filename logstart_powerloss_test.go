package eventlog_test

import (
	"fmt"
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

// Retention and DeleteRecords remove the files of the segments they drop
// without syncing the directory: the log start offset checkpoint, made
// durable first, is what tells Open to drop them again. A power loss that
// keeps the removal of one dropped segment's .log but loses that of the one
// before it, as a disk that persists directory changes out of order may,
// leaves a segment below the log start offset followed by a gap: Open must
// drop it as it drops any segment below the log start offset, not refuse
// the log as if a stray file sat before the active segment (nor, with
// Repair, set the active segment aside); a read-only Log and Verify
// neither.
func TestOpenAfterSegmentRemovalsPersistedOutOfOrder(t *testing.T) {
	for _, repair := range []bool{false, true} {
		t.Run(fmt.Sprintf("repair=%v", repair), func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
			l, err := eventlog.Open("/d", opts)
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 40, eventlog.AppendOptions{})
			bases := segmentBases(t, fsys, "/d/topics/t/0")
			require.GreaterOrEqual(t, len(bases), 3)
			first := fmt.Sprintf("/d/topics/t/0/%020d.log", bases[0])
			kept, err := fsys.ReadFile(first)
			require.NoError(t, err)

			start := bases[2]
			_, err = l.DeleteRecords(ctx, "t", 0, start)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			// The removal of the first segment's .log did not reach the disk.
			require.NoError(t, fsys.WriteFile(first, kept, 0o644))

			// Verify finds nothing wrong, and a read-only Log reads it as
			// Open recovers it.
			report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
			require.NoError(t, err)
			assert.False(t, report.Corrupt(), "%v", report.Problems)
			ro, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, ReadOnly: true})
			require.NoError(t, err)
			assert.Equal(t, start, partition(t, ro, "t", 0).LogStartOffset())
			assert.Equal(t, int64(40), partition(t, ro, "t", 0).HighWatermark())
			require.NoError(t, ro.Close())

			opts.Repair = repair
			l = openLog(t, "/d", opts)
			p = partition(t, l, "t", 0)
			assert.Equal(t, start, p.LogStartOffset())
			assert.Equal(t, int64(40), p.LogEndOffset())
			recs := readAll(t, p, start)
			require.NotEmpty(t, recs)
			assert.Equal(t, start, recs[0].Offset)
			assert.Equal(t, int64(39), recs[len(recs)-1].Offset)
			assert.Equal(t, bases[2:], segmentBases(t, fsys, "/d/topics/t/0"), "the segment below the log start offset is removed again")
			assert.Empty(t, l.Recovery().Repaired, "nothing is set aside")
		})
	}
}
