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
