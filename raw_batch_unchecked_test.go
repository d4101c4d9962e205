package eventlog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadBatchesUnchecked damages a stored batch and reads it with and
// without the CRC check: damage inside the records is served unchecked,
// damage to a header is reported by both.
func TestReadBatchesUnchecked(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		pos         int64 // of the damaged byte in the first batch
		uncheckedOK bool
	}{
		{"records", 70, true},
		{"magic", 16, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, nil)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, SegmentBytes: 16 << 10}))
			p := partition(t, l, "t", 0)
			for range 200 {
				_, err := p.AppendBatch(ctx, producedBatch(t, 3, 0, false), eventlog.AppendOptions{})
				require.NoError(t, err)
			}
			require.NoError(t, l.Close())
			// The damage is in the first segment, sealed, below its last
			// index entry: neither Open nor loading the index scans it.
			path := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			data[tc.pos] ^= 0x40
			require.NoError(t, os.WriteFile(path, data, 0o644))
			l = openLog(t, dir, nil)
			p = partition(t, l, "t", 0)

			_, release, err := p.ReadBatches(0, 1<<20)
			release()
			var ce *eventlog.CorruptError
			require.ErrorAs(t, err, &ce, "ReadBatches checks CRCs")
			assert.Equal(t, path, ce.Path)

			b, release, err := p.ReadBatchesUnchecked(0, 1<<20)
			defer release()
			if !tc.uncheckedOK {
				require.ErrorAs(t, err, &ce, "a damaged header is reported unchecked too")
				assert.Equal(t, path, ce.Path)
				return
			}
			require.NoError(t, err)
			require.Greater(t, len(b), int(tc.pos))
			assert.Equal(t, data[:len(b)], b, "the batches as stored, damage included")

			// The Log's own reads still check.
			_, err = p.Read(0, 10)
			require.ErrorAs(t, err, &ce)
		})
	}
}
