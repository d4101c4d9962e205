package eventlog

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCleaningSkipsPartitionNoLongerCompacted: the background cleaner lists
// the compacted partitions, then cleans them one by one, each under its
// cleaning lock; Compact does the same for a topic it checked. A partition
// whose topic AlterTopicConfig switched to cleanup.policy=delete meanwhile,
// or whose switch to compact was refused (a record had no key), must not be
// cleaned: cleaning would drop the records without a key and the older
// values of each key, which a delete topic keeps.
func TestCleaningSkipsPartitionNoLongerCompacted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		create func(t *testing.T, l *Log)
	}{
		{"switched to delete", func(t *testing.T, l *Log) {
			require.NoError(t, l.CreateTopic("t", TopicConfig{CleanupPolicy: CleanupCompact}))
			require.NoError(t, l.AlterTopicConfig(ctx, "t", TopicConfig{CleanupPolicy: CleanupDelete}))
		}},
		{"switch to compact refused", func(t *testing.T, l *Log) {
			require.NoError(t, l.CreateTopic("t", TopicConfig{}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(t.TempDir(), &Options{SegmentBytes: 1024})
			require.NoError(t, err)
			defer l.Close()
			tc.create(t, l)
			p, err := l.Partition("t", 0)
			require.NoError(t, err)
			for i := range 60 {
				_, err := p.Append(ctx, []Record{{Key: fmt.Appendf(nil, "k%d", i%3), Value: fmt.Appendf(nil, "v%d", i)}}, AppendOptions{})
				require.NoError(t, err)
			}
			_, err = p.Append(ctx, []Record{{Value: []byte("no key")}}, AppendOptions{})
			require.NoError(t, err)
			if tc.name == "switch to compact refused" {
				// The check sets the compact settings while it reads,
				// so a cleaner could list the partition meanwhile.
				err := l.AlterTopicConfig(ctx, "t", TopicConfig{CleanupPolicy: CleanupCompact})
				require.ErrorIs(t, err, ErrInvalidConfig)
			}
			require.Greater(t, len(*p.segments.Load()), 2, "closed segments to clean")

			// As the cleaner does with a partition it listed before.
			var m *offsetMap
			err = p.clean(ctx, false, &m)
			assert.ErrorIs(t, err, ErrInvalidConfig)

			recs, err := p.read(nil, 0, 1<<20)
			require.NoError(t, err)
			assert.Len(t, recs, 61, "every record is kept")
			assert.Zero(t, l.cleaner.snapshot().RecordsRemoved)
		})
	}
}
