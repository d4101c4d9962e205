package benchmarks

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/eventlog/eventlog"
)

// Records of the comparisons: 16-byte keys, unique and in increasing
// order (so bbolt appends them to its B+tree in order, its best case), and
// 100-byte values, as in the root module's benchmarks.
const (
	keySize   = 16
	valueSize = 100
)

func key(i int) []byte { return fmt.Appendf(nil, "key-%012d", i) }

func value(i int) []byte {
	v := make([]byte, valueSize)
	binary.BigEndian.PutUint64(v, uint64(i))
	for j := 8; j < len(v); j++ {
		v[j] = byte('a' + (i+j)%26)
	}
	return v
}

var bucket = []byte("records")

// fillEventlog appends n records in batches of 1000 and reopens the log.
func fillEventlog(tb testing.TB, dir string, n int) (*eventlog.Log, *eventlog.Partition) {
	tb.Helper()
	l, err := eventlog.Open(dir, nil)
	require.NoError(tb, err)
	require.NoError(tb, l.CreateTopic("scan", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p, err := l.Partition("scan", 0)
	require.NoError(tb, err)
	batch := make([]eventlog.Record, 0, 1000)
	for i := range n {
		batch = append(batch, eventlog.Record{Key: key(i), Value: value(i)})
		if len(batch) == cap(batch) || i == n-1 {
			_, err := p.Append(context.Background(), batch, eventlog.AppendOptions{})
			require.NoError(tb, err)
			batch = batch[:0]
		}
	}
	require.NoError(tb, l.Close())
	l, err = eventlog.Open(dir, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = l.Close() })
	p, err = l.Partition("scan", 0)
	require.NoError(tb, err)
	return l, p
}

// fillBolt puts n records into one bucket, 100,000 per transaction, with
// bbolt's fill percent for sequential inserts.
func fillBolt(tb testing.TB, path string, n int) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	for start := 0; start < n; start += 100_000 {
		require.NoError(tb, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			b.FillPercent = 1.0
			for i := start; i < min(n, start+100_000); i++ {
				if err := b.Put(key(i), value(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(tb, db.Sync())
	return db
}

// scanEventlog reads every record of p through views, calling fn.
func scanEventlog(p *eventlog.Partition, fn func(k, v []byte)) error {
	for v, err := range p.Views(0) {
		if err != nil {
			return err
		}
		fn(v.Key, v.Value)
	}
	return nil
}

// scanEventlogCursor reads every record of p through a Cursor, calling fn.
func scanEventlogCursor(p *eventlog.Partition, fn func(k, v []byte)) error {
	c := p.Cursor(0)
	defer c.Close()
	for c.Next() {
		fn(c.Key(), c.Value())
	}
	return c.Err()
}

// scanBolt reads every record of the bucket with a cursor, calling fn.
func scanBolt(db *bolt.DB, fn func(k, v []byte)) error {
	return db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			fn(k, v)
		}
		return nil
	})
}

// TestScansSeeTheSameRecords checks that the benchmark compares like with
// like: both stores hold the same records, and every scan sees all of them.
func TestScansSeeTheSameRecords(t *testing.T) {
	const n = 25_000
	dir := t.TempDir()
	_, p := fillEventlog(t, filepath.Join(dir, "eventlog"), n)
	db := fillBolt(t, filepath.Join(dir, "bolt.db"), n)
	var fromLog, fromCursor, fromBolt [][]byte
	require.NoError(t, scanEventlog(p, func(k, v []byte) { fromLog = append(fromLog, bytes.Clone(append(k, v...))) }))
	require.NoError(t, scanEventlogCursor(p, func(k, v []byte) { fromCursor = append(fromCursor, append(bytes.Clone(k), v...)) }))
	require.NoError(t, scanBolt(db, func(k, v []byte) { fromBolt = append(fromBolt, append(bytes.Clone(k), v...)) }))
	require.Len(t, fromLog, n)
	assert.Equal(t, fromBolt, fromLog)
	assert.Equal(t, fromBolt, fromCursor)
	assert.Equal(t, append(key(7), value(7)...), fromLog[7])
}

// BenchmarkScanVsBbolt scans 1 million records from the start: eventlog's
// Partition.Views and Partition.Cursor against a bbolt cursor over the same keys and values, both
// from warm page caches, with two loop bodies:
//
//   - lengths: adds up key and value lengths, reading no record bytes. bbolt
//     then touches only its 16-byte element headers, while eventlog checks
//     every batch's CRC-32C and so reads every byte.
//   - hash: hashes every key and value, as a replay that decodes what it
//     reads does; both stores then read every byte.
func BenchmarkScanVsBbolt(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	_, p := fillEventlog(b, filepath.Join(dir, "eventlog"), n)
	db := fillBolt(b, filepath.Join(dir, "bolt.db"), n)
	seed := maphash.MakeSeed()
	bodies := []struct {
		name string
		fn   func(sum *uint64) func(k, v []byte)
	}{
		{"lengths", func(sum *uint64) func(k, v []byte) {
			return func(k, v []byte) { *sum += uint64(len(k) + len(v)) }
		}},
		{"hash", func(sum *uint64) func(k, v []byte) {
			return func(k, v []byte) { *sum += maphash.Bytes(seed, k) ^ maphash.Bytes(seed, v) }
		}},
	}
	stores := []struct {
		name string
		scan func(fn func(k, v []byte)) error
	}{
		{"eventlog-views", func(fn func(k, v []byte)) error { return scanEventlog(p, fn) }},
		{"eventlog-cursor", func(fn func(k, v []byte)) error { return scanEventlogCursor(p, fn) }},
		{"bbolt-cursor", func(fn func(k, v []byte)) error { return scanBolt(db, fn) }},
	}
	for _, body := range bodies {
		for _, store := range stores {
			b.Run(body.name+"/"+store.name, func(b *testing.B) {
				var sum, first uint64
				fn := body.fn(&sum)
				require.NoError(b, store.scan(fn)) // warm the cache and the mappings
				first = sum
				for b.Loop() {
					sum = 0
					if err := store.scan(fn); err != nil {
						b.Fatal(err)
					}
					if sum != first {
						b.Fatalf("scans differ: %d, then %d", first, sum)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
