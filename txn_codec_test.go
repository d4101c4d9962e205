package eventlog

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden files pin the formats of the transaction markers, the
// aborted-transaction index and the __transaction_state records
// (regenerate with go test -run Golden -update).

func TestTransactionGolden(t *testing.T) {
	marker, err := encodeMarker(ProducerID{ID: 1 << 33, Epoch: 9}, true, 2, time.UnixMilli(1_700_000_000_000))
	require.NoError(t, err)
	setBaseOffset(marker, goldenBaseOffset)
	putBatchCRC(marker)
	assert.Equal(t, golden(t, "txn/commit_marker", marker), marker)

	index := appendTxnIndexEntry(nil, abortedTxn{producerID: 7, first: 100, last: 180, lastStable: 181})
	index = appendTxnIndexEntry(index, abortedTxn{producerID: 8, first: 150, last: 190, lastStable: 150})
	assert.Equal(t, golden(t, "txn/txnindex", index), index)
	entries, err := decodeTxnIndex(index, 100, 200)
	require.NoError(t, err)
	assert.Equal(t, []abortedTxn{{7, 100, 180, 181}, {8, 150, 190, 150}}, entries)

	rec := txnRecord{producer: ProducerID{ID: 3, Epoch: 1}, timeout: 90 * time.Second, state: txnPrepareCommit,
		partitions: []TopicPartition{{"orders", 2}, {"payments", 0}}, lastUpdate: 1_700_000_001_000, start: 1_700_000_000_000}
	value := encodeTxnValue(encodeTxnKey(nil, "worker-1"), &rec)
	assert.Equal(t, golden(t, "txn/transaction_state", value), value)
}

func TestTxnIndexRejectsDamage(t *testing.T) {
	good := appendTxnIndexEntry(nil, abortedTxn{producerID: 7, first: 100, last: 180, lastStable: 181})
	for name, b := range map[string][]byte{
		"torn":              good[:20],
		"version":           append([]byte{0, 1}, good[2:]...),
		"marker outside":    appendTxnIndexEntry(nil, abortedTxn{producerID: 7, first: 100, last: 250}),
		"first after":       appendTxnIndexEntry(nil, abortedTxn{producerID: 7, first: 190, last: 180}),
		"out of order":      appendTxnIndexEntry(appendTxnIndexEntry(nil, abortedTxn{producerID: 1, first: 100, last: 180}), abortedTxn{producerID: 2, first: 100, last: 170}),
		"negative producer": appendTxnIndexEntry(nil, abortedTxn{producerID: -1, first: 100, last: 180}),
	} {
		_, err := decodeTxnIndex(b, 100, 200)
		assert.Error(t, err, name)
	}
}

func FuzzTransactionState(f *testing.F) {
	rec := txnRecord{producer: ProducerID{ID: 3, Epoch: 1}, timeout: time.Minute, state: txnOngoing,
		partitions: []TopicPartition{{"a", 1}}, lastUpdate: 5, start: 4}
	f.Add(encodeTxnKey(nil, "id"), encodeTxnValue(nil, &rec))
	f.Add([]byte{0, 1}, []byte{0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if id, ok, err := decodeTxnKey(key); err == nil && ok {
			assert.Equal(t, key, encodeTxnKey(nil, id))
		}
		got, err := decodeTxnValue(value)
		if err != nil {
			return
		}
		// What decodes is valid and encodes to a value that decodes the same.
		assert.GreaterOrEqual(t, got.producer.ID, int64(0))
		again, err := decodeTxnValue(encodeTxnValue(nil, &got))
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
}

func FuzzControlRecord(f *testing.F) {
	m, _ := encodeMarker(ProducerID{ID: 1, Epoch: 0}, false, 0, time.UnixMilli(1))
	f.Add(m)
	f.Add(m[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseBatchHeader(b)
		if err != nil {
			return
		}
		// Memory-safe on any bytes; a marker it accepts is one.
		mk, ok, err := parseControlBatch(&h, b)
		if err != nil || !ok {
			return
		}
		var it recordIter
		require.NoError(t, it.reset(&h, b[batchHeaderSize:h.size()]))
		var fields recordFields
		require.NoError(t, it.next(&fields))
		key := subslice(it.area, fields.keyAt, fields.keyLen)
		assert.True(t, bytes.HasPrefix(key, []byte{0, 0, 0}), "key version 0, type 0 or 1")
		assert.Equal(t, key[3] == controlTypeCommit, mk.commit)
	})
}

func FuzzTxnIndex(f *testing.F) {
	f.Add(appendTxnIndexEntry(nil, abortedTxn{producerID: 7, first: 100, last: 180, lastStable: 181}))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeTxnIndex(b, 100, 200)
		if err != nil {
			return
		}
		var again []byte
		for _, a := range entries {
			assert.True(t, a.first <= a.last && a.last >= 100 && a.last < 200)
			again = appendTxnIndexEntry(again, a)
		}
		assert.Equal(t, len(b), len(again))
	})
}
