package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// damageBatchRecords flips a byte of the records of the batch at offset
// off in the log at path, whose segment starts at base, so that its
// checksum fails while its header still parses.
func damageBatchRecords(t *testing.T, fsys *eventlog.MemFS, path string, base, off int64) {
	t.Helper()
	data, err := fsys.ReadFile(path)
	require.NoError(t, err)
	for pos := 0; pos+61 <= len(data); {
		size := 12 + int(binary.BigEndian.Uint32(data[pos+8:]))
		if int64(binary.BigEndian.Uint64(data[pos:])) == off {
			data[pos+size-3] ^= 0xff
			require.NoError(t, fsys.WriteFile(path, data, 0o644))
			return
		}
		pos += size
	}
	t.Fatalf("no batch at offset %d in %s (base %d)", off, path, base)
}

// A closed segment whose .index and .timeindex have a damaged middle
// entry each and whose log is damaged after them has the rebuild that the
// first read or lookup by time through an entry sets off fail at the log's
// damage; the rebuild keeps what it indexed before the damage, as the load
// of a segment with no index files does, so that later reads and lookups
// do not scan the segment again to meet the same damage.
func TestFailedRebuildOfClosedSegmentIndexIsKept(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, SegmentBytes: 4096, IndexIntervalBytes: 256}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	stamps := appendStamped(t, partition(t, l, "t", 0), 200, clk.Now(), 10*time.Millisecond)
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 1)
	stem := fmt.Sprintf("/d/topics/t/0/%020d", bases[0])
	good, k := flipMiddleEntryBit(t, fsys, stem+".index", 8, 8)
	goodTimes, kt := flipMiddleEntryBit(t, fsys, stem+".timeindex", 12, 8)
	off := bases[0] + int64(binary.BigEndian.Uint32(good[k*8:]))
	offTime := bases[0] + int64(binary.BigEndian.Uint32(goodTimes[kt*12+8:]))
	bad := max(off, offTime) + 3
	damageBatchRecords(t, fsys, stem+".log", bases[0], bad)

	l = openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	for i := range 3 {
		if i == 1 {
			require.Equal(t, int64(1), eventlog.IndexRebuildScans(l), "the first round rebuilds")
		}
		for o := off; o < bad; o++ {
			recs, err := p.Read(o, 1)
			require.NoError(t, err, "round %d, offset %d", i, o)
			require.NotEmpty(t, recs)
			assert.Equal(t, o, recs[0].Offset)
		}
		got, found, err := p.OffsetForTime(stamps[offTime+1])
		require.NoError(t, err, "round %d", i)
		require.True(t, found)
		assert.Equal(t, offTime+1, got)
	}
	_, err := p.Read(bad, 1)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, stem+".log", ce.Path)
	assert.Equal(t, int64(1), eventlog.IndexRebuildScans(l), "rebuild scans")
}

// The same holds for the active segment of a log that crashed: its
// index is its appender's, which a failed rebuild leaves as it is, but the
// rebuild is not tried again by every read or lookup by time through a
// damaged entry, as the log's damage stays for the segment's life.
func TestFailedRebuildOfActiveSegmentIndexIsRemembered(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, stamps := crashedActiveSegment(t, fsys)
	stem := "/d/topics/t/0/00000000000000000000"
	good, k := flipMiddleEntryBit(t, fsys, stem+".index", 8, 1)
	goodTimes, kt := flipMiddleEntryBit(t, fsys, stem+".timeindex", 12, 1)
	off := int64(binary.BigEndian.Uint32(good[k*8:]))
	offTime := int64(binary.BigEndian.Uint32(goodTimes[kt*12+8:]))
	damageBatchRecords(t, fsys, stem+".log", 0, max(off, offTime)+3)

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	for i := range 3 {
		recs, err := p.Read(off, 1)
		require.NoError(t, err, "round %d", i)
		require.NotEmpty(t, recs)
		assert.Equal(t, off, recs[0].Offset)
		got, found, err := p.OffsetForTime(stamps[offTime+1])
		require.NoError(t, err, "round %d", i)
		require.True(t, found)
		assert.Equal(t, offTime+1, got)
	}
	assert.Equal(t, int64(1), eventlog.IndexRebuildScans(l), "rebuild scans")
}
