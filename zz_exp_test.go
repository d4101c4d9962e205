package eventlog

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func BenchmarkZZExp(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	l, _ := Open(dir, nil)
	l.CreateTopic("bench", TopicConfig{Durability: DurabilityOS})
	p, _ := l.Partition("bench", 0)
	recs := make([]Record, 1000)
	for i := range recs {
		key := fmt.Appendf(nil, "key-%012d", i)
		recs[i] = Record{Key: key[:16], Value: make([]byte, 100), Timestamp: time.UnixMilli(1_700_000_000_000)}
	}
	for i := 0; i < n; i += 1000 {
		p.Append(context.Background(), recs, AppendOptions{})
	}
	l.Close()
	l, _ = Open(dir, nil)
	defer l.Close()
	p, _ = l.Partition("bench", 0)
	for _, mode := range []string{"grow", "fresh-cap", "reuse"} {
		for _, mb := range []int{1 << 20, 10 << 20} {
		b.Run(fmt.Sprint(mode, mb), func(b *testing.B) {
			var buf []Record
			for b.Loop() {
				for off := int64(0); off < n; {
					var out []Record
					switch mode {
					case "fresh-cap":
						out = make([]Record, 0, 10000)
					case "reuse":
						if buf == nil {
							buf = make([]Record, 0, mb/100)
						}
						out = buf[:0]
					}
					r, err := p.read(out, off, mb)
					if err != nil {
						b.Fatal(err)
					}
					off = r[len(r)-1].Offset + 1
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
		}
	}
}
