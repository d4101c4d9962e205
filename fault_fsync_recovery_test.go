package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestFaultFailedFsyncThenProcessCrash: the pages of a batch whose fsync
// failed stay in the page cache, marked clean, after the process dies: the
// next process reads the batch as written, but no fsync writes it. Open
// after the crash must not take it for durable: the producer's retry is
// answered with its offset, and a power loss after that must not take
// the batch away.
func TestFaultFailedFsyncThenProcessCrash(t *testing.T) {
	fsys, l, opts := faultLog(t, 1)
	p := partition_(t, l, 0)
	id := eventlog.ProducerID{ID: 7}
	batch := func(seq int32, value string) (int64, error) {
		return p.Append(ctx, []eventlog.Record{rec("k", value)}, eventlog.AppendOptions{Producer: id, Sequence: seq})
	}
	_, err := batch(0, "acked")
	require.NoError(t, err)
	fsys.SetFault(failNth(1, onLog(eventlog.OpSync)))
	_, err = batch(1, "retried")
	require.ErrorIs(t, err, eventlog.ErrInjected)
	fsys.SetFault(nil)
	require.NoError(t, eventlog.Abandon(l))
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashKeepAll}) // the process dies

	l = openLog(t, faultDir, opts)
	p = partition_(t, l, 0)
	off, err := batch(1, "retried") // the producer retries, as it must
	require.NoError(t, err)
	assert.Equal(t, int64(1), off)
	require.NoError(t, eventlog.Abandon(l))
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced}) // the power goes

	l = openLog(t, faultDir, opts)
	requireValues(t, partition_(t, l, 0), []string{"acked", "retried"})
}
