package eventlog

import (
	"context"
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
