package eventlog_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

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

// scanViews reads p through views from 0 and checks it saw n records.
func scanViews(b *testing.B, p *eventlog.Partition, n int) {
	b.Helper()
	got := 0
	for _, err := range p.Views(0) {
		if err != nil {
			b.Fatal(err)
		}
		got++
	}
	if got != n {
		b.Fatalf("read %d records, want %d", got, n)
	}
}

// BenchmarkScanCompressed scans 1 million records in batches of 1000
// compressed with each codec through views, against decompressing the same
// batches straight from the segment file with klauspost/compress (and
// pierrec/lz4's frame reader) in the same run: the cost of the codec alone.
func BenchmarkScanCompressed(b *testing.B) {
	const n = 1_000_000
	for _, codec := range []eventlog.Compression{eventlog.CompressionSnappy, eventlog.CompressionLZ4, eventlog.CompressionZstd, eventlog.CompressionGzip} {
		b.Run(codec.String(), func(b *testing.B) {
			dir := b.TempDir()
			l, p := benchLog(b, dir, eventlog.TopicConfig{Durability: eventlog.DurabilityOS})
			recs := benchRecords(1000)
			for i := 0; i < n; i += len(recs) {
				_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: codec})
				require.NoError(b, err)
			}
			require.NoError(b, l.Close())
			segs, err := filepath.Glob(filepath.Join(dir, "topics", "bench", "0", "*.log"))
			require.NoError(b, err)
			require.Len(b, segs, 1)
			b.Run("decompress-alone", func(b *testing.B) {
				data := mmapSegment(b, segs[0])
				var buf []byte
				for b.Loop() {
					for pos := 0; pos < len(data); {
						size := 12 + int(binary.BigEndian.Uint32(data[pos+8:]))
						buf, err = decompressDirect(buf[:0], data[pos+61:pos+size], codec)
						if err != nil {
							b.Fatal(err)
						}
						pos += size
					}
				}
				reportRecords(b, b.N*n)
			})
			b.Run("views", func(b *testing.B) {
				l, p := benchLog(b, dir, eventlog.TopicConfig{})
				defer l.Close()
				scanViews(b, p, n)
				b.ReportAllocs()
				for b.Loop() {
					scanViews(b, p, n)
				}
				reportRecords(b, b.N*n)
			})
		})
	}
}

var zstdDirect, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))

// decompressDirect decompresses a batch's records area with
// klauspost/compress, undoing the xerial framing of snappy by hand.
func decompressDirect(dst, src []byte, c eventlog.Compression) ([]byte, error) {
	switch c {
	case eventlog.CompressionZstd:
		return zstdDirect.DecodeAll(src, dst)
	case eventlog.CompressionSnappy:
		for p := 16; p < len(src); { // after the 16-byte xerial header
			size := int(binary.BigEndian.Uint32(src[p:]))
			n, err := snappy.DecodedLen(src[p+4 : p+4+size])
			if err != nil {
				return dst, err
			}
			start := len(dst)
			dst = slices.Grow(dst, n)[:start+n]
			if _, err := snappy.Decode(dst[start:], src[p+4:p+4+size]); err != nil {
				return dst, err
			}
			p += 4 + size
		}
		return dst, nil
	case eventlog.CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return dst, err
		}
		w := bytes.NewBuffer(dst)
		_, err = io.Copy(w, r)
		return w.Bytes(), err
	case eventlog.CompressionLZ4:
		w := bytes.NewBuffer(dst)
		_, err := io.Copy(w, lz4.NewReader(bytes.NewReader(src)))
		return w.Bytes(), err
	}
	return dst, fmt.Errorf("codec %s", c)
}

// BenchmarkHeapWhileScanning1GB scans about 1 GB through views and reports
// the largest heap in use seen meanwhile: it stays flat, whatever the size
// of the log.
func BenchmarkHeapWhileScanning1GB(b *testing.B) {
	const batch = 1000
	batches := (1 << 30) / (batch * (benchKeySize + benchValueSize + 10))
	dir := b.TempDir()
	fillPartition(b, dir, batches*batch, batch)
	l, p := benchLog(b, dir, eventlog.TopicConfig{})
	defer l.Close()
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		start, peak := ms.HeapInuse, ms.HeapInuse
		got := 0
		for _, err := range p.Views(0) {
			if err != nil {
				b.Fatal(err)
			}
			if got++; got%100_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		if got != batches*batch {
			b.Fatalf("read %d records, want %d", got, batches*batch)
		}
		b.ReportMetric(float64(peak-start)/(1<<20), "heap-growth-MB")
		b.ReportMetric(float64(peak)/(1<<20), "max-heap-MB")
	}
}
