package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// On a DurabilityOS topic, DeleteRecords can move the log start offset
// past records a power loss then takes away. The offsets go to new
// appends; the checkpoint left past the log end must not, at a later
// Open, delete those new records, which nobody deleted.
func TestLogStartPastLostRecordsDeletesNoNewRecords(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 10, eventlog.AppendOptions{})
	start, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
	require.Equal(t, int64(10), start)
	fsys.Crash(eventlog.CrashOptions{Mode: eventlog.CrashDropUnsynced})
	_ = l.Close()

	l, err = eventlog.Open("/d", opts)
	require.NoError(t, err)
	p = partition(t, l, "t", 0)
	require.Equal(t, int64(0), p.LogEndOffset(), "the unsynced records are lost")
	assert.Equal(t, int64(0), p.LogStartOffset())
	appendN(t, p, 20, eventlog.AppendOptions{})
	require.NoError(t, l.Close())

	l = openLog(t, "/d", opts)
	p = partition(t, l, "t", 0)
	assert.Equal(t, int64(0), p.LogStartOffset(), "no record appended after the loss was deleted")
	assert.Len(t, readAll(t, p, p.LogStartOffset()), 20)
}

// Retention and DeleteRecords remove the files of the segments they drop
// without syncing the directory: the log start offset checkpoint, made
// durable first, is what tells Open to drop them again. A power loss that
// keeps the removal of one dropped segment's .log but loses that of the one
// before it, as a disk that persists directory changes out of order may,
// leaves a segment below the log start offset followed by a gap: Open must
// drop it as it drops any segment below the log start offset, not refuse
// the log as if a stray file sat before the active segment (nor, with
// Repair, set the active segment aside); a read-only Log and Verify
// neither.
func TestOpenAfterSegmentRemovalsPersistedOutOfOrder(t *testing.T) {
	for _, repair := range []bool{false, true} {
		t.Run(fmt.Sprintf("repair=%v", repair), func(t *testing.T) {
			fsys := eventlog.NewMemFS()
			opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
			l, err := eventlog.Open("/d", opts)
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			p := partition(t, l, "t", 0)
			appendN(t, p, 40, eventlog.AppendOptions{})
			bases := segmentBases(t, fsys, "/d/topics/t/0")
			require.GreaterOrEqual(t, len(bases), 3)
			first := fmt.Sprintf("/d/topics/t/0/%020d.log", bases[0])
			kept, err := fsys.ReadFile(first)
			require.NoError(t, err)

			start := bases[2]
			_, err = l.DeleteRecords(ctx, "t", 0, start)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			// The removal of the first segment's .log did not reach the disk.
			require.NoError(t, fsys.WriteFile(first, kept, 0o644))

			// Verify finds nothing wrong, and a read-only Log reads it as
			// Open recovers it.
			report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
			require.NoError(t, err)
			assert.False(t, report.Corrupt(), "%v", report.Problems)
			ro, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, ReadOnly: true})
			require.NoError(t, err)
			assert.Equal(t, start, partition(t, ro, "t", 0).LogStartOffset())
			assert.Equal(t, int64(40), partition(t, ro, "t", 0).HighWatermark())
			require.NoError(t, ro.Close())

			opts.Repair = repair
			l = openLog(t, "/d", opts)
			p = partition(t, l, "t", 0)
			assert.Equal(t, start, p.LogStartOffset())
			assert.Equal(t, int64(40), p.LogEndOffset())
			recs := readAll(t, p, start)
			require.NotEmpty(t, recs)
			assert.Equal(t, start, recs[0].Offset)
			assert.Equal(t, int64(39), recs[len(recs)-1].Offset)
			assert.Equal(t, bases[2:], segmentBases(t, fsys, "/d/topics/t/0"), "the segment below the log start offset is removed again")
			assert.Empty(t, l.Recovery().Repaired, "nothing is set aside")
		})
	}
}

// The log start offset under power loss: sessions of appends, DeleteRecords,
// retention checks (which also roll aged segments) and AlterTopicConfig,
// each ended by a power cut at a random operation or after a clean Close,
// with every crash mode, on fsync and OS topics, with and without
// retention. After every crash Open must succeed, the log must read densely
// from its log start offset to its high watermark, and a record that was
// durable — acknowledged on an fsync topic, or there after a clean Close —
// must read back unchanged, unless the log start offset passed it; without
// retention, only a DeleteRecords asked for after it, to an offset past
// it, may have. A clean Close keeps the log start and end offsets. Before
// each Open, Verify must find no corruption, and a read-only Log must read
// what the Open recovers.
//
// EVENTLOG_POWERLOSS_ITERATIONS sets the seeds (default 12).
func TestPowerLossLogStartOffset(t *testing.T) {
	seeds := envInt(t, "EVENTLOG_POWERLOSS_ITERATIONS", 12)
	for _, mode := range append(powerLossModes, eventlog.CrashReorder) {
		for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
			for _, retention := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%v/retention=%v", mode, durability, retention), func(t *testing.T) {
					for seed := range uint64(seeds) {
						logStartPowerLossRun(t, seed, mode, durability, retention)
					}
				})
			}
		}
	}
}

// durableRecord is a record that must survive crashes, with the step of the
// history at which it became durable.
type durableRecord struct {
	value string
	step  int
}

// deleteAsked is a DeleteRecords call of the history: its step and offset.
type deleteAsked struct {
	step   int
	offset int64
}

func logStartPowerLossRun(t *testing.T, seed uint64, mode eventlog.CrashMode, durability eventlog.Durability, retention bool) {
	fsys := eventlog.NewMemFS()
	require.NoError(t, fsys.MkdirAll("/d", 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	sw := newPowerSwitch(fsys, mode, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 1024, IndexIntervalBytes: 128, SegmentAge: time.Hour}
	cfg := eventlog.TopicConfig{Durability: durability}
	if retention {
		cfg.Retention, cfg.RetentionBytes = 3*time.Hour, 4096
	}
	durable := map[int64]durableRecord{}
	var deletes []deleteAsked
	step, appended := 0, 0
	for round := range 8 {
		where := fmt.Sprintf("seed %d round %d", seed, round)
		sw.arm(0)
		var roStart, roHW int64
		if round > 0 {
			roStart, roHW = checkBeforeOpen(t, where, fsys)
		}
		l, err := eventlog.Open("/d", opts)
		require.NoError(t, err, where)
		if round == 0 {
			require.NoError(t, l.CreateTopic("t", cfg))
		}
		p := partition(t, l, "t", 0)
		if round > 0 {
			require.Equal(t, p.LogStartOffset(), roStart, "%s: the read-only Log's log start offset", where)
			require.Equal(t, p.HighWatermark(), roHW, "%s: the read-only Log's high watermark", where)
		}
		checkLogStartInvariants(t, where, p, durable, deletes, retention)

		sw.arm(1 + rng.IntN(200))
		for range 100 {
			step++
			var err error
			switch k := rng.IntN(40); {
			case k < 24:
				value := fmt.Sprintf("v%d", appended)
				appended++
				opts := eventlog.AppendOptions{}
				if rng.IntN(4) == 0 {
					opts.Durability = eventlog.DurabilityOS // acknowledged before it is durable
				}
				var off int64
				off, err = p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: []byte(value), Timestamp: clk.Now()}}, opts)
				if err == nil && durability == eventlog.DurabilityFsync && opts.Durability != eventlog.DurabilityOS {
					durable[off] = durableRecord{value, step}
				}
			case k < 28:
				if start, hw := p.LogStartOffset(), p.HighWatermark(); hw > start {
					off := hw // all that is visible, what a power loss may take on an OS topic
					if rng.IntN(2) == 0 {
						off = start + rng.Int64N(hw-start+1)
					}
					deletes = append(deletes, deleteAsked{step, off})
					_, err = l.DeleteRecords(ctx, "t", 0, off)
					if rng.IntN(4) == 0 {
						sw.cut() // before what it deleted is durable, on an OS topic
					}
				}
			case k < 29:
				c := cfg
				if rng.IntN(2) == 0 {
					c.SegmentBytes = int64(1024 + rng.IntN(4096))
				}
				err = l.AlterTopicConfig(ctx, "t", c)
			case k < 32:
				clk.Advance(time.Duration(rng.IntN(90)) * time.Minute)
				err = eventlog.EnforceRetention(l)
			}
			if err != nil {
				break // the power is cut
			}
		}
		if rng.IntN(2) == 0 {
			start, end := p.LogStartOffset(), p.LogEndOffset()
			if l.Close() == nil {
				// Everything is durable: a reopen finds it all.
				step++
				for off := range durable {
					if off >= end {
						delete(durable, off) // lost, its offset given to another
					}
				}
				sw.arm(0)
				l, err := eventlog.Open("/d", opts)
				require.NoError(t, err, where)
				p := partition(t, l, "t", 0)
				require.Equal(t, start, p.LogStartOffset(), "%s: a clean Close keeps the log start offset", where)
				require.Equal(t, end, p.HighWatermark(), "%s: a clean Close keeps every record", where)
				for _, r := range readAll(t, p, start) {
					durable[r.Offset] = durableRecord{string(r.Value), step}
				}
				require.NoError(t, l.Close())
			}
		}
		sw.cut()
		_ = l.Close()
	}
}

// checkLogStartInvariants checks a partition just opened after a crash
// against the history (see TestPowerLossLogStartOffset).
func checkLogStartInvariants(t *testing.T, where string, p *eventlog.Partition, durable map[int64]durableRecord, deletes []deleteAsked, retention bool) {
	t.Helper()
	start, hw := p.LogStartOffset(), p.HighWatermark()
	require.LessOrEqual(t, start, hw, where)
	records := readAll(t, p, start)
	for i, r := range records {
		require.Equal(t, start+int64(i), r.Offset, "%s: offsets are dense from the log start offset", where)
	}
	require.Equal(t, hw, start+int64(len(records)), "%s: every record up to the high watermark reads", where)
	for off, d := range durable {
		if off >= start {
			require.Equal(t, d.value, string(records[off-start].Value), "%s: durable record at offset %d", where, off)
			continue
		}
		if retention {
			continue
		}
		deleted := false
		for _, del := range deletes {
			deleted = deleted || del.step > d.step && del.offset > off
		}
		require.True(t, deleted, "%s: durable record at offset %d is gone, below the log start offset %d, which no DeleteRecords asked for", where, off, start)
	}
}

// checkBeforeOpen checks, on a log a power loss left, that Verify finds no
// corruption, and returns the log start offset and high watermark a
// read-only Log reads, which Open must recover.
func checkBeforeOpen(t *testing.T, where string, fsys *eventlog.MemFS) (start, hw int64) {
	t.Helper()
	report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err, where)
	require.False(t, report.Corrupt(), "%s: %v", where, report.Problems)
	ro, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, ReadOnly: true})
	require.NoError(t, err, where)
	p := partition(t, ro, "t", 0)
	start, hw = p.LogStartOffset(), p.HighWatermark()
	require.NoError(t, ro.Close())
	return start, hw
}
