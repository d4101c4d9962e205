package eventlog

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transaction markers and __transaction_state records are checked against
// kmsg, an independent Kafka codec, both ways.

func TestKmsgReadsOurMarkers(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b, err := encodeMarker(ProducerID{ID: 42, Epoch: 7}, commit, 3, time.UnixMilli(1_700_000_000_000))
		require.NoError(t, err)
		setBaseOffset(b, 1000)
		rb, recs := kmsgParse(t, b)
		assert.Equal(t, int16(attrTransactional|attrControl), rb.Attributes)
		assert.Equal(t, int64(42), rb.ProducerID)
		assert.Equal(t, int16(7), rb.ProducerEpoch)
		assert.Equal(t, int32(-1), rb.FirstSequence)
		require.Len(t, recs, 1)
		var key kmsg.ControlRecordKey
		require.NoError(t, key.ReadFrom(recs[0].Key))
		want := kmsg.ControlRecordKeyType(0)
		if commit {
			want = 1
		}
		assert.Equal(t, want, key.Type)
		assert.Equal(t, int16(0), key.Version)
		var marker kmsg.EndTxnMarker
		require.NoError(t, marker.ReadFrom(recs[0].Value))
		assert.Equal(t, int32(3), marker.CoordinatorEpoch)
		assert.Empty(t, recs[0].Headers)

		h, err := parseBatchHeader(b)
		require.NoError(t, err)
		m, ok, err := parseControlBatch(&h, b)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, controlMarker{commit: commit, coordinatorEpoch: 3}, m)
	}
}

func TestKmsgMarkersReadByUs(t *testing.T) {
	key := kmsg.ControlRecordKey{Version: 0, Type: 1}
	value := kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: 11}
	rec := kmsg.Record{Key: key.AppendTo(nil), Value: value.AppendTo(nil)}
	_, b := kmsgBuild(t, []kmsg.Record{rec}, CompressionNone, false, attrTransactional|attrControl)
	h, err := parseBatchHeader(b)
	require.NoError(t, err)
	require.NoError(t, verifyBatchCRC(b))
	m, ok, err := parseControlBatch(&h, b)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, controlMarker{commit: true, coordinatorEpoch: 11}, m)

	c, err := decodeControlBatch(&h, b)
	require.NoError(t, err)
	assert.Equal(t, ControlRecord{Offset: h.BaseOffset, Timestamp: time.UnixMilli(h.BaseTimestamp), KeySize: 4, ValueSize: 6,
		Type: ControlCommit, CoordinatorEpoch: 11}, c)
	for n := range len(b) {
		_, err := decodeControlBatch(&h, b[:n])
		assert.Error(t, err, "cut at %d", n)
	}

	// Other control records (KRaft's) are not transaction markers.
	other := kmsg.ControlRecordKey{Version: 0, Type: 3}
	_, b = kmsgBuild(t, []kmsg.Record{{Key: other.AppendTo(nil), Value: []byte{0, 0}}}, CompressionNone, false, attrControl)
	h, err = parseBatchHeader(b)
	require.NoError(t, err)
	_, ok, err = parseControlBatch(&h, b)
	require.NoError(t, err)
	assert.False(t, ok)
	c, err = decodeControlBatch(&h, b)
	require.NoError(t, err)
	assert.Equal(t, ControlRecord{Offset: h.BaseOffset, Timestamp: time.UnixMilli(h.BaseTimestamp), KeySize: 4, ValueSize: 2, Type: 3}, c)
	assert.False(t, c.TransactionMarker())
}

func TestKmsgTransactionState(t *testing.T) {
	rec := txnRecord{
		producer: ProducerID{ID: 1234, Epoch: 5}, timeout: time.Minute, state: txnOngoing,
		partitions: []TopicPartition{{"a", 0}, {"a", 3}, {"b", 1}},
		lastUpdate: 1_700_000_000_999, start: 1_700_000_000_000,
	}
	ours := encodeTxnValue(nil, &rec)
	theirs := kmsg.TxnMetadataValue{
		Version: 0, ProducerID: 1234, ProducerEpoch: 5, TimeoutMillis: 60000, State: 1,
		Topics:              []kmsg.TxnMetadataValueTopic{{Topic: "a", Partitions: []int32{0, 3}}, {Topic: "b", Partitions: []int32{1}}},
		LastUpdateTimestamp: 1_700_000_000_999, StartTimestamp: 1_700_000_000_000,
	}
	assert.Equal(t, theirs.AppendTo(nil), ours)
	var back kmsg.TxnMetadataValue
	require.NoError(t, back.ReadFrom(ours))
	assert.Equal(t, theirs.Topics, back.Topics)
	got, err := decodeTxnValue(theirs.AppendTo(nil))
	require.NoError(t, err)
	assert.Equal(t, rec, got)

	key := kmsg.TxnMetadataKey{Version: 0, TransactionalID: "orders-worker"}
	assert.Equal(t, key.AppendTo(nil), encodeTxnKey(nil, "orders-worker"))
	id, ok, err := decodeTxnKey(key.AppendTo(nil))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "orders-worker", id)

	empty := txnRecord{producer: ProducerID{ID: 1, Epoch: 0}, timeout: time.Second, state: txnEmpty, start: -1}
	var k kmsg.TxnMetadataValue
	require.NoError(t, k.ReadFrom(encodeTxnValue(nil, &empty)))
	assert.Empty(t, k.Topics)
	assert.Equal(t, int64(-1), k.StartTimestamp)
}

// TestKmsgReadsTransactionsOnDisk: after a committed and an aborted
// transaction, kmsg reads the batches of the data partition — the
// transactional ones and the markers — and the records of
// __transaction_state.
func TestKmsgReadsTransactionsOnDisk(t *testing.T) {
	l, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.CreateTopic("t", TopicConfig{}))
	p, err := l.NewProducer(&ProducerOptions{TransactionalID: "tx", Linger: -1})
	require.NoError(t, err)
	defer p.Close()
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		require.NoError(t, p.BeginTransaction())
		_, err := p.Send(ctx, Record{Topic: "t", Key: []byte("k"), Value: []byte("v")})
		require.NoError(t, err)
		if commit {
			require.NoError(t, p.CommitTransaction(ctx))
		} else {
			require.NoError(t, p.AbortTransaction(ctx))
		}
	}
	part, err := l.Partition("t", 0)
	require.NoError(t, err)
	data, err := readWholeFile(l.opts.FS, part.active().path(logExt), math.MaxInt64)
	require.NoError(t, err)
	var types []kmsg.ControlRecordKeyType
	var seqs []int32
	for pos := 0; pos < len(data); {
		h, err := parseBatchHeader(data[pos:])
		require.NoError(t, err)
		rb, recs := kmsgParse(t, data[pos:pos+int(h.size())])
		assert.Equal(t, p.id.ID, rb.ProducerID)
		assert.NotZero(t, rb.Attributes&attrTransactional, "every batch of a transactional producer is transactional")
		if rb.Attributes&attrControl != 0 {
			var key kmsg.ControlRecordKey
			require.NoError(t, key.ReadFrom(recs[0].Key))
			types = append(types, key.Type)
		} else {
			seqs = append(seqs, rb.FirstSequence)
		}
		pos += int(h.size())
	}
	assert.Equal(t, []kmsg.ControlRecordKeyType{1, 0}, types, "a COMMIT then an ABORT marker")
	assert.Equal(t, []int32{0, 1}, seqs, "sequences go on from one transaction to the next of the same epoch")

	ts, err := l.Partition(txnStateTopicName, 0)
	require.NoError(t, err)
	require.NoError(t, ts.Wait(ctx, ts.LogEndOffset()-1), "a completion is fsynced in the background")
	recs, err := ts.Read(0, 1<<20)
	require.NoError(t, err)
	var states []kmsg.TransactionState
	for _, r := range recs {
		var k kmsg.TxnMetadataKey
		require.NoError(t, k.ReadFrom(r.Key))
		assert.Equal(t, "tx", k.TransactionalID)
		var v kmsg.TxnMetadataValue
		require.NoError(t, v.ReadFrom(r.Value))
		states = append(states, v.State)
	}
	// Empty at init; per transaction Ongoing, Prepare, Complete.
	assert.Equal(t, []kmsg.TransactionState{0, 1, 2, 4, 1, 3, 5}, states)
}
