package eventlog_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/eventlog/eventlog"
)

// TestPowerLossFailedFsync runs the power-loss sessions of TestPowerLoss
// with some of the Syncs failing, as on a disk with writeback errors: the
// MemFS loses the bytes a failed Sync did not write even when a later one
// succeeds, as Linux does. A failed fsync fails the partition, so nothing
// appended since is acknowledged; every record acknowledged before must
// still survive the power cut that ends the session, in every crash mode,
// CrashReorder included.
//
// EVENTLOG_POWERLOSS_ITERATIONS sets the seeds per crash mode and
// durability (default 12).
func TestPowerLossFailedFsync(t *testing.T) {
	iterations := envIterations(t, "EVENTLOG_POWERLOSS_ITERATIONS", 12, 2)
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		for _, mode := range append(slices.Clone(powerLossModes), eventlog.CrashReorder) {
			t.Run(fmt.Sprintf("%v/%v", durability, mode), func(t *testing.T) {
				var records, failed int
				for seed := range iterations {
					run := newPowerLossRun(t, mode, durability, uint64(seed))
					run.failSyncs = 2 + seed%3*4 // 2, 6 or 10 percent
					records = max(records, run.sessionsAndReopens(seed, 3))
					failed += run.sw.failedSyncs()
				}
				t.Logf("%d seeds, up to %d records recovered, %d Syncs failed", iterations, records, failed)
			})
		}
		// A process crash (CrashKeepAll) keeps the bytes a failed Sync
		// lost readable to the next Open; a power loss after it takes them.
		t.Run(fmt.Sprintf("%v/process crash, then power loss", durability), func(t *testing.T) {
			failed := 0
			for seed := range iterations {
				run := newPowerLossRun(t, eventlog.CrashKeepAll, durability, uint64(seed))
				run.failSyncs = 2 + seed%3*4
				for round := range 6 {
					mode := eventlog.CrashKeepAll
					if run.rng.IntN(2) == 0 {
						mode = powerLossModes[run.rng.IntN(len(powerLossModes))]
					}
					run.sw.setMode(mode)
					run.session(round)
					run.reopen()
					if t.Failed() {
						t.Fatalf("seed %d round %d", seed, round)
					}
				}
				failed += run.sw.failedSyncs()
			}
			t.Logf("%d seeds, %d Syncs failed", iterations, failed)
		})
	}
}

// TestTransactionPowerLossFailedFsync runs the random rounds of
// TestTransactionPowerLoss (consume, transform, produce and commit the
// input offsets in one transaction) with some of the Syncs failing: every
// transaction acknowledged as committed must survive the power cut that
// ends each session, with its output and its offsets.
//
// EVENTLOG_TXN_POWERLOSS_ITERATIONS sets the runs from scratch per crash
// mode (default 8).
func TestTransactionPowerLossFailedFsync(t *testing.T) {
	rounds := envIterations(t, "EVENTLOG_TXN_POWERLOSS_ITERATIONS", 8, 3)
	for _, mode := range txnPowerLossModes {
		t.Run(mode.String(), func(t *testing.T) {
			sessions, failed := 0, 0
			for seed := range uint64(rounds) {
				r := newPowerLossRun(t, mode, eventlog.DurabilityFsync, 200+seed)
				r.failSyncs = 1 + int(seed%3)*2 // 1, 3 or 5 percent
				eoOptions(r)
				var acked int64
				for round := 0; round < 40 && acked < eoInputs; round++ {
					eoSession(t, r, 1+r.rng.IntN(600), 0, &acked)
					acked = eoReopen(t, r, acked)
					sessions++
				}
				failed += r.sw.failedSyncs()
			}
			t.Logf("%d sessions, %d Syncs failed", sessions, failed)
		})
	}
}
