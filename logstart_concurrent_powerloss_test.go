package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The log start offset under power loss while appends run: appenders fill
// and roll segments while DeleteRecords and retention checks move the log
// start offset and delete segments, which they do holding no lock the
// appends wait for, and the power goes at a random operation of any of
// them. After every crash Verify finds no corruption, Open succeeds, the
// log reads densely from its log start offset to its high watermark, and
// every acknowledged record at or past the log start offset reads back
// unchanged.
//
// EVENTLOG_POWERLOSS_ITERATIONS sets the seeds per crash mode (default 12).
func TestPowerLossLogStartWhileAppending(t *testing.T) {
	seeds := envInt(t, "EVENTLOG_POWERLOSS_ITERATIONS", 12)
	if testing.Short() {
		seeds = 2
	}
	for _, mode := range append(powerLossModes, eventlog.CrashReorder) {
		t.Run(mode.String(), func(t *testing.T) {
			for seed := range uint64(seeds) {
				logStartWhileAppendingRun(t, seed, mode)
			}
		})
	}
}

func logStartWhileAppendingRun(t *testing.T, seed uint64, mode eventlog.CrashMode) {
	fsys := eventlog.NewMemFS()
	require.NoError(t, fsys.MkdirAll("/d", 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	sw := newPowerSwitch(fsys, mode, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024, IndexIntervalBytes: 128,
		SegmentAge: time.Hour, RetentionCheckInterval: time.Hour, RecoveryPointInterval: time.Hour}
	var mu sync.Mutex
	acked := map[int64]string{} // acknowledged, so durable: the topic fsyncs
	for round := range 6 {
		where := fmt.Sprintf("seed %d round %d", seed, round)
		sw.arm(0)
		if round > 0 {
			checkBeforeOpen(t, where, fsys)
		}
		l, err := eventlog.Open("/d", opts)
		require.NoError(t, err, where)
		if round == 0 {
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Retention: 3 * time.Hour, RetentionBytes: 4096}))
		}
		p := partition(t, l, "t", 0)
		start, hw := p.LogStartOffset(), p.HighWatermark()
		records := readAll(t, p, start)
		require.Equal(t, hw, start+int64(len(records)), "%s: every record up to the high watermark reads", where)
		for i, r := range records {
			require.Equal(t, start+int64(i), r.Offset, "%s: offsets are dense from the log start offset", where)
		}
		for off, value := range acked {
			if off < start {
				delete(acked, off) // deleted: by retention or DeleteRecords
				continue
			}
			require.Less(t, off, hw, "%s: acknowledged record at offset %d is lost", where, off)
			require.Equal(t, value, string(records[off-start].Value), "%s: acknowledged record at offset %d", where, off)
		}

		sw.arm(1 + rng.IntN(400))
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := 0; i < 150; i++ {
					value := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					off, err := p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: []byte(value), Timestamp: clk.Now()}}, eventlog.AppendOptions{})
					if err != nil {
						return // the power is cut
					}
					mu.Lock()
					acked[off] = value
					mu.Unlock()
				}
			})
		}
		appending := make(chan struct{})
		go func() { wg.Wait(); close(appending) }()
	deleting:
		for {
			select {
			case <-appending:
				break deleting
			default:
			}
			var err error
			if rng.IntN(2) == 0 {
				if start, hw := p.LogStartOffset(), p.HighWatermark(); hw > start {
					_, err = l.DeleteRecords(ctx, "t", 0, start+rng.Int64N((hw-start)/4+1))
				}
			} else {
				clk.Advance(time.Duration(rng.IntN(10)) * time.Minute)
				err = eventlog.EnforceRetention(l)
			}
			if err != nil || sw.isDead() {
				break
			}
		}
		wg.Wait()
		sw.cut()
		_ = eventlog.Abandon(l)
	}
}
