package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestTopicSettings checks that Log.TopicSettings reports every setting a
// topic runs with, resolved, and where each comes from: the topic's own
// TopicConfig, the Log's Options, or the library's default.
func TestTopicSettings(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys, SegmentBytes: 64 << 10, Retention: time.Hour, Durability: eventlog.DurabilityOS}
	l := openLog(t, "/d", opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{
		Partitions: 2, RetentionBytes: 1 << 20, CleanupPolicy: eventlog.CleanupCompactDelete, MinCompactionLag: time.Minute,
	}))

	want := eventlog.TopicSettings{
		Config: eventlog.TopicConfig{
			Partitions:             2,
			Durability:             eventlog.DurabilityOS,
			SegmentBytes:           64 << 10,
			SegmentAge:             eventlog.DefaultSegmentAge,
			MaxBatchBytes:          eventlog.DefaultMaxBatchBytes,
			Retention:              time.Hour,
			RetentionBytes:         1 << 20,
			CleanupPolicy:          eventlog.CleanupCompactDelete,
			DeleteRetention:        eventlog.DefaultDeleteRetention,
			MinCleanableDirtyRatio: eventlog.DefaultMinCleanableDirtyRatio,
			MinCompactionLag:       time.Minute,
		},
		Sources: eventlog.TopicSettingSources{
			Durability:             eventlog.SourceOptions,
			SegmentBytes:           eventlog.SourceOptions,
			SegmentAge:             eventlog.SourceDefault,
			MaxBatchBytes:          eventlog.SourceDefault,
			Retention:              eventlog.SourceOptions,
			RetentionBytes:         eventlog.SourceTopic,
			CleanupPolicy:          eventlog.SourceTopic,
			DeleteRetention:        eventlog.SourceDefault,
			MinCleanableDirtyRatio: eventlog.SourceDefault,
			MinCompactionLag:       eventlog.SourceTopic,
			MaxCompactionLag:       eventlog.SourceDefault,
		},
	}
	got, err := l.TopicSettings("t")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	p := partition(t, l, "t", 1)
	assert.Equal(t, p.MaxBatchBytes(), got.Config.MaxBatchBytes, "the partitions run with it")

	// An alteration shows, and a setting the topic drops is inherited
	// again.
	require.NoError(t, l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{SegmentBytes: 4096, Durability: eventlog.DurabilityFsync}))
	got, err = l.TopicSettings("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{
		Partitions: 2, Durability: eventlog.DurabilityFsync, SegmentBytes: 4096, SegmentAge: eventlog.DefaultSegmentAge,
		MaxBatchBytes: eventlog.DefaultMaxBatchBytes, Retention: time.Hour, RetentionBytes: -1,
		DeleteRetention: eventlog.DefaultDeleteRetention, MinCleanableDirtyRatio: eventlog.DefaultMinCleanableDirtyRatio,
	}, got.Config)
	assert.Equal(t, eventlog.SourceTopic, got.Sources.SegmentBytes)
	assert.Equal(t, eventlog.SourceTopic, got.Sources.Durability)
	assert.Equal(t, eventlog.SourceDefault, got.Sources.RetentionBytes)
	assert.Equal(t, eventlog.SourceDefault, got.Sources.CleanupPolicy, "delete is the default policy")
	assert.Equal(t, eventlog.SourceDefault, got.Sources.MinCompactionLag)

	// The resolved configuration, altered back (but for MaxBatchBytes,
	// which cannot be altered), changes what the topic runs with in
	// nothing.
	pinned := got.Config
	pinned.MaxBatchBytes = 0
	require.NoError(t, l.AlterTopicConfig(ctx, "t", pinned))
	again, err := l.TopicSettings("t")
	require.NoError(t, err)
	assert.Equal(t, got.Config, again.Config)

	_, err = l.TopicSettings("missing")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	require.NoError(t, l.Close())
	_, err = l.TopicSettings("t")
	assert.ErrorIs(t, err, eventlog.ErrClosed)
}

// TestTopicSettingsFollowOptions checks that a reopen with other Options
// changes what a topic inherits, and that a read-only Log reports it too.
func TestTopicSettingsFollowOptions(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{SegmentAge: time.Hour}))
	got, err := l.TopicSettings("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.RetainForever, got.Config.Retention, "the Log keeps everything unless asked")
	assert.Equal(t, int64(-1), got.Config.RetentionBytes)
	assert.Equal(t, eventlog.DurabilityFsync, got.Config.Durability)
	assert.Equal(t, eventlog.SourceDefault, got.Sources.Retention)
	assert.Equal(t, eventlog.SourceTopic, got.Sources.SegmentAge)
	require.NoError(t, l.Close())

	for _, readOnly := range []bool{false, true} {
		l := openLog(t, "/d", &eventlog.Options{FS: fsys, ReadOnly: readOnly, Retention: eventlog.RetainForever, MaxBatchBytes: 4096, SegmentAge: 2 * time.Hour})
		got, err := l.TopicSettings("t")
		require.NoError(t, err)
		assert.Equal(t, eventlog.RetainForever, got.Config.Retention)
		assert.Equal(t, eventlog.SourceOptions, got.Sources.Retention, "set in the Options, though to the default's value")
		assert.Equal(t, 4096, got.Config.MaxBatchBytes)
		assert.Equal(t, eventlog.SourceOptions, got.Sources.MaxBatchBytes)
		assert.Equal(t, time.Hour, got.Config.SegmentAge, "the topic's own wins over the Options'")
		assert.Equal(t, eventlog.SourceTopic, got.Sources.SegmentAge)
		require.NoError(t, l.Close())
	}
}

// TestDefaultTopicSettings checks that DefaultTopicSettings reports what
// a topic setting nothing runs with.
func TestDefaultTopicSettings(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 64 << 10})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	want, err := l.TopicSettings("t")
	require.NoError(t, err)
	got := l.DefaultTopicSettings()
	assert.Equal(t, want, got)
	assert.Equal(t, eventlog.SourceOptions, got.Sources.SegmentBytes)
	assert.Equal(t, eventlog.SourceDefault, got.Sources.Retention)
}
