package eventlog_test

import (
	"runtime"
	"slices"
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

// TestAppendRefusesOversizedRecordsBeforeEncoding: records whose keys,
// values and headers alone exceed what the partition takes (MaxBatchBytes
// uncompressed, 64 times it before compression) are refused before they
// are encoded: encoding them first, to find the batch too large, took as
// much memory again as the records — for a record of gigabytes, enough to
// end the process.
func TestAppendRefusesOversizedRecordsBeforeEncoding(t *testing.T) {
	l := eventlogtest.NewTopic(t, "t", eventlog.TopicConfig{Partitions: 1, MaxBatchBytes: 1 << 20})
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	big := make([]byte, 65<<20)
	for name, tc := range map[string]struct {
		records     []eventlog.Record
		compression eventlog.Compression
	}{
		"value":                {[]eventlog.Record{{Key: []byte("k"), Value: big[:16<<20]}}, eventlog.CompressionNone},
		"key":                  {[]eventlog.Record{{Key: big[:16<<20]}}, eventlog.CompressionNone},
		"header value":         {[]eventlog.Record{{Key: []byte("k"), Headers: []eventlog.Header{{Key: "h", Value: big[:16<<20]}}}}, eventlog.CompressionNone},
		"many records":         {slices.Repeat([]eventlog.Record{{Key: []byte("k"), Value: big[:1<<10]}}, 16<<10), eventlog.CompressionNone},
		"compressed, too much": {[]eventlog.Record{{Key: []byte("k"), Value: big}}, eventlog.CompressionGzip},
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := p.Append(ctx, tc.records, eventlog.AppendOptions{Compression: tc.compression})
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, eventlog.ErrRecordTooLarge)
			assert.Contains(t, err.Error(), `topic "t" partition 0`)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "bytes allocated to refuse the records")
			assert.Zero(t, p.LogEndOffset(), "nothing stored")
		})
	}
}
