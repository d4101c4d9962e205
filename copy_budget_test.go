package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyRecords is how many of the least records (null key and value, no
// headers: 7 to 10 bytes each) a 1 MiB zstd batch holds, as a Kafka
// client may produce it: 135 MB of Records copied whole.
const tinyRecords = 1 << 20

// tinyRecordsArea returns the records area of n records with null keys
// and values and no headers.
func tinyRecordsArea(n int) []byte {
	fixed := recordFixedSize(&Record{})
	area := make([]byte, 0, n*10)
	for i := range n {
		area = appendRecord(area, &Record{}, fixed, 0, i)
	}
	return area
}

// tinyRecordsBatch returns a batch of n tiny records, compressed with zstd,
// for AppendBatch, and the size of its records area.
func tinyRecordsBatch(t *testing.T, n int) ([]byte, int) {
	t.Helper()
	area := tinyRecordsArea(n)
	b := hostileBatch(0, int32(n), CompressionZstd, compressed(t, area, CompressionZstd))
	require.LessOrEqual(t, len(b), DefaultMaxBatchBytes, "batch of %d records", n)
	return b, len(area)
}

// requireDense checks that recs hold the offsets from next on, one each,
// in order, and returns the offset after them.
func requireDense(t *testing.T, name string, recs []Record, next int64) int64 {
	t.Helper()
	for i := range recs {
		if recs[i].Offset != next {
			require.Equal(t, next, recs[i].Offset, "%s: record %d", name, i)
		}
		next++
	}
	return next
}

// TestCopyingReadsOfTinyRecordsStayWithinTheirBudget: a 1 MiB zstd batch of
// a million tiny records, which AppendBatch (the Kafka listener's produce)
// takes, made each copying read of it allocate a 128-byte Record per
// record at once: 261 MB for a Read, 393 MB for a Poll. A copying read now stops a
// batch at its budget (64 MiB here) and returns the records so far, the
// next read going on after them: Read, Poll, the typed consumer's Poll and
// ReadToEnd return every record once, in order, with positions after the
// last record returned, and no call allocates more than its budget, the
// decompressed batch and a copy of what a Poll keeps for the next.
func TestCopyingReadsOfTinyRecordsStayWithinTheirBudget(t *testing.T) {
	l, p := tempPartition(t)
	var err error
	tp := TopicPartition{Topic: "t", Partition: 0}
	ctx := context.Background()
	_, err = p.Append(ctx, []Record{{Value: []byte("a")}}, AppendOptions{})
	require.NoError(t, err)
	batch, area := tinyRecordsBatch(t, tinyRecords)
	base, err := p.AppendBatch(ctx, batch, AppendOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), base)
	// What a read allocates to decompress the batch, besides its copies,
	// with a new decoder (the race detector makes sync.Pool drop some).
	for zstdDecoders.Get() != nil {
	}
	unpack := allocated(func() {
		_, err = decompress(nil, batch[batchHeaderSize:], CompressionZstd, maxReadDecompressedBytes(DefaultMaxBatchBytes))
	})
	require.NoError(t, err)
	batch = nil
	_, err = p.Append(ctx, []Record{{Value: []byte("z")}}, AppendOptions{})
	require.NoError(t, err)
	end := p.HighWatermark()
	require.Equal(t, int64(tinyRecords+2), end)

	budget := uint64(readCopyBudget(1<<20, DefaultMaxBatchBytes))
	records := budget // what the Records of a budget count for in TotalAlloc
	if raceEnabled {
		records *= 2
	}
	const margin = 8 << 20
	t.Logf("%d records of %d bytes, decompressed with %d bytes allocated; budget %d bytes", tinyRecords, area, unpack, budget)

	reads := 0
	var most uint64
	for next := int64(0); next < end; reads++ {
		var recs []Record
		used := allocated(func() { recs, err = p.Read(next, 1<<20) })
		require.NoError(t, err)
		require.NotEmpty(t, recs, "Read at %d", next)
		most = max(most, used)
		require.Less(t, used, records+unpack+margin, "bytes Read at %d allocated, returning %d records", next, len(recs))
		next = requireDense(t, "Read", recs, next)
	}
	t.Logf("Read: %d reads, at most %d bytes each", reads, most)
	assert.Greater(t, reads, 2, "the batch comes back in parts")

	cons, err := l.NewConsumer(&ConsumerOptions{GroupID: "g", DisableAutoCommit: true, FetchMaxWait: -1, MaxPollRecords: 20_000})
	require.NoError(t, err)
	defer func() { require.NoError(t, cons.Close()) }()
	require.NoError(t, cons.Assign(tp))
	require.NoError(t, cons.SeekToBeginning(tp))
	most = 0
	for next := int64(0); next < end; {
		var recs []Record
		used := allocated(func() { recs, err = cons.Poll(ctx) })
		require.NoError(t, err)
		require.NotEmpty(t, recs, "Poll at %d", next)
		most = max(most, used)
		// A Poll keeps what it read beyond MaxPollRecords for the next,
		// in a copy.
		require.Less(t, used, 2*records+unpack+margin, "bytes Poll at %d allocated", next)
		next = requireDense(t, "Poll", recs, next)
		pos, err := cons.Position(tp)
		require.NoError(t, err)
		require.Equal(t, next, pos, "position after a Poll")
		if next%(10*20_000) < 20_000 {
			require.NoError(t, cons.CommitSync(ctx))
			committed, err := cons.Committed(ctx, tp)
			require.NoError(t, err)
			require.Equal(t, next, committed[tp].Offset, "committed after a Poll")
		}
	}
	t.Logf("Poll: at most %d bytes a call", most)

	typed := NewTypedConsumer(cons, BytesSerde{}, BytesSerde{})
	require.NoError(t, cons.SeekToBeginning(tp))
	for next := int64(0); next < end; {
		recs, err := typed.Poll(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, recs, "typed Poll at %d", next)
		for _, r := range recs {
			if r.Offset != next {
				require.Equal(t, next, r.Offset, "typed Poll")
			}
			next++
		}
	}

	// ReadToEnd clones views one at a time: what it allocates between two
	// samples, 1,000 records apart, is a decompression of the batch for
	// each chunk of MaxPollRecords it reads, and the records' copies.
	require.NoError(t, cons.SeekToBeginning(tp))
	next := int64(0)
	var before, now runtime.MemStats
	runtime.ReadMemStats(&before)
	most = 0
	for r, err := range cons.ReadToEnd(ctx) {
		require.NoError(t, err)
		if r.Offset != next {
			require.Equal(t, next, r.Offset, "ReadToEnd")
		}
		if next++; next%1000 == 0 {
			runtime.ReadMemStats(&now)
			most = max(most, now.TotalAlloc-before.TotalAlloc)
			before = now
		}
	}
	assert.Equal(t, end, next, "ReadToEnd")
	t.Logf("ReadToEnd: at most %d bytes in 1,000 records", most)
	assert.Less(t, most, unpack+margin, "bytes ReadToEnd allocated in 1,000 records")
}

// TestCopyingReadsKeepOrdinaryBatchesWhole: batches of ordinary records,
// and one of as many of the least records as MaxBatchBytes holds
// uncompressed, come back whole from any offset and any maxBytes, as they
// did before copying reads had a budget.
func TestCopyingReadsKeepOrdinaryBatchesWhole(t *testing.T) {
	_, p := tempPartition(t)
	ctx := context.Background()

	ordinary := make([]Record, 1000)
	for i := range ordinary {
		ordinary[i] = Record{Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte{byte(i)}, 100)}
	}
	var bases, sizes []int64
	for _, c := range []Compression{CompressionZstd, CompressionNone} {
		base, err := p.Append(ctx, ordinary, AppendOptions{Compression: c})
		require.NoError(t, err)
		bases, sizes = append(bases, base), append(sizes, int64(len(ordinary)))
	}
	n := (DefaultMaxBatchBytes - batchHeaderSize) / 10
	area := tinyRecordsArea(n)
	require.LessOrEqual(t, batchHeaderSize+len(area), DefaultMaxBatchBytes)
	base, err := p.AppendBatch(ctx, hostileBatch(0, int32(n), CompressionNone, area), AppendOptions{})
	require.NoError(t, err)
	bases, sizes = append(bases, base), append(sizes, int64(n))

	for i, base := range bases {
		for _, from := range []int64{base, base + sizes[i]/2} {
			recs, err := p.Read(from, 1)
			require.NoError(t, err)
			assert.Len(t, recs, int(base+sizes[i]-from), "Read(%d, 1) of batch %d", from, i)
		}
	}
	recs, err := p.Read(0, 1<<30)
	require.NoError(t, err)
	assert.Len(t, recs, int(p.HighWatermark()), "Read of every batch")
	requireDense(t, "Read", recs, 0)
}

// TestReadCommittedAcrossPartialBatches: a read_committed consumer reads
// a committed transaction's batch of a million tiny records in parts, and
// skips an aborted one's whole: every committed record comes back once, in
// order, and none of the aborted transaction's.
func TestReadCommittedAcrossPartialBatches(t *testing.T) {
	l, p := tempPartition(t)
	tp := TopicPartition{Topic: "t", Partition: 0}
	ctx := context.Background()

	// A transaction of a small record, sent by its Producer, and a large
	// batch appended as the Producer would, with its producer fields.
	transaction := func(id string, commit bool) (first, last int64) {
		prod, err := l.NewProducer(&ProducerOptions{TransactionalID: id, Partitioner: ManualPartitioner{}, Linger: -1})
		require.NoError(t, err)
		defer func() { require.NoError(t, prod.Close()) }()
		require.NoError(t, prod.BeginTransaction())
		md, err := prod.Send(ctx, Record{Topic: "t", Value: []byte(id)})
		require.NoError(t, err)
		topic, err := prod.topic("t")
		require.NoError(t, err)
		q := topic.queues[0]
		batch, _ := tinyRecordsBatch(t, tinyRecords)
		putProducerFields(batch, q.producer.id, q.seq, true)
		putBatchCRC(batch)
		base, err := p.appendEncoded(batch, DurabilityDefault, appendChecks{transactionalID: id})
		require.NoError(t, err)
		q.seq += tinyRecords
		if commit {
			require.NoError(t, prod.CommitTransaction(ctx))
		} else {
			require.NoError(t, prod.AbortTransaction(ctx))
		}
		return md.Offset, base + tinyRecords - 1
	}
	first, last := transaction("committed", true)
	aborted, _ := transaction("aborted", false)
	plain, err := p.Append(ctx, []Record{{Value: []byte("after")}}, AppendOptions{})
	require.NoError(t, err)
	want := []int64{}
	for o := first; o <= last; o++ {
		want = append(want, o)
	}
	want = append(want, plain)
	require.Less(t, last, aborted)

	cons, err := l.NewConsumer(&ConsumerOptions{FetchMaxWait: -1, MaxPollRecords: 100_000})
	require.NoError(t, err)
	defer func() { require.NoError(t, cons.Close()) }()
	require.NoError(t, cons.Assign(tp))
	require.NoError(t, cons.SeekToBeginning(tp))
	var got []int64
	for polls := 0; ; polls++ {
		recs, err := cons.Poll(ctx)
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			got = append(got, r.Offset)
		}
		pos, err := cons.Position(tp)
		require.NoError(t, err)
		require.Equal(t, recs[len(recs)-1].Offset+1, pos, "position after Poll %d", polls)
	}
	require.Equal(t, len(want), len(got), "records polled")
	require.Equal(t, want, got)
	pos, err := cons.Position(tp)
	require.NoError(t, err)
	assert.Equal(t, p.HighWatermark(), pos)
}

// TestManyHeadersOfABatchComeBackInParts: a batch whose records together
// have more headers than maxReadHeaders, each of them fewer, failed every
// copying read of it with ErrRecordTooLarge. Its records come back now, a
// few at a time; a record of more headers than that still fails alone.
func TestManyHeadersOfABatchComeBackInParts(t *testing.T) {
	const records, each = 28, 1_000_000 // 40 MB of Headers a record
	var area []byte
	for i := range records {
		area = emptyHeadersRecord(area, i, each)
	}
	require.Greater(t, records*each, maxReadHeaders)
	dir := hostileLog(t, hostileBatch(3, records, CompressionZstd, compressed(t, area, CompressionZstd)))
	l, err := Open(dir, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	budget := uint64(readCopyBudget(1<<20, DefaultMaxBatchBytes))
	if raceEnabled {
		budget *= 2 // see raceEnabled
	}
	next, reads := int64(3), 0
	for ; next < 3+records; reads++ {
		var recs []Record
		used := allocated(func() { recs, err = p.Read(next, 1<<20) })
		require.NoError(t, err, "Read at %d", next)
		require.NotEmpty(t, recs)
		assert.Less(t, used, budget+uint64(len(area))+8<<20, "bytes Read at %d allocated", next)
		for _, r := range recs {
			require.Equal(t, next, r.Offset)
			require.Len(t, r.Headers, each)
			next++
		}
	}
	assert.Greater(t, reads, 1)
	t.Logf("%d reads", reads)
}

// tempPartition opens a Log in a temporary directory, closed when the test
// ends, with a topic "t" of one partition, and returns it with the
// partition.
func tempPartition(t *testing.T) (*Log, *Partition) {
	t.Helper()
	l, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	require.NoError(t, l.CreateTopic("t", TopicConfig{Partitions: 1}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	return l, p
}
