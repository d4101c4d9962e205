package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// TestAppendRefusesBatchThatDecompressesPastReadLimit: a compressed batch
// small enough to store but whose records expand past what a read
// decompresses (64 times MaxBatchBytes, at least 64 MiB) is refused with
// ErrRecordTooLarge, as AppendBatch refuses one: stored, it could never be
// read back, and every read of the partition from its offset would fail
// as if the log were corrupt.
func TestAppendRefusesBatchThatDecompressesPastReadLimit(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	huge := eventlog.Record{Key: []byte("k"), Value: make([]byte, 65<<20)} // zeros: a few KiB compressed
	_, err = p.Append(ctx, []eventlog.Record{huge}, eventlog.AppendOptions{Compression: eventlog.CompressionZstd})
	require.ErrorIs(t, err, eventlog.ErrRecordTooLarge)
	assert.Contains(t, err.Error(), `topic "t" partition 0`)
	assert.Zero(t, p.LogEndOffset(), "nothing stored")

	off, err := p.Append(ctx, []eventlog.Record{rec("k", "small")}, eventlog.AppendOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	recs, err := p.Read(off, 1<<20)
	require.NoError(t, err, "the partition stays readable")
	require.Len(t, recs, 1)
}
