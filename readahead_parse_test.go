package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestViewsParsedAhead scans a segment of records of every shape (null
// keys, tombstones, headers, a null header value) long enough for a
// verifier that parses ahead, uncompressed and with each codec (the
// verifier then decompresses too): the views it builds from the verifier's
// tables equal the records Read decodes, byte for byte, from a partition
// view scan and from a consumer's.
func TestViewsParsedAhead(t *testing.T) {
	for _, codec := range eventlog.Codecs {
		t.Run(codec.String(), func(t *testing.T) { testViewsParsedAhead(t, codec) })
	}
}

func testViewsParsedAhead(t *testing.T, codec eventlog.Compression) {
	withTwoCores(t)
	rng := rand.New(rand.NewPCG(1, 2))
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, t.TempDir(), nil)
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		p := partition(t, l, "t", 0)
		for range readAheadBatches {
			records := make([]eventlog.Record, readAheadBatchRecords)
			for j := range records {
				offset := p.LogEndOffset() + int64(j)
				value := readAheadValue(offset)
				if codec != eventlog.CompressionNone {
					// Half random: the compressed segment stays long
					// enough for a verifier.
					for i := 0; i < len(value)/2; i += 8 {
						binary.LittleEndian.PutUint64(value[i:], rng.Uint64())
					}
				}
				r := eventlog.Record{Key: fmt.Appendf(nil, "k%d", offset), Value: value, Timestamp: time.UnixMilli(1_700_000_000_000 + int64(j)*1000)}
				switch offset % 4 {
				case 0:
					r.Key = nil
				case 1:
					r.Value = nil
				case 2:
					r.Headers = []eventlog.Header{{Key: "h", Value: []byte("v")}, {Key: "null", Value: nil}}
				}
				records[j] = r
			}
			_, err := p.Append(ctx, records, eventlog.AppendOptions{Compression: codec})
			require.NoError(t, err)
		}
		want, err := p.Read(0, 1<<30)
		require.NoError(t, err)
		require.Len(t, want, readAheadBatches*readAheadBatchRecords)

		// Pause once the verifier has started: compressed batches are
		// shorter, so it starts later.
		pause := pauseAt
		if codec != eventlog.CompressionNone {
			pause = 10 * readAheadBatchRecords
		}
		check := func(views iter.Seq2[*eventlog.RecordView, error]) {
			next := 0
			for v, err := range views {
				require.NoError(t, err)
				if next == pause {
					synctest.Wait() // the verifier parses a window ahead
				}
				require.Equal(t, want[next], v.Clone(), "offset %d", next)
				next++
			}
			assert.Equal(t, len(want), next)
		}
		check(p.Views(0))
		parsed := eventlog.ParsedAheadBatches(l)
		assert.GreaterOrEqual(t, parsed, int64(windowBatches), "the window's batches were read from tables")

		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, eventlog.TopicPartition{Topic: "t", Partition: 0})
		check(c.ViewsToEnd(ctx))
		assert.GreaterOrEqual(t, eventlog.ParsedAheadBatches(l)-parsed, int64(windowBatches))
	})
}

// TestViewsWithoutAVerifierTableInOnePass: a long scan with no core to
// spare for a verifier checks and tables each batch itself, in one pass,
// once it has read 256 KiB, and yields what the copying read does; so
// does a Consumer, whose chunks of 30 records go on inside batches.
func TestViewsWithoutAVerifierTableInOnePass(t *testing.T) {
	n := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(n) })
	l := openLog(t, t.TempDir(), nil)
	p := fillForReadAhead(t, l)
	want, err := p.Read(0, 1<<30)
	require.NoError(t, err)
	require.Len(t, want, readAheadBatches*readAheadBatchRecords)
	check := func(views iter.Seq2[*eventlog.RecordView, error]) {
		t.Helper()
		next := 0
		for v, err := range views {
			require.NoError(t, err)
			require.Equal(t, want[next], v.Clone(), "offset %d", next)
			next++
		}
		assert.Equal(t, len(want), next)
	}
	// The first 256 KiB, three batches of about 100 KB, and the one the
	// scan is in when it has read them are checked as before.
	const tabledAtLeast = readAheadBatches - 4

	check(p.Views(0))
	tabled := eventlog.ReaderTabledBatches(l)
	assert.GreaterOrEqual(t, tabled, int64(tabledAtLeast))
	assert.Zero(t, eventlog.ReadAheadBatches(l), "no verifier ran")

	c := newTestConsumer(t, l, &eventlog.ConsumerOptions{MaxPollRecords: 30, AutoOffsetReset: eventlog.OffsetResetEarliest}, eventlog.TopicPartition{Topic: "t", Partition: 0})
	check(c.ViewsToEnd(ctx))
	assert.GreaterOrEqual(t, eventlog.ReaderTabledBatches(l)-tabled, int64(tabledAtLeast), "each batch once, not once a chunk")
	assert.LessOrEqual(t, eventlog.ReaderTabledBatches(l)-tabled, int64(readAheadBatches), "each batch once, not once a chunk")
}
