package eventlog

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeylessBatchRefusedOnceCompacted: a batch with a null key that was
// checked while its topic did not compact, and reaches the file after
// AlterTopicConfig switched the topic to compaction, is refused there, and
// nothing is stored.
func TestKeylessBatchRefusedOnceCompacted(t *testing.T) {
	l, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("t", TopicConfig{Durability: DurabilityOS}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	var enc batchEncoder
	batch, err := enc.encode(nil, []Record{{Value: []byte("v"), Timestamp: time.UnixMilli(1)}}, CompressionNone)
	require.NoError(t, err)
	require.NoError(t, l.AlterTopicConfig(context.Background(), "t", TopicConfig{Durability: DurabilityOS, CleanupPolicy: CleanupCompact}))
	_, err = p.appendEncoded(batch, DurabilityDefault, appendChecks{keyless: true})
	assert.ErrorIs(t, err, ErrInvalidRecord)
	assert.Zero(t, p.LogEndOffset(), "nothing stored")
	assert.NoError(t, p.err(), "not a failure of the partition")
	_, err = p.Append(context.Background(), []Record{{Key: []byte("k"), Value: []byte("v")}}, AppendOptions{})
	assert.NoError(t, err)
}

// TestIndexFilesStayWithinTheirLimit: the index files of segments of the
// smallest batches, each with index entries, stay within indexFileLimit,
// so that a sound index is never taken for an oversized one.
func TestIndexFilesStayWithinTheirLimit(t *testing.T) {
	fsys := NewMemFS()
	l, err := Open("/log", &Options{FS: fsys, SegmentBytes: 4096, IndexIntervalBytes: 1})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", TopicConfig{}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	for i := range 300 { // one empty record a batch, each later than the last
		_, err := p.Append(context.Background(), []Record{{Timestamp: testTime.Add(time.Duration(i) * time.Millisecond)}}, AppendOptions{})
		require.NoError(t, err)
	}
	segs := *p.segments.Load()
	require.Greater(t, len(segs), 2)
	require.NoError(t, l.Close())
	for _, seg := range segs[:len(segs)-1] { // the sealed ones
		data, err := fsys.ReadFile(seg.path(logExt))
		require.NoError(t, err)
		batches := 0
		for pos := int64(0); pos < int64(len(data)); batches++ {
			h, err := parseBatchHeader(data[pos:])
			require.NoError(t, err)
			pos += h.size()
		}
		for ext, entrySize := range map[string]int{indexExt: offsetEntrySize, timeIndexExt: timeEntrySize} {
			b, err := fsys.ReadFile(seg.path(ext))
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(b)/entrySize, batches-1, "%s: about an entry a batch", ext)
			assert.LessOrEqual(t, int64(len(b)), indexFileLimit(int64(len(data)), entrySize), ext)
		}
	}
}

// A ctxMutex works from its zero value, and a wait for it ends with its
// context.
func TestCtxMutex(t *testing.T) {
	var m ctxMutex
	m.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error)
	go func() { waited <- m.lockCtx(ctx) }()
	cancel()
	assert.ErrorIs(t, <-waited, context.Canceled)
	m.Unlock()
	require.NoError(t, m.lockCtx(context.Background()))
	m.Unlock()
	assert.Panics(t, m.Unlock, "unlock of an unlocked mutex")
}

// TestRetentionLoadsNoIndexUnderTheLocks: retention under the partition's
// locks reads no index file and deletes nothing while a segment it must
// judge has no index loaded; it returns that segment, and enforceRetention
// loads it without the locks and deletes the segments past retention.
func TestRetentionLoadsNoIndexUnderTheLocks(t *testing.T) {
	fsys := NewMemFS()
	opts := &Options{FS: fsys, SegmentBytes: 1024, IndexIntervalBytes: 256, Now: func() time.Time { return testTime }}
	l, err := Open("/log", opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", TopicConfig{Retention: time.Hour}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	for range 30 {
		_, err := p.Append(context.Background(), []Record{{Value: []byte("0123456789")}}, AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	l, err = Open("/log", opts) // no closed segment's index is loaded yet
	require.NoError(t, err)
	defer l.Close()
	p, err = l.Partition("t", 0)
	require.NoError(t, err)
	segs := *p.segments.Load()
	require.Greater(t, len(segs), 2)
	later := testTime.Add(2 * time.Hour)

	fsys.SetFault(func(op Op, name string) error {
		if op == OpOpen && filepath.Ext(name) != logExt {
			return ErrInjected // no index file is read
		}
		return nil
	})
	unloaded, err := p.applyRetention(later)
	require.NoError(t, err)
	assert.Same(t, segs[0], unloaded)
	assert.Zero(t, p.LogStartOffset(), "nothing deleted")
	fsys.SetFault(nil)

	require.NoError(t, p.enforceRetention(later))
	active := segs[len(segs)-1]
	assert.Equal(t, active.base, p.LogStartOffset(), "every closed segment deleted")
	for _, seg := range segs[:len(segs)-1] {
		assert.True(t, seg.indexLoaded(), "segment %d judged on its newest timestamp", seg.base)
	}
}
