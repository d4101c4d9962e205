package eventlog_test

import (
	"testing"

	"github.com/eventlog/eventlog"
)

// BenchmarkReplayScan reads 1 million records (16 B keys, 100 B values,
// 1000-record batches, the same 1000 keys in each batch) from the start,
// warm, where the read path rather than the map is most of the time:
// "views" through Partition.Views, summing the key and value lengths as a
// reference; "replay" through Log.Replay with the same body; "replay-latest"
// through Log.ReplayLatest, which keeps the newest value of the 1000 keys;
// and "replay-latest-unique" through ReplayLatest of 1 million records of
// as many keys, each put in the map once.
func BenchmarkReplayScan(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	fillPartition(b, dir, n, 1000)
	l, p := benchLog(b, dir, eventlog.TopicConfig{})
	defer l.Close()
	scanViews(b, p, n) // map the segment, load its index
	b.Run("views", func(b *testing.B) {
		sum := 0
		for b.Loop() {
			for v, err := range p.Views(0) {
				if err != nil {
					b.Fatal(err)
				}
				sum += len(v.Key) + len(v.Value)
			}
		}
		if sum != b.N*n*(benchKeySize+benchValueSize) {
			b.Fatal(sum)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("replay", func(b *testing.B) {
		sum := 0
		for b.Loop() {
			err := l.Replay(ctx, "bench", func(v *eventlog.RecordView) error {
				sum += len(v.Key) + len(v.Value)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if sum != b.N*n*(benchKeySize+benchValueSize) {
			b.Fatal(sum)
		}
		reportRecords(b, b.N*n)
	})
	b.Run("replay-latest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			latest, err := l.ReplayLatest(ctx, "bench")
			if err != nil || len(latest) != 1000 {
				b.Fatal(len(latest), err)
			}
		}
		reportRecords(b, b.N*n)
	})
	unique := b.TempDir()
	fillCompactBench(b, unique, n*(16+100+20), 1)
	b.Run("replay-latest-unique", func(b *testing.B) {
		opts := compactBenchOptions
		l, err := eventlog.Open(unique, &opts)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.ReportAllocs()
		for b.Loop() {
			latest, err := l.ReplayLatest(ctx, "bench")
			if err != nil || len(latest) != n {
				b.Fatal(len(latest), err)
			}
		}
		reportRecords(b, b.N*n)
	})
}
