package eventlog_test

import (
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Power cuts during an Open with Options.Repair that cuts damage in a
// closed segment of __consumer_offsets (repair.go): whatever the cut, the
// next Open with Repair finishes the repair, keeping the commits before the
// damage, and the Log goes on.

func TestRepairClosedSegmentPowerCuts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		segIdx int // the damaged segment, of ten
		batch  int // the damaged batch in it
	}{
		{"damage at the segment start", 4, 0},
		{"damage inside the segment", 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const partDir = powerLossDir + "/topics/__consumer_offsets/0"
			clk := newClock()
			opts := func(fsys *eventlog.MemFS, repair bool) *eventlog.Options {
				return &eventlog.Options{FS: fsys, SegmentAge: time.Minute, Now: clk.Now, Repair: repair}
			}
			damaged := eventlog.NewMemFS()
			require.NoError(t, damaged.MkdirAll(powerLossDir, 0o755))
			require.NoError(t, damaged.SyncDir("/"))
			l, err := eventlog.Open(powerLossDir, opts(damaged, false))
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			appendN(t, partition(t, l, "t", 0), 100, eventlog.AppendOptions{})
			for i := 1; i <= 30; i++ {
				if i%3 == 0 {
					clk.Advance(2 * time.Minute) // three commits a segment
				}
				require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: int64(i)}}))
			}
			require.NoError(t, l.Close())
			names, err := damaged.ReadDir(partDir)
			require.NoError(t, err)
			var segs []string
			for _, n := range names {
				if strings.HasSuffix(n, ".log") {
					segs = append(segs, path.Join(partDir, n))
				}
			}
			require.GreaterOrEqual(t, len(segs), 6)
			data, err := damaged.ReadFile(segs[tc.segIdx])
			require.NoError(t, err)
			pos := 0
			for range tc.batch {
				pos += 12 + int(beUint32(data[pos+8:]))
			}
			require.Less(t, pos, len(data))
			data[pos+60] ^= 0x80 // the record count
			require.NoError(t, damaged.WriteFile(segs[tc.segIdx], data, 0o644))

			reference := func(l *eventlog.Log) int64 { return committedT0(t, l) }
			ref := cloneMemFS(t, damaged)
			l, err = eventlog.Open(powerLossDir, opts(ref, true))
			require.NoError(t, err)
			want := reference(l)
			require.NotEmpty(t, l.Recovery().Repaired)
			t.Logf("committed %d, repaired %v", want, l.Recovery().Repaired)
			require.NoError(t, l.Close())

			for _, mode := range []eventlog.CrashMode{eventlog.CrashDropUnsynced, eventlog.CrashKeepAll, eventlog.CrashRandom, eventlog.CrashReorder} {
				for at := 1; ; at++ {
					require.Less(t, at, 1000, "Open never ended")
					fsys := cloneMemFS(t, damaged)
					sw := newPowerSwitch(fsys, mode, uint64(at))
					sw.arm(at)
					l, err := eventlog.Open(powerLossDir, opts(fsys, true))
					if err == nil {
						_ = eventlog.Abandon(l)
					} else {
						require.True(t, sw.isDead(), "Open failed with the power on: %v", err)
					}
					done := !sw.isDead()
					sw.cut()
					sw.arm(0)
					where := fmt.Sprintf("%v, cut at %d", mode, at)
					l, err = eventlog.Open(powerLossDir, opts(fsys, true))
					require.NoError(t, err, where)
					assert.Equal(t, want, reference(l), where)
					require.NoError(t, l.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp("t", 0): {Offset: 77}}), where)
					require.NoError(t, l.Close(), where)
					l, err = eventlog.Open(powerLossDir, opts(fsys, false))
					require.NoError(t, err, where)
					assert.Equal(t, int64(77), reference(l), where)
					require.NoError(t, l.Close(), where)
					if t.Failed() || done {
						t.Logf("%v: %d cuts", mode, at)
						break
					}
				}
			}
		})
	}
}
