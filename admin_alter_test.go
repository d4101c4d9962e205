package eventlog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A switch to DurabilityOS that AlterTopicConfig makes durable in
// topic.meta applies to every partition, and the topic reports it, even
// when a partition failed on an fsync (its records written since wait for
// a reopen): the failed partition does not leave the others, and the
// topic's reported configuration, on the old settings until the next Open.
func TestAlterTopicConfigAppliesAllOverAFailedPartition(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	p0, p1 := partition(t, l, "t", 0), partition(t, l, "t", 1)
	appendN(t, p0, 1, eventlog.AppendOptions{})
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpSync && strings.Contains(name, "/t/0/") {
			return errors.New("injected fsync failure")
		}
		return nil
	})
	_, err := p0.Append(ctx, []eventlog.Record{rec("k", "lost")}, eventlog.AppendOptions{})
	require.Error(t, err, "partition 0 failed")
	fsys.SetFault(nil)
	require.Less(t, p0.HighWatermark(), p0.LogEndOffset())

	assert.NoError(t, l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.DurabilityOS, cfg.Durability, "the topic reports the configuration topic.meta holds")
	_, err = p1.Append(ctx, []eventlog.Record{rec("k", "v")}, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	assert.Equal(t, p1.LogEndOffset(), p1.HighWatermark(), "partition 1 has the topic's new durability: a record written is visible")
}

// ValidateAlterTopicConfig answers as AlterTopicConfig would, and changes
// nothing: nil for a valid change, ErrInvalidConfig for an invalid one or
// one of MaxBatchBytes, ErrTopicNotFound and ErrInvalidTopic for a topic
// that is not there or is internal.
func TestValidateAlterTopicConfig(t *testing.T) {
	l := openLog(t, "/d", &eventlog.Options{FS: eventlog.NewMemFS()})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	valid := eventlog.TopicConfig{SegmentBytes: 4096, CleanupPolicy: eventlog.CleanupCompact}
	assert.NoError(t, l.ValidateAlterTopicConfig("t", valid))
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 2}, cfg, "validating changes nothing")

	for name, c := range map[string]eventlog.TopicConfig{
		"segment bytes":   {SegmentBytes: 100},
		"max batch bytes": {MaxBatchBytes: 4096},
		"partitions":      {Partitions: 3},
	} {
		verr := l.ValidateAlterTopicConfig("t", c)
		assert.ErrorIs(t, verr, eventlog.ErrInvalidConfig, name)
		assert.Equal(t, verr, l.AlterTopicConfig(ctx, "t", c), name)
	}
	assert.ErrorIs(t, l.ValidateAlterTopicConfig("missing", valid), eventlog.ErrTopicNotFound)
	assert.ErrorIs(t, l.ValidateAlterTopicConfig("__consumer_offsets", valid), eventlog.ErrInvalidTopic)
	require.NoError(t, l.AlterTopicConfig(ctx, "t", valid))
}
