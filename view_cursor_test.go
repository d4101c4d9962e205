package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// cursorFrom clones every record of p from offset, read through a Cursor.
func cursorFrom(t *testing.T, p *eventlog.Partition, from int64) []eventlog.Record {
	t.Helper()
	c := p.Cursor(from)
	defer c.Close()
	var out []eventlog.Record
	for c.Next() {
		// Key, Value and Offset, before the view is made and after, say
		// what the view says.
		key, value, offset := c.Key(), c.Value(), c.Offset()
		v := c.View()
		requireSameBytes(t, v.Key, key, "key at %d", v.Offset)
		requireSameBytes(t, v.Value, value, "value at %d", v.Offset)
		require.Equal(t, v.Offset, offset)
		requireSameBytes(t, v.Key, c.Key(), "key at %d, after View", v.Offset)
		requireSameBytes(t, v.Value, c.Value(), "value at %d, after View", v.Offset)
		require.Equal(t, v.Offset, c.Offset())
		out = append(out, v.Clone())
	}
	require.NoError(t, c.Err())
	return out
}

// requireSameBytes requires want and got equal, nil for nil.
func requireSameBytes(t *testing.T, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want == nil, got == nil, msgAndArgs...)
	require.Equal(t, string(want), string(got), msgAndArgs...)
}

// TestCursorKeyValueWithoutViews scans a segment long enough for the
// read-ahead verifier to table batches, asking for most records' key,
// value and offset only, and for the view of some: every record reads as
// written, whichever way it is asked for.
func TestCursorKeyValueWithoutViews(t *testing.T) {
	const batches, perBatch = 200, 100
	_, p := longSegment(t, batches, perBatch, func(n int, r *eventlog.Record) {
		switch n % 5 {
		case 0:
			r.Key = nil
		case 1:
			r.Value = nil
		case 2:
			r.Value = []byte{}
		}
	})
	c := p.Cursor(0)
	defer c.Close()
	n := int64(0)
	for c.Next() {
		if n%11 == 0 {
			require.Equal(t, n, c.View().Offset)
		}
		require.Equal(t, n, c.Offset())
		key, value := c.Key(), c.Value()
		switch n % 5 {
		case 0:
			require.Nil(t, key, "offset %d", n)
		default:
			require.Equal(t, fmt.Sprintf("k%d", n), string(key), "offset %d", n)
		}
		switch n % 5 {
		case 1:
			require.Nil(t, value, "a tombstone at %d", n)
		case 2:
			require.NotNil(t, value, "an empty value at %d", n)
			require.Empty(t, value, "an empty value at %d", n)
		default:
			require.Equal(t, fmt.Sprintf("%d%0100d", n, 0), string(value), "offset %d", n)
		}
		n++
	}
	require.NoError(t, c.Err())
	assert.Equal(t, int64(batches*perBatch), n)
	assert.Nil(t, c.Key(), "no key at the high watermark")
	assert.Nil(t, c.Value(), "no value at the high watermark")
	assert.Equal(t, int64(-1), c.Offset(), "no offset at the high watermark")
}

// TestCursorEqualsCopies reads random logs (see forRandomLogs) through a
// Cursor and through the copying Read, from random offsets, and requires
// the same records byte for byte.
func TestCursorEqualsCopies(t *testing.T) {
	forRandomLogs(t, 3, func(t *testing.T, rng *rand.Rand, p *eventlog.Partition, all []eventlog.Record) {
		requireSameRecords(t, all, cursorFrom(t, p, 0))
		for range 20 {
			from := rng.Int64N(p.HighWatermark() + 1)
			requireSameRecords(t, readAll(t, p, from), cursorFrom(t, p, from))
		}
	})
}

// longSegment appends batches batches of perBatch records to a new
// partition, long enough for the read-ahead verifier to table batches:
// record n has key "k<n>" and a value of n and 100 zeros, then edit(n, r)
// changes it.
func longSegment(t *testing.T, batches, perBatch int, edit func(n int, r *eventlog.Record)) (*eventlog.Log, *eventlog.Partition) {
	t.Helper()
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	for b := range batches {
		recs := make([]eventlog.Record, perBatch)
		for i := range recs {
			n := b*perBatch + i
			recs[i] = eventlog.Record{Key: fmt.Appendf(nil, "k%d", n), Value: fmt.Appendf(nil, "%d%0100d", n, 0)}
			edit(n, &recs[i])
		}
		_, err := p.Append(ctx, recs, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	return l, p
}

// TestCursorLongScanWithReadAhead scans a segment long enough for the
// read-ahead verifier to table batches for the cursor, whose records Next
// fills itself: every record comes back as written, headers included.
func TestCursorLongScanWithReadAhead(t *testing.T) {
	const batches, perBatch = 200, 100
	l, p := longSegment(t, batches, perBatch, func(n int, r *eventlog.Record) {
		switch n % 7 {
		case 0:
			r.Key = nil
		case 1:
			r.Headers = []eventlog.Header{{Key: "h", Value: fmt.Append(nil, n)}}
		}
	})
	require.Equal(t, int64(batches*perBatch), p.HighWatermark())
	parsedBefore := eventlog.ParsedAheadBatches(l)
	c := p.Cursor(0)
	n := int64(0)
	for c.Next() {
		v := c.View()
		require.Equal(t, n, v.Offset)
		require.Equal(t, fmt.Sprintf("%d%0100d", n, 0), string(v.Value))
		switch n % 7 {
		case 0:
			require.Nil(t, v.Key, "offset %d", n)
		case 1:
			require.Equal(t, 1, v.HeaderCount(), "offset %d", n)
			for k, hv := range v.Headers() {
				require.Equal(t, "h", k)
				require.Equal(t, fmt.Sprint(n), string(hv))
			}
		default:
			require.Equal(t, fmt.Sprintf("k%d", n), string(v.Key))
			require.Zero(t, v.HeaderCount(), "offset %d", n)
		}
		n++
	}
	require.NoError(t, c.Err())
	c.Close() // the verifier's counters are added up when it stops
	assert.Equal(t, int64(batches*perBatch), n)
	if runtime.GOMAXPROCS(0) > 1 {
		assert.Greater(t, eventlog.ParsedAheadBatches(l), parsedBefore, "the verifier tabled batches for the cursor")
	}
}

// TestCursorGoesOnAfterTheHighWatermark: Next returns false at the high
// watermark with no error, and true again once records are appended.
func TestCursorGoesOnAfterTheHighWatermark(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 3, eventlog.AppendOptions{})
	c := p.Cursor(1)
	defer c.Close()
	var got []int64
	for c.Next() {
		got = append(got, c.View().Offset)
	}
	require.NoError(t, c.Err())
	assert.Equal(t, []int64{1, 2}, got)
	assert.Nil(t, c.View(), "no view at the high watermark")
	assert.Nil(t, c.Key())
	assert.Nil(t, c.Value())
	assert.Equal(t, int64(-1), c.Offset())
	assert.False(t, c.Next(), "still at the high watermark")

	appendN(t, p, 2, eventlog.AppendOptions{})
	got = nil
	for c.Next() {
		got = append(got, c.View().Offset)
	}
	require.NoError(t, c.Err())
	assert.Equal(t, []int64{3, 4}, got, "the records appended meanwhile")
}

func TestCursorBadInput(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 3, eventlog.AppendOptions{})
	for _, from := range []int64{-1, 4, 1 << 40} {
		c := p.Cursor(from)
		assert.False(t, c.Next(), "from %d", from)
		assert.ErrorIs(t, c.Err(), eventlog.ErrOffsetOutOfRange, "from %d", from)
		assert.Nil(t, c.View())
		c.Close()
	}

	// Closed twice, and used after Close.
	c := p.Cursor(0)
	require.True(t, c.Next())
	c.Close()
	c.Close()
	assert.False(t, c.Next(), "a closed cursor moves no more")
	assert.Nil(t, c.View())
	assert.Nil(t, c.Key())
	assert.Nil(t, c.Value())
	assert.Equal(t, int64(-1), c.Offset())
	assert.NoError(t, c.Err())

	// A cursor the Log's Close overtakes ends with ErrClosed at its next
	// batch; one made after Close at once.
	open := p.Cursor(0)
	defer open.Close()
	require.True(t, open.Next())
	require.NoError(t, l.Close())
	for open.Next() {
		require.Equal(t, fmt.Sprint(open.View().Offset), string(open.View().Value), "the held batch stays readable")
	}
	assert.ErrorIs(t, open.Err(), eventlog.ErrClosed)
	after := p.Cursor(0)
	assert.False(t, after.Next())
	assert.ErrorIs(t, after.Err(), eventlog.ErrClosed)
}

// TestCursorReportsCorruption flips a bit inside a closed segment: the
// cursor yields the records before it, then stops with a *CorruptError
// naming the file.
func TestCursorReportsCorruption(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 4096}
	logs := corruptSecondSegment(t, dir, opts)
	p := partition(t, openLog(t, dir, opts), "t", 0)
	c := p.Cursor(0)
	defer c.Close()
	next := int64(0)
	for c.Next() {
		require.Equal(t, next, c.View().Offset)
		require.Equal(t, fmt.Sprintf("v%d", next), string(c.View().Value))
		next++
	}
	var ce *eventlog.CorruptError
	require.ErrorAs(t, c.Err(), &ce)
	assert.Equal(t, logs[1], ce.Path)
	assert.Less(t, next, int64(200))
	assert.False(t, c.Next(), "an error ends the cursor for good")
}

// TestPoisonViewsCatchesKeptCursorViews keeps a view's value past its
// step: with Options.PoisonViews it reads as 0xDB bytes.
func TestPoisonViewsCatchesKeptCursorViews(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	_, err := p.Append(ctx, []eventlog.Record{rec("k0", "v0"), rec("k1", "v1")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	c := p.Cursor(0)
	require.True(t, c.Next())
	kept, keptKey := c.View().Value, c.Key()
	assert.Equal(t, "v0", string(kept), "valid during its step")
	assert.Equal(t, "k0", string(keptKey), "valid during its step")
	require.True(t, c.Next())
	assert.Equal(t, []byte{0xDB, 0xDB}, kept, "poisoned once the view expired")
	assert.Equal(t, []byte{0xDB, 0xDB}, keptKey, "Key's bytes are the view's")
	last := c.View().Value
	c.Close()
	assert.Equal(t, []byte{0xDB, 0xDB}, last, "Close expires the last view")
}

// TestCursorDroppedUnclosedLetsGo drops a cursor in the middle of a
// segment without closing it: once the garbage collector finds it, its
// cleanup lets go of the segment, and the files of a deleted topic are
// closed.
func TestCursorDroppedUnclosedLetsGo(t *testing.T) {
	dropped := make(chan struct{}, 1)
	eventlog.OnCursorDropped(t, func() { dropped <- struct{}{} })
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 4096})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	appendN(t, p, 300, eventlog.AppendOptions{})
	func() {
		c := p.Cursor(0)
		for range 10 {
			require.True(t, c.Next())
		}
	}()
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	pinned := openFileCount(t) // the segment the cursor holds stays open
	runtime.GC()
	<-dropped
	if pinned >= 0 {
		assert.Less(t, openFileCount(t), pinned, "the dropped cursor's segment file is closed")
	}
}
