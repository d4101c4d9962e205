package eventlog

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Benchmarks of the batch codec on the log's reference workload: batches
// of 1000 records with 16-byte keys and 100-byte values. Throughput (MB/s)
// counts key and value bytes; records/s is reported alongside.
//
//	go test -run XXX -bench 'EncodeBatch|DecodeBatch' -count 6

// batchBenchRecords returns n records with keys and values of the given sizes.
// Values look like small JSON events, with random ids and amounts, so they
// compress the way typical payloads do.
func batchBenchRecords(n, keySize, valueSize int) []Record {
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	rng := rand.New(rand.NewPCG(1, 2))
	ts := time.UnixMilli(1_700_000_000_000)
	records := make([]Record, n)
	for i := range records {
		key := fmt.Appendf(nil, "order-%0*d", max(keySize-6, 1), rng.IntN(1_000_000_000))
		value := fmt.Appendf(nil, `{"user":"u-%06d","amount":%d,"currency":"EUR","status":"%s","note":"`,
			rng.IntN(1_000_000), rng.IntN(100_000), statuses[rng.IntN(len(statuses))])
		for len(value) < valueSize-2 {
			value = append(value, byte('a'+rng.IntN(26)))
		}
		value = append(value, `"}`...)
		records[i] = Record{Timestamp: ts.Add(time.Duration(i) * 100 * time.Microsecond), Key: key[:keySize], Value: value[:valueSize]}
	}
	return records
}

// batchBenchPayload is the key and value bytes of records.
func batchBenchPayload(records []Record) int64 {
	var n int64
	for _, r := range records {
		n += int64(len(r.Key) + len(r.Value))
	}
	return n
}

// reportBatchRecords adds a records/s metric.
func reportBatchRecords(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkEncodeBatch(b *testing.B) {
	records := batchBenchRecords(1000, 16, 100)
	for _, c := range testCodecs {
		b.Run(c.String(), func(b *testing.B) {
			var e batchEncoder
			var buf []byte
			b.SetBytes(batchBenchPayload(records))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = e.encode(buf[:0], records, c)
				if err != nil {
					b.Fatal(err)
				}
			}
			reportBatchRecords(b, len(records))
			b.ReportMetric(float64(len(buf)), "batch-bytes")
		})
	}
}

// BenchmarkDecodeBatch measures the per-batch read path: parse the header,
// check the CRC, decode every record.
func BenchmarkDecodeBatch(b *testing.B) {
	records := batchBenchRecords(1000, 16, 100)
	for _, c := range testCodecs {
		b.Run(c.String(), func(b *testing.B) {
			var e batchEncoder
			batch, err := e.encode(nil, records, c)
			if err != nil {
				b.Fatal(err)
			}
			var d batchDecoder
			var out []Record
			b.SetBytes(batchBenchPayload(records))
			b.ReportAllocs()
			for b.Loop() {
				h, err := parseBatchHeader(batch)
				if err != nil {
					b.Fatal(err)
				}
				if err := verifyBatchCRC(batch); err != nil {
					b.Fatal(err)
				}
				out, err = d.decode(out[:0], &h, batch, 0, testLimit)
				if err != nil {
					b.Fatal(err)
				}
			}
			if len(out) != len(records) {
				b.Fatalf("decoded %d records", len(out))
			}
			reportBatchRecords(b, len(records))
		})
	}
}

// BenchmarkReadSteps times, per record, the steps a view scan takes on a
// batch of the reference workload that is in the CPU's caches: checking
// its CRC, parsing its records with recordIter.next alone (the general
// parser), tabling them 64 at a time as the view cursor does for a batch
// without a verifier's table, and tabling them as the read-ahead verifier
// does after the CRC (for another core, past this one's caches).
// BENCHMARKS.md adds these up against bbolt's cost per record.
func BenchmarkReadSteps(b *testing.B) {
	var e batchEncoder
	batch, err := e.encode(nil, batchBenchRecords(1000, 16, 100), CompressionNone)
	if err != nil {
		b.Fatal(err)
	}
	h, err := parseBatchHeader(batch)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crc", func(b *testing.B) {
		for b.Loop() {
			if err := verifyBatchCRC(batch); err != nil {
				b.Fatal(err)
			}
		}
		reportBatchRecords(b, int(h.RecordCount))
	})
	b.Run("parse", func(b *testing.B) {
		var it recordIter
		var f recordFields
		for b.Loop() {
			if err := it.reset(&h, batch[batchHeaderSize:]); err != nil {
				b.Fatal(err)
			}
			for err = it.next(&f); err == nil; err = it.next(&f) {
			}
			if err != errBatchEnd {
				b.Fatal(err)
			}
		}
		reportBatchRecords(b, int(h.RecordCount))
	})
	b.Run("chunks", func(b *testing.B) {
		var it recordIter
		var f recordFields
		var chunk recordChunk
		for b.Loop() {
			if err := it.reset(&h, batch[batchHeaderSize:]); err != nil {
				b.Fatal(err)
			}
			for {
				if _, err = it.table(chunk.table(viewChunkRecords), &f, h.timeBase()); err != nil {
					break
				}
			}
			if err != errBatchEnd {
				b.Fatal(err)
			}
		}
		reportBatchRecords(b, int(h.RecordCount))
	})
	b.Run("table", func(b *testing.B) {
		var t parseTables
		var reader readerProgress
		for b.Loop() {
			t.tabled.Store(0)
			t.head = 0
			t.add(batch, 0, &reader)
			if t.tabled.Load() != 1 {
				b.Fatal("the batch was not tabled")
			}
		}
		reportBatchRecords(b, int(h.RecordCount))
	})
}
