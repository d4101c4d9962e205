package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Positions in a RecordBatch v2 header.
const (
	batchLengthAt     = 8
	batchCRCAt        = 17
	batchAttributesAt = 21
	batchMaxTimeAt    = 35
	batchOverheadLen  = 12 // base offset and length
	attrAppendTime    = 0x08
)

// toLogAppendTime rewrites every batch of the segment files under dir to
// LogAppendTime, each batch's records then taking appendTime, as a Kafka
// broker with message.timestamp.type=LogAppendTime writes them.
func toLogAppendTime(t *testing.T, dir string, appendTime time.Time) (batches int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	table := crc32.MakeTable(crc32.Castagnoli)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for pos := 0; pos+batchAttributesAt < len(b); {
			n := batchOverheadLen + int(binary.BigEndian.Uint32(b[pos+batchLengthAt:]))
			batch := b[pos : pos+n]
			attrs := binary.BigEndian.Uint16(batch[batchAttributesAt:])
			binary.BigEndian.PutUint16(batch[batchAttributesAt:], attrs|attrAppendTime)
			binary.BigEndian.PutUint64(batch[batchMaxTimeAt:], uint64(appendTime.UnixMilli()))
			binary.BigEndian.PutUint32(batch[batchCRCAt:], crc32.Checksum(batch[batchAttributesAt:], table))
			pos += n
			batches++
		}
		require.NoError(t, os.WriteFile(f, b, 0o644))
	}
	return batches
}

// Records of LogAppendTime batches, compressed or not, have the batch's
// time through every replay API, whichever parser reads them (the view
// cursor's own, or the read-ahead verifier's table in a long scan).
func TestReplayOfLogAppendTimeBatches(t *testing.T) {
	for _, c := range []eventlog.Compression{eventlog.CompressionNone, eventlog.CompressionZstd} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{PoisonViews: c == eventlog.CompressionZstd, SegmentBytes: 1 << 20}
			l := openLog(t, dir, opts)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
			p := partition(t, l, "t", 0)
			created := time.UnixMilli(1_600_000_000_000)
			const batches, perBatch = 400, 50
			value := make([]byte, 100)
			for b := range batches {
				recs := make([]eventlog.Record, perBatch)
				for i := range recs {
					recs[i] = eventlog.Record{Key: fmt.Appendf(nil, "k%d", i), Value: value, Timestamp: created.Add(time.Duration(b*perBatch+i) * time.Millisecond)}
				}
				_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: c})
				require.NoError(t, err)
			}
			require.NoError(t, l.Close())
			appended := time.UnixMilli(1_700_000_000_000)
			require.Equal(t, batches, toLogAppendTime(t, filepath.Join(dir, "topics", "t"), appended))
			l = openLog(t, dir, opts)

			n := 0
			check := func(what string, off int64, ts time.Time) {
				t.Helper()
				if !ts.Equal(appended) {
					assert.Fail(t, "a record's time is not its batch's append time", "%s: offset %d at %v", what, off, ts)
				}
				n++
			}
			require.NoError(t, l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
				check("Replay", v.Offset, v.Timestamp())
				return nil
			}))
			p = partition(t, l, "t", 0)
			for v, err := range p.Views(0) {
				require.NoError(t, err)
				check("Views", v.Offset, v.Timestamp())
			}
			cur := p.Cursor(0)
			for cur.Next() {
				check("Cursor", cur.View().Offset, cur.View().Timestamp())
			}
			require.NoError(t, cur.Err())
			cur.Close()
			cons := newTestConsumer(t, l, &eventlog.ConsumerOptions{FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest}, eventlog.TopicPartition{Topic: "t"})
			for v, err := range cons.ViewsToEnd(ctx) {
				require.NoError(t, err)
				check("ViewsToEnd", v.Offset, v.Timestamp())
			}
			require.NoError(t, cons.SeekToBeginning())
			for r, err := range cons.ReadToEnd(ctx) {
				require.NoError(t, err)
				check("ReadToEnd", r.Offset, r.Timestamp)
			}
			assert.Equal(t, 5*batches*perBatch, n)
			latest, err := l.ReplayLatest(ctx, "t")
			require.NoError(t, err)
			assert.Len(t, latest, perBatch)
		})
	}
}
