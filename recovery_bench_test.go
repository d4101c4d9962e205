package eventlog_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// BenchmarkReopenAfterCrash reopens a partition of about 1 GB, one active
// segment, after a crash that left 1000 records (about 130 KB) written
// after its last recovery point: Open resumes from the index files at the
// recovery point and scans the rest. The "full-scan" baseline removes the
// index files before each Open, so that Open scans the whole active
// segment, as it did for every crash before recovery points.
func BenchmarkReopenAfterCrash(b *testing.B) {
	// Just under a segment (1 GiB), so that the crashed tail stays in it.
	records := (1<<30)/(benchKeySize+benchValueSize+10) - 100000
	dir := b.TempDir()
	fillPartition(b, dir, records, 1000)
	// The records' timestamps are from 2023: without a longer SegmentAge
	// the next append would roll the segment.
	opts := &eventlog.Options{SegmentAge: 100 * 365 * 24 * time.Hour}
	l, err := eventlog.Open(dir, opts)
	require.NoError(b, err)
	p, err := l.Partition("bench", 0)
	require.NoError(b, err)
	require.NoError(b, eventlog.CheckpointRecoveryPoints(l)) // as the checkpointer does a second after Open
	_, err = p.Append(ctx, benchRecords(1000), eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	require.NoError(b, err)
	require.NoError(b, eventlog.Abandon(l))
	partDir := filepath.Join(dir, "topics", "bench", "0")
	names, err := os.ReadDir(partDir)
	require.NoError(b, err)
	require.Len(b, names, 4, "one segment, its indexes and recovery.meta: %v", names)
	for _, mode := range []string{"recovery-point", "full-scan"} {
		b.Run(mode, func(b *testing.B) {
			var scanned int64
			for b.Loop() {
				if mode == "full-scan" {
					b.StopTimer()
					for _, ext := range []string{".index", ".timeindex"} {
						if err := os.Remove(filepath.Join(partDir, "00000000000000000000"+ext)); err != nil && !os.IsNotExist(err) {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				l, err := eventlog.Open(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				rs := l.Recovery()
				if rs.CleanShutdown {
					b.Fatal("not a reopen after a crash")
				}
				scanned = rs.BytesScanned
				require.NoError(b, eventlog.Abandon(l))
			}
			b.ReportMetric(float64(scanned), "bytes-scanned")
		})
	}
}
