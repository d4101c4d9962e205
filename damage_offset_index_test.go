package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"testing"

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

// A closed segment's .index with a middle entry that no longer names the
// batch at its position is rebuilt by the first read that finds it out, as
// a time index is by the first lookup by time: reads no longer scan the
// segment from its start one after another, and Verify then finds it sound.
func TestReadRebuildsDamagedOffsetIndexEntry(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts, bases, path, good := offsetIndexLog(t, fsys)
	k := len(good) / 8 / 2
	damaged := append([]byte(nil), good...)
	damaged[k*8+7] ^= 0x01 // the position's lowest bit: inside the batch
	require.NoError(t, fsys.WriteFile(path, damaged, 0o644))

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
