package eventlog_test

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A Consumer's iterators read a batch of more than MaxPollRecords records
// in several chunks; the chunk that goes on inside the batch the last one
// stopped in uses the records the last one decompressed.

const (
	decompressBatches      = 20
	decompressBatchRecords = 1000
)

// compressedLog returns a Log whose partition 0 of topic "t" holds
// decompressBatches batches of decompressBatchRecords records compressed
// with codec, and a count of the batches its reads decompress.
func compressedLog(t *testing.T, codec eventlog.Compression, opts *eventlog.Options) (*eventlog.Log, *atomic.Int64) {
	t.Helper()
	l := consumerLog(t, 1, opts)
	p := partition(t, l, "t", 0)
	for range decompressBatches {
		recs := make([]eventlog.Record, decompressBatchRecords)
		for i := range recs {
			off := p.LogEndOffset() + int64(i)
			recs[i] = rec(fmt.Sprintf("k%d", off), fmt.Sprintf("v%d", off))
		}
		_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: codec})
		require.NoError(t, err)
	}
	var n atomic.Int64
	eventlog.SetDecompressHook(l, func() { n.Add(1) })
	return l, &n
}

func TestConsumerDecompressesEachBatchOnce(t *testing.T) {
	iterators := map[string]func(c *eventlog.Consumer, body func(offset int64, value string)) error{
		"ReadToEnd": func(c *eventlog.Consumer, body func(int64, string)) error {
			for r, err := range c.ReadToEnd(ctx) {
				if err != nil {
					return err
				}
				body(r.Offset, string(r.Value))
			}
			return nil
		},
		"ViewsToEnd": func(c *eventlog.Consumer, body func(int64, string)) error {
			for v, err := range c.ViewsToEnd(ctx) {
				if err != nil {
					return err
				}
				body(v.Offset, string(v.Value))
			}
			return nil
		},
		"Records": func(c *eventlog.Consumer, body func(int64, string)) error {
			for r, err := range c.Records(ctx) { // FetchMaxWait < 0: ends at the end
				if err != nil {
					return err
				}
				body(r.Offset, string(r.Value))
			}
			return nil
		},
	}
	for _, codec := range []eventlog.Compression{eventlog.CompressionZstd, eventlog.CompressionLZ4, eventlog.CompressionSnappy, eventlog.CompressionGzip} {
		for name, read := range iterators {
			for _, poison := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/poison=%v", codec, name, poison), func(t *testing.T) {
					l, decompressions := compressedLog(t, codec, &eventlog.Options{PoisonViews: poison})
					c := newTestConsumer(t, l, &eventlog.ConsumerOptions{
						MaxPollRecords: 100, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest,
					}, tpart(0))
					next := int64(0)
					require.NoError(t, read(c, func(offset int64, value string) {
						require.Equal(t, next, offset)
						require.Equal(t, fmt.Sprintf("v%d", offset), value)
						next++
					}))
					assert.Equal(t, int64(decompressBatches*decompressBatchRecords), next)
					assert.Equal(t, int64(decompressBatches), decompressions.Load(), "batches decompressed")
					pos, err := c.Position(tpart(0))
					require.NoError(t, err)
					assert.Equal(t, next, pos)
				})
			}
		}
	}
}

// TestConsumerSeeksInsideDecompressedBatch seeks, from the loop body,
// back inside the batch being read and to other batches: each chunk reads
// from where the seek put the position, and decompresses its first batch
// unless the last chunk stopped in it.
func TestConsumerSeeksInsideDecompressedBatch(t *testing.T) {
	l, decompressions := compressedLog(t, eventlog.CompressionZstd, nil)
	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{
		MaxPollRecords: 100, FetchMaxWait: -1, AutoOffsetReset: eventlog.OffsetResetEarliest,
	}, tpart(0))
	// At the offset on the left, the body seeks to the one on the right,
	// in turn.
	seeks := [][2]int64{{1550, 1020}, {1070, 5999}, {6000, 1999}, {1999, 19_998}}
	var got []int64
	want := []int64{}
	for off := int64(0); off <= 1550; off++ {
		want = append(want, off)
	}
	for off := int64(1020); off <= 1070; off++ {
		want = append(want, off)
	}
	want = append(want, 5999, 6000, 1999, 19_998, 19_999)
	for v, err := range c.ViewsToEnd(ctx) {
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("v%d", v.Offset), string(v.Value))
		got = append(got, v.Offset)
		if len(seeks) > 0 && seeks[0][0] == v.Offset {
			require.NoError(t, c.Seek(tpart(0), seeks[0][1]))
			seeks = seeks[1:]
		}
	}
	assert.Equal(t, want, got)
	// Batches 0 and 1 (not again after the seek back into it), 5, 6, 1
	// again, 19.
	assert.Equal(t, int64(6), decompressions.Load(), "batches decompressed")
}

// TestConsumerReadsAheadInsideCompressedBatches reads batches of
// incompressible records, compressed, with a consumer whose chunks end
// inside them, while a read-ahead verifier decompresses and tables them:
// a chunk that goes on in the batch the last one stopped in reads it from
// the verifier's table.
func TestConsumerReadsAheadInsideCompressedBatches(t *testing.T) {
	withTwoCores(t)
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, t.TempDir(), nil)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		p := partition(t, l, "t", 0)
		value := func(offset int64) []byte {
			v := make([]byte, 1000)
			rng := rand.New(rand.NewPCG(uint64(offset), 1))
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			return v
		}
		for range readAheadBatches {
			recs := make([]eventlog.Record, readAheadBatchRecords)
			for i := range recs {
				recs[i] = eventlog.Record{Key: []byte("k"), Value: value(p.LogEndOffset() + int64(i))}
			}
			_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: eventlog.CompressionLZ4})
			require.NoError(t, err)
		}
		var decompressions atomic.Int64
		eventlog.SetDecompressHook(l, func() { decompressions.Add(1) })
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{
			MaxPollRecords: 30, AutoOffsetReset: eventlog.OffsetResetEarliest,
		}, tpart(0))
		next := int64(0)
		for v, err := range c.ViewsToEnd(ctx) {
			require.NoError(t, err)
			if next == pauseAt {
				synctest.Wait()
			}
			require.Equal(t, next, v.Offset)
			require.Equal(t, value(next), v.Value)
			next++
		}
		assert.Equal(t, int64(readAheadBatches*readAheadBatchRecords), next)
		assert.GreaterOrEqual(t, eventlog.ParsedAheadBatches(l), int64(windowBatches), "batches read from the verifier's tables")
		t.Logf("%d batches, %d decompressions, %d read from tables", readAheadBatches, decompressions.Load(), eventlog.ParsedAheadBatches(l))
		// Once each, but the reader and the verifier may both decompress a
		// batch when the reader catches up with it. A consumer that
		// decompressed a batch again in each of its chunks (four here)
		// did so at least three times a batch.
		assert.LessOrEqual(t, decompressions.Load(), int64(2*readAheadBatches))
	})
}
