package eventlog_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The out-of-order power-loss tests. A disk writes unsynced pages back in
// any order, so a power loss can keep a later page of the active segment
// and lose an earlier one (CrashReorder). Below the partition's recovery
// point — what an fsync covered — that cannot happen; above it, it is an
// ordinary crash, and Open must cut it by itself.
//
// EVENTLOG_REORDER_ITERATIONS sets the seeds of TestPowerLossReorder per
// durability (default 40; CI sets 250, about 30 s under -race). The long run:
//
//	EVENTLOG_REORDER_ITERATIONS=10000 go test -run '^TestPowerLossReorder$' -timeout 0 .

// TestPowerLossReorder is TestPowerLoss with pages and directory changes
// persisted out of order, and recovery points checkpointed every
// millisecond so that crashes fall on both sides of them. After every cut
// Open succeeds without Repair, every acknowledged record is there byte for
// byte, nothing was invented, and recovery is idempotent, also when the
// power goes again during it (see powerLossRun.reopen).
func TestPowerLossReorder(t *testing.T) {
	iterations := envIterations(t, "EVENTLOG_REORDER_ITERATIONS", 40, 4)
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		t.Run(durability.String(), func(t *testing.T) {
			var records, cut int
			for seed := range iterations {
				run := newPowerLossRun(t, eventlog.CrashReorder, durability, uint64(seed))
				run.opts.RecoveryPointInterval = time.Millisecond
				records = max(records, run.sessionsAndReopens(seed, 3))
				cut += run.cuts["during appends"]
			}
			t.Logf("%d seeds, up to %d records recovered, %d cuts during appends", iterations, records, cut)
		})
	}
}

// flipLog is a crashed log for the bit-flip tests: a fsync topic whose
// active segment has a persisted recovery point at rp, with acknowledged
// batches on both sides of it.
type flipLog struct {
	fsys    *eventlog.MemFS
	opts    *eventlog.Options
	seg     string   // the active segment's .log
	data    []byte   // its bytes
	rp      int64    // its recovery point
	starts  []int64  // where each batch starts, then len(data)
	records []string // every value, in offset order
}

func newFlipLog(t *testing.T) *flipLog {
	t.Helper()
	fsys := eventlog.NewMemFS()
	f := &flipLog{fsys: fsys, opts: &eventlog.Options{FS: fsys, IndexIntervalBytes: 512, RecoveryPointInterval: time.Hour}}
	l, err := eventlog.Open(powerLossDir, f.opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	rng := rand.New(rand.NewPCG(7, 7))
	write := func(batches int) {
		for range batches {
			recs := make([]eventlog.Record, 1+rng.IntN(3))
			for i := range recs {
				v := fmt.Sprintf("v%d-%s", len(f.records), strings.Repeat("x", rng.IntN(300)))
				recs[i] = rec("k", v)
				f.records = append(f.records, v)
			}
			_, err := p.Append(ctx, recs, eventlog.AppendOptions{})
			require.NoError(t, err)
		}
	}
	write(80)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	f.seg = lastLog(t, fsys, powerLossDir+"/topics/t/0")
	below, err := fsys.ReadFile(f.seg)
	require.NoError(t, err)
	f.rp = int64(len(below))
	write(20) // acknowledged, but above the recovery point
	require.NoError(t, eventlog.Abandon(l))
	f.data, err = fsys.ReadFile(f.seg)
	require.NoError(t, err)
	for pos := int64(0); pos < int64(len(f.data)); {
		f.starts = append(f.starts, pos)
		pos += 12 + int64(binary.BigEndian.Uint32(f.data[pos+8:]))
	}
	f.starts = append(f.starts, int64(len(f.data)))
	require.Contains(t, f.starts, f.rp, "the recovery point is at a batch boundary")
	return f
}

// batchOf returns the start of the batch holding byte pos and the number
// of records before it.
func (f *flipLog) batchOf(pos int64) (start int64, recordsBefore int) {
	i := 0
	for f.starts[i+1] <= pos {
		i++
	}
	records := 0
	for _, s := range f.starts[:i] {
		records += int(binary.BigEndian.Uint32(f.data[s+57:]))
	}
	return f.starts[i], records
}

// TestRecoveryPointBitFlips flips one bit at a time in the active segment
// of a crashed log. Below the recovery point the flip is never cut and
// never served: Open refuses with a *CorruptError when it scans that byte
// (from the last index entry before the recovery point), and reads report
// it otherwise, as for a closed segment. Above it, Open cuts the segment at
// the damaged batch, without Options.Repair, keeping every batch before.
// (Bytes 12-15 of a batch, Kafka's partition leader epoch, are outside the
// checksum and unused: a flip there is harmless, so it is not tried.)
func TestRecoveryPointBitFlips(t *testing.T) {
	f := newFlipLog(t)
	trials := 400
	if testing.Short() {
		trials = 50
	}
	rng := rand.New(rand.NewPCG(11, 13))
	var refused, reported, cut int
	for trial := range trials {
		pos := rng.Int64N(int64(len(f.data)))
		start, before := f.batchOf(pos)
		if off := pos - start; off >= 12 && off < 16 {
			continue
		}
		data := append([]byte(nil), f.data...)
		data[pos] ^= 1 << rng.IntN(8)
		fsys := cloneMemFS(t, f.fsys)
		require.NoError(t, fsys.WriteFile(f.seg, data, 0o644))
		// Without index files, Open scans all the way to the recovery
		// point and must refuse every flip below it.
		noIndexes := trial%2 == 1
		if noIndexes {
			for _, ext := range []string{".index", ".timeindex"} {
				require.NoError(t, fsys.Remove(strings.TrimSuffix(f.seg, ".log")+ext))
			}
		}
		opts := *f.opts
		opts.FS = fsys
		name := fmt.Sprintf("trial %d: byte %d (batch at %d, recovery point %d, indexes removed %v)", trial, pos, start, f.rp, noIndexes)

		l, err := eventlog.Open(powerLossDir, &opts)
		if pos < f.rp {
			after, rerr := fsys.ReadFile(f.seg)
			require.NoError(t, rerr)
			require.Equal(t, data, after, "%s: damage below the recovery point is never cut", name)
			if err != nil {
				var ce *eventlog.CorruptError
				require.ErrorAs(t, err, &ce, name)
				assert.Equal(t, f.seg, ce.Path, name)
				refused++
				continue
			}
			require.False(t, noIndexes, "%s: a scanning Open accepted damage below the recovery point", name)
			require.Zero(t, l.Recovery().BytesTruncated, name)
			got, rerr := readUntilError(partition(t, l, "t", 0))
			var ce *eventlog.CorruptError
			require.ErrorAs(t, rerr, &ce, "%s: a read reports damage Open did not scan", name)
			require.LessOrEqual(t, len(got), before, "%s: nothing from the damaged batch is served", name)
			for i, r := range got {
				require.Equal(t, f.records[i], string(r.Value), "%s: offset %d", name, i)
			}
			require.NoError(t, eventlog.Abandon(l))
			reported++
			continue
		}
		require.NoError(t, err, "%s: damage above the recovery point is cut, without Repair", name)
		rs := l.Recovery()
		assert.Equal(t, int64(len(data))-start, rs.BytesTruncated, "%s: cut at the damaged batch", name)
		assert.Empty(t, rs.Repaired, name)
		requireValuesExactly(t, partition(t, l, "t", 0), f.records[:before], name)
		require.NoError(t, eventlog.Abandon(l))
		cut++
	}
	t.Logf("%d flips refused by Open, %d reported by reads, %d cut", refused, reported, cut)
	assert.Positive(t, refused)
	assert.Positive(t, reported)
	assert.Positive(t, cut)
}

// readUntilError reads a partition from 0 until the end or an error.
func readUntilError(p *eventlog.Partition) ([]eventlog.Record, error) {
	var out []eventlog.Record
	for from := int64(0); from < p.HighWatermark(); {
		recs, err := p.Read(from, 64<<10)
		if err != nil {
			return out, err
		}
		if len(recs) == 0 {
			return out, errors.New("no records below the high watermark")
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Offset + 1
	}
	return out, nil
}

// requireValuesExactly checks that the partition holds exactly want at
// offsets 0, 1, ...
func requireValuesExactly(t *testing.T, p *eventlog.Partition, want []string, name string) {
	t.Helper()
	got := readAll(t, p, 0)
	require.Len(t, got, len(want), name)
	for i, r := range got {
		require.Equal(t, int64(i), r.Offset, name)
		require.Equal(t, want[i], string(r.Value), "%s: offset %d", name, i)
	}
}

// TestReopenAfterCrashScansFromRecoveryPoint: after a crash Open reads
// batch by batch only from the last index entry before the recovery point,
// not the whole active segment; with the index files gone it scans it all,
// and recovers the same.
func TestReopenAfterCrashScansFromRecoveryPoint(t *testing.T) {
	f := newFlipLog(t)
	tail := int64(len(f.data)) - f.rp
	l := openLog(t, powerLossDir, f.opts)
	rs := l.Recovery()
	assert.False(t, rs.CleanShutdown)
	assert.Zero(t, rs.BytesTruncated)
	assert.Zero(t, rs.IndexesRebuilt, "resumed from the index files")
	assert.Greater(t, rs.BytesScanned, tail, "from the last index entry before the recovery point")
	assert.Less(t, rs.BytesScanned, tail+int64(f.opts.IndexIntervalBytes)+2000, "not the whole segment of %d bytes", len(f.data))
	requireValuesExactly(t, partition(t, l, "t", 0), f.records, "resumed")
	require.NoError(t, eventlog.Abandon(l))

	stem := strings.TrimSuffix(f.seg, ".log")
	for _, ext := range []string{".index", ".timeindex"} {
		require.NoError(t, f.fsys.Remove(stem+ext))
	}
	l = openLog(t, powerLossDir, f.opts)
	rs = l.Recovery()
	assert.Equal(t, int64(len(f.data)), rs.BytesScanned, "without indexes the whole segment")
	assert.Equal(t, 1, rs.IndexesRebuilt)
	requireValuesExactly(t, partition(t, l, "t", 0), f.records, "scanned")
	for _, from := range []int64{0, 17, 123, int64(len(f.records) - 1)} {
		recs, err := partition(t, l, "t", 0).Read(from, 1)
		require.NoError(t, err)
		require.Equal(t, f.records[from], string(recs[0].Value), "read at %d through the rebuilt index", from)
	}
}

// TestRecoveryPointShorterSegmentRefused: a segment shorter than its
// recovery point lost fsynced bytes, which no crash does: Open refuses,
// and Repair opens it with what is left.
func TestRecoveryPointShorterSegmentRefused(t *testing.T) {
	f := newFlipLog(t)
	short := f.starts[len(f.starts)/4]
	require.Less(t, short, f.rp)
	require.NoError(t, f.fsys.WriteFile(f.seg, f.data[:short], 0o644))
	_, err := eventlog.Open(powerLossDir, f.opts)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, f.seg, ce.Path)

	repair := *f.opts
	repair.Repair = true
	l := openLog(t, powerLossDir, &repair)
	_, before := f.batchOf(short)
	requireValuesExactly(t, partition(t, l, "t", 0), f.records[:before], "repaired")
	require.NoError(t, eventlog.Abandon(l))
	l = openLog(t, powerLossDir, f.opts)
	requireValuesExactly(t, partition(t, l, "t", 0), f.records[:before], "reopened without Repair")
}
