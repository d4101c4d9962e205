package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// OffsetForTime against a model on random logs: batches of records whose
// timestamps go back and forth within and across batches and segments,
// compressed or not, cleaned by compaction (gaps in offsets, emptied
// batches), cut by DeleteRecords. The answer is the first record from the
// log start on, in offset order, not older than the time looked up.
func TestOffsetForTimeModel(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 31))
			l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: int64(1024 + rng.IntN(2048)), IndexIntervalBytes: 64 + rng.IntN(256)})
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS, CleanupPolicy: eventlog.CleanupCompactDelete}))
			p := partition(t, l, "t", 0)
			base := time.UnixMilli(1_700_000_000_000)
			codecs := []eventlog.Compression{eventlog.CompressionNone, eventlog.CompressionZstd, eventlog.CompressionSnappy}
			for step := range 60 {
				switch op := rng.IntN(10); {
				case op < 7:
					n := 1 + rng.IntN(6)
					recs := make([]eventlog.Record, n)
					for i := range recs {
						recs[i] = rec(fmt.Sprint("k", rng.IntN(8)), fmt.Sprint(step, ".", i))
						recs[i].Timestamp = base.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
					}
					_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: codecs[rng.IntN(len(codecs))]})
					require.NoError(t, err)
				case op < 8:
					end := p.HighWatermark()
					start := p.LogStartOffset()
					if end > start {
						_, err := l.DeleteRecords(ctx, "t", 0, start+rng.Int64N(end-start+1))
						require.NoError(t, err)
					}
				default:
					require.NoError(t, l.Compact(ctx, "t"))
				}
				all := readAll(t, p, p.LogStartOffset())
				for range 8 {
					ts := base.Add(time.Duration(rng.IntN(210)-5) * time.Millisecond)
					want, wantFound := int64(-1), false
					for _, r := range all {
						if !r.Timestamp.Before(ts) {
							want, wantFound = r.Offset, true
							break
						}
					}
					got, found, err := p.OffsetForTime(ts)
					require.NoError(t, err)
					require.Equal(t, wantFound, found, "step %d, time +%v", step, ts.Sub(base))
					if found {
						require.Equal(t, want, got, "step %d, time +%v", step, ts.Sub(base))
					}
				}
			}
		})
	}
}
