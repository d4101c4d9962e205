package eventlog_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// mmapSegment maps a segment file read-only for a raw baseline.
func mmapSegment(b *testing.B, path string) []byte {
	b.Helper()
	f, err := eventlog.OSFS{}.OpenFile(path, os.O_RDONLY, 0)
	require.NoError(b, err)
	b.Cleanup(func() { _ = f.Close() })
	info, err := f.Stat()
	require.NoError(b, err)
	data, unmap, err := f.(interface {
		Mmap(int) ([]byte, func() error, error)
	}).Mmap(int(info.Size()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = unmap() })
	return data
}

// BenchmarkScan reads 1 million records from offset 0 through views,
// against a raw baseline that sums every eighth byte of an mmap of the same
// segment file, in the same run.
func BenchmarkScan(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	fillPartition(b, dir, n, 1000)
	segs, err := filepath.Glob(filepath.Join(dir, "topics", "bench", "0", "*.log"))
	require.NoError(b, err)
	require.Len(b, segs, 1)
	b.Run("raw-mmap-scan", func(b *testing.B) {
		data := mmapSegment(b, segs[0])
		b.SetBytes(int64(len(data)))
		var sum uint64
		for b.Loop() {
			for i := 0; i+8 <= len(data); i += 8 {
				sum += uint64(data[i])
			}
		}
		reportRecords(b, b.N*n)
		runtime.KeepAlive(sum)
	})
	b.Run("views", func(b *testing.B) {
		l, p := benchLog(b, dir, eventlog.TopicConfig{})
		defer l.Close()
		b.ReportAllocs()
		for b.Loop() {
			got, sum := 0, 0
			for v, err := range p.Views(0) {
				if err != nil {
					b.Fatal(err)
				}
				got++
				sum += len(v.Key) + len(v.Value)
			}
			if got != n {
				b.Fatalf("read %d records, want %d", got, n)
			}
		}
		reportRecords(b, b.N*n)
	})
}
