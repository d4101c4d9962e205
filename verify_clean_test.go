package eventlog_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Damage in the active segment of a log closed cleanly is corruption, as
// Open judges it (Close fsynced the whole segment, so no crash explains
// it), not a torn tail that the next Open cuts: Verify reports it so,
// and its report is corrupt.
func TestVerifyDamagedActiveSegmentAfterCleanClose(t *testing.T) {
	dir := t.TempDir()
	logs := closedLog(t, dir, &eventlog.Options{SegmentBytes: 1 << 20}, 50)
	require.Len(t, logs, 1)
	seg := logs[0]
	data := mustRead(t, seg)
	data[200] ^= 0xff
	require.NoError(t, os.WriteFile(seg, data, 0o644))

	r := verify(t, dir)
	require.Len(t, r.Problems, 1)
	p := r.Problems[0]
	assert.Equal(t, eventlog.ProblemCorrupt, p.Kind, p)
	assert.Equal(t, seg, p.Path)
	assert.Equal(t, batchStartBefore(t, seg, 200), p.Pos)
	assert.Contains(t, p.Reason, "clean Close")
	assert.True(t, r.Corrupt())

	_, err := eventlog.Open(dir, nil)
	require.ErrorIs(t, err, eventlog.ErrCorrupt, "Open refuses it too")
}
