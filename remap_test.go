package eventlog_test

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A reader's mmap of a segment, however slow, holds up no append: it runs
// without the segment's lock, which appends, rolls, retention and
// DeleteRecords take while holding the partition's locks. The segment it
// maps stays readable until the reader lets go, even once dropped.
func TestSlowMmapHoldsUpNoAppend(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{}) // several closed segments, none mapped yet
	assertSlowReadHoldsUpNoAppend(t, fsys, l, eventlog.OpMmap)
}

// A read's open of a closed segment's file, however slow, holds up no
// append either: it too runs without the segment's lock. The segments of
// a reopened Log are opened on their first read.
func TestSlowOpenHoldsUpNoAppend(t *testing.T) {
	fsys, l := reopenedSegmentedLog(t)
	assertSlowReadHoldsUpNoAppend(t, fsys, l, eventlog.OpOpen)
}

// reopenedSegmentedLog returns a Log on a MemFS at "/d" whose topic "t"
// holds 30 records in segments of 1 KiB, closed and opened again: none of
// its closed segments' files is open yet.
func reopenedSegmentedLog(t *testing.T) (*eventlog.MemFS, *eventlog.Log) {
	t.Helper()
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 1024}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 30, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	return fsys, openLog(t, "/d", opts)
}

// assertSlowReadHoldsUpNoAppend pauses a read of the first record of
// topic "t" of l, 30 records in segments of 1 KiB, at op on the first
// segment's .log file, and checks that meanwhile nothing holds that
// segment's lock and that DeleteRecords of the segment and appends that
// roll go through; then that the read returns its record and the dropped
// segment's file goes.
func assertSlowReadHoldsUpNoAppend(t *testing.T, fsys *eventlog.MemFS, l *eventlog.Log, op eventlog.Op) {
	t.Helper()
	p := partition(t, l, "t", 0)
	first := fmt.Sprintf("/d/topics/t/0/%020d.log", 0)
	reached, resume := pauseFSAt(fsys, op, first)
	var once sync.Once
	release := func() { once.Do(func() { close(resume) }) }
	t.Cleanup(release) // before the Log's Close, which waits for the read
	type result struct {
		recs []eventlog.Record
		err  error
	}
	read := make(chan result, 1)
	go func() {
		recs, err := p.Read(0, 1) // the first batch alone
		read <- result{recs, err}
	}()
	<-reached
	require.True(t, eventlog.SegmentLockFree(p, 0), "the segment's lock is held during its %v", op)

	// The segment being read is dropped, and appends go on and roll.
	start, err := l.DeleteRecords(ctx, "t", 0, eventlog.DeleteToHighWatermark)
	require.NoError(t, err)
	require.Equal(t, int64(30), start)
	appendN(t, p, 30, eventlog.AppendOptions{})
	assert.Equal(t, int64(60), p.HighWatermark())

	release()
	r := <-read
	require.NoError(t, r.err)
	require.Len(t, r.recs, 1)
	assert.Equal(t, "v0", string(r.recs[0].Value))
	fsys.SetFault(nil)
	_, err = fsys.Stat(first)
	assert.ErrorIs(t, err, fs.ErrNotExist, "removed once its reader let go")
}

// Readers tailing a partition while appends grow its active segment and
// DeleteRecords drops segments each get the records they asked for. The
// files are mapped only as far as they reach, and each append waits for
// a reader to read it, so that every append makes a reader map the
// segment anew while the others may still be reading the mapping it
// replaces. The mappings are really unmapped, by their last reader: one
// unmapped early would crash the test.
func TestReadersAcrossRemaps(t *testing.T) {
	fsys := eofMappedFS{maps: new(atomic.Int64)}
	l := openLog(t, t.TempDir(), &eventlog.Options{FS: fsys, SegmentBytes: 4096, Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	const total, readers = 600, 4
	var furthest struct {
		sync.Mutex
		read int64 // the furthest offset a reader reached
		cond sync.Cond
	}
	furthest.cond.L = &furthest
	reached := func(offset int64) {
		furthest.Lock()
		furthest.read = max(furthest.read, offset)
		furthest.cond.Broadcast()
		furthest.Unlock()
	}
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			err := tail(p, total, reached)
			reached(total) // a reader that failed holds up no append
			errs <- err
		})
	}
	for i := range int64(total) {
		_, err := p.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{})
		require.NoError(t, err)
		if i%100 == 99 {
			_, err := l.DeleteRecords(ctx, "t", 0, i-50)
			require.NoError(t, err)
		}
		furthest.Lock()
		for furthest.read <= i {
			furthest.cond.Wait()
		}
		furthest.Unlock()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.GreaterOrEqual(t, fsys.maps.Load(), int64(total), "a mapping for every append")
}

// tail reads p from offset 0 to total, skipping what DeleteRecords
// removes before it gets there, and checks that each record is the one
// appended at its offset. It calls reached with the offset after each
// read.
func tail(p *eventlog.Partition, total int64, reached func(int64)) error {
	for from := int64(0); from < total; {
		if err := p.Wait(ctx, from); err != nil {
			return err
		}
		recs, err := p.Read(from, 1<<10)
		for _, r := range recs {
			if want := fmt.Sprintf("v%d", r.Offset); r.Offset < from || string(r.Value) != want {
				return fmt.Errorf("read from %d: got %q at offset %d, want %q", from, r.Value, r.Offset, want)
			}
			from = r.Offset + 1
		}
		if errors.Is(err, eventlog.ErrOffsetOutOfRange) {
			from = max(from, p.LogStartOffset())
		} else if err != nil {
			return err
		}
		reached(from)
	}
	return nil
}

// eofMappedFS is OSFS with mappings that reach no further than the end of
// the file, as on Windows, where OSFS refuses to map beyond it. maps
// counts the mappings made.
type eofMappedFS struct {
	eventlog.OSFS
	maps *atomic.Int64
}

type mmapFile interface {
	eventlog.File
	Mmap(size int) ([]byte, func() error, error)
}

func (fsys eofMappedFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	f, err := fsys.OSFS.OpenFile(name, flag, perm)
	if mf, ok := f.(mmapFile); ok && err == nil {
		return eofMappedFile{mf, fsys.maps}, nil
	}
	return f, err
}

type eofMappedFile struct {
	mmapFile
	maps *atomic.Int64
}

func (f eofMappedFile) Mmap(size int) ([]byte, func() error, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if int64(size) > info.Size() {
		return nil, nil, fmt.Errorf("mmap %d bytes of %s: beyond its end (%d)", size, f.Name(), info.Size())
	}
	f.maps.Add(1)
	return f.mmapFile.Mmap(size)
}
