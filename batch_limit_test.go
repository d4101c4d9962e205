package eventlog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestCompressedBatchesStayReadableAfterMaxBatchBytesIsLowered: batches
// the log accepted while Options.MaxBatchBytes was 8 MiB, whose records
// decompress to more than 64 MiB (what a read of a 1 MiB topic allowed),
// read back after a reopen with the default MaxBatchBytes, by every path
// that decompresses: Partition.Read (as Consumer.Poll reads), a
// Consumer's views (which Consumer.Records clones), a read-only Log and
// the cleaner. A setting change must not make stored, acknowledged data
// unreadable.
func TestCompressedBatchesStayReadableAfterMaxBatchBytesIsLowered(t *testing.T) {
	dir := t.TempDir()
	const big = 70 << 20 // zeros: a few KiB compressed, past 64 MiB decompressed
	l, err := eventlog.Open(dir, &eventlog.Options{MaxBatchBytes: 8 << 20})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{Partitions: 1, CleanupPolicy: eventlog.CleanupCompact, SegmentBytes: 1 << 10}))
	codecs := []eventlog.Compression{eventlog.CompressionGzip, eventlog.CompressionSnappy, eventlog.CompressionLZ4, eventlog.CompressionZstd}
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	for _, c := range codecs {
		_, err := p.Append(ctx, []eventlog.Record{{Key: []byte(c.String()), Value: make([]byte, big)}}, eventlog.AppendOptions{Compression: c})
		require.NoError(t, err, "%s: accepted under the 8 MiB limit", c)
	}
	pc, err := l.Partition("c", 0)
	require.NoError(t, err)
	_, err = pc.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: make([]byte, big)}}, eventlog.AppendOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	for range 3 { // roll the segment holding the big batch, so it can be cleaned
		_, err = pc.Append(ctx, []eventlog.Record{rec("other", string(make([]byte, 600)))}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	l, err = eventlog.Open(dir, nil) // MaxBatchBytes back to the default
	require.NoError(t, err)
	defer l.Close()
	p, err = l.Partition("t", 0)
	require.NoError(t, err)
	require.Equal(t, eventlog.DefaultMaxBatchBytes, p.MaxBatchBytes())
	for i, c := range codecs {
		recs, err := p.Read(int64(i), 1)
		if assert.NoError(t, err, "%s: Partition.Read", c) && assert.Len(t, recs, 1) {
			assert.Equal(t, c.String(), string(recs[0].Key))
			assert.Len(t, recs[0].Value, big)
		}
	}

	cons, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest})
	require.NoError(t, err)
	defer cons.Close()
	require.NoError(t, cons.Assign(eventlog.TopicPartition{Topic: "t", Partition: 0}))
	n := 0
	for v, err := range cons.ViewsToEnd(ctx) {
		if !assert.NoError(t, err, "Consumer.ViewsToEnd") {
			break
		}
		assert.Len(t, v.Value, big)
		n++
	}
	assert.Equal(t, len(codecs), n, "records a consumer viewed")

	ro, err := eventlog.Open(dir, &eventlog.Options{ReadOnly: true, MaxBatchBytes: 1 << 10})
	require.NoError(t, err)
	defer ro.Close()
	rp, err := ro.Partition("t", 0)
	require.NoError(t, err)
	recs, err := rp.Read(int64(len(codecs)-1), 1)
	assert.NoError(t, err, "read-only Log")
	assert.Len(t, recs, 1)

	require.NoError(t, l.Compact(context.Background(), "c"), "the cleaner reads the big batch")
	pc, err = l.Partition("c", 0)
	require.NoError(t, err)
	recs, err = pc.Read(0, 1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "k", string(recs[0].Key))
	assert.Len(t, recs[0].Value, big)
}
