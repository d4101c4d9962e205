package eventlogotel_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/eventlog/eventlog"
)

// A partition whose segment files were lost, which Options.Repair made go
// on past them, shows in eventlog.recovery.lost_segments: the records in
// those files are gone.
func TestLostSegmentsMetric(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	for range 20 {
		appendN(t, partition(t, l, "t", 0), 5)
	}
	require.NoError(t, l.Close())
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	require.Greater(t, len(logs), 1)
	for _, path := range logs {
		require.NoError(t, os.Remove(path))
	}

	repair := *opts
	repair.Repair = true
	l, err = eventlog.Open(dir, &repair)
	require.NoError(t, err)
	defer l.Close()
	require.Len(t, l.Recovery().LostSegments, 1)
	reader, unregister := setup(t, l)
	defer unregister()
	ms := collect(t, reader)
	assert.Equal(t, 1.0, point(t, ms, "eventlog.recovery.lost_segments", "counter", "{partition}", attribute.NewSet()))
}
