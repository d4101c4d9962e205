package eventlog_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestCommitDecisionFsyncFails pins a surprising case: the fsync of a
// commit's PrepareCommit fails. CommitTransaction cannot tell whether the
// decision reached the disk, and fails without ErrTransactionIncomplete;
// __transaction_state, failed (see Durability), takes nothing more, so
// neither the commit nor an abort can be retried in this process. The
// next Open decides: a decision that reached the disk commits the
// transaction, records and offsets, though CommitTransaction failed.
func TestCommitDecisionFsyncFails(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := completeLog(t, fsys)
	p := beginCompleteTxn(t, l)
	fsys.SetFault(failNth(1, func(op eventlog.Op, name string) bool {
		return op == eventlog.OpSync && strings.Contains(name, "__transaction_state")
	}))
	err := p.CommitTransaction(ctx)
	fsys.SetFault(nil)
	require.ErrorIs(t, err, eventlog.ErrInjected)
	assert.NotErrorIs(t, err, eventlog.ErrTransactionIncomplete, "the commit does not know that it is decided")
	assert.Error(t, p.CommitTransaction(ctx), "nor can it be retried")
	assert.Error(t, p.AbortTransaction(ctx), "nor aborted")
	assert.Empty(t, consume(t, l, eventlog.ReadCommitted, "out"))

	// The write reached the disk, its fsync failed: a crash keeps it.
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashKeepAll})
	_ = eventlog.Abandon(l)
	l = completeLog(t, fsys)
	defer l.Close()
	requireCommitted(t, l)
}
