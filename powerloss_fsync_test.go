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
	iterations := envInt(t, "EVENTLOG_POWERLOSS_ITERATIONS", 12)
	if testing.Short() {
		iterations = 2
	}
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		for _, mode := range append(slices.Clone(powerLossModes), eventlog.CrashReorder) {
			t.Run(fmt.Sprintf("%v/%v", durability, mode), func(t *testing.T) {
				var records, failed int
				for seed := range iterations {
					run := newPowerLossRun(t, mode, durability, uint64(seed))
					run.failSyncs = 2 + seed%3*4 // 2, 6 or 10 percent
					for round := range 3 {
						run.session(round)
						recs := run.reopen()
						if t.Failed() {
							t.Fatalf("seed %d round %d", seed, round)
						}
						records = max(records, len(recs))
					}
					run.sw.mu.Lock()
					failed += run.sw.failed
					run.sw.mu.Unlock()
				}
				t.Logf("%d seeds, up to %d records recovered, %d Syncs failed", iterations, records, failed)
			})
		}
	}
}
