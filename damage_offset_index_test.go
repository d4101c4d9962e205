package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// offsetIndexLog writes 200 single-record batches to topic t, partition 0
// of a log in fsys at /d, with an offset index entry every few batches, and
// closes it. It returns the options to open it with, the segments' bases
// and the first segment's .index path and bytes.
func offsetIndexLog(t *testing.T, fsys *eventlog.MemFS) (*eventlog.Options, []int64, string, []byte) {
	t.Helper()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 4096, IndexIntervalBytes: 256}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 200, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	bases := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(bases), 1)
	path := fmt.Sprintf("/d/topics/t/0/%020d.index", bases[0])
	good, err := fsys.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(good)/8, 4, "entries to damage")
	return opts, bases, path, good
}

// flipMiddleEntryBit flips the lowest bit of byte 7 of the middle entry of
// the index file at path, whose entries are size bytes: in an .index entry
// (size 8) its position's, which then points inside a batch; in a
// .timeindex entry (size 12) its maximum timestamp's, one millisecond off.
// It requires at least least entries and returns the file as it was and
// the index of the entry.
func flipMiddleEntryBit(t *testing.T, fsys *eventlog.MemFS, path string, size, least int) ([]byte, int) {
	t.Helper()
	good, err := fsys.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(good)/size, least, "entries to damage")
	k := len(good) / size / 2
	damaged := slices.Clone(good)
	damaged[k*size+7] ^= 0x01
	require.NoError(t, fsys.WriteFile(path, damaged, 0o644))
	return good, k
}

// A closed segment's .index with a middle entry that no longer names the
// batch at its position is rebuilt by the first read that finds it out, as
// a time index is by the first lookup by time: reads no longer scan the
// segment from its start one after another, and Verify then finds it sound.
func TestReadRebuildsDamagedOffsetIndexEntry(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, bases, path, _ := offsetIndexLog(t, fsys)
	good, k := flipMiddleEntryBit(t, fsys, path, 8, 4)

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	off := bases[0] + int64(binary.BigEndian.Uint32(good[k*8:]))
	recs, err := p.Read(off, 1)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	assert.Equal(t, off, recs[0].Offset)
	assert.Equal(t, 1, l.Recovery().IndexesRebuilt)

	rebuilt, err := fsys.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, good, rebuilt, "the offset index is rebuilt")
	report, err := eventlog.Verify(ctx, "/d", &eventlog.VerifyOptions{FS: fsys})
	require.NoError(t, err)
	assert.Empty(t, report.Problems)
}

// Whatever bit of a middle .index entry of a closed segment is flipped, a
// read of any offset returns that offset's record: an entry that points
// elsewhere, even at another batch, sends no read past the records it
// asks for, nor to a record of another offset.
func TestReadSkipsNothingPastAnyFlippedOffsetIndexBit(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, bases, path, good := offsetIndexLog(t, fsys)
	k := len(good) / 8 / 2
	for bit := range 64 {
		damaged := append([]byte(nil), good...)
		damaged[k*8+bit/8] ^= 1 << (bit % 8)
		require.NoError(t, fsys.WriteFile(path, damaged, 0o644))
		l := openLog(t, "/d", opts)
		p := partition(t, l, "t", 0)
		for off := bases[0]; off < bases[1]; off++ {
			recs, err := p.Read(off, 1)
			require.NoError(t, err, "bit %d, offset %d", bit, off)
			require.NotEmpty(t, recs, "bit %d, offset %d", bit, off)
			require.Equal(t, off, recs[0].Offset, "bit %d", bit)
			require.Equal(t, fmt.Sprintf("v%d", off), string(recs[0].Value), "bit %d", bit)
		}
		require.NoError(t, l.Close())
	}
}

// crashedActiveSegment appends 200 single-record batches, stamped t0 plus
// 10ms each, to the active segment of topic t, partition 0 of a log at /d
// in fsys, with an index entry every few batches, checkpoints its recovery
// point (which writes the index files) and abandons the log as a crash
// would. It returns the options to open it with and the stamps.
func crashedActiveSegment(t *testing.T, fsys *eventlog.MemFS) (*eventlog.Options, []time.Time) {
	t.Helper()
	clk := newClock()
	opts := &eventlog.Options{FS: fsys, Now: clk.Now, IndexIntervalBytes: 256}
	l, err := eventlog.Open("/d", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	stamps := appendStamped(t, partition(t, l, "t", 0), 200, clk.Now(), 10*time.Millisecond)
	require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
	require.NoError(t, eventlog.Abandon(l))
	require.Equal(t, []int64{0}, segmentBases(t, fsys, "/d/topics/t/0"))
	return opts, stamps
}

// The index of an active segment that a crash left with a damaged middle
// offset entry, which recovery does not look at (it resumes from the last
// entry), is rebuilt by the first read that finds the entry out, as a
// closed segment's is, rather than have every read through that entry scan
// the segment from its start until the segment rolls.
func TestReadRebuildsDamagedOffsetIndexOfCrashedActiveSegment(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, _ := crashedActiveSegment(t, fsys)
	path := "/d/topics/t/0/00000000000000000000.index"
	good, k := flipMiddleEntryBit(t, fsys, path, 8, 4)

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	rebuilt := l.Recovery().IndexesRebuilt
	off := int64(binary.BigEndian.Uint32(good[k*8:]))
	for range 2 {
		recs, err := p.Read(off, 1)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.Equal(t, off, recs[0].Offset)
	}
	assert.Equal(t, rebuilt+1, l.Recovery().IndexesRebuilt, "rebuilt once")
	require.NoError(t, l.Close())
	written, err := fsys.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, good, written, "Close writes the rebuilt index")
}

// The same holds for a damaged middle time entry of a crashed active
// segment, which a lookup by time finds out.
func TestOffsetForTimeRebuildsDamagedTimeIndexOfCrashedActiveSegment(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, stamps := crashedActiveSegment(t, fsys)
	path := "/d/topics/t/0/00000000000000000000.timeindex"
	good, _ := flipMiddleEntryBit(t, fsys, path, 12, 4)

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	rebuilt := l.Recovery().IndexesRebuilt
	for i, s := range stamps {
		off, found, err := p.OffsetForTime(s)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, int64(i), off, "OffsetForTime(%d)", s.UnixMilli())
	}
	assert.Equal(t, rebuilt+1, l.Recovery().IndexesRebuilt, "rebuilt once")
	require.NoError(t, l.Close())
	written, err := fsys.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(written), len(good))
	assert.Equal(t, good, written[:len(good)], "Close writes the rebuilt index, and its closing entry")
}

// The rebuild of a crashed active segment's index, which a read sets off,
// runs while appends go on: the index it installs covers the batches
// appended meanwhile and goes on growing with them, as one built by the
// appends alone would.
func TestActiveIndexRebuildDuringAppends(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, stamps := crashedActiveSegment(t, fsys)
	path := "/d/topics/t/0/00000000000000000000.index"
	good, k := flipMiddleEntryBit(t, fsys, path, 8, 1)

	l := openLog(t, "/d", opts)
	p := partition(t, l, "t", 0)
	rebuilt := l.Recovery().IndexesRebuilt
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 300 {
			_, err := p.Append(ctx, []eventlog.Record{{Value: fmt.Appendf(nil, "w%d", i), Timestamp: stamps[len(stamps)-1]}}, eventlog.AppendOptions{})
			assert.NoError(t, err)
		}
	}()
	off := int64(binary.BigEndian.Uint32(good[k*8:]))
	for i := off; i < int64(len(stamps)); i++ {
		recs, err := p.Read(i, 1)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		require.Equal(t, i, recs[0].Offset)
	}
	<-done
	assert.Equal(t, rebuilt+1, l.Recovery().IndexesRebuilt, "rebuilt once")
	require.NoError(t, l.Close())
	written, err := fsys.ReadFile(path)
	require.NoError(t, err)

	// The index the appends alone build, from the log with no index files.
	for _, ext := range []string{".index", ".timeindex"} {
		require.NoError(t, fsys.Remove("/d/topics/t/0/00000000000000000000"+ext))
	}
	l = openLog(t, "/d", opts)
	require.Equal(t, int64(len(stamps)+300), partition(t, l, "t", 0).LogEndOffset())
	require.NoError(t, l.Close())
	fresh, err := fsys.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, fresh, written)
}
