package eventlog_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// BenchmarkVerify checks a 64 MiB log with Verify, against two baselines
// in the same run, interleaved op by op: reading the same segment files
// into a buffer (read(2), no checking), and mapping each and computing one
// CRC-32C over it whole (the least that checking every byte through a
// mapping costs). All read from a warm page cache.
func BenchmarkVerify(b *testing.B) {
	for _, shape := range []struct {
		name      string
		perBatch  int
		valueSize int
	}{
		{"1000-record-batches", 1000, 100},
		{"1-record-batches", 1, 100},
	} {
		b.Run(shape.name, func(b *testing.B) {
			dir := b.TempDir()
			l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS, SegmentBytes: 16 << 20})
			require.NoError(b, err)
			require.NoError(b, l.CreateTopic("t", eventlog.TopicConfig{}))
			p, err := l.Partition("t", 0)
			require.NoError(b, err)
			batch := make([]eventlog.Record, shape.perBatch)
			for i := range batch {
				batch[i] = eventlog.Record{Key: bytes.Repeat([]byte{'k'}, 16), Value: bytes.Repeat([]byte{'v'}, shape.valueSize)}
			}
			for p.LogEndOffset()*int64(shape.valueSize+16) < 64<<20 {
				_, err := p.Append(ctx, batch, eventlog.AppendOptions{})
				require.NoError(b, err)
			}
			require.NoError(b, l.Close())
			logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
			require.NoError(b, err)
			var total int64
			for _, path := range logs {
				info, err := os.Stat(path)
				require.NoError(b, err)
				total += info.Size()
			}
			// The three are timed op by op in turn, so that each sees the
			// same machine: it is shared, and its speed swings.
			buf := make([]byte, 1<<20)
			crcTable := crc32.MakeTable(crc32.Castagnoli)
			var raw, crc, verify time.Duration
			for b.Loop() {
				start := time.Now()
				for _, path := range logs {
					f, err := os.Open(path)
					require.NoError(b, err)
					_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
					require.NoError(b, errors.Join(err, f.Close()))
				}
				raw += time.Since(start)
				start = time.Now()
				for _, path := range logs {
					_ = crc32.Checksum(mmapSegment(b, path), crcTable)
				}
				crc += time.Since(start)
				start = time.Now()
				r, err := eventlog.Verify(ctx, dir, nil)
				require.NoError(b, err)
				require.Empty(b, r.Problems)
				verify += time.Since(start)
			}
			mbps := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() / 1e6 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(mbps(raw), "raw-read-MB/s")
			b.ReportMetric(mbps(crc), "mmap-crc-MB/s")
			b.ReportMetric(mbps(verify), "verify-MB/s")
			b.ReportMetric(raw.Seconds()/verify.Seconds(), "verify/raw")
		})
	}
}
