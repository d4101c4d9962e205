package eventlog_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A topic whose topic.meta is damaged still has its segments checked,
// found by their partition directories: the damage of the metadata does
// not hide damage in the records, which Verify promises to check, batch
// by batch. The report counts those partitions, and no topic for it.
func TestVerifyChecksPartitionsOfTopicWithDamagedMeta(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{SegmentBytes: 4096})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("u", eventlog.TopicConfig{}))
	for _, id := range []int32{0, 1} {
		appendN(t, partition(t, l, "t", id), 150, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	}
	appendN(t, partition(t, l, "u", 0), 10, eventlog.AppendOptions{})
	require.NoError(t, l.Close())
	healthy := verify(t, dir)
	require.Empty(t, healthy.Problems)

	meta := filepath.Join(dir, "topics", "t", "topic.meta")
	require.NoError(t, os.WriteFile(meta, []byte("garbage"), 0o644))
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "1", "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 1)
	seg := logs[0] // closed
	data := mustRead(t, seg)
	data[200] ^= 0xff
	require.NoError(t, os.WriteFile(seg, data, 0o644))

	r := verify(t, dir)
	var paths []string
	for _, p := range r.Problems {
		assert.Equal(t, eventlog.ProblemCorrupt, p.Kind, p)
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{meta, seg}, paths)
	assert.Equal(t, healthy.Topics-1, r.Topics, "a topic is counted for its readable metadata")
	assert.Equal(t, healthy.Partitions, r.Partitions)
	assert.Equal(t, healthy.Segments, r.Segments)
	assert.Equal(t, healthy.Bytes, r.Bytes)
}
