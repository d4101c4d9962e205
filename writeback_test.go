package eventlog_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writebackFS records the ranges its files are asked to start writing out,
// by file name, with any range that reached past the file's end.
type writebackFS struct {
	eventlog.FS
	mu     sync.Mutex
	ranges map[string][][2]int64
	past   []string
}

func (f *writebackFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return writebackFile{File: file, fs: f}, nil
}

type writebackFile struct {
	eventlog.File
	fs *writebackFS
}

func (w writebackFile) StartWriteback(off, n int64) error {
	info, err := w.Stat()
	if err != nil {
		return err
	}
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	name := w.Name()
	w.fs.ranges[name] = append(w.fs.ranges[name], [2]int64{off, off + n})
	if off+n > info.Size() {
		w.fs.past = append(w.fs.past, name)
	}
	return nil
}

// TestDurabilityOSStartsWriteback: the Log has the active segment of a
// DurabilityOS topic written out a chunk (WritebackChunk bytes) at a time
// as it grows, each whole chunk once and only once its bytes are written, so that a
// roll's fsync has little left to write; nothing of a DurabilityFsync
// topic, synced at every append. (In a bubble, so that the Log's worker
// has done what each append asked before the next.)
func TestDurabilityOSStartsWriteback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wfs := &writebackFS{FS: eventlog.NewMemFS(), ranges: map[string][][2]int64{}}
		l, err := eventlog.Open("/log", &eventlog.Options{FS: wfs})
		require.NoError(t, err)
		defer l.Close()
		const segmentBytes = 10 << 20
		require.NoError(t, l.CreateTopic("os", eventlog.TopicConfig{Durability: eventlog.DurabilityOS, SegmentBytes: segmentBytes}))
		require.NoError(t, l.CreateTopic("fsync", eventlog.TopicConfig{Durability: eventlog.DurabilityFsync, SegmentBytes: segmentBytes}))
		records := make([]eventlog.Record, 700)
		for i := range records {
			records[i].Value = make([]byte, 400) // batches of about 300 KB
		}
		for _, topic := range []string{"os", "fsync"} {
			p, err := l.Partition(topic, 0)
			require.NoError(t, err)
			for range 90 { // about 26 MB: two rolls
				_, err := p.Append(context.Background(), records, eventlog.AppendOptions{})
				require.NoError(t, err)
				synctest.Wait()
			}
		}

		wfs.mu.Lock()
		defer wfs.mu.Unlock()
		assert.Empty(t, wfs.past, "write-out asked for bytes not written yet")
		require.NotEmpty(t, wfs.ranges, "no segment was written out")
		var dir string
		for name := range wfs.ranges {
			dir = filepath.Dir(name) // the partition directory of topic "os", if it is the only one
		}
		names, err := wfs.ReadDir(dir)
		require.NoError(t, err)
		var logs []string
		for _, name := range names {
			if strings.HasSuffix(name, ".log") {
				logs = append(logs, filepath.Join(dir, name))
			}
		}
		require.Len(t, logs, 3, "two rolls")
		for _, name := range logs {
			info, err := wfs.Stat(name)
			require.NoError(t, err)
			ranges := wfs.ranges[name]
			const chunk = eventlog.WritebackChunk
			assert.Len(t, ranges, int(info.Size()/chunk), "segment %s of %d bytes: each whole chunk", name, info.Size())
			for i, r := range ranges {
				assert.Equal(t, [2]int64{int64(i) * chunk, int64(i+1) * chunk}, r, "segment %s, range %d", name, i)
			}
			delete(wfs.ranges, name)
		}
		assert.Empty(t, wfs.ranges, "nothing else is written out, and nothing of the DurabilityFsync topic")
	})
}
